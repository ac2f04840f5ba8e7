use axum::{Router, routing::get};
use jwt_guard::{Issuer, JwtGuard, Verified, extract::Claims};

#[derive(serde::Deserialize)]
struct MyClaims {
    sub: String,
    tenant: String,
}

async fn orders(Claims(c): Claims<MyClaims>) -> String {
    format!("{} of {}", c.sub, c.tenant)
}

async fn me(who: Verified) -> String {
    who.subject().unwrap_or_default().to_owned()
}

async fn home(who: Option<Verified>) -> &'static str {
    if who.is_some() {
        "signed in"
    } else {
        "anonymous"
    }
}

fn main() -> Result<(), jwt_guard::ConfigError> {
    let guard = JwtGuard::builder()
        .issuer(Issuer::secret("a-shared-secret-of-at-least-32-bytes").tenant_claim("tenant"))
        .build()?;
    let _app: Router = Router::new()
        .route("/orders", get(orders))
        .route("/me", get(me))
        .route_layer(guard.auth_layer())
        .route("/", get(home).layer(guard.optional_auth_layer()))
        .layer(guard.cors_layer());
    Ok(())
}
