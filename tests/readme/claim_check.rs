use axum::{Router, routing::get};
use jwt_guard::{Issuer, JwtGuard, Verified};

fn has_role(who: &Verified, role: &str) -> bool {
    who.claim("roles")
        .and_then(|roles| roles.as_array())
        .is_some_and(|roles| roles.iter().any(|r| r == role))
}

fn main() -> Result<(), jwt_guard::ConfigError> {
    let guard = JwtGuard::builder()
        // Per issuer: every token of this issuer must name a user.
        .issuer(
            Issuer::secret("a-shared-secret-of-at-least-32-bytes")
                .check(|who| who.subject().is_some_and(|sub| !sub.is_empty())),
        )
        .build()?;
    // Per route layer: only admins on /admin.
    let admins = guard.auth_layer().check(|who| has_role(who, "admin"));
    let _app: Router = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(admins)
        .route(
            "/orders",
            get(|| async { "orders" }).layer(guard.auth_layer()),
        )
        .layer(guard.cors_layer());
    Ok(())
}
