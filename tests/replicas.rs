//! Issue 12, black box: several `serve` processes (the built example, as in
//! `tests/serve_contract.rs`) with one `[replay_store]`, against a real `redis-server` of the
//! test's own on a free loopback port. The contract's section "Replicas: the shared replay
//! store", case by case.
//!
//! `cargo test` builds the examples first; with `cargo test --test replicas` alone, run
//! `cargo build --example serve` before (or set `JWT_GUARD_SERVE_BIN`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/serve.rs"]
mod serve_process;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwt_guard::Algorithm;
use jwt_guard::testing::{TestKey, TokenBuilder};
use redis_server::{RedisServer, free_port};
use reqwest::StatusCode;
use serde_json::Value;
use serve_process::{Serve, refused};

/// The `timeout` of `[replay_store]` in these tests.
const TIMEOUT_MS: u64 = 300;
/// How far past the timeout a 503 may come on a busy machine before it counts as a hang.
const MARGIN: Duration = Duration::from_secs(3);
/// How long a recovery may take.
const RECOVERY: Duration = Duration::from_secs(15);

const SECRET: &str = "a-pandium-shared-secret-of-32-bytes-at-least";
const PLAIN_SECRET: &str = "another-shared-secret-of-32-bytes-at-least!";
const URL_VAR: &str = "REPLICAS_TEST_REDIS_URL";

// ---------------------------------------------------------------------------------------------
// The processes under test.

/// `serve` logging at `debug` (so that every log line is captured and searched for the
/// password).
async fn start(toml: &str, envs: &[(&str, &str)]) -> Serve {
    let mut all = vec![("RUST_LOG", "debug")];
    all.extend_from_slice(envs);
    Serve::start(toml, &all).await
}

/// Two issuers: `pandium` with replay protection, `plain` without; `store` is the
/// `[replay_store]` table's body.
fn config(store: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"

[[issuers]]
name = "pandium"
secret = "{SECRET}"
replay = "reject"

[[issuers]]
name = "plain"
secret = "{PLAIN_SECRET}"

[replay_store]
{store}
timeout = "{TIMEOUT_MS}ms"
"#
    )
}

// ---------------------------------------------------------------------------------------------
// Tokens and requests.

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn unique(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn token(jti: &str) -> String {
    TokenBuilder::new(
        Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256)),
        now(),
    )
    .claim("jti", jti)
    .sign()
}

fn plain_token() -> String {
    TokenBuilder::new(
        Arc::new(TestKey::hmac(PLAIN_SECRET.as_bytes(), Algorithm::HS256)),
        now(),
    )
    .sign()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(TIMEOUT_MS) + MARGIN)
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn whoami(client: &reqwest::Client, serve: &Serve, token: &str) -> Answer {
    let started = Instant::now();
    let res = client
        .get(serve.url("/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer within the timeout plus a margin: no hang");
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert!(
        answer.took <= Duration::from_millis(TIMEOUT_MS) + MARGIN,
        "took {:?}",
        answer.took
    );
}

async fn readyz(client: &reqwest::Client, serve: &Serve) -> (u16, Value) {
    let response = client.get(serve.url("/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn wait_recovered(client: &reqwest::Client, serve: &Serve) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let answer = whoami(client, serve, &token(&unique("recover"))).await;
        if answer.status == 200 {
            return;
        }
        assert_unavailable(&answer);
        assert!(Instant::now() < deadline, "no recovery within {RECOVERY:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_accept_a_jti_once_together_under_a_race() {
    let redis = RedisServer::start();
    let toml = config(&format!("redis_url = \"{}\"", redis.url()));
    let replicas = [start(&toml, &[]).await, start(&toml, &[]).await];
    let replicas = Arc::new(replicas);
    let client = client();

    // One use, then the replay to the other process.
    let t = token(&unique("seq"));
    assert_eq!(whoami(&client, &replicas[0], &t).await.status, 200);
    let replay = whoami(&client, &replicas[1], &t).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.body["error"], "invalid_token");

    // 40 concurrent requests with one jti, split over both processes: exactly one 200.
    for round in 0..5 {
        let t = token(&unique("race"));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (client, replicas, t) = (client.clone(), Arc::clone(&replicas), t.clone());
            tasks.push(tokio::spawn(async move {
                whoami(&client, &replicas[i % 2], &t).await.status.as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!((ok, refused), (1, 39), "round {round}: {statuses:?}");
    }

    // In Redis: one key per jti, each with a TTL, none holding the token.
    let keys = redis.keys();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for (key, ttl, value) in keys {
        assert!(
            key.starts_with("jwt-guard:7:pandium:seq-")
                || key.starts_with("jwt-guard:7:pandium:race-"),
            "{key}"
        );
        assert!(ttl > 0 && ttl <= 330_000, "{key}: PTTL {ttl}");
        assert_eq!(value, "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_503_to_replay_checks_only_and_the_server_recovers() {
    let mut redis = RedisServer::start();
    let serve = start(&config(&format!("redis_url = \"{}\"", redis.url())), &[]).await;
    let client = client();
    assert_eq!(
        whoami(&client, &serve, &token(&unique("up"))).await.status,
        200
    );
    let (status, body) = readyz(&client, &serve).await;
    assert_eq!(
        (status, &body["replay_store"]["ready"]),
        (200, &Value::Bool(true)),
        "{body}"
    );

    redis.kill();
    let (status, body) = readyz(&client, &serve).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["replay_store"]["ready"], false);
    for _ in 0..3 {
        assert_unavailable(&whoami(&client, &serve, &token(&unique("down"))).await);
    }
    // A bad signature is still 401; an issuer without replay is not affected.
    let forged = format!("{}x", token(&unique("forged")));
    let answer = whoami(&client, &serve, &forged).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"], "invalid_token");
    let answer = whoami(&client, &serve, &plain_token()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["issuer"], "plain");
    let health = client.get(serve.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // A new server on the same port: back without a restart of serve.
    redis.restart();
    wait_recovered(&client, &serve).await;
    assert_eq!(readyz(&client, &serve).await.0, 200);
    let t = token(&unique("after"));
    assert_eq!(whoami(&client, &serve, &t).await.status, 200);
    assert_eq!(whoami(&client, &serve, &t).await.status, 401);
    let log = serve.stderr();
    assert!(log.contains("replay store unavailable"), "{log}");
    assert!(log.contains("replay_store_unavailable"), "{log}");
    assert!(log.contains("replay store answers again"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_gives_503_without_a_hang_and_sigcont_recovers() {
    let redis = RedisServer::start();
    let serve = start(&config(&format!("redis_url = \"{}\"", redis.url())), &[]).await;
    let client = client();
    assert_eq!(
        whoami(&client, &serve, &token(&unique("up"))).await.status,
        200
    );

    redis.pause();
    for _ in 0..3 {
        assert_unavailable(&whoami(&client, &serve, &token(&unique("stopped"))).await);
    }
    assert_eq!(whoami(&client, &serve, &plain_token()).await.status, 200);
    redis.resume();
    wait_recovered(&client, &serve).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_started_before_redis_listens_answers_503_then_recovers() {
    let port = free_port();
    let serve = start(
        &config(&format!("redis_url = \"redis://127.0.0.1:{port}/0\"")),
        &[],
    )
    .await;
    let client = client();
    assert_unavailable(&whoami(&client, &serve, &token(&unique("early"))).await);
    assert_eq!(whoami(&client, &serve, &plain_token()).await.status, 200);

    let _redis = RedisServer::start_on(port, None);
    wait_recovered(&client, &serve).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirepass_through_the_environment_and_the_password_is_never_logged() {
    let password = "Pw-that-must-never-be-logged-7f3a";
    let redis = RedisServer::with_password(password);
    let client = client();

    // The right password, from `redis_url_env`.
    let right = start(
        &config(&format!("redis_url_env = \"{URL_VAR}\"")),
        &[(URL_VAR, &redis.url())],
    )
    .await;
    let t = token(&unique("auth"));
    assert_eq!(whoami(&client, &right, &t).await.status, 200);
    assert_eq!(whoami(&client, &right, &t).await.status, 401);

    // A wrong one, in the file: 503, and the used jti is still not accepted.
    let wrong_password = "Wrong-pw-that-must-never-be-logged-19c";
    let wrong = start(
        &config(&format!(
            "redis_url = \"redis://:{wrong_password}@127.0.0.1:{}/0\"",
            redis.port()
        )),
        &[],
    )
    .await;
    assert_unavailable(&whoami(&client, &wrong, &token(&unique("wrong"))).await);
    assert_unavailable(&whoami(&client, &wrong, &t).await);
    // No password at all.
    let none = start(
        &config(&format!(
            "redis_url = \"redis://127.0.0.1:{}/0\"",
            redis.port()
        )),
        &[],
    )
    .await;
    assert_unavailable(&whoami(&client, &none, &token(&unique("none"))).await);

    // Give the processes a moment to write their lines, then read everything they logged.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (serve, name) in [(&right, "right"), (&wrong, "wrong"), (&none, "none")] {
        let log = serve.stderr();
        assert!(!log.is_empty(), "{name}: RUST_LOG=debug logs something");
        assert!(!log.contains(password), "{name}: {log}");
        assert!(!log.contains(wrong_password), "{name}: {log}");
    }
    assert!(wrong.stderr().contains("replay store unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_name_the_key_and_never_print_the_password() {
    let password = "Config-pw-never-printed-5be1";
    for (store, envs, key) in [
        (
            format!("redis_url = \"http://:{password}@127.0.0.1:6379\""),
            vec![],
            "replay_store.redis_url",
        ),
        (
            format!("redis_url = \"redis://:{password}@/0\""),
            vec![],
            "replay_store.redis_url",
        ),
        (
            format!("redis_url_env = \"{URL_VAR}\""),
            vec![(URL_VAR, format!("redis:{password}"))],
            "replay_store.redis_url_env",
        ),
        (
            format!("redis_url_env = \"{URL_VAR}\""),
            vec![],
            "replay_store.redis_url_env",
        ),
        (
            // A syntax error on the line of the password.
            format!("redis_url = \"redis://:{password}@127.0.0.1\" oops"),
            vec![],
            "line ",
        ),
    ] {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, stdout, stderr) = refused(&config(&store), &envs).await;
        assert!(!status.success(), "{store}: {stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
        assert!(stderr.contains(key), "{store}: {stderr}");
        assert!(!stderr.contains(password), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
