//! Issue 13 at the layer: a refusal keeps its HTTP status whatever the client's headers claim
//! (gRPC rendering only on the owner's opt-in and only for real gRPC), the CORS choice for
//! foreign origins on public routes, bearer preflights that survive added headers, cookies
//! that other cookies cannot hide, and tenants beyond 64 bits.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Version};
use jwt_guard::testing::{JwksResponse, TestIssuer};
use jwt_guard::{Cors, ForeignOrigin, JwtGuard, TokenSource};

use crate::common::{app, send};

const ORIGIN: &str = "https://marketplace.example";
const FOREIGN: &str = "https://evil.example";

/// Content types a client may send; none of them may turn a refusal into a 2xx without the
/// owner's opt-in.
const CONTENT_TYPES: [&str; 10] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpcfoo",
    "APPLICATION/GRPC",
    "Application/Grpc+Proto",
    "application/grpc; charset=utf-8",
    "application/grpc+proto;q=1",
];

async fn guard(issuer: &TestIssuer, grpc: bool) -> JwtGuard {
    JwtGuard::builder()
        .issuer(
            issuer
                .issuer()
                .tenant_claim("tenant")
                .tenants(["acme", "18446744073709551616"]),
        )
        .cors(Cors::new().allow_origins([ORIGIN]))
        .grpc_rejections(grpc)
        .build()
        .unwrap()
}

/// One refusal case: a label, the request's extra headers, its status in the table.
type Refusal = (&'static str, Vec<(&'static str, String)>, u16);

/// Every refusal class of the issue that a request alone can cause.
fn refusals(issuer: &TestIssuer) -> Vec<Refusal> {
    let other_tenant = issuer.token().tenant("globex").sign();
    let good = issuer.token().tenant("acme").sign();
    let forged = {
        let (input, _) = good.rsplit_once('.').unwrap();
        format!("{input}.AAAA")
    };
    vec![
        ("no token", vec![], 401),
        (
            "forged token",
            vec![("authorization", format!("Bearer {forged}"))],
            401,
        ),
        (
            "other tenant",
            vec![("authorization", format!("Bearer {other_tenant}"))],
            403,
        ),
        (
            "foreign origin",
            vec![
                ("authorization", format!("Bearer {good}")),
                ("origin", FOREIGN.to_owned()),
            ],
            403,
        ),
        (
            "two origins",
            vec![
                ("authorization", format!("Bearer {good}")),
                ("origin", ORIGIN.to_owned()),
                ("origin", ORIGIN.to_owned()),
            ],
            400,
        ),
        (
            "two tokens",
            vec![("authorization", format!("Bearer {good} {good}"))],
            400,
        ),
    ]
}

fn request(version: Version, content_type: &str, headers: &[(&str, String)]) -> Request<Body> {
    let mut req = Request::get("/whoami").version(version);
    req = req.header("content-type", content_type);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn without_the_opt_in_every_refusal_keeps_its_status_whatever_the_content_type() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer, false).await);
    for (label, headers, status) in refusals(&issuer) {
        for content_type in CONTENT_TYPES {
            for version in [Version::HTTP_11, Version::HTTP_2] {
                let (res, body) = send(&app, request(version, content_type, &headers)).await;
                assert_eq!(
                    res.status().as_u16(),
                    status,
                    "{label} {content_type} {version:?}"
                );
                assert!(res.headers().get("grpc-status").is_none(), "{label}");
                assert!(body.contains("\"error\""), "{label}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn a_jwks_outage_is_503_for_any_content_type_without_the_opt_in() {
    let issuer = TestIssuer::start().await;
    issuer.respond_with(JwksResponse::Status(500));
    let app = app(&guard(&issuer, false).await);
    let token = issuer.token().tenant("acme").sign();
    for content_type in CONTENT_TYPES {
        let headers = [("authorization", format!("Bearer {token}"))];
        let (res, _) = send(&app, request(Version::HTTP_2, content_type, &headers)).await;
        assert_eq!(res.status(), 503, "{content_type}");
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.headers().get("grpc-status").is_none());
    }
}

#[tokio::test]
async fn with_the_opt_in_only_real_grpc_gets_a_grpc_status() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer, true).await);
    let grpc_codes = [
        ("no token", "16"),
        ("forged token", "16"),
        ("other tenant", "7"),
    ];
    for (label, headers, status) in refusals(&issuer) {
        // Real gRPC: HTTP/2 and application/grpc or application/grpc+SUBTYPE.
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC",
        ] {
            let (res, body) = send(&app, request(Version::HTTP_2, content_type, &headers)).await;
            assert_eq!(res.status(), 200, "{label} {content_type}");
            assert!(body.is_empty());
            let code = res.headers()["grpc-status"].to_str().unwrap().to_owned();
            if let Some((_, want)) = grpc_codes.iter().find(|(l, _)| *l == label) {
                assert_eq!(code, *want, "{label}");
            }
        }
        // Everything else keeps the HTTP refusal: gRPC-Web, look-alikes, parameters, HTTP/1.1.
        for (version, content_type) in [
            (Version::HTTP_11, "application/grpc"),
            (Version::HTTP_11, "application/grpc+proto"),
            (Version::HTTP_2, "application/grpc-web"),
            (Version::HTTP_2, "application/grpc-web+proto"),
            (Version::HTTP_2, "application/grpc-web-text"),
            (Version::HTTP_2, "application/grpcfoo"),
            (Version::HTTP_2, "application/grpc; charset=utf-8"),
            (Version::HTTP_2, "application/grpc+"),
            (Version::HTTP_2, "text/plain"),
        ] {
            let (res, _) = send(&app, request(version, content_type, &headers)).await;
            assert_eq!(
                res.status().as_u16(),
                status,
                "{label} {content_type} {version:?}"
            );
            assert!(res.headers().get("grpc-status").is_none());
        }
    }
    // A valid gRPC call passes as any other.
    let token = issuer.token().tenant("acme").sign();
    let headers = [("authorization", format!("Bearer {token}"))];
    let (res, _) = send(&app, request(Version::HTTP_2, "application/grpc", &headers)).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("grpc-status").is_none());
}

/// `/public` under the CORS layer only, `/private` under the auth layer as well; or the whole
/// router under `layer()`.
fn split_app(guard: &JwtGuard) -> Router {
    let private = Router::new()
        .route("/private", get(|| async { "private" }))
        .route_layer(guard.auth_layer());
    Router::new()
        .route("/public", get(|| async { "public" }))
        .merge(private)
        .layer(guard.cors_layer())
}

fn request_from(path: &str, origin: Option<&str>, token: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Body::empty()).unwrap()
}

fn preflight(path: &str, origin: &str, headers: &str) -> Request<Body> {
    Request::options(path)
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", headers)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn foreign_origins_on_public_routes_are_refused_or_served_without_cors_headers() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign();
    let build = |foreign: Option<ForeignOrigin>| {
        let mut cors = Cors::new().allow_origins([ORIGIN]);
        if let Some(foreign) = foreign {
            cors = cors.foreign_origins(foreign);
        }
        JwtGuard::builder()
            .issuer(issuer.issuer())
            .cors(cors)
            .build()
            .unwrap()
    };
    // The default, and `Refuse` said explicitly: 403 on every route.
    for guard in [build(None), build(Some(ForeignOrigin::Refuse))] {
        let app = split_app(&guard);
        for path in ["/public", "/private", "/nowhere"] {
            let (res, _) = send(&app, request_from(path, Some(FOREIGN), Some(&token))).await;
            assert_eq!(res.status(), 403, "{path}");
        }
    }
    let guard = build(Some(ForeignOrigin::OmitCorsHeaders));
    let app = split_app(&guard);
    // Public: served, without any CORS header (the browser keeps the answer from the page).
    let (res, body) = send(&app, request_from("/public", Some(FOREIGN), None)).await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "public"));
    assert!(
        res.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        res.headers()
    );
    assert!(res.headers().get_all("vary").iter().any(|v| v == "origin"));
    let (res, _) = send(&app, request_from("/nowhere", Some(FOREIGN), None)).await;
    assert_eq!(res.status(), 404);
    // Protected: still refused, token or not, so no foreign page reaches the handler.
    for token in [Some(token.as_str()), None] {
        let (res, _) = send(&app, request_from("/private", Some(FOREIGN), token)).await;
        assert_eq!(res.status(), 403);
    }
    // The whole router under `layer()` authenticates: refused too.
    let (res, _) = send(
        &app_full(&guard),
        request_from("/whoami", Some(FOREIGN), Some(&token)),
    )
    .await;
    assert_eq!(res.status(), 403);
    // A preflight from a foreign origin is refused either way; allowed origins work as before.
    let (res, _) = send(&app, preflight("/public", FOREIGN, "authorization")).await;
    assert_eq!(res.status(), 403);
    let (res, _) = send(&app, request_from("/private", Some(ORIGIN), Some(&token))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
}

fn app_full(guard: &JwtGuard) -> Router {
    app(guard)
}

#[tokio::test]
async fn adding_allowed_headers_never_breaks_bearer_preflights() {
    let issuer = TestIssuer::start().await;
    for cors in [
        Cors::new()
            .allow_origins([ORIGIN])
            .allow_headers(["x-request-id"]),
        Cors::new()
            .allow_origins([ORIGIN])
            .allow_headers([http::header::IF_MATCH])
            .allow_headers(["x-request-id"]),
        Cors::new()
            .allow_origins([ORIGIN])
            .allow_headers(Vec::<String>::new()),
    ] {
        let guard = JwtGuard::builder()
            .issuer(issuer.issuer())
            .cors(cors)
            .build()
            .unwrap();
        let app = app(&guard);
        for requested in [
            "authorization",
            "authorization,content-type",
            "Authorization",
        ] {
            let (res, _) = send(&app, preflight("/whoami", ORIGIN, requested)).await;
            assert_eq!(res.status(), 204, "{requested}");
            let allowed = res.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap();
            assert!(allowed.contains("authorization"), "{allowed}");
        }
    }
}

#[tokio::test]
async fn odd_cookies_never_hide_the_token_cookie_at_the_layer() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .token_sources([TokenSource::Cookie("jwt".into())])
        .build()
        .unwrap();
    let app = app(&guard);
    let token = issuer.token().subject("u1").sign();
    let with = |values: Vec<Vec<u8>>| {
        let mut req = Request::get("/whoami");
        for value in values {
            req = req.header("cookie", http::HeaderValue::from_bytes(&value).unwrap());
        }
        req.body(Body::empty()).unwrap()
    };
    let t = token.as_bytes();
    for values in [
        vec![[b"pref=caf\xc3\xa9; jwt=".as_slice(), t].concat()],
        vec![[b"jwt=".as_slice(), t, b"; x=\xff\xfe"].concat()],
        vec![
            b"tracker=\x80\x81".to_vec(),
            [b"jwt=".as_slice(), t].concat(),
        ],
        vec![[b"a=\xa0; jwt=\"".as_slice(), t, b"\"; b"].concat()],
    ] {
        let (res, body) = send(&app, with(values)).await;
        assert_eq!(res.status(), 200, "{body}");
        assert!(body.contains("\"u1\""), "{body}");
    }
    for values in [
        vec![[b"jwt=".as_slice(), t, b"; x=\xff; jwt=", t].concat()],
        vec![b"x=\xff; jwt=".to_vec()],
        vec![[b"jwt=".as_slice(), t, b" ", t].concat()],
    ] {
        let (res, _) = send(&app, with(values)).await;
        assert_eq!(res.status(), 400);
    }
}

/// A token of `issuer`'s `rsa-1` whose `tenant` is the JSON literal `literal`, as sent.
fn with_tenant_literal(issuer: &TestIssuer, literal: &str) -> String {
    let key = issuer.key("rsa-1").unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let payload = format!(r#"{{"sub":"u1","exp":{exp},"tenant":{literal}}}"#);
    crate::attacks::kit::sign_raw(&key, header, &payload)
}

#[tokio::test]
async fn a_tenant_beyond_64_bits_is_403_outside_the_allowlist_and_exact_inside_it() {
    let issuer = TestIssuer::start().await;
    let app = app(&guard(&issuer, false).await);
    // Listed exactly, in decimal: allowed, and rendered in decimal.
    let token = with_tenant_literal(&issuer, "18446744073709551616");
    let (res, body) = send(&app, crate::common::get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200, "{body}");
    assert!(
        body.contains(r#""tenant":"18446744073709551616""#),
        "{body}"
    );
    // Well-formed integers outside the allowlist: 403, not 401 (the neighbour of the listed
    // one included: an f64 would have merged them).
    for literal in [
        "18446744073709551617",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "-18446744073709551616",
    ] {
        let token = with_tenant_literal(&issuer, literal);
        let (res, body) = send(&app, crate::common::get_with("/whoami", &token)).await;
        assert_eq!(res.status(), 403, "{literal}: {body}");
    }
    // Not integers: 401.
    for literal in [
        "1e3",
        "1.8446744073709552e19",
        "18446744073709551616.0",
        "1E20",
    ] {
        let token = with_tenant_literal(&issuer, literal);
        let (res, body) = send(&app, crate::common::get_with("/whoami", &token)).await;
        assert_eq!(res.status(), 401, "{literal}: {body}");
    }
}
