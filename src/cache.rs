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
/// Measured: an HS256 entry of a 336-byte token keeps about 1,780 bytes resident
/// (`examples/bench_memory.rs`), which `4 × 336 + 512` = 1,856 covers.
const ENTRY_OVERHEAD: u32 = 512;

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
    inner: Cache<Arc<str>, Entry>,
}

struct ByToken;

impl moka::Expiry<Arc<str>, Entry> for ByToken {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A cached token and how long moka keeps it, computed with the engine's clock when inserted.
#[derive(Clone, Debug)]
struct Entry {
    token: Arc<CachedToken>,
    ttl: Duration,
}

impl TokenCache {
    /// A cache holding about `budget_bytes` of tokens and claims.
    pub(crate) fn new(budget_bytes: u64) -> Self {
        let inner = Cache::builder()
            .max_capacity(budget_bytes)
            .weigher(|token: &Arc<str>, _entry: &Entry| {
                // The token, plus its decoded claims at about three times its size.
                u32::try_from(token.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(4)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .expire_after(ByToken)
            .build();
        Self { inner }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<CachedToken>> {
        self.inner.get(token).map(|entry| entry.token)
    }

    /// Caches a verified token until it stops being valid (by the engine's clock `now`), at most
    /// [`MAX_ENTRY_TTL`].
    pub(crate) fn insert(&self, token: &str, entry: CachedToken, now: f64) {
        let ttl = match entry.valid_until {
            None => MAX_ENTRY_TTL,
            Some(until) if until <= now => return,
            Some(until) => Duration::try_from_secs_f64(until - now)
                .unwrap_or(MAX_ENTRY_TTL)
                .min(MAX_ENTRY_TTL),
        };
        self.inner.insert(
            Arc::from(token),
            Entry {
                token: Arc::new(entry),
                ttl,
            },
        );
    }

    /// Entries held now (moka applies writes in batches: this runs them first).
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;

    fn entry(valid_until: Option<f64>) -> CachedToken {
        CachedToken {
            authority: 0,
            key_id: 1,
            dates: Dates::default(),
            valid_until,
            verified: Verified::new(
                "i".into(),
                None,
                Algorithm::HS256,
                None,
                serde_json::Map::new(),
            ),
        }
    }

    #[test]
    fn the_byte_budget_bounds_the_entries() {
        // Each 1000-byte token weighs 4 * 1000 + 512 bytes: a 100 KB budget holds about 22.
        let cache = TokenCache::new(100_000);
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        for i in 0..1000 {
            let token = format!("{i:0>1000}");
            cache.insert(&token, entry(Some(now + 600.0)), now);
        }
        let held = cache.entry_count();
        assert!(held > 0, "the cache holds nothing");
        assert!(held * 4512 <= 100_000, "{held} entries exceed the budget");
    }

    #[test]
    fn expired_tokens_are_not_cached_and_distinct_tokens_never_share_an_entry() {
        let cache = TokenCache::new(1_000_000);
        let now = 1_000.0;
        cache.insert("a.b.c", entry(Some(now)), now);
        assert!(cache.get("a.b.c").is_none());
        cache.insert("a.b.c", entry(Some(now + 60.0)), now);
        assert!(cache.get("a.b.c").is_some());
        assert!(cache.get("a.b.d").is_none());
        assert!(cache.get("a.b.").is_none());
    }
}
