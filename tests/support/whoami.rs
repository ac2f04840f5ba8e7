//! The `/whoami` answer shared by the `it` and `interop` test binaries: the verified identity
//! as JSON, with the issuer's typed claims as each binary renders them; 418 when nothing was
//! verified.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use jwt_guard::Verified;
use serde_json::{Value, json};

/// Answers `req` with its verified identity, `typed` rendering the issuer's own claims.
pub(crate) fn whoami(req: &Request<Body>, typed: fn(&Verified) -> Value) -> Response {
    let Some(who) = req.extensions().get::<Verified>() else {
        return StatusCode::IM_A_TEAPOT.into_response();
    };
    axum::Json(json!({
        "issuer": who.issuer_name(),
        "alg": who.algorithm().as_str(),
        "sub": who.subject(),
        "tenant": who.tenant(),
        "uri": req.uri().to_string(),
        "typed": typed(who),
    }))
    .into_response()
}
