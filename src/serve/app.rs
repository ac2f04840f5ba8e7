//! [`Server`]: built once from a [`Config`]: the guard, the routes of the contract, and the
//! proxy in front of the upstream (`[upstream]`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Response;
use axum::routing::{MethodRouter, any, get};
use serde_json::json;
use tower_layer::Layer;
use tower_service::Service;

use super::proxy::Proxy;
use super::public::is_public;
use super::respond::json_response;
use super::status::{self, Metrics};
use crate::config::Config;
use crate::error::ConfigError;
use crate::guard::JwtGuard;
use crate::identity::Verified;
use crate::layer::JwtGuardService;

/// A configured server: the guard, its routes and, in proxy mode, the upstream's client.
///
/// Built once by [`from_config`](Self::from_config); [`serve`](Self::serve) runs it on a
/// listener, and [`router`](Self::router) gives the routes for a server of your own.
#[derive(Clone, Debug)]
pub struct Server {
    listen: SocketAddr,
    guard: JwtGuard,
    router: Router,
    proxy: bool,
}

impl Server {
    /// Builds the guard, the routes and (with `[upstream]`) the upstream's client, and with
    /// `metrics = true` installs the Prometheus recorder.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key at fault.
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        let listen = config.listen();
        let metrics = config.metrics().then(Metrics::install);
        let upstream = config.upstream().cloned();
        let guard = config.build()?;
        let router = match &upstream {
            None => local_router(&guard, metrics),
            Some(upstream) => {
                let proxy = Proxy::new(upstream).map_err(|e| e.within("upstream"))?;
                proxy_router(&guard, metrics, proxy, upstream.public_paths())
            }
        };
        Ok(Self {
            listen,
            guard,
            router,
            proxy: upstream.is_some(),
        })
    }

    /// The `listen` address of the configuration.
    #[must_use]
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The guard (for its [`readiness`](JwtGuard::readiness) or its
    /// [`warm_up`](JwtGuard::warm_up)).
    #[must_use]
    pub fn guard(&self) -> &JwtGuard {
        &self.guard
    }

    /// Whether `[upstream]` made this server a proxy.
    #[must_use]
    pub fn is_proxy(&self) -> bool {
        self.proxy
    }

    /// The routes, CORS layer included. In proxy mode, a request forwarded from a server of your
    /// own gets `X-Forwarded-For` only when [`serve`](Self::serve) runs it.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// Without `[upstream]`: the contract's own routes. CORS on the whole router (fallback
/// included), authentication on `/whoami` and `/echo` only, outside axum's 405 so that a wrong
/// method on `/whoami` needs a token first.
fn local_router(guard: &JwtGuard, metrics: Option<Metrics>) -> Router {
    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route("/echo", any(echo))
        .route_layer(guard.auth_layer());
    status_routes(Router::new(), guard, metrics)
        .merge(protected)
        .layer(guard.cors_layer())
}

/// With `[upstream]`: `GET`/`HEAD` on the status routes are answered here; everything else
/// (other methods on those paths included) goes through the layer to the upstream.
fn proxy_router(
    guard: &JwtGuard,
    metrics: Option<Metrics>,
    proxy: Proxy,
    public_paths: &[String],
) -> Router {
    let forward = Forward {
        private: Arc::new(guard.auth_layer().layer(proxy.clone())),
        public: Arc::new(guard.optional_auth_layer().layer(proxy)),
        public_paths: public_paths.into(),
    };
    let healthz = get(healthz).fallback_service(forward.clone());
    let readyz = get(status::readyz).with_state(guard.clone());
    let mut router = Router::new()
        .route("/healthz", healthz)
        .route("/readyz", readyz.fallback_service(forward.clone()));
    if let Some(metrics) = metrics {
        let route: MethodRouter = get(status::metrics).with_state(metrics);
        router = router.route("/metrics", route.fallback_service(forward.clone()));
    }
    router.fallback_service(forward).layer(guard.cors_layer())
}

/// `/healthz`, `/readyz` and (with `metrics = true`) `/metrics`, answered locally.
fn status_routes(router: Router, guard: &JwtGuard, metrics: Option<Metrics>) -> Router {
    let router = router
        .route("/healthz", get(healthz))
        .route("/readyz", get(status::readyz).with_state(guard.clone()));
    match metrics {
        Some(metrics) => router.route("/metrics", get(status::metrics).with_state(metrics)),
        None => router,
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn whoami(
    axum::extract::Extension(who): axum::extract::Extension<Verified>,
) -> Response<Body> {
    json_response(&json!({
        "issuer": who.issuer_name(),
        "sub": who.subject(),
        "tenant": who.tenant(),
        "claims": who.claims(),
    }))
}

async fn echo(req: Request) -> Response<Body> {
    json_response(&json!({ "method": req.method().as_str() }))
}

/// What the router does with a request for the upstream: a public path through the optional
/// authentication layer, any other through the required one; then the proxy.
#[derive(Clone)]
struct Forward {
    private: Arc<JwtGuardService<Proxy>>,
    public: Arc<JwtGuardService<Proxy>>,
    public_paths: Arc<[String]>,
}

impl Service<Request> for Forward {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let service = if is_public(req.uri().path(), &self.public_paths) {
            &self.public
        } else {
            &self.private
        };
        // The proxy is always ready (its client queues for a pooled connection), and so is the
        // layer around it: no `poll_ready` to drive.
        let future = JwtGuardService::clone(service).call(req);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(Body::new))
        })
    }
}
