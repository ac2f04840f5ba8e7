//! Differential against `jsonwebtoken`: tokens mutated from valid ones, verified by both.
//!
//! The input is `MODE HEADER 0x00 PAYLOAD`: the header and payload bytes are encoded as they
//! are, signed with HS256 (so the mutations reach the claim checks instead of dying at the
//! signature), then `MODE` may mutate the compact form (padding, a truncated or altered
//! signature, an extra segment). The seeds in `corpus/differential/` are valid tokens' parts.
//!
//! The property, as in `tests/it/oracle.rs`:
//! - whatever this crate accepts, `jsonwebtoken` accepts with equal claims — except where the
//!   header's only difference is in members this crate never reads (`jku`, `jwk`, `x5u`,
//!   `x5c`, `x5t`, `x5t#S256`, `cty`): then the same token without them must pass `jsonwebtoken`;
//! - whatever `jsonwebtoken` accepts and this crate refuses is refused for one of the
//!   documented stricter rules (the threat model, the README's security table and the oracle's
//!   list): a refused header or payload, a date or `iat` of the wrong type or range, an `iss`
//!   or `aud` of the wrong type, the token cap — or an expiry within two seconds of the
//!   boundary (this crate counts time in fractions of a second, `jsonwebtoken` in whole ones).
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use jwt_guard::{Issuer, JwtGuard, Reason};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const SECRET: &[u8] = b"differential-secret-0123456789abcdef-0123";
/// The guard's default leeway.
const LEEWAY: u64 = 30;
/// Header members this crate never reads (RFC 7515 §4.1.2–4.1.8, §4.1.10).
const NEVER_READ: [&str; 7] = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "cty"];

struct Setup {
    runtime: tokio::runtime::Runtime,
    guard: JwtGuard,
    key: aws_lc_rs::hmac::Key,
    decoding: DecodingKey,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime"),
        guard: JwtGuard::builder()
            .issuer(Issuer::secret(SECRET))
            .without_token_cache()
            .build()
            .expect("guard"),
        key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET),
        decoding: DecodingKey::from_secret(SECRET),
    })
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let tag = aws_lc_rs::hmac::sign(&setup().key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The guard's checks for `jsonwebtoken`: HS256, required `exp`, `nbf` checked, 30 s leeway;
/// no `iss` or `aud` is configured on either side.
fn oracle(token: &str) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, &setup().decoding, &validation)
        .map(|data| data.claims)
}

fn mutate(token: String, mode: u8) -> String {
    match mode % 8 {
        4 => format!("{token}="),
        5 => {
            let sig = token.rsplit('.').next().unwrap_or_default().to_owned();
            format!("{token}.{sig}")
        }
        6 => token
            .get(..token.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned(),
        7 => {
            let mut bytes = token.into_bytes();
            if let Some(last) = bytes.last_mut() {
                *last = if *last == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8(bytes).unwrap_or_default()
        }
        _ => token,
    }
}

/// The refusals that are documented stricter rules of this crate.
fn stricter(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::BadHeader
            | Reason::BadPayload
            | Reason::BadDate
            | Reason::IssuedInFuture
            | Reason::BadIssuer
            | Reason::BadAudience
            | Reason::TokenTooLarge
    )
}

/// A date claim within two seconds of this crate's expiry or not-before boundary.
fn near_boundary(payload: &[u8], reason: Reason) -> bool {
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(payload) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let leeway = LEEWAY as f64;
    let (name, boundary) = match reason {
        Reason::Expired => ("exp", now - leeway),
        Reason::NotYetValid => ("nbf", now + leeway),
        _ => return false,
    };
    claims
        .get(name)
        .and_then(Value::as_f64)
        .is_some_and(|date| (date - boundary).abs() <= 2.0)
}

/// The header without the members this crate never reads, when it is a JSON object.
fn without_never_read(header: &[u8]) -> Option<Vec<u8>> {
    let mut object: Map<String, Value> = serde_json::from_slice(header).ok()?;
    let before = object.len();
    object.retain(|name, _| !NEVER_READ.contains(&name.as_str()));
    (object.len() != before).then(|| serde_json::to_vec(&object).ok())?
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let (header, payload) = rest.split_at(split);
    let payload = payload.get(1..).unwrap_or_default();
    let token = mutate(sign(header, payload), mode);

    let setup = setup();
    let ours = setup
        .runtime
        .block_on(setup.guard.verify(&token))
        .map(|verified| verified.claims().clone())
        .map_err(|rejection| rejection.reason());
    let theirs = oracle(&token);

    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs, "claims differ for {token}"),
        (Ok(ours), Err(error)) => {
            // Only members this crate never reads may explain it: without them (and re-signed),
            // jsonwebtoken must accept the same claims.
            let stripped = without_never_read(header)
                .map(|h| mutate(sign(&h, payload), mode))
                .unwrap_or_else(|| {
                    panic!("jsonwebtoken refuses ({error:?}) what this crate accepts: {token}")
                });
            let theirs = oracle(&stripped).unwrap_or_else(|e| {
                panic!(
                    "jsonwebtoken refuses ({e:?}, first {error:?}) what this crate accepts: {token}"
                )
            });
            assert_eq!(ours, theirs, "claims differ for {token}");
        }
        (Err(reason), Ok(_)) => assert!(
            stricter(reason) || near_boundary(payload, reason),
            "this crate refuses ({reason:?}) what jsonwebtoken accepts, outside the documented stricter rules: {token}"
        ),
        (Err(_), Err(_)) => {}
    }
});
