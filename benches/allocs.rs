//! Issue 5: heap allocations per request on each path of the layer, counted by a global
//! allocator (`stats_alloc`). Prints one table.
//!
//! Each row runs its requests in a current-thread tokio runtime after a few untimed warm-up
//! requests, and divides what the allocator saw by the number of requests:
//! - `allocs/req`: calls to `alloc` (and `realloc`, in brackets);
//! - `bytes/req`: bytes allocated (growing `realloc`s included);
//! - `kept/req`: bytes allocated and not freed by the end of the row (what the token cache
//!   keeps per entry, on the rows that fill it).
//!
//! `floor/inner_only` is the request and the inner service without the layer: subtract it to
//! get what the layer itself allocates. The `engine/` rows call `JwtGuard::verify` on a token
//! string (no request, no service): what the cache lookup or the verification allocates alone.
//! `(auth_layer)` is `guard.auth_layer()`, without the CORS part.
//!
//! `cargo bench --bench allocs`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::alloc::System;
use std::future::Future;

use http::{HeaderValue, StatusCode};
use jwt_guard::testing::TestIssuer;
use rig::TokenCache;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const DISTINCT: usize = 2_000;
const SAME: usize = 10_000;

struct Row {
    path: &'static str,
    requests: usize,
    allocs: f64,
    reallocs: f64,
    bytes: f64,
    kept: f64,
}

/// Counts what `run` allocates, per request.
async fn count<Fut: Future<Output = ()>>(
    path: &'static str,
    requests: usize,
    run: impl FnOnce() -> Fut,
) -> Row {
    let region = Region::new(GLOBAL);
    run().await;
    let stats = region.change();
    let per = |v: usize| v as f64 / requests as f64;
    Row {
        path,
        requests,
        allocs: per(stats.allocations),
        reallocs: per(stats.reallocations),
        // `stats_alloc` adds what a `realloc` grows to `bytes_allocated` (and what it shrinks
        // to `bytes_deallocated`) already.
        bytes: per(stats.bytes_allocated),
        kept: (stats.bytes_allocated as f64 - stats.bytes_deallocated as f64) / requests as f64,
    }
}

/// Each value once through the service; every answer must be `expect`.
async fn each(svc: &mut rig::Guarded, values: &[HeaderValue], expect: StatusCode) {
    for value in values {
        assert_eq!(rig::call(svc, rig::request(value)).await, expect);
    }
}

async fn same(
    svc: &mut rig::Guarded,
    n: usize,
    make: impl Fn() -> http::Request<()>,
    expect: StatusCode,
) {
    for _ in 0..n {
        assert_eq!(rig::call(svc, make()).await, expect);
    }
}

async fn rows() -> Vec<Row> {
    let issuer = TestIssuer::start().await;
    let rsa = rig::key(&issuer, "rsa-1");
    let ec = rig::key(&issuer, "ec-1");
    let hs = rig::hs_key();
    // Warm-up tokens (numbered apart) and the measured ones.
    let warm_rs = rig::bearer(&rig::mint(&rsa, 1_000_000, 8));
    let warm_es = rig::bearer(&rig::mint(&ec, 1_000_000, 8));
    let warm_hs = rig::bearer(&rig::mint(&hs, 1_000_000, 8));
    let rs = rig::bearer(&rig::mint(&rsa, 0, DISTINCT));
    let es = rig::bearer(&rig::mint(&ec, 0, DISTINCT));
    let hs_values = rig::bearer(&rig::mint(&hs, 0, DISTINCT));
    let repeated = rig::bearer(&[rig::token(&rsa, u64::MAX)]);
    let foreign = rig::bearer(&[rig::claims(issuer.token(), 1)
        .issuer("https://elsewhere.example")
        .sign()]);
    let raw_rs = rig::mint(&rsa, 10_000, DISTINCT);

    let mut rows = Vec::new();

    // Floors.
    let key = rig::decoding_key(&issuer, "rsa-1");
    let validation = rig::validation(jsonwebtoken::Algorithm::RS256);
    rows.push(
        count("floor/decode_rs256 (jsonwebtoken)", DISTINCT, || async {
            for token in &raw_rs {
                std::hint::black_box(rig::decode(token, &key, &validation).expect("valid"));
            }
        })
        .await,
    );
    let mut inner = rig::inner();
    rows.push(
        count("floor/inner_only", SAME, || async {
            for _ in 0..SAME {
                let status = rig::call(&mut inner, rig::request(&repeated[0])).await;
                assert_eq!(status, StatusCode::OK);
            }
        })
        .await,
    );

    // The layer on distinct tokens.
    for (name_on, name_off, values, warm, secret) in [
        (
            "layer/rs256_distinct_cache",
            "layer/rs256_distinct_nocache",
            &rs,
            &warm_rs,
            false,
        ),
        (
            "layer/es256_distinct_cache",
            "layer/es256_distinct_nocache",
            &es,
            &warm_es,
            false,
        ),
        (
            "layer/hs256_distinct_cache",
            "layer/hs256_distinct_nocache",
            &hs_values,
            &warm_hs,
            true,
        ),
    ] {
        for (name, cache) in [(name_on, TokenCache::Default), (name_off, TokenCache::Off)] {
            let guard = if secret {
                rig::hs_guard(cache)
            } else {
                rig::jwks_guard(&issuer, cache).await
            };
            let mut svc = rig::guarded(&guard);
            each(&mut svc, warm, StatusCode::OK).await;
            rows.push(
                count(name, values.len(), || {
                    each(&mut svc, values, StatusCode::OK)
                })
                .await,
            );
        }
    }

    // One token again and again, refusals, preflights.
    let guard = rig::jwks_guard(&issuer, TokenCache::Default).await;
    let again_token = rig::token(&rsa, u64::MAX);
    for _ in 0..100 {
        guard.verify(&again_token).await.expect("valid");
    }
    rows.push(
        count("engine/repeated_hit (guard.verify)", SAME, || async {
            for _ in 0..SAME {
                std::hint::black_box(guard.verify(&again_token).await.expect("valid"));
            }
        })
        .await,
    );
    let off = rig::jwks_guard(&issuer, TokenCache::Off).await;
    for token in rig::mint(&rsa, 20_000, 8) {
        off.verify(&token).await.expect("valid");
    }
    rows.push(
        count("engine/rs256_nocache (guard.verify)", DISTINCT, || async {
            for token in &raw_rs {
                std::hint::black_box(off.verify(token).await.expect("valid"));
            }
        })
        .await,
    );
    let mut svc = rig::guarded(&guard);
    let value = repeated[0].clone();
    let again = || rig::request(&value);
    same(&mut svc, 100, again, StatusCode::OK).await;
    rows.push(
        count("layer/repeated_hit", SAME, || {
            same(&mut svc, SAME, again, StatusCode::OK)
        })
        .await,
    );
    let mut auth = rig::auth_only(&guard);
    same(&mut auth, 100, again, StatusCode::OK).await;
    rows.push(
        count("layer/repeated_hit (auth_layer)", SAME, || {
            same(&mut auth, SAME, again, StatusCode::OK)
        })
        .await,
    );
    let value = foreign[0].clone();
    let foreign_req = || rig::request(&value);
    same(&mut svc, 100, foreign_req, StatusCode::UNAUTHORIZED).await;
    rows.push(
        count("layer/parse_reject", SAME, || {
            same(&mut svc, SAME, foreign_req, StatusCode::UNAUTHORIZED)
        })
        .await,
    );
    same(&mut svc, 100, rig::anonymous, StatusCode::UNAUTHORIZED).await;
    rows.push(
        count("layer/reject_no_token", SAME, || {
            same(&mut svc, SAME, rig::anonymous, StatusCode::UNAUTHORIZED)
        })
        .await,
    );
    same(&mut svc, 100, rig::preflight, StatusCode::NO_CONTENT).await;
    rows.push(
        count("layer/preflight", SAME, || {
            same(&mut svc, SAME, rig::preflight, StatusCode::NO_CONTENT)
        })
        .await,
    );
    rows
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from `cargo test --benches` ends here.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows = rt.block_on(rows());
    println!(
        "{:<36} {:>8} {:>16} {:>11} {:>11}",
        "path", "requests", "allocs/req", "bytes/req", "kept/req"
    );
    for row in rows {
        println!(
            "{:<36} {:>8} {:>9.2} ({:>4.2}) {:>11.0} {:>11.0}",
            row.path, row.requests, row.allocs, row.reallocs, row.bytes, row.kept
        );
    }
}
