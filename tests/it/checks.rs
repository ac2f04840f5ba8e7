//! Claim checks: `Issuer::check` (per issuer, on every full verification: a passing token's
//! first two sightings, not its cache hits) and `JwtGuardLayer::check` (per route layer, on
//! every request, cached tokens included). A refusal is 403 `insufficient_scope` with reason
//! `claim_check_failed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use jwt_guard::testing::{TestIssuer, TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Issuer, JwtGuard, Rejection, Verified};
use serde_json::Value;

use crate::common::{get_with, send};

const SECRET: &str = "a-checked-secret-of-at-least-32-bytes";

fn role_is(who: &Verified, role: &str) -> bool {
    who.claim("role").and_then(Value::as_str) == Some(role)
}

async fn assert_check_refused(app: &Router, path: &str, token: &str) {
    let (res, body) = send(app, get_with(path, token)).await;
    assert_eq!(res.status(), 403, "{path}: {body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
    );
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "insufficient_scope");
    assert_eq!(json["reason"], "claim_check_failed");
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().issuer_name(),
        Some("test")
    );
}

fn hello() -> Router {
    Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route("/public", get(|| async { "public" }))
}

#[tokio::test]
async fn an_issuer_check_refuses_tokens_whose_claims_it_rejects() {
    let issuer = TestIssuer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let guard = JwtGuard::builder()
        .issuer(
            issuer
                .issuer()
                .check(move |who| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    role_is(who, "admin") || role_is(who, "staff")
                })
                .check(|who| who.subject() != Some("banned")),
        )
        .build()
        .unwrap();
    let app = hello().layer(guard.layer());
    let admin = issuer.token().subject("u1").claim("role", "admin").sign();
    for _ in 0..3 {
        let (res, _) = send(&app, get_with("/public", &admin)).await;
        assert_eq!(res.status(), 200);
    }
    // Once per verification: the passing token is verified on its first two sightings (the
    // cache admits it on the second) and then served from the cache.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    for _ in 0..3 {
        let (res, _) = send(&app, get_with("/public", &admin)).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let user = issuer.token().subject("u1").claim("role", "user").sign();
    let banned = issuer
        .token()
        .subject("banned")
        .claim("role", "admin")
        .sign();
    for token in [&user, &banned, &user] {
        assert_check_refused(&app, "/public", token).await;
    }
    // Through `verify` as well.
    let rejection = guard.verify(&user).await.unwrap_err();
    assert_eq!(rejection.reason(), jwt_guard::Reason::ClaimCheckFailed);
    assert_eq!(rejection.kid(), Some("rsa-1"));
}

#[tokio::test]
async fn an_issuer_check_runs_before_a_jti_is_spent() {
    let key = Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256));
    let guard = JwtGuard::builder()
        .issuer(
            Issuer::secret(SECRET)
                .name("test")
                .reject_replays()
                .check(|who| role_is(who, "admin")),
        )
        .build()
        .unwrap();
    let app = hello().layer(guard.layer());
    let now = crate::attacks::kit::now();
    let refused = TokenBuilder::new(Arc::clone(&key), now)
        .claim("jti", "j1")
        .claim("role", "user")
        .sign();
    assert_check_refused(&app, "/public", &refused).await;
    // The refused token did not use up `j1`.
    let allowed = TokenBuilder::new(key, now)
        .claim("jti", "j1")
        .claim("role", "admin")
        .sign();
    let (res, body) = send(&app, get_with("/public", &allowed)).await;
    assert_eq!(res.status(), 200, "{body}");
}

#[tokio::test]
async fn a_layer_check_guards_its_routes_only_on_every_request() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let admin_layer = guard.auth_layer().check(move |who| {
        counted.fetch_add(1, Ordering::SeqCst);
        role_is(who, "admin")
    });
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(admin_layer)
        .merge(
            Router::new()
                .route("/public", get(|| async { "public" }))
                .route_layer(guard.auth_layer()),
        )
        .layer(guard.cors_layer());
    let admin = issuer.token().claim("role", "admin").sign();
    let user = issuer.token().claim("role", "user").sign();
    // The user's token: refused on /admin, a miss and then cache hits alike; fine elsewhere.
    for _ in 0..3 {
        assert_check_refused(&app, "/admin", &user).await;
        let (res, _) = send(&app, get_with("/public", &user)).await;
        assert_eq!(res.status(), 200);
    }
    for _ in 0..2 {
        let (res, body) = send(&app, get_with("/admin", &admin)).await;
        assert_eq!((res.status().as_u16(), body.as_str()), (200, "admin"));
    }
    // Every request to /admin ran the check (cache hits included); /public never did.
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn layer_checks_add_up_and_see_typed_claims() {
    #[derive(serde::Deserialize)]
    struct Mine {
        role: String,
        level: u8,
    }
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
    let layer = guard
        .layer()
        .check(|who| who.claims_as::<Mine>().is_ok_and(|c| c.role == "admin"))
        .check(|who| who.claims_as::<Mine>().is_ok_and(|c| c.level >= 3));
    let app = hello().layer(layer);
    let ok = issuer
        .token()
        .claim("role", "admin")
        .claim("level", 5)
        .sign();
    let (res, _) = send(&app, get_with("/admin", &ok)).await;
    assert_eq!(res.status(), 200);
    for token in [
        issuer
            .token()
            .claim("role", "admin")
            .claim("level", 1)
            .sign(),
        issuer
            .token()
            .claim("role", "user")
            .claim("level", 5)
            .sign(),
        issuer.token().claim("role", "admin").sign(),
    ] {
        assert_check_refused(&app, "/admin", &token).await;
    }
}

#[tokio::test]
async fn an_optional_layer_check_lets_anonymous_requests_through() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
    let app = hello().layer(
        guard
            .optional_auth_layer()
            .check(|who| role_is(who, "admin")),
    );
    let (res, _) = send(
        &app,
        http::Request::get("/public")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let user = issuer.token().claim("role", "user").sign();
    assert_check_refused(&app, "/public", &user).await;
}
