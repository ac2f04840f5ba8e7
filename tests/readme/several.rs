use jwt_guard::{JwtGuard, TokenSource, presets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name);
    let guard = JwtGuard::builder()
        .issuer(presets::appdirect(env("APPDIRECT_JWKS_URL")?).tenants(["PARTNER_ID"]))
        .issuer(presets::pandium(env("PANDIUM_SHARED_SECRET")?))
        .issuer(presets::blendr(env("BLENDR_API_KEY")?))
        .issuer(presets::versori(
            std::fs::read_to_string("partner.pem")?,
            "https://partner.example",
            "orders-api",
        ))
        .token_sources([
            TokenSource::Header,
            TokenSource::Query("tenant".into()),
            TokenSource::Query("jwt".into()),
        ])
        .build()?;
    let _layer = guard.layer();
    Ok(())
}
