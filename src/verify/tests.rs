//! The engine with its token cache: a token enters the cache on its second sighting (the
//! doorkeeper), refused tokens never do, and a cached token is still re-checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::ManualClock;
use crate::reject::Reason;
use crate::verify::Engine;
use crate::{Issuer, JwtGuard};

const SECRET: &[u8] = b"doorkeeper-test-secret-0123456789abcdef!";

/// An HS256 token over `payload`, signed with `secret`.
fn sign(secret: &[u8], payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Token `i`, valid for ten minutes from `now`.
fn token(now: u64, i: u64) -> String {
    sign(
        SECRET,
        &format!(
            r#"{{"sub":"user-{i}","jti":"{i:016x}","exp":{}}}"#,
            now + 600
        ),
    )
}

fn guard(clock: &ManualClock, budget: u64) -> JwtGuard {
    JwtGuard::builder()
        .issuer(Issuer::secret(SECRET).name("hs"))
        .clock(clock.clone())
        .token_cache_bytes(budget)
        .build()
        .unwrap()
}

/// Whether `token` is settled by the cache now (without verifying it).
fn cached(engine: &Engine, token: &str) -> bool {
    matches!(engine.verify_cached(token.as_bytes(), None), Some(Ok(_)))
}

fn entries(engine: &Engine) -> u64 {
    engine.cache.as_ref().map_or(0, |cache| cache.entry_count())
}

#[tokio::test]
async fn a_token_enters_the_cache_on_its_second_sighting() {
    let clock = ManualClock::at(1_700_000_000);
    let guard = guard(&clock, 1 << 20);
    let token = token(clock.unix_seconds(), 1);
    guard.verify(&token).await.unwrap();
    assert!(
        !cached(guard.engine(), &token),
        "cached on its first sighting"
    );
    assert_eq!(entries(guard.engine()), 0);
    guard.verify(&token).await.unwrap();
    assert!(
        cached(guard.engine(), &token),
        "not cached on its second sighting"
    );
    assert_eq!(entries(guard.engine()), 1);
    // A hit is the same identity.
    assert_eq!(
        guard.verify(&token).await.unwrap().subject(),
        Some("user-1")
    );
}

#[tokio::test]
async fn a_flood_of_one_shot_tokens_leaves_the_cache_empty() {
    let clock = ManualClock::at(1_700_000_000);
    let budget = 1 << 20;
    let guard = guard(&clock, budget);
    let now = clock.unix_seconds();
    for i in 0..5_000 {
        guard.verify(&token(now, i)).await.unwrap();
    }
    assert_eq!(entries(guard.engine()), 0, "one-shot tokens were cached");
    // A token of the flood seen again is admitted: the doorkeeper still works after it.
    let again = token(now, 4_999);
    guard.verify(&again).await.unwrap();
    assert!(cached(guard.engine(), &again));
    // What the doorkeeper takes is a fixed part of the budget (1/64), whatever the flood.
    let door = guard
        .engine()
        .cache
        .as_ref()
        .map(|cache| cache.doorkeeper_bytes());
    assert_eq!(door, Some(budget / 64));
}

#[tokio::test]
async fn a_refused_token_is_never_admitted() {
    let clock = ManualClock::at(1_700_000_000);
    let guard = guard(&clock, 1 << 20);
    let now = clock.unix_seconds();
    let forged = sign(
        b"another-secret-another-secret-another-se",
        &format!(r#"{{"sub":"x","exp":{}}}"#, now + 600),
    );
    let expired = sign(SECRET, &format!(r#"{{"sub":"x","exp":{}}}"#, now - 600));
    for bad in [&forged, &expired] {
        for _ in 0..3 {
            assert!(guard.verify(bad).await.is_err());
            assert!(!cached(guard.engine(), bad));
        }
    }
    assert_eq!(entries(guard.engine()), 0);
    // Nor did it leave a fingerprint: a refusal never reaches the doorkeeper.
    let cache = guard.engine().cache.as_ref().unwrap();
    assert!(!cache.admits(&forged), "a refused token left a fingerprint");
}

#[tokio::test]
async fn a_cached_token_past_its_end_is_verified_again_and_refused() {
    let clock = ManualClock::at(1_700_000_000);
    let guard = guard(&clock, 1 << 20);
    let token = token(clock.unix_seconds(), 7);
    guard.verify(&token).await.unwrap();
    guard.verify(&token).await.unwrap();
    assert!(cached(guard.engine(), &token));
    clock.advance(std::time::Duration::from_secs(601 + 60));
    let refused = guard.verify(&token).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::Expired);
    assert!(!cached(guard.engine(), &token));
}

/// Key rotation: a token cached on its second sighting is verified again once its key has
/// left the set, and refused.
#[cfg(feature = "testing")]
#[tokio::test]
async fn a_cached_token_is_verified_again_after_its_key_leaves_the_set() {
    use crate::testing::TestIssuer;
    use std::time::Duration;

    let clock = ManualClock::starting_now();
    let mut issuer = TestIssuer::start().await.with_clock(clock.clone());
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = issuer.token().subject("old").expires_in(3600).sign();
    guard.verify(&token).await.unwrap();
    guard.verify(&token).await.unwrap();
    assert!(
        cached(guard.engine(), &token),
        "not cached on its second sighting"
    );

    // rsa-1 is withdrawn; past the TTL of the set, a refresh installs the set without it.
    issuer.publish_only(&["ec-1"]);
    clock.advance(Duration::from_secs(601));
    assert!(guard.warm_up().await);
    assert!(
        !cached(guard.engine(), &token),
        "a cached token outlived its key"
    );
    let refused = guard.verify(&token).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::UnknownKid);
    // The other key still verifies, and its tokens are cached as before.
    issuer.use_key("ec-1");
    let fresh = issuer.token().subject("new").sign();
    guard.verify(&fresh).await.unwrap();
    guard.verify(&fresh).await.unwrap();
    assert!(cached(guard.engine(), &fresh));
}
