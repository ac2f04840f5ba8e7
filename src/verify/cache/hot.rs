//! Each thread's most recently hit tokens, direct-mapped: [`HOT_SLOTS`] slots, a token's slot
//! chosen by its last bytes (its signature).
//!
//! A moka hit reads the clock, hashes the token and records the read in a channel that every
//! thread shares; a hot slot is a thread-local array look-up and a byte comparison. What a
//! slot holds is a moka entry's own `Arc`s, so it adds no copy, and it keeps the entry's end:
//! a slot never outlives its entry's time. It may outlive an eviction for the byte budget: at
//! most [`HOT_SLOTS`] entries per thread, the ones in use. A slot is only a shortcut to the
//! entry: the engine re-checks a hot hit exactly as a moka hit (dates, key still in its set,
//! tenant, origin), and two tokens that share a slot evict each other, they never match.

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
