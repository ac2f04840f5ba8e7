//! Issue 5, in-process, made for a shared and noisy machine: the same workloads as
//! `benches/verify.rs`, but interleaved. Each round runs every workload once over its whole pool
//! of tokens (one pass), in turn, so slow drift of the machine hits all of them alike; after
//! `--rounds` rounds it prints, per workload, the best and the median time per request, and the
//! ratios the issue sets targets for (between bests, and between medians).
//!
//! ```text
//! cargo bench --bench bench_interleaved -- [--rounds N] [--tokens N]
//! ```
//!
//! Workloads (`--tokens`, default 3,000, distinct tokens each; one current-thread runtime):
//! - `decode_rs256`, `decode_es256`: `jsonwebtoken::decode`, key and `Validation` built once;
//! - `crypto_rs256`, `crypto_es256`: aws-lc-rs `ParsedPublicKey::verify_sig` alone;
//! - `layer_{rs256,es256,hs256}_nocache`: `guard.layer()`, token cache off;
//! - `layer_{rs256,es256,hs256}_cache`: `guard.layer()`, default cache, a fresh guard (keys
//!   loaded, cache empty: built outside the timing) for each pass, so every request is a
//!   token's first sighting: a miss, which the doorkeeper keeps out of the cache (issue 16;
//!   before it, a miss and an insert);
//! - `layer_repeated_hit`: one token again and again (as many requests as a pool);
//! - `inner_only`: the request and the inner service without the layer.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::time::Instant;

use http::{HeaderValue, StatusCode};
use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;
use rig::TokenCache;
use rig::cli::{self, Cli};

struct Pool {
    tokens: Vec<String>,
    values: Vec<HeaderValue>,
}

fn pool(tokens: Vec<String>) -> Pool {
    let values = rig::bearer(&tokens);
    Pool { tokens, values }
}

/// Nanoseconds per request of one pass of `values` through `guard.layer()`.
async fn layer_pass(guard: &JwtGuard, values: &[HeaderValue]) -> f64 {
    let mut svc = rig::guarded(guard);
    let start = Instant::now();
    for value in values {
        assert_eq!(
            rig::call(&mut svc, rig::request(value)).await,
            StatusCode::OK
        );
    }
    start.elapsed().as_nanos() as f64 / values.len() as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

async fn run(rounds: usize, n: usize) {
    let issuer = TestIssuer::start().await;
    let rsa = rig::key(&issuer, "rsa-1");
    let ec = rig::key(&issuer, "ec-1");
    let hs = rig::hs_key();
    eprintln!("minting {n} RS256, ES256 and HS256 tokens...");
    let rs = pool(rig::mint(&rsa, 0, n));
    let es = pool(rig::mint(&ec, 0, n));
    let hs_pool = pool(rig::mint(&hs, 0, n));
    let repeated = rig::bearer(&[rig::token(&rsa, u64::MAX)]);
    let rs_decode = (
        rig::decoding_key(&issuer, "rsa-1"),
        rig::validation(jsonwebtoken::Algorithm::RS256),
    );
    let es_decode = (
        rig::decoding_key(&issuer, "ec-1"),
        rig::validation(jsonwebtoken::Algorithm::ES256),
    );
    let rs_crypto = rig::parsed_key(&issuer, "rsa-1");
    let es_crypto = rig::parsed_key(&issuer, "ec-1");
    let rs_parts: Vec<_> = rs.tokens.iter().map(|t| rig::signed_parts(t)).collect();
    let es_parts: Vec<_> = es.tokens.iter().map(|t| rig::signed_parts(t)).collect();
    let jwks_off = rig::jwks_guard(&issuer, TokenCache::Off).await;
    let hs_off = rig::hs_guard(TokenCache::Off);
    let hit_guard = rig::jwks_guard(&issuer, TokenCache::Default).await;

    let names = [
        "decode_rs256",
        "crypto_rs256",
        "layer_rs256_nocache",
        "layer_rs256_cache",
        "decode_es256",
        "crypto_es256",
        "layer_es256_nocache",
        "layer_es256_cache",
        "layer_hs256_nocache",
        "layer_hs256_cache",
        "layer_repeated_hit",
        "inner_only",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        for (w, name) in names.iter().enumerate() {
            let per_request = match *name {
                "decode_rs256" | "decode_es256" => {
                    let (pool, (key, validation)) = if *name == "decode_rs256" {
                        (&rs, &rs_decode)
                    } else {
                        (&es, &es_decode)
                    };
                    let start = Instant::now();
                    for token in &pool.tokens {
                        std::hint::black_box(rig::decode(token, key, validation).expect("valid"));
                    }
                    start.elapsed().as_nanos() as f64 / n as f64
                }
                "crypto_rs256" | "crypto_es256" => {
                    let (parts, key) = if *name == "crypto_rs256" {
                        (&rs_parts, &rs_crypto)
                    } else {
                        (&es_parts, &es_crypto)
                    };
                    let start = Instant::now();
                    for (input, signature) in parts {
                        key.verify_sig(std::hint::black_box(input), signature)
                            .expect("valid signature");
                    }
                    start.elapsed().as_nanos() as f64 / n as f64
                }
                "layer_rs256_nocache" => layer_pass(&jwks_off, &rs.values).await,
                "layer_es256_nocache" => layer_pass(&jwks_off, &es.values).await,
                "layer_hs256_nocache" => layer_pass(&hs_off, &hs_pool.values).await,
                "layer_rs256_cache" | "layer_es256_cache" => {
                    let fresh = rig::jwks_guard(&issuer, TokenCache::Default).await;
                    let values = if *name == "layer_rs256_cache" {
                        &rs.values
                    } else {
                        &es.values
                    };
                    layer_pass(&fresh, values).await
                }
                "layer_hs256_cache" => {
                    layer_pass(&rig::hs_guard(TokenCache::Default), &hs_pool.values).await
                }
                "layer_repeated_hit" => {
                    let values = vec![repeated[0].clone(); n];
                    layer_pass(&hit_guard, &values).await
                }
                _ => {
                    let mut svc = rig::inner();
                    let start = Instant::now();
                    for _ in 0..n {
                        let status = rig::call(&mut svc, rig::request(&repeated[0])).await;
                        assert_eq!(status, StatusCode::OK);
                    }
                    start.elapsed().as_nanos() as f64 / n as f64
                }
            };
            samples[w].push(per_request);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }

    println!(
        "{rounds} rounds, {n} tokens per pool; load average at the end: {}",
        cli::load_average()
    );
    println!("{:<22} {:>10} {:>10}", "workload", "best µs", "median µs");
    let mut best = std::collections::HashMap::new();
    let mut med = std::collections::HashMap::new();
    for (w, name) in names.iter().enumerate() {
        let b = samples[w].iter().copied().fold(f64::INFINITY, f64::min) / 1000.0;
        let m = median(&mut samples[w]) / 1000.0;
        println!("{name:<22} {b:>10.3} {m:>10.3}");
        best.insert(*name, b);
        med.insert(*name, m);
    }
    println!();
    println!("{:<44} {:>8} {:>8}", "ratio", "best", "median");
    for (label, a, b) in [
        (
            "layer RS256 cache off / decode RS256",
            "layer_rs256_nocache",
            "decode_rs256",
        ),
        (
            "layer RS256 cache on (miss) / decode RS256",
            "layer_rs256_cache",
            "decode_rs256",
        ),
        (
            "layer ES256 cache off / decode ES256",
            "layer_es256_nocache",
            "decode_es256",
        ),
        (
            "layer ES256 cache on (miss) / decode ES256",
            "layer_es256_cache",
            "decode_es256",
        ),
        (
            "layer RS256 cache off / crypto RS256",
            "layer_rs256_nocache",
            "crypto_rs256",
        ),
        (
            "decode RS256 / crypto RS256",
            "decode_rs256",
            "crypto_rs256",
        ),
    ] {
        println!(
            "{label:<44} {:>8.3} {:>8.3}",
            best[a] / best[b],
            med[a] / med[b]
        );
    }
    for (label, a, b) in [
        (
            "layer RS256 cache off - crypto RS256 (µs)",
            "layer_rs256_nocache",
            "crypto_rs256",
        ),
        (
            "layer ES256 cache off - crypto ES256 (µs)",
            "layer_es256_nocache",
            "crypto_es256",
        ),
        (
            "cache insert, RS256 (on - off, µs)",
            "layer_rs256_cache",
            "layer_rs256_nocache",
        ),
        (
            "repeated hit - inner_only (µs)",
            "layer_repeated_hit",
            "inner_only",
        ),
    ] {
        println!(
            "{label:<44} {:>8.3} {:>8.3}",
            best[a] - best[b],
            med[a] - med[b]
        );
    }
    drop(issuer);
}

fn main() {
    let mut cli = Cli::new("bench_interleaved", "[--rounds N] [--tokens N]");
    if cli.is_test_run() {
        return;
    }
    let mut rounds = 15usize;
    let mut tokens = 3_000usize;
    while let Some((flag, value)) = cli.next_flag() {
        match flag.as_str() {
            "--rounds" => rounds = cli.parse(&flag, &value),
            "--tokens" => tokens = cli.parse(&flag, &value),
            _ => cli.fail(&format!("unknown option `{flag}`")),
        }
    }
    cli::block_on(run(rounds, tokens));
}
