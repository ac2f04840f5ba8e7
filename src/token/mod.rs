//! Where the token comes from: `Authorization: Bearer` (default), a cookie, or a query
//! parameter, tried in the configured order.
//!
//! Bounded before anything is decoded: a token over [`MAX_TOKEN_LEN`] bytes is refused
//! without being parsed.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, Uri};

use crate::reject::Reason;

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;

/// A place a token may be taken from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1). Another scheme counts as no token.
    Header,
    /// The cookie of this name.
    Cookie(String),
    /// The query parameter of this name. The layer removes it from the URI that the inner
    /// service sees, so that the token does not reach access logs.
    Query(String),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header => f.write_str("header"),
            Self::Cookie(name) => write!(f, "cookie:{name}"),
            Self::Query(name) => write!(f, "query:{name}"),
        }
    }
}

/// The error of parsing a [`TokenSource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTokenSource(String);

impl fmt::Display for InvalidTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a token source: use \"header\", \"cookie:NAME\" or \"query:NAME\"",
            self.0
        )
    }
}

impl std::error::Error for InvalidTokenSource {}

impl FromStr for TokenSource {
    type Err = InvalidTokenSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidTokenSource(s.chars().take(64).collect());
        let valid_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~!$'*+^`|".contains(&b))
        };
        if s == "header" {
            return Ok(Self::Header);
        }
        match s.split_once(':') {
            Some(("cookie", name)) if valid_name(name) => Ok(Self::Cookie(name.to_owned())),
            Some(("query", name)) if valid_name(name) => Ok(Self::Query(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

/// A token found in a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Found<'h> {
    /// Borrowed from the headers where it can be: a cached token is then settled without a copy.
    /// Bytes, not `str`: a cache hit never needs the UTF-8 check (a b64token is ASCII anyway).
    pub(crate) token: Cow<'h, [u8]>,
    /// When the token came from the query: the URI without it.
    pub(crate) stripped_uri: Option<Uri>,
    /// An `Authorization` credential whose RFC 6750 charset is still to be checked
    /// ([`Found::check`]). The layer looks the token up in its cache first: a cached token was
    /// parsed as a JWS (base64url and dots only), so a hit needs no check.
    charset_unchecked: bool,
}

impl Found<'_> {
    /// The RFC 6750 b64token check of an `Authorization` credential (400 when it fails).
    pub(crate) fn check(&self) -> Result<(), Reason> {
        if self.charset_unchecked && !is_b64token(&self.token) {
            return Err(Reason::MalformedCredential);
        }
        Ok(())
    }
}

/// Takes the token from the first source that carries one. `Ok(None)`: no token anywhere.
///
/// The charset of an `Authorization` credential is checked by [`Found::check`], after the
/// cache look-up: call it before using a token that is not in the cache.
pub(crate) fn extract<'h>(
    headers: &'h HeaderMap,
    uri: &Uri,
    sources: &[TokenSource],
) -> Result<Option<Found<'h>>, Reason> {
    for source in sources {
        let found = match source {
            TokenSource::Header => bearer(headers)?.map(|token| Found {
                token: Cow::Borrowed(token),
                stripped_uri: None,
                charset_unchecked: true,
            }),
            TokenSource::Cookie(name) => cookie(headers, name)?.map(|token| Found {
                token: Cow::Borrowed(token),
                stripped_uri: None,
                charset_unchecked: false,
            }),
            TokenSource::Query(name) => query(uri, name)?,
        };
        if let Some(found) = found {
            if found.token.len() > MAX_TOKEN_LEN {
                return Err(Reason::TokenTooLarge);
            }
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// `Authorization: Bearer <b64token>`, exactly one header, scheme case-insensitive.
fn bearer(headers: &HeaderMap) -> Result<Option<&[u8]>, Reason> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Reason::DuplicateAuthorization);
    }
    let bytes = value.as_bytes();
    let Some(scheme_end) = bytes.iter().position(|b| *b == b' ') else {
        // A bare scheme: `Bearer` alone is an empty credential; anything else is another scheme.
        return if bytes.trim_ascii().eq_ignore_ascii_case(b"bearer") {
            Err(Reason::MalformedCredential)
        } else {
            Ok(None)
        };
    };
    let (scheme, rest) = bytes.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let credential = rest.trim_ascii();
    if credential.len() > MAX_TOKEN_LEN {
        // The cap is on one token: two tokens in one credential are malformed whatever their
        // length (any other oddity of a long credential is still "too large", unread).
        return Err(if holds_two_tokens(credential) {
            Reason::MalformedCredential
        } else {
            Reason::TokenTooLarge
        });
    }
    if credential.is_empty() {
        return Err(Reason::MalformedCredential);
    }
    Ok(Some(credential))
}

/// Marks the `Authorization` value sensitive, so that HTTP/2 never indexes it (HPACK) and
/// `Debug` of the headers does not print it.
pub(crate) fn mark_sensitive(headers: &mut HeaderMap) {
    if let Some(value) = headers.get_mut(AUTHORIZATION) {
        value.set_sensitive(true);
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// This runs on every request, cached token or not, over some 400 to 900 bytes. Each 32-byte
/// chunk is classified without a branch per byte, which the compiler turns into SIMD compares:
/// about a quarter of the time of a table look-up per byte (0.47 µs for a 654-byte token,
/// measured over HTTP with `perf`).
fn is_b64token(bytes: &[u8]) -> bool {
    let body_end = bytes.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let (body, _padding) = bytes.split_at(body_end);
    if body.is_empty() {
        return false;
    }
    let mut chunks = body.chunks_exact(32);
    for chunk in &mut chunks {
        let mut refused = 0u8;
        for &b in chunk {
            refused |= u8::from(!is_b64token_byte(b));
        }
        if refused != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| is_b64token_byte(b))
}

/// One byte of the b64token alphabet, by comparisons only (no table, no branch).
#[inline(always)]
const fn is_b64token_byte(b: u8) -> bool {
    // `b | 0x20` maps `A`..=`Z` onto `a`..=`z` and nothing else onto them;
    // `-` `.` `/` and `0`..=`9` are the contiguous 0x2D..=0x39.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'-') < 13)
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
}

/// The cookie `name`, from every `Cookie` header (HTTP/2 sends one per cookie), parsed cookie
/// by cookie on bytes: a header that is not UTF-8 or visible ASCII, or another cookie with odd
/// bytes, never hides the configured one. Two of that name, an empty one, or one whose value
/// holds two tokens or bytes outside visible ASCII: 400.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h [u8]>, Reason> {
    let mut found: Option<&[u8]> = None;
    for header in headers.get_all(COOKIE) {
        let bytes = header.as_bytes();
        // Pairs end at `;` (memchr: a long token cookie is skipped over, not walked byte by byte).
        let mut start = 0;
        while start <= bytes.len() {
            let end = memchr::memchr(b';', bytes.get(start..).unwrap_or_default())
                .map_or(bytes.len(), |i| start + i);
            let pair = bytes.get(start..end).unwrap_or_default();
            start = end + 1;
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            let (key, value) = pair.split_at(eq);
            if key.trim_ascii() != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(Reason::MalformedCookie);
            }
            let value = value.get(1..).unwrap_or_default().trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            found = Some(value);
        }
    }
    match found {
        None => Ok(None),
        Some(value) if value.is_empty() || !is_one_visible_token(value) => {
            Err(Reason::MalformedCookie)
        }
        Some(value) => Ok(Some(value)),
    }
}

/// Visible ASCII without a separator (space, tab, comma): one token's worth of bytes. Checked in
/// 32-byte chunks without a branch per byte (vectorised), as [`is_b64token`].
fn is_one_visible_token(value: &[u8]) -> bool {
    #[inline(always)]
    fn refused(b: u8) -> bool {
        (b.wrapping_sub(0x21) > 0x7e - 0x21) | (b == b',')
    }
    let mut chunks = value.chunks_exact(32);
    for chunk in &mut chunks {
        let mut bad = 0u8;
        for &b in chunk {
            bad |= u8::from(refused(b));
        }
        if bad != 0 {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| refused(b))
}

/// A value that holds more than one token: a separator (space, tab or comma) between two
/// parts. Refused as a malformed credential (400) whatever its length, before the size cap,
/// which applies to one token.
fn holds_two_tokens(value: &[u8]) -> bool {
    value.iter().any(|b| matches!(b, b' ' | b'\t' | b','))
}

/// The query parameter `name`; the URI is rebuilt without it.
fn query(uri: &Uri, name: &str) -> Result<Option<Found<'static>>, Reason> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut token: Option<String> = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key).as_deref() != Some(name) {
            kept.push(pair);
            continue;
        }
        if token.is_some() {
            return Err(Reason::MalformedQuery);
        }
        if value.len() > 3 * MAX_TOKEN_LEN {
            // Too long to be one token even fully escaped; two tokens are still 400.
            return Err(if raw_query_holds_two_tokens(value) {
                Reason::MalformedQuery
            } else {
                Reason::TokenTooLarge
            });
        }
        token = Some(percent_decode(value).ok_or(Reason::MalformedQuery)?);
    }
    let Some(token) = token else {
        return Ok(None);
    };
    if token.is_empty() || holds_two_tokens(token.as_bytes()) {
        return Err(Reason::MalformedQuery);
    }
    let path = uri.path();
    let path_and_query = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| Reason::MalformedQuery)?);
    let stripped = Uri::from_parts(parts).map_err(|_| Reason::MalformedQuery)?;
    Ok(Some(Found {
        token: Cow::Owned(token.into_bytes()),
        stripped_uri: Some(stripped),
        charset_unchecked: false,
    }))
}

/// [`holds_two_tokens`] of a raw query value, without decoding it: `+`, a separator, or its
/// escape (`%20`, `%09`, `%2C`).
fn raw_query_holds_two_tokens(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    holds_two_tokens(bytes)
        || bytes.contains(&b'+')
        || bytes.windows(3).any(|w| {
            w.first() == Some(&b'%')
                && matches!(
                    (w.get(1), w.get(2).map(u8::to_ascii_uppercase)),
                    (Some(b'2'), Some(b'0' | b'C')) | (Some(b'0'), Some(b'9'))
                )
        })
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space); `None` when the
/// result is not UTF-8 or an escape is malformed.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
