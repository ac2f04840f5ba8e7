//! Ready-made issuers for the marketplaces this crate serves, each with its typed claims, and
//! Blendr's signed query verifier.
//!
//! Every function returns an [`Issuer`](crate::Issuer) configured as the vendor's documents
//! describe; it is still a builder, so you can narrow it further (`.tenants([...])`,
//! `.origins([...])`, `.name(...)`). In an axum handler, take the claims of a verified request
//! with the `Claims<T>` extractor (feature `axum`) and the struct of its marketplace; elsewhere
//! use [`Verified::claims_as`](crate::Verified::claims_as):
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use jwt_guard::extract::Claims;
//! use jwt_guard::presets::AppDirectClaims;
//!
//! async fn me(Claims(claims): Claims<AppDirectClaims>) -> String {
//!     format!("{} of partner {}", claims.sub, claims.tenant)
//! }
//! # }
//! ```
//!
//! | marketplace | preset | key | token found in | claims |
//! | --- | --- | --- | --- | --- |
//! | AppDirect secure token | [`appdirect`] | JWKS, RS256/ES256 | `Authorization: Bearer` | [`AppDirectClaims`] |
//! | Pandium in-app marketplace | [`pandium`] | HS256 shared secret | `?tenant=` | [`PandiumClaims`] |
//! | Blendr.io SSO (JWT) | [`blendr`] | HS256 partner API key | `?jwt=` or the header | [`BlendrClaims`] |
//! | Blendr.io SSO (signed query) | [`BlendrSignedQuery`] | HMAC-SHA256 partner API key | the query string | [`BlendrQueryIdentity`] |
//! | Versori signing keys | [`versori`] | the partner's public key (PEM) | `Authorization: Bearer` | [`VersoriClaims`] |
//!
//! Where the token is taken from is a setting of the whole layer
//! ([`JwtGuardBuilder::token_sources`](crate::JwtGuardBuilder::token_sources)), since one layer
//! may serve several marketplaces:
//!
//! ```
//! use jwt_guard::{JwtGuard, TokenSource, presets};
//!
//! let guard = JwtGuard::builder()
//!     .issuer(presets::appdirect("https://marketplace.example/jwks").tenants(["PARTNER_ID"]))
//!     .issuer(presets::pandium("a-pandium-shared-secret-of-32-bytes+"))
//!     .issuer(presets::blendr("a-blendr-partner-api-key-of-32-bytes"))
//!     .token_sources([
//!         TokenSource::Header,
//!         TokenSource::Query("tenant".into()),
//!         TokenSource::Query("jwt".into()),
//!     ])
//!     .build()?;
//! # Ok::<(), jwt_guard::ConfigError>(())
//! ```
//!
//! Shared secrets are held to the lengths of RFC 7518 §3.2: at least 32 bytes for HS256. A
//! shorter secret or API key is a [`ConfigError`](crate::ConfigError) when the layer is built.

mod appdirect;
mod blendr;
mod de;
mod pandium;
mod versori;

pub use appdirect::{AppDirectClaims, appdirect};
pub use blendr::signed_query::{BlendrQueryIdentity, BlendrSignedQuery, BlendrSignedQueryBuilder};
pub use blendr::{BlendrClaims, blendr};
pub use de::Id;
pub use pandium::{PandiumClaims, PandiumTenant, pandium};
pub use versori::{VersoriClaims, versori};

/// The settings of each preset, applied to an issuer that has its key source (the config file).
#[cfg(feature = "config")]
pub(crate) mod settings {
    pub(crate) use super::appdirect::settings as appdirect;
    pub(crate) use super::blendr::settings as blendr;
    pub(crate) use super::pandium::settings as pandium;
    pub(crate) use super::versori::settings as versori;
}
