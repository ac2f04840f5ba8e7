//! The servers of `scripts/load` (issue 5): one axum app, `GET /` answers `ok`, behind one of
//!
//! - `none`: no authentication (the baseline);
//! - `decode`: one `jsonwebtoken::decode` per request (RS256, key and `Validation` built once),
//!   done in the handler: the least work around the decode;
//! - `guard`: `guard.layer()` with the default token cache (32 MiB);
//! - `guard-nocache`: `guard.layer()` with the token cache off;
//! - `issuer`: no app, only the key host: for `scripts/load` to run `examples/serve.rs` against
//!   these keys and tokens, and for `scripts/load-oneshot` to share one key set and one token
//!   file between several servers. Prints `jwks URL` before `listening on`.
//!
//! The guard gets its keys from a JWKS served on loopback by `jwt_guard::testing::TestIssuer`
//! and loads them before listening; the `decode` server uses the same key. With `--jwks URL`
//! a server starts no issuer of its own and mints nothing: it uses the keys of that JWKS (of an
//! `issuer` process), and its tokens are the ones that process wrote.
//!
//! `--alg ES256` mints (and `decode` checks) ES256 tokens instead of RS256 ones.
//! `--instances K` serves K independent copies of the app, each on its own listener (K lines
//! `listening on`): for `guard`, K guards with their own token caches, so that a load run on
//! copy k presents tokens that guard has never seen (`scripts/load-oneshot`).
//!
//! ```text
//! cargo bench --bench bench_server -- MODE [--threads N] [--tokens FILE] [--count N] [--listen ADDR]
//!     [--alg RS256|ES256] [--jwks URL] [--instances K]
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
    alg: jsonwebtoken::Algorithm,
    jwks: Option<String>,
    instances: usize,
}

const MODES: [&str; 5] = ["none", "decode", "guard", "guard-nocache", "issuer"];

/// The arguments; `None` when started by `cargo test --benches` (nothing to serve).
fn args() -> Option<Args> {
    let mut cli = Cli::new(
        "bench_server",
        "none|decode|guard|guard-nocache|issuer [--threads N] [--tokens FILE] [--count N] \
         [--listen ADDR] [--alg RS256|ES256] [--jwks URL] [--instances K]",
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
        alg: jsonwebtoken::Algorithm::RS256,
        jwks: None,
        instances: 1,
    };
    while let Some((flag, value)) = cli.next_flag() {
        match flag.as_str() {
            "--threads" => parsed.threads = cli.parse(&flag, &value),
            "--count" => parsed.count = cli.parse(&flag, &value),
            "--tokens" => parsed.tokens = Some(value),
            "--listen" => parsed.listen = value,
            "--alg" => {
                parsed.alg = match value.as_str() {
                    "RS256" => jsonwebtoken::Algorithm::RS256,
                    "ES256" => jsonwebtoken::Algorithm::ES256,
                    _ => cli.fail("--alg: RS256 or ES256"),
                }
            }
            "--jwks" => parsed.jwks = Some(value),
            "--instances" => parsed.instances = cli.parse::<usize>(&flag, &value).max(1),
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

/// The test issuer's key of this algorithm.
fn kid(alg: jsonwebtoken::Algorithm) -> &'static str {
    if alg == jsonwebtoken::Algorithm::ES256 {
        "ec-1"
    } else {
        "rsa-1"
    }
}

/// Where the keys come from: this process's own test issuer, or the JWKS of another one.
enum Keys {
    Own(TestIssuer),
    Remote(String),
}

impl Keys {
    fn issuer(&self) -> jwt_guard::Issuer {
        match self {
            Self::Own(issuer) => issuer.issuer(),
            Self::Remote(url) => jwt_guard::Issuer::jwks(url).name("test"),
        }
    }

    async fn decoding_key(&self, kid: &str) -> Result<jsonwebtoken::DecodingKey, String> {
        match self {
            Self::Own(issuer) => Ok(rig::decoding_key(issuer, kid)),
            Self::Remote(url) => {
                let text = reqwest::get(url)
                    .await
                    .map_err(|e| format!("{url}: {e}"))?
                    .text()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let set: jsonwebtoken::jwk::JwkSet =
                    serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))?;
                let jwk = set
                    .find(kid)
                    .ok_or_else(|| format!("{url}: no key {kid}"))?;
                jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())
            }
        }
    }
}

async fn app(args: &Args, keys: &Keys) -> Result<Router, String> {
    Ok(match args.mode.as_str() {
        "none" => Router::new().route("/", get(ok)),
        "decode" => Router::new()
            .route("/", get(decode))
            .with_state(Arc::new(Floor {
                key: keys.decoding_key(kid(args.alg)).await?,
                validation: rig::validation(args.alg),
            })),
        mode => {
            let cache = if mode == "guard" {
                TokenCache::Default
            } else {
                TokenCache::Off
            };
            let guard = rig::guard(keys.issuer(), cache);
            if !guard.warm_up().await {
                return Err("JWKS did not load".into());
            }
            Router::new().route("/", get(ok)).layer(guard.layer())
        }
    })
}

async fn run(args: Args) -> Result<(), String> {
    let keys = match &args.jwks {
        Some(url) => Keys::Remote(url.clone()),
        None => {
            let issuer = TestIssuer::start().await;
            let key = rig::key(&issuer, kid(args.alg));
            let tokens = rig::mint(&key, 0, args.count);
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
            Keys::Own(issuer)
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    for _ in 0..args.instances {
        let app = app(&args, &keys).await?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("bind {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on http://{addr}");
        servers.spawn(async move { axum::serve(listener, app).await });
    }
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    while let Some(served) = servers.join_next().await {
        served
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    drop(keys);
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
