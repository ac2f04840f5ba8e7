//! What the benches share: one issuer policy, token minting, the guarded service and the
//! `jsonwebtoken` floor with the same key and the same checks; [`cli`] is the command line and
//! runtime of the `bench_*` programs.
//!
//! `mod rig;` in every file of `benches/` (`verify`, `allocs`, `bench_interleaved`,
//! `bench_memory`, `bench_server`, `bench_threads`); each uses part of it.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Empty;
use jwt_guard::testing::{TestIssuer, TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Cors, Issuer, JwtGuard, JwtGuardService};
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tower::util::ServiceFn;
use tower_service::Service;

pub mod cli;

/// The `iss` every bench token carries and the guard requires.
pub const ISS: &str = "https://marketplace.example";
/// The audience every bench token carries and the guard requires.
pub const AUD: &str = "orders-api";
/// The browser origin of the preflight path.
pub const ORIGIN: &str = "https://app.marketplace.example";
/// The HS256 secret of the shared-secret issuer (40 bytes).
pub const HS_SECRET: &[u8] = b"bench-secret-0123456789abcdef-0123456789";

/// The verified-token cache of a guard.
#[derive(Clone, Copy, Debug)]
pub enum TokenCache {
    /// The default budget (32 MiB).
    Default,
    /// Turned off: every request checks its signature.
    Off,
    /// This budget in bytes.
    Bytes(u64),
}

/// The policy of every bench issuer: exact `iss` and `aud`, a tenant claim, `exp` required.
pub fn policy(issuer: Issuer) -> Issuer {
    issuer.issuer(ISS).audience(AUD).tenant_claim("tenant")
}

/// A guard over `issuer` (with [`policy`]) and a CORS policy for [`ORIGIN`].
pub fn guard(issuer: Issuer, cache: TokenCache) -> JwtGuard {
    let builder = JwtGuard::builder()
        .issuer(policy(issuer))
        .cors(Cors::new().allow_origins([ORIGIN]).allow_credentials(true));
    let builder = match cache {
        TokenCache::Default => builder,
        TokenCache::Off => builder.without_token_cache(),
        TokenCache::Bytes(bytes) => builder.token_cache_bytes(bytes),
    };
    builder.build().expect("bench guard config")
}

/// A guard over the test issuer's JWKS, warmed up (keys loaded before any timing).
pub async fn jwks_guard(issuer: &TestIssuer, cache: TokenCache) -> JwtGuard {
    let guard = guard(issuer.issuer(), cache);
    assert!(guard.warm_up().await, "JWKS did not load");
    guard
}

/// A guard over the shared secret [`HS_SECRET`].
pub fn hs_guard(cache: TokenCache) -> JwtGuard {
    guard(Issuer::secret(HS_SECRET).name("hs"), cache)
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The signing key `kid` of the test issuer (`rsa-1` or `ec-1`).
pub fn key(issuer: &TestIssuer, kid: &str) -> Arc<TestKey> {
    issuer.key(kid).expect("test issuer key")
}

/// The HS256 key of [`HS_SECRET`].
pub fn hs_key() -> Arc<TestKey> {
    Arc::new(TestKey::hmac(HS_SECRET, Algorithm::HS256))
}

/// Token number `i`: realistic marketplace claims, a distinct `jti`, valid for an hour.
pub fn token(key: &Arc<TestKey>, i: u64) -> String {
    claims(TokenBuilder::new(Arc::clone(key), now()), i).sign()
}

/// The claims of token number `i`.
pub fn claims(builder: TokenBuilder, i: u64) -> TokenBuilder {
    builder
        .issuer(ISS)
        .audience(AUD)
        .subject(&format!("user-{}", i % 1000))
        .tenant("PARTNER_42")
        .claim("jti", format!("{i:016x}"))
        .claim("roles", json!(["orders:read", "orders:write"]))
        .expires_in(3600)
}

/// `n` distinct tokens (numbered from `first`), signed on every core.
pub fn mint(key: &Arc<TestKey>, first: u64, n: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = first + (t * per) as u64;
                let end = first + (((t + 1) * per).min(n)) as u64;
                scope.spawn(move || (start..end).map(|i| token(key, i)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("minting thread"))
            .collect()
    })
}

/// `Authorization: Bearer <token>` values, made once so that a request costs a refcount bump.
pub fn bearer(tokens: &[String]) -> Vec<HeaderValue> {
    tokens
        .iter()
        .map(|t| {
            HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {t}")))
                .expect("token is a valid header value")
        })
        .collect()
}

/// The inner service: an empty 200.
pub fn ok(_req: Request<()>) -> Ready<Result<Response<Empty<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Empty::new())))
}

/// The type of [`ok`] as a function pointer.
pub type OkFn = fn(Request<()>) -> Ready<Result<Response<Empty<Bytes>>, Infallible>>;

/// The inner service.
pub type Inner = ServiceFn<OkFn>;

/// The guarded service.
pub type Guarded = JwtGuardService<Inner>;

/// The inner service alone.
pub fn inner() -> Inner {
    tower::service_fn(ok as OkFn)
}

/// `guard.layer()` around [`inner`].
pub fn guarded(guard: &JwtGuard) -> Guarded {
    tower_layer::Layer::layer(&guard.layer(), inner())
}

/// `guard.auth_layer()` (no CORS) around [`inner`].
pub fn auth_only(guard: &JwtGuard) -> Guarded {
    tower_layer::Layer::layer(&guard.auth_layer(), inner())
}

/// `GET /` with this `Authorization` value.
pub fn request(auth: &HeaderValue) -> Request<()> {
    let mut req = Request::new(());
    req.headers_mut()
        .insert(header::AUTHORIZATION, auth.clone());
    req
}

/// `GET /` without credentials.
pub fn anonymous() -> Request<()> {
    Request::new(())
}

/// A CORS preflight from [`ORIGIN`] for `GET` with `authorization`.
pub fn preflight() -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = Method::OPTIONS;
    let headers = req.headers_mut();
    headers.insert(header::ORIGIN, HeaderValue::from_static(ORIGIN));
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("GET"),
    );
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_HEADERS,
        HeaderValue::from_static("authorization"),
    );
    req
}

/// One request through a service, ready first; the status of the answer.
pub async fn call<S, B>(svc: &mut S, req: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let ready = svc.ready().await.expect("infallible");
    ready.call(req).await.expect("infallible").status()
}

/// The `jsonwebtoken` floor: the key of the test issuer's `kid`, parsed once.
pub fn decoding_key(issuer: &TestIssuer, kid: &str) -> jsonwebtoken::DecodingKey {
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(key(issuer, kid).jwk().clone()).expect("JWK");
    jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key")
}

/// The `jsonwebtoken` floor: the same checks as [`policy`] (`exp`, `iss`, `aud`), built once.
pub fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation
}

/// The crypto floor: the test issuer's key `kid` prepared once as an aws-lc-rs
/// `ParsedPublicKey` for RS256 or ES256 (as the layer prepares JWKS keys).
pub fn parsed_key(issuer: &TestIssuer, kid: &str) -> aws_lc_rs::signature::ParsedPublicKey {
    use aws_lc_rs::signature as sig;
    use base64::Engine as _;
    let jwk = key(issuer, kid).jwk().clone();
    let b64 = |name: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("JWK member"))
            .expect("base64url")
    };
    if jwk["kty"] == "RSA" {
        let (n, e) = (b64("n"), b64("e"));
        sig::RsaPublicKeyComponents {
            n: &n[..],
            e: &e[..],
        }
        .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
        .expect("RSA key")
    } else {
        let mut point = vec![4u8];
        point.extend(b64("x"));
        point.extend(b64("y"));
        sig::ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point).expect("EC key")
    }
}

/// A token's signing input and decoded signature, for the crypto floor.
pub fn signed_parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let (input, signature) = token.rsplit_once('.').expect("compact JWS");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    (input.as_bytes().to_vec(), signature)
}

/// One `jsonwebtoken::decode` into a claims map (the layer hands every claim on as well).
pub fn decode(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
    jsonwebtoken::decode::<Map<String, Value>>(token, key, validation).map(|data| data.claims)
}
