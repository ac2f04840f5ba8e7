//! The CORS policy as the layer runs it: classifies the request's `Origin`, answers
//! preflights, decorates responses and keeps `Vary` right. Built from a [`Cors`](super::Cors)
//! by [`CorsPolicy::new`]; the subdomain [`Pattern`]s are parsed here.

use std::collections::HashSet;

use http::header::{self, Entry, HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use crate::origin::{MAX_ORIGIN_LEN, canonical_origin};

/// A `*.base` pattern, parsed when the layer is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pattern {
    /// `https`, or `http` where plain http is allowed.
    pub(super) scheme: String,
    /// The domain the subdomains are under, never a public suffix.
    pub(super) base: String,
    /// The port, when not the scheme's default.
    pub(super) port: Option<u16>,
}

/// The CORS policy as the layer runs it.
#[derive(Debug)]
pub(crate) struct CorsPolicy {
    /// CORS is configured: without it no CORS header is sent and every preflight is refused.
    pub(super) enabled: bool,
    /// `Vary: Origin` on every response: with CORS or any origin binding.
    pub(super) vary: bool,
    /// The exact origins allowed, canonical.
    pub(super) exact: HashSet<String>,
    /// The subdomain patterns allowed.
    pub(super) patterns: Vec<Pattern>,
    /// `Access-Control-Allow-Credentials: true` is sent.
    pub(super) credentials: bool,
    /// The methods a preflight may ask for.
    pub(super) methods: HashSet<String>,
    /// The request headers a preflight may ask for, lowercase.
    pub(super) headers: HashSet<String>,
    /// `Access-Control-Allow-Methods`, prepared.
    pub(super) allow_methods: HeaderValue,
    /// `Access-Control-Allow-Headers`, prepared; `None` when no header is allowed.
    pub(super) allow_headers: Option<HeaderValue>,
    /// `Access-Control-Expose-Headers`, prepared.
    pub(super) expose_headers: HeaderValue,
    /// `Access-Control-Expose-Headers` for a response that carries `Retry-After` (a 503
    /// refusal): the same list with `retry-after`, so the page can read when to retry.
    pub(super) expose_with_retry_after: HeaderValue,
    /// `Access-Control-Max-Age`, prepared.
    pub(super) max_age: HeaderValue,
    /// Private Network Access preflights are answered.
    pub(super) private_network: bool,
    /// [`ForeignOrigin::OmitCorsHeaders`](super::ForeignOrigin::OmitCorsHeaders): a layer
    /// that does not authenticate lets a foreign origin's request through, undecorated.
    pub(super) omit_foreign: bool,
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
            expose_with_retry_after: HeaderValue::from_static(""),
            max_age: HeaderValue::from_static("0"),
            private_network: false,
            omit_foreign: false,
        }
    }

    /// Whether a layer that does not authenticate lets a foreign origin's request through
    /// (without CORS headers) instead of refusing it.
    pub(crate) fn omits_foreign(&self) -> bool {
        self.omit_foreign
    }

    /// Classifies the request's `Origin` (the caller has refused duplicates already).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn classify(&self, headers: &HeaderMap) -> RequestOrigin {
        self.classify_value(headers.get(header::ORIGIN))
    }

    /// `classify` of the request's one `Origin` value, already looked up.
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

    /// Whether `origin` is on the allow list: exactly, or a canonical origin under a pattern.
    pub(super) fn allows(&self, origin: &HeaderValue) -> bool {
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
        let expose = if headers.contains_key(header::RETRY_AFTER) {
            &self.expose_with_retry_after
        } else {
            &self.expose_headers
        };
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
}

/// The request header of a Private Network Access preflight.
pub(super) const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// The response header that allows a Private Network Access request.
pub(super) const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// Appends `name` to `Vary` unless it is there already (or `*` is). One hashed look-up.
pub(super) fn append_vary(headers: &mut HeaderMap, name: &'static str) {
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

/// Parses `scheme://*.base[:port]`: the base must be a canonical origin's domain and not a
/// public suffix. The error is the reason, for a [`ConfigError`](crate::ConfigError).
pub(super) fn parse_pattern(pattern: &str, allow_http: bool) -> Result<Pattern, String> {
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
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
