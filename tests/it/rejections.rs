//! The rejection format of the contract's status table, end to end: exact status,
//! `WWW-Authenticate`, JSON body, nothing of the token or its claims in the answer, and the
//! inner service never called for a rejected request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderMap, Request};
use jwt_guard::testing::{JwksResponse, TestIssuer};
use jwt_guard::{JwtGuard, ManualClock, Reason, Rejection, Verified};
use serde_json::{Value, json};

use crate::common::send;

const REALM: &str = "Bearer realm=\"jwt-guard\"";
const INVALID_REQUEST: &str = "Bearer realm=\"jwt-guard\", error=\"invalid_request\"";
const INSUFFICIENT_SCOPE: &str = "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\"";

fn invalid_token(description: &str) -> String {
    format!(
        "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

/// An app whose handler counts its calls and answers the identity it sees.
fn counting_app(guard: &JwtGuard, calls: &Arc<AtomicUsize>) -> Router {
    let calls = Arc::clone(calls);
    Router::new()
        .route(
            "/whoami",
            get(move |req: Request<Body>| {
                let calls = Arc::clone(&calls);
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let who = req.extensions().get::<Verified>();
                    axum::Json(json!({
                        "issuer": who.map(Verified::issuer_name),
                        "sub": who.and_then(Verified::subject),
                    }))
                }
            }),
        )
        .layer(guard.layer())
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
    reason: Option<Reason>,
}

async fn answer(app: &Router, req: Request<Body>) -> Answer {
    let (res, body) = send(app, req).await;
    Answer {
        status: res.status().as_u16(),
        reason: res.extensions().get::<Rejection>().map(Rejection::reason),
        headers: res.headers().clone(),
        body,
    }
}

fn with_auth(values: &[&str]) -> Request<Body> {
    let mut req = Request::get("/whoami");
    for value in values {
        req = req.header("authorization", *value);
    }
    req.body(Body::empty()).unwrap()
}

/// Asserts the whole rejection: status, challenge (or none), the exact JSON body, and the
/// fixed headers of every rejection.
fn assert_rejection(a: &Answer, status: u16, challenge: Option<&str>, error: &str, reason: Reason) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(
        a.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        challenge,
        "{}",
        a.body
    );
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(
        a.body,
        format!(
            r#"{{"error":"{error}","error_description":"{}","reason":"{}"}}"#,
            reason.description(),
            reason.code()
        )
    );
    let json: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 3);
    assert_eq!(a.reason, Some(reason));
}

async fn setup() -> (TestIssuer, JwtGuard, Router, Arc<AtomicUsize>) {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().tenant_claim("tenant").tenants(["acme"]))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = counting_app(&guard, &calls);
    (issuer, guard, app, calls)
}

#[tokio::test]
async fn no_credentials_is_401_with_a_bare_challenge() {
    let (_issuer, _guard, app, calls) = setup().await;
    let none = answer(&app, Request::get("/whoami").body(Body::empty()).unwrap()).await;
    assert_rejection(
        &none,
        401,
        Some(REALM),
        "missing_token",
        Reason::MissingToken,
    );
    // Another scheme counts as no token.
    for other in [
        "Basic dXNlcjpwYXNz",
        "Digest username=\"a\"",
        "Token abc.def.ghi",
        "Bearerabc.def.ghi",
        "Negotiate",
    ] {
        let a = answer(&app, with_auth(&[other])).await;
        assert_rejection(&a, 401, Some(REALM), "missing_token", Reason::MissingToken);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn malformed_requests_are_400_invalid_request() {
    let (issuer, _guard, app, calls) = setup().await;
    let token = issuer.token().tenant("acme").sign();
    let bearer = format!("Bearer {token}");
    let cases: Vec<(Vec<String>, Reason)> = vec![
        (vec!["Bearer".into()], Reason::MalformedCredential),
        (vec!["Bearer ".into()], Reason::MalformedCredential),
        (vec!["bearer    ".into()], Reason::MalformedCredential),
        (
            vec![format!("Bearer {token} {token}")],
            Reason::MalformedCredential,
        ),
        (
            vec![format!("Bearer {token},{token}")],
            Reason::MalformedCredential,
        ),
        (
            vec![format!("Bearer {token}, Bearer {token}")],
            Reason::MalformedCredential,
        ),
        (
            vec![bearer.clone(), bearer.clone()],
            Reason::DuplicateAuthorization,
        ),
        (
            vec![bearer.clone(), "Basic dXNlcjpwYXNz".into()],
            Reason::DuplicateAuthorization,
        ),
    ];
    for (values, reason) in cases {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let a = answer(&app, with_auth(&values)).await;
        assert_rejection(&a, 400, Some(INVALID_REQUEST), "invalid_request", reason);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The same token alone passes.
    let a = answer(&app, with_auth(&[&bearer])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_over_8192_bytes_is_401_before_any_decoding() {
    let (issuer, _guard, app, calls) = setup().await;
    let junk = "a".repeat(8193);
    let a = answer(&app, with_auth(&[&format!("Bearer {junk}")])).await;
    assert_rejection(
        &a,
        401,
        Some(&invalid_token("the token is too large")),
        "invalid_token",
        Reason::TokenTooLarge,
    );
    // A validly signed token that is too large is refused the same way.
    let big = issuer
        .token()
        .tenant("acme")
        .claim("pad", "x".repeat(7000))
        .sign();
    assert!(big.len() > 8192, "{}", big.len());
    let a = answer(&app, with_auth(&[&format!("Bearer {big}")])).await;
    assert_rejection(
        &a,
        401,
        Some(&invalid_token("the token is too large")),
        "invalid_token",
        Reason::TokenTooLarge,
    );
    // At 8192 bytes the cap lets it through to the parser.
    let at_cap = "a".repeat(8192);
    let a = answer(&app, with_auth(&[&format!("Bearer {at_cap}")])).await;
    assert_rejection(
        &a,
        401,
        Some(&invalid_token("the token is not a compact JWS")),
        "invalid_token",
        Reason::MalformedToken,
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn invalid_tokens_are_401_with_their_description() {
    let (issuer, _guard, app, calls) = setup().await;
    let good = issuer.token().tenant("acme").sign();
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let b64 =
        |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
    let other_sig = issuer
        .token()
        .tenant("other")
        .sign()
        .rsplit_once('.')
        .unwrap()
        .1
        .to_owned();
    let cases: Vec<(String, Reason)> = vec![
        ("abc".into(), Reason::MalformedToken),
        (format!("{head}.{payload}"), Reason::MalformedToken),
        (
            format!("{head}.{payload}.{signature}.x.y"),
            Reason::MalformedToken,
        ),
        (
            format!("{head}.{payload}.{other_sig}"),
            Reason::BadSignature,
        ),
        (
            format!("{}.{payload}.", b64(r#"{"alg":"none"}"#)),
            Reason::MalformedToken,
        ),
        (
            format!("{}.{payload}.{signature}", b64(r#"{"alg":"none"}"#)),
            Reason::AlgorithmNotAllowed,
        ),
        (
            format!(
                "{}.{payload}.{signature}",
                b64(r#"{"alg":"HS256","kid":"rsa-1"}"#)
            ),
            Reason::AlgorithmNotAllowed,
        ),
        (
            format!(
                "{}.{payload}.{signature}",
                b64(r#"{"alg":"RS256","crit":["exp"]}"#)
            ),
            Reason::BadHeader,
        ),
        (
            issuer.token().tenant("acme").expires_in(-60).sign(),
            Reason::Expired,
        ),
        (
            issuer.token().tenant(" ").claim("tenant", 1.5).sign(),
            Reason::BadTenant,
        ),
    ];
    for (token, reason) in cases {
        let a = answer(&app, with_auth(&[&format!("Bearer {token}")])).await;
        assert_rejection(
            &a,
            401,
            Some(&invalid_token(reason.description())),
            "invalid_token",
            reason,
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_tenant_outside_the_allowlist_is_403_insufficient_scope() {
    let (issuer, _guard, app, calls) = setup().await;
    let a = answer(
        &app,
        with_auth(&[&format!(
            "Bearer {}",
            issuer.token().tenant("globex").sign()
        )]),
    )
    .await;
    assert_rejection(
        &a,
        403,
        Some(INSUFFICIENT_SCOPE),
        "insufficient_scope",
        Reason::TenantNotAllowed,
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unavailable_keys_are_503_with_retry_after_and_no_challenge() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start().await.with_clock(clock.clone());
    issuer.respond_with(JwksResponse::Status(500));
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .clock(clock)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = counting_app(&guard, &calls);
    let a = answer(
        &app,
        with_auth(&[&format!("Bearer {}", issuer.token().sign())]),
    )
    .await;
    assert_rejection(
        &a,
        503,
        None,
        "temporarily_unavailable",
        Reason::KeysUnavailable,
    );
    assert_eq!(a.headers["retry-after"], "30");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_realm_is_configurable() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .realm("orders api")
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = counting_app(&guard, &calls);
    let a = answer(&app, Request::get("/whoami").body(Body::empty()).unwrap()).await;
    assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"orders api\"");
    let a = answer(&app, with_auth(&["Bearer"])).await;
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer realm=\"orders api\", error=\"invalid_request\""
    );
    let a = answer(&app, with_auth(&["Bearer a.b.c"])).await;
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer realm=\"orders api\", error=\"invalid_token\", error_description=\"the token is not a compact JWS\""
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn no_token_or_claim_text_in_any_rejection() {
    let (issuer, _guard, app, calls) = setup().await;
    let sub = "subject-Zq8vK2";
    let marker = "claim-value-Wp4xN7";
    let tokens = vec![
        // Expired.
        issuer
            .token()
            .subject(sub)
            .tenant("acme")
            .claim("note", marker)
            .expires_in(-60)
            .sign(),
        // Tenant outside the allowlist (the tenant value itself is claim text).
        issuer.token().subject(sub).tenant(marker).sign(),
        // Malformed tenant.
        issuer
            .token()
            .subject(sub)
            .claim("tenant", json!([marker]))
            .sign(),
        // Wrong-typed date.
        issuer
            .token()
            .subject(sub)
            .tenant("acme")
            .claim("exp", marker)
            .sign(),
        // Unknown kid.
        issuer
            .token()
            .subject(sub)
            .tenant("acme")
            .header("kid", marker)
            .sign(),
        // Bad signature.
        {
            let t = issuer
                .token()
                .subject(sub)
                .tenant("acme")
                .claim("note", marker)
                .sign();
            format!("{}AAAA", &t[..t.len() - 4])
        },
    ];
    for token in tokens {
        let a = answer(&app, with_auth(&[&format!("Bearer {token}")])).await;
        assert!(
            a.status == 401 || a.status == 403,
            "{} {}",
            a.status,
            a.body
        );
        let mut everything = a.body.clone();
        for (name, value) in &a.headers {
            everything.push_str(name.as_str());
            everything.push_str(value.to_str().unwrap());
        }
        for secret in [sub, marker, token.as_str()]
            .into_iter()
            .chain(token.split('.'))
        {
            assert!(
                !everything.contains(secret),
                "{secret:?} leaked in {everything}"
            );
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_client_supplied_identity_is_overwritten_never_trusted() {
    let (issuer, guard, app, calls) = setup().await;
    // A genuine `Verified`, from another guard: the most convincing forgery there is.
    let evil = TestIssuer::start().await;
    let evil_guard = JwtGuard::builder()
        .issuer(evil.issuer().name("evil"))
        .build()
        .unwrap();
    let forged: Verified = evil_guard
        .verify(&evil.token().subject("admin").sign())
        .await
        .unwrap();
    assert_eq!(forged.issuer_name(), "evil");

    // With a valid token, the handler sees the layer's identity.
    let mut req = with_auth(&[&format!(
        "Bearer {}",
        issuer.token().subject("real").tenant("acme").sign()
    )]);
    req.extensions_mut().insert(forged.clone());
    let a = answer(&app, req).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let json: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(json, json!({"issuer": "test", "sub": "real"}));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Without a token the forged identity does not let the request in...
    let mut req = Request::get("/whoami").body(Body::empty()).unwrap();
    req.extensions_mut().insert(forged.clone());
    let a = answer(&app, req).await;
    assert_rejection(&a, 401, Some(REALM), "missing_token", Reason::MissingToken);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // ...and where a token is optional, it is removed rather than passed on.
    let optional = Router::new()
        .route(
            "/whoami",
            get(|req: Request<Body>| async move {
                axum::Json(
                    json!({ "issuer": req.extensions().get::<Verified>().map(Verified::issuer_name) }),
                )
            }),
        )
        .layer(guard.optional_auth_layer());
    let mut req = Request::get("/whoami").body(Body::empty()).unwrap();
    req.extensions_mut().insert(forged);
    let a = answer(&optional, req).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&a.body).unwrap(),
        json!({"issuer": null})
    );
}
