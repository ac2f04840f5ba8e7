//! Issue 13 over HTTP, black box: the built `serve` example driven like the outside review
//! did. Every class of the issue, several variants each: a refusal is never a 2xx whatever the
//! client's `Content-Type` (HTTP/1.1 and HTTP/2), config errors never print a secret, other
//! cookies never hide the token cookie, two tokens in one credential are 400 and the cap is per
//! token, JWK copies count once by value, tenants beyond 64 bits are well-formed, a header with
//! an `x5c` chain and 1000 claim entries pass, and added CORS headers keep bearer preflights.
//!
//! As `tests/serve_contract.rs`: `cargo test` builds the example first; alone, run
//! `cargo build --example serve --features config` before (or set `JWT_GUARD_SERVE_BIN`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/serve.rs"]
mod serve_process;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jwt_guard::testing::{JwksResponse, TestIssuer};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use serve_process::{BOUND, Serve, refused};

const MARKETPLACE_ISS: &str = "https://marketplace.example";
const DOWN_ISS: &str = "https://down.example";
const ORIGIN: &str = "https://app.marketplace.example";
const FOREIGN: &str = "https://evil.example";
const SECRET: &str = "s3cr3t-VALUE-0123456789abcdefghijkl";

// ---------------------------------------------------------------------------------------------
// The process under test.

// ---------------------------------------------------------------------------------------------
// Requests over HTTP/1.1 (reqwest) and HTTP/2 with prior knowledge (hyper).

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

async fn call(proto: Proto, method: &str, url: &str, headers: &[(&str, HeaderValue)]) -> Answer {
    match proto {
        Proto::Http1 => {
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(BOUND)
                .build()
                .unwrap();
            let mut req = client.request(method.parse().unwrap(), url);
            for (name, value) in headers {
                req = req.header(*name, value.clone());
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.text().await.unwrap();
            Answer {
                status,
                headers,
                body,
            }
        }
        Proto::Http2 => {
            let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http();
            let mut req = http::Request::builder().method(method).uri(url);
            for (name, value) in headers {
                req = req.header(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.clone(),
                );
            }
            let res = tokio::time::timeout(BOUND, client.request(req.body(Empty::new()).unwrap()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(res.version(), http::Version::HTTP_2);
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            Answer {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
    }
}

/// Request headers, in order (a name given twice is sent twice).
type Headers = Vec<(&'static str, HeaderValue)>;

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap()
}

fn bearer(token: &str) -> (&'static str, HeaderValue) {
    ("authorization", value(&format!("Bearer {token}")))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// A token of `issuer`'s `rsa-1` with this exact header and payload text.
fn sign_raw(issuer: &TestIssuer, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = issuer.key("rsa-1").unwrap().sign_input(&input);
    format!("{input}.{sig}")
}

const RS: &str = r#"{"alg":"RS256","kid":"rsa-1"}"#;

/// A payload for the marketplace issuer with this tenant literal (JSON text) and `extra`
/// members.
fn payload(tenant: &str, extra: &str) -> String {
    format!(
        r#"{{"iss":"{MARKETPLACE_ISS}","sub":"u1","exp":{},"tenant":{tenant}{extra}}}"#,
        now() + 300
    )
}

/// Two JWKS issuers (the second one's endpoint failing), CORS for `ORIGIN`, and `extra`.
fn config(marketplace: &TestIssuer, down: &TestIssuer, extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"

[[issuers]]
name = "marketplace"
jwks_url = "{}"
issuer = "{MARKETPLACE_ISS}"
tenant_claim = "tenant"
tenants = ["acme", "18446744073709551616"]

[[issuers]]
name = "down"
jwks_url = "{}"
issuer = "{DOWN_ISS}"
{extra}"#,
        marketplace.jwks_url(),
        down.jwks_url()
    )
}

const CORS: &str = r#"
[cors]
allow_origins = ["https://app.marketplace.example"]
allow_headers = ["x-request-id"]
"#;

// ---------------------------------------------------------------------------------------------
// 1. A refusal is never a 2xx.

const CONTENT_TYPES: [&str; 12] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpcfoo",
    "APPLICATION/GRPC",
    "Application/gRPC+Proto",
    "application/grpc; charset=utf-8",
    "application/grpc+proto; q=1",
    "application/json",
];

#[tokio::test]
async fn no_content_type_turns_a_refusal_into_a_2xx_over_http1_or_http2() {
    let marketplace = TestIssuer::start().await;
    let down = TestIssuer::start().await;
    down.respond_with(JwksResponse::Status(500));
    let serve = Serve::start(&format!("{}{CORS}", config(&marketplace, &down, "")), &[]).await;
    let good = sign_raw(&marketplace, RS, &payload("\"acme\"", ""));
    let other_tenant = sign_raw(&marketplace, RS, &payload("\"globex\"", ""));
    let forged = format!("{}.AAAA", good.rsplit_once('.').unwrap().0);
    let unsigned = format!("{}.", good.rsplit_once('.').unwrap().0);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&payload("\"acme\"", ""))
    );
    let down_token = {
        let p = format!(r#"{{"iss":"{DOWN_ISS}","sub":"u","exp":{}}}"#, now() + 300);
        sign_raw(&marketplace, RS, &p)
    };
    let cases: Vec<(&str, Headers, u16)> = vec![
        ("no token", vec![], 401),
        ("forged signature", vec![bearer(&forged)], 401),
        ("empty signature", vec![bearer(&unsigned)], 401),
        ("alg none", vec![bearer(&none)], 401),
        ("other tenant", vec![bearer(&other_tenant)], 403),
        (
            "foreign origin",
            vec![bearer(&good), ("origin", value(FOREIGN))],
            403,
        ),
        (
            "two origins",
            vec![
                bearer(&good),
                ("origin", value(ORIGIN)),
                ("origin", value(ORIGIN)),
            ],
            400,
        ),
        (
            "two tokens",
            vec![("authorization", value(&format!("Bearer {good} {good}")))],
            400,
        ),
        ("jwks outage", vec![bearer(&down_token)], 503),
    ];
    for proto in [Proto::Http1, Proto::Http2] {
        for (label, headers, status) in &cases {
            for content_type in CONTENT_TYPES {
                let mut headers = headers.clone();
                headers.push(("content-type", value(content_type)));
                for (method, path) in [("GET", "/whoami"), ("POST", "/echo")] {
                    let answer = call(proto, method, &serve.url(path), &headers).await;
                    assert_eq!(
                        answer.status, *status,
                        "{label} {content_type} {proto:?} {method}: {answer:?}"
                    );
                    assert!(answer.headers.get("grpc-status").is_none(), "{label}");
                    let body: Value = serde_json::from_str(&answer.body).unwrap();
                    assert!(body["error"].is_string(), "{label}: {body}");
                }
            }
        }
        // The same token passes, whatever the content type: only refusals were at stake.
        let answer = call(
            proto,
            "GET",
            &serve.url("/whoami"),
            &[bearer(&good), ("content-type", value("application/grpc"))],
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Config errors never print a secret.

#[tokio::test]
async fn config_errors_never_print_a_secret_value_env_value_or_url_password() {
    let base = "listen = \"127.0.0.1:0\"\n[[issuers]]\n";
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        // A misspelt key beside the secret, after it, or the secret's own key misspelt.
        (
            format!("{base}secret = \"{SECRET}\"\nrequried_claims = []\n"),
            vec![],
            "requried_claims",
        ),
        (format!("{base}secrte = \"{SECRET}\"\n"), vec![], "secrte"),
        (
            format!("{base}tenant_claims = \"t\"\nsecret = \"{SECRET}\"\n"),
            vec![],
            "tenant_claims",
        ),
        // A bad escape inside the secret, a multi-line secret, an unterminated one.
        (
            format!("{base}secret = \"{SECRET}\\q\"\n"),
            vec![],
            "line 3",
        ),
        (
            format!("{base}secret = \"\"\"\n{SECRET}\nx = \\q\n\"\"\"\n"),
            vec![],
            "line 5",
        ),
        (format!("{base}secret = \"{SECRET}\n"), vec![], "line 3"),
        (format!("{base}secret = '{SECRET}\n"), vec![], "line 3"),
        // Wrong types, duplicates.
        (
            format!("{base}secret = [\"{SECRET}\"]\n"),
            vec![],
            "issuers[0].secret",
        ),
        (format!("{base}secret = {SECRET}\n"), vec![], "line 3"),
        (
            format!("{base}secret = \"{SECRET}\"\nsecret = \"{SECRET}\"\n"),
            vec![],
            "duplicate key",
        ),
        (
            format!("{base}algorithms = \"{SECRET}\"\n"),
            vec![],
            "issuers[0].algorithms",
        ),
        (
            format!("{base}secret = \"{SECRET}\"\n[cors]\nmax_age = 5\n"),
            vec![],
            "cors.max_age",
        ),
        // A secret too short, in the file and in the environment.
        (
            format!("{base}secret = \"s3cr3t-short\"\n"),
            vec![],
            "issuers[0].secret",
        ),
        (
            format!("{base}secret_env = \"HARDENING_SECRET\"\n"),
            vec![("HARDENING_SECRET", "s3cr3t-short")],
            "issuers[0].secret_env",
        ),
        // Passwords in URLs (a JWKS URL, and `redis_url` of another issue, unknown here).
        (
            format!("{base}jwks_url = \"https://user:{SECRET}@keys.example/jwks\"\n"),
            vec![],
            "issuers[0].jwks_url",
        ),
        (
            format!("{base}oidc_issuer = \"http://user:{SECRET}@keys.example\"\n"),
            vec![],
            "issuers[0].oidc_issuer",
        ),
        (
            format!(
                "redis_url = \"redis://user:{SECRET}@127.0.0.1:6379/0\"\n{base}secret = \"{SECRET}\"\n"
            ),
            vec![],
            "redis_url",
        ),
    ];
    for (toml, envs, needle) in cases {
        let (status, stdout, stderr) = refused(&toml, &envs).await;
        let text = format!("{stdout}{stderr}");
        assert!(!status.success(), "{toml}");
        assert!(!text.contains("panicked"), "{text}");
        for leak in [SECRET, "s3cr3t"] {
            assert!(
                !text.contains(leak),
                "{leak} printed for\n{toml}\n---\n{text}"
            );
        }
        assert!(text.contains(needle), "{needle} not in {text} for\n{toml}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. and 5. Cookies, two tokens in one credential, the per-token cap.

#[tokio::test]
async fn other_cookies_never_hide_the_token_cookie() {
    let marketplace = TestIssuer::start().await;
    let down = TestIssuer::start().await;
    let toml = config(&marketplace, &down, "[token]\nsources = [\"cookie:jwt\"]\n");
    let serve = Serve::start(&toml, &[]).await;
    let token = sign_raw(&marketplace, RS, &payload("\"acme\"", ""));
    let t = token.as_bytes();
    let cookie = |bytes: Vec<u8>| ("cookie", HeaderValue::from_bytes(&bytes).unwrap());
    let passing: Vec<Vec<(&str, HeaderValue)>> = vec![
        vec![cookie([b"pref=caf\xc3\xa9; jwt=".as_slice(), t].concat())],
        vec![cookie(
            [b"jwt=".as_slice(), t, b"; theme=\xff\xfe"].concat(),
        )],
        vec![cookie(
            [b"a=\x80\x81; jwt=\"".as_slice(), t, b"\"; b=\xa0"].concat(),
        )],
        vec![cookie(
            [b"\xe2\x98\x83=1; junk; jwt=".as_slice(), t, b";"].concat(),
        )],
        // Several Cookie headers (as HTTP/2 sends them), the odd one first.
        vec![
            cookie(b"tracker=\xfe".to_vec()),
            cookie([b"jwt=".as_slice(), t].concat()),
        ],
    ];
    for proto in [Proto::Http1, Proto::Http2] {
        for headers in &passing {
            let answer = call(proto, "GET", &serve.url("/whoami"), headers).await;
            assert_eq!(answer.status, 200, "{proto:?} {headers:?}: {answer:?}");
            assert!(answer.body.contains("\"u1\""));
        }
    }
    let refused: Vec<Vec<(&str, HeaderValue)>> = vec![
        vec![cookie(
            [b"jwt=".as_slice(), t, b"; x=\xff; jwt=", t].concat(),
        )],
        vec![
            cookie([b"jwt=".as_slice(), t].concat()),
            cookie([b"jwt=".as_slice(), t].concat()),
        ],
        vec![cookie(b"x=\xff; jwt=".to_vec())],
        vec![cookie(b"jwt=\"\"".to_vec())],
    ];
    for proto in [Proto::Http1, Proto::Http2] {
        for headers in &refused {
            let answer = call(proto, "GET", &serve.url("/whoami"), headers).await;
            assert_eq!(answer.status, 400, "{proto:?} {headers:?}: {answer:?}");
        }
    }
}

#[tokio::test]
async fn two_tokens_in_one_credential_are_400_and_the_cap_is_per_token() {
    let marketplace = TestIssuer::start().await;
    let down = TestIssuer::start().await;
    let toml = config(
        &marketplace,
        &down,
        "[token]\nsources = [\"header\", \"cookie:jwt\", \"query:access_token\"]\n",
    );
    let serve = Serve::start(&toml, &[]).await;
    // Tokens of about 4.1 KiB, at the cap and one byte over (padded through a claim).
    let sized = |len: usize| {
        for hp in 0..3 {
            let header = format!(
                r#"{{"alg":"RS256","kid":"rsa-1","x":"{}"}}"#,
                "h".repeat(hp)
            );
            for pad in 0..len {
                let p = payload("\"acme\"", &format!(r#","pad":"{}""#, "p".repeat(pad)));
                // RS256 signatures are 342 characters: sign only the right candidate.
                let total = b64(&header).len() + 1 + b64(&p).len() + 1 + 342;
                if total == len {
                    return sign_raw(&marketplace, &header, &p);
                }
                if total > len {
                    break;
                }
            }
        }
        unreachable!("no padding gives {len} bytes")
    };
    let half = sized(4100);
    let at_cap = sized(8192);
    let over = sized(8193);
    assert_eq!((at_cap.len(), over.len() > 8192), (8192, true));
    let whoami = serve.url("/whoami");
    let header = |v: String| vec![("authorization", value(&format!("Bearer {v}")))];
    let cookie = |v: String| vec![("cookie", value(&format!("jwt={v}")))];
    for (pair, expect_len) in [
        (format!("{half} {half}"), 8201),
        (format!("{at_cap} {half}"), 0),
    ] {
        if expect_len > 0 {
            assert_eq!(pair.len(), expect_len);
        }
        for headers in [
            header(pair.clone()),
            header(pair.replace(' ', ",")),
            header(pair.replace(' ', ", ")),
            cookie(pair.clone()),
            cookie(pair.replace(' ', ",")),
        ] {
            let answer = call(Proto::Http1, "GET", &whoami, &headers).await;
            assert_eq!(answer.status, 400, "{answer:?}");
            assert!(
                answer.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains("invalid_request")
            );
        }
        for sep in ["+", "%20", "%2C"] {
            let url = format!("{whoami}?access_token={}", pair.replace(' ', sep));
            let answer = call(Proto::Http1, "GET", &url, &[]).await;
            assert_eq!(answer.status, 400, "{sep}: {answer:?}");
        }
    }
    // One token: at the cap it passes, one byte over it is 401 in every source.
    for (token, status) in [(&at_cap, 200), (&over, 401)] {
        for headers in [header(token.clone()), cookie(token.clone())] {
            let answer = call(Proto::Http1, "GET", &whoami, &headers).await;
            assert_eq!(answer.status, status, "{}: {answer:?}", token.len());
        }
        let url = format!("{whoami}?access_token={token}");
        assert_eq!(call(Proto::Http1, "GET", &url, &[]).await.status, status);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. and 7. Key identity by value, big tenants, caps.

#[tokio::test]
async fn keys_tenants_and_caps() {
    let marketplace = TestIssuer::start().await;
    let down = TestIssuer::start().await;
    // The published set: rsa-1, a copy of it whose `n` has a leading zero octet, and one whose
    // `e` has two; they are one key, so a token naming rsa-1 is not ambiguous.
    let rsa = marketplace.key("rsa-1").unwrap().jwk().clone();
    let pad = |member: &str, zeros: usize| {
        let mut key = rsa.clone();
        let raw = URL_SAFE_NO_PAD
            .decode(key[member].as_str().unwrap())
            .unwrap();
        let padded = [vec![0u8; zeros], raw].concat();
        key[member] = URL_SAFE_NO_PAD.encode(padded).into();
        key
    };
    marketplace.set_jwks(vec![rsa.clone(), pad("n", 1), pad("e", 2)]);
    let serve = Serve::start(&config(&marketplace, &down, ""), &[]).await;
    let whoami = serve.url("/whoami");
    let get = |token: String| {
        let whoami = whoami.clone();
        async move { call(Proto::Http1, "GET", &whoami, &[bearer(&token)]).await }
    };
    let answer = get(sign_raw(&marketplace, RS, &payload("\"acme\"", ""))).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // Tenants beyond 64 bits: listed exactly → 200 in decimal; else 403; not integers → 401.
    let answer = get(sign_raw(
        &marketplace,
        RS,
        &payload("18446744073709551616", ""),
    ))
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["tenant"], json!("18446744073709551616"));
    for literal in [
        "18446744073709551617",
        "-9223372036854775809",
        "99999999999999999999999",
    ] {
        let answer = get(sign_raw(&marketplace, RS, &payload(literal, ""))).await;
        assert_eq!(answer.status, 403, "{literal}: {answer:?}");
    }
    for literal in ["1e3", "1.8446744073709552e19", "18446744073709551616.5"] {
        let answer = get(sign_raw(&marketplace, RS, &payload(literal, ""))).await;
        assert_eq!(answer.status, 401, "{literal}: {answer:?}");
    }

    // A JOSE header with a three-certificate x5c chain (never used, only admitted).
    for der_len in [1000, 1200, 1400] {
        let chain: Vec<String> = (0..3)
            .map(|i| STANDARD.encode((0..der_len).map(|j| (i * 7 + j) as u8).collect::<Vec<u8>>()))
            .collect();
        let header = json!({"alg": "RS256", "kid": "rsa-1", "x5c": chain}).to_string();
        let token = sign_raw(&marketplace, &header, &payload("\"acme\"", ""));
        assert!(token.len() <= 8192 && token.split('.').next().unwrap().len() > 4096);
        let answer = get(token).await;
        assert_eq!(answer.status, 200, "{der_len}: {answer:?}");
    }
    // A claim set of 1000 entries (under the 1024 cap), then over it.
    for (n, status) in [(1000, 200), (1100, 401)] {
        let list = vec!["0"; n].join(",");
        let token = sign_raw(
            &marketplace,
            RS,
            &payload("\"acme\"", &format!(r#","l":[{list}]"#)),
        );
        assert!(token.len() <= 8192);
        assert_eq!(get(token).await.status, status, "{n} entries");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. CORS: added headers keep `authorization`; `max_age` is an alias of `preflight_max_age`.

#[tokio::test]
async fn added_cors_headers_keep_bearer_preflights_and_max_age_is_an_alias() {
    let marketplace = TestIssuer::start().await;
    let down = TestIssuer::start().await;
    for (extra, max_age) in [
        ("", "600"),
        ("preflight_max_age = \"2m\"\n", "120"),
        ("max_age = \"3m\"\n", "180"),
    ] {
        let toml = format!("{}{CORS}{extra}", config(&marketplace, &down, ""));
        let serve = Serve::start(&toml, &[]).await;
        for requested in [
            "authorization",
            "authorization, x-request-id",
            "content-type,authorization",
        ] {
            let answer = call(
                Proto::Http1,
                "OPTIONS",
                &serve.url("/whoami"),
                &[
                    ("origin", value(ORIGIN)),
                    ("access-control-request-method", value("GET")),
                    ("access-control-request-headers", value(requested)),
                ],
            )
            .await;
            assert_eq!(answer.status, 204, "{requested}: {answer:?}");
            assert_eq!(answer.headers["access-control-max-age"], max_age);
            let allowed = answer.headers["access-control-allow-headers"]
                .to_str()
                .unwrap();
            assert!(allowed.contains("authorization") && allowed.contains("x-request-id"));
        }
    }
}
