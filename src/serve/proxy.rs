//! [`Proxy`]: the inner service of proxy mode. Forwards what the layer let through to the
//! upstream over the connections of its [`Pool`], streams both bodies, and answers 502
//! `bad_gateway` or 504 `gateway_timeout` when the upstream fails.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::Either;
use hyper_util::client::legacy::connect::HttpConnector;
use pin_project_lite::pin_project;
use serde_json::json;
use tower_service::Service;

use super::body::SentBody;
use super::headers::{IdentityHeaders, remove_cors, remove_hop_by_hop, set_forwarded};
use super::pool::{Connector, Pool, PooledBody, SendError, Sending};
use super::respond::{ClientAddr, json_status};
use crate::config::Upstream;
use crate::error::ConfigError;
use crate::identity::Verified;

/// The body of the proxy's responses: the upstream's, streamed (no box), or the proxy's own
/// JSON (502, 504).
pub(super) type ProxyBody = Either<PooledBody, Body>;

/// The reverse proxy: cloning is an `Arc` bump; every clone shares the pool.
#[derive(Clone, Debug)]
pub(super) struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    host: HeaderValue,
    path_prefix: String,
    timeout: Duration,
    identity: IdentityHeaders,
}

impl Proxy {
    /// The proxy to `upstream`, with its pool (built once: connections are reused). Errors
    /// name keys of the `[upstream]` table.
    pub(super) fn new(upstream: &Upstream) -> Result<Self, ConfigError> {
        let authority: Authority = upstream
            .authority()
            .parse()
            .map_err(|_| ConfigError::invalid("url", "the URL's host is not a valid authority"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| ConfigError::invalid("url", "the URL's host is not a valid Host"))?;
        let identity = IdentityHeaders::new(upstream.identity_header_prefix()).map_err(|_| {
            ConfigError::invalid("identity_header_prefix", "not the start of a header name")
        })?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let (scheme, connector) = if upstream.is_https() {
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .try_with_platform_verifier()
                .map_err(|e| {
                    ConfigError::invalid("url", format!("cannot set up TLS for https: {e}"))
                })?
                .https_only()
                .enable_http1()
                .wrap_connector(http);
            (Scheme::HTTPS, Connector::Https(https))
        } else {
            (Scheme::HTTP, Connector::Http(http))
        };
        let target = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query("/")
            .build()
            .map_err(|_| ConfigError::invalid("url", "not a valid URL"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool: Pool::new(connector, target, upstream.timeout()),
                host,
                path_prefix: upstream.path_prefix().to_owned(),
                timeout: upstream.timeout(),
                identity,
            }),
        })
    }
}

impl<B> Service<Request<B>> for Proxy
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.inner.forward(req)
    }
}

impl Inner {
    /// Forwards one request the layer let through: the head is made and handed to a
    /// connection here; the future waits for the answer, whose body streams back.
    fn forward<B>(&self, req: Request<B>) -> ProxyFuture
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (mut parts, body) = req.into_parts();
        let Some(uri) = self.upstream_uri(&parts.uri) else {
            return ProxyFuture::answered(bad_gateway("the request's path cannot be forwarded"));
        };
        let verified = parts.extensions.remove::<Verified>();
        let client_ip = parts.extensions.remove::<ClientAddr>();
        let client_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            let authority = parts.uri.authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        remove_hop_by_hop(&mut parts.headers);
        set_forwarded(
            &mut parts.headers,
            &self.host,
            client_host,
            client_ip.as_ref().map(ClientAddr::value),
        );
        self.identity.apply(&mut parts.headers, verified.as_ref());
        parts.uri = uri;
        parts.version = Version::HTTP_11;

        let (body, sent) = SentBody::new(body);
        let sending = self.pool.send(Request::from_parts(parts, body));
        // `timeout` bounds the connection (TCP, TLS, handshake: the pool's) and, from the
        // moment the whole request is sent, the wait for the response head (here).
        let timeout = self.timeout;
        let deadline = match sent {
            None => HeadDeadline::Now {
                sleep: tokio::time::sleep(timeout),
            },
            Some(sent) => HeadDeadline::AfterBody {
                future: Box::pin(async move {
                    sent.notified().await;
                    tokio::time::sleep(timeout).await;
                }),
            },
        };
        ProxyFuture {
            state: ProxyState::Sending {
                sending,
                deadline,
                timeout,
            },
        }
    }

    /// The request's path and query under `path_prefix`, in origin form.
    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let path_and_query = if self.path_prefix.is_empty() {
            match uri.path_and_query() {
                Some(path_and_query) => path_and_query.clone(),
                None => PathAndQuery::from_static("/"),
            }
        } else {
            let path_and_query = uri.path_and_query().map_or("/", PathAndQuery::as_str);
            PathAndQuery::try_from(format!("{}{path_and_query}", self.path_prefix)).ok()?
        };
        Some(Uri::from(path_and_query))
    }
}

pin_project! {
    /// The future of [`Proxy`]: the upstream's answer, or 502/504.
    pub(super) struct ProxyFuture {
        #[pin]
        state: ProxyState,
    }
}

pin_project! {
    #[project = StateProj]
    enum ProxyState {
        /// Answered without the upstream.
        Answered { response: Option<Response<Body>> },
        /// Handed to a connection: the answer, unless the head deadline passes first.
        Sending {
            sending: Sending,
            #[pin]
            deadline: HeadDeadline,
            timeout: Duration,
        },
    }
}

pin_project! {
    /// When the wait for the response head ends.
    #[project = DeadlineProj]
    enum HeadDeadline {
        /// A bodiless request went whole with its head: the wait runs from the start.
        Now { #[pin] sleep: tokio::time::Sleep },
        /// From the moment the body has been sent whole.
        AfterBody { future: Pin<Box<dyn Future<Output = ()> + Send>> },
    }
}

impl ProxyFuture {
    fn answered(response: Response<Body>) -> Self {
        Self {
            state: ProxyState::Answered {
                response: Some(response),
            },
        }
    }
}

impl Future for ProxyFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map(Either::Right))),
                // Polled after its answer: a caller's mistake, never a panic.
                None => Poll::Pending,
            },
            StateProj::Sending {
                sending,
                deadline,
                timeout,
            } => {
                // The answer first: one that is there wins over a deadline that has passed.
                if let Poll::Ready(result) = Pin::new(sending).poll(cx) {
                    return Poll::Ready(Ok(answer(result, *timeout)));
                }
                let passed = match deadline.project() {
                    DeadlineProj::Now { sleep } => sleep.poll(cx).is_ready(),
                    DeadlineProj::AfterBody { future } => future.as_mut().poll(cx).is_ready(),
                };
                if passed {
                    tracing::warn!(timeout = ?*timeout, "the upstream sent no response head in time");
                    return Poll::Ready(Ok(gateway_timeout().map(Either::Right)));
                }
                Poll::Pending
            }
        }
    }
}

/// The response to the client: the upstream's, without its hop-by-hop and CORS headers, or
/// 502/504 for what went wrong.
fn answer(
    result: Result<Response<PooledBody>, SendError>,
    timeout: Duration,
) -> Response<ProxyBody> {
    match result {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            remove_cors(&mut parts.headers);
            Response::from_parts(parts, Either::Left(body))
        }
        Err(error @ SendError::ConnectTimeout) => {
            tracing::warn!(%error, ?timeout, "the upstream did not accept the connection in time");
            gateway_timeout().map(Either::Right)
        }
        Err(error) => {
            tracing::warn!(%error, "the upstream failed");
            bad_gateway("the upstream refused the connection or failed mid-request")
                .map(Either::Right)
        }
    }
}

/// 502 `bad_gateway`.
fn bad_gateway(description: &str) -> Response<Body> {
    json_status(
        StatusCode::BAD_GATEWAY,
        &json!({
            "error": "bad_gateway",
            "error_description": description,
            "reason": "upstream_unavailable",
        }),
    )
}

/// 504 `gateway_timeout`.
fn gateway_timeout() -> Response<Body> {
    json_status(
        StatusCode::GATEWAY_TIMEOUT,
        &json!({
            "error": "gateway_timeout",
            "error_description": "the upstream did not answer in time",
            "reason": "upstream_timeout",
        }),
    )
}
