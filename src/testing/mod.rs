//! A test issuer for your own tests (feature `testing`): it generates RSA and EC keys, serves
//! their JWKS on loopback, mints tokens with a claims builder, and can be told to fail, stall
//! or rotate, counting every fetch.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use jwt_guard::{JwtGuard, testing::TestIssuer};
//!
//! let issuer = TestIssuer::start().await;
//! let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
//! let token = issuer.token().subject("user-1").sign();
//! let who = guard.verify(&token).await.unwrap();
//! assert_eq!(who.subject(), Some("user-1"));
//! # }
//! ```
//!
//! Tokens are signed with aws-lc-rs directly, not through the code that verifies them.

mod key;
mod server;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;
use crate::sync::lock;

pub use key::TestKey;
pub use server::JwksResponse;
use server::JwksServer;

/// A test issuer with an RSA (`rsa-1`, RS256) and an EC (`ec-1`, ES256) key, serving its JWKS
/// on `127.0.0.1` at an ephemeral port.
pub struct TestIssuer {
    keys: Vec<Arc<TestKey>>,
    default_key: usize,
    server: JwksServer,
    url: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TestIssuer {
    /// Generates the keys and starts serving. Needs a tokio runtime.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (test code only).
    pub async fn start() -> Self {
        let keys = vec![
            Arc::new(TestKey::rsa("rsa-1", Algorithm::RS256)),
            Arc::new(TestKey::ec("ec-1", Algorithm::ES256)),
        ];
        let server = JwksServer::start(keys.iter().map(|k| k.jwk().clone()).collect()).await;
        let url = format!("http://{}/.well-known/jwks.json", server.addr());
        Self {
            keys,
            default_key: 0,
            server,
            url,
            clock: Arc::new(SystemClock),
        }
    }

    /// Mints tokens with this clock's time (share a [`ManualClock`](crate::ManualClock) with the
    /// guard to move both).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> &str {
        &self.url
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), whose OIDC discovery document
    /// (`/.well-known/openid-configuration`) names it and points at the JWKS.
    #[must_use]
    pub fn issuer_url(&self) -> String {
        self.url
            .trim_end_matches("/.well-known/jwks.json")
            .to_owned()
    }

    /// Serves this discovery document instead.
    pub fn set_discovery(&self, document: Value) {
        *lock(&self.server.state().discovery) = document;
    }

    /// An [`Issuer`] for this issuer's JWKS, named `test`.
    pub fn issuer(&self) -> Issuer {
        Issuer::jwks(&self.url).name("test")
    }

    /// How many requests the JWKS endpoint has received.
    #[must_use]
    pub fn fetch_count(&self) -> usize {
        self.server.state().fetches.load(Ordering::SeqCst)
    }

    /// How many of them were answered 304.
    #[must_use]
    pub fn not_modified_count(&self) -> usize {
        self.server.state().not_modified.load(Ordering::SeqCst)
    }

    /// The request lines and headers received, one string per request (to check that nothing a
    /// token says reaches the JWKS host).
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        lock(&self.server.state().requests).clone()
    }

    /// The key tokens are signed with by default.
    #[must_use]
    pub fn key(&self, kid: &str) -> Option<Arc<TestKey>> {
        self.keys.iter().find(|k| k.kid() == kid).cloned()
    }

    /// Signs with the key `kid` by default from now on.
    pub fn use_key(&mut self, kid: &str) {
        if let Some(index) = self.keys.iter().position(|k| k.kid() == kid) {
            self.default_key = index;
        }
    }

    /// Adds a key; `publish` puts it in the served key set.
    pub fn add_key(&mut self, key: TestKey, publish: bool) {
        if publish {
            lock(&self.server.state().keys).push(key.jwk().clone());
        }
        self.keys.push(Arc::new(key));
    }

    /// Serves exactly these JWKs (raw JSON values).
    pub fn set_jwks(&self, keys: Vec<Value>) {
        *lock(&self.server.state().keys) = keys;
    }

    /// Serves the public JWKs of these kids only.
    pub fn publish_only(&self, kids: &[&str]) {
        let jwks = self
            .keys
            .iter()
            .filter(|k| kids.contains(&k.kid()))
            .map(|k| k.jwk().clone())
            .collect();
        self.set_jwks(jwks);
    }

    /// How the endpoint answers from now on.
    pub fn respond_with(&self, response: JwksResponse) {
        *lock(&self.server.state().response) = response;
    }

    /// Sends this `Cache-Control` with the keys.
    pub fn cache_control(&self, value: Option<&str>) {
        *lock(&self.server.state().cache_control) = value.map(str::to_owned);
    }

    /// Sends this `ETag` with the keys, and answers 304 to a matching `If-None-Match`.
    pub fn etag(&self, value: Option<&str>) {
        *lock(&self.server.state().etag) = value.map(str::to_owned);
    }

    /// Waits this long before answering each request.
    pub fn delay(&self, delay: Duration) {
        *lock(&self.server.state().delay) = delay;
    }

    /// A token builder signed with the default key, with `iat` now and `exp` in five minutes.
    pub fn token(&self) -> TokenBuilder {
        let key = self
            .keys
            .get(self.default_key)
            .cloned()
            .unwrap_or_else(|| Arc::new(TestKey::hmac(&[0; 32], Algorithm::HS256)));
        TokenBuilder::new(key, self.clock.now() as u64)
    }
}

/// Builds and signs a token.
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder {
    key: Arc<TestKey>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl TokenBuilder {
    /// A token signed by `key`, issued at `now` (Unix seconds), expiring 5 minutes later.
    pub fn new(key: Arc<TestKey>, now: u64) -> Self {
        let mut header = Map::new();
        header.insert("alg".into(), Value::from(key.algorithm().as_str()));
        header.insert("typ".into(), Value::from("JWT"));
        if !key.kid().is_empty() {
            header.insert("kid".into(), Value::from(key.kid()));
        }
        let mut claims = Map::new();
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + 300));
        Self {
            key,
            header,
            claims,
        }
    }

    /// Sets a claim (`Value::Null` keeps it, as null).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Sets `tenant`.
    pub fn tenant(self, tenant: &str) -> Self {
        self.claim("tenant", tenant)
    }

    /// Sets `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }

    /// Sets `aud`.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `exp` to `iat` + `secs` (negative: already expired).
    pub fn expires_in(self, secs: i64) -> Self {
        let iat = self.claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
        self.claim("exp", iat + secs)
    }

    /// Sets a header member (`Value::Null` removes it).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if value.is_null() {
            self.header.remove(name);
        } else {
            self.header.insert(name.to_owned(), value);
        }
        self
    }

    /// Encodes and signs.
    #[must_use]
    pub fn sign(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(Value::Object(self.header.clone()).to_string());
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(self.claims.clone()).to_string());
        let input = format!("{header}.{payload}");
        let signature = self.key.sign_input(&input);
        format!("{input}.{signature}")
    }
}
