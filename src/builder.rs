//! The builder: every setting is checked here, once, and `build` returns a `Result`.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::cors::{Cors, CorsPolicy};
use crate::error::ConfigError;
use crate::guard::JwtGuard;
use crate::issuer::Issuer;
use crate::issuer::prepare::{PreparedIssuer, PreparedKeys, check_ambiguity};
use crate::keys::jwks::fetch::{self, FetchLimits};
use crate::keys::jwks::remote::{RemoteJwks, RemoteSettings};
use crate::layer::shared::Shared;
use crate::reject::Rejection;
use crate::reject::response::{RejectionBody, Renderer, Responder};
use crate::strict_json::JsonLimits;
use crate::token::TokenSource;
use crate::verify::cache::TokenCache;
use crate::verify::replay::{MemoryReplayStore, ReplayStore};
use crate::verify::{Authority, Engine};

/// The default budget of the verified-token cache: 32 MiB.
pub const DEFAULT_TOKEN_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Settings of the JWKS fetches, shared by every JWKS issuer of a layer.
#[derive(Clone, Copy, Debug)]
struct JwksOptions {
    connect_timeout: Duration,
    total_timeout: Duration,
    max_body: usize,
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    max_stale: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_body: 256 * 1024,
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            max_stale: Duration::from_secs(86_400),
        }
    }
}

/// Builds a [`JwtGuard`]. See the [crate docs](crate) for an example.
#[must_use]
pub struct JwtGuardBuilder {
    issuers: Vec<Issuer>,
    sources: Vec<TokenSource>,
    realm: String,
    cors: Option<Cors>,
    clock: Arc<dyn Clock>,
    http_client: Option<reqwest::Client>,
    jwks: JwksOptions,
    token_cache: Option<u64>,
    replay_store: Option<Arc<dyn ReplayStore>>,
    renderer: Option<Renderer>,
    grpc: bool,
}

impl fmt::Debug for JwtGuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtGuardBuilder")
            .field("issuers", &self.issuers)
            .field("sources", &self.sources)
            .field("realm", &self.realm)
            .field("cors", &self.cors)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl Default for JwtGuardBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            sources: vec![TokenSource::Header],
            realm: "jwt-guard".to_owned(),
            cors: None,
            clock: Arc::new(SystemClock),
            http_client: None,
            jwks: JwksOptions::default(),
            token_cache: Some(DEFAULT_TOKEN_CACHE_BYTES),
            replay_store: None,
            renderer: None,
            grpc: false,
        }
    }
}

impl JwtGuardBuilder {
    /// Adds an issuer. A token is verified against exactly one of them.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Where tokens are taken from, in order (replacing the default, the `Authorization` header).
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The realm of every `WWW-Authenticate` challenge. Default `jwt-guard`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Answers CORS for browser callers. Without it no CORS headers are sent and every
    /// preflight is refused.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = Some(cors);
        self
    }

    /// The clock for claims, TTLs and cooldowns (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The HTTP client for JWKS fetches, for proxies or custom roots. Its redirect policy and
    /// timeouts are the caller's responsibility; the default client has a 2 s connect timeout,
    /// a 5 s total timeout and follows no redirect.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// JWKS fetch timeouts (default 2 s to connect, 5 s in all).
    pub fn jwks_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.jwks.connect_timeout = connect;
        self.jwks.total_timeout = total;
        self
    }

    /// The TTL of a key set without `Cache-Control: max-age` (default 10 min), and the bounds
    /// any `max-age` is clamped to (default 1 min to 24 h).
    pub fn jwks_ttl(mut self, default: Duration, min: Duration, max: Duration) -> Self {
        self.jwks.default_ttl = default;
        self.jwks.min_ttl = min;
        self.jwks.max_ttl = max;
        self
    }

    /// How long past its TTL a key set is still used while its endpoint fails (default 24 h).
    pub fn jwks_max_stale(mut self, max_stale: Duration) -> Self {
        self.jwks.max_stale = max_stale;
        self
    }

    /// The budget of the verified-token cache in bytes (default 32 MiB). A verified token
    /// enters the cache on its second sighting; 1/64 of the budget remembers the tokens seen
    /// once (a fixed array of fingerprints), so a flood of one-shot tokens stays within it.
    pub fn token_cache_bytes(mut self, budget: u64) -> Self {
        self.token_cache = Some(budget);
        self
    }

    /// Turns the verified-token cache off: every request verifies its signature.
    pub fn without_token_cache(mut self) -> Self {
        self.token_cache = None;
        self
    }

    /// The store for `jti`s of replay-protected issuers (default: a [`MemoryReplayStore`] of
    /// 100,000 entries).
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay_store = Some(Arc::new(store));
        self
    }

    /// Renders the body of every rejection (the default is a small JSON object). The status,
    /// `WWW-Authenticate`, `Retry-After` and CORS headers stay the layer's.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use jwt_guard::{Issuer, JwtGuard, RejectionBody};
    ///
    /// let guard = JwtGuard::builder()
    ///     .issuer(Issuer::secret([7u8; 32]))
    ///     .render_rejections(|rejection| {
    ///         RejectionBody::new(
    ///             HeaderValue::from_static("application/problem+json"),
    ///             format!(r#"{{"title":"{}","status":{}}}"#, rejection.reason(), rejection.status().as_u16()),
    ///         )
    ///     })
    ///     .build()?;
    /// # Ok::<(), jwt_guard::ConfigError>(())
    /// ```
    pub fn render_rejections<F>(mut self, render: F) -> Self
    where
        F: Fn(&Rejection) -> RejectionBody + Send + Sync + 'static,
    {
        self.renderer = Some(Arc::new(render));
        self
    }

    /// Renders refusals of gRPC requests the gRPC way (default: off): HTTP 200 with
    /// `grpc-status` (16 Unauthenticated, 7 PermissionDenied, 3 InvalidArgument, 14 Unavailable)
    /// and `grpc-message`, trailers-only, which is what gRPC clients read.
    ///
    /// Only for a service that *is* a gRPC server. Even then it applies to real gRPC only: an
    /// HTTP/2 request whose `Content-Type` is exactly `application/grpc` or
    /// `application/grpc+SUBTYPE` (ASCII case-insensitive, no parameters). Everything else —
    /// HTTP/1.1, gRPC-Web (`application/grpc-web…`, answered by a proxy or browser that reads
    /// HTTP statuses), `application/grpcfoo`, a type with parameters — gets the ordinary HTTP
    /// refusal (401, 400, 403, 503). Without this setting every refusal keeps its HTTP status,
    /// whatever the request's headers say: a rejection is never a 2xx for anything that judges
    /// by status (a proxy, an auth subrequest, monitoring, `fetch().ok`).
    pub fn grpc_rejections(mut self, enabled: bool) -> Self {
        self.grpc = enabled;
        self
    }

    /// Checks the whole configuration and builds the guard.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key at fault, e.g. `issuers[0].secret`.
    pub fn build(self) -> Result<JwtGuard, ConfigError> {
        check_issuers_and_sources(&self.issuers, &self.sources)?;
        let responder = Responder::new(&self.realm)?.with_renderer(self.renderer);
        self.jwks.check()?;
        let issuers = prepare_issuers(self.issuers)?;
        let client = self.jwks.client(self.http_client)?;
        let bound_origins = bound_origins(&issuers);
        let authorities = authorities(issuers, &client, self.jwks, &self.clock);
        let cors = cors_policy(self.cors, &bound_origins)?;
        let engine = engine(authorities, self.clock, self.replay_store, self.token_cache);
        Ok(JwtGuard::new(Arc::new(Shared {
            engine,
            cors,
            responder: Arc::new(responder),
            sources: self.sources,
            grpc: self.grpc,
        })))
    }
}

impl JwksOptions {
    /// Timeouts non-zero, connect within total; the default TTL within its bounds.
    fn check(&self) -> Result<(), ConfigError> {
        if self.total_timeout.is_zero()
            || self.connect_timeout.is_zero()
            || self.connect_timeout > self.total_timeout
        {
            return Err(ConfigError::invalid(
                "jwks_timeouts",
                "must be non-zero, connect at most total",
            ));
        }
        if self.min_ttl > self.max_ttl
            || self.default_ttl < self.min_ttl
            || self.default_ttl > self.max_ttl
        {
            return Err(ConfigError::invalid(
                "jwks_ttl",
                "default must lie within [min, max]",
            ));
        }
        Ok(())
    }

    /// The caller's HTTP client, or one made with these timeouts.
    fn client(&self, configured: Option<reqwest::Client>) -> Result<reqwest::Client, ConfigError> {
        match configured {
            Some(client) => Ok(client),
            None => fetch::client(self.connect_timeout, self.total_timeout)
                .map_err(|e| ConfigError::invalid("http_client", e.to_string())),
        }
    }

    /// The settings of one issuer's remote key set.
    fn remote_settings(&self, cooldown: Duration) -> RemoteSettings {
        RemoteSettings {
            default_ttl: self.default_ttl,
            min_ttl: self.min_ttl,
            max_ttl: self.max_ttl,
            max_stale: self.max_stale,
            cooldown,
            limits: FetchLimits {
                max_body: self.max_body,
                total_timeout: self.total_timeout,
            },
        }
    }
}

/// At least one issuer; at least one token source, none listed twice.
fn check_issuers_and_sources(
    issuers: &[Issuer],
    sources: &[TokenSource],
) -> Result<(), ConfigError> {
    if issuers.is_empty() {
        return Err(ConfigError::missing("issuers"));
    }
    if sources.is_empty() {
        return Err(ConfigError::invalid(
            "token.sources",
            "must name at least one source",
        ));
    }
    let mut seen = HashSet::new();
    for (i, source) in sources.iter().enumerate() {
        if !seen.insert(source) {
            return Err(ConfigError::invalid(
                format!("token.sources[{i}]"),
                "listed twice",
            ));
        }
    }
    Ok(())
}

/// Prepares every issuer (errors named `issuers[i].…`), then checks them together: names and
/// `iss` values unique, tokens never ambiguous between two issuers.
fn prepare_issuers(issuers: Vec<Issuer>) -> Result<Vec<PreparedIssuer>, ConfigError> {
    let mut prepared = Vec::with_capacity(issuers.len());
    let mut names = HashSet::new();
    let mut iss_values = HashSet::new();
    for (i, issuer) in issuers.into_iter().enumerate() {
        let prefix = format!("issuers[{i}]");
        let issuer = issuer
            .prepare(format!("issuer{i}"))
            .map_err(|e| e.within(&prefix))?;
        if !names.insert(Arc::clone(&issuer.name)) {
            return Err(ConfigError::invalid(
                format!("{prefix}.name"),
                "another issuer has this name",
            ));
        }
        if let Some(iss) = &issuer.iss
            && !iss_values.insert(iss.clone())
        {
            return Err(ConfigError::invalid(
                format!("{prefix}.issuer"),
                "another issuer has this issuer",
            ));
        }
        prepared.push(issuer);
    }
    check_ambiguity(&prepared)?;
    Ok(prepared)
}

/// Every origin an issuer or a tenant is bound to, in issuer order.
fn bound_origins(issuers: &[PreparedIssuer]) -> Vec<String> {
    let mut bound = Vec::new();
    for issuer in issuers {
        bound.extend(issuer.origins.iter().cloned());
        bound.extend(issuer.tenant_origins.values().flatten().cloned());
    }
    bound
}

/// Each issuer with its remote key set, when its keys are fetched.
fn authorities(
    issuers: Vec<PreparedIssuer>,
    client: &reqwest::Client,
    jwks: JwksOptions,
    clock: &Arc<dyn Clock>,
) -> Vec<Authority> {
    issuers
        .into_iter()
        .map(|issuer| {
            let remote = match &issuer.keys {
                PreparedKeys::Remote(source) => Some(Arc::new(RemoteJwks::new(
                    source.clone(),
                    Arc::clone(&issuer.name),
                    client.clone(),
                    issuer.algorithms.clone(),
                    jwks.remote_settings(issuer.refresh_cooldown),
                    Arc::clone(clock),
                ))),
                PreparedKeys::Fixed(_) => None,
            };
            Authority {
                metrics: crate::metrics::IssuerMetrics::new(&issuer.name),
                issuer,
                remote,
            }
        })
        .collect()
}

/// The verification engine: the issuers, the clock, the replay store (by default in memory)
/// and the verified-token cache (unless turned off).
fn engine(
    authorities: Vec<Authority>,
    clock: Arc<dyn Clock>,
    replay_store: Option<Arc<dyn ReplayStore>>,
    token_cache: Option<u64>,
) -> Engine {
    Engine {
        authorities,
        clock,
        json_limits: JsonLimits::DEFAULT,
        replay: replay_store.unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
        cache: token_cache.map(TokenCache::new),
    }
}

/// The CORS policy, with the bound origins added to its allow list; without CORS, a policy
/// that refuses preflights (and knows whether origins are bound).
fn cors_policy(cors: Option<Cors>, bound_origins: &[String]) -> Result<CorsPolicy, ConfigError> {
    match cors {
        Some(cors) => CorsPolicy::new(cors, bound_origins).map_err(|e| e.within("cors")),
        None => Ok(CorsPolicy::disabled(!bound_origins.is_empty())),
    }
}

impl JwtGuard {
    /// Starts a configuration.
    pub fn builder() -> JwtGuardBuilder {
        JwtGuardBuilder::default()
    }
}
