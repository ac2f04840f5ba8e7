//! The `metrics` feature: counters and the histogram, recorded by a debugging recorder.
#![cfg(feature = "metrics")]

use axum::body::Body;
use http::Request;
use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::common::{app, get_with, send};

fn counter(
    snapshot: &[(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
    label: (&str, &str),
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| {
            key.key().name() == name
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == label.0 && l.value() == label.1)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

#[test]
fn counters_and_histogram_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let issuer = TestIssuer::start().await;
            let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
            let app = app(&guard);
            // Three times: two full verifications (the second sighting enters the token
            // cache), then a hit.
            let token = issuer.token().subject("u1").sign();
            for _ in 0..3 {
                let (res, _) = send(&app, get_with("/whoami", &token)).await;
                assert_eq!(res.status(), 200);
            }
            let (res, _) = send(&app, Request::get("/whoami").body(Body::empty()).unwrap()).await;
            assert_eq!(res.status(), 401);
            let unknown = issuer.token().header("kid", "nope").sign();
            let (res, _) = send(&app, get_with("/whoami", &unknown)).await;
            assert_eq!(res.status(), 401);
            let again = issuer.token().header("kid", "nope-again").sign();
            let (res, _) = send(&app, get_with("/whoami", &again)).await;
            assert_eq!(res.status(), 401);

            let ready = guard.readiness();
            assert_eq!(ready[0].keys, Some(2));
            assert!(ready[0].age.is_some());
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(
            &snapshot,
            "jwt_guard_requests_allowed_total",
            ("issuer", "test")
        ),
        3
    );
    assert_eq!(
        counter(
            &snapshot,
            "jwt_guard_requests_rejected_total",
            ("reason", "missing_token")
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "jwt_guard_requests_rejected_total",
            ("reason", "unknown_kid")
        ),
        2
    );
    assert_eq!(
        counter(&snapshot, "jwt_guard_token_cache_total", ("outcome", "hit")),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "jwt_guard_token_cache_total",
            ("outcome", "miss")
        ),
        4
    );
    // One fetch at the cold start; both unknown kids fall within the cooldown counted from it.
    assert_eq!(
        counter(&snapshot, "jwt_guard_jwks_fetches_total", ("outcome", "ok")),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            "jwt_guard_jwks_refetch_suppressed_total",
            ("issuer", "test")
        ),
        2
    );
    let samples: usize = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == "jwt_guard_verify_seconds")
        .map(|(.., value)| match value {
            DebugValue::Histogram(samples) => samples.len(),
            other => panic!("not a histogram: {other:?}"),
        })
        .sum();
    assert_eq!(
        samples, 4,
        "one sample per full verification (the cache hits take none)"
    );
}
