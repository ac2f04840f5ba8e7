//! Extraction from each source (bearer, cookie, query), the RFC 6750 charset check, the size
//! cap, sensitive marking and source names, on bare headers and URIs.

use http::HeaderValue;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// What the layer does on a cache miss: extract, then check the charset.
fn checked<'h>(
    headers: &'h HeaderMap,
    uri: &Uri,
    sources: &[TokenSource],
) -> Result<Option<Found<'h>>, Reason> {
    let found = extract(headers, uri, sources)?;
    if let Some(found) = &found {
        found.check()?;
    }
    Ok(found)
}

fn from_header(value: &str) -> Result<Option<String>, Reason> {
    let map = headers(&[("authorization", value)]);
    checked(&map, &Uri::from_static("/"), &[TokenSource::Header])
        .map(|f| f.map(|f| String::from_utf8(f.token.into_owned()).unwrap()))
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    for value in [
        "Bearer abc.def.ghi",
        "bearer abc.def.ghi",
        "BEARER  abc.def.ghi ",
    ] {
        assert_eq!(
            from_header(value),
            Ok(Some("abc.def.ghi".into())),
            "{value}"
        );
    }
}

#[test]
fn other_schemes_count_as_no_token() {
    assert_eq!(from_header("Basic dXNlcjpwYXNz"), Ok(None));
    assert_eq!(from_header("Bearer2 abc"), Ok(None));
    assert_eq!(from_header("Token"), Ok(None));
}

#[test]
fn malformed_credentials_are_bad_requests() {
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a,b",
        "Bearer =abc",
        "Bearer a=b",
    ] {
        assert_eq!(
            from_header(value),
            Err(Reason::MalformedCredential),
            "{value:?}"
        );
    }
    let map = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
    assert_eq!(
        extract(&map, &Uri::from_static("/"), &[TokenSource::Header]),
        Err(Reason::DuplicateAuthorization)
    );
}

#[test]
fn the_charset_is_checked_after_extraction_and_only_for_the_header() {
    let map = headers(&[("authorization", "Bearer a,b")]);
    let found = extract(&map, &Uri::from_static("/"), &[TokenSource::Header])
        .unwrap()
        .unwrap();
    assert_eq!(&*found.token, b"a,b");
    assert_eq!(found.check(), Err(Reason::MalformedCredential));
    let map = headers(&[("authorization", "Bearer abc.def")]);
    let found = extract(&map, &Uri::from_static("/"), &[TokenSource::Header])
        .unwrap()
        .unwrap();
    assert_eq!(found.check(), Ok(()));
}

#[test]
fn token_size_cap_is_exact() {
    let at_cap = "a".repeat(MAX_TOKEN_LEN);
    assert_eq!(
        from_header(&format!("Bearer {at_cap}")),
        Ok(Some(at_cap.clone()))
    );
    assert_eq!(
        from_header(&format!("Bearer {at_cap}a")),
        Err(Reason::TokenTooLarge)
    );
}

#[test]
fn the_header_value_is_marked_sensitive() {
    let mut map = headers(&[("authorization", "Bearer abc")]);
    assert!(!map.get(AUTHORIZATION).unwrap().is_sensitive());
    mark_sensitive(&mut map);
    assert!(map.get(AUTHORIZATION).unwrap().is_sensitive());
}

#[test]
fn the_b64token_alphabet_is_rfc_6750s() {
    for b in 0..=255u8 {
        let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
        assert_eq!(is_b64token_byte(b), expected, "byte {b}");
        // Every position of a long token, the 32-byte chunks and the remainder alike.
        for len in [1, 31, 32, 33, 64, 97] {
            for at in 0..len {
                let mut token = vec![b'a'; len];
                if let Some(slot) = token.get_mut(at) {
                    *slot = b;
                }
                let padded_ok = b == b'=' && token.iter().skip(at).all(|c| *c == b'=') && at > 0;
                assert_eq!(
                    is_b64token(&token),
                    expected || padded_ok,
                    "byte {b} at {at} of {len}"
                );
            }
        }
    }
    assert!(is_b64token(b"abc=="));
    assert!(!is_b64token(b"=="));
    assert!(!is_b64token(b"a=b"));
    assert!(!is_b64token(b""));
}

#[test]
fn cookies() {
    let src = [TokenSource::Cookie("jwt".into())];
    let map = headers(&[("cookie", "a=1; jwt=tok.en.x; b=2")]);
    let found = extract(&map, &Uri::from_static("/"), &src)
        .unwrap()
        .unwrap();
    assert_eq!(&*found.token, b"tok.en.x");
    let map = headers(&[("cookie", "jwt=a"), ("cookie", "jwt=b")]);
    assert_eq!(
        extract(&map, &Uri::from_static("/"), &src),
        Err(Reason::MalformedCookie)
    );
    let map = headers(&[("cookie", "jwt=")]);
    assert_eq!(
        extract(&map, &Uri::from_static("/"), &src),
        Err(Reason::MalformedCookie)
    );
    let map = headers(&[("cookie", "jwtx=a")]);
    assert_eq!(extract(&map, &Uri::from_static("/"), &src), Ok(None));
}

#[test]
fn query_parameter_is_taken_and_removed() {
    let empty = HeaderMap::new();
    let src = [TokenSource::Query("tenant".into())];
    let uri: Uri = "/x?a=1&tenant=abc.def.ghi&b=2".parse().unwrap();
    let found = extract(&empty, &uri, &src).unwrap().unwrap();
    assert_eq!(&*found.token, b"abc.def.ghi");
    assert_eq!(found.stripped_uri.unwrap(), "/x?a=1&b=2");
    let uri: Uri = "http://h/x?tenant=abc".parse().unwrap();
    let found = extract(&empty, &uri, &src).unwrap().unwrap();
    assert_eq!(found.stripped_uri.unwrap(), "http://h/x");
    let uri: Uri = "/x?tenant=a&tenant=b".parse().unwrap();
    assert_eq!(extract(&empty, &uri, &src), Err(Reason::MalformedQuery));
    let uri: Uri = "/x?tenant=".parse().unwrap();
    assert_eq!(extract(&empty, &uri, &src), Err(Reason::MalformedQuery));
    let uri: Uri = "/x?other=1".parse().unwrap();
    assert_eq!(extract(&empty, &uri, &src), Ok(None));
}

#[test]
fn sources_are_tried_in_order() {
    let src = [TokenSource::Query("jwt".into()), TokenSource::Header];
    let map = headers(&[("authorization", "Bearer from.header.x")]);
    let uri: Uri = "/?jwt=from.query.x".parse().unwrap();
    let found = extract(&map, &uri, &src).unwrap().unwrap();
    assert_eq!(&*found.token, b"from.query.x");
    let found = extract(&map, &Uri::from_static("/"), &src)
        .unwrap()
        .unwrap();
    assert_eq!(&*found.token, b"from.header.x");
}

#[test]
fn source_names_parse() {
    assert_eq!("header".parse(), Ok(TokenSource::Header));
    assert_eq!("cookie:jwt".parse(), Ok(TokenSource::Cookie("jwt".into())));
    assert_eq!(
        "query:tenant".parse(),
        Ok(TokenSource::Query("tenant".into()))
    );
    for bad in ["", "Header", "cookie:", "query", "query:a b", "form:x"] {
        assert!(bad.parse::<TokenSource>().is_err(), "{bad}");
    }
}

/// The `Cookie` headers as raw bytes (not UTF-8, not visible ASCII: as a browser may send them).
fn raw_cookies(values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        map.append("cookie", HeaderValue::from_bytes(value).unwrap());
    }
    map
}

fn cookie_token(map: &HeaderMap) -> Result<Option<Vec<u8>>, Reason> {
    let src = [TokenSource::Cookie("jwt".into())];
    extract(map, &Uri::from_static("/"), &src).map(|f| f.map(|f| f.token.into_owned()))
}

#[test]
fn odd_bytes_in_other_cookies_never_hide_the_token_cookie() {
    let token = Ok(Some(b"tok.en.x".to_vec()));
    for value in [
        &b"pref=caf\xc3\xa9; jwt=tok.en.x"[..],
        b"jwt=tok.en.x; pref=\xff\xfe",
        b"a=\x80; jwt=tok.en.x; b=\x9f",
        b"\xe2\x98\x83=snow; jwt=tok.en.x",
        b"garbage-without-equals; jwt=tok.en.x;;",
        b"  jwt = \"tok.en.x\" ; x=\"\xa0\"",
        b"a=b=c; jwt=tok.en.x",
    ] {
        assert_eq!(
            cookie_token(&raw_cookies(&[value])),
            token,
            "{}",
            String::from_utf8_lossy(value)
        );
    }
    // HTTP/2 sends one header per cookie; the odd one may come first.
    let split = raw_cookies(&[b"pref=\xff", b"theme=dark", b"jwt=tok.en.x"]);
    assert_eq!(cookie_token(&split), token);
}

#[test]
fn the_token_cookie_twice_empty_or_odd_stays_a_bad_request() {
    for values in [
        &[&b"jwt=a.b.c; x=\xff; jwt=a.b.c"[..]][..],
        &[b"jwt=a.b.c", b"jwt=d.e.f"],
        &[b"pref=\xff; jwt="],
        &[b"jwt=\"\""],
        &[b"jwt=a.b.\xffc"],
        &[b"jwt=a.b.c d.e.f"],
        &[b"jwt=a.b.c,d.e.f"],
        &[b"jwt=a.b.c\td.e.f"],
    ] {
        assert_eq!(
            cookie_token(&raw_cookies(values)),
            Err(Reason::MalformedCookie),
            "{values:?}"
        );
    }
    // A name that merely contains the configured one is another cookie.
    assert_eq!(cookie_token(&raw_cookies(&[b"xjwt=a; jwtx=b"])), Ok(None));
}

#[test]
fn two_tokens_in_one_credential_are_400_whatever_the_length_and_the_cap_is_per_token() {
    let one = |len: usize| "a".repeat(len);
    // Header: two tokens around the cap, and one token at and over it.
    for (a, b) in [(10, 10), (4096, 4097), (8192, 8192), (9000, 10)] {
        for sep in [" ", ", ", "\t", ","] {
            let value = format!("Bearer {}{sep}{}", one(a), one(b));
            assert_eq!(
                from_header(&value),
                Err(Reason::MalformedCredential),
                "{a}+{b} {sep:?}"
            );
        }
    }
    assert!(from_header(&format!("Bearer {}", one(8192))).is_ok());
    assert_eq!(
        from_header(&format!("Bearer {}", one(8193))),
        Err(Reason::TokenTooLarge)
    );
    // Cookie.
    let cookie = |value: String| cookie_token(&raw_cookies(&[format!("jwt={value}").as_bytes()]));
    for (a, b) in [(10, 10), (4097, 4097), (8192, 8192), (9000, 1)] {
        assert_eq!(
            cookie(format!("{} {}", one(a), one(b))),
            Err(Reason::MalformedCookie),
            "{a}+{b}"
        );
    }
    assert_eq!(cookie(one(8192)), Ok(Some(one(8192).into_bytes())));
    assert_eq!(cookie(one(8193)), Err(Reason::TokenTooLarge));
    // Query.
    let src = [TokenSource::Query("t".into())];
    let query = |value: String| {
        let uri: Uri = format!("/x?t={value}").parse().unwrap();
        let empty = HeaderMap::new();
        extract(&empty, &uri, &src).map(|f| f.map(|f| f.token.len()))
    };
    for (a, b) in [(10, 10), (4097, 4097), (8192, 8192), (13000, 13000)] {
        for sep in ["+", "%20", "%2C", "%2c", "%09", ","] {
            assert_eq!(
                query(format!("{}{sep}{}", one(a), one(b))),
                Err(Reason::MalformedQuery),
                "{a}+{b} {sep}"
            );
        }
    }
    assert_eq!(query(one(8192)), Ok(Some(8192)));
    assert_eq!(query(one(8193)), Err(Reason::TokenTooLarge));
    assert_eq!(query(one(30000)), Err(Reason::TokenTooLarge));
}
