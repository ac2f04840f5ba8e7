//! `preset = "appdirect" | "pandium" | "blendr" | "versori"` in an `[[issuers]]` table: the
//! library's presets (`crate::presets`) applied to the issuer's key source, before the keys
//! written beside `preset`, which replace the preset's values whole.

use crate::error::ConfigError;
use crate::issuer::Issuer;
use crate::presets::settings;

/// The presets, with the key source each one takes its keys from.
const PRESETS: [(&str, &str); 4] = [
    ("appdirect", "jwks_url"),
    ("pandium", "secret"),
    ("blendr", "secret"),
    ("versori", "public_key_pem"),
];

/// What the issuer table gives beside `preset`, as far as the preset needs to know.
pub(super) struct Given<'a> {
    /// The key source that is set (`jwks_url`, `secret`, ...), if any.
    pub(super) source: Option<&'static str>,
    /// `issuer` is set.
    pub(super) issuer: bool,
    /// `audiences` is set (and not empty).
    pub(super) audiences: bool,
    /// The preset's name as written.
    pub(super) preset: &'a str,
}

/// Checks that the preset is known and fits the key source, and that the issuer table gives
/// what the preset needs. Errors name keys inside the issuer table (`preset`, `jwks_url`, ...).
pub(super) fn check(given: &Given<'_>) -> Result<(), ConfigError> {
    let Some((name, wanted)) = PRESETS.iter().find(|(name, _)| *name == given.preset) else {
        return Err(ConfigError::invalid(
            "preset",
            format!(
                "{:?} is not a preset: one of \"appdirect\", \"pandium\", \"blendr\" and \"versori\"",
                given.preset
            ),
        ));
    };
    let fits = |source: &str| match *wanted {
        // A secret may be given directly or through the environment.
        "secret" => source == "secret" || source == "secret_env",
        wanted => source == wanted,
    };
    match given.source {
        None => {
            let keys = if *wanted == "secret" {
                "secret` or `secret_env"
            } else {
                wanted
            };
            return Err(ConfigError::invalid(
                "",
                format!("the {name} preset needs its key source: `{keys}`"),
            ));
        }
        Some(source) if !fits(source) => {
            return Err(ConfigError::invalid(
                source,
                format!("the {name} preset takes its keys from `{wanted}`, not `{source}`"),
            ));
        }
        Some(_) => {}
    }
    if *name == "versori" {
        if !given.issuer {
            return Err(ConfigError::missing("issuer"));
        }
        if !given.audiences {
            return Err(ConfigError::missing("audiences"));
        }
    }
    Ok(())
}

/// The preset's settings on `issuer` (already [`check`]ed).
pub(super) fn apply(preset: &str, issuer: Issuer) -> Issuer {
    match preset {
        "appdirect" => settings::appdirect(issuer),
        "pandium" => settings::pandium(issuer),
        "blendr" => settings::blendr(issuer),
        "versori" => settings::versori(issuer),
        _ => issuer,
    }
}
