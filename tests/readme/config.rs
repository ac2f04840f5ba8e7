fn main() -> Result<(), jwt_guard::ConfigError> {
    let config = jwt_guard::Config::from_toml(
        r#"
        listen = "127.0.0.1:8080"
        [[issuers]]
        name = "pandium"
        secret = "an-hmac-secret-of-at-least-32-bytes!!"
        required_claims = []
        max_age = "5m"
        replay = "reject"
        [token]
        sources = ["query:tenant", "header"]
        "#,
    )?;
    assert_eq!(config.listen().port(), 8080);
    let _guard = config.build()?;

    // Unknown keys are errors, and every error names its key.
    let err = jwt_guard::Config::from_toml("[[issuers]]\nsecret = \"too short\"\n")
        .and_then(|config| config.build())
        .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].secret"));
    Ok(())
}
