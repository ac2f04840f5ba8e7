//! The headers of a forwarded request and of the upstream's response: hop-by-hop headers
//! dropped, `Host` and `X-Forwarded-*`, the upstream's CORS headers, and the identity headers.

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::identity::Verified;

/// The hop-by-hop headers of RFC 9110 §7.6.1 and the ones proxies still meet; with those the
/// `Connection` header names, they never cross the proxy in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
];

/// Removes the hop-by-hop headers, and those `Connection` names.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names, comparing parsed names (no hashing, no string compares for the
    // standard ones), noting which are there: most messages carry none, or only
    // `Connection: keep-alive`, and then nothing is allocated.
    let mut present = 0u8;
    for name in headers.keys() {
        for (bit, hop) in HOP_BY_HOP.iter().enumerate() {
            if name == hop {
                present |= 1 << bit;
            }
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            // `close`, and the names removed below anyway (`keep-alive`, the usual one), are
            // compared as text: nothing parsed or allocated for them.
            .filter(|name| {
                !name.is_empty()
                    && !name.eq_ignore_ascii_case("close")
                    && !HOP_BY_HOP
                        .iter()
                        .any(|hop| name.eq_ignore_ascii_case(hop.as_str()))
            })
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (bit, hop) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << bit) != 0 {
            headers.remove(hop);
        }
    }
}

/// `Host` becomes the upstream's authority, the client's goes to `X-Forwarded-Host`; the
/// client's address (`client_ip`, as text) is appended to `X-Forwarded-For`;
/// `X-Forwarded-Proto` is set.
pub(super) fn set_forwarded(
    headers: &mut HeaderMap,
    upstream_host: &HeaderValue,
    client_host: Option<HeaderValue>,
    client_ip: Option<&HeaderValue>,
) {
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

    headers.insert(header::HOST, upstream_host.clone());
    match client_host {
        Some(host) => headers.insert(&X_FORWARDED_HOST, host),
        None => headers.remove(&X_FORWARDED_HOST),
    };
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    let Some(ip) = client_ip else { return };
    if !headers.contains_key(&X_FORWARDED_FOR) {
        // The first hop (the usual case): the connection's own value, no allocation.
        headers.insert(&X_FORWARDED_FOR, ip.clone());
        return;
    }
    // Several X-Forwarded-For lines are one list: joined, then this hop appended.
    let mut list = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if !list.is_empty() {
        list.push_str(", ");
    }
    list.push_str(ip.to_str().unwrap_or_default());
    if let Ok(value) = HeaderValue::from_str(&list) {
        headers.insert(&X_FORWARDED_FOR, value);
    }
}

/// The upstream's own `Access-Control-*` headers: the layer's replace them.
pub(super) fn remove_cors(headers: &mut HeaderMap) {
    if headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-"))
    {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            headers.remove(name);
        }
    }
}

/// The identity headers' names, made once from `identity_header_prefix`.
#[derive(Clone, Debug)]
pub(super) struct IdentityHeaders {
    prefix: String,
    issuer: HeaderName,
    sub: HeaderName,
    tenant: HeaderName,
    claims: HeaderName,
}

impl IdentityHeaders {
    /// The names under `prefix` (lowercase, checked by the config: a valid start of a name).
    pub(super) fn new(prefix: &str) -> Result<Self, axum::http::header::InvalidHeaderName> {
        let name = |suffix: &str| HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes());
        Ok(Self {
            prefix: prefix.to_owned(),
            issuer: name("issuer")?,
            sub: name("sub")?,
            tenant: name("tenant")?,
            claims: name("claims")?,
        })
    }

    /// Removes every header whose name starts with the prefix (names are lowercase), then adds
    /// the verified identity, if any.
    pub(super) fn apply(&self, headers: &mut HeaderMap, verified: Option<&Verified>) {
        if headers
            .keys()
            .any(|name| name.as_str().starts_with(&self.prefix))
        {
            let spoofed: Vec<HeaderName> = headers
                .keys()
                .filter(|name| name.as_str().starts_with(&self.prefix))
                .cloned()
                .collect();
            for name in spoofed {
                headers.remove(name);
            }
        }
        let Some(who) = verified else {
            return;
        };
        let [issuer, sub, tenant, claims] = who.identity_values(identity_values);
        for (name, value) in [
            (&self.issuer, issuer),
            (&self.sub, sub),
            (&self.tenant, tenant),
            (&self.claims, claims),
        ] {
            if let Some(value) = value {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// The identity headers' values of a verified token (made once per token: the `Verified` keeps
/// them): the issuer, `sub` and tenant when printable, and the claims as base64url JSON.
fn identity_values(who: &Verified) -> crate::identity::IdentityValues {
    let claims = serde_json::to_vec(who.claims()).unwrap_or_default();
    [
        printable(Some(who.issuer_name())),
        printable(who.subject()),
        printable(who.tenant()),
        HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(claims)).ok(),
    ]
}

/// A value for its own header: non-empty printable ASCII (0x20–0x7E) without a leading or
/// trailing space; anything else travels in the claims header only.
fn printable(value: Option<&str>) -> Option<HeaderValue> {
    let value = value?;
    let ok = !value.is_empty()
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ');
    if ok {
        HeaderValue::from_str(value).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_more_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn every_connection_line_and_token_counts_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("close"));
        headers.append(
            "connection",
            HeaderValue::from_static(" X-Hop-One ,, KEEP-ALIVE,x-hop-two"),
        );
        headers.insert("x-hop-one", HeaderValue::from_static("1"));
        headers.insert("x-hop-two", HeaderValue::from_static("2"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
    }

    #[test]
    fn connection_close_alone_goes_and_nothing_else() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close"));
        headers.insert(
            "close",
            HeaderValue::from_static("a header of that name stays"),
        );
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 2);
        assert!(!headers.contains_key("connection"));
    }

    #[test]
    fn hop_by_hop_headers_without_connection_go_too() {
        let mut headers = HeaderMap::new();
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn printable_values_only() {
        assert!(printable(Some("user-1")).is_some());
        assert!(printable(Some("")).is_none());
        assert!(printable(Some(" lead")).is_none());
        assert!(printable(Some("trail ")).is_none());
        assert!(printable(Some("caf\u{e9}")).is_none());
        assert!(printable(Some("a\tb")).is_none());
        assert!(printable(None).is_none());
    }

    #[test]
    fn the_first_hop_is_the_connections_own_value() {
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_static("upstream:3000");
        let ip = HeaderValue::from_static("::1");
        set_forwarded(&mut headers, &host, None, Some(&ip));
        assert_eq!(headers["x-forwarded-for"], "::1");
        assert!(!headers.contains_key("x-forwarded-host"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("   "));
        set_forwarded(&mut headers, &host, None, Some(&ip));
        assert_eq!(headers["x-forwarded-for"], "::1");
    }

    #[test]
    fn forwarded_for_is_one_list() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        let host = HeaderValue::from_static("upstream:3000");
        let client = Some(HeaderValue::from_static("api.example"));
        let ip = HeaderValue::from_static("127.0.0.1");
        set_forwarded(&mut headers, &host, client, Some(&ip));
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 127.0.0.1");
        assert_eq!(headers["host"], "upstream:3000");
        assert_eq!(headers["x-forwarded-host"], "api.example");
        assert_eq!(headers["x-forwarded-proto"], "http");
    }
}
