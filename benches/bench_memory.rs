//! Issue 5: memory stays bounded. Sends `--count` (default 1,000,000) distinct valid tokens
//! through `guard.layer()` in-process and reports the peak resident memory (`VmHWM`).
//!
//! ```text
//! cargo bench --bench bench_memory -- [--cache-mib N|off] [--count N] [--sightings N]
//! ```
//!
//! `--sightings` (default 1) sends each token that many times in a row. With 1 (a flood of
//! one-shot tokens) the cache's doorkeeper keeps every token out of the cache (issue 16); with
//! 2 or more every token is cached, and the byte budget is what bounds the memory.
//!
//! `--cache-mib` is the token cache budget (default 32, the library's default; `off` turns the
//! cache off, the baseline). The tokens are HS256 (minting and checking one costs a few
//! microseconds, so a million take seconds, not the half hour RS256 signing would), with the
//! claims of the benches plus a `scope` claim that brings them to the size of the RS256
//! tokens (about 700 bytes): the cache weighs an entry by its token's length. Each token is
//! minted, sent once and dropped, so only the guard holds on to them. Run each budget in its
//! own process: the peak is per process.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod rig;

use std::time::Instant;

use http::StatusCode;
use jwt_guard::testing::TokenBuilder;
use rig::TokenCache;
use rig::cli::{self, Cli};

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn run(cache: TokenCache, label: &str, count: u64, sightings: u32) {
    let guard = rig::hs_guard(cache);
    let mut svc = rig::guarded(&guard);
    let key = rig::hs_key();
    let scope = "orders:read orders:write catalog:read catalog:write invoices:read ".repeat(5);
    let now = rig::now();
    let mint = |i: u64| {
        rig::claims(TokenBuilder::new(std::sync::Arc::clone(&key), now), i)
            .claim("scope", scope.as_str())
            .sign()
    };
    let sample = mint(u64::MAX);
    let (hwm0, rss0) = memory();
    println!(
        "cache {label}: {count} distinct HS256 tokens of {} bytes, each sent {sightings} time(s); before: VmHWM {:.1} MiB, VmRSS {:.1} MiB",
        sample.len(),
        mib(hwm0),
        mib(rss0)
    );
    let start = Instant::now();
    let step = (count / 10).max(1);
    for i in 0..count {
        let value = rig::bearer(&[mint(i)]).pop().expect("one value");
        for _ in 0..sightings {
            let status = rig::call(&mut svc, rig::request(&value)).await;
            assert_eq!(status, StatusCode::OK, "token {i}");
        }
        if (i + 1) % step == 0 {
            let (hwm, rss) = memory();
            println!(
                "  after {:>9}: VmRSS {:>7.1} MiB, VmHWM {:>7.1} MiB",
                i + 1,
                mib(rss),
                mib(hwm)
            );
        }
    }
    let elapsed = start.elapsed();
    let (hwm, rss) = memory();
    println!(
        "cache {label}: peak VmHWM {:.1} MiB (+{:.1} MiB over the start), VmRSS at the end {:.1} MiB; {:.1} s, {:.0} tokens/s",
        mib(hwm),
        mib(hwm.saturating_sub(rss0)),
        mib(rss),
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let mut cli = Cli::new(
        "bench_memory",
        "[--cache-mib N|off] [--count N] [--sightings N]",
    );
    if cli.is_test_run() {
        return;
    }
    let mut cache = TokenCache::Default;
    let mut label = "32 MiB (default)".to_owned();
    let mut count = 1_000_000u64;
    let mut sightings = 1u32;
    while let Some((flag, value)) = cli.next_flag() {
        match (flag.as_str(), value.as_str()) {
            ("--cache-mib", "off") => {
                cache = TokenCache::Off;
                label = "off".into();
            }
            ("--cache-mib", n) => {
                let n: u64 = cli.parse(&flag, n);
                cache = TokenCache::Bytes(n * 1024 * 1024);
                label = format!("{n} MiB");
            }
            ("--count", n) => count = cli.parse(&flag, n),
            ("--sightings", n) => sightings = cli.parse::<u32>(&flag, n).max(1),
            _ => cli.fail(&format!("unknown option `{flag}`")),
        }
    }
    cli::block_on(run(cache, &label, count, sightings));
}
