//! The layer: a cheap handle (one `Arc`) that wraps a service in [`JwtGuardService`].

use std::sync::Arc;

use tower_layer::Layer;

use crate::service::JwtGuardService;
use crate::shared::Shared;

/// What a layer does: CORS, authentication, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Answer preflights, refuse foreign origins, decorate responses.
    pub(crate) cors: bool,
    /// Verify tokens.
    pub(crate) auth: bool,
    /// A request without any token passes without identity (a bad token is still refused).
    pub(crate) optional: bool,
}

/// The tower [`Layer`] of a [`JwtGuard`](crate::JwtGuard). Cloning it is an `Arc` bump.
///
/// Made by [`JwtGuard::layer`](crate::JwtGuard::layer) (CORS and authentication),
/// [`JwtGuard::cors_layer`](crate::JwtGuard::cors_layer),
/// [`JwtGuard::auth_layer`](crate::JwtGuard::auth_layer) or
/// [`JwtGuard::optional_auth_layer`](crate::JwtGuard::optional_auth_layer).
#[derive(Clone, Debug)]
pub struct JwtGuardLayer {
    shared: Arc<Shared>,
    mode: Mode,
}

impl JwtGuardLayer {
    pub(crate) fn new(shared: Arc<Shared>, mode: Mode) -> Self {
        Self { shared, mode }
    }
}

impl<S> Layer<S> for JwtGuardLayer {
    type Service = JwtGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtGuardService::new(inner, Arc::clone(&self.shared), self.mode)
    }
}
