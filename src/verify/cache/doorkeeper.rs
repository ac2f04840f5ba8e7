//! The token cache's doorkeeper: a token enters the cache on its second sighting, not its first.
//!
//! A token presented once (a marketplace with many users and short-lived tokens sends many of
//! them) gains nothing from an entry: inserting it costs moka's node, its write channel, an
//! eviction once the byte budget is full, and about two kilobytes of memory that another
//! token's entry gets evicted for. The doorkeeper remembers a 64-bit fingerprint of each
//! verified token in a fixed array of atomics; a verified token whose fingerprint is already
//! there is admitted into the cache, any other only leaves its fingerprint.
//!
//! - Fixed memory, taken from the cache's byte budget: one `u64` per [`BYTES_PER_SLOT`] bytes
//!   of budget (65,536 slots, 512 KiB, for the default 32 MiB), so a flood of one-shot tokens
//!   cannot grow anything.
//! - Direct-mapped: a fingerprint overwrites whatever held its slot. A token seen again after
//!   its slot was taken over only waits for one more sighting.
//! - A fingerprint only decides whether a token *verified in full* is cached; the cache is
//!   still keyed by the token's exact bytes. Two tokens with one fingerprint can at worst admit
//!   each other early (as every token was admitted before the doorkeeper). Refused tokens never
//!   reach it: only the engine's successful verifications call [`Doorkeeper::admit`].
//! - The fingerprint is SipHash with a per-process random key over the token's length and its
//!   last 32 bytes (its signature, which only the signer chooses), as the cache's own hash.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of cache budget per doorkeeper slot (a slot is 8 bytes: 1/64 of the budget).
pub(crate) const BYTES_PER_SLOT: u64 = 512;
/// The fewest slots, whatever the budget.
const MIN_SLOTS: usize = 1 << 10;
/// The most slots (8 MiB), whatever the budget.
const MAX_SLOTS: usize = 1 << 20;
/// How many of a token's last bytes are fingerprinted.
const TAIL: usize = 32;

/// Remembers the tokens verified once; see the module documentation.
#[derive(Debug)]
pub(crate) struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    /// `64 - log2(slots)`: a fingerprint's top bits choose its slot.
    shift: u32,
    key: RandomState,
}

impl Doorkeeper {
    /// A doorkeeper for a cache of `budget_bytes`: the largest power of two of slots that fits
    /// in `budget / BYTES_PER_SLOT`, within [`MIN_SLOTS`] and [`MAX_SLOTS`].
    pub(crate) fn for_budget(budget_bytes: u64) -> Self {
        let wanted = usize::try_from(budget_bytes / BYTES_PER_SLOT).unwrap_or(MAX_SLOTS);
        let slots = wanted.clamp(MIN_SLOTS, MAX_SLOTS);
        // The largest power of two not above `slots`.
        Self::with_slots(1 << (usize::BITS - 1 - slots.leading_zeros()))
    }

    /// A doorkeeper of `slots` slots (a power of two, at least 2).
    pub(crate) fn with_slots(slots: usize) -> Self {
        let slots = slots.max(2).next_power_of_two();
        Self {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            shift: 64 - slots.trailing_zeros(),
            key: RandomState::new(),
        }
    }

    /// The heap the doorkeeper takes, in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        (self.slots.len() * std::mem::size_of::<AtomicU64>()) as u64
    }

    /// A verified token: `true` when it was seen before (cache it), `false` on its first
    /// sighting (its fingerprint is kept for the next one).
    pub(crate) fn admit(&self, token: &[u8]) -> bool {
        let fingerprint = self.fingerprint(token);
        let index = usize::try_from(fingerprint >> self.shift).unwrap_or(0);
        let Some(slot) = self.slots.get(index) else {
            // Cannot happen (the shift keeps the index in range): admitting is the old way.
            return true;
        };
        if slot.load(Ordering::Relaxed) == fingerprint {
            return true;
        }
        slot.store(fingerprint, Ordering::Relaxed);
        false
    }

    /// Never 0, the value of an empty slot.
    fn fingerprint(&self, token: &[u8]) -> u64 {
        let mut hasher = self.key.build_hasher();
        hasher.write(
            token
                .get(token.len().saturating_sub(TAIL)..)
                .unwrap_or(token),
        );
        hasher.write_usize(token.len());
        hasher.finish() | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(i: usize) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ4In0.signature-{i:032}")
    }

    #[test]
    fn a_token_is_admitted_on_its_second_sighting_and_after() {
        let door = Doorkeeper::with_slots(1024);
        let t = token(7);
        assert!(!door.admit(t.as_bytes()), "admitted on its first sighting");
        assert!(
            door.admit(t.as_bytes()),
            "not admitted on its second sighting"
        );
        assert!(
            door.admit(t.as_bytes()),
            "not admitted on its third sighting"
        );
        // Another token is not admitted on the first one's record.
        assert!(!door.admit(token(8).as_bytes()));
    }

    #[test]
    fn a_flood_of_one_shot_tokens_is_never_admitted_and_takes_no_memory() {
        let door = Doorkeeper::with_slots(1 << 16);
        let before = door.bytes();
        let admitted = (0..200_000)
            .filter(|i| door.admit(token(*i).as_bytes()))
            .count();
        // 64-bit fingerprints: a collision among 200,000 tokens is about a 1e-9 event.
        assert_eq!(admitted, 0, "one-shot tokens were admitted");
        assert_eq!(door.bytes(), before);
        assert_eq!(door.bytes(), (1 << 16) * 8);
    }

    #[test]
    fn a_token_seen_again_after_its_slot_was_taken_waits_one_more_sighting() {
        let door = Doorkeeper::with_slots(2);
        let t = token(1);
        assert!(!door.admit(t.as_bytes()));
        // Fill both slots with other tokens until this one's record is gone.
        let mut i = 2;
        while door
            .slots
            .iter()
            .any(|s| s.load(Ordering::Relaxed) == door.fingerprint(t.as_bytes()))
        {
            door.admit(token(i).as_bytes());
            i += 1;
        }
        assert!(!door.admit(t.as_bytes()), "admitted without a record");
        assert!(door.admit(t.as_bytes()));
    }

    #[test]
    fn the_size_follows_the_budget_within_bounds() {
        assert_eq!(
            Doorkeeper::for_budget(32 * 1024 * 1024).slots.len(),
            1 << 16
        );
        assert_eq!(Doorkeeper::for_budget(32 * 1024 * 1024).bytes(), 512 * 1024);
        assert_eq!(Doorkeeper::for_budget(0).slots.len(), MIN_SLOTS);
        assert_eq!(Doorkeeper::for_budget(u64::MAX).slots.len(), MAX_SLOTS);
        // Not a power of two of bytes: rounded down.
        assert_eq!(Doorkeeper::for_budget(3 * 1024 * 1024).slots.len(), 4096);
    }

    #[test]
    fn fingerprints_cover_the_length_and_the_tail() {
        let door = Doorkeeper::with_slots(1024);
        let tail = "s".repeat(TAIL);
        let a = format!("a.b.{tail}");
        let b = format!("ab.{tail}");
        assert_ne!(
            door.fingerprint(a.as_bytes()),
            door.fingerprint(b.as_bytes())
        );
        assert_ne!(door.fingerprint(b"x"), 0);
        assert_ne!(door.fingerprint(b""), 0);
    }
}
