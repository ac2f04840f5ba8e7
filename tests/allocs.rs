//! Issue 16: heap allocations per request, counted by a global allocator (`stats_alloc`), as a
//! regression test. Counts, never times: the same code allocates the same number of times on
//! every machine.
//!
//! Its own test binary (the allocator is global) with one test function, so that no other test
//! allocates while a region is counted. The bounds are the counts measured when they were set
//! (`cargo bench --bench allocs` prints the full table); a change that adds an allocation to a
//! cache miss or to a hit fails here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::System;
use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Issuer, JwtGuard};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SECRET: &[u8] = b"allocation-test-secret-0123456789abcdef!";
const N: usize = 500;

/// Allocations per call of `run` over `n` requests.
fn per_request(n: usize, run: impl FnOnce()) -> f64 {
    let region = Region::new(GLOBAL);
    run();
    region.change().allocations as f64 / n as f64
}

fn tokens(first: u64, n: usize) -> Vec<String> {
    let key = Arc::new(TestKey::hmac(SECRET, Algorithm::HS256));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (first..first + n as u64)
        .map(|i| {
            TokenBuilder::new(Arc::clone(&key), now)
                .issuer("https://marketplace.example")
                .audience("orders-api")
                .subject(&format!("user-{i}"))
                .tenant("PARTNER_42")
                .claim("jti", format!("{i:016x}"))
                .claim("roles", serde_json::json!(["orders:read", "orders:write"]))
                .expires_in(3600)
                .sign()
        })
        .collect()
}

fn new_guard() -> JwtGuard {
    builder().build().unwrap()
}

fn builder() -> jwt_guard::JwtGuardBuilder {
    JwtGuard::builder().issuer(
        Issuer::secret(SECRET)
            .name("hs")
            .issuer("https://marketplace.example")
            .audience("orders-api")
            .tenant_claim("tenant"),
    )
}

#[test]
fn allocations_per_request_stay_within_their_bounds() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let distinct = tokens(0, N);
    let warm = tokens(1_000_000, 8);

    // The engine alone (`JwtGuard::verify`), default settings: every token seen once.
    let guard = new_guard();
    rt.block_on(async {
        for t in &warm {
            guard.verify(t).await.unwrap();
        }
    });
    let miss = per_request(N, || {
        rt.block_on(async {
            for t in &distinct {
                guard.verify(t).await.unwrap();
            }
        });
    });
    // Their second sighting: verified again and inserted into the cache.
    let insert = per_request(N, || {
        rt.block_on(async {
            for t in &distinct {
                guard.verify(t).await.unwrap();
            }
        });
    });
    // One of them again and again: hits (from this thread's hot slot, taken on the first).
    rt.block_on(async {
        guard.verify(&distinct[0]).await.unwrap();
    });
    let hit = per_request(N, || {
        rt.block_on(async {
            for _ in 0..N {
                guard.verify(&distinct[0]).await.unwrap();
            }
        });
    });
    // The same first sightings with the cache off.
    let off = builder().without_token_cache().build().unwrap();
    let fresh = tokens(2_000_000, N);
    rt.block_on(async {
        for t in &warm {
            off.verify(t).await.unwrap();
        }
    });
    let miss_off = per_request(N, || {
        rt.block_on(async {
            for t in &fresh {
                off.verify(t).await.unwrap();
            }
        });
    });

    // Through `guard.auth_layer()` around a service answering an empty 200.
    let layered = new_guard();
    let mut svc = tower::ServiceBuilder::new()
        .layer(layered.auth_layer())
        .service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        });
    let bearer: Vec<HeaderValue> = distinct
        .iter()
        .chain(&warm)
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).unwrap())
        .collect();
    let mut call = |value: &HeaderValue| {
        let mut req = Request::new(());
        req.headers_mut()
            .insert(header::AUTHORIZATION, value.clone());
        rt.block_on(async {
            let res = svc.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        });
    };
    for value in bearer.iter().skip(N) {
        call(value);
    }
    let request_only = per_request(N, || {
        for _ in 0..N {
            std::hint::black_box(Request::new(()));
        }
    });
    let layer_miss = per_request(N, || {
        for value in bearer.iter().take(N) {
            call(value);
        }
    });

    let report = format!(
        "engine miss {miss:.2} (cache off {miss_off:.2}), second sighting {insert:.2}, hit \
         {hit:.2}; auth_layer miss {layer_miss:.2} (a bare request {request_only:.2}); metrics \
         feature {}",
        cfg!(feature = "metrics")
    );
    eprintln!("{report}");
    // A hit allocates nothing in the engine (the `metrics` feature's counters aside).
    assert!(hit <= HIT, "{report}");
    // A first sighting with the cache on (the default) costs what a miss with it off costs:
    // no entry, no copy of the token (the doorkeeper keeps a fingerprint in place).
    assert!(miss <= miss_off + CACHE_COUNTER + 0.5, "{report}");
    assert!(miss <= ENGINE_MISS, "{report}");
    // The second sighting adds the entry: the key, the entry, moka's node and its bookkeeping.
    assert!(
        insert > miss + 2.0,
        "{report}: the second sighting inserted nothing"
    );
    assert!(insert <= ENGINE_MISS + 10.0, "{report}");
    assert!(layer_miss <= LAYER_MISS, "{report}");
}

// The bounds: the counts measured when they were set (HS256 tokens with the claims of the
// benches), plus half an allocation. The `metrics` feature adds its counters' keys.
/// `JwtGuard::verify` of a token seen for the first time: 24.34 (27.34 with `metrics`).
const ENGINE_MISS: f64 = if cfg!(feature = "metrics") {
    27.9
} else {
    24.9
};
/// The same through `auth_layer()`, the request, the identity in its extensions and the inner
/// service included: 31.34 (34.34 with `metrics`).
const LAYER_MISS: f64 = if cfg!(feature = "metrics") {
    34.9
} else {
    31.9
};
/// The `metrics` feature's token cache counter (`outcome="miss"`), on a miss with the cache on.
const CACHE_COUNTER: f64 = if cfg!(feature = "metrics") { 1.0 } else { 0.0 };
/// A hit of one token again and again, in the engine: 0 (3 with `metrics`).
const HIT: f64 = if cfg!(feature = "metrics") { 3.0 } else { 0.0 };
