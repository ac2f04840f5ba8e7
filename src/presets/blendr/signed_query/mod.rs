//! Blendr.io's signed SSO query string: `?accountid=123&userid=456&timestamp=...&hash=...`,
//! checked by a verifier of its own ([`BlendrSignedQuery`]), not by an issuer.
//!
//! Blendr's documents: "The hash is calculated by applying SHA256 on the full URL encoded
//! querystring (except the hash parameter), and using your API key as key", e.g. in Python
//!
//! ```python
//! querystring = urllib.parse.urlencode({'accountid': 123, 'accountname': 'John',
//!                                       'userid': 456, 'timestamp': timestamp})
//! hash = hmac.new("saaspartner_api_key".encode(), querystring.encode(), hashlib.sha256).hexdigest()
//! ```
//!
//! and the link is `https://...blendr.io/sso?{querystring}&hash={hash}`. The verifier therefore
//! takes the query string exactly as received, removes the `hash` parameter, and checks the
//! HMAC-SHA256 of the rest (the other parameters in their order and encoding, joined by `&`)
//! before it decodes any of them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;

use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::issuer::MAX_LEEWAY;
use crate::reject::{Reason, Rejection};
use crate::token::percent_decode;
use crate::verify::replay::{MemoryReplayStore, ReplayStore, ReplayVerdict};

/// The longest query string accepted, in bytes.
const MAX_QUERY_LEN: usize = 16 * 1024;

/// The name the replay store files signed queries under.
const REPLAY_NAMESPACE: &str = "blendr-signed-query";

/// The least API key length: that of an HS256 secret (RFC 7518 §3.2).
const MIN_KEY_LEN: usize = 32;

/// Verifies Blendr.io's HMAC-SHA256-signed SSO query strings: the signature, the freshness of
/// `timestamp`, and that each signed query is used once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), jwt_guard::ConfigError> {
/// use std::time::Duration;
/// use jwt_guard::presets::BlendrSignedQuery;
///
/// let verifier = BlendrSignedQuery::builder("a-blendr-partner-api-key-of-32-bytes")
///     .max_age(Duration::from_secs(120))
///     .build()?;
/// // In a handler: `req.uri().query().unwrap_or_default()`, or a form-encoded POST body.
/// let refused = verifier.verify("accountid=123&timestamp=1&hash=00").await.unwrap_err();
/// assert_eq!(refused.status(), 401);
/// # Ok(()) }
/// ```
///
/// Refusals are [`Rejection`]s with the statuses of the layer: 401 for a missing `hash`
/// (`missing_token`), a bad signature, a stale or future `timestamp`, a missing `accountid` or
/// a query used before (`invalid_token`); 400 for two `hash` parameters; 503 with
/// `retry_after() == Some(1)` when the replay store is full.
pub struct BlendrSignedQuery {
    key: hmac::Key,
    max_age: f64,
    leeway: f64,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ReplayStore>,
}

impl fmt::Debug for BlendrSignedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlendrSignedQuery")
            .field("key", &"[redacted]")
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

/// Configures a [`BlendrSignedQuery`]; every setting is checked by [`build`](Self::build).
#[must_use]
pub struct BlendrSignedQueryBuilder {
    api_key: Vec<u8>,
    max_age: Duration,
    leeway: Duration,
    clock: Arc<dyn Clock>,
    replay: Option<Arc<dyn ReplayStore>>,
}

impl fmt::Debug for BlendrSignedQueryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlendrSignedQueryBuilder")
            .field("api_key", &"[redacted]")
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl BlendrSignedQueryBuilder {
    /// How old `timestamp` may be (plus the leeway). Default 5 minutes, at most 1 hour.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Clock skew allowed on `timestamp`, both ways. Default 30 s, at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where used queries are remembered (default: a [`MemoryReplayStore`] of 100,000
    /// entries). A query is remembered until its `timestamp` is too old to pass anyway.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `api_key` (shorter than 32 bytes), `max_age` (zero or over
    /// 1 hour) or `leeway` (over 5 minutes).
    pub fn build(self) -> Result<BlendrSignedQuery, ConfigError> {
        if self.api_key.len() < MIN_KEY_LEN {
            return Err(ConfigError::invalid(
                "api_key",
                format!(
                    "an HMAC-SHA256 key must be at least {MIN_KEY_LEN} bytes, this one has {}",
                    self.api_key.len()
                ),
            ));
        }
        if self.max_age.is_zero() || self.max_age > Duration::from_secs(3600) {
            return Err(ConfigError::invalid("max_age", "must be between 1s and 1h"));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid("leeway", "must be at most 5m"));
        }
        Ok(BlendrSignedQuery {
            key: hmac::Key::new(hmac::HMAC_SHA256, &self.api_key),
            max_age: self.max_age.as_secs_f64(),
            leeway: self.leeway.as_secs_f64(),
            clock: self.clock,
            replay: self
                .replay
                .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
        })
    }
}

impl BlendrSignedQuery {
    /// A verifier with the defaults: `timestamp` at most 5 minutes old, 30 s leeway, the
    /// system clock and an in-memory replay store.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `api_key` when the key is shorter than 32 bytes.
    pub fn new(api_key: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::builder(api_key).build()
    }

    /// Starts a configuration with the SaaS Partner API key.
    pub fn builder(api_key: impl AsRef<[u8]>) -> BlendrSignedQueryBuilder {
        BlendrSignedQueryBuilder {
            api_key: api_key.as_ref().to_vec(),
            max_age: Duration::from_secs(300),
            leeway: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            replay: None,
        }
    }

    /// Verifies a signed query string (with or without its leading `?`), or a form-encoded
    /// POST body, exactly as received: never re-encode it first.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to answer with (see the type's documentation).
    pub async fn verify(&self, query: &str) -> Result<BlendrQueryIdentity, Rejection> {
        let now = self.clock.now();
        let query = query.strip_prefix('?').unwrap_or(query);
        if query.len() > MAX_QUERY_LEN {
            return Err(Reason::TokenTooLarge.into());
        }

        // ① Split off `hash`; everything else is the signed text, verbatim.
        let mut hash: Option<&str> = None;
        let mut signed: Vec<&str> = Vec::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(name).as_deref() == Some("hash") {
                if hash.is_some() {
                    return Err(Reason::MalformedQuery.into());
                }
                hash = Some(value);
            } else {
                signed.push(pair);
            }
        }
        let Some(hash) = hash else {
            return Err(Reason::MissingToken.into());
        };
        let tag = hex_decode(hash).ok_or(Reason::BadSignature)?;
        let message = signed.join("&");
        if hmac::verify(&self.key, message.as_bytes(), &tag).is_err() {
            return Err(Reason::BadSignature.into());
        }

        // ② Only now decode the parameters.
        let identity = BlendrQueryIdentity::parse(&signed)?;

        // ③ Freshness of `timestamp`.
        let timestamp = identity.timestamp as f64;
        if timestamp > now + self.leeway {
            return Err(Reason::IssuedInFuture.into());
        }
        if now - timestamp > self.max_age + self.leeway {
            return Err(Reason::TooOld.into());
        }

        // ④ Once only, until it would be too old anyway. The store keeps a SHA-256 of the
        // signature, never the signature itself (a shared store may be read by others).
        let until = timestamp + self.max_age + self.leeway;
        let id = replay_id(&tag);
        match self
            .replay
            .check_and_record(REPLAY_NAMESPACE, &id, until, now)
            .await
        {
            ReplayVerdict::Fresh => Ok(identity),
            ReplayVerdict::Replayed => Err(Reason::Replayed.into()),
            ReplayVerdict::Full => Err(Rejection::unavailable(Reason::ReplayStoreFull, 1)),
            ReplayVerdict::Unavailable => {
                Err(Rejection::unavailable(Reason::ReplayStoreUnavailable, 1))
            }
        }
    }
}

/// Who a verified Blendr signed query names, under Blendr's parameter names.
///
/// `Debug` shows `accountid`, `userid` and `timestamp` only: the other parameters may carry
/// credentials for your API (Blendr's "apikey").
#[derive(Clone, PartialEq, Eq)]
pub struct BlendrQueryIdentity {
    accountid: String,
    timestamp: u64,
    params: Vec<(String, String)>,
}

impl BlendrQueryIdentity {
    fn parse(signed: &[&str]) -> Result<Self, Reason> {
        let mut params: Vec<(String, String)> = Vec::with_capacity(signed.len());
        for pair in signed.iter().filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name).ok_or(Reason::BadPayload)?;
            let value = percent_decode(value).ok_or(Reason::BadPayload)?;
            if params.iter().any(|(n, _)| *n == name) {
                return Err(Reason::BadPayload);
            }
            params.push((name, value));
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let accountid = match get("accountid") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => return Err(Reason::MissingClaim),
        };
        let timestamp = match get("timestamp") {
            None | Some("") => return Err(Reason::MissingClaim),
            Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<u64>().map_err(|_| Reason::BadDate)?
            }
            Some(_) => return Err(Reason::BadDate),
        };
        Ok(Self {
            accountid,
            timestamp,
            params,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `accountid`: your unique identifier of the account (company).
    #[must_use]
    pub fn accountid(&self) -> &str {
        &self.accountid
    }

    /// `accountname`: the account's name, if sent.
    #[must_use]
    pub fn accountname(&self) -> Option<&str> {
        self.get("accountname")
    }

    /// `userid`: your unique identifier of the user within the account, if sent.
    #[must_use]
    pub fn userid(&self) -> Option<&str> {
        self.get("userid")
    }

    /// `username`: the user's name, if sent.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.get("username")
    }

    /// `useremail`: the user's email address, if sent.
    #[must_use]
    pub fn useremail(&self) -> Option<&str> {
        self.get("useremail")
    }

    /// `timestamp`: when the link was made (Unix seconds).
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Any signed parameter by name, decoded, e.g. a credential such as `apikey`.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    /// Every signed parameter, decoded, in the order received.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Debug for BlendrQueryIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlendrQueryIdentity")
            .field("accountid", &self.accountid)
            .field("userid", &self.userid())
            .field("timestamp", &self.timestamp)
            .field("params", &format_args!("[{} redacted]", self.params.len()))
            .finish()
    }
}

/// What the replay store files a signed query under: the SHA-256 of its signature, in hex.
fn replay_id(tag: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tag);
    let mut id = String::with_capacity(64);
    for byte in digest.as_ref() {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// 64 hex digits (either case) to the 32 bytes of an HMAC-SHA256 tag.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
