//! AppDirect secure tokens in front of your API: JWKS, RS256/ES256, the partner's tenant,
//! credentialed CORS from the marketplace.
//!
//! Runs offline: `jwt_guard::testing::TestIssuer` stands in for the marketplace, serving its
//! JWKS on 127.0.0.1 and minting tokens. In production, give `presets::appdirect` your
//! marketplace's JWKS URL instead.
//!
//!     cargo run --example appdirect

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_guard::extract::Claims;
use jwt_guard::presets::{self, AppDirectClaims};
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, JwtGuard};
use serde_json::{Value, json};
use tower::ServiceExt;

const MARKETPLACE: &str = "https://marketplace.example";
const PARTNER_ID: &str = "PARTNER_ID";

/// Your handler: the layer has verified the token; `Claims<T>` hands you AppDirect's claims,
/// typed (a token whose claims do not fit is refused with 401 `claims_shape`).
async fn me(Claims(claims): Claims<AppDirectClaims>) -> Json<Value> {
    Json(json!({"user": claims.sub, "email": claims.name, "partner": claims.tenant}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stand-in for the marketplace (its JWKS URL is what you configure).
    let marketplace = TestIssuer::start().await;

    // ① The three lines of setup.
    let guard = JwtGuard::builder()
        .issuer(
            presets::appdirect(marketplace.jwks_url())
                .tenants([PARTNER_ID])
                .origins([MARKETPLACE]),
        )
        .cors(
            Cors::new()
                .allow_origins([MARKETPLACE])
                .allow_credentials(true),
        )
        .build()?;
    let app = Router::new().route("/api/me", get(me)).layer(guard.layer());

    // ② A valid call: the extension sends the secure token from the marketplace's page.
    let token = marketplace
        .token()
        .subject("abf32c52-801c-4a40-8da0-82096fe455dd")
        .claim("name", "user@example.com")
        .tenant(PARTNER_ID)
        .sign();
    let (status, headers, body) = call(&app, &token).await?;
    println!("valid token      -> {status} {body}");
    println!("                    access-control-allow-origin: {headers}");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers, MARKETPLACE);

    // ③ Invalid calls: another partner's user (403), an expired token (401).
    let other = marketplace
        .token()
        .subject("someone")
        .tenant("OTHER_PARTNER")
        .sign();
    let (status, _, body) = call(&app, &other).await?;
    println!("other partner    -> {status} {body}");
    assert_eq!(status, StatusCode::FORBIDDEN);
    let expired = marketplace
        .token()
        .subject("someone")
        .tenant(PARTNER_ID)
        .expires_in(-60)
        .sign();
    let (status, _, body) = call(&app, &expired).await?;
    println!("expired token    -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// `GET /api/me` from the marketplace's page: status, `Access-Control-Allow-Origin`, body.
async fn call(
    app: &Router,
    token: &str,
) -> Result<(StatusCode, String, String), Box<dyn std::error::Error>> {
    let req = Request::get("/api/me")
        .header("origin", MARKETPLACE)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())?;
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let allow_origin = res
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((
        status,
        allow_origin,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}
