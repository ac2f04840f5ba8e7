//! `GET /readyz` (from [`JwtGuard::readiness`]) and `GET /metrics` (Prometheus text, with
//! `metrics = true`).

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};

use super::respond::json_status;
use crate::guard::{IssuerReadiness, JwtGuard};

/// How often the exporter's histograms are compacted.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// `GET /readyz`: 200 when every issuer has usable keys and the replay store (when an issuer
/// rejects replays) answers, else 503; both list each issuer with its key count and the age of
/// its key set, never key material, and say whether the replay store answers.
pub(super) async fn readyz(State(guard): State<JwtGuard>) -> Response<Body> {
    let store = guard.replay_store_ready().await;
    let (ready, body) = render(&guard.readiness(), store);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = json_status(status, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The readiness as JSON, and whether it is ready. Everything `readiness()` reports is shown
/// here, and nothing else.
fn render(issuers: &[IssuerReadiness], replay_store: bool) -> (bool, Value) {
    let mut ready = replay_store;
    let list: Vec<Value> = issuers
        .iter()
        .map(|issuer| {
            let usable = issuer.keys.is_some_and(|n| n > 0);
            ready &= usable;
            json!({
                "issuer": issuer.issuer,
                "ready": usable,
                "keys": issuer.keys,
                "expired": issuer.expired,
                "age_seconds": issuer.age.map(|age| age.as_secs()),
            })
        })
        .collect();
    let status = if ready { "ready" } else { "not_ready" };
    (
        ready,
        json!({
            "status": status,
            "issuers": list,
            "replay_store": { "ready": replay_store },
        }),
    )
}

/// The Prometheus recorder's handle, for `GET /metrics`.
#[derive(Clone, Debug)]
pub(super) struct Metrics(PrometheusHandle);

impl Metrics {
    /// Installs the Prometheus recorder as the process's `metrics` recorder (where another one
    /// is installed already, `/metrics` shows what this one records: nothing) and starts its
    /// upkeep task when a runtime is running.
    pub(super) fn install() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder is installed already: GET /metrics stays empty");
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let upkeep = handle.clone();
            runtime.spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            });
        }
        Self(handle)
    }
}

/// `GET /metrics`: the Prometheus text format.
pub(super) async fn metrics(State(metrics): State<Metrics>) -> Response<Body> {
    let mut response = Response::new(Body::from(metrics.0.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(keys: Option<usize>) -> IssuerReadiness {
        IssuerReadiness {
            issuer: "a".into(),
            keys,
            expired: false,
            age: Some(Duration::from_secs(7)),
        }
    }

    #[test]
    fn ready_only_when_every_issuer_has_keys() {
        let (ready, body) = render(&[issuer(Some(2)), issuer(Some(1))], true);
        assert!(ready);
        assert_eq!(body["issuers"][0]["keys"], 2);
        assert_eq!(body["issuers"][0]["age_seconds"], 7);
        assert_eq!(body["replay_store"]["ready"], true);
        assert!(!render(&[issuer(Some(2)), issuer(None)], true).0);
        assert!(!render(&[issuer(Some(0))], true).0);
    }

    #[test]
    fn not_ready_while_the_replay_store_does_not_answer() {
        let (ready, body) = render(&[issuer(Some(2))], false);
        assert!(!ready);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["replay_store"]["ready"], false);
    }
}
