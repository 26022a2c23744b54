//! Access and durability under races: a deactivation that was acknowledged is never undone by a
//! concurrent activation (on one SQLite node, and on two nodes sharing one PostgreSQL); the
//! master key that issued a database's credentials is the only one it starts with; and
//! `POST /customers/new` reactivates a deactivated customer however it was created.

mod common;

use std::sync::Arc;

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{signed_body, ApiCredential, Verifier};
use agora_link_provisioning::store::Store;
use serde_json::{json, Value};

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

/// One node: an in-process server on its own store (several may share a PostgreSQL database).
struct Node {
    base: String,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn node(spec: &str) -> Node {
    let store = Store::open(spec, MasterKey::new(&[7u8; 32]).expect("a key"))
        .await
        .expect("the store opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let router = server::router(
        ServerConfig {
            verifier: Verifier::new(vec![ApiCredential {
                api_key: KEY.into(),
                api_secret: SECRET.into(),
            }]),
            public_url: base.clone(),
        },
        store,
    );
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        router,
        server::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Node {
        base,
        http: reqwest::Client::new(),
        _shutdown: shutdown,
    }
}

impl Node {
    async fn signed(&self, method: &str, path: &str, fields: Value) -> (u16, Value) {
        let body = signed_body(KEY, SECRET, method, path, &fields);
        let response = self
            .http
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", self.base),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn license(&self, credentials: &(String, String)) -> u16 {
        self.http
            .get(format!("{}/licenses/{}", self.base, credentials.0))
            .basic_auth(&credentials.0, Some(&credentials.1))
            .send()
            .await
            .expect("an answer")
            .status()
            .as_u16()
    }
}

fn credentials(body: &Value) -> Option<(String, String)> {
    Some((
        body["data"]["appKey"].as_str()?.to_owned(),
        body["data"]["appSecret"].as_str()?.to_owned(),
    ))
}

/// `races` times: project 1 active; then, at once, project 2's activation on `a` and the
/// customer's deactivation on `b`. When both are acknowledged, project 2 must not be served.
async fn customer_deactivation_races(a: Arc<Node>, b: Arc<Node>, label: &str, races: usize) {
    let mut both_acknowledged = 0;
    for race in 0..races {
        let customer = format!("race-{race}");
        let (status, body) = a
            .signed(
                "POST",
                &format!("/customers/{customer}/projects/new"),
                json!({"projectId": 1}),
            )
            .await;
        assert_eq!(status, 200, "{label}: {body}");
        // Every other race, project 2 exists already and is deactivated: its activation
        // reactivates the grant instead of inserting one.
        if race % 2 == 1 {
            let path = format!("/customers/{customer}/projects/new");
            assert_eq!(
                a.signed("POST", &path, json!({"projectId": 2})).await.0,
                200
            );
            let path = format!("/customers/{customer}/projects/2/deactivate");
            assert_eq!(a.signed("PUT", &path, json!({})).await.0, 200);
        }
        let activation = {
            let a = a.clone();
            let path = format!("/customers/{customer}/projects/new");
            tokio::spawn(async move { a.signed("POST", &path, json!({"projectId": 2})).await })
        };
        let deactivation = {
            let b = b.clone();
            let path = format!("/customers/{customer}/deactivate");
            tokio::spawn(async move { b.signed("PUT", &path, json!({})).await })
        };
        let (activated, body) = activation.await.expect("the activation task");
        let (deactivated, _) = deactivation.await.expect("the deactivation task");
        assert_eq!(deactivated, 200, "{label}");
        assert!(activated == 200 || activated == 409, "{label}: {body}");
        if activated == 200 {
            both_acknowledged += 1;
            let credentials = credentials(&body).expect("credentials");
            for node in [&a, &b] {
                assert_eq!(
                    node.license(&credentials).await,
                    403,
                    "{label}: race {race}: the customer's deactivation was acknowledged, yet \
                     project 2's license is served"
                );
            }
        }
        // And after it, the activation is refused.
        let (status, _) = a
            .signed(
                "POST",
                &format!("/customers/{customer}/projects/new"),
                json!({"projectId": 3}),
            )
            .await;
        assert_eq!(status, 409, "{label}");
    }
    eprintln!("{label}: {both_acknowledged} of {races} races acknowledged both calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_deactivation_racing_an_activation_leaves_no_license_served() {
    let sqlite = common::sqlite();
    let only = Arc::new(node(&sqlite.spec).await);
    customer_deactivation_races(only.clone(), only, "sqlite", 100).await;
    let Some(postgres) = common::postgres().await else {
        return;
    };
    let a = Arc::new(node(&postgres.spec).await);
    let b = Arc::new(node(&postgres.spec).await);
    customer_deactivation_races(a, b, "postgres, two nodes", 300).await;
}

/// A project's deactivation racing its reactivation: whatever the order, once the deactivation
/// is acknowledged and no activation follows, the license is not served, on every node.
async fn project_deactivation_races(a: Arc<Node>, b: Arc<Node>, label: &str, races: usize) {
    for race in 0..races {
        let customer = format!("project-race-{race}");
        let new = format!("/customers/{customer}/projects/new");
        let deactivate = format!("/customers/{customer}/projects/5/deactivate");
        let (status, body) = a.signed("POST", &new, json!({"projectId": 5})).await;
        assert_eq!(status, 200, "{label}: {body}");
        let first = credentials(&body).expect("credentials");
        if race % 2 == 1 {
            assert_eq!(a.signed("PUT", &deactivate, json!({})).await.0, 200);
        }
        let activation = {
            let (a, new) = (a.clone(), new.clone());
            tokio::spawn(async move { a.signed("POST", &new, json!({"projectId": 5})).await })
        };
        let deactivation = {
            let (b, deactivate) = (b.clone(), deactivate.clone());
            tokio::spawn(async move { b.signed("PUT", &deactivate, json!({})).await })
        };
        let (activated, body) = activation.await.expect("the activation task");
        assert_eq!(activated, 200, "{label}: {body}");
        assert_eq!(
            credentials(&body).as_ref(),
            Some(&first),
            "{label}: the credentials changed"
        );
        assert_eq!(deactivation.await.expect("the task").0, 200, "{label}");
        // A deactivation acknowledged after both: never served again.
        assert_eq!(b.signed("PUT", &deactivate, json!({})).await.0, 200);
        for node in [&a, &b] {
            assert_eq!(node.license(&first).await, 403, "{label}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_deactivation_racing_its_activation_is_never_undone_once_acknowledged() {
    let sqlite = common::sqlite();
    let only = Arc::new(node(&sqlite.spec).await);
    project_deactivation_races(only.clone(), only, "sqlite", 50).await;
    let Some(postgres) = common::postgres().await else {
        return;
    };
    let a = Arc::new(node(&postgres.spec).await);
    let b = Arc::new(node(&postgres.spec).await);
    project_deactivation_races(a, b, "postgres, two nodes", 100).await;
}

#[tokio::test]
async fn another_master_key_is_refused_at_start_and_not_shown() {
    let first = "the-first-master-key-of-at-least-32-bytes";
    let second = "a-second-master-key-of-at-least-32-bytes!";
    for database in common::databases().await {
        let label = database.label;
        let store = Store::open(
            &database.spec,
            MasterKey::new(first.as_bytes()).expect("key"),
        )
        .await
        .expect("the first start");
        let grant = store.activate("keyed", 1).await.expect("an activation");
        drop(store);
        // Give the SQLite writer a moment to close.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let error = Store::open(
            &database.spec,
            MasterKey::new(second.as_bytes()).expect("key"),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{label}: a database opened with another master key"));
        let message = error.to_string();
        assert!(
            message.contains("PROVISIONING_MASTER_KEY") && message.contains("not the key"),
            "{label}: {message}"
        );
        assert!(
            !message.contains(first) && !message.contains(second),
            "{label}: {message}"
        );
        // The right key still opens it, with the same credentials.
        let store = Store::open(
            &database.spec,
            MasterKey::new(first.as_bytes()).expect("key"),
        )
        .await
        .expect("the same key again");
        let again = store.activate("keyed", 1).await.expect("the repeat");
        assert_eq!(again, grant, "{label}");
    }
}

#[tokio::test]
async fn creating_a_deactivated_customer_again_reactivates_it_however_it_was_created() {
    for database in common::databases().await {
        let label = database.label;
        let s = node(&database.spec).await;
        // Created explicitly, and implicitly (by an activation).
        let create = json!({"customerId": "explicit", "planId": "plan-pro"});
        assert_eq!(
            s.signed("POST", "/customers/new", create.clone()).await.0,
            200
        );
        for customer in ["explicit", "implicit"] {
            let new = format!("/customers/{customer}/projects/new");
            let (status, body) = s.signed("POST", &new, json!({"projectId": 1})).await;
            assert_eq!(status, 200, "{label}: {body}");
            let first = credentials(&body).expect("credentials");
            let path = format!("/customers/{customer}/deactivate");
            assert_eq!(s.signed("PUT", &path, json!({})).await.0, 200);
            assert_eq!(
                s.signed("POST", &new, json!({"projectId": 2})).await.0,
                409,
                "{label}: {customer} is deactivated"
            );
            let again = json!({"customerId": customer, "planId": "plan-pro"});
            assert_eq!(
                s.signed("POST", "/customers/new", again.clone()).await.0,
                200,
                "{label}: {customer}"
            );
            // Reactivated: its projects stay deactivated until activated again, with the same
            // credentials.
            assert_eq!(s.license(&first).await, 403, "{label}: {customer}");
            let (status, body) = s.signed("POST", &new, json!({"projectId": 1})).await;
            assert_eq!(status, 200, "{label}: {customer}: {body}");
            assert_eq!(credentials(&body), Some(first.clone()), "{label}");
            assert_eq!(s.license(&first).await, 200, "{label}: {customer}");
            // The same creation again is the same answer; different details, a conflict.
            assert_eq!(s.signed("POST", "/customers/new", again).await.0, 200);
            let other = json!({"customerId": customer, "planId": "plan-basic"});
            assert_eq!(
                s.signed("POST", "/customers/new", other).await.0,
                409,
                "{label}: {customer}"
            );
        }
    }
}
