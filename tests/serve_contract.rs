//! The serve contract, black box: the built `serve` example is started as a separate process
//! with a config file, and driven over HTTP like an outside conformance suite would.
//!
//! `cargo test` builds the examples before it runs the tests; `cargo test --test serve_contract`
//! alone does not, so run `cargo build --example serve` first in that case. Set
//! `JWT_GUARD_SERVE_BIN` to drive another build (e.g. `target/release/examples/serve`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_guard::Algorithm;
use jwt_guard::testing::{JwksResponse, TestIssuer, TestKey, TokenBuilder};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Generous bound for the process to start, answer or stop (a debug build on a busy machine).
const BOUND: Duration = Duration::from_secs(30);

const REALM: &str = "conformance suite";
const ISS: &str = "https://marketplace.example";
const SECRET_VAR: &str = "SERVE_CONTRACT_PANDIUM_SECRET";
const SECRET: &str = "a-pandium-shared-secret-of-32-bytes-at-least";
const ORIGIN: &str = "https://app.marketplace.example";
const PREFLIGHT_VARY: [&str; 3] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
];

// ---------------------------------------------------------------------------------------------
// The process under test.

fn serve_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("JWT_GUARD_SERVE_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/serve_contract-<hash> → target/<profile>/examples/serve
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("serve{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the serve example is not built: {} is missing. `cargo test` builds it; with \
         `cargo test --test serve_contract` alone, run `cargo build --example serve` first \
         (or set JWT_GUARD_SERVE_BIN)",
        bin.display()
    );
    bin
}

/// A config file in the temp dir, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(toml: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "jwt-guard-serve-contract-{}-{}.toml",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, toml).unwrap();
        Self(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn command(config: &Path, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(serve_binary());
    cmd.arg(config)
        .env_remove("RUST_LOG")
        .env_remove(SECRET_VAR)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A running `serve`: its base URL, and what it wrote so far.
struct Serve {
    child: Child,
    base: String,
    stdout_rest: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    _config: ConfigFile,
}

fn collect(mut reader: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

impl Serve {
    async fn start_with(toml: &str, envs: &[(&str, &str)]) -> Self {
        let config = ConfigFile::new(toml);
        let mut child = command(&config.0, envs).spawn().expect("spawn serve");
        let stderr = collect(child.stderr.take().unwrap());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = tokio::time::timeout(BOUND, stdout.read_line(&mut line)).await;
        let base = match read {
            Ok(Ok(n)) if n > 0 => {
                let line = line.strip_suffix('\n').expect("a whole line");
                let addr = line
                    .strip_prefix("listening on http://")
                    .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
                let addr: std::net::SocketAddr = addr.parse().expect("the bound address");
                assert_eq!(addr.ip().to_string(), "127.0.0.1");
                assert_ne!(addr.port(), 0, "the real port, not the configured 0");
                format!("http://{addr}")
            }
            other => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "no `listening on` line ({other:?}); status {:?}; stderr:\n{}",
                    child.try_wait(),
                    stderr.lock().unwrap()
                );
            }
        };
        let stdout_rest = collect(stdout);
        Self {
            child,
            base,
            stdout_rest,
            stderr,
            _config: config,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGTERM, and a successful exit.
    async fn stop(&mut self) {
        self.signal("TERM");
        assert!(self.wait().await.success());
    }

    async fn wait(&mut self) -> ExitStatus {
        tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("serve stops within the bound")
            .unwrap()
    }
}

/// Runs `serve` with a config that must be refused: (status, stdout, stderr).
async fn refused(toml: &str, envs: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let config = ConfigFile::new(toml);
    run_to_exit(command(&config.0, envs)).await
}

async fn run_to_exit(mut cmd: Command) -> (ExitStatus, String, String) {
    let out = tokio::time::timeout(BOUND, cmd.output())
        .await
        .expect("serve exits within the bound")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Issuers, tokens, HTTP.

fn config(jwks_url: &str, extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
realm = "{REALM}"

[[issuers]]
name = "marketplace"
jwks_url = "{jwks_url}"
issuer = "{ISS}"
tenant_claim = "tenant"
tenants = ["acme", "42"]

[[issuers]]
name = "pandium"
secret_env = "{SECRET_VAR}"
required_claims = []
max_age = "5m"
{extra}"#
    )
}

fn cors_section() -> &'static str {
    r#"
[cors]
allow_origins = ["https://*.marketplace.example"]
allow_credentials = true
allow_methods = ["GET", "POST", "DELETE"]
allow_headers = ["authorization", "content-type", "x-trace"]
expose_headers = ["x-request-id"]
max_age = "2h"
"#
}

async fn start_default(issuer: &TestIssuer, extra: &str) -> Serve {
    Serve::start_with(&config(issuer.jwks_url(), extra), &[(SECRET_VAR, SECRET)]).await
}

/// [`start_default`] without extra config, with `RUST_LOG=rust_log`.
async fn start_logging(issuer: &TestIssuer, rust_log: &str) -> Serve {
    let envs = [(SECRET_VAR, SECRET), ("RUST_LOG", rust_log)];
    Serve::start_with(&config(issuer.jwks_url(), ""), &envs).await
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn pandium_token() -> TokenBuilder {
    TokenBuilder::new(
        Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256)),
        now(),
    )
}

/// The claims of a token, decoded here (what the server must echo back).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(BOUND)
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(',').map(|s| s.trim().to_owned()))
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    fn has_no_cors_headers(&self) -> bool {
        self.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    }
}

/// One request: `headers` are appended in order (a name given twice is sent twice).
async fn call(method: &str, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = client().request(Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_str(value).unwrap());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The rejection `status` with this challenge and JSON body; `label` (a table row, or empty)
/// is named in every failure.
fn assert_rejection(
    label: &str,
    answer: &Answer,
    status: u16,
    challenge: Option<&str>,
    error: &str,
    description: &str,
) {
    assert_eq!(answer.status.as_u16(), status, "{label}: {}", answer.body);
    assert_eq!(answer.header("www-authenticate"), challenge, "{label}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{label}"
    );
    let mut json = answer.json();
    let reason = json["reason"].take();
    assert!(
        jwt_guard::Reason::ALL
            .iter()
            .any(|r| reason.as_str() == Some(r.code())
                && r.kind().code() == error
                && r.description() == description),
        "{label}: {reason} is not a reason of {error} / {description:?}"
    );
    json.as_object_mut().unwrap().remove("reason");
    assert_eq!(
        json,
        json!({"error": error, "error_description": description}),
        "{label}"
    );
}

/// 401 `missing_token` with the configured realm's bare challenge.
fn assert_missing_token(label: &str, answer: &Answer) {
    let challenge = format!("Bearer realm=\"{REALM}\"");
    let description = "no bearer token was presented";
    assert_rejection(
        label,
        answer,
        401,
        Some(&challenge),
        "missing_token",
        description,
    );
}

/// 400 `invalid_request` with this description.
fn assert_invalid_request(label: &str, answer: &Answer, description: &str) {
    let challenge = format!("Bearer realm=\"{REALM}\", error=\"invalid_request\"");
    assert_rejection(
        label,
        answer,
        400,
        Some(&challenge),
        "invalid_request",
        description,
    );
}

/// 401 `invalid_token` with this description, in the challenge and in the body.
fn assert_invalid_token(label: &str, answer: &Answer, description: &str) {
    let challenge = invalid_token(description);
    assert_rejection(
        label,
        answer,
        401,
        Some(&challenge),
        "invalid_token",
        description,
    );
}

/// 403 without a challenge: `error` with this description, and no CORS headers at all.
fn assert_forbidden_without_cors(label: &str, answer: &Answer, error: &str, description: &str) {
    assert_rejection(label, answer, 403, None, error, description);
    assert!(answer.has_no_cors_headers(), "{label}");
}

/// `GET url` with `Authorization: Bearer token`.
async fn get_with(url: &str, token: &str) -> Answer {
    call("GET", url, &[("authorization", &bearer(token))]).await
}

fn invalid_token(description: &str) -> String {
    format!(
        "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

// ---------------------------------------------------------------------------------------------
// Routes.

#[tokio::test]
async fn healthz_whoami_and_echo() {
    let issuer = TestIssuer::start().await;
    let serve = start_default(&issuer, "").await;

    let res = call("GET", &serve.url("/healthz"), &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, "ok");

    // A JWKS issuer with a string tenant.
    let token = issuer
        .token()
        .issuer(ISS)
        .subject("u1")
        .tenant("acme")
        .claim("role", "admin")
        .sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.json(),
        json!({"issuer": "marketplace", "sub": "u1", "tenant": "acme", "claims": claims_of(&token)})
    );
    assert_eq!(res.json()["claims"]["role"], "admin");

    // An integer tenant is rendered in decimal; the claim itself stays a number.
    let token = issuer
        .token()
        .issuer(ISS)
        .subject("u2")
        .claim("tenant", 42)
        .sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.json(),
        json!({"issuer": "marketplace", "sub": "u2", "tenant": "42", "claims": claims_of(&token)})
    );
    assert_eq!(res.json()["claims"]["tenant"], 42);

    // An issuer without tenant_claim (a secret from the environment): tenant is null.
    let token = pandium_token().subject("p1").sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.json(),
        json!({"issuer": "pandium", "sub": "p1", "tenant": null, "claims": claims_of(&token)})
    );

    // A token without `sub`.
    let token = pandium_token().sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["sub"], Value::Null);

    // /echo: any method, with a token.
    let token = issuer.token().issuer(ISS).tenant("acme").sign();
    for method in [
        "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND",
    ] {
        let res = call(
            method,
            &serve.url("/echo"),
            &[("authorization", &bearer(&token))],
        )
        .await;
        assert_eq!(res.status, 200, "{method}: {}", res.body);
        assert_eq!(res.json(), json!({"method": method}));
        let res = call(method, &serve.url("/echo"), &[]).await;
        assert_missing_token(method, &res);
    }
    // A query string and a body change nothing.
    let res = client()
        .post(serve.url("/echo?x=1"))
        .header("authorization", bearer(&token))
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "{\"method\":\"POST\"}");
}

#[tokio::test]
async fn wrong_methods_are_405_after_auth_and_unknown_paths_404_without_auth() {
    let issuer = TestIssuer::start().await;
    let serve = start_default(&issuer, "").await;
    let token = issuer.token().issuer(ISS).tenant("acme").sign();
    let auth = bearer(&token);

    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        // /healthz needs no token, with or without one.
        let res = call(method, &serve.url("/healthz"), &[]).await;
        assert_eq!(res.status, 405, "{method} /healthz");
        let res = call(method, &serve.url("/healthz"), &[("authorization", &auth)]).await;
        assert_eq!(res.status, 405, "{method} /healthz with a token");

        // /whoami: authentication comes first, then the method.
        let res = call(method, &serve.url("/whoami"), &[]).await;
        assert_missing_token(method, &res);
        let res = call(
            method,
            &serve.url("/whoami"),
            &[("authorization", "Bearer not.a.jwt")],
        )
        .await;
        assert_eq!(res.status, 401, "{method} /whoami with a bad token");
        let res = call(method, &serve.url("/whoami"), &[("authorization", &auth)]).await;
        assert_eq!(
            res.status, 405,
            "{method} /whoami with a token: {}",
            res.body
        );
    }
    // A non-preflight OPTIONS is an ordinary request.
    let res = call("OPTIONS", &serve.url("/whoami"), &[]).await;
    assert_eq!(res.status, 401);
    let res = call("OPTIONS", &serve.url("/healthz"), &[]).await;
    assert_eq!(res.status, 405);

    // Anything else: 404, no authentication at all, even with a malformed credential.
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("DELETE", "/admin"),
        ("GET", "/healthz/"),
        ("GET", "/whoami/x"),
        ("GET", "/echo/x"),
        ("GET", "/WHOAMI"),
    ] {
        let res = call(method, &serve.url(path), &[]).await;
        assert_eq!(res.status, 404, "{method} {path}");
        assert!(res.header("www-authenticate").is_none());
        let res = call(method, &serve.url(path), &[("authorization", "Bearer")]).await;
        assert_eq!(
            res.status, 404,
            "{method} {path} with a malformed credential"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rejections.

#[tokio::test]
async fn rejections_carry_the_configured_realm() {
    let mut issuer = TestIssuer::start().await;
    let serve = start_default(&issuer, "").await;
    let whoami = serve.url("/whoami");

    // No credentials at all; another scheme counts as none.
    for (label, headers) in [
        ("none", vec![]),
        ("basic", vec![("authorization", "Basic dXNlcjpwdw==")]),
    ] {
        let res = call("GET", &whoami, &headers).await;
        assert_missing_token(label, &res);
    }

    // 400 invalid_request.
    let token = issuer.token().issuer(ISS).tenant("acme").sign();
    let auth = bearer(&token);
    for (headers, description) in [
        (
            vec![("authorization", "Bearer")],
            "the bearer credential is empty or malformed",
        ),
        (
            vec![("authorization", "Bearer a b")],
            "the bearer credential is empty or malformed",
        ),
        (
            vec![
                ("authorization", auth.as_str()),
                ("authorization", auth.as_str()),
            ],
            "more than one Authorization header",
        ),
        (
            vec![
                ("authorization", auth.as_str()),
                ("origin", ORIGIN),
                ("origin", ORIGIN),
            ],
            "more than one Origin header",
        ),
    ] {
        let res = call("GET", &whoami, &headers).await;
        assert_invalid_request(&format!("{headers:?}"), &res, description);
    }
    // Two Origin headers: 400 on every route and on preflights.
    for (method, path, extra) in [
        ("GET", "/healthz", None),
        ("GET", "/nope", None),
        ("POST", "/echo", None),
        (
            "OPTIONS",
            "/whoami",
            Some(("access-control-request-method", "GET")),
        ),
    ] {
        let mut headers = vec![("origin", ORIGIN), ("origin", "https://other.example")];
        headers.extend(extra);
        let res = call(method, &serve.url(path), &headers).await;
        let label = format!("{method} {path}");
        assert_invalid_request(&label, &res, "more than one Origin header");
    }

    // 401 invalid_token, each with its description.
    let expired = issuer
        .token()
        .issuer(ISS)
        .tenant("acme")
        .claim("iat", now() - 600)
        .claim("exp", now() - 300)
        .sign();
    let mut tampered: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&token);
    claims["tenant"] = json!("42");
    tampered[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = tampered.join(".");
    issuer.add_key(TestKey::rsa("unpublished", Algorithm::RS256), false);
    issuer.use_key("unpublished");
    let unknown_kid = issuer.token().issuer(ISS).tenant("acme").sign();
    issuer.use_key("rsa-1");
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(4000),
        "b".repeat(4000),
        "c".repeat(200)
    );
    for (token, description) in [
        (expired.as_str(), "the token has expired"),
        (tampered.as_str(), "the token signature is invalid"),
        (unknown_kid.as_str(), "the token key id is unknown"),
        ("not-a-jwt", "the token is not a compact JWS"),
        (huge.as_str(), "the token is too large"),
    ] {
        let res = get_with(&whoami, token).await;
        assert_invalid_token(description, &res, description);
        assert!(
            !res.body.contains(token),
            "{description}: the token is never echoed"
        );
    }
    // A tenant of the wrong type is 401, not 403.
    let token = issuer.token().issuer(ISS).claim("tenant", 4.5).sign();
    let res = get_with(&whoami, &token).await;
    let description = "the tenant claim is missing or malformed";
    assert_invalid_token("", &res, description);

    // 403 insufficient_scope: a valid token for a tenant outside the allowlist.
    let token = issuer
        .token()
        .issuer(ISS)
        .subject("u1")
        .tenant("other")
        .sign();
    let res = get_with(&whoami, &token).await;
    assert_rejection(
        "",
        &res,
        403,
        Some(&format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\""
        )),
        "insufficient_scope",
        "the tenant is not allowed",
    );
    assert!(!res.body.contains("other") && !res.body.contains("u1"));

    // Without [cors]: no CORS headers, every preflight refused.
    let res = call(
        "GET",
        &whoami,
        &[("authorization", &auth), ("origin", ORIGIN)],
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(res.has_no_cors_headers());
    let res = call(
        "OPTIONS",
        &whoami,
        &[("origin", ORIGIN), ("access-control-request-method", "GET")],
    )
    .await;
    assert_forbidden_without_cors(
        "",
        &res,
        "preflight_refused",
        "the preflight request is not allowed",
    );
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_503_with_retry_after_and_does_not_hold_up_listening() {
    let issuer = TestIssuer::start().await;
    issuer.respond_with(JwksResponse::Stall);
    // The warm-up fetch stalls; listening and /healthz must not wait for it.
    let serve = start_default(&issuer, "").await;
    let res = call("GET", &serve.url("/healthz"), &[]).await;
    assert_eq!(res.status, 200);
    // Still answering while the fetch stalls: the other issuer keeps working.
    let token = pandium_token().sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 200, "{}", res.body);

    let token = issuer.token().issuer(ISS).tenant("acme").sign();
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_rejection(
        "",
        &res,
        503,
        None,
        "temporarily_unavailable",
        "the signing keys are temporarily unavailable",
    );
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
}

// ---------------------------------------------------------------------------------------------
// CORS.

#[tokio::test]
async fn cors_applies_to_every_route_including_the_404_fallback() {
    let issuer = TestIssuer::start().await;
    let serve = start_default(&issuer, cors_section()).await;
    let token = issuer.token().issuer(ISS).tenant("acme").sign();
    let auth = bearer(&token);
    let expose = vec!["x-request-id".to_owned(), "www-authenticate".to_owned()];

    // An allowed preflight: 204 before any authentication, with exactly the CORS headers.
    let res = call(
        "OPTIONS",
        &serve.url("/echo"),
        &[
            ("origin", ORIGIN),
            ("access-control-request-method", "DELETE"),
            ("access-control-request-headers", "authorization, x-trace"),
        ],
    )
    .await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("GET, HEAD, POST, DELETE")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("authorization, content-type, x-trace")
    );
    assert_eq!(res.header("access-control-max-age"), Some("7200"));
    assert_eq!(res.all("vary"), PREFLIGHT_VARY);
    assert!(res.header("www-authenticate").is_none());
    assert_eq!(res.body, "");
    // Preflights are answered on any path, the 404 ones included.
    let res = call(
        "OPTIONS",
        &serve.url("/nope"),
        &[("origin", ORIGIN), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(res.status, 204);

    // Refused preflights: 403 without CORS headers.
    for headers in [
        vec![
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
        vec![
            ("origin", "https://marketplace.example"),
            ("access-control-request-method", "GET"),
        ],
        vec![("origin", ORIGIN), ("access-control-request-method", "PUT")],
        vec![
            ("origin", ORIGIN),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-unknown"),
        ],
    ] {
        let res = call("OPTIONS", &serve.url("/whoami"), &headers).await;
        let label = format!("{headers:?}");
        assert_forbidden_without_cors(
            &label,
            &res,
            "preflight_refused",
            "the preflight request is not allowed",
        );
        assert_eq!(res.all("vary"), PREFLIGHT_VARY, "{label}");
    }

    // Every answer to an allowed origin carries the CORS headers: 200, 401, 405, 404.
    let cases: [(&str, &str, Option<&str>, u16); 6] = [
        ("GET", "/healthz", None, 200),
        ("GET", "/whoami", Some(auth.as_str()), 200),
        ("GET", "/whoami", None, 401),
        ("POST", "/healthz", None, 405),
        ("GET", "/nope", None, 404),
        ("DELETE", "/nope", None, 404),
    ];
    for (method, path, authorization, status) in cases {
        let mut headers = vec![("origin", ORIGIN)];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let res = call(method, &serve.url(path), &headers).await;
        assert_eq!(res.status.as_u16(), status, "{method} {path}: {}", res.body);
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(ORIGIN),
            "{method} {path}"
        );
        assert_eq!(
            res.header("access-control-allow-credentials"),
            Some("true"),
            "{method} {path}"
        );
        assert_eq!(
            res.all("access-control-expose-headers"),
            expose,
            "{method} {path}"
        );
        assert_eq!(res.all("vary"), ["origin"], "{method} {path}");
    }
    // Without an Origin: no CORS headers, but Vary all the same.
    let res = call("GET", &serve.url("/nope"), &[]).await;
    assert_eq!(res.status, 404);
    assert!(res.has_no_cors_headers());
    assert_eq!(res.all("vary"), ["origin"]);

    // A disallowed origin gets 403 on every route, /healthz and unknown paths included.
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/nope"),
        ("GET", "/whoami"),
        ("POST", "/echo"),
    ] {
        let res = call(
            method,
            &serve.url(path),
            &[("origin", "https://evil.example"), ("authorization", &auth)],
        )
        .await;
        assert_forbidden_without_cors(
            &format!("{method} {path}"),
            &res,
            "origin_not_allowed",
            "the request origin is not allowed",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Process behaviour.

#[tokio::test]
async fn sigterm_and_sigint_shut_down_gracefully_with_status_0() {
    let issuer = TestIssuer::start().await;
    for signal in ["TERM", "INT"] {
        let mut serve = start_default(&issuer, "").await;
        // A keep-alive connection stays open in the client's pool across the signal.
        let client = client();
        let res = client.get(serve.url("/healthz")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "ok");
        serve.signal(signal);
        let status = serve.wait().await;
        assert_eq!(
            status.code(),
            Some(0),
            "SIG{signal}; stderr:\n{}",
            serve.stderr()
        );
        // Exactly one line on stdout, the listening line read at start.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(serve.stdout_rest.lock().unwrap().as_str(), "");
        let stderr = serve.stderr();
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("SIG{signal}")),
            "the signal is logged: {stderr}"
        );
        drop(client);
    }
}

#[tokio::test]
async fn logs_go_to_stderr_and_honour_rust_log() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().issuer(ISS).tenant("other").sign();

    // Rejections are logged at debug, with their reason code.
    let mut serve = start_logging(&issuer, "jwt_guard=debug").await;
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 403);
    let deadline = tokio::time::Instant::now() + BOUND;
    while !serve.stderr().contains("tenant_not_allowed") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rejection log line:\n{}",
            serve.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = serve.stderr();
    assert!(stderr.contains("request rejected"), "{stderr}");
    assert!(!stderr.contains(&token), "the token is never logged");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    serve.stop().await;
    assert_eq!(
        serve.stdout_rest.lock().unwrap().as_str(),
        "",
        "logs never go to stdout"
    );

    // RUST_LOG=off: nothing at all on stderr.
    let mut serve = start_logging(&issuer, "off").await;
    let res = get_with(&serve.url("/whoami"), &token).await;
    assert_eq!(res.status, 403);
    serve.stop().await;
    assert_eq!(serve.stderr(), "");
}

#[tokio::test]
async fn config_errors_exit_non_zero_before_listening_and_name_the_key() {
    let issuer = TestIssuer::start().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap();
    let good = config(issuer.jwks_url(), "");
    // (config, environment, what stderr must say)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let with_secret =
        |toml: String, needle| -> Case<'_> { (toml, vec![(SECRET_VAR, SECRET)], needle) };
    let cases: Vec<Case<'_>> = vec![
        // secret_env unset (the environment of the child has no SERVE_CONTRACT_PANDIUM_SECRET).
        (good.clone(), vec![], "issuers[1].secret_env"),
        with_secret(format!("bogus = 1\n{good}"), "unknown field `bogus`"),
        with_secret(
            good.replace("max_age = \"5m\"", "max_age = \"5m\"\nmax_agee = \"1m\""),
            "unknown field `max_agee`",
        ),
        with_secret(
            format!("{good}\n[token]\nsource = [\"header\"]\n"),
            "unknown field `source`",
        ),
        with_secret(
            format!("{good}\n[cors]\nallow_origin = [\"https://a.example\"]\n"),
            "unknown field `allow_origin`",
        ),
        with_secret(
            good.replace("max_age = \"5m\"", "max_age = \"5 m\""),
            "issuers[1].max_age",
        ),
        with_secret(
            good.replace(
                "tenants = [\"acme\", \"42\"]",
                "tenants = [\"acme\"]\nleeway = \"1.5s\"",
            ),
            "issuers[0].leeway",
        ),
        with_secret(
            good.replace(issuer.jwks_url(), "http://marketplace.example/jwks.json"),
            "issuers[0].jwks_url",
        ),
        with_secret(
            format!("{good}\n[token]\nsources = [\"header\", \"cookie\"]\n"),
            "token.sources[1]",
        ),
        with_secret(
            good.replace(
                "required_claims = []",
                "required_claims = []\nreplay = \"reject\"",
            )
            .replace("max_age = \"5m\"", ""),
            "issuers[1].replay",
        ),
        with_secret(
            format!("{good}\n[cors]\nallow_origins = [\"https://*.com\"]\n"),
            "cors.allow_origins[0]",
        ),
        with_secret(
            good.replace("listen = \"127.0.0.1:0\"", "listen = \"localhost:http\""),
            "`listen`",
        ),
        with_secret(
            good.replace(
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"{busy_addr}\""),
            ),
            "`listen`",
        ),
        with_secret(good.replace(REALM, "a\\\"b"), "`realm`"),
        ("listen = \"127.0.0.1:0\"\n".to_owned(), vec![], "`issuers`"),
        ("[[issuers]\n".to_owned(), vec![], "invalid configuration"),
        // A short secret from the environment.
        (
            good.clone(),
            vec![(SECRET_VAR, "short")],
            "issuers[1].secret_env",
        ),
    ];
    for (toml, envs, needle) in cases {
        let (status, stdout, stderr) = refused(&toml, &envs).await;
        assert!(!status.success(), "{needle}: {status:?}");
        assert!(
            status.code().is_some(),
            "{needle}: an exit, not a signal: {status:?}"
        );
        assert_eq!(stdout, "", "{needle}: nothing on stdout, never listening");
        assert!(stderr.contains(needle), "{needle} not in stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains(SECRET), "the secret is never printed");
    }
    drop(busy);

    // A missing file and a missing argument.
    let (status, stdout, stderr) =
        run_to_exit(command(Path::new("/nonexistent/jwt-guard/guard.toml"), &[])).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("/nonexistent/jwt-guard/guard.toml"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut cmd = Command::new(serve_binary());
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let (status, stdout, stderr) = run_to_exit(cmd).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("usage: serve PATH/TO/guard.toml"),
        "{stderr}"
    );
}
