//! The README's code, compiled and run: every ```rust block of README.md is a whole program,
//! byte for byte one of the files under `tests/readme/` (each compiled here in a module; those
//! that run offline are run), and README.md renders cleanly outside rustdoc: no hidden `#`
//! lines, no rustdoc-only (intra-doc) links, no rustdoc code-block attributes, and every Rust
//! snippet is preceded by the `Cargo.toml` lines it needs, naming only real features.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;

mod appdirect {
    include!("readme/appdirect.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod blendr {
    include!("readme/blendr.rs");
}
mod blendr_signed_query {
    include!("readme/blendr_signed_query.rs");
}
mod claim_check {
    include!("readme/claim_check.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod config {
    include!("readme/config.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod extractors {
    include!("readme/extractors.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod hyper {
    include!("readme/hyper.rs");
}
mod jwks_cors {
    include!("readme/jwks_cors.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod pandium {
    include!("readme/pandium.rs");
}
mod quick_start {
    include!("readme/quick_start.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod replicas {
    include!("readme/replicas.rs");

    pub(super) fn run() {
        main().unwrap();
    }
}
mod several {
    include!("readme/several.rs");
}
mod testing {
    include!("readme/testing.rs");

    pub(super) fn run() {
        main();
    }
}
mod versori {
    include!("readme/versori.rs");
}

// The snippets that need no network, no file and no secret in the environment run as written.
#[test]
fn the_offline_snippets_run() {
    quick_start::run();
    replicas::run();
    jwks_cors::run();
    extractors::run();
    claim_check::run();
    appdirect::run();
    config::run();
    testing::run();
}

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The fenced blocks of `text`: (info string, body), in order.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some("")) => out.push(open.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code block");
    out
}

/// README.md without its code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("```") {
            inside = !inside;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(DIR).join("README.md")).unwrap()
}

fn snippet_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(Path::new(DIR).join("tests/readme"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_rust_block_is_a_compiled_snippet_and_every_snippet_is_shown() {
    let readme = readme();
    let files = snippet_files();
    let this = include_str!("readme.rs");
    for (name, _) in &files {
        assert!(
            this.contains(&format!("include!(\"readme/{name}\")")),
            "tests/readme/{name} is not compiled by tests/readme.rs"
        );
    }
    let mut shown = BTreeSet::new();
    for (info, body) in blocks(&readme) {
        if info != "rust" {
            continue;
        }
        let found = files
            .iter()
            .find(|(_, text)| text.trim_end() == body.trim_end());
        let Some((name, _)) = found else {
            panic!(
                "a README ```rust block is not one of tests/readme/*.rs (copy it there, or fix \
                 the difference):\n{body}"
            );
        };
        shown.insert(name.clone());
    }
    for (name, _) in &files {
        assert!(
            shown.contains(name),
            "tests/readme/{name} is not shown in README.md"
        );
    }
}

#[test]
fn the_readme_renders_without_rustdoc() {
    let readme = readme();
    for (info, body) in blocks(&readme) {
        assert!(
            ["rust", "toml", "text", "json", "sh", "ini", "yaml"].contains(&info.as_str()),
            "code block attribute {info:?}: GitHub and crates.io show it as is"
        );
        if info == "rust" {
            for line in body.lines() {
                let t = line.trim_start();
                assert!(
                    !(t == "#" || t.starts_with("# ")),
                    "hidden doctest line in README.md: {line}"
                );
            }
        }
    }
    let prose = prose(&readme);
    for rustdoc_only in ["](crate::", "](super::", "](self::", "](Self::"] {
        assert!(
            !prose.contains(rustdoc_only),
            "intra-doc link {rustdoc_only} in README.md"
        );
    }
    // `[`Name`]` with no `(url)` after it is a link only rustdoc resolves.
    for (i, _) in prose.match_indices("`]") {
        let next = prose[i + 2..].chars().next();
        assert!(
            matches!(next, Some('(')),
            "a rustdoc-only link in README.md near: {}",
            &prose[prose[..i].rfind('[').unwrap_or(i)..(i + 2)]
        );
    }
}

#[test]
fn every_rust_block_has_its_cargo_lines_with_real_features() {
    let readme = readme();
    let manifest = std::fs::read_to_string(Path::new(DIR).join("Cargo.toml")).unwrap();
    let features = manifest
        .split("[features]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap()
        .to_owned();
    let mut cargo_lines_seen = false;
    for (info, body) in blocks(&readme) {
        if info == "toml" && body.contains("jwt-guard") {
            cargo_lines_seen = true;
            for line in body.lines().filter(|l| l.starts_with("jwt-guard")) {
                let list = line.split("features = [").nth(1).unwrap_or("]");
                for feature in list.split(']').next().unwrap().split(',') {
                    let feature = feature.trim().trim_matches('"');
                    if !feature.is_empty() {
                        assert!(
                            features.contains(&format!("\n{feature} = ")),
                            "README.md names the feature {feature:?}, which Cargo.toml lacks"
                        );
                    }
                }
            }
        }
        if info == "rust" {
            assert!(
                cargo_lines_seen,
                "a ```rust block with no Cargo.toml lines before it:\n{body}"
            );
            cargo_lines_seen = false;
        }
    }
}

#[test]
fn the_reason_table_lists_every_code() {
    let readme = readme();
    for reason in jwt_guard::Reason::ALL {
        let row = format!("| `{}` |", reason.code());
        assert!(
            readme.contains(&row),
            "README.md's reason table has no row for {}",
            reason.code()
        );
    }
}
