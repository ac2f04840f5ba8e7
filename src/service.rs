//! The service: the whole request flow, one step per line.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::body::GuardBody;
use crate::cors::{self, RequestOrigin};
use crate::error::{Reason, Rejection};
use crate::future::ResponseFuture;
use crate::identity::Verified;
use crate::layer::Mode;
use crate::shared::Shared;
use crate::token;

/// The middleware service made by [`JwtGuardLayer`](crate::JwtGuardLayer).
///
/// Its error type is the inner service's: every refusal is a response.
#[derive(Clone, Debug)]
pub struct JwtGuardService<S> {
    inner: S,
    shared: Arc<Shared>,
    mode: Mode,
}

impl<S> JwtGuardService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, mode: Mode) -> Self {
        Self {
            inner,
            shared,
            mode,
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtGuardService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<GuardBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let mode = self.mode;
        // An identity is never taken from the request as it came in.
        req.extensions_mut().remove::<Verified>();
        // gRPC clients read refusals from `grpc-status`, not from the HTTP status.
        let grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));

        // ① Origin: more than one is not a browser's request.
        if req
            .headers()
            .get_all(header::ORIGIN)
            .iter()
            .nth(1)
            .is_some()
        {
            return ResponseFuture::reject(
                grpc,
                shared,
                mode,
                RequestOrigin::Absent,
                Rejection::new(Reason::DuplicateOrigin),
            );
        }
        let origin = shared.cors.classify(req.headers());

        // ② CORS: preflights are answered before any authentication; foreign origins stop here.
        if mode.cors {
            if cors::is_preflight(req.method(), req.headers()) {
                return ResponseFuture::preflight(shared, &origin, req.headers());
            }
            if matches!(origin, RequestOrigin::Refused(_)) {
                return ResponseFuture::reject(
                    grpc,
                    shared,
                    mode,
                    origin,
                    Rejection::new(Reason::OriginNotAllowed),
                );
            }
        }
        if !mode.auth {
            return ResponseFuture::inner(self.inner.call(req), shared, mode, origin);
        }

        // ③ The token, from the configured sources (borrowed from the headers where it can be).
        let found = match token::extract(req.headers(), req.uri(), &shared.sources) {
            Ok(found) => found,
            Err(reason) => {
                return ResponseFuture::reject(grpc, shared, mode, origin, Rejection::new(reason));
            }
        };
        let Some(found) = found else {
            if mode.optional {
                #[cfg(feature = "axum")]
                req.extensions_mut()
                    .insert(crate::extract::Anonymous(Arc::clone(&shared.challenges)));
                return ResponseFuture::inner(self.inner.call(req), shared, mode, origin);
            }
            return ResponseFuture::reject(
                grpc,
                shared,
                mode,
                origin,
                Rejection::new(Reason::MissingToken),
            );
        };

        // ④ Verification: a cached token is settled here, without a copy or a future of its own.
        let token::Found {
            token,
            stripped_uri,
        } = found;
        let token = match shared.engine.verify_cached(&token, origin.as_str()) {
            None => token.into_owned(),
            Some(outcome) => {
                if let Some(uri) = stripped_uri {
                    *req.uri_mut() = uri;
                }
                token::mark_sensitive(req.headers_mut());
                return match outcome {
                    Ok(verified) => {
                        req.extensions_mut().insert(verified);
                        ResponseFuture::inner(self.inner.call(req), shared, mode, origin)
                    }
                    Err(rejection) => ResponseFuture::reject(grpc, shared, mode, origin, rejection),
                };
            }
        };
        if let Some(uri) = stripped_uri {
            *req.uri_mut() = uri;
        }
        token::mark_sensitive(req.headers_mut());
        // Take the service that was driven to readiness; leave a clone in its place
        // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::verify(grpc, shared, mode, origin, token, req, inner)
    }
}
