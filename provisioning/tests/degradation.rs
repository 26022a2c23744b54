//! The service on a database that is stalled (every PostgreSQL process SIGSTOPped), gone
//! (`pg_ctl stop`) or that drops its connections (`pg_terminate_backend`): every request is
//! answered within a bound (503, `Retry-After`), `/health` says 503, and once the database is
//! back the service recovers by itself. A PostgreSQL cluster of its own: the shared test server
//! is never stopped.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agora_link_provisioning::signature::signed_body;
use common::cluster::Cluster;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agora-link-provisioning");
const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";
const MASTER: &str = "a-master-key-of-at-least-thirty-two-bytes-for-tests";

/// The bound every answer must meet while the database is unwell (the service's own deadline is
/// about a second; this leaves room for a loaded CI machine).
const BOUND: Duration = Duration::from_millis(2500);

struct Node(Child, String);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(database: &str) -> Node {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", KEY])
        .args(["--api-secret", SECRET, "--database", database])
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the service starts");
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let url = line
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(url.starts_with("http://"), "the service did not start");
    Node(child, url)
}

/// Status, elapsed time, `Retry-After`, credentials.
async fn activate(
    http: &reqwest::Client,
    url: &str,
    project: i64,
) -> (u16, Duration, Option<String>, Option<(String, String)>) {
    let path = "/customers/degraded/projects/new";
    let body = signed_body(
        KEY,
        SECRET,
        "POST",
        path,
        &serde_json::json!({"projectId": project}),
    );
    let started = Instant::now();
    let response = http
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let Ok(response) = response else {
        return (0, started.elapsed(), None, None);
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value: Value = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let credentials = value["data"]["appKey"].as_str().and_then(|key| {
        Some((
            key.to_owned(),
            value["data"]["appSecret"].as_str()?.to_owned(),
        ))
    });
    (status, started.elapsed(), retry_after, credentials)
}

async fn health(http: &reqwest::Client, url: &str) -> (u16, Duration) {
    let started = Instant::now();
    let status = http
        .get(format!("{url}/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

/// 20 activations at once while the database is unwell: each answered 503 within [`BOUND`],
/// with `Retry-After`; `/health` 503 within the bound.
async fn bounded_while_unwell(http: &reqwest::Client, url: &str, first: i64, what: &str) {
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let (http, url) = (http.clone(), url.to_owned());
            tokio::spawn(async move { activate(&http, &url, first + i).await })
        })
        .collect();
    for call in calls {
        let (status, elapsed, retry_after, _) = call.await.expect("the task");
        assert!(
            elapsed <= BOUND,
            "{what}: an activation took {elapsed:?} (status {status})"
        );
        assert_eq!(status, 503, "{what}: status");
        assert!(retry_after.is_some(), "{what}: no Retry-After");
    }
    let (status, elapsed) = health(http, url).await;
    assert!(elapsed <= BOUND, "{what}: /health took {elapsed:?}");
    assert_eq!(status, 503, "{what}: /health");
}

/// Once the database is back: an activation answered 200 within 15 s, every answer meanwhile
/// within the bound, and `/health` 200.
async fn recovers(http: &reqwest::Client, url: &str, project: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, elapsed, _, _) = activate(http, url, project).await;
        assert!(elapsed <= BOUND, "{what}: recovering, {elapsed:?}");
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not recovered ({status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(http, url).await.0 != 200 {
        assert!(Instant::now() < deadline, "{what}: /health not 200 again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stopped_or_disconnected_database_gets_bounded_503s_and_recovery() {
    if std::env::var("PROVISIONING_TEST_POSTGRES_URL").is_err() {
        eprintln!("skipped: PROVISIONING_TEST_POSTGRES_URL is not set (no PostgreSQL)");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cluster = Cluster::start().expect("a PostgreSQL cluster of its own");
    let database = cluster
        .create_database("degraded")
        .await
        .expect("a database");
    let node = start(&database);
    let http = reqwest::Client::new();
    let url = node.1.clone();
    let (status, _, _, before) = activate(&http, &url, 1).await;
    assert_eq!(status, 200);
    assert_eq!(health(&http, &url).await.0, 200);

    // Stalled: every process of the cluster SIGSTOPped.
    assert!(cluster.freeze() > 1, "no PostgreSQL processes found");
    bounded_while_unwell(&http, &url, 100, "SIGSTOP").await;
    cluster.thaw();
    recovers(&http, &url, 2, "after SIGCONT").await;

    // Gone: pg_ctl stop, then start.
    assert!(cluster.stop(), "pg_ctl stop");
    bounded_while_unwell(&http, &url, 200, "pg_ctl stop").await;
    assert!(cluster.restart(), "pg_ctl start");
    recovers(&http, &url, 3, "after pg_ctl start").await;

    // The node's connections cut.
    let terminated = cluster
        .terminate_connections("degraded")
        .await
        .expect("pg_terminate_backend");
    assert!(terminated > 0, "no connection of the node to terminate");
    recovers(&http, &url, 4, "after pg_terminate_backend").await;

    // The credentials of before never changed.
    let (status, _, _, after) = activate(&http, &url, 1).await;
    assert_eq!(status, 200);
    assert_eq!(after, before);
}
