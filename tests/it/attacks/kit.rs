//! The tools of the hostile-input tests: an app that counts handler calls, a bounded `send`,
//! raw token assembly, DER/PEM encodings of test keys, and a loopback trap that counts hits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use jwt_guard::testing::{TestIssuer, TestKey};
use jwt_guard::{JwtGuard, Reason, Rejection, Verified};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The bound on every hostile request: generous, only there to catch a hang.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `b64(header).b64(payload).sig` with `key`'s signature over exactly these JSON texts.
pub(crate) fn sign_raw(key: &TestKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign_input(&input);
    format!("{input}.{sig}")
}

/// A valid payload for the victim issuer (no `iss`, `aud` or tenant configured).
pub(crate) fn fresh_claims() -> String {
    let now = now();
    format!(r#"{{"sub":"u1","iat":{now},"exp":{}}}"#, now + 300)
}

/// The token with its signature segment replaced by `sig` (raw bytes).
pub(crate) fn with_signature(token: &str, sig: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(sig))
}

/// The raw signature bytes of a token.
pub(crate) fn signature_of(token: &str) -> Vec<u8> {
    unb64(token.rsplit_once('.').unwrap().1)
}

/// An axum app behind `guard.layer()` whose every route counts its calls and answers the
/// identity it was given. Clones share the counter.
#[derive(Clone)]
pub(crate) struct Guarded {
    app: Router,
    calls: Arc<AtomicUsize>,
}

/// One response, with its body and the [`Rejection`] the layer attached.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) rejection: Option<Rejection>,
}

impl Outcome {
    pub(crate) fn reason(&self) -> Option<Reason> {
        self.rejection.as_ref().map(Rejection::reason)
    }

    /// The body of a passed request: the identity the handler saw.
    pub(crate) fn identity(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "expected a pass: {self:?}");
        serde_json::from_str(&self.body).unwrap()
    }
}

impl Guarded {
    pub(crate) fn new(guard: &JwtGuard) -> Self {
        Self::with_layer(guard.layer())
    }

    pub(crate) fn with_layer(layer: jwt_guard::JwtGuardLayer) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let app = Router::new()
            .fallback(move |req: Request<Body>| {
                let counter = Arc::clone(&counter);
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let who = req.extensions().get::<Verified>().cloned();
                    axum::Json(serde_json::json!({
                        "issuer": who.as_ref().map(Verified::issuer_name),
                        "sub": who.as_ref().and_then(Verified::subject),
                        "tenant": who.as_ref().and_then(Verified::tenant),
                        "uri": req.uri().to_string(),
                    }))
                    .into_response()
                }
            })
            .layer(layer);
        Self { app, calls }
    }

    /// How many requests reached the handler.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Sends one request; panics if it takes longer than [`BOUND`].
    pub(crate) async fn send(&self, req: Request<Body>) -> Outcome {
        let res = tokio::time::timeout(BOUND, self.app.clone().oneshot(req))
            .await
            .expect("the request did not finish in bounded time")
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Outcome {
            status: parts.status,
            rejection: parts.extensions.get::<Rejection>().cloned(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET /api` with `Authorization: Bearer token`.
    pub(crate) async fn bearer(&self, token: &str) -> Outcome {
        self.send(bearer_request(token)).await
    }

    /// Sends `req` and checks a refusal: exactly `status`, the reason, the RFC 6750 body and
    /// challenge, and no handler call.
    pub(crate) async fn refuses(&self, req: Request<Body>, status: u16, reason: Reason) -> Outcome {
        self.refuses_as("", req, status, reason).await
    }

    /// [`refuses`](Self::refuses), naming `label` (a table row) in every failure.
    pub(crate) async fn refuses_as(
        &self,
        label: &str,
        req: Request<Body>,
        status: u16,
        reason: Reason,
    ) -> Outcome {
        let before = self.calls();
        let out = self.send(req).await;
        assert_eq!(out.status.as_u16(), status, "{label}: {out:?}");
        assert_eq!(out.reason(), Some(reason), "{label}: {out:?}");
        let body: serde_json::Value = serde_json::from_str(&out.body).unwrap();
        assert_eq!(body["error"], reason.kind().code(), "{label}: {out:?}");
        assert_eq!(body["error_description"], reason.description(), "{label}");
        let challenge = out
            .headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        match status {
            401 if reason == Reason::MissingToken => {
                assert_eq!(
                    challenge.as_deref(),
                    Some("Bearer realm=\"jwt-guard\""),
                    "{label}"
                );
            }
            401 => assert_eq!(
                challenge.as_deref(),
                Some(
                    format!(
                        "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"{}\"",
                        reason.description()
                    )
                    .as_str()
                ),
                "{label}"
            ),
            400 => assert_eq!(
                challenge.as_deref(),
                Some("Bearer realm=\"jwt-guard\", error=\"invalid_request\""),
                "{label}"
            ),
            _ => {}
        }
        assert_eq!(
            self.calls(),
            before,
            "{label}: the handler was called for a refused request"
        );
        out
    }

    /// [`refuses`](Self::refuses) for a bearer token.
    pub(crate) async fn refuses_token(&self, token: &str, status: u16, reason: Reason) -> Outcome {
        self.refuses(bearer_request(token), status, reason).await
    }

    /// [`refuses_token`](Self::refuses_token) with 401 for each (label, token, reason) row, the
    /// label named in every failure.
    pub(crate) async fn refuses_tokens<L: AsRef<str>, T: AsRef<str>>(
        &self,
        rows: impl IntoIterator<Item = (L, T, Reason)>,
    ) {
        for (label, token, reason) in rows {
            let req = bearer_request(token.as_ref());
            self.refuses_as(label.as_ref(), req, 401, reason).await;
        }
    }

    /// The token passes and the handler runs once.
    pub(crate) async fn passes(&self, token: &str) -> serde_json::Value {
        let before = self.calls();
        let out = self.bearer(token).await;
        assert_eq!(self.calls(), before + 1, "{out:?}");
        out.identity()
    }
}

/// `GET /api` with `Authorization: Bearer token`.
pub(crate) fn bearer_request(token: &str) -> Request<Body> {
    Request::get("/api")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The victim: a JWKS issuer (`rsa-1` RS256, `ec-1` ES256) behind the default guard, its key
/// set fetched once at start.
pub(crate) struct Victim {
    pub(crate) issuer: TestIssuer,
    pub(crate) guard: JwtGuard,
    pub(crate) app: Guarded,
}

impl Victim {
    pub(crate) async fn start() -> Self {
        let issuer = TestIssuer::start().await;
        Self::with(issuer, |i| i).await
    }

    /// The victim with its [`Issuer`](jwt_guard::Issuer) adjusted by `configure`.
    pub(crate) async fn with(
        issuer: TestIssuer,
        configure: impl FnOnce(jwt_guard::Issuer) -> jwt_guard::Issuer,
    ) -> Self {
        let guard = JwtGuard::builder()
            .issuer(configure(issuer.issuer()))
            .build()
            .unwrap();
        assert!(guard.warm_up().await);
        assert_eq!(issuer.fetch_count(), 1);
        let app = Guarded::new(&guard);
        Self { issuer, guard, app }
    }

    pub(crate) fn key(&self, kid: &str) -> Arc<TestKey> {
        self.issuer.key(kid).unwrap()
    }

    /// No request reached the JWKS host but the one at start, and that one asked for the
    /// configured path only.
    pub(crate) fn assert_no_outbound(&self) {
        assert_eq!(
            self.issuer.fetch_count(),
            1,
            "the JWKS host was asked again"
        );
        for request in self.issuer.requests() {
            assert!(
                request.starts_with("GET /.well-known/jwks.json HTTP/1.1\r\n"),
                "{request}"
            );
        }
    }
}

// DER and PEM encodings of public keys, to hand a public key to an attacker as "secret".

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER from big-endian unsigned bytes.
pub(crate) fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::new();
    if trimmed.first().is_none_or(|b| *b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der(0x02, &content)
}

/// `RSAPublicKey` (PKCS#1) DER from a JWK's `n` and `e`.
pub(crate) fn rsa_pkcs1_der(jwk: &serde_json::Value) -> Vec<u8> {
    let n = unb64(jwk["n"].as_str().unwrap());
    let e = unb64(jwk["e"].as_str().unwrap());
    der(0x30, &[der_uint(&n), der_uint(&e)].concat())
}

/// `SubjectPublicKeyInfo` DER of an RSA JWK.
pub(crate) fn rsa_spki_der(jwk: &serde_json::Value) -> Vec<u8> {
    let algorithm = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let bits = der(0x03, &[&[0u8][..], &rsa_pkcs1_der(jwk)].concat());
    der(0x30, &[algorithm, bits].concat())
}

/// A PEM block with 64-character lines and a final newline.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An ECDSA `r || s` signature re-encoded as DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub(crate) fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    der(0x30, &[der_uint(r), der_uint(s)].concat())
}

/// The order of P-256.
pub(crate) const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

/// `a - b` for big-endian numbers of the same length, `a >= b`.
pub(crate) fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0);
    out
}

/// A loopback HTTP server that answers every request with `response` and counts the requests:
/// the place a hostile token or JWKS points at, which must never be reached.
pub(crate) struct Trap {
    pub(crate) url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Trap {
    pub(crate) async fn start(response: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/jwks.json"),
            hits,
            task,
        }
    }

    /// Connections accepted so far.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
