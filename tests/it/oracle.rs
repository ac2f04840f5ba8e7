//! `jsonwebtoken` as a differential oracle.
//!
//! Every token the guard accepts must be accepted by `jsonwebtoken::decode` too, with the
//! equivalent key (from the test issuer's JWK or PEM, or the shared secret) and a `Validation`
//! holding the guard's checks (algorithm, exact `iss`, `aud`, required `exp`, `nbf`, 30 s of
//! leeway), and both must read the same claims. The tokens cover RS256 (two kids), PS256, ES256,
//! ES384, EdDSA and HS256, with several claim shapes each.
//!
//! The other direction is listed case by case: tokens the guard refuses on purpose while
//! `jsonwebtoken` accepts them, each with the rule of this crate that refuses it and the exact
//! reason. A few tokens both refuse show that the oracle's `Validation` is not a pushover.

use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use jwt_guard::testing::{TestIssuer, TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Issuer, JwtGuard, Reason};
use serde_json::{Map, Value, json};

const ISS: &str = "https://marketplace.example";
const AUD: &str = "orders-api";
/// 41 bytes: over HS256's 32-byte minimum.
const SECRET: &[u8] = b"oracle-secret-0123456789abcdef-0123456789";
/// The guard's default leeway.
const LEEWAY: u64 = 30;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Key {
    Test(Arc<TestKey>),
    Ed(Ed25519KeyPair),
}

/// One signing key, its verifier on the `jsonwebtoken` side, and which guard knows it.
struct Signer {
    name: &'static str,
    kid: Option<String>,
    alg: jsonwebtoken::Algorithm,
    key: Key,
    decoding: DecodingKey,
    hmac: bool,
}

impl Signer {
    fn header(&self) -> Value {
        let alg = serde_json::to_value(self.alg).unwrap();
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = Value::from(kid.as_str());
        }
        header
    }

    /// Signs exactly these header and payload texts (duplicate members and escapes survive).
    fn mint_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = match &self.key {
            Key::Test(key) => key.sign_input(&input),
            Key::Ed(pair) => b64(pair.sign(input.as_bytes())),
        };
        format!("{input}.{signature}")
    }

    /// The claims `claims` under the usual header: through `TokenBuilder` for the test issuer's
    /// keys, by hand for Ed25519 (which `TestKey` does not make).
    fn mint(&self, claims: &Map<String, Value>) -> String {
        match &self.key {
            Key::Test(key) => {
                let mut builder = TokenBuilder::new(Arc::clone(key), now())
                    .without("iat")
                    .without("exp");
                for (name, value) in claims {
                    builder = builder.claim(name, value.clone());
                }
                builder.sign()
            }
            Key::Ed(_) => self.mint_raw(
                &self.header().to_string(),
                &Value::Object(claims.clone()).to_string(),
            ),
        }
    }

    /// The guard's checks, for `jsonwebtoken`.
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(self.alg);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }

    fn oracle(&self, token: &str) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &self.validation())
            .map(|data| data.claims)
    }
}

struct Setup {
    // Kept alive: it serves the JWKS.
    _issuer: TestIssuer,
    jwks: JwtGuard,
    hs: JwtGuard,
    signers: Vec<Signer>,
}

impl Setup {
    async fn verify(&self, signer: &Signer, token: &str) -> Result<Map<String, Value>, Reason> {
        let guard = if signer.hmac { &self.hs } else { &self.jwks };
        guard
            .verify(token)
            .await
            .map(|who| who.claims().clone())
            .map_err(|rejection| rejection.reason())
    }

    fn signer(&self, name: &str) -> &Signer {
        self.signers.iter().find(|s| s.name == name).unwrap()
    }
}

fn jwk_key(jwk: &Value) -> DecodingKey {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    DecodingKey::from_jwk(&jwk).unwrap()
}

async fn setup() -> Setup {
    let mut issuer = TestIssuer::start().await;
    issuer.add_key(TestKey::rsa("rsa-2", Algorithm::RS256), true);
    issuer.add_key(TestKey::rsa("ps-1", Algorithm::PS256), true);
    issuer.add_key(TestKey::ec("ec-384", Algorithm::ES384), true);
    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_jwk = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "use": "sig",
        "x": b64(ed.public_key().as_ref()),
    });
    let test_kids = ["rsa-1", "rsa-2", "ps-1", "ec-1", "ec-384"];
    let mut jwks: Vec<Value> = test_kids
        .iter()
        .map(|kid| issuer.key(kid).unwrap().jwk().clone())
        .collect();
    jwks.push(ed_jwk.clone());
    issuer.set_jwks(jwks);

    let test = |name, kid: &str, alg, pem: bool| {
        let key = issuer.key(kid).unwrap();
        let decoding = if pem {
            let pem = key.public_key_pem().unwrap();
            match alg {
                jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
                    DecodingKey::from_ec_pem(pem.as_bytes()).unwrap()
                }
                _ => DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            }
        } else {
            jwk_key(key.jwk())
        };
        Signer {
            name,
            kid: Some(kid.to_owned()),
            alg,
            key: Key::Test(key),
            decoding,
            hmac: false,
        }
    };
    use jsonwebtoken::Algorithm as J;
    let signers = vec![
        test("RS256 rsa-1 (JWK)", "rsa-1", J::RS256, false),
        test("RS256 rsa-2 (PEM)", "rsa-2", J::RS256, true),
        test("PS256 ps-1 (JWK)", "ps-1", J::PS256, false),
        test("ES256 ec-1 (JWK)", "ec-1", J::ES256, false),
        test("ES384 ec-384 (PEM)", "ec-384", J::ES384, true),
        Signer {
            name: "EdDSA ed-1 (JWK)",
            kid: Some("ed-1".into()),
            alg: J::EdDSA,
            key: Key::Ed(ed),
            decoding: jwk_key(&ed_jwk),
            hmac: false,
        },
        Signer {
            name: "HS256 (secret)",
            kid: None,
            alg: J::HS256,
            key: Key::Test(Arc::new(TestKey::hmac(SECRET, Algorithm::HS256))),
            decoding: DecodingKey::from_secret(SECRET),
            hmac: true,
        },
    ];

    let jwks = JwtGuard::builder()
        .issuer(issuer.issuer().issuer(ISS).audience(AUD).algorithms([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ]))
        .build()
        .unwrap();
    assert!(jwks.warm_up().await, "JWKS did not load");
    let hs = JwtGuard::builder()
        .issuer(Issuer::secret(SECRET).issuer(ISS).audience(AUD))
        .build()
        .unwrap();
    Setup {
        _issuer: issuer,
        jwks,
        hs,
        signers,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// The claim shapes every signer signs; the guard and `jsonwebtoken` must both accept them.
fn shapes(now: u64) -> Vec<(&'static str, Map<String, Value>)> {
    let base = |extra: Value| {
        let mut claims = object(json!({
            "iss": ISS, "aud": AUD, "sub": "user-1", "iat": now, "exp": now + 300,
        }));
        claims.extend(object(extra));
        claims
    };
    vec![
        ("minimal", base(json!({}))),
        (
            "aud as an array",
            base(json!({ "aud": ["billing", AUD, "reports"] })),
        ),
        ("no iat, no sub", {
            let mut claims = base(json!({}));
            claims.remove("iat");
            claims.remove("sub");
            claims
        }),
        (
            "nbf in the past, fractional exp",
            base(json!({ "nbf": now - 60, "exp": (now as f64) + 600.5 })),
        ),
        (
            "nested objects and arrays",
            base(json!({
                "ctx": {
                    "tenant": { "id": 42, "name": "acme", "tags": ["a", "b"] },
                    "empty": {}, "list": [], "flags": [true, false, null],
                },
                "roles": ["orders:read", "orders:write"],
                "items": [{ "sku": "x-1", "qty": 2 }, { "sku": "y-2", "qty": 0 }],
                "deep": { "a": { "b": { "c": { "d": { "e": [[[1]]] } } } } },
            })),
        ),
        (
            "numbers: large, negative, float",
            base(json!({
                "u64_max": u64::MAX,
                "i64_min": i64::MIN,
                "beyond_u64": 2.0e22,
                "tenth": 0.1,
                "huge": 1.5e300,
                "tiny": -2.5e-300,
                "zero": 0,
                "price": 19.99,
            })),
        ),
        (
            "unicode strings",
            base(json!({
                "sub": "ユーザー-1",
                "name": "Zoë Ünïcødé 🚀",
                "rtl": "مرحبا",
                "controls": "tab\tnew\nline \"quoted\" back\\slash \u{7f}",
                "tenant": "PARTNER_42",
            })),
        ),
        (
            "null and booleans",
            base(json!({ "nothing": null, "admin": false, "verified": true, "jti": "a-1" })),
        ),
    ]
}

#[tokio::test]
async fn every_token_the_guard_accepts_jsonwebtoken_accepts_with_equal_claims() {
    let setup = setup().await;
    let now = now();
    let mut accepted = 0usize;
    for signer in &setup.signers {
        for (shape, claims) in shapes(now) {
            let token = signer.mint(&claims);
            let ours = setup.verify(signer, &token).await;
            let theirs = signer.oracle(&token);
            let ours = ours.unwrap_or_else(|reason| {
                panic!("{} / {shape}: the guard refused: {reason:?}", signer.name)
            });
            let theirs = theirs
                .unwrap_or_else(|e| panic!("{} / {shape}: jsonwebtoken refused: {e}", signer.name));
            assert_eq!(ours, theirs, "{} / {shape}: claims differ", signer.name);
            assert_eq!(
                ours, claims,
                "{} / {shape}: not the minted claims",
                signer.name
            );
            accepted += 1;
        }
    }
    assert_eq!(accepted, setup.signers.len() * shapes(now).len());
    assert_eq!(accepted, 7 * 8);
}

#[tokio::test]
async fn hand_written_json_is_read_alike() {
    // Escapes, whitespace and member order as a third-party issuer may write them.
    let setup = setup().await;
    let now = now();
    let payload = format!(
        "{{ \"iss\" : \"{ISS}\",\n \"aud\":[\"{AUD}\"], \"exp\": {exp}, \"iat\":{now},\
         \"sub\":\"caf\\u00e9 \\ud83d\\ude80\", \"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\
         \"n\": 1E3, \"m\": -0.0, \"o\": 12345678901234567890123 }}",
        exp = now + 300
    );
    let mut checked = 0;
    for signer in &setup.signers {
        let token = signer.mint_raw(&signer.header().to_string(), &payload);
        let ours = setup.verify(signer, &token).await.unwrap();
        let theirs = signer.oracle(&token).unwrap();
        assert_eq!(ours, theirs, "{}", signer.name);
        assert_eq!(ours["sub"], "café 🚀");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

/// One token the guard refuses on purpose and `jsonwebtoken` accepts.
struct Stricter {
    rule: &'static str,
    header: String,
    payload: String,
    reason: Reason,
}

#[tokio::test]
async fn the_guard_is_stricter_on_these_tokens_and_only_these_rules() {
    let setup = setup().await;
    let signer = setup.signer("RS256 rsa-1 (JWK)");
    let now = now();
    let exp = now + 300;
    let header = signer.header().to_string();
    let claims =
        |extra: &str| format!(r#"{{"iss":"{ISS}","aud":"{AUD}","iat":{now},"exp":{exp}{extra}}}"#);
    let with_header =
        |extra: &str| format!(r#"{{"alg":"RS256","typ":"JWT","kid":"rsa-1"{extra}}}"#);
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let cases = [
        Stricter {
            // strict_json.rs: duplicate member names are an error (RFC 7515 §5.2); serde's map keeps
            // the last value, so jsonwebtoken reads `role` as "admin".
            rule: "duplicate claim member",
            header: header.clone(),
            payload: claims(r#","role":"user","role":"admin""#),
            reason: Reason::BadPayload,
        },
        Stricter {
            // strict_json.rs: duplicates are refused at any depth.
            rule: "duplicate member in a nested claim object",
            header: header.clone(),
            payload: claims(r#","ctx":{"tenant":"a","tenant":"b"}"#),
            reason: Reason::BadPayload,
        },
        Stricter {
            // strict_json.rs: the header is parsed by the same strict parser.
            rule: "duplicate header member",
            header: with_header(r#","x-trace":"a","x-trace":"b""#),
            payload: claims(""),
            reason: Reason::BadHeader,
        },
        Stricter {
            // verify/jws.rs: no extension is understood, so any `crit` is refused (RFC 7515 §4.1.11).
            rule: "header with crit",
            header: with_header(r#","crit":["exp"]"#),
            payload: claims(""),
            reason: Reason::BadHeader,
        },
        Stricter {
            // verify/jws.rs: `b64` (RFC 7797) changes what is signed: refused.
            rule: "header with b64",
            header: with_header(r#","b64":true"#),
            payload: claims(""),
            reason: Reason::BadHeader,
        },
        Stricter {
            // verify/jws.rs: `typ`, when present, says JWT or at+jwt.
            rule: "typ that is not a JWT",
            header: r#"{"alg":"RS256","typ":"dpop+jwt","kid":"rsa-1"}"#.to_owned(),
            payload: claims(""),
            reason: Reason::BadHeader,
        },
        Stricter {
            // verify/jws.rs: a `kid` is at most 256 bytes (MAX_KID_LEN).
            rule: "kid longer than 256 bytes",
            header: format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)),
            payload: claims(""),
            reason: Reason::BadHeader,
        },
        Stricter {
            // strict_json.rs: nesting is bounded (16 containers, the claim set being one).
            rule: "claims nested deeper than 16",
            header: header.clone(),
            payload: claims(&format!(r#","deep":{}"#, nested(16))),
            reason: Reason::BadPayload,
        },
        Stricter {
            // strict_json.rs: at most 1024 members and elements in the claim set.
            rule: "more than 1024 entries",
            header: header.clone(),
            payload: claims(&format!(r#","many":[{}]"#, vec!["0"; 1100].join(","))),
            reason: Reason::BadPayload,
        },
        Stricter {
            // issuer/claims/mod.rs: a date claim present with another type is a rejection, not an
            // absence; jsonwebtoken never reads `iat`.
            rule: "iat as a string",
            header: header.clone(),
            payload: format!(r#"{{"iss":"{ISS}","aud":"{AUD}","iat":"{now}","exp":{exp}}}"#),
            reason: Reason::BadDate,
        },
        Stricter {
            // issuer/claims/mod.rs: NumericDates end at 9999-12-31T23:59:59Z (MAX_DATE).
            rule: "exp after year 9999",
            header: header.clone(),
            payload: format!(r#"{{"iss":"{ISS}","aud":"{AUD}","exp":253402300800}}"#),
            reason: Reason::BadDate,
        },
        Stricter {
            // issuer/claims/mod.rs: `iat` later than now plus the leeway is refused.
            rule: "iat in the future",
            header: header.clone(),
            payload: format!(
                r#"{{"iss":"{ISS}","aud":"{AUD}","iat":{},"exp":{}}}"#,
                now + 3600,
                now + 3900
            ),
            reason: Reason::IssuedInFuture,
        },
        Stricter {
            // claims.rs and the routing by `iss`: `iss` is one exact string (an array routes to
            // no issuer); jsonwebtoken accepts an array holding the configured issuer.
            rule: "iss as an array",
            header: header.clone(),
            payload: format!(r#"{{"iss":["{ISS}"],"aud":"{AUD}","exp":{exp}}}"#),
            reason: Reason::UnknownIssuer,
        },
        Stricter {
            // issuer/claims/mod.rs: `sub`, when present, is a string.
            rule: "sub as a number",
            header: header.clone(),
            payload: claims(r#","sub":42"#),
            reason: Reason::BadPayload,
        },
        Stricter {
            // issuer/claims/mod.rs: `jti`, when present, is a string.
            rule: "jti as a number",
            header: header.clone(),
            payload: claims(r#","jti":7"#),
            reason: Reason::BadPayload,
        },
    ];
    let mut stricter = Vec::new();
    for case in &cases {
        let token = signer.mint_raw(&case.header, &case.payload);
        let theirs = signer.oracle(&token);
        assert!(
            theirs.is_ok(),
            "{}: jsonwebtoken refused too: {:?}",
            case.rule,
            theirs.err()
        );
        assert_eq!(
            setup.verify(signer, &token).await.err(),
            Some(case.reason),
            "{}",
            case.rule
        );
        stricter.push(case.rule);
    }
    assert_eq!(stricter.len(), 15);
}

#[tokio::test]
async fn both_refuse_these() {
    // The oracle's Validation does check: without these, "jsonwebtoken accepts" proves nothing.
    let setup = setup().await;
    let now = now();
    let mut refused = 0;
    for signer in &setup.signers {
        let claims = |extra: Value| {
            let mut claims = object(json!({ "iss": ISS, "aud": AUD, "exp": now + 300 }));
            claims.extend(object(extra));
            claims
        };
        let good = signer.mint(&claims(json!({})));
        let (input, signature) = good.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[0] ^= 1;
        let cases = [
            ("tampered signature", format!("{input}.{}", b64(&sig))),
            ("expired", signer.mint(&claims(json!({ "exp": now - 600 })))),
            (
                "other audience",
                signer.mint(&claims(json!({ "aud": "billing" }))),
            ),
            (
                "other issuer",
                signer.mint(&claims(json!({ "iss": "https://evil.example" }))),
            ),
            ("no exp", {
                let mut c = claims(json!({}));
                c.remove("exp");
                signer.mint(&c)
            }),
            (
                "nbf ahead",
                signer.mint(&claims(json!({ "nbf": now + 600 }))),
            ),
            ("exp as a string", {
                signer.mint(&claims(json!({ "exp": (now + 300).to_string() })))
            }),
        ];
        for (what, token) in cases {
            assert!(
                setup.verify(signer, &token).await.is_err(),
                "{} / {what}: the guard accepted",
                signer.name
            );
            assert!(
                signer.oracle(&token).is_err(),
                "{} / {what}: jsonwebtoken accepted",
                signer.name
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 7 * 7);
}
