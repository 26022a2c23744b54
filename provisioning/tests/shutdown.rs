//! SIGTERM finishes the request in flight (its body still arriving) before the process exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use agora_link_provisioning::signature::signed_body;

const BIN: &str = env!("CARGO_BIN_EXE_agora-link-provisioning");
const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let database = std::env::temp_dir().join(format!("shutdown-{}.sqlite3", uuid::Uuid::new_v4()));
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
        ])
        .arg("--database")
        .arg(&database)
        .env(
            "PROVISIONING_MASTER_KEY",
            "a-master-key-of-at-least-thirty-two-bytes-for-tests",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.split("http://").nth(1).unwrap().trim().to_owned();

    let path = "/customers/graceful/projects/new";
    let body = signed_body(
        KEY,
        SECRET,
        "POST",
        path,
        &serde_json::json!({"projectId": 5}),
    );

    // Headers and half the body, then SIGTERM, then the rest.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("\"status\"") {
        let read = stream.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"appKey\""), "{text}");
    drop(stream);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
}

#[test]
fn settings_come_from_a_config_file() {
    let dir = std::env::temp_dir().join(format!("config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("provisioning.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "listen": "127.0.0.1:0",
            "database": dir.join("db.sqlite3"),
            "publicUrl": "https://ext.example.com",
            "apiKeys": [{"apiKey": KEY, "apiSecret": SECRET}],
        })
        .to_string(),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env(
            "PROVISIONING_MASTER_KEY",
            "a-master-key-of-at-least-thirty-two-bytes-for-tests",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.split("http://").nth(1).unwrap().trim().to_owned();
    let path = "/customers/configured/projects/new";
    let body = signed_body(
        KEY,
        SECRET,
        "POST",
        path,
        &serde_json::json!({"projectId": 1}),
    );
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("https://ext.example.com/licenses/"),
        "{response}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // An unknown setting is refused.
    std::fs::write(&config, r#"{"lisen": "127.0.0.1:0"}"#).unwrap();
    let refused = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env(
            "PROVISIONING_MASTER_KEY",
            "a-master-key-of-at-least-thirty-two-bytes-for-tests",
        )
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("lisen"));
    let _ = std::fs::remove_dir_all(&dir);
}
