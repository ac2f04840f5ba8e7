//! The service: [`admit`] decides what a request gets (① `Origin`, ② CORS, ③ token, ④ cache),
//! and `call` is one `match` over that [`Admission`].

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri, header};
use http_body::Body;
use tower_service::Service;

use crate::check::{self, ClaimCheck};
use crate::cors::{self, RequestOrigin};
use crate::identity::Verified;
use crate::layer::body::GuardBody;
use crate::layer::future::{MissToken, RequestCtx, ResponseFuture};
use crate::layer::shared::{Mode, Shared};
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
    /// The layer's own claim checks ([`JwtGuardLayer::check`](crate::JwtGuardLayer::check)).
    checks: Arc<[ClaimCheck]>,
}

impl<S> JwtGuardService<S> {
    /// The service around `inner`, for a layer of this `mode` and these claim checks.
    pub(crate) fn new(
        inner: S,
        shared: Arc<Shared>,
        mode: Mode,
        checks: Arc<[ClaimCheck]>,
    ) -> Self {
        Self {
            inner,
            shared,
            mode,
            checks,
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
        // An identity is never taken from the request as it came in.
        req.extensions_mut().remove::<Verified>();
        let (origin, admission) = admit(&self.shared, self.mode, &req);
        let ctx = RequestCtx {
            shared: Arc::clone(&self.shared),
            mode: self.mode,
            origin,
        };
        match admission {
            Admission::Preflight => ResponseFuture::preflight(ctx, &req),
            Admission::Reject(rejection) => ResponseFuture::reject(ctx, &req, rejection),
            Admission::Pass => ResponseFuture::inner(ctx, self.inner.call(req)),
            Admission::Anonymous => {
                #[cfg(feature = "axum")]
                req.extensions_mut()
                    .insert(crate::extract::Anonymous(Arc::clone(&ctx.shared.responder)));
                ResponseFuture::inner(ctx, self.inner.call(req))
            }
            Admission::Hit(verified, _) if !check::all_allow(&self.checks, &verified) => {
                ResponseFuture::reject(ctx, &req, check::failed(&verified))
            }
            Admission::Hit(verified, stripped_uri) => {
                hide_token(&mut req, stripped_uri);
                req.extensions_mut().insert(verified);
                ResponseFuture::inner(ctx, self.inner.call(req))
            }
            Admission::Verify(token, stripped_uri) => {
                hide_token(&mut req, stripped_uri);
                // Take the service that was driven to readiness; leave a clone in its place
                // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verify(ctx, token, req, inner, Arc::clone(&self.checks))
            }
        }
    }
}

/// What the layer does with a request, decided from its headers and URI alone.
enum Admission {
    /// A CORS preflight: the layer answers it.
    Preflight,
    /// Refused: the layer answers with this rejection.
    Reject(Rejection),
    /// On to the inner service without identity (a CORS-only layer).
    Pass,
    /// On to the inner service without identity: an optional layer and no token at all.
    Anonymous,
    /// On to the inner service with the identity of a cached token (and the URI without a
    /// query token).
    Hit(Verified, Option<Uri>),
    /// A token not in the cache, well-formed so far: verify it in full first.
    Verify(MissToken, Option<Uri>),
}

/// The request's `Origin` and its [`Admission`], in the order of the checks:
/// ① one `Origin` at most, ② CORS (preflight, then a foreign origin), ③ the token,
/// ④ the cache, then the charset of a token the cache does not know.
fn admit<B>(shared: &Shared, mode: Mode, req: &Request<B>) -> (RequestOrigin, Admission) {
    // ① Origin: more than one is not a browser's request.
    let mut origins = req.headers().get_all(header::ORIGIN).iter();
    let first_origin = origins.next();
    if origins.next().is_some() {
        return (RequestOrigin::Absent, refuse(Reason::DuplicateOrigin));
    }
    let origin = shared.cors.classify_value(first_origin);
    let admission = admit_from(shared, mode, req, &origin);
    (origin, admission)
}

/// ② to ④ of [`admit`], once the origin is known.
fn admit_from<B>(
    shared: &Shared,
    mode: Mode,
    req: &Request<B>,
    origin: &RequestOrigin,
) -> Admission {
    // ② CORS: preflights are answered before any authentication; foreign origins stop here,
    // unless the policy only omits CORS headers for them on public routes (a layer without
    // authentication). A layer that authenticates refuses them in that case, even when it
    // leaves CORS to an outer layer.
    let foreign = matches!(origin, RequestOrigin::Refused(_));
    if mode.cors && cors::is_preflight(req.method(), req.headers()) {
        return Admission::Preflight;
    }
    if foreign && (mode.cors || shared.cors.omits_foreign()) {
        let public = !mode.auth && shared.cors.omits_foreign();
        if !public {
            return refuse(Reason::OriginNotAllowed);
        }
    }
    if !mode.auth {
        return Admission::Pass;
    }
    // ③ The token, from the configured sources (borrowed from the headers where it can be).
    let found = match token::extract(req.headers(), req.uri(), &shared.sources) {
        Ok(Some(found)) => found,
        Ok(None) if mode.optional => return Admission::Anonymous,
        Ok(None) => return refuse(Reason::MissingToken),
        Err(reason) => return refuse(reason),
    };
    // ④ Verification: a cached token is settled here, without a copy or a future of its own
    // (and without the charset check: only well-formed tokens are ever cached).
    match shared.engine.verify_cached(&found.token, origin.as_str()) {
        Some(Ok(verified)) => return Admission::Hit(verified, found.stripped_uri),
        Some(Err(rejection)) => return Admission::Reject(rejection),
        None => {}
    }
    // A miss. Every source yields ASCII or UTF-8 already: the check cannot fail, and fails
    // closed if it did.
    let token = found.check().and_then(|()| {
        std::str::from_utf8(&found.token).map_err(|_| Reason::MalformedCredential)?;
        Ok(match &found.token {
            Cow::Borrowed(token) => MissToken::from_headers(req.headers(), token),
            Cow::Owned(_) => None,
        }
        .unwrap_or_else(|| MissToken::Owned(found.token.into_owned())))
    });
    match token {
        Ok(token) => Admission::Verify(token, found.stripped_uri),
        Err(reason) => refuse(reason),
    }
}

/// A refusal for `reason`, without `Retry-After`.
fn refuse(reason: Reason) -> Admission {
    Admission::Reject(Rejection::new(reason))
}

/// The token leaves the request the inner service sees: a query token is cut from the URI,
/// and `Authorization` is marked sensitive.
fn hide_token<B>(req: &mut Request<B>, stripped_uri: Option<Uri>) {
    if let Some(uri) = stripped_uri {
        *req.uri_mut() = uri;
    }
    token::mark_sensitive(req.headers_mut());
}
