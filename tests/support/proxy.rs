//! What the proxy tests share: the `serve` example as a process, a recording upstream (a hyper
//! server in the test process, on a free loopback port), and a hyper client.
#![allow(dead_code, unreachable_pub)]

#[path = "serve.rs"]
mod serve;
#[allow(unused_imports)] // each test binary uses some of them
pub use serve::{BOUND, Serve, refused};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// The upstream.

/// A request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body_len: u64,
}

/// A recording upstream on a free loopback port. Paths (after an optional `/api`):
/// - `/download/N`: N bytes of `x`, streamed, without `Content-Length`;
/// - `/stall...`: no answer for a minute;
/// - `/cors...`: its own `Access-Control-Allow-Origin: *` and `Vary: accept-encoding`;
/// - `/hop...`: hop-by-hop headers of its own (`Connection: x-up-hop`, `X-Up-Hop`,
///   `Keep-Alive`);
/// - anything else: the request body is read (streamed, counted) and the answer is 200
///   `{"bytes": N}` with `x-upstream: yes`.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, Infallible>(answer(req, log).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The last request received.
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream got a request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(req: Request<Incoming>, log: Arc<Mutex<Vec<Seen>>>) -> Response<AnyBody> {
    let (parts, mut body) = req.into_parts();
    // The tests' proxy configs may put `/api` before every path.
    let full_path = parts.uri.path();
    let path = full_path
        .strip_prefix("/api")
        .unwrap_or(full_path)
        .to_owned();
    let mut body_len = 0u64;
    if !path.starts_with("/stall") {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        body_len += data.len() as u64;
                    }
                }
                Err(_) => break,
            }
        }
    }
    log.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body_len,
    });
    if let Some(n) = path.strip_prefix("/download/") {
        let n: u64 = n.parse().unwrap_or(0);
        return Response::new(AnyBody::Repeat(n));
    }
    if path.starts_with("/stall") {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let mut response = Response::new(AnyBody::Full(Some(Bytes::from(format!(
        "{{\"bytes\": {body_len}}}"
    )))));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-upstream", HeaderValue::from_static("yes"));
    if path.starts_with("/cors") {
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("*"),
        );
        headers.insert("vary", HeaderValue::from_static("accept-encoding"));
    }
    if path.starts_with("/hop") {
        headers.insert("connection", HeaderValue::from_static("x-up-hop"));
        headers.insert("x-up-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    }
    response
}

/// A body: whole, or N bytes of `x` in 64 KiB chunks (never held in memory).
pub enum AnyBody {
    Full(Option<Bytes>),
    Repeat(u64),
}

static CHUNK: [u8; 65536] = [b'x'; 65536];

impl hyper::body::Body for AnyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            AnyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            AnyBody::Repeat(left) => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let n = (*left).min(CHUNK.len() as u64);
                *left -= n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                    &CHUNK[..n as usize],
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AnyBody::Full(bytes) => bytes.is_none(),
            AnyBody::Repeat(left) => *left == 0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client.

/// An answer: status, headers, and the body (or only its length, for big ones).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub body_len: u64,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub type Client =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, AnyBody>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request; bodies over 1 MiB are counted, not kept.
pub async fn send(
    client: &Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: AnyBody,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let response = tokio::time::timeout(BOUND, client.request(req.body(body).unwrap()))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let (parts, mut body) = response.into_parts();
    let mut kept = Vec::new();
    let mut body_len = 0u64;
    while let Some(frame) = tokio::time::timeout(BOUND, body.frame())
        .await
        .expect("the body in time")
    {
        let frame = frame.expect("a body frame");
        if let Some(data) = frame.data_ref() {
            body_len += data.len() as u64;
            if kept.len() < 1 << 20 {
                kept.extend_from_slice(data);
            }
        }
    }
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: kept.into(),
        body_len,
    }
}

pub async fn get(client: &Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    send(client, "GET", url, headers, AnyBody::Full(None)).await
}

/// Sends raw bytes on a new connection (the request should say `Connection: close`) and reads
/// until the server closes it.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
