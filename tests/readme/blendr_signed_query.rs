use jwt_guard::presets::BlendrSignedQuery;

async fn sso_route(sso: &BlendrSignedQuery, query: &str) -> Result<String, jwt_guard::Rejection> {
    let who = sso.verify(query).await?; // the query exactly as received
    Ok(format!(
        "account {} user {:?}",
        who.accountid(),
        who.userid()
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sso = BlendrSignedQuery::new(std::env::var("BLENDR_API_KEY")?)?;
    println!(
        "{}",
        sso_route(&sso, "accountid=1&timestamp=0&hash=00").await?
    );
    Ok(())
}
