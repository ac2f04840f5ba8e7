use std::time::Duration;

use jwt_guard::testing::TestIssuer;
use jwt_guard::{Issuer, JwtGuard, JwtGuardBuilder, ManualClock};

/// The production guard, built from its settings: tests pass the test issuer's JWKS URL and
/// a clock they move; `main` passes the marketplace's URL and the system clock.
fn production_guard(jwks_url: &str) -> JwtGuardBuilder {
    JwtGuard::builder().issuer(
        Issuer::jwks(jwks_url)
            .name("appdirect")
            .tenant_claim("tenant")
            .tenants(["acme"]),
    )
}

#[tokio::main]
async fn main() {
    let clock = ManualClock::starting_now();
    let issuer = TestIssuer::start().await.with_clock(clock.clone());
    let guard = production_guard(issuer.jwks_url())
        .clock(clock.clone())
        .build()
        .unwrap();

    let token = issuer.token().subject("u1").tenant("acme").sign();
    let who = guard.verify(&token).await.unwrap();
    assert_eq!((who.subject(), who.tenant()), (Some("u1"), Some("acme")));

    clock.advance(Duration::from_secs(600)); // five minutes past `exp`, and the leeway
    let refused = guard.verify(&token).await.unwrap_err();
    assert_eq!(refused.reason().code(), "expired");
}
