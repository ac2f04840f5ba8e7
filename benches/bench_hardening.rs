//! Issue 13, in-process: what parsing cookies cookie by cookie on bytes costs on the hot path (a
//! cached token), against the `Authorization` header measured in the same run, interleaved.
//!
//! ```text
//! cargo bench --bench bench_hardening -- [--rounds N] [--requests N]
//! ```
//!
//! Workloads (each `--requests` cache hits of one token through `guard.layer()`, default 20,000):
//! - `header`: `Authorization: Bearer` (the baseline);
//! - `cookie`: `Cookie: jwt=TOKEN`;
//! - `cookie_crowded`: the token cookie among five others, two of them not UTF-8;
//! - `cookie_split`: the same six cookies in six `Cookie` headers (as HTTP/2 sends them).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::time::Instant;

use http::{HeaderValue, Request, StatusCode, header};
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, Issuer, JwtGuard, TokenSource};
use rig::cli::{self, Cli};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn request(headers: &[(header::HeaderName, HeaderValue)]) -> Request<()> {
    let mut req = Request::new(());
    for (name, value) in headers {
        req.headers_mut().append(name.clone(), value.clone());
    }
    req
}

async fn run(rounds: usize, n: usize) {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(rig::policy(Issuer::jwks(issuer.jwks_url())))
        .cors(Cors::new().allow_origins([rig::ORIGIN]))
        .token_sources([TokenSource::Header, TokenSource::Cookie("jwt".into())])
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let token = rig::token(&rig::key(&issuer, "rsa-1"), 1);
    let bytes = |parts: &[&[u8]]| HeaderValue::from_bytes(&parts.concat()).unwrap();
    let t = token.as_bytes();
    let others: [&[u8]; 5] = [
        b"a=1",
        b"pref=caf\xc3\xa9",
        b"tracker=\xff\xfe\x80",
        b"session=0123456789abcdef",
        b"theme=dark",
    ];
    let crowded = {
        let mut v: Vec<u8> = Vec::new();
        for (i, other) in others.iter().enumerate() {
            if i == 3 {
                v.extend_from_slice(b"jwt=");
                v.extend_from_slice(t);
                v.extend_from_slice(b"; ");
            }
            v.extend_from_slice(other);
            v.extend_from_slice(b"; ");
        }
        HeaderValue::from_bytes(v.trim_ascii_end().strip_suffix(b";").unwrap()).unwrap()
    };
    let mut split: Vec<(header::HeaderName, HeaderValue)> = others
        .iter()
        .map(|o| (header::COOKIE, HeaderValue::from_bytes(o).unwrap()))
        .collect();
    split.insert(3, (header::COOKIE, bytes(&[b"jwt=", t])));
    let workloads: Vec<(&str, Vec<(header::HeaderName, HeaderValue)>)> = vec![
        (
            "header",
            vec![(header::AUTHORIZATION, bytes(&[b"Bearer ", t]))],
        ),
        ("cookie", vec![(header::COOKIE, bytes(&[b"jwt=", t]))]),
        ("cookie_crowded", vec![(header::COOKIE, crowded)]),
        ("cookie_split", split),
    ];
    let mut svc = rig::guarded(&guard);
    // Warm the cache.
    for (_, headers) in &workloads {
        assert_eq!(rig::call(&mut svc, request(headers)).await, StatusCode::OK);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    for round in 0..rounds {
        for (w, (_, headers)) in workloads.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..n {
                assert_eq!(rig::call(&mut svc, request(headers)).await, StatusCode::OK);
            }
            samples[w].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    let best: Vec<f64> = samples
        .iter()
        .map(|s| s.iter().copied().fold(f64::INFINITY, f64::min))
        .collect();
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("load average: {}", cli::load_average());
    println!(
        "{:<16} {:>10} {:>10} {:>12} {:>12}",
        "workload", "best ns", "median ns", "best/header", "median/hdr"
    );
    for (w, (name, _)) in workloads.iter().enumerate() {
        println!(
            "{name:<16} {:>10.0} {:>10.0} {:>12.3} {:>12.3}",
            best[w],
            medians[w],
            best[w] / best[0],
            medians[w] / medians[0]
        );
    }
}

fn main() {
    let mut cli = Cli::new("bench_hardening", "[--rounds N] [--requests N]");
    if cli.is_test_run() {
        return;
    }
    let (mut rounds, mut n) = (15usize, 20_000usize);
    while let Some((flag, value)) = cli.next_flag() {
        match flag.as_str() {
            "--rounds" => rounds = cli.parse(&flag, &value),
            "--requests" => n = cli.parse(&flag, &value),
            _ => cli.fail(&format!("unknown flag {flag}")),
        }
    }
    cli::block_on(run(rounds, n));
}
