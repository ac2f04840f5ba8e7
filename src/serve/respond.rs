//! What every part of the server shares (a leaf): the client's address in a request's
//! extensions, and JSON responses.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// The address of the client of a connection, as the proxy appends it to `X-Forwarded-For`:
/// made once per connection by the accept loop, put into each request's extensions.
#[derive(Clone, Debug)]
pub(super) struct ClientAddr(HeaderValue);

impl ClientAddr {
    /// The client's IP address (an IPv4-mapped IPv6 address as IPv4).
    pub(super) fn new(peer: SocketAddr) -> Self {
        let text = peer.ip().to_canonical().to_string();
        // An IP address is always a valid header value.
        Self(
            HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
                .unwrap_or(HeaderValue::from_static("unknown")),
        )
    }

    /// The address as a header value (cloning it is a reference count).
    pub(super) fn value(&self) -> &HeaderValue {
        &self.0
    }
}

/// A 200 JSON response.
pub(super) fn json_response(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response with `status`.
pub(super) fn json_status(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = json_response(value);
    *response.status_mut() = status;
    response
}
