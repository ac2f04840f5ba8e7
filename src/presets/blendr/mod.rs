//! Blendr.io SSO for SaaS partners, JWT flavour.
//!
//! The partner builds a JWT with its SaaS Partner API key as the HS256 shared secret and puts
//! every SSO parameter in the payload, e.g. (Blendr's example):
//!
//! ```json
//! {
//!   "accountid": 123,
//!   "accountname": "ACME",
//!   "iat": 1565706663,
//!   "api_key": "abcde12345"
//! }
//! ```
//!
//! then sends it as `?jwt=<token>` (or in a POST body). Blendr's other scheme, the signed query
//! string, is [`BlendrSignedQuery`](super::BlendrSignedQuery).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;

use super::de::{self, Id};

pub(crate) mod signed_query;

/// How old a Blendr JWT may be: 5 minutes (plus the leeway of 30 s). Blendr's tokens carry
/// `iat` and no `exp`.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(300);

/// An issuer for Blendr.io SSO JWTs, named `blendr`.
///
/// - HS256 with the SaaS Partner API key (at least 32 bytes);
/// - `accountid` (a number or a string) and `iat` required; no `exp`: `iat` at most 5 minutes
///   old instead;
/// - the tenant is `accountid` ([`Verified::tenant`](crate::Verified::tenant) gives it in
///   decimal when it is a number): add `.tenants([...])` to allow only some accounts.
///
/// Blendr's JWT has no `jti`, so a token can be presented again until it is 5 minutes old;
/// shorten that with `.max_age(...)` if your flow allows.
///
/// ```
/// use jwt_guard::{JwtGuard, TokenSource, presets};
///
/// # let api_key = "a-blendr-partner-api-key-of-32-bytes";
/// let guard = JwtGuard::builder()
///     .issuer(presets::blendr(api_key))
///     .token_sources([TokenSource::Query("jwt".into()), TokenSource::Header])
///     .build()?;
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
pub fn blendr(api_key: impl AsRef<[u8]>) -> Issuer {
    settings(Issuer::secret(api_key))
}

/// The preset's settings on an issuer that has its key source (the config file's `preset`).
pub(crate) fn settings(issuer: Issuer) -> Issuer {
    issuer
        .name("blendr")
        .algorithms([Algorithm::HS256])
        .required_claims(["accountid", "iat"])
        .tenant_claim("accountid")
        .max_age(MAX_AGE)
}

/// The claims of a Blendr.io SSO JWT, under Blendr's own names.
///
/// Credentials for your API (Blendr's example sends `api_key`; the names are those Blendr shows
/// when a user connects manually) are read with [`Verified::claim`](crate::Verified::claim);
/// `api_key` has its own field. `Debug` never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlendrClaims {
    /// `accountid`: your unique identifier of the account (company), a number or a string.
    pub accountid: Id,
    /// `accountname`: the account's name (optional).
    #[serde(default)]
    pub accountname: Option<String>,
    /// `userid`: your unique identifier of the user within the account (optional).
    #[serde(default)]
    pub userid: Option<Id>,
    /// `username`: the user's name (optional).
    #[serde(default)]
    pub username: Option<String>,
    /// `useremail`: the user's email address (optional).
    #[serde(default)]
    pub useremail: Option<String>,
    /// `iat`: when the token was issued (Unix seconds).
    #[serde(deserialize_with = "de::numeric_date")]
    pub iat: u64,
    /// `api_key`: the account's credential for your API, as in Blendr's example (optional).
    #[serde(default)]
    pub api_key: Option<String>,
}

impl fmt::Debug for BlendrClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlendrClaims")
            .field("accountid", &self.accountid)
            .field("accountname", &self.accountname)
            .field("userid", &self.userid)
            .field("username", &self.username)
            .field("useremail", &self.useremail)
            .field("iat", &self.iat)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_payload_deserializes() {
        let claims: BlendrClaims = serde_json::from_value(json!({
          "accountid": 123,
          "accountname": "ACME",
          "iat": 1565706663,
          "api_key": "abcde12345"
        }))
        .unwrap();
        assert_eq!(claims.accountid, "123");
        assert!(claims.accountid.was_number());
        assert_eq!(claims.accountname.as_deref(), Some("ACME"));
        assert_eq!(claims.iat, 1_565_706_663);
        assert_eq!(claims.api_key.as_deref(), Some("abcde12345"));
        let text = format!("{claims:?}");
        assert!(!text.contains("abcde12345"), "{text}");

        let claims: BlendrClaims = serde_json::from_value(json!({
            "accountid": "acme-42", "userid": 456, "username": "Jane", "useremail": "j@acme.example",
            "iat": 1565706663
        }))
        .unwrap();
        assert_eq!(claims.accountid.as_str(), "acme-42");
        assert_eq!(claims.userid.as_ref().map(Id::as_str), Some("456"));
        assert_eq!(claims.api_key, None);
    }

    #[test]
    fn the_preset_requires_accountid_and_iat() {
        let p = blendr([9u8; 32]).prepare("i".into()).unwrap();
        assert_eq!(&*p.name, "blendr");
        assert!(!p.replay);
        assert_eq!(p.policy.max_age, Some(300.0));
        assert!(p.policy.required.iter().any(|c| c.is("accountid")));
        assert!(p.policy.required.iter().any(|c| c.is("iat")));
        assert!(!p.policy.required.iter().any(|c| c.is("exp")));
        assert!(
            p.policy
                .tenant
                .as_ref()
                .is_some_and(|t| t.path.is("accountid"))
        );
    }
}
