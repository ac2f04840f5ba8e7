//! Token extraction: `Authorization: Bearer`, the `jwt` cookie and the `access_token` query
//! parameter, from arbitrary header values and URIs.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use jwt_guard::__fuzz::extract_token;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["authorization", "cookie", "origin", "x-other"];

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xFF: the URI, then header lines whose first byte picks the name.
    let mut fields = data.split(|b| *b == 0xFF);
    let uri_bytes = fields.next().unwrap_or_default();
    let uri = std::str::from_utf8(uri_bytes)
        .ok()
        .and_then(|s| s.parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for field in fields {
        let Some((selector, value)) = field.split_first() else {
            continue;
        };
        let name = NAMES[usize::from(*selector) % NAMES.len()];
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }

    let first = extract_token(&headers, &uri);
    // Extraction only reads the request: doing it again gives the same answer.
    assert_eq!(
        format!("{first:?}"),
        format!("{:?}", extract_token(&headers, &uri))
    );

    if let Ok(Some((token, stripped))) = first {
        assert!(!token.is_empty());
        assert!(token.len() <= jwt_guard::MAX_TOKEN_LEN);
        if let Some(stripped) = stripped {
            assert_eq!(stripped.path(), uri.path());
            if let Some(query) = stripped.query() {
                for pair in query.split('&') {
                    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                    assert_ne!(
                        key, "access_token",
                        "the token parameter was left in the URI"
                    );
                }
            }
        }
    }
});
