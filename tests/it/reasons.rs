//! Every refusal reason over HTTP: one case table, one row per [`Reason`], each asserting the
//! status, the JSON body's `error`, `error_description` and `reason` (the stable code a page
//! matches on) and the [`Rejection`] in the response's extensions. The table must cover
//! [`Reason::ALL`]: a new reason without a row fails `the_table_covers_every_reason`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use jwt_guard::extract::Claims;
use jwt_guard::testing::{JwksResponse, TestIssuer, TestKey};
use jwt_guard::{
    Algorithm, Cors, Issuer, JwtGuard, MemoryReplayStore, Reason, Rejection, TokenSource, Verified,
};
use serde_json::Value;

use crate::attacks::kit::{b64, now, sign_raw};
use crate::common::send;

const ALLOWED: &str = "https://market.example";
const ALSO_ALLOWED: &str = "https://other-market.example";
const FOREIGN: &str = "https://evil.example";
const SECRET: &str = "a-replay-secret-of-at-least-32-bytes!";
const RS: &str = r#"{"alg":"RS256","kid":"rsa-1"}"#;

/// The claims a token needs to pass the main issuer, with `extra` members appended.
fn claims(extra: &str) -> String {
    let now = now();
    format!(
        r#"{{"sub":"u1","aud":"api","tenant":"acme","iat":{now},"exp":{}{extra}}}"#,
        now + 300
    )
}

/// Claims with their own dates (no default `iat`/`exp`).
fn dated(iat: i64, exp: Option<i64>) -> String {
    let exp = exp.map_or(String::new(), |e| format!(r#","exp":{e}"#));
    format!(r#"{{"sub":"u1","aud":"api","tenant":"acme","iat":{iat}{exp}}}"#)
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Shaped {
    must_have: u64,
}

/// An app with `/whoami` and the typed-claims route `/typed`, behind `layer`.
fn app(layer: jwt_guard::JwtGuardLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|who: Verified| async move { who.subject().unwrap_or_default().to_owned() }),
        )
        .route(
            "/typed",
            get(|Claims(c): Claims<Shaped>| async move { c.must_have.to_string() }),
        )
        .layer(layer)
}

fn get_req(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// One row: the reason, the app, and the requests sent in order until one is refused (that
/// one is asserted).
struct Case {
    reason: Reason,
    app: Router,
    requests: Vec<Request<Body>>,
}

struct Apps {
    main: Router,
    routed: Router,
    down: Router,
    replay: Router,
    full: Router,
    unavailable: Router,
    main_key: Arc<TestKey>,
    second_rsa: Arc<TestKey>,
    replay_key: Arc<TestKey>,
    _issuers: Vec<TestIssuer>,
}

async fn apps() -> Apps {
    // Main: a JWKS with two RS256 keys and one ES256 key, every claim rule, origins, CORS, a
    // claim check, and every token source.
    let mut main = TestIssuer::start().await;
    main.add_key(TestKey::rsa("rsa-2", Algorithm::RS256), true);
    let main_key = main.key("rsa-1").unwrap();
    let second_rsa = main.key("rsa-2").unwrap();
    let guard = JwtGuard::builder()
        .issuer(
            main.issuer()
                .name("main")
                .audience("api")
                .required_claims(["exp", "sub"])
                .tenant_claim("tenant")
                .tenants(["acme"])
                .max_lifetime(Duration::from_secs(7200))
                .max_age(Duration::from_secs(3600))
                .origins([ALLOWED])
                .check(|who| who.subject() != Some("blocked")),
        )
        .token_sources([
            TokenSource::Header,
            TokenSource::Cookie("jwt".into()),
            TokenSource::Query("jwt".into()),
        ])
        .cors(Cors::new().allow_origins([ALLOWED, ALSO_ALLOWED]))
        .build()
        .unwrap();
    let main_app = app(guard.layer());

    // Routed: the only issuer names its `iss`, so a token with another `iss` has no issuer.
    let routed_issuer = TestIssuer::start().await;
    let routed = JwtGuard::builder()
        .issuer(routed_issuer.issuer().issuer("https://routed.example"))
        .build()
        .unwrap();

    // Down: the JWKS endpoint fails before the first fetch.
    let down_issuer = TestIssuer::start().await;
    down_issuer.respond_with(JwksResponse::Status(500));
    let down = JwtGuard::builder()
        .issuer(down_issuer.issuer())
        .build()
        .unwrap();

    // Replay: a shared secret whose `jti`s are single-use; `full` has room for one `jti`.
    let replay_key = Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256));
    let replay_issuer = || Issuer::secret(SECRET).name("replay").reject_replays();
    let replay = JwtGuard::builder().issuer(replay_issuer()).build().unwrap();
    let full = JwtGuard::builder()
        .issuer(replay_issuer())
        .replay_store(MemoryReplayStore::new(1))
        .build()
        .unwrap();
    // Unavailable: a shared store on a loopback port nothing listens on (connection refused).
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unavailable = JwtGuard::builder()
        .issuer(replay_issuer())
        .replay_store(
            jwt_guard::RedisReplayStore::builder(format!("redis://127.0.0.1:{closed_port}/0"))
                .timeout(Duration::from_millis(200))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    Apps {
        main: main_app,
        routed: app(routed.layer()),
        down: app(down.layer()),
        replay: app(replay.layer()),
        full: app(full.layer()),
        unavailable: app(unavailable.layer()),
        main_key,
        second_rsa,
        replay_key,
        _issuers: vec![main, routed_issuer, down_issuer],
    }
}

fn cases(a: &Apps) -> Vec<Case> {
    let now = now() as i64;
    let key = &a.main_key;
    let ok = sign_raw(key, RS, &claims(""));
    let auth = bearer(&ok);
    let main = |reason, headers: Vec<(&str, String)>| Case {
        reason,
        app: a.main.clone(),
        requests: vec![{
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            get_req("/whoami", &pairs)
        }],
    };
    let token_case = |reason, token: String| main(reason, vec![("authorization", bearer(&token))]);
    let replay_token = |jti: &str| {
        sign_raw(
            &a.replay_key,
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"iat":{now},"exp":{},"jti":"{jti}"}}"#, now + 300),
        )
    };
    let hs_key = TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256);

    vec![
        main(Reason::MissingToken, vec![]),
        main(
            Reason::DuplicateAuthorization,
            vec![
                ("authorization", auth.clone()),
                ("authorization", auth.clone()),
            ],
        ),
        main(
            Reason::MalformedCredential,
            vec![("authorization", "Bearer ".into())],
        ),
        main(
            Reason::MalformedCookie,
            vec![("cookie", format!("jwt={ok}; jwt={ok}"))],
        ),
        Case {
            reason: Reason::MalformedQuery,
            app: a.main.clone(),
            requests: vec![get_req(&format!("/whoami?jwt={ok}&jwt={ok}"), &[])],
        },
        main(
            Reason::DuplicateOrigin,
            vec![
                ("authorization", auth.clone()),
                ("origin", ALLOWED.into()),
                ("origin", ALLOWED.into()),
            ],
        ),
        token_case(Reason::TokenTooLarge, "a".repeat(9000)),
        token_case(Reason::MalformedToken, "not-a-jws".into()),
        token_case(
            Reason::BadHeader,
            sign_raw(
                key,
                r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#,
                &claims(""),
            ),
        ),
        token_case(
            Reason::AlgorithmNotAllowed,
            sign_raw(&hs_key, r#"{"alg":"HS256"}"#, &claims("")),
        ),
        token_case(
            Reason::BadPayload,
            sign_raw(key, RS, &claims(r#","sub":"u2""#)),
        ),
        Case {
            reason: Reason::UnknownIssuer,
            app: a.routed.clone(),
            requests: vec![get_req(
                "/whoami",
                &[(
                    "authorization",
                    &bearer(&sign_raw(
                        key,
                        RS,
                        &claims(r#","iss":"https://else.example""#),
                    )),
                )],
            )],
        },
        token_case(
            Reason::UnknownKid,
            sign_raw(key, r#"{"alg":"RS256","kid":"nope"}"#, &claims("")),
        ),
        token_case(
            Reason::AmbiguousKey,
            sign_raw(key, r#"{"alg":"RS256"}"#, &claims("")),
        ),
        token_case(
            Reason::NoMatchingKey,
            sign_raw(key, r#"{"alg":"RS256","kid":"ec-1"}"#, &claims("")),
        ),
        token_case(
            Reason::BadSignature,
            sign_raw(&a.second_rsa, RS, &claims("")),
        ),
        token_case(
            Reason::Expired,
            sign_raw(key, RS, &dated(now - 900, Some(now - 600))),
        ),
        token_case(
            Reason::NotYetValid,
            sign_raw(key, RS, &claims(&format!(r#","nbf":{}"#, now + 600))),
        ),
        token_case(
            Reason::IssuedInFuture,
            sign_raw(key, RS, &dated(now + 600, Some(now + 900))),
        ),
        token_case(
            Reason::LifetimeTooLong,
            sign_raw(key, RS, &dated(now, Some(now + 7300))),
        ),
        token_case(
            Reason::TooOld,
            sign_raw(key, RS, &dated(now - 4000, Some(now + 100))),
        ),
        token_case(
            Reason::BadDate,
            sign_raw(
                key,
                RS,
                &format!(r#"{{"sub":"u1","aud":"api","tenant":"acme","iat":{now},"exp":"soon"}}"#),
            ),
        ),
        token_case(Reason::BadIssuer, sign_raw(key, RS, &claims(r#","iss":7"#))),
        token_case(
            Reason::BadAudience,
            sign_raw(
                key,
                RS,
                &format!(
                    r#"{{"sub":"u1","aud":"other","tenant":"acme","iat":{now},"exp":{}}}"#,
                    now + 300
                ),
            ),
        ),
        token_case(
            Reason::MissingClaim,
            sign_raw(
                key,
                RS,
                &format!(
                    r#"{{"aud":"api","tenant":"acme","iat":{now},"exp":{}}}"#,
                    now + 300
                ),
            ),
        ),
        token_case(
            Reason::BadTenant,
            sign_raw(
                key,
                RS,
                &format!(
                    r#"{{"sub":"u1","aud":"api","tenant":1.5,"iat":{now},"exp":{}}}"#,
                    now + 300
                ),
            ),
        ),
        token_case(
            Reason::TenantNotAllowed,
            sign_raw(
                key,
                RS,
                &format!(
                    r#"{{"sub":"u1","aud":"api","tenant":"other","iat":{now},"exp":{}}}"#,
                    now + 300
                ),
            ),
        ),
        Case {
            reason: Reason::Replayed,
            app: a.replay.clone(),
            requests: (0..2)
                .map(|_| {
                    get_req(
                        "/whoami",
                        &[("authorization", &bearer(&replay_token("once")))],
                    )
                })
                .collect(),
        },
        Case {
            reason: Reason::ReplayStoreFull,
            app: a.full.clone(),
            // Room for 16 `jti`s (one per shard): of 17, at least one finds its shard full.
            requests: (0..17)
                .map(|i| {
                    let token = replay_token(&format!("jti-{i}"));
                    get_req("/whoami", &[("authorization", &bearer(&token))])
                })
                .collect(),
        },
        Case {
            reason: Reason::ReplayStoreUnavailable,
            app: a.unavailable.clone(),
            requests: vec![get_req(
                "/whoami",
                &[("authorization", &bearer(&replay_token("no-store")))],
            )],
        },
        main(
            Reason::OriginNotAllowed,
            vec![("authorization", auth.clone()), ("origin", FOREIGN.into())],
        ),
        main(
            Reason::OriginNotBound,
            vec![
                ("authorization", auth.clone()),
                ("origin", ALSO_ALLOWED.into()),
            ],
        ),
        Case {
            reason: Reason::PreflightRefused,
            app: a.main.clone(),
            requests: vec![
                Request::options("/whoami")
                    .header("origin", ALLOWED)
                    .header("access-control-request-method", "PATCH")
                    .body(Body::empty())
                    .unwrap(),
            ],
        },
        Case {
            reason: Reason::KeysUnavailable,
            app: a.down.clone(),
            requests: vec![get_req("/whoami", &[("authorization", &auth)])],
        },
        Case {
            reason: Reason::ClaimsShape,
            app: a.main.clone(),
            requests: vec![get_req("/typed", &[("authorization", &auth)])],
        },
        token_case(
            Reason::ClaimCheckFailed,
            sign_raw(
                key,
                RS,
                &claims("").replace(r#""sub":"u1""#, r#""sub":"blocked""#),
            ),
        ),
    ]
}

#[tokio::test]
async fn every_reason_has_its_code_in_the_body_over_http() {
    let apps = apps().await;
    // The valid token passes: every row differs from it in one thing only.
    let ok = sign_raw(&apps.main_key, RS, &claims(""));
    let (res, body) = send(
        &apps.main,
        get_req("/whoami", &[("authorization", &bearer(&ok))]),
    )
    .await;
    assert_eq!(res.status(), 200, "{body}");
    let typed = sign_raw(&apps.main_key, RS, &claims(r#","must_have":7"#));
    let (res, body) = send(
        &apps.main,
        get_req("/typed", &[("authorization", &bearer(&typed))]),
    )
    .await;
    assert_eq!((res.status().as_u16(), body.as_str()), (200, "7"));

    for case in cases(&apps) {
        let reason = case.reason;
        let mut refused = None;
        for req in case.requests {
            let (res, body) = send(&case.app, req).await;
            if !res.status().is_success() {
                refused = Some((res, body));
                break;
            }
        }
        let (res, body) = refused.unwrap_or_else(|| panic!("{reason:?}: every request passed"));
        assert_eq!(res.status(), reason.kind().status(), "{reason:?}: {body}");
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{reason:?}: {e}: {body}"));
        assert_eq!(json["reason"], reason.code(), "{reason:?}: {body}");
        assert_eq!(json["error"], reason.kind().code(), "{reason:?}");
        assert_eq!(
            json["error_description"],
            reason.description(),
            "{reason:?}"
        );
        assert_eq!(json.as_object().unwrap().len(), 3, "{reason:?}: {body}");
        assert_eq!(
            res.extensions().get::<Rejection>().map(Rejection::reason),
            Some(reason),
            "{reason:?}"
        );
        assert!(!body.contains(&b64("u1")), "{reason:?}");
    }
}

#[tokio::test]
async fn the_table_covers_every_reason() {
    let apps = apps().await;
    let covered: Vec<Reason> = cases(&apps).iter().map(|c| c.reason).collect();
    let unique: BTreeSet<&str> = covered.iter().map(|r| r.code()).collect();
    assert_eq!(unique.len(), covered.len(), "a reason has two rows");
    let all: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(unique, all, "rows missing for some reasons");
}
