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
//! The rejections match the layer's own responses: a handler that asks for an identity the
//! layer did not provide (no layer on that route, or [`optional_auth_layer`] and no token)
//! answers 401 with the layer's challenge; typed claims that do not deserialize answer 401
//! `invalid_token`.
//!
//! [`optional_auth_layer`]: crate::JwtGuard::optional_auth_layer

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

/// The rejection of the extractors: a 401 with the layer's challenge and JSON body.
#[derive(Debug)]
pub struct IdentityRejection {
    rejection: Rejection,
    responder: Option<Arc<Responder>>,
}

impl IdentityRejection {
    fn new(reason: Reason, parts: &Parts) -> Self {
        Self {
            rejection: Rejection::new(reason),
            responder: parts
                .extensions
                .get::<Anonymous>()
                .map(|a| Arc::clone(&a.0)),
        }
    }

    /// Why the extraction failed.
    #[must_use]
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        let response = match self.responder {
            Some(responder) => responder.response(self.rejection),
            None => match Responder::new("jwt-guard") {
                Ok(responder) => responder.response(self.rejection),
                Err(_) => http::Response::new(bytes::Bytes::new()),
            },
        };
        let (mut parts, body) = response.into_parts();
        if parts.status.is_success() {
            parts.status = http::StatusCode::UNAUTHORIZED;
        }
        Response::from_parts(parts, axum_core::body::Body::from(body))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| IdentityRejection::new(Reason::MissingToken, parts))
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
            return Err(IdentityRejection::new(Reason::MissingToken, parts));
        };
        verified
            .claims_as::<C>()
            .map(Claims)
            .map_err(|_| IdentityRejection::new(Reason::ClaimsShape, parts))
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
            .map_err(|_| IdentityRejection::new(Reason::ClaimsShape, parts))
    }
}
