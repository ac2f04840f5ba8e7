//! The walk-through: `cargo run --example demo`.
//!
//! Everything runs on loopback, in this process: a marketplace that generates its keys and
//! serves them as a JWKS, an API behind jwt-guard, and an HTTP client that makes the calls a
//! developer wants to see — a valid token, then the usual ways a token goes wrong. Each call is
//! printed (request, status, `WWW-Authenticate`, body) and checked: the demo exits non-zero if
//! any answer is not the expected one, so CI catches a regression.
//!
//! `RUST_LOG=jwt_guard=debug cargo run --example demo` also shows the layer's log lines.

use std::process::ExitCode;
use std::time::Duration;

use axum::extract::Extension;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_guard::testing::{TestIssuer, TestKey};
use jwt_guard::{Algorithm, JwtGuard, Verified};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// `println!` that ignores a closed stdout (`cargo run --example demo | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

const ISS: &str = "https://marketplace.example";
const REALM: &str = "orders-api";

/// One call of the walk-through and the answer it must get.
struct Step {
    title: &'static str,
    token: Option<String>,
    status: u16,
    challenge: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // The marketplace: an RSA and an EC key, their JWKS served on 127.0.0.1.
    let mut marketplace = TestIssuer::start().await;

    // The API: one route behind the layer.
    let guard = JwtGuard::builder()
        .realm(REALM)
        .issuer(
            marketplace
                .issuer()
                .name("marketplace")
                .issuer(ISS)
                .tenant_claim("tenant")
                .tenants(["acme"])
                .max_lifetime(Duration::from_secs(600)),
        )
        .build()?;
    let app = Router::new()
        .route("/orders", get(orders))
        .layer(guard.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    say!("jwt-guard demo");
    say!("  marketplace JWKS  {}", marketplace.jwks_url());
    say!("  protected API     {api}/orders");
    say!(
        "  issuer            iss = {ISS}, tenant claim `tenant`, allowed tenants [acme], realm {REALM:?}"
    );

    let now = now()?;
    let valid = marketplace
        .token()
        .issuer(ISS)
        .subject("alice")
        .tenant("acme")
        .sign();
    let expired = marketplace
        .token()
        .issuer(ISS)
        .subject("alice")
        .tenant("acme")
        .claim("iat", now - 900)
        .claim("exp", now - 600)
        .sign();
    let other_tenant = marketplace
        .token()
        .issuer(ISS)
        .subject("bob")
        .tenant("globex")
        .sign();
    let tampered = tamper(&valid)?;
    marketplace.add_key(TestKey::rsa("rogue-1", Algorithm::RS256), false);
    marketplace.use_key("rogue-1");
    let unknown_kid = marketplace
        .token()
        .issuer(ISS)
        .subject("alice")
        .tenant("acme")
        .sign();
    marketplace.use_key("rsa-1");

    let invalid = |description: &str| {
        Some(format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
        ))
    };
    let steps = [
        Step {
            title: "a valid token for tenant acme: the handler gets the verified identity",
            token: Some(valid),
            status: 200,
            challenge: None,
        },
        Step {
            title: "an expired token (exp ten minutes ago)",
            token: Some(expired),
            status: 401,
            challenge: invalid("the token has expired"),
        },
        Step {
            title: "a valid token for tenant globex, which is not on the allowlist",
            token: Some(other_tenant),
            status: 403,
            challenge: Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\""
            )),
        },
        Step {
            title: "a tampered token (sub changed to mallory, signature kept)",
            token: Some(tampered),
            status: 401,
            challenge: invalid("the token signature is invalid"),
        },
        Step {
            title: "a token signed by a key the marketplace never published (kid rogue-1)",
            token: Some(unknown_kid),
            status: 401,
            challenge: invalid("the token key id is unknown"),
        },
        Step {
            title: "no token at all",
            token: None,
            status: 401,
            challenge: Some(format!("Bearer realm=\"{REALM}\"")),
        },
    ];

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        say!();
        say!("{}. {}", i + 1, step.title);
        say!("   GET {api}/orders");
        let mut request = client.get(format!("{api}/orders"));
        if let Some(token) = &step.token {
            say!("   Authorization: Bearer {}", describe(token));
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        say!("   → {status}");
        if let Some(challenge) = &challenge {
            say!("   WWW-Authenticate: {challenge}");
        }
        say!("   {}", pretty(&body).replace('\n', "\n   "));

        if status.as_u16() != step.status || challenge != step.challenge {
            say!(
                "   ✗ expected {} with WWW-Authenticate {:?}",
                step.status,
                step.challenge.as_deref().unwrap_or("(none)")
            );
            failures.push(i + 1);
        } else if step.status == 200 && !identity_is_alice(&body) {
            say!("   ✗ expected the identity of alice of tenant acme");
            failures.push(i + 1);
        }
    }

    say!();
    say!(
        "The JWKS was fetched {} time(s): keys are cached, and an unknown kid refetches at most once per cooldown.",
        marketplace.fetch_count()
    );
    if failures.is_empty() {
        say!("All {} calls got the expected answer.", steps.len());
        Ok(true)
    } else {
        say!("Unexpected answers at step(s) {failures:?}.");
        Ok(false)
    }
}

/// The protected handler: the layer has put the verified identity in the extensions.
async fn orders(Extension(who): Extension<Verified>) -> Json<Value> {
    Json(json!({
        "issuer": who.issuer_name(),
        "kid": who.kid(),
        "alg": who.algorithm().as_str(),
        "sub": who.subject(),
        "tenant": who.tenant(),
        "orders": [{"id": 1, "item": "coffee beans"}],
    }))
}

fn identity_is_alice(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let field = |name: &str| v.get(name).and_then(Value::as_str);
    field("issuer") == Some("marketplace")
        && field("sub") == Some("alice")
        && field("tenant") == Some("acme")
        && field("kid") == Some("rsa-1")
        && field("alg") == Some("RS256")
}

/// The same token with `sub` rewritten in the payload; header and signature untouched.
fn tamper(token: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = parts.get_mut(1).ok_or("not a JWS")?;
    let mut claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.as_bytes())?)?;
    claims.insert("sub".into(), json!("mallory"));
    *payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
    Ok(parts.join("."))
}

/// `<534 bytes, RS256, kid rsa-1> {"exp":…,"sub":"alice",…}`: what is inside, readably.
fn describe(token: &str) -> String {
    let decode = |part: Option<&str>| -> Value {
        part.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    let mut parts = token.split('.');
    let header = decode(parts.next());
    let claims = decode(parts.next());
    format!(
        "<{} bytes, {}, kid {}>\n   claims: {claims}",
        token.len(),
        header.get("alg").and_then(Value::as_str).unwrap_or("?"),
        header.get("kid").and_then(Value::as_str).unwrap_or("-"),
    )
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

fn now() -> Result<u64, std::time::SystemTimeError> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}
