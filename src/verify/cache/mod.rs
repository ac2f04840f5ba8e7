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
//! - A verified token enters the cache on its second sighting only ([`doorkeeper`]): a token
//!   presented once costs no insert, no eviction and no memory.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::identity::Verified;
use crate::issuer::claims::Dates;
use crate::verify::cache::doorkeeper::Doorkeeper;

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
    /// Which verified tokens were seen before: only those are inserted.
    door: Arc<Doorkeeper>,
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
    /// A cache holding about `budget_bytes` of tokens and claims, its doorkeeper included.
    pub(crate) fn new(budget_bytes: u64) -> Self {
        let door = Doorkeeper::for_budget(budget_bytes);
        let inner = Cache::builder()
            .max_capacity(budget_bytes.saturating_sub(door.bytes()))
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
            door: Arc::new(door),
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

    /// Whether a verified token would be cached now: on its second sighting (see
    /// [`doorkeeper`]). The engine asks before it builds the entry, so a token seen once costs
    /// no more than this.
    pub(crate) fn admits(&self, token: &str) -> bool {
        self.door.admit(token.as_bytes())
    }

    /// Caches a verified token until it stops being valid (by the engine's clock `now`), at most
    /// [`MAX_ENTRY_TTL`]. The doorkeeper is not asked here: see [`Self::admits`].
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

    /// The bytes of the budget the doorkeeper takes.
    #[cfg(test)]
    pub(crate) fn doorkeeper_bytes(&self) -> u64 {
        self.door.bytes()
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

pub(crate) mod doorkeeper;
mod hot;

#[cfg(test)]
mod tests;
