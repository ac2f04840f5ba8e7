//! The claims policy of one issuer, prepared when the layer is built: dates, lifetime, age,
//! `iss`, `aud`, required claims and the tenant.
//!
//! A claim that is present with the wrong type is a rejection, never "absent".

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::reject::Reason;

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub(crate) const MAX_DATE: f64 = 253_402_300_799.0;

/// A dotted path into the claim set, split once when the layer is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimPath(pub(crate) Vec<String>);

impl ClaimPath {
    pub(crate) fn parse(path: &str) -> Option<Self> {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return None;
        }
        Some(Self(parts))
    }

    pub(crate) fn lookup<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for part in rest {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    pub(crate) fn is(&self, name: &str) -> bool {
        matches!(self.0.as_slice(), [only] if only == name)
    }
}

/// The dates of a verified token: kept by the verified-token cache to re-check on every hit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Dates {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
}

/// The prepared policy.
#[derive(Clone, Debug)]
pub(crate) struct ClaimsPolicy {
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) required: Vec<ClaimPath>,
    pub(crate) leeway: f64,
    pub(crate) max_lifetime: Option<f64>,
    pub(crate) max_age: Option<f64>,
    pub(crate) tenant: Option<TenantPolicy>,
}

#[derive(Clone, Debug)]
pub(crate) struct TenantPolicy {
    pub(crate) path: ClaimPath,
    /// `None`: any well-formed tenant.
    pub(crate) allow: Option<HashSet<String>>,
}

/// What the policy extracted from an accepted claim set.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Accepted {
    pub(crate) dates: Dates,
    pub(crate) tenant: Option<String>,
}

impl ClaimsPolicy {
    /// Checks everything but the tenant allowlist's verdict, which [`Self::check_tenant`]
    /// gives separately so that a cached token re-runs it.
    pub(crate) fn check(&self, claims: &Map<String, Value>, now: f64) -> Result<Accepted, Reason> {
        let dates = Dates {
            exp: date(claims, "exp")?,
            nbf: date(claims, "nbf")?,
            iat: date(claims, "iat")?,
        };
        self.check_dates(dates, now)?;

        match (claims.get("iss"), &self.issuer) {
            (Some(Value::String(iss)), Some(want)) if iss == want => {}
            (Some(Value::String(_)), None) | (None, None) => {}
            _ => return Err(Reason::BadIssuer),
        }

        match claims.get("aud") {
            None if self.audiences.is_empty() => {}
            None => return Err(Reason::BadAudience),
            Some(Value::String(aud)) => {
                if !self.audiences.is_empty() && !self.audiences.contains(aud) {
                    return Err(Reason::BadAudience);
                }
            }
            Some(Value::Array(auds)) => {
                let mut found = self.audiences.is_empty();
                for aud in auds {
                    let aud = aud.as_str().ok_or(Reason::BadAudience)?;
                    found |= self.audiences.iter().any(|want| want == aud);
                }
                if !found {
                    return Err(Reason::BadAudience);
                }
            }
            Some(_) => return Err(Reason::BadAudience),
        }

        for name in ["sub", "jti"] {
            if claims.get(name).is_some_and(|v| !v.is_string()) {
                return Err(Reason::BadPayload);
            }
        }

        for path in &self.required {
            match path.lookup(claims) {
                None | Some(Value::Null) => return Err(Reason::MissingClaim),
                Some(_) => {}
            }
        }

        let tenant = match &self.tenant {
            None => None,
            Some(policy) => Some(tenant_value(policy.path.lookup(claims))?),
        };
        Ok(Accepted { dates, tenant })
    }

    /// The time checks, run on every request, cached or not.
    pub(crate) fn check_dates(&self, dates: Dates, now: f64) -> Result<(), Reason> {
        let leeway = self.leeway;
        if let Some(exp) = dates.exp
            && now >= exp + leeway
        {
            return Err(Reason::Expired);
        }
        if let Some(nbf) = dates.nbf
            && now + leeway < nbf
        {
            return Err(Reason::NotYetValid);
        }
        if let Some(iat) = dates.iat
            && iat > now + leeway
        {
            return Err(Reason::IssuedInFuture);
        }
        if let Some(max) = self.max_lifetime {
            let lifetime = match (dates.exp, dates.iat) {
                (Some(exp), Some(iat)) => exp - iat,
                (Some(exp), None) => exp - now,
                // No `exp`: the lifetime is unbounded.
                (None, _) => f64::INFINITY,
            };
            if lifetime > max {
                return Err(Reason::LifetimeTooLong);
            }
        }
        if let Some(max) = self.max_age {
            let iat = dates.iat.ok_or(Reason::MissingClaim)?;
            if now - iat > max + leeway {
                return Err(Reason::TooOld);
            }
        }
        Ok(())
    }

    /// Whether the tenant is on the allowlist (403 otherwise).
    pub(crate) fn check_tenant(&self, tenant: Option<&str>) -> Result<(), Reason> {
        match (&self.tenant, tenant) {
            (
                Some(TenantPolicy {
                    allow: Some(allow), ..
                }),
                Some(tenant),
            ) => {
                if allow.contains(tenant) {
                    Ok(())
                } else {
                    Err(Reason::TenantNotAllowed)
                }
            }
            (Some(TenantPolicy { allow: Some(_), .. }), None) => Err(Reason::BadTenant),
            _ => Ok(()),
        }
    }

    /// When a token with these dates stops being acceptable, in Unix seconds: `exp` (plus
    /// leeway) or `iat + max_age` (plus leeway), whichever comes first.
    pub(crate) fn valid_until(&self, dates: Dates) -> Option<f64> {
        let by_exp = dates.exp.map(|exp| exp + self.leeway);
        let by_age = match (self.max_age, dates.iat) {
            (Some(max), Some(iat)) => Some(iat + max + self.leeway),
            _ => None,
        };
        match (by_exp, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A NumericDate: a JSON number in `[0, MAX_DATE]`, fractional allowed. Present with any
/// other type (null included): a rejection.
fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().ok_or(Reason::BadDate)?;
            if v.is_finite() && (0.0..=MAX_DATE).contains(&v) {
                Ok(Some(v))
            } else {
                Err(Reason::BadDate)
            }
        }
        Some(_) => Err(Reason::BadDate),
    }
}

/// The tenant as a string: a non-empty string, or an integer rendered in decimal.
fn tenant_value(value: Option<&Value>) -> Result<String, Reason> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(Reason::BadTenant),
    }
}

#[cfg(test)]
mod tests {
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
        p.check(claims.as_object().unwrap(), NOW)
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
}
