//! Tokens signed with a partner's fixed signing key (Versori-style): the partner's server issues
//! a JWT for each end user; your API verifies it with the partner's public key (PEM), its `iss`
//! and your `aud`.
//!
//! Runs offline: a signing key is generated here with `jwt_guard::testing`, standing in for the
//! partner's. In production, load the PEM the partner gave you.
//!
//!     cargo run --example versori

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_guard::presets::{self, VersoriClaims};
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, JwtGuard, Verified};
use serde_json::{Value, json};
use tower::ServiceExt;

const PARTNER: &str = "https://partner.example";
const AUDIENCE: &str = "orders-api";

/// Your handler: the end user the partner vouched for.
async fn orders(Extension(who): Extension<Verified>) -> Result<Json<Value>, StatusCode> {
    let claims: VersoriClaims = who
        .claims_as()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({"end_user": claims.sub, "partner": claims.iss})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The partner's signing key; you only ever hold its public half.
    let signing_key = Arc::new(TestKey::ec("partner-2024", Algorithm::ES256));
    let public_key_pem = signing_key
        .public_key_pem()
        .ok_or("an EC key has a public PEM")?;

    // ① The three lines of setup.
    let guard = JwtGuard::builder()
        .issuer(presets::versori(public_key_pem, PARTNER, AUDIENCE))
        .build()?;
    let app = Router::new()
        .route("/orders", get(orders))
        .layer(guard.layer());

    // ② A valid call.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = |aud: &str| {
        TokenBuilder::new(Arc::clone(&signing_key), now)
            .issuer(PARTNER)
            .audience(aud)
            .subject("end-user-7")
            .expires_in(600)
            .sign()
    };
    let (status, body) = call(&app, &token(AUDIENCE)).await?;
    println!("valid token      -> {status} {body}");
    assert_eq!(status, StatusCode::OK);

    // ③ Invalid calls: a token for another API, a token signed by another key.
    let (status, body) = call(&app, &token("billing-api")).await?;
    println!("other audience   -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let stranger = TokenBuilder::new(Arc::new(TestKey::ec("partner-2024", Algorithm::ES256)), now)
        .issuer(PARTNER)
        .audience(AUDIENCE)
        .subject("end-user-7")
        .sign();
    let (status, body) = call(&app, &stranger).await?;
    println!("another key      -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

async fn call(
    app: &Router,
    token: &str,
) -> Result<(StatusCode, String), Box<dyn std::error::Error>> {
    let req = Request::get("/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())?;
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
