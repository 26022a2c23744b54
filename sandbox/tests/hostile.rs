//! The sandbox under slow, idle and hostile clients (it runs in users' CI next to anything):
//! connections have a lifetime, the cap sheds the oldest idle connection, cleartext HTTP/2 is
//! not served, counters stay bounded, accept errors cost a log line per interval.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use agora_link_sandbox::{Limits, Sandbox, TlsIdentity, OTHER_PATHS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn short_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(500),
        body_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(800),
        max_connections: 4096,
    }
}

/// Reads until the server closes; whether it did within `within`, and what it sent.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    (read.is_ok(), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_silent_connections_are_closed_over_http_and_https() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let (identity, _ca) = TlsIdentity::generate_for(&["localhost"]).unwrap();
    for tls in [false, true] {
        let mut builder = Sandbox::builder().limits(short_limits());
        if tls {
            builder = builder.tls(identity.clone());
        }
        let sandbox = builder.start().await.unwrap();
        let connect = || tokio::net::TcpStream::connect(sandbox.address());
        let mut silent = connect().await.unwrap();
        let mut half_head = connect().await.unwrap();
        if !tls {
            half_head
                .write_all(b"POST /agoralink/cn/api/oauth/rest-token HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        } else {
            // Half a TLS ClientHello record header.
            half_head.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        }
        let (closed, _) = closed_within(&mut silent, Duration::from_secs(10)).await;
        assert!(closed, "tls={tls}: a silent connection stays open");
        let (closed, _) = closed_within(&mut half_head, Duration::from_secs(10)).await;
        assert!(closed, "tls={tls}: a half-sent head stays open");
        if !tls {
            let mut stalled = connect().await.unwrap();
            stalled
                .write_all(b"POST /agoralink/cn/api/oauth/rest-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                .await
                .unwrap();
            let (closed, received) = closed_within(&mut stalled, Duration::from_secs(10)).await;
            assert!(closed, "a stalled body stays open");
            let text = String::from_utf8_lossy(&received);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            let mut idle = connect().await.unwrap();
            idle.write_all(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let (closed, received) = closed_within(&mut idle, Duration::from_secs(10)).await;
            assert!(closed, "an idle keep-alive connection stays open");
            assert!(received.starts_with(b"HTTP/1.1 200"));
        }
        let stats = sandbox.connection_stats();
        assert!(stats.closed_slow_head >= 2, "tls={tls}: {stats:?}");
        if !tls {
            assert!(stats.closed_idle >= 1, "{stats:?}");
            assert!(stats.body_timeouts >= 1, "{stats:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_are_shed_and_new_requests_answered() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let sandbox = Sandbox::builder()
        .limits(Limits {
            max_connections: 32,
            ..Limits::default()
        })
        .start()
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(
            tokio::net::TcpStream::connect(sandbox.address())
                .await
                .unwrap(),
        );
    }
    for _ in 0..10 {
        let mut stream = tokio::net::TcpStream::connect(sandbox.address())
            .await
            .unwrap();
        stream
            .write_all(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (closed, received) = closed_within(&mut stream, Duration::from_secs(5)).await;
        assert!(closed && received.starts_with(b"HTTP/1.1 200"));
    }
    let stats = sandbox.connection_stats();
    assert!(stats.shed >= 250, "{stats:?}");
    assert!(stats.open <= 32, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_is_not_served() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let sandbox = Sandbox::builder().start().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(sandbox.address())
        .await
        .unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let (closed, received) = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(closed);
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 "),
        "{received:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_stay_bounded_under_distinct_unknown_paths() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let sandbox = Sandbox::builder().start().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(sandbox.address())
        .await
        .unwrap();
    let requests = 20_000;
    let mut batch = Vec::new();
    for i in 0..requests {
        let path = match i % 4 {
            0 => format!("/unknown/{i}"),
            1 => format!("/agoralink/x{i}/api/oauth/rest-token"),
            2 => format!("/agoralink/cn/api/nothing/{i}"),
            _ => format!("/agoralink/cn/api/oauth/rest-token/{i}?{i}"),
        };
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    batch
        .extend_from_slice(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (mut reader, mut writer) = stream.split();
    let (_, received) = tokio::join!(writer.write_all(&batch), async {
        let mut received = Vec::new();
        let _ = reader.read_to_end(&mut received).await;
        received
    });
    let text = String::from_utf8_lossy(&received);
    let last = text.rsplit("HTTP/1.1 ").next().unwrap_or_default();
    let body = last
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(body.len() < 16 * 1024, "stats are {} bytes", body.len());
    let stats = sandbox.stats();
    assert!(
        stats.requests_by_path.len() <= 16,
        "{} path counters",
        stats.requests_by_path.len()
    );
    let counted: u64 = stats.requests_by_path.values().sum();
    assert!(counted >= requests, "{counted}");
    assert!(stats.requests_by_path[OTHER_PATHS] >= requests / 2);
}

#[test]
fn accept_errors_are_logged_once_per_interval() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -n 24 && exec \"$0\" --listen 127.0.0.1:0",
            env!("CARGO_BIN_EXE_agora-link-sandbox"),
        ])
        .env(
            "RUST_LOG",
            "agora_link_sandbox=info,agora_link_server_guard=info",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("{line:?}"))
        .trim()
        .to_owned();
    let started = Instant::now();
    let mut held = Vec::new();
    while started.elapsed() < Duration::from_secs(2) {
        if let Ok(stream) = TcpStream::connect(&address) {
            held.push(stream);
        }
        if held.len() > 300 {
            held.drain(..100);
        }
    }
    let mut answered = 0;
    for _ in 0..5 {
        let mut stream = match TcpStream::connect(&address) {
            Ok(stream) => stream,
            Err(_) => continue,
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let _ = stream
            .write_all(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut received = Vec::new();
        let read = stream.read_to_end(&mut received);
        eprintln!(
            "{read:?} {:?}",
            String::from_utf8_lossy(&received[..received.len().min(40)])
        );
        if received.starts_with(b"HTTP/1.1 200") {
            answered += 1;
        }
    }
    drop(held);
    let _ = child.kill();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    let lines = log.matches("accept failed").count();
    assert!((1..=2).contains(&lines), "{lines} lines:\n{log}");
    assert!(answered >= 4, "{answered} of 5 answered:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_flooding_cannot_push_out_another_address() {
    agora_link_server_guard::raise_nofile_limit();
    let sandbox = Sandbox::builder()
        .limits(Limits {
            max_connections: 32,
            ..Limits::default()
        })
        .start()
        .await
        .unwrap();
    // A slow client on 127.0.0.2 connects and waits a second before its request...
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 2], 0)))
        .unwrap();
    let mut slow = socket.connect(sandbox.address()).await.unwrap();
    // ...while 127.0.0.1 opens 300 connections against a cap of 32.
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(
            tokio::net::TcpStream::connect(sandbox.address())
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    slow.write_all(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (closed, received) = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(
        closed && received.starts_with(b"HTTP/1.1 200"),
        "the other address's connection was shed: {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(sandbox.connection_stats().shed >= 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iot_gateway_shares_the_cap_and_sheds_rather_than_refuses() {
    agora_link_server_guard::raise_nofile_limit();
    let sandbox = Sandbox::builder()
        .iot_gateway()
        .limits(Limits {
            max_connections: 20,
            ..Limits::default()
        })
        .start()
        .await
        .unwrap();
    let gateway = sandbox.iot_gateway_address().unwrap();
    // Silent connections fill the cap, on both ports.
    let mut silent = Vec::new();
    for i in 0..40 {
        let address = if i % 2 == 0 {
            gateway
        } else {
            sandbox.address()
        };
        silent.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    // An upgrade still gets an answer (403: it is not signed), not a reset.
    let mut upgrade = tokio::net::TcpStream::connect(gateway).await.unwrap();
    upgrade
        .write_all(b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let (_, received) = closed_within(&mut upgrade, Duration::from_secs(5)).await;
    assert!(
        received.starts_with(b"HTTP/1.1 403"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    let stats = sandbox.connection_stats();
    assert!(stats.open <= 20 && stats.shed >= 20, "{stats:?}");
    // A silent gateway connection is closed at the head deadline like any other.
    let (closed, _) = closed_within(&mut silent[38], Duration::from_secs(10)).await;
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_types_from_anyone_do_not_grow_the_counters() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(sandbox.address())
        .await
        .unwrap();
    let mut batch = Vec::new();
    for i in 0..2_000 {
        let body = format!(r#"{{"grant_type":"g{i}{}"}}"#, "x".repeat(1000));
        batch.extend_from_slice(
            format!(
                "POST /agoralink/cn/api/oauth/rest-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    batch
        .extend_from_slice(b"GET /_sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (mut reader, mut writer) = stream.split();
    let (_, _) = tokio::join!(writer.write_all(&batch), async {
        let mut received = Vec::new();
        let _ = reader.read_to_end(&mut received).await;
        received
    });
    let stats = sandbox.stats();
    assert!(
        stats.token_requests_by_grant.len() <= 5,
        "{} grant counters",
        stats.token_requests_by_grant.len()
    );
    assert_eq!(
        stats.token_requests_by_grant[agora_link_sandbox::OTHER_GRANTS],
        2_000
    );
}
