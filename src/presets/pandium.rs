//! Pandium's embedded marketplace and install-only flow.
//!
//! The vendor's backend signs a JWT with the shared secret Pandium supplies (HS256, header
//! `{"alg": "HS256", "typ": "JWT"}`) and passes it as `?tenant=<jwt>`. The token has no `exp`:
//! it carries `iat` and a single-use `jti`. Pandium's sample backend (Python, PyJWT) sends:
//!
//! ```python
//! payload = {
//!     'iat': int(time.time()),
//!     'jti': str(uuid.uuid4()),
//!     'external_id': '',  # Not Required.
//!     'meta': '',         # Not Required. Free form object to associate with your user
//!     'sub': '',          # Required. Email address of your user.
//! }
//! jwt = encode(payload, PANDIUM_SHARED_SECRET, algorithm='HS256')
//! ```
//!
//! and its JWT page shows the nested `ti` object:
//!
//! ```json
//! {
//!  "iat": 1621521641,
//!  "jti": "1cfa7dbf-8110-4237-ad22-410608791b7d",
//!  "ti": {
//!    "udn": "Pandium Test", "ufn": "Important Person", "uem": "test@pandium.com",
//!    "ili": ["new-id", "something-different"], "aid": "", "adn": "",
//!    "xti": {"extraProp": "extra value", "extraList": ["bla", "listVal"]}
//!  },
//!  "sub": "test-pandium-com"
//! }
//! ```

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;

use super::de;

/// How old a Pandium token may be: 5 minutes (plus the leeway of 30 s). Pandium's tokens are
/// minted for one redirect, right before it.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(300);

/// An issuer for Pandium JWTs, named `pandium`.
///
/// - HS256 with the shared secret (at least 32 bytes);
/// - no `exp` (Pandium sends none): `iat` at most 5 minutes old instead;
/// - `sub`, `iat` and `jti` required, and each `jti` accepted once: a second use is 401
///   `invalid_token` ("the token was already used");
/// - no tenant claim by default: Pandium's own example sends `ti.aid` empty. If you fill
///   `ti.aid` with your account id, add `.tenant_claim("ti.aid")` (and `.tenants([...])`).
///
/// The token travels in the query string: add `TokenSource::Query("tenant".into())` to the
/// layer's token sources; the layer removes it from the URI your service sees.
///
/// ```
/// use jwt_guard::{JwtGuard, TokenSource, presets};
///
/// # let secret = "a-pandium-shared-secret-of-32-bytes+";
/// let guard = JwtGuard::builder()
///     .issuer(presets::pandium(secret))
///     .token_sources([TokenSource::Query("tenant".into()), TokenSource::Header])
///     .build()?;
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
pub fn pandium(secret: impl AsRef<[u8]>) -> Issuer {
    settings(Issuer::secret(secret))
}

/// The preset's settings on an issuer that has its key source (the config file's `preset`).
pub(crate) fn settings(issuer: Issuer) -> Issuer {
    issuer
        .name("pandium")
        .algorithms([Algorithm::HS256])
        .required_claims(["sub", "iat", "jti"])
        .max_age(MAX_AGE)
        .reject_replays()
}

/// The claims of a Pandium JWT, under Pandium's own names.
///
/// `Debug` leaves out `meta` and the members of `ti.xti`, which may carry credentials (the
/// install-only flow puts your connector's `token` there).
#[derive(Clone, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct PandiumClaims {
    /// `sub`: your user, "Email address of your user" in Pandium's sample
    /// (`test-pandium-com` in its JWT example). Pandium links its tenant to your user with it.
    pub sub: String,
    /// `iat`: when the token was minted (Unix seconds).
    #[serde(deserialize_with = "de::numeric_date")]
    pub iat: u64,
    /// `jti`: a unique id (a UUID), accepted once.
    pub jti: String,
    /// `external_id`: your own id of the user, when it is not the email address (optional).
    #[serde(default)]
    pub external_id: Option<String>,
    /// `meta`: a free-form value to associate with the user (optional).
    #[serde(default)]
    pub meta: Option<Value>,
    /// `ti`: the tenant information object (optional: the sample backend sends none).
    #[serde(default)]
    pub ti: Option<PandiumTenant>,
}

impl fmt::Debug for PandiumClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PandiumClaims")
            .field("sub", &self.sub)
            .field("iat", &self.iat)
            .field("jti", &self.jti)
            .field("external_id", &self.external_id)
            .field("meta", &self.meta.as_ref().map(|_| "[redacted]"))
            .field("ti", &self.ti)
            .finish()
    }
}

/// Pandium's `ti` object. Every member is optional. Pandium's documents show the members
/// without spelling out the abbreviations; the comments give the values of Pandium's example.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct PandiumTenant {
    /// `udn`: the user's display name (`"Pandium Test"` in Pandium's example).
    #[serde(default)]
    pub udn: Option<String>,
    /// `ufn`: the user's full name (`"Important Person"`).
    #[serde(default)]
    pub ufn: Option<String>,
    /// `uem`: the user's email address (`"test@pandium.com"`).
    #[serde(default)]
    pub uem: Option<String>,
    /// `ili`: a list of ids (`["new-id", "something-different"]`).
    #[serde(default)]
    pub ili: Vec<String>,
    /// `aid`: the account id (empty in Pandium's example).
    #[serde(default)]
    pub aid: Option<String>,
    /// `adn`: the account display name (empty in Pandium's example).
    #[serde(default)]
    pub adn: Option<String>,
    /// `xti`: extra, free-form members (`extraProp`, `extraList`; for the install-only flow
    /// `connector_name`, `integration_name` and your connector's `token`).
    #[serde(default)]
    pub xti: Map<String, Value>,
}

impl PandiumTenant {
    /// A string member of `xti`, e.g. `connector_name`.
    #[must_use]
    pub fn xti_str(&self, name: &str) -> Option<&str> {
        self.xti.get(name).and_then(Value::as_str)
    }
}

impl fmt::Debug for PandiumTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PandiumTenant")
            .field("udn", &self.udn)
            .field("ufn", &self.ufn)
            .field("uem", &self.uem)
            .field("ili", &self.ili)
            .field("aid", &self.aid)
            .field("adn", &self.adn)
            .field("xti", &format_args!("[{} redacted]", self.xti.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_payloads_deserialize() {
        // The JWT page's example, verbatim.
        let claims: PandiumClaims = serde_json::from_value(json!({
         "iat": 1621521641,
         "jti": "1cfa7dbf-8110-4237-ad22-410608791b7d",
         "ti": {
           "udn": "Pandium Test",
           "ufn": "Important Person",
           "uem": "test@pandium.com",
           "ili": ["new-id", "something-different"],
           "aid": "",
           "adn": "",
           "xti": {"extraProp": "extra value", "extraList": ["bla", "listVal"]}
         },
         "sub": "test-pandium-com"
        }))
        .unwrap();
        assert_eq!(claims.sub, "test-pandium-com");
        assert_eq!(claims.iat, 1_621_521_641);
        let ti = claims.ti.as_ref().unwrap();
        assert_eq!(ti.uem.as_deref(), Some("test@pandium.com"));
        assert_eq!(ti.ili, vec!["new-id", "something-different"]);
        assert_eq!(ti.aid.as_deref(), Some(""));
        assert_eq!(ti.xti_str("extraProp"), Some("extra value"));

        // The sample backend's payload: no `ti`, empty `external_id` and `meta`.
        let claims: PandiumClaims = serde_json::from_value(json!({
            "iat": 1621521641, "jti": "j", "external_id": "", "meta": "", "sub": "a@b.example"
        }))
        .unwrap();
        assert_eq!(claims.ti, None);
        assert_eq!(claims.external_id.as_deref(), Some(""));
    }

    #[test]
    fn debug_leaves_out_free_form_members() {
        let claims: PandiumClaims = serde_json::from_value(json!({
            "iat": 1, "jti": "j", "sub": "s", "meta": {"secret": "hunter2"},
            "ti": {"xti": {"connector_name": "gwt", "token": "hunter3"}}
        }))
        .unwrap();
        let text = format!("{claims:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
        assert!(
            text.contains("[1 redacted]") || text.contains("[2 redacted]"),
            "{text}"
        );
    }

    #[test]
    fn the_preset_is_single_use_and_bounded_by_age() {
        let p = pandium([7u8; 32]).prepare("i".into()).unwrap();
        assert_eq!(&*p.name, "pandium");
        assert!(p.replay);
        assert_eq!(p.policy.max_age, Some(300.0));
        for claim in ["sub", "iat", "jti"] {
            assert!(p.policy.required.iter().any(|c| c.is(claim)), "{claim}");
        }
        assert!(!p.policy.required.iter().any(|c| c.is("exp")));
        assert_eq!(
            pandium([7u8; 31]).prepare("i".into()).unwrap_err().key(),
            Some("secret")
        );
    }
}
