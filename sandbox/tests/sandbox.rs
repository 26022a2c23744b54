//! The sandbox's own behaviour, checked with raw HTTP/1.1 (no client library involved).

use std::time::Duration;

use agora_link_sandbox::{Fault, FaultAction, Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one request and returns the status and the body parsed as JSON (`Null` if empty).
async fn request(
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(sandbox.address())
        .await
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn token(sandbox: &Sandbox) -> String {
    let body = json!({"grant_type": "client_credentials", "scope": "read",
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET});
    let (status, value) = request(
        sandbox,
        "POST",
        "/agoralink/cn/api/oauth/rest-token",
        &[JSON],
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{value}");
    assert_eq!(value["code"], 0);
    assert_eq!(value["success"], true);
    assert!(value["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    value["data"]["access_token"].as_str().unwrap().to_owned()
}

const GET_ALL: &str = "/agoralink/cn/api/cloud-recorder/cloud-record-package/v1/getAll";
const ENVELOPE: &str =
    r#"{"header":{"traceId":"00000000-0000-4000-8000-000000000000","timestamp":1}}"#;

/// `getAll` with a valid envelope and this `Authorization` header.
async fn get_all(sandbox: &Sandbox, authorization: &str) -> (u16, Value) {
    request(
        sandbox,
        "POST",
        GET_ALL,
        &[JSON, ("Authorization", authorization)],
        ENVELOPE,
    )
    .await
}

#[tokio::test]
async fn bearer_checks_missing_unknown_and_expired_tokens() {
    let sandbox = Sandbox::builder()
        .token_lifetime(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let (status, body) = request(&sandbox, "POST", GET_ALL, &[JSON], ENVELOPE).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(401)));
    assert_eq!(body["success"], false);
    assert!(body.get("data").is_none());

    let (status, body) = get_all(&sandbox, "Bearer nope").await;
    assert_eq!(status, 401);
    assert!(body["msg"].as_str().unwrap().contains("unknown"));
    let (status, _) = get_all(&sandbox, "Basic abc").await;
    assert_eq!(status, 401);

    let token = token(&sandbox).await;
    let bearer = format!("Bearer {token}");
    let (status, body) = get_all(&sandbox, &bearer).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 5);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = get_all(&sandbox, &bearer).await;
    assert_eq!(status, 401);
    assert!(body["msg"].as_str().unwrap().contains("expired"), "{body}");
    assert_eq!(sandbox.stats().unauthorized_responses, 4);
}

#[tokio::test]
async fn malformed_requests_get_spec_shaped_errors() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let token_path = "/agoralink/cn/api/oauth/rest-token";
    let (status, body) = request(&sandbox, "POST", token_path, &[JSON], "{not json").await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(400)));
    let (status, _) = request(&sandbox, "POST", token_path, &[JSON], "[1,2]").await;
    assert_eq!(status, 400);
    let (status, _) = request(
        &sandbox,
        "POST",
        token_path,
        &[("Content-Type", "text/plain")],
        "{}",
    )
    .await;
    assert_eq!(status, 415);
    let (status, body) = request(
        &sandbox,
        "POST",
        token_path,
        &[JSON],
        &json!({"grant_type": "implicit", "scope": "read", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = request(
        &sandbox,
        "POST",
        token_path,
        &[JSON],
        &json!({"grant_type": "client_credentials", "scope": "write", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}).to_string(),
    )
    .await;
    assert_eq!((status, body["msg"].as_str()), (400, Some("invalid_scope")));

    let (status, _) = request(
        &sandbox,
        "POST",
        "/agoralink/eu/api/oauth/rest-token",
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = request(&sandbox, "POST", "/agoralink/cn/api/unknown", &[JSON], "{}").await;
    assert_eq!(status, 404);
    let (status, _) = request(&sandbox, "GET", token_path, &[JSON], "").await;
    assert_eq!(status, 405);

    // The envelope is checked on cloud-storage calls.
    let bearer = format!("Bearer {}", token(&sandbox).await);
    let (status, body) = request(
        &sandbox,
        "POST",
        GET_ALL,
        &[JSON, ("Authorization", &bearer)],
        r#"{"payload":1}"#,
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(400)));
    let by_id = "/agoralink/cn/api/cloud-recorder/cloud-record-package/v1/getById";
    let (_, body) = request(
        &sandbox,
        "POST",
        by_id,
        &[JSON, ("Authorization", &bearer)],
        r#"{"header":{"traceId":"t","timestamp":1},"payload":"five"}"#,
    )
    .await;
    assert_eq!(body["code"], 400);
}

#[tokio::test]
async fn the_admin_api_injects_faults_and_reports_stats() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let fault = json!({"path_suffix": "/rest-token", "action": {"kind": "respond", "status": 503, "body": "down"}, "times": 1});
    let (status, _) = request(
        &sandbox,
        "POST",
        "/_sandbox/faults",
        &[JSON],
        &fault.to_string(),
    )
    .await;
    assert_eq!(status, 204);
    let body = json!({"grant_type": "client_credentials", "scope": "read",
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET})
    .to_string();
    let (status, _) = request(
        &sandbox,
        "POST",
        "/agoralink/cn/api/oauth/rest-token",
        &[JSON],
        &body,
    )
    .await;
    assert_eq!(status, 503);
    let (status, _) = request(
        &sandbox,
        "POST",
        "/agoralink/cn/api/oauth/rest-token",
        &[JSON],
        &body,
    )
    .await;
    assert_eq!(status, 200, "the fault was for one request");

    let (status, stats) = request(&sandbox, "GET", "/_sandbox/stats", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(stats["faults_injected"], 1);
    assert_eq!(
        stats["requests_by_path"]["/agoralink/cn/api/oauth/rest-token"],
        2
    );
    assert_eq!(stats["token_requests_by_grant"]["client_credentials"], 1);

    sandbox.inject(Fault::always("*", FaultAction::DropConnection));
    let (status, _) = request(&sandbox, "DELETE", "/_sandbox/faults", &[], "").await;
    assert_eq!(status, 204, "the admin API is never faulted");
    let (status, _) = request(
        &sandbox,
        "POST",
        "/agoralink/cn/api/oauth/rest-token",
        &[JSON],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = request(&sandbox, "POST", "/_sandbox/revoke-tokens", &[], "").await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_dropped_connection_sends_no_response() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    sandbox.inject(Fault::new("/rest-token", FaultAction::DropConnection, 1));
    let mut stream = tokio::net::TcpStream::connect(sandbox.address())
        .await
        .unwrap();
    stream
        .write_all(b"POST /agoralink/cn/api/oauth/rest-token HTTP/1.1\r\nHost: s\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed without a byte: {read:?} {raw:?}"
    );
}

/// Sends `GET /agoralink/cn/api/unknown` (405: the API takes POST) to `address`; returns the status.
async fn status_at(address: std::net::SocketAddr) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(
            b"GET /agoralink/cn/api/unknown HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {text:?}")))
}

#[tokio::test]
async fn virtual_hosts_go_down_blackhole_and_come_back_one_at_a_time() {
    use agora_link_sandbox::HostMode;
    let sandbox = Sandbox::builder()
        .host("a.example")
        .host("b.example")
        .start()
        .await
        .unwrap();
    let a = sandbox.host_address("a.example").unwrap();
    let b = sandbox.host_address("b.example").unwrap();
    assert_ne!(a, b);
    assert_eq!(sandbox.hosts(), ["a.example", "b.example"]);
    assert_eq!(status_at(a).await.unwrap(), 405);

    sandbox
        .set_host_mode("a.example", HostMode::Down)
        .await
        .unwrap();
    let refused = tokio::net::TcpStream::connect(a).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        status_at(b).await.unwrap(),
        405,
        "the other host is unaffected"
    );

    sandbox
        .set_host_mode("a.example", HostMode::Blackhole)
        .await
        .unwrap();
    let attempt = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(a),
    )
    .await;
    assert!(
        attempt.is_err(),
        "a connection to a blackholed host must hang"
    );
    assert_eq!(
        sandbox.host_mode("a.example").await,
        Some(HostMode::Blackhole)
    );

    sandbox
        .set_host_mode("a.example", HostMode::Up)
        .await
        .unwrap();
    assert_eq!(status_at(a).await.unwrap(), 405);

    // A fault for one host leaves the other alone; requests are counted per host.
    sandbox.inject(Fault::always("*", FaultAction::respond(503, "{}")).on_host("b.example"));
    assert_eq!(status_at(b).await.unwrap(), 503);
    assert_eq!(status_at(a).await.unwrap(), 405);
    let stats = sandbox.stats();
    assert_eq!(stats.requests_on("a.example"), 3);
    assert_eq!(stats.requests_on("b.example"), 2);
    assert!(sandbox
        .set_host_mode("nope.example", HostMode::Down)
        .await
        .is_err());
}

/// Registers and logs in an account over raw HTTP; returns `gyToken.proof`.
async fn login_proof(sandbox: &Sandbox) -> Value {
    let bearer = format!("Bearer {}", token(sandbox).await);
    let auth = [JSON, ("Authorization", bearer.as_str())];
    let account = json!({"projectId": "p", "thirdPartyAccount": "a"});
    let (_, registered) = request(
        sandbox,
        "POST",
        "/agoralink/cn/api/oauth/third-party/register",
        &auth,
        &account.to_string(),
    )
    .await;
    let login = json!({"projectId": "p", "thirdPartyAccount": "a",
        "token": registered["data"]["token"], "clientId": DEFAULT_CLIENT_ID,
        "clientSecret": DEFAULT_CLIENT_SECRET});
    let (_, login) = request(
        sandbox,
        "POST",
        "/agoralink/cn/api/oauth/third-party/login",
        &auth,
        &login.to_string(),
    )
    .await;
    login["data"]["gyToken"]["proof"].clone()
}

/// Sends `head` to the IoT gateway and returns what it answered before closing.
async fn gateway_answer(sandbox: &Sandbox, head: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(sandbox.iot_gateway_address().unwrap())
        .await
        .unwrap();
    stream.write_all(head).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await;
    String::from_utf8_lossy(&raw).into_owned()
}

/// Odd dates, expiries and headers in an upgrade request are refused with an answer: none
/// panics the connection's task (which would close it unanswered).
#[tokio::test]
async fn the_gateway_answers_malformed_upgrades_instead_of_panicking() {
    let sandbox = Sandbox::builder().iot_gateway().start().await.unwrap();
    let proof = login_proof(&sandbox).await;
    let key = proof["accessKeyId"].as_str().unwrap();
    let token = proof["sessionToken"].as_str().unwrap();
    let encode = |text: &str| {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let query = |date: &str, expires: &str| {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key}%2F20200101%2Fcn-north-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date={}&X-Amz-Expires={}&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Security-Token={}",
            encode(date),
            encode(expires),
            encode(token)
        )
    };
    let cases = [
        // A two-byte character across the `T` of the date.
        query("2020010\u{e9}000000Z", "60"),
        query("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", "60"),
        query("20200101T000000Z", "-9223372036854775808"),
        query("20200101T000000Z", "9223372036854775807"),
        query("20200101T000000Z", "-1"),
        query("+2020101T000000Z", "60"),
        query("99991231T235960Z", "60"),
        query("20200101T000000Z", ""),
        "X-Amz-Date=%FF%FE&X-Amz-Expires=%".to_owned(),
        "%".to_owned(),
        "&&&=&==".to_owned(),
    ];
    for query in cases {
        let head = format!(
            "GET /mqtt?{query} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let answer = gateway_answer(&sandbox, head.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 403 ") || answer.starts_with("HTTP/1.1 400 "),
            "{query}: {answer:?}"
        );
    }
    for head in [
        &b"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nHost: \xff\xfe\xc3\r\n\r\n"[..],
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /mqtt?\xe9 HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\nSec-WebSocket-Protocol: mqtt\nX-Injected: 1\r\n\r\n",
    ] {
        let answer = gateway_answer(&sandbox, head).await;
        assert!(answer.starts_with("HTTP/1.1 4"), "{head:?}: {answer:?}");
        assert!(!answer.contains("X-Injected"), "{answer:?}");
    }
    assert!(sandbox.stats().gateway_refused >= 16);
}

/// Fault rules are capped: the Rust API says `false`, the admin API answers 507, and clearing
/// makes room again.
#[tokio::test]
async fn fault_rules_are_capped() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for _ in 0..agora_link_sandbox::MAX_FAULT_RULES {
        assert!(sandbox.inject(Fault::new("/nowhere", FaultAction::DropConnection, 1)));
    }
    assert!(!sandbox.inject(Fault::always("*", FaultAction::DropConnection)));
    let fault = json!({"path_suffix": "/rest-token", "action": {"kind": "drop_connection"}});
    let (status, body) = request(
        &sandbox,
        "POST",
        "/_sandbox/faults",
        &[JSON],
        &fault.to_string(),
    )
    .await;
    assert_eq!(status, 507, "{body}");
    assert!(body["message"].as_str().unwrap().contains("DELETE"));
    sandbox.clear_faults();
    let (status, _) = request(
        &sandbox,
        "POST",
        "/_sandbox/faults",
        &[JSON],
        &fault.to_string(),
    )
    .await;
    assert_eq!(status, 204);
}

/// A token lifetime too long to add to a clock (`--token-lifetime-secs 18446744073709551615`)
/// issues tokens that do not expire, instead of panicking the request.
#[tokio::test]
async fn a_huge_token_lifetime_is_not_a_panic() {
    let sandbox = Sandbox::builder()
        .token_lifetime(Duration::MAX)
        .start()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token(&sandbox).await);
    let (status, _) = get_all(&sandbox, &bearer).await;
    assert_eq!(status, 200);
}

/// The fault proxy through the admin API, as tests in other languages use it: its address, the
/// CA, a strike armed for the next connection (a bad one refused with 400), the requests the
/// sandbox received whole; and its refusal next to TLS.
#[tokio::test]
async fn the_fault_proxy_is_driven_through_the_admin_api() {
    let plain = Sandbox::builder().start().await.unwrap();
    assert_eq!(
        request(&plain, "GET", "/_sandbox/fault-proxy", &[], "")
            .await
            .0,
        404
    );
    assert!(plain.fault_proxy_address().is_none());

    let sandbox = Sandbox::builder().fault_proxy().start().await.unwrap();
    let (status, body) = request(&sandbox, "GET", "/_sandbox/fault-proxy", &[], "").await;
    assert_eq!(status, 200);
    let address = sandbox.fault_proxy_address().unwrap();
    assert_eq!(body["address"], address.to_string());
    assert!(body["caPem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert_eq!(body["caPem"], sandbox.fault_proxy_ca_pem().unwrap());
    for (spec, expected) in [
        (
            json!({"point": "request", "offset": 3, "kind": "reset"}),
            204,
        ),
        (json!({"point": "accept", "kind": "stall"}), 204),
        (
            json!({"point": "response", "kind": "trickle", "trickleMicros": 50}),
            204,
        ),
        (json!({"point": "nowhere", "kind": "reset"}), 400),
        (json!({"point": "request", "kind": "explode"}), 400),
        (
            json!({"point": "request", "offset": -1, "kind": "reset"}),
            422,
        ),
        (
            json!({"point": "request", "kind": "reset", "extra": 1}),
            422,
        ),
    ] {
        let (status, body) = request(
            &sandbox,
            "POST",
            "/_sandbox/fault-proxy/arm",
            &[JSON],
            &spec.to_string(),
        )
        .await;
        assert_eq!(status, expected, "{spec}: {body}");
    }
    // The last good strike (a trickle of the response) is armed: a connection through the proxy
    // is accepted and counted.
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    drop(stream);
    let mut body = Value::Null;
    for _ in 0..200 {
        body = request(&sandbox, "GET", "/_sandbox/fault-proxy", &[], "")
            .await
            .1;
        if body["connections"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(body["connections"], 1, "{body}");
    assert!(body["deliveredByPath"].is_object(), "{body}");

    let (identity, _) = agora_link_sandbox::TlsIdentity::generate_for(&["localhost"]).unwrap();
    let refused = Sandbox::builder().tls(identity).fault_proxy().start().await;
    assert!(refused.is_err());
}
