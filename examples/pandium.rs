//! Pandium JWTs in front of your API: HS256 with the shared secret, no `exp` but `iat` at most
//! 5 minutes old, each `jti` accepted once, the token in `?tenant=`.
//!
//! Runs offline: the tokens are minted here with `jwt_guard::testing` as Pandium's sample
//! backend mints them (PyJWT, HS256). In production, read the secret Pandium supplied:
//! `presets::pandium(std::env::var("PANDIUM_SHARED_SECRET")?)`.
//!
//!     cargo run --example pandium

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Request, StatusCode, Uri};
use http_body_util::BodyExt;
use jwt_guard::presets::{self, PandiumClaims};
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, JwtGuard, TokenSource, Verified};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The shared secret (at least 32 bytes). A demo value: never commit yours.
const SECRET: &str = "demo-pandium-shared-secret-0123456789";

/// Your handler: Pandium's claims, typed; the URI no longer holds the token.
async fn marketplace(
    Extension(who): Extension<Verified>,
    uri: Uri,
) -> Result<Json<Value>, StatusCode> {
    let claims: PandiumClaims = who
        .claims_as()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let ti = claims.ti.unwrap_or_default();
    Ok(Json(
        json!({"user": claims.sub, "email": ti.uem, "account": ti.adn, "uri": uri.to_string()}),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ① The three lines of setup.
    let guard = JwtGuard::builder()
        .issuer(presets::pandium(SECRET))
        .token_sources([TokenSource::Query("tenant".into()), TokenSource::Header])
        .build()?;
    let app = Router::new()
        .route("/marketplace", get(marketplace))
        .layer(guard.layer());

    // ② A valid call, with the payload of Pandium's documents.
    let token = mint(SECRET, "1cfa7dbf-8110-4237-ad22-410608791b7d");
    let (status, body) = call(&app, &format!("/marketplace?tenant={token}&view=installed")).await?;
    println!("valid token      -> {status} {body}");
    assert_eq!(status, StatusCode::OK);

    // ③ Invalid calls: the same token again (its jti is used), another secret.
    let (status, body) = call(&app, &format!("/marketplace?tenant={token}")).await?;
    println!("replayed jti     -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = mint(
        "not-the-secret-pandium-supplied-0123456789",
        "7d0c6b8e-4f6a-4d7e-9a51-0a3c1f2b9e44",
    );
    let (status, body) = call(&app, &format!("/marketplace?tenant={forged}")).await?;
    println!("wrong secret     -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// A token as Pandium's documents show it: `iat`, `jti`, `sub`, the `ti` object, no `exp`.
fn mint(secret: &str, jti: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    TokenBuilder::new(
        Arc::new(TestKey::hmac(secret.as_bytes(), Algorithm::HS256)),
        now,
    )
    .without("exp")
    .claim("jti", jti)
    .subject("test-pandium-com")
    .claim(
        "ti",
        json!({
            "udn": "Pandium Test", "ufn": "Important Person", "uem": "test@pandium.com",
            "ili": ["new-id", "something-different"], "aid": "", "adn": "ACME",
            "xti": {"extraProp": "extra value"}
        }),
    )
    .sign()
}

async fn call(app: &Router, uri: &str) -> Result<(StatusCode, String), Box<dyn std::error::Error>> {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty())?)
        .await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
