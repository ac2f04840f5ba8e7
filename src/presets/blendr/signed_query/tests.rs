//! The signed query verifier against vectors computed independently in Python: hash placement,
//! tampering, malformed queries, freshness, replay (and a full store), settings, redaction.

use http::StatusCode;

use super::*;
use crate::clock::ManualClock;

const KEY: &str = "blendr-partner-api-key-0123456789abcdef";
const TS: u64 = 1_700_000_000;

// Computed independently with Python 3.11 (urllib.parse, hmac, hashlib), as Blendr's
// document shows:
//   key = "blendr-partner-api-key-0123456789abcdef"
//   q = urllib.parse.urlencode({'accountid': 123, 'accountname': 'John', 'userid': 456,
//                               'timestamp': 1700000000})
//   hmac.new(key.encode(), q.encode(), hashlib.sha256).hexdigest()
const VECTOR_1: &str = "accountid=123&accountname=John&userid=456&timestamp=1700000000";
const HASH_1: &str = "627106cd7a0eb96dc4cb11f18bbf8e1d99442c7fcd032bda9e0e3d623eb6eb21";
//   q = urllib.parse.urlencode({'accountid': 'acme-42', 'accountname': 'ACME & Co',
//       'userid': 456, 'username': 'Jane Doe', 'useremail': 'jane.doe+sso@example.com',
//       'timestamp': 1700000000, 'apikey': 'k3y/with=chars'})
const VECTOR_2: &str = "accountid=acme-42&accountname=ACME+%26+Co&userid=456&username=Jane+Doe&useremail=jane.doe%2Bsso%40example.com&timestamp=1700000000&apikey=k3y%2Fwith%3Dchars";
const HASH_2: &str = "5990556f25f6402920f7656b7b30760ae98ec85b75d4af3c28e54f8bb82ccee3";

fn verifier(clock: &ManualClock) -> BlendrSignedQuery {
    BlendrSignedQuery::builder(KEY)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn sign(query: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, KEY.as_bytes()),
        query.as_bytes(),
    );
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

async fn reason(v: &BlendrSignedQuery, query: &str) -> Reason {
    v.verify(query).await.unwrap_err().reason()
}

#[test]
fn the_signing_here_matches_the_python_vectors() {
    assert_eq!(sign(VECTOR_1), HASH_1);
    assert_eq!(sign(VECTOR_2), HASH_2);
}

#[tokio::test]
async fn python_vectors_verify_and_decode() {
    let clock = ManualClock::at(TS + 10);
    let v = verifier(&clock);
    let who = v
        .verify(&format!("?{VECTOR_1}&hash={HASH_1}"))
        .await
        .unwrap();
    assert_eq!(who.accountid(), "123");
    assert_eq!(who.accountname(), Some("John"));
    assert_eq!(who.userid(), Some("456"));
    assert_eq!(who.username(), None);
    assert_eq!(who.timestamp(), TS);

    let who = v
        .verify(&format!("{VECTOR_2}&hash={HASH_2}"))
        .await
        .unwrap();
    assert_eq!(who.accountid(), "acme-42");
    assert_eq!(who.accountname(), Some("ACME & Co"));
    assert_eq!(who.username(), Some("Jane Doe"));
    assert_eq!(who.useremail(), Some("jane.doe+sso@example.com"));
    assert_eq!(who.param("apikey"), Some("k3y/with=chars"));
    assert_eq!(who.params().count(), 7);
    let text = format!("{who:?}");
    assert!(!text.contains("k3y"), "{text}");
    assert!(text.contains("acme-42"), "{text}");
}

#[tokio::test]
async fn the_hash_may_stand_anywhere_and_in_either_case() {
    let clock = ManualClock::at(TS);
    let v = verifier(&clock);
    let upper = HASH_1.to_ascii_uppercase();
    assert!(v.verify(&format!("hash={upper}&{VECTOR_1}")).await.is_ok());
    // The same signature in another case is the same query: a replay.
    assert_eq!(
        reason(&v, &format!("{VECTOR_1}&hash={HASH_1}")).await,
        Reason::Replayed
    );
}

#[tokio::test]
async fn a_query_is_accepted_once() {
    let clock = ManualClock::at(TS + 1);
    let v = verifier(&clock);
    let q = format!("{VECTOR_1}&hash={HASH_1}");
    assert!(v.verify(&q).await.is_ok());
    let err = v.verify(&q).await.unwrap_err();
    assert_eq!(err.reason(), Reason::Replayed);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    // Once past its age it is refused as too old, never accepted again.
    clock.advance(Duration::from_secs(331));
    assert_eq!(reason(&v, &q).await, Reason::TooOld);
}

#[tokio::test]
async fn tampering_and_wrong_keys_fail_the_signature() {
    let clock = ManualClock::at(TS);
    let v = verifier(&clock);
    let tampered = VECTOR_1.replace("accountid=123", "accountid=124");
    assert_eq!(
        reason(&v, &format!("{tampered}&hash={HASH_1}")).await,
        Reason::BadSignature
    );
    // Re-encoding the received query changes the signed text.
    let reencoded = VECTOR_2.replace("ACME+%26+Co", "ACME%20%26%20Co");
    assert_eq!(
        reason(&v, &format!("{reencoded}&hash={HASH_2}")).await,
        Reason::BadSignature
    );
    // An added parameter is signed text too.
    assert_eq!(
        reason(&v, &format!("{VECTOR_1}&admin=1&hash={HASH_1}")).await,
        Reason::BadSignature
    );
    let other = BlendrSignedQuery::builder("another-partner-api-key-0123456789abcdef")
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(
        reason(&other, &format!("{VECTOR_1}&hash={HASH_1}")).await,
        Reason::BadSignature
    );
    for bad in ["", "zz", &HASH_1[..62], &format!("{HASH_1}00")] {
        assert_eq!(
            reason(&v, &format!("{VECTOR_1}&hash={bad}")).await,
            Reason::BadSignature,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn malformed_queries() {
    let clock = ManualClock::at(TS);
    let v = verifier(&clock);
    let err = v.verify(VECTOR_1).await.unwrap_err();
    assert_eq!(err.reason(), Reason::MissingToken);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    let err = v
        .verify(&format!("{VECTOR_1}&hash={HASH_1}&hash={HASH_1}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reason(&v, &"a".repeat(MAX_QUERY_LEN + 1)).await,
        Reason::TokenTooLarge
    );

    // Correctly signed, but without what Blendr requires.
    for (query, want) in [
        (
            "accountname=John&timestamp=1700000000",
            Reason::MissingClaim,
        ),
        ("accountid=&timestamp=1700000000", Reason::MissingClaim),
        ("accountid=1", Reason::MissingClaim),
        ("accountid=1&timestamp=17e8", Reason::BadDate),
        ("accountid=1&timestamp=-1", Reason::BadDate),
        (
            "accountid=1&accountid=2&timestamp=1700000000",
            Reason::BadPayload,
        ),
        ("accountid=%FF&timestamp=1700000000", Reason::BadPayload),
    ] {
        assert_eq!(
            reason(&v, &format!("{query}&hash={}", sign(query))).await,
            want,
            "{query}"
        );
    }
}

#[tokio::test]
async fn timestamps_must_be_fresh() {
    let q = format!("{VECTOR_1}&hash={HASH_1}");
    // Within max_age + leeway: fine; one second past: too old.
    let v = verifier(&ManualClock::at(TS + 330));
    assert!(v.verify(&q).await.is_ok());
    let v = verifier(&ManualClock::at(TS + 331));
    assert_eq!(reason(&v, &q).await, Reason::TooOld);
    // From the future beyond the leeway.
    let v = verifier(&ManualClock::at(TS - 31));
    assert_eq!(reason(&v, &q).await, Reason::IssuedInFuture);
    // A shorter max_age.
    let v = BlendrSignedQuery::builder(KEY)
        .max_age(Duration::from_secs(60))
        .leeway(Duration::ZERO)
        .clock(ManualClock::at(TS + 61))
        .build()
        .unwrap();
    assert_eq!(reason(&v, &q).await, Reason::TooOld);
}

#[tokio::test]
async fn a_full_replay_store_fails_closed() {
    let clock = ManualClock::at(TS);
    let v = BlendrSignedQuery::builder(KEY)
        .clock(clock.clone())
        .replay_store(MemoryReplayStore::new(1)) // 16 shards of one entry
        .build()
        .unwrap();
    let mut accepted = 0;
    let mut full = 0;
    for i in 0..200 {
        let query = format!("accountid={i}&timestamp={TS}");
        match v.verify(&format!("{query}&hash={}", sign(&query))).await {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e.reason(), Reason::ReplayStoreFull);
                assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(e.retry_after(), Some(1));
                full += 1;
            }
        }
    }
    assert_eq!((accepted, full), (16, 184));
    // Once the recorded queries are too old to pass, their room is reused.
    clock.advance(Duration::from_secs(331));
    let query = format!("accountid=late&timestamp={}", TS + 331);
    assert!(
        v.verify(&format!("{query}&hash={}", sign(&query)))
            .await
            .is_ok()
    );
}

#[test]
fn settings_are_checked_and_the_key_stays_out_of_debug() {
    assert_eq!(
        BlendrSignedQuery::new("short").unwrap_err().key(),
        Some("api_key")
    );
    let err = BlendrSignedQuery::builder(KEY)
        .max_age(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("max_age"));
    let err = BlendrSignedQuery::builder(KEY)
        .max_age(Duration::from_secs(3601))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("max_age"));
    let err = BlendrSignedQuery::builder(KEY)
        .leeway(Duration::from_secs(301))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("leeway"));
    let v = BlendrSignedQuery::new(KEY).unwrap();
    assert!(!format!("{v:?}").contains("0123456789"));
    assert!(!format!("{:?}", BlendrSignedQuery::builder(KEY)).contains("0123456789"));
}
