use std::sync::Arc;

use axum::{Router, body::Body, routing::get};
use http::Request;
use jwt_guard::testing::{TestKey, TokenBuilder};
use jwt_guard::{Algorithm, Issuer, JwtGuard, Verified};
use tower::ServiceExt;

async fn whoami(who: Verified) -> String {
    format!(
        "{} from {}",
        who.subject().unwrap_or("?"),
        who.issuer_name()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = b"a-shared-secret-of-at-least-32-bytes";
    let guard = JwtGuard::builder()
        .issuer(
            Issuer::secret(secret)
                .name("pandium")
                .required_claims(["exp", "sub"]),
        )
        .build()?; // every mistake in the configuration is an Err here, never a panic
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(guard.layer());

    // A token as the marketplace would mint it.
    let key = Arc::new(TestKey::hmac(secret, Algorithm::HS256));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let token = TokenBuilder::new(key, now).subject("user-42").sign();

    let req = Request::get("/whoami").header("authorization", format!("Bearer {token}"));
    let res = app.clone().oneshot(req.body(Body::empty())?).await?;
    assert_eq!(res.status(), 200);

    let res = app
        .oneshot(Request::get("/whoami").body(Body::empty())?)
        .await?;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"jwt-guard\""
    );
    Ok(())
}
