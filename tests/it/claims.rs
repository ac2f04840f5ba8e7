//! The claims matrix, end to end through the layer, with a [`ManualClock`] fixed at
//! [`NOW`]: dates and their leeway boundaries, lifetimes, `iss`, `aud`, required claims and
//! the tenant. Each case asserts the exact status and `error_description`.

use std::time::Duration;

use axum::Router;
use jwt_guard::testing::{TestIssuer, TokenBuilder};
use jwt_guard::{Issuer, JwtGuard, ManualClock};
use serde_json::{Value, json};

use crate::common::{app, get_with, send};

/// The wall clock of every test here (2023-11-14T22:13:20Z); tokens are issued at it.
const NOW: u64 = 1_700_000_000;
const NOWF: f64 = NOW as f64;

const EXPIRED: &str = "401 the token has expired";
const NOT_YET: &str = "401 the token is not valid yet";
const FUTURE_IAT: &str = "401 the token was issued in the future";
const TOO_LONG: &str = "401 the token lifetime is too long";
const TOO_OLD: &str = "401 the token is too old";
const BAD_DATE: &str = "401 a date claim is not a valid NumericDate";
const BAD_ISS: &str = "401 the token issuer is not accepted";
const BAD_AUD: &str = "401 the token audience is not accepted";
const MISSING: &str = "401 a required claim is missing";
const BAD_TENANT: &str = "401 the tenant claim is missing or malformed";
const NOT_ALLOWED: &str = "403 the tenant is not allowed";
const BAD_PAYLOAD: &str = "401 the token payload is not acceptable";

struct Env {
    issuer: TestIssuer,
    clock: ManualClock,
    app: Router,
}

async fn env(configure: impl FnOnce(Issuer) -> Issuer) -> Env {
    let clock = ManualClock::at(NOW);
    let issuer = TestIssuer::start().await.with_clock(clock.clone());
    let guard = JwtGuard::builder()
        .issuer(configure(issuer.issuer()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(&guard);
    Env { issuer, clock, app }
}

/// A claim edit: set it (null included) or remove it.
enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
}
use Edit::{Remove, Set};

fn edit(mut token: TokenBuilder, edits: &[Edit]) -> TokenBuilder {
    for e in edits {
        token = match e {
            Set(name, value) => token.claim(name, value.clone()),
            Remove(name) => token.without(name),
        };
    }
    token
}

/// "200 <tenant or ->" or "<status> <error_description>", checking on the way that the
/// rejection's challenge and body agree.
async fn verdict(env: &Env, edits: &[Edit]) -> String {
    let token = edit(env.issuer.token().subject("user-1"), edits).sign();
    let (res, body) = send(&env.app, get_with("/whoami", &token)).await;
    let json: Value = serde_json::from_str(&body).unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        return format!("200 {}", json["tenant"].as_str().unwrap_or("-"));
    }
    let description = json["error_description"].as_str().unwrap();
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    match status {
        401 => assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"{description}\""
            )
        ),
        403 => assert_eq!(
            challenge,
            "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
        ),
        other => panic!("unexpected status {other}: {body}"),
    }
    format!("{status} {description}")
}

/// Runs a table of (edits, expected verdict).
async fn table(env: &Env, cases: Vec<(Vec<Edit>, &str)>) {
    for (i, (edits, expected)) in cases.into_iter().enumerate() {
        assert_eq!(verdict(env, &edits).await, expected, "case {i}");
    }
}

#[tokio::test]
async fn exp_with_the_default_leeway() {
    let env = env(|i| i).await;
    table(
        &env,
        vec![
            (vec![Set("exp", json!(NOW + 1))], "200 -"),
            (vec![Set("exp", json!(NOW - 29))], "200 -"),
            (vec![Set("exp", json!(NOWF - 29.5))], "200 -"),
            (vec![Set("exp", json!(NOWF - 29.999))], "200 -"),
            (vec![Set("exp", json!(NOW - 30))], EXPIRED),
            (vec![Set("exp", json!(NOWF - 30.5))], EXPIRED),
            (vec![Set("exp", json!(NOW - 86_400))], EXPIRED),
            (vec![Remove("exp")], MISSING),
        ],
    )
    .await;
}

#[tokio::test]
async fn leeway_zero_and_five_minutes() {
    let env0 = env(|i| i.leeway(Duration::ZERO)).await;
    table(
        &env0,
        vec![
            (vec![Set("exp", json!(NOW))], EXPIRED),
            (vec![Set("exp", json!(NOWF + 0.25))], "200 -"),
            (vec![Set("nbf", json!(NOWF + 0.25))], NOT_YET),
            (vec![Set("nbf", json!(NOW))], "200 -"),
            (vec![Set("iat", json!(NOWF + 0.25))], FUTURE_IAT),
        ],
    )
    .await;
    let env5 = env(|i| i.leeway(Duration::from_secs(300))).await;
    table(
        &env5,
        vec![
            (vec![Set("exp", json!(NOW - 299))], "200 -"),
            (vec![Set("exp", json!(NOW - 300))], EXPIRED),
            (vec![Set("nbf", json!(NOW + 300))], "200 -"),
            (vec![Set("nbf", json!(NOW + 301))], NOT_YET),
        ],
    )
    .await;
    // More than 5 minutes is a configuration error naming the key.
    let issuer = TestIssuer::start().await;
    let err = JwtGuard::builder()
        .issuer(issuer.issuer().leeway(Duration::from_secs(301)))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("issuers[0].leeway"));
}

#[tokio::test]
async fn nbf_and_iat_boundaries() {
    let env = env(|i| i).await;
    table(
        &env,
        vec![
            (vec![Set("nbf", json!(NOW + 30))], "200 -"),
            (vec![Set("nbf", json!(NOWF + 30.5))], NOT_YET),
            (vec![Set("nbf", json!(NOW - 1000))], "200 -"),
            (vec![Set("nbf", json!(0))], "200 -"),
            (vec![Set("iat", json!(NOW + 30))], "200 -"),
            (vec![Set("iat", json!(NOWF + 30.5))], FUTURE_IAT),
            (vec![Set("iat", json!(0))], "200 -"),
            (vec![Remove("iat")], "200 -"),
        ],
    )
    .await;
}

#[tokio::test]
async fn fractional_dates_follow_the_clock() {
    let env = env(|i| i.leeway(Duration::ZERO)).await;
    let token = env
        .issuer
        .token()
        .subject("frac")
        .claim("iat", NOWF - 0.5)
        .claim("exp", NOWF + 0.5)
        .sign();
    let (res, _) = send(&env.app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200);
    env.clock.advance(Duration::from_millis(499));
    let (res, _) = send(&env.app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200);
    // At exp exactly the token is expired (also when it comes from the verified-token cache).
    env.clock.advance(Duration::from_millis(1));
    let (res, body) = send(&env.app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 401, "{body}");
    assert!(body.contains("the token has expired"), "{body}");
}

#[tokio::test]
async fn dates_of_the_wrong_type_are_rejections_never_absences() {
    let env = env(|i| i).await;
    let wrong = [
        json!("1700000100"),
        json!(null),
        json!(true),
        json!(false),
        json!([NOW + 100]),
        json!({"t": NOW + 100}),
    ];
    let mut cases = Vec::new();
    for name in ["exp", "nbf", "iat"] {
        for value in &wrong {
            cases.push((vec![Set(name, value.clone())], BAD_DATE));
        }
    }
    table(&env, cases).await;
    // Even when `exp` is not required, a present but malformed one is refused.
    let lax = self::env(|i| i.required_claims(Vec::<String>::new())).await;
    table(
        &lax,
        vec![
            (vec![Remove("exp")], "200 -"),
            (vec![Set("exp", json!(null))], BAD_DATE),
            (vec![Set("exp", json!("soon"))], BAD_DATE),
        ],
    )
    .await;
}

#[tokio::test]
async fn dates_out_of_range() {
    let env = env(|i| i).await;
    table(
        &env,
        vec![
            (vec![Set("exp", json!(-1))], BAD_DATE),
            (vec![Set("nbf", json!(-0.5))], BAD_DATE),
            (vec![Set("iat", json!(-1))], BAD_DATE),
            (vec![Set("exp", json!(253_402_300_800u64))], BAD_DATE),
            (vec![Set("exp", json!(1e300))], BAD_DATE),
            (vec![Set("exp", json!(u64::MAX))], BAD_DATE),
            (vec![Set("exp", json!(253_402_300_799u64))], "200 -"),
        ],
    )
    .await;
}

#[tokio::test]
async fn max_lifetime_without_leeway() {
    let env = env(|i| i.max_lifetime(Duration::from_secs(600))).await;
    table(
        &env,
        vec![
            (
                vec![Set("iat", json!(NOW)), Set("exp", json!(NOW + 600))],
                "200 -",
            ),
            (
                vec![Set("iat", json!(NOW)), Set("exp", json!(NOWF + 600.5))],
                TOO_LONG,
            ),
            (
                vec![Set("iat", json!(NOW - 100)), Set("exp", json!(NOW + 501))],
                TOO_LONG,
            ),
            // Without iat, counted from now.
            (vec![Remove("iat"), Set("exp", json!(NOW + 600))], "200 -"),
            (vec![Remove("iat"), Set("exp", json!(NOW + 601))], TOO_LONG),
        ],
    )
    .await;
    // Without `exp` (not required here), the lifetime is unbounded: refused.
    let lax = self::env(|i| {
        i.max_lifetime(Duration::from_secs(600))
            .required_claims(Vec::<String>::new())
    })
    .await;
    table(&lax, vec![(vec![Remove("exp")], TOO_LONG)]).await;
}

#[tokio::test]
async fn max_age_with_leeway_makes_iat_required() {
    let env = env(|i| i.max_age(Duration::from_secs(300))).await;
    table(
        &env,
        vec![
            (vec![Set("iat", json!(NOW - 330))], "200 -"),
            (vec![Set("iat", json!(NOW - 331))], TOO_OLD),
            (vec![Remove("iat")], MISSING),
            (vec![Set("iat", json!(null))], BAD_DATE),
            (vec![Set("iat", json!("recent"))], BAD_DATE),
        ],
    )
    .await;
    // A token accepted now ages out as the clock moves.
    let token = env.issuer.token().subject("ages").expires_in(3600).sign();
    let (res, _) = send(&env.app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 200);
    env.clock.advance(Duration::from_secs(331));
    let (res, body) = send(&env.app, get_with("/whoami", &token)).await;
    assert_eq!(res.status(), 401);
    assert!(body.contains("the token is too old"), "{body}");
}

#[tokio::test]
async fn iss_is_exact_and_then_required() {
    let env = env(|i| i.issuer("https://issuer.example")).await;
    table(
        &env,
        vec![
            (vec![Set("iss", json!("https://issuer.example"))], "200 -"),
            (vec![Set("iss", json!("https://issuer.example/"))], BAD_ISS),
            (vec![Set("iss", json!("HTTPS://issuer.example"))], BAD_ISS),
            (vec![Set("iss", json!(" https://issuer.example"))], BAD_ISS),
            (vec![Remove("iss")], BAD_ISS),
            (vec![Set("iss", json!(null))], BAD_ISS),
            (vec![Set("iss", json!(["https://issuer.example"]))], BAD_ISS),
            (vec![Set("iss", json!(1))], BAD_ISS),
        ],
    )
    .await;
    // Unconfigured: any string passes, another type does not.
    let open = self::env(|i| i).await;
    table(
        &open,
        vec![
            (vec![Set("iss", json!("anyone"))], "200 -"),
            (vec![Remove("iss")], "200 -"),
            (vec![Set("iss", json!(5))], BAD_ISS),
            (vec![Set("iss", json!({"a": 1}))], BAD_ISS),
        ],
    )
    .await;
}

#[tokio::test]
async fn aud_forms() {
    let env = env(|i| i.audiences(["orders-api", "billing"])).await;
    table(
        &env,
        vec![
            (vec![Set("aud", json!("orders-api"))], "200 -"),
            (vec![Set("aud", json!(["x", "billing"]))], "200 -"),
            (vec![Set("aud", json!(["orders-api"]))], "200 -"),
            (vec![Set("aud", json!("x"))], BAD_AUD),
            (vec![Set("aud", json!("Orders-Api"))], BAD_AUD),
            (vec![Set("aud", json!([]))], BAD_AUD),
            (vec![Remove("aud")], BAD_AUD),
            (vec![Set("aud", json!(null))], BAD_AUD),
            (vec![Set("aud", json!(["orders-api", 1]))], BAD_AUD),
            (vec![Set("aud", json!([["orders-api"]]))], BAD_AUD),
            (vec![Set("aud", json!(5))], BAD_AUD),
            (vec![Set("aud", json!({"aud": "orders-api"}))], BAD_AUD),
        ],
    )
    .await;
    // Without configured audiences `aud` is not checked, but must still be well formed.
    let open = self::env(|i| i).await;
    table(
        &open,
        vec![
            (vec![Set("aud", json!("anything"))], "200 -"),
            (vec![Set("aud", json!(["a", "b"]))], "200 -"),
            (vec![Set("aud", json!([]))], "200 -"),
            (vec![Set("aud", json!(5))], BAD_AUD),
            (vec![Set("aud", json!(null))], BAD_AUD),
            (vec![Set("aud", json!([1]))], BAD_AUD),
        ],
    )
    .await;
}

#[tokio::test]
async fn required_claims_at_dotted_paths_and_null_is_missing() {
    let env = env(|i| i.required_claims(["exp", "ti.aid", "scope"])).await;
    let ti = |v: Value| Set("ti", json!({ "aid": v }));
    table(
        &env,
        vec![
            (vec![ti(json!("a1")), Set("scope", json!("read"))], "200 -"),
            (vec![ti(json!(0)), Set("scope", json!(false))], "200 -"),
            (
                vec![ti(json!({"deep": 1})), Set("scope", json!(""))],
                "200 -",
            ),
            (vec![ti(json!(null)), Set("scope", json!("read"))], MISSING),
            (
                vec![Set("ti", json!({})), Set("scope", json!("read"))],
                MISSING,
            ),
            (
                vec![Set("ti", json!("aid")), Set("scope", json!("read"))],
                MISSING,
            ),
            (
                vec![Set("ti", json!(["aid"])), Set("scope", json!("read"))],
                MISSING,
            ),
            (
                vec![Set("ti.aid", json!("flat")), Set("scope", json!("read"))],
                MISSING,
            ),
            (vec![ti(json!("a1")), Set("scope", json!(null))], MISSING),
            (vec![ti(json!("a1"))], MISSING),
            (
                vec![ti(json!("a1")), Set("scope", json!("read")), Remove("exp")],
                MISSING,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn sub_and_jti_must_be_strings() {
    let env = env(|i| i).await;
    table(
        &env,
        vec![
            (vec![Set("sub", json!(42))], BAD_PAYLOAD),
            (vec![Set("sub", json!(null))], BAD_PAYLOAD),
            (vec![Set("jti", json!(["a"]))], BAD_PAYLOAD),
            (vec![Set("jti", json!("id-1"))], "200 -"),
        ],
    )
    .await;
}

#[tokio::test]
async fn tenant_string_or_integer_against_the_allowlist() {
    let env = env(|i| i.tenant_claim("tenant").tenants(["acme", "42", "-7"])).await;
    let tenant = |v: Value| vec![Set("tenant", v)];
    table(
        &env,
        vec![
            (tenant(json!("acme")), "200 acme"),
            (tenant(json!(42)), "200 42"),
            (tenant(json!(-7)), "200 -7"),
            (tenant(json!("other")), NOT_ALLOWED),
            (tenant(json!("ACME")), NOT_ALLOWED),
            (tenant(json!(43)), NOT_ALLOWED),
            (tenant(json!("42 ")), NOT_ALLOWED),
            (tenant(json!(4.5)), BAD_TENANT),
            (tenant(json!(42.0)), BAD_TENANT),
            (tenant(json!("")), BAD_TENANT),
            (tenant(json!(true)), BAD_TENANT),
            (tenant(json!(null)), BAD_TENANT),
            (tenant(json!(["acme"])), BAD_TENANT),
            (tenant(json!({"id": "acme"})), BAD_TENANT),
            (vec![Remove("tenant")], BAD_TENANT),
        ],
    )
    .await;
}

#[tokio::test]
async fn tenant_at_a_dotted_path_without_allowlist() {
    let env = env(|i| i.tenant_claim("ti.aid")).await;
    let ti = |v: Value| vec![Set("ti", json!({ "aid": v }))];
    table(
        &env,
        vec![
            (ti(json!("partner-9")), "200 partner-9"),
            (ti(json!(12_345_678_901_234u64)), "200 12345678901234"),
            (ti(json!(u64::MAX)), "200 18446744073709551615"),
            (ti(json!(i64::MIN)), "200 -9223372036854775808"),
            (ti(json!(1.5)), BAD_TENANT),
            (ti(json!("")), BAD_TENANT),
            (ti(json!(false)), BAD_TENANT),
            (vec![Set("ti", json!("partner-9"))], BAD_TENANT),
            (vec![Set("ti.aid", json!("partner-9"))], BAD_TENANT),
        ],
    )
    .await;
}
