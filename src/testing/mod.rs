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

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::issuer::Issuer;
use crate::keys::algorithm::Algorithm;
use crate::sync::lock;

/// A signing key of the test issuer.
pub struct TestKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    jwk: Value,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A new RSA-2048 key for `alg` (RS256/384/512, PS256/384/512).
    ///
    /// # Panics
    ///
    /// If key generation fails or `alg` is not an RSA algorithm (test code only).
    #[allow(clippy::expect_used, clippy::panic)]
    #[must_use]
    pub fn rsa(kid: &str, alg: Algorithm) -> Self {
        assert!(matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ));
        let pair =
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key generation");
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": alg.as_str(), "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        });
        Self {
            kid: kid.to_owned(),
            alg,
            signer: Signer::Rsa(pair),
            jwk,
        }
    }

    /// A new EC key for ES256 (P-256) or ES384 (P-384).
    ///
    /// # Panics
    ///
    /// If key generation fails or `alg` is not ES256 or ES384 (test code only).
    #[allow(clippy::expect_used, clippy::panic)]
    #[must_use]
    pub fn ec(kid: &str, alg: Algorithm) -> Self {
        let (signing, crv, size) = match alg {
            Algorithm::ES256 => (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            Algorithm::ES384 => (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => panic!("not an EC algorithm: {alg}"),
        };
        let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
        let point = pair.public_key().as_ref().to_vec();
        let x = point.get(1..1 + size).expect("point x").to_vec();
        let y = point.get(1 + size..).expect("point y").to_vec();
        let jwk = json!({
            "kty": "EC", "kid": kid, "alg": alg.as_str(), "use": "sig", "crv": crv,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Self {
            kid: kid.to_owned(),
            alg,
            signer: Signer::Ec(pair),
            jwk,
        }
    }

    /// An HMAC key (for minting HS256/384/512 tokens against a secret issuer). It has no JWK:
    /// a secret is never published in a key set.
    #[must_use]
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Self {
        let digest = match alg {
            Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            _ => aws_lc_rs::hmac::HMAC_SHA256,
        };
        Self {
            kid: String::new(),
            alg,
            signer: Signer::Hmac(Box::new(aws_lc_rs::hmac::Key::new(digest, secret))),
            jwk: Value::Null,
        }
    }

    /// The key's `kid`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK.
    #[must_use]
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo), for an issuer built
    /// with [`Issuer::public_key_pem`]. `None` for an HMAC key, which has no public half.
    #[must_use]
    pub fn public_key_pem(&self) -> Option<String> {
        use aws_lc_rs::encoding::AsDer;
        let der = match &self.signer {
            Signer::Rsa(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Ec(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Hmac(_) => return None,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// Signs `signing_input` (`header.payload`) and returns the base64url signature.
    ///
    /// # Panics
    ///
    /// If signing fails (test code only).
    #[allow(clippy::expect_used)]
    #[must_use]
    pub fn sign_input(&self, signing_input: &str) -> String {
        let rng = SystemRandom::new();
        let msg = signing_input.as_bytes();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let encoding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, msg, &mut out)
                    .expect("RSA signing");
                out
            }
            Signer::Ec(pair) => pair.sign(&rng, msg).expect("EC signing").as_ref().to_vec(),
            Signer::Hmac(key) => aws_lc_rs::hmac::sign(key, msg).as_ref().to_vec(),
        };
        URL_SAFE_NO_PAD.encode(signature)
    }
}

/// How the JWKS endpoint answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JwksResponse {
    /// The current keys, with `Cache-Control` if set.
    Keys,
    /// This status and no body.
    Status(u16),
    /// This body, verbatim, with status 200.
    Body(Vec<u8>),
    /// Accept the connection and never answer.
    Stall,
}

#[derive(Debug)]
struct ServerState {
    keys: Mutex<Vec<Value>>,
    response: Mutex<JwksResponse>,
    cache_control: Mutex<Option<String>>,
    etag: Mutex<Option<String>>,
    fetches: AtomicUsize,
    not_modified: AtomicUsize,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<String>>,
    /// The OIDC discovery document served at `/.well-known/openid-configuration`.
    discovery: Mutex<Value>,
}

/// A test issuer with an RSA (`rsa-1`, RS256) and an EC (`ec-1`, ES256) key, serving its JWKS
/// on `127.0.0.1` at an ephemeral port.
pub struct TestIssuer {
    keys: Vec<Arc<TestKey>>,
    default_key: usize,
    state: Arc<ServerState>,
    url: String,
    clock: Arc<dyn Clock>,
    server: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    /// Generates the keys and starts serving. Needs a tokio runtime.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (test code only).
    #[allow(clippy::expect_used)]
    pub async fn start() -> Self {
        let keys = vec![
            Arc::new(TestKey::rsa("rsa-1", Algorithm::RS256)),
            Arc::new(TestKey::ec("ec-1", Algorithm::ES256)),
        ];
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(ServerState {
            keys: Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()),
            response: Mutex::new(JwksResponse::Keys),
            cache_control: Mutex::new(None),
            etag: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            discovery: Mutex::new(json!({
                "issuer": format!("http://{addr}"),
                "jwks_uri": format!("http://{addr}/.well-known/jwks.json"),
            })),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&state)));
        Self {
            keys,
            default_key: 0,
            state,
            url: format!("http://{addr}/.well-known/jwks.json"),
            clock: Arc::new(SystemClock),
            server,
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
        *lock(&self.state.discovery) = document;
    }

    /// An [`Issuer`] for this issuer's JWKS, named `test`.
    ///
    /// # Panics
    ///
    /// Never: the URL is loopback http (test code only).
    #[allow(clippy::expect_used)]
    pub fn issuer(&self) -> Issuer {
        Issuer::jwks(&self.url)
            .expect("loopback JWKS URL")
            .name("test")
    }

    /// How many requests the JWKS endpoint has received.
    #[must_use]
    pub fn fetch_count(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// How many of them were answered 304.
    #[must_use]
    pub fn not_modified_count(&self) -> usize {
        self.state.not_modified.load(Ordering::SeqCst)
    }

    /// The request lines and headers received, one string per request (to check that nothing a
    /// token says reaches the JWKS host).
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state.requests).clone()
    }

    /// The key tokens are signed with by default.
    #[must_use]
    pub fn key(&self, kid: &str) -> Option<Arc<TestKey>> {
        self.keys.iter().find(|k| k.kid == kid).cloned()
    }

    /// Signs with the key `kid` by default from now on.
    pub fn use_key(&mut self, kid: &str) {
        if let Some(index) = self.keys.iter().position(|k| k.kid == kid) {
            self.default_key = index;
        }
    }

    /// Adds a key; `publish` puts it in the served key set.
    pub fn add_key(&mut self, key: TestKey, publish: bool) {
        if publish {
            lock(&self.state.keys).push(key.jwk.clone());
        }
        self.keys.push(Arc::new(key));
    }

    /// Serves exactly these JWKs (raw JSON values).
    pub fn set_jwks(&self, keys: Vec<Value>) {
        *lock(&self.state.keys) = keys;
    }

    /// Serves the public JWKs of these kids only.
    pub fn publish_only(&self, kids: &[&str]) {
        let jwks = self
            .keys
            .iter()
            .filter(|k| kids.contains(&k.kid.as_str()))
            .map(|k| k.jwk.clone())
            .collect();
        self.set_jwks(jwks);
    }

    /// How the endpoint answers from now on.
    pub fn respond_with(&self, response: JwksResponse) {
        *lock(&self.state.response) = response;
    }

    /// Sends this `Cache-Control` with the keys.
    pub fn cache_control(&self, value: Option<&str>) {
        *lock(&self.state.cache_control) = value.map(str::to_owned);
    }

    /// Sends this `ETag` with the keys, and answers 304 to a matching `If-None-Match`.
    pub fn etag(&self, value: Option<&str>) {
        *lock(&self.state.etag) = value.map(str::to_owned);
    }

    /// Waits this long before answering each request.
    pub fn delay(&self, delay: Duration) {
        *lock(&self.state.delay) = delay;
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
        header.insert("alg".into(), Value::from(key.alg.as_str()));
        header.insert("typ".into(), Value::from("JWT"));
        if !key.kid.is_empty() {
            header.insert("kid".into(), Value::from(key.kid.as_str()));
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

async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
                if buf.len() > 64 * 1024 {
                    return;
                }
            }
            let request = String::from_utf8_lossy(&buf).to_string();
            state.fetches.fetch_add(1, Ordering::SeqCst);
            lock(&state.requests).push(request.clone());
            let delay = *lock(&state.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let is_discovery = request
                .lines()
                .next()
                .is_some_and(|line| line.contains(" /.well-known/openid-configuration "));
            let response = if is_discovery {
                JwksResponse::Body(lock(&state.discovery).to_string().into_bytes())
            } else {
                lock(&state.response).clone()
            };
            let (status, body, extra) = match response {
                JwksResponse::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                JwksResponse::Status(code) => (code, Vec::new(), String::new()),
                JwksResponse::Body(body) => (200, body, String::new()),
                JwksResponse::Keys => {
                    let etag = lock(&state.etag).clone();
                    let if_none_match = request.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("if-none-match:")
                            .map(|v| v.trim().to_owned())
                    });
                    let mut extra = String::new();
                    if let Some(cc) = lock(&state.cache_control).as_ref() {
                        extra.push_str(&format!("cache-control: {cc}\r\n"));
                    }
                    if let Some(etag) = &etag {
                        extra.push_str(&format!("etag: {etag}\r\n"));
                    }
                    if etag.is_some()
                        && if_none_match.as_deref()
                            == etag.as_deref().map(str::to_ascii_lowercase).as_deref()
                    {
                        state.not_modified.fetch_add(1, Ordering::SeqCst);
                        (304, Vec::new(), extra)
                    } else {
                        let keys = lock(&state.keys).clone();
                        (200, json!({ "keys": keys }).to_string().into_bytes(), extra)
                    }
                }
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        });
    }
}
