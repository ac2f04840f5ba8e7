//! The cache of one JWKS URL.
//!
//! - **Hot path**: a read lock held only to clone an `Arc` of the current snapshot; the key
//!   lookup and the signature check run on that snapshot with no lock held. A cached token's
//!   key is re-confirmed with two atomic loads ([`RemoteJwks::still_has`]) while the set it was
//!   confirmed in is current and fresh.
//! - **Single flight**: a fetch runs in its own task; requests that need it wait on a `watch`
//!   channel, so N concurrent misses cause one request to the JWKS host, and a cancelled
//!   request does not cancel the fetch.
//! - **TTL**: from `Cache-Control: max-age`, clamped; after it runs out, the next request
//!   starts a background refresh and goes on verifying with the current keys.
//! - **Cooldown**: counted from the start of the last fetch of any kind; an unknown `kid`
//!   causes a refetch at most once per cooldown, and so does a retry against a failing host.
//! - **Stale-if-error**: a failed fetch keeps the last good set, up to `max_stale` past its
//!   TTL; a successful fetch replaces the whole set.
//! - No lock is ever held across I/O or an `.await`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http::HeaderValue;
use tokio::sync::watch;

use super::discovery;
use super::fetch::{self, FetchLimits, Fetched};
use super::parse::parse_jwks;
use super::{KeySet, Lookup};
use crate::clock::Clock;
use crate::keys::algorithm::Algorithm;
use crate::keys::key::VerifyingKey;
use crate::reject::{Reason, Rejection};
use crate::sync::{self, lock};

/// The settings of one remote key set.
#[derive(Clone, Debug)]
pub(crate) struct RemoteSettings {
    pub(crate) default_ttl: Duration,
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) limits: FetchLimits,
}

/// A good key set and when it was obtained (monotonic readings).
#[derive(Debug)]
struct Snapshot {
    keys: KeySet,
    fetched_at: Duration,
    expires_at: Duration,
    etag: Option<HeaderValue>,
}

#[derive(Debug, Default)]
struct Control {
    /// Start of the last fetch of any kind.
    last_attempt: Option<Duration>,
    /// The fetch in flight, if any: its receiver turns `true` when it is done.
    inflight: Option<watch::Receiver<bool>>,
}

/// Where the key set is fetched from, as configured.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A configured JWKS URL.
    Jwks(url::Url),
    /// OIDC discovery: the `jwks_uri` of the issuer's discovery document at `config`, whose
    /// `issuer` must equal `issuer`; resolved by the first fetch and again after a failed one.
    Discovery { config: url::Url, issuer: String },
}

/// One JWKS URL's keys.
#[derive(Debug)]
pub(crate) struct RemoteJwks {
    source: Source,
    /// The `jwks_uri` found by discovery, until a fetch fails (always `None` for a
    /// [`Source::Jwks`]).
    discovered: Mutex<Option<url::Url>>,
    /// The issuer name, for logs.
    label: Arc<str>,
    client: reqwest::Client,
    algorithms: Vec<Algorithm>,
    settings: RemoteSettings,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped by every [`Self::install`], after the new snapshot is in place.
    generation: AtomicU64,
    /// The current snapshot's `expires_at` in nanoseconds (0: none).
    fresh_until: AtomicU64,
    control: Mutex<Control>,
}

/// Readiness of one key set, for health checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeysStatus {
    pub(crate) keys: usize,
    pub(crate) expired: bool,
    pub(crate) age: Duration,
}

impl RemoteJwks {
    pub(crate) fn new(
        source: Source,
        label: Arc<str>,
        client: reqwest::Client,
        algorithms: Vec<Algorithm>,
        settings: RemoteSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            source,
            discovered: Mutex::new(None),
            label,
            client,
            algorithms,
            settings,
            clock,
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
            fresh_until: AtomicU64::new(0),
            control: Mutex::new(Control::default()),
        }
    }

    /// The key for a token, fetching the set only when the request needs it: a cold start, a
    /// set too stale to use, or an unknown `kid` (cooldown permitting).
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyingKey>, Rejection> {
        let now = self.clock.monotonic();
        if let Some(snapshot) = self.usable_snapshot(now) {
            if now >= snapshot.expires_at {
                // Refresh in the background; this request keeps the current keys.
                let _ = self.start_fetch(now);
            }
            match snapshot.keys.find(kid, alg) {
                Lookup::UnknownKid => {}
                other => return settle(other),
            }
        }
        // An unknown kid (a rotation may have happened) or no usable keys at all: fetch, at
        // most once per cooldown.
        let Some(done) = self.start_fetch(now) else {
            // No fetch allowed now. One may have completed since the snapshot above was read:
            // look again in the current set before refusing.
            return match self.usable_snapshot(now) {
                Some(current) => {
                    let lookup = current.keys.find(kid, alg);
                    if matches!(lookup, Lookup::UnknownKid) {
                        crate::metrics::refetch_suppressed(&self.label);
                        tracing::debug!(target: "jwt_guard::jwks", issuer = %self.label, "unknown kid; refetch suppressed by the cooldown");
                    }
                    settle(lookup)
                }
                None => Err(self.unavailable(now)),
            };
        };
        wait(done).await;
        let now = self.clock.monotonic();
        match self.usable_snapshot(now) {
            Some(snapshot) => settle(snapshot.keys.find(kid, alg)),
            None => Err(self.unavailable(now)),
        }
    }

    /// Whether the key that verified a cached token is still in a usable set (not past its
    /// stale bound). Like a full verification, a hit on an expired set starts the refresh.
    ///
    /// `confirmed` is the cached token's own record of the set generation its key was last
    /// found in. While that set is current and within its TTL, the answer is two atomic loads:
    /// no lock, no shared write. Otherwise the set is looked at, as for a fresh token.
    pub(crate) fn still_has(self: &Arc<Self>, key_id: u64, confirmed: &AtomicU64) -> bool {
        let now = self.clock.monotonic();
        // Acquire: a generation read here comes with its snapshot (installed before the bump).
        let generation = self.generation.load(Ordering::Acquire);
        if generation != 0
            && confirmed.load(Ordering::Relaxed) == generation
            && nanos(now) < self.fresh_until.load(Ordering::Acquire)
        {
            return true;
        }
        let Some(snapshot) = self.usable_snapshot(now) else {
            return false;
        };
        if now >= snapshot.expires_at {
            let _ = self.start_fetch(now);
            return snapshot.keys.contains_id(key_id);
        }
        let found = snapshot.keys.contains_id(key_id);
        // The snapshot is `generation`'s or a newer one: a newer one only makes the record
        // stale (the next hit looks again), never wrong.
        if found {
            confirmed.store(generation, Ordering::Relaxed);
        }
        found
    }

    /// Fetches now if nothing is in flight and the cooldown allows, and waits for the fetch
    /// (or for the one in flight). For warming up at start.
    pub(crate) async fn refresh(self: &Arc<Self>) -> bool {
        let now = self.clock.monotonic();
        if let Some(done) = self.start_fetch(now) {
            wait(done).await;
        }
        self.usable_snapshot(self.clock.monotonic()).is_some()
    }

    pub(crate) fn status(&self) -> Option<KeysStatus> {
        let now = self.clock.monotonic();
        self.usable_snapshot(now).map(|s| KeysStatus {
            keys: s.keys.len(),
            expired: now >= s.expires_at,
            age: now.saturating_sub(s.fetched_at),
        })
    }

    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        sync::read(&self.current).clone()
    }

    /// The current set, unless it is older than its TTL plus `max_stale`.
    fn usable_snapshot(&self, now: Duration) -> Option<Arc<Snapshot>> {
        self.snapshot()
            .filter(|s| now < s.expires_at.saturating_add(self.settings.max_stale))
    }

    fn unavailable(&self, now: Duration) -> Rejection {
        let control = lock(&self.control);
        let remaining = control
            .last_attempt
            .map(|at| {
                at.saturating_add(self.settings.cooldown)
                    .saturating_sub(now)
            })
            .unwrap_or_default();
        Rejection::unavailable(
            Reason::KeysUnavailable,
            remaining.as_secs_f64().ceil() as u64,
        )
    }

    /// Starts a fetch unless one is in flight (then joins it) or the cooldown forbids it
    /// (then `None`).
    fn start_fetch(self: &Arc<Self>, now: Duration) -> Option<watch::Receiver<bool>> {
        let mut control = lock(&self.control);
        if let Some(inflight) = &control.inflight {
            // A dropped sender (the task died with its runtime) is not a fetch in flight.
            if !*inflight.borrow() && inflight.has_changed().is_ok() {
                return Some(inflight.clone());
            }
        }
        if control
            .last_attempt
            .is_some_and(|at| now < at.saturating_add(self.settings.cooldown))
        {
            return None;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(target: "jwt_guard::jwks", "no tokio runtime: cannot fetch the JWKS");
            return None;
        };
        control.last_attempt = Some(now);
        let (tx, rx) = watch::channel(false);
        control.inflight = Some(rx.clone());
        drop(control);
        let this = Arc::clone(self);
        runtime.spawn(async move {
            this.run_fetch().await;
            let _ = tx.send(true);
        });
        Some(rx)
    }

    /// The JWKS URL: the configured one, or the discovered `jwks_uri`.
    async fn jwks_url(&self) -> Result<url::Url, discovery::DiscoveryError> {
        match &self.source {
            Source::Jwks(url) => Ok(url.clone()),
            Source::Discovery { config, issuer } => {
                if let Some(url) = lock(&self.discovered).clone() {
                    return Ok(url);
                }
                let url =
                    discovery::discover(&self.client, config, issuer, self.settings.limits).await?;
                tracing::info!(target: "jwt_guard::jwks", issuer = %self.label, jwks_uri = %url, "discovered the JWKS URL");
                *lock(&self.discovered) = Some(url.clone());
                Ok(url)
            }
        }
    }

    /// After a failed fetch, a discovered `jwks_uri` is looked up again next time.
    fn forget_discovered(&self) {
        if matches!(self.source, Source::Discovery { .. }) {
            *lock(&self.discovered) = None;
        }
    }

    async fn run_fetch(&self) {
        let started = std::time::Instant::now();
        let url = match self.jwks_url().await {
            Ok(url) => url,
            Err(why) => {
                crate::metrics::jwks_fetch(&self.label, "failed");
                tracing::warn!(target: "jwt_guard::jwks", issuer = %self.label, reason = %why, "{}", self.kept("OIDC discovery failed"));
                lock(&self.control).inflight = None;
                return;
            }
        };
        let etag = self.snapshot().and_then(|s| s.etag.clone());
        let result = fetch::fetch(&self.client, &url, etag.as_ref(), self.settings.limits).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let now = self.clock.monotonic();
        let outcome = match &result {
            Ok(Fetched::NotModified { .. }) => "not_modified",
            Ok(Fetched::Body { .. }) => "ok",
            Err(_) => "failed",
        };
        match result {
            Ok(Fetched::Body {
                body,
                max_age,
                etag,
            }) => match parse_jwks(&body, &self.algorithms, &self.label) {
                Ok(keys) => {
                    crate::metrics::jwks_fetch(&self.label, outcome);
                    let previous = self.snapshot();
                    let (added, removed) = keys.kid_changes(previous.as_ref().map(|s| &s.keys));
                    tracing::info!(
                        target: "jwt_guard::jwks",
                        issuer = %self.label,
                        url = %url,
                        keys = keys.len(),
                        kids_added = %added,
                        kids_removed = %removed,
                        elapsed_ms,
                        "key set loaded"
                    );
                    let ttl = self.ttl(max_age);
                    self.install(Some(Arc::new(Snapshot {
                        keys,
                        fetched_at: now,
                        expires_at: now.saturating_add(ttl),
                        etag,
                    })));
                }
                Err(why) => {
                    crate::metrics::jwks_fetch(&self.label, "failed");
                    self.forget_discovered();
                    tracing::warn!(target: "jwt_guard::jwks", issuer = %self.label, url = %url, elapsed_ms, reason = %why, "{}", self.kept("key set refused"));
                }
            },
            Ok(Fetched::NotModified { max_age }) => {
                crate::metrics::jwks_fetch(&self.label, outcome);
                if let Some(old) = self.snapshot() {
                    let ttl = self.ttl(max_age);
                    // Same keys (same `Arc`s: cached tokens stay valid), new expiry.
                    let keys = KeySet::new(old.keys.keys.clone());
                    self.install(Some(Arc::new(Snapshot {
                        keys,
                        fetched_at: now,
                        expires_at: now.saturating_add(ttl),
                        etag: old.etag.clone(),
                    })));
                }
                tracing::info!(target: "jwt_guard::jwks", issuer = %self.label, url = %url, elapsed_ms, "key set not modified");
            }
            Err(why) => {
                crate::metrics::jwks_fetch(&self.label, outcome);
                self.forget_discovered();
                tracing::warn!(target: "jwt_guard::jwks", issuer = %self.label, url = %url, elapsed_ms, reason = %why, "{}", self.kept("key set fetch failed"));
            }
        }
        lock(&self.control).inflight = None;
    }

    /// The message of a failed fetch: whether a previous key set is kept, or there is none
    /// yet (the first fetch failed: tokens get 503 until a fetch succeeds).
    fn kept(&self, what: &str) -> String {
        if self.snapshot().is_some() {
            format!("{what}; keeping the previous key set")
        } else {
            format!("{what}; no key set yet: tokens are refused with 503 until a fetch succeeds")
        }
    }

    fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.settings.default_ttl)
            .clamp(self.settings.min_ttl, self.settings.max_ttl)
    }

    fn install(&self, snapshot: Option<Arc<Snapshot>>) {
        let fresh_until = snapshot.as_ref().map_or(0, |s| nanos(s.expires_at));
        let mut guard = sync::write(&self.current);
        *guard = snapshot;
        // Under the write lock, after the snapshot: a reader that sees the new generation
        // (Acquire) sees this snapshot or a later one.
        self.fresh_until.store(fresh_until, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        drop(guard);
    }
}

/// A monotonic reading in nanoseconds (saturating: 584 years).
fn nanos(at: Duration) -> u64 {
    u64::try_from(at.as_nanos()).unwrap_or(u64::MAX)
}

/// The answer of a lookup in a set.
fn settle(lookup: Lookup<'_>) -> Result<Arc<VerifyingKey>, Rejection> {
    match lookup {
        Lookup::Found(key) => Ok(Arc::clone(key)),
        Lookup::Ambiguous => Err(Reason::AmbiguousKey.into()),
        Lookup::NoMatch => Err(Reason::NoMatchingKey.into()),
        Lookup::UnknownKid => Err(Reason::UnknownKid.into()),
    }
}

async fn wait(mut done: watch::Receiver<bool>) {
    // Err: the fetch task is gone (runtime shutting down); the caller re-reads the state.
    let _ = done.wait_for(|done| *done).await;
}
