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
