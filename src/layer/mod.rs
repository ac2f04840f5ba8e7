//! The tower face, read top to bottom: the [`JwtGuardLayer`] handle (this file), the state every
//! clone shares (`shared`), the [`JwtGuardService`] that runs a request's flow (`service`), its
//! named [`ResponseFuture`] (`future`) and the [`GuardBody`] of every response (`body`).

use std::sync::Arc;

use tower_layer::Layer;

pub(crate) mod body;
pub(crate) mod future;
pub(crate) mod service;
pub(crate) mod shared;

pub use body::GuardBody;
pub use future::ResponseFuture;
pub use service::JwtGuardService;

use shared::{Mode, Shared};

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
