//! The layer in front of a plain hyper 1 service (hyper-util server), no axum.
//!
//! Run with: `cargo run --example hyper`
//!
//! It starts a local test issuer (a JWKS on loopback), serves a hyper service behind the layer,
//! makes a call with a token and one without, prints both, and exits.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use jwt_guard::testing::TestIssuer;
use jwt_guard::{JwtGuard, Verified};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<Verified>()
        .and_then(|v| v.subject())
        .unwrap_or("nobody");
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello, {who}\n"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder().issuer(issuer.issuer()).build()?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = ServiceBuilder::new().layer(guard.layer()).service_fn(hello);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    println!("hyper server on http://{addr}");

    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let token = issuer.token().subject("ada").sign();
    for (label, auth) in [("with a token", Some(token)), ("without a token", None)] {
        let mut req = Request::get(format!("http://{addr}/"));
        if let Some(token) = auth {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let res = client.request(req.body(Full::default())?).await?;
        let status = res.status();
        let challenge = res.headers().get("www-authenticate").cloned();
        let body = res.into_body().collect().await?.to_bytes();
        println!(
            "{label}: {status} {challenge:?} {}",
            String::from_utf8_lossy(&body).trim()
        );
        let expected = if label == "with a token" { 200 } else { 401 };
        if status != expected {
            return Err(format!("expected {expected}, got {status}").into());
        }
    }
    Ok(())
}
