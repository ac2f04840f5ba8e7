//! One accepted connection, from its first bytes to its end: [`Connections`] tells HTTP/1 from
//! HTTP/2 with prior knowledge (h2c) by peeking at the first bytes, closes a connection that
//! has spent [`IDLE_LIMIT`] outside any request (a head sent slowly, "slowloris", or an idle
//! keep-alive connection), and stops: connections outside a request close at once, those in
//! one finish it, within a grace period.
//!
//! Why not hyper's own header-read timeout and hyper-util's auto-detecting and graceful
//! wrappers: the timeout arms a timer for every request (a boxed sleep, registered in the timer
//! wheel and removed again), the auto server reads every byte through a rewind buffer, and the
//! graceful wrapper re-registers its waiter on every wake-up (measured together: 2.5 % of the
//! proxy's throughput). Here a request costs a few atomic operations and one clock read, and
//! the one timer of a connection fires only every [`IDLE_LIMIT`].

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::respond::ClientAddr;
use super::routes::{App, AppBody, AppFuture};

/// How long a connection may spend outside any request before it is closed: silent after
/// connecting, sending a request head, or idle between requests. hyper's header-read timeout
/// had the same default and the same reach (it ran from the end of one exchange to the end of
/// the next head).
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// How long a connection past the idle limit has to close gracefully before it is cut.
const IDLE_GRACE: Duration = Duration::from_secs(1);

/// What an HTTP/2 connection with prior knowledge starts with (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The accepted connections of one server: how each is served, and the stop they share.
pub(super) struct Connections {
    servers: Arc<Servers>,
    stop: Arc<Stop>,
    idle_limit: Duration,
}

/// hyper's servers, configured once and shared by every connection.
struct Servers {
    http1: hyper::server::conn::http1::Builder,
    /// For h2c, and for a connection whose first bytes may still be the start of HTTP/2's
    /// preface: it reads on until it knows (HTTP/1 then gets the same settings as above).
    auto: hyper_util::server::conn::auto::Builder<TokioExecutor>,
}

/// The HTTP/1 settings, on hyper's builder and on the auto server's alike: keep-alive, header
/// case kept as received, no per-request header-read timer (the idle limit does its work).
macro_rules! http1_settings {
    ($builder:expr) => {
        $builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .preserve_header_case(true)
            .keep_alive(true)
    };
}

impl Connections {
    /// HTTP/1.1 (keep-alive; header case kept as received) and h2c.
    pub(super) fn new() -> Self {
        Self::with_idle_limit(IDLE_LIMIT)
    }

    /// As [`new`](Self::new), with another idle limit (tests).
    pub(super) fn with_idle_limit(idle_limit: Duration) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1_settings!(http1);
        let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        http1_settings!(auto.http1());
        auto.http2().timer(TokioTimer::new());
        Self {
            servers: Arc::new(Servers { http1, auto }),
            stop: Arc::new(Stop::default()),
            idle_limit,
        }
    }

    /// Serves `stream` in a task of its own, calling `app`.
    pub(super) fn spawn(&self, stream: TcpStream, peer: SocketAddr, app: App) {
        let open = Open::new(&self.stop);
        let servers = Arc::clone(&self.servers);
        let idle_limit = self.idle_limit;
        tokio::spawn(async move {
            let stop = &open.0;
            let activity = Arc::new(Activity::new(idle_limit));
            // The first bytes, without consuming them; a stop or the idle limit ends the wait.
            let mut first = [0u8; H2_PREFACE.len()];
            let peeked = tokio::select! {
                biased;
                () = stop.stopping() => return,
                () = tokio::time::sleep(idle_limit) => {
                    tracing::debug!(%peer, "closed: nothing sent");
                    return;
                }
                peeked = stream.peek(&mut first) => peeked,
            };
            let Some(first) = peeked.ok().and_then(|n| first.get(..n)) else {
                return;
            };
            if first.is_empty() {
                return;
            }
            let service = ConnectionService {
                app,
                client: ClientAddr::new(peer),
                activity: Arc::clone(&activity),
            };
            let io = TokioIo::new(stream);
            let served = if H2_PREFACE.starts_with(first) {
                // HTTP/2's preface, or its start (`P`, `PR`, ...: it may also be an HTTP/1
                // `POST`, `PUT` or `PATCH` split across packets): the auto-detecting server.
                drive(servers.auto.serve_connection(io, service), stop, &activity).await
            } else {
                drive(servers.http1.serve_connection(io, service), stop, &activity)
                    .await
                    .map_err(Into::into)
            };
            match served {
                Ok(Ended::Closed) => {}
                Ok(Ended::Idle) => {
                    tracing::debug!(%peer, limit = ?idle_limit, "closed: no request within the idle limit")
                }
                Err(e) => tracing::debug!(error = %e, %peer, "connection ended with an error"),
            }
        });
    }

    /// Stops: a connection outside a request closes, one in a request finishes it (HTTP/1
    /// closes after the answer, HTTP/2 sends GOAWAY); waits for them all, at most `grace`.
    /// `false` when some were still open after it.
    pub(super) async fn stop(self, grace: Duration) -> bool {
        self.stop.begin();
        tokio::time::timeout(grace, self.stop.drained())
            .await
            .is_ok()
    }
}

/// How a served connection ended without an error.
enum Ended {
    /// By either side, or drained by the stop.
    Closed,
    /// By [`IDLE_LIMIT`].
    Idle,
}

/// Drives `conn` to its end, turning a stop into its graceful shutdown and closing it when its
/// [`Activity`] says it has been outside a request for too long.
async fn drive<C>(conn: C, stop: &Stop, activity: &Activity) -> Result<Ended, C::Error>
where
    C: GracefulConnection,
{
    let mut conn = pin!(conn);
    let mut stopped = pin!(stop.notify.notified());
    let mut watchdog = pin!(tokio::time::sleep(activity.limit));
    let mut registered = false;
    let mut draining = false;
    let mut idle_closing = false;
    poll_fn(move |cx| {
        if !draining {
            // Registered once: the waker of a task stays the same, so later wake-ups need no
            // new registration, only this load.
            if !registered {
                registered = true;
                let _ = stopped.as_mut().poll(cx);
            }
            if stop.is_stopping() {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
        while watchdog.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            match activity.next_check(now) {
                Some(at) => watchdog.as_mut().reset(at),
                // Past the limit: a graceful close first (HTTP/2's GOAWAY, so that the client
                // opens no stream on a connection about to go; an idle HTTP/1 connection just
                // closes), then, if it is still open after the grace, a hard one (a head still
                // coming in slowly).
                None if !idle_closing => {
                    idle_closing = true;
                    if !draining {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    watchdog
                        .as_mut()
                        .reset(now + activity.limit.min(IDLE_GRACE));
                }
                None => return Poll::Ready(Ok(Ended::Idle)),
            }
        }
        conn.as_mut().poll(cx).map_ok(|()| {
            if idle_closing {
                Ended::Idle
            } else {
                Ended::Closed
            }
        })
    })
    .await
}

/// The stop shared by the accept loop and every connection.
#[derive(Default)]
struct Stop {
    stopping: AtomicBool,
    notify: Notify,
    open: AtomicUsize,
    drained: Notify,
}

impl Stop {
    fn begin(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Completes once the stop has begun.
    async fn stopping(&self) {
        let mut notified = pin!(self.notify.notified());
        notified.as_mut().enable();
        if self.is_stopping() {
            return;
        }
        notified.await;
    }

    /// Completes once no connection is open.
    async fn drained(&self) {
        loop {
            let mut notified = pin!(self.drained.notified());
            notified.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One open connection, counted from its accept to the end of its task.
struct Open(Arc<Stop>);

impl Open {
    fn new(stop: &Arc<Stop>) -> Self {
        stop.open.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(stop))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// Whether a connection is in a request, and since when it has not been.
struct Activity {
    limit: Duration,
    opened: Instant,
    /// Requests between their head and the end of their answer (HTTP/2: several at once).
    in_requests: AtomicUsize,
    /// When the last answer ended, in milliseconds since `opened`.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new(limit: Duration) -> Self {
        Self {
            limit,
            opened: Instant::now(),
            in_requests: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// When to look again, or `None` when the connection has been outside any request for the
    /// whole limit.
    fn next_check(&self, now: Instant) -> Option<Instant> {
        if self.in_requests.load(Ordering::Acquire) > 0 {
            return Some(now + self.limit);
        }
        let idle_since =
            self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        let deadline = idle_since + self.limit;
        (deadline > now).then_some(deadline)
    }
}

/// One request from its head to the end of its answer (or until dropped unanswered).
struct InRequest(Arc<Activity>);

impl InRequest {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.in_requests.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        let activity = &self.0;
        let ms = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        activity.in_requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection's service: the app, with the client's address in each request, each request
/// counted in the connection's [`Activity`] until its answer has been sent.
#[derive(Clone)]
struct ConnectionService {
    app: App,
    client: ClientAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = hyper::Response<AnswerBody>;
    type Error = Infallible;
    type Future = AnswerFuture;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        let in_request = InRequest::new(&self.activity);
        req.extensions_mut().insert(self.client.clone());
        AnswerFuture {
            future: self.app.call(req),
            in_request: Some(in_request),
        }
    }
}

pin_project! {
    /// The future of [`ConnectionService`]: the app's, its request counted until its body ends.
    struct AnswerFuture {
        #[pin]
        future: AppFuture,
        in_request: Option<InRequest>,
    }
}

impl Future for AnswerFuture {
    type Output = Result<hyper::Response<AnswerBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.future.poll(cx).map(|result| {
            let in_request = this.in_request.take();
            result.map(|response| {
                response.map(|body| AnswerBody {
                    body,
                    _in_request: in_request,
                })
            })
        })
    }
}

pin_project! {
    /// The body of an answer: the app's, its request counted until hyper drops it (sent whole,
    /// or the connection gone).
    struct AnswerBody {
        #[pin]
        body: AppBody,
        _in_request: Option<InRequest>,
    }
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = <AppBody as http_body::Body>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_in_a_request_is_never_idle() {
        let activity = Arc::new(Activity::new(Duration::from_secs(30)));
        let far = activity.opened + Duration::from_secs(3600);
        let guard = InRequest::new(&activity);
        assert_eq!(
            activity.next_check(far),
            Some(far + Duration::from_secs(30))
        );
        drop(guard);
        // The request ended just now (well before `far`): idle for about an hour by then.
        assert_eq!(activity.next_check(far), None);
    }

    #[test]
    fn the_idle_time_counts_from_the_last_answer() {
        let activity = Arc::new(Activity::new(Duration::from_secs(30)));
        let opened = activity.opened;
        // Silent since it opened: closed at 30 s, not before.
        assert_eq!(
            activity.next_check(opened + Duration::from_secs(10)),
            Some(opened + Duration::from_secs(30))
        );
        assert_eq!(activity.next_check(opened + Duration::from_secs(30)), None);
        // An answer ended at 20 s: the limit now runs to 50 s.
        activity.idle_since_ms.store(20_000, Ordering::Release);
        assert_eq!(
            activity.next_check(opened + Duration::from_secs(30)),
            Some(opened + Duration::from_secs(50))
        );
        assert_eq!(activity.next_check(opened + Duration::from_secs(50)), None);
        // HTTP/2: two requests at once; the connection is busy until both have ended.
        let (a, b) = (InRequest::new(&activity), InRequest::new(&activity));
        drop(a);
        assert!(
            activity
                .next_check(opened + Duration::from_secs(3600))
                .is_some()
        );
        drop(b);
    }

    /// `serve` on loopback with the idle limit `limit`, until the sender is dropped or used.
    async fn start(toml: &str, limit: Duration) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let config = crate::config::Config::from_toml(toml).unwrap();
        let server = super::super::Server::from_config(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve_with(
            listener,
            async move {
                let _ = stopped.await;
            },
            Connections::with_idle_limit(limit),
        ));
        (addr, stop)
    }

    const LOCAL: &str = r#"
listen = "127.0.0.1:0"
[[issuers]]
name = "partner"
secret = "a-shared-secret-for-the-connection-tests"
"#;

    const LIMIT: Duration = Duration::from_millis(300);

    /// Reads until the server closes the connection; what was read. Fails after 10 s.
    async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt as _;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            let mut chunk = [0u8; 4096];
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .expect("the server closes the connection");
        out
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_the_idle_limit() {
        let (addr, _stop) = start(LOCAL, LIMIT).await;
        let started = std::time::Instant::now();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(read_until_closed(&mut stream).await.is_empty());
        assert!(started.elapsed() >= LIMIT, "closed before the limit");
    }

    #[tokio::test]
    async fn a_head_sent_slowly_is_cut_off_and_never_answered() {
        use tokio::io::AsyncWriteExt as _;
        let (addr, _stop) = start(LOCAL, LIMIT).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // One header line every 100 ms, the head never finished: slowloris.
        let writer = async {
            stream.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
            for i in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream
                    .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                    .await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let written = tokio::time::timeout(Duration::from_secs(10), writer).await;
        // The server closed the connection: a write failed (reset) before the 100 lines.
        assert!(matches!(written, Ok(Err(_))), "{written:?}");
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (addr, _stop) = start(LOCAL, LIMIT).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut last_answer = std::time::Instant::now();
        for _ in 0..4 {
            // Requests closer together than the limit, for longer than it: the connection stays.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = vec![0u8; 4096];
            let n = stream.read(&mut answer).await.unwrap();
            let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
            last_answer = std::time::Instant::now();
            tokio::time::sleep(LIMIT / 3).await;
        }
        assert!(read_until_closed(&mut stream).await.is_empty());
        // The server counts from the end of its answer (a little before the client read it,
        // in whole milliseconds): closed about a limit after it, not at once.
        assert!(
            last_answer.elapsed() >= LIMIT * 3 / 4,
            "closed {:?} after the last answer",
            last_answer.elapsed()
        );
    }

    /// An upstream that answers after 3 limits, with a body sent one byte per limit, then closes.
    async fn slow_upstream() -> SocketAddr {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    tokio::time::sleep(LIMIT * 3).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    for b in [b"a", b"b", b"c"] {
                        tokio::time::sleep(LIMIT).await;
                        let _ = stream.write_all(b).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_request_longer_than_the_limit_is_never_cut() {
        use tokio::io::AsyncWriteExt as _;
        let upstream = slow_upstream().await;
        let toml = format!(
            "{LOCAL}\n[upstream]\nurl = \"http://{upstream}\"\npublic_paths = [\"/slow\"]\n"
        );
        let (addr, _stop) = start(&toml, LIMIT).await;
        for request in [
            // A slow answer (head after 3 limits, body over 3 more)...
            &b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
            // ... and a slow request body (one byte per half limit, 2 limits) before it.
            &b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"[..],
        ] {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            if request.starts_with(b"POST") {
                for b in [b"w", b"x", b"y", b"z"] {
                    tokio::time::sleep(LIMIT / 2).await;
                    stream.write_all(b).await.unwrap();
                }
            }
            let answer = read_until_closed(&mut stream).await;
            let answer = String::from_utf8_lossy(&answer);
            let request = String::from_utf8_lossy(request);
            assert!(
                answer.starts_with("HTTP/1.1 200 OK\r\n"),
                "{request}: {answer}"
            );
            assert!(answer.ends_with("\r\n\r\nabc"), "{request}: {answer}");
        }
    }

    #[tokio::test]
    async fn an_idle_h2c_connection_is_closed_at_the_idle_limit() {
        let (addr, _stop) = start(LOCAL, LIMIT).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        let connection = tokio::spawn(connection);
        let request = hyper::Request::get(format!("http://{addr}/healthz"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        drop(response);
        // No stream open: the server says GOAWAY and closes, which ends the client's
        // connection cleanly (a connection cut without GOAWAY ends it with an error).
        let ended = tokio::time::timeout(Duration::from_secs(10), connection)
            .await
            .expect("closed by the server")
            .unwrap();
        assert!(ended.is_ok(), "{ended:?}");
    }

    #[tokio::test]
    async fn an_h2c_stream_longer_than_the_limit_is_never_cut() {
        let upstream = slow_upstream().await;
        let toml = format!(
            "{LOCAL}\n[upstream]\nurl = \"http://{upstream}\"\npublic_paths = [\"/slow\"]\n"
        );
        let (addr, _stop) = start(&toml, LIMIT).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(format!("http://{addr}/slow"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        // The head after 3 limits, the body over 3 more: the stream keeps the connection busy.
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"abc");
    }

    #[tokio::test]
    async fn a_stop_lets_the_request_in_flight_finish_and_closes_the_rest() {
        use tokio::io::AsyncWriteExt as _;
        let upstream = slow_upstream().await;
        let toml = format!(
            "{LOCAL}\n[upstream]\nurl = \"http://{upstream}\"\npublic_paths = [\"/slow\"]\n"
        );
        let (addr, stop) = start(&toml, Duration::from_secs(30)).await;
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(LIMIT).await;
        stop.send(()).unwrap();
        // The silent one closes at once; the busy one gets its whole answer, then is closed.
        let started = std::time::Instant::now();
        assert!(read_until_closed(&mut silent).await.is_empty());
        assert!(
            started.elapsed() < LIMIT * 3,
            "the silent connection waited for the slow answer"
        );
        let answer = read_until_closed(&mut busy).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nabc"), "{answer}");
    }

    #[tokio::test]
    async fn the_drain_waits_for_every_open_connection() {
        let stop = Arc::new(Stop::default());
        let (a, b) = (Open::new(&stop), Open::new(&stop));
        stop.begin();
        let drained = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move { stop.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!drained.is_finished());
        drop(a);
        tokio::task::yield_now().await;
        assert!(!drained.is_finished());
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), drained)
            .await
            .expect("drained once both are closed")
            .expect("no panic");
        // A stop that has begun is seen by whoever waits for it later.
        tokio::time::timeout(Duration::from_secs(5), stop.stopping())
            .await
            .expect("seen at once");
    }
}
