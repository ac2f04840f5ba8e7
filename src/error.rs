//! Build-time errors: [`ConfigError`].
//!
//! A configuration mistake is always a `ConfigError` returned by a builder or by
//! `Config::from_toml`, never a panic. A refused request is never an error: it is a
//! [`Rejection`](crate::Rejection), rendered as a response.

use std::error::Error as StdError;
use std::fmt;

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
}
