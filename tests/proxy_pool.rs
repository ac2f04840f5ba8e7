//! Proxy mode's connections to the upstream, black box: the built `serve` example in front of a
//! raw HTTP/1.1 upstream of this file that counts the connections it accepts and the requests
//! it reads, and closes its idle connections when told to. Connections are reused; a
//! connection the upstream closed while idle is never a 502; a response body left half-read
//! never hands its connection to the next request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/proxy.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_guard::Algorithm;
use jwt_guard::testing::{TestKey, TokenBuilder};
use support::{Serve, client, get};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "a-shared-secret-for-the-proxy-tests-32+";

/// What the upstream does with a connection after each answer.
#[derive(Clone, Copy, Debug)]
enum AfterAnswer {
    /// Keeps it open (keep-alive).
    KeepOpen,
    /// Closes it once it has been idle this long (a keep-alive timeout), without saying so in
    /// the response.
    CloseWhenIdle(Duration),
    /// Closes it right after the answer, without `Connection: close`.
    CloseAtOnce,
}

/// A raw HTTP/1.1 upstream: answers every request (bodiless) with `200` and
/// `{connection}:{request}`, counting both.
struct RawUpstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    async fn start(after: AfterAnswer, body_len: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (Arc::clone(&connections), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let id = c.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(connection(stream, id, Arc::clone(&r), after, body_len));
            }
        });
        Self {
            addr,
            connections,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(
    mut stream: TcpStream,
    id: usize,
    requests: Arc<AtomicUsize>,
    after: AfterAnswer,
    body_len: usize,
) {
    let mut buf = Vec::new();
    let mut served = 0;
    loop {
        // Reads one request head (the test's requests have no body).
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            let read = match after {
                AfterAnswer::CloseWhenIdle(idle) if served > 0 => {
                    match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                        Ok(read) => read,
                        Err(_) => return, // idle too long: closed
                    }
                }
                _ => stream.read(&mut chunk).await,
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..head_end);
        served += 1;
        requests.fetch_add(1, Ordering::SeqCst);
        let mut body = format!("{id}:{served}").into_bytes();
        body.resize(body_len.max(body.len()), b'.');
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
        {
            return;
        }
        if matches!(after, AfterAnswer::CloseAtOnce) {
            return;
        }
    }
}

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256));
    TokenBuilder::new(key, now).subject("pool").sign()
}

async fn start_serve(upstream: &RawUpstream) -> Serve {
    let toml = format!(
        r#"
listen = "127.0.0.1:0"

[[issuers]]
name = "partner"
secret = "{SECRET}"

[upstream]
url = "{}"
timeout = "5s"
"#,
        upstream.url()
    );
    Serve::start(&toml, &[]).await
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection() {
    let upstream = RawUpstream::start(AfterAnswer::KeepOpen, 0).await;
    let serve = start_serve(&upstream).await;
    let client = client();
    let auth = format!("Bearer {}", token());
    for i in 1..=20 {
        let answer = get(&client, &serve.url("/seq"), &[("authorization", &auth)]).await;
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], format!("1:{i}").as_bytes());
    }
    assert_eq!(upstream.connections(), 1);
    assert_eq!(upstream.requests(), 20);
    serve.stop().await;
}

#[tokio::test]
async fn concurrent_requests_open_no_more_connections_than_are_in_flight() {
    let upstream = RawUpstream::start(AfterAnswer::KeepOpen, 0).await;
    let serve = start_serve(&upstream).await;
    let client = client();
    let auth = format!("Bearer {}", token());
    for _round in 0..5 {
        let mut answers = Vec::new();
        for _ in 0..8 {
            let (client, url, auth) = (client.clone(), serve.url("/c"), auth.clone());
            answers.push(tokio::spawn(async move {
                get(&client, &url, &[("authorization", &auth)]).await.status
            }));
        }
        for answer in answers {
            assert_eq!(answer.await.unwrap(), 200);
        }
    }
    assert_eq!(upstream.requests(), 40);
    let connections = upstream.connections();
    assert!(
        (1..=8).contains(&connections),
        "{connections} upstream connections for at most 8 requests in flight"
    );
    serve.stop().await;
}

/// The upstream closes idle connections (two keep-alive timeouts, and at once after each
/// answer): every request still gets its 200, each reaches the upstream exactly once, and each
/// on a connection of its own.
#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_never_a_502() {
    for (after, pause) in [
        (
            AfterAnswer::CloseWhenIdle(Duration::from_millis(30)),
            Duration::from_millis(150),
        ),
        (
            AfterAnswer::CloseWhenIdle(Duration::from_millis(100)),
            Duration::from_millis(300),
        ),
        (AfterAnswer::CloseAtOnce, Duration::from_millis(100)),
    ] {
        let upstream = RawUpstream::start(after, 0).await;
        let serve = start_serve(&upstream).await;
        let client = client();
        let auth = format!("Bearer {}", token());
        for i in 1..=6 {
            let answer = get(&client, &serve.url("/idle"), &[("authorization", &auth)]).await;
            assert_eq!(answer.status, 200, "{after:?}, request {i}: {answer:?}");
            assert_eq!(&answer.body[..], format!("{i}:1").as_bytes(), "{after:?}");
            tokio::time::sleep(pause).await;
        }
        assert_eq!(
            upstream.requests(),
            6,
            "{after:?}: a request was sent twice"
        );
        assert_eq!(upstream.connections(), 6, "{after:?}");
        serve.stop().await;
    }
}

/// A client that goes away in the middle of a large response: that connection is not handed to
/// the next request, which gets its own complete answer.
#[tokio::test]
async fn a_response_left_half_read_never_serves_the_next_request() {
    let body_len = 8 << 20;
    let upstream = RawUpstream::start(AfterAnswer::KeepOpen, body_len).await;
    let serve = start_serve(&upstream).await;
    let auth = format!("Bearer {}", token());
    let addr = serve.url("").trim_start_matches("http://").to_owned();
    {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET /big HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut first = [0u8; 1024];
        let n = stream.read(&mut first).await.unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    } // dropped half-read
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = client();
    let answer = get(&client, &serve.url("/next"), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body_len, body_len as u64);
    assert!(
        answer.body.starts_with(b"2:1"),
        "the next request reused the half-read connection"
    );
    assert_eq!(upstream.connections(), 2);
    serve.stop().await;
}
