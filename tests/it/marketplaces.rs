//! Every seed marketplace in ONE layer, side by side: AppDirect (JWKS, RS256/ES256), Pandium
//! (HS256 secret, `?tenant=`), Blendr (HS256 API key, `?jwt=` or the header) and a Versori-style
//! partner (fixed PEM key with `iss` and `aud`).
//!
//! Routing: a token whose `iss` names an issuer goes to it alone; any other token goes to the
//! issuers without `issuer`, shared secrets tried in turn, one asymmetric check at most. A key
//! verifies only for its own issuer.
//!
//! Replays, and the documented decision for a full store: the in-memory store never forgets a
//! live `jti` to make room; when it is full (even after dropping every expired `jti`) a new
//! `jti` is refused with 503 `temporarily_unavailable` and `Retry-After: 1`, while a `jti`
//! already recorded is still a replay (401). Room comes back as recorded tokens expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use jwt_guard::presets::{self, AppDirectClaims, BlendrClaims, PandiumClaims, VersoriClaims};
use jwt_guard::testing::{TestIssuer, TestKey, TokenBuilder};
use jwt_guard::{
    Algorithm, Config, Issuer, JwtGuard, ManualClock, MemoryReplayStore, Reason, TokenSource,
    Verified,
};
use serde_json::{Value, json};

use crate::common::{get_with, reason_for, send};
use crate::whoami::whoami;

const PANDIUM_SECRET: &str = "pandium-shared-secret-0123456789abcdef";
const BLENDR_KEY: &str = "blendr-partner-api-key-0123456789abcdef";
const VERSORI_ISS: &str = "https://partner.example";
const VERSORI_AUD: &str = "orders-api";
const PARTNER_ID: &str = "PARTNER_ID";

fn invalid_token(description: &str) -> String {
    format!(
        "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

/// A fresh `jti` for every token minted in this module.
fn jti() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("jti-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The four marketplaces' keys and a clock shared by the guard and the minting.
struct Market {
    clock: ManualClock,
    appdirect: TestIssuer,
    pandium: Arc<TestKey>,
    blendr: Arc<TestKey>,
    versori: Arc<TestKey>,
}

impl Market {
    async fn start() -> Self {
        let clock = ManualClock::starting_now();
        Self {
            appdirect: TestIssuer::start().await.with_clock(clock.clone()),
            pandium: Arc::new(TestKey::hmac(PANDIUM_SECRET.as_bytes(), Algorithm::HS256)),
            blendr: Arc::new(TestKey::hmac(BLENDR_KEY.as_bytes(), Algorithm::HS256)),
            versori: Arc::new(TestKey::ec("versori-1", Algorithm::ES256)),
            clock,
        }
    }

    fn issuers(&self) -> Vec<Issuer> {
        vec![
            presets::appdirect(self.appdirect.jwks_url()).tenants([PARTNER_ID]),
            presets::pandium(PANDIUM_SECRET),
            presets::blendr(BLENDR_KEY),
            presets::versori(
                self.versori.public_key_pem().unwrap(),
                VERSORI_ISS,
                VERSORI_AUD,
            ),
        ]
    }

    fn builder(&self) -> jwt_guard::JwtGuardBuilder {
        let mut builder = JwtGuard::builder();
        for issuer in self.issuers() {
            builder = builder.issuer(issuer);
        }
        builder
            .token_sources([
                TokenSource::Header,
                TokenSource::Query("tenant".into()),
                TokenSource::Query("jwt".into()),
            ])
            .clock(self.clock.clone())
    }

    fn guard(&self) -> JwtGuard {
        self.builder().build().unwrap()
    }

    fn now(&self) -> u64 {
        self.clock.unix_seconds()
    }

    /// AppDirect's documented payload, signed by the marketplace's `rsa-1` key.
    fn appdirect_token(&self) -> TokenBuilder {
        self.appdirect
            .token()
            .subject("abf32c52-801c-4a40-8da0-82096fe455dd")
            .claim("name", "user@example.com")
            .tenant(PARTNER_ID)
    }

    /// Pandium's documented payload: no `exp`, a fresh `jti`, the `ti` object.
    fn pandium_token(&self) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.pandium), self.now())
            .without("exp")
            .claim("jti", jti())
            .subject("test-pandium-com")
            .claim(
                "ti",
                json!({
                    "udn": "Pandium Test", "ufn": "Important Person", "uem": "test@pandium.com",
                    "ili": ["new-id", "something-different"], "aid": "", "adn": "",
                    "xti": {"extraProp": "extra value", "extraList": ["bla", "listVal"]}
                }),
            )
    }

    /// Blendr's documented payload: `accountid`, `accountname`, `iat`, `api_key`; no `exp`.
    fn blendr_token(&self, accountid: Value) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.blendr), self.now())
            .without("exp")
            .claim("accountid", accountid)
            .claim("accountname", "ACME")
            .claim("api_key", "abcde12345")
    }

    /// A partner token: `iss`, `aud`, `sub`, one hour at most.
    fn versori_token(&self) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.versori), self.now())
            .issuer(VERSORI_ISS)
            .audience(VERSORI_AUD)
            .subject("end-user-7")
            .expires_in(600)
    }
}

/// `/whoami` answers the identity, the URI the handler saw, and the typed claims of the
/// marketplace that issued the token.
fn market_app(guard: &JwtGuard) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|req: Request<Body>| async move { whoami(&req, typed_claims) }),
        )
        .layer(guard.layer())
}

/// The typed claims of the marketplace that issued the token, as `/whoami` shows them.
fn typed_claims(who: &Verified) -> Value {
    match who.issuer_name() {
        "appdirect" => {
            let c: AppDirectClaims = who.claims_as().unwrap();
            json!({"sub": c.sub, "name": c.name, "tenant": c.tenant, "lifetime": c.exp - c.iat})
        }
        "pandium" => {
            let c: PandiumClaims = who.claims_as().unwrap();
            let ti = c.ti.unwrap_or_default();
            json!({"sub": c.sub, "jti": c.jti, "uem": ti.uem, "ili": ti.ili,
                   "extraProp": ti.xti_str("extraProp")})
        }
        "blendr" => {
            let c: BlendrClaims = who.claims_as().unwrap();
            json!({"accountid": c.accountid.as_str(), "number": c.accountid.was_number(),
                   "accountname": c.accountname, "api_key": c.api_key})
        }
        "versori" => {
            let c: VersoriClaims = who.claims_as().unwrap();
            json!({"sub": c.sub, "iss": c.iss, "aud": c.aud})
        }
        other => json!(other),
    }
}

fn plain(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn ok_json(app: &Router, req: Request<Body>) -> Value {
    let (res, body) = send(app, req).await;
    assert_eq!(res.status(), StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Asserts a 401 `invalid_token` with this description, and its JSON body.
fn assert_invalid(res: &Response<()>, body: &str, description: &str) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        invalid_token(description).as_str()
    );
    let mut json: Value = serde_json::from_str(body).unwrap();
    let reason = json["reason"].take();
    assert!(
        reason_for(&reason, "invalid_token", description),
        "{reason} is not a reason of {description:?}"
    );
    json.as_object_mut().unwrap().remove("reason");
    assert_eq!(
        json,
        json!({"error": "invalid_token", "error_description": description})
    );
}

#[tokio::test]
async fn four_marketplaces_verify_side_by_side_in_one_layer() {
    let mut market = Market::start().await;
    let app = market_app(&market.guard());

    // AppDirect, RS256 from the JWKS, in the header.
    let who = ok_json(&app, get_with("/whoami", &market.appdirect_token().sign())).await;
    assert_eq!(who["issuer"], "appdirect");
    assert_eq!(who["alg"], "RS256");
    assert_eq!(who["tenant"], PARTNER_ID);
    assert_eq!(
        who["typed"],
        json!({"sub": "abf32c52-801c-4a40-8da0-82096fe455dd", "name": "user@example.com",
               "tenant": PARTNER_ID, "lifetime": 300})
    );
    // AppDirect, ES256 with the other key of the set.
    market.appdirect.use_key("ec-1");
    let who = ok_json(&app, get_with("/whoami", &market.appdirect_token().sign())).await;
    assert_eq!(
        (who["issuer"].as_str(), who["alg"].as_str()),
        (Some("appdirect"), Some("ES256"))
    );
    assert_eq!(market.appdirect.fetch_count(), 1);

    // Pandium, in `?tenant=`, which the handler never sees.
    let token = market.pandium_token().sign();
    let who = ok_json(&app, plain(&format!("/whoami?page=2&tenant={token}"))).await;
    assert_eq!(who["issuer"], "pandium");
    assert_eq!(who["sub"], "test-pandium-com");
    assert_eq!(who["tenant"], Value::Null);
    assert_eq!(who["uri"], "/whoami?page=2");
    assert_eq!(who["typed"]["uem"], "test@pandium.com");
    assert_eq!(
        who["typed"]["ili"],
        json!(["new-id", "something-different"])
    );
    assert_eq!(who["typed"]["extraProp"], "extra value");

    // Blendr, numeric accountid in `?jwt=`, string accountid in the header.
    let token = market.blendr_token(json!(123)).sign();
    let who = ok_json(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_eq!(who["issuer"], "blendr");
    assert_eq!(who["tenant"], "123");
    assert_eq!(who["uri"], "/whoami");
    assert_eq!(
        who["typed"],
        json!({"accountid": "123", "number": true, "accountname": "ACME", "api_key": "abcde12345"})
    );
    let token = market.blendr_token(json!("acme-42")).sign();
    let who = ok_json(&app, get_with("/whoami", &token)).await;
    assert_eq!(
        (who["issuer"].as_str(), who["tenant"].as_str()),
        (Some("blendr"), Some("acme-42"))
    );
    assert_eq!(who["typed"]["number"], false);

    // Versori-style partner, routed by `iss`.
    let who = ok_json(&app, get_with("/whoami", &market.versori_token().sign())).await;
    assert_eq!(who["issuer"], "versori");
    assert_eq!(who["alg"], "ES256");
    assert_eq!(
        who["typed"],
        json!({"sub": "end-user-7", "iss": VERSORI_ISS, "aud": [VERSORI_AUD]})
    );
}

#[tokio::test]
async fn each_marketplace_keeps_its_own_rules() {
    let market = Market::start().await;
    let app = market_app(&market.guard());

    // AppDirect: another partner is 403; a lifetime over 10 minutes, or no tenant, is 401.
    let (res, body) = send(
        &app,
        get_with("/whoami", &market.appdirect_token().tenant("OTHER").sign()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
    );
    let token = market.appdirect_token().expires_in(601).sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token lifetime is too long");
    let token = market.appdirect_token().without("tenant").sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "a required claim is missing");

    // Pandium: older than 5 minutes (+30 s leeway), or without `sub`.
    let token = market
        .pandium_token()
        .claim("iat", market.now() - 331)
        .sign();
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
    assert_invalid(&res, &body, "the token is too old");
    let token = market.pandium_token().without("sub").sign();
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");
    let token = market.pandium_token().without("jti").sign();
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");

    // Blendr: `accountid` required, and a number or a string only.
    let token = market.blendr_token(json!(1)).without("accountid").sign();
    let (res, body) = send(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");
    let token = market.blendr_token(json!(1.5)).sign();
    let (res, body) = send(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_invalid(&res, &body, "the tenant claim is missing or malformed");
    let token = market.blendr_token(json!(1)).without("iat").sign();
    let (res, body) = send(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");

    // Versori: the audience must be ours.
    let token = market.versori_token().audience("billing-api").sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token audience is not accepted");
}

#[tokio::test]
async fn routing_by_iss_and_a_key_verifies_only_for_its_own_issuer() {
    let market = Market::start().await;
    let app = market_app(&market.guard());

    // The partner's key without `iss`: the token goes to the issuers without `issuer`, where
    // the partner's key is not, never to `versori`.
    let token = market.versori_token().without("iss").sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token key id is unknown");
    // An `iss` that no issuer names goes there too.
    let token = market
        .versori_token()
        .issuer("https://other.example")
        .sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token key id is unknown");

    // AppDirect's EC key claiming to be the partner: only the partner's key is tried.
    let token = TokenBuilder::new(market.appdirect.key("ec-1").unwrap(), market.now())
        .issuer(VERSORI_ISS)
        .audience(VERSORI_AUD)
        .subject("end-user-7")
        .sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token signature is invalid");

    // Shared secrets are tried in turn, yet each verifies for its own issuer only: Pandium's
    // secret on a Blendr-shaped token is judged by Pandium's rules (no `sub`, no `jti`)...
    let token = TokenBuilder::new(Arc::clone(&market.pandium), market.now())
        .without("exp")
        .claim("accountid", 123)
        .sign();
    let (res, body) = send(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");
    // ... and Blendr's key on a Pandium-shaped token by Blendr's (no `accountid`).
    let token = TokenBuilder::new(Arc::clone(&market.blendr), market.now())
        .without("exp")
        .subject("test-pandium-com")
        .claim("jti", jti())
        .sign();
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
    assert_invalid(&res, &body, "a required claim is missing");
    // A secret no issuer holds.
    let stranger = Arc::new(TestKey::hmac(
        b"a-secret-that-nobody-configured-at-all",
        Algorithm::HS256,
    ));
    let token = TokenBuilder::new(stranger, market.now())
        .without("exp")
        .claim("accountid", 1)
        .sign();
    let (res, body) = send(&app, plain(&format!("/whoami?jwt={token}"))).await;
    assert_invalid(&res, &body, "the token signature is invalid");
    // An HS256 token naming the partner's `iss`: the partner has no secret.
    let token = market.blendr_token(json!(1)).issuer(VERSORI_ISS).sign();
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token algorithm is not allowed");
}

#[tokio::test]
async fn shared_secret_issuers_with_iss_are_routed_by_it() {
    let clock = ManualClock::starting_now();
    let secret_a = "partner-a-shared-secret-0123456789abcdef";
    let secret_b = "partner-b-shared-secret-0123456789abcdef";
    let guard = JwtGuard::builder()
        .issuer(
            Issuer::secret(secret_a)
                .name("a")
                .issuer("https://a.example"),
        )
        .issuer(
            Issuer::secret(secret_b)
                .name("b")
                .issuer("https://b.example"),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = market_app(&guard);
    let key_a = Arc::new(TestKey::hmac(secret_a.as_bytes(), Algorithm::HS256));
    let mint = |iss: Option<&str>| {
        let t = TokenBuilder::new(Arc::clone(&key_a), clock.unix_seconds()).subject("u");
        match iss {
            Some(iss) => t.issuer(iss).sign(),
            None => t.sign(),
        }
    };

    let who = ok_json(&app, get_with("/whoami", &mint(Some("https://a.example")))).await;
    assert_eq!(who["issuer"], "a");
    // A's secret never passes as B, even when the token names B.
    let (res, body) = send(&app, get_with("/whoami", &mint(Some("https://b.example")))).await;
    assert_invalid(&res, &body, "the token signature is invalid");
    // Without `iss` there is no issuer to try: both name one.
    let (res, body) = send(&app, get_with("/whoami", &mint(None))).await;
    assert_invalid(&res, &body, "the token issuer is not accepted");
    // Nor through the API.
    assert_eq!(
        guard
            .verify(&mint(Some("https://b.example")))
            .await
            .unwrap_err()
            .reason(),
        Reason::BadSignature
    );
}

#[tokio::test]
async fn ambiguous_configurations_are_build_errors() {
    let market = Market::start().await;
    let pem_a = market.versori.public_key_pem().unwrap();
    let pem_b = TestKey::rsa("other", Algorithm::RS256)
        .public_key_pem()
        .unwrap();
    let error_key = |issuers: Vec<Issuer>| {
        let mut builder = JwtGuard::builder();
        for issuer in issuers {
            builder = builder.issuer(issuer);
        }
        builder
            .build()
            .err()
            .map(|e| e.key().unwrap_or("").to_owned())
    };

    // Two fixed keys without `issuer` for the same algorithms: refused.
    assert_eq!(
        error_key(vec![
            Issuer::public_key_pem(&pem_a),
            Issuer::public_key_pem(&pem_b)
        ])
        .as_deref(),
        Some("issuers[1]")
    );
    // A fixed key and a JWKS, both without `issuer`: refused.
    assert_eq!(
        error_key(vec![
            presets::appdirect(market.appdirect.jwks_url()),
            Issuer::public_key_pem(&pem_a),
        ])
        .as_deref(),
        Some("issuers[1]")
    );
    // Two issuers without `issuer` holding one secret: refused, whatever the other settings.
    assert_eq!(
        error_key(vec![
            presets::pandium(PANDIUM_SECRET),
            presets::blendr(PANDIUM_SECRET)
        ])
        .as_deref(),
        Some("issuers[1]")
    );
    // Two issuers naming the same `iss`.
    assert_eq!(
        error_key(vec![
            presets::versori(&pem_a, VERSORI_ISS, "a"),
            presets::versori(&pem_b, VERSORI_ISS, "b").name("versori-2"),
        ])
        .as_deref(),
        Some("issuers[1].issuer")
    );

    // Resolvable: `iss` tells them apart, or `kid` does (two JWKS), or the secrets differ.
    assert_eq!(
        error_key(vec![
            Issuer::public_key_pem(&pem_a),
            presets::versori(&pem_b, VERSORI_ISS, "a")
        ]),
        None
    );
    assert_eq!(
        error_key(vec![
            presets::pandium(PANDIUM_SECRET),
            presets::blendr(PANDIUM_SECRET).issuer("https://blendr.example"),
        ]),
        None
    );
    let other = TestIssuer::start().await;
    assert_eq!(
        error_key(vec![
            presets::appdirect(market.appdirect.jwks_url()),
            other.issuer(),
        ]),
        None
    );
    assert_eq!(error_key(market.issuers()), None);
}

#[tokio::test]
async fn token_sources_are_tried_in_order_and_the_query_token_is_removed() {
    let market = Market::start().await;
    let guard = market
        .builder()
        .token_sources([
            TokenSource::Query("tenant".into()),
            TokenSource::Cookie("session".into()),
            TokenSource::Header,
        ])
        .build()
        .unwrap();
    let app = market_app(&guard);
    let blendr = market.blendr_token(json!("from-header")).sign();
    let cookie = market.blendr_token(json!("from-cookie")).sign();

    // The query comes first: it wins over the cookie and the header, and is removed.
    let pandium = market.pandium_token().sign();
    let req = Request::get(format!("/whoami?a=1&tenant={pandium}&b=x%20y"))
        .header("cookie", format!("session={cookie}"))
        .header("authorization", format!("Bearer {blendr}"))
        .body(Body::empty())
        .unwrap();
    let who = ok_json(&app, req).await;
    assert_eq!(who["issuer"], "pandium");
    assert_eq!(who["uri"], "/whoami?a=1&b=x%20y");
    assert!(!who["uri"].as_str().unwrap().contains(&pandium));

    // Then the cookie.
    let req = Request::get("/whoami?a=1")
        .header("cookie", format!("theme=dark; session={cookie}"))
        .header("authorization", format!("Bearer {blendr}"))
        .body(Body::empty())
        .unwrap();
    let who = ok_json(&app, req).await;
    assert_eq!(
        (who["tenant"].as_str(), who["uri"].as_str()),
        (Some("from-cookie"), Some("/whoami?a=1"))
    );

    // Then the header.
    let who = ok_json(&app, get_with("/whoami", &blendr)).await;
    assert_eq!(who["tenant"], "from-header");

    // A percent-encoded parameter name is the same parameter, and is removed too.
    let pandium = market.pandium_token().sign();
    let who = ok_json(&app, plain(&format!("/whoami?%74enant={pandium}"))).await;
    assert_eq!(
        (who["issuer"].as_str(), who["uri"].as_str()),
        (Some("pandium"), Some("/whoami"))
    );

    // Nothing anywhere: 401 with a bare challenge.
    let (res, body) = send(&app, plain("/whoami?a=1")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\""
    );
    // Two tokens in the query: 400.
    let (res, body) = send(
        &app,
        plain(&format!("/whoami?tenant={pandium}&tenant={pandium}")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\", error=\"invalid_request\""
    );
}

#[tokio::test]
async fn a_jti_is_accepted_once_and_the_token_cache_never_changes_that() {
    let market = Market::start().await;
    // The default guard has the verified-token cache on.
    let guard = market.guard();
    let app = market_app(&guard);

    let token = market.pandium_token().sign();
    let uri = format!("/whoami?tenant={token}");
    ok_json(&app, plain(&uri)).await;
    let (res, body) = send(&app, plain(&uri)).await;
    assert_invalid(&res, &body, "the token was already used");
    // Through the header or the API: still a replay.
    let (res, body) = send(&app, get_with("/whoami", &token)).await;
    assert_invalid(&res, &body, "the token was already used");
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::Replayed
    );

    // Another token carrying a used jti is a replay too: the jti is what counts.
    let first = market.pandium_token().claim("jti", "shared-jti").sign();
    let second = market
        .pandium_token()
        .claim("jti", "shared-jti")
        .claim("meta", "x")
        .sign();
    assert_ne!(first, second);
    ok_json(&app, plain(&format!("/whoami?tenant={first}"))).await;
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={second}"))).await;
    assert_invalid(&res, &body, "the token was already used");

    // Concurrent first uses: exactly one wins.
    let token = market.pandium_token().sign();
    let uri = format!("/whoami?tenant={token}");
    let results = futures_join(&app, &uri, 8).await;
    assert_eq!(
        results.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        7,
        "{results:?}"
    );

    // An issuer without replay protection may be called again with the same token (from the
    // cache); that never opens a door for the replay-protected one.
    let blendr = market.blendr_token(json!(7)).sign();
    ok_json(&app, get_with("/whoami", &blendr)).await;
    ok_json(&app, get_with("/whoami", &blendr)).await;

    // Once the used token is past max_age it is refused as too old, never accepted again.
    market.clock.advance(Duration::from_secs(331));
    let (res, body) = send(&app, plain(&uri)).await;
    assert_invalid(&res, &body, "the token is too old");
}

/// Sends `n` copies of `GET uri` at once.
async fn futures_join(app: &Router, uri: &str, n: usize) -> Vec<StatusCode> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let app = app.clone();
        let req = plain(uri);
        handles.push(tokio::spawn(
            async move { send(&app, req).await.0.status() },
        ));
    }
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_full_replay_store_refuses_new_jtis_with_503_and_recovers() {
    let market = Market::start().await;
    // 16 shards of one entry each: 16 live jtis at most.
    let guard = market
        .builder()
        .replay_store(MemoryReplayStore::new(16))
        .build()
        .unwrap();
    let app = market_app(&guard);

    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let token = market.pandium_token().sign();
        let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
        match res.status() {
            StatusCode::OK => accepted.push(token),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(res.headers()["retry-after"], "1");
                assert!(res.headers().get("www-authenticate").is_none());
                let json: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    json,
                    json!({"error": "temporarily_unavailable", "error_description": "the replay store is full", "reason": "replay_store_full"})
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((accepted.len(), refused), (16, 184));

    // Full, a recorded jti is still a replay: 401, never 503, never 200.
    for token in &accepted {
        let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
        assert_invalid(&res, &body, "the token was already used");
    }
    // Other issuers are not affected.
    ok_json(
        &app,
        get_with("/whoami", &market.blendr_token(json!(1)).sign()),
    )
    .await;

    // Once the recorded tokens are past max_age + leeway, their room is reused.
    market.clock.advance(Duration::from_secs(331));
    for _ in 0..3 {
        let token = market.pandium_token().sign();
        ok_json(&app, plain(&format!("/whoami?tenant={token}"))).await;
    }
}

#[tokio::test]
async fn the_serve_configuration_keys_for_marketplaces_work() {
    let market = Market::start().await;
    let pem = market.versori.public_key_pem().unwrap();
    let toml = format!(
        r#"
        [[issuers]]
        name = "pandium"
        secret = "{PANDIUM_SECRET}"
        required_claims = ["sub"]
        max_age = "5m"
        replay = "reject"

        [[issuers]]
        name = "blendr"
        secret = "{BLENDR_KEY}"
        required_claims = ["accountid"]
        tenant_claim = "accountid"
        max_age = "5m"

        [[issuers]]
        name = "partner"
        public_key_pem = """{pem}"""
        issuer = "{VERSORI_ISS}"
        audiences = ["{VERSORI_AUD}"]

        [token]
        sources = ["query:tenant", "cookie:session", "header"]
        "#
    );
    let guard = Config::from_toml(&toml)
        .unwrap()
        .into_builder()
        .clock(market.clock.clone())
        .build()
        .unwrap();
    let app = market_app(&guard);

    let token = market.pandium_token().sign();
    let who = ok_json(&app, plain(&format!("/whoami?x=1&tenant={token}"))).await;
    assert_eq!(
        (who["issuer"].as_str(), who["uri"].as_str()),
        (Some("pandium"), Some("/whoami?x=1"))
    );
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={token}"))).await;
    assert_invalid(&res, &body, "the token was already used");
    let stale = market
        .pandium_token()
        .claim("iat", market.now() - 400)
        .sign();
    let (res, body) = send(&app, plain(&format!("/whoami?tenant={stale}"))).await;
    assert_invalid(&res, &body, "the token is too old");

    let req = Request::get("/whoami")
        .header(
            "cookie",
            format!("session={}", market.blendr_token(json!(42)).sign()),
        )
        .body(Body::empty())
        .unwrap();
    let who = ok_json(&app, req).await;
    assert_eq!(
        (who["issuer"].as_str(), who["tenant"].as_str()),
        (Some("blendr"), Some("42"))
    );

    let who = ok_json(&app, get_with("/whoami", &market.versori_token().sign())).await;
    assert_eq!(who["issuer"], "partner");

    // `replay` needs a way to forget a jti: `exp` required or `max_age`.
    let err = Config::from_toml(&format!(
        "[[issuers]]\nsecret = \"{PANDIUM_SECRET}\"\nrequired_claims = []\nreplay = \"reject\"\n"
    ))
    .and_then(Config::build)
    .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].replay"));
    // `secret_env` names an unset variable: a config error naming it.
    let err = Config::from_toml("[[issuers]]\nsecret_env = \"JWT_GUARD_MARKET_UNSET_VARIABLE\"\n")
        .and_then(Config::build)
        .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].secret_env"));
}
