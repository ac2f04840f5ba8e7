//! The verified identity the layer puts into the request extensions.

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "server")]
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::issuer::claims::ClaimPath;
use crate::keys::algorithm::Algorithm;

/// A verified token: who issued it, which key and algorithm verified it, its subject, its
/// tenant and every claim.
///
/// The layer inserts one into the request extensions of every request it lets through with a
/// token, replacing any value of this type that was already there: a `Verified` is never taken
/// from the client. Cloning is an `Arc` bump.
///
/// `Debug` shows the issuer, the key and the algorithm, never the claims.
///
/// ```
/// # use jwt_guard::Verified;
/// fn handler(req: http::Request<()>) -> String {
///     match req.extensions().get::<Verified>() {
///         Some(who) => format!("hello {} of {:?}", who.subject().unwrap_or("?"), who.tenant()),
///         None => "anonymous".to_owned(),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Verified(Arc<Inner>);

struct Inner {
    issuer: Arc<str>,
    kid: Option<Arc<str>>,
    alg: Algorithm,
    tenant: Option<String>,
    claims: Map<String, Value>,
    /// The identity headers' values of proxy mode, made once per verified token (a cached token
    /// is the same `Verified`, so a repeated token does not serialize its claims again).
    #[cfg(feature = "server")]
    identity_values: OnceLock<IdentityValues>,
}

/// The values of proxy mode's identity headers: issuer, sub, tenant, claims (`None`: left out).
#[cfg(feature = "server")]
pub(crate) type IdentityValues = [Option<http::HeaderValue>; 4];

impl Verified {
    pub(crate) fn new(
        issuer: Arc<str>,
        kid: Option<Arc<str>>,
        alg: Algorithm,
        tenant: Option<String>,
        claims: Map<String, Value>,
    ) -> Self {
        Self(Arc::new(Inner {
            issuer,
            kid,
            alg,
            tenant,
            claims,
            #[cfg(feature = "server")]
            identity_values: OnceLock::new(),
        }))
    }

    /// The identity headers' values, made by `make` the first time only.
    #[cfg(feature = "server")]
    pub(crate) fn identity_values(
        &self,
        make: impl FnOnce(&Self) -> IdentityValues,
    ) -> &IdentityValues {
        self.0.identity_values.get_or_init(|| make(self))
    }

    /// The configured name of the issuer whose key verified the token
    /// ([`Issuer::name`](crate::Issuer::name), e.g. `appdirect`): the label of logs and metrics.
    /// For the token's own `iss` claim, see [`iss`](Self::iss).
    #[must_use]
    pub fn issuer_name(&self) -> &str {
        &self.0.issuer
    }

    /// The configured name of the issuer: renamed [`issuer_name`](Self::issuer_name), since
    /// `issuer` read as the `iss` claim ([`iss`](Self::iss)).
    #[deprecated(
        since = "0.1.0",
        note = "returns the configured name, not `iss`: use `issuer_name()` (or `iss()` for the claim)"
    )]
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.issuer_name()
    }

    /// The token's `iss` claim, when it is a string (`None` for tokens without one, such as
    /// Pandium's or Blendr's).
    #[must_use]
    pub fn iss(&self) -> Option<&str> {
        self.0.claims.get("iss").and_then(Value::as_str)
    }

    /// The `kid` of the token's header, if it had one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// The algorithm that verified the signature.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.0.alg
    }

    /// The `sub` claim.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.0.claims.get("sub").and_then(Value::as_str)
    }

    /// The tenant, when the issuer has a tenant claim (an integer tenant in decimal).
    #[must_use]
    pub fn tenant(&self) -> Option<&str> {
        self.0.tenant.as_deref()
    }

    /// Every claim of the token.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }

    /// The claim at a dotted path (`"ti.aid"`).
    #[must_use]
    pub fn claim(&self, path: &str) -> Option<&Value> {
        ClaimPath::lookup_dotted(path, &self.0.claims)
    }

    /// The claims as the caller's own type.
    ///
    /// # Errors
    ///
    /// When the claims do not deserialize into `C`.
    pub fn claims_as<C: DeserializeOwned>(&self) -> Result<C, serde_json::Error> {
        C::deserialize(&Value::Object(self.0.claims.clone()))
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("issuer", &self.0.issuer)
            .field("kid", &self.0.kid)
            .field("alg", &self.0.alg)
            .field(
                "claims",
                &format_args!("[{} redacted]", self.0.claims.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Verified {
        let claims = json!({"sub": "u1", "secret": "hunter2", "ti": {"aid": 7}});
        sample_with(claims)
    }

    fn sample_with(claims: serde_json::Value) -> Verified {
        Verified::new(
            "appdirect".into(),
            Some("k1".into()),
            Algorithm::RS256,
            Some("7".into()),
            claims.as_object().unwrap().clone(),
        )
    }

    #[test]
    fn accessors() {
        let v = sample();
        assert_eq!(v.issuer_name(), "appdirect");
        #[allow(deprecated)]
        let old = v.issuer();
        assert_eq!(old, "appdirect");
        assert_eq!(v.iss(), None);
        assert_eq!(v.kid(), Some("k1"));
        assert_eq!(v.subject(), Some("u1"));
        assert_eq!(v.tenant(), Some("7"));
        assert_eq!(v.claim("ti.aid"), Some(&json!(7)));
        assert_eq!(v.claim("ti.nope"), None);
        #[derive(serde::Deserialize)]
        struct Mine {
            sub: String,
        }
        assert_eq!(v.claims_as::<Mine>().unwrap().sub, "u1");
    }

    #[test]
    fn iss_is_the_claim_and_issuer_name_the_configured_name() {
        let v = sample_with(json!({"iss": "https://marketplace.example", "sub": "u1"}));
        assert_eq!(v.iss(), Some("https://marketplace.example"));
        assert_eq!(v.issuer_name(), "appdirect");
        assert_eq!(sample_with(json!({"iss": 7})).iss(), None);
    }

    #[test]
    fn debug_never_shows_claims() {
        let text = format!("{:?}", sample());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("u1"), "{text}");
        assert!(text.contains("appdirect"));
    }
}
