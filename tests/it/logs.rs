//! What the layer logs: a rejection names the issuer and the `kid` (never the token), a key
//! set reload names the kids added and removed, a failed first fetch does not pretend to keep
//! a previous key set, and a missing layer under an extractor is an error line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwt_guard::testing::{JwksResponse, TestIssuer};
use jwt_guard::{JwtGuard, Verified};
use tracing_subscriber::fmt::MakeWriter;

use crate::common::{app, get_with, send};

/// Every line logged while it is the thread's default subscriber (the tests run on a
/// current-thread runtime, so spawned fetches log here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_rejection_logs_its_reason_issuer_and_kid_but_never_the_token() {
    let logs = Captured::default();
    let _guard = logs.install();
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().name("appdirect"))
        .build()
        .unwrap();
    let app = app(&guard);
    let expired = issuer.token().subject("u1").expires_in(-3600).sign();
    let (res, _) = send(&app, get_with("/whoami", &expired)).await;
    assert_eq!(res.status(), 401);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("request rejected"))
        .unwrap_or_else(|| panic!("no rejection line in:\n{text}"));
    for field in [
        "reason=\"expired\"",
        "issuer=\"appdirect\"",
        "kid=\"rsa-1\"",
        "status=401",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(!text.contains(&expired), "the token was logged:\n{text}");
    let (_, sig) = expired.rsplit_once('.').unwrap();
    assert!(!text.contains(sig));
}

#[tokio::test]
async fn a_reload_logs_the_kids_added_and_removed() {
    let logs = Captured::default();
    let _guard = logs.install();
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().refresh_cooldown(Duration::ZERO))
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let text = logs.text();
    let loaded = text.lines().find(|l| l.contains("key set loaded")).unwrap();
    assert!(loaded.contains("kids_added=ec-1,rsa-1"), "{loaded}");
    assert!(loaded.contains("kids_removed= "), "{loaded}");

    // Rotation: rsa-1 leaves, rsa-2 arrives; a token naming rsa-2 makes the layer refetch.
    logs.clear();
    let mut issuer = issuer;
    issuer.add_key(
        jwt_guard::testing::TestKey::rsa("rsa-2", jwt_guard::Algorithm::RS256),
        true,
    );
    issuer.publish_only(&["ec-1", "rsa-2"]);
    issuer.use_key("rsa-2");
    let token = issuer.token().subject("u1").sign();
    let (res, body) = send(&app(&guard), get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200, "{body}");
    let text = logs.text();
    let loaded = text
        .lines()
        .find(|l| l.contains("key set loaded"))
        .unwrap_or_else(|| panic!("no reload line in:\n{text}"));
    assert!(loaded.contains("kids_added=rsa-2"), "{loaded}");
    assert!(loaded.contains("kids_removed=rsa-1"), "{loaded}");
}

#[tokio::test]
async fn a_failed_first_fetch_does_not_claim_to_keep_previous_keys() {
    let logs = Captured::default();
    let _guard = logs.install();
    let issuer = TestIssuer::start().await;
    issuer.respond_with(JwksResponse::Status(500));
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().refresh_cooldown(Duration::ZERO))
        .build()
        .unwrap();
    assert!(!guard.warm_up().await);
    let text = logs.text();
    let failed = text
        .lines()
        .find(|l| l.contains("key set fetch failed"))
        .unwrap_or_else(|| panic!("no failure line in:\n{text}"));
    assert!(failed.contains("no key set yet"), "{failed}");
    assert!(!text.contains("previous"), "{text}");

    // Once keys were loaded, a failure keeps them, and says so.
    issuer.respond_with(JwksResponse::Keys);
    assert!(guard.warm_up().await);
    logs.clear();
    issuer.respond_with(JwksResponse::Status(500));
    guard.warm_up().await;
    let text = logs.text();
    assert!(
        text.contains("key set fetch failed; keeping the previous key set"),
        "{text}"
    );
}

#[tokio::test]
async fn an_extractor_without_its_layer_logs_an_error() {
    let logs = Captured::default();
    let _guard = logs.install();
    let app = Router::new().route(
        "/me",
        get(|who: Verified| async move { who.subject().unwrap_or_default().to_owned() }),
    );
    let (res, _) = send(
        &app,
        http::Request::get("/me")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 500);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"));
    assert!(line.contains("jwt_guard::extract"), "{line}");
    assert!(line.contains("layer"), "{line}");
}
