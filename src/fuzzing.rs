//! Entry points for the fuzz targets in `fuzz/` (compiled only with `--cfg fuzzing`).
//!
//! Thin wrappers over the private parsers: they take bytes and return plain data, so that the
//! private types stay private. Not part of the API.

use std::sync::OnceLock;

use http::{HeaderMap, Uri};

use crate::cors::{Cors, CorsPolicy};
use crate::keys::algorithm::Algorithm;
use crate::keys::jwks::Lookup;
use crate::strict_json::{self, JsonLimits};
use crate::token::{self, TokenSource};
use crate::verify::jws::Jws;

/// What the bearer/cookie/query extraction found: the token and the URI the inner service
/// would see, or the stable code of the refusal.
pub fn extract_token(
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Option<(String, Option<Uri>)>, &'static str> {
    let sources = [
        TokenSource::Header,
        TokenSource::Cookie("jwt".to_owned()),
        TokenSource::Query("access_token".to_owned()),
    ];
    let found = token::extract(headers, uri, &sources).map_err(|reason| reason.code())?;
    if let Some(f) = &found {
        f.check().map_err(|reason| reason.code())?;
    }
    found
        .map(|f| {
            String::from_utf8(f.token.into_owned())
                .map(|token| (token, f.stripped_uri))
                .map_err(|_| "token_not_utf8")
        })
        .transpose()
}

/// A parsed compact JWS, reduced to plain data.
#[derive(Debug)]
pub struct JwsSummary {
    /// The header's `alg`.
    pub alg: &'static str,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The length of `header.payload`.
    pub signing_input_len: usize,
    /// The decoded signature length.
    pub signature_len: usize,
    /// The claim set.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Splits and decodes a compact JWS with the layer's limits; the signature is not checked.
pub fn parse_jws(token: &str) -> Result<JwsSummary, &'static str> {
    let jws = Jws::parse(token, JsonLimits::DEFAULT).map_err(|reason| reason.code())?;
    Ok(JwsSummary {
        alg: jws.alg.as_str(),
        kid: jws.kid.as_deref().map(str::to_owned),
        signing_input_len: jws.signing_input.len(),
        signature_len: jws.signature.len(),
        claims: jws.claims,
    })
}

/// The strict JSON parser with the payload limits (depth 16, 1024 entries).
pub fn parse_strict_json(
    bytes: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    strict_json::parse_object(bytes, JsonLimits::DEFAULT).map_err(|e| e.to_string())
}

/// The strict JSON parser with caller-chosen limits.
pub fn parse_strict_json_with(
    bytes: &[u8],
    max_depth: usize,
    max_entries: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    strict_json::parse_object(
        bytes,
        JsonLimits {
            max_depth,
            max_entries,
        },
    )
    .map_err(|e| e.to_string())
}

/// Parses a JWKS document accepting every algorithm; returns the number of usable keys and,
/// for each `(kid, alg)` probe, whether the lookup found exactly one key.
pub fn parse_jwks(
    body: &[u8],
    probes: &[(Option<&str>, &str)],
) -> Result<(usize, Vec<bool>), String> {
    let set = crate::keys::jwks::parse::parse_jwks(body, &Algorithm::ALL, "fuzz")
        .map_err(|e| e.to_string())?;
    let found = probes
        .iter()
        .map(|(kid, alg)| {
            Algorithm::from_name(alg)
                .is_some_and(|alg| matches!(set.find(*kid, alg), Lookup::Found(_)))
        })
        .collect();
    Ok((set.len(), found))
}

/// Whether `origin` is a canonical serialized origin (`allow_http`: plain http for any host).
pub fn canonical_origin(origin: &str, allow_http: bool) -> Result<String, String> {
    crate::origin::canonical_origin(origin, allow_http)
}

/// The exact origins of [`origin_allowed`]'s fixed policy.
pub const FUZZ_EXACT_ORIGINS: [&str; 2] = ["https://app.example", "http://localhost:3000"];
/// The subdomain patterns of [`origin_allowed`]'s fixed policy.
pub const FUZZ_ORIGIN_PATTERNS: [&str; 2] =
    ["https://*.marketplace.example", "https://*.b.example:8443"];

/// Classifies an `Origin` header value against a fixed policy built from
/// [`FUZZ_EXACT_ORIGINS`] and [`FUZZ_ORIGIN_PATTERNS`]: `None` when the bytes are not a
/// header value at all.
pub fn origin_allowed(origin: &[u8]) -> Option<bool> {
    static POLICY: OnceLock<Option<CorsPolicy>> = OnceLock::new();
    let policy = POLICY
        .get_or_init(|| {
            let cors = Cors::new()
                .allow_origins(FUZZ_EXACT_ORIGINS)
                .allow_origin_pattern(FUZZ_ORIGIN_PATTERNS[0])
                .allow_origin_pattern(FUZZ_ORIGIN_PATTERNS[1]);
            CorsPolicy::new(cors, &[]).ok()
        })
        .as_ref()?;
    let value = http::HeaderValue::from_bytes(origin).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(http::header::ORIGIN, value);
    Some(matches!(
        policy.classify(&headers),
        crate::cors::RequestOrigin::Allowed(_)
    ))
}
