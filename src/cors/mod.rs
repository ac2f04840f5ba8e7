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
//! - A request whose `Origin` is not allowed gets 403 without reaching the inner service.

use std::collections::HashSet;
use std::time::Duration;

use http::header::{self, Entry, HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use crate::error::ConfigError;
use crate::origin::{MAX_ORIGIN_LEN, canonical_origin};

/// The methods that are always allowed (CORS-safelisted).
const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

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
///     .max_age(Duration::from_secs(600));
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
}

impl Default for Cors {
    fn default() -> Self {
        Self::new()
    }
}

impl Cors {
    /// No origin allowed yet; methods GET, HEAD, POST; headers `authorization` and
    /// `content-type`; `max_age` 10 minutes; no credentials.
    pub fn new() -> Self {
        Self {
            origins: Vec::new(),
            patterns: Vec::new(),
            credentials: false,
            methods: Vec::new(),
            headers: vec!["authorization".into(), "content-type".into()],
            expose: Vec::new(),
            max_age: Duration::from_secs(600),
            private_network: false,
            insecure_origins: false,
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

    /// Methods allowed besides GET, HEAD and POST (which always are). Case-sensitive.
    pub fn allow_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Request headers allowed (replacing the default `authorization`, `content-type`).
    pub fn allow_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Response headers the page may read; `www-authenticate` always is.
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.expose = headers.into_iter().map(Into::into).collect();
        self
    }

    /// How long a browser may cache a preflight answer: at most 24 hours.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
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

/// A `*.base` pattern, parsed when the layer is built.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    base: String,
    port: Option<u16>,
}

/// The CORS policy as the layer runs it.
#[derive(Debug)]
pub(crate) struct CorsPolicy {
    enabled: bool,
    /// `Vary: Origin` on every response: with CORS or any origin binding.
    vary: bool,
    exact: HashSet<String>,
    patterns: Vec<Pattern>,
    credentials: bool,
    methods: HashSet<String>,
    headers: HashSet<String>,
    allow_methods: HeaderValue,
    allow_headers: Option<HeaderValue>,
    expose_headers: HeaderValue,
    max_age: HeaderValue,
    private_network: bool,
}

/// What the request's `Origin` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RequestOrigin {
    /// No `Origin` (server to server, or a same-origin GET).
    Absent,
    /// An `Origin` on the allow list (or any origin when CORS is not configured).
    Allowed(HeaderValue),
    /// An `Origin` the layer refuses.
    Refused(HeaderValue),
}

impl RequestOrigin {
    /// The origin as text, for the issuer and tenant bindings. An `Origin` that is not visible
    /// ASCII is still an `Origin`: it becomes `""`, which no binding lists, so a bound issuer
    /// or tenant refuses it instead of treating the request as server to server.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Absent => None,
            Self::Allowed(v) | Self::Refused(v) => Some(v.to_str().unwrap_or("")),
        }
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` + `Origin` + `Access-Control-Request-Method`.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl CorsPolicy {
    /// No CORS: no CORS headers, every preflight refused; `vary` when origin bindings exist.
    pub(crate) fn disabled(vary: bool) -> Self {
        Self {
            enabled: false,
            vary,
            exact: HashSet::new(),
            patterns: Vec::new(),
            credentials: false,
            methods: HashSet::new(),
            headers: HashSet::new(),
            allow_methods: HeaderValue::from_static(""),
            allow_headers: None,
            expose_headers: HeaderValue::from_static(""),
            max_age: HeaderValue::from_static("0"),
            private_network: false,
        }
    }

    /// Checks `cors` and prepares every header value. `extra_origins` are the issuers' own
    /// `origins` and `tenant_origins`, already canonical; they are allowed as well.
    pub(crate) fn new(cors: Cors, extra_origins: &[String]) -> Result<Self, ConfigError> {
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
        exact.extend(extra_origins.iter().cloned());
        for (i, pattern) in cors.patterns.iter().enumerate() {
            let key = format!("allow_origin_pattern[{i}]");
            patterns.push(
                parse_pattern(pattern, cors.insecure_origins)
                    .map_err(|why| ConfigError::invalid(key, why))?,
            );
        }

        let mut methods: HashSet<String> =
            SAFELISTED_METHODS.iter().map(|m| (*m).to_owned()).collect();
        let mut method_list: Vec<String> =
            SAFELISTED_METHODS.iter().map(|m| (*m).to_owned()).collect();
        for (i, method) in cors.methods.iter().enumerate() {
            let key = format!("allow_methods[{i}]");
            if method == "*" {
                return Err(ConfigError::invalid(
                    key,
                    "`*` is not accepted: list the methods",
                ));
            }
            if !is_token(method) {
                return Err(ConfigError::invalid(key, "not an HTTP method token"));
            }
            if ["CONNECT", "TRACE", "TRACK"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(method))
            {
                return Err(ConfigError::invalid(key, "a forbidden method"));
            }
            if methods.insert(method.clone()) {
                method_list.push(method.clone());
            }
        }

        let mut headers = HashSet::new();
        let mut header_list = Vec::new();
        for (i, name) in cors.headers.iter().enumerate() {
            let key = format!("allow_headers[{i}]");
            if name == "*" {
                return Err(ConfigError::invalid(
                    key,
                    "`*` is not accepted: list the headers",
                ));
            }
            if !is_token(name) {
                return Err(ConfigError::invalid(key, "not a header name"));
            }
            let lower = name.to_ascii_lowercase();
            if headers.insert(lower.clone()) {
                header_list.push(lower);
            }
        }

        let mut expose_list = Vec::new();
        for (i, name) in cors.expose.iter().enumerate() {
            let key = format!("expose_headers[{i}]");
            if name == "*" {
                return Err(ConfigError::invalid(
                    key,
                    "`*` is not accepted: list the headers",
                ));
            }
            if !is_token(name) {
                return Err(ConfigError::invalid(key, "not a header name"));
            }
            let lower = name.to_ascii_lowercase();
            if lower != "www-authenticate" && !expose_list.contains(&lower) {
                expose_list.push(lower);
            }
        }
        expose_list.push("www-authenticate".to_owned());

        if cors.max_age > Duration::from_secs(86_400) {
            return Err(ConfigError::invalid("max_age", "must be at most 24h"));
        }
        if cors.max_age > Duration::from_secs(7_200) {
            tracing::warn!(
                target: "jwt_guard::cors",
                max_age = cors.max_age.as_secs(),
                "cors max_age is above what browsers keep (Chromium 2h, WebKit 10m)"
            );
        }

        let value = |text: String, key: &str| {
            HeaderValue::from_str(&text)
                .map_err(|_| ConfigError::invalid(key, "not a valid header value"))
        };
        Ok(Self {
            enabled: true,
            vary: true,
            exact,
            patterns,
            credentials: cors.credentials,
            methods,
            headers,
            allow_methods: value(method_list.join(", "), "allow_methods")?,
            allow_headers: if header_list.is_empty() {
                None
            } else {
                Some(value(header_list.join(", "), "allow_headers")?)
            },
            expose_headers: value(expose_list.join(", "), "expose_headers")?,
            max_age: value(cors.max_age.as_secs().to_string(), "max_age")?,
            private_network: cors.private_network,
        })
    }

    /// Classifies the request's `Origin` (the caller has refused duplicates already).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn classify(&self, headers: &HeaderMap) -> RequestOrigin {
        self.classify_value(headers.get(header::ORIGIN))
    }

    /// [`Self::classify`] of the request's one `Origin` value, already looked up.
    pub(crate) fn classify_value(&self, origin: Option<&HeaderValue>) -> RequestOrigin {
        let Some(origin) = origin else {
            return RequestOrigin::Absent;
        };
        if !self.enabled || self.allows(origin) {
            RequestOrigin::Allowed(origin.clone())
        } else {
            RequestOrigin::Refused(origin.clone())
        }
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(text) = origin.to_str() else {
            return false;
        };
        if text.len() > MAX_ORIGIN_LEN {
            return false;
        }
        if self.exact.contains(text) {
            return true;
        }
        if self.patterns.is_empty() {
            return false;
        }
        // Only a canonical origin is matched against a pattern: this refuses paths, userinfo,
        // queries, fragments and every other way of smuggling `.base` into the string.
        let Ok(canonical) = canonical_origin(text, true) else {
            return false;
        };
        if canonical != text {
            return false;
        }
        let Ok(url) = url::Url::parse(text) else {
            return false;
        };
        let Some(url::Host::Domain(host)) = url.host() else {
            return false;
        };
        // The URL parser keeps empty labels (`a..b.example`) and characters no host name has
        // (`'`, `$`, `*`, `_`…): only letter-digit-hyphen labels are matched, so a label
        // boundary is a real one and the subdomain is one DNS can name.
        if !host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }) {
            return false;
        }
        self.patterns.iter().any(|p| {
            p.scheme == url.scheme()
                && p.port == url.port()
                && host.len() > p.base.len() + 1
                && host.ends_with(p.base.as_str())
                && host.as_bytes().get(host.len() - p.base.len() - 1) == Some(&b'.')
        })
    }

    /// The answer to a preflight: `Ok` with the headers of a 204, or `Err(())` for a 403. The
    /// `Vary` headers are the caller's to add to both.
    pub(crate) fn preflight(
        &self,
        origin: &RequestOrigin,
        headers: &HeaderMap,
    ) -> Result<HeaderMap, ()> {
        if !self.enabled {
            return Err(());
        }
        let RequestOrigin::Allowed(origin) = origin else {
            return Err(());
        };
        let mut methods = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_METHOD)
            .iter();
        let method = methods.next().ok_or(())?;
        if methods.next().is_some() {
            return Err(());
        }
        let method = method.to_str().map_err(|_| ())?;
        if !is_token(method) || !self.methods.contains(method) {
            return Err(());
        }
        for line in headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            let line = line.to_str().map_err(|_| ())?;
            for name in line.split(',') {
                let name = name.trim_matches([' ', '\t']);
                if name.is_empty() {
                    continue;
                }
                if !is_token(name) || !self.headers.contains(&name.to_ascii_lowercase()) {
                    return Err(());
                }
            }
        }
        let mut out = HeaderMap::new();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allow_methods.clone(),
        );
        if let Some(allow_headers) = &self.allow_headers {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers.clone());
        }
        out.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if self.private_network
            && headers
                .get(REQUEST_PRIVATE_NETWORK)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
        {
            out.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        }
        Ok(out)
    }

    /// Adds `Vary` for a preflight answer (allowed or not).
    pub(crate) fn vary_preflight(&self, headers: &mut HeaderMap) {
        append_vary(headers, "origin");
        append_vary(headers, "access-control-request-method");
        append_vary(headers, "access-control-request-headers");
        if self.private_network {
            append_vary(headers, "access-control-request-private-network");
        }
    }

    /// Decorates a response (the inner service's or a rejection) for `origin`. With CORS on,
    /// the layer owns the CORS headers: whatever the inner service set is removed first, so a
    /// handler's `Access-Control-Allow-Origin: *` never reaches a request without an allowed
    /// origin, and an allowed one gets exactly one `Access-Control-Allow-Origin`.
    pub(crate) fn decorate(&self, origin: &RequestOrigin, headers: &mut HeaderMap) {
        if self.vary {
            append_vary(headers, "origin");
        }
        if !self.enabled {
            return;
        }
        // The handler's own CORS headers never reach the browser. Most responses have none:
        // one pass over their few names is cheaper than seven hashed removals.
        if headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-"))
        {
            for name in [
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::ACCESS_CONTROL_MAX_AGE,
                ALLOW_PRIVATE_NETWORK,
            ] {
                headers.remove(name);
            }
        }
        let RequestOrigin::Allowed(origin) = origin else {
            return;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            self.expose_headers.clone(),
        );
    }
}

const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// Appends `name` to `Vary` unless it is there already (or `*` is). One hashed look-up.
pub(crate) fn append_vary(headers: &mut HeaderMap, name: &'static str) {
    match headers.entry(header::VARY) {
        Entry::Vacant(slot) => {
            slot.insert(HeaderValue::from_static(name));
        }
        Entry::Occupied(mut slot) => {
            let present = slot.iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(',')
                        .map(str::trim)
                        .any(|item| item == "*" || item.eq_ignore_ascii_case(name))
                })
            });
            if !present {
                slot.append(HeaderValue::from_static(name));
            }
        }
    }
}

fn parse_pattern(pattern: &str, allow_http: bool) -> Result<Pattern, String> {
    let (scheme, rest) = pattern
        .split_once("://*.")
        .ok_or_else(|| "a pattern looks like https://*.example.com".to_owned())?;
    let base_origin = format!("{scheme}://{rest}");
    let canonical = canonical_origin(&base_origin, allow_http)?;
    let url = url::Url::parse(&canonical).map_err(|_| "not a serialized origin".to_owned())?;
    let Some(url::Host::Domain(base)) = url.host() else {
        return Err("a pattern's base must be a domain name".into());
    };
    let base = base.to_owned();
    if !base.contains('.') || psl::suffix_str(&base) == Some(base.as_str()) {
        return Err(format!(
            "{base:?} is a public suffix: anyone could register a subdomain"
        ));
    }
    Ok(Pattern {
        scheme: url.scheme().to_owned(),
        base,
        port: url.port(),
    })
}

/// RFC 9110 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests;
