//! The `agora-link-sandbox` binary as a service manager or a CI job runs it: a clean exit on
//! SIGTERM, a health check, errors that name what failed, and no colour codes off a terminal.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agora-link-sandbox");

/// Starts the binary on an ephemeral port; returns it and its `host:port`.
fn start(extra_env: &[(&str, &str)]) -> (Child, String) {
    let mut command = Command::new(BIN);
    command.stderr(Stdio::piped());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    spawn(command)
}

/// Spawns `command` (the binary) on an ephemeral loopback port, waits for its first line and
/// returns the child and its `host:port`.
fn spawn(mut command: Command) -> (Child, String) {
    command
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut child = command.spawn().expect("the sandbox binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a first line");
    let address = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim()
        .to_owned();
    (child, address)
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    answer
}

/// Waits (bounded) for the child to exit.
fn wait(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn sigterm_stops_the_sandbox_cleanly_with_status_0() {
    let (mut child, address) = start(&[]);
    assert!(get(&address, "/_sandbox/health").starts_with("HTTP/1.1 200"));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits within 10 s");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn sigint_stops_it_with_status_0_too() {
    let (mut child, _address) = start(&[]);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let status = wait(&mut child, Duration::from_secs(10)).expect("exits within 10 s");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn the_health_check_answers_ok_whatever_faults_are_injected() {
    let (mut child, address) = start(&[]);
    let answer = get(&address, "/_sandbox/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
    // A fault on every path of the API leaves the admin API alone.
    let mut stream = TcpStream::connect(&address).expect("connects");
    let body =
        r#"{"path_suffix":"","action":{"kind":"respond","status":503,"body":"down"},"times":100}"#;
    write!(
        stream,
        "POST /_sandbox/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
    assert!(get(&address, "/_sandbox/health").starts_with("HTTP/1.1 200"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn errors_name_the_address_or_the_file() {
    // An address in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = taken.local_addr().expect("address").to_string();
    let output = Command::new(BIN)
        .args(["--listen", &address])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    // A certificate file that does not exist.
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tls-cert /nonexistent/cert.pem"),
        "{stderr}"
    );
}

#[test]
fn log_lines_on_a_pipe_carry_no_colour_codes() {
    let (mut child, address) = start(&[("RUST_LOG", "debug")]);
    let _ = get(&address, "/_sandbox/health");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    wait(&mut child, Duration::from_secs(10)).expect("exits");
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("reads");
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes on a pipe: {log:?}");
}

/// Some parents start children with SIGTERM and SIGINT blocked (Swift's `Foundation.Process`
/// on Linux, run from a task, passes on its dispatch thread's mask): the sandbox unblocks them.
#[cfg(unix)]
#[test]
fn sigterm_works_even_when_the_parent_started_it_with_sigterm_blocked() {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(BIN);
    command.stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let (mut child, _address) = spawn(command);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let status = wait(&mut child, Duration::from_secs(10)).expect("SIGTERM stopped it");
    assert_eq!(status.code(), Some(0), "{status:?}");
}
