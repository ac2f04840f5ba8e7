//! The response future: a named type over a private state machine.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::cors::RequestOrigin;
use crate::identity::Verified;
use crate::layer::body::GuardBody;
use crate::layer::shared::Mode;
use crate::layer::shared::Shared;
use crate::reject::{Reason, Rejection};

type Verifying = Pin<Box<dyn Future<Output = Result<Verified, Rejection>> + Send>>;

pin_project! {
    /// The future of [`JwtGuardService`](crate::JwtGuardService).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        shared: Arc<Shared>,
        mode: Mode,
        origin: RequestOrigin,
        grpc: bool,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        /// A response made by the layer: a rejection or a preflight answer.
        Ready { response: Option<Box<Response<bytes::Bytes>>> },
        /// Verifying the token; then the request goes to `inner`.
        Verifying { pending: Box<Pending<S, ReqBody>> },
        /// The inner service's response.
        Inner { #[pin] future: S::Future },
    }
}

/// A request waiting for its token's full verification (a cache miss).
///
/// Boxed, with the rejection of `State::Ready`, so that the future of a cache hit stays small:
/// it is moved several times on its way to the executor, and a hit costs about a microsecond.
struct Pending<S, ReqBody> {
    verify: Verifying,
    inner: Option<S>,
    request: Option<Request<ReqBody>>,
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn reject(
        grpc: bool,
        shared: Arc<Shared>,
        mode: Mode,
        origin: RequestOrigin,
        rejection: Rejection,
    ) -> Self {
        let response = shared.responder.respond(rejection, grpc);
        Self {
            state: State::Ready {
                response: Some(Box::new(response)),
            },
            shared,
            mode,
            origin,
            grpc,
        }
    }

    pub(crate) fn preflight(
        shared: Arc<Shared>,
        origin: &RequestOrigin,
        headers: &HeaderMap,
    ) -> Self {
        let mut response = match shared.cors.preflight(origin, headers) {
            Ok(cors_headers) => {
                let mut response = Response::new(bytes::Bytes::new());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response.headers_mut().extend(cors_headers);
                response
            }
            Err(()) => shared
                .responder
                .response(Rejection::new(Reason::PreflightRefused)),
        };
        shared.cors.vary_preflight(response.headers_mut());
        Self {
            state: State::Ready {
                response: Some(Box::new(response)),
            },
            shared,
            // The answer is complete: nothing to decorate.
            mode: Mode::DONE,
            origin: RequestOrigin::Absent,
            grpc: false,
        }
    }

    pub(crate) fn inner(
        future: S::Future,
        shared: Arc<Shared>,
        mode: Mode,
        origin: RequestOrigin,
    ) -> Self {
        Self {
            state: State::Inner { future },
            shared,
            mode,
            origin,
            grpc: false,
        }
    }

    pub(crate) fn verify(
        grpc: bool,
        shared: Arc<Shared>,
        mode: Mode,
        origin: RequestOrigin,
        token: String,
        request: Request<ReqBody>,
        inner: S,
    ) -> Self {
        let engine = Arc::clone(&shared);
        let origin_text = origin.as_str().map(str::to_owned);
        let verify: Verifying =
            Box::pin(async move { engine.engine.verify(&token, origin_text.as_deref()).await });
        Self {
            state: State::Verifying {
                pending: Box::new(Pending {
                    verify,
                    inner: Some(inner),
                    request: Some(request),
                }),
            },
            shared,
            mode,
            origin,
            grpc,
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<GuardBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Ready { response } => {
                    let Some(response) = response.take() else {
                        // Polled after completion: answer again rather than panic.
                        let rejection = Rejection::new(Reason::MalformedToken);
                        let response = this.shared.responder.respond(rejection, *this.grpc);
                        return Poll::Ready(Ok(finish_own(
                            response,
                            this.shared,
                            *this.mode,
                            this.origin,
                        )));
                    };
                    return Poll::Ready(Ok(finish_own(
                        *response,
                        this.shared,
                        *this.mode,
                        this.origin,
                    )));
                }
                StateProj::Verifying { pending } => {
                    let outcome = ready!(pending.verify.as_mut().poll(cx));
                    match (outcome, pending.inner.take(), pending.request.take()) {
                        (Ok(verified), Some(mut inner), Some(mut request)) => {
                            request.extensions_mut().insert(verified);
                            let future = inner.call(request);
                            this.state.set(State::Inner { future });
                        }
                        (Err(rejection), _, _) => {
                            let response = this.shared.responder.respond(rejection, *this.grpc);
                            this.state.set(State::Ready {
                                response: Some(Box::new(response)),
                            });
                        }
                        (Ok(_), _, _) => {
                            let response = this
                                .shared
                                .responder
                                .response(Rejection::new(Reason::MalformedToken));
                            this.state.set(State::Ready {
                                response: Some(Box::new(response)),
                            });
                        }
                    }
                }
                StateProj::Inner { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    if this.mode.cors {
                        this.shared
                            .cors
                            .decorate(this.origin, response.headers_mut());
                    }
                    return Poll::Ready(Ok(response.map(GuardBody::inner)));
                }
            }
        }
    }
}

fn finish_own<B>(
    mut response: Response<bytes::Bytes>,
    shared: &Shared,
    mode: Mode,
    origin: &RequestOrigin,
) -> Response<GuardBody<B>> {
    // An auth-only layer leaves decoration to the CORS layer outside it.
    if mode.cors {
        shared.cors.decorate(origin, response.headers_mut());
    }
    response.map(GuardBody::own)
}
#[cfg(test)]
mod tests {
    /// The future of every request, a cache hit included, is moved on its way to the executor:
    /// the miss-only state and the layer's own responses are boxed to keep it small (it was
    /// 320 bytes before, with the request inline).
    #[test]
    fn the_future_of_a_hit_stays_small() {
        type Fut = super::ResponseFuture<
            tower::util::BoxCloneSyncService<http::Request<()>, http::Response<()>, ()>,
            (),
        >;
        let size = std::mem::size_of::<Fut>();
        assert!(size <= 96, "ResponseFuture is {size} bytes");
    }
}
