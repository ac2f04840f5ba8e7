//! The RS256 and ES256 examples of RFC 7515 (Appendix A.2 and A.3): tokens and keys that no
//! one here wrote, verified through a JWKS served on loopback.
//!
//! Both tokens carry `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`
//! and no `kid`, so the key is chosen as "the one key that fits the algorithm".

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_guard::testing::TestIssuer;
use jwt_guard::{Algorithm, JwtGuard, ManualClock, Reason};
use serde_json::{Value, json};

use crate::common::{app, get_with, send};

/// RFC 7515 A.2.1: the RS256 JWS in compact serialization.
const A2_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5",
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L",
    "07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUi",
    "pUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
);

/// RFC 7515 A.2.1: the RSA public key (`n`, `e`).
const A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Q",
    "lL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbB",
    "YUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DW",
    "NmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);
const A2_E: &str = "AQAB";

/// RFC 7515 A.3.1: the ES256 JWS in compact serialization.
const A3_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
);

/// RFC 7515 A.3.1: the P-256 public key (`x`, `y`).
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// The tokens' `exp`.
const EXP: u64 = 1_300_819_380;

fn a2_jwk(alg: bool) -> Value {
    let mut jwk = json!({"kty": "RSA", "n": A2_N, "e": A2_E});
    if alg {
        jwk["alg"] = json!("RS256");
    }
    jwk
}

fn a3_jwk(alg: bool) -> Value {
    let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y});
    if alg {
        jwk["alg"] = json!("ES256");
    }
    jwk
}

/// A guard over a loopback JWKS serving `keys`, with the clock at `now` and `iss` "joe".
async fn guard(keys: Vec<Value>, now: u64) -> (TestIssuer, JwtGuard, ManualClock) {
    let clock = ManualClock::at(now);
    let issuer = TestIssuer::start().await;
    issuer.set_jwks(keys);
    let guard = JwtGuard::builder()
        .issuer(
            issuer
                .issuer()
                .issuer("joe")
                .required_claims(["exp", "iss"]),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    (issuer, guard, clock)
}

/// Flips one bit of the signature (properly re-encoded, so only the bit differs).
fn flip_signature_bit(token: &str, byte: usize) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[byte] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
}

fn assert_rfc_claims(who: &jwt_guard::Verified, alg: Algorithm) {
    assert_eq!(who.issuer_name(), "test");
    assert_eq!(who.algorithm(), alg);
    assert_eq!(who.kid(), None);
    assert_eq!(
        Value::Object(who.claims().clone()),
        json!({"iss": "joe", "exp": EXP, "http://example.com/is_root": true})
    );
}

#[tokio::test]
async fn a2_rs256_example_verifies_with_its_published_key() {
    for with_alg in [true, false] {
        let (issuer, guard, _clock) = guard(vec![a2_jwk(with_alg)], EXP - 380).await;
        let who = guard.verify(A2_TOKEN).await.unwrap();
        assert_rfc_claims(&who, Algorithm::RS256);
        // Through the layer as well.
        let (res, body) = send(&app(&guard), get_with("/whoami", A2_TOKEN)).await;
        assert_eq!(res.status(), 200, "{body}");
        assert_eq!(issuer.fetch_count(), 1);
    }
}

#[tokio::test]
async fn a3_es256_example_verifies_with_its_published_key() {
    for with_alg in [true, false] {
        let (issuer, guard, _clock) = guard(vec![a3_jwk(with_alg)], EXP - 380).await;
        let who = guard.verify(A3_TOKEN).await.unwrap();
        assert_rfc_claims(&who, Algorithm::ES256);
        let (res, body) = send(&app(&guard), get_with("/whoami", A3_TOKEN)).await;
        assert_eq!(res.status(), 200, "{body}");
        assert_eq!(issuer.fetch_count(), 1);
    }
}

#[tokio::test]
async fn both_examples_from_one_key_set() {
    let (_issuer, guard, _clock) = guard(vec![a2_jwk(false), a3_jwk(false)], EXP - 1).await;
    assert_rfc_claims(&guard.verify(A2_TOKEN).await.unwrap(), Algorithm::RS256);
    assert_rfc_claims(&guard.verify(A3_TOKEN).await.unwrap(), Algorithm::ES256);
}

#[tokio::test]
async fn one_flipped_signature_bit_fails() {
    let (_issuer, guard, _clock) = guard(vec![a2_jwk(true), a3_jwk(true)], EXP - 1).await;
    for (token, bytes) in [(A2_TOKEN, [0, 100, 255]), (A3_TOKEN, [0, 31, 63])] {
        for byte in bytes {
            let forged = flip_signature_bit(token, byte);
            assert_ne!(forged, token);
            let err = guard.verify(&forged).await.unwrap_err();
            assert_eq!(err.reason(), Reason::BadSignature, "byte {byte}");
        }
        // The original still verifies: the key set was not disturbed.
        assert!(guard.verify(token).await.is_ok());
    }
    // Through the layer: 401 with the signature's description.
    let (res, _) = send(
        &app(&guard),
        get_with("/whoami", &flip_signature_bit(A3_TOKEN, 10)),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"the token signature is invalid\""
    );
}

#[tokio::test]
async fn the_examples_are_bound_to_their_algorithm_and_key() {
    // The RS256 signature under the EC key's algorithm, and the other way round, never verify.
    let (_issuer, guard, _clock) = guard(vec![a2_jwk(true), a3_jwk(true)], EXP - 1).await;
    let (a2_input, a2_sig) = A2_TOKEN.rsplit_once('.').unwrap();
    let (a3_input, a3_sig) = A3_TOKEN.rsplit_once('.').unwrap();
    let err = guard
        .verify(&format!("{a2_input}.{a3_sig}"))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::BadSignature);
    let err = guard
        .verify(&format!("{a3_input}.{a2_sig}"))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::BadSignature);
    // Served only the other key, neither example finds a key for its algorithm.
    let (_issuer, guard, _clock) = guard_with_only(a3_jwk(true)).await;
    assert_eq!(
        guard.verify(A2_TOKEN).await.unwrap_err().reason(),
        Reason::NoMatchingKey
    );
}

async fn guard_with_only(jwk: Value) -> (TestIssuer, JwtGuard, ManualClock) {
    guard(vec![jwk], EXP - 1).await
}

#[tokio::test]
async fn the_examples_expire_in_2011_with_the_leeway() {
    let (_issuer, guard, clock) = guard(vec![a2_jwk(true), a3_jwk(true)], EXP + 29).await;
    assert!(guard.verify(A2_TOKEN).await.is_ok());
    assert!(guard.verify(A3_TOKEN).await.is_ok());
    clock.set(EXP + 30);
    assert_eq!(
        guard.verify(A2_TOKEN).await.unwrap_err().reason(),
        Reason::Expired
    );
    assert_eq!(
        guard.verify(A3_TOKEN).await.unwrap_err().reason(),
        Reason::Expired
    );
    // A guard that expects another issuer refuses them.
    let clock = ManualClock::at(EXP - 1);
    let issuer = TestIssuer::start().await;
    issuer.set_jwks(vec![a2_jwk(true)]);
    let other = JwtGuard::builder()
        .issuer(issuer.issuer().issuer("not-joe"))
        .clock(clock)
        .build()
        .unwrap();
    assert_eq!(
        other.verify(A2_TOKEN).await.unwrap_err().reason(),
        Reason::UnknownIssuer
    );
}
