//! CORS through the layer: every applicable case of `research/cors.md` §4.2 (rows 1–70), the
//! origin bindings (issuer and tenant), and the split layers (`cors_layer` on the router,
//! `auth_layer` through `route_layer`).
//!
//! Where the issue or the serve contract differs from the research note, the contract wins:
//! a disallowed actual request gets 403 `origin_not_allowed` without reaching the inner service
//! (the note's baseline is "pass" mode), a refused preflight has the JSON body
//! `preflight_refused`, two `Origin` headers are 400 `invalid_request`, and `max_age` defaults
//! to 10 minutes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use jwt_guard::testing::{JwksResponse, TestIssuer};
use jwt_guard::{Cors, JwtGuard, Verified};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{assert_cors_refused, send};

const MARKETPLACE: &str = "https://marketplace.example.com";
const PARTNER: &str = "https://partner.example.net:8443";
const EVIL: &str = "https://evil.example";

const ACAO: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;
const ACAC: HeaderName = header::ACCESS_CONTROL_ALLOW_CREDENTIALS;
const ACAM: HeaderName = header::ACCESS_CONTROL_ALLOW_METHODS;
const ACAH: HeaderName = header::ACCESS_CONTROL_ALLOW_HEADERS;
const ACMA: HeaderName = header::ACCESS_CONTROL_MAX_AGE;
const ACEH: HeaderName = header::ACCESS_CONTROL_EXPOSE_HEADERS;
const ACAPN: HeaderName = HeaderName::from_static("access-control-allow-private-network");
const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";
const ACRPN: &str = "access-control-request-private-network";

const M_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
const M_HEADERS: &str = "authorization, content-type, x-request-id";
const M_EXPOSE: &str = "x-request-id, retry-after, www-authenticate";
const PREFLIGHT_VARY: [&str; 3] = ["origin", ACRM, ACRH];

/// The baseline configuration **M** of §4.1.
fn m() -> Cors {
    Cors::new()
        .allow_origins([MARKETPLACE, PARTNER])
        .allow_credentials(true)
        .allow_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers(["x-request-id", "www-authenticate", "retry-after"])
        .preflight_max_age(Duration::from_secs(600))
}

/// **P**: M plus the pattern `https://*.apps.example.org`.
fn p() -> Cors {
    m().allow_origins(["https://*.apps.example.org"])
}

/// The protected API: routes that count how often they run, behind `guard.layer()`.
struct Api {
    app: Router,
    calls: Arc<AtomicUsize>,
}

impl Api {
    fn new(guard: &JwtGuard) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = routes(&calls).layer(guard.layer());
        Self { app, calls }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn send(&self, req: Request<Body>) -> (Response<()>, String) {
        send(&self.app, req).await
    }
}

fn routes(calls: &Arc<AtomicUsize>) -> Router {
    let c = Arc::clone(calls);
    let count = move || {
        c.fetch_add(1, Ordering::SeqCst);
    };
    let (c1, c2, c3, c4, c5, c6) = (
        count.clone(),
        count.clone(),
        count.clone(),
        count.clone(),
        count.clone(),
        count,
    );
    Router::new()
        .route(
            "/data",
            any(move |req: Request<Body>| async move {
                c1();
                let who = req
                    .extensions()
                    .get::<Verified>()
                    .and_then(|v| v.subject().map(str::to_owned));
                format!("{} {}", req.method(), who.unwrap_or_default())
            }),
        )
        .route(
            "/get-only",
            get(move || async move {
                c2();
                "only GET"
            }),
        )
        .route(
            "/vary",
            get(move || async move {
                c3();
                ([(header::VARY, "Accept-Encoding")], "varies")
            }),
        )
        .route(
            "/star",
            get(move || async move {
                c4();
                (
                    [
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                        (header::ACCESS_CONTROL_ALLOW_METHODS, "*"),
                    ],
                    "star",
                )
            }),
        )
        .route(
            "/boom",
            get(move || async move {
                c5();
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .fallback(move || async move {
            c6();
            (StatusCode::NOT_FOUND, "no such route").into_response()
        })
}

async fn guard_with(issuer: &TestIssuer, cors: Cors) -> JwtGuard {
    JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(cors)
        .build()
        .unwrap()
}

/// A guard whose tenants may send their tokens only from the origins bound to them by each
/// (tenant, origin) pair, with `cors` when given.
fn bound(issuer: &TestIssuer, bindings: &[(&str, &str)], cors: Option<Cors>) -> JwtGuard {
    let mut config = issuer.issuer().tenant_claim("tenant");
    for &(tenant, origin) in bindings {
        config = config.tenant_origins(tenant, [origin]);
    }
    let builder = JwtGuard::builder().issuer(config);
    match cors {
        Some(cors) => builder.cors(cors),
        None => builder,
    }
    .build()
    .unwrap()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

fn preflight(
    path: &str,
    origin: &str,
    method: &str,
    request_headers: Option<&str>,
) -> Request<Body> {
    let mut headers = vec![("origin", origin), (ACRM, method)];
    if let Some(h) = request_headers {
        headers.push((ACRH, h));
    }
    request("OPTIONS", path, &headers)
}

/// `method path` from `origin`, with `Authorization: authorization`.
fn cross(method: &str, path: &str, origin: &str, authorization: &str) -> Request<Body> {
    request(
        method,
        path,
        &[("origin", origin), ("authorization", authorization)],
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Every `Vary` item, in order, over every `Vary` line.
fn vary<T>(res: &Response<T>) -> Vec<String> {
    res.headers()
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every `name` line, as sent.
fn lines<'a>(h: &'a http::HeaderMap, name: &HeaderName) -> Vec<&'a HeaderValue> {
    h.get_all(name).iter().collect()
}

fn no_cors_headers<T>(res: &Response<T>) {
    for name in [ACAO, ACAC, ACAM, ACAH, ACMA, ACEH, ACAPN] {
        assert!(
            !res.headers().contains_key(&name),
            "unexpected {name}: {:?}",
            res.headers()
        );
    }
}

/// No CORS headers, and `Vary: origin` all the same (the answer depends on it).
fn assert_not_cors(res: &Response<()>) {
    no_cors_headers(res);
    assert_eq!(vary(res), ["origin"]);
}

fn error_code(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["error"].as_str().unwrap().to_owned()
}

/// PF-OK of §4.1 (with the PNA header only when `pna`).
fn assert_pf_ok(res: &Response<()>, body: &str, origin: &str, pna: bool) {
    assert_pf_ok_as("", res, body, origin, pna);
}

/// [`assert_pf_ok`], naming `label` (a table row) in every failure.
fn assert_pf_ok_as(label: &str, res: &Response<()>, body: &str, origin: &str, pna: bool) {
    assert_eq!(res.status(), 204, "{label}: {body}");
    assert_eq!(body, "", "{label}");
    let h = res.headers();
    assert_eq!(lines(h, &ACAO), [origin], "{label}");
    assert_eq!(lines(h, &ACAC), ["true"], "{label}");
    assert_eq!(h[&ACAM], M_METHODS, "{label}");
    assert_eq!(h[&ACAH], M_HEADERS, "{label}");
    assert_eq!(h[&ACMA], "600", "{label}");
    assert!(!h.contains_key(&ACEH), "{label}");
    assert!(!h.contains_key(header::WWW_AUTHENTICATE), "{label}");
    if pna {
        assert_eq!(h[&ACAPN], "true", "{label}");
        assert_eq!(vary(res), ["origin", ACRM, ACRH, ACRPN], "{label}");
    } else {
        assert!(!h.contains_key(&ACAPN), "{label}");
        assert_eq!(vary(res), PREFLIGHT_VARY, "{label}");
    }
}

/// PF-FAIL, as the contract has it: 403, no CORS headers, JSON `preflight_refused`.
fn assert_pf_fail(res: &Response<()>, body: &str) {
    assert_pf_fail_as("", res, body);
}

/// [`assert_pf_fail`], naming `label` (a table row) in every failure.
fn assert_pf_fail_as(label: &str, res: &Response<()>, body: &str) {
    assert_refused_without_cors(label, res, body, "preflight_refused");
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/json",
        "{label}"
    );
    let v = vary(res);
    assert_eq!(&v[..3], PREFLIGHT_VARY, "{label}: {v:?}");
}

/// ACT-OK: the CORS headers of an actual response, whatever its status.
fn assert_act_ok(res: &Response<()>, origin: &str) {
    assert_act_ok_as("", res, origin);
}

/// [`assert_act_ok`], naming `label` (a table row) in every failure.
fn assert_act_ok_as(label: &str, res: &Response<()>, origin: &str) {
    let h = res.headers();
    assert_eq!(lines(h, &ACAO), [origin], "{label}: {h:?}");
    assert_eq!(lines(h, &ACAC), ["true"], "{label}");
    assert_eq!(lines(h, &ACEH), [M_EXPOSE], "{label}");
    for name in [ACAM, ACAH, ACMA, ACAPN] {
        assert!(
            !h.contains_key(&name),
            "{label}: {name} on an actual response"
        );
    }
    assert_eq!(
        vary(res)
            .iter()
            .filter(|v| v.eq_ignore_ascii_case("origin"))
            .count(),
        1,
        "{label}: {h:?}"
    );
}

/// The answer to an actual request from a disallowed origin: 403, no CORS headers, inner not
/// called.
fn assert_origin_refused(res: &Response<()>, body: &str) {
    assert_origin_refused_as("", res, body);
}

/// [`assert_origin_refused`], naming `label` (a table row) in every failure.
fn assert_origin_refused_as(label: &str, res: &Response<()>, body: &str) {
    assert_refused_without_cors(label, res, body, "origin_not_allowed");
    assert_eq!(vary(res), ["origin"], "{label}");
}

/// 403 with the error `code`, no CORS headers and no challenge.
fn assert_refused_without_cors(label: &str, res: &Response<()>, body: &str, code: &str) {
    assert_eq!(res.status(), 403, "{label}: {body}");
    no_cors_headers(res);
    assert!(
        !res.headers().contains_key(header::WWW_AUTHENTICATE),
        "{label}"
    );
    assert_eq!(error_code(body), code, "{label}");
}

/// An actual request and what must come back: (label, method, path, origin, status, body when
/// checked).
type ActualCase<'a> = (&'a str, &'a str, &'a str, &'a str, u16, Option<&'a str>);

/// The same through the split layers, always from [`MARKETPLACE`]: (label, method, path,
/// authorization, status, body when checked).
type SplitCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    u16,
    Option<&'a str>,
);

// ----- preflights: rows 1–16, 57, 58, 62–65, 68 -----------------------------------------------

/// A preflight case: (label, path, origin, request method, request headers, one more header
/// line appended to the preflight).
type PreflightCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<(&'static str, &'static str)>,
);

/// The preflight of a [`PreflightCase`].
fn preflight_case(case: &PreflightCase<'_>) -> Request<Body> {
    let (_, path, origin, method, acrh, extra) = *case;
    let mut req = preflight(path, origin, method, acrh);
    if let Some((name, value)) = extra {
        req.headers_mut().append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    req
}

#[tokio::test]
async fn allowed_preflights_are_answered_before_auth_rows_1_to_4_13_to_15_57_58() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let auth = Some("authorization");
    #[rustfmt::skip]
    let cases: [PreflightCase<'_>; 10] = [
        ("row 1", "/data", MARKETPLACE, "PUT", Some("authorization,content-type"), None),
        ("row 2", "/data", MARKETPLACE, "GET", None, None),
        ("row 3", "/data", MARKETPLACE, "POST", Some("content-type"), None),
        ("partner", "/data", PARTNER, "DELETE", auth, None),
        ("row 13", "/data", MARKETPLACE, "PUT", Some("Authorization, Content-Type"), None),
        ("row 15", "/data", MARKETPLACE, "PUT", Some(""), None),
        ("patch", "/data", MARKETPLACE, "PATCH", Some("x-request-id"), None),
        // Row 4: a (non-browser) preflight carrying a bogus Authorization: no auth runs.
        ("row 4", "/data", MARKETPLACE, "PUT", auth, Some(("authorization", "Bearer x"))),
        // Row 14: ACRH split over two lines.
        ("row 14", "/data", MARKETPLACE, "PUT", auth, Some((ACRH, "content-type"))),
        // Row 68: answered before routing, even where the router has nothing.
        ("row 68", "/nowhere/", MARKETPLACE, "PUT", auth, None),
    ];
    for case in &cases {
        let (res, body) = api.send(preflight_case(case)).await;
        assert_pf_ok_as(case.0, &res, &body, case.2, false);
    }
    assert_eq!(
        api.calls(),
        0,
        "a preflight never reaches the inner service"
    );
    assert_eq!(issuer.fetch_count(), 0, "nor the verifier");
}

#[tokio::test]
async fn refused_preflights_get_403_without_cors_headers_rows_8_to_12_16_23_57() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let auth = Some("authorization");
    #[rustfmt::skip]
    let cases: [PreflightCase<'_>; 14] = [
        ("row 8: empty", "/data", MARKETPLACE, "", None, None),
        ("row 8: two", "/data", MARKETPLACE, "GET POST", None, None),
        // Methods are case-sensitive.
        ("row 10", "/data", MARKETPLACE, "patch", None, None),
        ("row 11: CONNECT", "/data", MARKETPLACE, "CONNECT", None, None),
        ("row 11: TRACE", "/data", MARKETPLACE, "TRACE", None, None),
        ("OPTIONS, not configured", "/data", MARKETPLACE, "OPTIONS", None, None),
        ("row 12", "/data", MARKETPLACE, "PUT", Some("authorization,x-evil"), None),
        ("no comma", "/data", MARKETPLACE, "PUT", Some("authorization x-request-id"), None),
        ("row 16", "/data", EVIL, "PUT", auth, None),
        ("evil GET", "/data", EVIL, "GET", None, None),
        ("row 23", "/data", "null", "GET", None, None),
        ("slash", "/data", "https://marketplace.example.com/", "GET", None, None),
        // Row 12 with the extra header on its own line.
        ("row 12: own line", "/data", MARKETPLACE, "PUT", auth, Some((ACRH, "x-evil"))),
        // Two request methods.
        ("two methods", "/data", MARKETPLACE, "PUT", None, Some((ACRM, "DELETE"))),
    ];
    for case in &cases {
        let (res, body) = api.send(preflight_case(case)).await;
        assert_pf_fail_as(case.0, &res, &body);
        assert_eq!(vary(&res), PREFLIGHT_VARY, "{}", case.0);
    }
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn a_method_outside_the_list_is_refused_row_9() {
    let issuer = TestIssuer::start().await;
    let cors = Cors::new()
        .allow_origins([MARKETPLACE])
        .allow_credentials(true)
        .allow_methods(["GET", "HEAD", "POST", "PUT", "PATCH"]);
    let api = Api::new(&guard_with(&issuer, cors).await);
    let auth = Some("authorization");
    let (res, body) = api
        .send(preflight("/data", MARKETPLACE, "DELETE", auth))
        .await;
    assert_pf_fail(&res, &body);
    let (res, _) = api.send(preflight("/data", MARKETPLACE, "PUT", auth)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()[&ACAM], "GET, HEAD, POST, PUT, PATCH");
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn default_max_age_and_zero_rows_61_62() {
    // Row 62 does not apply as written: the contract's default max_age is 10 minutes, so a
    // preflight always says how long to keep it. Zero is sent as "0" (do not cache).
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, Cors::new().allow_origins([MARKETPLACE])).await);
    let (res, _) = api.send(preflight("/data", MARKETPLACE, "GET", None)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()[&ACMA], "600");
    assert_eq!(res.headers()[&ACAM], "GET, HEAD, POST");
    assert_eq!(res.headers()[&ACAH], "authorization, content-type");
    assert!(
        !res.headers().contains_key(&ACAC),
        "credentials are off by default"
    );

    let api = Api::new(
        &guard_with(
            &issuer,
            Cors::new()
                .allow_origins([MARKETPLACE])
                .preflight_max_age(Duration::ZERO),
        )
        .await,
    );
    let (res, _) = api.send(preflight("/data", MARKETPLACE, "GET", None)).await;
    assert_eq!(res.headers()[&ACMA], "0");

    // Row 61: over a day is a configuration error naming the key, not a panic or a clamp.
    let err = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(m().preflight_max_age(Duration::from_secs(100_000)))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("cors.preflight_max_age"), "{err}");
}

#[tokio::test]
async fn private_network_access_only_when_opted_in_rows_63_to_65() {
    let issuer = TestIssuer::start().await;
    let pna = |origin: &'static str| {
        let mut req = preflight("/data", origin, "GET", None);
        req.headers_mut()
            .insert(ACRPN, HeaderValue::from_static("true"));
        req
    };
    let on = Api::new(&guard_with(&issuer, m().allow_private_network(true)).await);
    // Row 63.
    let (res, body) = on.send(pna(MARKETPLACE)).await;
    assert_pf_ok(&res, &body, MARKETPLACE, true);
    // Without the request header: no ACAPN (Vary still lists it).
    let (res, _) = on.send(preflight("/data", MARKETPLACE, "GET", None)).await;
    assert_eq!(res.status(), 204);
    assert!(!res.headers().contains_key(&ACAPN));
    assert_eq!(vary(&res), ["origin", ACRM, ACRH, ACRPN]);
    // Row 64.
    let (res, body) = on.send(pna(EVIL)).await;
    assert_pf_fail(&res, &body);
    assert_eq!(vary(&res), ["origin", ACRM, ACRH, ACRPN]);
    // Row 65.
    let off = Api::new(&guard_with(&issuer, m()).await);
    let (res, body) = off.send(pna(MARKETPLACE)).await;
    assert_pf_ok(&res, &body, MARKETPLACE, false);
}

// ----- OPTIONS that is not a preflight: rows 5–7 -----------------------------------------------

#[tokio::test]
async fn an_options_request_without_request_method_needs_a_token_rows_5_to_7() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let token = issuer.token().subject("u1").sign();

    // Row 5 without a token: the layer's 401, readable by the page.
    let (res, body) = api
        .send(request("OPTIONS", "/data", &[("origin", MARKETPLACE)]))
        .await;
    assert_eq!(res.status(), 401, "{body}");
    assert_eq!(error_code(&body), "missing_token");
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(api.calls(), 0);

    // Row 5 with a token: the inner service answers.
    let auth = bearer(&token);
    let (res, body) = api
        .send(cross("OPTIONS", "/data", MARKETPLACE, &auth))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "OPTIONS u1");
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(api.calls(), 1);
    // ... and where the route has no OPTIONS, the router's own 405, decorated.
    let (res, _) = api
        .send(cross("OPTIONS", "/get-only", MARKETPLACE, &auth))
        .await;
    assert_eq!(res.status(), 405);
    assert_act_ok(&res, MARKETPLACE);

    // Rows 6 and 7: no Origin, so not CORS: a token is needed, no CORS headers, Vary: Origin.
    for headers in [vec![], vec![(ACRM, "PUT")]] {
        let (res, body) = api.send(request("OPTIONS", "/data", &headers)).await;
        assert_eq!(res.status(), 401, "{body}");
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"jwt-guard\""
        );
        assert_not_cors(&res);
    }
    let (res, body) = api
        .send(request(
            "OPTIONS",
            "/data",
            &[(ACRM, "PUT"), ("authorization", &auth)],
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "OPTIONS u1");
    assert_not_cors(&res);
}

// ----- actual requests: rows 17–22, 55, 56, 66 --------------------------------------------------

#[tokio::test]
async fn allowed_origins_get_cors_headers_on_every_response_rows_17_to_20_66() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().tenant_claim("tenant").tenants(["acme"]))
        .cors(m())
        .build()
        .unwrap();
    let api = Api::new(&guard);
    let token = issuer.token().subject("u1").tenant("acme").sign();
    let auth = bearer(&token);

    // Row 17.
    let (res, body) = api.send(cross("GET", "/data", MARKETPLACE, &auth)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "GET u1");
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(vary(&res), ["origin"]);
    // Row 19: an inner `Err` cannot carry headers; the layer's error type is the inner
    // service's, and axum's router is infallible, so errors are responses.
    #[rustfmt::skip]
    let cases: [ActualCase<'_>; 4] = [
        ("row 30: a configured non-default port", "DELETE", "/data", PARTNER, 200, None),
        ("row 66", "HEAD", "/get-only", MARKETPLACE, 200, Some("")),
        ("row 19: the inner service's 500", "GET", "/boom", MARKETPLACE, 500, Some("boom")),
        ("row 20: the router's 404 (fallback) for a POST", "POST", "/nowhere", MARKETPLACE, 404, Some("no such route")),
    ];
    for (label, method, path, origin, status, expected) in cases {
        let (res, body) = api.send(cross(method, path, origin, &auth)).await;
        assert_eq!(res.status(), status, "{label}: {body}");
        if let Some(expected) = expected {
            assert_eq!(body, expected, "{label}");
        }
        assert_act_ok_as(label, &res, origin);
    }
    assert_eq!(api.calls(), 5);

    // Row 18 and the layer's own rejections: 401 (missing, invalid), 400, 403.
    let expired = bearer(&issuer.token().tenant("acme").expires_in(-3600).sign());
    let other_tenant = bearer(&issuer.token().tenant("globex").sign());
    // (authorization header, status, error code, exact challenge or an invalid_token one)
    type Case<'a> = (Option<&'a str>, u16, &'a str, Option<&'a str>);
    let cases: [Case<'_>; 5] = [
        (
            None,
            401,
            "missing_token",
            Some("Bearer realm=\"jwt-guard\""),
        ),
        (Some("Bearer not.a.jwt"), 401, "invalid_token", None),
        (Some(&expired), 401, "invalid_token", None),
        (
            Some("Bearer"),
            400,
            "invalid_request",
            Some("Bearer realm=\"jwt-guard\", error=\"invalid_request\""),
        ),
        (
            Some(&other_tenant),
            403,
            "insufficient_scope",
            Some("Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""),
        ),
    ];
    for (authorization, status, code, challenge) in cases {
        let mut headers = vec![("origin", MARKETPLACE)];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let (res, body) = api.send(request("GET", "/data", &headers)).await;
        assert_eq!(res.status(), status, "{body}");
        assert_eq!(error_code(&body), code);
        assert_act_ok(&res, MARKETPLACE);
        assert_eq!(vary(&res), ["origin"]);
        // `WWW-Authenticate` is there and exposed to the page.
        let www = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        match challenge {
            Some(exact) => assert_eq!(www, exact),
            None => assert!(
                www.starts_with(
                    "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description="
                ),
                "{www}"
            ),
        }
        assert!(
            res.headers()[&ACEH]
                .to_str()
                .unwrap()
                .contains("www-authenticate")
        );
    }
    assert_eq!(api.calls(), 5, "no rejection reaches the inner service");
}

#[tokio::test]
async fn the_layers_503_carries_cors_headers_and_exposes_retry_after() {
    let issuer = TestIssuer::start().await;
    issuer.respond_with(JwksResponse::Status(500));
    let api = Api::new(&guard_with(&issuer, m()).await);
    let auth = bearer(&issuer.token().sign());
    let (res, body) = api.send(cross("GET", "/data", MARKETPLACE, &auth)).await;
    assert_eq!(res.status(), 503, "{body}");
    assert_eq!(error_code(&body), "temporarily_unavailable");
    assert!(
        res.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn disallowed_origins_are_refused_before_the_inner_service_rows_21_23_to_36_44_to_47_50_to_54()
 {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let token = issuer.token().sign();
    let auth = bearer(&token);
    let origins = [
        EVIL,                                                    // 21
        "null",                                                  // 23
        "HTTPS://MARKETPLACE.EXAMPLE.COM",                       // 24
        "https://Marketplace.example.com",                       // 25
        "https://marketplace.example.com/",                      // 26
        "https://marketplace.example.com/path?q=1",              // 27
        "https://marketplace.example.com:443",                   // 28
        "https://marketplace.example.com:8443",                  // 29
        "http://marketplace.example.com",                        // 31
        "https://marketplace.example.com.evil.io",               // 32
        "https://evilmarketplace.example.com",                   // 33
        "https://evil-marketplace.example.com",                  // 34
        "https://marketplaceXexample.com",                       // 35
        "https://sub.marketplace.example.com",                   // 36
        "https://marketplace.example.com.",                      // 45
        "https://marketplace.example.com ", // 46 (as it reaches the layer untrimmed)
        "https://market\tplace.example.com", // 47 (CR, LF and NUL cannot be in a HeaderValue)
        "https://marketplace.example.com, https://evil.example", // 50
        "",                                 // 52
        "https://user@marketplace.example.com", // 53
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop", // 54
        "https://partner.example.net",      // the partner without its port
    ];
    let long = format!("https://{}.marketplace.example.com", "a".repeat(10_000)); // 51
    let mut all: Vec<HeaderValue> = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).unwrap())
        .collect();
    all.push(HeaderValue::from_str(&long).unwrap());
    all.push(HeaderValue::from_bytes("https://bücher.example".as_bytes()).unwrap()); // 44
    for origin in all {
        // With a valid token, and without one: the origin is refused first.
        for with_token in [true, false] {
            let mut req = request("GET", "/data", &[]);
            req.headers_mut().insert(header::ORIGIN, origin.clone());
            if with_token {
                req.headers_mut()
                    .insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
            }
            let (res, body) = api.send(req).await;
            assert_origin_refused(&res, &body);
        }
        let mut req = preflight("/data", "x", "GET", None);
        req.headers_mut().insert(header::ORIGIN, origin.clone());
        let (res, body) = api.send(req).await;
        assert_pf_fail(&res, &body);
    }
    // Unknown routes too (the contract: "on every route").
    let (res, body) = api
        .send(request("GET", "/nowhere", &[("origin", EVIL)]))
        .await;
    assert_origin_refused(&res, &body);
    assert_eq!(
        api.calls(),
        0,
        "a refused origin never reaches the inner service"
    );
}

#[tokio::test]
async fn without_origin_requests_pass_and_still_vary_row_22() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let token = issuer.token().subject("s2s").sign();
    let (res, body) = api
        .send(request(
            "GET",
            "/data",
            &[("authorization", &bearer(&token))],
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "GET s2s");
    assert_not_cors(&res);
    let (res, _) = api.send(request("GET", "/data", &[])).await;
    assert_eq!(res.status(), 401);
    assert_not_cors(&res);
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn two_origin_headers_are_a_bad_request_in_either_order_rows_48_49() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let token = issuer.token().sign();
    for (first, second) in [
        (EVIL, MARKETPLACE),
        (MARKETPLACE, EVIL),
        (MARKETPLACE, MARKETPLACE),
    ] {
        for method in ["GET", "OPTIONS"] {
            let mut req = request(
                method,
                "/data",
                &[("authorization", &bearer(&token)), (ACRM, "GET")],
            );
            req.headers_mut()
                .append(header::ORIGIN, HeaderValue::from_static(first));
            req.headers_mut()
                .append(header::ORIGIN, HeaderValue::from_static(second));
            let (res, body) = api.send(req).await;
            assert_eq!(res.status(), 400, "{body}");
            assert_eq!(error_code(&body), "invalid_request");
            assert_eq!(
                res.headers()[header::WWW_AUTHENTICATE],
                "Bearer realm=\"jwt-guard\", error=\"invalid_request\""
            );
            assert_not_cors(&res);
        }
    }
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn vary_is_appended_and_inner_cors_headers_are_replaced_rows_55_56() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, m()).await);
    let auth = bearer(&issuer.token().sign());

    // Row 55: the inner service's Vary stays, Origin is added once.
    let (res, _) = api.send(cross("GET", "/vary", MARKETPLACE, &auth)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(vary(&res), ["Accept-Encoding", "origin"]);
    assert_act_ok(&res, MARKETPLACE);
    let (res, _) = api
        .send(request("GET", "/vary", &[("authorization", &auth)]))
        .await;
    assert_eq!(vary(&res), ["Accept-Encoding", "origin"]);

    // Row 56: the handler's `Access-Control-Allow-Origin: *` is replaced by the exact origin,
    // and removed when the request has no allowed origin.
    let (res, _) = api.send(cross("GET", "/star", MARKETPLACE, &auth)).await;
    assert_eq!(res.status(), 200);
    assert_act_ok(&res, MARKETPLACE);
    let (res, _) = api
        .send(request("GET", "/star", &[("authorization", &auth)]))
        .await;
    assert_eq!(res.status(), 200);
    assert_not_cors(&res);
}

// ----- patterns and IDN: rows 37–44 --------------------------------------------------------------

#[tokio::test]
async fn subdomain_patterns_rows_37_to_41() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(&guard_with(&issuer, p()).await);
    let auth = bearer(&issuer.token().sign());
    for origin in [
        "https://shop.apps.example.org",
        "https://a.b.apps.example.org",
    ] {
        // Rows 37 and 39 (multi-level subdomains are allowed).
        let (res, _) = api.send(cross("GET", "/data", origin, &auth)).await;
        assert_eq!(res.status(), 200, "{origin}");
        assert_act_ok_as(origin, &res, origin);
        let (res, body) = api
            .send(preflight("/data", origin, "PUT", Some("authorization")))
            .await;
        assert_pf_ok_as(origin, &res, &body, origin, false);
    }
    for origin in [
        "https://apps.example.org",           // 38: the apex is not included
        "https://evil.com/.apps.example.org", // 40
        "https://evil.com?.apps.example.org", // 40
        "https://evil.com#.apps.example.org", // 40
        "http://shop.apps.example.org",       // 41: scheme pinned
        "https://shop.apps.example.org:8443", // port pinned
        "https://evilapps.example.org",       // label boundary
        "https://shop.apps.example.org.evil.io",
    ] {
        let (res, body) = api.send(cross("GET", "/data", origin, &auth)).await;
        assert_origin_refused_as(origin, &res, &body);
        let (res, body) = api.send(preflight("/data", origin, "GET", None)).await;
        assert_pf_fail_as(origin, &res, &body);
    }
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn unsafe_or_non_canonical_configuration_is_an_error_not_a_panic_rows_42_43_54_59_70() {
    let issuer = TestIssuer::start().await;
    let cases: Vec<(Cors, &str)> = vec![
        (
            m().allow_origins(["https://*.com"]),
            "cors.allow_origins[2]",
        ), // 42
        (
            m().allow_origin_pattern("https://*.github.io"),
            "cors.allow_origin_pattern[0]",
        ), // 42
        (
            m().allow_origins(["https://bücher.example"]),
            "cors.allow_origins[2]",
        ), // 43: give the punycode
        (
            m().allow_origins(["chrome-extension://abcdef"]),
            "cors.allow_origins[2]",
        ), // 54
        (m().allow_origins(["*"]), "cors.allow_origins[2]"), // 59
        // Every list setter adds, so the index counts over every call (as for origins).
        (m().allow_headers(["*"]), "cors.allow_headers[3]"), // 59
        (m().allow_methods(["*"]), "cors.allow_methods[6]"), // 59
        (m().expose_headers(["*"]), "cors.expose_headers[3]"), // 59
        (
            m().allow_origins(["https://Marketplace.Example.com/"]),
            "cors.allow_origins[2]",
        ), // 70
        (
            m().allow_origins(["https://marketplace.example.com:443"]),
            "cors.allow_origins[2]",
        ), // 70
        (m().allow_origins(["null"]), "cors.allow_origins[2]"),
        (
            m().allow_origins(["http://marketplace.example.com"]),
            "cors.allow_origins[2]",
        ),
        (
            m().allow_methods(["PUT", "CONNECT"]),
            "cors.allow_methods[7]",
        ),
    ];
    for (cors, key) in cases {
        assert_cors_refused(&issuer, cors, key);
    }
    // Row 60: "reflect any origin" has no option to express it.
}

#[tokio::test]
async fn punycode_origins_match_exactly_rows_43_44() {
    let issuer = TestIssuer::start().await;
    let api = Api::new(
        &guard_with(
            &issuer,
            Cors::new().allow_origins(["https://xn--bcher-kva.example"]),
        )
        .await,
    );
    let auth = bearer(&issuer.token().sign());
    let (res, _) = api
        .send(cross(
            "GET",
            "/data",
            "https://xn--bcher-kva.example",
            &auth,
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[&ACAO], "https://xn--bcher-kva.example");
    let mut req = request("GET", "/data", &[("authorization", &auth)]);
    req.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_bytes("https://bücher.example".as_bytes()).unwrap(),
    );
    let (res, body) = api.send(req).await;
    assert_origin_refused(&res, &body);
}

// ----- rows 67 and 69 -------------------------------------------------------------------------

#[tokio::test]
async fn the_apis_own_origin_must_be_listed_row_67() {
    // Row 67 does not apply as written: the contract refuses any Origin that is not allowed,
    // same-origin POSTs included (the layer cannot know the API's public origin behind
    // proxies). Listing the API's own origin lets its pages through.
    let issuer = TestIssuer::start().await;
    let own = "https://api.example.com";
    let auth = bearer(&issuer.token().sign());
    let api = Api::new(&guard_with(&issuer, m()).await);
    let (res, body) = api.send(cross("POST", "/data", own, &auth)).await;
    assert_origin_refused(&res, &body);
    let api = Api::new(&guard_with(&issuer, m().allow_origins([own])).await);
    let (res, body) = api.send(cross("POST", "/data", own, &auth)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body, "POST ");
    assert_act_ok(&res, own);
    // Row 69 (a cross-origin redirect by the API) is the application's choice, not the
    // layer's: the layer never redirects, and decorates a redirect like any response.
}

// ----- without [cors] ---------------------------------------------------------------------------

#[tokio::test]
async fn without_cors_no_cors_headers_and_every_preflight_is_refused() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
    let api = Api::new(&guard);
    let auth = bearer(&issuer.token().sign());
    let (res, body) = api.send(preflight("/data", MARKETPLACE, "GET", None)).await;
    assert_pf_fail(&res, &body);
    // Any Origin passes (nothing to judge it by), without CORS headers and without Vary.
    let (res, _) = api.send(cross("GET", "/star", EVIL, &auth)).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get_all(header::VARY).iter().next().is_none());
    // The inner service's own CORS headers are left alone: the layer does no CORS here.
    assert_eq!(res.headers()[&ACAO], "*");
    let (res, _) = api.send(request("GET", "/data", &[("origin", EVIL)])).await;
    assert_eq!(res.status(), 401);
    assert!(!res.headers().contains_key(&ACAO));
}

// ----- origin bound to issuer and tenant ----------------------------------------------------------

#[tokio::test]
async fn an_issuers_tokens_only_from_its_origins() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer().origins([MARKETPLACE]))
        .cors(m())
        .build()
        .unwrap();
    let api = Api::new(&guard);
    let auth = bearer(&issuer.token().subject("u1").sign());
    let (res, body) = api.send(cross("GET", "/data", MARKETPLACE, &auth)).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "GET u1"));
    // PARTNER is on the CORS list, but this issuer's tokens may not come from it: 403 that the
    // page can read.
    let (res, body) = api.send(cross("GET", "/data", PARTNER, &auth)).await;
    assert_eq!(res.status(), 403, "{body}");
    assert_eq!(error_code(&body), "origin_not_allowed");
    assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_act_ok(&res, PARTNER);
    // Server to server (no Origin): the binding does not apply.
    let (res, _) = api
        .send(request("GET", "/data", &[("authorization", &auth)]))
        .await;
    assert_eq!(res.status(), 200);
    // Preflights from PARTNER are still answered: they carry no token.
    let (res, body) = api
        .send(preflight("/data", PARTNER, "PUT", Some("authorization")))
        .await;
    assert_pf_ok(&res, &body, PARTNER, false);
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn a_tenants_tokens_only_from_its_own_origins_even_from_the_cache() {
    let issuer = TestIssuer::start().await;
    let bindings = [("acme", MARKETPLACE), ("globex", PARTNER)];
    let guard = bound(&issuer, &bindings, Some(m()));
    let api = Api::new(&guard);
    let acme = bearer(&issuer.token().subject("a").tenant("acme").sign());
    let globex = bearer(&issuer.token().subject("g").tenant("globex").sign());
    let initech = bearer(&issuer.token().subject("i").tenant("initech").sign());

    // acme twice: a token enters the verified-token cache on its second sighting.
    let ok = [
        (MARKETPLACE, &acme, "GET a"),
        (MARKETPLACE, &acme, "GET a"),
        (PARTNER, &globex, "GET g"),
        (PARTNER, &initech, "GET i"),
        (MARKETPLACE, &initech, "GET i"),
    ];
    for (origin, auth, expected) in ok {
        let (res, body) = api.send(cross("GET", "/data", origin, auth)).await;
        assert_eq!(
            (res.status().as_u16(), body.as_str()),
            (200, expected),
            "{origin}"
        );
        assert_act_ok_as(origin, &res, origin);
    }
    // The acme token was verified (and cached) from acme's origin; from globex's origin, both
    // on the CORS list, it is refused — on the cache-hit path too.
    for (label, origin, auth) in [
        ("acme from the partner", PARTNER, &acme),
        ("globex from the marketplace", MARKETPLACE, &globex),
        ("acme from the partner, cached", PARTNER, &acme),
    ] {
        let (res, body) = api.send(cross("GET", "/data", origin, auth)).await;
        assert_eq!(res.status(), 403, "{label}: {body}");
        assert_eq!(error_code(&body), "origin_not_allowed", "{label}");
        assert_act_ok_as(label, &res, origin);
    }
    assert_eq!(api.calls(), 5);
}

#[tokio::test]
async fn a_fresh_token_is_refused_from_the_wrong_tenant_origin_before_any_cache() {
    let issuer = TestIssuer::start().await;
    let guard = bound(&issuer, &[("acme", MARKETPLACE)], Some(m()));
    let api = Api::new(&guard);
    let acme = bearer(&issuer.token().tenant("acme").sign());
    let (res, body) = api.send(cross("GET", "/data", PARTNER, &acme)).await;
    assert_eq!(res.status(), 403, "{body}");
    assert_eq!(error_code(&body), "origin_not_allowed");
    assert_act_ok(&res, PARTNER);
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn bound_origins_are_allowed_by_cors_too() {
    let issuer = TestIssuer::start().await;
    let cors = Cors::new()
        .allow_origins([MARKETPLACE])
        .allow_credentials(true);
    let guard = bound(&issuer, &[("acme", "https://acme.example")], Some(cors));
    let api = Api::new(&guard);
    let (res, _) = api
        .send(preflight(
            "/data",
            "https://acme.example",
            "GET",
            Some("authorization"),
        ))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()[&ACAO], "https://acme.example");
}

#[tokio::test]
async fn bindings_without_cors_refuse_foreign_origins_and_vary() {
    let issuer = TestIssuer::start().await;
    let guard = bound(&issuer, &[("acme", MARKETPLACE)], None);
    let api = Api::new(&guard);
    let acme = bearer(&issuer.token().tenant("acme").sign());
    let (res, _) = api.send(cross("GET", "/data", MARKETPLACE, &acme)).await;
    assert_eq!(res.status(), 200);
    assert_not_cors(&res);
    let (res, body) = api.send(cross("GET", "/data", EVIL, &acme)).await;
    assert_origin_refused(&res, &body);
    // An Origin that is not text is an Origin all the same: not server to server.
    let mut req = request("GET", "/data", &[("authorization", &acme)]);
    req.headers_mut().insert(
        header::ORIGIN,
        HeaderValue::from_bytes(b"https://\xffmarketplace.example.com").unwrap(),
    );
    let (res, body) = api.send(req).await;
    assert_origin_refused(&res, &body);
    let (res, _) = api
        .send(request("GET", "/data", &[("authorization", &acme)]))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(vary(&res), ["origin"]);
    assert_eq!(api.calls(), 2);
}

// ----- split layers: cors_layer on the router, auth_layer through route_layer -----------------------

fn split_app(guard: &JwtGuard, calls: &Arc<AtomicUsize>) -> Router {
    let c = Arc::clone(calls);
    let c2 = Arc::clone(calls);
    Router::new()
        .route(
            "/whoami",
            get(move |req: Request<Body>| async move {
                c.fetch_add(1, Ordering::SeqCst);
                let who = req
                    .extensions()
                    .get::<Verified>()
                    .and_then(|v| v.subject().map(str::to_owned));
                who.unwrap_or_default()
            })
            .delete(|| async { "deleted" }),
        )
        .route_layer(guard.auth_layer())
        .route(
            "/healthz",
            get(move || async move {
                c2.fetch_add(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .layer(guard.cors_layer())
}

#[tokio::test]
async fn split_layers_cors_outside_auth_inside() {
    let issuer = TestIssuer::start().await;
    let guard = bound(&issuer, &[("acme", MARKETPLACE)], Some(m()));
    let calls = Arc::new(AtomicUsize::new(0));
    let app = split_app(&guard, &calls);
    let acme = bearer(&issuer.token().subject("u1").tenant("acme").sign());

    // A preflight to a protected route is answered by the outer layer.
    let (res, body) = send(
        &app,
        preflight("/whoami", MARKETPLACE, "DELETE", Some("authorization")),
    )
    .await;
    assert_pf_ok(&res, &body, MARKETPLACE, false);
    // The auth layer's 401 gets its CORS headers from the outer layer, exactly once.
    let (res, body) = send(&app, request("GET", "/whoami", &[("origin", MARKETPLACE)])).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&body), "missing_token");
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"jwt-guard\""
    );
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(vary(&res), ["origin"]);
    // A valid token.
    let (res, body) = send(&app, cross("GET", "/whoami", MARKETPLACE, &acme)).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "u1"));
    assert_act_ok(&res, MARKETPLACE);
    assert_eq!(vary(&res), ["origin"]);
    // The tenant binding, checked by the auth layer, refused with CORS headers from the outer.
    let (res, body) = send(&app, cross("GET", "/whoami", PARTNER, &acme)).await;
    assert_eq!(res.status(), 403, "{body}");
    assert_eq!(error_code(&body), "origin_not_allowed");
    assert_act_ok(&res, PARTNER);
    // All from MARKETPLACE.
    #[rustfmt::skip]
    let cases: [SplitCase<'_>; 4] = [
        // Unprotected routes and the fallback need no token but are still decorated.
        ("an unprotected route", "GET", "/healthz", None, 200, Some("ok")),
        ("the fallback", "GET", "/nowhere", None, 404, None),
        // The router's 405 for a method the protected route lacks (route_layer runs only on a
        // match).
        ("the router's 405", "PUT", "/whoami", Some(&acme), 405, None),
        // A non-preflight OPTIONS to a protected route is an ordinary request: it needs a token.
        ("a non-preflight OPTIONS", "OPTIONS", "/whoami", None, 401, None),
    ];
    for (label, method, path, authorization, status, expected) in cases {
        let mut headers = vec![("origin", MARKETPLACE)];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let (res, body) = send(&app, request(method, path, &headers)).await;
        assert_eq!(res.status(), status, "{label}: {body}");
        if let Some(expected) = expected {
            assert_eq!(body, expected, "{label}");
        }
        assert_act_ok_as(label, &res, MARKETPLACE);
    }
    // A foreign origin is refused by the outer layer on every route.
    for path in ["/healthz", "/whoami", "/nowhere"] {
        let (res, body) = send(&app, cross("GET", path, EVIL, &acme)).await;
        assert_origin_refused_as(path, &res, &body);
    }
    let (res, body) = send(&app, preflight("/whoami", EVIL, "GET", None)).await;
    assert_pf_fail(&res, &body);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ----- over a real socket: rows 46 and 48 as hyper delivers them -----------------------------------

async fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn over_http1_trailing_whitespace_is_trimmed_by_the_parser_and_two_origins_are_refused() {
    let issuer = TestIssuer::start().await;
    let guard = guard_with(&issuer, m()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let app = routes(&calls).layer(guard.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let token = issuer.token().subject("u1").sign();

    // Row 46: httparse trims the trailing SP, so the layer sees the canonical origin.
    let answer = raw_exchange(
        addr,
        &format!(
            "GET /data HTTP/1.1\r\nhost: api\r\norigin: {MARKETPLACE} \r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains(&format!(
            "\r\naccess-control-allow-origin: {MARKETPLACE}\r\n"
        )),
        "{answer}"
    );
    assert!(answer.ends_with("GET u1"), "{answer}");

    // Row 48 on the wire: two Origin lines are a bad request.
    let answer = raw_exchange(
        addr,
        &format!(
            "GET /data HTTP/1.1\r\nhost: api\r\norigin: {EVIL}\r\norigin: {MARKETPLACE}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("access-control-allow-origin"), "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server.abort();
}
