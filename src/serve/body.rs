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
    sent: Option<Arc<Notify>>,
}

impl SentBody {
    /// Wraps `inner`, with what tells when it has been sent whole: `None` for an empty body,
    /// which is sent with the head (no allocation then).
    pub(super) fn new(inner: Body) -> (Self, Option<Arc<Notify>>) {
        if http_body::Body::is_end_stream(&inner) {
            return (Self { inner, sent: None }, None);
        }
        let sent = Arc::new(Notify::new());
        let body = Self {
            inner,
            sent: Some(Arc::clone(&sent)),
        };
        (body, Some(sent))
    }

    fn notify(&self) {
        if let Some(sent) = &self.sent {
            sent.notify_one();
        }
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
            Poll::Ready(None | Some(Err(_))) => self.notify(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.notify(),
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
