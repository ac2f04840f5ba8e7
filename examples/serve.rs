//! jwt-guard in front of a small API, configured by a TOML file: the program a user deploys
//! without writing Rust, and the surface outside conformance suites drive.
//!
//! ```text
//! cargo run --release --example serve -- PATH/TO/guard.toml
//! ```
//!
//! A thin wrapper over [`jwt_guard::serve::main`], the same program as the `jwt-guard serve`
//! binary (`cargo install jwt-guard --features server`). Its command line, config file, routes
//! and status codes are the project's serve contract: one line `listening on http://ADDR` on
//! stdout, logs on stderr, exit 0 on SIGTERM or Ctrl-C, a configuration error names its key.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: serve PATH/TO/guard.toml");
        return ExitCode::from(2);
    };
    jwt_guard::serve::main(path)
}
