//! One issuer: where its keys come from and what its tokens must say. The public builder is
//! here; [`prepare`] checks it at build.

pub(crate) mod claims;
pub(crate) mod prepare;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::check::ClaimCheck;
use crate::identity::Verified;
use crate::keys::algorithm::Algorithm;

/// The most leeway allowed.
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Where an issuer's keys come from.
#[derive(Clone)]
pub(crate) enum KeySpec {
    /// A JWKS URL, checked at build (`jwks_url`).
    Jwks(String),
    /// OIDC discovery from this issuer URL, checked at build (`oidc_issuer`).
    Discover(String),
    Pem(String),
    Secret(Arc<[u8]>),
    SecretEnv(String),
}

impl KeySpec {
    /// A shared secret, given or read from the environment.
    pub(crate) fn is_symmetric(&self) -> bool {
        matches!(self, Self::Secret(_) | Self::SecretEnv(_))
    }

    /// A key set fetched over HTTP, from a URL or by discovery.
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self, Self::Jwks(_) | Self::Discover(_))
    }
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwks(url) => f.debug_tuple("Jwks").field(url).finish(),
            Self::Discover(url) => f.debug_tuple("Discover").field(url).finish(),
            Self::Pem(_) => f.write_str("Pem(..)"),
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::SecretEnv(var) => f.debug_tuple("SecretEnv").field(var).finish(),
        }
    }
}

/// The configuration of one issuer, built with a fluent API and checked by
/// [`JwtGuardBuilder::build`](crate::JwtGuardBuilder::build).
///
/// The rule for every constructor and setter of the crate (`Issuer::*`, `presets::*`, `Cors`,
/// the builder): none returns a `Result`; every check happens in `build()`, and its
/// [`ConfigError`](crate::ConfigError) names the key at fault. (Only the stand-alone verifiers that have no build
/// step, such as [`BlendrSignedQuery::new`](crate::presets::BlendrSignedQuery::new), return a
/// `Result` themselves.)
///
/// ```
/// use std::time::Duration;
/// use jwt_guard::Issuer;
///
/// let appdirect = Issuer::jwks("https://marketplace.example/.well-known/jwks.json")
///     .name("appdirect")
///     .tenant_claim("tenant")
///     .tenants(["PARTNER_ID"])
///     .max_lifetime(Duration::from_secs(600));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Issuer {
    pub(crate) name: Option<String>,
    pub(crate) keys: KeySpec,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) tenant_claim: Option<String>,
    pub(crate) tenants: Option<Vec<String>>,
    pub(crate) required_claims: Option<Vec<String>>,
    pub(crate) leeway: Duration,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) refresh_cooldown: Option<Duration>,
    pub(crate) replay: bool,
    pub(crate) origins: Vec<String>,
    pub(crate) tenant_origins: BTreeMap<String, Vec<String>>,
    pub(crate) checks: Vec<ClaimCheck>,
}

impl Issuer {
    fn with_keys(keys: KeySpec) -> Self {
        Self {
            name: None,
            keys,
            algorithms: None,
            issuer: None,
            audiences: Vec::new(),
            tenant_claim: None,
            tenants: None,
            required_claims: None,
            leeway: Duration::from_secs(30),
            max_lifetime: None,
            max_age: None,
            refresh_cooldown: None,
            replay: false,
            origins: Vec::new(),
            tenant_origins: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// Keys from a JWKS URL: `https`, or `http` for a loopback host only (`localhost`,
    /// `127.0.0.0/8`, `[::1]`; DNS never decides).
    ///
    /// Like every constructor and setter of the crate, it never fails: the URL is checked by
    /// [`JwtGuardBuilder::build`](crate::JwtGuardBuilder::build), whose [`ConfigError`](crate::ConfigError) names
    /// `jwks_url` when it does not parse or is not `https` (or loopback `http`).
    pub fn jwks(url: impl AsRef<str>) -> Self {
        Self::with_keys(KeySpec::Jwks(url.as_ref().to_owned()))
    }

    /// Keys found by OIDC discovery: `{issuer}/.well-known/openid-configuration` gives the
    /// `jwks_uri` (held to the same rules as [`jwks`](Self::jwks)), and the document's `issuer`
    /// must equal `issuer` exactly. Also sets [`issuer`](Self::issuer): tokens must carry that
    /// `iss`.
    ///
    /// The URL is checked by [`JwtGuardBuilder::build`](crate::JwtGuardBuilder::build), whose
    /// [`ConfigError`](crate::ConfigError) names `oidc_issuer` when it does not parse or is not `https` (or
    /// loopback `http`).
    pub fn oidc(issuer: impl AsRef<str>) -> Self {
        let iss = issuer.as_ref();
        let mut this = Self::with_keys(KeySpec::Discover(iss.to_owned()));
        this.issuer = Some(iss.to_owned());
        this
    }

    /// A fixed public key in PEM (`-----BEGIN PUBLIC KEY-----`): RSA, EC (P-256, P-384) or
    /// Ed25519. Checked when the layer is built, against [`algorithms`](Self::algorithms).
    pub fn public_key_pem(pem: impl Into<String>) -> Self {
        Self::with_keys(KeySpec::Pem(pem.into()))
    }

    /// A shared HMAC secret: at least 32 bytes for HS256 (48 for HS384, 64 for HS512).
    pub fn secret(secret: impl AsRef<[u8]>) -> Self {
        Self::with_keys(KeySpec::Secret(Arc::from(secret.as_ref())))
    }

    /// A shared HMAC secret read from the environment variable `var` when the layer is built
    /// (unset or empty: a configuration error).
    pub fn secret_env(var: impl Into<String>) -> Self {
        Self::with_keys(KeySpec::SecretEnv(var.into()))
    }

    /// The label of this issuer in logs, metrics and [`Verified::issuer_name`](crate::Verified::issuer_name).
    /// Default: `issuer` followed by its position, e.g. `issuer0`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The algorithms accepted (replacing the default: RS256 and ES256 for public keys, HS256
    /// for secrets). They must fit the key source: HS* only with a secret, never with a public
    /// key; an asymmetric algorithm never with a secret.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The exact `iss` required. It also routes tokens: a token whose `iss` equals it goes to
    /// this issuer.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Adds an accepted audience: `aud` must then contain one of them.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Replaces the accepted audiences.
    pub fn audiences<I, S>(mut self, auds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = auds.into_iter().map(Into::into).collect();
        self
    }

    /// The claim that carries the tenant, as a dotted path (`tenant`, `ti.aid`). Its value must
    /// be a non-empty string or an integer.
    pub fn tenant_claim(mut self, path: impl Into<String>) -> Self {
        self.tenant_claim = Some(path.into());
        self
    }

    /// The tenants allowed (403 for any other). Needs [`tenant_claim`](Self::tenant_claim).
    pub fn tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// Claims that must be present and not null (dotted paths). Default: `["exp"]`; an empty
    /// list makes `exp` optional (for tokens bounded by [`max_age`](Self::max_age) instead).
    pub fn required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_claims = Some(claims.into_iter().map(Into::into).collect());
        self
    }

    /// Clock skew allowed on `exp`, `nbf`, `iat` and `max_age`. Default 30 s, at most 5 min.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest lifetime accepted: `exp - iat` (or `exp - now` without `iat`), no leeway.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// The oldest token accepted: `now - iat` (plus leeway). Makes `iat` required.
    pub fn max_age(mut self, max: Duration) -> Self {
        self.max_age = Some(max);
        self
    }

    /// Least time between JWKS fetches caused by an unknown `kid` or a failing endpoint,
    /// counted from the start of the last fetch. Default 30 s. Only with [`jwks`](Self::jwks).
    pub fn refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh_cooldown = Some(cooldown);
        self
    }

    /// Accepts each `jti` once while the token is valid. Needs `exp` to be required or
    /// [`max_age`](Self::max_age); makes `jti` required.
    pub fn reject_replays(mut self) -> Self {
        self.replay = true;
        self
    }

    /// Binds this issuer to origins (config key `origins`): a request that carries an `Origin`
    /// must come from one of these to present this issuer's tokens, or it is refused with 403
    /// `origin_not_allowed` (readable by the page when its origin is on the CORS list). A
    /// request without `Origin` (server to server) is not affected.
    ///
    /// Each entry is a canonical serialized origin, as for [`Cors::allow_origins`]
    /// (`https://marketplace.example`; plain `http` for loopback only); a mistake is a
    /// [`ConfigError`](crate::ConfigError) naming `origins[i]`. The binding applies with or without CORS, and
    /// these origins are added to the CORS allow list when CORS is configured.
    ///
    /// ```
    /// use jwt_guard::Issuer;
    ///
    /// let appdirect = Issuer::jwks("https://marketplace.example/.well-known/jwks.json")
    ///     .origins(["https://marketplace.example"])
    ///     .tenant_claim("tenant")
    ///     .tenant_origins("PARTNER_A", ["https://a.marketplace.example"])
    ///     .tenant_origins("PARTNER_B", ["https://b.marketplace.example"]);
    /// # Ok::<(), jwt_guard::ConfigError>(())
    /// ```
    ///
    /// [`Cors::allow_origins`]: crate::Cors::allow_origins
    pub fn origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Binds a tenant to its own origins (config key `tenant_origins`, a table from tenant to
    /// origins): a token whose tenant claim is `tenant`, presented with an `Origin`, is accepted
    /// only from these origins. A token for tenant A sent from tenant B's page is refused with
    /// 403 `origin_not_allowed`, even when both origins are on the CORS list. Tenants without
    /// an entry are bound only by [`origins`](Self::origins). Needs
    /// [`tenant_claim`](Self::tenant_claim); entries are canonical serialized origins, and a
    /// mistake is a [`ConfigError`](crate::ConfigError) naming `tenant_origins.TENANT[i]`. Calling it again for
    /// the same tenant replaces its list.
    pub fn tenant_origins<I, S>(mut self, tenant: impl Into<String>, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenant_origins
            .insert(tenant.into(), origins.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a claim check, like jwt-authorizer's `.check(...)`: after the signature and every
    /// built-in claim check, `check` sees the verified identity, and `false` refuses the
    /// request with 403 `insufficient_scope` (reason `claim_check_failed`). Several checks must
    /// all pass. For a check that only some routes need, see
    /// [`JwtGuardLayer::check`](crate::JwtGuardLayer::check).
    ///
    /// The check runs whenever a token is verified in full, never on a cache hit. A token that
    /// passes is verified in full on its first two sightings (it enters the verified-token
    /// cache on the second, or on a later one if another token's fingerprint took its place in
    /// the cache's doorkeeper in between), then served from the cache without the check until
    /// it has to be verified anew: its entry evicted or expired (an entry lives at most an
    /// hour), or its key gone from its set. A token the check refuses is never cached, so it is
    /// checked on every request; so is every token of a replay-protected issuer, and every token
    /// with the cache off. The check must therefore depend on the claims alone (not on time or
    /// outside state), and may run more than once for one token.
    ///
    /// ```
    /// use jwt_guard::{Issuer, presets::AppDirectClaims};
    ///
    /// let issuer = Issuer::secret("a-shared-secret-of-at-least-32-bytes")
    ///     // only tokens whose `roles` contains "admin"
    ///     .check(|who| {
    ///         who.claim("roles")
    ///             .and_then(|r| r.as_array())
    ///             .is_some_and(|roles| roles.iter().any(|r| r == "admin"))
    ///     })
    ///     // the typed claims work too
    ///     .check(|who| who.claims_as::<AppDirectClaims>().is_ok_and(|c| !c.sub.is_empty()));
    /// ```
    pub fn check(mut self, check: impl Fn(&Verified) -> bool + Send + Sync + 'static) -> Self {
        self.checks.push(ClaimCheck::new(check));
        self
    }
}

#[cfg(test)]
mod tests;
