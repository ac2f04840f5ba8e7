//! jwt-guard in front of a small API, configured by a TOML file: the program a user deploys
//! without writing Rust, and the surface outside conformance suites drive.
//!
//! ```text
//! cargo run --release --example serve -- PATH/TO/guard.toml
//! ```
//!
//! Its command line, config file, routes and status codes are a contract (the serve contract of
//! the project's docs); keep them working:
//!
//! - prints exactly one line `listening on http://ADDR` to stdout once the socket accepts
//!   connections (`ADDR` as bound: `listen = "127.0.0.1:0"` prints the real port);
//! - logs with `tracing` to stderr, `RUST_LOG` respected (default `info`);
//! - SIGTERM or Ctrl-C: graceful shutdown, exit status 0;
//! - a configuration error: a message naming the key on stderr and a non-zero exit, before
//!   listening, never a panic.
//!
//! | route | auth | answer |
//! | --- | --- | --- |
//! | `GET /healthz` | none | 200 `ok` |
//! | `GET /whoami` | required | 200 `{"issuer", "sub", "tenant", "claims"}` |
//! | any method on `/echo` | required | 200 `{"method": "<METHOD>"}` |
//! | other methods on `/healthz`, `/whoami` | as the route | 405 |
//! | anything else | none | 404 |
//!
//! CORS (`[cors]`) applies to every route, the 404 fallback included.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use axum::extract::{Extension, Request};
use axum::routing::{any, get};
use axum::{Json, Router};
use jwt_guard::{Config, JwtGuard, Verified};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// How long in-flight requests may take to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: serve PATH/TO/guard.toml");
        return ExitCode::from(2);
    };

    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let listen = config.listen();
    let guard = match config.build() {
        Ok(guard) => guard,
        Err(e) => return config_error(&e),
    };

    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on `listen` = {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: cannot read the bound address of `listen` = {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Installed before the line below, so a SIGTERM right after it is already a clean shutdown.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot install the signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = router(&guard);
    tokio::spawn(warm_up(guard));

    // The socket accepts connections from here on (the kernel queues them until `serve` runs).
    if let Err(e) = announce(addr) {
        tracing::warn!(error = %e, "cannot write the listening line to stdout");
    }
    tracing::info!(%addr, "listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
    let _ = stop_tx.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "server error");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "server task failed");
            ExitCode::FAILURE
        }
        Err(_) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; closing them");
            ExitCode::SUCCESS
        }
    }
}

/// The routes of the contract: CORS on the whole router (fallback included), authentication on
/// `/whoami` and `/echo` only, outside axum's 405 so that a wrong method on `/whoami` needs a
/// token first.
fn router(guard: &JwtGuard) -> Router {
    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route("/echo", any(echo))
        .route_layer(guard.auth_layer());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(protected)
        .layer(guard.cors_layer())
}

async fn whoami(Extension(who): Extension<Verified>) -> Json<Value> {
    Json(json!({
        "issuer": who.issuer_name(),
        "sub": who.subject(),
        "tenant": who.tenant(),
        "claims": who.claims(),
    }))
}

async fn echo(req: Request) -> Json<Value> {
    Json(json!({ "method": req.method().as_str() }))
}

/// Fetches every JWKS once at start, without holding up the listener, and logs the outcome.
async fn warm_up(guard: JwtGuard) {
    if guard.warm_up().await {
        tracing::info!("every issuer has usable keys");
    } else {
        for issuer in guard.readiness().iter().filter(|r| r.keys.is_none()) {
            tracing::warn!(issuer = %issuer.issuer, "no usable keys yet; requests for this issuer get 503 until a fetch succeeds");
        }
    }
}

/// The one line on stdout, flushed: `listening on http://ADDR`.
fn announce(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()
}

fn config_error(error: &jwt_guard::ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Waits for the first signal and names it.
    #[cfg(unix)]
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    async fn recv(self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}
