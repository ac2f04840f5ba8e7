//! OIDC discovery (OpenID Connect Discovery 1.0 §4): `{issuer}/.well-known/openid-configuration`
//! gives the `jwks_uri`; the document's `issuer` must equal the configured one exactly (§4.3),
//! and the `jwks_uri` is held to the same rules as a configured JWKS URL.

use serde_json::Value;

use super::fetch::{self, FetchError, FetchLimits, Fetched};
use crate::origin::parse_fetch_url;
use crate::strict_json::{self, JsonLimits};

/// Why discovery failed. Carries no document content.
#[derive(Debug)]
pub(crate) enum DiscoveryError {
    Fetch(FetchError),
    NotJson,
    IssuerMismatch,
    BadJwksUri(String),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fetch(e) => write!(f, "discovery fetch failed: {e}"),
            Self::NotJson => f.write_str("the discovery document is not a JSON object"),
            Self::IssuerMismatch => f.write_str("the discovery document names another issuer"),
            Self::BadJwksUri(why) => write!(f, "unusable jwks_uri: {why}"),
        }
    }
}

/// Why an issuer URL gives no discovery URL.
#[derive(Debug)]
pub(crate) enum DiscoveryUrlError {
    /// `{issuer}/.well-known/openid-configuration` does not parse as a URL.
    Parse(url::ParseError),
}

impl std::fmt::Display for DiscoveryUrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => e.fmt(f),
        }
    }
}

/// The discovery URL of an issuer: `{issuer}/.well-known/openid-configuration` (no double slash).
pub(crate) fn discovery_url(issuer: &url::Url) -> Result<url::Url, DiscoveryUrlError> {
    let base = issuer.as_str().trim_end_matches('/');
    url::Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(DiscoveryUrlError::Parse)
}

/// Fetches the discovery document and returns its `jwks_uri`.
pub(crate) async fn discover(
    client: &reqwest::Client,
    config_url: &url::Url,
    expected_issuer: &str,
    limits: FetchLimits,
) -> Result<url::Url, DiscoveryError> {
    let body = match fetch::fetch(client, config_url, None, limits).await {
        Ok(Fetched::Body { body, .. }) => body,
        Ok(Fetched::NotModified { .. }) => return Err(DiscoveryError::NotJson),
        Err(e) => return Err(DiscoveryError::Fetch(e)),
    };
    jwks_uri(&body, expected_issuer)
}

/// Reads `issuer` and `jwks_uri` from a discovery document.
pub(crate) fn jwks_uri(body: &[u8], expected_issuer: &str) -> Result<url::Url, DiscoveryError> {
    let doc = strict_json::parse_object(
        body,
        JsonLimits {
            max_depth: 8,
            max_entries: 4096,
        },
    )
    .map_err(|_| DiscoveryError::NotJson)?;
    match doc.get("issuer") {
        Some(Value::String(iss)) if iss == expected_issuer => {}
        _ => return Err(DiscoveryError::IssuerMismatch),
    }
    let Some(Value::String(uri)) = doc.get("jwks_uri") else {
        return Err(DiscoveryError::BadJwksUri("missing".into()));
    };
    parse_fetch_url(uri, "jwks_uri").map_err(|e| DiscoveryError::BadJwksUri(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_has_one_slash() {
        let iss = url::Url::parse("https://login.example/tenant/").unwrap();
        assert_eq!(
            discovery_url(&iss).unwrap().as_str(),
            "https://login.example/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuer_must_match_exactly_and_jwks_uri_must_be_https() {
        let ok = br#"{"issuer":"https://a.example","jwks_uri":"https://a.example/keys"}"#;
        assert_eq!(
            jwks_uri(ok, "https://a.example").unwrap().as_str(),
            "https://a.example/keys"
        );
        assert!(matches!(
            jwks_uri(ok, "https://a.example/"),
            Err(DiscoveryError::IssuerMismatch)
        ));
        let http = br#"{"issuer":"https://a.example","jwks_uri":"http://a.example/keys"}"#;
        assert!(matches!(
            jwks_uri(http, "https://a.example"),
            Err(DiscoveryError::BadJwksUri(_))
        ));
        let dup = br#"{"issuer":"https://a.example","issuer":"https://b.example","jwks_uri":"https://a.example/k"}"#;
        assert!(matches!(
            jwks_uri(dup, "https://a.example"),
            Err(DiscoveryError::NotJson)
        ));
        assert!(matches!(
            jwks_uri(b"{}", "x"),
            Err(DiscoveryError::IssuerMismatch)
        ));
    }
}
