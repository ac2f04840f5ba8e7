//! The two error families: [`ConfigError`] when a layer is built, [`Rejection`] when a request is
//! refused.
//!
//! A configuration mistake is always a `ConfigError` returned by a builder or by
//! [`Config::from_toml`](crate::Config::from_toml), never a panic. A refused request is never an
//! error of the service: it becomes a response (see [`reject`](crate::reject)), and the
//! [`Rejection`] that caused it travels in that response's extensions.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;

/// A mistake in the configuration, found when the layer is built.
///
/// Every variant names the key at fault, in the spelling of the TOML configuration
/// (`issuers[0].secret`, `cors.allow_origins[2]`) or of the builder method.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that is present but not acceptable.
    Invalid {
        /// The key at fault, e.g. `issuers[1].leeway`.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A key that must be set is missing.
    Missing {
        /// The key that must be set.
        key: String,
    },
    /// The configuration file could not be read.
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has a key that is not known.
    Syntax {
        /// The TOML parser's message, which names the line and the key.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(key: impl Into<String>) -> Self {
        Self::Missing { key: key.into() }
    }

    /// The key at fault, when the error is about one key.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } | Self::Missing { key } => Some(key),
            Self::Io { .. } | Self::Syntax { .. } => None,
        }
    }

    /// Prefixes the key with the place it sits in, e.g. `issuers[0]` + `secret`.
    pub(crate) fn within(self, prefix: &str) -> Self {
        let join = |key: String| {
            if key.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match self {
            Self::Invalid { key, reason } => Self::Invalid {
                key: join(key),
                reason,
            },
            Self::Missing { key } => Self::Missing { key: join(key) },
            other => other,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { key, reason } => write!(f, "invalid `{key}`: {reason}"),
            Self::Missing { key } => write!(f, "missing `{key}`"),
            Self::Io { path, source } => write!(f, "cannot read {path}: {source}"),
            Self::Syntax { message } => write!(f, "invalid configuration: {message}"),
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

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
    /// No key can be had because the JWKS endpoint fails, or a shared store is full: 503.
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

/// Why a request was refused: a stable reason code, logged at debug and attached to the
/// rejection response's extensions.
///
/// The description is fixed text chosen by the crate: it never contains the token, its claims
/// or any other value the client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No token in any configured source.
    MissingToken,
    /// More than one `Authorization` header.
    DuplicateAuthorization,
    /// A bearer credential that is empty or not a single b64token.
    MalformedCredential,
    /// Two cookies of the configured name, or an empty one.
    MalformedCookie,
    /// Two query parameters of the configured name, or an empty one.
    MalformedQuery,
    /// More than one `Origin` header.
    DuplicateOrigin,
    /// The token is longer than the size cap.
    TokenTooLarge,
    /// Not a compact JWS of three base64url segments.
    MalformedToken,
    /// The JOSE header is not acceptable (bad JSON, `crit`, `b64`, missing `alg`, …).
    BadHeader,
    /// The token's `alg` is not one the issuer's key source accepts.
    AlgorithmNotAllowed,
    /// The payload is not a JSON object, or has duplicate members or excessive nesting.
    BadPayload,
    /// No issuer is configured for this token.
    UnknownIssuer,
    /// No key with the token's `kid` is known.
    UnknownKid,
    /// More than one key fits the token.
    AmbiguousKey,
    /// No key fits the token's algorithm.
    NoMatchingKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// `exp - iat` exceeds the configured maximum lifetime.
    LifetimeTooLong,
    /// `now - iat` exceeds the configured maximum age.
    TooOld,
    /// A date claim that is not a number in range.
    BadDate,
    /// `iss` is missing or differs from the configured issuer.
    BadIssuer,
    /// `aud` is missing, malformed, or names none of the configured audiences.
    BadAudience,
    /// A required claim is missing (or null).
    MissingClaim,
    /// The tenant claim is missing or not a string or integer.
    BadTenant,
    /// The tenant is not on the allowlist.
    TenantNotAllowed,
    /// The `jti` was already used.
    Replayed,
    /// The replay store is full.
    ReplayStoreFull,
    /// The request's `Origin` is not allowed.
    OriginNotAllowed,
    /// The request's `Origin` is not allowed for this issuer or tenant.
    OriginNotBound,
    /// A refused CORS preflight.
    PreflightRefused,
    /// No key can be had because the JWKS endpoint fails.
    KeysUnavailable,
    /// The claims do not deserialize into the type a handler asked for.
    ClaimsShape,
}

impl Reason {
    /// Every reason, e.g. to pre-register metric labels.
    pub const ALL: &'static [Self] = &[
        Self::MissingToken,
        Self::DuplicateAuthorization,
        Self::MalformedCredential,
        Self::MalformedCookie,
        Self::MalformedQuery,
        Self::DuplicateOrigin,
        Self::TokenTooLarge,
        Self::MalformedToken,
        Self::BadHeader,
        Self::AlgorithmNotAllowed,
        Self::BadPayload,
        Self::UnknownIssuer,
        Self::UnknownKid,
        Self::AmbiguousKey,
        Self::NoMatchingKey,
        Self::BadSignature,
        Self::Expired,
        Self::NotYetValid,
        Self::IssuedInFuture,
        Self::LifetimeTooLong,
        Self::TooOld,
        Self::BadDate,
        Self::BadIssuer,
        Self::BadAudience,
        Self::MissingClaim,
        Self::BadTenant,
        Self::TenantNotAllowed,
        Self::Replayed,
        Self::ReplayStoreFull,
        Self::OriginNotAllowed,
        Self::OriginNotBound,
        Self::PreflightRefused,
        Self::KeysUnavailable,
        Self::ClaimsShape,
    ];

    /// The class of the rejection, which fixes its status code.
    #[must_use]
    pub fn kind(self) -> RejectionKind {
        use RejectionKind as K;
        match self {
            Self::MissingToken => K::MissingToken,
            Self::DuplicateAuthorization
            | Self::MalformedCredential
            | Self::MalformedCookie
            | Self::MalformedQuery
            | Self::DuplicateOrigin => K::InvalidRequest,
            Self::TenantNotAllowed => K::InsufficientScope,
            Self::OriginNotAllowed | Self::OriginNotBound => K::OriginNotAllowed,
            Self::PreflightRefused => K::PreflightRefused,
            Self::KeysUnavailable | Self::ReplayStoreFull => K::TemporarilyUnavailable,
            _ => K::InvalidToken,
        }
    }

    /// A stable snake_case code for logs and metrics.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::DuplicateAuthorization => "duplicate_authorization",
            Self::MalformedCredential => "malformed_credential",
            Self::MalformedCookie => "malformed_cookie",
            Self::MalformedQuery => "malformed_query",
            Self::DuplicateOrigin => "duplicate_origin",
            Self::TokenTooLarge => "token_too_large",
            Self::MalformedToken => "malformed_token",
            Self::BadHeader => "bad_header",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::BadPayload => "bad_payload",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnknownKid => "unknown_kid",
            Self::AmbiguousKey => "ambiguous_key",
            Self::NoMatchingKey => "no_matching_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::TooOld => "too_old",
            Self::BadDate => "bad_date",
            Self::BadIssuer => "bad_issuer",
            Self::BadAudience => "bad_audience",
            Self::MissingClaim => "missing_claim",
            Self::BadTenant => "bad_tenant",
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::Replayed => "replayed",
            Self::ReplayStoreFull => "replay_store_full",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::OriginNotBound => "origin_not_bound",
            Self::PreflightRefused => "preflight_refused",
            Self::KeysUnavailable => "keys_unavailable",
            Self::ClaimsShape => "claims_shape",
        }
    }

    /// A short human-readable description, safe to send to the client.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingToken => "no bearer token was presented",
            Self::DuplicateAuthorization => "more than one Authorization header",
            Self::MalformedCredential => "the bearer credential is empty or malformed",
            Self::MalformedCookie => "the token cookie is duplicated or empty",
            Self::MalformedQuery => "the token query parameter is duplicated or empty",
            Self::DuplicateOrigin => "more than one Origin header",
            Self::TokenTooLarge => "the token is too large",
            Self::MalformedToken => "the token is not a compact JWS",
            Self::BadHeader => "the token header is not acceptable",
            Self::AlgorithmNotAllowed => "the token algorithm is not allowed",
            Self::BadPayload => "the token payload is not acceptable",
            Self::UnknownIssuer => "the token issuer is not accepted",
            Self::UnknownKid => "the token key id is unknown",
            Self::AmbiguousKey => "more than one key fits the token",
            Self::NoMatchingKey => "no key fits the token",
            Self::BadSignature => "the token signature is invalid",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token was issued in the future",
            Self::LifetimeTooLong => "the token lifetime is too long",
            Self::TooOld => "the token is too old",
            Self::BadDate => "a date claim is not a valid NumericDate",
            Self::BadIssuer => "the token issuer is not accepted",
            Self::BadAudience => "the token audience is not accepted",
            Self::MissingClaim => "a required claim is missing",
            Self::BadTenant => "the tenant claim is missing or malformed",
            Self::TenantNotAllowed => "the tenant is not allowed",
            Self::Replayed => "the token was already used",
            Self::ReplayStoreFull => "the replay store is full",
            Self::OriginNotAllowed => "the request origin is not allowed",
            Self::OriginNotBound => "the request origin is not allowed for this token",
            Self::PreflightRefused => "the preflight request is not allowed",
            Self::KeysUnavailable => "the signing keys are temporarily unavailable",
            Self::ClaimsShape => "the token claims do not have the expected shape",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A refused request, attached to the extensions of the rejection response.
///
/// Hand-written `Display`; no token, claim or header value is ever part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    retry_after: Option<u64>,
}

impl Rejection {
    pub(crate) fn new(reason: Reason) -> Self {
        Self {
            reason,
            retry_after: None,
        }
    }

    pub(crate) fn unavailable(reason: Reason, retry_after_secs: u64) -> Self {
        Self {
            reason,
            retry_after: Some(retry_after_secs.max(1)),
        }
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

    #[test]
    fn config_error_names_the_key_with_its_prefix() {
        let err = ConfigError::invalid("secret", "must be at least 32 bytes").within("issuers[0]");
        assert_eq!(err.key(), Some("issuers[0].secret"));
        assert_eq!(
            err.to_string(),
            "invalid `issuers[0].secret`: must be at least 32 bytes"
        );
    }

    #[test]
    fn all_lists_every_reason_once_with_a_unique_code() {
        // Adding a variant breaks this exhaustive match until it is listed here and in ALL.
        fn position(reason: Reason) -> usize {
            match reason {
                Reason::MissingToken => 0,
                Reason::DuplicateAuthorization => 1,
                Reason::MalformedCredential => 2,
                Reason::MalformedCookie => 3,
                Reason::MalformedQuery => 4,
                Reason::DuplicateOrigin => 5,
                Reason::TokenTooLarge => 6,
                Reason::MalformedToken => 7,
                Reason::BadHeader => 8,
                Reason::AlgorithmNotAllowed => 9,
                Reason::BadPayload => 10,
                Reason::UnknownIssuer => 11,
                Reason::UnknownKid => 12,
                Reason::AmbiguousKey => 13,
                Reason::NoMatchingKey => 14,
                Reason::BadSignature => 15,
                Reason::Expired => 16,
                Reason::NotYetValid => 17,
                Reason::IssuedInFuture => 18,
                Reason::LifetimeTooLong => 19,
                Reason::TooOld => 20,
                Reason::BadDate => 21,
                Reason::BadIssuer => 22,
                Reason::BadAudience => 23,
                Reason::MissingClaim => 24,
                Reason::BadTenant => 25,
                Reason::TenantNotAllowed => 26,
                Reason::Replayed => 27,
                Reason::ReplayStoreFull => 28,
                Reason::OriginNotAllowed => 29,
                Reason::OriginNotBound => 30,
                Reason::PreflightRefused => 31,
                Reason::KeysUnavailable => 32,
                Reason::ClaimsShape => 33,
            }
        }
        assert_eq!(Reason::ALL.len(), 34);
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(position(*reason), i);
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
            Rejection::unavailable(Reason::KeysUnavailable, 0).retry_after(),
            Some(1)
        );
    }
}
