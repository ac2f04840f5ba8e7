//! The browser end-to-end test: headless Chromium loads an extension page served on one
//! loopback origin that calls the protected API on another with `credentials: "include"` and a
//! bearer token, then a page on a third ("evil") origin that tries the same.
//!
//! The pages run their `fetch` calls and POST what they saw (status, readable headers, body,
//! or the error the fetch rejected with) to a collector on their own origin; the test asserts
//! on those results and on what reached the API.
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`): run `scripts/install-chromium`.
//! Without it this test fails; it is never skipped silently.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse};
use axum::routing::{any, get, post};
use http::{HeaderMap, StatusCode};
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, JwtGuard, Verified};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One request as it reached the API (outside the guard) or a handler (inside it).
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    origin: Option<String>,
    request_method: Option<String>,
}

#[derive(Default)]
struct Log {
    at_layer: Mutex<Vec<Seen>>,
    at_handler: Mutex<Vec<Seen>>,
}

fn seen(method: &http::Method, path: &str, headers: &HeaderMap) -> Seen {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("?").to_owned())
    };
    Seen {
        method: method.to_string(),
        path: path.to_owned(),
        origin: text("origin"),
        request_method: text("access-control-request-method"),
    }
}

/// The protected API: `/whoami` and `/echo` behind `guard.layer()`, with a log of what arrived
/// at the layer and what the handlers actually ran for.
fn api(guard: &JwtGuard, log: &Arc<Log>) -> Router {
    let at_handler = Arc::clone(log);
    let at_handler2 = Arc::clone(log);
    let at_layer = Arc::clone(log);
    Router::new()
        .route(
            "/whoami",
            get(move |req: Request| async move {
                at_handler.at_handler.lock().unwrap().push(seen(
                    req.method(),
                    req.uri().path(),
                    req.headers(),
                ));
                let who = req.extensions().get::<Verified>().cloned();
                axum::Json(json!({ "sub": who.as_ref().and_then(|w| w.subject()) }))
            }),
        )
        .route(
            "/echo",
            any(move |req: Request| async move {
                at_handler2.at_handler.lock().unwrap().push(seen(
                    req.method(),
                    req.uri().path(),
                    req.headers(),
                ));
                let method = req.method().to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 16)
                    .await
                    .unwrap_or_default();
                axum::Json(json!({ "method": method, "body": String::from_utf8_lossy(&body) }))
            }),
        )
        .layer(guard.layer())
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let log = Arc::clone(&at_layer);
            async move {
                log.at_layer.lock().unwrap().push(seen(
                    req.method(),
                    req.uri().path(),
                    req.headers(),
                ));
                next.run(req).await
            }
        }))
}

/// The script both pages run: each call's outcome, then a POST of all of them to `/results`
/// on the page's own origin, then `next` (if any) is loaded.
fn page(title: &str, api: &str, token: &str, next: Option<&str>) -> String {
    let next = next.map_or("null".to_owned(), |n| format!("{n:?}"));
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><pre id="out">running…</pre>
<script>
const API = {api:?};
const TOKEN = {token:?};
const bearer = {{ authorization: "Bearer " + TOKEN }};
async function call(name, path, init) {{
  try {{
    const r = await fetch(API + path, Object.assign({{ credentials: "include", cache: "no-store" }}, init));
    return {{
      name, fetched: true, status: r.status,
      www_authenticate: r.headers.get("www-authenticate"),
      content_type: r.headers.get("content-type"),
      body: await r.text(),
    }};
  }} catch (e) {{
    return {{ name, fetched: false, error: e.name + ": " + e.message }};
  }}
}}
(async () => {{
  const results = [];
  results.push(await call("get", "/whoami", {{ headers: bearer }}));
  results.push(await call("post_json", "/echo", {{
    method: "POST", headers: Object.assign({{ "content-type": "application/json" }}, bearer),
    body: JSON.stringify({{ hello: "api" }}),
  }}));
  results.push(await call("delete", "/echo", {{ method: "DELETE", headers: bearer }}));
  results.push(await call("no_token", "/whoami", {{}}));
  results.push(await call("bad_token", "/whoami", {{ headers: {{ authorization: "Bearer not.a.token" }} }}));
  results.push(await call("patch", "/echo", {{ method: "PATCH", headers: bearer, body: "x" }}));
  results.push(await call("simple_post", "/echo", {{
    method: "POST", headers: {{ "content-type": "text/plain" }}, body: "simple",
  }}));
  document.getElementById("out").textContent = JSON.stringify(results, null, 2);
  await fetch("/results", {{ method: "POST", body: JSON.stringify(results) }});
  const next = {next};
  if (next) location.href = next;
}})();
</script></body></html>"#
    )
}

/// Where the pages report.
#[derive(Default)]
struct Collector {
    results: Mutex<HashMap<String, Value>>,
    arrived: Notify,
}

/// A page server: `/` is the page, `POST /results` stores what it reports under `name`.
fn page_server(name: &'static str, html: String, collector: &Arc<Collector>) -> Router {
    let collector = Arc::clone(collector);
    Router::new()
        .route("/", get(move || async move { Html(html) }))
        .route(
            "/results",
            post(move |body: Bytes| async move {
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                collector
                    .results
                    .lock()
                    .unwrap()
                    .insert(name.to_owned(), value);
                collector.arrived.notify_waiters();
                StatusCode::NO_CONTENT.into_response()
            }),
        )
}

async fn serve(app: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, handle)
}

fn fresh_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("jwt-guard-browser-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Chromium, headless, in its own process group so that the whole group can be ended.
struct Browser {
    child: tokio::process::Child,
    dir: PathBuf,
}

impl Browser {
    fn launch(url: &str) -> Self {
        let dir = fresh_dir();
        let stderr = std::fs::File::create(dir.join("chromium.stderr")).unwrap();
        let child = tokio::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-quic",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Self { child, dir }
    }

    fn stderr_tail(&self) -> String {
        tail(&self.dir.join("chromium.stderr"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the browser's own process group (renderers, zygote, GPU process) by its id.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn result<'a>(results: &'a Value, name: &str) -> &'a Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result {name} in {results:#}"))
}

fn assert_blocked(results: &Value, name: &str) {
    let r = result(results, name);
    assert_eq!(
        r["fetched"], false,
        "{name} was readable by the page: {r:#}"
    );
    assert!(
        r["error"].as_str().unwrap().starts_with("TypeError"),
        "{name}: {r:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_runs_credentialed_calls_from_the_extension_page_and_blocks_the_rest() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-chromium (it installs the Debian package `chromium`) \
         before `cargo test --test browser`"
    );
    let started = Instant::now();

    let issuer = TestIssuer::start().await;
    let log = Arc::new(Log::default());
    let collector = Arc::new(Collector::default());

    // The extension page's origin must be known before the API is configured: bind first.
    let page_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://{}", page_listener.local_addr().unwrap());

    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(
            Cors::new()
                .allow_origins([page_origin.as_str()])
                .allow_credentials(true)
                .allow_methods(["GET", "POST", "DELETE"])
                .allow_headers(["authorization", "content-type"]),
        )
        .build()
        .unwrap();
    let (api_origin, api_server) = serve(api(&guard, &log)).await;
    let token = issuer.token().subject("extension-user").sign();

    let (evil_origin, evil_server) = serve(page_server(
        "evil",
        page("evil page", &api_origin, &token, None),
        &collector,
    ))
    .await;
    let extension = page_server(
        "extension",
        page(
            "extension page",
            &api_origin,
            &token,
            Some(&format!("{evil_origin}/")),
        ),
        &collector,
    );
    let page_server_task = tokio::spawn(async move {
        axum::serve(page_listener, extension).await.unwrap();
    });
    assert_ne!(page_origin, api_origin);
    assert_ne!(evil_origin, page_origin);

    let browser = Browser::launch(&format!("{page_origin}/"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let notified = collector.arrived.notified();
        if collector.results.lock().unwrap().len() == 2 {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no results from the pages within 60 s; got {:?}\nchromium stderr:\n{}",
            collector.results.lock().unwrap(),
            browser.stderr_tail()
        );
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), notified).await;
    }
    drop(browser);
    let results = collector.results.lock().unwrap().clone();
    let ext = &results["extension"];
    let evil = &results["evil"];

    // The extension page: GET, a preflighted JSON POST and DELETE succeed with credentials.
    let get = result(ext, "get");
    assert_eq!(
        (get["fetched"].as_bool(), get["status"].as_u64()),
        (Some(true), Some(200)),
        "{get:#}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(get["body"].as_str().unwrap()).unwrap(),
        json!({"sub": "extension-user"})
    );
    let post = result(ext, "post_json");
    assert_eq!(post["status"], 200, "{post:#}");
    assert_eq!(
        serde_json::from_str::<Value>(post["body"].as_str().unwrap()).unwrap(),
        json!({"method": "POST", "body": "{\"hello\":\"api\"}"})
    );
    let delete = result(ext, "delete");
    assert_eq!(delete["status"], 200, "{delete:#}");
    assert_eq!(
        serde_json::from_str::<Value>(delete["body"].as_str().unwrap()).unwrap()["method"],
        "DELETE"
    );
    let simple = result(ext, "simple_post");
    assert_eq!(simple["status"], 401, "{simple:#}");

    // A 401 and its WWW-Authenticate are readable by the page.
    let missing = result(ext, "no_token");
    assert_eq!(missing["status"], 401, "{missing:#}");
    assert_eq!(missing["www_authenticate"], "Bearer realm=\"jwt-guard\"");
    assert_eq!(missing["content_type"], "application/json");
    let missing_body = serde_json::from_str::<Value>(missing["body"].as_str().unwrap()).unwrap();
    assert_eq!(missing_body["error"], "missing_token");
    assert_eq!(missing_body["reason"], "missing_token");
    let bad = result(ext, "bad_token");
    assert_eq!(bad["status"], 401, "{bad:#}");
    assert!(
        bad["www_authenticate"]
            .as_str()
            .unwrap()
            .starts_with("Bearer realm=\"jwt-guard\", error=\"invalid_token\""),
        "{bad:#}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(bad["body"].as_str().unwrap()).unwrap()["reason"],
        "malformed_token",
        "{bad:#}"
    );

    // A method outside the allowlist is blocked by the browser at the preflight.
    assert_blocked(ext, "patch");

    // Every call from the evil origin is blocked by the browser.
    for name in [
        "get",
        "post_json",
        "delete",
        "no_token",
        "bad_token",
        "patch",
        "simple_post",
    ] {
        assert_blocked(evil, name);
    }

    // What reached the API: the PATCH only as a preflight (answered 403 by the layer), and no
    // handler ever ran for the evil origin.
    let at_layer = log.at_layer.lock().unwrap().clone();
    let at_handler = log.at_handler.lock().unwrap().clone();
    assert!(
        at_layer
            .iter()
            .any(|s| s.method == "OPTIONS" && s.request_method.as_deref() == Some("PATCH")),
        "{at_layer:#?}"
    );
    assert!(
        !at_layer.iter().any(|s| s.method == "PATCH"),
        "{at_layer:#?}"
    );
    assert!(
        at_layer
            .iter()
            .any(|s| s.origin.as_deref() == Some(evil_origin.as_str())),
        "{at_layer:#?}"
    );
    assert!(
        at_handler
            .iter()
            .all(|s| s.origin.as_deref() == Some(page_origin.as_str())),
        "{at_handler:#?}"
    );
    let mut handled: Vec<(String, String)> = at_handler
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    handled.sort();
    assert_eq!(
        handled,
        [
            ("DELETE".to_owned(), "/echo".to_owned()),
            ("GET".to_owned(), "/whoami".to_owned()),
            ("POST".to_owned(), "/echo".to_owned()),
        ]
    );

    api_server.abort();
    evil_server.abort();
    page_server_task.abort();
    eprintln!(
        "browser end-to-end test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A page that calls `/whoami` once with `token` and reports the status, the `Retry-After`
/// and `WWW-Authenticate` it could read, and the body.
fn outage_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>outage</title></head>
<body><pre id="out">running…</pre>
<script>
(async () => {{
  let result;
  try {{
    const r = await fetch({api:?} + "/whoami", {{
      credentials: "include", cache: "no-store",
      headers: {{ authorization: "Bearer " + {token:?} }},
    }});
    result = {{
      fetched: true, status: r.status,
      retry_after: r.headers.get("retry-after"),
      www_authenticate: r.headers.get("www-authenticate"),
      body: await r.text(),
    }};
  }} catch (e) {{
    result = {{ fetched: false, error: e.name + ": " + e.message }};
  }}
  document.getElementById("out").textContent = JSON.stringify(result, null, 2);
  await fetch("/results", {{ method: "POST", body: JSON.stringify(result) }});
}})();
</script></body></html>"#
    )
}

/// The JWKS endpoint is down before the first fetch: the API answers 503 with `Retry-After`,
/// and the extension page (another origin) can read that header, its reason code and status.
/// Without `retry-after` in `Access-Control-Expose-Headers`, `r.headers.get("retry-after")`
/// is `null` in the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_retry_after_from_a_cross_origin_503() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-chromium before `cargo test --test browser`"
    );
    let issuer = TestIssuer::start().await;
    issuer.respond_with(jwt_guard::testing::JwksResponse::Status(500));
    let collector = Arc::new(Collector::default());
    let page_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://{}", page_listener.local_addr().unwrap());
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(
            Cors::new()
                .allow_origins([page_origin.as_str()])
                .allow_credentials(true),
        )
        .build()
        .unwrap();
    let (api_origin, api_server) = serve(api(&guard, &Arc::new(Log::default()))).await;
    let token = issuer.token().subject("extension-user").sign();
    let app = page_server("outage", outage_page(&api_origin, &token), &collector);
    let page_task = tokio::spawn(async move {
        axum::serve(page_listener, app).await.unwrap();
    });

    let browser = Browser::launch(&format!("{page_origin}/"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let notified = collector.arrived.notified();
        if let Some(result) = collector.results.lock().unwrap().get("outage") {
            break result.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no result from the page within 60 s\nchromium stderr:\n{}",
            browser.stderr_tail()
        );
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), notified).await;
    };
    drop(browser);

    assert_eq!(result["fetched"], true, "{result:#}");
    assert_eq!(result["status"], 503, "{result:#}");
    let retry_after: u64 = result["retry_after"]
        .as_str()
        .unwrap_or_else(|| panic!("the page could not read Retry-After: {result:#}"))
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{result:#}");
    assert_eq!(result["www_authenticate"], Value::Null, "{result:#}");
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["reason"], "keys_unavailable");
    assert!(issuer.fetch_count() >= 1);

    api_server.abort();
    page_task.abort();
}
