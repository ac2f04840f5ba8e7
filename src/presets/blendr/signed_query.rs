//! Blendr.io's signed SSO query string: `?accountid=123&userid=456&timestamp=...&hash=...`.
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

        // ④ Once only, until it would be too old anyway.
        let until = timestamp + self.max_age + self.leeway;
        let id = hash.to_ascii_lowercase();
        match self
            .replay
            .check_and_record(REPLAY_NAMESPACE, &id, until, now)
            .await
        {
            ReplayVerdict::Fresh => Ok(identity),
            ReplayVerdict::Replayed => Err(Reason::Replayed.into()),
            ReplayVerdict::Full => Err(Rejection::unavailable(Reason::ReplayStoreFull, 1)),
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
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::clock::ManualClock;

    const KEY: &str = "blendr-partner-api-key-0123456789abcdef";
    const TS: u64 = 1_700_000_000;

    // Computed independently with Python 3.11 (urllib.parse, hmac, hashlib), as Blendr's
    // document shows:
    //   key = "blendr-partner-api-key-0123456789abcdef"
    //   q = urllib.parse.urlencode({'accountid': 123, 'accountname': 'John', 'userid': 456,
    //                               'timestamp': 1700000000})
    //   hmac.new(key.encode(), q.encode(), hashlib.sha256).hexdigest()
    const VECTOR_1: &str = "accountid=123&accountname=John&userid=456&timestamp=1700000000";
    const HASH_1: &str = "627106cd7a0eb96dc4cb11f18bbf8e1d99442c7fcd032bda9e0e3d623eb6eb21";
    //   q = urllib.parse.urlencode({'accountid': 'acme-42', 'accountname': 'ACME & Co',
    //       'userid': 456, 'username': 'Jane Doe', 'useremail': 'jane.doe+sso@example.com',
    //       'timestamp': 1700000000, 'apikey': 'k3y/with=chars'})
    const VECTOR_2: &str = "accountid=acme-42&accountname=ACME+%26+Co&userid=456&username=Jane+Doe&useremail=jane.doe%2Bsso%40example.com&timestamp=1700000000&apikey=k3y%2Fwith%3Dchars";
    const HASH_2: &str = "5990556f25f6402920f7656b7b30760ae98ec85b75d4af3c28e54f8bb82ccee3";

    fn verifier(clock: &ManualClock) -> BlendrSignedQuery {
        BlendrSignedQuery::builder(KEY)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    fn sign(query: &str) -> String {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, KEY.as_bytes()),
            query.as_bytes(),
        );
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn reason(v: &BlendrSignedQuery, query: &str) -> Reason {
        v.verify(query).await.unwrap_err().reason()
    }

    #[test]
    fn the_signing_here_matches_the_python_vectors() {
        assert_eq!(sign(VECTOR_1), HASH_1);
        assert_eq!(sign(VECTOR_2), HASH_2);
    }

    #[tokio::test]
    async fn python_vectors_verify_and_decode() {
        let clock = ManualClock::at(TS + 10);
        let v = verifier(&clock);
        let who = v
            .verify(&format!("?{VECTOR_1}&hash={HASH_1}"))
            .await
            .unwrap();
        assert_eq!(who.accountid(), "123");
        assert_eq!(who.accountname(), Some("John"));
        assert_eq!(who.userid(), Some("456"));
        assert_eq!(who.username(), None);
        assert_eq!(who.timestamp(), TS);

        let who = v
            .verify(&format!("{VECTOR_2}&hash={HASH_2}"))
            .await
            .unwrap();
        assert_eq!(who.accountid(), "acme-42");
        assert_eq!(who.accountname(), Some("ACME & Co"));
        assert_eq!(who.username(), Some("Jane Doe"));
        assert_eq!(who.useremail(), Some("jane.doe+sso@example.com"));
        assert_eq!(who.param("apikey"), Some("k3y/with=chars"));
        assert_eq!(who.params().count(), 7);
        let text = format!("{who:?}");
        assert!(!text.contains("k3y"), "{text}");
        assert!(text.contains("acme-42"), "{text}");
    }

    #[tokio::test]
    async fn the_hash_may_stand_anywhere_and_in_either_case() {
        let clock = ManualClock::at(TS);
        let v = verifier(&clock);
        let upper = HASH_1.to_ascii_uppercase();
        assert!(v.verify(&format!("hash={upper}&{VECTOR_1}")).await.is_ok());
        // The same signature in another case is the same query: a replay.
        assert_eq!(
            reason(&v, &format!("{VECTOR_1}&hash={HASH_1}")).await,
            Reason::Replayed
        );
    }

    #[tokio::test]
    async fn a_query_is_accepted_once() {
        let clock = ManualClock::at(TS + 1);
        let v = verifier(&clock);
        let q = format!("{VECTOR_1}&hash={HASH_1}");
        assert!(v.verify(&q).await.is_ok());
        let err = v.verify(&q).await.unwrap_err();
        assert_eq!(err.reason(), Reason::Replayed);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        // Once past its age it is refused as too old, never accepted again.
        clock.advance(Duration::from_secs(331));
        assert_eq!(reason(&v, &q).await, Reason::TooOld);
    }

    #[tokio::test]
    async fn tampering_and_wrong_keys_fail_the_signature() {
        let clock = ManualClock::at(TS);
        let v = verifier(&clock);
        let tampered = VECTOR_1.replace("accountid=123", "accountid=124");
        assert_eq!(
            reason(&v, &format!("{tampered}&hash={HASH_1}")).await,
            Reason::BadSignature
        );
        // Re-encoding the received query changes the signed text.
        let reencoded = VECTOR_2.replace("ACME+%26+Co", "ACME%20%26%20Co");
        assert_eq!(
            reason(&v, &format!("{reencoded}&hash={HASH_2}")).await,
            Reason::BadSignature
        );
        // An added parameter is signed text too.
        assert_eq!(
            reason(&v, &format!("{VECTOR_1}&admin=1&hash={HASH_1}")).await,
            Reason::BadSignature
        );
        let other = BlendrSignedQuery::builder("another-partner-api-key-0123456789abcdef")
            .clock(clock.clone())
            .build()
            .unwrap();
        assert_eq!(
            reason(&other, &format!("{VECTOR_1}&hash={HASH_1}")).await,
            Reason::BadSignature
        );
        for bad in ["", "zz", &HASH_1[..62], &format!("{HASH_1}00")] {
            assert_eq!(
                reason(&v, &format!("{VECTOR_1}&hash={bad}")).await,
                Reason::BadSignature,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_queries() {
        let clock = ManualClock::at(TS);
        let v = verifier(&clock);
        let err = v.verify(VECTOR_1).await.unwrap_err();
        assert_eq!(err.reason(), Reason::MissingToken);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        let err = v
            .verify(&format!("{VECTOR_1}&hash={HASH_1}&hash={HASH_1}"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            reason(&v, &"a".repeat(MAX_QUERY_LEN + 1)).await,
            Reason::TokenTooLarge
        );

        // Correctly signed, but without what Blendr requires.
        for (query, want) in [
            (
                "accountname=John&timestamp=1700000000",
                Reason::MissingClaim,
            ),
            ("accountid=&timestamp=1700000000", Reason::MissingClaim),
            ("accountid=1", Reason::MissingClaim),
            ("accountid=1&timestamp=17e8", Reason::BadDate),
            ("accountid=1&timestamp=-1", Reason::BadDate),
            (
                "accountid=1&accountid=2&timestamp=1700000000",
                Reason::BadPayload,
            ),
            ("accountid=%FF&timestamp=1700000000", Reason::BadPayload),
        ] {
            assert_eq!(
                reason(&v, &format!("{query}&hash={}", sign(query))).await,
                want,
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn timestamps_must_be_fresh() {
        let q = format!("{VECTOR_1}&hash={HASH_1}");
        // Within max_age + leeway: fine; one second past: too old.
        let v = verifier(&ManualClock::at(TS + 330));
        assert!(v.verify(&q).await.is_ok());
        let v = verifier(&ManualClock::at(TS + 331));
        assert_eq!(reason(&v, &q).await, Reason::TooOld);
        // From the future beyond the leeway.
        let v = verifier(&ManualClock::at(TS - 31));
        assert_eq!(reason(&v, &q).await, Reason::IssuedInFuture);
        // A shorter max_age.
        let v = BlendrSignedQuery::builder(KEY)
            .max_age(Duration::from_secs(60))
            .leeway(Duration::ZERO)
            .clock(ManualClock::at(TS + 61))
            .build()
            .unwrap();
        assert_eq!(reason(&v, &q).await, Reason::TooOld);
    }

    #[tokio::test]
    async fn a_full_replay_store_fails_closed() {
        let clock = ManualClock::at(TS);
        let v = BlendrSignedQuery::builder(KEY)
            .clock(clock.clone())
            .replay_store(MemoryReplayStore::new(1)) // 16 shards of one entry
            .build()
            .unwrap();
        let mut accepted = 0;
        let mut full = 0;
        for i in 0..200 {
            let query = format!("accountid={i}&timestamp={TS}");
            match v.verify(&format!("{query}&hash={}", sign(&query))).await {
                Ok(_) => accepted += 1,
                Err(e) => {
                    assert_eq!(e.reason(), Reason::ReplayStoreFull);
                    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
                    assert_eq!(e.retry_after(), Some(1));
                    full += 1;
                }
            }
        }
        assert_eq!((accepted, full), (16, 184));
        // Once the recorded queries are too old to pass, their room is reused.
        clock.advance(Duration::from_secs(331));
        let query = format!("accountid=late&timestamp={}", TS + 331);
        assert!(
            v.verify(&format!("{query}&hash={}", sign(&query)))
                .await
                .is_ok()
        );
    }

    #[test]
    fn settings_are_checked_and_the_key_stays_out_of_debug() {
        assert_eq!(
            BlendrSignedQuery::new("short").unwrap_err().key(),
            Some("api_key")
        );
        let err = BlendrSignedQuery::builder(KEY)
            .max_age(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.key(), Some("max_age"));
        let err = BlendrSignedQuery::builder(KEY)
            .max_age(Duration::from_secs(3601))
            .build()
            .unwrap_err();
        assert_eq!(err.key(), Some("max_age"));
        let err = BlendrSignedQuery::builder(KEY)
            .leeway(Duration::from_secs(301))
            .build()
            .unwrap_err();
        assert_eq!(err.key(), Some("leeway"));
        let v = BlendrSignedQuery::new(KEY).unwrap();
        assert!(!format!("{v:?}").contains("0123456789"));
        assert!(!format!("{:?}", BlendrSignedQuery::builder(KEY)).contains("0123456789"));
    }
}
