//! A tower layer that verifies marketplace-extension JWTs (JWKS, PEM or shared secret) and
//! answers CORS, for axum and hyper.
//!
//! Build a [`JwtGuard`] once with [`JwtGuard::builder`]: one or more [`Issuer`]s (or the
//! ready-made [`presets`]), where tokens are found ([`TokenSource`]) and [`Cors`]. Every mistake
//! in the configuration is a [`ConfigError`] from `build()`, naming its key. Then put
//! [`JwtGuard::layer`] (or `cors_layer` / `auth_layer` / `optional_auth_layer`) on a router: a
//! request it lets through carries a [`Verified`] identity in its extensions (with the `axum`
//! feature, also the [`extract`] extractors); every refusal is a response with a stable
//! [`Reason`] code in its JSON body.
//!
//! ```
//! use jwt_guard::{Cors, Issuer, JwtGuard, presets};
//!
//! let marketplace = "https://marketplace.example";
//! let guard = JwtGuard::builder()
//!     .issuer(
//!         presets::appdirect("https://marketplace.example/jwks")
//!             .tenants(["PARTNER_ID"])
//!             .origins([marketplace]),
//!     )
//!     .issuer(Issuer::secret("a-shared-secret-of-at-least-32-bytes").name("internal"))
//!     .cors(Cors::new().allow_origins([marketplace]).allow_credentials(true))
//!     .build()?;
//! let layer = guard.layer(); // Router::new().route(...).layer(layer)
//! # let _ = layer;
//! # Ok::<(), jwt_guard::ConfigError>(())
//! ```
//!
//! The README (in the repository and on crates.io) is the guide: every marketplace, the reason
//! codes and how a page should react to each, what a page can and cannot read, configuration,
//! testing your handlers, and the security defaults; the [`threat_model`] says what an
//! attacker controls and what the layer promises.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

// The modules, in the order a request meets them: built once, then the tower face, then each
// stage of a request's flow, then what serves every stage.

/// `JwtGuardBuilder`: every setting checked once; `build()` wires the parts.
mod builder;
/// `Issuer`: a key source and the claim rules; prepared and cross-checked once at build.
mod issuer;
/// `JwtGuard`: makes the layers, verifies tokens directly, reports readiness.
mod guard;
/// The tower face: `JwtGuardLayer` → `JwtGuardService::call` → `ResponseFuture` → `GuardBody`.
mod layer;
/// ① the `Origin` and ② CORS: preflights answered before auth, foreign origins refused.
mod cors;
/// Canonical origins, loopback hosts and the URLs the layer may fetch (a leaf).
mod origin;
/// ③ the token, from its sources: bearer header, cookie or query parameter.
mod token;
/// ④ `Engine`: token cache, compact JWS, issuer and key choice, claims, replay.
mod verify;
/// serde_json with duplicate members refused and depth and entry limits.
mod strict_json;
/// Algorithms and verifying keys, prepared once: PEM, shared secret or a fetched JWKS.
mod keys;
/// `Verified`: the identity put into the request's extensions.
mod identity;
/// Claim checks: caller closures over the verified identity (per issuer or per layer).
mod check;
/// Why a request is refused (one table) and the RFC 6750 or gRPC response it gets.
mod reject;
/// `ConfigError`: a configuration mistake, naming its key.
mod error;
/// `Clock`: every date, TTL and cooldown reads one (a `ManualClock` in tests).
mod clock;
/// Metric names; no-ops without the `metrics` feature.
mod metrics;
/// Poison-tolerant lock helpers.
mod sync;
/// The TOML configuration file, mapped onto the builder (feature `config`).
#[cfg(feature = "config")]
mod config;

pub use builder::{DEFAULT_TOKEN_CACHE_BYTES, JwtGuardBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub use config::{Config, DEFAULT_IDENTITY_HEADER_PREFIX, DEFAULT_UPSTREAM_TIMEOUT, Upstream};
pub use cors::{Cors, CorsName, ForeignOrigin};
pub use error::ConfigError;
pub use guard::{IssuerReadiness, JwtGuard};
pub use identity::Verified;
pub use issuer::Issuer;
pub use keys::algorithm::{Algorithm, UnknownAlgorithm};
pub use layer::{GuardBody, JwtGuardLayer, JwtGuardService, ResponseFuture};
pub use reject::response::RejectionBody;
pub use reject::{Reason, Rejection, RejectionKind};
pub use token::{InvalidTokenSource, MAX_TOKEN_LEN, TokenSource};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use verify::redis::{RedisReplayStore, RedisReplayStoreBuilder};
pub use verify::replay::{
    MemoryReplayStore, ReadyFuture, ReplayFuture, ReplayStore, ReplayVerdict,
};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;

pub mod presets;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod serve;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[doc = include_str!("threat_model.md")]
pub mod threat_model {}

/// Entry points for the fuzz targets in `fuzz/`; compiled only with `--cfg fuzzing`.
#[cfg(fuzzing)]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;
