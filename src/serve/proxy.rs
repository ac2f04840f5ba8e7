//! [`Proxy`]: the inner service of proxy mode. Forwards what the layer let through to the
//! upstream with one pooled client built at start-up, streams both bodies, and answers 502
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
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::Notify;
use tower_service::Service;

use super::body::SentBody;
use super::headers::{IdentityHeaders, remove_cors, remove_hop_by_hop, set_forwarded};
use super::respond::{ClientAddr, json_status};
use crate::config::Upstream;
use crate::error::ConfigError;
use crate::identity::Verified;

/// How long an idle pooled connection to the upstream is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The reverse proxy: cloning is an `Arc` bump; every clone shares the client's pool.
#[derive(Clone, Debug)]
pub(super) struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: UpstreamClient,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    path_prefix: String,
    timeout: Duration,
    identity: IdentityHeaders,
}

/// The client for the upstream's scheme: plain TCP, or TLS with the platform's roots.
#[derive(Debug)]
enum UpstreamClient {
    Http(Client<HttpConnector, SentBody>),
    Https(Client<hyper_rustls::HttpsConnector<HttpConnector>, SentBody>),
}

impl Proxy {
    /// The proxy to `upstream`, with its client (built once: connections are reused). Errors
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
        http.set_connect_timeout(Some(upstream.timeout()));
        http.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .http1_preserve_header_case(true)
            .http1_title_case_headers(false);
        let client = if upstream.is_https() {
            http.enforce_http(false);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .try_with_platform_verifier()
                .map_err(|e| {
                    ConfigError::invalid("url", format!("cannot set up TLS for https: {e}"))
                })?
                .https_only()
                .enable_http1()
                .wrap_connector(http);
            UpstreamClient::Https(builder.build(https))
        } else {
            UpstreamClient::Http(builder.build(http))
        };
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                scheme: if upstream.is_https() {
                    Scheme::HTTPS
                } else {
                    Scheme::HTTP
                },
                authority,
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
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.forward(req.map(Body::new)).await) })
    }
}

impl Inner {
    /// Forwards one request the layer let through and streams the answer back.
    async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let uri = match self.upstream_uri(&parts.uri) {
            Ok(uri) => uri,
            Err(()) => return bad_gateway("the request's path cannot be forwarded"),
        };
        let verified = parts.extensions.remove::<Verified>();
        let client_ip = parts.extensions.get::<ClientAddr>().map(|addr| addr.0.ip());
        let client_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            let authority = parts.uri.authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        remove_hop_by_hop(&mut parts.headers);
        set_forwarded(&mut parts.headers, &self.host, client_host, client_ip);
        self.identity.apply(&mut parts.headers, verified.as_ref());
        parts.uri = uri;
        parts.version = Version::HTTP_11;

        let sent = Arc::new(Notify::new());
        let request = Request::from_parts(parts, SentBody::new(body, Arc::clone(&sent)));
        let pending = match &self.client {
            UpstreamClient::Http(client) => client.request(request),
            UpstreamClient::Https(client) => client.request(request),
        };
        // `timeout` bounds the connection attempt (the connector's) and, from the moment the
        // whole request is sent, the wait for the response head (here).
        let timeout = self.timeout;
        let head_deadline = async move {
            sent.notified().await;
            tokio::time::sleep(timeout).await;
        };
        let result = tokio::select! {
            result = pending => result,
            () = head_deadline => {
                tracing::warn!(?timeout, "the upstream sent no response head in time");
                return gateway_timeout();
            }
        };
        match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                remove_cors(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Err(error) if timed_out(&error) => {
                tracing::warn!(error = %chain(&error), "the upstream did not accept the connection in time");
                gateway_timeout()
            }
            Err(error) => {
                tracing::warn!(error = %chain(&error), "the upstream failed");
                bad_gateway("the upstream refused the connection or failed mid-request")
            }
        }
    }

    /// `url` + the request's path and query.
    fn upstream_uri(&self, uri: &Uri) -> Result<Uri, ()> {
        let path_and_query = uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let path_and_query = if self.path_prefix.is_empty() {
            PathAndQuery::try_from(path_and_query)
        } else {
            PathAndQuery::try_from(format!("{}{path_and_query}", self.path_prefix))
        }
        .map_err(|_| ())?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ())
    }
}

/// Whether the error comes from a connection attempt that timed out.
fn timed_out(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The error and its causes, for the log.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
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
