//! [`Pool`]: the proxy's connections to the upstream, on hyper's HTTP/1 client connections.
//!
//! One list of idle connections, newest last: a request takes the newest that is ready (the
//! warmest socket), or opens a new one; a connection goes back to the list when its response
//! body has been read to the end (a body dropped half-read closes it). No task per request, no
//! lock held across I/O, no hashing: the pool has one destination.
//!
//! A connection the upstream closed while it sat idle is found either before use (it reports
//! itself closed and is dropped), or when the request cannot be written on it (hyper gives the
//! request back untouched), or when the upstream's end arrives right after the request went out
//! (an upstream's keep-alive timeout racing the request). In the first two cases the request is
//! sent again once, on a new connection; in the third, so is a bodiless request of an
//! idempotent method taken on a connection idle for a second or more (its head is copied before
//! it is sent), as nginx retries a cached connection. Anything else is the caller's 502.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Extensions, HeaderMap, Method, Request, Response, Uri, Version};
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::body::SentBody;
use crate::sync::lock;

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// At most this many idle connections are kept; past it the oldest is closed.
const MAX_IDLE: usize = 512;

/// A bodiless idempotent request on a connection idle at least this long keeps a copy of its
/// head, to be sent again if the upstream closed the connection under it. Under load,
/// connections are reused within milliseconds and nothing is copied; upstreams close idle
/// connections after seconds (Node's default keep-alive timeout is 5 s).
const COPY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How a connection is opened: plain TCP, or TLS with the platform's roots.
#[derive(Clone, Debug)]
pub(super) enum Connector {
    Http(HttpConnector),
    Https(hyper_rustls::HttpsConnector<HttpConnector>),
}

/// Why a request got no response.
#[derive(Debug)]
pub(super) enum SendError {
    /// No connection within the timeout (TCP, TLS and the HTTP/1 handshake together).
    ConnectTimeout,
    /// The connection could not be opened.
    Connect(Box<dyn StdError + Send + Sync>),
    /// The connection failed after the request was (maybe partly) written.
    Request(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConnectTimeout => f.write_str("no connection to the upstream in time"),
            Self::Connect(e) => write!(f, "cannot connect to the upstream: {}", chain(&**e)),
            Self::Request(e) => write!(f, "the upstream failed: {}", chain(e)),
        }
    }
}

/// The error and its causes, on one line.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The connections to one upstream. Cloning is an `Arc` bump.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    connector: Connector,
    /// `scheme://authority` of the upstream, what the connector dials.
    target: Uri,
    connect_timeout: Duration,
    copy_after_idle: Duration,
    idle: Mutex<VecDeque<Idle>>,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<SentBody>,
    since: Instant,
}

impl Pool {
    /// A pool dialing `target` (`scheme://authority`) through `connector`; `connect_timeout`
    /// bounds the TCP connect, the TLS handshake and hyper's handshake together.
    pub(super) fn new(connector: Connector, target: Uri, connect_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                target,
                connect_timeout,
                copy_after_idle: COPY_AFTER_IDLE,
                idle: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on a pooled connection, or a new one; the
    /// response comes with a body that returns the connection when read to its end.
    ///
    /// On a pooled connection, the request is handed to it here and now; the future only waits
    /// for the answer (56 bytes, and hyper's boxed send future of 288, where an `async fn`
    /// holding the request, its copy and every step's state took 1,144, inside the proxy's
    /// 2,200-byte future allocated and copied for every request).
    pub(super) fn send(&self, request: Request<SentBody>) -> Sending {
        let shared = Arc::clone(&self.shared);
        let state = match self.take_idle() {
            Some((mut sender, idle_for)) => {
                let copy = (idle_for >= shared.copy_after_idle)
                    .then(|| HeadCopy::of(&request))
                    .flatten()
                    .map(Box::new);
                let trying = Box::pin(sender.try_send_request(request));
                SendState::Trying {
                    sender,
                    copy,
                    trying,
                }
            }
            None => SendState::Fresh {
                future: Box::pin(Arc::clone(&shared).send_new(request)),
            },
        };
        Sending { shared, state }
    }

    /// The newest idle connection that is ready, and how long it was idle; drops the expired
    /// and the closed ones it meets.
    fn take_idle(&self) -> Option<(SendRequest<SentBody>, Duration)> {
        let mut idle = lock(&self.shared.idle);
        if idle.is_empty() {
            return None;
        }
        let now = Instant::now();
        while idle
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(oldest.since) > IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let Some(entry) = idle.get(i) else { break };
            if entry.sender.is_ready() {
                return idle
                    .remove(i)
                    .map(|entry| (entry.sender, now.saturating_duration_since(entry.since)));
            }
            if entry.sender.is_closed() {
                idle.remove(i);
            }
            // Otherwise it is finishing its last response: left for a later request.
        }
        None
    }
}

/// The head of a bodiless request of an idempotent method (RFC 9110 §9.2.2), kept to send it
/// again.
struct HeadCopy {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
}

impl HeadCopy {
    /// A copy of `request`'s head, if it may be sent again: idempotent and without a body.
    fn of(request: &Request<SentBody>) -> Option<Self> {
        let idempotent = matches!(
            *request.method(),
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        );
        (idempotent && request.body().is_end_stream()).then(|| Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            // What hyper keeps there (the header names' case) goes out again too.
            extensions: request.extensions().clone(),
        })
    }

    fn request(self: Box<Self>) -> Request<SentBody> {
        let (body, _) = SentBody::new(axum::body::Body::empty());
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

/// hyper's HTTP/1 handshake on `io`, header case kept both ways; the connection's driver runs
/// as its own task until the connection closes.
async fn handshake<T>(io: T) -> Result<SendRequest<SentBody>, SendError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .preserve_header_case(true)
        .title_case_headers(false)
        .handshake(io)
        .await
        .map_err(|e| SendError::Connect(e.into()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

impl Shared {
    /// Opens a new connection and sends `request` on it, once.
    async fn send_new(
        self: Arc<Self>,
        request: Request<SentBody>,
    ) -> Result<Response<PooledBody>, SendError> {
        let mut sender = self.connect().await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(PooledBody::response(response, sender, self)),
            Err(error) => Err(SendError::Request(error.into_error())),
        }
    }

    /// A new connection, its driver spawned on the runtime.
    async fn connect(&self) -> Result<SendRequest<SentBody>, SendError> {
        let shared = self;
        let connecting = async {
            match &shared.connector {
                Connector::Http(connector) => {
                    let io = connector
                        .clone()
                        .call(shared.target.clone())
                        .await
                        .map_err(|e| SendError::Connect(e.into()))?;
                    handshake(io).await
                }
                Connector::Https(connector) => {
                    let io = connector
                        .clone()
                        .call(shared.target.clone())
                        .await
                        .map_err(SendError::Connect)?;
                    handshake(io).await
                }
            }
        };
        tokio::time::timeout(shared.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)?
    }

    /// Puts a connection whose response was read whole back in the list.
    fn give_back(&self, sender: SendRequest<SentBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() >= MAX_IDLE {
            idle.pop_front();
        }
        idle.push_back(Idle {
            sender,
            since: Instant::now(),
        });
    }
}

/// The answer to a request a pooled connection was given: the future of [`Pool::send`].
pub(super) struct Sending {
    shared: Arc<Shared>,
    state: SendState,
}

/// hyper's future of a request handed to a connection.
type Trying = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Response<Incoming>,
                    hyper::client::conn::TrySendError<Request<SentBody>>,
                >,
            > + Send,
    >,
>;

enum SendState {
    /// On a pooled connection: the request, or a copy of its head, may go again on a new one.
    Trying {
        sender: SendRequest<SentBody>,
        copy: Option<Box<HeadCopy>>,
        trying: Trying,
    },
    /// On a new connection (none was idle, or the pooled one failed): once.
    Fresh {
        future: Pin<Box<dyn Future<Output = Result<Response<PooledBody>, SendError>> + Send>>,
    },
    /// Answered.
    Done,
}

impl Future for Sending {
    type Output = Result<Response<PooledBody>, SendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                SendState::Trying { trying, .. } => {
                    let Poll::Ready(result) = trying.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    let SendState::Trying { sender, copy, .. } =
                        std::mem::replace(&mut this.state, SendState::Done)
                    else {
                        return Poll::Pending;
                    };
                    let mut error = match result {
                        Ok(response) => {
                            let shared = Arc::clone(&this.shared);
                            return Poll::Ready(Ok(PooledBody::response(response, sender, shared)));
                        }
                        Err(error) => error,
                    };
                    let unsent = error.take_message();
                    let error = error.into_error();
                    let request = match (unsent, copy) {
                        // Closed before a byte was written: once more, on a new connection.
                        (Some(unsent), _) => unsent,
                        // Closed right after the head went out, before any answer.
                        (None, Some(copy)) if error.is_incomplete_message() => copy.request(),
                        _ => return Poll::Ready(Err(SendError::Request(error))),
                    };
                    tracing::debug!(%error, "a pooled connection was closed; sending again on a new one");
                    this.state = SendState::Fresh {
                        future: Box::pin(Arc::clone(&this.shared).send_new(request)),
                    };
                }
                SendState::Fresh { future } => {
                    let Poll::Ready(result) = future.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    this.state = SendState::Done;
                    return Poll::Ready(result);
                }
                // Polled after its answer: a caller's mistake, never a panic.
                SendState::Done => return Poll::Pending,
            }
        }
    }
}

/// The upstream's response body; the connection goes back to the pool when it has been read to
/// its end, and is closed when the body is dropped before.
#[derive(Debug)]
pub(super) struct PooledBody {
    inner: Incoming,
    giving_back: Option<(SendRequest<SentBody>, Arc<Shared>)>,
}

impl PooledBody {
    /// The response, its body returning `sender` to the pool once read whole.
    fn response(
        response: Response<Incoming>,
        sender: SendRequest<SentBody>,
        shared: Arc<Shared>,
    ) -> Response<Self> {
        let (parts, body) = response.into_parts();
        Response::from_parts(parts, Self::new(body, sender, shared))
    }

    fn new(inner: Incoming, sender: SendRequest<SentBody>, shared: Arc<Shared>) -> Self {
        let mut body = Self {
            inner,
            giving_back: Some((sender, shared)),
        };
        if body.inner.is_end_stream() {
            body.give_back();
        }
        body
    }

    fn give_back(&mut self) {
        if let Some((sender, shared)) = self.giving_back.take() {
            shared.give_back(sender);
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.give_back(),
            // The connection is broken: dropped with its sender.
            Poll::Ready(Some(Err(_))) => self.giving_back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt as _;

    /// An upstream on its own thread (blocking sockets, outside the test's runtime): answers one
    /// request per connection, then closes that connection (no `Connection: close`) when told
    /// to; counts the requests it read.
    fn upstream_closing_on_cue() -> (Uri, Arc<AtomicUsize>, mpsc::Sender<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        let (cue, cued) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = Vec::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0u8; 1024];
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                if cued.recv().is_err() {
                    return;
                }
                drop(stream);
            }
        });
        (format!("http://{addr}/").parse().unwrap(), requests, cue)
    }

    fn request(method: &Method) -> Request<SentBody> {
        let (body, _) = SentBody::new(Body::empty());
        Request::builder()
            .method(method)
            .uri("/")
            .header("host", "upstream")
            .body(body)
            .unwrap()
    }

    /// The idle connection was closed by the upstream, and its driver has not seen it yet when
    /// the next request takes it: the request goes out on it and the end comes back. A bodiless
    /// request of an idempotent method goes out once more on a new connection (not a 502; the
    /// upstream reads it once); `POST` and `PATCH` are not sent again (the caller's 502).
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_on_a_connection_closed_under_it_goes_out_again_when_idempotent() {
        for (method, again) in [
            (Method::GET, true),
            (Method::HEAD, true),
            (Method::DELETE, true),
            (Method::PUT, true),
            (Method::POST, false),
            (Method::PATCH, false),
        ] {
            let (target, requests, cue) = upstream_closing_on_cue();
            let mut pool = Pool::new(
                Connector::Http(HttpConnector::new()),
                target,
                Duration::from_secs(5),
            );
            if let Some(shared) = Arc::get_mut(&mut pool.shared) {
                shared.copy_after_idle = Duration::ZERO;
            }
            // The first request opens the connection; it goes back to the list, ready.
            let response = pool.send(request(&Method::GET)).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
            assert_eq!(lock(&pool.shared.idle).len(), 1);
            // The upstream closes it now; the runtime is held (a blocking sleep) so that the
            // connection's driver cannot see the end before the next request takes it.
            cue.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            let result = pool.send(request(&method)).await;
            if again {
                let response = result.unwrap();
                assert_eq!(response.status(), 200, "{method}");
                assert_eq!(requests.load(Ordering::SeqCst), 2, "{method}: sent twice");
            } else {
                assert!(matches!(result, Err(SendError::Request(_))), "{method}");
            }
        }
    }

    /// A connection that was gone before a byte of the request was written gives the request
    /// back untouched: it goes out once more on a new connection, whatever its method and body
    /// (nothing of it reached the upstream), and the upstream reads it once.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_given_back_unsent_goes_out_again_whatever_its_method() {
        for method in [Method::GET, Method::POST, Method::PATCH] {
            let (target, requests, _cue) = upstream_closing_on_cue();
            let pool = Pool::new(
                Connector::Http(HttpConnector::new()),
                target,
                Duration::from_secs(5),
            );
            // A connection whose driver is gone: hyper hands the request back unsent.
            let (io, _peer) = tokio::io::duplex(1024);
            let (mut sender, connection) = http1::Builder::new()
                .handshake::<_, SentBody>(hyper_util::rt::TokioIo::new(io))
                .await
                .unwrap();
            drop(connection);
            let (body, _) = SentBody::new(http_body_util::Full::new(Bytes::from_static(b"x")));
            let request = Request::builder()
                .method(&method)
                .uri("/")
                .header("host", "upstream")
                .body(body)
                .unwrap();
            let trying = Box::pin(sender.try_send_request(request));
            let sending = Sending {
                shared: Arc::clone(&pool.shared),
                state: SendState::Trying {
                    sender,
                    copy: None,
                    trying,
                },
            };
            let response = sending.await.unwrap();
            assert_eq!(response.status(), 200, "{method}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok", "{method}");
            assert_eq!(requests.load(Ordering::SeqCst), 1, "{method}: read once");
        }
    }
}
