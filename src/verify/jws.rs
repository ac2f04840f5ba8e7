//! The compact JWS: three base64url segments, a JOSE header that is checked before anything
//! else, a claim set, a signature.
//!
//! Everything here is bounded before it is decoded: the token length is capped by the caller,
//! the header segment and the `kid` have their own caps, and both JSON documents are parsed
//! with depth and size limits and refuse duplicate member names.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::keys::algorithm::Algorithm;
use crate::reject::Reason;
use crate::strict_json::{self, JsonLimits};

/// The most bytes a base64url header segment may have: as much as a whole token, so that a
/// header with an `x5c` chain of three certificates (about 6 KiB encoded) is admitted; the
/// token cap ([`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN)) bounds the whole anyway.
pub(crate) const MAX_HEADER_SEGMENT: usize = crate::token::MAX_TOKEN_LEN;
/// The most members and array elements a JOSE header may hold (an `x5c` chain is one member
/// and one element per certificate).
pub(crate) const MAX_HEADER_ENTRIES: usize = 32;
/// The deepest nesting of a JOSE header (the object itself is 1).
pub(crate) const MAX_HEADER_DEPTH: usize = 4;
/// The most bytes a `kid` may have.
pub(crate) const MAX_KID_LEN: usize = 256;
/// Signatures up to this many bytes (RSA-4096; ES512 is 132) are decoded without an allocation.
const INLINE_SIGNATURE: usize = 512;
/// Payloads up to this many bytes are decoded on the stack (a marketplace token's is a few
/// hundred); larger ones into a vector.
const STACK_PAYLOAD: usize = 4096;

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub(crate) struct Jws<'t> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: what the signature covers.
    pub(crate) signing_input: &'t [u8],
    pub(crate) signature: Signature,
    pub(crate) claims: Map<String, Value>,
    /// The claim set as sent, still in base64url (a slice of the token): decoded again only
    /// in the rare case that needs the literal text (a tenant integer beyond 64 bits).
    pub(crate) payload_b64: &'t [u8],
}

/// A decoded signature: inline up to [`INLINE_SIGNATURE`] bytes, on the heap beyond.
// Large on purpose: inline, the signature of every usual token costs no allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Signature {
    Inline {
        bytes: [u8; INLINE_SIGNATURE],
        len: usize,
    },
    Heap(Vec<u8>),
}

impl Signature {
    fn decode(b64: &[u8]) -> Result<Self, Reason> {
        let mut bytes = [0u8; INLINE_SIGNATURE];
        if base64::decoded_len_estimate(b64.len()) <= INLINE_SIGNATURE {
            let len = URL_SAFE_NO_PAD
                .decode_slice(b64, &mut bytes)
                .map_err(|_| Reason::MalformedToken)?;
            return Ok(Self::Inline { bytes, len });
        }
        URL_SAFE_NO_PAD
            .decode(b64)
            .map(Self::Heap)
            .map_err(|_| Reason::MalformedToken)
    }
}

impl std::ops::Deref for Signature {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Inline { bytes, len } => bytes.get(..*len).unwrap_or_default(),
            Self::Heap(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({} bytes)", self.len())
    }
}

impl<'t> Jws<'t> {
    /// Splits and decodes `token`; checks the header. The signature is not checked here.
    pub(crate) fn parse(token: &'t str, limits: JsonLimits) -> Result<Self, Reason> {
        let bytes = token.as_bytes();
        // Exactly two dots, only base64url characters elsewhere: refuses JWE (five parts),
        // the JSON serialization and any whitespace or padding in one scan.
        let mut dots = [0usize; 2];
        let mut count = 0usize;
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'.' => {
                    let slot = dots.get_mut(count).ok_or(Reason::MalformedToken)?;
                    *slot = i;
                    count += 1;
                }
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
                _ => return Err(Reason::MalformedToken),
            }
        }
        let [first, second] = dots;
        if count != 2 {
            return Err(Reason::MalformedToken);
        }
        let header_b64 = bytes.get(..first).ok_or(Reason::MalformedToken)?;
        let payload_b64 = bytes.get(first + 1..second).ok_or(Reason::MalformedToken)?;
        let signature_b64 = bytes.get(second + 1..).ok_or(Reason::MalformedToken)?;
        let signing_input = bytes.get(..second).ok_or(Reason::MalformedToken)?;
        if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
            return Err(Reason::MalformedToken);
        }
        if header_b64.len() > MAX_HEADER_SEGMENT {
            return Err(Reason::BadHeader);
        }

        // At most `MAX_HEADER_SEGMENT` (8,192) base64url characters: 6,144 bytes, on the stack.
        let mut header_buf = [0u8; MAX_HEADER_SEGMENT / 4 * 3];
        let header_len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut header_buf)
            .map_err(|_| Reason::MalformedToken)?;
        let header_json = header_buf.get(..header_len).unwrap_or_default();
        let header = strict_json::parse_object(
            header_json,
            JsonLimits {
                max_depth: MAX_HEADER_DEPTH,
                max_entries: MAX_HEADER_ENTRIES,
            },
        )
        .map_err(|_| Reason::BadHeader)?;
        let (alg, kid) = check_header(&header)?;

        let signature = Signature::decode(signature_b64)?;
        let mut stack = [0u8; STACK_PAYLOAD];
        let heap;
        let payload: &[u8] = if base64::decoded_len_estimate(payload_b64.len()) <= STACK_PAYLOAD {
            let len = URL_SAFE_NO_PAD
                .decode_slice(payload_b64, &mut stack)
                .map_err(|_| Reason::MalformedToken)?;
            stack.get(..len).unwrap_or_default()
        } else {
            heap = URL_SAFE_NO_PAD
                .decode(payload_b64)
                .map_err(|_| Reason::MalformedToken)?;
            &heap
        };
        let claims = strict_json::parse_object(payload, limits).map_err(|_| Reason::BadPayload)?;

        Ok(Self {
            alg,
            kid,
            signing_input,
            signature,
            claims,
            payload_b64,
        })
    }
}

/// The header rules: `alg` names a supported algorithm; `kid`, when present, is a bounded
/// string; no `crit`, `b64`, `zip` or `enc`; `typ`, when present, says JWT.
///
/// The members that name a key or where to fetch one — `jku`, `x5u`, `jwk` and `x5c`
/// (RFC 7515 §4.1.2–4.1.6) — are deliberately ignored: never read, never fetched. A key comes
/// from the configuration only; trusting one the token points to would let its sender choose
/// the key that verifies it.
fn check_header(header: &Map<String, Value>) -> Result<(Algorithm, Option<Arc<str>>), Reason> {
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or(Reason::AlgorithmNotAllowed)?
        }
        _ => return Err(Reason::BadHeader),
    };
    // `crit` must never be empty (RFC 7515 §4.1.11), and no extension is understood here: any
    // `crit` is refused. `b64` (RFC 7797) changes what is signed; `zip` and `enc` are JWE.
    for member in ["crit", "b64", "zip", "enc"] {
        if header.contains_key(member) {
            return Err(Reason::BadHeader);
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => {
            Some(Arc::from(kid.as_str()))
        }
        Some(_) => return Err(Reason::BadHeader),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ_is_jwt(typ) => {}
        Some(_) => return Err(Reason::BadHeader),
    }
    Ok((alg, kid))
}

/// `JWT` or `at+jwt`, compared case-insensitively, with or without `application/`
/// (RFC 7515 §4.1.9, RFC 9068 §2.1).
fn typ_is_jwt(typ: &str) -> bool {
    let bare = typ
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case("application/"))
        .and_then(|_| typ.get(12..))
        .unwrap_or(typ);
    bare.eq_ignore_ascii_case("jwt") || bare.eq_ignore_ascii_case("at+jwt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn parse(t: &str) -> Result<Jws<'_>, Reason> {
        Jws::parse(t, JsonLimits::DEFAULT)
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let jws = parse(&t).unwrap();
        assert_eq!(jws.alg, Algorithm::RS256);
        assert_eq!(jws.kid.as_deref(), Some("k1"));
        assert_eq!(&*jws.signature, b"sig");
        assert_eq!(jws.claims["sub"], "a");
        assert_eq!(jws.signing_input, t.rsplit_once('.').unwrap().0.as_bytes());
    }

    #[test]
    fn refuses_wrong_shapes() {
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        assert!(parse(&good).is_ok());
        for bad in [
            "a.b",
            "a.b.c.d.e",
            "..",
            "a..c",
            &format!("{good}."),
            &format!("{good}="),
            &format!(" {good}"),
            r#"{"payload":"x"}"#,
            "",
        ] {
            assert_eq!(
                parse(bad).map(|_| ()),
                Err(Reason::MalformedToken),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_alg_none_and_unknown_algorithms() {
        for alg in ["none", "None", "rs256", "ES512", ""] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                parse(&t).map(|_| ()),
                Err(Reason::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        let t = token(r#"{"alg":null}"#, "{}");
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader));
        let t = token(r#"{"kid":"k"}"#, "{}");
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader));
    }

    #[test]
    fn refuses_crit_b64_and_jwe_members() {
        for member in [
            r#""crit":["exp"]"#,
            r#""crit":[]"#,
            r#""b64":false"#,
            r#""b64":true"#,
            r#""zip":"DEF""#,
            r#""enc":"A128GCM""#,
        ] {
            let t = token(&format!(r#"{{"alg":"RS256",{member}}}"#), "{}");
            assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader), "{member}");
        }
    }

    #[test]
    fn checks_kid_and_typ() {
        let long = "k".repeat(MAX_KID_LEN);
        assert!(
            parse(&token(
                &format!(r#"{{"alg":"RS256","kid":"{long}"}}"#),
                "{}"
            ))
            .is_ok()
        );
        let longer = "k".repeat(MAX_KID_LEN + 1);
        let t = token(&format!(r#"{{"alg":"RS256","kid":"{longer}"}}"#), "{}");
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader));
        for kid in [r#""""#, "1", "null", r#"["a"]"#] {
            let t = token(&format!(r#"{{"alg":"RS256","kid":{kid}}}"#), "{}");
            assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader), "{kid}");
        }
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "application/jwt",
            "application/at+JWT",
        ] {
            let t = token(&format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#), "{}");
            assert!(parse(&t).is_ok(), "{typ}");
        }
        for typ in [r#""JWE""#, r#""dpop+jwt""#, "1", r#""application/""#] {
            let t = token(&format!(r#"{{"alg":"RS256","typ":{typ}}}"#), "{}");
            assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader), "{typ}");
        }
    }

    #[test]
    fn refuses_duplicate_members_in_header_and_payload() {
        let t = token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}");
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadHeader));
        let t = token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"b"}"#);
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadPayload));
        let t = token(r#"{"alg":"RS256"}"#, r#"["not","an","object"]"#);
        assert_eq!(parse(&t).map(|_| ()), Err(Reason::BadPayload));
    }

    #[test]
    fn header_segment_cap_is_exact() {
        // 6144 bytes of JSON encode to exactly 8192 base64url characters.
        let fixed = r#"{"alg":"RS256","x":""}"#.len();
        let header = |len: usize| format!(r#"{{"alg":"RS256","x":"{}"}}"#, "a".repeat(len - fixed));
        let at_cap = b64(&header(6144));
        assert_eq!(at_cap.len(), MAX_HEADER_SEGMENT);
        assert_eq!(MAX_HEADER_SEGMENT, 8192);
        assert!(parse(&format!("{at_cap}.e30.c2ln")).is_ok());
        let over = b64(&header(6145));
        assert_eq!(
            parse(&format!("{over}.e30.c2ln")).map(|_| ()),
            Err(Reason::BadHeader)
        );
    }

    #[test]
    fn long_signatures_and_payloads_decode_as_short_ones() {
        let header = b64(r#"{"alg":"RS256"}"#);
        for (sig_len, payload_len) in [
            (0, 0),
            (1, 10),
            (511, 3000),
            (512, 4095),
            (513, 4097),
            (1024, 6000),
        ] {
            let sig: Vec<u8> = (0..sig_len).map(|i| (i % 251) as u8).collect();
            let payload = format!(r#"{{"x":"{}"}}"#, "p".repeat(payload_len));
            let t = format!(
                "{header}.{}.{}",
                b64(&payload),
                URL_SAFE_NO_PAD.encode(&sig)
            );
            let parsed = parse(&t);
            if sig_len == 0 {
                assert_eq!(parsed.map(|_| ()), Err(Reason::MalformedToken));
                continue;
            }
            let jws = parsed.unwrap();
            assert_eq!(&*jws.signature, &sig[..], "{sig_len}");
            assert_eq!(jws.claims["x"].as_str().map(str::len), Some(payload_len));
        }
        // Non-canonical base64 (non-zero trailing bits) is refused in a long signature as in a
        // short one: 700 and 100 bytes leave 4 unused bits in the last character.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for len in [100, 700] {
            let good = URL_SAFE_NO_PAD.encode(vec![7u8; len]);
            let (body, last) = good.split_at(good.len() - 1);
            let index = ALPHABET
                .iter()
                .position(|c| *c == last.as_bytes()[0])
                .unwrap();
            let bad = format!("{body}{}", ALPHABET[index | 1] as char);
            assert!(parse(&format!("{header}.e30.{good}")).is_ok(), "{len}");
            assert_eq!(
                parse(&format!("{header}.e30.{bad}")).map(|_| ()),
                Err(Reason::MalformedToken),
                "{len}"
            );
        }
    }

    #[test]
    fn refuses_non_canonical_base64() {
        // "e30" is "{}"; "e31" has non-zero trailing bits and must not decode to the same.
        let header = b64(r#"{"alg":"RS256"}"#);
        assert!(parse(&format!("{header}.e30.c2ln")).is_ok());
        assert_eq!(
            parse(&format!("{header}.e31.c2ln")).map(|_| ()),
            Err(Reason::MalformedToken)
        );
    }
}
