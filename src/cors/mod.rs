//! CORS for marketplace extensions, answered by the same layer that verifies tokens.
//!
//! - A preflight is `OPTIONS` + `Origin` + `Access-Control-Request-Method`; it is answered here
//!   before any authentication: 204 with the CORS headers when the origin, the method and
//!   every requested header are allowed, 403 without CORS headers otherwise. Any other
//!   `OPTIONS` is an ordinary request.
//! - Origins match byte for byte against canonical serialized origins validated when the layer
//!   is built; opt-in subdomain patterns (`https://*.marketplace.example`) match on label
//!   boundaries, pin scheme and port, and never have a public suffix as base.
//! - Every response to an allowed origin carries the CORS headers (the layer's rejections and
//!   the inner service's errors included); `Vary` is appended, never overwritten.
//! - A request whose `Origin` is not allowed gets 403 without reaching the inner service
//!   (by default: see [`ForeignOrigin`] for public routes).
//! - Every list setter *adds* to its list, across calls, and nothing removes a default:
//!   GET, HEAD and POST stay allowed, `authorization` and `content-type` stay allowed request
//!   headers (so bearer preflights keep working whatever is added), `www-authenticate` stays
//!   exposed.
//!
//! This file holds [`Cors`], the public builder, and the check that turns it into the prepared
//! `CorsPolicy` (`policy.rs`), which the layer runs.

use std::collections::HashSet;
use std::time::Duration;

use http::header::HeaderValue;

use crate::error::ConfigError;
use crate::origin::canonical_origin;

mod names;
mod policy;

pub use names::CorsName;
pub(crate) use policy::{CorsPolicy, RequestOrigin, is_preflight};
use policy::{Pattern, is_token, parse_pattern};

/// The methods that are always allowed (CORS-safelisted).
const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// The longest `Access-Control-Max-Age` accepted.
pub(crate) const MAX_PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The Fetch standard's forbidden methods: refused in `allow_methods`.
const FORBIDDEN_METHODS: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];

/// The request headers that are always allowed: the bearer token's and the JSON body's.
const DEFAULT_HEADERS: [&str; 2] = ["authorization", "content-type"];

/// The response header the page may always read: it carries the bearer challenge.
const ALWAYS_EXPOSED: &str = "www-authenticate";

/// What the layer does with a request whose `Origin` is not allowed
/// ([`Cors::foreign_origins`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignOrigin {
    /// 403 `origin_not_allowed`, on every route: the inner service is never called. The safe
    /// default.
    #[default]
    Refuse,
    /// On public routes — under [`cors_layer`](crate::JwtGuard::cors_layer) alone — the request
    /// goes on to the inner service, and its answer carries no CORS header, so the browser keeps
    /// it from the page (as tower-http's `CorsLayer` does). Layers that authenticate
    /// ([`layer`](crate::JwtGuard::layer), [`auth_layer`](crate::JwtGuard::auth_layer),
    /// [`optional_auth_layer`](crate::JwtGuard::optional_auth_layer)) still refuse the
    /// request with 403: a foreign page never gets a token-bearing request (or the browser's
    /// cookies) through to a protected handler. A preflight from a foreign origin is refused
    /// either way.
    OmitCorsHeaders,
}

/// Exposed on every response that carries it (a 503 refusal says when to retry).
const RETRY_AFTER: &str = "retry-after";

/// The CORS configuration: which origins may call the API from a browser, and how.
///
/// ```
/// use std::time::Duration;
/// use jwt_guard::Cors;
///
/// let cors = Cors::new()
///     .allow_origins(["https://marketplace.example"])
///     .allow_origin_pattern("https://*.marketplace.example")
///     .allow_credentials(true)
///     .allow_methods(["GET", "POST", "DELETE"])
///     .allow_headers(["x-request-id"]) // added: authorization and content-type stay allowed
///     .preflight_max_age(Duration::from_secs(600));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Cors {
    origins: Vec<String>,
    patterns: Vec<String>,
    credentials: bool,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    max_age: Duration,
    private_network: bool,
    insecure_origins: bool,
    foreign: ForeignOrigin,
}

impl Default for Cors {
    fn default() -> Self {
        Self::new()
    }
}

impl Cors {
    /// No origin allowed yet; methods GET, HEAD, POST; headers `authorization` and
    /// `content-type`; `www-authenticate` exposed; preflights cached 10 minutes; no
    /// credentials; foreign origins refused.
    pub fn new() -> Self {
        Self {
            origins: Vec::new(),
            patterns: Vec::new(),
            credentials: false,
            methods: Vec::new(),
            headers: Vec::new(),
            expose: Vec::new(),
            max_age: Duration::from_secs(600),
            private_network: false,
            insecure_origins: false,
            foreign: ForeignOrigin::Refuse,
        }
    }

    /// Adds exact origins (`https://marketplace.example`, `https://a.example:8443`), each a
    /// canonical serialized origin: lowercase, punycode, no default port, no path, no trailing
    /// slash. A pattern (`https://*.marketplace.example`) is accepted here too. Entries are
    /// checked when the layer is built; a mistake is a [`ConfigError`] naming
    /// `allow_origins[i]`, counted over every call.
    pub fn allow_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds a subdomain pattern: `https://*.marketplace.example` matches one or more labels
    /// before the base (`https://shop.marketplace.example`, `https://a.b.marketplace.example`),
    /// not the apex itself, with the same scheme and port. A base that is a public suffix
    /// (`https://*.com`, `https://*.github.io`) is refused: anyone could register a subdomain.
    /// A mistake is a [`ConfigError`] naming `allow_origin_pattern[i]`.
    pub fn allow_origin_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into());
        self
    }

    /// Sends `Access-Control-Allow-Credentials: true` (needed for `credentials: "include"`).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// Adds methods to the allowed ones (GET, HEAD and POST always are): `&str`, `String` or
    /// [`http::Method`]. Case-sensitive. Every call adds; a mistake is a [`ConfigError`] naming
    /// `allow_methods[i]`, counted over every call.
    pub fn allow_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: CorsName,
    {
        self.methods
            .extend(methods.into_iter().map(CorsName::into_name));
        self
    }

    /// Adds request headers a preflight may ask for: `&str`, `String` or
    /// [`http::HeaderName`]. `authorization` and `content-type` always are allowed, so adding
    /// `x-request-id` never breaks bearer preflights. Every call adds; a mistake is a
    /// [`ConfigError`] naming `allow_headers[i]`, counted over every call.
    pub fn allow_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: CorsName,
    {
        self.headers
            .extend(headers.into_iter().map(CorsName::into_name));
        self
    }

    /// Adds response headers the page may read: `&str`, `String` or [`http::HeaderName`];
    /// `www-authenticate` always is. Every call adds; a mistake is a [`ConfigError`] naming
    /// `expose_headers[i]`, counted over every call.
    pub fn expose_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: CorsName,
    {
        self.expose
            .extend(headers.into_iter().map(CorsName::into_name));
        self
    }

    /// How long a browser may cache a preflight answer (`Access-Control-Max-Age`): default
    /// 10 minutes, at most 24 hours (a [`ConfigError`] naming `preflight_max_age` otherwise).
    /// TOML: `[cors] preflight_max_age`, or its alias `max_age`.
    pub fn preflight_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The former name of [`preflight_max_age`](Self::preflight_max_age): `max_age` means a
    /// token's age on [`Issuer`](crate::Issuer).
    #[deprecated(since = "0.1.0", note = "use `preflight_max_age`")]
    pub fn max_age(self, max_age: Duration) -> Self {
        self.preflight_max_age(max_age)
    }

    /// What a request from an origin that is not allowed gets: [`ForeignOrigin::Refuse`] (403,
    /// the default), or [`ForeignOrigin::OmitCorsHeaders`] on public routes (the request is
    /// served without CORS headers; layers that authenticate still refuse it).
    pub fn foreign_origins(mut self, foreign: ForeignOrigin) -> Self {
        self.foreign = foreign;
        self
    }

    /// Answers Private Network Access preflights (`Access-Control-Request-Private-Network`)
    /// for allowed origins.
    pub fn allow_private_network(mut self, allow: bool) -> Self {
        self.private_network = allow;
        self
    }

    /// Accepts plain-`http` origins for hosts other than loopback.
    ///
    /// # Security
    ///
    /// A page served over plain http can be rewritten by anyone on the network path, who then
    /// calls the API with the user's credentials. Use it only for development.
    pub fn dangerous_allow_insecure_origins(mut self, allow: bool) -> Self {
        self.insecure_origins = allow;
        self
    }
}

impl CorsPolicy {
    /// Checks `cors` and prepares every header value. `extra_origins` are the issuers' own
    /// `origins` and `tenant_origins`, already canonical; they are allowed as well.
    pub(crate) fn new(cors: Cors, extra_origins: &[String]) -> Result<Self, ConfigError> {
        let (mut exact, patterns) = origins(&cors)?;
        exact.extend(extra_origins.iter().cloned());
        let methods = token_list(
            "allow_methods",
            List::Methods,
            &SAFELISTED_METHODS,
            &cors.methods,
        )?;
        let headers = token_list(
            "allow_headers",
            List::Headers,
            &DEFAULT_HEADERS,
            &cors.headers,
        )?;
        let mut expose = token_list("expose_headers", List::Headers, &[], &cors.expose)?;
        expose.retain(|name| name != ALWAYS_EXPOSED);
        // A response with `Retry-After` (a 503 refusal) exposes it too.
        let mut with_retry_after = expose.clone();
        if !with_retry_after.iter().any(|name| name == RETRY_AFTER) {
            with_retry_after.push(RETRY_AFTER.to_owned());
        }
        with_retry_after.push(ALWAYS_EXPOSED.to_owned());
        expose.push(ALWAYS_EXPOSED.to_owned());
        check_max_age(cors.max_age)?;

        Ok(Self {
            enabled: true,
            vary: true,
            exact,
            patterns,
            credentials: cors.credentials,
            allow_methods: joined(&methods, "allow_methods")?,
            allow_headers: if headers.is_empty() {
                None
            } else {
                Some(joined(&headers, "allow_headers")?)
            },
            expose_headers: joined(&expose, "expose_headers")?,
            expose_with_retry_after: joined(&with_retry_after, "expose_headers")?,
            max_age: header_value(&cors.max_age.as_secs().to_string(), "preflight_max_age")?,
            methods: methods.into_iter().collect(),
            headers: headers.into_iter().collect(),
            private_network: cors.private_network,
            omit_foreign: cors.foreign == ForeignOrigin::OmitCorsHeaders,
        })
    }
}

/// The exact origins and the patterns of `allow_origins` (where a `://*.` entry is a pattern)
/// and `allow_origin_pattern`, checked in that order.
fn origins(cors: &Cors) -> Result<(HashSet<String>, Vec<Pattern>), ConfigError> {
    let mut exact = HashSet::new();
    let mut patterns = Vec::new();
    for (i, origin) in cors.origins.iter().enumerate() {
        let key = format!("allow_origins[{i}]");
        if origin == "*" && cors.credentials {
            return Err(ConfigError::invalid(
                key,
                "`*` cannot be used with allow_credentials",
            ));
        }
        if origin.contains("://*.") {
            let pattern = parse_pattern(origin, cors.insecure_origins)
                .map_err(|why| ConfigError::invalid(key, why))?;
            patterns.push(pattern);
            continue;
        }
        let canonical = canonical_origin(origin, cors.insecure_origins)
            .map_err(|why| ConfigError::invalid(key, why))?;
        exact.insert(canonical);
    }
    for (i, pattern) in cors.patterns.iter().enumerate() {
        let key = format!("allow_origin_pattern[{i}]");
        patterns.push(
            parse_pattern(pattern, cors.insecure_origins)
                .map_err(|why| ConfigError::invalid(key, why))?,
        );
    }
    Ok((exact, patterns))
}

/// What a list setting holds: it decides the error texts and how an entry is normalised.
#[derive(Clone, Copy)]
enum List {
    /// Method names, case-sensitive.
    Methods,
    /// Header names, lowercased.
    Headers,
}

impl List {
    /// One entry, normalised, or why it is refused.
    fn normalise(self, entry: &str) -> Result<String, &'static str> {
        if entry == "*" {
            return Err(match self {
                Self::Methods => "`*` is not accepted: list the methods",
                Self::Headers => "`*` is not accepted: list the headers",
            });
        }
        if !is_token(entry) {
            return Err(match self {
                Self::Methods => "not an HTTP method token",
                Self::Headers => "not a header name",
            });
        }
        match self {
            Self::Methods
                if FORBIDDEN_METHODS
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(entry)) =>
            {
                Err("a forbidden method")
            }
            Self::Methods => Ok(entry.to_owned()),
            Self::Headers => Ok(entry.to_ascii_lowercase()),
        }
    }
}

/// `seed`, then the entries of the list setting `name` normalised, in order, without
/// duplicates. The first refused entry is a [`ConfigError`] naming `name[i]`.
fn token_list(
    name: &str,
    list: List,
    seed: &[&str],
    entries: &[String],
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = seed.iter().map(|s| (*s).to_owned()).collect();
    for (i, entry) in entries.iter().enumerate() {
        let entry = list
            .normalise(entry)
            .map_err(|why| ConfigError::invalid(format!("{name}[{i}]"), why))?;
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// At most 24 hours; above what browsers keep (2 hours) is only a warning.
fn check_max_age(max_age: Duration) -> Result<(), ConfigError> {
    if max_age > MAX_PREFLIGHT_MAX_AGE {
        return Err(ConfigError::invalid(
            "preflight_max_age",
            "must be at most 24h",
        ));
    }
    if max_age > Duration::from_secs(7_200) {
        tracing::warn!(
            target: "jwt_guard::cors",
            max_age = max_age.as_secs(),
            "cors max_age is above what browsers keep (Chromium 2h, WebKit 10m)"
        );
    }
    Ok(())
}

/// `names` as one comma-separated header value; a [`ConfigError`] naming `key` otherwise.
fn joined(names: &[String], key: &str) -> Result<HeaderValue, ConfigError> {
    header_value(&names.join(", "), key)
}

/// `text` as a header value; a [`ConfigError`] naming `key` otherwise.
fn header_value(text: &str, key: &str) -> Result<HeaderValue, ConfigError> {
    HeaderValue::from_str(text).map_err(|_| ConfigError::invalid(key, "not a valid header value"))
}

#[cfg(test)]
mod setter_tests;
#[cfg(test)]
mod tests;
