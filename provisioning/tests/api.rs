//! The provisioning service over HTTP on loopback: the documented signatures, every endpoint,
//! bad inputs, idempotent activations under concurrent duplicates, and the license loop.

mod common;

use std::sync::Arc;

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{signed_body, ApiCredential, Verifier};
use agora_link_provisioning::store::Store;
use serde_json::{json, Value};

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

struct Service {
    base: String,
    http: reqwest::Client,
    _database: common::Database,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn service(database: common::Database) -> Service {
    let store = Store::open(&database.spec, MasterKey::new(&[7u8; 32]).unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base = format!("http://{address}");
    let verifier = Verifier::new(vec![
        ApiCredential {
            api_key: "retired-key-000000000000000000000".into(),
            api_secret: "retired".into(),
        },
        ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        },
    ]);
    let router = server::router(
        ServerConfig {
            verifier,
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
    // reqwest needs a TLS provider even for plain HTTP: ring, as everywhere in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Service {
        base,
        http: reqwest::Client::new(),
        _database: database,
        _shutdown: shutdown,
    }
}

impl Service {
    /// Sends `fields` signed with agora-v1 (plus apiKey); returns status and JSON body.
    async fn signed(&self, method: &str, path: &str, fields: Value) -> (u16, Value) {
        let body = signed_body(KEY, SECRET, method, path, &fields);
        self.raw(method, path, body, "application/json").await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        (status, value)
    }
}

#[tokio::test]
async fn the_whole_loop_configure_activate_fetch_deactivate() {
    for database in common::databases().await {
        the_whole_loop_configure_activate_fetch_deactivate_with(database).await;
    }
}

async fn the_whole_loop_configure_activate_fetch_deactivate_with(database: common::Database) {
    let s = service(database).await;
    let (status, body) = s
        .signed("PUT", "/license/customers/123456/activate", json!({"platform": "Android| iOS |linux", "expire": "1619913600-1619917200", "type": "normal"}))
        .await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"status": "success", "statusReason": ""}))
    );

    let (status, body) = s
        .signed(
            "POST",
            "/customers/123456/projects/new",
            json!({"projectId": 430892}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    let (app_key, app_secret) = (
        data["appKey"].as_str().unwrap(),
        data["appSecret"].as_str().unwrap(),
    );
    assert!((32..=255).contains(&app_key.len()) && (32..=255).contains(&app_secret.len()));
    let license_url = data["licenseUrl"].as_str().unwrap();
    assert_eq!(license_url, format!("{}/licenses/{app_key}", s.base));

    let license = s
        .http
        .get(license_url)
        .basic_auth(app_key, Some(app_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(license.status(), 200);
    let license: Value = serde_json::from_slice(&license.bytes().await.unwrap()).unwrap();
    assert_eq!(
        license["data"]["license"]["platforms"],
        json!(["android", "ios", "linux"])
    );
    assert_eq!(license["data"]["license"]["validFrom"], 1619913600);
    assert_eq!(license["data"]["license"]["type"], "normal");
    assert_eq!(license["data"]["projectId"], 430892);
    let wrong = s
        .http
        .get(license_url)
        .basic_auth(app_key, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // The page's `//customers` form of the deactivation path.
    let (status, body) = s
        .signed(
            "PUT",
            "//customers/123456/projects/430892/deactivate",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = s
        .http
        .get(license_url)
        .basic_auth(app_key, Some(app_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 403);
    let (status, _) = s
        .signed(
            "PUT",
            "/customers/123456/projects/999/deactivate",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        s.http
            .get(format!("{}/health", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn duplicate_activations_in_flight_get_one_grant_and_the_same_credentials() {
    for database in common::databases().await {
        duplicate_activations_in_flight_get_one_grant_and_the_same_credentials_with(database).await;
    }
}

async fn duplicate_activations_in_flight_get_one_grant_and_the_same_credentials_with(
    database: common::Database,
) {
    let s = Arc::new(service(database).await);
    for round in 0..5 {
        let path = format!("/customers/c-{round}/projects/new");
        let calls = (0..3).map(|_| {
            let s = s.clone();
            let path = path.clone();
            tokio::spawn(async move { s.signed("POST", &path, json!({"projectId": 77})).await })
        });
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        assert!(answers.windows(2).all(|w| w[0].1 == w[1].1), "{answers:?}");
        // A later retry too.
        let (_, again) = s.signed("POST", &path, json!({"projectId": 77})).await;
        assert_eq!(again, answers[0].1);
    }
}

#[tokio::test]
async fn customers_edition_two_endpoints() {
    for database in common::databases().await {
        customers_edition_two_endpoints_with(database).await;
    }
}

async fn customers_edition_two_endpoints_with(database: common::Database) {
    let s = service(database).await;
    let create = json!({"customerId": "cust-9", "planId": "plan-pro", "customerName": "Acme"});
    assert_eq!(
        s.signed("POST", "/customers/new", create.clone()).await.0,
        200
    );
    assert_eq!(
        s.signed("POST", "/customers/new", create).await.0,
        200,
        "the same again"
    );
    let (status, body) = s
        .signed(
            "POST",
            "/customers/new",
            json!({"customerId": "cust-9", "planId": "plan-basic"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(
        s.signed(
            "POST",
            "/customers/cust-9/projects/new",
            json!({"projectId": 1})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.signed("PUT", "/customers/cust-9/deactivate", json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        s.signed("PUT", "/customers/cust-9/deactivate", json!({}))
            .await
            .0,
        200,
        "idempotent"
    );
    assert_eq!(
        s.signed(
            "POST",
            "/customers/cust-9/projects/new",
            json!({"projectId": 2})
        )
        .await
        .0,
        409
    );
    assert_eq!(
        s.signed("PUT", "/customers/nobody/deactivate", json!({}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn bad_inputs_get_typed_failures() {
    for database in common::databases().await {
        bad_inputs_get_typed_failures_with(database).await;
    }
}

async fn bad_inputs_get_typed_failures_with(database: common::Database) {
    let s = service(database).await;
    // Signatures: a wrong one, the doc's inconsistent POST example, a missing one, an unknown key.
    let mut body =
        json!({"projectId": 430892, "apiKey": KEY, "signature": "YZOl2v5q3I7o0x3F13tpnkq5aDI="});
    let (status, reply) = s
        .raw(
            "POST",
            "/customers/123456/projects/new",
            body.to_string().into_bytes(),
            "application/json",
        )
        .await;
    assert_eq!((status, reply["status"].as_str()), (401, Some("failed")));
    body.as_object_mut().unwrap().remove("signature");
    assert_eq!(
        s.raw(
            "POST",
            "/customers/123456/projects/new",
            body.to_string().into_bytes(),
            "application/json"
        )
        .await
        .0,
        401
    );
    body["apiKey"] = json!("unknown");
    body["signature"] = json!("QRJDBm3gGmlFb5ZF9XBqm7u4EkI=");
    assert_eq!(
        s.raw(
            "POST",
            "/customers/123456/projects/new",
            body.to_string().into_bytes(),
            "application/json"
        )
        .await
        .0,
        401
    );
    // The documented vector itself is accepted, in both encodings.
    for signature in [
        "QRJDBm3gGmlFb5ZF9XBqm7u4EkI=",
        "QRJDBm3gGmlFb5ZF9XBqm7u4EkI%3D",
    ] {
        let body = json!({"projectId": 430892, "apiKey": KEY, "signature": signature});
        assert_eq!(
            s.raw(
                "POST",
                "/customers/123456/projects/new",
                body.to_string().into_bytes(),
                "application/json"
            )
            .await
            .0,
            200
        );
    }
    // Malformed JSON, wrong types, missing fields.
    assert_eq!(
        s.raw(
            "POST",
            "/customers/1/projects/new",
            b"{not json".to_vec(),
            "application/json"
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.raw(
            "POST",
            "/customers/1/projects/new",
            b"[1,2]".to_vec(),
            "application/json"
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.raw(
            "POST",
            "/customers/1/projects/new",
            br#"{"apiKey":5}"#.to_vec(),
            "application/json"
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.signed(
            "POST",
            "/customers/1/projects/new",
            json!({"projectId": "430892"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.signed("POST", "/customers/1/projects/new", json!({}))
            .await
            .0,
        400
    );
    for license in [
        json!({"expire": "1-2"}),
        json!({"platform": "ios"}),
        json!({"platform": "ios", "expire": "2-1"}),
        json!({"platform": "ios", "expire": "soon"}),
        json!({"platform": "|", "expire": "1-2"}),
        json!({"platform": "ios", "expire": "1-2", "type": 5}),
    ] {
        let (status, reply) = s
            .signed("PUT", "/license/customers/1/activate", license.clone())
            .await;
        assert_eq!(status, 400, "{license}: {reply}");
        assert!(reply["statusReason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()));
    }
    // Oversized, wrong content type, unknown route, wrong method.
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(20_000));
    assert_eq!(
        s.raw(
            "POST",
            "/customers/1/projects/new",
            huge.into_bytes(),
            "application/json"
        )
        .await
        .0,
        413
    );
    assert_eq!(
        s.raw(
            "POST",
            "/customers/1/projects/new",
            b"projectId=1".to_vec(),
            "application/x-www-form-urlencoded"
        )
        .await
        .0,
        415
    );
    assert_eq!(s.signed("POST", "/nowhere", json!({})).await.0, 404);
    assert_eq!(
        s.signed("GET", "/customers/1/projects/new", json!({}))
            .await
            .0,
        405
    );
    assert_eq!(
        s.signed("PUT", "/customers/1/projects/abc/deactivate", json!({}))
            .await
            .0,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_issue_one_grant() {
    let Some(database) = common::postgres().await else {
        return;
    };
    // Two service nodes behind an imaginary load balancer, one database.
    let first = service(database).await;
    let second_store = Store::open(&first._database.spec, MasterKey::new(&[7u8; 32]).unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::new(vec![ApiCredential {
        api_key: KEY.into(),
        api_secret: SECRET.into(),
    }]);
    let router = server::router(
        ServerConfig {
            verifier,
            public_url: second_base.clone(),
        },
        second_store,
    );
    tokio::spawn(server::serve(
        listener,
        router,
        server::Limits::default(),
        std::future::pending(),
    ));
    let second = Service {
        base: second_base,
        http: reqwest::Client::new(),
        _database: common::sqlite(),
        _shutdown: tokio::sync::oneshot::channel().0,
    };
    let (first, second) = (Arc::new(first), Arc::new(second));
    for project in 1..=20 {
        let path = "/customers/multi/projects/new";
        let calls: Vec<_> = (0..4)
            .map(|i| {
                let node = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                tokio::spawn(async move {
                    node.signed("POST", path, json!({"projectId": project}))
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        assert!(
            answers
                .windows(2)
                .all(|w| w[0].1["data"]["appKey"] == w[1].1["data"]["appKey"]
                    && w[0].1["data"]["appSecret"] == w[1].1["data"]["appSecret"]),
            "{answers:?}"
        );
    }
}

#[tokio::test]
async fn one_customer_and_one_grant_however_the_path_is_spelled() {
    for database in common::databases().await {
        one_customer_and_one_grant_however_the_path_is_spelled_with(database).await;
    }
}

async fn one_customer_and_one_grant_however_the_path_is_spelled_with(database: common::Database) {
    let label = database.label;
    let s = service(database).await;
    let (status, first) = s
        .signed(
            "POST",
            "/customers/acme/projects/new",
            json!({"projectId": 77}),
        )
        .await;
    assert_eq!(status, 200, "{label}: {first}");
    // The same customer and project, spelled otherwise: percent-encoded letters (upper and lower
    // case hex), doubled slashes, the decomposed form of a letter. Signed over the path as sent.
    for path in [
        "/customers/ac%6De/projects/new",
        "/customers/ac%6de/projects/new",
        "/customers/%61%63%6D%65/projects/new",
        "//customers//acme/projects//new",
        "/%63ustomers/acme/projects/%6Eew",
    ] {
        let (status, again) = s.signed("POST", path, json!({"projectId": 77})).await;
        assert_eq!(status, 200, "{label} {path}: {again}");
        assert_eq!(again["data"], first["data"], "{label} {path}");
    }
    let precomposed = s
        .signed(
            "POST",
            "/customers/soci%C3%A9t%C3%A9/projects/new",
            json!({"projectId": 5}),
        )
        .await;
    let decomposed = s
        .signed(
            "POST",
            "/customers/socie%CC%81te%CC%81/projects/new",
            json!({"projectId": 5}),
        )
        .await;
    assert_eq!(precomposed.0, 200, "{label}: {}", precomposed.1);
    assert_eq!(precomposed.1["data"], decomposed.1["data"], "{label}");
    // Deactivating through another spelling deactivates the one grant.
    let (status, body) = s
        .signed(
            "PUT",
            "/customers/%61cme/projects/%37%37/deactivate",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{label}: {body}");
    let app_key = first["data"]["appKey"].as_str().unwrap();
    let app_secret = first["data"]["appSecret"].as_str().unwrap();
    let license = s
        .http
        .get(format!("{}/licenses/{app_key}", s.base))
        .basic_auth(app_key, Some(app_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(license.status().as_u16(), 403, "{label}");
    // Invalid encodings are refused before anything else.
    for path in [
        "/customers/ac%zzme/projects/new",
        "/customers/acme%/projects/new",
        "/customers/acme%4/projects/new",
        "/customers/%FF%FE/projects/new",
        "/customers/%C3/projects/new",
    ] {
        let (status, body) = s.signed("POST", path, json!({"projectId": 78})).await;
        assert_eq!(status, 400, "{label} {path}: {body}");
    }
}

#[tokio::test]
async fn inputs_that_make_no_sense_get_a_400_naming_the_field() {
    for database in common::databases().await {
        inputs_that_make_no_sense_get_a_400_naming_the_field_with(database).await;
    }
}

async fn inputs_that_make_no_sense_get_a_400_naming_the_field_with(database: common::Database) {
    let label = database.label;
    let s = service(database).await;
    // projectId in a body: only a JSON integer from 1 to i64::MAX. The bodies are written by
    // hand (a JSON value cannot hold `-0` or `1e3` as typed), signed or not: the field is
    // checked before the signature.
    for project in [
        "0",
        "-1",
        "-0",
        "1e3",
        "430892.0",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551616",
        "\"430892\"",
        "true",
        "[1]",
    ] {
        let body = format!(r#"{{"projectId":{project},"apiKey":"{KEY}","signature":"bad"}}"#);
        let (status, reply) = s
            .raw(
                "POST",
                "/customers/acme/projects/new",
                body.into_bytes(),
                "application/json",
            )
            .await;
        assert_eq!(status, 400, "{label} {project}: {reply}");
        assert!(
            reply["statusReason"]
                .as_str()
                .is_some_and(|r| r.contains("projectId")),
            "{label} {project}: {reply}"
        );
    }
    let (status, reply) = s
        .signed(
            "POST",
            "/customers/acme/projects/new",
            json!({"projectId": i64::MAX}),
        )
        .await;
    assert_eq!(status, 200, "{label}: {reply}");
    // projectId in a path.
    for project in [
        "0",
        "-1",
        "-0",
        "+1",
        "1e3",
        "%2B1",
        "9223372036854775808",
        "1.0",
    ] {
        let path = format!("/customers/acme/projects/{project}/deactivate");
        let (status, reply) = s.signed("PUT", &path, json!({})).await;
        assert_eq!(status, 400, "{label} {path}: {reply}");
        assert!(
            reply["statusReason"]
                .as_str()
                .is_some_and(|r| r.contains("projectId")),
            "{label} {path}: {reply}"
        );
    }
    // Customer ids with control or invisible characters, in paths and in bodies.
    for id in [
        "ac%00me",
        "acme%E2%80%AEexe",
        "a%0Ab",
        "a%E2%80%8Bb",
        "%EF%BB%BFacme",
        // Blanks that print like a space, or nothing: an operator could not tell them apart.
        "acme%C2%A0",
        "%20acme",
        "acme%20",
        "%20",
        "%E3%80%80",
        "%E2%A0%80",
    ] {
        let path = format!("/customers/{id}/projects/new");
        let (status, reply) = s.signed("POST", &path, json!({"projectId": 9})).await;
        assert_eq!(status, 400, "{label} {path}: {reply}");
        assert!(
            reply["statusReason"]
                .as_str()
                .is_some_and(|r| r.contains("customerId")),
            "{label} {path}: {reply}"
        );
    }
    for id in ["ac\0me", "acme\u{202E}txt.exe", "a\u{2066}b", "\u{85}", ""] {
        let (status, reply) = s
            .signed(
                "POST",
                "/customers/new",
                json!({"customerId": id, "planId": "basic"}),
            )
            .await;
        assert_eq!(status, 400, "{label} {id:?}: {reply}");
    }
    let (status, reply) = s
        .signed(
            "POST",
            "/customers/new",
            json!({"customerId": "ok", "planId": "pl\u{202E}an"}),
        )
        .await;
    assert_eq!(status, 400, "{label}: {reply}");
    assert!(reply["statusReason"].as_str().unwrap().contains("planId"));
    // A planId number that is not an exact integer would be stored rounded.
    for plan in ["12345678901234567890123", "1e3", "2.5"] {
        let body =
            format!(r#"{{"customerId":"ok","planId":{plan},"apiKey":"{KEY}","signature":"x"}}"#);
        let (status, reply) = s
            .raw(
                "POST",
                "/customers/new",
                body.into_bytes(),
                "application/json",
            )
            .await;
        assert_eq!(status, 400, "{label} {plan}: {reply}");
        assert!(reply["statusReason"].as_str().unwrap().contains("planId"));
    }
    let (status, reply) = s
        .signed(
            "POST",
            "/customers/new",
            json!({"customerId": "plan-number", "planId": 18446744073709551615u64}),
        )
        .await;
    assert_eq!(status, 200, "{label}: {reply}");
}

#[tokio::test]
async fn admin_listings_escape_what_is_not_printable() {
    for database in common::databases().await {
        admin_listings_escape_what_is_not_printable_with(database).await;
    }
}

async fn admin_listings_escape_what_is_not_printable_with(database: common::Database) {
    use agora_link_provisioning::store::NewCustomer;
    // Rows stored before ids were checked (or written by another tool) still print safely.
    let store = Store::open(&database.spec, MasterKey::new(&[7u8; 32]).unwrap())
        .await
        .unwrap();
    // (PostgreSQL cannot store NUL in text; BEL is a control character it can.)
    let hostile = "evil\u{202E}txt.exe\u{7}\tX\\";
    store
        .create_customer(NewCustomer {
            customer_id: hostile.into(),
            plan_id: "plan\u{200B}\n".into(),
            name: None,
            email: None,
            phone: None,
        })
        .await
        .unwrap();
    store.activate(hostile, 12).await.unwrap();
    drop(store);
    for command in ["customers", "grants"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_agora-link-provisioning"))
            .args([command, "--database", &database.spec])
            .env("PROVISIONING_MASTER_KEY", "\u{7}".repeat(32))
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "{command}: {text}");
        assert!(
            text.contains(r"evil\u{202e}txt.exe\u{7}\tX\\"),
            "{} {command}: {text:?}",
            database.label
        );
        assert!(
            !text.chars().any(|c| c != '\t'
                && c != '\n'
                && (c.is_control() || agora_link_provisioning::text::is_hidden(c))),
            "{} {command}: {text:?}",
            database.label
        );
        // A header row, then the one row.
        assert_eq!(text.lines().count(), 2, "{command}: {text:?}");
        let header = if command == "customers" {
            "customer\tplan\tstate\tprojects\tactive_projects"
        } else {
            "customer\tproject\tapp_key\tstate"
        };
        assert_eq!(text.lines().next(), Some(header), "{command}: {text:?}");
        if command == "customers" {
            assert!(text.contains(r"plan\u{200b}\n"), "{text:?}");
        }
    }
}
