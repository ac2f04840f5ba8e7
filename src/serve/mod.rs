//! `serve`: jwt-guard as a program, configured by a TOML file (feature `server`): the verifying
//! server in front of a small API, or, with `[upstream]`, a verifying reverse proxy (a sidecar)
//! in front of an API written in any language.
//!
//! ```text
//! cargo install jwt-guard --features server
//! jwt-guard serve guard.toml
//! ```
//!
//! The command line, config file, routes and status codes follow the project's serve contract:
//!
//! - exactly one line `listening on http://ADDR` on stdout once the socket accepts connections;
//!   logs with `tracing` on stderr (`RUST_LOG` respected, default `info`);
//! - SIGTERM or Ctrl-C: graceful shutdown, exit status 0; a configuration error: a message
//!   naming the key on stderr and exit status 2, before listening, never a panic;
//! - routes: `GET /healthz` (200 `ok`), `GET /readyz` (200 or 503 JSON, each issuer with its key
//!   count and key-set age), `GET /metrics` with `metrics = true` (Prometheus text); without
//!   `[upstream]`, `GET /whoami` and any method on `/echo` (a token required); with it, every
//!   other request goes through the layer and, when let through, to the upstream, with the
//!   identity in `x-auth-*` headers.
//!
//! A program of your own can embed the same server:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = jwt_guard::Config::load("guard.toml")?;
//! let server = jwt_guard::serve::Server::from_config(config)?;
//! let listener = tokio::net::TcpListener::bind(server.listen()).await?;
//! server.serve(listener, std::future::pending()).await;
//! # Ok(()) }
//! ```

/// `Server`: the guard, the router of the contract's routes and, in proxy mode, the upstream.
mod app;
/// The request body that tells when it has been sent whole (the start of the head timeout).
mod body;
/// Hop-by-hop headers, `X-Forwarded-*` and the identity headers of a forwarded request.
mod headers;
/// The reverse proxy: forwarding, 502 and 504.
mod proxy;
/// The upstream's connections: hyper's HTTP/1 client connections, reused.
mod pool;
/// Proxy mode's dispatch (status routes or the upstream) and the service of a connection.
mod routes;
/// Which paths are public: `public_paths` and the dot-segment rule.
mod public;
/// The client's address and JSON responses (a leaf).
mod respond;
/// `GET /readyz` and `GET /metrics`.
mod status;
/// One accepted connection: HTTP/1 or h2c, the idle limit, the graceful stop.
mod connection;
/// The program: configuration, listener, accept loop, signals.
mod run;

pub use app::Server;
pub use run::{init_tracing, main, run, runtime};
