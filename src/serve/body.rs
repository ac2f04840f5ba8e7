//! [`SentBody`]: the forwarded request's body, streamed as it comes, that tells when it has
//! been read to its end: the moment the upstream's head timeout starts.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::Notify;

/// The client's body on its way to the upstream; `sent` is notified once it is read whole (or
/// failed, which fails the request anyway).
#[derive(Debug)]
pub(super) struct SentBody {
    inner: Body,
    sent: Arc<Notify>,
}

impl SentBody {
    /// Wraps `inner`; an empty body is sent already.
    pub(super) fn new(inner: Body, sent: Arc<Notify>) -> Self {
        let body = Self { inner, sent };
        if http_body::Body::is_end_stream(&body.inner) {
            body.sent.notify_one();
        }
        body
    }
}

impl http_body::Body for SentBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => self.sent.notify_one(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.sent.notify_one(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
