//! [`Server`]: built once from a [`Config`]: the guard, the routes of the contract, and the
//! proxy in front of the upstream (`[upstream]`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Response;
use axum::routing::{any, get};
use serde_json::json;
use tower_layer::Layer;

use super::proxy::Proxy;
use super::respond::json_response;
use super::routes::{App, ProxyRoutes};
use super::status::{self, Metrics};
use crate::config::Config;
use crate::error::ConfigError;
use crate::guard::JwtGuard;
use crate::identity::Verified;

/// A configured server: the guard, its routes and, in proxy mode, the upstream's client.
///
/// Built once by [`from_config`](Self::from_config); [`serve`](Self::serve) runs it on a
/// listener, and [`router`](Self::router) gives the routes for a server of your own.
#[derive(Clone, Debug)]
pub struct Server {
    listen: SocketAddr,
    guard: JwtGuard,
    app: App,
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
        let app = match &upstream {
            None => App::Local(local_router(&guard, metrics)),
            Some(upstream) => {
                let proxy = Proxy::new(upstream).map_err(|e| e.within("upstream"))?;
                App::Proxy(proxy_routes(
                    &guard,
                    metrics,
                    proxy,
                    upstream.public_paths(),
                ))
            }
        };
        Ok(Self { listen, guard, app })
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
        matches!(self.app, App::Proxy(_))
    }

    /// The routes, CORS layer included. In proxy mode, a request forwarded from a server of your
    /// own gets `X-Forwarded-For` only when [`serve`](Self::serve) runs it.
    pub fn router(&self) -> Router {
        match &self.app {
            App::Local(router) => router.clone(),
            App::Proxy(service) => Router::new().fallback_service(service.clone()),
        }
    }

    /// What [`serve`](Self::serve) calls for each request.
    pub(super) fn app(&self) -> &App {
        &self.app
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
        .0
        .merge(protected)
        .layer(guard.cors_layer())
}

/// With `[upstream]`: `GET`/`HEAD` on the status routes are answered here; everything else
/// (other methods on those paths included) goes through the layer to the upstream.
fn proxy_routes(
    guard: &JwtGuard,
    metrics: Option<Metrics>,
    proxy: Proxy,
    public_paths: &[String],
) -> ProxyRoutes {
    let (status, status_paths) = status_routes(Router::new(), guard, metrics);
    let local = guard.cors_layer().layer(status);
    let public = guard
        .cors_layer()
        .layer(guard.optional_auth_layer().layer(proxy.clone()));
    ProxyRoutes::new(
        local,
        status_paths,
        guard.layer().layer(proxy),
        public,
        public_paths,
    )
}

/// The status routes' paths: with `metrics = true`, all three; without, the first two.
const STATUS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// `/healthz`, `/readyz` and (with `metrics = true`) `/metrics`, answered locally; and the
/// paths it serves (what proxy mode keeps from the upstream).
fn status_routes(
    router: Router,
    guard: &JwtGuard,
    metrics: Option<Metrics>,
) -> (Router, &'static [&'static str]) {
    let [healthz_path, readyz_path, metrics_path] = STATUS_PATHS;
    let router = router
        .route(healthz_path, get(healthz))
        .route(readyz_path, get(status::readyz).with_state(guard.clone()));
    match metrics {
        Some(metrics) => (
            router.route(metrics_path, get(status::metrics).with_state(metrics)),
            &STATUS_PATHS,
        ),
        None => (router, STATUS_PATHS.split_at(2).0),
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
