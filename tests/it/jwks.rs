//! The JWKS cache end to end, against a loopback JWKS server that counts fetches: rotation,
//! single flight, the cooldown, outages, bounded fetches, TTLs, `ETag`, and the stale bound.
//!
//! Time is a [`ManualClock`] shared by the guard and the issuer, so that TTLs and cooldowns
//! move only when a test says so; fetch counts are asserted exactly.

use std::time::Duration;

use axum::Router;
use jwt_guard::testing::{JwksResponse, TestIssuer, TestKey};
use jwt_guard::{Algorithm, Issuer, JwtGuard, JwtGuardBuilder, ManualClock};
use serde_json::{Value, json};

use crate::common::{app, get_with, send};

const UNKNOWN_KID: &str = "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"the token key id is unknown\"";
const UNAVAILABLE_BODY: &str = r#"{"error":"temporarily_unavailable","error_description":"the signing keys are temporarily unavailable","reason":"keys_unavailable"}"#;

/// What a test needs to know about a response.
#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: String,
}

async fn call(app: &Router, token: &str) -> Reply {
    let (res, body) = send(app, get_with("/whoami", token)).await;
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Reply {
        status: res.status().as_u16(),
        challenge: header("www-authenticate"),
        retry_after: header("retry-after"),
        body,
    }
}

/// Asserts a 200 that reached the handler with this subject.
async fn ok(app: &Router, token: &str, sub: &str) {
    let reply = call(app, token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["sub"], sub);
}

/// Asserts a 401 for an unknown kid.
async fn unknown_kid(app: &Router, token: &str) {
    let reply = call(app, token).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.challenge.as_deref(), Some(UNKNOWN_KID));
}

/// Asserts a 503 with `Retry-After: retry_after` and the contract's body, without challenge.
async fn unavailable(app: &Router, token: &str, retry_after: &str) {
    let reply = call(app, token).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.retry_after.as_deref(), Some(retry_after));
    assert_eq!(reply.challenge, None);
    assert_eq!(reply.body, UNAVAILABLE_BODY);
}

/// A test issuer and a guard that share one manual clock.
async fn setup(
    configure: impl FnOnce(JwtGuardBuilder) -> JwtGuardBuilder,
) -> (TestIssuer, ManualClock, JwtGuard, Router) {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start().await.with_clock(clock.clone());
    let guard = configure(
        JwtGuard::builder()
            .issuer(issuer.issuer())
            .clock(clock.clone()),
    )
    .build()
    .unwrap();
    let app = app(&guard);
    (issuer, clock, guard, app)
}

/// Waits (up to 10 s) until the JWKS endpoint has received `n` requests. Never a timing
/// assertion: it only lets a background fetch that has been started reach the server.
async fn fetches_reach(issuer: &TestIssuer, n: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while issuer.fetch_count() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "expected {n} fetches, saw {}",
        issuer.fetch_count()
    );
}

/// Waits (up to 10 s) until the guard's key set is fresh again (a refresh has been installed).
async fn fresh_again(guard: &JwtGuard) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while guard.readiness()[0].expired {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the key set was not refreshed: {:?}",
        guard.readiness()
    );
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test]
async fn rotation_a_new_kid_refetches_once_and_a_removed_key_stops_verifying() {
    let (mut issuer, clock, _guard, app) = setup(|b| b).await;
    let old = issuer.token().subject("old").expires_in(3600).sign();
    ok(&app, &old, "old").await;
    assert_eq!(issuer.fetch_count(), 1);

    // The issuer rotates in a new key.
    issuer.add_key(TestKey::rsa("rsa-2", Algorithm::RS256), true);
    issuer.use_key("rsa-2");
    let new = issuer.token().subject("new").expires_in(3600).sign();
    // Within the cooldown of the first fetch, the unknown kid is refused without a fetch.
    unknown_kid(&app, &new).await;
    assert_eq!(issuer.fetch_count(), 1);
    // After it: one refetch, and the new key verifies.
    clock.advance(secs(31));
    ok(&app, &new, "new").await;
    assert_eq!(issuer.fetch_count(), 2);
    ok(&app, &new, "new").await;
    ok(&app, &old, "old").await;
    assert_eq!(issuer.fetch_count(), 2);

    // The old key is withdrawn. Until the set is refetched it still verifies...
    issuer.publish_only(&["rsa-2", "ec-1"]);
    ok(&app, &old, "old").await;
    assert_eq!(issuer.fetch_count(), 2);
    // ...and once a refetch has happened (here caused by another unknown kid), it does not:
    // a successful fetch replaces the whole set, cached tokens included.
    clock.advance(secs(31));
    issuer.add_key(TestKey::rsa("rsa-3", Algorithm::RS256), false);
    issuer.use_key("rsa-3");
    unknown_kid(&app, &issuer.token().sign()).await;
    assert_eq!(issuer.fetch_count(), 3);
    unknown_kid(&app, &old).await;
    assert_eq!(issuer.fetch_count(), 3);
    ok(&app, &new, "new").await;
    assert_eq!(issuer.fetch_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_with_a_new_kid_cause_exactly_one_fetch() {
    let (mut issuer, clock, guard, app) = setup(|b| b).await;
    assert!(guard.warm_up().await);
    assert_eq!(issuer.fetch_count(), 1);
    issuer.add_key(TestKey::ec("ec-2", Algorithm::ES256), true);
    issuer.use_key("ec-2");
    clock.advance(secs(31));
    // A slow endpoint keeps the fetch in flight while the requests pile up on it.
    issuer.delay(Duration::from_millis(300));

    let tokens: Vec<String> = (0..200)
        .map(|i| issuer.token().subject(&format!("u{i}")).sign())
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let app = app.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let reply = call(&app, &token).await;
            (i, reply)
        }));
    }
    for task in tasks {
        let (i, reply) = task.await.unwrap();
        assert_eq!(reply.status, 200, "request {i}: {reply:?}");
        let json: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(json["sub"], format!("u{i}"));
    }
    assert_eq!(issuer.fetch_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cooldown_holds_under_a_flood_of_random_kids() {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    assert!(guard.warm_up().await);
    assert_eq!(issuer.fetch_count(), 1);
    let mut n = 0u32;
    let mut random_kid = || {
        n += 1;
        format!("rnd-{n}-{:x}", n.wrapping_mul(2_654_435_761))
    };

    // Inside the cooldown of the warm-up fetch: no fetch at all.
    for _ in 0..50 {
        unknown_kid(&app, &issuer.token().header("kid", random_kid()).sign()).await;
    }
    assert_eq!(issuer.fetch_count(), 1);

    // After it, a concurrent flood: one fetch in all.
    clock.advance(secs(31));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let token = issuer.token().header("kid", random_kid()).sign();
        let app = app.clone();
        tasks.push(tokio::spawn(async move { call(&app, &token).await }));
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.challenge.as_deref(), Some(UNKNOWN_KID));
    }
    assert_eq!(issuer.fetch_count(), 2);

    // 29 s later: still inside the cooldown counted from the start of that fetch.
    clock.advance(secs(29));
    for _ in 0..50 {
        unknown_kid(&app, &issuer.token().header("kid", random_kid()).sign()).await;
    }
    assert_eq!(issuer.fetch_count(), 2);
    // Good tokens were never slowed or refused meanwhile.
    ok(&app, &issuer.token().subject("good").sign(), "good").await;

    // Past it: exactly one more.
    clock.advance(secs(2));
    for _ in 0..20 {
        unknown_kid(&app, &issuer.token().header("kid", random_kid()).sign()).await;
    }
    assert_eq!(issuer.fetch_count(), 3);
}

#[tokio::test]
async fn a_custom_cooldown_is_honoured() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start().await.with_clock(clock.clone());
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().refresh_cooldown(secs(5)))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(&guard);
    assert!(guard.warm_up().await);
    clock.advance(secs(4));
    unknown_kid(&app, &issuer.token().header("kid", "x1").sign()).await;
    assert_eq!(issuer.fetch_count(), 1);
    clock.advance(secs(2));
    unknown_kid(&app, &issuer.token().header("kid", "x2").sign()).await;
    assert_eq!(issuer.fetch_count(), 2);
}

#[tokio::test]
async fn an_outage_with_cached_keys_keeps_verifying() {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    assert_eq!(issuer.fetch_count(), 1);
    issuer.respond_with(JwksResponse::Status(500));

    // Past the default TTL (10 min): a refresh is tried in the background, and fails.
    clock.advance(secs(601));
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
    fetches_reach(&issuer, 2).await;
    ok(&app, &issuer.token().subject("c").sign(), "c").await;
    assert!(guard.readiness()[0].expired);
    // Retries against the failing host are paced by the cooldown.
    clock.advance(secs(10));
    ok(&app, &issuer.token().subject("d").sign(), "d").await;
    assert_eq!(issuer.fetch_count(), 2);
    clock.advance(secs(21));
    ok(&app, &issuer.token().subject("e").sign(), "e").await;
    fetches_reach(&issuer, 3).await;

    // An unknown kid while the endpoint fails: 401 (unverifiable), not 503.
    clock.advance(secs(31));
    unknown_kid(&app, &issuer.token().header("kid", "nope").sign()).await;
    assert_eq!(issuer.fetch_count(), 4);

    // Hours later (within the 24 h stale bound), still verifying.
    clock.advance(secs(20 * 3600));
    ok(&app, &issuer.token().subject("f").sign(), "f").await;
    fetches_reach(&issuer, 5).await;

    // The endpoint comes back: the next refresh installs a fresh set. The failed fetch above
    // may still be finishing (it reached the server; its task may not have recorded the
    // failure yet), and a request meanwhile joins it instead of starting another: try again,
    // past the cooldown each time, until the sixth fetch is made.
    issuer.respond_with(JwksResponse::Keys);
    for attempt in 0..200 {
        clock.advance(secs(31));
        let subject = format!("g{attempt}");
        ok(&app, &issuer.token().subject(&subject).sign(), &subject).await;
        if issuer.fetch_count() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fetches_reach(&issuer, 6).await;
    fresh_again(&guard).await;
    assert_eq!(issuer.fetch_count(), 6);
}

#[tokio::test]
async fn a_cold_start_outage_is_503_with_retry_after() {
    let (issuer, clock, _guard, app) = setup(|b| b).await;
    issuer.respond_with(JwksResponse::Status(500));
    let token = issuer.token().sign();
    // The clock does not move: the whole cooldown (30 s) remains until the next fetch.
    unavailable(&app, &token, "30").await;
    assert_eq!(issuer.fetch_count(), 1);
    unavailable(&app, &token, "30").await;
    assert_eq!(issuer.fetch_count(), 1);
    clock.advance(Duration::from_millis(29_500));
    unavailable(&app, &token, "1").await;
    assert_eq!(issuer.fetch_count(), 1);
    clock.advance(secs(1));
    unavailable(&app, &token, "30").await;
    assert_eq!(issuer.fetch_count(), 2);

    // Every failing answer is the same 503.
    for response in [
        JwksResponse::Status(404),
        JwksResponse::Status(302),
        JwksResponse::Status(304),
        JwksResponse::Status(204),
    ] {
        issuer.respond_with(response.clone());
        clock.advance(secs(30));
        unavailable(&app, &token, "30").await;
    }
    assert_eq!(issuer.fetch_count(), 6);

    // Once the endpoint answers, the next allowed fetch loads the keys.
    issuer.respond_with(JwksResponse::Keys);
    clock.advance(secs(30));
    ok(&app, &issuer.token().subject("back").sign(), "back").await;
    assert_eq!(issuer.fetch_count(), 7);
}

#[tokio::test]
async fn a_refused_connection_is_503_not_a_hang() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(Issuer::jwks(format!("http://127.0.0.1:{port}/jwks")))
        .build()
        .unwrap();
    let app = app(&guard);
    let reply = tokio::time::timeout(secs(10), call(&app, &issuer.token().sign()))
        .await
        .unwrap();
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body, UNAVAILABLE_BODY);
    let retry: u64 = reply.retry_after.unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_stalled_endpoint_is_503_within_the_timeout() {
    let (issuer, _clock, _guard, app) =
        setup(|b| b.jwks_timeouts(Duration::from_millis(100), Duration::from_millis(500))).await;
    issuer.respond_with(JwksResponse::Stall);
    let reply = tokio::time::timeout(secs(10), call(&app, &issuer.token().sign()))
        .await
        .expect("a stalled JWKS endpoint must not hang the request");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.retry_after.as_deref(), Some("30"));
    assert_eq!(reply.body, UNAVAILABLE_BODY);
    assert_eq!(issuer.fetch_count(), 1);
}

/// A valid key-set body of exactly `len` bytes (JSON padded with trailing whitespace).
fn padded_keys(issuer: &TestIssuer, len: usize) -> Vec<u8> {
    let doc =
        json!({"keys": [issuer.key("rsa-1").unwrap().jwk(), issuer.key("ec-1").unwrap().jwk()]});
    let mut body = doc.to_string().into_bytes();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn oversized_and_garbage_bodies_are_failed_fetches() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let too_many = json!({"keys": vec![rsa.clone(); 101]})
        .to_string()
        .into_bytes();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("over 256 KiB", padded_keys(&issuer, 256 * 1024 + 1)),
        ("empty", Vec::new()),
        ("text", b"not json at all".to_vec()),
        (
            "html",
            b"<html><body>503 Service Unavailable</body></html>".to_vec(),
        ),
        ("truncated", br#"{"keys":[{"kty":"RSA""#.to_vec()),
        ("an array", b"[]".to_vec()),
        ("no keys", b"{}".to_vec()),
        ("keys not an array", br#"{"keys":{"kty":"RSA"}}"#.to_vec()),
        ("empty set", br#"{"keys":[]}"#.to_vec()),
        (
            "only unusable keys",
            br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-256"}]}"#.to_vec(),
        ),
        ("duplicate members", br#"{"keys":[],"keys":[]}"#.to_vec()),
        ("101 keys", too_many),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', b'}']),
    ];
    for (i, (what, body)) in bodies.into_iter().enumerate() {
        issuer.respond_with(JwksResponse::Body(body));
        // A fresh guard per body: a cold start every time.
        let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
        let app = app(&guard);
        let reply = call(&app, &issuer.token().sign()).await;
        assert_eq!(reply.status, 503, "{what}: {reply:?}");
        assert_eq!(reply.body, UNAVAILABLE_BODY, "{what}");
        assert_eq!(issuer.fetch_count(), i + 1, "{what}");
    }

    // At the caps exactly: 256 KiB and 100 keys are fine.
    for (what, body) in [
        ("exactly 256 KiB", padded_keys(&issuer, 256 * 1024)),
        (
            "100 keys",
            json!({"keys": vec![rsa.clone(); 100]})
                .to_string()
                .into_bytes(),
        ),
    ] {
        issuer.respond_with(JwksResponse::Body(body));
        let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
        let app = app(&guard);
        ok(&app, &issuer.token().subject(what).sign(), what).await;
    }
}

#[tokio::test]
async fn a_bad_body_after_a_good_one_keeps_the_good_set() {
    let (issuer, clock, _guard, app) = setup(|b| b).await;
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    issuer.respond_with(JwksResponse::Body(padded_keys(&issuer, 300 * 1024)));
    clock.advance(secs(31));
    unknown_kid(&app, &issuer.token().header("kid", "rotated?").sign()).await;
    assert_eq!(issuer.fetch_count(), 2);
    issuer.respond_with(JwksResponse::Body(br#"{"keys":[]}"#.to_vec()));
    clock.advance(secs(31));
    unknown_kid(&app, &issuer.token().header("kid", "rotated?").sign()).await;
    assert_eq!(issuer.fetch_count(), 3);
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
}

#[tokio::test]
async fn a_mixed_key_set_skips_the_bad_keys_and_uses_the_rest() {
    let (mut issuer, _clock, guard, app) = setup(|b| b).await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let ec = issuer.key("ec-1").unwrap().jwk().clone();
    issuer.set_jwks(vec![
        json!({"kty": "RSA", "kid": "bad-b64", "alg": "RS256", "n": "***", "e": "AQAB"}),
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        json!({"kty": "RSA", "kid": "x5c-only", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        json!({"kty": "unknown", "kid": "u"}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa["n"], "e": rsa["e"]}),
        rsa,
        json!({"kty": "oct", "kid": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}),
        ec,
    ]);
    ok(&app, &issuer.token().subject("rsa").sign(), "rsa").await;
    issuer.use_key("ec-1");
    ok(&app, &issuer.token().subject("ec").sign(), "ec").await;
    assert_eq!(guard.readiness()[0].keys, Some(2));
    assert_eq!(issuer.fetch_count(), 1);
    // A token naming a skipped key finds nothing (and the cooldown stops a refetch).
    unknown_kid(&app, &issuer.token().header("kid", "enc").sign()).await;
    unknown_kid(&app, &issuer.token().header("kid", "ed").sign()).await;
    assert_eq!(issuer.fetch_count(), 1);
}

#[tokio::test]
async fn the_ttl_comes_from_max_age_and_a_refresh_runs_while_requests_verify() {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    issuer.cache_control(Some("public, max-age=120"));
    ok(
        &app,
        &issuer.token().subject("a").expires_in(3600).sign(),
        "a",
    )
    .await;
    assert_eq!(issuer.fetch_count(), 1);
    clock.advance(secs(119));
    assert!(!guard.readiness()[0].expired);
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
    assert_eq!(issuer.fetch_count(), 1);

    // The issuer withdraws rsa-1; the set expires; the next request still verifies with the
    // current keys and starts the refresh, which replaces the set.
    issuer.publish_only(&["ec-1"]);
    clock.advance(secs(2));
    assert!(guard.readiness()[0].expired);
    ok(&app, &issuer.token().subject("c").sign(), "c").await;
    fetches_reach(&issuer, 2).await;
    fresh_again(&guard).await;
    assert_eq!(guard.readiness()[0].keys, Some(1));
    unknown_kid(&app, &issuer.token().subject("d").sign()).await;
    assert_eq!(issuer.fetch_count(), 2);
}

#[tokio::test]
async fn a_cached_token_also_triggers_the_refresh_after_the_ttl() {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    let token = issuer.token().subject("a").expires_in(3600).sign();
    // Verified twice (the second sighting caches it), then hit twice: its key is confirmed in
    // the current set and it sits in this thread's hot slot, the shortest path a request can take.
    for _ in 0..4 {
        ok(&app, &token, "a").await;
    }
    assert_eq!(issuer.fetch_count(), 1);
    clock.advance(secs(601));
    // The same token again (a verified-token cache hit): the refresh still happens.
    ok(&app, &token, "a").await;
    fetches_reach(&issuer, 2).await;
    fresh_again(&guard).await;
}

#[tokio::test]
async fn requests_do_not_wait_for_a_stalled_refresh() {
    let (issuer, clock, _guard, app) = setup(|b| b.jwks_timeouts(secs(30), secs(60))).await;
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    issuer.respond_with(JwksResponse::Stall);
    clock.advance(secs(601));
    // The refresh hangs for up to 60 s; requests answer from the current keys meanwhile.
    let replies = tokio::time::timeout(secs(10), async {
        let mut replies = Vec::new();
        for i in 0..20 {
            replies.push(call(&app, &issuer.token().subject(&format!("s{i}")).sign()).await);
        }
        replies
    })
    .await
    .expect("requests waited for the background refresh");
    for reply in replies {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    fetches_reach(&issuer, 2).await;
    assert_eq!(issuer.fetch_count(), 2);
}

/// The TTL of a set served with this `Cache-Control`, checked on both sides of `expected`.
async fn ttl_is(cache_control: Option<&str>, expected: u64) {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    issuer.cache_control(cache_control);
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    clock.advance(secs(expected - 1));
    assert!(
        !guard.readiness()[0].expired,
        "{cache_control:?}: expired before {expected} s"
    );
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
    assert_eq!(issuer.fetch_count(), 1, "{cache_control:?}");
    clock.advance(secs(2));
    assert!(
        guard.readiness()[0].expired,
        "{cache_control:?}: not expired after {expected} s"
    );
    ok(&app, &issuer.token().subject("c").sign(), "c").await;
    fetches_reach(&issuer, 2).await;
    fresh_again(&guard).await;
    assert_eq!(issuer.fetch_count(), 2, "{cache_control:?}");
}

#[tokio::test]
async fn max_age_is_clamped_to_one_minute_and_one_day() {
    ttl_is(Some("max-age=300"), 300).await;
    ttl_is(Some("max-age=5"), 60).await;
    ttl_is(Some("no-store"), 60).await;
    ttl_is(Some("max-age=0"), 60).await;
    ttl_is(Some("public, max-age=999999999"), 86_400).await;
    ttl_is(None, 600).await;
    ttl_is(Some("max-age=nonsense"), 600).await;
}

#[tokio::test]
async fn an_etag_is_sent_back_and_304_keeps_the_keys() {
    let (issuer, clock, guard, app) = setup(|b| b).await;
    issuer.etag(Some("\"v1\""));
    let cached = issuer.token().subject("cached").expires_in(7200).sign();
    // Twice: a token enters the verified-token cache on its second sighting.
    ok(&app, &cached, "cached").await;
    ok(&app, &cached, "cached").await;
    assert_eq!(issuer.fetch_count(), 1);

    clock.advance(secs(601));
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    fetches_reach(&issuer, 2).await;
    fresh_again(&guard).await;
    assert_eq!(issuer.not_modified_count(), 1);
    let requests = issuer.requests();
    assert!(
        !requests[0].to_ascii_lowercase().contains("if-none-match"),
        "{}",
        requests[0]
    );
    assert!(
        requests[1]
            .to_ascii_lowercase()
            .contains("if-none-match: \"v1\"\r\n"),
        "{}",
        requests[1]
    );
    // The same keys: fresh tokens and cached ones verify, with both keys.
    ok(&app, &cached, "cached").await;
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
    assert_eq!(guard.readiness()[0].keys, Some(2));

    // A changed set gets a new ETag and a full body.
    issuer.etag(Some("\"v2\""));
    issuer.publish_only(&["ec-1"]);
    clock.advance(secs(601));
    ok(&app, &issuer.token().subject("c").sign(), "c").await;
    fetches_reach(&issuer, 3).await;
    fresh_again(&guard).await;
    assert_eq!(issuer.not_modified_count(), 1);
    assert_eq!(guard.readiness()[0].keys, Some(1));
    unknown_kid(&app, &cached).await;
}

#[tokio::test]
async fn the_kid_and_the_token_never_reach_the_jwks_host() {
    let (issuer, clock, _guard, app) = setup(|b| b).await;
    ok(&app, &issuer.token().subject("a").sign(), "a").await;
    clock.advance(secs(31));
    let probe = "Probe-Kid-7f3a9c";
    let token = issuer.token().header("kid", probe).sign();
    unknown_kid(&app, &token).await;
    assert_eq!(issuer.fetch_count(), 2);
    for request in issuer.requests() {
        assert!(
            request.starts_with("GET /.well-known/jwks.json HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(!lower.contains(&probe.to_ascii_lowercase()), "{request}");
        assert!(!lower.contains("authorization"), "{request}");
        assert!(
            !request.contains(token.split('.').next().unwrap()),
            "{request}"
        );
    }
}

#[tokio::test]
async fn past_the_stale_bound_a_failing_endpoint_means_503() {
    let (issuer, clock, _guard, app) = setup(|b| b.jwks_max_stale(secs(3600))).await;
    // A long-lived token, verified twice (so it sits in the verified-token cache: a token
    // enters it on its second sighting).
    let token = issuer.token().subject("a").expires_in(86_400).sign();
    ok(&app, &token, "a").await;
    ok(&app, &token, "a").await;
    issuer.respond_with(JwksResponse::Status(503));

    // TTL (600 s) + max_stale (3600 s) - 1 s: the stale set is still used.
    clock.advance(secs(600 + 3600 - 1));
    ok(&app, &token, "a").await;
    ok(&app, &issuer.token().subject("b").sign(), "b").await;
    fetches_reach(&issuer, 2).await;
    // The failed fetch reached the server; let its task record the failure, so that the
    // request below starts the next fetch rather than joining this one.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Past the bound: no key can be had. Neither a fresh token nor the cached one verifies.
    clock.advance(secs(31));
    unavailable(&app, &issuer.token().subject("c").sign(), "30").await;
    assert_eq!(issuer.fetch_count(), 3);
    unavailable(&app, &token, "30").await;
    assert_eq!(issuer.fetch_count(), 3);

    // The endpoint recovers: the next allowed fetch brings the keys back.
    issuer.respond_with(JwksResponse::Keys);
    clock.advance(secs(30));
    ok(&app, &token, "a").await;
    assert_eq!(issuer.fetch_count(), 4);
}
