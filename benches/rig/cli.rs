//! The command line and the runtime of the `bench_*` programs (`harness = false` benches run
//! with `cargo bench --bench NAME -- ARGS`).
//!
//! `cargo bench` passes `--bench` to every harness-less target: it is dropped here. `--test` and
//! `--list` (from `cargo test --benches` or a test runner listing targets) mean "nothing to
//! measure": the program checks [`Cli::is_test_run`] and returns.

use std::future::Future;
use std::str::FromStr;

/// The arguments of one bench program, less `cargo bench`'s `--bench`.
#[derive(Debug)]
pub struct Cli {
    name: &'static str,
    usage: &'static str,
    args: std::vec::IntoIter<String>,
    test_run: bool,
}

impl Cli {
    /// The process's arguments; `usage` is what follows `cargo bench --bench NAME --`.
    pub fn new(name: &'static str, usage: &'static str) -> Self {
        Self::from_args(name, usage, std::env::args().skip(1))
    }

    /// These arguments (the program name left out).
    pub fn from_args(
        name: &'static str,
        usage: &'static str,
        args: impl IntoIterator<Item = String>,
    ) -> Self {
        let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
        let test_run = args.iter().any(|a| a == "--test" || a == "--list");
        Self {
            name,
            usage,
            args: args.into_iter(),
            test_run,
        }
    }

    /// Started by `cargo test --benches` (`--test`) or asked to `--list`: measure nothing.
    pub fn is_test_run(&self) -> bool {
        self.test_run
    }

    /// The next argument that is not a flag (a mode), if any.
    pub fn positional(&mut self) -> Option<String> {
        if self.args.as_slice().first()?.starts_with("--") {
            return None;
        }
        self.args.next()
    }

    /// The next `--flag value` pair; a flag without its value ends the program with the usage.
    pub fn next_flag(&mut self) -> Option<(String, String)> {
        let flag = self.args.next()?;
        match self.args.next() {
            Some(value) => Some((flag, value)),
            None => self.fail(&format!("{flag} needs a value")),
        }
    }

    /// `value` parsed for `flag`, or the end of the program with the usage.
    pub fn parse<T: FromStr>(&self, flag: &str, value: &str) -> T {
        value
            .parse()
            .unwrap_or_else(|_| self.fail(&format!("{flag}: `{value}` is not a valid value")))
    }

    /// Ends the program: the message and the usage on stderr, exit status 2.
    pub fn fail(&self, message: &str) -> ! {
        eprintln!("{}: {message}", self.name);
        eprintln!("usage: cargo bench --bench {} -- {}", self.name, self.usage);
        std::process::exit(2)
    }
}

/// Runs `future` to completion on a current-thread tokio runtime (timers and I/O enabled).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// The machine's load average (`/proc/loadavg`, the first three figures).
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
