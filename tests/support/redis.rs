//! A real `redis-server` of the test's own, on a free loopback port, killed on drop; shared by
//! the `it` and `replicas` test binaries.
//!
//! A missing `redis-server` fails the test (run `scripts/install-redis`): it is never skipped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING (a busy machine).
const START_BOUND: Duration = Duration::from_secs(20);

/// A running `redis-server` on 127.0.0.1, with no persistence.
pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn redis_server_binary() -> &'static str {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "redis-server is not installed: run scripts/install-redis (scripts/test does)"
    );
    "redis-server"
}

impl RedisServer {
    /// A server on a free port.
    pub(crate) fn start() -> Self {
        Self::start_on(free_port(), None)
    }

    /// A server on a free port that requires `password` (`--requirepass`).
    pub(crate) fn with_password(password: &str) -> Self {
        Self::start_on(free_port(), Some(password))
    }

    /// A server on `port`, answering PING before this returns.
    pub(crate) fn start_on(port: u16, password: Option<&str>) -> Self {
        let mut command = Command::new(redis_server_binary());
        command
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .args(["--loglevel", "warning"]);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let mut server = Self {
            child: Some(child),
            port,
            password: password.map(str::to_owned),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_BOUND;
        loop {
            if self.ping() {
                return;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {START_BOUND:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers PING now (within 500 ms).
    pub(crate) fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:PORT/0`.
    pub(crate) fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A blocking connection, for inspecting keys.
    pub(crate) fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client");
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to the test's redis-server");
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        conn
    }

    /// Every key with its PTTL (ms; -1: no expiry) and its value.
    pub(crate) fn keys(&self) -> Vec<(String, i64, String)> {
        let mut conn = self.connection();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("KEYS");
        keys.into_iter()
            .map(|key| {
                let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).expect("PTTL");
                let value: String = redis::cmd("GET").arg(&key).query(&mut conn).expect("GET");
                (key, ttl, value)
            })
            .collect()
    }

    /// Removes every key.
    pub(crate) fn flush(&self) {
        let mut conn = self.connection();
        let _: () = redis::cmd("FLUSHALL").query(&mut conn).expect("FLUSHALL");
    }

    fn signal(&self, signal: &str) {
        let Some(child) = &self.child else {
            return;
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// SIGSTOP: the server keeps its socket but answers nothing.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL, and waits for the process to be gone (its port is free again).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a new, empty one on the same port.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let password = self.password.clone();
        *self = Self::start_on(self.port, password.as_deref());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A stopped process must be continued to die of SIGKILL promptly on some systems.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}
