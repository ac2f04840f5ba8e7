//! Helpers shared by the integration tests: an axum app behind a guard, and one-shot requests.

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{Request, Response};
use http_body_util::BodyExt;
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, JwtGuard, Verified};
use tower::ServiceExt;

/// An app whose `/whoami` answers the verified identity as JSON, behind `guard.layer()`.
pub(crate) fn app(guard: &JwtGuard) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|req: Request<Body>| async move {
                let who = req.extensions().get::<Verified>().cloned();
                match who {
                    Some(who) => axum::Json(serde_json::json!({
                        "issuer": who.issuer_name(),
                        "sub": who.subject(),
                        "tenant": who.tenant(),
                        "uri": req.uri().to_string(),
                    }))
                    .into_response(),
                    None => http::StatusCode::IM_A_TEAPOT.into_response(),
                }
            }),
        )
        .layer(guard.layer())
}

/// Sends one request through `app` and returns the response with its body as text.
pub(crate) async fn send(app: &Router, req: Request<Body>) -> (Response<()>, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// `GET path` with `Authorization: Bearer token`.
pub(crate) fn get_with(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// A guard for `issuer` with `cors` does not build, and the error names `key`.
pub(crate) fn assert_cors_refused(issuer: &TestIssuer, cors: Cors, key: &str) {
    let err = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(cors)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some(key), "{err}");
}

/// Whether `reason` (the JSON body's `reason`) is the code of a [`jwt_guard::Reason`] whose
/// class is `error` and whose description is `description`.
pub(crate) fn reason_for(reason: &serde_json::Value, error: &str, description: &str) -> bool {
    jwt_guard::Reason::ALL.iter().any(|r| {
        reason.as_str() == Some(r.code())
            && r.kind().code() == error
            && r.description() == description
    })
}
