//! [`RedisReplayStore`] (feature `redis`): the `jti`s of replay-protected issuers kept in Redis
//! or Valkey, so that every replica behind a load balancer accepts a `jti` once, together.
//!
//! - One `SET key 1 NX PX ttl` per check: atomic on the server, so of any number of concurrent
//!   requests with one `jti`, to any replicas, exactly one gets `OK`. The TTL runs to the
//!   token's end (its `exp`, or `iat` + `max_age`, plus the leeway), counted on the verifying
//!   replica's clock so that Redis's own clock never shortens it; nothing is written without
//!   one.
//! - The key is `prefix` + the issuer name's length + `:` + the issuer name + `:` + the `jti`:
//!   the length makes `a:b` + `c` and `a` + `b:c` two keys. Never the token, its signature or
//!   other claims; the value is `1`.
//! - One multiplexed connection (the `redis` crate's `ConnectionManager`), made on first use
//!   and re-made when it fails: no connection per request, and a guard builds and serves while
//!   Redis is down.
//! - Every check is bounded by the store's `timeout` (`tokio::time::timeout`): down,
//!   unreachable, wrong credentials, an error reply or no answer in time are all
//!   [`ReplayVerdict::Unavailable`] (503, `Retry-After: 1`), never an accepted replay.
//! - A password in the URL is never in `Debug`, in an error or in a log line.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};
use url::Url;

use crate::error::ConfigError;
use crate::verify::replay::{ReadyFuture, ReplayFuture, ReplayStore, ReplayVerdict};

/// The default of `RedisReplayStoreBuilder::timeout`: 250 ms.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The most `RedisReplayStoreBuilder::timeout` may be: 5 s.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(5);
/// The default of `RedisReplayStoreBuilder::key_prefix`.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "jwt-guard:";
/// The longest key prefix, in bytes.
const MAX_KEY_PREFIX: usize = 256;
/// A failed connection is replaced at most this often.
const RENEW_AFTER: Duration = Duration::from_secs(1);
/// The least TTL of a key (a token about to expire still gets a whole second).
const MIN_TTL_MS: u64 = 1_000;

/// A [`ReplayStore`] in Redis or Valkey, shared by every replica (feature `redis`).
///
/// Cloning is an `Arc` bump, and clones share one connection: give a clone to each
/// [`JwtGuardBuilder::replay_store`](crate::JwtGuardBuilder::replay_store) and
/// [`BlendrSignedQueryBuilder::replay_store`](crate::presets::BlendrSignedQueryBuilder::replay_store)
/// of a process.
///
/// ```
/// # fn main() -> Result<(), jwt_guard::ConfigError> {
/// use std::time::Duration;
/// use jwt_guard::{Issuer, JwtGuard, RedisReplayStore};
///
/// let store = RedisReplayStore::builder("redis://127.0.0.1:6379/0")
///     .key_prefix("orders-api:")
///     .timeout(Duration::from_millis(250))
///     .build()?;
/// // Nothing is connected yet: the first replay check connects, and a Redis that is down
/// // only makes replay-protected requests get 503 until it answers.
/// let guard = JwtGuard::builder()
///     .issuer(Issuer::secret([7u8; 32]).reject_replays())
///     .replay_store(store.clone())
///     .build()?;
/// # let _ = guard;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// `scheme://host:port/db`, without credentials: for `Debug` and log lines.
    target: String,
    /// The password as written in the URL and decoded, to scrub from error texts.
    secrets: Vec<String>,
    key_prefix: String,
    timeout: Duration,
    connection: Mutex<Connection>,
    /// Whether the last check was answered: the warn and info lines are written on changes.
    healthy: AtomicBool,
}

/// The connection, made on first use (that needs a Tokio runtime, which `build` may not have).
struct Connection {
    manager: Option<ConnectionManager>,
    made: Instant,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("target", &self.inner.target)
            .field("key_prefix", &self.inner.key_prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisReplayStore`]; [`build`](Self::build) checks every setting.
#[must_use]
pub struct RedisReplayStoreBuilder {
    url: String,
    key_prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStoreBuilder")
            .field("url", &target_of(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RedisReplayStoreBuilder {
    /// The prefix of every key (default `jwt-guard:`): give each deployment sharing a Redis
    /// its own. At most 256 bytes.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The most one replay check (or readiness ping) may wait for Redis, connecting included
    /// (default 250 ms, at most 5 s). Past it the request gets 503 with `Retry-After: 1`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings. Connects to nothing: the first check does.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `redis_url` (not a `redis://` or `rediss://` URL with a host and
    /// at most a database number for path), `key_prefix` or `timeout` (zero or over 5 s). The
    /// error never contains the URL.
    pub fn build(self) -> Result<RedisReplayStore, ConfigError> {
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(ConfigError::invalid(
                "timeout",
                "must be more than zero and at most 5s",
            ));
        }
        if self.key_prefix.len() > MAX_KEY_PREFIX {
            return Err(ConfigError::invalid(
                "key_prefix",
                "must be at most 256 bytes",
            ));
        }
        let url = check_url(&self.url)?;
        let client = Client::open(url.as_str()).map_err(|e| {
            ConfigError::invalid(
                "redis_url",
                format!("not accepted by the Redis client ({:?})", e.kind()),
            )
        })?;
        let mut secrets = Vec::new();
        if let Some(password) = url.password().filter(|p| !p.is_empty()) {
            secrets.push(password.to_owned());
            if let Some(decoded) = crate::token::percent_decode(password)
                && decoded != password
            {
                secrets.push(decoded);
            }
        }
        Ok(RedisReplayStore {
            inner: Arc::new(Inner {
                client,
                target: target(&url),
                secrets,
                key_prefix: self.key_prefix,
                timeout: self.timeout,
                connection: Mutex::new(Connection {
                    manager: None,
                    made: Instant::now(),
                }),
                healthy: AtomicBool::new(true),
            }),
        })
    }
}

/// `redis://` or `rediss://`, a host, a path that is empty or a database number.
fn check_url(text: &str) -> Result<Url, ConfigError> {
    let bad = |why: &str| ConfigError::invalid("redis_url", why.to_owned());
    let url = Url::parse(text).map_err(|_| {
        bad("not a URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS; user and password may be in it)")
    })?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err(bad("the scheme must be redis:// (or rediss:// for TLS)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() && path.parse::<u16>().is_err() {
        return Err(bad("the path may only be a database number, such as /0"));
    }
    Ok(url)
}

/// `scheme://host:port/db` of a URL, without user or password.
fn target(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let _ = write!(out, ":{}{}", url.port().unwrap_or(6379), url.path());
    out
}

/// The target of an unchecked URL, for `Debug` of the builder.
fn target_of(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => target(&url),
        Err(_) => "[not a URL]".to_owned(),
    }
}

impl RedisReplayStore {
    /// Starts a store for the Redis (or Valkey) at `url`: `redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` for TLS.
    pub fn builder(url: impl Into<String>) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The key under which `jti` of `issuer` is kept: the prefix, the issuer name's length in
    /// bytes, `:`, the name, `:`, the `jti`.
    #[must_use]
    pub fn key(&self, issuer: &str, jti: &str) -> String {
        let prefix = &self.inner.key_prefix;
        let mut key = String::with_capacity(prefix.len() + 22 + issuer.len() + jti.len());
        key.push_str(prefix);
        let _ = write!(key, "{}:", issuer.len());
        key.push_str(issuer);
        key.push(':');
        key.push_str(jti);
        key
    }

    /// The configured timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }
}

impl ReplayStore for RedisReplayStore {
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        valid_until: f64,
        now: f64,
    ) -> ReplayFuture<'a> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(issuer, jti))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(valid_until, now));
        Box::pin(async move {
            match self.inner.run(&cmd).await {
                Some(Value::Okay) => ReplayVerdict::Fresh,
                Some(Value::Nil) => ReplayVerdict::Replayed,
                Some(_) => {
                    self.inner.down("an unexpected reply to SET NX");
                    ReplayVerdict::Unavailable
                }
                None => ReplayVerdict::Unavailable,
            }
        })
    }

    fn ready(&self) -> ReadyFuture<'_> {
        Box::pin(async move { self.inner.run(&redis::cmd("PING")).await.is_some() })
    }
}

/// Milliseconds from `now` to `valid_until`, rounded up, at least one second.
fn ttl_ms(valid_until: f64, now: f64) -> u64 {
    // `as` saturates (and maps NaN to 0), so any input gives a TTL within bounds.
    let ms = ((valid_until - now) * 1000.0).ceil() as u64;
    ms.clamp(MIN_TTL_MS, u64::from(u32::MAX) * 1000)
}

impl Inner {
    /// Sends `cmd` within the timeout; `None` (logged) when Redis cannot answer it.
    async fn run(&self, cmd: &redis::Cmd) -> Option<Value> {
        let Some(mut manager) = self.manager() else {
            self.down("no Tokio runtime");
            return None;
        };
        match tokio::time::timeout(self.timeout, cmd.query_async::<Value>(&mut manager)).await {
            Ok(Ok(value)) => {
                self.up();
                Some(value)
            }
            Ok(Err(error)) => {
                self.down(&self.scrub(error.to_string()));
                self.renew();
                None
            }
            Err(_) => {
                self.down("no answer within the timeout");
                self.renew();
                None
            }
        }
    }

    /// The connection, made now if there is none (it connects on first use).
    fn manager(&self) -> Option<ConnectionManager> {
        let mut connection = crate::sync::lock(&self.connection);
        if let Some(manager) = &connection.manager {
            return Some(manager.clone());
        }
        // The manager spawns its reconnections on the current Tokio runtime.
        tokio::runtime::Handle::try_current().ok()?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config).ok()?;
        connection.manager = Some(manager.clone());
        connection.made = Instant::now();
        Some(manager)
    }

    /// After a failure: drops a connection older than a second, so that whatever state it is
    /// stuck in (refused credentials, a server that stopped answering), the next check starts
    /// afresh. At most one new connection a second.
    fn renew(&self) {
        let mut connection = crate::sync::lock(&self.connection);
        if connection.made.elapsed() >= RENEW_AFTER {
            connection.manager = None;
        }
    }

    fn up(&self) {
        if !self.healthy.load(Ordering::Relaxed) && !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(
                target: "jwt_guard::replay",
                store = %self.target,
                "replay store answers again"
            );
        }
    }

    fn down(&self, why: &str) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                target: "jwt_guard::replay",
                store = %self.target,
                error = %why,
                "replay store unavailable: replay-protected requests get 503 until it answers"
            );
        } else {
            tracing::debug!(
                target: "jwt_guard::replay",
                store = %self.target,
                error = %why,
                "replay store still unavailable"
            );
        }
    }

    /// An error text without the password.
    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

#[cfg(test)]
mod tests;
