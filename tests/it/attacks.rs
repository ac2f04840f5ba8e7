//! The attack catalog (`shared/research/other-anchors.md` §4, rows 1–36, and `cors.md` §2.8),
//! one test per row or class: each builds the malicious token, header or key set and checks
//! the exact refusal, that the handler never ran, that nothing the token names was fetched
//! (the JWKS host saw only its configured GET; a trap server for `jku`/`x5u` saw nothing), and
//! that the answer came in bounded time ([`kit::BOUND`], checked by every send).
//!
//! Rows that do not apply here, and why:
//! - 16 (missing `exp`) and 17–18 are claim rules: covered below for completeness, in depth in
//!   `claims`.
//! - 24 (token in the query): the query is read only when configured; covered below.
//! - 33–34 (huge, slow or invalid JWKS; refresh storms) are hard limits: see `limits`.
//! - 36 (OIDC discovery returning a foreign `jwks_uri`): with `Issuer::oidc`, the discovery
//!   document's `issuer` must equal the configured one and its `jwks_uri` must be https (or
//!   loopback http), both tested in `discovery`; a `jwks_uri` on another host is accepted on
//!   purpose, because real providers serve keys from another host (Google: accounts.google.com
//!   → www.googleapis.com). Redirects are never followed: covered below.

pub(crate) mod kit;

use std::time::Duration;

use axum::body::Body;
use http::{HeaderValue, Request};
use jwt_guard::testing::{TestIssuer, TestKey};
use jwt_guard::{Algorithm, Cors, Issuer, JwtGuard, ManualClock, Reason, TokenSource};
use serde_json::{Value, json};

use self::kit::*;
use crate::common::assert_cors_refused;

const RS: &str = r#"{"alg":"RS256","kid":"rsa-1"}"#;
const ES: &str = r#"{"alg":"ES256","kid":"ec-1"}"#;

/// A token signed by the victim's own RSA key over this exact header and payload text.
fn rs_token(v: &Victim, header: &str, payload: &str) -> String {
    sign_raw(&v.key("rsa-1"), header, payload)
}

/// A token signed by `key` over `{"alg":alg,"kid":kid}` and fresh claims.
fn kid_token(key: &TestKey, alg: &str, kid: &str) -> String {
    let header = format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#);
    sign_raw(key, &header, &fresh_claims())
}

/// [`Guarded::refuses_tokens`] rows: the victim's `rsa-1` signs each header text over fresh
/// claims, and each token must be refused with `reason` (the header is the row's label).
fn rs_headers<H: AsRef<str>>(
    v: &Victim,
    headers: impl IntoIterator<Item = H>,
    reason: Reason,
) -> Vec<(String, String, Reason)> {
    headers
        .into_iter()
        .map(|header| {
            let header = header.as_ref();
            let token = rs_token(v, header, &fresh_claims());
            (header.to_owned(), token, reason)
        })
        .collect()
}

// Row 1: `alg: none` and its spellings. Refused at the algorithm (an enum with no `none`),
// before any key lookup; with an empty signature, already as a malformed JWS.
#[tokio::test]
async fn r01_alg_none_in_any_spelling() {
    let v = Victim::start().await;
    for alg in ["none", "None", "NONE", "nOnE", "none ", " none"] {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#)),
            b64(fresh_claims())
        );
        v.app
            .refuses_token(&format!("{input}."), 401, Reason::MalformedToken)
            .await;
        let garbage = format!("{input}.{}", b64("garbage"));
        v.app
            .refuses_token(&garbage, 401, Reason::AlgorithmNotAllowed)
            .await;
    }
    // Signed with the victim's real key, `none` is still not an algorithm.
    let signed = rs_token(&v, r#"{"alg":"none","kid":"rsa-1"}"#, &fresh_claims());
    v.app
        .refuses_token(&signed, 401, Reason::AlgorithmNotAllowed)
        .await;
    v.assert_no_outbound();
}

// Row 2: RS256 → HS256 key confusion. The public key in every encoding an HMAC library might
// take as a secret; HS256 is never an algorithm of a public-key issuer, and beside a real HMAC
// issuer only that issuer's secret verifies.
#[tokio::test]
async fn r02_hs256_keyed_with_the_public_key() {
    let v = Victim::start().await;
    let jwk = v.key("rsa-1").jwk().clone();
    let spki = rsa_spki_der(&jwk);
    let pem_text = pem("PUBLIC KEY", &spki);
    let secrets: Vec<Vec<u8>> = vec![
        pem_text.clone().into_bytes(),
        pem_text.trim_end().as_bytes().to_vec(),
        pem("RSA PUBLIC KEY", &rsa_pkcs1_der(&jwk)).into_bytes(),
        spki,
        rsa_pkcs1_der(&jwk),
        jwk.to_string().into_bytes(),
        serde_json::to_vec_pretty(&jwk).unwrap(),
        unb64(jwk["n"].as_str().unwrap()),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
    ];
    let tokens: Vec<String> = secrets
        .iter()
        .map(|secret| {
            let key = TestKey::hmac(secret, Algorithm::HS256);
            sign_raw(
                &key,
                r#"{"alg":"HS256","kid":"rsa-1","typ":"JWT"}"#,
                &fresh_claims(),
            )
        })
        .collect();
    for token in &tokens {
        v.app
            .refuses_token(token, 401, Reason::AlgorithmNotAllowed)
            .await;
    }
    v.assert_no_outbound();

    // A fixed-PEM issuer given that very PEM: its RS256 tokens pass, the HS256 forgeries do not.
    let pem_guard = JwtGuard::builder()
        .issuer(Issuer::public_key_pem(pem_text.clone()))
        .build()
        .unwrap();
    let app = Guarded::new(&pem_guard);
    app.passes(&rs_token(&v, r#"{"alg":"RS256"}"#, &fresh_claims()))
        .await;
    for token in &tokens {
        app.refuses_token(token, 401, Reason::AlgorithmNotAllowed)
            .await;
    }

    // Beside a real HMAC issuer HS256 is an algorithm, but the public key is not its secret.
    let mixed = JwtGuard::builder()
        .issuer(v.issuer.issuer())
        .issuer(Issuer::secret([7u8; 32]).name("hs"))
        .build()
        .unwrap();
    let app = Guarded::new(&mixed);
    for token in &tokens {
        app.refuses_token(token, 401, Reason::BadSignature).await;
    }
    v.assert_no_outbound();

    // And a public key can never be configured for HS256.
    let err = JwtGuard::builder()
        .issuer(Issuer::public_key_pem(pem_text).algorithms([Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].algorithms"));
    let err = JwtGuard::builder()
        .issuer(v.issuer.issuer().algorithms([Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].algorithms"));
}

// Row 3: "psychic signatures" (CVE-2022-21449): r = s = 0, r or s = n, r or s ≥ n.
#[tokio::test]
async fn r03_psychic_ecdsa_signatures() {
    let v = Victim::start().await;
    let token = sign_raw(&v.key("ec-1"), ES, &fresh_claims());
    v.app.passes(&token).await;
    let n = hex(P256_N);
    let zero = vec![0u8; 32];
    let real = signature_of(&token);
    let (r, _) = real.split_at(32);
    let zeros = with_signature(&token, &[0u8; 64]);
    assert!(zeros.ends_with(&format!(".{}", "A".repeat(86))));
    for sig in [
        vec![0u8; 64],
        [n.clone(), n.clone()].concat(),
        [zero.clone(), n.clone()].concat(),
        [n.clone(), zero.clone()].concat(),
        vec![0xffu8; 64],
        [r.to_vec(), zero.clone()].concat(),
        [r.to_vec(), n.clone()].concat(),
    ] {
        v.app
            .refuses_token(&with_signature(&token, &sig), 401, Reason::BadSignature)
            .await;
    }
    v.assert_no_outbound();
}

// Row 4: signature encodings. DER ECDSA, a leading or trailing zero, a 257-byte RSA
// signature: wrong lengths, refused. High-S `(r, n − s)` is a valid signature, not a forgery:
// what stops its reuse is the `jti`, never the token bytes.
#[tokio::test]
async fn r04_signature_encoding_malleability() {
    let v = Victim::start().await;
    let es = sign_raw(&v.key("ec-1"), ES, &fresh_claims());
    let sig = signature_of(&es);
    assert_eq!(sig.len(), 64);
    let der = ecdsa_der(&sig);
    assert!((70..=72).contains(&der.len()));
    for bad in [
        der,
        [&[0u8][..], &sig].concat(),
        [&sig[..], &[0u8]].concat(),
    ] {
        v.app
            .refuses_token(&with_signature(&es, &bad), 401, Reason::BadSignature)
            .await;
    }
    let rs = rs_token(&v, RS, &fresh_claims());
    let rsig = signature_of(&rs);
    assert_eq!(rsig.len(), 256);
    v.app
        .refuses_token(
            &with_signature(&rs, &[&[0u8][..], &rsig].concat()),
            401,
            Reason::BadSignature,
        )
        .await;
    v.assert_no_outbound();

    // High-S against a replay-protected issuer: the twin of a used token is a replay.
    let v = Victim::with(TestIssuer::start().await, |i| i.reject_replays()).await;
    let now = now();
    let claims = format!(r#"{{"jti":"once","iat":{now},"exp":{}}}"#, now + 300);
    let token = sign_raw(&v.key("ec-1"), ES, &claims);
    let sig = signature_of(&token);
    let (r, s) = sig.split_at(32);
    let high_s = [r.to_vec(), sub_be(&hex(P256_N), s)].concat();
    let twin = with_signature(&token, &high_s);
    assert_ne!(twin, token);
    v.app.passes(&token).await;
    v.app.refuses_token(&twin, 401, Reason::Replayed).await;
    v.assert_no_outbound();
}

// Row 5: a key embedded in the header (`jwk`) is never trusted: the attacker's signature is
// checked against the configured keys only.
#[tokio::test]
async fn r05_embedded_jwk_header() {
    let v = Victim::start().await;
    let attacker = TestKey::rsa("evil-1", Algorithm::RS256);
    let attacker_ec = TestKey::ec("evil-2", Algorithm::ES256);
    let jwk = attacker.jwk().to_string();
    let cases = [
        (
            format!(r#"{{"alg":"RS256","jwk":{jwk}}}"#),
            Reason::BadSignature,
        ),
        (
            format!(r#"{{"alg":"RS256","kid":"rsa-1","jwk":{jwk}}}"#),
            Reason::BadSignature,
        ),
        (
            format!(r#"{{"alg":"RS256","kid":"evil-1","jwk":{jwk}}}"#),
            Reason::UnknownKid,
        ),
    ];
    for (header, reason) in cases {
        let token = sign_raw(&attacker, &header, &fresh_claims());
        v.app.refuses_token(&token, 401, reason).await;
    }
    let header = format!(r#"{{"alg":"ES256","jwk":{}}}"#, attacker_ec.jwk());
    v.app
        .refuses_token(
            &sign_raw(&attacker_ec, &header, &fresh_claims()),
            401,
            Reason::BadSignature,
        )
        .await;
    v.assert_no_outbound();
}

// Row 6: `jku` and `x5u` pointing at an attacker's key set, including the classic bypass
// forms. Nothing is fetched from them, ever: the trap counts zero, also after the cooldown has
// passed and an unknown `kid` makes the layer refetch its own, configured URL.
#[tokio::test]
async fn r06_jku_and_x5u_are_never_fetched() {
    let mut attacker = TestIssuer::start().await;
    attacker.add_key(TestKey::rsa("evil-1", Algorithm::RS256), true);
    attacker.use_key("evil-1");
    let evil_url = attacker.jwks_url().to_owned();
    let host = evil_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let clock = ManualClock::starting_now();
    let victim = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(victim.issuer())
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let app = Guarded::new(&guard);

    let locations = [
        evil_url.clone(),
        format!("http://trusted@{host}/jwks.json"),
        format!("http://{host}/.well-known/jwks.json#@trusted"),
        format!(
            "http://127.0.0.1.nip.io:{}/",
            host.rsplit(':').next().unwrap()
        ),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
    ];
    for location in &locations {
        for member in ["jku", "x5u"] {
            for (kid, reason) in [
                ("evil-1", Reason::UnknownKid),
                ("rsa-1", Reason::BadSignature),
            ] {
                let header = json!({"alg": "RS256", "kid": kid, member: location}).to_string();
                let key = attacker.key(kid).unwrap();
                app.refuses_token(&sign_raw(&key, &header, &fresh_claims()), 401, reason)
                    .await;
            }
        }
    }
    assert_eq!(victim.fetch_count(), 1);

    // After the cooldown an unknown kid refetches the configured URL, and only that.
    clock.advance(Duration::from_secs(31));
    let header = json!({"alg": "RS256", "kid": "evil-1", "jku": evil_url}).to_string();
    let token = sign_raw(&attacker.key("evil-1").unwrap(), &header, &fresh_claims());
    app.refuses_token(&token, 401, Reason::UnknownKid).await;
    assert_eq!(victim.fetch_count(), 2);
    for request in victim.requests() {
        assert!(
            request.starts_with("GET /.well-known/jwks.json HTTP/1.1\r\n"),
            "{request}"
        );
    }
    assert_eq!(attacker.fetch_count(), 0, "the token's jku/x5u was fetched");
}

// Row 7: an `x5c` chain in the header is not a trust source. (A self-signed certificate would
// need an X.509 encoder; the layer never looks inside `x5c`, so the attacker's SPKI stands in.)
#[tokio::test]
async fn r07_embedded_x5c_chain() {
    let v = Victim::start().await;
    let attacker = TestKey::rsa("evil-1", Algorithm::RS256);
    let chain = json!([base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        rsa_spki_der(attacker.jwk())
    )]);
    for (header, reason) in [
        (json!({"alg": "RS256", "x5c": chain}), Reason::BadSignature),
        (
            json!({"alg": "RS256", "kid": "evil-1", "x5c": chain}),
            Reason::UnknownKid,
        ),
        (
            json!({"alg": "RS256", "kid": "rsa-1", "x5c": chain, "x5t#S256": "AAAA"}),
            Reason::BadSignature,
        ),
    ] {
        let token = sign_raw(&attacker, &header.to_string(), &fresh_claims());
        v.app.refuses_token(&token, 401, reason).await;
    }
    v.assert_no_outbound();
}

// Row 8: `kid` injection. The kid is an exact-match lookup among trusted keys: no path, no
// query, no normalisation (a kid that differs from `rsa-1` by a NUL, a space or case does not
// find `rsa-1` even when the token is signed by it), bounded, and a string or nothing.
#[tokio::test]
async fn r08_kid_injection() {
    let v = Victim::start().await;
    let empty_key = TestKey::hmac(b"", Algorithm::HS256);
    let traversal = sign_raw(
        &empty_key,
        r#"{"alg":"HS256","kid":"../../../../dev/null"}"#,
        &fresh_claims(),
    );
    v.app
        .refuses_token(&traversal, 401, Reason::AlgorithmNotAllowed)
        .await;
    let attacker = TestKey::rsa("x", Algorithm::RS256);
    let injected = [
        "../../../../dev/null",
        "/dev/null",
        "x' UNION SELECT 'k'--",
        "rsa-1' OR '1'='1",
        "|cat /etc/passwd",
        "${jndi:ldap://127.0.0.1/a}",
    ]
    .map(|kid| {
        let header = json!({"alg": "RS256", "kid": kid}).to_string();
        let token = sign_raw(&attacker, &header, &fresh_claims());
        (kid, token, Reason::UnknownKid)
    });
    v.app.refuses_tokens(injected).await;
    let kid_header = |kid: &str| format!(r#"{{"alg":"RS256","kid":{kid}}}"#);
    // Signed by the real `rsa-1`, near-miss kids still find nothing.
    let near_misses = [
        r#""rsa-1\u0000""#,
        r#""rsa-1 ""#,
        r#""RSA-1""#,
        r#""rsa-1\n""#,
        r#""rsa\u002d1\u0000x""#,
    ]
    .map(kid_header);
    v.app
        .refuses_tokens(rs_headers(&v, near_misses, Reason::UnknownKid))
        .await;
    // Not a string, empty, or over 256 bytes: a bad header, with no lookup at all.
    let long = format!(r#""{}""#, "k".repeat(257));
    let bad_kids = [
        "1",
        "null",
        r#"{"a":1}"#,
        r#"["rsa-1"]"#,
        r#""""#,
        long.as_str(),
    ]
    .map(kid_header);
    v.app
        .refuses_tokens(rs_headers(&v, bad_kids, Reason::BadHeader))
        .await;
    // A 1 MB kid never reaches the parser.
    let huge = format!(
        "{}.{}.{}",
        b64(format!(
            r#"{{"alg":"RS256","kid":"{}"}}"#,
            "k".repeat(1 << 20)
        )),
        b64(fresh_claims()),
        b64("sig")
    );
    v.app.refuses_token(&huge, 401, Reason::TokenTooLarge).await;
    v.assert_no_outbound();

    // A shared-secret issuer ignores the kid: only its secret verifies.
    let hs = Guarded::new(
        &JwtGuard::builder()
            .issuer(Issuer::secret([9u8; 32]))
            .build()
            .unwrap(),
    );
    hs.refuses_token(&traversal, 401, Reason::BadSignature)
        .await;
}

// Row 9: `crit`. No extension is understood, so any `crit` is refused, even on a token signed
// with the issuer's own key.
#[tokio::test]
async fn r09_crit_is_refused() {
    let v = Victim::start().await;
    v.app.passes(&rs_token(&v, RS, &fresh_claims())).await;
    let headers = [
        r#""crit":["urn:x"],"urn:x":1"#,
        r#""crit":[]"#,
        r#""crit":["alg"]"#,
        r#""crit":["exp"]"#,
        r#""crit":"urn:x","urn:x":1"#,
        r#""crit":null"#,
        r#""crit":["b64"],"b64":true"#,
    ]
    .map(|extra| format!(r#"{{"alg":"RS256","kid":"rsa-1",{extra}}}"#));
    v.app
        .refuses_tokens(rs_headers(&v, headers, Reason::BadHeader))
        .await;
    v.assert_no_outbound();
}

// Row 10: `b64: false` (RFC 7797). With the raw payload in the token it is not a compact JWS
// (and not even a b64token); with a base64url payload the header is refused.
#[tokio::test]
async fn r10_unencoded_payload() {
    let v = Victim::start().await;
    let header = r#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#;
    let payload = fresh_claims();
    let input = format!("{}.{payload}", b64(header));
    let raw = format!("{input}.{}", v.key("rsa-1").sign_input(&input));
    v.app
        .refuses_token(&raw, 400, Reason::MalformedCredential)
        .await;
    assert_eq!(
        v.guard.verify(&raw).await.unwrap_err().reason(),
        Reason::MalformedToken
    );
    // Detached content: `header..signature`.
    let detached = format!("{}..{}", b64(header), v.key("rsa-1").sign_input(&input));
    v.app
        .refuses_token(&detached, 401, Reason::MalformedToken)
        .await;
    for header in [header, r#"{"alg":"RS256","kid":"rsa-1","b64":false}"#] {
        v.app
            .refuses_token(&rs_token(&v, header, &payload), 401, Reason::BadHeader)
            .await;
    }
    v.assert_no_outbound();
}

// Rows 11 and 14: JWE, five parts, the JSON serializations, compact/JSON polyglots and JWE
// cost bombs (`p2c`, `zip`). Only a compact JWS with exactly two dots is read; JWE header
// members are refused; nothing is decrypted or decompressed. (A real RSA-OAEP JWE is not
// built: the five-part shape is refused before any header is decoded.)
#[tokio::test]
async fn r11_r14_jwe_json_serialization_and_polyglots() {
    let v = Victim::start().await;
    let claims = b64(fresh_claims());
    let jwe_header = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-1"}"#);
    let five = format!(
        "{jwe_header}.{}.{}.{claims}.{}",
        b64([1u8; 256]),
        b64([2u8; 12]),
        b64([3u8; 16])
    );
    v.app
        .refuses_token(&five, 401, Reason::MalformedToken)
        .await;
    let rs = rs_token(&v, RS, &fresh_claims());
    v.app
        .refuses_token(
            &format!("{rs}.{}.{}", b64("x"), b64("y")),
            401,
            Reason::MalformedToken,
        )
        .await;

    // Three parts with JWE algorithms: not an algorithm of this crate.
    let jwe_algs = [
        r#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-1"}"#,
        r#"{"alg":"dir","enc":"A256GCM"}"#,
        r#"{"alg":"PBES2-HS512+A256KW","p2c":2147483647,"enc":"A256GCM","p2s":"AAAA"}"#,
    ];
    v.app
        .refuses_tokens(rs_headers(&v, jwe_algs, Reason::AlgorithmNotAllowed))
        .await;
    // A JWS header carrying JWE members, signed with the real key: refused.
    let jwe_members = [r#""enc":"A256GCM""#, r#""zip":"DEF""#]
        .map(|extra| format!(r#"{{"alg":"RS256","kid":"rsa-1",{extra}}}"#));
    v.app
        .refuses_tokens(rs_headers(&v, jwe_members, Reason::BadHeader))
        .await;

    // JSON serializations and the python-jwt polyglot (CVE-2022-39227).
    let (h, rest) = rs.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let flattened = json!({"protected": h, "payload": p, "signature": s}).to_string();
    let general =
        json!({"payload": p, "signatures": [{"protected": h, "signature": s}]}).to_string();
    let polyglot = json!({format!("  {h}.{}.", b64(r#"{"sub":"admin"}"#)): "", "protected": h, "payload": p, "signature": s}).to_string();
    for text in [&flattened, &general, &polyglot] {
        v.app
            .refuses_token(text, 400, Reason::MalformedCredential)
            .await;
        assert_eq!(
            v.guard.verify(text).await.unwrap_err().reason(),
            Reason::MalformedToken
        );
    }
    // Through a source that can carry any text (the query): the polyglot's spaces and commas
    // make it more than one token, a malformed credential (400) as in the header.
    let q = Guarded::new(
        &JwtGuard::builder()
            .issuer(v.issuer.issuer())
            .token_sources([TokenSource::Query("access_token".into())])
            .build()
            .unwrap(),
    );
    let encoded: String = polyglot.bytes().map(|b| format!("%{b:02X}")).collect();
    let req = Request::get(format!("/api?access_token={encoded}"))
        .body(Body::empty())
        .unwrap();
    q.refuses(req, 400, Reason::MalformedQuery).await;
    v.assert_no_outbound();
}

// Row 12: duplicate member names, in the header and in the claims (top level and nested),
// on tokens signed with the issuer's real key.
#[tokio::test]
async fn r12_duplicate_members() {
    let v = Victim::start().await;
    let headers = [
        r#"{"alg":"RS256","alg":"none","kid":"rsa-1"}"#,
        r#"{"alg":"none","alg":"RS256","kid":"rsa-1"}"#,
        r#"{"alg":"RS256","kid":"ec-1","kid":"rsa-1"}"#,
        r#"{"alg":"RS256","kid":"rsa-1","kid":"rsa-1"}"#,
        r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT","typ":"JWT"}"#,
    ];
    v.app
        .refuses_tokens(rs_headers(&v, headers, Reason::BadHeader))
        .await;
    let now = now();
    let exp = now + 300;
    for payload in [
        format!(r#"{{"sub":"u","sub":"admin","exp":{exp}}}"#),
        format!(r#"{{"tenant":"a","tenant":"b","exp":{exp}}}"#),
        format!(r#"{{"exp":1,"exp":{exp}}}"#),
        format!(r#"{{"exp":{exp},"ctx":{{"role":"user","role":"admin"}}}}"#),
        format!(r#"{{"exp":{exp},"\u0073ub":"a","sub":"b"}}"#),
    ] {
        v.app
            .refuses_token(&rs_token(&v, RS, &payload), 401, Reason::BadPayload)
            .await;
    }
    v.assert_no_outbound();
}

// Row 13: huge tokens, many dots, deep JSON, huge claim counts (and oversized headers): each
// refused by a cap checked before the work that grows with it.
#[tokio::test]
async fn r13_oversized_and_deep_inputs() {
    let v = Victim::start().await;
    let deep = |n: usize| {
        format!(
            r#"{{"exp":{},"a":{}{}}}"#,
            now() + 300,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let deep_header = format!(
        r#"{{"alg":"RS256","kid":"rsa-1","x":{}{}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let claims = |n: usize| {
        let members: Vec<String> = (0..n).map(|i| format!(r#""{i:x}":0"#)).collect();
        format!(r#"{{"exp":{},{}}}"#, now() + 300, members.join(","))
    };
    let wide_header = {
        let members: Vec<String> = (0..40).map(|i| format!(r#""h{i}":0"#)).collect();
        format!(r#"{{"alg":"RS256","kid":"rsa-1",{}}}"#, members.join(","))
    };
    let fresh = fresh_claims();
    #[rustfmt::skip]
    let rows = [
        ("1 MiB of a", "a".repeat(1 << 20), Reason::TokenTooLarge),
        ("100 000 dots", ".".repeat(100_000), Reason::TokenTooLarge),
        ("8000 dots", ".".repeat(8000), Reason::MalformedToken),
        ("4000 a.", "a.".repeat(4000), Reason::MalformedToken),
        ("10 000 deep", rs_token(&v, RS, &deep(10_000)), Reason::TokenTooLarge),
        ("2000 deep", rs_token(&v, RS, &deep(2_000)), Reason::BadPayload),
        ("deep header", rs_token(&v, &deep_header, &fresh), Reason::BadHeader),
        ("50 000 claims", rs_token(&v, RS, &claims(50_000)), Reason::TokenTooLarge),
        ("1100 entries", rs_token(&v, RS, &format!(r#"{{"exp":{},"a":[{}]}}"#, now() + 300, vec!["0"; 1100].join(","))), Reason::BadPayload),
        ("wide header", rs_token(&v, &wide_header, &fresh), Reason::BadHeader),
    ];
    v.app.refuses_tokens(rows).await;

    // The same caps hold for the other sources.
    let cookie = Guarded::new(
        &JwtGuard::builder()
            .issuer(v.issuer.issuer())
            .token_sources([TokenSource::Cookie("jwt".into())])
            .build()
            .unwrap(),
    );
    let req = Request::get("/api")
        .header("cookie", format!("jwt={}", "a".repeat(1 << 20)))
        .body(Body::empty())
        .unwrap();
    cookie.refuses(req, 401, Reason::TokenTooLarge).await;
    v.assert_no_outbound();
}

// Row 15 (CVE-2026-25537 and kin): date claims that are present but not a finite number in
// range are refused, never taken as absent; on tokens signed with the issuer's real key.
#[tokio::test]
async fn r15_numeric_edge_cases_in_dates() {
    let v = Victim::start().await;
    let now = now();
    let cases: Vec<(String, Reason)> = vec![
        (r#""exp":"9999999999""#.into(), Reason::BadDate),
        (r#""exp":"never""#.into(), Reason::BadDate),
        (r#""exp":null"#.into(), Reason::BadDate),
        (r#""exp":true"#.into(), Reason::BadDate),
        (r#""exp":[1]"#.into(), Reason::BadDate),
        (r#""exp":{}"#.into(), Reason::BadDate),
        (r#""exp":-1"#.into(), Reason::BadDate),
        (r#""exp":0"#.into(), Reason::Expired),
        (r#""exp":0.5"#.into(), Reason::Expired),
        (r#""exp":1e-300"#.into(), Reason::Expired),
        (r#""exp":1e300"#.into(), Reason::BadDate),
        (r#""exp":1.8e19"#.into(), Reason::BadDate),
        (r#""exp":18446744073709551616"#.into(), Reason::BadDate),
        (r#""exp":9007199254740993"#.into(), Reason::BadDate),
        (r#""exp":1e400"#.into(), Reason::BadPayload),
        (
            format!(r#""exp":{},"nbf":"99999999999""#, now + 300),
            Reason::BadDate,
        ),
        (format!(r#""exp":{},"iat":-5"#, now + 300), Reason::BadDate),
        (
            format!(r#""exp":{},"iat":"{now}""#, now + 300),
            Reason::BadDate,
        ),
    ];
    for (members, reason) in cases {
        let payload = format!(r#"{{"sub":"u1",{members}}}"#);
        v.app
            .refuses_token(&rs_token(&v, RS, &payload), 401, reason)
            .await;
    }
    // Row 16: no exp at all (required by default).
    v.app
        .refuses_token(
            &rs_token(&v, RS, r#"{"sub":"u1"}"#),
            401,
            Reason::MissingClaim,
        )
        .await;
    // A fractional exp in the future is fine.
    v.app
        .passes(&rs_token(&v, RS, &format!(r#"{{"exp":{}.5}}"#, now + 300)))
        .await;
    v.assert_no_outbound();
}

// Rows 15–18: claims of the wrong type (the CVE-2026-25537 class), missing `exp`, lifetimes,
// and `nbf`/`iat` bypasses.
#[tokio::test]
async fn r15_r18_wrong_types_lifetimes_and_nbf_bypasses() {
    let issuer = TestIssuer::start().await;
    let v = Victim::with(issuer, |i| {
        i.audience("api")
            .tenant_claim("tenant")
            .max_lifetime(Duration::from_secs(600))
    })
    .await;
    let now = now();
    let ok = |extra: &str| {
        format!(
            r#"{{"aud":"api","tenant":"acme","iat":{now},"exp":{}{extra}}}"#,
            now + 300
        )
    };
    v.app.passes(&rs_token(&v, RS, &ok(""))).await;
    for (extra, reason) in [
        (r#","sub":1"#, Reason::BadPayload),
        (r#","sub":{"id":"admin"}"#, Reason::BadPayload),
        (r#","jti":7"#, Reason::BadPayload),
        (r#","iss":1"#, Reason::BadIssuer),
        (r#","iss":null"#, Reason::BadIssuer),
        (r#","nbf":"99999999999""#, Reason::BadDate),
        (r#","nbf":null"#, Reason::BadDate),
        (r#","nbf":-1"#, Reason::BadDate),
        (r#","nbf":1e300"#, Reason::BadDate),
        (r#","nbf":18446744073709551616"#, Reason::BadDate),
        (r#","nbf":[0]"#, Reason::BadDate),
    ] {
        let payload = ok(extra);
        v.app
            .refuses_token(&rs_token(&v, RS, &payload), 401, reason)
            .await;
    }
    let cases = [
        // Row 17: without exp the lifetime is unbounded, so over any max_lifetime.
        (
            format!(r#"{{"aud":"api","tenant":"acme","iat":{now}}}"#),
            Reason::LifetimeTooLong,
        ),
        // A year-long token.
        (
            format!(
                r#"{{"aud":"api","tenant":"acme","iat":{now},"exp":{}}}"#,
                now + 31_536_000
            ),
            Reason::LifetimeTooLong,
        ),
        (
            format!(r#"{{"aud":"api","tenant":"acme","exp":{}}}"#, now + 3600),
            Reason::LifetimeTooLong,
        ),
        // Row 18: nbf and iat in the future, beyond the leeway.
        (
            format!(
                r#"{{"aud":"api","tenant":"acme","nbf":{},"exp":{}}}"#,
                now + 3600,
                now + 300
            ),
            Reason::NotYetValid,
        ),
        (
            format!(
                r#"{{"aud":"api","tenant":"acme","nbf":{}.5,"exp":{}}}"#,
                now + 40,
                now + 300
            ),
            Reason::NotYetValid,
        ),
        (
            format!(
                r#"{{"aud":"api","tenant":"acme","iat":{},"exp":{}}}"#,
                now + 3600,
                now + 3900
            ),
            Reason::IssuedInFuture,
        ),
        // Wrong-typed tenant and aud.
        (
            format!(
                r#"{{"aud":"api","tenant":["victim","attacker"],"exp":{}}}"#,
                now + 300
            ),
            Reason::BadTenant,
        ),
        (
            format!(
                r#"{{"aud":"api","tenant":{{"id":"acme"}},"exp":{}}}"#,
                now + 300
            ),
            Reason::BadTenant,
        ),
        (
            format!(r#"{{"aud":7,"tenant":"acme","exp":{}}}"#, now + 300),
            Reason::BadAudience,
        ),
    ];
    for (payload, reason) in cases {
        v.app
            .refuses_token(&rs_token(&v, RS, &payload), 401, reason)
            .await;
    }
    v.assert_no_outbound();
}

// Row 19: signature stripping, empty, truncated or all-zero signatures.
#[tokio::test]
async fn r19_signature_stripping() {
    let v = Victim::start().await;
    let token = rs_token(&v, RS, &fresh_claims());
    let (input, _) = token.rsplit_once('.').unwrap();
    v.app
        .refuses_token(&format!("{input}."), 401, Reason::MalformedToken)
        .await;
    v.app
        .refuses_token(input, 401, Reason::MalformedToken)
        .await;
    for sig in [
        vec![0u8],
        vec![0u8; 256],
        signature_of(&token)[..255].to_vec(),
        vec![0u8; 512],
    ] {
        v.app
            .refuses_token(&with_signature(&token, &sig), 401, Reason::BadSignature)
            .await;
    }
    v.app
        .refuses_token(
            &format!("{input}.{}", "A".repeat(342)),
            401,
            Reason::BadSignature,
        )
        .await;
    v.assert_no_outbound();

    // HMAC: a truncated or empty MAC never verifies.
    let secret = [5u8; 32];
    let hs = Guarded::new(
        &JwtGuard::builder()
            .issuer(Issuer::secret(secret))
            .build()
            .unwrap(),
    );
    let token = sign_raw(
        &TestKey::hmac(&secret, Algorithm::HS256),
        r#"{"alg":"HS256"}"#,
        &fresh_claims(),
    );
    hs.passes(&token).await;
    let mac = signature_of(&token);
    for sig in [
        mac[..16].to_vec(),
        mac[..31].to_vec(),
        vec![0u8],
        [&mac[..], &[0u8]].concat(),
    ] {
        hs.refuses_token(&with_signature(&token, &sig), 401, Reason::BadSignature)
            .await;
    }
}

// Rows 20–21: non-canonical base64url, padding, the standard alphabet, and stray dots.
// Whitespace around the credential is the HTTP field's, trimmed before the token is read: the
// token itself is the same bytes, so it passes (a policy choice, shared with RFC 9110's OWS).
#[tokio::test]
async fn r20_r21_base64_and_dots() {
    let v = Victim::start().await;
    let token = rs_token(&v, RS, &fresh_claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (h, p) = input.split_once('.').unwrap();
    // 256 bytes end in 2 characters carrying 8 bits: the last one has 4 unused bits. Setting
    // one of them keeps every data bit, so a lax decoder would accept the same signature.
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = ALPHABET.find(sig.chars().last().unwrap()).unwrap();
    assert_eq!(last % 16, 0);
    let twisted = &ALPHABET[last + 1..last + 2];
    let noncanonical = format!("{input}.{}{twisted}", &sig[..sig.len() - 1]);
    v.app
        .refuses_token(&noncanonical, 401, Reason::MalformedToken)
        .await;
    let std_alphabet = token.replace('-', "+").replace('_', "/");
    if std_alphabet != token {
        v.app
            .refuses_token(&std_alphabet, 401, Reason::MalformedToken)
            .await;
    }
    for bad in [
        format!("{token}="),
        format!("{token}=="),
        format!("{token}."),
        format!(".{token}"),
        format!("{h}.{p}..{sig}"),
        format!("{token}.x"),
        format!("{h}..{p}.{sig}"),
        format!("{h}.{p}.{}+", &sig[..sig.len() - 1]),
    ] {
        v.app.refuses_token(&bad, 401, Reason::MalformedToken).await;
    }
    for bad in [
        format!("{h}.{p} .{sig}"),
        format!("{token}!!!"),
        format!("{token},{token}"),
        format!("{h}=.{p}.{sig}"),
    ] {
        v.app
            .refuses_token(&bad, 400, Reason::MalformedCredential)
            .await;
    }
    // Surrounding whitespace: the same token.
    for value in [
        format!("Bearer  {token}"),
        format!("Bearer {token}\t"),
        format!("Bearer {token} "),
    ] {
        let req = Request::get("/api")
            .header("authorization", value)
            .body(Body::empty())
            .unwrap();
        let before = v.app.calls();
        assert_eq!(v.app.send(req).await.status, 200);
        assert_eq!(v.app.calls(), before + 1);
    }
    v.assert_no_outbound();
}

// Rows 22–23 and the Unicode/whitespace tricks: one `Authorization` header, one `Bearer`
// credential of b64token characters; another scheme (or a look-alike of `Bearer`) is no
// credential at all.
#[tokio::test]
async fn r22_r23_bearer_header_tricks() {
    let v = Victim::start().await;
    let token = rs_token(&v, RS, &fresh_claims());
    let attacker = TestKey::rsa("rsa-1", Algorithm::RS256);
    let forged = sign_raw(&attacker, RS, r#"{"sub":"admin"}"#);
    let req = |values: &[&[u8]]| {
        let mut b = Request::get("/api");
        for value in values {
            b = b.header("authorization", HeaderValue::from_bytes(value).unwrap());
        }
        b.body(Body::empty()).unwrap()
    };
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    // Two headers: never pick one.
    for pair in [
        [bearer(&token), bearer(&forged)],
        [bearer(&forged), bearer(&token)],
        [bearer(&token), b"junk".to_vec()],
    ] {
        v.app
            .refuses(
                req(&[&pair[0], &pair[1]]),
                400,
                Reason::DuplicateAuthorization,
            )
            .await;
    }
    let malformed = [
        format!("Bearer {token}, Bearer {forged}"),
        format!("Bearer {token} {forged}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "bearer  ".to_owned(),
        format!("Bearer {token}\u{200b}"),
        format!("Bearer {}", token.replacen('a', "\u{0430}", 1)),
        format!("Bearer %65{token}"),
        format!("Bearer \"{token}\""),
    ]
    .map(|value| (value, 400, Reason::MalformedCredential));
    let not_bearer = [
        format!("Bearerx {token}"),
        format!("xBearer {token}"),
        format!("Basic {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer\u{00a0}{token}"),
        format!("\u{FF22}\u{FF45}\u{FF41}\u{FF52}\u{FF45}\u{FF52} {token}"),
        format!("B\u{0435}arer {token}"),
        format!("Bearer:{token}"),
        token.clone(),
    ]
    .map(|value| (value, 401, Reason::MissingToken));
    for (value, status, reason) in malformed.into_iter().chain(not_bearer) {
        v.app
            .refuses_as(&value, req(&[value.as_bytes()]), status, reason)
            .await;
    }
    let mut latin1 = b"Bearer ".to_vec();
    latin1.extend_from_slice(token.as_bytes());
    latin1.push(0xE9);
    v.app
        .refuses(req(&[&latin1]), 400, Reason::MalformedCredential)
        .await;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let before = v.app.calls();
        let out = v
            .app
            .send(req(&[format!("{scheme} {token}").as_bytes()]))
            .await;
        assert_eq!(out.identity()["sub"], "u1");
        assert_eq!(v.app.calls(), before + 1);
    }
    v.assert_no_outbound();
}

// Rows 22 and 24: a token in the query. By default the query is never read (a query token
// alone is no credential; beside a header token it is ignored). Configured after the header,
// the header's token wins (the contract: the first source that carries a token); configured
// alone, it is taken and removed from the URI the handler sees.
#[tokio::test]
async fn r22_r24_query_tokens() {
    let v = Victim::start().await;
    let token = rs_token(&v, RS, &fresh_claims());
    let attacker = TestKey::rsa("rsa-1", Algorithm::RS256);
    let forged = sign_raw(&attacker, RS, &fresh_claims());
    let req = Request::get(format!("/api?access_token={token}"))
        .body(Body::empty())
        .unwrap();
    v.app.refuses(req, 401, Reason::MissingToken).await;
    let req = Request::get(format!("/api?access_token={forged}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(v.app.send(req).await.identity()["sub"], "u1");

    let both = Guarded::new(
        &JwtGuard::builder()
            .issuer(v.issuer.issuer())
            .token_sources([
                TokenSource::Header,
                TokenSource::Query("access_token".into()),
            ])
            .build()
            .unwrap(),
    );
    let req = Request::get(format!("/api?access_token={forged}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(both.send(req).await.identity()["sub"], "u1");
    let req = Request::get(format!("/api?access_token={token}&access_token={forged}"))
        .body(Body::empty())
        .unwrap();
    both.refuses(req, 400, Reason::MalformedQuery).await;
    let req = Request::get(format!("/api?a=1&access_token={token}&b=2"))
        .body(Body::empty())
        .unwrap();
    let out = both.send(req).await;
    assert_eq!(out.identity()["uri"], "/api?a=1&b=2");
    // The second guard fetched the configured set once for itself; nothing else was asked.
    assert_eq!(v.issuer.fetch_count(), 2);
    for request in v.issuer.requests() {
        assert!(
            request.starts_with("GET /.well-known/jwks.json HTTP/1.1\r\n"),
            "{request}"
        );
    }
}

// Rows 25–26: `typ`, audience and issuer confusion.
#[tokio::test]
async fn r25_r26_typ_aud_and_iss_confusion() {
    let issuer = TestIssuer::start().await;
    let v = Victim::with(issuer, |i| i.issuer("https://a.example").audience("app-b")).await;
    let now = now();
    let exp = now + 300;
    let claims = |aud: &str, iss: &str| format!(r#"{{"iss":{iss},"aud":{aud},"exp":{exp}}}"#);
    v.app
        .passes(&rs_token(
            &v,
            RS,
            &claims(r#""app-b""#, r#""https://a.example""#),
        ))
        .await;
    v.app
        .passes(&rs_token(
            &v,
            RS,
            &claims(r#"["x","app-b"]"#, r#""https://a.example""#),
        ))
        .await;
    let rows = ["dpop+jwt", "JWE", "secevent+jwt", "JOSE+JSON", "jwt+"].map(|typ| {
        let header = format!(r#"{{"alg":"RS256","kid":"rsa-1","typ":"{typ}"}}"#);
        let token = rs_token(&v, &header, &claims(r#""app-b""#, r#""https://a.example""#));
        (typ, token, Reason::BadHeader)
    });
    v.app.refuses_tokens(rows).await;
    // App A's token replayed to app B; aud in every confusing shape.
    let rows = [
        r#""app-a""#,
        r#"[]"#,
        r#""""#,
        "null",
        r#"{"0":"app-b"}"#,
        r#"["app-b "]"#,
        r#"["APP-B"]"#,
        r#"[["app-b"]]"#,
        r#"["x",1]"#,
        "1",
        r#""app-b\u0000""#,
    ]
    .map(|aud| {
        let token = rs_token(&v, RS, &claims(aud, r#""https://a.example""#));
        (aud, token, Reason::BadAudience)
    });
    v.app.refuses_tokens(rows).await;
    // iss: trailing slash, case, a Cyrillic look-alike, absent or not a string: no issuer.
    let rows = [
        r#""https://a.example/""#,
        r#""https://A.example""#,
        r#""https://\u0430.example""#,
        "1",
        "null",
        r#"["https://a.example"]"#,
    ]
    .map(|iss| (iss, rs_token(&v, RS, &claims(r#""app-b""#, iss))));
    let no_iss = rs_token(&v, RS, &format!(r#"{{"aud":"app-b","exp":{exp}}}"#));
    let rows = rows.into_iter().chain([("no iss", no_iss)]);
    v.app
        .refuses_tokens(rows.map(|(label, token)| (label, token, Reason::UnknownIssuer)))
        .await;
    v.assert_no_outbound();
}

// Issuer confusion and cross-issuer key reuse: two JWKS issuers whose key sets both name a key
// `rsa-1`. A token routed to one issuer by its `iss` is checked against that issuer's keys
// only; without `iss`, a kid both sets hold is ambiguous and refused.
#[tokio::test]
async fn cross_issuer_confusion_and_key_reuse() {
    let a = TestIssuer::start().await;
    let mut b = TestIssuer::start().await;
    b.add_key(TestKey::rsa("b-only", Algorithm::RS256), true);
    let guard = JwtGuard::builder()
        .issuer(a.issuer().name("a").issuer("https://a.example"))
        .issuer(b.issuer().name("b").issuer("https://b.example"))
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let app = Guarded::new(&guard);
    let claims = |iss: &str| format!(r#"{{"iss":"{iss}","sub":"u","exp":{}}}"#, now() + 300);
    let a_key = a.key("rsa-1").unwrap();
    let b_key = b.key("rsa-1").unwrap();
    assert_eq!(
        app.passes(&sign_raw(&a_key, RS, &claims("https://a.example")))
            .await["issuer"],
        "a"
    );
    assert_eq!(
        app.passes(&sign_raw(&b_key, RS, &claims("https://b.example")))
            .await["issuer"],
        "b"
    );
    let b_only = b.key("b-only").unwrap();
    let header = r#"{"alg":"RS256","kid":"b-only"}"#;
    #[rustfmt::skip]
    let rows = [
        ("b's key for a", sign_raw(&b_key, RS, &claims("https://a.example")), Reason::BadSignature),
        ("a's key for b", sign_raw(&a_key, RS, &claims("https://b.example")), Reason::BadSignature),
        ("b's own kid for a", sign_raw(&b_only, header, &claims("https://a.example")), Reason::UnknownKid),
    ];
    app.refuses_tokens(rows).await;
    assert_eq!((a.fetch_count(), b.fetch_count()), (1, 1));

    // Without `iss` on either issuer: a kid in both sets is ambiguous, whoever signed.
    let open = JwtGuard::builder()
        .issuer(a.issuer().name("a"))
        .issuer(b.issuer().name("b"))
        .build()
        .unwrap();
    let app = Guarded::new(&open);
    let rows = [("a's rsa-1", &a_key), ("b's rsa-1", &b_key)].map(|(label, key)| {
        (
            label,
            sign_raw(key, RS, &fresh_claims()),
            Reason::AmbiguousKey,
        )
    });
    app.refuses_tokens(rows).await;
    // A kid only one set holds resolves to that issuer alone.
    assert_eq!(
        app.passes(&sign_raw(&b_only, header, &fresh_claims()))
            .await["issuer"],
        "b"
    );
}

// Row 27: weak or empty HMAC secrets are configuration errors; a token signed with the empty
// secret never verifies.
#[tokio::test]
async fn r27_weak_hmac_secrets() {
    for (secret, algs) in [
        (vec![], vec![Algorithm::HS256]),
        (vec![1u8; 31], vec![Algorithm::HS256]),
        (vec![1u8; 47], vec![Algorithm::HS384]),
        (vec![1u8; 63], vec![Algorithm::HS512]),
    ] {
        let err = JwtGuard::builder()
            .issuer(Issuer::secret(secret).algorithms(algs))
            .build()
            .unwrap_err();
        assert_eq!(err.key(), Some("issuers[0].secret"));
    }
    let hs = Guarded::new(
        &JwtGuard::builder()
            .issuer(Issuer::secret([3u8; 32]))
            .build()
            .unwrap(),
    );
    for secret in [&b""[..], &[0u8; 32][..], b"secret"] {
        let token = sign_raw(
            &TestKey::hmac(secret, Algorithm::HS256),
            r#"{"alg":"HS256"}"#,
            &fresh_claims(),
        );
        hs.refuses_token(&token, 401, Reason::BadSignature).await;
    }
}

// Row 28: a failed verification never falls through to the handler, whichever layer flavour
// is used (the optional layer lets only a request without any token through).
#[tokio::test]
async fn r28_failures_never_reach_the_handler() {
    let v = Victim::start().await;
    let forged = sign_raw(
        &TestKey::rsa("rsa-1", Algorithm::RS256),
        RS,
        &fresh_claims(),
    );
    for layer in [
        v.guard.layer(),
        v.guard.auth_layer(),
        v.guard.optional_auth_layer(),
    ] {
        let app = Guarded::with_layer(layer);
        app.refuses_token(&forged, 401, Reason::BadSignature).await;
        app.refuses_token("x.y.z", 401, Reason::MalformedToken)
            .await;
    }
    let optional = Guarded::with_layer(v.guard.optional_auth_layer());
    let out = optional
        .send(Request::get("/api").body(Body::empty()).unwrap())
        .await;
    assert_eq!(out.identity()["sub"], Value::Null);
    v.assert_no_outbound();
}

fn renamed(jwk: &Value, kid: &str, changes: Value) -> Value {
    let mut jwk = jwk.clone();
    jwk["kid"] = json!(kid);
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            jwk.as_object_mut().unwrap().remove(k);
        } else {
            jwk[k] = v.clone();
        }
    }
    jwk
}

fn usable_keys(v: &Victim) -> Option<usize> {
    v.guard.readiness()[0].keys
}

// Row 29: weak RSA keys in the JWKS are dropped at load and never used.
#[tokio::test]
async fn r29_weak_rsa_keys_in_the_jwks() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let n = unb64(rsa["n"].as_str().unwrap());
    let mut even_n = n.clone();
    *even_n.last_mut().unwrap() &= 0xfe;
    issuer.set_jwks(vec![
        rsa.clone(),
        renamed(&rsa, "rsa-1024", json!({"n": b64(&n[..128])})),
        renamed(&rsa, "rsa-512", json!({"n": b64(&n[..64])})),
        renamed(&rsa, "e-1", json!({"e": b64([1u8])})),
        renamed(&rsa, "e-3", json!({"e": b64([3u8])})),
        renamed(&rsa, "e-even", json!({"e": b64([1u8, 0, 0])})),
        renamed(&rsa, "n-even", json!({"n": b64(&even_n)})),
        renamed(&rsa, "e-empty", json!({"e": ""})),
        renamed(
            &rsa,
            "n-padded",
            json!({"n": b64([&[0u8; 8][..], &n[..120]].concat())}),
        ),
    ]);
    let v = Victim::with(issuer, |i| i).await;
    assert_eq!(
        usable_keys(&v),
        Some(1),
        "only the 2048-bit key with e=65537 is usable"
    );
    let rsa_key = v.key("rsa-1");
    let rows = [
        "rsa-1024", "rsa-512", "e-1", "e-3", "e-even", "n-even", "e-empty", "n-padded",
    ]
    .map(|kid| (kid, kid_token(&rsa_key, "RS256", kid), Reason::UnknownKid));
    v.app.refuses_tokens(rows).await;
    v.app.passes(&rs_token(&v, RS, &fresh_claims())).await;
    v.assert_no_outbound();
}

// Rows 30, 31 and the oct row: keys that are not for signatures, keys whose `alg` or curve
// does not fit the token, wrong-curve EC keys, and secrets published in a key set. Each token
// below is signed by the very key material it names, so only the key-set rules refuse it.
#[tokio::test]
async fn r30_r31_ineligible_and_mismatched_keys() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let ec = issuer.key("ec-1").unwrap().jwk().clone();
    let p384 = TestKey::ec("p384", Algorithm::ES384);
    let p384_jwk = p384.jwk().clone();
    let secret = [4u8; 32];
    let mut off_curve = unb64(ec["y"].as_str().unwrap());
    off_curve[31] ^= 1;
    issuer.set_jwks(vec![
        rsa.clone(),
        ec.clone(),
        renamed(&rsa, "enc-1", json!({"use": "enc"})),
        renamed(&rsa, "use-num", json!({"use": 1})),
        renamed(&rsa, "ops-1", json!({"key_ops": ["encrypt", "wrapKey"]})),
        renamed(&rsa, "ops-2", json!({"key_ops": "verify"})),
        renamed(&rsa, "ps-1", json!({"alg": "PS256"})),
        renamed(&rsa, "hs-rsa", json!({"alg": "HS256"})),
        renamed(&rsa, "priv", json!({"d": "AAAA"})),
        renamed(&ec, "ec-as-384", json!({"alg": "ES384"})),
        renamed(&ec, "ec-k1", json!({"crv": "secp256k1"})),
        renamed(&ec, "ec-521", json!({"crv": "P-521"})),
        renamed(&ec, "ec-off", json!({"y": b64(&off_curve)})),
        renamed(&ec, "ec-nocrv", json!({"crv": null})),
        renamed(
            &p384_jwk,
            "p384-as-256",
            json!({"crv": "P-256", "alg": null}),
        ),
        p384_jwk.clone(),
        renamed(
            &ec,
            "okp",
            json!({"kty": "OKP", "crv": "Ed25519", "y": null, "x": b64([9u8; 32])}),
        ),
        json!({"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": b64(secret)}),
        json!({"kty": "oct", "kid": "hmac-2", "k": b64(secret)}),
    ]);
    let algorithms = vec![
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
    ];
    let v = Victim::with(issuer, |i| i.algorithms(algorithms)).await;
    // rsa-1, ec-1, ps-1 (as PS256) and p384 (as ES384).
    assert_eq!(usable_keys(&v), Some(4));
    let (rsa_key, ec_key) = (v.key("rsa-1"), v.key("ec-1"));
    let hmac = TestKey::hmac(&secret, Algorithm::HS256);
    // (key that signs, the token's alg, the kid it names, the refusal)
    let mut rows: Vec<(&TestKey, &str, &str, Reason)> = Vec::new();
    for kid in ["enc-1", "use-num", "ops-1", "ops-2", "hs-rsa", "priv"] {
        rows.push((&*rsa_key, "RS256", kid, Reason::UnknownKid));
    }
    for kid in ["ec-as-384", "ec-k1", "ec-521", "ec-off", "ec-nocrv", "okp"] {
        rows.push((&*ec_key, "ES256", kid, Reason::UnknownKid));
    }
    rows.extend([
        // The key's own alg decides: PS256 key, RS256 token; P-384 key, ES256 token.
        (&*rsa_key, "RS256", "ps-1", Reason::NoMatchingKey),
        (&p384, "ES256", "p384", Reason::NoMatchingKey),
        (&p384, "ES384", "p384-as-256", Reason::UnknownKid),
        // The oct key, with an HS256 token naming its kid, signed with its secret.
        (&hmac, "HS256", "hmac-1", Reason::AlgorithmNotAllowed),
        (&hmac, "HS256", "hmac-2", Reason::AlgorithmNotAllowed),
    ]);
    let rows = rows
        .into_iter()
        .map(|(key, alg, kid, reason)| (kid, kid_token(key, alg, kid), reason));
    v.app.refuses_tokens(rows).await;
    v.app.passes(&kid_token(&p384, "ES384", "p384")).await;
    v.assert_no_outbound();
    // Beside a real HMAC issuer, the published secret is still nobody's key.
    let mixed = JwtGuard::builder()
        .issuer(v.issuer.issuer())
        .issuer(Issuer::secret([8u8; 32]).name("hs"))
        .build()
        .unwrap();
    let app = Guarded::new(&mixed);
    let token = sign_raw(&hmac, r#"{"alg":"HS256","kid":"hmac-1"}"#, &fresh_claims());
    app.refuses_token(&token, 401, Reason::BadSignature).await;
}

// Row 32: kid collisions and tokens without a kid: at most one asymmetric check per token.
#[tokio::test]
async fn r32_kid_collisions_and_missing_kid() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let ec = issuer.key("ec-1").unwrap().jwk().clone();
    let other = TestKey::rsa("rsa-2", Algorithm::RS256);
    issuer.set_jwks(vec![
        rsa.clone(),
        rsa.clone(),
        ec.clone(),
        renamed(&ec, "rsa-1", json!({})),
        other.jwk().clone(),
        renamed(other.jwk(), "dup", json!({})),
        renamed(&rsa, "dup", json!({})),
    ]);
    let v = Victim::with(issuer, |i| i).await;
    let rsa_key = v.key("rsa-1");
    let rows = [
        // `rsa-1` names an RSA and an EC key: ambiguous.
        ("rsa-1: an RSA and an EC key", RS),
        // `dup` names two RSA keys: ambiguous.
        ("dup: two RSA keys", r#"{"alg":"RS256","kid":"dup"}"#),
        // No kid, several RS256 keys: ambiguous, not "try them all".
        ("no kid, several RS256 keys", r#"{"alg":"RS256"}"#),
    ]
    .map(|(label, header)| {
        let token = sign_raw(&rsa_key, header, &fresh_claims());
        (label, token, Reason::AmbiguousKey)
    });
    v.app.refuses_tokens(rows).await;
    v.assert_no_outbound();

    // Identical copies count once, and one eligible key serves a token without kid.
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let ec = issuer.key("ec-1").unwrap().jwk().clone();
    issuer.set_jwks(vec![rsa.clone(), rsa, ec.clone(), ec]);
    let v = Victim::with(issuer, |i| i).await;
    assert_eq!(usable_keys(&v), Some(2));
    v.app.passes(&rs_token(&v, RS, &fresh_claims())).await;
    v.app
        .passes(&sign_raw(
            &v.key("ec-1"),
            r#"{"alg":"ES256"}"#,
            &fresh_claims(),
        ))
        .await;
    v.assert_no_outbound();
}

// Row 35: a JWKS outage keeps the last good set (bounded by max_stale); a successful refresh
// replaces the whole set, so a removed key stops verifying, cached tokens included.
#[tokio::test]
async fn r35_outage_and_key_removal() {
    let issuer = TestIssuer::start().await;
    let clock = ManualClock::starting_now();
    let issuer = issuer.with_clock(clock.clone());
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .clock(clock.clone())
        .jwks_max_stale(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let app = Guarded::new(&guard);
    let mut issuer = issuer;
    let rsa_token = issuer.token().subject("r").expires_in(3000).sign();
    // Twice: the second sighting puts it in the verified-token cache.
    app.passes(&rsa_token).await;
    app.passes(&rsa_token).await;

    // Past the TTL (10 min), the host fails: the stale set still verifies a new token (whose
    // request starts the background refresh), and the cached one.
    issuer.respond_with(jwt_guard::testing::JwksResponse::Status(503));
    clock.advance(Duration::from_secs(700));
    app.passes(&issuer.token().subject("stale").sign()).await;
    assert!(guard.warm_up().await);
    assert_eq!(issuer.fetch_count(), 2);
    app.passes(&rsa_token).await;

    // The host recovers without `rsa-1`: once refreshed, rsa-1 tokens fail, cached or not.
    issuer.respond_with(jwt_guard::testing::JwksResponse::Keys);
    issuer.publish_only(&["ec-1"]);
    clock.advance(Duration::from_secs(31));
    assert!(guard.warm_up().await);
    assert_eq!(issuer.fetch_count(), 3);
    app.refuses_token(&rsa_token, 401, Reason::UnknownKid).await;
    issuer.use_key("ec-1");
    app.passes(&issuer.token().sign()).await;
    assert_eq!(issuer.fetch_count(), 3);
}

// Row 36: the JWKS URL redirects to an attacker's key set: the redirect is not followed, so
// the attacker's keys never load (503 until the configured host answers itself). Plain http to
// a non-loopback host, and credentials in the URL, are configuration errors.
#[tokio::test]
async fn r36_jwks_redirects_are_not_followed() {
    let mut attacker = TestIssuer::start().await;
    attacker.add_key(TestKey::rsa("evil-1", Algorithm::RS256), true);
    attacker.use_key("evil-1");
    let redirect = Trap::start(format!(
        "HTTP/1.1 302 Found\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        attacker.jwks_url()
    ))
    .await;
    let guard = JwtGuard::builder()
        .issuer(Issuer::jwks(&redirect.url))
        .build()
        .unwrap();
    assert!(!guard.warm_up().await);
    let app = Guarded::new(&guard);
    let out = app
        .refuses_token(&attacker.token().sign(), 503, Reason::KeysUnavailable)
        .await;
    assert!(out.headers.get("retry-after").is_some());
    assert_eq!(redirect.hits(), 1);
    assert_eq!(attacker.fetch_count(), 0, "the redirect was followed");

    for url in [
        "http://jwks.example/keys",
        "https://user:pw@jwks.example/keys",
        "ftp://jwks.example/k",
    ] {
        assert_eq!(
            JwtGuard::builder()
                .issuer(Issuer::jwks(url))
                .build()
                .unwrap_err()
                .key(),
            Some("issuers[0].jwks_url"),
            "{url}"
        );
    }
}

// CORS next to authentication (§4.3) and the origin-matching bypasses of cors.md §2.8: each
// hostile origin gets 403 without any CORS header, with a valid token, and the handler never
// runs; their preflights are refused the same way.
#[tokio::test]
async fn cors_origin_matching_bypasses() {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .cors(
            Cors::new()
                .allow_origins(["https://app.example"])
                .allow_origin_pattern("https://*.marketplace.example")
                .allow_credentials(true),
        )
        .build()
        .unwrap();
    let app = Guarded::new(&guard);
    let token = issuer.token().sign();
    let with_origin = |origin: &[u8]| {
        Request::get("/api")
            .header("authorization", format!("Bearer {token}"))
            .header("origin", HeaderValue::from_bytes(origin).unwrap())
            .body(Body::empty())
            .unwrap()
    };
    for good in [
        "https://app.example",
        "https://a.marketplace.example",
        "https://x.y.marketplace.example",
    ] {
        let out = app.send(with_origin(good.as_bytes())).await;
        assert_eq!(out.status, 200);
        assert_eq!(out.headers["access-control-allow-origin"], good);
        assert_eq!(out.headers["access-control-allow-credentials"], "true");
    }
    let huge = format!("https://{}.marketplace.example", "a.".repeat(5_000));
    let hostile: Vec<&[u8]> = vec![
        huge.as_bytes(),
        b"null",
        b"https://evil.example",
        b"https://app.example.attacker.io",
        b"https://evilapp.example",
        b"https://app.example:443",
        b"https://APP.example",
        b"https://app.example/",
        b"https://app.example.",
        b"http://app.example",
        b"https://marketplace.example",
        b"https://evilmarketplace.example",
        b"https://marketplace.example.attacker.io",
        b"https://a.marketplace.example.attacker.io",
        b"https://attacker.io/a.marketplace.example",
        b"https://attacker.io?.marketplace.example",
        b"https://attacker.io#.marketplace.example",
        b"https://user@a.marketplace.example",
        b"https://a.marketplace.example:8443",
        b"http://a.marketplace.example",
        b"https://a.marketplacexexample",
        b"https://a.marketplace.example%2eattacker.io",
        b"https://.marketplace.example",
        b"https://a..marketplace.example",
        b"https://.a.marketplace.example",
        b"https://a.b..marketplace.example",
        // Found by the `origin` fuzz target: characters the URL parser keeps in a host.
        b"https://'.a.marketplace.example",
        b"https://'.y.b.example:8443",
        b"https://a$.marketplace.example",
        b"https://*.marketplace.example",
        b"https://a_b.marketplace.example",
        b"https://a!.marketplace.example",
        b"https://a.marketplace.example.",
        b"https://A.marketplace.example",
        b"https://a.marketplace.exampl\xd0\xb5",
        b"https://a.marketplace.example\t",
        b"wss://a.marketplace.example",
        b"*",
    ];
    for origin in &hostile {
        let out = app
            .refuses(with_origin(origin), 403, Reason::OriginNotAllowed)
            .await;
        assert!(
            out.headers.get("access-control-allow-origin").is_none(),
            "{out:?}"
        );
        let preflight = Request::options("/api")
            .header("origin", HeaderValue::from_bytes(origin).unwrap())
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap();
        let out = app.refuses(preflight, 403, Reason::PreflightRefused).await;
        assert!(out.headers.get("access-control-allow-origin").is_none());
    }
    // A preflight is answered before authentication; a refused token still carries CORS.
    let preflight = Request::options("/api")
        .header("origin", "https://a.marketplace.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(preflight).await.status, 204);
    let req = Request::get("/api")
        .header("authorization", "Bearer x.y.z")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let out = app.refuses(req, 401, Reason::MalformedToken).await;
    assert_eq!(
        out.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(app.calls(), 3);

    // Configurations that would let anyone in are refused when the layer is built.
    for (cors, key) in [
        (
            Cors::new().allow_origin_pattern("https://*.github.io"),
            "cors.allow_origin_pattern[0]",
        ),
        (
            Cors::new().allow_origin_pattern("https://*.co.uk"),
            "cors.allow_origin_pattern[0]",
        ),
        (
            Cors::new().allow_origin_pattern("https://*.com"),
            "cors.allow_origin_pattern[0]",
        ),
        (
            Cors::new().allow_origins(["*"]).allow_credentials(true),
            "cors.allow_origins[0]",
        ),
        (Cors::new().allow_origins(["null"]), "cors.allow_origins[0]"),
        (
            Cors::new().allow_origins(["http://app.example"]),
            "cors.allow_origins[0]",
        ),
    ] {
        assert_cors_refused(&issuer, cors, key);
    }
}
