//! `[replay_store]`: where the `replay = "reject"` issuers remember used `jti`s, shared by every
//! replica (a Redis or Valkey server; feature `redis`).
//!
//! ```toml
//! [replay_store]
//! redis_url = "redis://127.0.0.1:6379/0"   # or redis_url_env = "REDIS_URL"; rediss:// for TLS
//! key_prefix = "jwt-guard:"                # default
//! timeout = "250ms"                        # default; at most 5s
//! ```
//!
//! Errors name `replay_store.KEY` and never hold the URL (it may carry a password), whether it
//! was written in the file or read from the environment.

use serde::Deserialize;

use crate::builder::JwtGuardBuilder;
use crate::error::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayStoreFile {
    redis_url: Option<String>,
    redis_url_env: Option<String>,
    key_prefix: Option<String>,
    timeout: Option<String>,
}

/// The `Debug` of the table never shows the URL.
impl std::fmt::Debug for ReplayStoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayStoreFile")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[redacted]"))
            .field("redis_url_env", &self.redis_url_env)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ReplayStoreFile {
    /// Puts the store into `builder`; errors are named `replay_store.…`.
    pub(super) fn apply(self, builder: JwtGuardBuilder) -> Result<JwtGuardBuilder, ConfigError> {
        self.apply_inner(builder)
            .map_err(|e| e.within("replay_store"))
    }

    #[cfg(feature = "redis")]
    fn apply_inner(self, builder: JwtGuardBuilder) -> Result<JwtGuardBuilder, ConfigError> {
        let (url, key) = match (self.redis_url, self.redis_url_env) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "redis_url_env",
                    "`redis_url` is set as well: exactly one of redis_url and redis_url_env may be set",
                ));
            }
            (Some(url), None) => (url, "redis_url"),
            (None, Some(var)) => match std::env::var(&var) {
                Ok(url) => (url, "redis_url_env"),
                Err(_) => {
                    return Err(ConfigError::invalid(
                        "redis_url_env",
                        format!("environment variable {var} is not set (or not UTF-8)"),
                    ));
                }
            },
            (None, None) => {
                return Err(ConfigError::missing("redis_url"));
            }
        };
        let mut store = crate::RedisReplayStore::builder(url);
        if let Some(prefix) = self.key_prefix {
            store = store.key_prefix(prefix);
        }
        if let Some(timeout) = self.timeout {
            store = store.timeout(super::duration(&timeout, "timeout")?);
        }
        let store = store.build().map_err(|e| match e {
            // A URL read from the environment: the error names the key that points to it.
            ConfigError::Invalid { key: bad, reason } if bad == "redis_url" => {
                ConfigError::invalid(key, reason)
            }
            other => other,
        })?;
        Ok(builder.replay_store(store))
    }

    #[cfg(not(feature = "redis"))]
    fn apply_inner(self, _builder: JwtGuardBuilder) -> Result<JwtGuardBuilder, ConfigError> {
        Err(without_redis_feature())
    }
}

/// The error for a `[replay_store]` table in a build without the `redis` feature.
#[cfg_attr(feature = "redis", allow(dead_code))]
pub(super) fn without_redis_feature() -> ConfigError {
    ConfigError::invalid(
        "",
        "needs jwt-guard's `redis` feature (cargo build --features redis, or --all-features for the serve example)",
    )
}

#[cfg(test)]
mod tests;
