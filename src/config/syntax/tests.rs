use crate::config::Config;
use crate::error::ConfigError;

/// A value no message may ever contain, in any of its forms.
const SECRET: &str = "s3cr3t-VALUE-0123456789abcdefghijkl";

/// The error of `text`, checked for the secret in its `Display` and `Debug`.
fn err(text: &str) -> String {
    let e = match Config::from_toml(text) {
        Ok(config) => config.build().map(|_| ()).unwrap_err(),
        Err(e) => e,
    };
    let shown = e.to_string();
    let debug = format!("{e:?}");
    for leak in [SECRET, "s3cr3t", "0123456789abcdef", "hunter2"] {
        assert!(!shown.contains(leak), "{leak} in {shown}");
        assert!(!debug.contains(leak), "{leak} in {debug:?}");
    }
    shown
}

#[test]
fn a_misspelt_key_next_to_a_secret_names_the_key_and_line_only() {
    let shown = err(&format!(
        "[[issuers]]\nsecret = \"{SECRET}\"\nrequried_claims = []\n"
    ));
    assert!(shown.contains("line 3, column 1"), "{shown}");
    assert!(shown.contains("unknown field `requried_claims`"), "{shown}");
    assert!(shown.contains("issuers[0]"), "{shown}");
    // The misspelt key is the secret's own.
    let shown = err(&format!("[[issuers]]\nsecrte = \"{SECRET}\"\n"));
    assert!(shown.contains("unknown field `secrte`"), "{shown}");
    assert!(shown.contains("key `issuers[0].secrte`"), "{shown}");
}

#[test]
fn a_bad_escape_in_the_secret_is_located_not_echoed() {
    for text in [
        format!("[[issuers]]\nsecret = \"{SECRET}\\q\"\n"),
        format!("[[issuers]]\nsecret = \"\\q{SECRET}\"\n"),
        format!("[[issuers]]\nsecret = \"{SECRET}\\u12\"\n"),
        format!("[[issuers]]\nsecret = \"\"\"\n{SECRET}\nhunter2\\q\n\"\"\"\n"),
    ] {
        let shown = err(&text);
        assert!(shown.starts_with("invalid configuration: line "), "{shown}");
    }
    // In a multi-line string the line inside is never taken for a key.
    let shown = err(&format!(
        "[[issuers]]\nsecret = \"\"\"\nhunter2 = {SECRET}\\q\n\"\"\"\n"
    ));
    assert!(shown.contains("line 3"), "{shown}");
    assert!(shown.contains("missing escaped value"), "{shown}");
    assert!(shown.contains("key `issuers[0]`:"), "{shown}");
}

#[test]
fn wrong_types_and_duplicates_do_not_print_the_value() {
    for text in [
        // A secret where a list belongs.
        format!("[[issuers]]\nsecret = \"x\"\nalgorithms = \"{SECRET}\"\n"),
        format!("[[issuers]]\nsecret = [\"{SECRET}\"]\n"),
        format!("[[issuers]]\nsecret = {{ value = \"{SECRET}\" }}\n"),
        format!("[[issuers]]\nsecret = \"{SECRET}\"\nsecret = \"hunter2\"\n"),
        format!("[[issuers]]\nsecret = \"{SECRET}\"\n[cors]\nmax_age = 10\n"),
        format!("[[issuers]]\nsecret_env = \"{SECRET}\" trailing\n"),
        format!("[[issuers]]\nsecret = '{SECRET}\n"),
        format!("[[issuers]]\nsecret = \"{SECRET}\n"),
        format!("[[issuers]]\nname = \"hunter2\" secret = \"{SECRET}\"\n"),
        format!("[[issuers]]\nleeway = 5\nsecret = \"{SECRET}\"\n"),
        format!("listen = 1234567890123\n[[issuers]]\nsecret = \"{SECRET}\"\n"),
        format!("[[issuers]]\nreplay = \"{SECRET}\"\nsecret = \"{SECRET}\"\n"),
    ] {
        err(&text);
    }
    let shown = err(&format!(
        "[[issuers]]\nsecret = \"{SECRET}\"\nsecret = \"hunter2\"\n"
    ));
    assert!(shown.contains("line 3"), "{shown}");
    assert!(shown.contains("duplicate key"), "{shown}");
    let shown = err(&format!("[[issuers]]\nsecret = [\"{SECRET}\"]\n"));
    assert!(shown.contains("key `issuers[0].secret`"), "{shown}");
    assert!(shown.contains("invalid type"), "{shown}");
}

#[test]
fn secrets_too_short_and_env_values_are_never_printed() {
    let shown = err("[[issuers]]\nsecret = \"hunter2\"\n");
    assert!(shown.contains("issuers[0].secret"), "{shown}");
    // A short `secret_env` value is checked over `serve` (tests/hardening.rs): setting a
    // variable here would need `unsafe`.
}

#[test]
fn urls_with_a_password_are_never_printed() {
    for key in ["jwks_url", "oidc_issuer"] {
        for url in [
            "https://user:hunter2@keys.example/jwks.json",
            "http://user:hunter2@keys.example/jwks.json",
            "ftp://user:hunter2@keys.example/",
            "https://user:hunter2@/x",
            "https://:hunter2@keys.example:99999/",
        ] {
            let shown = err(&format!("[[issuers]]\n{key} = \"{url}\"\n"));
            assert!(shown.contains(key), "{shown}");
        }
    }
}

#[test]
fn the_message_is_one_line_and_the_kind_is_kept() {
    let e = Config::from_toml("[[issuers]\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }));
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn sanitise_keeps_key_names_and_punctuation_only() {
    use super::sanitise;
    assert_eq!(
        sanitise("unknown field `secrte`, expected `secret` or `name`"),
        "unknown field `secrte`, expected `secret` or `name`"
    );
    assert_eq!(
        sanitise("invalid type: string \"hunter2\", expected a sequence"),
        "invalid type: string \"…\", expected a sequence"
    );
    assert_eq!(
        sanitise("invalid type: integer `42`, expected a string"),
        "invalid type: integer `…`, expected a string"
    );
    assert_eq!(sanitise("expected `=`"), "expected `=`");
    assert_eq!(sanitise("expected `b`, `\\`"), "expected `b`, `\\`");
    assert_eq!(sanitise("expected `ab`"), "expected `…`");
    assert_eq!(sanitise("unbalanced `hunter2"), "unbalanced …");
    assert_eq!(sanitise("unknown variant `hunter2`"), "unknown variant `…`");
}
