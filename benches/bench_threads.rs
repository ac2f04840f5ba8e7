//! Issue 5: does the layer scale with threads (no global lock)? In-process, without HTTP or a
//! load generator competing for the cores.
//!
//! For 1 and then 2 threads, each thread runs its own current-thread tokio runtime and its own
//! clone of one `guard.layer()` service for `--seconds` (default 5) and counts answered
//! requests; the aggregate rate of 2 threads over 1 is the ratio. Three workloads:
//!
//! - `decode`: `jsonwebtoken::decode`, distinct RS256 tokens (the machine's own ceiling);
//! - `layer distinct`: the layer with the token cache off, distinct RS256 tokens;
//! - `layer repeated`: the layer with the default cache, one token per thread (hits);
//! - `layer ES256 distinct, cache on`: the default configuration (token cache on) with distinct
//!   tokens: every request is a miss, a signature check and an insert into the shared cache.
//!   Each thread sends its own `--distinct` (default 30,000) ES256 tokens once, through a guard
//!   whose cache starts empty; the rate is all of them over the wall time;
//! - `layer HS256 distinct, cache on`: the same under a flood of cheap tokens (`--flood`,
//!   default 200,000 per thread): the cache's inserts and evictions (the 32 MiB budget fills)
//!   are most of the work, the worst case for contention between threads.
//!
//! ```text
//! cargo bench --bench bench_threads -- [--seconds N] [--tokens N] [--distinct N] [--flood N]
//! ```
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode};
use jwt_guard::JwtGuard;
use jwt_guard::testing::{TestIssuer, TestKey};
use rig::TokenCache;
use rig::cli::{self, Cli};

#[derive(Clone, Copy)]
enum Work {
    Decode,
    Layer,
}

/// Aggregate requests per second of `threads` threads, thread `t` using `pools[t]` in turn.
fn rate(
    work: Work,
    threads: usize,
    seconds: u64,
    guard: &JwtGuard,
    floor: &(jsonwebtoken::DecodingKey, jsonwebtoken::Validation),
    pools: &[(Vec<String>, Vec<HeaderValue>)],
) -> f64 {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = pools
            .iter()
            .take(threads)
            .map(|(tokens, values)| {
                let stop = &stop;
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let mut svc = rig::guarded(guard);
                    let mut done = 0u64;
                    rt.block_on(async {
                        while !stop.load(Ordering::Relaxed) {
                            let i = done as usize % values.len();
                            match work {
                                Work::Decode => {
                                    rig::decode(&tokens[i], &floor.0, &floor.1).expect("valid");
                                }
                                Work::Layer => {
                                    let status =
                                        rig::call(&mut svc, rig::request(&values[i])).await;
                                    assert_eq!(status, StatusCode::OK);
                                }
                            }
                            done += 1;
                        }
                    });
                    done
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// Aggregate requests per second of `threads` threads, each sending every token of its pool
/// once through one shared guard (fresh for each call, so that every request is a miss).
fn rate_once(threads: usize, guard: &JwtGuard, pools: &[(Vec<String>, Vec<HeaderValue>)]) -> f64 {
    let start = Instant::now();
    let total: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = pools
            .iter()
            .take(threads)
            .map(|(_, values)| {
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let mut svc = rig::guarded(guard);
                    rt.block_on(async {
                        for value in values {
                            let status = rig::call(&mut svc, rig::request(value)).await;
                            assert_eq!(status, StatusCode::OK);
                        }
                    });
                    values.len()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut cli = Cli::new(
        "bench_threads",
        "[--seconds N] [--tokens N] [--distinct N] [--flood N]",
    );
    if cli.is_test_run() {
        return;
    }
    let mut seconds = 5u64;
    let mut tokens = 3_000usize;
    let mut flood = 200_000usize;
    let mut distinct = 30_000usize;
    while let Some((flag, value)) = cli.next_flag() {
        match flag.as_str() {
            "--seconds" => seconds = cli.parse(&flag, &value),
            "--tokens" => tokens = cli.parse(&flag, &value),
            "--flood" => flood = cli.parse(&flag, &value),
            "--distinct" => distinct = cli.parse(&flag, &value),
            _ => cli.fail(&format!("unknown option `{flag}`")),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = rt.block_on(TestIssuer::start());
    let rsa = rig::key(&issuer, "rsa-1");
    let pools: Vec<_> = (0..2u64)
        .map(|t| {
            let minted = rig::mint(&rsa, t * 1_000_000, tokens);
            let values = rig::bearer(&minted);
            (minted, values)
        })
        .collect();
    let repeated: Vec<_> = (0..2u64)
        .map(|t| {
            let minted = vec![rig::token(&rsa, 2_000_000 + t)];
            let values = rig::bearer(&minted);
            (minted, values)
        })
        .collect();
    let floor = (
        rig::decoding_key(&issuer, "rsa-1"),
        rig::validation(jsonwebtoken::Algorithm::RS256),
    );
    let nocache = rt.block_on(rig::jwks_guard(&issuer, TokenCache::Off));
    let cached = rt.block_on(rig::jwks_guard(&issuer, TokenCache::Default));
    println!("load average before: {}", cli::load_average());
    println!(
        "{:<38} {:>12} {:>12} {:>7}",
        "workload", "1 thread/s", "2 threads/s", "ratio"
    );
    for (name, work, guard, pools) in [
        (
            "decode RS256 (jsonwebtoken), distinct",
            Work::Decode,
            &nocache,
            &pools,
        ),
        (
            "layer RS256, distinct, cache off",
            Work::Layer,
            &nocache,
            &pools,
        ),
        (
            "layer RS256, repeated token (hits)",
            Work::Layer,
            &cached,
            &repeated,
        ),
    ] {
        let one = rate(work, 1, seconds, guard, &floor, pools);
        let two = rate(work, 2, seconds, guard, &floor, pools);
        report(name, one, two);
    }
    let es_pools = thread_pools(&rig::key(&issuer, "ec-1"), 20_000_000, distinct);
    let fresh = || rt.block_on(rig::jwks_guard(&issuer, TokenCache::Default));
    let one = rate_once(1, &fresh(), &es_pools);
    let two = rate_once(2, &fresh(), &es_pools);
    report("layer ES256 distinct, cache on", one, two);
    let floods = thread_pools(&rig::hs_key(), 10_000_000, flood);
    let one = rate_once(1, &rig::hs_guard(TokenCache::Default), &floods);
    let two = rate_once(2, &rig::hs_guard(TokenCache::Default), &floods);
    report("layer HS256 distinct, cache on", one, two);
    println!("load average after: {}", cli::load_average());
    drop(issuer);
}

/// One pool of `count` distinct tokens signed by `key` per thread (two), numbered from `base`.
fn thread_pools(
    key: &Arc<TestKey>,
    base: u64,
    count: usize,
) -> Vec<(Vec<String>, Vec<HeaderValue>)> {
    (0..2u64)
        .map(|t| {
            let minted = rig::mint(key, base + t * 1_000_000, count);
            let values = rig::bearer(&minted);
            (minted, values)
        })
        .collect()
}

/// One line of the table: requests per second on one and on two threads, and the scaling.
fn report(name: &str, one: f64, two: f64) {
    println!("{name:<38} {one:>12.0} {two:>12.0} {:>6.2}x", two / one);
}
