//! The servers of `scripts/load` (issue 5): one axum app, `GET /` answers `ok`, behind one of
//!
//! - `none`: no authentication (the baseline);
//! - `decode`: one `jsonwebtoken::decode` per request (RS256, key and `Validation` built once),
//!   done in the handler: the least work around the decode;
//! - `guard`: `guard.layer()` with the default token cache (32 MiB);
//! - `guard-nocache`: `guard.layer()` with the token cache off;
//! - `issuer`: no app, only the key host: for `scripts/load` to run `examples/serve.rs` against
//!   these keys and tokens. Prints `jwks URL` before `listening on`.
//!
//! The guard gets its keys from a JWKS served on loopback by `jwt_guard::testing::TestIssuer`
//! and loads them before listening; the `decode` server uses the same RSA key.
//!
//! ```text
//! cargo bench --bench bench_server -- MODE [--threads N] [--tokens FILE] [--count N] [--listen ADDR]
//! ```
//!
//! It runs until killed, so plain `cargo bench` skips it (`bench = false` in `Cargo.toml`);
//! `scripts/load` builds it once with `cargo bench --no-run` and starts the executable itself.
//!
//! Mints `--count` (default 10,000) distinct RS256 tokens (distinct `jti`, valid for an hour,
//! the same claims as the benches) and writes them to `--tokens` one per line, then prints
//! `listening on http://ADDR`. `--threads` is the number of tokio worker threads (default 1).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use jwt_guard::testing::TestIssuer;
use rig::TokenCache;
use rig::cli::Cli;

struct Args {
    mode: String,
    threads: usize,
    tokens: Option<String>,
    count: usize,
    listen: String,
}

const MODES: [&str; 5] = ["none", "decode", "guard", "guard-nocache", "issuer"];

/// The arguments; `None` when started by `cargo test --benches` (nothing to serve).
fn args() -> Option<Args> {
    let mut cli = Cli::new(
        "bench_server",
        "none|decode|guard|guard-nocache|issuer [--threads N] [--tokens FILE] [--count N] [--listen ADDR]",
    );
    if cli.is_test_run() {
        return None;
    }
    let mode = cli
        .positional()
        .unwrap_or_else(|| cli.fail("a MODE is needed"));
    if !MODES.contains(&mode.as_str()) {
        cli.fail(&format!("unknown mode `{mode}`"));
    }
    let mut parsed = Args {
        mode,
        threads: 1,
        tokens: None,
        count: 10_000,
        listen: "127.0.0.1:0".into(),
    };
    while let Some((flag, value)) = cli.next_flag() {
        match flag.as_str() {
            "--threads" => parsed.threads = cli.parse(&flag, &value),
            "--count" => parsed.count = cli.parse(&flag, &value),
            "--tokens" => parsed.tokens = Some(value),
            "--listen" => parsed.listen = value,
            _ => cli.fail(&format!("unknown option `{flag}`")),
        }
    }
    Some(parsed)
}

async fn ok() -> &'static str {
    "ok"
}

struct Floor {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

async fn decode(State(floor): State<Arc<Floor>>, headers: HeaderMap) -> (StatusCode, &'static str) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| rig::decode(t, &floor.key, &floor.validation)) {
        Some(Ok(_claims)) => (StatusCode::OK, "ok"),
        _ => (StatusCode::UNAUTHORIZED, "unauthorized"),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let issuer = TestIssuer::start().await;
    let rsa = rig::key(&issuer, "rsa-1");
    let tokens = rig::mint(&rsa, 0, args.count);
    if let Some(path) = &args.tokens {
        let mut text = tokens.join("\n");
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    if args.mode == "issuer" {
        println!("jwks {}", issuer.jwks_url());
        println!("listening on {}", issuer.jwks_url());
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        return std::future::pending().await;
    }
    let app = match args.mode.as_str() {
        "none" => Router::new().route("/", get(ok)),
        "decode" => Router::new()
            .route("/", get(decode))
            .with_state(Arc::new(Floor {
                key: rig::decoding_key(&issuer, "rsa-1"),
                validation: rig::validation(jsonwebtoken::Algorithm::RS256),
            })),
        mode => {
            let cache = if mode == "guard" {
                TokenCache::Default
            } else {
                TokenCache::Off
            };
            let guard = rig::jwks_guard(&issuer, cache).await;
            Router::new().route("/", get(ok)).layer(guard.layer())
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    axum::serve(listener, app)
        .await
        .map_err(|e| e.to_string())?;
    drop(issuer);
    Ok(())
}

fn main() {
    let Some(args) = args() else { return };
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run(args)));
    if let Err(message) = result {
        eprintln!("bench_server: {message}");
        std::process::exit(2);
    }
}
