//! `jwt-guard serve CONFIG`: the verifying server and reverse proxy, configured by a TOML file
//! (see the README's "Deploy as a sidecar" section and the crate's `serve` module).

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "usage: jwt-guard serve PATH/TO/guard.toml";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let words: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    let path = match (words.as_slice(), args.get(1)) {
        ([Some("serve"), _], Some(path)) => path.clone(),
        ([Some("--version" | "-V")], _) => {
            println!("jwt-guard {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ([Some("--help" | "-h" | "help")], _) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    jwt_guard::serve::main(path)
}
