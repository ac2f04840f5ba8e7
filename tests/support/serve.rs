//! The `serve` example as a process, for the black-box tests (proxy, nginx, replicas,
//! hardening): where the binary is, a config file in the temp dir, the running process with its
//! captured stderr, and a run that must be refused.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Generous bound for a process to start, answer or stop (a debug build on a busy machine).
pub const BOUND: Duration = Duration::from_secs(30);

/// The built `serve` example (or `JWT_GUARD_SERVE_BIN`).
pub fn serve_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("JWT_GUARD_SERVE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("serve{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the serve example is not built: {} is missing (`cargo test --all-features` builds it; \
         alone: `cargo build --all-features --example serve`)",
        bin.display()
    );
    bin
}

/// `serve CONFIG` with a clean environment: `defaults`, then `envs` (which may override them).
/// Nothing is inherited from the test's own environment, so a variable a test means to leave
/// unset is unset.
pub fn command(config: &Path, defaults: &[(&str, &str)], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(serve_binary());
    cmd.arg(config)
        .env_clear()
        .envs(defaults.iter().copied())
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A file in the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(ext: &str, text: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "jwt-guard-serve-test-{}-{}.{ext}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn collect(
    mut reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

/// A running `serve` process.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _config: TempFile,
}

impl Serve {
    /// Starts `serve` with this config and environment, and waits for its `listening on` line.
    pub async fn start(toml: &str, envs: &[(&str, &str)]) -> Self {
        let config = TempFile::new("toml", toml);
        let mut child = command(&config.0, &[("RUST_LOG", "warn")], envs)
            .spawn()
            .expect("spawn serve");
        let stderr = collect(child.stderr.take().unwrap());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = tokio::time::timeout(BOUND, stdout.read_line(&mut line)).await;
        let Ok(Ok(n)) = read else {
            panic!("serve did not start: {:?}", stderr.lock().unwrap())
        };
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!("serve exited: {}", stderr.lock().unwrap());
        }
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        let _rest = collect(stdout);
        Self {
            child,
            addr,
            stderr,
            _config: config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The peak resident set size of the process so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap();
        kb * 1024
    }

    /// SIGTERM, and exit status 0.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("serve stops")
            .unwrap();
        assert!(status.success(), "{status:?}: {}", self.stderr());
    }
}

/// Runs `serve` with a config it must refuse, logging at `debug` (so that anything a refusal
/// could write is seen): (status, stdout, stderr).
pub async fn refused(toml: &str, envs: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let config = TempFile::new("toml", toml);
    let out = tokio::time::timeout(
        BOUND,
        command(&config.0, &[("RUST_LOG", "debug")], envs).output(),
    )
    .await
    .expect("serve exits")
    .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
