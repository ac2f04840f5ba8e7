//! From a token string to a [`Verified`] identity, or the [`Reason`] it was refused.
//!
//! 1. parse the compact JWS and check its header ([`crate::verify::jws`]);
//! 2. pick the issuers: the one whose `issuer` equals the token's `iss`, else those without one;
//! 3. pick the key: shared secrets are tried in turn (an HMAC costs well under a microsecond);
//!    for public keys exactly one key of one issuer must fit, so a request never costs more
//!    than one asymmetric signature check;
//! 4. verify the signature, then the claims, the tenant, the origin bindings and replays.

pub(crate) mod cache;
pub(crate) mod jws;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod replay;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::clock::Clock;
use crate::identity::Verified;
use crate::issuer::prepare::{PreparedIssuer, PreparedKeys};
use crate::keys::algorithm::Algorithm;
use crate::keys::jwks::remote::RemoteJwks;
use crate::keys::key::VerifyingKey;
use crate::reject::{Reason, Rejection};
use crate::strict_json::JsonLimits;
use crate::verify::cache::{CachedToken, TokenCache};
use crate::verify::jws::Jws;
use crate::verify::replay::{ReplayStore, ReplayVerdict};

/// An issuer with its live key source.
#[derive(Debug)]
pub(crate) struct Authority {
    pub(crate) issuer: PreparedIssuer,
    pub(crate) remote: Option<Arc<RemoteJwks>>,
    /// The issuer's metric keys, prepared at build.
    pub(crate) metrics: crate::metrics::IssuerMetrics,
}

/// Everything needed to verify a token, shared by every clone of the layer.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) authorities: Vec<Authority>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) json_limits: JsonLimits,
    pub(crate) replay: Arc<dyn ReplayStore>,
    pub(crate) cache: Option<TokenCache>,
}

impl Engine {
    /// Settles `token` from the verified-token cache when it can: `None` on a miss.
    pub(crate) fn verify_cached(
        &self,
        token: &[u8],
        origin: Option<&str>,
    ) -> Option<Result<Verified, Rejection>> {
        let cache = self.cache.as_ref()?;
        let now = self.clock.now();
        let mut found = false;
        let outcome = cache.settle(token, now, |hit| {
            found = true;
            // `Ok(None)`: the entry is no longer good (its key left the set), a miss.
            let checked = self.check_cached(hit, now, origin).transpose();
            if let (Some(Ok(_)), Some(authority)) = (&checked, self.authorities.get(hit.authority))
            {
                crate::metrics::allowed(&authority.metrics);
            }
            checked
        });
        crate::metrics::token_cache(found);
        outcome
    }

    /// Verifies `token` in full (the caller has tried the cache); `origin` is the request's
    /// `Origin`, for the issuer and tenant bindings.
    pub(crate) async fn verify(
        &self,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Verified, Rejection> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let outcome = self.verify_uncached(token, origin).await;
        #[cfg(feature = "metrics")]
        crate::metrics::verify_time(started.elapsed());
        outcome
    }

    /// [`verify`](Self::verify) without the timing: the token's `kid`, and the issuer once it
    /// is known, are attached to a rejection for its log line.
    async fn verify_uncached(
        &self,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Verified, Rejection> {
        let jws = Jws::parse(token, self.json_limits)?;
        let kid = jws.kid.clone();
        let mut issuer = None;
        let outcome = self.verify_jws(token, jws, origin, &mut issuer).await;
        outcome.map_err(|rejection| {
            let name = issuer
                .and_then(|i| self.authorities.get(i))
                .map(|a| Arc::clone(&a.issuer.name));
            rejection.with_context(name, kid)
        })
    }

    /// Verifies a parsed token; `issuer` is set to the issuer's index as soon as it is known.
    async fn verify_jws(
        &self,
        token: &str,
        jws: Jws<'_>,
        origin: Option<&str>,
        issuer_index: &mut Option<usize>,
    ) -> Result<Verified, Rejection> {
        let now = self.clock.now();
        let routed_iss = match jws.claims.get("iss") {
            Some(Value::String(iss)) => Some(iss.as_str()),
            _ => None,
        };
        let candidates = self.candidates(routed_iss, jws.alg)?;
        if let [only] = candidates.as_slice() {
            *issuer_index = Some(*only);
        }
        let (index, key) = self.select_and_verify(&jws, candidates.as_slice()).await?;
        *issuer_index = Some(index);
        let Some(authority) = self.authorities.get(index) else {
            return Err(Reason::UnknownIssuer.into());
        };
        let issuer = &authority.issuer;

        let payload_b64 = jws.payload_b64;
        let payload = move || {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload_b64)
                .ok()
        };
        let accepted = issuer.policy.check(&jws.claims, &payload, now)?;
        issuer.policy.check_tenant(accepted.tenant.as_deref())?;
        check_origin(issuer, accepted.tenant.as_deref(), origin)?;

        let verified = Verified::new(
            Arc::clone(&issuer.name),
            jws.kid,
            jws.alg,
            accepted.tenant,
            jws.claims,
        );
        // The caller's checks come last, before a `jti` is spent on a token they refuse.
        if !crate::check::all_allow(&issuer.checks, &verified) {
            return Err(Reason::ClaimCheckFailed.into());
        }

        if issuer.replay {
            let jti = verified
                .claims()
                .get("jti")
                .and_then(Value::as_str)
                .ok_or(Reason::MissingClaim)?;
            let until = issuer
                .policy
                .valid_until(accepted.dates)
                .ok_or(Reason::MissingClaim)?;
            match self
                .replay
                .check_and_record(&issuer.name, jti, until, now)
                .await
            {
                ReplayVerdict::Fresh => {}
                ReplayVerdict::Replayed => return Err(Reason::Replayed.into()),
                ReplayVerdict::Full => {
                    return Err(Rejection::unavailable(Reason::ReplayStoreFull, 1));
                }
                ReplayVerdict::Unavailable => {
                    return Err(Rejection::unavailable(Reason::ReplayStoreUnavailable, 1));
                }
            }
        }

        // A replay-protected token is never cached: a second use must reach the replay store.
        // Any other enters the cache on its second sighting (the doorkeeper).
        if let Some(cache) = &self.cache
            && !issuer.replay
            && cache.admits(token)
        {
            cache.insert(
                token,
                CachedToken {
                    authority: index,
                    key_id: key.id(),
                    key_confirmed: std::sync::atomic::AtomicU64::new(0),
                    dates: accepted.dates,
                    valid_until: issuer.policy.valid_until(accepted.dates),
                    verified: verified.clone(),
                },
                now,
            );
        }
        crate::metrics::allowed(&authority.metrics);
        Ok(verified)
    }

    /// A cache hit is re-checked: the key must still be in its set, the dates still good, the
    /// tenant and the origin still allowed. `Ok(None)`: treat as a miss.
    fn check_cached(
        &self,
        hit: &CachedToken,
        now: f64,
        origin: Option<&str>,
    ) -> Result<Option<Verified>, Rejection> {
        let Some(authority) = self.authorities.get(hit.authority) else {
            return Ok(None);
        };
        if let Some(remote) = &authority.remote
            && !remote.still_has(hit.key_id, &hit.key_confirmed)
        {
            return Ok(None);
        }
        let issuer = &authority.issuer;
        let checked = issuer
            .policy
            .check_dates(hit.dates, now)
            .and_then(|()| issuer.policy.check_tenant(hit.verified.tenant()))
            .and_then(|()| check_origin(issuer, hit.verified.tenant(), origin));
        match checked {
            Ok(()) => Ok(Some(hit.verified.clone())),
            Err(reason) => Err(Rejection::from(reason).with_context(
                Some(Arc::clone(&issuer.name)),
                hit.verified.kid().map(Arc::from),
            )),
        }
    }

    /// The issuers that may verify a token with this `iss` and `alg`, by index. The usual case,
    /// one issuer of that `iss`, allocates nothing.
    fn candidates(&self, iss: Option<&str>, alg: Algorithm) -> Result<Candidates, Reason> {
        let fits = |i: &usize| {
            self.authorities
                .get(*i)
                .is_some_and(|a| a.issuer.algorithms.contains(&alg))
        };
        let by_iss = iss.and_then(|iss| {
            self.authorities
                .iter()
                .position(|a| a.issuer.iss.as_deref() == Some(iss))
        });
        if let Some(index) = by_iss {
            return if fits(&index) {
                Ok(Candidates::One([index]))
            } else {
                Err(Reason::AlgorithmNotAllowed)
            };
        }
        let routed = || {
            self.authorities
                .iter()
                .enumerate()
                .filter(|(_, a)| a.issuer.iss.is_none())
                .map(|(i, _)| i)
        };
        if routed().next().is_none() {
            return Err(Reason::UnknownIssuer);
        }
        let fitting: Vec<usize> = routed().filter(fits).collect();
        if fitting.is_empty() {
            return Err(Reason::AlgorithmNotAllowed);
        }
        Ok(Candidates::Many(fitting))
    }

    /// Finds the key and checks the signature: at most one asymmetric check per token.
    async fn select_and_verify(
        &self,
        jws: &Jws<'_>,
        candidates: &[usize],
    ) -> Result<(usize, Arc<VerifyingKey>), Rejection> {
        if jws.alg.is_symmetric() {
            for &index in candidates {
                if let Some(PreparedKeys::Fixed(key)) =
                    self.authorities.get(index).map(|a| &a.issuer.keys)
                    && key.verify(jws.alg, jws.signing_input, &jws.signature)
                {
                    return Ok((index, Arc::clone(key)));
                }
            }
            return Err(Reason::BadSignature.into());
        }

        let mut chosen: Option<(usize, Arc<VerifyingKey>)> = None;
        let mut failure: Option<Rejection> = None;
        for &index in candidates {
            let Some(authority) = self.authorities.get(index) else {
                continue;
            };
            let found = match (&authority.issuer.keys, &authority.remote) {
                (PreparedKeys::Fixed(key), _) if key.fits(jws.alg) => Ok(Arc::clone(key)),
                (PreparedKeys::Fixed(_), _) => Err(Reason::NoMatchingKey.into()),
                (PreparedKeys::Remote(_), Some(remote)) => {
                    remote.key_for(jws.kid.as_deref(), jws.alg).await
                }
                (PreparedKeys::Remote(_), None) => Err(Reason::KeysUnavailable.into()),
            };
            match found {
                Ok(key) => {
                    if chosen.is_some() {
                        return Err(Reason::AmbiguousKey.into());
                    }
                    chosen = Some((index, key));
                }
                Err(rejection) => {
                    if failure.as_ref().is_none_or(|f| rank(&rejection) > rank(f)) {
                        failure = Some(rejection);
                    }
                }
            }
        }
        let Some((index, key)) = chosen else {
            return Err(failure.unwrap_or_else(|| Reason::NoMatchingKey.into()));
        };
        if key.verify(jws.alg, jws.signing_input, &jws.signature) {
            Ok((index, key))
        } else {
            Err(Reason::BadSignature.into())
        }
    }
}

/// The issuers a token may be verified by (indexes into [`Engine::authorities`]).
enum Candidates {
    /// The issuer of the token's `iss`: no allocation.
    One([usize; 1]),
    /// The issuers without an `iss` of their own.
    Many(Vec<usize>),
}

impl Candidates {
    fn as_slice(&self) -> &[usize] {
        match self {
            Self::One(one) => one,
            Self::Many(many) => many,
        }
    }
}

/// Which failure to report when no issuer had a key: the most specific one.
fn rank(rejection: &Rejection) -> u8 {
    match rejection.reason() {
        Reason::KeysUnavailable => 4,
        Reason::AmbiguousKey => 3,
        Reason::NoMatchingKey => 2,
        Reason::UnknownKid => 1,
        _ => 0,
    }
}

/// The issuer's `origins` and the tenant's `tenant_origins` apply whenever the request has an
/// `Origin`.
fn check_origin(
    issuer: &PreparedIssuer,
    tenant: Option<&str>,
    origin: Option<&str>,
) -> Result<(), Reason> {
    let Some(origin) = origin else {
        return Ok(());
    };
    if !issuer.origins.is_empty() && !issuer.origins.iter().any(|o| o == origin) {
        return Err(Reason::OriginNotBound);
    }
    if let Some(bound) = tenant.and_then(|t| issuer.tenant_origins.get(t))
        && !bound.iter().any(|o| o == origin)
    {
        return Err(Reason::OriginNotBound);
    }
    Ok(())
}
