//! The JWKS document parser: per-key skip rules, deduplication, the key-count cap and lookups.
#![no_main]

use jwt_guard::__fuzz::parse_jwks;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const PROBES: [(Option<&str>, &str); 6] = [
    (None, "RS256"),
    (None, "ES256"),
    (None, "EdDSA"),
    (Some("k1"), "RS256"),
    (Some("k1"), "ES384"),
    (Some("k1"), "HS256"),
];

fuzz_target!(|data: &[u8]| {
    let Ok((count, found)) = parse_jwks(data, &PROBES) else {
        return;
    };
    let doc: Value = serde_json::from_slice(data).expect("an accepted set is JSON");
    let keys = doc["keys"]
        .as_array()
        .expect("an accepted set has a keys array");
    assert!(count >= 1 && count <= keys.len() && keys.len() <= 100);
    // A secret never comes from a key set, whatever the document says.
    assert!(!found[5], "an HMAC key was taken from a JWKS");
    // No key carrying private material is ever usable.
    for key in keys {
        if let Some(obj) = key.as_object() {
            if obj.get("kid").and_then(Value::as_str) == Some("k1")
                && ["d", "p", "q", "dp", "dq", "qi", "oth"]
                    .iter()
                    .any(|m| obj.contains_key(*m))
                && keys.iter().filter(|k| k["kid"] == "k1").count() == 1
            {
                assert!(
                    !found[3] && !found[4],
                    "a key with private material was used"
                );
            }
        }
    }
});
