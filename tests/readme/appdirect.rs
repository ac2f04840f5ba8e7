use axum::{Router, routing::get};
use jwt_guard::extract::Claims;
use jwt_guard::presets::{self, AppDirectClaims};
use jwt_guard::{Cors, JwtGuard};

const MARKETPLACE: &str = "https://marketplace.example";

async fn me(Claims(claims): Claims<AppDirectClaims>) -> String {
    format!(
        "{} ({:?}) of partner {}",
        claims.sub, claims.name, claims.tenant
    )
}

fn main() -> Result<(), jwt_guard::ConfigError> {
    let guard = JwtGuard::builder()
        .issuer(
            presets::appdirect("https://marketplace.example/jwks")
                .tenants(["PARTNER_ID"]) // your partner ID: another partner's token is 403
                .origins([MARKETPLACE]), // presented only from the marketplace's pages
        )
        .cors(
            Cors::new()
                .allow_origins([MARKETPLACE])
                .allow_credentials(true),
        )
        .build()?;
    let _app: Router = Router::new().route("/api/me", get(me)).layer(guard.layer());
    Ok(())
}
