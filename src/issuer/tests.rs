//! `Issuer` checked at build: algorithms that fit the key source, a mistake named by its key,
//! claims that replay protection and `max_age` make required.

use std::time::Duration;

use super::*;
use crate::keys::algorithm::Algorithm;

#[test]
fn algorithms_must_fit_the_key_source() {
    let err = Issuer::secret([1u8; 32])
        .algorithms([Algorithm::RS256])
        .prepare("i".into())
        .unwrap_err();
    assert_eq!(err.key(), Some("algorithms"));
    let err = Issuer::jwks("https://a.example/j")
        .algorithms([Algorithm::HS256])
        .prepare("i".into())
        .unwrap_err();
    assert_eq!(err.key(), Some("algorithms"));
}

#[test]
fn bad_values_name_their_key() {
    let cases: Vec<(Issuer, &str)> = vec![
        (Issuer::secret([1u8; 31]), "secret"),
        (
            Issuer::secret_env("JWT_GUARD_SURELY_UNSET_VARIABLE"),
            "secret_env",
        ),
        (
            Issuer::secret([1u8; 32]).leeway(Duration::from_secs(301)),
            "leeway",
        ),
        (
            Issuer::secret([1u8; 32]).refresh_cooldown(Duration::from_secs(1)),
            "refresh_cooldown",
        ),
        (Issuer::secret([1u8; 32]).tenants(["a"]), "tenants"),
        (
            Issuer::secret([1u8; 32]).tenant_claim("a..b"),
            "tenant_claim",
        ),
        (
            Issuer::secret([1u8; 32]).required_claims(["ok", ""]),
            "required_claims[1]",
        ),
        (
            Issuer::secret([1u8; 32])
                .required_claims(Vec::<String>::new())
                .reject_replays(),
            "replay",
        ),
        (
            Issuer::secret([1u8; 32]).origins(["https://a.example/path"]),
            "origins[0]",
        ),
        (Issuer::public_key_pem("garbage"), "public_key_pem"),
        (Issuer::secret([1u8; 32]).name(" "), "name"),
    ];
    for (issuer, key) in cases {
        let err = issuer.prepare("i".into()).unwrap_err();
        assert_eq!(err.key(), Some(key), "{err}");
    }
}

#[test]
fn replay_and_max_age_add_required_claims() {
    let p = Issuer::secret([1u8; 32])
        .required_claims(Vec::<String>::new())
        .max_age(Duration::from_secs(60))
        .reject_replays()
        .prepare("i".into())
        .unwrap();
    assert!(p.policy.required.iter().any(|c| c.is("jti")));
    assert!(p.policy.required.iter().any(|c| c.is("iat")));
}
