//! The verified-token cache: a token seen before skips parsing and the signature check.
//!
//! - Keyed by the token's exact bytes: two different tokens never share an entry.
//! - Bounded by an approximate byte budget (moka's weigher), evicting the least useful entries.
//! - An entry lives no longer than its token (`exp`, or `iat + max_age`, plus leeway), capped
//!   at [`MAX_ENTRY_TTL`].
//! - A hit is not a pass: the engine re-checks the dates, that the verifying key is still in
//!   its set, the tenant allowlist and the origin bindings on every request. Tokens of
//!   replay-protected issuers are never cached.
//! - In front of moka, each thread keeps the [`HOT_SLOTS`] tokens it hit most recently
//!   ([`hot`]): the marketplace case, one token presented again and again, is then settled
//!   without moka's bookkeeping or a shared write.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::identity::Verified;
use crate::issuer::claims::Dates;

/// The longest an entry is kept, whatever its token says.
pub(crate) const MAX_ENTRY_TTL: Duration = Duration::from_secs(3600);

/// Per-entry overhead counted on top of the token and claims (moka's node, the `Arc`s, the map).
/// Measured: an HS256 entry of a 336-byte token keeps about 1,780 bytes resident
/// (`benches/bench_memory.rs`), which `4 × 336 + 512` = 1,856 covers.
const ENTRY_OVERHEAD: u32 = 512;

/// One verified token.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) authority: usize,
    pub(crate) key_id: u64,
    /// The generation of the key set the key was last found in (0: not yet looked at), for
    /// [`RemoteJwks::still_has`](crate::keys::jwks::remote::RemoteJwks::still_has).
    pub(crate) key_confirmed: AtomicU64,
    pub(crate) dates: Dates,
    pub(crate) valid_until: Option<f64>,
    pub(crate) verified: Verified,
}

/// The cache; cloning shares it.
#[derive(Clone, Debug)]
pub(crate) struct TokenCache {
    inner: Cache<Arc<[u8]>, Entry, TailHash>,
    /// Which cache a thread's hot slot belongs to: unique in the process.
    id: u64,
}

/// Where the cache ids come from.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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
    /// The key again, shared: a hot slot holds it without a copy.
    key: Arc<[u8]>,
    token: Arc<CachedToken>,
    ttl: Duration,
    /// The end of the entry by the engine's clock (`now + ttl` when inserted): a hot slot
    /// honours it as moka honours `ttl`.
    until: f64,
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
        Self {
            inner,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Settles `token` from the cache: `check` says what an entry of exactly this token is
    /// worth now (`None`: nothing any more, e.g. its key has left the set; `now`: the engine's
    /// clock). This thread's hot slot first; when it has no good entry, moka's, which then
    /// takes the slot (so a slot left behind by a re-verification does not stay in the way).
    pub(crate) fn settle<R>(
        &self,
        token: &[u8],
        now: f64,
        mut check: impl FnMut(&CachedToken) -> Option<R>,
    ) -> Option<R> {
        let hot = hot::get(self.id, token, now);
        if let Some(result) = hot.as_deref().and_then(&mut check) {
            return Some(result);
        }
        let entry = self.inner.get(token)?;
        hot::put(self.id, &entry);
        if hot.is_some_and(|hot| Arc::ptr_eq(&hot, &entry.token)) {
            return None;
        }
        check(&entry.token)
    }

    /// The entry of exactly this token, if it is cached and not past its end.
    #[cfg(test)]
    pub(crate) fn get(&self, token: &[u8], now: f64) -> Option<Arc<CachedToken>> {
        self.settle(token, now, |hit| Some(hit.key_id))?;
        hot::get(self.id, token, now)
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
        let key: Arc<[u8]> = Arc::from(token.as_bytes());
        let entry = Entry {
            key: Arc::clone(&key),
            token: Arc::new(entry),
            ttl,
            until: now + ttl.as_secs_f64(),
        };
        // Not into a hot slot: a flood of distinct tokens would fill the slots with entries
        // moka may evict, beyond the byte budget. A slot holding the entry this one replaces
        // gives way on the next look-up ([`Self::settle`]).
        self.inner.insert(key, entry);
    }

    /// Entries held now (moka applies writes in batches: this runs them first).
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}

/// Hot slots per thread, in front of moka.
pub(crate) const HOT_SLOTS: usize = 256;

/// Each thread's most recently hit tokens, direct-mapped: [`HOT_SLOTS`] slots, a token's slot
/// chosen by its last bytes (its signature).
///
/// A moka hit reads the clock, hashes the token and records the read in a channel that every
/// thread shares; a hot slot is a thread-local array look-up and a byte comparison. What a
/// slot holds is a moka entry's own `Arc`s, so it adds no copy, and it keeps the entry's end:
/// a slot never outlives its entry's time. It may outlive an eviction for the byte budget: at
/// most [`HOT_SLOTS`] entries per thread, the ones in use. A slot is only a shortcut to the
/// entry: the engine re-checks a hot hit exactly as a moka hit (dates, key still in its set,
/// tenant, origin), and two tokens that share a slot evict each other, they never match.
mod hot {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::{CachedToken, Entry, HOT_SLOTS};

    struct Slot {
        cache: u64,
        key: Arc<[u8]>,
        token: Arc<CachedToken>,
        until: f64,
    }

    thread_local! {
        static SLOTS: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
    }

    /// The slot of a token: its last 8 bytes are signature (base64url), which only the signer
    /// chooses. Two tokens aimed at one slot only cost each other a moka look-up.
    fn index(token: &[u8]) -> usize {
        let mut tail = [0u8; 8];
        let start = token.len().saturating_sub(tail.len());
        for (slot, byte) in tail.iter_mut().zip(token.get(start..).unwrap_or_default()) {
            *slot = *byte;
        }
        let mixed = u64::from_le_bytes(tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The top bits: `HOT_SLOTS` is a power of two.
        (mixed >> (64 - HOT_SLOTS.trailing_zeros())) as usize
    }

    pub(super) fn get(cache: u64, token: &[u8], now: f64) -> Option<Arc<CachedToken>> {
        SLOTS
            .try_with(|slots| {
                let slots = slots.try_borrow().ok()?;
                let slot = slots.get(index(token))?.as_ref()?;
                (slot.cache == cache && now < slot.until && *slot.key == *token)
                    .then(|| Arc::clone(&slot.token))
            })
            .ok()
            .flatten()
    }

    pub(super) fn put(cache: u64, entry: &Entry) {
        // A thread being torn down has no slots: nothing to do.
        let _ = SLOTS.try_with(|slots| {
            let Ok(mut slots) = slots.try_borrow_mut() else {
                return;
            };
            if slots.is_empty() {
                slots.resize_with(HOT_SLOTS, || None);
            }
            if let Some(slot) = slots.get_mut(index(&entry.key)) {
                *slot = Some(Slot {
                    cache,
                    key: Arc::clone(&entry.key),
                    token: Arc::clone(&entry.token),
                    until: entry.until,
                });
            }
        });
    }

    #[cfg(test)]
    pub(super) fn slot_of(token: &[u8]) -> usize {
        index(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::algorithm::Algorithm;

    fn entry(valid_until: Option<f64>) -> CachedToken {
        CachedToken {
            authority: 0,
            key_id: 1,
            key_confirmed: AtomicU64::new(0),
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
        assert!(cache.get(b"a.b.c", now).is_none());
        cache.insert("a.b.c", entry(Some(now + 60.0)), now);
        assert!(cache.get(b"a.b.c", now).is_some());
        assert!(cache.get(b"a.b.d", now).is_none());
        assert!(cache.get(b"a.b.", now).is_none());
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
            cache.get(two.as_bytes(), now).is_none(),
            "a token found another's entry"
        );
        cache.insert(&two, second, now);
        assert_eq!(
            cache.get(one.as_bytes(), now).map(|hit| hit.key_id),
            Some(1)
        );
        assert_eq!(
            cache.get(two.as_bytes(), now).map(|hit| hit.key_id),
            Some(2)
        );
        // A token that is a suffix of another, with the same hashed tail.
        assert!(cache.get(format!("one.{tail}").as_bytes(), now).is_none());
    }

    #[test]
    fn a_hot_slot_serves_the_same_entry_and_ends_with_it() {
        let cache = TokenCache::new(1_000_000);
        let now = 1_000.0;
        cache.insert("x.y.hot-token", entry(Some(now + 60.0)), now);
        let from_moka = cache.get(b"x.y.hot-token", now).unwrap();
        let from_slot = hot::get(cache.id, b"x.y.hot-token", now).unwrap();
        assert!(Arc::ptr_eq(&from_moka, &from_slot), "the slot holds a copy");
        assert!(Arc::ptr_eq(
            &cache.get(b"x.y.hot-token", now).unwrap(),
            &from_moka
        ));
        // The entry's end holds for the slot as for moka (whose own clock has not moved).
        assert!(hot::get(cache.id, b"x.y.hot-token", now + 59.0).is_some());
        assert!(hot::get(cache.id, b"x.y.hot-token", now + 60.0).is_none());
    }

    #[test]
    fn hot_slots_are_per_cache_and_compare_every_byte() {
        let now = 1_000.0;
        let one = TokenCache::new(1_000_000);
        let two = TokenCache::new(1_000_000);
        one.insert("a.b.shared-token", entry(Some(now + 60.0)), now);
        assert!(one.get(b"a.b.shared-token", now).is_some());
        assert!(
            two.get(b"a.b.shared-token", now).is_none(),
            "another cache's slot"
        );
        // Two tokens in one slot: the second evicts the first, never matches it.
        let first = "p.q.rrrrrrrr";
        let second = (0..)
            .map(|i| format!("p.{i}.rrrrrrrr"))
            .find(|t| t != first && hot::slot_of(t.as_bytes()) == hot::slot_of(first.as_bytes()))
            .unwrap();
        let mut a = entry(Some(now + 60.0));
        a.key_id = 1;
        let mut b = entry(Some(now + 60.0));
        b.key_id = 2;
        one.insert(first, a, now);
        one.insert(&second, b, now);
        assert_eq!(one.get(first.as_bytes(), now).map(|h| h.key_id), Some(1));
        assert_eq!(one.get(second.as_bytes(), now).map(|h| h.key_id), Some(2));
        assert!(hot::get(one.id, first.as_bytes(), now).is_none());
        assert_eq!(one.get(first.as_bytes(), now).map(|h| h.key_id), Some(1));
        assert!(hot::get(one.id, second.as_bytes(), now).is_none());
    }

    #[test]
    fn a_stale_hot_slot_gives_way_to_the_re_verified_entry() {
        // A key-set refresh gives the same key a new id: cached tokens fail their key check
        // once, are verified again and cached again. A slot holding the old entry must not keep
        // shadowing the new one, on this thread or on another.
        let cache = TokenCache::new(1_000_000);
        let now = 1_000.0;
        let token = "h.p.stale-slot";
        let current_key = |hit: &CachedToken| (hit.key_id == 2).then_some(hit.key_id);
        let mut old = entry(Some(now + 60.0));
        old.key_id = 1;
        cache.insert(token, old, now);
        assert_eq!(cache.settle(token.as_bytes(), now, current_key), None);
        // Another thread verifies it again: its insert does not reach this thread's slot...
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut new = entry(Some(now + 60.0));
                new.key_id = 2;
                cache.insert(token, new, now);
            });
        });
        assert_eq!(
            hot::get(cache.id, token.as_bytes(), now).map(|h| h.key_id),
            Some(1)
        );
        // ...but the next look-up here finds the new entry past the stale slot, and keeps it.
        assert_eq!(cache.settle(token.as_bytes(), now, current_key), Some(2));
        assert_eq!(
            hot::get(cache.id, token.as_bytes(), now).map(|h| h.key_id),
            Some(2)
        );
        // On the thread that verifies it again as well.
        let mut newer = entry(Some(now + 60.0));
        newer.key_id = 3;
        cache.insert(token, newer, now);
        let newest = |hit: &CachedToken| (hit.key_id == 3).then_some(hit.key_id);
        assert_eq!(cache.settle(token.as_bytes(), now, newest), Some(3));
        assert_eq!(
            hot::get(cache.id, token.as_bytes(), now).map(|h| h.key_id),
            Some(3)
        );
    }
}
