//! The axum extractors (feature `axum`): 500 on a route no authenticating layer ran on (a
//! wiring mistake), 401 `missing_token` with the layer's realm when an optional layer ran and
//! found no token, 401 `claims_shape` for claims of the wrong shape.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use jwt_guard::extract::Claims;
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, JwtGuard, Verified};
use serde_json::Value;

use crate::common::{get_with, send};

#[derive(serde::Deserialize)]
struct Sub {
    sub: String,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct NeedsRole {
    role: String,
}

fn routes() -> Router {
    Router::new()
        .route(
            "/verified",
            get(|who: Verified| async move { who.subject().unwrap_or_default().to_owned() }),
        )
        .route(
            "/claims",
            get(|Claims(c): Claims<Sub>| async move { c.sub }),
        )
        .route(
            "/role",
            get(|Claims(c): Claims<NeedsRole>| async move { c.role }),
        )
        .route(
            "/maybe",
            get(|who: Option<Verified>| async move {
                who.map_or("anonymous".to_owned(), |w| {
                    w.subject().unwrap_or_default().to_owned()
                })
            }),
        )
}

async fn guard(issuer: &TestIssuer) -> JwtGuard {
    JwtGuard::builder()
        .issuer(issuer.issuer())
        .realm("orders")
        .cors(Cors::new().allow_origins(["https://market.example"]))
        .build()
        .unwrap()
}

fn bare(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn without_an_authenticating_layer_the_extractors_answer_500() {
    let issuer = TestIssuer::start().await;
    let guard = guard(&issuer).await;
    let token = issuer.token().subject("u1").sign();
    // No layer at all, and a CORS-only layer: both are wiring mistakes.
    for app in [routes(), routes().layer(guard.cors_layer())] {
        for path in ["/verified", "/claims"] {
            for req in [bare(path), get_with(path, &token)] {
                let (res, body) = send(&app, req).await;
                assert_eq!(res.status(), 500, "{path}: {body}");
                assert!(res.headers().get("www-authenticate").is_none(), "{path}");
                let json: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["error"], "server_error", "{body}");
                assert!(!body.contains(&token));
            }
        }
        // `Option<Verified>` is not an error: no identity.
        let (res, body) = send(&app, bare("/maybe")).await;
        assert_eq!((res.status().as_u16(), body.as_str()), (200, "anonymous"));
    }
}

#[tokio::test]
async fn under_the_optional_layer_no_token_is_401_with_the_layers_realm() {
    let issuer = TestIssuer::start().await;
    let guard = guard(&issuer).await;
    let app = routes().layer(guard.optional_auth_layer());
    for path in ["/verified", "/claims"] {
        let (res, body) = send(&app, bare(path)).await;
        assert_eq!(res.status(), 401, "{path}: {body}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"orders\"");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["reason"], "missing_token");
        assert_eq!(json["error"], "missing_token");
    }
    let (res, body) = send(&app, bare("/maybe")).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "anonymous"));
    // With a token, every extractor gets the identity.
    let token = issuer.token().subject("u1").sign();
    for path in ["/verified", "/claims", "/maybe"] {
        let (res, body) = send(&app, get_with(path, &token)).await;
        assert_eq!(
            (res.status().as_u16(), body.as_str()),
            (200, "u1"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn claims_of_the_wrong_shape_are_401_claims_shape() {
    let issuer = TestIssuer::start().await;
    let guard = guard(&issuer).await;
    let token = issuer.token().subject("u1").sign();
    for app in [
        routes().layer(guard.layer()),
        routes().layer(guard.optional_auth_layer()),
    ] {
        let (res, body) = send(&app, get_with("/role", &token)).await;
        assert_eq!(res.status(), 401, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["reason"], "claims_shape");
        assert_eq!(json["error"], "invalid_token");
        let (res, body) = send(&app, get_with("/claims", &token)).await;
        assert_eq!((res.status().as_u16(), body.as_str()), (200, "u1"));
    }
}
