//! AppDirect's secure token system for platform extensions.
//!
//! The extension exchanges its AppDirect session for a short-lived JWT at the marketplace's
//! GraphQL endpoint and sends it to your API; your API verifies it with the public keys it
//! fetches from the marketplace. The documented payload:
//!
//! ```json
//! {
//!   "sub": "abf32c52-801c-4a40-8da0-82096fe455dd",
//!   "name": "user@example.com",
//!   "tenant": "PARTNER_ID",
//!   "iat": 1702416920,
//!   "exp": 1702417220
//! }
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;

use super::de;

/// The longest lifetime (`exp - iat`) the preset accepts: 10 minutes, twice the 5 minutes
/// AppDirect's tokens are documented to live.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(600);

/// An issuer for AppDirect secure tokens, named `appdirect`.
///
/// - keys from the marketplace's JWKS at `jwks_url`, RS256 or ES256 (the algorithm comes from
///   the key, never from the token);
/// - `sub`, `tenant`, `iat` and `exp` required; `exp - iat` at most 10 minutes (AppDirect
///   documents 5);
/// - the tenant is the `tenant` claim (your partner ID): add `.tenants(["PARTNER_ID"])` to
///   refuse every other partner's users with 403.
///
/// The tokens are sent by the extension's frontend from the marketplace's pages, with
/// credentials: configure [`Cors`](crate::Cors) with the marketplace origins and
/// `allow_credentials(true)`, as AppDirect asks, and bind the issuer to them with
/// `.origins([...])`.
///
/// ```
/// use jwt_guard::{Cors, JwtGuard, presets};
///
/// let marketplace = "https://marketplace.example";
/// let guard = JwtGuard::builder()
///     .issuer(
///         presets::appdirect("https://marketplace.example/jwks")
///             .tenants(["PARTNER_ID"])
///             .origins([marketplace]),
///     )
///     .cors(Cors::new().allow_origins([marketplace]).allow_credentials(true))
///     .build()?;
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
///
/// `build()` refuses a `jwks_url` that is not an `https` URL (or `http` to a loopback host),
/// naming `jwks_url`.
pub fn appdirect(jwks_url: impl AsRef<str>) -> Issuer {
    settings(Issuer::jwks(jwks_url))
}

/// The preset's settings on an issuer that has its key source (the config file's `preset`).
pub(crate) fn settings(issuer: Issuer) -> Issuer {
    issuer
        .name("appdirect")
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .required_claims(["sub", "tenant", "iat", "exp"])
        .tenant_claim("tenant")
        .max_lifetime(MAX_LIFETIME)
}

/// The claims of an AppDirect secure token, under AppDirect's own names: an axum handler takes
/// them with the `Claims<T>` extractor (feature `axum`), other code with
/// [`Verified::claims_as`](crate::Verified::claims_as).
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use jwt_guard::extract::Claims;
/// use jwt_guard::presets::AppDirectClaims;
///
/// async fn partner(Claims(claims): Claims<AppDirectClaims>) -> String {
///     claims.tenant
/// }
/// # }
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppDirectClaims {
    /// `sub`: the user's UUID.
    pub sub: String,
    /// `name`: the user's email address.
    #[serde(default)]
    pub name: Option<String>,
    /// `tenant`: the partner ID of the marketplace the user belongs to.
    pub tenant: String,
    /// `iat`: when the token was issued (Unix seconds).
    #[serde(deserialize_with = "de::numeric_date")]
    pub iat: u64,
    /// `exp`: when it expires (Unix seconds), 5 minutes after `iat`.
    #[serde(deserialize_with = "de::numeric_date")]
    pub exp: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_payload_deserializes() {
        let claims: AppDirectClaims = serde_json::from_value(json!({
            "sub": "abf32c52-801c-4a40-8da0-82096fe455dd",
            "name": "user@example.com",
            "tenant": "PARTNER_ID",
            "iat": 1702416920,
            "exp": 1702417220
        }))
        .unwrap();
        assert_eq!(claims.sub, "abf32c52-801c-4a40-8da0-82096fe455dd");
        assert_eq!(claims.name.as_deref(), Some("user@example.com"));
        assert_eq!(claims.tenant, "PARTNER_ID");
        assert_eq!(claims.exp - claims.iat, 300);
    }

    #[test]
    fn the_preset_requires_what_appdirect_sends() {
        let p = appdirect("https://marketplace.example/jwks")
            .prepare("i".into())
            .unwrap();
        assert_eq!(&*p.name, "appdirect");
        assert_eq!(p.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
        for claim in ["sub", "tenant", "iat", "exp"] {
            assert!(p.policy.required.iter().any(|c| c.is(claim)), "{claim}");
        }
        assert_eq!(p.policy.max_lifetime, Some(600.0));
        assert!(p.policy.tenant.is_some());
        assert_eq!(
            appdirect("http://marketplace.example/jwks")
                .prepare("i".into())
                .unwrap_err()
                .key(),
            Some("jwks_url")
        );
    }
}
