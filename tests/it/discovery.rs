//! OIDC discovery as a key source: `.well-known/openid-configuration` → `jwks_uri`, with the
//! discovered `issuer` checked against the configured one.

use jwt_guard::testing::TestIssuer;
use jwt_guard::{Issuer, JwtGuard, Reason};
use serde_json::json;

#[tokio::test]
async fn discovery_finds_the_jwks_and_requires_the_issuer() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer_url();
    let guard = JwtGuard::builder()
        .issuer(Issuer::oidc(&iss).name("oidc"))
        .build()
        .unwrap();
    let token = issuer.token().issuer(&iss).subject("u1").sign();
    let who = guard.verify(&token).await.unwrap();
    assert_eq!(who.issuer_name(), "oidc");
    // One discovery request, one JWKS request.
    assert_eq!(issuer.fetch_count(), 2);
    let requests = issuer.requests();
    assert!(
        requests[0].starts_with("GET /.well-known/openid-configuration "),
        "{}",
        requests[0]
    );
    assert!(
        requests[1].starts_with("GET /.well-known/jwks.json "),
        "{}",
        requests[1]
    );

    // The configured issuer is required in the token: any other `iss`, or none, routes to no
    // issuer at all.
    let other = issuer.token().issuer("https://someone-else.example").sign();
    assert_eq!(
        guard.verify(&other).await.unwrap_err().reason(),
        Reason::UnknownIssuer
    );
    let none = issuer.token().sign();
    assert_eq!(
        guard.verify(&none).await.unwrap_err().reason(),
        Reason::UnknownIssuer
    );
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_gives_no_keys() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer_url();
    issuer.set_discovery(json!({
        "issuer": "https://evil.example",
        "jwks_uri": issuer.jwks_url(),
    }));
    let guard = JwtGuard::builder()
        .issuer(Issuer::oidc(&iss))
        .build()
        .unwrap();
    let token = issuer.token().issuer(&iss).sign();
    let err = guard.verify(&token).await.unwrap_err();
    assert_eq!(err.reason(), Reason::KeysUnavailable);
    assert_eq!(err.status(), 503);
    // The JWKS was never fetched.
    assert_eq!(issuer.fetch_count(), 1);
}

#[tokio::test]
async fn a_plain_http_jwks_uri_for_a_remote_host_is_refused() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer_url();
    issuer.set_discovery(json!({ "issuer": iss, "jwks_uri": "http://keys.example/jwks" }));
    let guard = JwtGuard::builder()
        .issuer(Issuer::oidc(&iss))
        .build()
        .unwrap();
    let token = issuer.token().issuer(&iss).sign();
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::KeysUnavailable
    );
    assert_eq!(issuer.fetch_count(), 1);
}

#[test]
fn the_issuer_url_follows_the_fetch_rules() {
    let build = |url: &str| JwtGuard::builder().issuer(Issuer::oidc(url)).build();
    let err = build("http://login.example").unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].oidc_issuer"));
    assert!(build("https://login.example/tenant/v2.0").is_ok());
}
