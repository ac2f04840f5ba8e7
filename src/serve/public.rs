//! `public_paths`: a path is public when, as received, it starts with one of them and has no
//! `.` or `..` segment, percent-encoded or not.
//!
//! The dot-segment check is wider than the letter of RFC 3986, to match what upstream servers
//! do with a path: `%2e` in any case counts as a dot, `/`, `\` and their encodings (`%2f`,
//! `%5c`) separate segments, and a segment's parameters (`..;x`, as Java servers read them) are
//! ignored. A path refused here is not refused: it only needs a token.

/// Whether `path` (as received, not decoded) is public under `prefixes`.
pub(super) fn is_public(path: &str, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|prefix| path.starts_with(prefix.as_str()))
        && !has_dot_segment(path)
}

/// Whether any segment of `path` is `.` or `..`, in any spelling an upstream may decode.
fn has_dot_segment(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut dots = 0usize;
    // Whether the current segment is (so far) made of dots only, and has not ended in `;`.
    let mut only_dots = true;
    let mut in_params = false;
    let mut i = 0;
    loop {
        let (unit, len) = match bytes.get(i) {
            None => (Unit::End, 0),
            Some(b'/' | b'\\') => (Unit::Separator, 1),
            Some(b'.') => (Unit::Dot, 1),
            Some(b';') => (Unit::Params, 1),
            Some(b'%') => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'2'), Some(b'e' | b'E')) => (Unit::Dot, 3),
                (Some(b'2'), Some(b'f' | b'F')) | (Some(b'5'), Some(b'c' | b'C')) => {
                    (Unit::Separator, 3)
                }
                _ => (Unit::Other, 1),
            },
            Some(_) => (Unit::Other, 1),
        };
        match unit {
            Unit::End | Unit::Separator => {
                if only_dots && (dots == 1 || dots == 2) {
                    return true;
                }
                if matches!(unit, Unit::End) {
                    return false;
                }
                dots = 0;
                only_dots = true;
                in_params = false;
            }
            _ if in_params => {}
            Unit::Dot => dots += 1,
            Unit::Params => in_params = true,
            Unit::Other => only_dots = false,
        }
        i += len;
    }
}

/// One unit of a path for [`has_dot_segment`].
enum Unit {
    End,
    Separator,
    Dot,
    Params,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(path: &str) -> bool {
        is_public(path, &["/public/".to_owned(), "/docs".to_owned()])
    }

    #[test]
    fn prefixes_as_received() {
        assert!(public("/public/"));
        assert!(public("/public/a/b.css"));
        assert!(public("/docs"));
        assert!(public("/docs/index.html"));
        assert!(
            public("/docs-v2"),
            "a prefix without a trailing / matches any continuation"
        );
        assert!(!public("/public"));
        assert!(!public("/Public/a"));
        assert!(!public("/private/public/"));
        assert!(!public("//public/a"));
    }

    #[test]
    fn dot_segments_in_every_spelling_are_not_public() {
        for path in [
            "/public/../admin",
            "/public/./a",
            "/public/..",
            "/public/.",
            "/public/%2e%2e/admin",
            "/public/%2E%2e/admin",
            "/public/.%2e/admin",
            "/public/%2e/admin",
            "/public/..%2fadmin",
            "/public/..%2Fadmin",
            "/public/..%5cadmin",
            "/public/..\\admin",
            "/public/..;/admin",
            "/public/..;x=1/admin",
            "/docs/../admin",
        ] {
            assert!(!public(path), "{path}");
        }
    }

    #[test]
    fn dots_inside_names_stay_public() {
        for path in [
            "/public/a.b",
            "/public/...",
            "/public/.hidden",
            "/public/..a",
            "/public/a..",
            "/public/%2e%2e%2e",
            "/public/%2ex",
            "/public/%41",
            "/public/%",
        ] {
            assert!(public(path), "{path}");
        }
    }
}
