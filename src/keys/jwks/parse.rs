//! A JWK Set document (RFC 7517 §5) into a [`KeySet`], key by key: an unusable key is skipped
//! with a log line, and the set fails only if no usable key remains.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::KeySet;
use crate::keys::algorithm::{Algorithm, Family};
use crate::keys::key::VerifyingKey;
use crate::strict_json::{self, JsonLimits};

/// The most keys a set may hold.
pub(crate) const MAX_KEYS: usize = 100;

/// Members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Why a whole document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SetError {
    NotJson,
    NoKeysArray,
    TooManyKeys(usize),
    NoUsableKey,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("the body is not a JSON object"),
            Self::NoKeysArray => f.write_str("the document has no \"keys\" array"),
            Self::TooManyKeys(n) => write!(f, "the set has {n} keys, more than {MAX_KEYS}"),
            Self::NoUsableKey => f.write_str("the set has no usable signing key"),
        }
    }
}

/// Parses a JWKS document, keeping the keys that verify one of `allowed`.
pub(crate) fn parse_jwks(
    body: &[u8],
    allowed: &[Algorithm],
    source: &str,
) -> Result<KeySet, SetError> {
    let doc = strict_json::parse_object(
        body,
        JsonLimits {
            max_depth: 6,
            max_entries: 20_000,
        },
    )
    .map_err(|_| SetError::NotJson)?;
    let keys = match doc.get("keys") {
        Some(Value::Array(keys)) => keys,
        _ => return Err(SetError::NoKeysArray),
    };
    if keys.len() > MAX_KEYS {
        return Err(SetError::TooManyKeys(keys.len()));
    }
    let mut usable: Vec<Arc<VerifyingKey>> = Vec::with_capacity(keys.len());
    for (index, jwk) in keys.iter().enumerate() {
        match parse_jwk(jwk, allowed) {
            Ok(key) => {
                // Identical copies (same kty, material, kid, alg and use) count once.
                if !usable.iter().any(|k| k.fingerprint() == key.fingerprint()) {
                    usable.push(Arc::new(key));
                }
            }
            Err(why) => {
                tracing::info!(
                    target: "jwt_guard::jwks",
                    jwks = source,
                    index,
                    reason = %why,
                    "skipping an unusable key"
                );
            }
        }
    }
    if usable.is_empty() {
        return Err(SetError::NoUsableKey);
    }
    Ok(KeySet::new(usable))
}

/// Parses one JWK, or says why it cannot be used.
pub(crate) fn parse_jwk(jwk: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, String> {
    let jwk = jwk.as_object().ok_or("not a JSON object")?;
    let kty = string_member(jwk, "kty")?.ok_or("no kty")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(format!("carries private or secret material ({member})"));
    }
    if kty == "oct" {
        return Err("symmetric (oct) keys from a key set are never used".into());
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("its use is not sig".into()),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return Err("its key_ops do not allow verify".into()),
    }
    let declared = match string_member(jwk, "alg")? {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or_else(|| {
            format!(
                "alg {:?} is not a supported signature algorithm",
                truncate(name)
            )
        })?),
    };
    if declared.is_some_and(Algorithm::is_symmetric) {
        return Err("an HMAC alg on a public key".into());
    }
    let kid: Option<Arc<str>> = string_member(jwk, "kid")?.map(Arc::from);

    let mut fingerprint = Vec::with_capacity(600);
    for part in [
        Some(kty),
        kid.as_deref(),
        declared.map(Algorithm::as_str),
        string_member(jwk, "use")?,
    ] {
        fingerprint.extend_from_slice(part.unwrap_or("\u{0}").as_bytes());
        fingerprint.push(0xff);
    }

    let key = match kty {
        "RSA" => {
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            fingerprint.extend_from_slice(&n);
            fingerprint.push(0xff);
            fingerprint.extend_from_slice(&e);
            VerifyingKey::rsa(&n, &e, kid, declared, allowed, fingerprint)
        }
        "EC" => {
            let curve = match string_member(jwk, "crv")? {
                Some("P-256") => Algorithm::ES256,
                Some("P-384") => Algorithm::ES384,
                Some(other) => return Err(format!("unsupported curve {:?}", truncate(other))),
                None => return Err("no crv".into()),
            };
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            fingerprint.extend_from_slice(&x);
            fingerprint.push(0xff);
            fingerprint.extend_from_slice(&y);
            VerifyingKey::ec(curve, &x, &y, kid, declared, allowed, fingerprint)
        }
        "OKP" => {
            match string_member(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(other) => {
                    return Err(format!(
                        "OKP curve {:?} cannot verify signatures here",
                        truncate(other)
                    ));
                }
                None => return Err("no crv".into()),
            }
            if !allowed.iter().any(|a| a.family() == Family::Okp) {
                return Err("EdDSA is not among the accepted algorithms".into());
            }
            let x = b64_member(jwk, "x")?;
            fingerprint.extend_from_slice(&x);
            VerifyingKey::ed25519(&x, kid, declared, allowed, fingerprint)
        }
        other => return Err(format!("unsupported kty {:?}", truncate(other))),
    };
    key.map_err(|e| e.to_string())
}

fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = string_member(jwk, name)?.ok_or_else(|| format!("no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| format!("{name} is not base64url"))
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}
