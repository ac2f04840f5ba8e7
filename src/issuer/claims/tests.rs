//! Unit tests of `issuer::claims`: dates, issuer, audience, required claims and tenants.

use serde_json::json;

use super::*;

const NOW: f64 = 1_700_000_000.0;

fn policy() -> ClaimsPolicy {
    ClaimsPolicy {
        issuer: None,
        audiences: Vec::new(),
        required: vec![ClaimPath::parse("exp").unwrap()],
        leeway: 30.0,
        max_lifetime: None,
        max_age: None,
        tenant: None,
    }
}

fn check(p: &ClaimsPolicy, claims: Value) -> Result<Accepted, Reason> {
    let payload = serde_json::to_vec(&claims).unwrap();
    p.check(claims.as_object().unwrap(), &|| Some(payload.clone()), NOW)
}

/// `check` of a payload given as text, as the token carried it.
fn check_text(p: &ClaimsPolicy, payload: &str) -> Result<Accepted, Reason> {
    let claims: Map<String, Value> = serde_json::from_str(payload).unwrap();
    p.check(&claims, &|| Some(payload.as_bytes().to_vec()), NOW)
}

#[test]
fn exp_with_leeway_boundaries() {
    let p = policy();
    assert!(check(&p, json!({"exp": NOW + 1.0})).is_ok());
    assert!(check(&p, json!({"exp": NOW - 29.5})).is_ok());
    assert_eq!(check(&p, json!({"exp": NOW - 30.0})), Err(Reason::Expired));
    assert_eq!(check(&p, json!({})), Err(Reason::MissingClaim));
}

#[test]
fn nbf_and_iat_in_the_future() {
    let p = policy();
    let exp = NOW + 100.0;
    assert!(check(&p, json!({"exp": exp, "nbf": NOW + 30.0})).is_ok());
    assert_eq!(
        check(&p, json!({"exp": exp, "nbf": NOW + 30.5})),
        Err(Reason::NotYetValid)
    );
    assert!(check(&p, json!({"exp": exp, "iat": NOW + 30.0})).is_ok());
    assert_eq!(
        check(&p, json!({"exp": exp, "iat": NOW + 31.0})),
        Err(Reason::IssuedInFuture)
    );
}

#[test]
fn dates_of_the_wrong_type_are_rejections_not_absences() {
    let p = ClaimsPolicy {
        required: Vec::new(),
        ..policy()
    };
    for bad in [
        json!({"exp": "1700000100"}),
        json!({"exp": null}),
        json!({"nbf": true}),
        json!({"iat": [1]}),
        json!({"exp": -1}),
        json!({"exp": 253_402_300_800u64}),
        json!({"iat": {"a": 1}}),
    ] {
        assert_eq!(check(&p, bad.clone()), Err(Reason::BadDate), "{bad}");
    }
    assert!(check(&p, json!({"exp": NOW + 0.25, "iat": NOW - 0.5})).is_ok());
    assert!(check(&p, json!({"exp": 253_402_300_799u64})).is_ok());
}

#[test]
fn lifetime_and_age() {
    let p = ClaimsPolicy {
        max_lifetime: Some(600.0),
        ..policy()
    };
    assert!(check(&p, json!({"iat": NOW, "exp": NOW + 600.0})).is_ok());
    assert_eq!(
        check(&p, json!({"iat": NOW, "exp": NOW + 600.5})),
        Err(Reason::LifetimeTooLong)
    );
    assert!(check(&p, json!({"exp": NOW + 600.0})).is_ok());
    assert_eq!(
        check(&p, json!({"exp": NOW + 601.0})),
        Err(Reason::LifetimeTooLong)
    );
    let p = ClaimsPolicy {
        max_age: Some(300.0),
        required: Vec::new(),
        ..policy()
    };
    assert!(check(&p, json!({"iat": NOW - 330.0})).is_ok());
    assert_eq!(check(&p, json!({"iat": NOW - 331.0})), Err(Reason::TooOld));
    assert_eq!(check(&p, json!({})), Err(Reason::MissingClaim));
}

#[test]
fn issuer_is_exact_and_then_required() {
    let p = ClaimsPolicy {
        issuer: Some("https://a.example".into()),
        ..policy()
    };
    let exp = NOW + 10.0;
    assert!(check(&p, json!({"exp": exp, "iss": "https://a.example"})).is_ok());
    for iss in [
        json!("https://a.example/"),
        json!(null),
        json!(["https://a.example"]),
    ] {
        assert_eq!(
            check(&p, json!({"exp": exp, "iss": iss})),
            Err(Reason::BadIssuer)
        );
    }
    assert_eq!(check(&p, json!({"exp": exp})), Err(Reason::BadIssuer));
    // Unconfigured: any string, but never another type.
    assert!(check(&policy(), json!({"exp": exp, "iss": "x"})).is_ok());
    assert_eq!(
        check(&policy(), json!({"exp": exp, "iss": 1})),
        Err(Reason::BadIssuer)
    );
}

#[test]
fn audience_forms() {
    let p = ClaimsPolicy {
        audiences: vec!["api".into(), "other".into()],
        ..policy()
    };
    let exp = NOW + 10.0;
    assert!(check(&p, json!({"exp": exp, "aud": "api"})).is_ok());
    assert!(check(&p, json!({"exp": exp, "aud": ["x", "other"]})).is_ok());
    assert_eq!(
        check(&p, json!({"exp": exp, "aud": "x"})),
        Err(Reason::BadAudience)
    );
    assert_eq!(
        check(&p, json!({"exp": exp, "aud": []})),
        Err(Reason::BadAudience)
    );
    assert_eq!(check(&p, json!({"exp": exp})), Err(Reason::BadAudience));
    assert_eq!(
        check(&p, json!({"exp": exp, "aud": ["api", 1]})),
        Err(Reason::BadAudience)
    );
    // Unconfigured audiences: still a string or an array of strings.
    assert!(check(&policy(), json!({"exp": exp, "aud": ["x"]})).is_ok());
    assert_eq!(
        check(&policy(), json!({"exp": exp, "aud": {"a": 1}})),
        Err(Reason::BadAudience)
    );
}

#[test]
fn required_claims_at_dotted_paths_and_null_is_missing() {
    let p = ClaimsPolicy {
        required: vec![
            ClaimPath::parse("exp").unwrap(),
            ClaimPath::parse("ti.aid").unwrap(),
        ],
        ..policy()
    };
    let exp = NOW + 10.0;
    assert!(check(&p, json!({"exp": exp, "ti": {"aid": 0}})).is_ok());
    assert_eq!(
        check(&p, json!({"exp": exp, "ti": {"aid": null}})),
        Err(Reason::MissingClaim)
    );
    assert_eq!(
        check(&p, json!({"exp": exp, "ti": "aid"})),
        Err(Reason::MissingClaim)
    );
    assert!(ClaimPath::parse("a..b").is_none());
    assert!(ClaimPath::parse("").is_none());
}

#[test]
fn tenant_forms_and_allowlist() {
    let p = ClaimsPolicy {
        tenant: Some(TenantPolicy {
            path: ClaimPath::parse("ti.aid").unwrap(),
            allow: Some(["42".to_owned(), "acme".to_owned()].into()),
        }),
        ..policy()
    };
    let exp = NOW + 10.0;
    let ok = check(&p, json!({"exp": exp, "ti": {"aid": 42}})).unwrap();
    assert_eq!(ok.tenant.as_deref(), Some("42"));
    assert!(p.check_tenant(ok.tenant.as_deref()).is_ok());
    let other = check(&p, json!({"exp": exp, "ti": {"aid": "evil"}})).unwrap();
    assert_eq!(
        p.check_tenant(other.tenant.as_deref()),
        Err(Reason::TenantNotAllowed)
    );
    for bad in [
        json!(""),
        json!(4.5),
        json!(null),
        json!(true),
        json!(["42"]),
    ] {
        assert_eq!(
            check(&p, json!({"exp": exp, "ti": {"aid": bad}})),
            Err(Reason::BadTenant),
            "{bad}"
        );
    }
    assert_eq!(check(&p, json!({"exp": exp})), Err(Reason::BadTenant));
}

#[test]
fn tenant_integers_beyond_64_bits_are_well_formed_and_exact() {
    let p = ClaimsPolicy {
        tenant: Some(TenantPolicy {
            path: ClaimPath::parse("ti.aid").unwrap(),
            allow: Some(["18446744073709551616".to_owned()].into()),
        }),
        ..policy()
    };
    let exp = NOW + 10.0;
    let tenant = |literal: &str| {
        check_text(
            &p,
            &format!(r#"{{"exp":{exp},"ti":{{ "x": [1, {{"aid": 2}}], "aid" : {literal} }}}}"#),
        )
        .map(|a| a.tenant.unwrap())
    };
    for literal in [
        "18446744073709551616",
        "18446744073709551617",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "9223372036854775807",
        "18446744073709551615",
        "-9223372036854775808",
    ] {
        assert_eq!(tenant(literal).as_deref(), Ok(literal), "{literal}");
    }
    // Exactly as listed, digit for digit: the neighbour of a listed tenant is another one.
    assert!(p.check_tenant(Some("18446744073709551616")).is_ok());
    assert_eq!(
        p.check_tenant(tenant("18446744073709551617").ok().as_deref()),
        Err(Reason::TenantNotAllowed)
    );
    // Not integers: exponents and fractions, however large.
    for literal in ["1e3", "1E20", "1.0", "18446744073709551616.0", "-1.5e19"] {
        assert_eq!(tenant(literal), Err(Reason::BadTenant), "{literal}");
    }
}

#[test]
fn integer_literals() {
    for yes in ["0", "-0", "7", "-12", "18446744073709551616"] {
        assert!(is_integer_literal(yes), "{yes}");
    }
    for no in ["", "-", "01", "-01", "1e3", "1.0", "+1", " 1", "0x10"] {
        assert!(!is_integer_literal(no), "{no}");
    }
}

#[test]
fn valid_until_takes_the_earlier_bound() {
    let p = ClaimsPolicy {
        max_age: Some(300.0),
        leeway: 0.0,
        ..policy()
    };
    let dates = Dates {
        exp: Some(NOW + 1000.0),
        nbf: None,
        iat: Some(NOW),
    };
    assert_eq!(p.valid_until(dates), Some(NOW + 300.0));
    assert_eq!(policy().valid_until(Dates::default()), None);
}
