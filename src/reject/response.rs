//! Every refusal becomes a response here, in one place: the status, the RFC 6750
//! `WWW-Authenticate` challenge, `Retry-After` for 503, and a small JSON body
//! `{"error": "...", "error_description": "...", "reason": "..."}` that never holds the token or
//! its claims (`reason` is [`Reason::code`], stable once released).
//!
//! The [`Rejection`] travels in the response's extensions, for logging or metrics layers
//! outside this one.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};

use crate::error::ConfigError;
use crate::reject::{Reason, Rejection, RejectionKind};

/// A body for rejection responses, made by the caller's renderer
/// ([`JwtGuardBuilder::render_rejections`](crate::JwtGuardBuilder::render_rejections)).
#[derive(Clone, Debug)]
pub struct RejectionBody {
    content_type: HeaderValue,
    body: Bytes,
}

impl RejectionBody {
    /// A body with its `Content-Type`.
    pub fn new(content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        Self {
            content_type,
            body: body.into(),
        }
    }
}

pub(crate) type Renderer = Arc<dyn Fn(&Rejection) -> RejectionBody + Send + Sync>;

/// Builds every refusal response: the responder and bodies prepared when the layer is built,
/// and the optional body renderer.
pub(crate) struct Responder {
    realm: String,
    missing: HeaderValue,
    invalid_request: HeaderValue,
    insufficient_scope: HeaderValue,
    /// Per reason, in the order of [`Reason::ALL`]: the `invalid_token` challenge (for the
    /// reasons of that kind) and the JSON body, prepared once so that a flood of bad tokens
    /// formats nothing.
    prepared: Vec<Prepared>,
    renderer: Option<Renderer>,
}

#[derive(Clone)]
struct Prepared {
    challenge: Option<HeaderValue>,
    body: Bytes,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("renderer", &self.renderer.is_some())
            .finish_non_exhaustive()
    }
}

impl Responder {
    pub(crate) fn new(realm: &str) -> Result<Self, ConfigError> {
        if realm.is_empty()
            || realm
                .bytes()
                .any(|b| !(b == b' ' || b.is_ascii_graphic()) || b == b'"' || b == b'\\')
        {
            return Err(ConfigError::invalid(
                "realm",
                "must be non-empty printable ASCII without `\"` or `\\`",
            ));
        }
        let value = |text: String| {
            HeaderValue::from_str(&text)
                .map_err(|_| ConfigError::invalid("realm", "not a valid header value"))
        };
        Ok(Self {
            realm: realm.to_owned(),
            missing: value(format!("Bearer realm=\"{realm}\""))?,
            invalid_request: value(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_request\""
            ))?,
            insufficient_scope: value(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\""
            ))?,
            prepared: Reason::ALL
                .iter()
                .map(|reason| {
                    let kind = reason.kind();
                    let challenge = (kind == RejectionKind::InvalidToken)
                        .then(|| {
                            value(format!(
                                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                                reason.description()
                            ))
                        })
                        .transpose()?;
                    // Both strings are fixed text of this crate: nothing to escape.
                    let body = Bytes::from(format!(
                        "{{\"error\":\"{}\",\"error_description\":\"{}\",\"reason\":\"{}\"}}",
                        kind.code(),
                        reason.description(),
                        reason.code()
                    ));
                    Ok(Prepared { challenge, body })
                })
                .collect::<Result<_, ConfigError>>()?,
            renderer: None,
        })
    }

    fn prepared(&self, reason: Reason) -> Option<&Prepared> {
        // `Reason::ALL` is in declaration order: a reason's discriminant is its index.
        self.prepared.get(reason as usize)
    }

    pub(crate) fn with_renderer(mut self, renderer: Option<Renderer>) -> Self {
        self.renderer = renderer;
        self
    }

    fn challenge(&self, rejection: &Rejection) -> Option<HeaderValue> {
        match rejection.kind() {
            RejectionKind::MissingToken => Some(self.missing.clone()),
            RejectionKind::InvalidRequest => Some(self.invalid_request.clone()),
            RejectionKind::InsufficientScope => Some(self.insufficient_scope.clone()),
            RejectionKind::InvalidToken => self
                .prepared(rejection.reason())
                .and_then(|p| p.challenge.clone()),
            _ => None,
        }
    }

    /// The response for `rejection`: a gRPC trailers-only response to a gRPC request, an HTTP one
    /// otherwise.
    pub(crate) fn respond(&self, rejection: Rejection, grpc: bool) -> Response<Bytes> {
        if !grpc {
            return self.response(rejection);
        }
        // gRPC over HTTP/2: status 200, the outcome in `grpc-status` / `grpc-message`
        // (trailers-only), which tonic and every gRPC client read.
        let code = match rejection.kind() {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => "16",
            RejectionKind::InsufficientScope
            | RejectionKind::OriginNotAllowed
            | RejectionKind::PreflightRefused => "7",
            RejectionKind::InvalidRequest => "3",
            RejectionKind::TemporarilyUnavailable => "14",
        };
        let mut response = Response::new(Bytes::new());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static(code));
        // The description is fixed ASCII text without `%`: valid as a grpc-message as is.
        if let Ok(message) = HeaderValue::from_str(rejection.reason().description()) {
            headers.insert("grpc-message", message);
        }
        self.finish(response, rejection, Some(code))
    }

    /// The response for `rejection`, with a full body.
    pub(crate) fn response(&self, rejection: Rejection) -> Response<Bytes> {
        let (content_type, body) = match &self.renderer {
            Some(render) => {
                let rendered = render(&rejection);
                (rendered.content_type, rendered.body)
            }
            // Both strings are fixed text of this crate: nothing to escape.
            None => (
                HeaderValue::from_static("application/json"),
                self.prepared(rejection.reason())
                    .map(|p| p.body.clone())
                    .unwrap_or_default(),
            ),
        };
        let mut response = Response::new(body);
        *response.status_mut() = rejection.kind().status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.finish(response, rejection, None)
    }

    /// What every refusal ends with, HTTP or gRPC (`grpc_status`): the challenge,
    /// `Retry-After`, the metric, the debug line and the [`Rejection`] in the extensions.
    fn finish(
        &self,
        mut response: Response<Bytes>,
        rejection: Rejection,
        grpc_status: Option<&'static str>,
    ) -> Response<Bytes> {
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge(&rejection) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = rejection.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        let reason = rejection.reason().code();
        crate::metrics::rejected(reason);
        // The issuer's configured name and the token's `kid`, where known; never the token.
        let issuer = rejection.issuer_name();
        let kid = rejection.kid();
        match grpc_status {
            Some(code) => tracing::debug!(
                target: "jwt_guard::reject",
                reason,
                issuer,
                kid,
                grpc_status = code,
                "grpc request rejected"
            ),
            None => tracing::debug!(
                target: "jwt_guard::reject",
                reason,
                issuer,
                kid,
                status = response.status().as_u16(),
                "request rejected"
            ),
        }
        response.extensions_mut().insert(rejection);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(reason: Reason) -> Response<Bytes> {
        Responder::new("jwt-guard")
            .unwrap()
            .response(Rejection::new(reason))
    }

    #[test]
    fn responder_follow_rfc_6750() {
        let r = render(Reason::MissingToken);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer realm=\"jwt-guard\"");
        let r = render(Reason::DuplicateAuthorization);
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"jwt-guard\", error=\"invalid_request\""
        );
        let r = render(Reason::Expired);
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"jwt-guard\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let r = render(Reason::TenantNotAllowed);
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"jwt-guard\", error=\"insufficient_scope\""
        );
        let r = render(Reason::OriginNotAllowed);
        assert_eq!(r.status(), 403);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let r = Responder::new("r")
            .unwrap()
            .response(Rejection::unavailable(Reason::KeysUnavailable, 7));
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[RETRY_AFTER], "7");
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn every_reason_has_a_json_body_with_its_code() {
        for &reason in Reason::ALL {
            let r = render(reason);
            let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(body["error"], reason.kind().code(), "{reason:?}");
            assert_eq!(body["error_description"], reason.description());
            assert_eq!(body["reason"], reason.code());
            assert_eq!(body.as_object().unwrap().len(), 3);
            assert_eq!(r.extensions().get::<Rejection>().unwrap().reason(), reason);
        }
    }

    #[test]
    fn a_renderer_replaces_the_body_but_not_the_status_or_challenge() {
        let renderer: Renderer = Arc::new(|rejection: &Rejection| {
            RejectionBody::new(
                HeaderValue::from_static("text/plain"),
                format!("nope: {}", rejection.reason().code()),
            )
        });
        let responder = Responder::new("api").unwrap().with_renderer(Some(renderer));
        let r = responder.response(Rejection::new(Reason::Expired));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain");
        assert_eq!(r.body(), "nope: expired");
        assert!(
            r.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer realm=\"api\", error=\"invalid_token\"")
        );
        let r = responder.response(Rejection::unavailable(Reason::KeysUnavailable, 3));
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[RETRY_AFTER], "3");
    }

    #[test]
    fn grpc_requests_get_a_grpc_status() {
        let c = Responder::new("r").unwrap();
        let r = c.respond(Rejection::new(Reason::MissingToken), true);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "16");
        assert_eq!(r.headers()["grpc-message"], "no bearer token was presented");
        assert!(r.body().is_empty());
        assert_eq!(
            c.respond(Rejection::new(Reason::TenantNotAllowed), true)
                .headers()["grpc-status"],
            "7"
        );
        assert_eq!(
            c.respond(Rejection::new(Reason::DuplicateAuthorization), true)
                .headers()["grpc-status"],
            "3"
        );
        let r = c.respond(Rejection::unavailable(Reason::KeysUnavailable, 2), true);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        assert_eq!(
            c.respond(Rejection::new(Reason::Expired), false).status(),
            401
        );
    }

    #[test]
    fn realm_must_be_quotable() {
        assert_eq!(Responder::new("a\"b").unwrap_err().key(), Some("realm"));
        assert_eq!(Responder::new("").unwrap_err().key(), Some("realm"));
        assert!(Responder::new("my api").is_ok());
    }
}
