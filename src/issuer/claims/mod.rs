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

    /// The value at this path, if every step is an object that has the next member.
    pub(crate) fn lookup<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        walk(claims, self.0.iter().map(String::as_str))
    }

    /// The value at a dotted path given as text, split on the fly (no allocation): an empty
    /// segment looks up the empty member name. For [`Verified::claim`](crate::Verified::claim).
    pub(crate) fn lookup_dotted<'c>(
        path: &str,
        claims: &'c Map<String, Value>,
    ) -> Option<&'c Value> {
        walk(claims, path.split('.'))
    }

    pub(crate) fn is(&self, name: &str) -> bool {
        matches!(self.0.as_slice(), [only] if only == name)
    }
}

/// Follows `parts` from the claim set down through nested objects.
fn walk<'c, 'p>(
    claims: &'c Map<String, Value>,
    mut parts: impl Iterator<Item = &'p str>,
) -> Option<&'c Value> {
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
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
    ///
    /// `payload` gives the claim set as it was sent (the JSON `claims` was parsed from), only
    /// when asked: the literal of a tenant integer beyond 64 bits is read from it.
    pub(crate) fn check(
        &self,
        claims: &Map<String, Value>,
        payload: &dyn Fn() -> Option<Vec<u8>>,
        now: f64,
    ) -> Result<Accepted, Reason> {
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
            Some(policy) => Some(tenant_value(policy.path.lookup(claims), || {
                raw_member(&payload()?, &policy.path)
            })?),
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

/// The tenant as a string: a non-empty string, or an integer rendered in decimal, whatever its
/// size. serde_json keeps an integer beyond 64 bits only as an f64 (which would merge distinct
/// tenants): its literal is read from the payload (`raw`), and must be an integer (`1e3` and
/// `1.0` are not).
fn tenant_value(
    value: Option<&Value>,
    raw: impl FnOnce() -> Option<String>,
) -> Result<String, Reason> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(Value::Number(_)) => raw()
            .filter(|literal| is_integer_literal(literal))
            .ok_or(Reason::BadTenant),
        _ => Err(Reason::BadTenant),
    }
}

/// The JSON text of the member at `path` of the object `payload`, as sent. Only run for a
/// number serde_json could not hold exactly; the payload already passed the strict parse
/// (no duplicate members, bounded depth and size).
fn raw_member(payload: &[u8], path: &ClaimPath) -> Option<String> {
    let mut raw = std::str::from_utf8(payload).ok()?;
    for segment in &path.0 {
        let object: std::collections::HashMap<String, &serde_json::value::RawValue> =
            serde_json::from_str(raw).ok()?;
        let member: &serde_json::value::RawValue = object.get(segment)?;
        raw = member.get();
    }
    Some(raw.trim().to_owned())
}

/// A JSON integer: an optional `-`, then digits without a leading zero (or `0`).
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

#[cfg(test)]
mod tests;
