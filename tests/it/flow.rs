//! The happy path and the basic refusals, end to end through axum.

use axum::body::Body;
use http::Request;
use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;

use crate::common::{app, get_with, send};

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_identity() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().tenant_claim("tenant").tenants(["acme"]))
        .build()
        .unwrap();
    let app = app(&guard);
    let token = issuer.token().subject("u1").tenant("acme").sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["issuer"], "test");
    assert_eq!(json["sub"], "u1");
    assert_eq!(json["tenant"], "acme");
    assert_eq!(issuer.fetch_count(), 1);

    // ES256 with the other key of the same set: no second fetch.
    let mut issuer = issuer;
    issuer.use_key("ec-1");
    let token = issuer.token().subject("u2").tenant("acme").sign();
    let (res, _) = send(&app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(issuer.fetch_count(), 1);

    // Another tenant: 403 insufficient_scope.
    let token = issuer.token().tenant("other").sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 403, "{body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
    );

    // No token: 401 with a bare challenge.
    let (res, body) = send(&app, Request::get("/whoami").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\""
    );
    assert!(body.contains("missing_token"));

    // Tampered payload: 401 invalid_token.
    let token = issuer.token().tenant("acme").sign();
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        r#"{"tenant":"acme","exp":99999999999}"#,
    );
    parts[1] = &forged;
    let (res, body) = send(&app, get_with("/whoami", &parts.join("."))).await;
    assert_eq!(res.status(), 401, "{body}");
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn the_authorization_header_reaches_the_handler_marked_sensitive() {
    use axum::routing::get;
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
    let app = axum::Router::new()
        .route(
            "/",
            get(|req: Request<Body>| async move {
                req.headers()["authorization"].is_sensitive().to_string()
            }),
        )
        .layer(guard.layer());
    let token = issuer.token().sign();
    // Two full verifications (the second sighting enters the verified-token cache), then a hit.
    for _ in 0..3 {
        let (res, body) = send(&app, get_with("/", &token)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(body, "true");
    }
}
