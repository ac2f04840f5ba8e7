//! The `[upstream]` table: with it, `serve` is a verifying reverse proxy in front of `url`.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

/// The parser of durations (`"30s"`), given by the config module: this file stays a leaf.
pub(super) type DurationParser = fn(&str, &str) -> Result<Duration, ConfigError>;

/// How long the upstream may take to accept the connection and, once the whole request is
/// sent, to answer with its response head, by default.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The identity headers' prefix by default.
pub const DEFAULT_IDENTITY_HEADER_PREFIX: &str = "x-auth-";

/// The `[upstream]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamFile {
    url: Option<String>,
    timeout: Option<String>,
    public_paths: Option<Vec<String>>,
    identity_header_prefix: Option<String>,
}

/// The upstream of proxy mode (`[upstream]`), checked.
///
/// ```
/// let config = jwt_guard::Config::from_toml(r#"
///     [[issuers]]
///     secret = "an-hmac-secret-of-at-least-32-bytes!!"
///     [upstream]
///     url = "http://127.0.0.1:3000/api"
///     public_paths = ["/public/"]
/// "#)?;
/// let upstream = config.upstream().unwrap();
/// assert_eq!(upstream.authority(), "127.0.0.1:3000");
/// assert_eq!(upstream.path_prefix(), "/api");
/// # Ok::<(), jwt_guard::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    https: bool,
    authority: String,
    path_prefix: String,
    timeout: Duration,
    public_paths: Vec<String>,
    identity_header_prefix: String,
}

impl Upstream {
    /// `true` for an `https` upstream.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The upstream's authority (`host:port`, or `host` for the scheme's default port): the
    /// `Host` of every forwarded request.
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path prefix of `url`, without its trailing `/` (empty for none), put before every
    /// forwarded path.
    #[must_use]
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// `timeout`: bounds the connection attempt and the wait for the response head.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `public_paths`: path prefixes forwarded without a token.
    #[must_use]
    pub fn public_paths(&self) -> &[String] {
        &self.public_paths
    }

    /// `identity_header_prefix`, lowercase.
    #[must_use]
    pub fn identity_header_prefix(&self) -> &str {
        &self.identity_header_prefix
    }
}

impl UpstreamFile {
    /// Checks the table; errors name keys inside it (`url`, `public_paths[1]`, ...).
    pub(super) fn into_upstream(self, duration: DurationParser) -> Result<Upstream, ConfigError> {
        let url = self.url.ok_or_else(|| ConfigError::missing("url"))?;
        let (https, authority, path_prefix) = parse_url(&url)?;
        let timeout = match self.timeout {
            None => DEFAULT_UPSTREAM_TIMEOUT,
            Some(text) => duration(&text, "timeout")?,
        };
        if timeout.is_zero() {
            return Err(ConfigError::invalid("timeout", "must be more than zero"));
        }
        let public_paths = self.public_paths.unwrap_or_default();
        for (i, path) in public_paths.iter().enumerate() {
            if !path.starts_with('/') || path.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                return Err(ConfigError::invalid(
                    format!("public_paths[{i}]"),
                    "a path prefix starts with `/` and has no space or control character",
                ));
            }
        }
        let prefix = self
            .identity_header_prefix
            .unwrap_or_else(|| DEFAULT_IDENTITY_HEADER_PREFIX.to_owned())
            .to_ascii_lowercase();
        let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if prefix.is_empty() || !prefix.bytes().all(token_char) {
            return Err(ConfigError::invalid(
                "identity_header_prefix",
                "must be the non-empty start of a header name, e.g. \"x-auth-\"",
            ));
        }
        Ok(Upstream {
            https,
            authority,
            path_prefix,
            timeout,
            public_paths,
            identity_header_prefix: prefix,
        })
    }
}

/// `http(s)://host[:port][/prefix]`: no user, query or fragment.
fn parse_url(text: &str) -> Result<(bool, String, String), ConfigError> {
    // The URL is not repeated: a user and password in it must not reach the logs.
    let bad = |why: &str| ConfigError::invalid("url", format!("the URL {why}"));
    let url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("is not an http or https URL")),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        _ => return Err(bad("has no host")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("may not carry a user or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("may not have a query or a fragment"));
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    let prefix = url.path().trim_end_matches('/').to_owned();
    Ok((https, authority, prefix))
}
