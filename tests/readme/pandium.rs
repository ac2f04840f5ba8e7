use jwt_guard::{JwtGuard, TokenSource, presets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = JwtGuard::builder()
        .issuer(presets::pandium(std::env::var("PANDIUM_SHARED_SECRET")?))
        .token_sources([TokenSource::Query("tenant".into()), TokenSource::Header])
        .build()?;
    // in an axum handler: Claims(claims): Claims<presets::PandiumClaims>
    let _layer = guard.layer();
    Ok(())
}
