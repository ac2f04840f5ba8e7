//! axum extractors for the verified identity (feature `axum`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use jwt_guard::{Verified, extract::Claims};
//!
//! #[derive(serde::Deserialize)]
//! struct AppDirectClaims { sub: String, tenant: String }
//!
//! async fn plain(who: Verified) -> String { who.subject().unwrap_or_default().to_owned() }
//! async fn typed(Claims(c): Claims<AppDirectClaims>) -> String { format!("{} @ {}", c.sub, c.tenant) }
//! async fn optional(who: Option<Verified>) -> &'static str {
//!     if who.is_some() { "signed in" } else { "anonymous" }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/plain", get(plain))
//!     .route("/typed", get(typed))
//!     .route("/optional", get(optional));
//! ```
//!
//! The rejections match the layer's own responses: a handler that asks for an identity under
//! [`optional_auth_layer`] when the request had no token answers 401 `missing_token` with the
//! layer's challenge; typed claims that do not deserialize answer 401 `invalid_token` (reason
//! `claims_shape`).
//!
//! A route that no authenticating layer ran on (no layer at all, or only [`cors_layer`]) is a
//! wiring mistake, not the client's: the extractor answers **500** and logs an error (target
//! `jwt_guard::extract`) saying the layer is missing, as axum's own `Extension` does, rather
//! than a 401 that would send the page to fetch a token that can never help.
//!
//! [`optional_auth_layer`]: crate::JwtGuard::optional_auth_layer
//! [`cors_layer`]: crate::JwtGuard::cors_layer

use std::convert::Infallible;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::identity::Verified;
use crate::reject::response::Responder;
use crate::reject::{Reason, Rejection};

/// Put in the request by an optional layer that let a request without token through: the
/// challenge of a later rejection uses the layer's realm.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous(pub(crate) Arc<Responder>);

/// The verified claims as the caller's own serde type.
#[derive(Clone, Debug)]
pub struct Claims<C>(pub C);

/// The rejection of the extractors: a 401 with the layer's challenge and JSON body, or a 500
/// when no authenticating layer ran on the route.
#[derive(Debug)]
pub struct IdentityRejection {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// Refused as the layer would: its responder, and why.
    Refused {
        rejection: Rejection,
        responder: Arc<Responder>,
    },
    /// No authenticating layer ran on this route: a wiring mistake of the server.
    LayerMissing,
}

/// The body of the 500 answered when the layer is missing (nothing about the request in it).
const LAYER_MISSING_BODY: &str = "{\"error\":\"server_error\",\"error_description\":\"the authentication layer is not configured for this route\"}";

impl IdentityRejection {
    /// No identity in `parts`: a 401 `missing_token` when an optional layer ran and found no
    /// token (it leaves its marker), else the missing-layer 500.
    fn no_identity(parts: &Parts) -> Self {
        let inner = match parts.extensions.get::<Anonymous>() {
            Some(anonymous) => Inner::Refused {
                rejection: Rejection::new(Reason::MissingToken),
                responder: Arc::clone(&anonymous.0),
            },
            None => Inner::LayerMissing,
        };
        Self { inner }
    }

    /// The claims of a verified token do not fit the handler's type: 401 `claims_shape` (the
    /// layer ran, since there is an identity).
    fn claims_shape(parts: &Parts) -> Self {
        let responder = match parts.extensions.get::<Anonymous>() {
            Some(anonymous) => Arc::clone(&anonymous.0),
            None => match Responder::new("jwt-guard") {
                Ok(responder) => Arc::new(responder),
                Err(_) => {
                    return Self {
                        inner: Inner::LayerMissing,
                    };
                }
            },
        };
        Self {
            inner: Inner::Refused {
                rejection: Rejection::new(Reason::ClaimsShape),
                responder,
            },
        }
    }

    /// Why the extraction was refused: `None` when the layer is missing (a 500).
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match &self.inner {
            Inner::Refused { rejection, .. } => Some(rejection),
            Inner::LayerMissing => None,
        }
    }

    /// The reason of the refusal (its code is the JSON body's `reason`): `None` when the layer
    /// is missing (a 500).
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        self.rejection().map(Rejection::reason)
    }

    /// Whether no authenticating layer ran on the route: the extractor answers 500.
    #[must_use]
    pub fn is_layer_missing(&self) -> bool {
        matches!(self.inner, Inner::LayerMissing)
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        match self.inner {
            Inner::Refused {
                rejection,
                responder,
            } => {
                let (mut parts, body) = responder.response(rejection).into_parts();
                if parts.status.is_success() {
                    parts.status = http::StatusCode::UNAUTHORIZED;
                }
                Response::from_parts(parts, axum_core::body::Body::from(body))
            }
            Inner::LayerMissing => {
                tracing::error!(
                    target: "jwt_guard::extract",
                    "a handler asked for the verified identity (`Verified` or `Claims<T>`) on a route \
                     no jwt-guard authenticating layer ran on: add `guard.layer()`, \
                     `guard.auth_layer()` or `guard.optional_auth_layer()` to this route; \
                     answering 500"
                );
                let mut response = Response::new(axum_core::body::Body::from(LAYER_MISSING_BODY));
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| IdentityRejection::no_identity(parts))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Verified {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned,
{
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(verified) = parts.extensions.get::<Verified>() else {
            return Err(IdentityRejection::no_identity(parts));
        };
        verified
            .claims_as::<C>()
            .map(Claims)
            .map_err(|_| IdentityRejection::claims_shape(parts))
    }
}

impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned,
{
    type Rejection = IdentityRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(verified) = parts.extensions.get::<Verified>() else {
            return Ok(None);
        };
        verified
            .claims_as::<C>()
            .map(|c| Some(Claims(c)))
            .map_err(|_| IdentityRejection::claims_shape(parts))
    }
}
