//! Slow, idle and hostile clients against the provisioning binary on loopback: every connection
//! has a lifetime, the connection cap sheds the oldest idle connection instead of starving
//! accepts, the descriptor limit is raised, cleartext HTTP/2 is not served, and floods of
//! refused requests or accept errors cost a log line per interval.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agora_link_provisioning::signature::signed_body;

const BIN: &str = env!("CARGO_BIN_EXE_agora-link-provisioning");
const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

/// The binary, serving on a free port, with its log in a file.
struct Server {
    child: Child,
    address: String,
    log: std::path::PathBuf,
    database: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

impl Server {
    /// Starts `serve` with `extra` flags, under `sh -c "<shell_prefix> exec …"` (for `ulimit`).
    fn start(shell_prefix: &str, extra: &[&str]) -> Server {
        let id = uuid::Uuid::new_v4();
        let database = std::env::temp_dir().join(format!("limits-{id}.sqlite3"));
        let log = std::env::temp_dir().join(format!("limits-{id}.log"));
        let mut command = format!(
            "{shell_prefix} exec \"$0\" serve --listen 127.0.0.1:0 --api-key {KEY} --api-secret {SECRET} --database '{}'",
            database.display()
        );
        for flag in extra {
            command.push(' ');
            command.push_str(flag);
        }
        let mut child = Command::new("sh")
            .args(["-c", &command, BIN])
            .env(
                "PROVISIONING_MASTER_KEY",
                "a-master-key-of-at-least-thirty-two-bytes-for-tests",
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim()
            .to_owned();
        Server {
            child,
            address,
            log,
            database,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }

    /// A signed activation on a new connection: status and the time it took.
    fn activate(&self, project: i64) -> (u16, Duration) {
        let started = Instant::now();
        let path = "/customers/limits/projects/new";
        let body = signed_body(
            KEY,
            SECRET,
            "POST",
            path,
            &serde_json::json!({"projectId": project}),
        );
        let mut stream = self.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        if stream.write_all(&request).is_err() {
            return (0, started.elapsed());
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        (status_of(&response), started.elapsed())
    }
}

fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Reads until the server closes; what it sent and how long that took (bounded by the read
/// timeout: a connection still open then is a failure of the caller's assertion).
fn until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration, bool) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, started.elapsed(), true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return (received, started.elapsed(), true)
            }
            Err(_) => return (received, started.elapsed(), false),
        }
    }
}

const SHORT: &[&str] = &[
    "--header-read-timeout-ms",
    "600",
    "--body-read-timeout-ms",
    "600",
    "--idle-timeout-ms",
    "900",
];

#[test]
fn slow_heads_stalled_bodies_and_idle_connections_are_closed() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("", SHORT);
    // A connection that never sends a byte.
    let mut silent = server.connect();
    // A head trickled a byte at a time (slowloris): it never completes.
    let mut trickle = server.connect();
    let trickler = {
        let mut stream = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in b"POST /customers/new HTTP/1.1\r\nHost: x\r\nX-Padding: "
                .iter()
                .cycle()
                .take(200)
            {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // A body that stops half-way.
    let mut stalled = server.connect();
    stalled
        .write_all(b"POST /customers/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"customerId\":")
        .unwrap();
    // A keep-alive connection idle after one request.
    let mut idle = server.connect();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    let (_, waited, closed) = until_closed(&mut silent);
    assert!(closed, "a silent connection is still open after {waited:?}");
    let (_, waited, closed) = until_closed(&mut trickle);
    assert!(closed, "a trickled head is still open after {waited:?}");
    trickler.join().unwrap();
    let (received, waited, closed) = until_closed(&mut stalled);
    assert!(closed, "a stalled body is still open after {waited:?}");
    assert_eq!(
        status_of(&received),
        408,
        "{}",
        String::from_utf8_lossy(&received)
    );
    let (received, waited, closed) = until_closed(&mut idle);
    assert!(
        closed,
        "an idle keep-alive connection is open after {waited:?}"
    );
    assert_eq!(status_of(&received), 200);
    // The server still answers.
    assert_eq!(server.activate(1).0, 200);
}

#[test]
fn the_connection_cap_sheds_the_oldest_idle_connections_and_new_ones_are_served() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("", &["--max-connections", "40"]);
    let mut held: Vec<TcpStream> = (0..200).map(|_| server.connect()).collect();
    // Every legitimate activation is answered, although 200 connections are held against a cap
    // of 40 (the default timeouts, 5 s and more, have not closed any yet).
    for project in 1..=10 {
        let (status, took) = server.activate(project);
        assert_eq!(status, 200, "activation {project} after {took:?}");
    }
    // The oldest held connections were closed to make room.
    let mut closed = 0;
    for stream in held.iter_mut().take(100) {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if until_closed(stream).2 {
            closed += 1;
        }
    }
    assert!(closed >= 90, "only {closed} of the 100 oldest were shed");
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("ulimit -S -n 256 &&", &[]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap_or_default();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {line}");
    assert_ne!(numbers[0], "256", "{line}");
}

#[test]
fn accept_errors_are_logged_once_per_interval_and_the_server_recovers() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    // 24 descriptors: after the runtime, SQLite and the listener, accept fails with EMFILE well
    // before the cap (never below 16) is reached.
    let server = Server::start("ulimit -n 24 &&", &[]);
    let started = Instant::now();
    let mut held = Vec::new();
    while started.elapsed() < Duration::from_secs(2) {
        if let Ok(stream) = TcpStream::connect(&server.address) {
            held.push(stream);
        }
        if held.len() > 300 {
            held.drain(..100);
        }
    }
    let mut answered = 0;
    for _ in 0..5 {
        let mut stream = server.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        if stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_ok()
        {
            let (received, _, _) = until_closed(&mut stream);
            if status_of(&received) == 200 {
                answered += 1;
            }
        }
    }
    drop(held);
    let log = server.log();
    let lines = log.matches("accept failed").count();
    assert!(
        (1..=2).contains(&lines),
        "{lines} accept-failure lines:\n{log}"
    );
    assert!(answered >= 4, "{answered} of 5 health checks answered");
}

#[test]
fn cleartext_http2_is_not_served() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("", &[]);
    let mut stream = server.connect();
    // The HTTP/2 connection preface and an empty SETTINGS frame (prior knowledge, RFC 9113 §3.3).
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let (received, _, closed) = until_closed(&mut stream);
    assert!(closed);
    // An HTTP/2 server answers with its own SETTINGS frame (type 4 at byte 3); this one answers
    // in HTTP/1.1 or not at all.
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 "),
        "{received:?}"
    );
}

#[test]
fn a_flood_of_refused_requests_costs_a_few_log_lines() {
    // This process holds hundreds of connections (both ends, for in-process servers).
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("", &[]);
    let mut stream = server.connect();
    let bad = br#"{"projectId":1,"apiKey":"pzD5XinRSlmA64tZx81fL92YcBsJK0gd","signature":"bad"}"#;
    let flood = 2000;
    let mut request = Vec::new();
    for _ in 0..flood {
        request.extend_from_slice(
            format!(
                "POST /customers/flood/projects/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                bad.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(bad);
    }
    request.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || stream.write_all(&request))
    };
    let (received, _, _) = until_closed(&mut stream);
    writer.join().unwrap().unwrap();
    let answered = String::from_utf8_lossy(&received)
        .matches("HTTP/1.1 401")
        .count();
    assert_eq!(answered, flood);
    let before_summary = server.log();
    let refused_lines = before_summary.matches("refused request").count();
    assert!(
        refused_lines <= 3,
        "{refused_lines} lines for {flood} refusals"
    );
    assert!(
        before_summary.len() < 4096,
        "{} bytes of log for {flood} refusals:\n{before_summary}",
        before_summary.len()
    );
    // The rest arrive as one summary line per interval (10 s).
    let deadline = Instant::now() + Duration::from_secs(25);
    let summary = loop {
        let log = server.log();
        if let Some(line) = log
            .lines()
            .find(|line| line.contains("refused requests in the last interval"))
        {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no summary line:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(summary.contains("401:2000"), "{summary}");
    assert!(
        summary.contains(&format!("\"not_logged\":{}", flood - refused_lines)),
        "{summary}"
    );
}

#[test]
fn a_head_started_late_still_has_only_the_head_timeout() {
    agora_link_server_guard::raise_nofile_limit();
    // Head 2 s, idle 10 s: a head trickled after a pause must be cut about 2 s after its first
    // byte (keep-alive) — not at the idle deadline — or 2 s after connecting (first request) —
    // not 2 s after its first byte.
    let server = Server::start(
        "",
        &[
            "--header-read-timeout-ms",
            "2000",
            "--idle-timeout-ms",
            "10000",
        ],
    );
    let trickle = |mut stream: TcpStream| {
        std::thread::spawn(move || {
            for byte in b"POST /customers/x/projects/new HTTP/1.1\r\nX: "
                .iter()
                .cycle()
                .take(100)
            {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Keep-alive: one request, a pause, then a trickled head.
    let mut keep_alive = server.connect();
    keep_alive
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 512];
    let _ = keep_alive.read(&mut answer).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let trickler = trickle(keep_alive.try_clone().unwrap());
    let (_, waited, closed) = until_closed(&mut keep_alive);
    assert!(closed, "still open after {waited:?}");
    assert!(waited < Duration::from_secs(6), "closed after {waited:?}");
    trickler.join().unwrap();
    // First request: 1.5 s of silence, then a trickle; the head was due 2 s after connecting
    // (3.5 s would be 2 s after its first byte).
    let mut first = server.connect();
    let connected = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let trickler = trickle(first.try_clone().unwrap());
    let (_, _, closed) = until_closed(&mut first);
    let waited = connected.elapsed();
    assert!(
        closed && waited < Duration::from_millis(3000),
        "closed after {waited:?}"
    );
    trickler.join().unwrap();
}

#[test]
fn a_truncated_body_is_a_400_and_an_oversized_chunked_one_a_413() {
    agora_link_server_guard::raise_nofile_limit();
    let server = Server::start("", &[]);
    let mut truncated = server.connect();
    truncated
        .write_all(b"POST /customers/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":1")
        .unwrap();
    truncated.shutdown(std::net::Shutdown::Write).unwrap();
    let (received, _, _) = until_closed(&mut truncated);
    assert_eq!(
        status_of(&received),
        400,
        "{}",
        String::from_utf8_lossy(&received)
    );
    let mut chunked = server.connect();
    let mut request = b"POST /customers/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        request.extend_from_slice(format!("400\r\n{}\r\n", "x".repeat(1024)).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let _ = chunked.write_all(&request);
    let (received, _, _) = until_closed(&mut chunked);
    assert_eq!(
        status_of(&received),
        413,
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn limits_out_of_range_and_missing_databases_are_clear_errors() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env(
                "PROVISIONING_MASTER_KEY",
                "a-master-key-of-at-least-thirty-two-bytes-for-tests",
            )
            .env("PROVISIONING_API_KEYS", "k:s")
            .output()
            .unwrap()
    };
    for (flag, value) in [
        ("--header-read-timeout-ms", "0"),
        ("--body-read-timeout-ms", "3600001"),
        ("--idle-timeout-ms", "18446744073709551615"),
        ("--max-connections", "0"),
    ] {
        let output = run(&["serve", "--listen", "127.0.0.1:0", flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        let name = flag.trim_start_matches("--");
        assert!(stderr.contains(name), "{flag} {value}: {stderr}");
    }
    let missing = std::env::temp_dir().join(format!("missing-{}.sqlite3", uuid::Uuid::new_v4()));
    for command in ["customers", "grants"] {
        let output = run(&[command, "--database", missing.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("no database at"), "{stderr}");
        assert!(!missing.exists(), "{command} created {}", missing.display());
    }
}
