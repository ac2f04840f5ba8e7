//! The loopback HTTP server behind [`TestIssuer`](super::TestIssuer): it serves the JWKS and
//! the OIDC discovery document, and can be told to fail, stall or delay, counting every fetch.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::sync::lock;

/// How the JWKS endpoint answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JwksResponse {
    /// The current keys, with `Cache-Control` if set.
    Keys,
    /// This status and no body.
    Status(u16),
    /// This body, verbatim, with status 200.
    Body(Vec<u8>),
    /// Accept the connection and never answer.
    Stall,
}

/// What the server serves and what it has seen, shared with the [`TestIssuer`](super::TestIssuer).
#[derive(Debug)]
pub(crate) struct ServerState {
    /// The JWKs served under `keys`.
    pub(crate) keys: Mutex<Vec<Value>>,
    /// How the JWKS endpoint answers.
    pub(crate) response: Mutex<JwksResponse>,
    /// `Cache-Control` sent with the keys.
    pub(crate) cache_control: Mutex<Option<String>>,
    /// `ETag` sent with the keys; a matching `If-None-Match` is answered 304.
    pub(crate) etag: Mutex<Option<String>>,
    /// Requests received (JWKS and discovery alike).
    pub(crate) fetches: AtomicUsize,
    /// Requests answered 304.
    pub(crate) not_modified: AtomicUsize,
    /// How long to wait before answering each request.
    pub(crate) delay: Mutex<Duration>,
    /// Request line and headers of each request, in order.
    pub(crate) requests: Mutex<Vec<String>>,
    /// The OIDC discovery document served at `/.well-known/openid-configuration`.
    pub(crate) discovery: Mutex<Value>,
}

/// The running server: its address, its state, and the accept loop (aborted on drop).
#[derive(Debug)]
pub(crate) struct JwksServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    /// Binds `127.0.0.1:0` and serves `keys`. Needs a tokio runtime.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (test code only).
    #[allow(clippy::expect_used)]
    pub(crate) async fn start(keys: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(ServerState {
            keys: Mutex::new(keys),
            response: Mutex::new(JwksResponse::Keys),
            cache_control: Mutex::new(None),
            etag: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            discovery: Mutex::new(json!({
                "issuer": format!("http://{addr}"),
                "jwks_uri": format!("http://{addr}/.well-known/jwks.json"),
            })),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&state)));
        Self { addr, state, task }
    }

    /// The bound loopback address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state.
    pub(crate) fn state(&self) -> &ServerState {
        &self.state
    }
}

async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
                if buf.len() > 64 * 1024 {
                    return;
                }
            }
            let request = String::from_utf8_lossy(&buf).to_string();
            state.fetches.fetch_add(1, Ordering::SeqCst);
            lock(&state.requests).push(request.clone());
            let delay = *lock(&state.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let is_discovery = request
                .lines()
                .next()
                .is_some_and(|line| line.contains(" /.well-known/openid-configuration "));
            let response = if is_discovery {
                JwksResponse::Body(lock(&state.discovery).to_string().into_bytes())
            } else {
                lock(&state.response).clone()
            };
            let (status, body, extra) = match response {
                JwksResponse::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                JwksResponse::Status(code) => (code, Vec::new(), String::new()),
                JwksResponse::Body(body) => (200, body, String::new()),
                JwksResponse::Keys => {
                    let etag = lock(&state.etag).clone();
                    let if_none_match = request.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("if-none-match:")
                            .map(|v| v.trim().to_owned())
                    });
                    let mut extra = String::new();
                    if let Some(cc) = lock(&state.cache_control).as_ref() {
                        extra.push_str(&format!("cache-control: {cc}\r\n"));
                    }
                    if let Some(etag) = &etag {
                        extra.push_str(&format!("etag: {etag}\r\n"));
                    }
                    if etag.is_some()
                        && if_none_match.as_deref()
                            == etag.as_deref().map(str::to_ascii_lowercase).as_deref()
                    {
                        state.not_modified.fetch_add(1, Ordering::SeqCst);
                        (304, Vec::new(), extra)
                    } else {
                        let keys = lock(&state.keys).clone();
                        (200, json!({ "keys": keys }).to_string().into_bytes(), extra)
                    }
                }
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        });
    }
}
