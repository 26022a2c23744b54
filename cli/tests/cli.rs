//! The `agora-link` binary against a sandbox: output, masking, exit codes.

use std::process::Output;

use agora_link_sandbox::{Fault, FaultAction, Sandbox, TlsIdentity};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agora-link");

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(BIN);
        command
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("the binary runs")
    })
    .await
    .unwrap()
}

fn sandbox_env(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    vec![
        ("AGORA_LINK_ENDPOINT", sandbox.base_url()),
        (
            "AGORA_LINK_CLIENT_ID",
            agora_link_sandbox::DEFAULT_CLIENT_ID.into(),
        ),
        (
            "AGORA_LINK_CLIENT_SECRET",
            agora_link_sandbox::DEFAULT_CLIENT_SECRET.into(),
        ),
        (
            "AGORA_LINK_USERNAME",
            agora_link_sandbox::DEFAULT_USERNAME.into(),
        ),
        (
            "AGORA_LINK_PASSWORD",
            agora_link_sandbox::DEFAULT_PASSWORD.into(),
        ),
    ]
}

async fn run_against(sandbox: &Sandbox, args: &[&str]) -> Output {
    let env = sandbox_env(sandbox);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(args, &env).await
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// A loopback address where connections are refused for as long as the returned socket lives:
/// bound but not listening, so that no sandbox of a test running alongside can take the port
/// (a listener dropped at once frees it for them).
fn refusing_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    (socket, address)
}

fn stderr_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stderr).expect("stderr is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sandbox_login_masks_secrets_unless_asked() {
    let output = run(
        &[
            "--sandbox",
            "--json",
            "account",
            "login",
            "--project-id",
            "1254",
            "--account",
            "bob",
        ],
        &[],
    )
    .await;
    let login = stdout_json(&output);
    let gy = &login["gyToken"];
    assert!(gy["endpoint"]
        .as_str()
        .unwrap()
        .contains(".iot.cn-north-1."));
    assert!(gy["pool"]["identityId"]
        .as_str()
        .unwrap()
        .starts_with("cn-north-1:"));
    assert!(gy["proof"]["sessionExpiration"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(gy["expires_at"].as_i64().is_some());
    for secret in [
        &gy["proof"]["secretKey"],
        &gy["proof"]["sessionToken"],
        &gy["pool"]["token"],
        &gy["granwin_token"],
        &login["lsToken"]["access_token"],
        &login["lsToken"]["refresh_token"],
    ] {
        let text = secret.as_str().unwrap();
        assert!(text == "***" || text.contains('…'), "not masked: {text}");
    }

    let output = run(&["--sandbox", "--json", "--show-secrets", "token"], &[]).await;
    let token = stdout_json(&output);
    assert_eq!(token["access_token"].as_str().unwrap().len(), 40);
    assert_eq!(token["expires_in"], 31969);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_against_a_sandbox_from_the_environment() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let packages = stdout_json(&run_against(&sandbox, &["--json", "packages", "list"]).await);
    assert_eq!(packages.as_array().unwrap().len(), 5);
    let package = stdout_json(&run_against(&sandbox, &["--json", "packages", "get", "3"]).await);
    assert_eq!(package["lifeCycle"], "SEVEN");
    let order = stdout_json(
        &run_against(
            &sandbox,
            &[
                "--json",
                "packages",
                "open",
                "--app-id",
                "app",
                "--user-id",
                "u",
                "--device-id",
                "d",
                "--payment-order-id",
                "pay-9",
                "--package-id",
                "2",
                "--order-number",
                "1",
            ],
        )
        .await,
    );
    assert_eq!(
        order["orderId"].as_str(),
        Some(sandbox.orders()[0].order_id.as_str())
    );
    assert_eq!(sandbox.orders()[0].payment_order_id, "pay-9");

    let registered = stdout_json(
        &run_against(
            &sandbox,
            &[
                "--json",
                "--show-secrets",
                "account",
                "register",
                "--project-id",
                "p",
                "--account",
                "carol",
            ],
        )
        .await,
    );
    let token = registered["token"].as_str().unwrap().to_owned();
    let login = stdout_json(
        &run_against(
            &sandbox,
            &[
                "--json",
                "account",
                "login",
                "--project-id",
                "p",
                "--account",
                "carol",
                "--token",
                &token,
            ],
        )
        .await,
    );
    assert!(login["gyToken"]["proof"]["accessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));
    let removed = stdout_json(
        &run_against(
            &sandbox,
            &[
                "--json",
                "account",
                "remove",
                "--project-id",
                "p",
                "--account",
                "carol",
                "--token",
                &token,
            ],
        )
        .await,
    );
    assert_eq!(removed["removed"], true);

    // Human output: one key: value line per field, instants also in RFC 3339.
    let text = run_against(&sandbox, &["token"]).await;
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("token_type: bearer"), "{text}");
    assert!(
        text.contains("expires_at: ") && text.contains('Z'),
        "{text}"
    );
    assert!(!text.contains(agora_link_sandbox::DEFAULT_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_distinguish_usage_network_auth_api_and_decode_errors() {
    let sandbox = Sandbox::builder().start().await.unwrap();

    // Usage: missing credentials, a bad --resolve, a bad region, a missing subcommand.
    assert_eq!(run(&["packages", "list"], &[]).await.status.code(), Some(2));
    assert_eq!(
        run(&["--sandbox", "--resolve", "nohost", "token"], &[])
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["--sandbox", "--region", "eu", "token"], &[])
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["packages"], &[]).await.status.code(), Some(2));
    let output = run_against(&sandbox, &["--endpoint", "http://api.sd-rtn.com", "token"]).await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "plain HTTP to a remote host is refused"
    );

    // Network: nothing listens there.
    let (_reserved, closed) = refusing_address();
    let closed = format!("http://{closed}");
    let output = run_against(&sandbox, &["--json", "--endpoint", &closed, "token"]).await;
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(stderr_json(&output)["error"]["kind"], "network");

    // Auth: a wrong password.
    let output = run_against(&sandbox, &["--json", "--password", "wrong", "token"]).await;
    assert_eq!(output.status.code(), Some(4));
    let error = stderr_json(&output);
    assert_eq!(error["error"]["kind"], "auth");
    assert_eq!(error["error"]["msg"], "invalid_grant");
    assert_eq!(error["error"]["httpStatus"], 400);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("wrong\""),
        "the password is not echoed"
    );

    // API: an unknown package; the trace id is reported.
    let output = run_against(&sandbox, &["--json", "packages", "get", "77"]).await;
    assert_eq!(output.status.code(), Some(5));
    let error = stderr_json(&output);
    assert_eq!(error["error"]["code"], 999999);
    assert!(error["error"]["traceId"].as_str().is_some());

    // Decode: a body that is not JSON (twice: the spec's retry on the same host gets it too).
    sandbox.inject(Fault::new(
        "/getAll",
        FaultAction::respond(200, "<html>oops</html>"),
        2,
    ));
    let output = run_against(&sandbox, &["packages", "list"]).await;
    assert_eq!(output.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot decode"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_ca_cert_and_resolve() {
    let (identity, ca_pem) = TlsIdentity::generate_for(&["api.sd-rtn.com"]).unwrap();
    let sandbox = Sandbox::builder().tls(identity).start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("agora-link-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let resolve = format!("api.sd-rtn.com={}", sandbox.address());
    let env = [
        (
            "AGORA_LINK_CLIENT_ID",
            agora_link_sandbox::DEFAULT_CLIENT_ID,
        ),
        (
            "AGORA_LINK_CLIENT_SECRET",
            agora_link_sandbox::DEFAULT_CLIENT_SECRET,
        ),
    ];
    let ok = run(
        &[
            "--json",
            "--ca-cert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
            "packages",
            "list",
        ],
        &env,
    )
    .await;
    assert_eq!(stdout_json(&ok).as_array().unwrap().len(), 5);
    // One attempt: with domain switching the client would go on to api.agora.io, which is not
    // mapped here (and the tests never leave loopback).
    let untrusted = run(
        &[
            "--json",
            "--no-failover",
            "--resolve",
            &resolve,
            "packages",
            "list",
        ],
        &env,
    )
    .await;
    assert_eq!(untrusted.status.code(), Some(3));
    assert_eq!(stderr_json(&untrusted)["error"]["kind"], "tls");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_switching_flags() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let (_reserved, closed) = refusing_address();
    let closed = closed.to_string();
    let live = sandbox.address().to_string();
    let dead_primary = format!("http://{closed}");

    // The primary is dead; the regional host answers.
    let output = run_against(
        &sandbox,
        &[
            "--json",
            "--endpoint",
            &dead_primary,
            "--regional-host",
            &live,
            "token",
        ],
    )
    .await;
    assert!(
        stdout_json(&output)["access_token"].is_string(),
        "{output:?}"
    );

    // Every host dead: the error lists each attempt.
    let output = run_against(
        &sandbox,
        &[
            "--json",
            "--endpoint",
            &dead_primary,
            "--regional-host",
            &closed,
            "token",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(3));
    let attempts = stderr_json(&output)["error"]["attempts"].clone();
    let hosts: Vec<&str> = attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, [closed.as_str(), &closed, &closed]);

    // --no-failover: one attempt.
    let output = run_against(
        &sandbox,
        &[
            "--json",
            "--no-failover",
            "--endpoint",
            &dead_primary,
            "token",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr_json(&output)["error"]["attempts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_presign_is_reproducible_and_login_can_add_a_fresh_url() {
    let args = [
        "--json",
        "iot",
        "presign",
        "--endpoint",
        "a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn",
        "--access-key-id",
        "ASIAEXAMPLEEXAMPLE",
        "--secret-access-key",
        "c2VjcmV0/c2VjcmV0+c2VjcmV0",
        "--session-token",
        "FwoDYXdz/token+=",
        "--time",
        "2026-11-24T08:00:00Z",
    ];
    let first = stdout_json(&run(&args, &[]).await);
    let second = stdout_json(&run(&args, &[]).await);
    assert_eq!(first, second, "the same inputs give the same URL");
    let url = first["url"].as_str().unwrap();
    assert!(url.starts_with("wss://a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLEEXAMPLE%2F20261124%2Fcn-north-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20261124T080000Z&X-Amz-SignedHeaders=host&X-Amz-Signature="), "{url}");
    assert!(
        url.ends_with("&X-Amz-Security-Token=FwoDYXdz%2Ftoken%2B%3D"),
        "{url}"
    );
    assert_eq!(
        first["region"], "cn-north-1",
        "read from the China endpoint"
    );

    // Bad inputs are usage errors.
    let mut bad_time = args.to_vec();
    bad_time[args.len() - 1] = "yesterday";
    assert_eq!(run(&bad_time, &[]).await.status.code(), Some(2));
    let no_endpoint = [
        "iot",
        "presign",
        "--access-key-id",
        "A",
        "--secret-access-key",
        "S",
    ];
    assert_eq!(run(&no_endpoint, &[]).await.status.code(), Some(2));
    let no_region = [
        "iot",
        "presign",
        "--endpoint",
        "broker.example.com",
        "--access-key-id",
        "A",
        "--secret-access-key",
        "S",
    ];
    assert_eq!(run(&no_region, &[]).await.status.code(), Some(2));

    // account login --mqtt-url: masked unless --show-secrets.
    let login = [
        "--sandbox",
        "--json",
        "account",
        "login",
        "--project-id",
        "p",
        "--account",
        "a",
        "--mqtt-url",
    ];
    let masked = stdout_json(&run(&login, &[]).await);
    let shown = masked["mqttUrl"].as_str().unwrap();
    assert!(!shown.contains("X-Amz-Signature"), "{shown}");
    let mut full = login.to_vec();
    full.push("--show-secrets");
    let full = stdout_json(&run(&full, &[]).await);
    let url = full["mqttUrl"].as_str().unwrap();
    assert!(
        url.starts_with("wss://") && url.contains("X-Amz-Signature="),
        "{url}"
    );
    assert!(url.contains(full["gyToken"]["proof"]["accessKeyId"].as_str().unwrap()));
}

const PRESIGN: &[&str] = &[
    "--json",
    "iot",
    "presign",
    "--endpoint",
    "a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn",
    "--access-key-id",
    "ASIAEXAMPLEEXAMPLE",
    "--secret-access-key",
    "c2VjcmV0/c2VjcmV0+c2VjcmV0",
    "--time",
    "2026-11-24T08:00:00Z",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_presign_takes_its_aws_region_from_the_flag_or_the_endpoint_only() {
    let reference = stdout_json(&run(PRESIGN, &[]).await);
    // The REST region variable, as the README suggests exporting it, does not leak into SigV4.
    for rest_region in ["cn", "na", "CN"] {
        let output = run(PRESIGN, &[("AGORA_LINK_REGION", rest_region)]).await;
        assert_eq!(
            stdout_json(&output),
            reference,
            "AGORA_LINK_REGION={rest_region}"
        );
    }
    // The endpoint is read case-insensitively; --region wins, case-insensitively too.
    let mut upper = PRESIGN.to_vec();
    upper[4] = "A1B2C3-ATS.IOT.CN-NORTH-1.AMAZONAWS.COM.CN";
    assert_eq!(stdout_json(&run(&upper, &[]).await)["region"], "cn-north-1");
    let mut flagged = PRESIGN.to_vec();
    flagged.extend(["--region", "US-EAST-1"]);
    assert_eq!(
        stdout_json(&run(&flagged, &[]).await)["region"],
        "us-east-1"
    );
    // A value that is not an AWS region is refused, naming it.
    for bad in [
        "cn",
        "na",
        "north-america",
        "us-east-",
        "1-east-2",
        "us_east_1",
        "eu-west-x",
    ] {
        let mut refused = PRESIGN.to_vec();
        refused.extend(["--region", bad]);
        let output = run(&refused, &[]).await;
        assert_eq!(output.status.code(), Some(2), "--region {bad}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("AWS region"),
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_presign_time_accepts_any_rfc_3339_time() {
    let reference = stdout_json(&run(PRESIGN, &[]).await);
    for same_instant in [
        "2026-11-24T16:00:00+08:00",
        "2026-11-24T03:00:00-05:00",
        "2026-11-24t08:00:00z",
        "2026-11-24T08:00:00.000Z",
        "2026-11-24T08:00:00+00:00",
    ] {
        let mut args = PRESIGN.to_vec();
        *args.last_mut().unwrap() = same_instant;
        assert_eq!(
            stdout_json(&run(&args, &[]).await),
            reference,
            "{same_instant}"
        );
    }
    for bad in [
        "2026-11-24",
        "2026-11-24T08:00:00",
        "2026-13-01T00:00:00Z",
        "now",
    ] {
        let mut args = PRESIGN.to_vec();
        *args.last_mut().unwrap() = bad;
        assert_eq!(run(&args, &[]).await.status.code(), Some(2), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_cli_quietly_without_a_panic() {
    use std::process::{Command, Stdio};
    for _ in 0..5 {
        let output = tokio::task::spawn_blocking(|| {
            // The reader is gone before the CLI starts (as with `| head -0` once
            // `head` has exited), so its write always meets a closed peer: a
            // socket pair whose other end is already closed gives EPIPE
            // deterministically, where closing a pipe after spawning raced the
            // CLI's write.
            let (writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
            drop(reader);
            let writer: std::os::fd::OwnedFd = writer.into();
            Command::new(BIN)
                .args(PRESIGN)
                .env_clear()
                .stdout(Stdio::from(writer))
                .stderr(Stdio::piped())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(output.status.code(), Some(141), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_flags_and_variables() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let (_reserved, closed) = refusing_address();
    let closed = closed.port();
    let dead = format!("http://127.0.0.1:{closed}");
    // Loopback ignores the proxy variables and --proxy.
    let mut env = sandbox_env(&sandbox);
    env.push(("HTTPS_PROXY", dead.clone()));
    env.push(("ALL_PROXY", dead.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = run(&["--json", "token"], &env).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(&["--json", "--proxy", &dead, "token"], &env).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A remote endpoint through a proxy that is down: a network error naming the proxy, never
    // its password.
    let with_password = format!("http://alice:Pr0xy-Pa55@127.0.0.1:{closed}");
    let output = run(
        &[
            "--json",
            "--endpoint",
            "https://api.sd-rtn.com",
            "--client-id",
            "id",
            "--client-secret",
            "secret",
            "--no-failover",
            "--proxy",
            &with_password,
            "token",
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("http://***@127.0.0.1:{closed}")),
        "{stderr}"
    );
    assert!(!stderr.contains("Pr0xy-Pa55"), "{stderr}");
    // A SOCKS proxy is a usage error.
    let output = run(
        &[
            "--endpoint",
            "https://api.sd-rtn.com",
            "--client-id",
            "id",
            "--client-secret",
            "secret",
            "--proxy",
            "socks5://127.0.0.1:1080",
            "token",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_every_error_is_json_including_usage_errors() {
    for args in [
        &["--json", "account", "no-such-command"][..],
        &["--json", "packages", "get", "--no-such-flag"],
        &["packages", "get", "not-a-number", "--json"],
        &["--json"],
    ] {
        let output = run(args, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let error = stderr_json(&output);
        assert_eq!(error["error"]["kind"], "usage", "{args:?}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("--help"), "{args:?}: {message}");
        assert!(
            !message.contains('\u{1b}'),
            "no colour codes in JSON: {message:?}"
        );
    }
    // Without --json a usage error stays text, and --help is no error.
    let output = run(&["account", "no-such-command"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "));
    let output = run(&["--json", "--help"], &[]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_are_case_insensitive_and_an_unknown_one_names_the_accepted_values() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for region in ["NA", "Cn", "na", "china", "North-America"] {
        let mut env = sandbox_env(&sandbox);
        env.push(("AGORA_LINK_REGION", region.into()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = run(&["--json", "packages", "list"], &env).await;
        assert_eq!(output.status.code(), Some(0), "{region}: {output:?}");
    }
    for region in ["eu", "EU", "cn-north", "cn "] {
        let mut env = sandbox_env(&sandbox);
        env.push(("AGORA_LINK_REGION", region.into()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = run(&["--json", "packages", "list"], &env).await;
        assert_eq!(output.status.code(), Some(2), "{region:?}");
        let message = stderr_json(&output)["error"]["message"].to_string();
        assert!(
            message.contains("\\\"cn\\\"") && message.contains("\\\"na\\\""),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_on_a_pipe_carry_no_colour_codes() {
    let output = run(
        &[
            "--client-id",
            "a",
            "--client-secret",
            "b",
            "--endpoint",
            "http://127.0.0.1:1",
            "packages",
            "list",
        ],
        &[("AGORA_LINK_LOG", "debug")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEBUG"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr:?}"
    );
}

/// Bytes that must never reach a terminal from a server's answer: C0 controls (ESC starts ANSI
/// sequences), DEL, C1 controls (0x9b is an 8-bit CSI) and bidirectional overrides.
fn has_terminal_controls(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// A server answering `getAll` with odd numbers and hostile strings: every printer, human and
/// `--json`, prints without panicking (exit 101), and nothing a server sends can drive the
/// terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_numbers_and_control_characters_from_a_server_never_break_the_output() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let hostile = "red\u{1b}[31m\u{1b}]0;title\u{7}\u{9b}2J\u{7f}\u{202e}txt.exe\r\nfake: line";
    let packages: Vec<Value> = [
        1_717_171_717_123_456i64, // microseconds: year 56,000
        i64::MAX,
        i64::MIN,
        -1,
        0,
        253_402_300_799_999, // the last ms of 9999
        253_402_300_800_000, // the first of 10000
    ]
    .iter()
    .enumerate()
    .map(|(index, time)| {
        serde_json::json!({
            "cloudRecordPackageId": index,
            "packageName": hostile,
            "createdBy": i64::MIN,
            "createdTime": time,
            "changedTime": time,
        })
    })
    .collect();
    let body = serde_json::json!({
        "code": 0, "msg": "SUCCESS", "timestamp": 1, "success": true, "data": packages,
    })
    .to_string();
    for json in [false, true] {
        sandbox.inject(Fault::new(
            "/getAll",
            FaultAction::respond(200, body.clone()),
            1,
        ));
        let mut args = vec!["packages", "list"];
        if json {
            args.insert(0, "--json");
        }
        let output = run_against(&sandbox, &args).await;
        let stdout = String::from_utf8(output.stdout.clone()).unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "--json {json}: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!has_terminal_controls(&stdout), "--json {json}: {stdout:?}");
        if json {
            // Escaped, not altered: the JSON still holds the server's string.
            let value: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(value[0]["packageName"], hostile);
            assert_eq!(value[1]["createdTime"], i64::MAX);
        } else {
            assert!(!stdout.contains("\nfake: line"), "{stdout}");
            assert!(
                stdout.contains("[5].createdTime: 253402300799999 (9999-12-31T23:59:59Z)\n")
                    && stdout.contains("[6].createdTime: 253402300800000\n"),
                "{stdout}"
            );
            assert!(
                stdout.contains("[3].createdTime: -1 (1969-12-31T23:59:59Z)"),
                "{stdout}"
            );
            assert!(
                stdout.contains("[0].createdTime: 1717171717123456\n"),
                "{stdout}"
            );
        }
    }

    // An API error whose message carries control characters, on stderr, human and JSON.
    let error =
        serde_json::json!({"code": 999999, "msg": hostile, "timestamp": 1, "success": false})
            .to_string();
    for json in [false, true] {
        sandbox.inject(Fault::new(
            "/getAll",
            FaultAction::respond(200, error.clone()),
            1,
        ));
        let mut args = vec!["packages", "list"];
        if json {
            args.insert(0, "--json");
        }
        let output = run_against(&sandbox, &args).await;
        assert_eq!(output.status.code(), Some(5));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !has_terminal_controls(stderr.trim_end()),
            "--json {json}: {stderr:?}"
        );
        if json {
            assert_eq!(stderr_json_text(&stderr)["error"]["msg"], hostile);
        }
    }
}

fn stderr_json_text(text: &str) -> Value {
    serde_json::from_str(text).expect("stderr is JSON")
}

/// `iot presign --time` takes any RFC 3339 time: before the epoch, or one that is in year 10000
/// in UTC, is refused or printed, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_presign_time_outside_1970_to_9999_is_not_a_panic() {
    for time in [
        "1969-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59Z",
    ] {
        let mut args = PRESIGN.to_vec();
        let last = args.len() - 1;
        args[last] = time;
        let output = run(&args, &[]).await;
        assert!(
            matches!(output.status.code(), Some(0) | Some(2)),
            "{time}: {:?} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
