//! The configuration file of the `serve` example (and of any service that wants one): TOML,
//! mapped onto the builder. Unknown keys are errors; every error names its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::builder::JwtGuardBuilder;
use crate::cors::Cors;
use crate::error::ConfigError;
use crate::guard::JwtGuard;
use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;
use crate::token::TokenSource;

mod replay_store;
mod preset;
mod upstream;

pub use upstream::{DEFAULT_IDENTITY_HEADER_PREFIX, DEFAULT_UPSTREAM_TIMEOUT, Upstream};

/// A parsed configuration file.
///
/// ```
/// let config = jwt_guard::Config::from_toml(r#"
///     listen = "127.0.0.1:0"
///     [[issuers]]
///     name = "pandium"
///     secret = "an-hmac-secret-of-at-least-32-bytes!!"
///     required_claims = []
///     max_age = "5m"
/// "#)?;
/// let guard = config.build()?;
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Config {
    listen: SocketAddr,
    builder: JwtGuardBuilder,
    metrics: bool,
    upstream: Option<Upstream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    realm: Option<String>,
    metrics: Option<bool>,
    upstream: Option<upstream::UpstreamFile>,
    #[serde(default)]
    issuers: Vec<IssuerFile>,
    token: Option<TokenFile>,
    cors: Option<CorsFile>,
    replay_store: Option<replay_store::ReplayStoreFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerFile {
    name: Option<String>,
    preset: Option<String>,
    jwks_url: Option<String>,
    public_key_pem: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    oidc_issuer: Option<String>,
    algorithms: Option<Vec<String>>,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    tenant_claim: Option<String>,
    tenants: Option<Vec<String>>,
    required_claims: Option<Vec<String>>,
    leeway: Option<String>,
    max_lifetime: Option<String>,
    max_age: Option<String>,
    refresh_cooldown: Option<String>,
    replay: Option<String>,
    origins: Option<Vec<String>>,
    tenant_origins: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    sources: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorsFile {
    allow_origins: Option<Vec<String>>,
    allow_credentials: Option<bool>,
    allow_methods: Option<Vec<String>>,
    allow_headers: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    preflight_max_age: Option<String>,
    /// The former name of `preflight_max_age`, still accepted.
    max_age: Option<String>,
    allow_private_network: Option<bool>,
}

impl Config {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or its content is not a valid configuration.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Parses a configuration. Every check that does not need the whole configuration is done
    /// here; [`build`](Self::build) does the rest.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key at fault.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| syntax::syntax_error(text, &e))?;
        let listen = match &file.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(text) => text.parse().map_err(|_| {
                ConfigError::invalid("listen", "not an address such as 127.0.0.1:8080")
            })?,
        };
        let mut builder = JwtGuard::builder();
        if let Some(realm) = file.realm {
            builder = builder.realm(realm);
        }
        if file.issuers.is_empty() {
            return Err(ConfigError::missing("issuers"));
        }
        for (i, issuer) in file.issuers.into_iter().enumerate() {
            builder = builder.issuer(
                issuer
                    .into_issuer()
                    .map_err(|e| e.within(&format!("issuers[{i}]")))?,
            );
        }
        if let Some(sources) = file.token.and_then(|token| token.sources) {
            let mut parsed = Vec::with_capacity(sources.len());
            for (i, source) in sources.iter().enumerate() {
                parsed.push(source.parse::<TokenSource>().map_err(|e| {
                    ConfigError::invalid(format!("token.sources[{i}]"), e.to_string())
                })?);
            }
            builder = builder.token_sources(parsed);
        }
        if let Some(cors) = file.cors {
            builder = builder.cors(cors.into_cors().map_err(|e| e.within("cors"))?);
        }
        if let Some(store) = file.replay_store {
            builder = store.apply(builder)?;
        }
        let upstream = match file.upstream {
            None => None,
            Some(table) => Some(
                table
                    .into_upstream(duration)
                    .map_err(|e| e.within("upstream"))?,
            ),
        };
        Ok(Self {
            listen,
            builder,
            metrics: file.metrics.unwrap_or(false),
            upstream,
        })
    }

    /// The `listen` address (default `127.0.0.1:8080`).
    #[must_use]
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// `metrics = true`: `serve` answers `GET /metrics` (default `false`).
    #[must_use]
    pub fn metrics(&self) -> bool {
        self.metrics
    }

    /// The `[upstream]` table: proxy mode.
    #[must_use]
    pub fn upstream(&self) -> Option<&Upstream> {
        self.upstream.as_ref()
    }

    /// The builder, to adjust before building (a clock, an HTTP client, a replay store).
    pub fn into_builder(self) -> JwtGuardBuilder {
        self.builder
    }

    /// Builds the guard.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key at fault.
    pub fn build(self) -> Result<JwtGuard, ConfigError> {
        self.builder.build()
    }
}

impl IssuerFile {
    fn into_issuer(self) -> Result<Issuer, ConfigError> {
        let sources = [
            ("jwks_url", self.jwks_url.is_some()),
            ("public_key_pem", self.public_key_pem.is_some()),
            ("secret", self.secret.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("oidc_issuer", self.oidc_issuer.is_some()),
        ];
        let mut present = sources.iter().filter(|(_, set)| *set).map(|(key, _)| *key);
        let (first, second) = (present.next(), present.next());
        if let (Some(first), Some(second)) = (first, second) {
            return Err(ConfigError::invalid(
                second,
                format!(
                    "`{first}` is set as well: exactly one of jwks_url, public_key_pem, secret, secret_env and oidc_issuer may be set"
                ),
            ));
        }
        if let Some(name) = &self.preset {
            preset::check(&preset::Given {
                source: first,
                issuer: self.issuer.is_some(),
                audiences: self.audiences.as_ref().is_some_and(|a| !a.is_empty()),
                preset: name,
            })?;
        }
        let mut issuer = if let Some(url) = &self.jwks_url {
            // Checked here too, so that a bad URL fails `from_toml` as every other value does.
            crate::origin::parse_fetch_url(url, "jwks_url")?;
            Issuer::jwks(url)
        } else if let Some(pem) = self.public_key_pem {
            Issuer::public_key_pem(pem)
        } else if let Some(secret) = self.secret {
            Issuer::secret(secret.as_bytes())
        } else if let Some(var) = self.secret_env {
            Issuer::secret_env(var)
        } else if let Some(iss) = &self.oidc_issuer {
            if self
                .issuer
                .as_ref()
                .is_some_and(|configured| configured != iss)
            {
                return Err(ConfigError::invalid(
                    "issuer",
                    "differs from oidc_issuer, which sets the required `iss` itself",
                ));
            }
            crate::origin::parse_fetch_url(iss, "oidc_issuer")?;
            Issuer::oidc(iss)
        } else {
            return Err(ConfigError::invalid(
                "",
                "needs a key source: one of jwks_url, public_key_pem, secret, secret_env and oidc_issuer",
            ));
        };
        if let Some(name) = &self.preset {
            issuer = preset::apply(name, issuer);
        }
        if let Some(name) = self.name {
            issuer = issuer.name(name);
        }
        if let Some(algs) = self.algorithms {
            let mut parsed = Vec::with_capacity(algs.len());
            for (i, alg) in algs.iter().enumerate() {
                parsed.push(alg.parse::<Algorithm>().map_err(|e| {
                    ConfigError::invalid(format!("algorithms[{i}]"), e.to_string())
                })?);
            }
            issuer = issuer.algorithms(parsed);
        }
        if let Some(iss) = self.issuer {
            issuer = issuer.issuer(iss);
        }
        if let Some(auds) = self.audiences {
            issuer = issuer.audiences(auds);
        }
        if let Some(claim) = self.tenant_claim {
            issuer = issuer.tenant_claim(claim);
        }
        if let Some(tenants) = self.tenants {
            issuer = issuer.tenants(tenants);
        }
        if let Some(required) = self.required_claims {
            issuer = issuer.required_claims(required);
        }
        if let Some(leeway) = self.leeway {
            issuer = issuer.leeway(duration(&leeway, "leeway")?);
        }
        if let Some(max) = self.max_lifetime {
            issuer = issuer.max_lifetime(duration(&max, "max_lifetime")?);
        }
        if let Some(max) = self.max_age {
            issuer = issuer.max_age(duration(&max, "max_age")?);
        }
        if let Some(cooldown) = self.refresh_cooldown {
            issuer = issuer.refresh_cooldown(duration(&cooldown, "refresh_cooldown")?);
        }
        match self.replay.as_deref() {
            None => {}
            Some("reject") => issuer = issuer.reject_replays(),
            Some(_) => {
                return Err(ConfigError::invalid(
                    "replay",
                    "the only value is \"reject\"",
                ));
            }
        }
        if let Some(origins) = self.origins {
            issuer = issuer.origins(origins);
        }
        for (tenant, origins) in self.tenant_origins.unwrap_or_default() {
            issuer = issuer.tenant_origins(tenant, origins);
        }
        Ok(issuer)
    }
}

impl CorsFile {
    fn into_cors(self) -> Result<Cors, ConfigError> {
        let mut cors = Cors::new();
        if let Some(origins) = self.allow_origins {
            cors = cors.allow_origins(origins);
        }
        if let Some(credentials) = self.allow_credentials {
            cors = cors.allow_credentials(credentials);
        }
        if let Some(methods) = self.allow_methods {
            cors = cors.allow_methods(methods);
        }
        if let Some(headers) = self.allow_headers {
            cors = cors.allow_headers(headers);
        }
        if let Some(headers) = self.expose_headers {
            cors = cors.expose_headers(headers);
        }
        if let Some(max_age) = cors::preflight_max_age_key(self.preflight_max_age, self.max_age)? {
            cors = cors.preflight_max_age(max_age);
        }
        if let Some(pna) = self.allow_private_network {
            cors = cors.allow_private_network(pna);
        }
        Ok(cors)
    }
}

/// `"250ms"`, `"30s"`, `"5m"`, `"2h"`: an integer with a unit.
pub(crate) fn duration(text: &str, key: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        ConfigError::invalid(
            key,
            format!("{text:?} is not a duration such as \"250ms\", \"30s\", \"5m\" or \"2h\""),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(bad)
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        _ => Err(bad()),
    }
}

mod cors;
mod syntax;

#[cfg(test)]
mod tests;
