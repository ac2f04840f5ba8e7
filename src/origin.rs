//! Which origins and URLs are accepted: canonical serialized origins (for CORS and origin
//! bindings), loopback hosts, and the URLs the layer may fetch (JWKS, OIDC discovery).
//!
//! A leaf of the crate: it needs only `url`, `std::net` and [`ConfigError`].

use std::net::IpAddr;

use url::Url;

use crate::error::ConfigError;

/// The longest `Origin` value considered (scheme, a 253-byte host, a port).
pub(crate) const MAX_ORIGIN_LEN: usize = 326;

/// Checks that `origin` is a canonical serialized origin (`scheme://host[:port]`, lowercase,
/// punycode, no default port, no path) and returns it. Plain `http` only for loopback hosts
/// unless `allow_http`.
pub(crate) fn canonical_origin(origin: &str, allow_http: bool) -> Result<String, String> {
    if origin == "null" {
        return Err("`null` is never an allowed origin".into());
    }
    if origin == "*" {
        return Err("`*` is not accepted: list the origins".into());
    }
    // Spaces and control bytes are refused outright; other non-ASCII (a Unicode host) goes on
    // to the parser, so the error can name the punycode form.
    if origin.len() > MAX_ORIGIN_LEN
        || origin
            .bytes()
            .any(|b| b.is_ascii() && !b.is_ascii_graphic())
    {
        return Err("not a serialized origin".into());
    }
    if origin.contains('*') {
        return Err(
            "`*` is accepted only as the first label of a pattern, as in https://*.example.com"
                .into(),
        );
    }
    let url = Url::parse(origin).map_err(|_| "not a serialized origin".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&url) => {}
        "http" => {
            return Err(
                "plain http is accepted only for loopback hosts (or with the dangerous opt-in)"
                    .into(),
            );
        }
        _ => return Err("the scheme must be https (or http for loopback)".into()),
    }
    let serialized = url.origin().ascii_serialization();
    if serialized != origin {
        return Err(format!(
            "not a canonical serialized origin; did you mean {serialized:?}?"
        ));
    }
    Ok(serialized)
}

/// Parses a URL the layer will fetch: `https`, or `http` to a loopback host.
pub(crate) fn parse_fetch_url(text: &str, key: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| ConfigError::invalid(key, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::invalid(
                key,
                "plain http is accepted only for loopback hosts (localhost, 127.0.0.0/8, [::1])",
            ));
        }
        other => {
            return Err(ConfigError::invalid(
                key,
                format!("scheme {other:?} is not https"),
            ));
        }
    }
    if url.host().is_none() {
        return Err(ConfigError::invalid(key, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(key, "must not carry credentials"));
    }
    Ok(url)
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, by the literal host: DNS never decides.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_urls_must_be_https_or_loopback() {
        assert!(parse_fetch_url("https://a.example/jwks", "jwks_url").is_ok());
        for ok in [
            "http://localhost:1/j",
            "http://127.0.0.1:9/j",
            "http://127.5.6.7/j",
            "http://[::1]:8/j",
        ] {
            assert!(parse_fetch_url(ok, "jwks_url").is_ok(), "{ok}");
        }
        for bad in [
            "http://a.example/jwks",
            "http://localhost.example/j",
            "http://10.0.0.1/j",
            "ftp://a.example/j",
            "file:///etc/passwd",
            "https://user:pw@a.example/j",
            "not a url",
        ] {
            let err = parse_fetch_url(bad, "jwks_url").unwrap_err();
            assert_eq!(err.key(), Some("jwks_url"), "{bad}");
        }
    }
}
