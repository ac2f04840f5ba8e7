//! The verified-token cache: a token seen before skips parsing and the signature check.
//!
//! - Keyed by the token's exact bytes: two different tokens never share an entry.
//! - Bounded by an approximate byte budget (moka's weigher), evicting the least useful entries.
//! - An entry lives no longer than its token (`exp`, or `iat + max_age`, plus leeway), capped
//!   at [`MAX_ENTRY_TTL`].
//! - A hit is not a pass: the engine re-checks the dates, that the verifying key is still in
//!   its set, the tenant allowlist and the origin bindings on every request. Tokens of
//!   replay-protected issuers are never cached.

use std::hash::{BuildHasher, Hasher, RandomState};
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
    inner: Cache<Arc<[u8]>, Entry, TailHash>,
}

/// How many of a token's last bytes are hashed.
const HASHED_TAIL: usize = 32;

/// The cache's hasher: SipHash with a per-process random key (std's `RandomState`) over the
/// token's length and its last [`HASHED_TAIL`] bytes, not over all of it.
///
/// Hashing a whole 654-byte RS256 token cost about 0.2 µs of every cache hit. The tail of a
/// token is its signature, which nobody can choose without the signing key, and only verified
/// tokens are ever inserted; the key of the hash is secret as well, so entries cannot be aimed
/// at one bucket. Equality still compares every byte: two tokens never share an entry.
#[derive(Clone, Debug, Default)]
struct TailHash(RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::hash::DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes
            .get(bytes.len().saturating_sub(HASHED_TAIL)..)
            .unwrap_or(bytes);
        self.0.write(tail);
        self.0.write_usize(bytes.len());
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

struct ByToken;

impl moka::Expiry<Arc<[u8]>, Entry> for ByToken {
    fn expire_after_create(
        &self,
        _key: &Arc<[u8]>,
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
            .weigher(|token: &Arc<[u8]>, _entry: &Entry| {
                // The token, plus its decoded claims at about three times its size.
                u32::try_from(token.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(4)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .expire_after(ByToken)
            .build_with_hasher(TailHash::default());
        Self { inner }
    }

    pub(crate) fn get(&self, token: &[u8]) -> Option<Arc<CachedToken>> {
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
            Arc::from(token.as_bytes()),
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
        assert!(cache.get(b"a.b.c").is_none());
        cache.insert("a.b.c", entry(Some(now + 60.0)), now);
        assert!(cache.get(b"a.b.c").is_some());
        assert!(cache.get(b"a.b.d").is_none());
        assert!(cache.get(b"a.b.").is_none());
    }

    #[test]
    fn tokens_that_share_their_hashed_tail_keep_their_own_entries() {
        let cache = TokenCache::new(1_000_000);
        let now = 1_000.0;
        let tail = "s".repeat(HASHED_TAIL);
        let one = format!("header.one.{tail}");
        let two = format!("header.two.{tail}");
        let mut first = entry(Some(now + 60.0));
        first.key_id = 1;
        let mut second = entry(Some(now + 60.0));
        second.key_id = 2;
        cache.insert(&one, first, now);
        assert!(
            cache.get(two.as_bytes()).is_none(),
            "a token found another's entry"
        );
        cache.insert(&two, second, now);
        assert_eq!(cache.get(one.as_bytes()).map(|hit| hit.key_id), Some(1));
        assert_eq!(cache.get(two.as_bytes()).map(|hit| hit.key_id), Some(2));
        // A token that is a suffix of another, with the same hashed tail.
        assert!(cache.get(format!("one.{tail}").as_bytes()).is_none());
    }
}
