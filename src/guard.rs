//! The product: a configured [`JwtGuard`], from which layers are made and tokens verified
//! directly; and the readiness it reports.

use std::sync::Arc;

use crate::identity::Verified;
use crate::layer::JwtGuardLayer;
use crate::layer::shared::{Mode, Shared};
use crate::reject::Rejection;

/// A configured guard: make layers from it, or verify tokens directly. Cloning is an `Arc` bump.
#[derive(Clone, Debug)]
pub struct JwtGuard {
    shared: Arc<Shared>,
}

impl JwtGuard {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The engine, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn engine(&self) -> &crate::verify::Engine {
        &self.shared.engine
    }

    /// The layer for a whole router: answers CORS and requires a valid token on every request.
    #[must_use]
    pub fn layer(&self) -> JwtGuardLayer {
        JwtGuardLayer::new(Arc::clone(&self.shared), Mode::FULL)
    }

    /// CORS only: preflights, the `Origin` policy and CORS headers on every response. Put it on
    /// the whole router, and [`auth_layer`](Self::auth_layer) on the routes that need a token.
    ///
    /// A request from an origin that is not allowed is refused with 403 on every route by
    /// default — unlike tower-http's `CorsLayer`, which serves it without CORS headers. To get
    /// that behaviour on public routes, choose
    /// [`ForeignOrigin::OmitCorsHeaders`](crate::ForeignOrigin::OmitCorsHeaders) with
    /// [`Cors::foreign_origins`](crate::Cors::foreign_origins): routes under this layer alone
    /// then answer without CORS headers (the browser keeps the answer from the page), while
    /// [`auth_layer`](Self::auth_layer) and [`layer`](Self::layer) still refuse the request.
    #[must_use]
    pub fn cors_layer(&self) -> JwtGuardLayer {
        JwtGuardLayer::new(Arc::clone(&self.shared), Mode::CORS)
    }

    /// Authentication only (for axum's `route_layer`), under a [`cors_layer`](Self::cors_layer).
    #[must_use]
    pub fn auth_layer(&self) -> JwtGuardLayer {
        JwtGuardLayer::new(Arc::clone(&self.shared), Mode::AUTH)
    }

    /// Optional authentication: a request without any token passes without identity, one with
    /// a bad token is still refused.
    #[must_use]
    pub fn optional_auth_layer(&self) -> JwtGuardLayer {
        JwtGuardLayer::new(Arc::clone(&self.shared), Mode::OPTIONAL_AUTH)
    }

    /// Verifies a token outside of a request (no origin bindings apply).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] the layer would answer with.
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        if token.len() > crate::token::MAX_TOKEN_LEN {
            return Err(crate::reject::Reason::TokenTooLarge.into());
        }
        let engine = &self.shared.engine;
        match engine.verify_cached(token.as_bytes(), None) {
            Some(result) => result,
            None => engine.verify(token, None).await,
        }
    }

    /// Fetches every JWKS now (where no fetch is in flight and the cooldown allows) and waits
    /// for them. `true` when every issuer has usable keys. Call it at start to fail fast.
    pub async fn warm_up(&self) -> bool {
        let mut ready = true;
        for authority in &self.shared.engine.authorities {
            if let Some(remote) = &authority.remote {
                ready &= remote.refresh().await;
            }
        }
        ready
    }

    /// Readiness: for each issuer, its name and whether it has usable keys now. The replay
    /// store, which can be down on its own (a shared Redis), is asked by
    /// [`replay_store_ready`](Self::replay_store_ready): a `/readyz` wants both.
    #[must_use]
    pub fn readiness(&self) -> Vec<IssuerReadiness> {
        self.shared
            .engine
            .authorities
            .iter()
            .map(|a| {
                let status = a.remote.as_ref().map(|r| r.status());
                IssuerReadiness {
                    issuer: a.issuer.name.to_string(),
                    keys: match status {
                        None => Some(1),
                        Some(s) => s.map(|s| s.keys),
                    },
                    expired: status.flatten().is_some_and(|s| s.expired),
                    age: status.flatten().map(|s| s.age),
                }
            })
            .collect()
    }
}

impl JwtGuard {
    /// Whether the replay store answers now: a shared store (a
    /// `RedisReplayStore`, feature `redis`) pings its server, within its own timeout;
    /// the in-memory store always answers. `true` without asking when no issuer rejects
    /// replays, since then no request needs the store.
    pub async fn replay_store_ready(&self) -> bool {
        let engine = &self.shared.engine;
        if !engine.authorities.iter().any(|a| a.issuer.replay) {
            return true;
        }
        engine.replay.ready().await
    }
}

/// The state of one issuer's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerReadiness {
    /// The issuer's name.
    pub issuer: String,
    /// How many usable keys it has now (`None`: none, e.g. before the first fetch).
    pub keys: Option<usize>,
    /// Whether the key set is past its TTL (a refresh is due or failing).
    pub expired: bool,
    /// How long ago the key set was fetched (or confirmed unchanged); `None` for fixed keys
    /// and before the first fetch.
    pub age: Option<std::time::Duration>,
}
