use std::time::Duration;

use jwt_guard::{Cors, Issuer, JwtGuard};

fn main() -> Result<(), jwt_guard::ConfigError> {
    let guard = JwtGuard::builder()
        .issuer(
            Issuer::jwks("https://marketplace.example/.well-known/jwks.json")
                .name("appdirect")
                .tenant_claim("tenant")
                .tenants(["PARTNER_ID"])
                .max_lifetime(Duration::from_secs(600)),
        )
        .cors(
            Cors::new()
                .allow_origins(["https://marketplace.example"])
                .allow_credentials(true)
                .allow_methods(["GET", "POST", "DELETE"]),
        )
        .build()?; // nothing is fetched yet: the key set is fetched on first use
    let _layer = guard.layer(); // Router::new().route("/orders", get(orders)).layer(_layer)
    Ok(())
}
