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

#[cfg(feature = "metrics")]
mod imp {
    use std::time::Duration;

    pub(crate) fn allowed(issuer: &str) {
        metrics::counter!("jwt_guard_requests_allowed_total", "issuer" => issuer.to_owned())
            .increment(1);
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
        metrics::counter!("jwt_guard_token_cache_total", "outcome" => if hit { "hit" } else { "miss" })
            .increment(1);
    }

    pub(crate) fn verify_time(elapsed: Duration) {
        metrics::histogram!("jwt_guard_verify_seconds").record(elapsed.as_secs_f64());
    }
}

// Without the feature the verification time is not even read (see `Engine::verify`).
#[cfg(not(feature = "metrics"))]
mod imp {
    #[inline(always)]
    pub(crate) fn allowed(_issuer: &str) {}
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
