//! Interop: every marketplace's tokens minted by an independent implementation — PyJWT and
//! `cryptography`, exactly as the vendors' documents show (`tests/interop/mint.py`) — verified
//! through one layer that serves the four marketplaces side by side; and the negative cases:
//! wrong secret, replayed `jti`, stale `iat`, missing required claim, other tenant.
//!
//! Run with `scripts/interop`, which installs PyJWT and cryptography when they are missing.
//! Without them these tests fail; they are never skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_guard::presets::{
    self, AppDirectClaims, BlendrClaims, BlendrSignedQuery, PandiumClaims, VersoriClaims,
};
use jwt_guard::testing::TestIssuer;
use jwt_guard::{JwtGuard, Reason, TokenSource, Verified};
use serde_json::{Value, json};
use tower::ServiceExt;

#[path = "support/whoami.rs"]
mod whoami;
use whoami::whoami;

const PANDIUM_SECRET: &str = "pandium-shared-secret-0123456789abcdef";
const BLENDR_KEY: &str = "blendr-partner-api-key-0123456789abcdef";
const WRONG_SECRET: &str = "not-the-secret-anyone-configured-0123456789";
const VERSORI_ISS: &str = "https://partner.example";
const VERSORI_AUD: &str = "orders-api";
const PARTNER_ID: &str = "PARTNER_ID";

const MISSING: &str = "PyJWT and cryptography are needed by the interop tests: run scripts/interop \
                       (it installs them with `python3 -m pip install 'PyJWT>=2.8' cryptography`)";

/// Everything `mint.py` printed, minted once per test run.
fn minted() -> &'static Value {
    static MINTED: OnceLock<Value> = OnceLock::new();
    MINTED.get_or_init(|| {
        let probe = Command::new("python3")
            .args(["-c", "import jwt, cryptography"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(probe.is_ok_and(|s| s.success()), "{MISSING}");

        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/mint.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let settings = json!({
            "pandium_secret": PANDIUM_SECRET,
            "blendr_key": BLENDR_KEY,
            "wrong_secret": WRONG_SECRET,
            "versori_iss": VERSORI_ISS,
            "versori_aud": VERSORI_AUD,
            "partner_id": PARTNER_ID,
        });
        child
            .stdin
            .take()
            .unwrap()
            .write_all(settings.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "mint.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let minted: Value = serde_json::from_slice(&output.stdout).unwrap();
        eprintln!("tokens minted by PyJWT {}", minted["pyjwt"]);
        minted
    })
}

fn token(marketplace: &str, name: &str) -> String {
    minted()[marketplace]["tokens"][name]
        .as_str()
        .unwrap_or_else(|| panic!("mint.py made no {marketplace} token {name}"))
        .to_owned()
}

/// The four marketplaces in one layer; AppDirect's JWKS (from Python) served on loopback.
async fn market() -> (TestIssuer, Router) {
    let minted = minted();
    let jwks = TestIssuer::start().await;
    jwks.set_jwks(
        minted["appdirect"]["jwks"]["keys"]
            .as_array()
            .unwrap()
            .clone(),
    );
    let pem = minted["versori"]["public_key_pem"].as_str().unwrap();
    let guard = JwtGuard::builder()
        .issuer(presets::appdirect(jwks.jwks_url()).tenants([PARTNER_ID]))
        .issuer(presets::pandium(PANDIUM_SECRET))
        .issuer(presets::blendr(BLENDR_KEY))
        .issuer(presets::versori(pem, VERSORI_ISS, VERSORI_AUD))
        .token_sources([
            TokenSource::Header,
            TokenSource::Query("tenant".into()),
            TokenSource::Query("jwt".into()),
        ])
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|req: Request<Body>| async move { whoami(&req, typed_claims) }),
        )
        .layer(guard.layer());
    (jwks, app)
}

/// The typed claims of the marketplace that issued the token, as `/whoami` shows them.
fn typed_claims(who: &Verified) -> Value {
    match who.issuer_name() {
        "appdirect" => {
            let c: AppDirectClaims = who.claims_as().unwrap();
            json!({"name": c.name, "tenant": c.tenant, "lifetime": c.exp - c.iat})
        }
        "pandium" => {
            let c: PandiumClaims = who.claims_as().unwrap();
            let ti = c.ti.unwrap_or_default();
            json!({"external_id": c.external_id, "uem": ti.uem, "ili": ti.ili,
                   "connector_name": ti.xti_str("connector_name")})
        }
        "blendr" => {
            let c: BlendrClaims = who.claims_as().unwrap();
            json!({"accountid": c.accountid.as_str(), "number": c.accountid.was_number(),
                   "userid": c.userid.map(|u| u.to_string()), "api_key": c.api_key})
        }
        "versori" => {
            let c: VersoriClaims = who.claims_as().unwrap();
            json!({"iss": c.iss, "aud": c.aud})
        }
        other => json!(other),
    }
}

/// `GET uri`, with `Authorization: Bearer token` when given: status, challenge, body.
async fn call(app: &Router, uri: &str, bearer: Option<&str>) -> (StatusCode, String, Value) {
    let mut req = Request::get(uri);
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn accepted(app: &Router, uri: &str, bearer: Option<&str>) -> Value {
    let (status, _, body) = call(app, uri, bearer).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// A [`refused`] row: (label, uri, bearer token, description).
type Refusal<'a> = (&'a str, String, Option<String>, &'a str);

/// Each row is refused: 401 `invalid_token` with its description, the label named in every
/// failure.
async fn refused(app: &Router, rows: impl IntoIterator<Item = Refusal<'_>>) {
    for (label, uri, bearer, description) in rows {
        let (status, challenge, body) = call(app, &uri, bearer.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}: {uri}: {body}");
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"{description}\""
            ),
            "{label}"
        );
        let mut body = body;
        let reason = body["reason"].take();
        assert!(
            jwt_guard::Reason::ALL
                .iter()
                .any(|r| reason.as_str() == Some(r.code())
                    && r.kind().code() == "invalid_token"
                    && r.description() == description),
            "{label}: {reason} is not a reason of {description:?}"
        );
        body.as_object_mut().unwrap().remove("reason");
        assert_eq!(
            body,
            json!({"error": "invalid_token", "error_description": description}),
            "{label}"
        );
    }
}

/// [`refused`] rows: each (token name, description) of `marketplace`, in the header.
fn in_header<'a>(marketplace: &str, rows: &[(&'a str, &'a str)]) -> Vec<Refusal<'a>> {
    rows.iter()
        .map(|&(name, description)| {
            let bearer = Some(token(marketplace, name));
            (name, "/whoami".to_owned(), bearer, description)
        })
        .collect()
}

/// [`refused`] rows: each (token name, description) of `marketplace`, in the query `param`.
fn in_query<'a>(marketplace: &str, param: &str, rows: &[(&'a str, &'a str)]) -> Vec<Refusal<'a>> {
    rows.iter()
        .map(|&(name, description)| {
            let uri = format!("/whoami?{param}={}", token(marketplace, name));
            (name, uri, None, description)
        })
        .collect()
}

#[tokio::test]
async fn appdirect_tokens_minted_by_pyjwt() {
    let (jwks, app) = market().await;
    let who = accepted(&app, "/whoami", Some(&token("appdirect", "rs256"))).await;
    assert_eq!(
        (who["issuer"].as_str(), who["alg"].as_str()),
        (Some("appdirect"), Some("RS256"))
    );
    assert_eq!(who["tenant"], PARTNER_ID);
    assert_eq!(
        who["typed"],
        json!({"name": "user@example.com", "tenant": PARTNER_ID, "lifetime": 300})
    );
    let who = accepted(&app, "/whoami", Some(&token("appdirect", "es256"))).await;
    assert_eq!(who["alg"], "ES256");
    assert_eq!(jwks.fetch_count(), 1);

    // Other tenant: 403 insufficient_scope.
    let (status, challenge, body) =
        call(&app, "/whoami", Some(&token("appdirect", "other_tenant"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        challenge,
        "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
    );
    assert_eq!(body["error"], "insufficient_scope");

    let rows = [
        ("missing_tenant", "a required claim is missing"),
        ("expired", "the token has expired"),
        ("long_lived", "the token lifetime is too long"),
        ("wrong_key", "the token signature is invalid"),
    ];
    refused(&app, in_header("appdirect", &rows)).await;
}

#[tokio::test]
async fn pandium_tokens_minted_by_pyjwt() {
    let (_jwks, app) = market().await;

    // The sample backend's token, in `?tenant=` as Pandium passes it.
    let sample = token("pandium", "sample_backend");
    let who = accepted(&app, &format!("/whoami?tenant={sample}&view=list"), None).await;
    assert_eq!(who["issuer"], "pandium");
    assert_eq!(who["sub"], "user@vendor.example");
    assert_eq!(who["uri"], "/whoami?view=list");
    assert_eq!(who["typed"]["external_id"], "");

    // The JWT page's payload, and the install-only flow's.
    let who = accepted(
        &app,
        &format!("/whoami?tenant={}", token("pandium", "documented")),
        None,
    )
    .await;
    assert_eq!(who["sub"], "test-pandium-com");
    assert_eq!(who["typed"]["uem"], "test@pandium.com");
    assert_eq!(
        who["typed"]["ili"],
        json!(["new-id", "something-different"])
    );
    let who = accepted(
        &app,
        &format!("/whoami?tenant={}", token("pandium", "install_only")),
        None,
    )
    .await;
    assert_eq!(who["typed"]["connector_name"], "gwt");

    // Replayed jti, wrong secret, stale iat, missing required claims.
    let used = "the token was already used";
    let mut rows: Vec<Refusal<'_>> = vec![
        (
            "replayed in the query",
            format!("/whoami?tenant={sample}"),
            None,
            used,
        ),
        (
            "replayed in the header",
            "/whoami".to_owned(),
            Some(sample),
            used,
        ),
    ];
    rows.extend(in_query(
        "pandium",
        "tenant",
        &[
            ("wrong_secret", "the token signature is invalid"),
            ("stale_iat", "the token is too old"),
            ("missing_sub", "a required claim is missing"),
            ("missing_jti", "a required claim is missing"),
        ],
    ));
    refused(&app, rows).await;
}

#[tokio::test]
async fn blendr_tokens_minted_by_pyjwt() {
    let (_jwks, app) = market().await;

    let documented = token("blendr", "documented");
    let who = accepted(&app, &format!("/whoami?jwt={documented}"), None).await;
    assert_eq!(
        (who["issuer"].as_str(), who["tenant"].as_str()),
        (Some("blendr"), Some("123"))
    );
    assert_eq!(who["uri"], "/whoami");
    assert_eq!(
        who["typed"],
        json!({"accountid": "123", "number": true, "userid": null, "api_key": "abcde12345"})
    );
    // The same token in the header.
    accepted(&app, "/whoami", Some(&documented)).await;
    let who = accepted(&app, "/whoami", Some(&token("blendr", "string_accountid"))).await;
    assert_eq!(who["tenant"], "acme-42");
    assert_eq!(who["typed"]["number"], false);
    assert_eq!(who["typed"]["userid"], "456");

    let rows = [
        ("wrong_key", "the token signature is invalid"),
        ("stale_iat", "the token is too old"),
        ("missing_accountid", "a required claim is missing"),
    ];
    refused(&app, in_query("blendr", "jwt", &rows)).await;
}

#[tokio::test]
async fn blendr_signed_queries_made_by_python() {
    let query = |name: &str| {
        minted()["blendr"]["queries"][name]
            .as_str()
            .unwrap_or_else(|| panic!("mint.py made no query {name}"))
            .to_owned()
    };
    let verifier = BlendrSignedQuery::new(BLENDR_KEY).unwrap();

    let documented = query("documented");
    let who = verifier.verify(&documented).await.unwrap();
    assert_eq!(who.accountid(), "123");
    assert_eq!(who.accountname(), Some("John"));
    assert_eq!(who.userid(), Some("456"));
    let who = verifier.verify(&query("with_credentials")).await.unwrap();
    assert_eq!(who.useremail(), Some("jane+sso@acme.example"));
    assert_eq!(who.username(), Some("Jane Doe"));
    assert_eq!(who.param("apikey"), Some("k3y/=&x"));

    let reason = |q: String| {
        let verifier = &verifier;
        async move { verifier.verify(&q).await.unwrap_err().reason() }
    };
    assert_eq!(reason(documented).await, Reason::Replayed);
    assert_eq!(reason(query("stale")).await, Reason::TooOld);
    assert_eq!(reason(query("wrong_key")).await, Reason::BadSignature);
    assert_eq!(reason(query("tampered")).await, Reason::BadSignature);
}

#[tokio::test]
async fn versori_style_tokens_minted_by_pyjwt() {
    let (_jwks, app) = market().await;
    let who = accepted(&app, "/whoami", Some(&token("versori", "valid"))).await;
    assert_eq!(
        (who["issuer"].as_str(), who["alg"].as_str()),
        (Some("versori"), Some("EdDSA"))
    );
    assert_eq!(who["sub"], "end-user-7");
    assert_eq!(
        who["typed"],
        json!({"iss": VERSORI_ISS, "aud": [VERSORI_AUD]})
    );
    let who = accepted(&app, "/whoami", Some(&token("versori", "audience_list"))).await;
    assert_eq!(who["typed"]["aud"], json!(["billing-api", VERSORI_AUD]));

    let rows = [
        ("wrong_aud", "the token audience is not accepted"),
        // Another `iss` is not routed to the partner's key: no issuer without `iss` takes EdDSA.
        ("wrong_iss", "the token algorithm is not allowed"),
        ("missing_sub", "a required claim is missing"),
    ];
    refused(&app, in_header("versori", &rows)).await;
}
