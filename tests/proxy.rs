//! Proxy mode of `serve` (`[upstream]`), black box: the built `serve` example runs as a process
//! in front of a recording upstream (a hyper server in this process) and is driven over HTTP.
//! Also `/readyz`, `/metrics` and the presets of the TOML file, and the sample configs of
//! `examples/config/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/proxy.rs"]
mod support;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_guard::testing::{JwksResponse, TestIssuer, TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Config};
use serde_json::{Value, json};
use support::{AnyBody, Serve, Upstream, client, get, raw, refused, send};

const SECRET: &str = "a-shared-secret-for-the-proxy-tests-32+";
const ORIGIN: &str = "https://app.example";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hmac_key() -> Arc<TestKey> {
    Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256))
}

/// A token of the `partner` issuer (its tenant claim is required: `t0` unless replaced).
fn token() -> TokenBuilder {
    TokenBuilder::new(hmac_key(), now()).tenant("t0")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A proxy config for the shared-secret issuer `partner`, with CORS and a public prefix.
fn proxy_config(upstream_url: &str, extra_upstream: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
realm = "proxy-test"

[[issuers]]
name = "partner"
secret = "{SECRET}"
tenant_claim = "tenant"

[token]
sources = ["header", "query:tok"]

[cors]
allow_origins = ["{ORIGIN}"]
allow_credentials = true

[upstream]
url = "{upstream_url}"
public_paths = ["/public/"]
{extra_upstream}
"#
    )
}

async fn start_proxy(upstream: &Upstream) -> Serve {
    Serve::start(&proxy_config(&format!("{}/api", upstream.url()), ""), &[]).await
}

fn decode_claims(value: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value).unwrap()).unwrap()
}

#[tokio::test]
async fn a_verified_request_reaches_the_upstream_with_its_identity_and_forwarding_headers() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    let token = token()
        .subject("user-1")
        .tenant("acme")
        .claim("role", "admin")
        .sign();

    let answer = send(
        &client,
        "PUT",
        &serve.url("/orders/7?x=1&y=%20z"),
        &[
            ("authorization", &bearer(&token)),
            ("cookie", "session=abc"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-request-id", "r-1"),
        ],
        AnyBody::Full(Some("hello".into())),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("x-upstream"), Some("yes"));
    assert_eq!(answer.json(), json!({"bytes": 5}));

    let seen = upstream.last();
    assert_eq!(seen.method, "PUT");
    assert_eq!(
        seen.uri, "/api/orders/7?x=1&y=%20z",
        "prefix + path + query"
    );
    let h = &seen.headers;
    assert_eq!(h["authorization"], bearer(&token).as_str());
    assert_eq!(h["cookie"], "session=abc");
    assert_eq!(h["x-request-id"], "r-1");
    assert_eq!(h["host"], upstream.addr.to_string().as_str());
    assert_eq!(h["x-forwarded-host"], serve.addr.to_string().as_str());
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-auth-issuer"], "partner");
    assert_eq!(h["x-auth-sub"], "user-1");
    assert_eq!(h["x-auth-tenant"], "acme");
    let claims = decode_claims(h["x-auth-claims"].to_str().unwrap());
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["tenant"], "acme");
    serve.stop().await;
}

#[tokio::test]
async fn identity_headers_sent_by_the_client_never_reach_the_upstream() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    let spoofs: &[(&str, &str)] = &[
        ("x-auth-sub", "admin"),
        ("X-Auth-Issuer", "root"),
        ("X-AUTH-TENANT", "other"),
        ("x-auth-claims", "e30"),
        ("x-auth-role", "superuser"),
    ];
    let spoofed_names = ["x-auth-role"];

    // With a token: the verified identity replaces every spoof, and unknown x-auth-* are gone.
    let token = token().subject("user-2").sign();
    let auth = bearer(&token);
    let mut headers = spoofs.to_vec();
    headers.push(("authorization", &auth));
    let answer = get(&client, &serve.url("/private"), &headers).await;
    assert_eq!(answer.status, 200);
    let h = upstream.last().headers;
    assert_eq!(h["x-auth-sub"], "user-2");
    assert_eq!(h["x-auth-issuer"], "partner");
    assert_eq!(h["x-auth-tenant"], "t0");
    assert_eq!(
        decode_claims(h["x-auth-claims"].to_str().unwrap())["sub"],
        "user-2"
    );
    for name in spoofed_names {
        assert!(h.get(name).is_none(), "{name}");
    }

    // A public path without a token: forwarded, with no x-auth-* at all.
    let answer = get(&client, &serve.url("/public/logo.png"), spoofs).await;
    assert_eq!(answer.status, 200);
    let h = upstream.last().headers;
    let left: Vec<_> = h
        .keys()
        .filter(|n| n.as_str().starts_with("x-auth-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A public path with a valid token: the identity travels.
    let mut headers = spoofs.to_vec();
    headers.push(("authorization", &auth));
    let answer = get(&client, &serve.url("/public/me"), &headers).await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.last().headers["x-auth-sub"], "user-2");

    // Raw, with the header names in odd casing: still stripped.
    let raw_answer = raw(
        serve.addr,
        "GET /public/raw HTTP/1.1\r\nHost: a\r\nX-aUtH-SuB: evil\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw_answer.starts_with("HTTP/1.1 200"), "{raw_answer}");
    assert!(upstream.last().headers.get("x-auth-sub").is_none());
    serve.stop().await;
}

#[tokio::test]
async fn a_refused_request_never_reaches_the_upstream() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    let expired = token().subject("u").expires_in(-3600).sign();
    let forged = TokenBuilder::new(
        Arc::new(TestKey::hmac(
            b"another-secret-of-at-least-32-bytes!!",
            Algorithm::HS256,
        )),
        now(),
    )
    .sign();
    /// Method, path, headers, the status serve answers with.
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case<'_>> = vec![
        ("GET", "/private".into(), vec![], 401),
        (
            "POST",
            "/private".into(),
            vec![("authorization", bearer(&expired))],
            401,
        ),
        (
            "GET",
            "/private".into(),
            vec![("authorization", bearer(&forged))],
            401,
        ),
        (
            "GET",
            "/private".into(),
            vec![("authorization", "Bearer".into())],
            400,
        ),
        (
            "GET",
            "/public/x".into(),
            vec![("authorization", bearer(&forged))],
            401,
        ),
        ("GET", "/public/../admin".into(), vec![], 401),
        ("GET", "/public/%2e%2e/admin".into(), vec![], 401),
        ("GET", "/public/..%2fadmin".into(), vec![], 401),
        ("GET", "/public/./x".into(), vec![], 401),
        (
            "GET",
            "/healthz".into(),
            vec![("origin", "https://evil.example".into())],
            403,
        ),
        ("DELETE", "/healthz".into(), vec![], 401),
        ("GET", "/metrics".into(), vec![], 401),
        ("GET", "/whoami".into(), vec![], 401),
    ];
    for (method, path, headers, status) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = send(
            &client,
            method,
            &serve.url(path),
            &headers,
            AnyBody::Full(None),
        )
        .await;
        assert_eq!(
            answer.status.as_u16(),
            *status,
            "{method} {path}: {answer:?}"
        );
        assert_ne!(answer.status, 502);
    }
    // A preflight is answered by serve.
    let answer = send(
        &client,
        "OPTIONS",
        &serve.url("/private"),
        &[("origin", ORIGIN), ("access-control-request-method", "PUT")],
        AnyBody::Full(None),
    )
    .await;
    assert!(answer.status == 204 || answer.status == 403);
    // `/healthz` and `/readyz` are served locally.
    assert_eq!(get(&client, &serve.url("/healthz"), &[]).await.body, "ok");
    assert_eq!(upstream.hits(), 0, "{:?}", upstream.seen());
    serve.stop().await;
}

#[tokio::test]
async fn a_query_token_is_removed_and_the_rest_of_the_query_kept_byte_for_byte() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let token = token().subject("q").sign();
    let path = format!("/p?a=1&tok={token}&b=%2F&tokx=2&c");
    let answer = get(&client(), &serve.url(&path), &[]).await;
    assert_eq!(answer.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.uri, "/api/p?a=1&b=%2F&tokx=2&c");
    assert_eq!(seen.headers["x-auth-sub"], "q");
    serve.stop().await;
}

#[tokio::test]
async fn sub_and_tenant_that_are_not_printable_ascii_travel_in_the_claims_only() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    for (sub, tenant, sub_header, tenant_header) in [
        (json!("caf\u{e9}"), json!(" padded "), None, None),
        (json!("ok"), json!(42), Some("ok"), Some("42")),
        (json!("line\nbreak"), json!("t"), None, Some("t")),
    ] {
        let token = token()
            .claim("sub", sub.clone())
            .claim("tenant", tenant.clone())
            .sign();
        let answer = get(
            &client,
            &serve.url("/x"),
            &[("authorization", &bearer(&token))],
        )
        .await;
        assert_eq!(answer.status, 200, "{sub} {tenant}");
        let h = upstream.last().headers;
        assert_eq!(h.get("x-auth-sub").map(|v| v.to_str().unwrap()), sub_header);
        assert_eq!(
            h.get("x-auth-tenant").map(|v| v.to_str().unwrap()),
            tenant_header
        );
        let claims = decode_claims(h["x-auth-claims"].to_str().unwrap());
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["tenant"], tenant);
    }
    serve.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_stop_at_the_proxy_both_ways() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let token = token().subject("h").sign();
    let request = format!(
        "GET /hop HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\n\
         Connection: close, X-Client-Hop\r\nX-Client-Hop: 1\r\nKeep-Alive: timeout=9\r\n\
         TE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n\
         Trailer: x-t\r\nX-Kept: yes\r\n\r\n"
    );
    let answer = raw(serve.addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let h = upstream.last().headers;
    for name in [
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
    ] {
        assert!(h.get(name).is_none(), "{name} reached the upstream");
    }
    assert_ne!(
        h.get("connection").map(|v| v.to_str().unwrap()),
        Some("close, X-Client-Hop")
    );
    assert_eq!(h["x-kept"], "yes");
    assert_eq!(h["x-forwarded-host"], "api.example");
    // The upstream's own hop-by-hop headers stay on its side.
    let lower = answer.to_ascii_lowercase();
    assert!(!lower.contains("x-up-hop"), "{answer}");
    assert!(!lower.contains("keep-alive: timeout=5"), "{answer}");
    assert!(lower.contains("x-upstream: yes"));
    serve.stop().await;
}

#[tokio::test]
async fn the_upstreams_cors_headers_are_replaced_and_vary_merged() {
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    let token = token().subject("c").sign();
    let auth = bearer(&token);
    let answer = get(
        &client,
        &serve.url("/cors"),
        &[("authorization", &auth), ("origin", ORIGIN)],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(answer.headers.get("access-control-allow-headers").is_none());
    let vary: Vec<String> = answer
        .headers
        .get_all("vary")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
        })
        .collect();
    assert!(vary.contains(&"accept-encoding".to_owned()), "{vary:?}");
    assert!(vary.contains(&"origin".to_owned()), "{vary:?}");
    // Without an Origin: none of the upstream's CORS headers either.
    let answer = get(&client, &serve.url("/cors"), &[("authorization", &auth)]).await;
    assert!(answer.headers.get("access-control-allow-origin").is_none());
    serve.stop().await;
}

#[tokio::test]
async fn fifty_megabyte_bodies_stream_both_ways_in_bounded_memory() {
    const SIZE: u64 = 50 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let serve = start_proxy(&upstream).await;
    let client = client();
    let token = token().subject("big").sign();
    let auth = bearer(&token);
    let before = serve.peak_rss();

    let answer = send(
        &client,
        "POST",
        &serve.url("/upload"),
        &[("authorization", &auth)],
        AnyBody::Repeat(SIZE),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({ "bytes": SIZE }));
    assert_eq!(upstream.last().body_len, SIZE);

    let answer = get(
        &client,
        &serve.url(&format!("/download/{SIZE}")),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body_len, SIZE);

    let peak = serve.peak_rss();
    eprintln!("serve's peak RSS: {before} bytes before the bodies, {peak} after");
    assert!(
        peak < 40 * 1024 * 1024 && peak - before < 25 * 1024 * 1024,
        "serve's peak RSS {peak} bytes (was {before} before the bodies): the bodies were buffered"
    );
    serve.stop().await;
}

#[tokio::test]
async fn upstream_down_is_502_and_serve_keeps_serving() {
    // A port bound without listening: connections to it are refused, and no other test can
    // take it while the socket lives.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let serve = Serve::start(&proxy_config(&format!("http://127.0.0.1:{port}"), ""), &[]).await;
    let client = client();
    let token = token().subject("d").sign();
    let auth = bearer(&token);
    for _ in 0..2 {
        let answer = get(
            &client,
            &serve.url("/x"),
            &[("authorization", &auth), ("origin", ORIGIN)],
        )
        .await;
        assert_eq!(answer.status, 502);
        assert_eq!(answer.json()["error"], "bad_gateway");
        assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
        assert!(answer.headers.get("www-authenticate").is_none());
    }
    assert_eq!(get(&client, &serve.url("/healthz"), &[]).await.status, 200);
    serve.stop().await;
    drop(socket);
}

#[tokio::test]
async fn an_upstream_that_hangs_up_mid_request_is_502() {
    use tokio::io::AsyncReadExt as _;
    // Reads the start of each request, then closes the connection without an answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hangups = tokio::spawn(async move {
        loop {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
            }
        }
    });
    let serve = Serve::start(&proxy_config(&format!("http://{addr}"), ""), &[]).await;
    let client = client();
    let auth = bearer(&token().subject("h").sign());
    for method in ["GET", "POST"] {
        let answer = send(
            &client,
            method,
            &serve.url("/x"),
            &[("authorization", &auth)],
            AnyBody::Repeat(1 << 20),
        )
        .await;
        assert_eq!(answer.status, 502, "{method}");
        assert_eq!(answer.json()["error"], "bad_gateway");
    }
    assert_eq!(get(&client, &serve.url("/healthz"), &[]).await.status, 200);
    serve.stop().await;
    hangups.abort();
}

#[tokio::test]
async fn a_stalled_upstream_is_504_after_the_timeout_and_the_next_request_goes_through() {
    let upstream = Upstream::start().await;
    let serve = Serve::start(&proxy_config(&upstream.url(), "timeout = \"1s\""), &[]).await;
    let client = client();
    let token = token().subject("s").sign();
    let auth = bearer(&token);
    let answer = get(
        &client,
        &serve.url("/stall"),
        &[("authorization", &auth), ("origin", ORIGIN)],
    )
    .await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.json()["error"], "gateway_timeout");
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(answer.headers.get("www-authenticate").is_none());
    let answer = get(&client, &serve.url("/after"), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.last().uri, "/after");
    serve.stop().await;
}

#[tokio::test]
async fn readyz_is_200_with_usable_keys_and_503_without() {
    let client = client();
    let issuer = TestIssuer::start().await;
    let config = |jwks: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\n[[issuers]]\nname = \"market\"\njwks_url = \"{jwks}\"\n\
             [[issuers]]\nname = \"partner\"\nsecret = \"{SECRET}\"\n"
        )
    };
    let serve = Serve::start(&config(issuer.jwks_url()), &[]).await;
    // The warm-up fetch runs beside the listener: wait for it.
    let mut answer = get(&client, &serve.url("/readyz"), &[]).await;
    for _ in 0..100 {
        if answer.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = get(&client, &serve.url("/readyz"), &[]).await;
    }
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    assert_eq!(body["issuers"][0]["issuer"], "market");
    assert_eq!(body["issuers"][0]["keys"], 2);
    assert!(body["issuers"][0]["age_seconds"].is_u64());
    assert_eq!(body["issuers"][1]["issuer"], "partner");
    assert_eq!(body["issuers"][1]["keys"], 1);
    let text = String::from_utf8_lossy(&answer.body).to_string();
    assert!(!text.contains("kty") && !text.contains(SECRET), "{text}");
    serve.stop().await;

    let failing = TestIssuer::start().await;
    failing.respond_with(JwksResponse::Status(500));
    let serve = Serve::start(&config(failing.jwks_url()), &[]).await;
    let answer = get(&client, &serve.url("/readyz"), &[]).await;
    assert_eq!(answer.status, 503);
    let body = answer.json();
    assert_eq!(body["issuers"][0]["issuer"], "market");
    assert_eq!(body["issuers"][0]["keys"], Value::Null);
    assert_eq!(body["issuers"][1]["keys"], 1);
    serve.stop().await;
}

#[tokio::test]
async fn metrics_only_with_metrics_true() {
    let client = client();
    let base = format!(
        "listen = \"127.0.0.1:0\"\n[[issuers]]\nname = \"partner\"\nsecret = \"{SECRET}\"\n"
    );
    let serve = Serve::start(&format!("metrics = true\n{base}"), &[]).await;
    let token = token().subject("m").sign();
    assert_eq!(
        get(
            &client,
            &serve.url("/whoami"),
            &[("authorization", &bearer(&token))]
        )
        .await
        .status,
        200
    );
    assert_eq!(get(&client, &serve.url("/whoami"), &[]).await.status, 401);
    let answer = get(&client, &serve.url("/metrics"), &[]).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8_lossy(&answer.body).to_string();
    assert!(
        text.contains("jwt_guard_requests_allowed_total{issuer=\"partner\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("jwt_guard_requests_rejected_total{reason=\"missing_token\"} 1"),
        "{text}"
    );
    serve.stop().await;

    let serve = Serve::start(&base, &[]).await;
    assert_eq!(get(&client, &serve.url("/metrics"), &[]).await.status, 404);
    serve.stop().await;

    // Proxy mode with metrics: GET /metrics is local, other methods go to the upstream.
    let upstream = Upstream::start().await;
    let serve = Serve::start(
        &format!("metrics = true\n{}", proxy_config(&upstream.url(), "")),
        &[],
    )
    .await;
    assert_eq!(get(&client, &serve.url("/metrics"), &[]).await.status, 200);
    let answer = send(
        &client,
        "POST",
        &serve.url("/metrics"),
        &[("authorization", &bearer(&token))],
        AnyBody::Full(None),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.last().uri, "/metrics");
    assert_eq!(upstream.hits(), 1);
    serve.stop().await;

    // Proxy mode without metrics: GET /metrics is the upstream's; GET and HEAD on /healthz and
    // /readyz stay local, a path that only looks like them does not.
    let upstream = Upstream::start().await;
    let serve = Serve::start(&proxy_config(&upstream.url(), ""), &[]).await;
    let auth = bearer(&token);
    let answer = get(&client, &serve.url("/metrics"), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.last().uri, "/metrics");
    assert_eq!(get(&client, &serve.url("/metrics"), &[]).await.status, 401);
    for (method, path) in [
        ("GET", "/healthz"),
        ("HEAD", "/healthz"),
        ("GET", "/readyz"),
    ] {
        let answer = send(&client, method, &serve.url(path), &[], AnyBody::Full(None)).await;
        assert!(
            answer.status == 200 || answer.status == 503,
            "{method} {path}"
        );
    }
    assert_eq!(upstream.hits(), 1);
    for path in ["/healthz/", "/Healthz", "/readyz/x"] {
        let answer = get(&client, &serve.url(path), &[("authorization", &auth)]).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(upstream.last().uri, path, "{path}");
    }
    serve.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Presets and the sample configs.

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/examples/config/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A sample config with `listen` on a free port and the upstream replaced.
fn adapt(text: &str, upstream: &Upstream) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("listen = ") {
                "listen = \"127.0.0.1:0\"".to_owned()
            } else if line.starts_with("url = ") {
                format!("url = \"{}\"", upstream.url())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_sample_config_loads_and_builds() {
    for name in ["appdirect", "pandium", "blendr", "versori", "proxy"] {
        let config = Config::load(format!(
            "{}/examples/config/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(config.upstream().is_some(), "{name}: a sidecar config");
        // `secret_env` is read when the guard is built: the same file with the secret inline.
        let text = sample(name)
            .replace(
                "secret_env = \"PANDIUM_SECRET\"",
                &format!("secret = \"{SECRET}\""),
            )
            .replace(
                "secret_env = \"BLENDR_API_KEY\"",
                &format!("secret = \"{SECRET}\""),
            );
        Config::from_toml(&text)
            .and_then(Config::build)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn the_marketplace_samples_start_and_forward_with_their_presets() {
    let client = client();
    let upstream = Upstream::start().await;

    // Pandium: `?tenant=` carries the token; jti once.
    let serve = Serve::start(
        &adapt(&sample("pandium"), &upstream),
        &[("PANDIUM_SECRET", SECRET)],
    )
    .await;
    let pandium = token()
        .without("exp")
        .subject("user@vendor.example")
        .claim("jti", "j-1")
        .sign();
    let url = serve.url(&format!("/install?tenant={pandium}&step=2"));
    assert_eq!(get(&client, &url, &[]).await.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.uri, "/install?step=2");
    assert_eq!(seen.headers["x-auth-issuer"], "pandium");
    assert_eq!(seen.headers["x-auth-sub"], "user@vendor.example");
    assert_eq!(get(&client, &url, &[]).await.status, 401, "the jti is used");
    serve.stop().await;

    // Blendr: `?jwt=`, the tenant is the numeric accountid; /public/ needs no token.
    let serve = Serve::start(
        &adapt(&sample("blendr"), &upstream),
        &[("BLENDR_API_KEY", SECRET)],
    )
    .await;
    let blendr = token().without("exp").claim("accountid", 123).sign();
    assert_eq!(
        get(&client, &serve.url(&format!("/sso?jwt={blendr}")), &[])
            .await
            .status,
        200
    );
    assert_eq!(upstream.last().headers["x-auth-tenant"], "123");
    assert_eq!(upstream.last().headers["x-auth-issuer"], "blendr");
    let with_exp = token().claim("accountid", 1).sign();
    assert_eq!(
        get(&client, &serve.url(&format!("/sso?jwt={with_exp}")), &[])
            .await
            .status,
        200
    );
    let missing = token().without("exp").sign();
    assert_eq!(
        get(&client, &serve.url(&format!("/sso?jwt={missing}")), &[])
            .await
            .status,
        401,
        "accountid required"
    );
    assert_eq!(
        get(&client, &serve.url("/public/app.js"), &[]).await.status,
        200
    );
    serve.stop().await;

    // AppDirect: the JWKS of a test issuer; tenant PARTNER_ID only.
    let issuer = TestIssuer::start().await;
    let text = adapt(&sample("appdirect"), &upstream).replace(
        "https://marketplace.example/.well-known/jwks.json",
        issuer.jwks_url(),
    );
    let serve = Serve::start(&text, &[]).await;
    let good = issuer.token().subject("u-1").tenant("PARTNER_ID").sign();
    let other = issuer.token().subject("u-1").tenant("OTHER").sign();
    let long = issuer
        .token()
        .subject("u-1")
        .tenant("PARTNER_ID")
        .expires_in(3600)
        .sign();
    assert_eq!(
        get(
            &client,
            &serve.url("/a"),
            &[("authorization", &bearer(&good))]
        )
        .await
        .status,
        200
    );
    assert_eq!(upstream.last().headers["x-auth-tenant"], "PARTNER_ID");
    assert_eq!(upstream.last().headers["x-auth-issuer"], "appdirect");
    assert_eq!(
        get(
            &client,
            &serve.url("/a"),
            &[("authorization", &bearer(&other))]
        )
        .await
        .status,
        403
    );
    assert_eq!(
        get(
            &client,
            &serve.url("/a"),
            &[("authorization", &bearer(&long))]
        )
        .await
        .status,
        401,
        "max_lifetime 10m"
    );
    serve.stop().await;

    // Versori: the partner's key, iss and aud.
    let key = Arc::new(TestKey::ec("", Algorithm::ES256));
    let pem = key.public_key_pem().unwrap();
    let text = adapt(&sample("versori"), &upstream);
    let start = text.find("-----BEGIN").unwrap();
    let end = text.find("-----END PUBLIC KEY-----").unwrap() + "-----END PUBLIC KEY-----".len();
    let text = format!("{}{}{}", &text[..start], pem.trim_end(), &text[end..]);
    let serve = Serve::start(&text, &[]).await;
    let good = TokenBuilder::new(Arc::clone(&key), now())
        .subject("end-user")
        .issuer("https://partner.example")
        .audience("orders-api")
        .sign();
    let wrong_aud = TokenBuilder::new(Arc::clone(&key), now())
        .subject("end-user")
        .issuer("https://partner.example")
        .audience("other-api")
        .sign();
    assert_eq!(
        get(
            &client,
            &serve.url("/v"),
            &[("authorization", &bearer(&good))]
        )
        .await
        .status,
        200
    );
    assert_eq!(upstream.last().headers["x-auth-issuer"], "versori");
    assert_eq!(
        get(
            &client,
            &serve.url("/v"),
            &[("authorization", &bearer(&wrong_aud))]
        )
        .await
        .status,
        401
    );
    serve.stop().await;
}

#[tokio::test]
async fn keys_beside_a_preset_replace_its_values() {
    let client = client();
    let upstream = Upstream::start().await;
    let old = TokenBuilder::new(hmac_key(), now() - 120)
        .without("exp")
        .claim("accountid", "a-1")
        .sign();
    let base = adapt(&sample("blendr"), &upstream);
    let serve = Serve::start(&base, &[("BLENDR_API_KEY", SECRET)]).await;
    assert_eq!(
        get(&client, &serve.url(&format!("/x?jwt={old}")), &[])
            .await
            .status,
        200,
        "2 minutes old, max_age 5m"
    );
    serve.stop().await;

    let narrowed = base.replace(
        "preset = \"blendr\"",
        "preset = \"blendr\"\nmax_age = \"1m\"\nname = \"sso\"",
    );
    let serve = Serve::start(&narrowed, &[("BLENDR_API_KEY", SECRET)]).await;
    assert_eq!(
        get(&client, &serve.url(&format!("/x?jwt={old}")), &[])
            .await
            .status,
        401,
        "max_age replaced"
    );
    let fresh = token().without("exp").claim("accountid", "a-1").sign();
    assert_eq!(
        get(&client, &serve.url(&format!("/x?jwt={fresh}")), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        upstream.last().headers["x-auth-issuer"],
        "sso",
        "name replaced"
    );
    serve.stop().await;
}

#[test]
fn preset_and_upstream_mistakes_name_their_key() {
    let key_of = |toml: &str| {
        Config::from_toml(toml)
            .err()
            .unwrap_or_else(|| panic!("accepted: {toml}"))
            .key()
            .map(str::to_owned)
    };
    let secret = format!("secret = \"{SECRET}\"");
    let cases = [
        (
            format!("[[issuers]]\npreset = \"shopify\"\n{secret}"),
            "issuers[0].preset",
        ),
        (
            format!("[[issuers]]\n{secret}\n[[issuers]]\npreset = \"Pandium\"\n{secret}"),
            "issuers[1].preset",
        ),
        (
            format!("[[issuers]]\npreset = \"appdirect\"\n{secret}"),
            "issuers[0].secret",
        ),
        (
            "[[issuers]]\npreset = \"pandium\"\njwks_url = \"https://a.example/jwks\"".to_owned(),
            "issuers[0].jwks_url",
        ),
        (
            "[[issuers]]\npreset = \"versori\"\npublic_key_pem = \"x\"\naudiences = [\"a\"]"
                .to_owned(),
            "issuers[0].issuer",
        ),
        (
            "[[issuers]]\npreset = \"versori\"\npublic_key_pem = \"x\"\nissuer = \"i\"".to_owned(),
            "issuers[0].audiences",
        ),
        (
            format!("[[issuers]]\n{secret}\n[upstream]\nurl = \"ftp://127.0.0.1/\""),
            "upstream.url",
        ),
        (
            format!("[[issuers]]\n{secret}\n[upstream]\nurl = \"http://\""),
            "upstream.url",
        ),
        (
            format!("[[issuers]]\n{secret}\n[upstream]\nurl = \"127.0.0.1:3000\""),
            "upstream.url",
        ),
        (
            format!("[[issuers]]\n{secret}\n[upstream]\nurl = \"http://a:b@127.0.0.1/\""),
            "upstream.url",
        ),
        (
            format!("[[issuers]]\n{secret}\n[upstream]\ntimeout = \"1s\""),
            "upstream.url",
        ),
        (
            format!(
                "[[issuers]]\n{secret}\n[upstream]\nurl = \"http://127.0.0.1\"\ntimeout = \"soon\""
            ),
            "upstream.timeout",
        ),
        (
            format!(
                "[[issuers]]\n{secret}\n[upstream]\nurl = \"http://127.0.0.1\"\npublic_paths = [\"/ok/\", \"nope\"]"
            ),
            "upstream.public_paths[1]",
        ),
        (
            format!(
                "[[issuers]]\n{secret}\n[upstream]\nurl = \"http://127.0.0.1\"\nidentity_header_prefix = \"x auth\""
            ),
            "upstream.identity_header_prefix",
        ),
    ];
    for (toml, key) in cases {
        assert_eq!(key_of(&toml).as_deref(), Some(key), "{toml}");
    }
    // Accepted: https, a path prefix, a preset with the name defaulted to it.
    let config = Config::from_toml(&format!(
        "metrics = true\n[[issuers]]\npreset = \"pandium\"\n{secret}\n[upstream]\nurl = \"https://api.internal:8443/v1/\""
    ))
    .unwrap();
    assert!(config.metrics());
    let upstream = config.upstream().unwrap();
    assert!(upstream.is_https());
    assert_eq!(upstream.authority(), "api.internal:8443");
    assert_eq!(upstream.path_prefix(), "/v1");
    assert_eq!(upstream.identity_header_prefix(), "x-auth-");
    assert_eq!(upstream.timeout(), std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn serve_refuses_a_bad_upstream_url_or_preset_before_listening_without_the_password() {
    let cases = [
        ("[upstream]\nurl = \"gopher://127.0.0.1/\"", "upstream.url"),
        (
            "[upstream]\nurl = \"http://user:hunter2-secret@\"",
            "upstream.url",
        ),
    ];
    for (table, key) in cases {
        let toml = format!("[[issuers]]\nsecret = \"{SECRET}\"\n{table}\n");
        let (status, _stdout, stderr) = refused(&toml, &[]).await;
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (status, _stdout, stderr) = refused(
        &format!("[[issuers]]\npreset = \"nope\"\nsecret = \"{SECRET}\"\n"),
        &[],
    )
    .await;
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("issuers[0].preset"), "{stderr}");
}

/// An HTTPS upstream (`tests/support/tls_upstream.py`): its own certificate authority, in
/// `dir/ca.pem`, and a certificate for `localhost` and `127.0.0.1`; killed on drop.
struct TlsUpstream {
    port: u16,
    dir: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl TlsUpstream {
    async fn start() -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let dir = std::env::temp_dir().join(format!(
            "jwt-guard-tls-upstream-{}-{}",
            std::process::id(),
            now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = tokio::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/tls_upstream.py"
            ))
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 (scripts/test installs it with `cryptography`)");
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            stdout.read_line(&mut line),
        )
        .await
        .expect("the TLS upstream's port in time")
        .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the TLS upstream printed {line:?}, not a port"));
        Self {
            port,
            dir,
            _child: child,
        }
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").to_str().unwrap().to_owned()
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An `https://` upstream: verified against the trusted roots (here `SSL_CERT_FILE` holding the
/// test authority), reached by name and by IP address, with the path prefix, identity and
/// forwarding headers, a body, and the connection reused; an upstream whose certificate no
/// trusted root signed is 502, and never gets the request.
#[tokio::test]
async fn an_https_upstream_is_verified_and_gets_what_an_http_one_gets() {
    let upstream = TlsUpstream::start().await;
    let client = client();
    let token = token().subject("tls-user").sign();
    let auth = bearer(&token);
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/api", upstream.port);
        let serve = Serve::start(
            &proxy_config(&url, ""),
            &[("RUST_LOG", "warn"), ("SSL_CERT_FILE", &upstream.ca())],
        )
        .await;
        let mut peers = Vec::new();
        for _ in 0..2 {
            let answer = get(
                &client,
                &serve.url("/orders?page=2"),
                &[("authorization", &auth), ("origin", ORIGIN)],
            )
            .await;
            assert_eq!(answer.status, 200, "{host}: {:?}", answer.body);
            assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
            let seen = answer.json();
            assert_eq!(seen["method"], "GET");
            assert_eq!(seen["path"], "/api/orders?page=2");
            let headers = &seen["headers"];
            assert_eq!(headers["host"], format!("{host}:{}", upstream.port));
            assert_eq!(headers["x-auth-sub"], "tls-user");
            assert_eq!(headers["x-auth-issuer"], "partner");
            assert_eq!(headers["x-forwarded-proto"], "http");
            assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
            peers.push(seen["peer_port"].clone());
        }
        assert_eq!(peers[0], peers[1], "{host}: the TLS connection is reused");
        // A body in chunks, and one of a declared length: each arrives as sent.
        for (method, length) in [("POST", None), ("PUT", Some("8"))] {
            let mut headers = vec![
                ("authorization", auth.as_str()),
                ("content-type", "text/plain"),
            ];
            if let Some(length) = length {
                headers.push(("content-length", length));
            }
            let answer = send(
                &client,
                method,
                &serve.url("/items"),
                &headers,
                AnyBody::Full(Some("over tls".into())),
            )
            .await;
            assert_eq!(answer.status, 200);
            let seen = answer.json();
            assert_eq!(seen["method"], method);
            assert_eq!(seen["body"], "over tls", "{seen:?}");
            match length {
                Some(length) => assert_eq!(seen["headers"]["content-length"], length),
                None => assert_eq!(seen["headers"]["transfer-encoding"], "chunked"),
            }
        }
        // A refusal never reaches the upstream, over TLS either.
        let refused = get(&client, &serve.url("/orders"), &[]).await;
        assert_eq!(refused.status, 401);
        serve.stop().await;
    }

    // The system's roots only: nothing trusts the test authority, so no request goes out.
    let serve = Serve::start(
        &proxy_config(&format!("https://localhost:{}", upstream.port), ""),
        &[],
    )
    .await;
    let answer = get(&client, &serve.url("/orders"), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json()["error"], "bad_gateway");
    serve.stop().await;
}
