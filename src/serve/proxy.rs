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
use serde_json::json;
use tower_service::Service;

use super::body::SentBody;
use super::headers::{IdentityHeaders, remove_cors, remove_hop_by_hop, set_forwarded};
use super::pool::{Connector, Pool, PooledBody, SendError};
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
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.forward(req).await) })
    }
}

impl Inner {
    /// Forwards one request the layer let through and streams the answer back.
    async fn forward<B>(&self, req: Request<B>) -> Response<ProxyBody>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (mut parts, body) = req.into_parts();
        let Some(uri) = self.upstream_uri(&parts.uri) else {
            return bad_gateway("the request's path cannot be forwarded").map(Either::Right);
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
        let pending = self.pool.send(Request::from_parts(parts, body));
        // `timeout` bounds the connection (TCP, TLS, handshake: the pool's) and, from the
        // moment the whole request is sent, the wait for the response head (here).
        let timeout = self.timeout;
        let head_deadline = async move {
            if let Some(sent) = sent {
                sent.notified().await;
            }
            tokio::time::sleep(timeout).await;
        };
        let result = tokio::select! {
            biased;
            result = pending => result,
            () = head_deadline => {
                tracing::warn!(?timeout, "the upstream sent no response head in time");
                return gateway_timeout().map(Either::Right);
            }
        };
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
