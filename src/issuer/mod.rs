//! One issuer: where its keys come from and what its tokens must say.

pub(crate) mod claims;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::issuer::claims::{ClaimPath, ClaimsPolicy, TenantPolicy};
use crate::keys::algorithm::Algorithm;
use crate::keys::error::KeyError;
use crate::keys::key::VerifyingKey;
use crate::origin::parse_fetch_url;

/// The most leeway allowed.
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Where an issuer's keys come from.
#[derive(Clone)]
pub(crate) enum KeySpec {
    Jwks(url::Url),
    /// OIDC discovery from this issuer URL.
    Discover(url::Url),
    Pem(String),
    Secret(Arc<[u8]>),
    SecretEnv(String),
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwks(url) => f.debug_tuple("Jwks").field(&url.as_str()).finish(),
            Self::Discover(url) => f.debug_tuple("Discover").field(&url.as_str()).finish(),
            Self::Pem(_) => f.write_str("Pem(..)"),
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::SecretEnv(var) => f.debug_tuple("SecretEnv").field(var).finish(),
        }
    }
}

/// The configuration of one issuer, built with a fluent API and checked by
/// [`JwtGuardBuilder::build`](crate::JwtGuardBuilder::build).
///
/// ```
/// use std::time::Duration;
/// use jwt_guard::Issuer;
///
/// let appdirect = Issuer::jwks("https://marketplace.example/.well-known/jwks.json")?
///     .name("appdirect")
///     .tenant_claim("tenant")
///     .tenants(["PARTNER_ID"])
///     .max_lifetime(Duration::from_secs(600));
/// # Ok::<(), jwt_guard::ConfigError>(())
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
        }
    }

    /// Keys from a JWKS URL: `https`, or `http` for a loopback host only (`localhost`,
    /// `127.0.0.0/8`, `[::1]`; DNS never decides).
    ///
    /// # Errors
    ///
    /// When the URL does not parse or is not `https` (or loopback `http`).
    pub fn jwks(url: impl AsRef<str>) -> Result<Self, ConfigError> {
        Ok(Self::with_keys(KeySpec::Jwks(parse_fetch_url(
            url.as_ref(),
            "jwks_url",
        )?)))
    }

    /// Keys found by OIDC discovery: `{issuer}/.well-known/openid-configuration` gives the
    /// `jwks_uri` (held to the same rules as [`jwks`](Self::jwks)), and the document's `issuer`
    /// must equal `issuer` exactly. Also sets [`issuer`](Self::issuer): tokens must carry that
    /// `iss`.
    ///
    /// # Errors
    ///
    /// When the URL does not parse or is not `https` (or loopback `http`).
    pub fn oidc(issuer: impl AsRef<str>) -> Result<Self, ConfigError> {
        let iss = issuer.as_ref();
        let url = parse_fetch_url(iss, "oidc_issuer")?;
        let mut this = Self::with_keys(KeySpec::Discover(url));
        this.issuer = Some(iss.to_owned());
        Ok(this)
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

    /// The label of this issuer in logs, metrics and [`Verified::issuer`](crate::Verified::issuer).
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
    /// [`ConfigError`] naming `origins[i]`. The binding applies with or without CORS, and
    /// these origins are added to the CORS allow list when CORS is configured.
    ///
    /// ```
    /// use jwt_guard::Issuer;
    ///
    /// let appdirect = Issuer::jwks("https://marketplace.example/.well-known/jwks.json")?
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
    /// mistake is a [`ConfigError`] naming `tenant_origins.TENANT[i]`. Calling it again for
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
}

/// An issuer as the layer runs it.
#[derive(Debug)]
pub(crate) struct PreparedIssuer {
    pub(crate) name: Arc<str>,
    pub(crate) iss: Option<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) keys: PreparedKeys,
    pub(crate) policy: ClaimsPolicy,
    pub(crate) replay: bool,
    pub(crate) origins: Vec<String>,
    pub(crate) tenant_origins: BTreeMap<String, Vec<String>>,
    pub(crate) refresh_cooldown: Duration,
}

#[derive(Debug)]
pub(crate) enum PreparedKeys {
    Fixed(Arc<VerifyingKey>),
    Remote(RemoteSpec),
}

/// Where a remote key set comes from.
#[derive(Clone, Debug)]
pub(crate) enum RemoteSpec {
    Jwks(url::Url),
    Discovery { config: url::Url, issuer: String },
}

impl PreparedIssuer {
    pub(crate) fn is_symmetric(&self) -> bool {
        matches!(&self.keys, PreparedKeys::Fixed(k) if k.algorithms().all(Algorithm::is_symmetric))
    }
}

impl Issuer {
    /// Checks and prepares this issuer. Keys are named relative to the issuer
    /// (`secret`, `leeway`); the caller adds the prefix.
    pub(crate) fn prepare(self, default_name: String) -> Result<PreparedIssuer, ConfigError> {
        let name: Arc<str> = match self.name {
            Some(name) if name.trim().is_empty() => {
                return Err(ConfigError::invalid("name", "must not be empty"));
            }
            Some(name) => name.into(),
            None => default_name.into(),
        };
        let symmetric = matches!(self.keys, KeySpec::Secret(_) | KeySpec::SecretEnv(_));
        let algorithms = match self.algorithms {
            None if symmetric => vec![Algorithm::HS256],
            None => vec![Algorithm::RS256, Algorithm::ES256],
            Some(algs) if algs.is_empty() => {
                return Err(ConfigError::invalid("algorithms", "must not be empty"));
            }
            Some(mut algs) => {
                algs.sort();
                algs.dedup();
                if let Some(bad) = algs.iter().find(|a| a.is_symmetric() != symmetric) {
                    return Err(ConfigError::invalid(
                        "algorithms",
                        if symmetric {
                            format!(
                                "{bad} needs a public key; a shared secret only verifies HS256, HS384 or HS512"
                            )
                        } else {
                            format!("{bad} needs a shared secret; a public key never verifies HS*")
                        },
                    ));
                }
                algs
            }
        };
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid("leeway", "must be at most 5m"));
        }
        if self.refresh_cooldown.is_some()
            && !matches!(self.keys, KeySpec::Jwks(_) | KeySpec::Discover(_))
        {
            return Err(ConfigError::invalid(
                "refresh_cooldown",
                "only applies with jwks_url",
            ));
        }
        let refresh_cooldown = self.refresh_cooldown.unwrap_or(Duration::from_secs(30));
        if refresh_cooldown > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                "refresh_cooldown",
                "must be at most 1h",
            ));
        }

        let keys = match self.keys {
            KeySpec::Jwks(url) => PreparedKeys::Remote(RemoteSpec::Jwks(url)),
            KeySpec::Discover(url) => PreparedKeys::Remote(RemoteSpec::Discovery {
                config: crate::keys::jwks::discovery::discovery_url(&url)
                    .map_err(|e| ConfigError::invalid("oidc_issuer", e.to_string()))?,
                issuer: self.issuer.clone().unwrap_or_default(),
            }),
            KeySpec::Pem(pem) => PreparedKeys::Fixed(Arc::new(
                VerifyingKey::from_pem(&pem, &algorithms).map_err(|e| match e {
                    KeyError::FitsNoAlgorithm => {
                        ConfigError::invalid("algorithms", "none of them fits public_key_pem")
                    }
                    other => ConfigError::invalid("public_key_pem", other.to_string()),
                })?,
            )),
            KeySpec::Secret(secret) => PreparedKeys::Fixed(Arc::new(
                VerifyingKey::secret(&secret, &algorithms)
                    .map_err(|e| ConfigError::invalid("secret", e.to_string()))?,
            )),
            KeySpec::SecretEnv(var) => {
                let value = std::env::var(&var).map_err(|_| {
                    ConfigError::invalid(
                        "secret_env",
                        format!("environment variable {var} is not set"),
                    )
                })?;
                PreparedKeys::Fixed(Arc::new(
                    VerifyingKey::secret(value.as_bytes(), &algorithms)
                        .map_err(|e| ConfigError::invalid("secret_env", format!("{var}: {e}")))?,
                ))
            }
        };

        if self.issuer.as_ref().is_some_and(String::is_empty) {
            return Err(ConfigError::invalid("issuer", "must not be empty"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                "audiences",
                "must not contain an empty string",
            ));
        }
        let mut required = Vec::new();
        for (i, path) in self
            .required_claims
            .unwrap_or_else(|| vec!["exp".to_owned()])
            .iter()
            .enumerate()
        {
            required.push(ClaimPath::parse(path).ok_or_else(|| {
                ConfigError::invalid(format!("required_claims[{i}]"), "not a dotted claim path")
            })?);
        }
        let requires_exp = required.iter().any(|p| p.is("exp"));
        if self.replay {
            if !requires_exp && self.max_age.is_none() {
                return Err(ConfigError::invalid(
                    "replay",
                    "needs `exp` among required_claims or `max_age`, so that a jti can be forgotten",
                ));
            }
            if !required.iter().any(|p| p.is("jti")) {
                required.push(ClaimPath(vec!["jti".to_owned()]));
            }
        }
        if self.max_age.is_some() && !required.iter().any(|p| p.is("iat")) {
            required.push(ClaimPath(vec!["iat".to_owned()]));
        }
        let tenant = match (&self.tenant_claim, &self.tenants) {
            (None, Some(_)) => return Err(ConfigError::invalid("tenants", "needs tenant_claim")),
            (None, None) => None,
            (Some(path), tenants) => {
                let path = ClaimPath::parse(path).ok_or_else(|| {
                    ConfigError::invalid("tenant_claim", "not a dotted claim path")
                })?;
                let allow = match tenants {
                    None => None,
                    Some(list) if list.is_empty() => {
                        return Err(ConfigError::invalid(
                            "tenants",
                            "is empty: no token could ever pass; remove it to allow any tenant",
                        ));
                    }
                    Some(list) => {
                        if list.iter().any(String::is_empty) {
                            return Err(ConfigError::invalid(
                                "tenants",
                                "must not contain an empty string",
                            ));
                        }
                        Some(list.iter().cloned().collect())
                    }
                };
                Some(TenantPolicy { path, allow })
            }
        };
        if !self.tenant_origins.is_empty() && tenant.is_none() {
            return Err(ConfigError::invalid("tenant_origins", "needs tenant_claim"));
        }
        let mut origins = Vec::new();
        for (i, origin) in self.origins.iter().enumerate() {
            origins.push(
                crate::origin::canonical_origin(origin, false)
                    .map_err(|why| ConfigError::invalid(format!("origins[{i}]"), why))?,
            );
        }
        let mut tenant_origins = BTreeMap::new();
        for (tenant_name, list) in &self.tenant_origins {
            let mut canon = Vec::new();
            for (i, origin) in list.iter().enumerate() {
                canon.push(
                    crate::origin::canonical_origin(origin, false).map_err(|why| {
                        ConfigError::invalid(format!("tenant_origins.{tenant_name}[{i}]"), why)
                    })?,
                );
            }
            tenant_origins.insert(tenant_name.clone(), canon);
        }

        let policy = ClaimsPolicy {
            issuer: self.issuer.clone(),
            audiences: self.audiences,
            required,
            leeway: self.leeway.as_secs_f64(),
            max_lifetime: self.max_lifetime.map(|d| d.as_secs_f64()),
            max_age: self.max_age.map(|d| d.as_secs_f64()),
            tenant,
        };
        Ok(PreparedIssuer {
            name,
            iss: self.issuer,
            algorithms,
            keys,
            policy,
            replay: self.replay,
            origins,
            tenant_origins,
            refresh_cooldown,
        })
    }
}

/// Refuses the configurations whose tokens could not be told apart per request:
///
/// - two asymmetric issuers without `issuer` that both hold a fixed key (or one a fixed key,
///   the other a JWKS) for the same algorithm could both claim a token (two JWKS issuers are
///   told apart by `kid`);
/// - two shared-secret issuers without `issuer` holding the same secret for the same algorithm:
///   that secret would verify for both, and which one a token lands on would depend on the
///   order of the configuration (a key verifies only for its own issuer).
pub(crate) fn check_ambiguity(issuers: &[PreparedIssuer]) -> Result<(), ConfigError> {
    let open: Vec<(usize, &PreparedIssuer)> = issuers
        .iter()
        .enumerate()
        .filter(|(_, i)| i.iss.is_none())
        .collect();
    for (a, first) in &open {
        for (b, second) in &open {
            if b <= a {
                continue;
            }
            let shared: Vec<Algorithm> = first
                .algorithms
                .iter()
                .copied()
                .filter(|alg| second.algorithms.contains(alg))
                .collect();
            let Some(alg) = shared.first() else {
                continue;
            };
            match (first.is_symmetric(), second.is_symmetric()) {
                (true, true) => {
                    if let (PreparedKeys::Fixed(x), PreparedKeys::Fixed(y)) =
                        (&first.keys, &second.keys)
                        && x.fingerprint() == y.fingerprint()
                    {
                        return Err(ConfigError::invalid(
                            format!("issuers[{b}]"),
                            format!(
                                "holds the same secret as issuers[{a}] for {alg}: a token could belong to either; set `issuer` on one of them"
                            ),
                        ));
                    }
                }
                (false, false) => {
                    let fixed = matches!(first.keys, PreparedKeys::Fixed(_))
                        || matches!(second.keys, PreparedKeys::Fixed(_));
                    if fixed {
                        return Err(ConfigError::invalid(
                            format!("issuers[{b}]"),
                            format!(
                                "a token signed with {alg} and no `iss` could belong to issuers[{a}] as well; set `issuer` on one of them or give them different algorithms"
                            ),
                        ));
                    }
                }
                // A secret and a public key never share an algorithm.
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_must_fit_the_key_source() {
        let err = Issuer::secret([1u8; 32])
            .algorithms([Algorithm::RS256])
            .prepare("i".into())
            .unwrap_err();
        assert_eq!(err.key(), Some("algorithms"));
        let err = Issuer::jwks("https://a.example/j")
            .unwrap()
            .algorithms([Algorithm::HS256])
            .prepare("i".into())
            .unwrap_err();
        assert_eq!(err.key(), Some("algorithms"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: Vec<(Issuer, &str)> = vec![
            (Issuer::secret([1u8; 31]), "secret"),
            (
                Issuer::secret_env("JWT_GUARD_SURELY_UNSET_VARIABLE"),
                "secret_env",
            ),
            (
                Issuer::secret([1u8; 32]).leeway(Duration::from_secs(301)),
                "leeway",
            ),
            (
                Issuer::secret([1u8; 32]).refresh_cooldown(Duration::from_secs(1)),
                "refresh_cooldown",
            ),
            (Issuer::secret([1u8; 32]).tenants(["a"]), "tenants"),
            (
                Issuer::secret([1u8; 32]).tenant_claim("a..b"),
                "tenant_claim",
            ),
            (
                Issuer::secret([1u8; 32]).required_claims(["ok", ""]),
                "required_claims[1]",
            ),
            (
                Issuer::secret([1u8; 32])
                    .required_claims(Vec::<String>::new())
                    .reject_replays(),
                "replay",
            ),
            (
                Issuer::secret([1u8; 32]).origins(["https://a.example/path"]),
                "origins[0]",
            ),
            (Issuer::public_key_pem("garbage"), "public_key_pem"),
            (Issuer::secret([1u8; 32]).name(" "), "name"),
        ];
        for (issuer, key) in cases {
            let err = issuer.prepare("i".into()).unwrap_err();
            assert_eq!(err.key(), Some(key), "{err}");
        }
    }

    #[test]
    fn replay_and_max_age_add_required_claims() {
        let p = Issuer::secret([1u8; 32])
            .required_claims(Vec::<String>::new())
            .max_age(Duration::from_secs(60))
            .reject_replays()
            .prepare("i".into())
            .unwrap();
        assert!(p.policy.required.iter().any(|c| c.is("jti")));
        assert!(p.policy.required.iter().any(|c| c.is("iat")));
    }
}
