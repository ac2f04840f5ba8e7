//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`); without
//! the feature every function here is empty and compiles away.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `jwt_guard_requests_allowed_total` | counter | `issuer` |
//! | `jwt_guard_requests_rejected_total` | counter | `reason` (a [`Reason`](crate::Reason) code) |
//! | `jwt_guard_jwks_fetches_total` | counter | `issuer`, `outcome` = `ok` / `failed` / `not_modified` |
//! | `jwt_guard_jwks_refetch_suppressed_total` | counter | `issuer` (unknown kid inside the cooldown) |
//! | `jwt_guard_token_cache_total` | counter | `outcome` = `hit` / `miss` |
//! | `jwt_guard_verify_seconds` | histogram | (full verifications, cache misses) |
//!
//! Readiness (keys loaded, age of the key set) comes from
//! [`JwtGuard::readiness`](crate::JwtGuard::readiness), for a `/healthz`.

//!
//! The counters of allowed requests and of the token cache are bumped on every request: their
//! keys (name and labels) are built once, at build time (per issuer) or as statics, so that an
//! allowed request allocates nothing for its metrics.

#[cfg(feature = "metrics")]
mod imp {
    use std::time::Duration;

    use metrics::{Key, Label, Level, Metadata};

    static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));
    static HIT_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "hit")];
    static MISS_LABELS: [Label; 1] = [Label::from_static_parts("outcome", "miss")];
    static CACHE_HIT: Key = Key::from_static_parts("jwt_guard_token_cache_total", &HIT_LABELS);
    static CACHE_MISS: Key = Key::from_static_parts("jwt_guard_token_cache_total", &MISS_LABELS);

    /// The metric keys of one issuer, built once when the guard is built.
    #[derive(Debug)]
    pub(crate) struct IssuerMetrics {
        allowed: Key,
    }

    impl IssuerMetrics {
        pub(crate) fn new(issuer: &str) -> Self {
            Self {
                allowed: Key::from_parts(
                    "jwt_guard_requests_allowed_total",
                    vec![Label::new("issuer", issuer.to_owned())],
                ),
            }
        }
    }

    /// One more allowed request for this issuer: no allocation (the key is prepared).
    pub(crate) fn allowed(issuer: &IssuerMetrics) {
        metrics::with_recorder(|r| r.register_counter(&issuer.allowed, &METADATA).increment(1));
    }

    pub(crate) fn rejected(reason: &'static str) {
        metrics::counter!("jwt_guard_requests_rejected_total", "reason" => reason).increment(1);
    }

    pub(crate) fn jwks_fetch(issuer: &str, outcome: &'static str) {
        metrics::counter!("jwt_guard_jwks_fetches_total", "issuer" => issuer.to_owned(), "outcome" => outcome)
            .increment(1);
    }

    pub(crate) fn refetch_suppressed(issuer: &str) {
        metrics::counter!("jwt_guard_jwks_refetch_suppressed_total", "issuer" => issuer.to_owned())
            .increment(1);
    }

    pub(crate) fn token_cache(hit: bool) {
        let key = if hit { &CACHE_HIT } else { &CACHE_MISS };
        metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
    }

    pub(crate) fn verify_time(elapsed: Duration) {
        metrics::histogram!("jwt_guard_verify_seconds").record(elapsed.as_secs_f64());
    }
}

// Without the feature the verification time is not even read (see `Engine::verify`).
#[cfg(not(feature = "metrics"))]
mod imp {
    /// Nothing to prepare without the feature.
    #[derive(Debug)]
    pub(crate) struct IssuerMetrics;

    impl IssuerMetrics {
        #[inline(always)]
        pub(crate) fn new(_issuer: &str) -> Self {
            Self
        }
    }

    #[inline(always)]
    pub(crate) fn allowed(_issuer: &IssuerMetrics) {}
    #[inline(always)]
    pub(crate) fn rejected(_reason: &'static str) {}
    #[inline(always)]
    pub(crate) fn jwks_fetch(_issuer: &str, _outcome: &'static str) {}
    #[inline(always)]
    pub(crate) fn refetch_suppressed(_issuer: &str) {}
    #[inline(always)]
    pub(crate) fn token_cache(_hit: bool) {}
}

pub(crate) use imp::*;
