//! kill -9 under load: every activation acknowledged before the kill is still there after a
//! restart, with the same credentials, and no project has two grants.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_link_provisioning::signature::signed_body;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agora-link-provisioning");
const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";
const MASTER: &str = "a-master-key-of-at-least-thirty-two-bytes-for-tests";

fn start(database: &str) -> (Child, String) {
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
        .arg(database)
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the service starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.split_whitespace().last().expect("a URL").to_owned();
    (child, url)
}

async fn activate(http: &reqwest::Client, url: &str, project: i64) -> Option<(String, String)> {
    let path = "/customers/durable/projects/new";
    let body = signed_body(
        KEY,
        SECRET,
        "POST",
        path,
        &serde_json::json!({"projectId": project}),
    );
    let response = http
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let value: Value = serde_json::from_slice(&response.bytes().await.ok()?).ok()?;
    Some((
        value["data"]["appKey"].as_str()?.to_owned(),
        value["data"]["appSecret"].as_str()?.to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_grants_survive_kill_9() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for database in common::databases().await {
        survives_kill_9(&database.spec, database.label).await;
    }
}

async fn survives_kill_9(database: &str, label: &str) {
    let (mut child, url) = start(database);
    let http = reqwest::Client::new();
    let acknowledged: Arc<Mutex<BTreeMap<i64, (String, String)>>> = Arc::default();

    // 8 workers activate projects 1.. until the service dies.
    let mut workers = Vec::new();
    for worker in 0..8i64 {
        let (http, url, acknowledged) = (http.clone(), url.clone(), acknowledged.clone());
        workers.push(tokio::spawn(async move {
            for n in 0..1_000i64 {
                let project = worker * 10_000 + n;
                match activate(&http, &url, project).await {
                    Some(credentials) => {
                        acknowledged.lock().unwrap().insert(project, credentials);
                    }
                    None => return,
                }
            }
        }));
    }
    // Kill -9 once a few hundred grants were acknowledged (bounded wait).
    for _ in 0..200 {
        if acknowledged.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for worker in workers {
        let _ = worker.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "only {} acknowledged",
        acknowledged.len()
    );

    // Restart on the same file: every acknowledged grant answers with the same credentials.
    let (mut child, url) = start(database);
    for (project, credentials) in &acknowledged {
        let again = activate(&http, &url, *project).await;
        assert_eq!(
            again.as_ref(),
            Some(credentials),
            "{label}: project {project}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // No duplicate grant: the admin listing has each project once.
    let listing = Command::new(BIN)
        .args(["grants", "--database", database])
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert_eq!(
        listing.lines().next(),
        Some("customer\tproject\tapp_key\tstate"),
        "{label}: the header row"
    );
    let lines: Vec<String> = listing.lines().skip(1).map(str::to_owned).collect();
    let mut projects: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    let total = projects.len();
    projects.sort();
    projects.dedup();
    assert_eq!(projects.len(), total, "{label}: a project has two grants");
    assert!(total >= acknowledged.len());

    // The admin listing of customers agrees.
    let customers = Command::new(BIN)
        .args(["customers", "--database", database])
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .output()
        .unwrap();
    assert!(customers.status.success());
    let customers = String::from_utf8(customers.stdout).unwrap();
    assert_eq!(
        customers.trim(),
        format!(
            "customer\tplan\tstate\tprojects\tactive_projects\ndurable\t-\tactive\t{total}\t{total}"
        ),
        "{label}"
    );
}
