//! Issue 15: with the `metrics` feature, an allowed request allocates nothing for its metrics.
//! The counters' keys (names and labels) are built once; this binary counts heap allocations
//! (its own global allocator, one test only) while a recorder that allocates nothing itself
//! records `jwt_guard_requests_allowed_total{issuer}` and `jwt_guard_token_cache_total{outcome}`
//! for repeated allowed requests, and asserts the count is zero and the counters moved.
//! (With per-request labels, `issuer.to_owned()` and the label `Vec` made 2 or more
//! allocations per request.)
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Counts `allowed{issuer="alloc-test"}` and cache hits; every other counter is a no-op.
struct Tally {
    allowed: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
}

impl Recorder for Tally {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let label = |name: &str| key.labels().find(|l| l.key() == name).map(|l| l.value());
        match key.name() {
            "jwt_guard_requests_allowed_total" if label("issuer") == Some("alloc-test") => {
                Counter::from_arc(Arc::clone(&self.allowed))
            }
            "jwt_guard_token_cache_total" if label("outcome") == Some("hit") => {
                Counter::from_arc(Arc::clone(&self.hits))
            }
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn an_allowed_request_allocates_nothing_for_its_metrics() {
    static COUNTS: OnceLock<(Arc<AtomicU64>, Arc<AtomicU64>)> = OnceLock::new();
    let (allowed, hits) = COUNTS.get_or_init(|| {
        let allowed = Arc::new(AtomicU64::new(0));
        let hits = Arc::new(AtomicU64::new(0));
        metrics::set_global_recorder(Tally {
            allowed: Arc::clone(&allowed),
            hits: Arc::clone(&hits),
        })
        .unwrap();
        (allowed, hits)
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let issuer = TestIssuer::start().await;
        let guard = JwtGuard::builder()
            .issuer(issuer.issuer().name("alloc-test"))
            .build()
            .unwrap();
        let token = issuer.token().subject("u1").sign();
        // Warm up: the full verification fills the cache.
        for _ in 0..3 {
            guard.verify(&token).await.unwrap();
        }
        let before = (allowed.load(Ordering::SeqCst), hits.load(Ordering::SeqCst));
        const REQUESTS: u64 = 1_000;
        let region = Region::new(GLOBAL);
        for _ in 0..REQUESTS {
            let verified = guard.verify(&token).await;
            assert!(verified.is_ok());
        }
        let change = region.change();
        let allocations = change.allocations + change.reallocations;
        assert_eq!(
            (
                allowed.load(Ordering::SeqCst) - before.0,
                hits.load(Ordering::SeqCst) - before.1
            ),
            (REQUESTS, REQUESTS),
            "the counters did not move"
        );
        assert_eq!(
            allocations, 0,
            "{allocations} allocations for {REQUESTS} allowed requests"
        );
    });
}
