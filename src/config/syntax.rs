//! The message of a TOML error, built here and never taken from the parser's `Display`: that
//! one quotes the offending source line, and a configuration line may hold a `secret`. This
//! one says where (line, column, and the key when it can be told safely) and what, with every
//! value the parser quoted left out.

use crate::error::ConfigError;

/// The error of a configuration file that does not parse or does not fit the schema.
pub(super) fn syntax_error(text: &str, error: &toml::de::Error) -> ConfigError {
    let what = sanitise(error.message());
    let message = match error.span() {
        Some(span) => {
            let place = locate(text, span.start);
            match place.key {
                Some(key) => format!(
                    "line {}, column {}, key `{key}`: {what}",
                    place.line, place.column
                ),
                None => format!("line {}, column {}: {what}", place.line, place.column),
            }
        }
        None => what,
    };
    ConfigError::Syntax { message }
}

/// The messages whose quoted parts are key names (from the schema or as the file spells them),
/// never values.
const KEY_MESSAGES: [&str; 4] = [
    "unknown field",
    "missing field",
    "duplicate field",
    "duplicate key",
];

/// The parser's message without any value it quotes: a quoted part (`` `…` ``, `"…"`, `'…'`)
/// stays only when it names a key in a message about keys (`unknown field `secrte``), or is a
/// bit of TOML punctuation (`` `=` ``); anything else becomes `…`. One line, at most 300 bytes.
fn sanitise(message: &str) -> String {
    let about_keys = KEY_MESSAGES.iter().any(|m| message.starts_with(m));
    let mut out = String::with_capacity(message.len().min(300));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"', '\'']) {
        let (before, quoted) = rest.split_at(open);
        out.push_str(before);
        let mut chars = quoted.chars();
        let quote = chars.next().unwrap_or('`');
        let inner = chars.as_str();
        let Some(close) = inner.find(quote) else {
            // An unbalanced quote: what follows may be a value.
            out.push('…');
            rest = "";
            break;
        };
        let (content, after) = inner.split_at(close);
        let keep = (about_keys && is_key_name(content)) || is_punctuation(content);
        out.push(quote);
        out.push_str(if keep { content } else { "…" });
        out.push(quote);
        rest = after.get(quote.len_utf8()..).unwrap_or("");
    }
    out.push_str(rest);
    let mut line: String = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    if line.is_empty() {
        line.push_str("not a valid configuration");
    }
    line
}

/// A bare TOML key as a schema would name it: ASCII letters, digits, `_` and `-`, at most 64.
fn is_key_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A TOML literal the parser expects: one visible ASCII character (`=`, `b` of `\b`), or two or
/// three of punctuation (`]]`, `'''`).
fn is_punctuation(s: &str) -> bool {
    (s.len() == 1 && s.bytes().all(|b| b.is_ascii_graphic()))
        || ((2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_punctuation()))
}

/// Where an offset is: 1-based line and column (in characters), and the dotted key of the
/// line when it starts outside any multi-line string and spells one plainly.
struct Place {
    line: usize,
    column: usize,
    key: Option<String>,
}

/// Scans `text` up to `offset`, string-aware: a line inside a multi-line string is never read
/// as a key or a table header (it may be a secret's content).
fn locate(text: &str, offset: usize) -> Place {
    let before = text.get(..offset).unwrap_or(text);
    let mut table: Option<String> = None;
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut in_multiline: Option<&str> = None;
    let mut line_no = 0;
    let mut line_key: Option<String> = None;
    let mut last_line_start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if pos > before.len() {
            break;
        }
        line_no += 1;
        last_line_start = pos;
        line_key = None;
        let starts_in_string = in_multiline.is_some();
        // Where this line's multi-line string state ends up (delimiters counted, escapes too).
        in_multiline = scan_multiline(line, in_multiline);
        if !starts_in_string {
            let trimmed = line.trim();
            if let Some(header) = header_name(trimmed) {
                let array = trimmed.starts_with("[[");
                table = Some(if array {
                    let n = match counts.iter_mut().find(|(name, _)| *name == header) {
                        Some((_, n)) => {
                            *n += 1;
                            *n
                        }
                        None => {
                            counts.push((header.clone(), 0));
                            0
                        }
                    };
                    format!("{header}[{n}]")
                } else {
                    header
                });
            } else {
                line_key = line_key_name(trimmed);
            }
        }
        pos += line.len();
    }
    let column = before
        .get(last_line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    let key = match (table, line_key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    };
    Place {
        line: line_no.max(1),
        column,
        key,
    }
}

/// The multi-line string state after `line`: `Some("\"\"\"")` or `Some("'''")` while inside one.
/// Single-line strings and comments are skipped so that their quotes do not count.
fn scan_multiline<'d>(line: &str, mut state: Option<&'d str>) -> Option<&'d str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = bytes.get(i..).unwrap_or_default();
        match state {
            Some(delim) => {
                if delim == "\"\"\"" && rest.first() == Some(&b'\\') {
                    i += 2;
                    continue;
                }
                if rest.starts_with(delim.as_bytes()) {
                    state = None;
                    i += 3;
                    continue;
                }
                i += 1;
            }
            None => {
                if rest.starts_with(b"\"\"\"") {
                    state = Some("\"\"\"");
                    i += 3;
                } else if rest.starts_with(b"'''") {
                    state = Some("'''");
                    i += 3;
                } else if let Some(&q) = rest.first().filter(|b| **b == b'"' || **b == b'\'') {
                    // A one-line string: to its closing quote or the end of the line.
                    i += 1;
                    while let Some(&b) = bytes.get(i) {
                        i += 1;
                        if q == b'"' && b == b'\\' {
                            i += 1;
                        } else if b == q {
                            break;
                        }
                    }
                } else if rest.first() == Some(&b'#') {
                    break;
                } else {
                    i += 1;
                }
            }
        }
    }
    state
}

/// `[a.b]` or `[[a.b]]` with a plain dotted name: the name.
fn header_name(line: &str) -> Option<String> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.split_once("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.split_once(']')))
        .map(|(name, _)| name.trim())?;
    is_dotted_key(inner).then(|| inner.to_owned())
}

/// `name = …` or `a.b = …` with a plain dotted name: the name.
fn line_key_name(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    is_dotted_key(key).then(|| key.replace(' ', ""))
}

/// Bare keys joined by dots (spaces around dots allowed).
fn is_dotted_key(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|part| is_key_name(part.trim()))
}

#[cfg(test)]
mod tests;
