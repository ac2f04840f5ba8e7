//! A marketplace extension page calling a protected API from another origin, to watch in a
//! browser.
//!
//!     cargo run --example extension
//!
//! It serves two things on loopback and prints both URLs:
//! - the **extension page** (one origin): it fetches a fresh token from its own origin (as a
//!   marketplace would hand one to its extension) and calls the API with
//!   `credentials: "include"` and `Authorization: Bearer …`;
//! - the **protected API** (another origin, another port): `GET /whoami` and any method on
//!   `/echo`, behind `guard.layer()`, with CORS allowing only the page's origin, credentials,
//!   and the methods GET, POST and DELETE.
//!
//! Open the page and watch: GET, a preflighted JSON POST and DELETE succeed; the 401 of a call
//! without a token is readable with its `WWW-Authenticate`; a PATCH is blocked by the browser
//! at the preflight. Open the API's own URL directly to see a foreign origin refused.
//!
//! Tokens come from the crate's test issuer (`jwt_guard::testing`): an RSA key generated at
//! start, its JWKS served on a third loopback port. Options: `--page ADDR`, `--api ADDR`
//! (default `127.0.0.1:0`, any free port). Stops on Ctrl-C.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::Html;
use axum::routing::{any, get};
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Cors, JwtGuard, Verified};
use serde_json::json;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,jwt_guard=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (page_addr, api_addr) = addresses()?;

    // Bind both first: the API's CORS list needs the page's origin, the page needs the API's.
    let page_listener = TcpListener::bind(page_addr).await?;
    let api_listener = TcpListener::bind(api_addr).await?;
    let page_origin = format!("http://{}", page_listener.local_addr()?);
    let api_origin = format!("http://{}", api_listener.local_addr()?);

    let issuer = Arc::new(TestIssuer::start().await);
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(
            Cors::new()
                .allow_origins([page_origin.as_str()])
                .allow_credentials(true)
                .allow_methods(["GET", "POST", "DELETE"])
                .allow_headers(["authorization", "content-type"]),
        )
        .build()?;

    let api = Router::new()
        .route(
            "/whoami",
            get(|req: Request| async move {
                let who = req.extensions().get::<Verified>().cloned();
                axum::Json(json!({
                    "issuer": who.as_ref().map(|w| w.issuer_name().to_owned()),
                    "sub": who.as_ref().and_then(|w| w.subject().map(str::to_owned)),
                }))
            }),
        )
        .route(
            "/echo",
            any(|req: Request| async move {
                let method = req.method().to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 16)
                    .await
                    .unwrap_or_default();
                axum::Json(json!({ "method": method, "body": String::from_utf8_lossy(&body) }))
            }),
        )
        .layer(guard.layer());

    let html = PAGE.replace("__API__", &api_origin);
    let page = Router::new()
        .route("/", get(move || async move { Html(html) }))
        .route(
            "/token",
            get(move || {
                let issuer = Arc::clone(&issuer);
                async move { issuer.token().subject("extension-user").sign() }
            }),
        );

    println!("extension page: {page_origin}/");
    println!("protected API:  {api_origin}/whoami (CORS allows {page_origin} only)");
    println!("press Ctrl-C to stop");

    tokio::select! {
        served = axum::serve(api_listener, api) => served?,
        served = axum::serve(page_listener, page) => served?,
        signal = tokio::signal::ctrl_c() => signal?,
    }
    Ok(())
}

fn addresses() -> Result<(SocketAddr, SocketAddr), Box<dyn Error>> {
    let mut page: SocketAddr = "127.0.0.1:0".parse()?;
    let mut api: SocketAddr = "127.0.0.1:0".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{arg} needs an address"))?;
        match arg.as_str() {
            "--page" => page = value.parse()?,
            "--api" => api = value.parse()?,
            _ => {
                return Err(
                    format!("unknown argument {arg}; use --page ADDR and --api ADDR").into(),
                );
            }
        }
    }
    Ok((page, api))
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>jwt-guard extension demo</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  button { margin: .2rem; }
  .ok { color: #176b2c; } .refused { color: #8a5a00; } .blocked { color: #b00020; }
  pre { background: #f4f4f4; padding: .6rem; white-space: pre-wrap; }
</style></head>
<body>
<h1>Extension page</h1>
<p>This page's origin is <code id="origin"></code>. It calls the API on <code>__API__</code>
with <code>credentials: "include"</code> and a bearer token fetched from this origin's
<code>/token</code>.</p>
<p>
  <button data-call="get">GET /whoami</button>
  <button data-call="post">POST /echo (JSON, preflighted)</button>
  <button data-call="delete">DELETE /echo</button>
  <button data-call="missing">GET /whoami without token (401)</button>
  <button data-call="patch">PATCH /echo (not allowed)</button>
  <button id="clear">clear</button>
</p>
<div id="log"></div>
<script>
const API = "__API__";
document.getElementById("origin").textContent = location.origin;
const calls = {
  get: (t) => ["GET /whoami", "/whoami", { headers: { authorization: "Bearer " + t } }],
  post: (t) => ["POST /echo", "/echo", { method: "POST",
    headers: { authorization: "Bearer " + t, "content-type": "application/json" },
    body: JSON.stringify({ hello: "api" }) }],
  delete: (t) => ["DELETE /echo", "/echo", { method: "DELETE", headers: { authorization: "Bearer " + t } }],
  missing: () => ["GET /whoami (no token)", "/whoami", {}],
  patch: (t) => ["PATCH /echo", "/echo", { method: "PATCH", headers: { authorization: "Bearer " + t }, body: "x" }],
};
function show(title, cls, text) {
  const div = document.createElement("div");
  const h = document.createElement("h3");
  h.textContent = title; h.className = cls;
  const pre = document.createElement("pre");
  pre.textContent = text;
  div.append(h, pre);
  document.getElementById("log").prepend(div);
}
async function run(which) {
  const token = await (await fetch("/token")).text();
  const [title, path, init] = calls[which](token);
  try {
    const r = await fetch(API + path, Object.assign({ credentials: "include", cache: "no-store" }, init));
    const www = r.headers.get("www-authenticate");
    show(title + " → " + r.status, r.ok ? "ok" : "refused",
      (www ? "WWW-Authenticate: " + www + "\n" : "") + await r.text());
  } catch (e) {
    show(title + " → blocked by the browser", "blocked",
      e.name + ": " + e.message + "\n(see the console: the preflight was refused)");
  }
}
document.querySelectorAll("button[data-call]").forEach((b) => b.onclick = () => run(b.dataset.call));
document.getElementById("clear").onclick = () => document.getElementById("log").textContent = "";
(async () => { for (const c of ["patch", "missing", "delete", "post", "get"]) await run(c); })();
</script>
</body></html>
"#;
