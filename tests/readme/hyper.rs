use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use jwt_guard::{Issuer, JwtGuard, Verified};
use tower::ServiceBuilder;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<Verified>()
        .and_then(|v| v.subject())
        .unwrap_or("?");
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello, {who}"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let guard = JwtGuard::builder()
        .issuer(Issuer::jwks(
            "https://marketplace.example/.well-known/jwks.json",
        ))
        .build()?;
    let service = ServiceBuilder::new().layer(guard.layer()).service_fn(hello);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
