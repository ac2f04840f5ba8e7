//! The loopback HTTP server behind [`TestIssuer`](super::TestIssuer): it serves the JWKS and
//! the OIDC discovery document, and can be told to fail, stall or delay, counting every fetch.
//!
//! One accept loop on `127.0.0.1:0` hands each connection to hyper's HTTP/1.1 server. Every
//! answer is `connection: close` (one request per connection), with `content-type:
//! application/json`, a `content-length` (hyper leaves it out on 204 and 304, which carry no
//! body) and no `date` header. A stall is a request that is read and never answered.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
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
    /// Accept the connection, read the request and never answer.
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

/// A request head (line and headers) larger than this, or with more than hyper's 100 headers,
/// is refused with 431 and not counted.
const MAX_HEAD: usize = 64 * 1024;

/// Why a connection is closed without an answer.
type NoAnswer = std::io::Error;

async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    let mut http = http1::Builder::new();
    http.keep_alive(false)
        .auto_date_header(false)
        .max_header_size(MAX_HEAD);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let service = service_fn(move |request| answer(Arc::clone(&state), request));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // A client that goes away, or an answer refused below, only ends this connection.
            let _ = connection.await;
        });
    }
}

/// Answers one request: counts and records it, waits the delay, then answers as told.
async fn answer(
    state: Arc<ServerState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, NoAnswer> {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    lock(&state.requests).push(describe(&request));
    let delay = *lock(&state.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = if request.uri() == "/.well-known/openid-configuration" {
        JwksResponse::Body(lock(&state.discovery).to_string().into_bytes())
    } else {
        lock(&state.response).clone()
    };
    let mut headers = Vec::new();
    let (status, body) = match response {
        JwksResponse::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Err(NoAnswer::other("stalled"));
        }
        JwksResponse::Status(code) => (code, Vec::new()),
        JwksResponse::Body(body) => (200, body),
        JwksResponse::Keys => {
            let etag = lock(&state.etag).clone();
            if let Some(cc) = lock(&state.cache_control).as_ref() {
                headers.push((CACHE_CONTROL, cc.clone()));
            }
            if let Some(etag) = &etag {
                headers.push((ETAG, etag.clone()));
            }
            // Compared case-insensitively, as the hand-written server did.
            let if_none_match = request.headers().get(IF_NONE_MATCH).map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase()
            });
            if etag.is_some_and(|etag| if_none_match == Some(etag.to_ascii_lowercase())) {
                state.not_modified.fetch_add(1, Ordering::SeqCst);
                (304, Vec::new())
            } else {
                let keys = lock(&state.keys).clone();
                (200, json!({ "keys": keys }).to_string().into_bytes())
            }
        }
    };
    respond(status, headers, body)
}

/// The response: this status, the fixed headers, `extra`, and the body with its length.
///
/// A status HTTP cannot carry as a final answer (below 200, where 1xx would be taken as
/// interim, or above 999) or a header value that is not one closes the connection without an
/// answer, which a client sees as the broken response it is.
fn respond(
    status: u16,
    extra: Vec<(http::HeaderName, String)>,
    body: Vec<u8>,
) -> Result<Response<Full<Bytes>>, NoAnswer> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| !s.is_informational())
        .ok_or_else(|| NoAnswer::other("unsendable status"))?;
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    for (name, value) in extra {
        let value = HeaderValue::from_str(&value).map_err(NoAnswer::other)?;
        headers.append(name, value);
    }
    *response.body_mut() = Full::new(Bytes::from(body));
    Ok(response)
}

/// The request line and headers as received (header names lower-cased by hyper), ending with
/// the empty line.
fn describe(request: &Request<Incoming>) -> String {
    let mut out = format!(
        "{} {} {:?}\r\n",
        request.method(),
        request.uri(),
        request.version()
    );
    for (name, value) in request.headers() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(value.as_bytes()));
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out
}
