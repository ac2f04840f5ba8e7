//! The list setters behave alike (each adds, across calls; no default is ever dropped), accept
//! `http::Method` and `HeaderName` as well as text, and the preflight cache time has its
//! own name (`preflight_max_age`, `max_age` kept as a deprecated alias and a TOML alias).

use std::time::Duration;

use http::{HeaderName, Method, header};

use super::*;

fn policy(cors: Cors) -> CorsPolicy {
    CorsPolicy::new(cors, &[]).unwrap()
}

fn key_of(cors: Cors) -> String {
    CorsPolicy::new(cors, &[])
        .unwrap_err()
        .key()
        .unwrap()
        .to_owned()
}

#[test]
fn every_list_setter_adds_to_its_defaults() {
    // The case: adding a header kept `authorization`? It must.
    let p = policy(Cors::new().allow_headers(["x-request-id"]));
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type, x-request-id"
    );
    assert!(p.headers.contains("authorization"));
    let p = policy(Cors::new().allow_methods(["PUT"]));
    assert_eq!(p.allow_methods, "GET, HEAD, POST, PUT");
    let p = policy(Cors::new().expose_headers(["x-request-id"]));
    assert_eq!(p.expose_headers, "x-request-id, www-authenticate");
    // An empty list changes nothing either.
    let p = policy(
        Cors::new()
            .allow_headers(Vec::<&str>::new())
            .allow_methods(Vec::<String>::new()),
    );
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type"
    );
    assert_eq!(p.allow_methods, "GET, HEAD, POST");
}

#[test]
fn every_call_adds_and_errors_count_over_every_call() {
    let p = policy(
        Cors::new()
            .allow_headers(["x-a"])
            .allow_headers(["x-b"])
            .allow_methods(["PUT"])
            .allow_methods(["DELETE"])
            .expose_headers(["x-c"])
            .expose_headers(["x-d"]),
    );
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type, x-a, x-b"
    );
    assert_eq!(p.allow_methods, "GET, HEAD, POST, PUT, DELETE");
    assert_eq!(p.expose_headers, "x-c, x-d, www-authenticate");
    assert_eq!(
        key_of(
            Cors::new()
                .allow_headers(["x-a"])
                .allow_headers(["ok", "x y"])
        ),
        "allow_headers[2]"
    );
    assert_eq!(
        key_of(Cors::new().allow_methods(["PUT"]).allow_methods(["TRACE"])),
        "allow_methods[1]"
    );
    assert_eq!(
        key_of(Cors::new().expose_headers(["x"]).expose_headers(["*"])),
        "expose_headers[1]"
    );
}

#[test]
fn methods_and_header_names_are_accepted_as_typed_values() {
    let p = policy(
        Cors::new()
            .allow_methods([Method::PUT, Method::DELETE])
            .allow_methods([&Method::PATCH])
            .allow_methods([String::from("PURGE")])
            .allow_headers([header::IF_MATCH, HeaderName::from_static("x-request-id")])
            .allow_headers([&header::ACCEPT_LANGUAGE])
            .expose_headers([header::ETAG])
            .expose_headers([&String::from("x-trace")]),
    );
    assert_eq!(
        p.allow_methods,
        "GET, HEAD, POST, PUT, DELETE, PATCH, PURGE"
    );
    assert_eq!(
        p.allow_headers.as_ref().unwrap(),
        "authorization, content-type, if-match, x-request-id, accept-language"
    );
    assert_eq!(p.expose_headers, "etag, x-trace, www-authenticate");
    // A typed forbidden method is still refused, naming the setter.
    assert_eq!(
        key_of(Cors::new().allow_methods([Method::CONNECT])),
        "allow_methods[0]"
    );
    assert_eq!(
        key_of(Cors::new().allow_methods([Method::from_bytes(b"TRACE").unwrap()])),
        "allow_methods[0]"
    );
}

#[test]
#[allow(deprecated)]
fn max_age_is_a_deprecated_alias_of_preflight_max_age() {
    let p = policy(Cors::new().max_age(Duration::from_secs(120)));
    assert_eq!(p.max_age, "120");
    let p = policy(Cors::new().preflight_max_age(Duration::from_secs(90)));
    assert_eq!(p.max_age, "90");
    assert_eq!(
        key_of(Cors::new().max_age(Duration::from_secs(86_401))),
        "preflight_max_age"
    );
}

#[cfg(feature = "config")]
#[test]
fn toml_max_age_is_an_alias_of_preflight_max_age() {
    let file = |cors: &str| {
        format!("[[issuers]]\nsecret = \"0123456789abcdef0123456789abcdef\"\n[cors]\n{cors}\n")
    };
    // Either spelling builds (its value reaching the preflight answer is checked over HTTP,
    // in tests/hardening.rs).
    for line in ["preflight_max_age = \"2m\"", "max_age = \"3m\""] {
        crate::Config::from_toml(&file(line))
            .unwrap()
            .build()
            .unwrap();
    }
    for (line, key) in [
        ("preflight_max_age = \"25h\"", "cors.preflight_max_age"),
        ("max_age = \"25h\"", "cors.max_age"),
        ("preflight_max_age = \"1x\"", "cors.preflight_max_age"),
        (
            "max_age = \"2m\"\npreflight_max_age = \"2m\"",
            "cors.max_age",
        ),
    ] {
        let err = crate::Config::from_toml(&file(line)).unwrap_err();
        assert_eq!(err.key(), Some(key), "{line}: {err}");
    }
}
