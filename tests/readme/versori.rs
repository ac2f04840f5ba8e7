use jwt_guard::{JwtGuard, presets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner_pem = std::fs::read_to_string("partner.pem")?;
    let guard = JwtGuard::builder()
        .issuer(presets::versori(
            partner_pem,
            "https://partner.example",
            "orders-api",
        ))
        .build()?;
    // in an axum handler: Claims(claims): Claims<presets::VersoriClaims>
    let _layer = guard.layer();
    Ok(())
}
