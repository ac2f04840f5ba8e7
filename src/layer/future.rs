//! The response future: a named type over a private state machine.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::check::{self, ClaimCheck, all_allow};
use crate::cors::RequestOrigin;
use crate::identity::Verified;
use crate::layer::body::GuardBody;
use crate::layer::shared::{Mode, Shared};
use crate::reject::{Reason, Rejection};

/// A cache miss in one allocation: the full verification, then the service and the request
/// handed back for the inner call. One box for all of it (not a box for the verification and
/// another for the service and request that wait for it).
type Verifying<S, ReqBody> = Pin<Box<dyn Future<Output = Verdict<S, ReqBody>> + Send>>;

/// What a finished verification hands back.
struct Verdict<S, ReqBody> {
    outcome: Result<Verified, Rejection>,
    inner: S,
    request: Request<ReqBody>,
}

/// The token of a cache miss, for the verification that outlives `call`: the header value it
/// was found in, shared (an `http` header value is reference-counted `Bytes`: hyper's point
/// into the bytes it read, so this is a count bump, not a copy), or the bytes themselves (a
/// query token, cut out of the URI). Checked to be UTF-8 when made.
pub(crate) enum MissToken {
    /// `value[start..end]` is the token.
    Header {
        value: HeaderValue,
        start: usize,
        end: usize,
    },
    /// A token of its own.
    Owned(Vec<u8>),
}

impl MissToken {
    /// The header of `headers` that `token` was borrowed from, shared, with the token's place
    /// in it. `None` when `token` lies in none of them (it is then copied).
    pub(crate) fn from_headers(headers: &HeaderMap, token: &[u8]) -> Option<Self> {
        let begin = token.as_ptr() as usize;
        let end = begin.checked_add(token.len())?;
        headers.values().find_map(|value| {
            let bytes = value.as_bytes();
            let base = bytes.as_ptr() as usize;
            (begin >= base && end <= base.checked_add(bytes.len())?).then(|| Self::Header {
                value: value.clone(),
                start: begin - base,
                end: end - base,
            })
        })
    }

    /// The token; `None` (refused as malformed) cannot happen: it was checked when made.
    fn as_str(&self) -> Option<&str> {
        let bytes = match self {
            Self::Header { value, start, end } => value.as_bytes().get(*start..*end)?,
            Self::Owned(bytes) => bytes,
        };
        std::str::from_utf8(bytes).ok()
    }
}

/// What one request carries through the layer, from `call` to the end of its future: the
/// shared state, the layer's mode and the request's `Origin` (for the CORS decoration).
#[derive(Debug)]
pub(crate) struct RequestCtx {
    /// The layer's state: engine, CORS policy, responder, token sources.
    pub(crate) shared: Arc<Shared>,
    /// What the layer does (CORS, authentication, both).
    pub(crate) mode: Mode,
    /// The request's `Origin`, classified by the CORS policy.
    pub(crate) origin: RequestOrigin,
}

pin_project! {
    /// The future of [`JwtGuardService`](crate::JwtGuardService).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        ctx: RequestCtx,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        /// A response made by the layer: a rejection or a preflight answer. `grpc`: the request
        /// was a gRPC one (for an answer to a poll after completion).
        Ready { response: Option<Box<Response<bytes::Bytes>>>, grpc: bool },
        /// Verifying the token; then the request goes to the inner service. `grpc`: the
        /// request is a gRPC one (a refusal is answered in `grpc-status`).
        Verifying { verify: Verifying<S, ReqBody>, grpc: bool },
        /// The inner service's response.
        Inner { #[pin] future: S::Future },
    }
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
    /// The layer refuses `req`: HTTP or gRPC refusal, decided here (and only here, lazily).
    pub(crate) fn reject(ctx: RequestCtx, req: &Request<ReqBody>, rejection: Rejection) -> Self {
        let grpc = is_grpc(&ctx.shared, req);
        let response = ctx.shared.responder.respond(rejection, grpc);
        Self::ready(ctx, response, grpc)
    }

    /// The answer to a CORS preflight. It is complete: nothing decorates it afterwards.
    pub(crate) fn preflight(ctx: RequestCtx, req: &Request<ReqBody>) -> Self {
        let RequestCtx { shared, origin, .. } = ctx;
        let mut response = match shared.cors.preflight(&origin, req.headers()) {
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
        let done = RequestCtx {
            shared,
            // The answer is complete: nothing to decorate.
            mode: Mode::DONE,
            origin: RequestOrigin::Absent,
        };
        Self::ready(done, response, false)
    }

    /// The request goes on to the inner service, whose response is decorated for CORS.
    pub(crate) fn inner(ctx: RequestCtx, future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
            ctx,
        }
    }

    /// A cache miss: `token` is verified in full, then `request` goes to `inner` (the service
    /// that was driven to readiness).
    pub(crate) fn verify(
        ctx: RequestCtx,
        token: MissToken,
        request: Request<ReqBody>,
        inner: S,
        checks: Arc<[ClaimCheck]>,
    ) -> Self
    where
        S: Send + 'static,
        ReqBody: Send + 'static,
    {
        let grpc = is_grpc(&ctx.shared, &request);
        let shared = Arc::clone(&ctx.shared);
        let origin = ctx.origin.as_str().map(str::to_owned);
        let verify: Verifying<S, ReqBody> = Box::pin(async move {
            let outcome = match token.as_str() {
                Some(token) => shared.engine.verify(token, origin.as_deref()).await,
                None => Err(Reason::MalformedCredential.into()),
            };
            let outcome = outcome.and_then(|verified| {
                if all_allow(&checks, &verified) {
                    Ok(verified)
                } else {
                    Err(check::failed(&verified))
                }
            });
            Verdict {
                outcome,
                inner,
                request,
            }
        });
        Self {
            state: State::Verifying { verify, grpc },
            ctx,
        }
    }

    /// A response the layer made itself, to be decorated when polled.
    fn ready(ctx: RequestCtx, response: Response<bytes::Bytes>, grpc: bool) -> Self {
        Self {
            state: State::Ready {
                response: Some(Box::new(response)),
                grpc,
            },
            ctx,
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
                StateProj::Ready { response, grpc } => {
                    let response = match response.take() {
                        Some(response) => *response,
                        // Polled after completion: answer again rather than panic.
                        None => this
                            .ctx
                            .shared
                            .responder
                            .respond(Rejection::new(Reason::MalformedToken), *grpc),
                    };
                    return Poll::Ready(Ok(finish_own(response, this.ctx)));
                }
                StateProj::Verifying { verify, grpc } => {
                    let Verdict {
                        outcome,
                        mut inner,
                        mut request,
                    } = ready!(verify.as_mut().poll(cx));
                    let grpc = *grpc;
                    let response = match outcome {
                        Ok(verified) => {
                            request.extensions_mut().insert(verified);
                            let future = inner.call(request);
                            this.state.set(State::Inner { future });
                            continue;
                        }
                        Err(rejection) => this.ctx.shared.responder.respond(rejection, grpc),
                    };
                    this.state.set(State::Ready {
                        response: Some(Box::new(response)),
                        grpc,
                    });
                }
                StateProj::Inner { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    let ctx = &*this.ctx;
                    if ctx.mode.cors {
                        ctx.shared
                            .cors
                            .decorate(&ctx.origin, response.headers_mut());
                    }
                    return Poll::Ready(Ok(response.map(GuardBody::inner)));
                }
            }
        }
    }
}

/// A response the layer made itself, decorated for CORS unless an outer layer does it.
fn finish_own<B>(mut response: Response<bytes::Bytes>, ctx: &RequestCtx) -> Response<GuardBody<B>> {
    // An auth-only layer leaves decoration to the CORS layer outside it.
    if ctx.mode.cors {
        ctx.shared
            .cors
            .decorate(&ctx.origin, response.headers_mut());
    }
    response.map(GuardBody::own)
}

/// Whether a refusal to `req` is rendered the gRPC way: only when the service's owner turned
/// it on ([`JwtGuardBuilder::grpc_rejections`](crate::JwtGuardBuilder::grpc_rejections)), and
/// then only for real gRPC: HTTP/2 and a `Content-Type` of exactly `application/grpc` or
/// `application/grpc+SUBTYPE`. gRPC-Web and look-alikes get the HTTP refusal. Looked up only
/// when the layer may answer itself: a cache hit that passes never needs it.
fn is_grpc<B>(shared: &Shared, req: &Request<B>) -> bool {
    shared.grpc
        && req.version() == http::Version::HTTP_2
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| is_grpc_content_type(v.as_bytes()))
}

/// `application/grpc` or `application/grpc+SUBTYPE` (a non-empty token), ASCII
/// case-insensitive, without parameters.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    const BASE: &[u8] = b"application/grpc";
    let Some((base, rest)) = value.split_at_checked(BASE.len()) else {
        return false;
    };
    if !base.eq_ignore_ascii_case(BASE) {
        return false;
    }
    match rest.split_first() {
        None => true,
        Some((b'+', subtype)) => {
            !subtype.is_empty()
                && subtype
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(b))
        }
        Some(_) => false,
    }
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

    #[test]
    fn only_real_grpc_content_types_are_grpc() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC+proto",
        ] {
            assert!(super::is_grpc_content_type(yes.as_bytes()), "{yes}");
        }
        for no in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpc-web-text",
            "application/grpcfoo",
            "application/grpc+",
            "application/grpc; charset=utf-8",
            "application/grpc+proto; x=1",
            "application/grp",
            "text/plain",
            "",
            " application/grpc",
        ] {
            assert!(!super::is_grpc_content_type(no.as_bytes()), "{no}");
        }
    }
}
