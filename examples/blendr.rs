//! Blendr.io SSO in front of your API, both schemes:
//!
//! - the JWT keyed with the SaaS Partner API key (HS256; `accountid` and `iat` required), in
//!   `?jwt=` or the `Authorization` header, verified by the layer;
//! - the HMAC-SHA256-signed query string (`accountid`, `timestamp`, `hash`), verified in the
//!   handler by `BlendrSignedQuery`: signature, freshness, single use.
//!
//! Runs offline: the tokens and links are made here as Blendr's documents show. In production,
//! read the key: `std::env::var("BLENDR_API_KEY")?`.
//!
//!     cargo run --example blendr

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Request, StatusCode, Uri, header};
use http_body_util::BodyExt;
use jwt_guard::presets::{self, BlendrClaims, BlendrSignedQuery};
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, JwtGuard, TokenSource, Verified};
use serde_json::json;
use tower::ServiceExt;

/// The SaaS Partner API key (at least 32 bytes). A demo value: never commit yours.
const API_KEY: &str = "demo-blendr-partner-api-key-0123456789";

/// JWT scheme: the layer has verified the token; Blendr's claims, typed.
async fn hub(Extension(who): Extension<Verified>) -> Response {
    match who.claims_as::<BlendrClaims>() {
        Ok(c) => {
            Json(json!({"account": c.accountid.as_str(), "name": c.accountname})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Signed-query scheme: verify the query string exactly as received.
async fn sso(State(verifier): State<Arc<BlendrSignedQuery>>, uri: Uri) -> Response {
    match verifier.verify(uri.query().unwrap_or_default()).await {
        Ok(who) => Json(json!({"account": who.accountid(), "user": who.userid()})).into_response(),
        Err(rejection) => {
            let body = json!({
                "error": rejection.kind().code(),
                "error_description": rejection.reason().description(),
            });
            let mut response = (rejection.status(), Json(body)).into_response();
            if let Some(secs) = rejection.retry_after() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            response
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ① The three lines of setup (JWT), plus the signed-query verifier.
    let guard = JwtGuard::builder()
        .issuer(presets::blendr(API_KEY))
        .token_sources([TokenSource::Query("jwt".into()), TokenSource::Header])
        .build()?;
    let verifier = Arc::new(BlendrSignedQuery::new(API_KEY)?);
    let app = Router::new()
        .route("/hub", get(hub))
        .route_layer(guard.auth_layer())
        .route("/sso", get(sso))
        .with_state(verifier);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    // ② JWT: Blendr's example payload, valid; then signed with another key.
    let jwt = |key: &str| {
        TokenBuilder::new(
            Arc::new(TestKey::hmac(key.as_bytes(), Algorithm::HS256)),
            now,
        )
        .without("exp")
        .claim("accountid", 123)
        .claim("accountname", "ACME")
        .claim("api_key", "abcde12345")
        .sign()
    };
    let (status, body) = call(&app, &format!("/hub?jwt={}", jwt(API_KEY))).await?;
    println!("JWT, valid            -> {status} {body}");
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        &format!("/hub?jwt={}", jwt("another-partner-api-key-0123456789ab")),
    )
    .await?;
    println!("JWT, wrong key        -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // ③ Signed query string, as Blendr's Python example builds it; then used a second time,
    // then one that is an hour old.
    let link = signed_query(&format!(
        "accountid=123&accountname=John&userid=456&timestamp={now}"
    ));
    let (status, body) = call(&app, &format!("/sso?{link}")).await?;
    println!("signed query, valid   -> {status} {body}");
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, &format!("/sso?{link}")).await?;
    println!("signed query, again   -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let stale = signed_query(&format!("accountid=123&timestamp={}", now - 3600));
    let (status, body) = call(&app, &format!("/sso?{stale}")).await?;
    println!("signed query, stale   -> {status} {body}");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// `querystring&hash=hex(HMAC-SHA256(api_key, querystring))`, as the partner makes its links.
fn signed_query(querystring: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, API_KEY.as_bytes()),
        querystring.as_bytes(),
    );
    let hash: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{querystring}&hash={hash}")
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
