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

use crate::check::ClaimCheck;
use crate::identity::Verified;

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
    checks: Arc<[ClaimCheck]>,
}

impl JwtGuardLayer {
    pub(crate) fn new(shared: Arc<Shared>, mode: Mode) -> Self {
        Self {
            shared,
            mode,
            checks: Arc::from([]),
        }
    }

    /// Adds a claim check to this layer only (e.g. `guard.auth_layer().check(...)` on the
    /// admin routes): after the token is verified (by the issuer's own checks too), `check`
    /// sees the identity, and `false` refuses the request with 403 `insufficient_scope`
    /// (reason `claim_check_failed`). Several checks must all pass. The check runs on every
    /// request, cached tokens included; a request that an optional layer lets through without
    /// a token is not checked (it has no identity). On a [`cors_layer`](crate::JwtGuard::cors_layer),
    /// which verifies nothing, it never runs.
    ///
    /// ```
    /// # #[cfg(feature = "axum")] {
    /// use axum::{Router, routing::get};
    /// use jwt_guard::{Issuer, JwtGuard};
    ///
    /// let guard = JwtGuard::builder()
    ///     .issuer(Issuer::secret("a-shared-secret-of-at-least-32-bytes"))
    ///     .build()?;
    /// let admin = guard
    ///     .auth_layer()
    ///     .check(|who| who.claim("role").is_some_and(|r| r == "admin"));
    /// let app: Router = Router::new()
    ///     .route("/admin", get(|| async { "hello, admin" }))
    ///     .route_layer(admin)
    ///     .route("/public", get(|| async { "hello" }))
    ///     .layer(guard.cors_layer());
    /// # }
    /// # Ok::<(), jwt_guard::ConfigError>(())
    /// ```
    #[must_use]
    pub fn check(self, check: impl Fn(&Verified) -> bool + Send + Sync + 'static) -> Self {
        let mut checks = self.checks.to_vec();
        checks.push(ClaimCheck::new(check));
        Self {
            checks: checks.into(),
            ..self
        }
    }
}

impl<S> Layer<S> for JwtGuardLayer {
    type Service = JwtGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtGuardService::new(
            inner,
            Arc::clone(&self.shared),
            self.mode,
            Arc::clone(&self.checks),
        )
    }
}
