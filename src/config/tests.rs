//! The configuration file: every key of the serve contract parses and maps onto the builder;
//! every mistake is an error that names its key.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::issuer::KeySpec;
use crate::reject::Reason;

const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ3DZMGUebPtHXapyl0xzGv3Hh8NC
Zq5NprqfgiPrLZJ11SvxBtmHBcpiFuCSDUhoCM7A2HsCfNh0Zzcqe56KZA==
-----END PUBLIC KEY-----
";

/// 64 bytes: enough for HS512.
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Every key of the contract, with loopback URLs.
fn full_config() -> String {
    format!(
        r#"
listen = "127.0.0.1:9090"
realm = "orders api"

[[issuers]]
name = "appdirect"
jwks_url = "http://127.0.0.1:9/.well-known/jwks.json"
algorithms = ["RS256", "ES256", "PS256"]
issuer = "https://marketplace.example"
audiences = ["orders-api", "billing"]
tenant_claim = "ti.aid"
tenants = ["PARTNER_ID", "42"]
required_claims = ["exp", "sub"]
leeway = "45s"
max_lifetime = "10m"
max_age = "5m"
refresh_cooldown = "2m"
replay = "reject"
origins = ["https://marketplace.example"]
tenant_origins = {{ "PARTNER_ID" = ["https://partner.marketplace.example"], "42" = ["http://localhost:3000"] }}

[[issuers]]
name = "pandium"
secret = "{SECRET}"
algorithms = ["HS512", "HS256"]
required_claims = []
max_age = "250ms"
replay = "reject"

[[issuers]]
name = "fixed"
public_key_pem = """{PEM}"""
issuer = "https://fixed.example"
leeway = "5m"

[token]
sources = ["header", "cookie:session", "query:access_token"]

[cors]
allow_origins = ["https://marketplace.example", "https://*.marketplace.example"]
allow_credentials = true
allow_methods = ["GET", "POST", "PUT", "DELETE"]
allow_headers = ["authorization", "content-type", "x-request-id"]
expose_headers = ["x-request-id"]
max_age = "2h"
"#
    )
}

/// The builder a user would write by hand for [`full_config`].
fn full_builder() -> JwtGuardBuilder {
    JwtGuard::builder()
        .realm("orders api")
        .issuer(
            Issuer::jwks("http://127.0.0.1:9/.well-known/jwks.json")
                .name("appdirect")
                .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::PS256])
                .issuer("https://marketplace.example")
                .audiences(["orders-api", "billing"])
                .tenant_claim("ti.aid")
                .tenants(["PARTNER_ID", "42"])
                .required_claims(["exp", "sub"])
                .leeway(Duration::from_secs(45))
                .max_lifetime(Duration::from_secs(600))
                .max_age(Duration::from_secs(300))
                .refresh_cooldown(Duration::from_secs(120))
                .reject_replays()
                .origins(["https://marketplace.example"])
                .tenant_origins("42", ["http://localhost:3000"])
                .tenant_origins("PARTNER_ID", ["https://partner.marketplace.example"]),
        )
        .issuer(
            Issuer::secret(SECRET)
                .name("pandium")
                .algorithms([Algorithm::HS512, Algorithm::HS256])
                .required_claims(Vec::<String>::new())
                .max_age(Duration::from_millis(250))
                .reject_replays(),
        )
        .issuer(
            Issuer::public_key_pem(PEM)
                .name("fixed")
                .issuer("https://fixed.example")
                .leeway(Duration::from_secs(300)),
        )
        .token_sources([
            TokenSource::Header,
            TokenSource::Cookie("session".into()),
            TokenSource::Query("access_token".into()),
        ])
        .cors(
            Cors::new()
                .allow_origins([
                    "https://marketplace.example",
                    "https://*.marketplace.example",
                ])
                .allow_credentials(true)
                .allow_methods(["GET", "POST", "PUT", "DELETE"])
                .allow_headers(["authorization", "content-type", "x-request-id"])
                .expose_headers(["x-request-id"])
                .preflight_max_age(Duration::from_secs(7200)),
        )
}

fn parse_err(text: &str) -> ConfigError {
    Config::from_toml(text).unwrap_err()
}

fn build_err(text: &str) -> ConfigError {
    Config::from_toml(text).unwrap().build().unwrap_err()
}

/// One issuer with a secret plus `extra` lines in its table.
fn issuer_with(extra: &str) -> String {
    format!("[[issuers]]\nsecret = \"{SECRET}\"\n{extra}\n")
}

fn the_issuers(text: &str) -> Vec<Issuer> {
    let file: File = toml::from_str(text).unwrap();
    file.issuers
        .into_iter()
        .map(|i| i.into_issuer().unwrap())
        .collect()
}

fn hs_token(alg: &str, secret: &[u8], claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let digest = match alg {
        "HS512" => aws_lc_rs::hmac::HMAC_SHA512,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA256,
    };
    let key = aws_lc_rs::hmac::Key::new(digest, secret);
    let signature = URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()));
    format!("{input}.{signature}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn every_key_of_the_contract_maps_onto_the_builder() {
    let config = Config::from_toml(&full_config()).unwrap();
    assert_eq!(
        config.listen(),
        "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
    );
    // The builder's Debug shows issuers (every setting), token sources, realm and CORS.
    assert_eq!(
        format!("{:?}", config.into_builder()),
        format!("{:?}", full_builder())
    );
}

#[test]
fn key_material_maps_byte_for_byte() {
    // Debug redacts secrets and PEMs, so they are compared here.
    let issuers = the_issuers(&full_config());
    assert!(
        matches!(&issuers[0].keys, KeySpec::Jwks(url) if url.as_str() == "http://127.0.0.1:9/.well-known/jwks.json")
    );
    assert!(matches!(&issuers[1].keys, KeySpec::Secret(s) if &s[..] == SECRET.as_bytes()));
    assert!(matches!(&issuers[2].keys, KeySpec::Pem(p) if p == PEM));
    let issuers = the_issuers("[[issuers]]\nsecret_env = \"PANDIUM_SECRET\"\n");
    assert!(matches!(&issuers[0].keys, KeySpec::SecretEnv(v) if v == "PANDIUM_SECRET"));
}

#[test]
fn the_full_config_builds() {
    let guard = Config::from_toml(&full_config()).unwrap().build().unwrap();
    let names: Vec<String> = guard.readiness().into_iter().map(|r| r.issuer).collect();
    assert_eq!(names, ["appdirect", "pandium", "fixed"]);
}

#[tokio::test]
async fn the_mapped_settings_take_effect() {
    let guard = Config::from_toml(&full_config()).unwrap().build().unwrap();
    let now = now();
    // pandium: the configured secret, HS512 allowed, `exp` not required, `iat` required by
    // max_age, `jti` by replay.
    let claims = json!({"sub": "u1", "iat": now, "jti": "j-1"});
    let token = hs_token("HS512", SECRET.as_bytes(), &claims);
    let who = guard.verify(&token).await.unwrap();
    assert_eq!(who.issuer_name(), "pandium");
    assert_eq!(who.subject(), Some("u1"));
    // replay = "reject"
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::Replayed
    );
    // HS384 is not in `algorithms`.
    let token = hs_token(
        "HS384",
        SECRET.as_bytes(),
        &json!({"iat": now, "jti": "j-2"}),
    );
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::AlgorithmNotAllowed
    );
    // Another secret.
    let token = hs_token("HS256", &[7u8; 64], &json!({"iat": now, "jti": "j-3"}));
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::BadSignature
    );
    // max_age = "250ms" (+ 30 s default leeway): a token issued a minute ago is too old.
    let token = hs_token(
        "HS256",
        SECRET.as_bytes(),
        &json!({"iat": now - 60, "jti": "j-4"}),
    );
    assert_eq!(
        guard.verify(&token).await.unwrap_err().reason(),
        Reason::TooOld
    );
}

#[test]
fn defaults() {
    let text = issuer_with("");
    let config = Config::from_toml(&text).unwrap();
    assert_eq!(
        config.listen(),
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    let expected = JwtGuard::builder().issuer(Issuer::secret(SECRET));
    assert_eq!(
        format!("{:?}", config.into_builder()),
        format!("{expected:?}")
    );
    // The same, spelled out.
    let builder = Config::from_toml(&format!(
        "listen = \"127.0.0.1:8080\"\nrealm = \"jwt-guard\"\n{}[token]\nsources = [\"header\"]\n",
        issuer_with("")
    ))
    .unwrap()
    .into_builder();
    assert_eq!(format!("{builder:?}"), format!("{expected:?}"));
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let cases = [
        format!("bogus_top = 1\n{}", issuer_with("")),
        issuer_with("bogus_issuer = \"x\""),
        format!("{}[token]\nbogus_token = []\n", issuer_with("")),
        format!(
            "{}[cors]\nallow_origins = []\nbogus_cors = true\n",
            issuer_with("")
        ),
        // A table the contract does not know.
        format!("{}[bogus_table]\n", issuer_with("")),
        // A near miss of a real key.
        issuer_with("tenant_claims = \"tenant\""),
    ];
    for (text, key) in cases.iter().zip([
        "bogus_top",
        "bogus_issuer",
        "bogus_token",
        "bogus_cors",
        "bogus_table",
        "tenant_claims",
    ]) {
        let err = parse_err(text);
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("unknown field `{key}`")),
            "{message}"
        );
    }
}

#[test]
fn bad_durations_name_their_key() {
    for (extra, key) in [
        ("leeway = \"5\"", "issuers[0].leeway"),
        ("max_lifetime = \"m\"", "issuers[0].max_lifetime"),
        ("max_age = \"1.5s\"", "issuers[0].max_age"),
        ("leeway = \"-1s\"", "issuers[0].leeway"),
        ("leeway = \"5 m\"", "issuers[0].leeway"),
    ] {
        let err = parse_err(&issuer_with(extra));
        assert_eq!(err.key(), Some(key), "{extra}: {err}");
        assert!(
            err.to_string().starts_with(&format!("invalid `{key}`: ")),
            "{err}"
        );
    }
    let err =
        parse_err("[[issuers]]\njwks_url = \"http://localhost:1/j\"\nrefresh_cooldown = \"30\"\n");
    assert_eq!(err.key(), Some("issuers[0].refresh_cooldown"));
    let err = parse_err(&format!(
        "{}[cors]\nmax_age = \"10 minutes\"\n",
        issuer_with("")
    ));
    assert_eq!(err.key(), Some("cors.max_age"));
    // The position of the issuer is part of the key.
    let err = parse_err(&format!(
        "{}{}",
        issuer_with(""),
        issuer_with("leeway = \"1d\"")
    ));
    assert_eq!(err.key(), Some("issuers[1].leeway"));
    // A duration that is not a string is a type error of the file.
    let err = parse_err(&issuer_with("leeway = 30"));
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
}

#[test]
fn durations() {
    for (text, want) in [
        ("250ms", Duration::from_millis(250)),
        ("30s", Duration::from_secs(30)),
        ("5m", Duration::from_secs(300)),
        ("2h", Duration::from_secs(7200)),
        ("0s", Duration::ZERO),
    ] {
        assert_eq!(duration(text, "k").unwrap(), want, "{text}");
    }
    for bad in [
        "5",
        "m",
        "1.5s",
        "-1s",
        "5 m",
        " 5s",
        "5s ",
        "",
        "5S",
        "5d",
        "5sec",
        "+5s",
        "1e3s",
        "٥s",
        "99999999999999999999s",
        "18446744073709551615h",
    ] {
        let err = duration(bad, "issuers[0].leeway").unwrap_err();
        assert_eq!(err.key(), Some("issuers[0].leeway"), "{bad:?}");
    }
}

#[test]
fn exactly_one_key_source() {
    let none = parse_err("[[issuers]]\nname = \"x\"\n");
    assert_eq!(none.key(), Some("issuers[0]"));
    assert!(none.to_string().contains("jwks_url"), "{none}");
    assert!(none.to_string().contains("secret_env"), "{none}");

    let two = parse_err(&format!(
        "[[issuers]]\njwks_url = \"http://localhost:1/j\"\nsecret = \"{SECRET}\"\n"
    ));
    assert_eq!(two.key(), Some("issuers[0].secret"), "{two}");
    assert!(
        two.to_string().contains("`jwks_url` is set as well"),
        "{two}"
    );
    let two = parse_err(&format!(
        "{}[[issuers]]\nsecret = \"{SECRET}\"\nsecret_env = \"X\"\n",
        issuer_with("")
    ));
    assert_eq!(two.key(), Some("issuers[1].secret_env"), "{two}");
    let four = parse_err(&format!(
        "[[issuers]]\njwks_url = \"http://localhost:1/j\"\npublic_key_pem = \"\"\"{PEM}\"\"\"\nsecret = \"{SECRET}\"\nsecret_env = \"X\"\n"
    ));
    assert_eq!(four.key(), Some("issuers[0].public_key_pem"), "{four}");

    let no_issuers = parse_err("listen = \"127.0.0.1:0\"\n");
    assert_eq!(no_issuers.key(), Some("issuers"));
}

#[test]
fn secret_env_unset_names_the_key() {
    let err = build_err("[[issuers]]\nsecret_env = \"JWT_GUARD_CONFIG_TEST_SURELY_UNSET\"\n");
    assert_eq!(err.key(), Some("issuers[0].secret_env"));
    assert_eq!(
        err.to_string(),
        "invalid `issuers[0].secret_env`: environment variable JWT_GUARD_CONFIG_TEST_SURELY_UNSET is not set"
    );
}

#[test]
fn replay_needs_exp_or_max_age() {
    let err = build_err(&issuer_with("required_claims = []\nreplay = \"reject\""));
    assert_eq!(err.key(), Some("issuers[0].replay"), "{err}");
    // With the default required `exp`, or with max_age, it builds.
    Config::from_toml(&issuer_with("replay = \"reject\""))
        .unwrap()
        .build()
        .unwrap();
    Config::from_toml(&issuer_with(
        "required_claims = []\nmax_age = \"5m\"\nreplay = \"reject\"",
    ))
    .unwrap()
    .build()
    .unwrap();
    let err = parse_err(&issuer_with("replay = \"allow\""));
    assert_eq!(err.key(), Some("issuers[0].replay"));
}

#[test]
fn bad_token_sources_name_their_index() {
    for (sources, key) in [
        ("[\"bearer\"]", "token.sources[0]"),
        ("[\"header\", \"cookie:\"]", "token.sources[1]"),
        ("[\"header\", \"query:a b\"]", "token.sources[1]"),
        ("[\"Header\"]", "token.sources[0]"),
    ] {
        let err = parse_err(&format!(
            "{}[token]\nsources = {sources}\n",
            issuer_with("")
        ));
        assert_eq!(err.key(), Some(key), "{sources}: {err}");
    }
    let err = build_err(&format!("{}[token]\nsources = []\n", issuer_with("")));
    assert_eq!(err.key(), Some("token.sources"));
    let err = build_err(&format!(
        "{}[token]\nsources = [\"header\", \"header\"]\n",
        issuer_with("")
    ));
    assert_eq!(err.key(), Some("token.sources[1]"));
}

#[test]
fn other_bad_values_name_their_key() {
    let cases: Vec<(String, &str)> = vec![
        (
            format!("listen = \"localhost\"\n{}", issuer_with("")),
            "listen",
        ),
        (
            issuer_with("algorithms = [\"HS256\", \"none\"]"),
            "issuers[0].algorithms[1]",
        ),
        (
            "[[issuers]]\njwks_url = \"http://marketplace.example/jwks.json\"\n".to_owned(),
            "issuers[0].jwks_url",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(parse_err(&text).key(), Some(key), "{text}");
    }
    let cases: Vec<(String, &str)> = vec![
        (format!("realm = \"a\\\"b\"\n{}", issuer_with("")), "realm"),
        (issuer_with("leeway = \"6m\""), "issuers[0].leeway"),
        (
            issuer_with("algorithms = [\"RS256\"]"),
            "issuers[0].algorithms",
        ),
        (issuer_with("tenants = [\"a\"]"), "issuers[0].tenants"),
        (
            format!(
                "{}{}",
                issuer_with("name = \"a\""),
                issuer_with("name = \"a\"")
            ),
            "issuers[1].name",
        ),
        (
            "[[issuers]]\nsecret = \"short\"\n".to_owned(),
            "issuers[0].secret",
        ),
        (
            format!("[[issuers]]\npublic_key_pem = \"\"\"{PEM}\"\"\"\nalgorithms = [\"RS256\"]\n"),
            "issuers[0].algorithms",
        ),
        (
            format!(
                "{}[cors]\nallow_origins = [\"https://a.example\", \"http://b.example\"]\n",
                issuer_with("")
            ),
            "cors.allow_origins[1]",
        ),
        (
            format!(
                "{}[cors]\nallow_methods = [\"GET\", \"*\"]\n",
                issuer_with("")
            ),
            "cors.allow_methods[1]",
        ),
    ];
    for (text, key) in cases {
        let err = build_err(&text);
        assert_eq!(err.key(), Some(key), "{text}: {err}");
    }
    // The preflight cache time is checked as the file spells its key.
    let err = parse_err(&format!("{}[cors]\nmax_age = \"25h\"\n", issuer_with("")));
    assert_eq!(err.key(), Some("cors.max_age"), "{err}");
}

#[test]
fn io_and_syntax_errors() {
    let err = Config::load("/nonexistent/jwt-guard/guard.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/jwt-guard/guard.toml: "),
        "{err}"
    );
    let err = parse_err("[[issuers]\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
}

#[test]
fn oidc_issuer_is_a_key_source_and_sets_the_issuer() {
    let ok = Config::from_toml("[[issuers]]\noidc_issuer = \"https://login.example\"\n");
    assert!(ok.is_ok(), "{:?}", ok.err());
    let same = Config::from_toml(
        "[[issuers]]\noidc_issuer = \"https://login.example\"\nissuer = \"https://login.example\"\n",
    );
    assert!(same.is_ok());
    let differs = parse_err(
        "[[issuers]]\noidc_issuer = \"https://login.example\"\nissuer = \"https://other.example\"\n",
    );
    assert_eq!(differs.key(), Some("issuers[0].issuer"), "{differs}");
    let http = parse_err("[[issuers]]\noidc_issuer = \"http://login.example\"\n");
    assert_eq!(http.key(), Some("issuers[0].oidc_issuer"), "{http}");
    let two = parse_err(&format!(
        "[[issuers]]\noidc_issuer = \"https://login.example\"\nsecret = \"{SECRET}\"\n"
    ));
    assert_eq!(two.key(), Some("issuers[0].oidc_issuer"), "{two}");
}
