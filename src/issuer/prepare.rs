//! An [`Issuer`] checked and prepared once, at build, in named steps: name, algorithms,
//! timings, keys, `iss` and `aud`, required claims, tenant, origin bindings. Then the check
//! across issuers ([`check_ambiguity`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::check::ClaimCheck;
use crate::error::ConfigError;
use crate::issuer::claims::{ClaimPath, ClaimsPolicy, TenantPolicy};
use crate::issuer::{Issuer, KeySpec, MAX_LEEWAY};
use crate::keys::algorithm::Algorithm;
use crate::keys::error::KeyError;
use crate::keys::jwks::discovery::discovery_url;
use crate::keys::jwks::remote::Source;
use crate::keys::key::VerifyingKey;
use crate::origin::{canonical_origin, parse_fetch_url};

/// The JWKS refresh cooldown when none is configured.
const DEFAULT_REFRESH_COOLDOWN: Duration = Duration::from_secs(30);
/// The longest JWKS refresh cooldown accepted.
const MAX_REFRESH_COOLDOWN: Duration = Duration::from_secs(3600);

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
    /// The caller's claim checks ([`Issuer::check`]), run after every built-in one.
    pub(crate) checks: Vec<ClaimCheck>,
}

/// The keys of a prepared issuer: one fixed key, or a key set fetched from a [`Source`].
#[derive(Debug)]
pub(crate) enum PreparedKeys {
    Fixed(Arc<VerifyingKey>),
    Remote(Source),
}

impl PreparedIssuer {
    /// Whether the issuer verifies with a shared secret.
    pub(crate) fn is_symmetric(&self) -> bool {
        matches!(&self.keys, PreparedKeys::Fixed(k) if k.algorithms().all(Algorithm::is_symmetric))
    }
}

impl Issuer {
    /// Checks and prepares this issuer. Keys are named relative to the issuer
    /// (`secret`, `leeway`); the caller adds the prefix.
    pub(crate) fn prepare(self, default_name: String) -> Result<PreparedIssuer, ConfigError> {
        let name = name(self.name, default_name)?;
        let algorithms = algorithms(self.algorithms, self.keys.is_symmetric())?;
        let refresh_cooldown = timings(self.leeway, self.refresh_cooldown, &self.keys)?;
        let keys = keys(self.keys, self.issuer.as_deref(), &algorithms)?;
        check_issuer_and_audiences(self.issuer.as_deref(), &self.audiences)?;
        let required = required_claims(self.required_claims, self.replay, self.max_age)?;
        let tenant = tenant(self.tenant_claim.as_deref(), self.tenants.as_deref())?;
        let bound = origin_bindings(&self.origins, &self.tenant_origins, tenant.is_some())?;

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
            origins: bound.issuer_wide,
            tenant_origins: bound.per_tenant,
            refresh_cooldown,
            checks: self.checks,
        })
    }
}

/// The configured name, not blank, or `default_name`.
fn name(name: Option<String>, default_name: String) -> Result<Arc<str>, ConfigError> {
    match name {
        Some(name) if name.trim().is_empty() => {
            Err(ConfigError::invalid("name", "must not be empty"))
        }
        Some(name) => Ok(name.into()),
        None => Ok(default_name.into()),
    }
}

/// The accepted algorithms, sorted and deduplicated; each must fit the key source (HS* for a
/// secret, never for a public key). The default: HS256 for a secret, RS256 and ES256 otherwise.
fn algorithms(
    requested: Option<Vec<Algorithm>>,
    symmetric: bool,
) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(mut algs) = requested else {
        return Ok(if symmetric {
            vec![Algorithm::HS256]
        } else {
            vec![Algorithm::RS256, Algorithm::ES256]
        });
    };
    if algs.is_empty() {
        return Err(ConfigError::invalid("algorithms", "must not be empty"));
    }
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
    Ok(algs)
}

/// Checks the leeway, and returns the JWKS refresh cooldown (only for a key set).
fn timings(
    leeway: Duration,
    refresh_cooldown: Option<Duration>,
    keys: &KeySpec,
) -> Result<Duration, ConfigError> {
    if leeway > MAX_LEEWAY {
        return Err(ConfigError::invalid("leeway", "must be at most 5m"));
    }
    if refresh_cooldown.is_some() && !keys.is_remote() {
        return Err(ConfigError::invalid(
            "refresh_cooldown",
            "only applies with jwks_url",
        ));
    }
    let refresh_cooldown = refresh_cooldown.unwrap_or(DEFAULT_REFRESH_COOLDOWN);
    if refresh_cooldown > MAX_REFRESH_COOLDOWN {
        return Err(ConfigError::invalid(
            "refresh_cooldown",
            "must be at most 1h",
        ));
    }
    Ok(refresh_cooldown)
}

/// The fixed key, prepared for `algorithms`, or where the key set will be fetched from.
fn keys(
    spec: KeySpec,
    issuer: Option<&str>,
    algorithms: &[Algorithm],
) -> Result<PreparedKeys, ConfigError> {
    let key = match spec {
        KeySpec::Jwks(url) => {
            let url = parse_fetch_url(&url, "jwks_url")?;
            return Ok(PreparedKeys::Remote(Source::Jwks(url)));
        }
        KeySpec::Discover(url) => {
            let url = parse_fetch_url(&url, "oidc_issuer")?;
            return Ok(PreparedKeys::Remote(Source::Discovery {
                config: discovery_url(&url)
                    .map_err(|e| ConfigError::invalid("oidc_issuer", e.to_string()))?,
                issuer: issuer.unwrap_or_default().to_owned(),
            }));
        }
        KeySpec::Pem(pem) => VerifyingKey::from_pem(&pem, algorithms).map_err(|e| match e {
            KeyError::FitsNoAlgorithm => {
                ConfigError::invalid("algorithms", "none of them fits public_key_pem")
            }
            other => ConfigError::invalid("public_key_pem", other.to_string()),
        })?,
        KeySpec::Secret(secret) => VerifyingKey::secret(&secret, algorithms)
            .map_err(|e| ConfigError::invalid("secret", e.to_string()))?,
        KeySpec::SecretEnv(var) => {
            let value = std::env::var(&var).map_err(|_| {
                ConfigError::invalid(
                    "secret_env",
                    format!("environment variable {var} is not set"),
                )
            })?;
            VerifyingKey::secret(value.as_bytes(), algorithms)
                .map_err(|e| ConfigError::invalid("secret_env", format!("{var}: {e}")))?
        }
    };
    Ok(PreparedKeys::Fixed(Arc::new(key)))
}

/// `issuer` and every audience must be non-empty when given.
fn check_issuer_and_audiences(
    issuer: Option<&str>,
    audiences: &[String],
) -> Result<(), ConfigError> {
    if issuer.is_some_and(str::is_empty) {
        return Err(ConfigError::invalid("issuer", "must not be empty"));
    }
    if audiences.iter().any(String::is_empty) {
        return Err(ConfigError::invalid(
            "audiences",
            "must not contain an empty string",
        ));
    }
    Ok(())
}

/// The required claims (default `exp`), plus `jti` for replay protection and `iat` for
/// `max_age`. Replay protection needs a bound on the token's life: `exp` or `max_age`.
fn required_claims(
    configured: Option<Vec<String>>,
    replay: bool,
    max_age: Option<Duration>,
) -> Result<Vec<ClaimPath>, ConfigError> {
    let mut required = Vec::new();
    for (i, path) in configured
        .unwrap_or_else(|| vec!["exp".to_owned()])
        .iter()
        .enumerate()
    {
        required.push(ClaimPath::parse(path).ok_or_else(|| {
            ConfigError::invalid(format!("required_claims[{i}]"), "not a dotted claim path")
        })?);
    }
    let requires_exp = required.iter().any(|p| p.is("exp"));
    if replay {
        if !requires_exp && max_age.is_none() {
            return Err(ConfigError::invalid(
                "replay",
                "needs `exp` among required_claims or `max_age`, so that a jti can be forgotten",
            ));
        }
        if !required.iter().any(|p| p.is("jti")) {
            required.push(ClaimPath(vec!["jti".to_owned()]));
        }
    }
    if max_age.is_some() && !required.iter().any(|p| p.is("iat")) {
        required.push(ClaimPath(vec!["iat".to_owned()]));
    }
    Ok(required)
}

/// The tenant claim and its allowlist: `tenants` needs `tenant_claim`, and must not be empty.
fn tenant(
    claim: Option<&str>,
    tenants: Option<&[String]>,
) -> Result<Option<TenantPolicy>, ConfigError> {
    let Some(path) = claim else {
        return match tenants {
            Some(_) => Err(ConfigError::invalid("tenants", "needs tenant_claim")),
            None => Ok(None),
        };
    };
    let path = ClaimPath::parse(path)
        .ok_or_else(|| ConfigError::invalid("tenant_claim", "not a dotted claim path"))?;
    let allow = match tenants {
        None => None,
        Some([]) => {
            return Err(ConfigError::invalid(
                "tenants",
                "is empty: no token could ever pass; remove it to allow any tenant",
            ));
        }
        Some(list) if list.iter().any(String::is_empty) => {
            return Err(ConfigError::invalid(
                "tenants",
                "must not contain an empty string",
            ));
        }
        Some(list) => Some(list.iter().cloned().collect()),
    };
    Ok(Some(TenantPolicy { path, allow }))
}

/// The origins an issuer's tokens are bound to, canonical.
#[derive(Debug)]
struct OriginBindings {
    /// `origins`: for every token of the issuer.
    issuer_wide: Vec<String>,
    /// `tenant_origins`: for the tokens of one tenant.
    per_tenant: BTreeMap<String, Vec<String>>,
}

/// The issuer's origins and each tenant's, canonical; `tenant_origins` needs a tenant claim.
fn origin_bindings(
    origins: &[String],
    tenant_origins: &BTreeMap<String, Vec<String>>,
    has_tenant: bool,
) -> Result<OriginBindings, ConfigError> {
    if !tenant_origins.is_empty() && !has_tenant {
        return Err(ConfigError::invalid("tenant_origins", "needs tenant_claim"));
    }
    let issuer_wide = canonical_list(origins, |i| format!("origins[{i}]"))?;
    let mut per_tenant = BTreeMap::new();
    for (tenant, list) in tenant_origins {
        let canon = canonical_list(list, |i| format!("tenant_origins.{tenant}[{i}]"))?;
        per_tenant.insert(tenant.clone(), canon);
    }
    Ok(OriginBindings {
        issuer_wide,
        per_tenant,
    })
}

/// Every origin of `list` canonical; a mistake names `key(i)`.
fn canonical_list(
    list: &[String],
    key: impl Fn(usize) -> String,
) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, origin)| {
            canonical_origin(origin, false).map_err(|why| ConfigError::invalid(key(i), why))
        })
        .collect()
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
