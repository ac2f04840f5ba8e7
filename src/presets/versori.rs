//! Versori-style signing keys: the partner's server issues JWTs for its end users with its own
//! signing key, and the receiving API verifies them with the matching public key.
//!
//! Versori's embedded integration hub asks the partner to identify each end user with a
//! unique, immutable id (the same as in the partner's application; an email address is not
//! recommended) and to keep the signing key server-side only. The token names that end user
//! in `sub`, the partner in `iss`, and the receiving API in `aud`.

use std::time::Duration;

use serde::Deserialize;

use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;

use super::de;

/// The longest lifetime (`exp - iat`) the preset accepts: 1 hour.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The algorithms the preset accepts; the key decides which of them apply (an RSA key verifies
/// RS256, a P-256 key ES256, a P-384 key ES384, an Ed25519 key EdDSA).
pub(crate) const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// An issuer for tokens signed with a partner's fixed signing key, named `versori`.
///
/// - `public_key_pem`: the partner's public key, a `-----BEGIN PUBLIC KEY-----` block (RSA,
///   EC P-256/P-384 or Ed25519), checked when the layer is built;
/// - `iss` must equal `iss` (this also routes the partner's tokens to this issuer when the
///   layer serves other marketplaces) and `aud` must contain `aud`;
/// - `sub` and `exp` required, `exp - iat` at most 1 hour.
///
/// ```
/// use jwt_guard::{JwtGuard, presets};
///
/// # let pem = jwt_guard::testing::TestKey::ec("k", jwt_guard::Algorithm::ES256).public_key_pem().unwrap();
/// let guard = JwtGuard::builder()
///     .issuer(presets::versori(pem, "https://partner.example", "orders-api"))
///     .build()?;
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
pub fn versori(
    public_key_pem: impl Into<String>,
    iss: impl Into<String>,
    aud: impl Into<String>,
) -> Issuer {
    settings(Issuer::public_key_pem(public_key_pem))
        .issuer(iss)
        .audience(aud)
}

/// The preset's settings on an issuer that has its key source, less `iss` and `aud` (the config
/// file's `preset`, where `issuer` and `audiences` are required beside it).
pub(crate) fn settings(issuer: Issuer) -> Issuer {
    issuer
        .name("versori")
        .algorithms(ALGORITHMS)
        .required_claims(["sub", "exp"])
        .max_lifetime(MAX_LIFETIME)
}

/// The claims of a token issued with a partner's signing key.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersoriClaims {
    /// `sub`: the end user, as the partner identifies them.
    pub sub: String,
    /// `iss`: the partner.
    pub iss: String,
    /// `aud`: the audiences (a single string in the token becomes a list of one).
    #[serde(deserialize_with = "de::string_or_list")]
    pub aud: Vec<String>,
    /// `iat`: when the token was issued (Unix seconds), if it says.
    #[serde(default, deserialize_with = "de::optional_numeric_date")]
    pub iat: Option<u64>,
    /// `exp`: when it expires (Unix seconds).
    #[serde(deserialize_with = "de::numeric_date")]
    pub exp: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::TestKey;

    #[test]
    fn claims_deserialize() {
        let claims: VersoriClaims = serde_json::from_value(json!({
            "sub": "end-user-7", "iss": "https://partner.example", "aud": "orders-api",
            "iat": 1700000000, "exp": 1700000600
        }))
        .unwrap();
        assert_eq!(claims.aud, vec!["orders-api"]);
        assert_eq!(claims.iat, Some(1_700_000_000));
    }

    #[test]
    fn every_key_family_fits_the_preset() {
        for key in [
            TestKey::rsa("r", Algorithm::RS256),
            TestKey::ec("e", Algorithm::ES256),
            TestKey::ec("e", Algorithm::ES384),
        ] {
            let pem = key.public_key_pem().unwrap();
            let p = versori(pem, "https://partner.example", "api")
                .prepare("i".into())
                .unwrap();
            assert_eq!(p.iss.as_deref(), Some("https://partner.example"));
            assert_eq!(p.policy.audiences, vec!["api"]);
        }
        let err = versori("garbage", "i", "a")
            .prepare("i".into())
            .unwrap_err();
        assert_eq!(err.key(), Some("public_key_pem"));
    }
}
