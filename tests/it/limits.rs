//! The hard limits, each at its boundary: at the limit passes, one over fails, and the failure
//! comes before the work that grows with the input. Then the refresh storm: a flood of random
//! `kid`s costs the JWKS host one request per cooldown while valid tokens keep passing.

use std::time::Duration;

use axum::body::Body;
use http::Request;
use jwt_guard::testing::{JwksResponse, TestIssuer};
use jwt_guard::{JwtGuard, MAX_TOKEN_LEN, ManualClock, Reason};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::attacks::kit::*;

const RS: &str = r#"{"alg":"RS256","kid":"rsa-1"}"#;

/// The length of the unpadded base64url encoding of `n` bytes.
fn b64_len(n: usize) -> usize {
    4 * (n / 3) + [0, 2, 3][n % 3]
}

/// A token signed by the victim's `rsa-1` that is exactly `len` bytes long, padded through
/// one header member and one claim.
fn token_of_len(v: &Victim, len: usize) -> String {
    let exp = now() + 300;
    let header = |pad: usize| {
        format!(
            r#"{{"alg":"RS256","kid":"rsa-1","x":"{}"}}"#,
            "h".repeat(pad)
        )
    };
    let payload = |pad: usize| format!(r#"{{"exp":{exp},"pad":"{}"}}"#, "p".repeat(pad));
    for hp in 0..3 {
        for pp in 0..len {
            let total = b64_len(header(hp).len()) + 1 + b64_len(payload(pp).len()) + 1 + 342;
            if total == len {
                let token = rs_token(v, &header(hp), &payload(pp));
                assert_eq!(token.len(), len);
                return token;
            }
            if total > len {
                break;
            }
        }
    }
    panic!("no padding gives {len} bytes");
}

fn rs_token(v: &Victim, header: &str, payload: &str) -> String {
    sign_raw(&v.key("rsa-1"), header, payload)
}

#[tokio::test]
async fn token_size_cap_is_exact_in_every_source() {
    let v = Victim::start().await;
    let at_cap = token_of_len(&v, MAX_TOKEN_LEN);
    let over = token_of_len(&v, MAX_TOKEN_LEN + 1);
    v.app.passes(&at_cap).await;
    v.app.refuses_token(&over, 401, Reason::TokenTooLarge).await;
    // The cap is checked before the token is read: one byte over, even garbage is "too large".
    v.app
        .refuses_token(&"!".repeat(MAX_TOKEN_LEN + 1), 401, Reason::TokenTooLarge)
        .await;
    v.app
        .refuses_token(&"!".repeat(MAX_TOKEN_LEN), 400, Reason::MalformedCredential)
        .await;

    let sources = JwtGuard::builder()
        .issuer(v.issuer.issuer())
        .token_sources([
            jwt_guard::TokenSource::Cookie("jwt".into()),
            jwt_guard::TokenSource::Query("access_token".into()),
        ])
        .build()
        .unwrap();
    let app = Guarded::new(&sources);
    let cookie = |t: &str| {
        Request::get("/api")
            .header("cookie", format!("jwt={t}"))
            .body(Body::empty())
            .unwrap()
    };
    let query = |t: &str| {
        Request::get(format!("/api?access_token={t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.send(cookie(&at_cap)).await.status, 200);
    app.refuses(cookie(&over), 401, Reason::TokenTooLarge).await;
    assert_eq!(app.send(query(&at_cap)).await.status, 200);
    app.refuses(query(&over), 401, Reason::TokenTooLarge).await;
    // `verify` outside a request has the same cap.
    assert!(v.guard.verify(&at_cap).await.is_ok());
    assert_eq!(
        v.guard.verify(&over).await.unwrap_err().reason(),
        Reason::TokenTooLarge
    );
}

/// `n` pseudo-certificates of `der_len` bytes each, standard base64 as `x5c` carries them.
fn x5c_chain(n: usize, der_len: usize) -> Vec<String> {
    use base64::Engine as _;
    (0..n)
        .map(|i| {
            let der: Vec<u8> = (0..der_len).map(|j| (i * 31 + j * 7) as u8).collect();
            base64::engine::general_purpose::STANDARD.encode(der)
        })
        .collect()
}

#[tokio::test]
async fn a_header_with_a_three_certificate_x5c_chain_is_admitted() {
    let v = Victim::start().await;
    // Typical DER sizes of a leaf, an intermediate and a root (RSA 2048): 1.1 to 1.5 KB each.
    for der_len in [1100, 1250, 1400] {
        let header = json!({"alg": "RS256", "kid": "rsa-1", "x5c": x5c_chain(3, der_len)});
        let token = rs_token(&v, &header.to_string(), &fresh_claims());
        let header_len = token.split('.').next().unwrap().len();
        assert!(
            header_len > 4096,
            "{header_len}: the old 2 KiB cap would refuse it"
        );
        assert!(token.len() <= MAX_TOKEN_LEN, "{}", token.len());
        v.app.passes(&token).await;
    }
    // The header segment is bounded by the token cap: a longer chain makes the token too large.
    let header = json!({"alg": "RS256", "kid": "rsa-1", "x5c": x5c_chain(4, 1500)});
    let token = rs_token(&v, &header.to_string(), &fresh_claims());
    assert!(token.len() > MAX_TOKEN_LEN);
    v.app
        .refuses_token(&token, 401, Reason::TokenTooLarge)
        .await;
    v.assert_no_outbound();
}

#[tokio::test]
async fn segment_count_is_exactly_three() {
    let v = Victim::start().await;
    let token = rs_token(&v, RS, &fresh_claims());
    v.app.passes(&token).await;
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (h, p) = input.split_once('.').unwrap();
    for bad in [
        format!("{h}.{p}"),
        format!("{token}.{sig}"),
        format!("{h}.{p}.{p}.{sig}"),
        format!("{token}.{sig}.{sig}"),
        h.to_owned(),
    ] {
        v.app.refuses_token(&bad, 401, Reason::MalformedToken).await;
    }
    v.assert_no_outbound();
}

#[tokio::test]
async fn json_depth_cap_is_exact() {
    let v = Victim::start().await;
    let exp = now() + 300;
    // The claim set is depth 1; 15 nested arrays or objects make 16, the cap.
    let arrays = |n: usize| format!(r#"{{"exp":{exp},"a":{}0{}}}"#, "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| {
        format!(
            r#"{{"exp":{exp},"a":{}0{}}}"#,
            r#"{"a":"#.repeat(n),
            "}".repeat(n)
        )
    };
    v.app.passes(&rs_token(&v, RS, &arrays(15))).await;
    v.app.passes(&rs_token(&v, RS, &objects(15))).await;
    v.app
        .refuses_token(&rs_token(&v, RS, &arrays(16)), 401, Reason::BadPayload)
        .await;
    v.app
        .refuses_token(&rs_token(&v, RS, &objects(16)), 401, Reason::BadPayload)
        .await;
    // The header is capped at depth 4.
    let header = |n: usize| {
        format!(
            r#"{{"alg":"RS256","kid":"rsa-1","x":{}0{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    v.app
        .passes(&rs_token(&v, &header(3), &fresh_claims()))
        .await;
    v.app
        .refuses_token(
            &rs_token(&v, &header(4), &fresh_claims()),
            401,
            Reason::BadHeader,
        )
        .await;
    v.assert_no_outbound();
}

#[tokio::test]
async fn claim_count_cap_is_exact() {
    let v = Victim::start().await;
    let exp = now() + 300;
    // 1024 members and array elements in the whole claim set: `exp`, `a` and 1022 elements.
    // (1024 members cannot fit in a token of 8 KiB; 500 do.)
    let members = |n: usize| {
        let extra: Vec<String> = (0..n).map(|i| format!(r#""{i}":0"#)).collect();
        format!(r#"{{"exp":{exp},{}}}"#, extra.join(","))
    };
    let elements = |n: usize| format!(r#"{{"exp":{exp},"a":[{}]}}"#, vec!["0"; n].join(","));
    let many = rs_token(&v, RS, &members(500));
    assert!(many.len() <= MAX_TOKEN_LEN, "{}", many.len());
    v.app.passes(&many).await;
    v.app.passes(&rs_token(&v, RS, &elements(1022))).await;
    v.app
        .refuses_token(&rs_token(&v, RS, &elements(1023)), 401, Reason::BadPayload)
        .await;
    // The header holds at most 32 members.
    let header = |n: usize| {
        let extra: Vec<String> = (0..n).map(|i| format!(r#""h{i}":0"#)).collect();
        format!(r#"{{"alg":"RS256","kid":"rsa-1",{}}}"#, extra.join(","))
    };
    v.app
        .passes(&rs_token(&v, &header(30), &fresh_claims()))
        .await;
    v.app
        .refuses_token(
            &rs_token(&v, &header(31), &fresh_claims()),
            401,
            Reason::BadHeader,
        )
        .await;
    v.assert_no_outbound();
}

#[tokio::test]
async fn kid_length_cap_is_exact() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key("rsa-1").unwrap().jwk().clone();
    let at_cap = "k".repeat(256);
    let over = "k".repeat(257);
    let mut long = rsa.clone();
    long["kid"] = json!(at_cap);
    let mut longer = rsa.clone();
    longer["kid"] = json!(over);
    issuer.set_jwks(vec![rsa, long, longer]);
    let v = Victim::with(issuer, |i| i).await;
    let header = |kid: &str| format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#);
    v.app
        .passes(&rs_token(&v, &header(&at_cap), &fresh_claims()))
        .await;
    v.app
        .refuses_token(
            &rs_token(&v, &header(&over), &fresh_claims()),
            401,
            Reason::BadHeader,
        )
        .await;
    v.assert_no_outbound();
}

/// A JWKS body of exactly `len` bytes holding `keys`, padded with a member.
fn jwks_body(keys: &[Value], len: usize) -> Vec<u8> {
    let bare = json!({"keys": keys, "pad": ""}).to_string();
    let body = json!({"keys": keys, "pad": "x".repeat(len - bare.len())}).to_string();
    assert_eq!(body.len(), len);
    body.into_bytes()
}

#[tokio::test]
async fn jwks_body_cap_is_exact() {
    const CAP: usize = 256 * 1024;
    for (len, ok) in [(CAP, true), (CAP + 1, false)] {
        let issuer = TestIssuer::start().await;
        let keys = vec![issuer.key("rsa-1").unwrap().jwk().clone()];
        issuer.respond_with(JwksResponse::Body(jwks_body(&keys, len)));
        let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
        assert_eq!(guard.warm_up().await, ok, "{len}");
        let app = Guarded::new(&guard);
        let token = issuer.token().sign();
        if ok {
            app.passes(&token).await;
        } else {
            app.refuses_token(&token, 503, Reason::KeysUnavailable)
                .await;
        }
        assert_eq!(issuer.fetch_count(), 1);

        // The same without Content-Length: the body is counted as it streams.
        let keys_issuer = TestIssuer::start().await;
        let body = jwks_body(&[keys_issuer.key("rsa-1").unwrap().jwk().clone()], len);
        let trap = Trap::start(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{}",
            String::from_utf8(body).unwrap()
        ))
        .await;
        let guard = JwtGuard::builder()
            .issuer(jwt_guard::Issuer::jwks(&trap.url))
            .build()
            .unwrap();
        assert_eq!(guard.warm_up().await, ok, "streamed {len}");
        assert_eq!(trap.hits(), 1);
    }
}

#[tokio::test]
async fn jwks_key_count_cap_is_exact() {
    for (count, ok) in [(100, true), (101, false)] {
        let issuer = TestIssuer::start().await;
        let ec = issuer.key("ec-1").unwrap();
        let keys: Vec<Value> = (0..count)
            .map(|i| {
                let mut jwk = ec.jwk().clone();
                jwk["kid"] = json!(format!("k{i}"));
                jwk
            })
            .collect();
        issuer.set_jwks(keys);
        let guard = JwtGuard::builder().issuer(issuer.issuer()).build().unwrap();
        assert_eq!(guard.warm_up().await, ok);
        assert_eq!(guard.readiness()[0].keys, ok.then_some(100));
        let app = Guarded::new(&guard);
        let token = sign_raw(&ec, r#"{"alg":"ES256","kid":"k99"}"#, &fresh_claims());
        if ok {
            app.passes(&token).await;
        } else {
            app.refuses_token(&token, 503, Reason::KeysUnavailable)
                .await;
        }
    }
}

/// A server that answers the headers at once, then one byte of body every 50 ms.
async fn trickle() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"keys\":[";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if stream.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn jwks_fetch_time_is_bounded() {
    let timeouts = (Duration::from_millis(500), Duration::from_secs(1));
    // Within the total timeout: loaded.
    let issuer = TestIssuer::start().await;
    issuer.delay(Duration::from_millis(100));
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .jwks_timeouts(timeouts.0, timeouts.1)
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    Guarded::new(&guard).passes(&issuer.token().sign()).await;

    // A host that never answers, and one that trickles its body: cut at the total timeout,
    // and the request gets 503 with Retry-After (in bounded time: every send is bounded).
    let stalled = TestIssuer::start().await;
    stalled.respond_with(JwksResponse::Stall);
    for url in [stalled.jwks_url().to_owned(), trickle().await] {
        let guard = JwtGuard::builder()
            .issuer(jwt_guard::Issuer::jwks(&url))
            .jwks_timeouts(timeouts.0, timeouts.1)
            .build()
            .unwrap();
        let app = Guarded::new(&guard);
        let out = app
            .refuses_token(&issuer.token().sign(), 503, Reason::KeysUnavailable)
            .await;
        let retry: u64 = out.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        assert!(!tokio::time::timeout(BOUND, guard.warm_up()).await.unwrap());
    }
    assert_eq!(stalled.fetch_count(), 1);
}

// The refresh storm (catalog row 34): unsigned tokens with random kids, many at once. The JWKS
// host sees one request per cooldown window, however many arrive; valid tokens interleaved
// with the flood all pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kid_flood_costs_one_fetch_per_cooldown() {
    let clock = ManualClock::starting_now();
    let mut issuer = TestIssuer::start().await.with_clock(clock.clone());
    issuer.use_key("ec-1");
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(guard.warm_up().await);
    let app = Guarded::new(&guard);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random_kid = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("{seed:016x}")
    };

    for window in 0..3u64 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..600 {
            let app = app.clone();
            if i % 20 == 0 {
                let token = issuer
                    .token()
                    .subject(&format!("valid-{window}-{i}"))
                    .sign();
                tasks.spawn(async move { (true, app.bearer(&token).await) });
            } else {
                let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, random_kid());
                let token = format!(
                    "{}.{}.{}",
                    b64(header),
                    b64(fresh_claims()),
                    b64([7u8; 256])
                );
                tasks.spawn(async move { (false, app.bearer(&token).await) });
            }
        }
        let mut passed = 0;
        while let Some(joined) = tasks.join_next().await {
            let (valid, out) = joined.unwrap();
            if valid {
                assert_eq!(out.status, 200, "{out:?}");
                passed += 1;
            } else {
                assert_eq!(out.status, 401, "{out:?}");
                assert_eq!(out.reason(), Some(Reason::UnknownKid));
            }
        }
        assert_eq!(passed, 30);
        // The first window falls inside the warm-up's cooldown: no fetch at all. Each later
        // window, past the cooldown, costs exactly one.
        assert_eq!(issuer.fetch_count(), 1 + window as usize, "window {window}");
        clock.advance(Duration::from_secs(31));
    }
    assert_eq!(app.calls(), 90);
}
