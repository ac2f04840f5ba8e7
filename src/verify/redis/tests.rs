//! The parts of `RedisReplayStore` that need no server: keys, TTLs, URLs, redaction, bounds.
//! The behaviour against a real `redis-server` is in `tests/it/replicas.rs` and
//! `tests/replicas.rs`.

use super::*;

fn store(url: &str) -> RedisReplayStore {
    RedisReplayStore::builder(url).build().unwrap()
}

#[test]
fn keys_are_unambiguous_and_hold_only_the_issuer_and_the_jti() {
    let s = store("redis://127.0.0.1:1");
    assert_eq!(s.key("pandium", "abc"), "jwt-guard:7:pandium:abc");
    assert_ne!(s.key("a:b", "c"), s.key("a", "b:c"));
    assert_ne!(s.key("a", "1:b:c"), s.key("a:1:b", "c"));
    let s = RedisReplayStore::builder("redis://h")
        .key_prefix("x/")
        .build()
        .unwrap();
    assert_eq!(s.key("", ""), "x/0::");
}

#[test]
fn ttl_runs_to_the_end_of_the_token_and_is_never_zero() {
    assert_eq!(ttl_ms(130.0, 100.0), 30_000);
    assert_eq!(ttl_ms(100.0005, 100.0), 1_000);
    assert_eq!(ttl_ms(1000.0004, 100.0), 900_001);
    assert_eq!(ttl_ms(50.0, 100.0), 1_000);
    assert_eq!(ttl_ms(f64::NAN, 100.0), 1_000);
    assert_eq!(ttl_ms(f64::INFINITY, 0.0), u64::from(u32::MAX) * 1000);
}

#[test]
fn urls_are_checked_and_never_repeated() {
    for ok in [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@localhost",
        "rediss://user:pw@redis.example:6380/2",
        "redis://[::1]:6379/",
    ] {
        assert!(RedisReplayStore::builder(ok).build().is_ok(), "{ok}");
    }
    for bad in [
        "http://:hunter2@127.0.0.1:6379",
        "redis://:hunter2@/0",
        "redis:hunter2",
        "redis://:hunter2@127.0.0.1:6379/db",
        "redis://:hunter2@127.0.0.1:6379/0/1",
        "127.0.0.1:6379",
        "",
    ] {
        let err = RedisReplayStore::builder(bad).build().unwrap_err();
        assert_eq!(err.key(), Some("redis_url"), "{bad}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[test]
fn debug_shows_the_target_without_credentials() {
    let url = "redis://admin:s3cr%40t-pw@127.0.0.1:6390/3";
    let s = store(url);
    let debug = format!("{s:?}");
    assert!(debug.contains("redis://127.0.0.1:6390/3"), "{debug}");
    assert!(
        !debug.contains("s3cr") && !debug.contains("admin"),
        "{debug}"
    );
    let builder = format!("{:?}", RedisReplayStore::builder(url));
    assert!(!builder.contains("s3cr"), "{builder}");
    // The password is scrubbed from error texts, as written and decoded.
    let text = s
        .inner
        .scrub("AUTH s3cr%40t-pw / s3cr@t-pw failed".to_owned());
    assert_eq!(text, "AUTH [redacted] / [redacted] failed");
}

#[test]
fn timeout_and_prefix_are_bounded() {
    let err = RedisReplayStore::builder("redis://h")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("timeout"));
    let err = RedisReplayStore::builder("redis://h")
        .timeout(Duration::from_millis(5001))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("timeout"));
    assert!(
        RedisReplayStore::builder("redis://h")
            .timeout(MAX_TIMEOUT)
            .build()
            .is_ok()
    );
    let err = RedisReplayStore::builder("redis://h")
        .key_prefix("p".repeat(257))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("key_prefix"));
}

#[tokio::test]
async fn a_store_without_a_server_is_unavailable_within_its_timeout() {
    // A port nothing listens on: refused at once, well within the timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let s = RedisReplayStore::builder(format!("redis://127.0.0.1:{port}"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let verdict = tokio::time::timeout(
        Duration::from_secs(10),
        s.check_and_record("i", "j", 100.0, 10.0),
    )
    .await
    .expect("bounded by the store's timeout");
    assert_eq!(verdict, ReplayVerdict::Unavailable);
    assert!(!s.ready().await);
}
