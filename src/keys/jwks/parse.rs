//! A JWK Set document (RFC 7517 §5) into a [`KeySet`], key by key: an unusable key is skipped
//! with a log line, and the set fails only if no usable key remains.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::KeySet;
use crate::keys::algorithm::{Algorithm, Family};
use crate::keys::error::KeyError;
use crate::keys::key::{JwkMeta, VerifyingKey};
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

/// Why one JWK of a set is skipped. Its `Display` is the `reason` of the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JwkError {
    /// The entry is not a JSON object.
    NotObject,
    /// A member the key needs is absent.
    Missing(&'static str),
    /// A member that must be a string is not.
    NotString(&'static str),
    /// A member that must be base64url is not.
    NotBase64url(&'static str),
    /// A private or secret member (`d`, `p`, …) is present.
    PrivateMaterial(&'static str),
    /// A symmetric (`oct`) key.
    Symmetric,
    /// `use` is present and not `sig`.
    UseNotSig,
    /// `key_ops` is present and does not allow `verify`.
    KeyOpsNoVerify,
    /// An `alg` this crate does not verify (truncated).
    UnsupportedAlg(String),
    /// An HMAC `alg` on a public key.
    HmacAlg,
    /// An EC curve this crate does not verify (truncated).
    UnsupportedCurve(String),
    /// An OKP curve other than Ed25519 (truncated).
    OkpCurve(String),
    /// An Ed25519 key while EdDSA is not accepted.
    EdDsaNotAccepted,
    /// A `kty` this crate does not verify (truncated).
    UnsupportedKty(String),
    /// The key material itself was refused.
    Key(KeyError),
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotObject => f.write_str("not a JSON object"),
            Self::Missing(name) => write!(f, "no {name}"),
            Self::NotString(name) => write!(f, "{name} is not a string"),
            Self::NotBase64url(name) => write!(f, "{name} is not base64url"),
            Self::PrivateMaterial(member) => {
                write!(f, "carries private or secret material ({member})")
            }
            Self::Symmetric => f.write_str("symmetric (oct) keys from a key set are never used"),
            Self::UseNotSig => f.write_str("its use is not sig"),
            Self::KeyOpsNoVerify => f.write_str("its key_ops do not allow verify"),
            Self::UnsupportedAlg(alg) => {
                write!(f, "alg {alg:?} is not a supported signature algorithm")
            }
            Self::HmacAlg => f.write_str("an HMAC alg on a public key"),
            Self::UnsupportedCurve(crv) => write!(f, "unsupported curve {crv:?}"),
            Self::OkpCurve(crv) => write!(f, "OKP curve {crv:?} cannot verify signatures here"),
            Self::EdDsaNotAccepted => f.write_str("EdDSA is not among the accepted algorithms"),
            Self::UnsupportedKty(kty) => write!(f, "unsupported kty {kty:?}"),
            Self::Key(e) => e.fmt(f),
        }
    }
}

/// Parses one JWK, or says why it cannot be used.
pub(crate) fn parse_jwk(jwk: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, JwkError> {
    let jwk = jwk.as_object().ok_or(JwkError::NotObject)?;
    let kty = string_member(jwk, "kty")?.ok_or(JwkError::Missing("kty"))?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(JwkError::PrivateMaterial(member));
    }
    if kty == "oct" {
        return Err(JwkError::Symmetric);
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(JwkError::UseNotSig),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return Err(JwkError::KeyOpsNoVerify),
    }
    let declared = match string_member(jwk, "alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_name(name).ok_or_else(|| JwkError::UnsupportedAlg(truncate(name)))?,
        ),
    };
    if declared.is_some_and(Algorithm::is_symmetric) {
        return Err(JwkError::HmacAlg);
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
    let mut meta = JwkMeta {
        kid,
        declared_alg: declared,
        allowed,
        fingerprint,
    };

    let key = match kty {
        "RSA" => {
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            // Key material by value: `n` and `e` are integers, so leading zero octets do not
            // make another key (two such copies count once, not as an ambiguous kid).
            meta.fingerprint.extend_from_slice(integer_bytes(&n));
            meta.fingerprint.push(0xff);
            meta.fingerprint.extend_from_slice(integer_bytes(&e));
            VerifyingKey::rsa(&n, &e, meta)
        }
        "EC" => {
            let curve = match string_member(jwk, "crv")? {
                Some("P-256") => Algorithm::ES256,
                Some("P-384") => Algorithm::ES384,
                Some(other) => return Err(JwkError::UnsupportedCurve(truncate(other))),
                None => return Err(JwkError::Missing("crv")),
            };
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            // Coordinates by value, as for RSA (a padded copy is refused for its length, but
            // never makes the kid ambiguous).
            meta.fingerprint.extend_from_slice(integer_bytes(&x));
            meta.fingerprint.push(0xff);
            meta.fingerprint.extend_from_slice(integer_bytes(&y));
            VerifyingKey::ec(curve, &x, &y, meta)
        }
        "OKP" => {
            match string_member(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(other) => return Err(JwkError::OkpCurve(truncate(other))),
                None => return Err(JwkError::Missing("crv")),
            }
            if !allowed.iter().any(|a| a.family() == Family::Okp) {
                return Err(JwkError::EdDsaNotAccepted);
            }
            let x = b64_member(jwk, "x")?;
            meta.fingerprint.extend_from_slice(&x);
            VerifyingKey::ed25519(&x, meta)
        }
        other => return Err(JwkError::UnsupportedKty(truncate(other))),
    };
    key.map_err(JwkError::Key)
}

fn string_member<'a>(
    jwk: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::NotString(name)),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = string_member(jwk, name)?.ok_or(JwkError::Missing(name))?;
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| JwkError::NotBase64url(name))
}

/// A big-endian unsigned integer without its leading zero octets: its value, for comparing keys.
fn integer_bytes(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}
