//! The program: [`run`] reads the configuration, listens, announces the address, serves until
//! SIGTERM or Ctrl-C, and drains; [`Server::serve`] is its accept loop.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use super::app::Server;
use super::connection::Connections;
use crate::config::Config;

/// How long in-flight requests may take to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The runtime for [`run`], sized to the CPUs this process may use (its affinity mask, e.g.
/// `taskset`, respected): with one CPU a current-thread runtime, as a single nginx worker (no
/// cross-thread wake-ups or work-stealing bookkeeping per request); with more, a multi-thread
/// runtime with one worker per CPU.
///
/// # Errors
///
/// When the runtime cannot be built (no threads, no epoll).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(cpus);
        builder
    };
    builder.enable_all().build()
}

/// Logs with `tracing` to stderr, `RUST_LOG` respected (default `info`); does nothing where a
/// subscriber is installed already.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// What `jwt-guard serve CONFIG` and the `serve` example run: a runtime sized to the CPUs this
/// process may use ([`runtime`]), logging ([`init_tracing`]), then [`run`] until shutdown.
#[must_use]
pub fn main(path: impl AsRef<Path>) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing();
    runtime.block_on(run(path))
}

/// The whole program for the configuration file at `path`: exit status 0 after a graceful
/// shutdown (SIGTERM or Ctrl-C), 2 for a configuration error (its message, naming the key, on
/// stderr), 1 when the address cannot be bound.
pub async fn run(path: impl AsRef<Path>) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let server = match Server::from_config(config) {
        Ok(server) => server,
        Err(e) => return config_error(&e),
    };
    let listen = server.listen();
    let listener = match TcpListener::bind(listen).await {
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
    tokio::spawn(warm_up(server.guard().clone()));

    // The socket accepts connections from here on (the kernel queues them until the loop runs).
    if let Err(e) = announce(addr) {
        tracing::warn!(error = %e, "cannot write the listening line to stdout");
    }
    tracing::info!(%addr, proxy = server.is_proxy(), "listening");
    server
        .serve(listener, async move {
            let signal = signals.recv().await;
            tracing::info!(signal, "shutting down");
        })
        .await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

impl Server {
    /// Serves HTTP/1.1 (keep-alive; header case kept as received, up to the upstream and back)
    /// and HTTP/2 with prior knowledge (h2c) on `listener` until `shutdown` completes, then lets
    /// in-flight requests finish for up to 10 seconds. A connection that spends 30 seconds
    /// outside any request (silent, sending its head, or idle between requests) is closed.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        self.serve_with(listener, shutdown, Connections::new())
            .await;
    }

    /// [`serve`](Self::serve), with the connections' settings (tests shorten the idle limit).
    pub(super) async fn serve_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        connections: Connections,
    ) {
        let app = self.app().clone();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            connections.spawn(stream, peer, app.clone());
        }
        drop(listener);
        if !connections.stop(SHUTDOWN_GRACE).await {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; closing them");
        }
    }
}

/// Fetches every JWKS once at start, without holding up the listener, and logs the outcome.
async fn warm_up(guard: crate::guard::JwtGuard) {
    if guard.warm_up().await {
        tracing::info!("every issuer has usable keys");
    } else {
        for issuer in guard.readiness().iter().filter(|r| r.keys.is_none()) {
            tracing::warn!(issuer = %issuer.issuer, "no usable keys yet; requests for this issuer get 503 until a fetch succeeds");
        }
    }
}

/// The one line on stdout, flushed: `listening on http://ADDR`.
fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()
}

fn config_error(error: &crate::error::ConfigError) -> ExitCode {
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
