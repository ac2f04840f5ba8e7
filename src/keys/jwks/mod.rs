//! Key sets: parsing a JWKS document, fetching it, and keeping it fresh.
//!
//! - [`parse`]: the document, key by key, under a strict policy;
//! - [`fetch`]: one bounded HTTP GET (timeouts, size cap, no redirects, `ETag`);
//! - [`remote`]: the cache of one JWKS URL (single-flight, TTL, cooldown, stale-if-error).

pub(crate) mod discovery;
pub(crate) mod fetch;
pub(crate) mod parse;
pub(crate) mod remote;

use std::sync::Arc;

use crate::keys::algorithm::Algorithm;
use crate::keys::key::VerifyingKey;

/// The usable keys of one set, deduplicated.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

/// The outcome of looking a key up for a token.
#[derive(Debug)]
pub(crate) enum Lookup<'s> {
    Found(&'s Arc<VerifyingKey>),
    /// The token names a `kid` the set does not have.
    UnknownKid,
    /// Two different keys share the token's `kid`, or (no `kid`) several keys fit.
    Ambiguous,
    /// The key the token names does not take its algorithm, or (no `kid`) no key does.
    NoMatch,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<Arc<VerifyingKey>>) -> Self {
        Self { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The `kid`s of the set, sorted and without repeats (keys without one are left out).
    pub(crate) fn kids(&self) -> std::collections::BTreeSet<&str> {
        self.keys
            .iter()
            .filter_map(|k| k.kid().map(|k| &**k))
            .collect()
    }

    /// The `kid`s this set has that `old` had not (`added`), and those it no longer has
    /// (`removed`), each joined with `,` for a log line.
    pub(crate) fn kid_changes(&self, old: Option<&Self>) -> (String, String) {
        let new = self.kids();
        let old = old.map(Self::kids).unwrap_or_default();
        let join = |set: Vec<&str>| set.join(",");
        (
            join(new.difference(&old).copied().collect()),
            join(old.difference(&new).copied().collect()),
        )
    }

    pub(crate) fn contains_id(&self, id: u64) -> bool {
        self.keys.iter().any(|k| k.id() == id)
    }

    /// A token with a `kid` needs exactly one key with that `kid`, and that key must take the
    /// token's algorithm. A token without `kid` is accepted only when exactly one key fits
    /// its algorithm.
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        let mut found: Option<&Arc<VerifyingKey>> = None;
        match kid {
            Some(kid) => {
                for key in self
                    .keys
                    .iter()
                    .filter(|k| k.kid().map(|k| &**k) == Some(kid))
                {
                    if found.is_some() {
                        return Lookup::Ambiguous;
                    }
                    found = Some(key);
                }
                match found {
                    None => Lookup::UnknownKid,
                    Some(key) if key.fits(alg) => Lookup::Found(key),
                    Some(_) => Lookup::NoMatch,
                }
            }
            None => {
                for key in self.keys.iter().filter(|k| k.fits(alg)) {
                    if found.is_some() {
                        return Lookup::Ambiguous;
                    }
                    found = Some(key);
                }
                found.map_or(Lookup::NoMatch, Lookup::Found)
            }
        }
    }
}

#[cfg(test)]
mod tests;
