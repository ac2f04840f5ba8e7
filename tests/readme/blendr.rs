use jwt_guard::{JwtGuard, TokenSource, presets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = JwtGuard::builder()
        .issuer(presets::blendr(std::env::var("BLENDR_API_KEY")?))
        .token_sources([TokenSource::Query("jwt".into()), TokenSource::Header])
        .build()?;
    // in an axum handler: Claims(claims): Claims<presets::BlendrClaims>
    let _layer = guard.layer();
    Ok(())
}
