//! The floor of `scripts/load-proxy` (issue 14): the least a reverse proxy on hyper and tokio
//! does, to compare `serve` with in the same run. One current-thread runtime (as `serve` pinned
//! to one CPU); hyper's HTTP/1 server; each request forwarded as it came (URI made origin-form,
//! nothing else touched: no authentication, no CORS, no header case kept, no `X-Forwarded-*`,
//! no timeouts) over hyper's HTTP/1 client connections kept in a list, newest ready first; the
//! upstream's response streamed back as it is.
//!
//! ```text
//! cargo bench --features server --bench proxy_floor -- UPSTREAM_ADDR
//! ```
//!
//! Prints `listening on http://ADDR` and runs until killed (so plain `cargo bench` skips it:
//! `bench = false`). Not a product: a bare request of an unreachable upstream panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type Idle = Arc<Mutex<Vec<SendRequest<Incoming>>>>;

async fn forward(
    idle: Idle,
    upstream: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, hyper::Error> {
    let taken = {
        let mut idle = idle.lock().unwrap();
        idle.retain(|sender| !sender.is_closed());
        let ready = idle.iter().rposition(SendRequest::is_ready);
        ready.map(|i| idle.swap_remove(i))
    };
    let mut sender = match taken {
        Some(sender) => sender,
        None => {
            let stream = TcpStream::connect(&*upstream).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            sender
        }
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    let response = sender
        .send_request(Request::from_parts(parts, body))
        .await?;
    // Not ready before the body is read: the next request skips it until then.
    idle.lock().unwrap().push(sender);
    Ok(response)
}

fn main() {
    let upstream: Arc<str> = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .expect("usage: proxy_floor UPSTREAM_ADDR")
        .into();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        let idle = Idle::default();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (idle, upstream) = (Arc::clone(&idle), Arc::clone(&upstream));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    forward(Arc::clone(&idle), Arc::clone(&upstream), req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
