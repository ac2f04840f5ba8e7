//! The compact JWS splitter, the JOSE header checks and the strict JSON parser.
#![no_main]

use jwt_guard::__fuzz::{parse_jws, parse_strict_json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn entries(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.len() + items.iter().map(entries).sum::<usize>(),
        Value::Object(map) => map.len() + map.values().map(entries).sum::<usize>(),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    // The strict parser against serde_json: whatever it accepts, serde_json reads the same way,
    // and it is within the limits.
    if let Ok(map) = parse_strict_json(data) {
        let value = Value::Object(map);
        let reference: Value =
            serde_json::from_slice(data).expect("serde_json refuses what the strict parser took");
        assert_eq!(value, reference);
        assert!(depth(&value) <= 16);
        assert!(entries(&value) <= 1024);
    }

    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = parse_jws(token) {
        assert_eq!(token.matches('.').count(), 2);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        );
        let second_dot = token.rfind('.').expect("two dots");
        assert_eq!(jws.signing_input_len, second_dot);
        assert!(jws.signature_len > 0);
        assert!(
            jws.kid
                .as_ref()
                .is_none_or(|k| !k.is_empty() && k.len() <= 256)
        );
        assert!(!jws.alg.is_empty() && jws.alg != "none");
        // The claims survive a round trip through serialization.
        let bytes = serde_json::to_vec(&jws.claims).expect("serialize");
        let back = parse_strict_json(&bytes).expect("re-parse the claims");
        assert_eq!(back, jws.claims);
    }
});
