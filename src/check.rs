//! Claim checks: caller closures over a verified identity, run after every built-in check, per
//! issuer ([`Issuer::check`](crate::Issuer::check)) or per layer
//! ([`JwtGuardLayer::check`](crate::JwtGuardLayer::check)). A `false` refuses the request with
//! 403 `insufficient_scope`, reason `claim_check_failed`.

use std::fmt;
use std::sync::Arc;

use crate::identity::Verified;
use crate::reject::{Reason, Rejection};

/// One claim check: `true` lets the request through.
#[derive(Clone)]
pub(crate) struct ClaimCheck(Arc<dyn Fn(&Verified) -> bool + Send + Sync>);

impl ClaimCheck {
    pub(crate) fn new(check: impl Fn(&Verified) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Whether this check lets `verified` through.
    pub(crate) fn allows(&self, verified: &Verified) -> bool {
        (self.0)(verified)
    }
}

impl fmt::Debug for ClaimCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimCheck(..)")
    }
}

/// Whether every check of `checks` lets `verified` through (no check: yes).
pub(crate) fn all_allow(checks: &[ClaimCheck], verified: &Verified) -> bool {
    checks.iter().all(|check| check.allows(verified))
}

/// The refusal of a layer's claim check, naming the issuer and `kid` for the log line.
pub(crate) fn failed(verified: &Verified) -> Rejection {
    Rejection::new(Reason::ClaimCheckFailed).with_context(
        Some(Arc::from(verified.issuer_name())),
        verified.kid().map(Arc::from),
    )
}
