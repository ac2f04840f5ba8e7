//! `[replay_store]`: every key parses, every mistake names its key, and no error or `Debug`
//! ever holds the URL's password.

use crate::config::Config;
use crate::error::ConfigError;

const PASSWORD: &str = "hunter2-redis-password";

fn with_store(table: &str) -> String {
    format!(
        "[[issuers]]\nsecret = \"0123456789abcdef0123456789abcdef\"\nreplay = \"reject\"\n[replay_store]\n{table}\n"
    )
}

fn parse_err(text: &str) -> ConfigError {
    Config::from_toml(text).expect_err("a config error")
}

/// Neither the message nor the `Debug` of `err` holds the password.
fn assert_no_password(err: &ConfigError) {
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[cfg(feature = "redis")]
#[test]
fn every_key_of_the_table_parses_and_nothing_connects_at_build() {
    // Nothing listens on port 1: building does not connect.
    let config = Config::from_toml(&with_store(&format!(
        "redis_url = \"redis://user:{PASSWORD}@127.0.0.1:1/2\"\nkey_prefix = \"orders:\"\ntimeout = \"5s\""
    )))
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    let guard = config.build().unwrap();
    let debug = format!("{guard:?}");
    assert!(debug.contains("RedisReplayStore"), "{debug}");
    assert!(debug.contains("redis://127.0.0.1:1/2"), "{debug}");
    assert!(
        !debug.contains(PASSWORD) && !debug.contains("hunter2"),
        "{debug}"
    );
    for table in [
        "redis_url = \"rediss://127.0.0.1\"",
        "redis_url = \"redis://localhost:6379\"\ntimeout = \"1ms\"",
        "redis_url = \"redis://localhost/15\"\nkey_prefix = \"\"",
    ] {
        let config = Config::from_toml(&with_store(table));
        assert!(config.is_ok(), "{table}: {:?}", config.err());
    }
}

#[cfg(feature = "redis")]
#[test]
fn a_malformed_url_names_replay_store_redis_url_and_hides_the_password() {
    for url in [
        format!("http://:{PASSWORD}@127.0.0.1:6379"),
        format!("redis://:{PASSWORD}@/0"),
        format!("redis:{PASSWORD}"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/zero"),
        format!("{PASSWORD}@127.0.0.1:6379"),
        String::new(),
    ] {
        let err = parse_err(&with_store(&format!("redis_url = \"{url}\"")));
        assert_eq!(err.key(), Some("replay_store.redis_url"), "{err}");
        assert_no_password(&err);
    }
}

#[cfg(feature = "redis")]
#[test]
fn the_url_from_the_environment_is_checked_and_never_shown() {
    // PATH is set in every test process and is not a Redis URL: the error names the key that
    // points to it and does not repeat the value.
    let path = std::env::var("PATH").unwrap();
    let err = parse_err(&with_store("redis_url_env = \"PATH\""));
    assert_eq!(err.key(), Some("replay_store.redis_url_env"), "{err}");
    assert!(!err.to_string().contains(&path), "{err}");
    let err = parse_err(&with_store(
        "redis_url_env = \"JWT_GUARD_REPLAY_STORE_TEST_SURELY_UNSET\"",
    ));
    assert_eq!(err.key(), Some("replay_store.redis_url_env"), "{err}");
    assert!(err.to_string().contains("is not set"), "{err}");
}

#[cfg(feature = "redis")]
#[test]
fn exactly_one_url_key_and_a_bounded_timeout() {
    let err = parse_err(&with_store(&format!(
        "redis_url = \"redis://:{PASSWORD}@h\"\nredis_url_env = \"REDIS_URL\""
    )));
    assert_eq!(err.key(), Some("replay_store.redis_url_env"), "{err}");
    assert_no_password(&err);
    let err = parse_err(&with_store("key_prefix = \"p:\""));
    assert_eq!(err.key(), Some("replay_store.redis_url"), "{err}");
    for (timeout, key) in [
        ("6s", "replay_store.timeout"),
        ("5001ms", "replay_store.timeout"),
        ("0ms", "replay_store.timeout"),
        ("250", "replay_store.timeout"),
    ] {
        let err = parse_err(&with_store(&format!(
            "redis_url = \"redis://:{PASSWORD}@h\"\ntimeout = \"{timeout}\""
        )));
        assert_eq!(err.key(), Some(key), "{timeout}: {err}");
        assert_no_password(&err);
    }
    let err = parse_err(&with_store(&format!(
        "redis_url = \"redis://:{PASSWORD}@h\"\nkey_prefix = \"{}\"",
        "p".repeat(300)
    )));
    assert_eq!(err.key(), Some("replay_store.key_prefix"), "{err}");
}

#[test]
fn syntax_errors_name_the_line_but_never_repeat_it() {
    // An unknown key, a value of the wrong type and broken TOML on the line of the password.
    for table in [
        format!("redis_url = \"redis://:{PASSWORD}@h\"\nbogus = 1"),
        format!("redis_url = \"redis://:{PASSWORD}@h\" trailing"),
        format!("redis_url = [\"redis://:{PASSWORD}@h\"]"),
        format!("redis_url = \"redis://:{PASSWORD}@h"),
    ] {
        let err = parse_err(&with_store(&table));
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().contains("line "), "{err}");
        assert_no_password(&err);
    }
    let err = parse_err(&with_store("redis_url = \"redis://h\"\nbogus = 1"));
    assert!(
        err.to_string()
            .contains("line 6, column 1, key `replay_store.bogus`: unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn without_the_feature_the_table_is_an_error_that_says_so() {
    let err = super::without_redis_feature().within("replay_store");
    assert_eq!(err.key(), Some("replay_store"));
    assert!(err.to_string().contains("`redis` feature"), "{err}");
    #[cfg(not(feature = "redis"))]
    {
        let err = parse_err(&with_store("redis_url = \"redis://h\""));
        assert_eq!(err.key(), Some("replay_store"), "{err}");
        assert!(err.to_string().contains("`redis` feature"), "{err}");
    }
}
