//! Issue 12, in process: several guards (replicas) sharing one real `redis-server` through
//! `RedisReplayStore`. Each test starts its own server on a free loopback port.
//!
//! The bounds below ("within the timeout plus a margin") are generous ceilings that only a
//! hang or a missing timeout can exceed, not speed measurements.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwt_guard::presets::BlendrSignedQuery;
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Issuer, JwtGuard, Reason, RedisReplayStore, Rejection};

use crate::common::{app, get_with, send};
use crate::redis_server::{RedisServer, free_port};

const SECRET: &[u8] = b"a-pandium-shared-secret-of-32-bytes-at-least";
const OTHER_SECRET: &[u8] = b"another-shared-secret-of-32-bytes-at-least!";
/// The store's timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);
/// How far past the timeout an answer may come on a busy machine before it counts as a hang.
const MARGIN: Duration = Duration::from_secs(3);
/// How long a recovery may take (a new connection at most once a second, plus a busy machine).
const RECOVERY: Duration = Duration::from_secs(15);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn store(url: &str) -> RedisReplayStore {
    RedisReplayStore::builder(url)
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

/// A replica: a guard with a replay-protected HS256 issuer `pandium` and an issuer without
/// replay protection, `plain`, each with its own store (its own connection), like a process.
fn replica(url: &str) -> JwtGuard {
    JwtGuard::builder()
        .issuer(Issuer::secret(SECRET).name("pandium").reject_replays())
        .issuer(Issuer::secret(OTHER_SECRET).name("plain"))
        .without_token_cache()
        .replay_store(store(url))
        .build()
        .unwrap()
}

fn key() -> Arc<TestKey> {
    Arc::new(TestKey::hmac(SECRET, Algorithm::HS256))
}

fn token(jti: &str) -> String {
    TokenBuilder::new(key(), now())
        .claim("jti", jti)
        .subject("u1")
        .sign()
}

fn plain_token() -> String {
    TokenBuilder::new(
        Arc::new(TestKey::hmac(OTHER_SECRET, Algorithm::HS256)),
        now(),
    )
    .subject("u2")
    .sign()
}

fn unique(label: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `guard.verify(token)`, bounded: a hang fails the test instead of stalling it.
async fn verify(
    guard: &JwtGuard,
    token: &str,
) -> (Result<jwt_guard::Verified, Rejection>, Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(TIMEOUT + MARGIN, guard.verify(token))
        .await
        .expect("a replay check is bounded by the store's timeout");
    (outcome, started.elapsed())
}

fn assert_unavailable(outcome: &Result<jwt_guard::Verified, Rejection>) {
    let rejection = outcome
        .as_ref()
        .expect_err("refused while Redis cannot answer");
    assert_eq!(
        rejection.reason(),
        Reason::ReplayStoreUnavailable,
        "{rejection}"
    );
    assert_eq!(rejection.status(), 503);
    assert_eq!(rejection.retry_after(), Some(1));
}

/// Retries fresh tokens until `guard` accepts one (Redis answers again), within `RECOVERY`.
async fn wait_recovered(guard: &JwtGuard) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (outcome, _) = verify(guard, &token(&unique("recover"))).await;
        match outcome {
            Ok(_) => return,
            Err(e) => {
                assert_eq!(e.reason(), Reason::ReplayStoreUnavailable, "{e}");
                assert!(Instant::now() < deadline, "no recovery within {RECOVERY:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_three_replicas_accept_a_jti_once_together() {
    let redis = RedisServer::start();
    let replicas: Vec<JwtGuard> = (0..3).map(|_| replica(&redis.url())).collect();
    // Two replicas: the first use passes, the replay to the other replica is refused, both ways.
    for (first, second) in [(0, 1), (1, 0), (2, 0), (1, 2)] {
        let t = token(&unique("two"));
        let (a, _) = verify(&replicas[first], &t).await;
        assert_eq!(a.unwrap().subject(), Some("u1"));
        let (b, _) = verify(&replicas[second], &t).await;
        assert_eq!(b.unwrap_err().reason(), Reason::Replayed);
        let (c, _) = verify(&replicas[first], &t).await;
        assert_eq!(c.unwrap_err().reason(), Reason::Replayed);
    }
    // Another issuer's jti of the same value is another jti; a new jti passes everywhere once.
    for guard in &replicas {
        let (outcome, _) = verify(guard, &token(&unique("each"))).await;
        assert!(outcome.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_requests_with_one_jti_across_three_replicas_give_exactly_one_200() {
    let redis = RedisServer::start();
    let replicas: Vec<JwtGuard> = (0..3).map(|_| replica(&redis.url())).collect();
    let apps: Vec<_> = replicas.iter().map(app).collect();
    for round in 0..5 {
        let t = token(&unique("race"));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let app = apps[i % apps.len()].clone();
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let (res, _) = send(&app, get_with("/whoami", &t)).await;
                res.status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let replayed = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!((ok, replayed), (1, 39), "round {round}: {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_hold_the_issuer_and_the_jti_only_and_all_expire_with_the_token() {
    let redis = RedisServer::start();
    let guard = JwtGuard::builder()
        .issuer(Issuer::secret(SECRET).name("pandium").reject_replays())
        .issuer(
            Issuer::secret(OTHER_SECRET)
                .name("by-age")
                .required_claims(Vec::<String>::new())
                .max_age(Duration::from_secs(60))
                .leeway(Duration::from_secs(10))
                .reject_replays(),
        )
        .replay_store(
            RedisReplayStore::builder(redis.url())
                .key_prefix("orders:")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // `exp` in 120 s, leeway 30 s: the key lives about 150 s.
    let by_exp = TokenBuilder::new(key(), now())
        .expires_in(120)
        .claim("jti", "jti:with:colons")
        .sign();
    // No `exp`; `iat` 20 s ago, max_age 60 s, leeway 10 s: about 50 s.
    let by_age = TokenBuilder::new(
        Arc::new(TestKey::hmac(OTHER_SECRET, Algorithm::HS256)),
        now() - 20,
    )
    .without("exp")
    .claim("jti", "a")
    .sign();
    for t in [&by_exp, &by_age] {
        guard.verify(t).await.unwrap();
        assert_eq!(
            guard.verify(t).await.unwrap_err().reason(),
            Reason::Replayed
        );
    }
    let mut keys = redis.keys();
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let (k0, ttl0, v0) = &keys[0];
    let (k1, ttl1, v1) = &keys[1];
    assert_eq!(k0, "orders:6:by-age:a");
    assert_eq!(k1, "orders:7:pandium:jti:with:colons");
    assert_eq!((v0.as_str(), v1.as_str()), ("1", "1"));
    assert!((40_000..=51_000).contains(ttl0), "by_age TTL {ttl0} ms");
    assert!((140_000..=151_000).contains(ttl1), "by_exp TTL {ttl1} ms");
    // Nothing of the tokens but the jti: no signature, no payload, no token.
    for (key, _, value) in &keys {
        for t in [&by_exp, &by_age] {
            for part in t.split('.') {
                assert!(!key.contains(part) && !value.contains(part), "{key}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_ever_written_without_an_expiry() {
    let redis = RedisServer::start();
    let replicas: Vec<JwtGuard> = (0..2).map(|_| replica(&redis.url())).collect();
    for i in 0..50 {
        let t = token(&unique("ttl"));
        let _ = verify(&replicas[i % 2], &t).await.0.unwrap();
        let _ = verify(&replicas[(i + 1) % 2], &t).await.0.unwrap_err();
    }
    let keys = redis.keys();
    assert_eq!(keys.len(), 50);
    for (key, ttl, _) in keys {
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_gives_503_within_the_timeout_and_recovers_on_a_new_server() {
    let mut redis = RedisServer::start();
    let guard = replica(&redis.url());
    assert!(verify(&guard, &token(&unique("up"))).await.0.is_ok());
    assert!(guard.replay_store_ready().await);

    redis.kill();
    for _ in 0..3 {
        let (outcome, took) = verify(&guard, &token(&unique("down"))).await;
        assert_unavailable(&outcome);
        assert!(took <= TIMEOUT + MARGIN, "took {took:?}");
    }
    assert!(!guard.replay_store_ready().await);
    // Checks before the replay check keep their answers; issuers without replay never touch
    // Redis.
    let forged = format!("{}x", token(&unique("forged")));
    let (outcome, _) = verify(&guard, &forged).await;
    assert_eq!(outcome.unwrap_err().reason(), Reason::BadSignature);
    let (outcome, _) = verify(&guard, &plain_token()).await;
    assert_eq!(outcome.unwrap().issuer_name(), "plain");

    // A new, empty server on the same port: recovery without a new guard.
    redis.restart();
    wait_recovered(&guard).await;
    assert!(guard.replay_store_ready().await);
    let t = token(&unique("after"));
    assert!(verify(&guard, &t).await.0.is_ok());
    assert_eq!(
        verify(&guard, &t).await.0.unwrap_err().reason(),
        Reason::Replayed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_gives_503_without_a_hang_and_recovers_on_sigcont() {
    let redis = RedisServer::start();
    let guard = replica(&redis.url());
    let apps = app(&guard);
    assert!(verify(&guard, &token(&unique("up"))).await.0.is_ok());

    redis.pause();
    // Several at once: none waits longer than the timeout.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = apps.clone();
        let t = token(&unique("stopped"));
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let (res, body) =
                tokio::time::timeout(TIMEOUT + MARGIN, send(&app, get_with("/whoami", &t)))
                    .await
                    .expect("no hang while Redis is stopped");
            (res, body, started.elapsed())
        }));
    }
    for task in tasks {
        let (res, body, took) = task.await.unwrap();
        assert_eq!(res.status(), 503, "{body}");
        assert_eq!(res.headers()["retry-after"], "1");
        assert!(res.headers().get("www-authenticate").is_none());
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "temporarily_unavailable");
        assert!(took <= TIMEOUT + MARGIN, "took {took:?}");
    }
    let started = Instant::now();
    assert!(!guard.replay_store_ready().await);
    assert!(started.elapsed() <= TIMEOUT + MARGIN);
    // The issuer without replay is not affected.
    assert!(verify(&guard, &plain_token()).await.0.is_ok());

    redis.resume();
    wait_recovered(&guard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_started_before_redis_serves_503_then_recovers() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    // Built and serving with nothing on the port.
    let guard = replica(&url);
    let (outcome, took) = verify(&guard, &token(&unique("early"))).await;
    assert_unavailable(&outcome);
    assert!(took <= TIMEOUT + MARGIN);
    assert!(!guard.replay_store_ready().await);
    assert!(verify(&guard, &plain_token()).await.0.is_ok());

    let _redis = RedisServer::start_on(port, None);
    wait_recovered(&guard).await;
    assert!(guard.replay_store_ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirepass_right_wrong_and_missing() {
    let redis = RedisServer::with_password("s3cret-redis-pw");
    let right = replica(&redis.url());
    let t = token(&unique("auth"));
    assert!(verify(&right, &t).await.0.is_ok());
    assert_eq!(
        verify(&right, &t).await.0.unwrap_err().reason(),
        Reason::Replayed
    );

    let port = redis.port();
    for url in [
        format!("redis://:wrong-password@127.0.0.1:{port}/0"),
        format!("redis://127.0.0.1:{port}/0"),
    ] {
        let guard = replica(&url);
        for _ in 0..2 {
            let (outcome, took) = verify(&guard, &token(&unique("wrong"))).await;
            assert_unavailable(&outcome);
            assert!(took <= TIMEOUT + MARGIN);
        }
        assert!(!guard.replay_store_ready().await);
        // No replay slipped through: the right replica still refuses the used jti.
        assert_eq!(
            verify(&guard, &t).await.0.unwrap_err().reason(),
            Reason::ReplayStoreUnavailable
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_number_of_the_url_is_honoured() {
    let redis = RedisServer::start();
    let guard = replica(&format!("redis://127.0.0.1:{}/3", redis.port()));
    assert!(verify(&guard, &token(&unique("db"))).await.0.is_ok());
    let mut conn = redis.connection();
    let in_db0: usize = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut conn).unwrap();
    let in_db3: usize = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!((in_db0, in_db3), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blendr_signed_queries_are_single_use_across_replicas() {
    use aws_lc_rs::hmac;
    let redis = RedisServer::start();
    let api_key = "a-blendr-partner-api-key-of-32-bytes";
    let verifiers: Vec<BlendrSignedQuery> = (0..2)
        .map(|_| {
            BlendrSignedQuery::builder(api_key)
                .replay_store(store(&redis.url()))
                .build()
                .unwrap()
        })
        .collect();
    let query = format!("accountid=123&userid=456&timestamp={}", now());
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes()),
        query.as_bytes(),
    );
    let hash: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let signed = format!("{query}&hash={hash}");
    assert_eq!(
        verifiers[0].verify(&signed).await.unwrap().accountid(),
        "123"
    );
    assert_eq!(
        verifiers[1].verify(&signed).await.unwrap_err().reason(),
        Reason::Replayed
    );
    // The key is a digest of the signature, never the signature itself.
    let keys = redis.keys();
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].0.to_lowercase().contains(&hash), "{keys:?}");
    assert!(keys[0].1 > 0);

    drop(redis);
    let fresh = format!("accountid=123&timestamp={}", now());
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes()),
        fresh.as_bytes(),
    );
    let hash: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let refused = verifiers[0]
        .verify(&format!("{fresh}&hash={hash}"))
        .await
        .unwrap_err();
    assert_eq!(refused.reason(), Reason::ReplayStoreUnavailable);
    assert_eq!(refused.retry_after(), Some(1));
}

/// The metric label of the outage: `jwt_guard_requests_rejected_total{reason=
/// "replay_store_unavailable"}` (a store whose port nothing listens on).
#[cfg(feature = "metrics")]
#[test]
fn an_outage_has_its_own_metric_label() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let guard = replica(&format!("redis://127.0.0.1:{}/0", free_port()));
            let (res, _) = send(&app(&guard), get_with("/whoami", &token(&unique("m")))).await;
            assert_eq!(res.status(), 503);
        });
    });
    let count: u64 = snapshotter
        .snapshot()
        .into_vec()
        .iter()
        .filter(|(key, ..)| {
            key.key().name() == "jwt_guard_requests_rejected_total"
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "reason" && l.value() == "replay_store_unavailable")
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(count, 1);
}
