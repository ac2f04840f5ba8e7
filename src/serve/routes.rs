//! What a request meets in proxy mode, without a router on the way to the upstream:
//! [`ProxyRoutes`] answers `GET`/`HEAD` on the status routes locally (under the CORS layer) and
//! sends everything else to the upstream: a public path under the CORS and optional
//! authentication layers, any other path under the full layer (CORS and authentication in one
//! pass); [`App`] is the service a connection calls, in either mode.
//!
//! Every future and body here is a named enum: a forwarded request allocates no box of its own
//! on its way through (the proxy's one future aside).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response};
use bytes::Bytes;
use http_body_util::Either;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::proxy::{Proxy, ProxyBody};
use super::public::is_public;
use crate::layer::{GuardBody, JwtGuardService, ResponseFuture};

/// The body of a proxy-mode response: a status route's (under the CORS layer), or the proxy's
/// under the full layer (a private path) or under two (a public path).
pub(super) type RoutesBody =
    Either<GuardBody<Body>, Either<GuardBody<ProxyBody>, GuardBody<GuardBody<ProxyBody>>>>;

/// Proxy mode: the status routes (`GET`/`HEAD` on `/healthz`, `/readyz` and, with
/// `metrics = true`, `/metrics`) locally, every other request to the upstream. Every response
/// carries the CORS headers, and every preflight is answered, whatever the path.
#[derive(Clone, Debug)]
pub(super) struct ProxyRoutes {
    /// The status routes under the CORS layer, and their paths.
    local: JwtGuardService<Router>,
    local_paths: &'static [&'static str],
    /// Under the full layer.
    private: JwtGuardService<Proxy>,
    /// Under the CORS and the optional authentication layers.
    public: JwtGuardService<JwtGuardService<Proxy>>,
    public_paths: Arc<[String]>,
}

impl ProxyRoutes {
    /// `local` serves `GET` and `HEAD` on `local_paths`, under the CORS layer.
    pub(super) fn new(
        local: JwtGuardService<Router>,
        local_paths: &'static [&'static str],
        private: JwtGuardService<Proxy>,
        public: JwtGuardService<JwtGuardService<Proxy>>,
        public_paths: &[String],
    ) -> Self {
        Self {
            local,
            local_paths,
            private,
            public,
            public_paths: public_paths.into(),
        }
    }

    /// Whether the request is for a status route (compared as received, as axum's router does).
    fn is_local<B>(&self, req: &Request<B>) -> bool {
        (req.method() == Method::GET || req.method() == Method::HEAD)
            && self.local_paths.contains(&req.uri().path())
    }
}

impl<B> Service<Request<B>> for ProxyRoutes
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<RoutesBody>;
    type Error = Infallible;
    type Future = RoutesFuture<B>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.route(req)
    }
}

impl ProxyRoutes {
    /// Routes `req`, cloning only the service it goes to (a connection's requests share one
    /// `ProxyRoutes`; cloning it whole is a dozen reference counts per request).
    pub(super) fn route<B>(&self, req: Request<B>) -> RoutesFuture<B>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // The layers and the proxy are always ready (the pool opens a connection when none is
        // idle): no `poll_ready` to drive.
        if self.is_local(&req) {
            RoutesFuture::Local {
                future: self.local.clone().call(req.map(Body::new)),
            }
        } else if is_public(req.uri().path(), &self.public_paths) {
            RoutesFuture::Public {
                future: self.public.clone().call(req),
            }
        } else {
            RoutesFuture::Private {
                future: self.private.clone().call(req),
            }
        }
    }
}

pin_project! {
    /// The future of [`ProxyRoutes`].
    #[project = RoutesProj]
    pub(super) enum RoutesFuture<B>
    where
        B: http_body::Body<Data = Bytes>,
        B: Send,
        B: 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Local { #[pin] future: ResponseFuture<Router, Body> },
        Private { #[pin] future: ResponseFuture<Proxy, B> },
        Public { #[pin] future: ResponseFuture<JwtGuardService<Proxy>, B> },
    }
}

impl<B> Future for RoutesFuture<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<RoutesBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RoutesProj::Local { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            RoutesProj::Private { future } => future.poll(cx).map(|result| {
                result.map(|response| response.map(|body| Either::Right(Either::Left(body))))
            }),
            RoutesProj::Public { future } => future.poll(cx).map(|result| {
                result.map(|response| response.map(|body| Either::Right(Either::Right(body))))
            }),
        }
    }
}

/// The service a connection calls: the router of the contract's own routes, or proxy mode.
#[derive(Clone, Debug)]
pub(super) enum App {
    Local(Router),
    Proxy(ProxyRoutes),
}

/// The body of any response of [`App`].
pub(super) type AppBody = Either<Body, RoutesBody>;

impl App {
    /// Calls the service (both are always ready).
    pub(super) fn call(&self, req: Request<hyper::body::Incoming>) -> AppFuture {
        match self {
            Self::Local(router) => AppFuture::Local {
                future: router.clone().call(req),
            },
            Self::Proxy(routes) => AppFuture::Proxy {
                future: routes.route(req),
            },
        }
    }
}

pin_project! {
    /// The future of [`App::call`].
    #[project = AppProj]
    pub(super) enum AppFuture {
        Local { #[pin] future: axum::routing::future::RouteFuture<Infallible> },
        Proxy { #[pin] future: RoutesFuture<hyper::body::Incoming> },
    }
}

impl Future for AppFuture {
    type Output = Result<Response<AppBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AppProj::Local { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            AppProj::Proxy { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Right))),
        }
    }
}
