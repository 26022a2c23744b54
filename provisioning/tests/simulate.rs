//! The `simulate` command against this service (consistent) and against a provider that issues
//! new credentials on every call (caught).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{ApiCredential, Verifier};
use agora_link_provisioning::simulate::{simulate, Expected, SimulateOptions};
use agora_link_provisioning::store::Store;
use serde_json::json;

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

fn options(url: String) -> SimulateOptions {
    SimulateOptions {
        url,
        api_key: KEY.into(),
        api_secret: SECRET.into(),
        customer_id: "sim-customer".into(),
        project_id: 430892,
        timeout: Duration::from_millis(500),
    }
}

/// This service on an ephemeral loopback port over a fresh SQLite file, its `licenseUrl`s based
/// on `public_url` (`None`: its own address). Returns its address and the database file.
async fn start_service(public_url: Option<String>) -> (String, std::path::PathBuf) {
    let database = std::env::temp_dir().join(format!("sim-{}.sqlite3", uuid::Uuid::new_v4()));
    let store = Store::open_sqlite(&database, MasterKey::new(&[9u8; 32]).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::new(vec![ApiCredential {
        api_key: KEY.into(),
        api_secret: SECRET.into(),
    }]);
    let router = server::router(
        ServerConfig {
            verifier,
            public_url: public_url.unwrap_or_else(|| url.clone()),
        },
        store,
    );
    tokio::spawn(server::serve(
        listener,
        router,
        server::Limits::default(),
        std::future::pending(),
    ));
    (url, database)
}

fn remove_database(database: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_service_is_consistent_under_agoras_delivery() {
    let (url, database) = start_service(None).await;
    let report = simulate(options(url)).await;
    assert!(report.consistent, "{report:#?}");
    assert!(report.calls.len() >= 7, "{report:#?}");
    // Every call read as a pass, the forged signature's refusal included.
    assert!(report.calls.iter().all(|c| c.passed()), "{report:#?}");
    let forged = report.calls.last().unwrap();
    assert_eq!(forged.expected, Expected::Refusal, "{report:#?}");
    assert_eq!(forged.outcome, "refused as expected", "{report:#?}");
    // Elapsed times in the JSON with at most one decimal.
    let json = serde_json::to_value(&report).unwrap();
    for call in json["calls"].as_array().unwrap() {
        let elapsed = call["elapsed_ms"].to_string();
        let decimals = elapsed.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 1, "{elapsed}");
        assert!(
            call["outcome"].is_string() && call["expected"].is_string(),
            "{call}"
        );
    }
    remove_database(&database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_issuing_new_credentials_per_call_is_caught() {
    let counter = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            axum::Json(json!({
                "status": "success",
                "statusReason": "",
                "data": {"appKey": format!("{n:032}"), "appSecret": format!("{n:040}")}
            }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let report = simulate(options(url)).await;
    assert!(!report.consistent);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("different credentials")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("forged signature")),
        "{:?}",
        report.problems
    );
    // The forged call accepted reads as a failure in its own line too.
    let forged = report.calls.last().unwrap();
    assert_eq!(forged.outcome, "not refused", "{report:#?}");
    assert!(!forged.passed());
}

/// `serve --public-url https://ext.example.com` behind a proxy: the license URL names an address
/// `simulate` cannot reach, so it fetches the same path through `--url` and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_url_that_is_not_reachable_from_here_is_checked_through_the_called_address() {
    // A public address nothing answers on from here (a closed loopback port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (url, database) = start_service(Some(public_url.clone())).await;
    let report = simulate(options(url.clone())).await;
    assert!(report.consistent, "{report:#?}");
    assert_eq!(report.notes.len(), 1, "{report:#?}");
    let note = &report.notes[0];
    assert!(note.contains(&public_url) && note.contains(&url), "{note}");
    assert!(note.contains("Not checked"), "{note}");
    remove_database(&database);
}
