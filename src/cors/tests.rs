//! Origin parsing and matching, pattern parsing, configuration errors, preflight parsing and
//! `Vary` handling, without a server.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method};

use super::policy::{ALLOW_PRIVATE_NETWORK, Pattern, REQUEST_PRIVATE_NETWORK, append_vary};
use super::*;
use crate::origin::MAX_ORIGIN_LEN;

fn policy(cors: Cors) -> CorsPolicy {
    CorsPolicy::new(cors, &[]).unwrap()
}

/// The key of the error that `cors` is refused with (and never a panic).
fn refused(cors: Cors) -> (String, String) {
    match CorsPolicy::new(cors, &[]) {
        Ok(_) => panic!("configuration accepted"),
        Err(ConfigError::Invalid { key, reason }) => (key, reason),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

fn allows(policy: &CorsPolicy, origin: &str) -> bool {
    policy.allows(&HeaderValue::from_str(origin).unwrap())
}

// ----- canonical_origin ---------------------------------------------------------------------

#[test]
fn canonical_origins_are_accepted_unchanged() {
    for origin in [
        "https://marketplace.example",
        "https://partner.example.net:8443",
        "https://xn--bcher-kva.example",
        "https://a.b.c.example",
        // A trailing-dot FQDN is a different, but canonical, origin.
        "https://marketplace.example.",
        "https://203.0.113.7",
        "https://[2001:db8::1]:8443",
        "http://localhost",
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://[::1]:3000",
    ] {
        assert_eq!(
            canonical_origin(origin, false).as_deref(),
            Ok(origin),
            "{origin}"
        );
    }
}

#[test]
fn non_canonical_origins_are_refused_never_rewritten() {
    for origin in [
        "",
        "null",
        "*",
        "https://marketplace.example/",
        "https://marketplace.example/path",
        "https://marketplace.example/path?q=1",
        "https://marketplace.example?q=1",
        "https://marketplace.example#f",
        "HTTPS://MARKETPLACE.EXAMPLE",
        "https://Marketplace.example",
        "https://marketplace.example:443",
        "https://user@marketplace.example",
        "https://user:pw@marketplace.example",
        " https://marketplace.example",
        "https://marketplace.example ",
        "https://market\tplace.example",
        "https://marketplace.example\n",
        "https://marketplace.example\0",
        "https://bücher.example",
        "https://[0:0:0:0:0:0:0:1]",
        "https://0x7f.0.0.1",
        "https://marketplace.example, https://evil.example",
        "marketplace.example",
        "https://",
        "chrome-extension://abcdefghijklmnop",
        "ftp://marketplace.example",
        "file:///etc/passwd",
        "https://*.marketplace.example",
        "https://mar*ketplace.example",
    ] {
        assert!(
            canonical_origin(origin, false).is_err(),
            "{origin:?} accepted"
        );
        assert!(
            canonical_origin(origin, true).is_err(),
            "{origin:?} accepted with http allowed"
        );
    }
    let long = format!("https://{}.example", "a".repeat(MAX_ORIGIN_LEN));
    assert!(canonical_origin(&long, false).is_err());
}

#[test]
fn a_refusal_says_what_the_canonical_form_would_be() {
    let why = canonical_origin("https://Marketplace.Example/", false).unwrap_err();
    assert!(why.contains("\"https://marketplace.example\""), "{why}");
    let why = canonical_origin("https://marketplace.example:443", false).unwrap_err();
    assert!(why.contains("\"https://marketplace.example\""), "{why}");
    let why = canonical_origin("https://bücher.example", false).unwrap_err();
    assert!(why.contains("\"https://xn--bcher-kva.example\""), "{why}");
    let why = canonical_origin("null", false).unwrap_err();
    assert!(why.contains("null"), "{why}");
}

#[test]
fn plain_http_is_for_loopback_unless_dangerously_allowed() {
    for origin in [
        "http://marketplace.example",
        "http://10.0.0.1",
        "http://localhost.example",
        "http://192.168.1.1:8080",
    ] {
        let why = canonical_origin(origin, false).unwrap_err();
        assert!(why.contains("http"), "{origin}: {why}");
        assert_eq!(canonical_origin(origin, true).as_deref(), Ok(origin));
    }
    // The default port of http is elided too.
    assert!(canonical_origin("http://localhost:80", false).is_err());
}

// ----- patterns -------------------------------------------------------------------------------

#[test]
fn patterns_parse_into_scheme_base_and_port() {
    assert_eq!(
        parse_pattern("https://*.apps.example.org", false),
        Ok(Pattern {
            scheme: "https".into(),
            base: "apps.example.org".into(),
            port: None
        })
    );
    assert_eq!(
        parse_pattern("https://*.marketplace.example:8443", false),
        Ok(Pattern {
            scheme: "https".into(),
            base: "marketplace.example".into(),
            port: Some(8443)
        })
    );
    assert_eq!(
        parse_pattern("https://*.example.co.uk", false),
        Ok(Pattern {
            scheme: "https".into(),
            base: "example.co.uk".into(),
            port: None
        })
    );
    assert_eq!(
        parse_pattern("http://*.dev.example", true),
        Ok(Pattern {
            scheme: "http".into(),
            base: "dev.example".into(),
            port: None
        })
    );
}

#[test]
fn public_suffix_bases_are_refused() {
    for pattern in [
        "https://*.com",
        "https://*.org",
        "https://*.co.uk",
        "https://*.github.io",
        "https://*.herokuapp.com",
        "https://*.s3.amazonaws.com",
        "https://*.localhost",
        "https://*.example",
    ] {
        let why = parse_pattern(pattern, false).unwrap_err();
        assert!(why.contains("public suffix"), "{pattern}: {why}");
    }
}

#[test]
fn malformed_patterns_are_refused() {
    for pattern in [
        "https://*example.com",
        "https://*.",
        "https://*.Example.com",
        "https://*.example.com/",
        "https://*.example.com:443",
        "https://*.*.example.com",
        "https://a.*.example.com",
        "https://*.203.0.113.7",
        "https://*.[::1]",
        "*.example.com",
        "ftp://*.example.com",
        "https://*.bücher.example",
    ] {
        assert!(parse_pattern(pattern, false).is_err(), "{pattern} accepted");
    }
    // Plain http needs the dangerous opt-in, like an exact origin.
    assert!(parse_pattern("http://*.example.com", false).is_err());
}

#[test]
fn patterns_match_on_label_boundaries_with_scheme_and_port_pinned() {
    let p = policy(Cors::new().allow_origins(["https://*.apps.example.org"]));
    assert!(allows(&p, "https://shop.apps.example.org"));
    assert!(
        allows(&p, "https://a.b.apps.example.org"),
        "multi-level subdomains are allowed"
    );
    assert!(allows(&p, "https://xn--bcher-kva.apps.example.org"));
    assert!(
        !allows(&p, "https://apps.example.org"),
        "the apex is not included"
    );
    assert!(
        !allows(&p, "https://evilapps.example.org"),
        "no dot boundary"
    );
    assert!(!allows(&p, "https://.apps.example.org"));
    assert!(!allows(&p, "https://shop.apps.example.org.evil.io"));
    assert!(!allows(&p, "https://shop.apps.example.org."));
    assert!(!allows(&p, "http://shop.apps.example.org"), "scheme pinned");
    assert!(
        !allows(&p, "https://shop.apps.example.org:8443"),
        "port pinned"
    );
    assert!(!allows(&p, "https://shop.apps.example.org:443"));
    assert!(!allows(&p, "https://SHOP.apps.example.org"));
    assert!(!allows(&p, "https://shop.apps.example.org/"));
    assert!(!allows(&p, "https://evil.com/.apps.example.org"));
    assert!(!allows(&p, "https://evil.com?.apps.example.org"));
    assert!(!allows(&p, "https://evil.com#.apps.example.org"));
    assert!(!allows(&p, "https://evil.com\\.apps.example.org"));
    assert!(!allows(&p, "https://user@shop.apps.example.org"));
    assert!(!allows(&p, "https://evil.com@shop.apps.example.org"));
    assert!(!allows(&p, "null"));

    let p = policy(Cors::new().allow_origin_pattern("https://*.apps.example.org:8443"));
    assert!(allows(&p, "https://shop.apps.example.org:8443"));
    assert!(!allows(&p, "https://shop.apps.example.org"));
    assert!(!allows(&p, "https://shop.apps.example.org:8444"));
}

// ----- exact matching -------------------------------------------------------------------------

#[test]
fn exact_origins_match_byte_for_byte() {
    let p = policy(Cors::new().allow_origins([
        "https://marketplace.example.com",
        "https://partner.example.net:8443",
    ]));
    assert!(allows(&p, "https://marketplace.example.com"));
    assert!(allows(&p, "https://partner.example.net:8443"));
    for origin in [
        "https://partner.example.net",
        "https://marketplace.example.com:443",
        "https://marketplace.example.com:8443",
        "https://marketplace.example.com/",
        "https://Marketplace.example.com",
        "HTTPS://MARKETPLACE.EXAMPLE.COM",
        "http://marketplace.example.com",
        "https://marketplace.example.com.",
        "https://marketplace.example.com ",
        "https://sub.marketplace.example.com",
        "https://evilmarketplace.example.com",
        "https://marketplace.example.com.evil.io",
        "https://marketplaceXexample.com",
        "https://marketplace.example.com, https://evil.example",
        "null",
        "",
    ] {
        assert!(!allows(&p, origin), "{origin:?} allowed");
    }
    let long = format!("https://marketplace.example.com{}", " ".repeat(10_000));
    assert!(!allows(&p, &long));
    // Not visible ASCII: never allowed.
    assert!(!p.allows(&HeaderValue::from_bytes(b"https://b\xc3\xbccher.example").unwrap()));
}

#[test]
fn extra_origins_from_the_issuers_are_allowed_too() {
    let p = CorsPolicy::new(Cors::new(), &["https://bound.example".to_owned()]).unwrap();
    assert!(allows(&p, "https://bound.example"));
    assert!(!allows(&p, "https://other.example"));
}

#[test]
fn classification() {
    let p = policy(Cors::new().allow_origins(["https://a.example"]));
    let mut headers = HeaderMap::new();
    assert_eq!(p.classify(&headers), RequestOrigin::Absent);
    assert_eq!(RequestOrigin::Absent.as_str(), None);
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://a.example"),
    );
    let allowed = p.classify(&headers);
    assert_eq!(
        allowed,
        RequestOrigin::Allowed(HeaderValue::from_static("https://a.example"))
    );
    assert_eq!(allowed.as_str(), Some("https://a.example"));
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://b.example"),
    );
    assert_eq!(
        p.classify(&headers),
        RequestOrigin::Refused(HeaderValue::from_static("https://b.example"))
    );

    // Without CORS every origin is "allowed" (only the bindings judge it).
    let off = CorsPolicy::disabled(true);
    assert_eq!(
        off.classify(&headers),
        RequestOrigin::Allowed(HeaderValue::from_static("https://b.example"))
    );

    // An Origin that is not text is still an Origin for the bindings: "" matches no binding.
    let odd = RequestOrigin::Allowed(HeaderValue::from_bytes(b"https://\xffa.example").unwrap());
    assert_eq!(odd.as_str(), Some(""));
}

#[test]
fn preflight_detection_needs_options_origin_and_request_method() {
    let mut headers = HeaderMap::new();
    assert!(!is_preflight(&Method::OPTIONS, &headers));
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://a.example"),
    );
    assert!(!is_preflight(&Method::OPTIONS, &headers));
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("PUT"),
    );
    assert!(is_preflight(&Method::OPTIONS, &headers));
    assert!(!is_preflight(&Method::GET, &headers));
    headers.remove(header::ORIGIN);
    assert!(!is_preflight(&Method::OPTIONS, &headers));
}

// ----- configuration errors -------------------------------------------------------------------

#[test]
fn configuration_errors_name_their_key() {
    let cases: Vec<(Cors, &str)> = vec![
        (Cors::new().allow_origins(["null"]), "allow_origins[0]"),
        (
            Cors::new()
                .allow_credentials(true)
                .allow_origins(["https://a.example", "*"]),
            "allow_origins[1]",
        ),
        (Cors::new().allow_origins(["*"]), "allow_origins[0]"),
        (
            Cors::new().allow_origins(["https://a.example/"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://A.example"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://a.example:443"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://a.example/path"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://bücher.example"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["http://a.example"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["chrome-extension://abc"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://*example.com"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://*.com"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins(["https://*.github.io"]),
            "allow_origins[0]",
        ),
        // Patterns and exact entries keep their own index, whatever their order.
        (
            Cors::new().allow_origins(["https://a.example", "https://*.com"]),
            "allow_origins[1]",
        ),
        (
            Cors::new().allow_origins(["https://*.com", "https://a.example"]),
            "allow_origins[0]",
        ),
        (
            Cors::new().allow_origins([
                "https://*.a.example",
                "https://b.example",
                "https://*.github.io",
            ]),
            "allow_origins[2]",
        ),
        (
            Cors::new()
                .allow_origins(["https://a.example"])
                .allow_origins(["https://b.example/"]),
            "allow_origins[1]",
        ),
        (
            Cors::new().allow_origin_pattern("https://*.github.io"),
            "allow_origin_pattern[0]",
        ),
        (
            Cors::new()
                .allow_origin_pattern("https://*.a.example")
                .allow_origin_pattern("https://a.example"),
            "allow_origin_pattern[1]",
        ),
        (
            Cors::new().preflight_max_age(Duration::from_secs(86_401)),
            "preflight_max_age",
        ),
        (
            Cors::new().preflight_max_age(Duration::from_secs(100_000)),
            "preflight_max_age",
        ),
        (
            Cors::new().allow_methods(["PUT", "CONNECT"]),
            "allow_methods[1]",
        ),
        (Cors::new().allow_methods(["TRACE"]), "allow_methods[0]"),
        (Cors::new().allow_methods(["track"]), "allow_methods[0]"),
        (Cors::new().allow_methods(["*"]), "allow_methods[0]"),
        (Cors::new().allow_methods(["GET POST"]), "allow_methods[0]"),
        (Cors::new().allow_methods([""]), "allow_methods[0]"),
        (
            Cors::new().allow_headers(["authorization", "*"]),
            "allow_headers[1]",
        ),
        (Cors::new().allow_headers(["x bad"]), "allow_headers[0]"),
        (Cors::new().expose_headers(["*"]), "expose_headers[0]"),
        (Cors::new().expose_headers(["x:y"]), "expose_headers[0]"),
    ];
    for (cors, expected) in cases {
        let debug = format!("{cors:?}");
        let (key, reason) = refused(cors);
        assert_eq!(key, expected, "{debug}: {reason}");
        assert!(!reason.is_empty());
    }
}

#[test]
fn credentials_with_a_wildcard_origin_say_so() {
    let (_, reason) = refused(Cors::new().allow_credentials(true).allow_origins(["*"]));
    assert!(reason.contains("allow_credentials"), "{reason}");
}

#[test]
fn dangerous_opt_in_and_loopback_http_are_accepted() {
    policy(Cors::new().allow_origins([
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
    ]));
    let p = policy(
        Cors::new()
            .allow_origins(["http://dev.example"])
            .allow_origin_pattern("http://*.dev.example")
            .dangerous_allow_insecure_origins(true),
    );
    assert!(allows(&p, "http://dev.example"));
    assert!(allows(&p, "http://a.dev.example"));
    assert!(!allows(&p, "https://a.dev.example"));
    // A whole day is the limit, included.
    policy(Cors::new().preflight_max_age(Duration::from_secs(86_400)));
}

#[test]
fn the_builder_and_the_config_file_prefix_the_key_with_cors() {
    let err = crate::JwtGuard::builder()
        .issuer(crate::Issuer::secret([7u8; 32]))
        .cors(Cors::new().allow_origins(["https://a.example", "https://*.github.io"]))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("cors.allow_origins[1]"), "{err}");

    let config = crate::Config::from_toml(
        r#"
        [[issuers]]
        secret = "0123456789abcdef0123456789abcdef"
        [cors]
        allow_origins = ["https://a.example", "https://A.example"]
        "#,
    )
    .unwrap();
    let err = config.build().unwrap_err();
    assert_eq!(err.key(), Some("cors.allow_origins[1]"), "{err}");
    assert!(err.to_string().contains("https://a.example"), "{err}");
}

// ----- prepared header values -----------------------------------------------------------------

#[test]
fn header_values_are_prepared_once_deduplicated_and_lowercased() {
    let p = policy(
        Cors::new()
            .allow_origins(["https://a.example"])
            .allow_methods(["PUT", "GET", "DELETE", "PUT", "PATCH"])
            .allow_headers([
                "Authorization",
                "content-type",
                "X-Request-Id",
                "authorization",
            ])
            .expose_headers([
                "X-Request-Id",
                "www-authenticate",
                "retry-after",
                "x-request-id",
            ])
            .preflight_max_age(Duration::from_secs(600)),
    );
    assert_eq!(p.allow_methods, "GET, HEAD, POST, PUT, DELETE, PATCH");
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type, x-request-id"
    );
    assert_eq!(
        p.expose_headers,
        "x-request-id, retry-after, www-authenticate"
    );
    assert_eq!(p.expose_with_retry_after, p.expose_headers);
    assert_eq!(p.max_age, "600");

    // Defaults: GET, HEAD, POST; authorization, content-type; www-authenticate; 10 minutes.
    let p = policy(Cors::new().allow_origins(["https://a.example"]));
    assert_eq!(p.allow_methods, "GET, HEAD, POST");
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type"
    );
    assert_eq!(p.expose_headers, "www-authenticate");
    assert_eq!(p.expose_with_retry_after, "retry-after, www-authenticate");
    assert_eq!(p.max_age, "600");
}

// ----- preflight ------------------------------------------------------------------------------

fn preflight_headers(method: &str, request_headers: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://a.example"),
    );
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_str(method).unwrap(),
    );
    for line in request_headers {
        headers.append(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_str(line).unwrap(),
        );
    }
    headers
}

#[test]
fn preflight_checks_method_and_every_requested_header() {
    let p = policy(
        Cors::new()
            .allow_origins(["https://a.example"])
            .allow_credentials(true)
            .allow_methods(["PUT", "PATCH"]),
    );
    let origin = RequestOrigin::Allowed(HeaderValue::from_static("https://a.example"));
    let ok = |method: &str, lines: &[&str]| {
        p.preflight(&origin, &preflight_headers(method, lines))
            .is_ok()
    };
    assert!(ok("GET", &[]));
    assert!(ok("PUT", &["authorization,content-type"]));
    assert!(ok("PUT", &["Authorization, Content-Type"]));
    assert!(ok("PUT", &["authorization", "content-type"]));
    assert!(ok("PUT", &[""]));
    assert!(ok("PATCH", &["authorization"]));
    assert!(!ok("patch", &[]), "methods are case-sensitive");
    assert!(!ok("DELETE", &[]));
    assert!(!ok("CONNECT", &[]));
    assert!(!ok("", &[]));
    assert!(!ok("GET POST", &[]));
    assert!(!ok("PUT", &["authorization,x-evil"]));
    assert!(!ok("PUT", &["authorization", "x-evil"]));
    assert!(!ok("PUT", &["author ization"]));

    let mut two = preflight_headers("PUT", &[]);
    two.append(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("PUT"),
    );
    assert!(p.preflight(&origin, &two).is_err(), "two request methods");

    let refused = RequestOrigin::Refused(HeaderValue::from_static("https://b.example"));
    assert!(
        p.preflight(&refused, &preflight_headers("GET", &[]))
            .is_err()
    );
    assert!(
        p.preflight(&RequestOrigin::Absent, &preflight_headers("GET", &[]))
            .is_err()
    );

    let answer = p
        .preflight(&origin, &preflight_headers("PUT", &["authorization"]))
        .unwrap();
    assert_eq!(
        answer[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://a.example"
    );
    assert_eq!(answer[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(
        answer[header::ACCESS_CONTROL_ALLOW_METHODS],
        "GET, HEAD, POST, PUT, PATCH"
    );
    assert_eq!(
        answer[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "authorization, content-type"
    );
    assert_eq!(answer[header::ACCESS_CONTROL_MAX_AGE], "600");
    assert!(!answer.contains_key(ALLOW_PRIVATE_NETWORK));
    assert_eq!(answer.len(), 5);
}

#[test]
fn a_disabled_policy_refuses_every_preflight() {
    let off = CorsPolicy::disabled(false);
    let origin = RequestOrigin::Allowed(HeaderValue::from_static("https://a.example"));
    assert!(
        off.preflight(&origin, &preflight_headers("GET", &[]))
            .is_err()
    );
}

#[test]
fn private_network_access_only_when_opted_in_and_asked() {
    let origin = RequestOrigin::Allowed(HeaderValue::from_static("https://a.example"));
    let mut asked = preflight_headers("GET", &[]);
    asked.insert(REQUEST_PRIVATE_NETWORK, HeaderValue::from_static("true"));

    let on = policy(
        Cors::new()
            .allow_origins(["https://a.example"])
            .allow_private_network(true),
    );
    assert_eq!(
        on.preflight(&origin, &asked).unwrap()[ALLOW_PRIVATE_NETWORK],
        "true"
    );
    assert!(
        !on.preflight(&origin, &preflight_headers("GET", &[]))
            .unwrap()
            .contains_key(ALLOW_PRIVATE_NETWORK)
    );

    let off = policy(Cors::new().allow_origins(["https://a.example"]));
    assert!(
        !off.preflight(&origin, &asked)
            .unwrap()
            .contains_key(ALLOW_PRIVATE_NETWORK)
    );
}

// ----- Vary and decoration --------------------------------------------------------------------

fn vary(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn vary_is_appended_once_and_never_overwritten() {
    let mut headers = HeaderMap::new();
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    append_vary(&mut headers, "origin");
    append_vary(&mut headers, "origin");
    assert_eq!(vary(&headers), ["Accept-Encoding", "origin"]);

    let mut headers = HeaderMap::new();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("accept-encoding, Origin"),
    );
    append_vary(&mut headers, "origin");
    assert_eq!(vary(&headers), ["accept-encoding", "Origin"]);

    let mut headers = HeaderMap::new();
    headers.insert(header::VARY, HeaderValue::from_static("*"));
    append_vary(&mut headers, "origin");
    assert_eq!(vary(&headers), ["*"]);
}

#[test]
fn decoration_replaces_the_inner_services_cors_headers() {
    let p = policy(
        Cors::new()
            .allow_origins(["https://a.example"])
            .allow_credentials(true),
    );
    let inner = || {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("*"),
        );
        h
    };
    let mut h = inner();
    p.decorate(
        &RequestOrigin::Allowed(HeaderValue::from_static("https://a.example")),
        &mut h,
    );
    assert_eq!(
        h.get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .iter()
            .count(),
        1
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.example");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "www-authenticate");
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
    assert_eq!(vary(&h), ["origin"]);

    let mut h = inner();
    p.decorate(&RequestOrigin::Absent, &mut h);
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(!h.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS));
    assert_eq!(vary(&h), ["origin"]);

    // Without CORS the layer leaves the inner service's headers alone.
    let mut h = inner();
    CorsPolicy::disabled(false).decorate(&RequestOrigin::Absent, &mut h);
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(vary(&h).is_empty());
}

#[test]
fn preflight_vary_lists_the_request_headers_it_read() {
    let mut h = HeaderMap::new();
    policy(Cors::new()).vary_preflight(&mut h);
    assert_eq!(
        vary(&h),
        [
            "origin",
            "access-control-request-method",
            "access-control-request-headers"
        ]
    );
    let mut h = HeaderMap::new();
    policy(Cors::new().allow_private_network(true)).vary_preflight(&mut h);
    assert_eq!(
        vary(&h),
        [
            "origin",
            "access-control-request-method",
            "access-control-request-headers",
            "access-control-request-private-network"
        ]
    );
}
