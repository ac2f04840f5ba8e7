//! The `[cors]` keys of the configuration file that need more than a setter call.

use std::time::Duration;

use crate::error::ConfigError;

/// The `[cors]` preflight cache time of a configuration file: `preflight_max_age`, or its
/// alias `max_age` (not both), parsed and checked here so that an error names the key as
/// the file spells it.
pub(crate) fn preflight_max_age_key(
    preflight_max_age: Option<String>,
    max_age: Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    let (text, key) = match (preflight_max_age, max_age) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                "max_age",
                "is the former name of preflight_max_age: set only one of them",
            ));
        }
        (Some(text), None) => (text, "preflight_max_age"),
        (None, Some(text)) => (text, "max_age"),
    };
    let max_age = super::duration(&text, key)?;
    if max_age > crate::cors::MAX_PREFLIGHT_MAX_AGE {
        return Err(ConfigError::invalid(key, "must be at most 24h"));
    }
    Ok(Some(max_age))
}
