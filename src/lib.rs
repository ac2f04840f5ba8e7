#![doc = include_str!("../README.md")]
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

// Build time: the settings are checked once and become a guard.
mod builder; // JwtGuardBuilder: every setting checked, `build()` wires the parts
mod error; // ConfigError: a configuration mistake, naming its key
mod guard; // JwtGuard: layers, `verify`, `warm_up`, readiness
mod issuer; // Issuer: key source and claim rules; `prepare` checks them once

// Request time, in the order a request flows.
mod cors; // ① Origin and ② CORS: preflights answered before auth, foreign origins refused
mod identity; // Verified: the identity put into the request's extensions
mod keys; // algorithms and verifying keys, prepared once: PEM, secret or a fetched JWKS
mod layer; // the tower face: JwtGuardLayer → JwtGuardService::call → ResponseFuture → GuardBody
mod origin; // canonical origins, loopback hosts and fetchable URLs (a leaf)
mod reject;
mod strict_json; // serde_json with duplicate members refused and depth/entry limits
mod token; // ③ the token from its sources: bearer header, cookie, query parameter
mod verify; // ④ Engine: cache, compact JWS, issuer and key choice, claims, replay // Reason/Rejection (one table) and the RFC 6750 / gRPC response of a refusal

// Around the flow.
mod clock; // Clock, SystemClock, ManualClock: every date and TTL reads one
#[cfg(feature = "config")]
mod config;
mod metrics; // metric names; no-op without the `metrics` feature // TOML configuration → builder (feature `config`)

pub use builder::{DEFAULT_TOKEN_CACHE_BYTES, JwtGuardBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub use config::Config;
pub use cors::Cors;
pub use error::ConfigError;
pub use guard::{IssuerReadiness, JwtGuard};
pub use identity::Verified;
pub use issuer::Issuer;
pub use keys::algorithm::{Algorithm, UnknownAlgorithm};
pub use layer::{GuardBody, JwtGuardLayer, JwtGuardService, ResponseFuture};
pub use reject::response::RejectionBody;
pub use reject::{Reason, Rejection, RejectionKind};
pub use token::{InvalidTokenSource, MAX_TOKEN_LEN, TokenSource};
pub use verify::replay::{MemoryReplayStore, ReplayFuture, ReplayStore, ReplayVerdict};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;

pub mod presets;

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
