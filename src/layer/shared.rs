//! The state every clone of the layer shares, built once by the builder, and the [`Mode`] of
//! each kind of layer.

use crate::cors::CorsPolicy;
use crate::reject::response::Responder;
use crate::token::TokenSource;
use crate::verify::Engine;

/// What every clone of the layer, and every request's future, reads: one `Arc` of it.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Token verification, with its cache.
    pub(crate) engine: Engine,
    /// The CORS policy (a disabled one when CORS is not configured).
    pub(crate) cors: CorsPolicy,
    /// The layer's refusal responses (shared with the axum extractors).
    pub(crate) responder: std::sync::Arc<Responder>,
    /// Where tokens are looked for, in order.
    pub(crate) sources: Vec<TokenSource>,
    /// Refusals to real gRPC requests are rendered as gRPC trailers-only responses
    /// ([`JwtGuardBuilder::grpc_rejections`](crate::JwtGuardBuilder::grpc_rejections)); off by
    /// default: a client's header never chooses the rendering.
    pub(crate) grpc: bool,
}

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

impl Mode {
    /// A response the layer answered completely (a preflight): nothing left to decorate.
    pub(crate) const DONE: Self = Self {
        cors: false,
        auth: false,
        optional: false,
    };
    /// [`JwtGuard::layer`](crate::JwtGuard::layer): CORS and authentication.
    pub(crate) const FULL: Self = Self {
        cors: true,
        auth: true,
        optional: false,
    };
    /// [`JwtGuard::cors_layer`](crate::JwtGuard::cors_layer): CORS only.
    pub(crate) const CORS: Self = Self {
        cors: true,
        auth: false,
        optional: false,
    };
    /// [`JwtGuard::auth_layer`](crate::JwtGuard::auth_layer): authentication only.
    pub(crate) const AUTH: Self = Self {
        cors: false,
        auth: true,
        optional: false,
    };
    /// [`JwtGuard::optional_auth_layer`](crate::JwtGuard::optional_auth_layer).
    pub(crate) const OPTIONAL_AUTH: Self = Self {
        cors: false,
        auth: true,
        optional: true,
    };
}
