//! Issue 5, in-process: what one request costs through `guard.layer()`, next to the floors.
//!
//! One criterion group, `verify`:
//!
//! | id | what |
//! | --- | --- |
//! | `floor/decode_rs256` | `jsonwebtoken::decode` (aws-lc-rs), distinct RS256 tokens, key and `Validation` built once |
//! | `floor/decode_es256` | the same with ES256 |
//! | `floor/crypto_rs256`, `floor/crypto_es256` | the signature check alone: aws-lc-rs `ParsedPublicKey::verify_sig`, key prepared once, signatures decoded beforehand (what the layer's crypto costs) |
//! | `floor/parse_only` | `jsonwebtoken::dangerous::insecure_decode`: split, base64 and JSON of header and claims; no signature decode or check |
//! | `floor/inner_only` | the request and the inner service without the layer (the harness cost) |
//! | `layer/rs256_distinct_nocache` | the layer, distinct RS256 tokens, token cache off |
//! | `layer/rs256_distinct_cache` | the layer, distinct RS256 tokens, token cache on (default budget): every request a miss and an insert |
//! | `layer/es256_distinct_nocache`, `layer/es256_distinct_cache` | the same with ES256 |
//! | `layer/hs256_distinct_nocache`, `layer/hs256_distinct_cache` | the same with HS256 (shared secret) |
//! | `layer/repeated_hit` | the layer, one RS256 token again and again (a cache hit) |
//! | `layer/parse_reject` | the layer, a token whose `iss` no issuer has: parsed in full, then refused 401 |
//! | `layer/reject_no_token` | the layer, no credentials: 401 |
//! | `layer/preflight` | the layer, a CORS preflight: 204 |
//!
//! Distinct tokens: `BENCH_TOKENS` (default 10,000) tokens with distinct `jti` are minted before
//! any timing and used in turn. With the cache on, the guard is replaced by a fresh one (keys
//! loaded, cache empty) each time the tokens run out, outside the timed part, so every timed
//! request is a miss that inserts into a cache big enough for all of them.
//!
//! Every layer call runs inside a current-thread tokio runtime (`ready().await`, then
//! `call(req).await`); the status of every answer is checked.
//!
//! `cargo bench --bench verify` (criterion's options after `--`, e.g. `-- layer/repeated`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, StatusCode};
use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;
use rig::TokenCache;
use tokio::runtime::Runtime;

fn tokens_wanted() -> usize {
    std::env::var("BENCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Times `iters` layer calls with the `Authorization` values in turn. `fresh` builds the guard
/// used from the next token on (called before the first and each time the values run out).
fn layer_calls<'a, F, Fut>(
    rt: &'a Runtime,
    values: &'a [HeaderValue],
    expect: StatusCode,
    mut fresh: F,
) -> impl FnMut(u64) -> Duration + 'a
where
    F: FnMut() -> Fut + 'a,
    Fut: Future<Output = JwtGuard>,
{
    // `Runtime::block_on`, not `Handle::block_on`: only the former drives a current-thread
    // runtime's IO, which a fresh guard needs to fetch its JWKS.
    let mut pos = 0usize;
    let mut svc: Option<rig::Guarded> = None;
    move |iters| {
        rt.block_on(async {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                if pos == 0 || svc.is_none() {
                    // Untimed: the old guard (and its cache) is dropped here too.
                    svc = None;
                    svc = Some(rig::guarded(&fresh().await));
                }
                let svc = svc.as_mut().expect("service");
                let batch = ((iters - done) as usize).min(values.len() - pos);
                let start = Instant::now();
                for value in &values[pos..pos + batch] {
                    let status = rig::call(svc, rig::request(value)).await;
                    assert_eq!(status, expect);
                }
                total += start.elapsed();
                pos = (pos + batch) % values.len();
                done += batch as u64;
            }
            total
        })
    }
}

/// Times `iters` calls of one request shape on one guard (no token cycling).
fn same_calls<'a>(
    rt: &'a Runtime,
    guard: &JwtGuard,
    make: impl Fn() -> http::Request<()> + 'a,
    expect: StatusCode,
) -> impl FnMut(u64) -> Duration + 'a {
    let mut svc = rig::guarded(guard);
    move |iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let status = rig::call(&mut svc, make()).await;
                assert_eq!(status, expect);
            }
            start.elapsed()
        })
    }
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = rt.block_on(TestIssuer::start());
    let n = tokens_wanted();
    eprintln!("minting {n} RS256, {n} ES256 and {n} HS256 tokens...");
    let rsa = rig::key(&issuer, "rsa-1");
    let ec = rig::key(&issuer, "ec-1");
    let hs = rig::hs_key();
    let rs_tokens = rig::mint(&rsa, 0, n);
    let es_tokens = rig::mint(&ec, 0, n);
    let hs_tokens = rig::mint(&hs, 0, n);
    let rs_values = rig::bearer(&rs_tokens);
    let es_values = rig::bearer(&es_tokens);
    let hs_values = rig::bearer(&hs_tokens);
    let repeated = rig::bearer(&[rig::token(&rsa, u64::MAX)]);
    let foreign = rig::bearer(&[rig::claims(issuer.token(), 1)
        .issuer("https://elsewhere.example")
        .sign()]);
    eprintln!(
        "token sizes: RS256 {} B, ES256 {} B, HS256 {} B",
        rs_tokens[0].len(),
        es_tokens[0].len(),
        hs_tokens[0].len()
    );

    let mut group = c.benchmark_group("verify");

    // The floors.
    let rs_key = rig::decoding_key(&issuer, "rsa-1");
    let rs_validation = rig::validation(jsonwebtoken::Algorithm::RS256);
    let mut i = 0usize;
    group.bench_function("floor/decode_rs256", |b| {
        b.iter(|| {
            let token = &rs_tokens[i % n];
            i += 1;
            rig::decode(black_box(token), &rs_key, &rs_validation).expect("valid token")
        })
    });
    let es_key = rig::decoding_key(&issuer, "ec-1");
    let es_validation = rig::validation(jsonwebtoken::Algorithm::ES256);
    let mut i = 0usize;
    group.bench_function("floor/decode_es256", |b| {
        b.iter(|| {
            let token = &es_tokens[i % n];
            i += 1;
            rig::decode(black_box(token), &es_key, &es_validation).expect("valid token")
        })
    });
    for (alg, tokens, kid) in [
        ("rs256", &rs_tokens, "rsa-1"),
        ("es256", &es_tokens, "ec-1"),
    ] {
        let key = rig::parsed_key(&issuer, kid);
        let parts: Vec<_> = tokens.iter().map(|t| rig::signed_parts(t)).collect();
        let mut i = 0usize;
        group.bench_function(format!("floor/crypto_{alg}"), |b| {
            b.iter(|| {
                let (input, signature) = &parts[i % n];
                i += 1;
                key.verify_sig(black_box(input), black_box(signature))
                    .expect("valid signature")
            })
        });
    }
    let mut i = 0usize;
    group.bench_function("floor/parse_only", |b| {
        b.iter(|| {
            let token = &rs_tokens[i % n];
            i += 1;
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Map<String, serde_json::Value>>(
                black_box(token),
            )
            .expect("well-formed token")
        })
    });
    group.bench_function("floor/inner_only", |b| {
        let rt = &rt;
        let mut svc = rig::inner();
        let value = &repeated[0];
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let status = rig::call(&mut svc, rig::request(value)).await;
                    assert_eq!(status, StatusCode::OK);
                }
                start.elapsed()
            })
        })
    });

    // The layer on distinct tokens, cache off and on.
    let hs_guard_off = rig::hs_guard(TokenCache::Off);
    let jwks_guard_off = rt.block_on(rig::jwks_guard(&issuer, TokenCache::Off));
    let cases: [(&str, &[HeaderValue], bool); 3] = [
        ("rs256", &rs_values, false),
        ("es256", &es_values, false),
        ("hs256", &hs_values, true),
    ];
    for (alg, values, secret) in cases {
        let off = if secret {
            hs_guard_off.clone()
        } else {
            jwks_guard_off.clone()
        };
        group.bench_function(format!("layer/{alg}_distinct_nocache"), |b| {
            b.iter_custom(layer_calls(&rt, values, StatusCode::OK, || {
                let guard = off.clone();
                async move { guard }
            }))
        });
        let issuer = &issuer;
        group.bench_function(format!("layer/{alg}_distinct_cache"), |b| {
            b.iter_custom(layer_calls(&rt, values, StatusCode::OK, || async move {
                if secret {
                    rig::hs_guard(TokenCache::Default)
                } else {
                    rig::jwks_guard(issuer, TokenCache::Default).await
                }
            }))
        });
    }

    // The layer on one token again and again.
    let cached = rt.block_on(rig::jwks_guard(&issuer, TokenCache::Default));
    group.bench_function("layer/repeated_hit", |b| {
        let value = repeated[0].clone();
        b.iter_custom(same_calls(
            &rt,
            &cached,
            move || rig::request(&value),
            StatusCode::OK,
        ))
    });

    // Refusals and preflights.
    group.bench_function("layer/parse_reject", |b| {
        let value = foreign[0].clone();
        b.iter_custom(same_calls(
            &rt,
            &cached,
            move || rig::request(&value),
            StatusCode::UNAUTHORIZED,
        ))
    });
    group.bench_function("layer/reject_no_token", |b| {
        b.iter_custom(same_calls(
            &rt,
            &cached,
            rig::anonymous,
            StatusCode::UNAUTHORIZED,
        ))
    });
    group.bench_function("layer/preflight", |b| {
        b.iter_custom(same_calls(
            &rt,
            &cached,
            rig::preflight,
            StatusCode::NO_CONTENT,
        ))
    });
    group.finish();
    drop(issuer);
}

criterion_group!(benches, verify);
criterion_main!(benches);
