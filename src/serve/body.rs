//! [`SentBody`]: the forwarded request's body, streamed as it comes, that tells when it has
//! been read to its end: the moment the upstream's head timeout starts.

use std::any::Any;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::Notify;

/// The client's body on its way to the upstream; `sent` is notified once it is read whole (or
/// failed, which fails the request anyway).
#[derive(Debug)]
pub(super) struct SentBody {
    inner: Inner,
    sent: Option<Arc<Notify>>,
}

/// The body as the server received it (`serve`'s own connections: no box), or any other.
#[derive(Debug)]
enum Inner {
    Incoming(Incoming),
    Other(Body),
}

impl SentBody {
    /// Wraps `inner`, with what tells when it has been sent whole: `None` for an empty body,
    /// which is sent with the head (no allocation then).
    pub(super) fn new<B>(inner: B) -> (Self, Option<Arc<Notify>>)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut slot = Some(inner);
        let incoming = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Incoming>>()
            .and_then(Option::take);
        let inner = match (incoming, slot) {
            (Some(incoming), _) => Inner::Incoming(incoming),
            (None, Some(other)) => Inner::Other(Body::new(other)),
            (None, None) => Inner::Other(Body::empty()),
        };
        let ended = match &inner {
            Inner::Incoming(body) => body.is_end_stream(),
            Inner::Other(body) => body.is_end_stream(),
        };
        if ended {
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
        let polled = match &mut self.inner {
            Inner::Incoming(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(axum::Error::new))),
            Inner::Other(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(None | Some(Err(_))) => self.notify(),
            Poll::Ready(Some(Ok(_))) if self.is_end_stream() => self.notify(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Incoming(body) => body.is_end_stream(),
            Inner::Other(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Incoming(body) => body.size_hint(),
            Inner::Other(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_sent_already_and_a_full_one_is_watched() {
        let (body, sent) = SentBody::new(Body::empty());
        assert!(sent.is_none());
        assert!(body.is_end_stream());
        let (body, sent) = SentBody::new(http_body_util::Full::new(Bytes::from_static(b"x")));
        assert!(sent.is_some());
        assert!(!body.is_end_stream());
        assert!(matches!(body.inner, Inner::Other(_)));
    }
}
