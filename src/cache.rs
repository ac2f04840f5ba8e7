//! The verified-token cache: a token seen before skips parsing and the signature check.
//!
//! - Keyed by the token's exact bytes: two different tokens never share an entry.
//! - Bounded by an approximate byte budget (moka's weigher), evicting the least useful entries.
//! - An entry lives no longer than its token (`exp`, or `iat + max_age`, plus leeway), capped
//!   at [`MAX_ENTRY_TTL`].
//! - A hit is not a pass: the engine re-checks the dates, that the verifying key is still in
//!   its set, the tenant allowlist and the origin bindings on every request. Tokens of
//!   replay-protected issuers are never cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::claims::Dates;
use crate::identity::Verified;

/// The longest an entry is kept, whatever its token says.
pub(crate) const MAX_ENTRY_TTL: Duration = Duration::from_secs(3600);

/// Per-entry overhead counted on top of the token and claims (moka's node, the `Arc`s, the map).
const ENTRY_OVERHEAD: u32 = 256;

/// One verified token.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) authority: usize,
    pub(crate) key_id: u64,
    pub(crate) dates: Dates,
    pub(crate) valid_until: Option<f64>,
    pub(crate) verified: Verified,
}

/// The cache; cloning shares it.
#[derive(Clone, Debug)]
pub(crate) struct TokenCache {
    inner: Cache<Arc<str>, Arc<CachedToken>>,
}

struct ByToken;

impl moka::Expiry<Arc<str>, Arc<CachedToken>> for ByToken {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Arc<CachedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = crate::clock::SystemClock;
        let remaining = value.valid_until.map_or(MAX_ENTRY_TTL, |until| {
            let secs = until - crate::clock::Clock::now(&now);
            Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(MAX_ENTRY_TTL)
        });
        Some(remaining.min(MAX_ENTRY_TTL))
    }
}

impl TokenCache {
    /// A cache holding about `budget_bytes` of tokens and claims.
    pub(crate) fn new(budget_bytes: u64) -> Self {
        let inner = Cache::builder()
            .max_capacity(budget_bytes)
            .weigher(|token: &Arc<str>, entry: &Arc<CachedToken>| {
                // The decoded claims take about twice the token's size once parsed.
                let _ = entry;
                u32::try_from(token.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(3)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .expire_after(ByToken)
            .build();
        Self { inner }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<CachedToken>> {
        self.inner.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: CachedToken, now: f64) {
        if entry.valid_until.is_some_and(|until| until <= now) {
            return;
        }
        self.inner.insert(Arc::from(token), Arc::new(entry));
    }

    /// Entries held now (approximate: moka applies writes in batches).
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}
