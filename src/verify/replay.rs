//! Replay protection: each `jti` is accepted once while its token is valid.
//!
//! The store sits behind [`ReplayStore`] so that a shared store (Redis, a database) can serve
//! several replicas. The built-in [`MemoryReplayStore`] is bounded: when it is full, even after
//! forgetting every expired `jti`, it answers [`ReplayVerdict::Full`] and the layer refuses the
//! request with 503 and `Retry-After: 1`. It never forgets a live `jti` to make room, because
//! that would turn a full store into an accepted replay.
//!
//! A shared store that cannot answer (down, unreachable, refusing the credentials, too slow)
//! says [`ReplayVerdict::Unavailable`]: the request is refused with 503 and `Retry-After: 1`,
//! never let through. With the `redis` feature, `RedisReplayStore` is such a store.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Mutex;

/// What a store says of a `jti`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayVerdict {
    /// First use: recorded until the token expires.
    Fresh,
    /// Seen before, and its token is still valid.
    Replayed,
    /// The store cannot record it: the request is refused (fail closed).
    Full,
    /// The store cannot be asked now (a shared store that is down, unreachable, refusing the
    /// credentials or slower than its timeout): the request is refused with 503 and
    /// `Retry-After: 1` (fail closed), reason `replay_store_unavailable`.
    Unavailable,
}

/// A boxed future, for stores that do I/O.
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = ReplayVerdict> + Send + 'a>>;

/// A boxed future of whether a store answers, for [`ReplayStore::ready`].
pub type ReadyFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Where used `jti`s are remembered.
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `jti` for `issuer` until `valid_until` (Unix seconds) unless it is already
    /// recorded and not yet expired. Must be atomic: of two concurrent calls with the same
    /// `jti`, at most one sees [`ReplayVerdict::Fresh`].
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        valid_until: f64,
        now: f64,
    ) -> ReplayFuture<'a>;

    /// Whether the store answers now, for a readiness probe: a shared store asks its server
    /// (bounded by its own timeout). The default, for in-process stores: always `true`.
    fn ready(&self) -> ReadyFuture<'_> {
        Box::pin(std::future::ready(true))
    }
}

const SHARDS: usize = 16;

/// The in-memory store: 16 shards, each a map under its own short-held lock, bounded in
/// entries.
pub struct MemoryReplayStore {
    shards: Vec<Mutex<HashMap<String, f64>>>,
    per_shard: usize,
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl MemoryReplayStore {
    /// The default capacity: 100,000 live `jti`s.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store holding at most about `capacity` live `jti`s (rounded up to a multiple of 16).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
        }
    }

    fn record(&self, issuer: &str, jti: &str, valid_until: f64, now: f64) -> ReplayVerdict {
        let mut key = String::with_capacity(issuer.len() + 1 + jti.len());
        key.push_str(issuer);
        key.push('\u{0}');
        key.push_str(jti);
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % SHARDS as u64) as usize;
        let Some(shard) = self.shards.get(index) else {
            return ReplayVerdict::Full;
        };
        let mut map = crate::sync::lock(shard);
        if let Some(until) = map.get(&key)
            && *until > now
        {
            return ReplayVerdict::Replayed;
        }
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            map.retain(|_, until| *until > now);
            if map.len() >= self.per_shard {
                return ReplayVerdict::Full;
            }
        }
        map.insert(key, valid_until);
        ReplayVerdict::Fresh
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        valid_until: f64,
        now: f64,
    ) -> ReplayFuture<'a> {
        let verdict = self.record(issuer, jti, valid_until, now);
        Box::pin(std::future::ready(verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_until_it_expires() {
        let store = MemoryReplayStore::new(16);
        assert_eq!(store.record("i", "a", 100.0, 10.0), ReplayVerdict::Fresh);
        assert_eq!(store.record("i", "a", 100.0, 50.0), ReplayVerdict::Replayed);
        // Another issuer's jti of the same value is another jti.
        assert_eq!(store.record("j", "a", 100.0, 50.0), ReplayVerdict::Fresh);
        // Once the token has expired the jti may be forgotten (the token itself is refused
        // by the claims checks long before).
        assert_eq!(store.record("i", "a", 200.0, 100.0), ReplayVerdict::Fresh);
    }

    #[test]
    fn a_full_store_fails_closed_and_recovers_when_entries_expire() {
        let store = MemoryReplayStore::new(16); // one entry per shard
        let mut full = 0;
        for i in 0..200 {
            match store.record("i", &format!("j{i}"), 100.0, 10.0) {
                ReplayVerdict::Full => full += 1,
                ReplayVerdict::Fresh => {}
                other => panic!("a fresh jti was answered {other:?}"),
            }
        }
        assert_eq!(full, 200 - 16, "exactly the capacity was accepted");
        // A recorded jti is still refused as a replay, never forgotten to make room.
        let mut replays = 0;
        for i in 0..200 {
            if store.record("i", &format!("j{i}"), 100.0, 20.0) == ReplayVerdict::Replayed {
                replays += 1;
            }
        }
        assert_eq!(replays, 16);
        // After expiry, room is made by purging.
        assert_eq!(
            store.record("i", "late", 300.0, 150.0),
            ReplayVerdict::Fresh
        );
    }
}
