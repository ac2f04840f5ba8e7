//! End to end as a user deploys it: a real nginx (its own config, free loopback port, temp
//! dir, `daemon off`, started and stopped by the test) in front of `serve` in proxy mode, in
//! front of an upstream. Chunked bodies, keep-alive and header casing survive the chain.
//!
//! nginx comes from `scripts/install-nginx` (run by `scripts/test`); without it this test
//! fails, it never skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/proxy.rs"]
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_guard::Algorithm;
use jwt_guard::testing::{TestKey, TokenBuilder};
use support::{AnyBody, BOUND, Serve, Upstream, client, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "a-shared-secret-for-the-nginx-test-32+!";

fn token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    TokenBuilder::new(
        Arc::new(TestKey::hmac(SECRET.as_bytes(), Algorithm::HS256)),
        now,
    )
    .subject(sub)
    .sign()
}

fn nginx_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        let path = PathBuf::from(candidate);
        if path.is_file() {
            return path;
        }
    }
    panic!("nginx is not installed: run scripts/install-nginx (scripts/test does)");
}

/// An nginx of this test: its prefix dir, its process.
struct Nginx {
    child: tokio::process::Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx on a free port; tries again on another port where the one picked was
    /// taken in the meantime (nginx exits at once when it cannot bind).
    async fn start(backend: SocketAddr) -> Self {
        for _ in 0..5 {
            if let Some(nginx) = Self::try_start(backend).await {
                return nginx;
            }
        }
        panic!("nginx did not start in 5 tries");
    }

    async fn try_start(backend: SocketAddr) -> Option<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jwt-guard-nginx-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.display();
        let conf = format!(
            r#"
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream jwt_guard {{
        server {backend};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://jwt_guard;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
"#
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = tokio::process::Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = tokio::time::timeout(BOUND, async {
            loop {
                if let Ok(Some(_exited)) = child.try_wait() {
                    return false;
                }
                if TcpStream::connect(addr).await.is_ok() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let nginx = Self { child, addr, dir };
        match started {
            Ok(true) => Some(nginx),
            Ok(false) => {
                eprintln!("nginx exited: {}", nginx.error_log());
                nginx.stop().await;
                None
            }
            Err(_) => panic!("nginx did not listen: {}", nginx.error_log()),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }

    /// SIGQUIT: a graceful stop of the master and its worker.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(BOUND, self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    /// After a failed assertion: SIGTERM to the master, which stops its worker (a SIGKILL would
    /// leave the worker behind).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

fn config(upstream: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
[[issuers]]
name = "partner"
secret = "{SECRET}"
[upstream]
url = "{upstream}"
"#
    )
}

/// Reads one CRLF-terminated line.
async fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        let n = tokio::time::timeout(BOUND, stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "the connection closed mid-line: {}",
            String::from_utf8_lossy(&line)
        );
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Reads one HTTP/1.1 response (`Content-Length` or chunked) from a kept-alive connection:
/// its head as received, then its body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut head = String::new();
    loop {
        let line = read_line(stream).await;
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, value) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        body = vec![0u8; length.parse().unwrap()];
        tokio::time::timeout(BOUND, stream.read_exact(&mut body))
            .await
            .unwrap()
            .unwrap();
    } else {
        assert_eq!(
            header("transfer-encoding").as_deref(),
            Some("chunked"),
            "{head}"
        );
        loop {
            let size = usize::from_str_radix(read_line(stream).await.trim_end(), 16).unwrap();
            let mut chunk = vec![0u8; size + 2];
            tokio::time::timeout(BOUND, stream.read_exact(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    format!("{head}{}", String::from_utf8_lossy(&body))
}

#[tokio::test]
async fn nginx_in_front_of_serve_in_front_of_an_upstream() {
    let upstream = Upstream::start().await;
    let serve = Serve::start(&config(&upstream.url()), &[]).await;
    let nginx = Nginx::start(serve.addr).await;
    let client = client();
    let auth = format!("Bearer {}", token("through-nginx"));

    // Chunked both ways: a 5 MB upload without Content-Length, a 5 MB download without one.
    const SIZE: u64 = 5 * 1024 * 1024;
    let answer = send(
        &client,
        "POST",
        &nginx.url("/upload"),
        &[("authorization", &auth)],
        AnyBody::Repeat(SIZE),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?} {}", nginx.error_log());
    assert_eq!(answer.json()["bytes"], SIZE);
    let seen = upstream.last();
    assert_eq!(seen.body_len, SIZE);
    assert_eq!(seen.headers["x-auth-sub"], "through-nginx");
    assert_eq!(
        seen.headers["x-forwarded-for"], "127.0.0.1, 127.0.0.1",
        "nginx's hop, then serve's"
    );
    let answer = send(
        &client,
        "GET",
        &nginx.url(&format!("/download/{SIZE}")),
        &[("authorization", &auth)],
        AnyBody::Full(None),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body_len, SIZE);

    // Keep-alive: three requests on one client connection, one refused in the middle.
    let hits = upstream.hits();
    let mut stream = TcpStream::connect(nginx.addr).await.unwrap();
    let request = |auth: &str| {
        format!(
            "GET /kept HTTP/1.1\r\nHost: api.example\r\nAuthorization: {auth}\r\nX-Auth-Sub: spoof\r\n\r\n"
        )
    };
    stream.write_all(request(&auth).as_bytes()).await.unwrap();
    let first = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    stream
        .write_all(request("Bearer nope").as_bytes())
        .await
        .unwrap();
    let second = read_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 401"), "{second}");
    assert!(second.contains("invalid_token"), "{second}");
    stream.write_all(request(&auth).as_bytes()).await.unwrap();
    let third = read_response(&mut stream).await;
    assert!(third.starts_with("HTTP/1.1 200"), "{third}");
    assert_eq!(
        upstream.hits(),
        hits + 2,
        "the refused request stopped at serve"
    );
    assert_eq!(upstream.last().headers["x-auth-sub"], "through-nginx");
    assert_eq!(upstream.last().headers["x-forwarded-host"], "api.example");
    drop(stream);

    nginx.stop().await;
    serve.stop().await;
}

/// An upstream that records the raw request head and answers with mixed-case header names.
async fn raw_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heads);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Upstream-MiXeD-Case: Yes\r\n\
                          Connection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn header_casing_survives_nginx_and_serve_both_ways() {
    let (upstream, heads) = raw_upstream().await;
    let serve = Serve::start(&config(&format!("http://{upstream}")), &[]).await;
    let nginx = Nginx::start(serve.addr).await;
    let auth = format!("Bearer {}", token("case"));
    let mut stream = TcpStream::connect(nginx.addr).await.unwrap();
    let request = format!(
        "GET /case HTTP/1.1\r\nHost: api.example\r\nAuthorization: {auth}\r\nX-Client-MiXeD-Case: v\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\r\nX-Upstream-MiXeD-Case: Yes\r\n"),
        "{answer}"
    );
    let head = heads
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the upstream got the request");
    assert!(head.contains("\r\nX-Client-MiXeD-Case: v\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nx-auth-sub: case\r\n"),
        "{head}"
    );
    drop(stream);
    nginx.stop().await;
    serve.stop().await;
}
