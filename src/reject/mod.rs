//! Run-time refusals: why a request was refused ([`Reason`]), its class ([`RejectionKind`]) and
//! the [`Rejection`] that travels in the refusal response's extensions.
//!
//! Every reason is declared once, in the table of `define_reasons!` below, with its stable code,
//! its class and its description; the enum, [`Reason::ALL`], `code`, `kind` and `description`
//! are generated from it. [`response`] turns a rejection into the HTTP (or gRPC) response.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use http::StatusCode;

pub(crate) mod response;

/// The class of a refused request: it fixes the status code and the `WWW-Authenticate`
/// challenge of the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No credentials at all: 401 with a bare `Bearer realm` challenge (RFC 6750 §3.1).
    MissingToken,
    /// A malformed request (two `Authorization` headers, an empty bearer token, …): 400.
    InvalidRequest,
    /// A token that fails a size, parsing, signature, algorithm or claim check: 401.
    InvalidToken,
    /// A valid token for a tenant outside the allowlist: 403.
    InsufficientScope,
    /// A request whose `Origin` is not allowed: 403, no challenge.
    OriginNotAllowed,
    /// A CORS preflight that is refused: 403, no CORS headers.
    PreflightRefused,
    /// No key can be had because the JWKS endpoint fails, or the replay store is full or
    /// unavailable: 503.
    TemporarilyUnavailable,
}

impl RejectionKind {
    /// The status code of the response.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::OriginNotAllowed | Self::PreflightRefused => {
                StatusCode::FORBIDDEN
            }
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code of the JSON body (and of the challenge, where there is one).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::PreflightRefused => "preflight_refused",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Declares [`Reason`] from one table: `Variant => "code", Kind, "description";`, each with its
/// doc line. The order of the table is the order of [`Reason::ALL`], and a reason's index there
/// is its discriminant (`reason as usize`).
macro_rules! define_reasons {
    ($($(#[doc = $doc:literal])+ $variant:ident => $code:literal, $kind:ident, $description:literal;)+) => {
        /// Why a request was refused: a stable reason code, logged at debug and attached to the
        /// rejection response's extensions.
        ///
        /// The description is fixed text chosen by the crate: it never contains the token, its
        /// claims or any other value the client sent.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Reason {
            /// Every reason, e.g. to pre-register metric labels.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The class of the rejection, which fixes its status code.
            #[must_use]
            pub fn kind(self) -> RejectionKind {
                match self {
                    $(Self::$variant => RejectionKind::$kind,)+
                }
            }

            /// A stable snake_case code: the `reason` member of the JSON body of every refusal,
            /// the `reason` field of the log line and the `reason` label of the metric. Codes
            /// are never renamed once released (a test pins the list).
            #[must_use]
            pub fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// A short human-readable description, safe to send to the client.
            #[must_use]
            pub fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => $description,)+
                }
            }
        }
    };
}

define_reasons! {
    /// No token in any configured source.
    MissingToken => "missing_token", MissingToken, "no bearer token was presented";
    /// More than one `Authorization` header.
    DuplicateAuthorization => "duplicate_authorization", InvalidRequest, "more than one Authorization header";
    /// A bearer credential that is empty or not a single b64token.
    MalformedCredential => "malformed_credential", InvalidRequest, "the bearer credential is empty or malformed";
    /// Two cookies of the configured name, or an empty one.
    MalformedCookie => "malformed_cookie", InvalidRequest, "the token cookie is duplicated or empty";
    /// Two query parameters of the configured name, or an empty one.
    MalformedQuery => "malformed_query", InvalidRequest, "the token query parameter is duplicated or empty";
    /// More than one `Origin` header.
    DuplicateOrigin => "duplicate_origin", InvalidRequest, "more than one Origin header";
    /// The token is longer than the size cap.
    TokenTooLarge => "token_too_large", InvalidToken, "the token is too large";
    /// Not a compact JWS of three base64url segments.
    MalformedToken => "malformed_token", InvalidToken, "the token is not a compact JWS";
    /// The JOSE header is not acceptable (bad JSON, `crit`, `b64`, missing `alg`, …).
    BadHeader => "bad_header", InvalidToken, "the token header is not acceptable";
    /// The token's `alg` is not one the issuer's key source accepts.
    AlgorithmNotAllowed => "algorithm_not_allowed", InvalidToken, "the token algorithm is not allowed";
    /// The payload is not a JSON object, or has duplicate members or excessive nesting.
    BadPayload => "bad_payload", InvalidToken, "the token payload is not acceptable";
    /// No issuer is configured for this token.
    UnknownIssuer => "unknown_issuer", InvalidToken, "the token issuer is not accepted";
    /// No key with the token's `kid` is known.
    UnknownKid => "unknown_kid", InvalidToken, "the token key id is unknown";
    /// More than one key fits the token.
    AmbiguousKey => "ambiguous_key", InvalidToken, "more than one key fits the token";
    /// No key fits the token's algorithm.
    NoMatchingKey => "no_matching_key", InvalidToken, "no key fits the token";
    /// The signature does not verify.
    BadSignature => "bad_signature", InvalidToken, "the token signature is invalid";
    /// `exp` is in the past.
    Expired => "expired", InvalidToken, "the token has expired";
    /// `nbf` is in the future.
    NotYetValid => "not_yet_valid", InvalidToken, "the token is not valid yet";
    /// `iat` is in the future.
    IssuedInFuture => "issued_in_future", InvalidToken, "the token was issued in the future";
    /// `exp - iat` exceeds the configured maximum lifetime.
    LifetimeTooLong => "lifetime_too_long", InvalidToken, "the token lifetime is too long";
    /// `now - iat` exceeds the configured maximum age.
    TooOld => "too_old", InvalidToken, "the token is too old";
    /// A date claim that is not a number in range.
    BadDate => "bad_date", InvalidToken, "a date claim is not a valid NumericDate";
    /// `iss` is missing or differs from the configured issuer.
    BadIssuer => "bad_issuer", InvalidToken, "the token issuer is not accepted";
    /// `aud` is missing, malformed, or names none of the configured audiences.
    BadAudience => "bad_audience", InvalidToken, "the token audience is not accepted";
    /// A required claim is missing (or null).
    MissingClaim => "missing_claim", InvalidToken, "a required claim is missing";
    /// The tenant claim is missing or not a string or integer.
    BadTenant => "bad_tenant", InvalidToken, "the tenant claim is missing or malformed";
    /// The tenant is not on the allowlist.
    TenantNotAllowed => "tenant_not_allowed", InsufficientScope, "the tenant is not allowed";
    /// The `jti` was already used.
    Replayed => "replayed", InvalidToken, "the token was already used";
    /// The replay store is full.
    ReplayStoreFull => "replay_store_full", TemporarilyUnavailable, "the replay store is full";
    /// The shared replay store (Redis) is down, unreachable, refusing the credentials or
    /// slower than its timeout.
    ReplayStoreUnavailable => "replay_store_unavailable", TemporarilyUnavailable, "the replay store is temporarily unavailable";
    /// The request's `Origin` is not allowed.
    OriginNotAllowed => "origin_not_allowed", OriginNotAllowed, "the request origin is not allowed";
    /// The request's `Origin` is not allowed for this issuer or tenant.
    OriginNotBound => "origin_not_bound", OriginNotAllowed, "the request origin is not allowed for this token";
    /// A refused CORS preflight.
    PreflightRefused => "preflight_refused", PreflightRefused, "the preflight request is not allowed";
    /// No key can be had because the JWKS endpoint fails.
    KeysUnavailable => "keys_unavailable", TemporarilyUnavailable, "the signing keys are temporarily unavailable";
    /// The claims do not deserialize into the type a handler asked for.
    ClaimsShape => "claims_shape", InvalidToken, "the token claims do not have the expected shape";
    /// A claim check (`Issuer::check` or `JwtGuardLayer::check`) refused the verified claims.
    ClaimCheckFailed => "claim_check_failed", InsufficientScope, "the token does not grant access to this resource";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A refused request, attached to the extensions of the rejection response.
///
/// Hand-written `Display`; no token, claim or header value is ever part of it. It also tells,
/// where they were known when the request was refused, the configured name of the issuer and
/// the token's `kid` (both in the `jwt_guard::reject` log line, never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    retry_after: Option<u64>,
    issuer: Option<Arc<str>>,
    kid: Option<Arc<str>>,
}

impl Rejection {
    pub(crate) fn new(reason: Reason) -> Self {
        Self {
            reason,
            retry_after: None,
            issuer: None,
            kid: None,
        }
    }

    pub(crate) fn unavailable(reason: Reason, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(reason)
        }
    }

    /// The same rejection, with the issuer and `kid` it concerns (where not already set).
    pub(crate) fn with_context(mut self, issuer: Option<Arc<str>>, kid: Option<Arc<str>>) -> Self {
        if self.issuer.is_none() {
            self.issuer = issuer;
        }
        if self.kid.is_none() {
            self.kid = kid;
        }
        self
    }

    /// The configured name of the issuer the token was routed to, when the refusal came after
    /// that was known (a bad signature, an expired token, a tenant outside the allowlist, …).
    #[must_use]
    pub fn issuer_name(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The `kid` of the token's header, when the token was parsed and had one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Why the request was refused.
    #[must_use]
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The class of the rejection.
    #[must_use]
    pub fn kind(&self) -> RejectionKind {
        self.reason.kind()
    }

    /// The status code of the response.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.reason.kind().status()
    }

    /// For 503 rejections: seconds after which a retry may succeed (at least 1).
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Self::new(reason)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.kind(), self.reason.description())
    }
}

impl StdError for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released codes, in table order. A renamed, removed or reordered code fails here:
    /// pages match on these strings. New reasons are appended to the table and to this list.
    const GOLDEN: &[&str] = &[
        "missing_token",
        "duplicate_authorization",
        "malformed_credential",
        "malformed_cookie",
        "malformed_query",
        "duplicate_origin",
        "token_too_large",
        "malformed_token",
        "bad_header",
        "algorithm_not_allowed",
        "bad_payload",
        "unknown_issuer",
        "unknown_kid",
        "ambiguous_key",
        "no_matching_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "lifetime_too_long",
        "too_old",
        "bad_date",
        "bad_issuer",
        "bad_audience",
        "missing_claim",
        "bad_tenant",
        "tenant_not_allowed",
        "replayed",
        "replay_store_full",
        "replay_store_unavailable",
        "origin_not_allowed",
        "origin_not_bound",
        "preflight_refused",
        "keys_unavailable",
        "claims_shape",
        "claim_check_failed",
    ];

    #[test]
    fn codes_are_the_released_golden_list() {
        let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, GOLDEN);
    }

    #[test]
    fn codes_are_snake_case() {
        for reason in Reason::ALL {
            let code = reason.code();
            assert!(
                !code.is_empty()
                    && code.starts_with(|c: char| c.is_ascii_lowercase())
                    && !code.ends_with('_')
                    && !code.contains("__")
                    && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{reason:?}: {code}"
            );
        }
    }

    #[test]
    fn all_lists_every_reason_once_with_a_unique_code() {
        assert_eq!(Reason::ALL.len(), GOLDEN.len());
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        let codes: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
    }

    #[test]
    fn reasons_map_to_the_contract_statuses() {
        assert_eq!(
            Reason::MissingToken.kind().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            Reason::DuplicateAuthorization.kind().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Reason::BadSignature.kind().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            Reason::TenantNotAllowed.kind().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(Reason::OriginNotBound.kind().code(), "origin_not_allowed");
        assert_eq!(
            Reason::KeysUnavailable.kind().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Reason::ReplayStoreFull.kind().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            Reason::ReplayStoreUnavailable.kind().code(),
            "temporarily_unavailable"
        );
        assert_eq!(
            Rejection::unavailable(Reason::KeysUnavailable, 0).retry_after(),
            Some(1)
        );
    }
}
