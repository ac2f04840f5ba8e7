//! The whole service, driven by arbitrary requests over fixed keys (an HS256 secret and a
//! fixed ES256 PEM key: no network), on a current-thread runtime.
#![no_main]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use jwt_guard::testing::TestKey;
use jwt_guard::{Algorithm, Cors, Issuer, JwtGuard, ManualClock, TokenSource, Verified};
use libfuzzer_sys::fuzz_target;
use tower_layer::Layer;
use tower_service::Service;

const SECRET: &[u8; 32] = b"fuzzing-secret-of-32-bytes-long!";
const NOW: u64 = 1_700_000_000;
const PLANTED: &str = "planted-identity";
const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::OPTIONS,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    guard: JwtGuard,
    /// An identity for another subject, planted in requests to check that it never survives.
    planted: Verified,
    hmac: Arc<TestKey>,
    ec: Arc<TestKey>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ec = Arc::new(TestKey::ec("pem-1", Algorithm::ES256));
        let coord = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(ec.jwk()[name].as_str().unwrap())
                .unwrap()
        };
        // SubjectPublicKeyInfo for a P-256 point: a fixed prefix, then 04 || x || y.
        let mut der = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        der.push(0x04);
        der.extend(coord("x"));
        der.extend(coord("y"));
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        );
        let guard = JwtGuard::builder()
            .issuer(
                Issuer::secret(SECRET)
                    .name("hs")
                    .issuer("https://hs.example")
                    .audience("api")
                    .tenant_claim("tenant")
                    .tenants(["acme", "42"])
                    .max_lifetime(Duration::from_secs(3600)),
            )
            .issuer(
                Issuer::public_key_pem(pem)
                    .name("pem")
                    .algorithms([Algorithm::ES256])
                    .tenant_claim("org")
                    .tenant_origins("acme", ["https://app.example"]),
            )
            .issuer(
                Issuer::secret(b"another-secret-for-replays-32-b!")
                    .name("replay")
                    .issuer("https://replay.example")
                    .reject_replays(),
            )
            .token_sources([
                TokenSource::Header,
                TokenSource::Cookie("jwt".into()),
                TokenSource::Query("access_token".into()),
            ])
            .realm("fuzz")
            .cors(
                Cors::new()
                    .allow_origins(["https://app.example"])
                    .allow_origin_pattern("https://*.marketplace.example")
                    .allow_credentials(true)
                    .allow_methods(["PUT", "DELETE"]),
            )
            .clock(ManualClock::at(NOW))
            .build()
            .unwrap();
        let hmac = Arc::new(TestKey::hmac(SECRET, Algorithm::HS256));
        let planted_token = jwt_guard::testing::TokenBuilder::new(Arc::clone(&hmac), NOW)
            .issuer("https://hs.example")
            .audience("api")
            .tenant("acme")
            .subject(PLANTED)
            .sign();
        let planted = runtime.block_on(guard.verify(&planted_token)).unwrap();
        Fixture {
            runtime,
            guard,
            planted,
            hmac,
            ec,
        }
    })
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What the inner service saw.
#[derive(Clone, Default)]
struct Inner {
    seen: Arc<Mutex<Option<(Option<Verified>, http::Uri)>>>,
}

impl Service<Request<()>> for Inner {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        *self.seen.lock().unwrap() = Some((
            req.extensions().get::<Verified>().cloned(),
            req.uri().clone(),
        ));
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"inner")))))
    }
}

/// A token from fuzz bytes: raw, or signed (HS256 or ES256) over a fuzzed header and payload
/// so that the claim checks are reached.
fn token(fx: &Fixture, mode: u8, material: &[u8]) -> Vec<u8> {
    let signed = |key: &TestKey, header: &[u8], payload: &[u8]| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = key.sign_input(&input);
        format!("{input}.{sig}").into_bytes()
    };
    let (header, payload) = match material.iter().position(|b| *b == 0xFE) {
        Some(i) => (&material[..i], &material[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], material),
    };
    match mode % 4 {
        0 => material.to_vec(),
        1 => signed(&fx.hmac, header, payload),
        2 => signed(&fx.ec, br#"{"alg":"ES256"}"#, payload),
        _ => signed(&fx.hmac, br#"{"alg":"HS256"}"#, payload),
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((&flags, rest)) = rest.split_first() else {
        return;
    };
    let mut fields = rest.split(|b| *b == 0xFF);
    let path = fields.next().unwrap_or_default();
    let origin = fields.next().unwrap_or_default();
    let material = fields.next().unwrap_or_default();
    let extra = fields.next().unwrap_or_default();

    let token = token(fx, selector >> 4, material);
    let method = METHODS[usize::from(selector & 0x0F) % METHODS.len()].clone();
    let mut uri = String::from("/");
    uri.push_str(&String::from_utf8_lossy(path));
    if flags & 0x04 != 0 {
        uri.push_str(if uri.contains('?') {
            "&access_token="
        } else {
            "?access_token="
        });
        uri.push_str(&String::from_utf8_lossy(&token));
    }
    let Ok(uri) = uri.parse::<http::Uri>() else {
        return;
    };
    let mut request = Request::builder().method(method).uri(uri).body(()).unwrap();
    let headers = request.headers_mut();
    let mut add = |name: &'static str, value: Vec<u8>| {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            headers.append(HeaderName::from_static(name), value);
        }
    };
    if flags & 0x01 != 0 {
        add("authorization", [b"Bearer ".as_slice(), &token].concat());
    }
    if flags & 0x02 != 0 {
        add("cookie", [b"a=1; jwt=".as_slice(), &token].concat());
    }
    if flags & 0x08 != 0 {
        add("origin", origin.to_vec());
    }
    if flags & 0x10 != 0 {
        add("access-control-request-method", extra.to_vec());
        add("access-control-request-headers", b"authorization".to_vec());
    }
    if flags & 0x20 != 0 {
        add("authorization", extra.to_vec());
    }
    // A Verified planted by an outer layer must never survive.
    if flags & 0x40 != 0 {
        request.extensions_mut().insert(fx.planted.clone());
    }
    let layer_kind = flags >> 7;

    let inner = Inner::default();
    let seen = Arc::clone(&inner.seen);
    let mut service = if layer_kind == 0 {
        fx.guard.layer()
    } else {
        fx.guard.optional_auth_layer()
    }
    .layer(inner);
    let (status, headers, body) = fx.runtime.block_on(async move {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        let response = service.call(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    });

    let seen = seen.lock().unwrap().take();
    assert!(
        matches!(status.as_u16(), 200 | 204 | 400 | 401 | 403 | 503),
        "status {status}"
    );
    match &seen {
        Some((verified, uri)) => {
            assert_eq!(status, 200);
            assert_eq!(&body[..], b"inner");
            let planted_here = material
                .windows(PLANTED.len())
                .any(|w| w == PLANTED.as_bytes());
            if let Some(who) = verified {
                assert!(
                    planted_here || who.subject() != Some(PLANTED),
                    "a planted identity survived"
                );
            }
            if layer_kind == 0 {
                let who = verified
                    .as_ref()
                    .expect("the inner service ran without an identity");
                assert!(matches!(who.issuer_name(), "hs" | "pem" | "replay"));
            }
            if let Some(query) = uri.query() {
                assert!(
                    !query
                        .split('&')
                        .any(|p| p.split('=').next() == Some("access_token"))
                        || flags & 0x23 != 0
                );
            }
        }
        None => {
            assert_ne!(status, 200, "200 without the inner service");
            if status != 204 {
                let json: serde_json::Value =
                    serde_json::from_slice(&body).expect("a rejection body is JSON");
                assert!(json["error"].is_string() && json["error_description"].is_string());
            }
            if status == 401 {
                let challenge = headers
                    .get("www-authenticate")
                    .expect("401 without a challenge");
                assert!(challenge.as_bytes().starts_with(b"Bearer realm=\"fuzz\""));
            }
        }
    }
});
