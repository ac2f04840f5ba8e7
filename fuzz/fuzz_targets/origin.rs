//! The origin parser and matcher: `canonical_origin` and the CORS policy's classification
//! against exact origins and subdomain patterns.
#![no_main]

use jwt_guard::__fuzz::{FUZZ_EXACT_ORIGINS, canonical_origin, origin_allowed};
use libfuzzer_sys::fuzz_target;

/// The safe shape, written independently: `https://` + one or more non-empty labels of
/// `[a-z0-9-]` + `.base` + the exact port.
fn matches_pattern(origin: &str, base: &str, port: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://") else {
        return false;
    };
    let Some(host) = rest.strip_suffix(port) else {
        return false;
    };
    let Some(labels) = host.strip_suffix(base) else {
        return false;
    };
    let Some(labels) = labels.strip_suffix('.') else {
        return false;
    };
    !labels.is_empty()
        && labels.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for allow_http in [false, true] {
            if let Ok(canonical) = canonical_origin(text, allow_http) {
                assert_eq!(canonical, text, "canonical_origin rewrote its input");
                let url = url::Url::parse(text).expect("a canonical origin parses");
                assert_eq!(url.origin().ascii_serialization(), text);
                assert!(canonical_origin(text, true).is_ok());
            }
        }
    }
    if origin_allowed(data) == Some(true) {
        let text = std::str::from_utf8(data).expect("an allowed origin is UTF-8");
        assert!(
            FUZZ_EXACT_ORIGINS.contains(&text)
                || matches_pattern(text, "marketplace.example", "")
                || matches_pattern(text, "b.example", ":8443"),
            "allowed an origin outside the policy: {text:?}"
        );
    }
});
