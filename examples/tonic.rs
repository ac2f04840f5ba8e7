//! The same layer in front of a tonic gRPC server (the standard health service).
//!
//! Run with: `cargo run --example tonic`
//!
//! A call with a token gets `SERVING`; a call without one fails with `Unauthenticated` and the
//! layer's reason in its message: the guard opts in to gRPC refusals
//! (`grpc_rejections(true)`), which it renders only for real gRPC (HTTP/2,
//! `application/grpc[+…]`). Without the opt-in tonic still reports `Unauthenticated`, derived
//! from the HTTP 401, but without the message.

use jwt_guard::JwtGuard;
use jwt_guard::testing::TestIssuer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let issuer = TestIssuer::start().await;
    let guard = JwtGuard::builder()
        .issuer(issuer.issuer())
        .grpc_rejections(true)
        .build()?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(guard.layer())
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    println!("gRPC server on http://{addr}");

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let token = issuer.token().subject("grpc-client").sign();
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let answer = HealthClient::new(channel.clone()).check(request).await?;
    println!("with a token: {:?}", answer.get_ref().status());

    let refused = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .err()
        .ok_or("a call without a token was accepted")?;
    println!(
        "without a token: {:?} ({})",
        refused.code(),
        refused.message()
    );
    if refused.code() != tonic::Code::Unauthenticated
        || refused.message() != "no bearer token was presented"
    {
        return Err(format!(
            "expected Unauthenticated with the layer's message, got {:?} ({})",
            refused.code(),
            refused.message()
        )
        .into());
    }
    Ok(())
}
