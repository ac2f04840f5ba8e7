//! `serve`'s connections, black box: HTTP/1.1 and HTTP/2 with prior knowledge told apart from
//! the first bytes, however they are split across packets (HTTP/1 requests whose first packet
//! is one byte, `G`, or `P`, which may also start HTTP/2's preface; the preface sent in
//! pieces); and connections that are silent or idle never hold up a shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/serve.rs"]
mod serve_process;

use std::time::Duration;

use serve_process::{BOUND, Serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const CONFIG: &str = r#"
listen = "127.0.0.1:0"

[[issuers]]
name = "partner"
secret = "a-shared-secret-for-the-protocol-tests-32"
"#;

/// Writes `pieces` with a pause between them, then reads what comes back (until the server
/// closes the connection, or `at_least` bytes).
async fn exchange(serve: &Serve, pieces: &[&[u8]], at_least: usize) -> Vec<u8> {
    let mut stream = TcpStream::connect(serve.addr).await.unwrap();
    for piece in pieces {
        stream.write_all(piece).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, async {
        let mut chunk = [0u8; 4096];
        while out.len() < at_least {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("an answer in time");
    out
}

#[tokio::test]
async fn http1_and_h2c_are_told_apart_however_the_first_bytes_arrive() {
    let serve = Serve::start(CONFIG, &[]).await;
    let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for pieces in [
        vec![&get[..]],
        vec![&get[..1], &get[1..]],
        vec![&get[..3], &get[3..20], &get[20..]],
    ] {
        let answer = exchange(&serve, &pieces, usize::MAX).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "{pieces:?}: {text}"
        );
        assert!(text.ends_with("\r\n\r\nok"), "{text}");
    }

    // `P` alone may be the start of HTTP/2's preface: the HTTP/1 request that follows is
    // still served as HTTP/1 (405: /healthz answers GET and HEAD only).
    let put = b"PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for pieces in [vec![&put[..]], vec![&put[..1], &put[1..]]] {
        let answer = exchange(&serve, &pieces, usize::MAX).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 405"), "{pieces:?}: {text}");
    }

    // HTTP/2 with prior knowledge, the preface whole or in pieces: the server's first frame
    // is its SETTINGS (type 4 on stream 0).
    let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
    for pieces in [
        vec![&h2[..]],
        vec![&h2[..1], &h2[1..]],
        vec![&h2[..10], &h2[10..]],
    ] {
        let answer = exchange(&serve, &pieces, 9).await;
        assert!(answer.len() >= 9, "{pieces:?}: {answer:?}");
        assert_eq!(answer[3], 4, "{pieces:?}: not a SETTINGS frame: {answer:?}");
        assert_eq!(&answer[5..9], &[0, 0, 0, 0], "{pieces:?}");
    }
    serve.stop().await;
}

/// Connections that never sent a byte (a browser's preconnected sockets), and one idle after a
/// request: SIGTERM still ends `serve` at once, with exit status 0, not after the 10 s grace for
/// requests in flight. (Each kind on its own, then all together.)
#[tokio::test]
async fn silent_and_idle_connections_do_not_hold_up_a_shutdown() {
    // (A head left half-sent is a request in progress: it gets the grace, as it should.)
    for (silent_count, with_idle, with_partial) in
        [(3, false, false), (0, true, false), (3, true, false)]
    {
        let serve = Serve::start(CONFIG, &[]).await;
        let mut silent = Vec::new();
        for _ in 0..silent_count {
            silent.push(TcpStream::connect(serve.addr).await.unwrap());
        }
        let mut open = Vec::new();
        if with_idle {
            let mut idle = TcpStream::connect(serve.addr).await.unwrap();
            idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = [0u8; 512];
            let n = idle.read(&mut answer).await.unwrap();
            assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
            open.push(idle);
        }
        if with_partial {
            let mut partial = TcpStream::connect(serve.addr).await.unwrap();
            partial.write_all(b"GET /heal").await.unwrap();
            open.push(partial);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        let started = std::time::Instant::now();
        serve.stop().await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "serve took {took:?} to stop (silent {silent_count}, idle {with_idle}, partial {with_partial})"
        );
        drop((silent, open));
    }
}
