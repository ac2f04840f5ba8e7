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

// The modules in the order a request flows through them.
mod body;
mod builder;
mod cache;
mod claims;
mod cors;
mod future;
mod identity;
mod json;
mod jwks;
mod jws;
mod key;
mod layer;
mod metrics;
mod reject;
mod replay;
mod service;
mod shared;
mod token;
mod verify;

mod algorithm;
mod clock;
mod config;
mod error;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use body::GuardBody;
pub use builder::{DEFAULT_TOKEN_CACHE_BYTES, IssuerReadiness, JwtGuard, JwtGuardBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use cors::Cors;
pub use error::{ConfigError, Reason, Rejection, RejectionKind};
pub use future::ResponseFuture;
pub use identity::Verified;
pub use issuer::Issuer;
pub use layer::JwtGuardLayer;
pub use reject::RejectionBody;
pub use replay::{MemoryReplayStore, ReplayFuture, ReplayStore, ReplayVerdict};
pub use service::JwtGuardService;
pub use token::{InvalidTokenSource, MAX_TOKEN_LEN, TokenSource};

mod issuer;

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
