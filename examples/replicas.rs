//! Two replicas of one API sharing replay protection through Redis (feature `redis`): a
//! single-use token accepted by one replica is refused by the other, and a Redis outage turns
//! replay-protected requests into 503 + `Retry-After: 1` until Redis is back.
//!
//!     cargo run --features redis --example replicas
//!
//! Which Redis: `REDIS_URL` when set (e.g. `redis://127.0.0.1:6379/0`; a real deployment's
//! server, nothing is flushed: the keys written carry a prefix of their own and expire with
//! their tokens). Otherwise THIS EXAMPLE STARTS ITS OWN `redis-server` (the Debian package
//! `redis-server`, `scripts/install-redis`) on a free loopback port, without persistence, and
//! stops it at the end; only then does it also show an outage and the recovery. Without
//! either it says so and exits 2.
//!
//! Both replicas are built from the same TOML as `examples/config/replicas.toml`, as two `serve`
//! processes would be. The example checks what it prints and exits non-zero on a surprise.

use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Config, JwtGuard, Verified};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Pandium's shared secret. A demo value: never commit yours.
const SECRET: &str = "demo-pandium-shared-secret-0123456789";

/// One replica: the config's guard in front of `/whoami`.
fn replica(redis_url: &str, prefix: &str) -> Result<Router, String> {
    let toml = format!(
        r#"
[[issuers]]
name = "pandium"
secret = "{SECRET}"
required_claims = []
max_age = "5m"
replay = "reject"
[token]
sources = ["header"]
[replay_store]
redis_url = "{redis_url}"
key_prefix = "{prefix}"
timeout = "250ms"
"#
    );
    let guard: JwtGuard = Config::from_toml(&toml)
        .and_then(Config::build)
        .map_err(|e| format!("config: {e}"))?;
    Ok(Router::new()
        .route(
            "/whoami",
            get(|Extension(who): Extension<Verified>| async move {
                Json(json!({"issuer": who.issuer_name(), "sub": who.subject()}))
            }),
        )
        .layer(guard.layer()))
}

/// `GET /whoami` with the token: the status, `Retry-After` and the JSON body.
async fn call(app: &Router, token: &str) -> (StatusCode, Option<String>, Value) {
    let req = Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap_or_default();
    let Ok(res) = app.clone().oneshot(req).await;
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (
        status,
        retry_after,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A Pandium-style token (HS256, `iat`, no `exp`) with its own `jti`.
fn token(jti: &str) -> String {
    TokenBuilder::new(
        Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256)),
        now(),
    )
    .without("exp")
    .subject("user-1")
    .claim("jti", jti)
    .sign()
}

/// A `redis-server` this example started, stopped on drop.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Result<Self, String> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, port })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("unexpected: {what}"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replicas: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let prefix = format!("jwt-guard-example-{}:", std::process::id());
    let mut own = None;
    let url = match std::env::var("REDIS_URL") {
        Ok(url) => {
            println!(
                "using the Redis of REDIS_URL (keys under {prefix}, expiring with their tokens)"
            );
            url
        }
        Err(_) => {
            let installed = Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !installed {
                eprintln!(
                    "replicas: needs a Redis: set REDIS_URL, or install redis-server \
                     (scripts/install-redis) and this example starts its own"
                );
                std::process::exit(2);
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let server = OwnRedis::start(port)?;
            println!("started its own redis-server on 127.0.0.1:{port} (no persistence)");
            own = Some(server);
            format!("redis://127.0.0.1:{port}/0")
        }
    };

    let a = replica(&url, &prefix)?;
    let b = replica(&url, &prefix)?;
    println!("two replicas, one Redis:");
    let first = token(&format!("{prefix}jti-1"));
    let (status, _, body) = call(&a, &first).await;
    check(
        status == StatusCode::OK && body.get("sub") == Some(&json!("user-1")),
        "replica A accepts a fresh token (200)",
    )?;
    let (status, _, body) = call(&b, &first).await;
    check(
        status == StatusCode::UNAUTHORIZED && body.get("error") == Some(&json!("invalid_token")),
        "replica B refuses the same jti (401 invalid_token, replayed)",
    )?;
    let (status, _, _) = call(&b, &token(&format!("{prefix}jti-2"))).await;
    check(
        status == StatusCode::OK,
        "replica B accepts another jti (200)",
    )?;

    let Some(mut server) = own else {
        println!("(REDIS_URL given: the outage part needs a server of the example's own)");
        return Ok(());
    };
    println!("Redis goes down:");
    server.stop();
    let (status, retry_after, body) = call(&a, &token(&format!("{prefix}jti-3"))).await;
    check(
        status == StatusCode::SERVICE_UNAVAILABLE
            && retry_after.as_deref() == Some("1")
            && body.get("error") == Some(&json!("temporarily_unavailable")),
        "a replay-protected request gets 503 + Retry-After: 1, never an accepted replay",
    )?;
    println!("Redis is back (a new server on the same port):");
    let _server = OwnRedis::start(server.port)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = call(&a, &token(&format!("{prefix}jti-4-{}", now()))).await;
        if status == StatusCode::OK {
            break;
        }
        if Instant::now() > deadline {
            return Err("no recovery within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check(
        true,
        "the same replica recovers by itself, without a restart",
    )?;
    Ok(())
}
