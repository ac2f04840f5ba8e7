//! The service: the whole request flow, one step per line.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::cors::{self, RequestOrigin};
use crate::identity::Verified;
use crate::layer::body::GuardBody;
use crate::layer::future::ResponseFuture;
use crate::layer::shared::Mode;
use crate::layer::shared::Shared;
use crate::reject::{Reason, Rejection};
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

        // ① Origin: more than one is not a browser's request.
        let mut origins = req.headers().get_all(header::ORIGIN).iter();
        let first_origin = origins.next();
        if origins.next().is_some() {
            return ResponseFuture::reject(
                is_grpc(&req),
                shared,
                mode,
                RequestOrigin::Absent,
                Rejection::new(Reason::DuplicateOrigin),
            );
        }
        let origin = shared.cors.classify_value(first_origin);

        // ② CORS: preflights are answered before any authentication; foreign origins stop here.
        if mode.cors {
            if cors::is_preflight(req.method(), req.headers()) {
                return ResponseFuture::preflight(shared, &origin, req.headers());
            }
            if matches!(origin, RequestOrigin::Refused(_)) {
                return ResponseFuture::reject(
                    is_grpc(&req),
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
                let rejection = Rejection::new(reason);
                return ResponseFuture::reject(is_grpc(&req), shared, mode, origin, rejection);
            }
        };
        let Some(found) = found else {
            if mode.optional {
                #[cfg(feature = "axum")]
                req.extensions_mut()
                    .insert(crate::extract::Anonymous(Arc::clone(&shared.responder)));
                return ResponseFuture::inner(self.inner.call(req), shared, mode, origin);
            }
            let rejection = Rejection::new(Reason::MissingToken);
            return ResponseFuture::reject(is_grpc(&req), shared, mode, origin, rejection);
        };

        // ④ Verification: a cached token is settled here, without a copy or a future of its own
        // (and without the charset check: only well-formed tokens are ever cached).
        if let Some(outcome) = shared.engine.verify_cached(&found.token, origin.as_str()) {
            if let Some(uri) = found.stripped_uri {
                *req.uri_mut() = uri;
            }
            token::mark_sensitive(req.headers_mut());
            return match outcome {
                Ok(verified) => {
                    req.extensions_mut().insert(verified);
                    ResponseFuture::inner(self.inner.call(req), shared, mode, origin)
                }
                Err(rejection) => {
                    ResponseFuture::reject(is_grpc(&req), shared, mode, origin, rejection)
                }
            };
        }
        // A miss. Every source yields ASCII or UTF-8 already: the conversion cannot fail, and
        // fails closed if it did.
        let token = match found.check().and_then(|()| {
            String::from_utf8(found.token.into_owned()).map_err(|_| Reason::MalformedCredential)
        }) {
            Ok(token) => token,
            Err(reason) => {
                let rejection = Rejection::new(reason);
                return ResponseFuture::reject(is_grpc(&req), shared, mode, origin, rejection);
            }
        };
        if let Some(uri) = found.stripped_uri {
            *req.uri_mut() = uri;
        }
        token::mark_sensitive(req.headers_mut());
        // Take the service that was driven to readiness; leave a clone in its place
        // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::verify(is_grpc(&req), shared, mode, origin, token, req, inner)
    }
}

/// gRPC clients read refusals from `grpc-status`, not from the HTTP status. Looked up only
/// when the layer may answer itself: a cache hit that passes never needs it.
fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
