//! What every part of the server shares (a leaf): the client's address in a request's
//! extensions, and JSON responses.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// The address of the client of a connection: put into each request's extensions by the
/// accept loop (the proxy appends it to `X-Forwarded-For`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientAddr(pub(super) SocketAddr);

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
