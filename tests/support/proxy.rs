//! What the proxy tests share: the `serve` example as a process, a recording upstream (a hyper
//! server in the test process, on a free loopback port), and a hyper client.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Generous bound for a process to start, answer or stop (a debug build on a busy machine).
pub const BOUND: Duration = Duration::from_secs(30);

/// The built `serve` example (or `JWT_GUARD_SERVE_BIN`).
pub fn serve_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("JWT_GUARD_SERVE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("serve{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the serve example is not built: {} is missing (`cargo test --all-features` builds it; \
         alone: `cargo build --all-features --example serve`)",
        bin.display()
    );
    bin
}

/// A file in the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(ext: &str, text: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "jwt-guard-proxy-test-{}-{}.{ext}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn collect(mut reader: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

/// A running `serve` process.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _config: TempFile,
}

impl Serve {
    /// Starts `serve` with this config and environment, and waits for its `listening on` line.
    pub async fn start(toml: &str, envs: &[(&str, &str)]) -> Self {
        let config = TempFile::new("toml", toml);
        let mut child = Command::new(serve_binary())
            .arg(&config.0)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serve");
        let stderr = collect(child.stderr.take().unwrap());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = tokio::time::timeout(BOUND, stdout.read_line(&mut line)).await;
        let Ok(Ok(n)) = read else {
            panic!("serve did not start: {:?}", stderr.lock().unwrap())
        };
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!("serve exited: {}", stderr.lock().unwrap());
        }
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        let _rest = collect(stdout);
        Self {
            child,
            addr,
            stderr,
            _config: config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The peak resident set size of the process so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap();
        kb * 1024
    }

    /// SIGTERM, and exit status 0.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("serve stops")
            .unwrap();
        assert!(status.success(), "{status:?}: {}", self.stderr());
    }
}

/// Runs `serve` with a config it must refuse: (status, stderr).
pub async fn refused(toml: &str, envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let config = TempFile::new("toml", toml);
    let out = tokio::time::timeout(
        BOUND,
        Command::new(serve_binary())
            .arg(&config.0)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("serve exits")
    .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
