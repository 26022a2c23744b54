//! Transport and decoding failures: each is a typed error with the status and a safe excerpt,
//! never a panic or a hang. HTTPS with a private CA and `resolve` overrides.

mod common;

use std::time::{Duration, Instant};

use agora_link::{Client, ClientConfig, Error, ErrorKind, Region, TransportErrorKind};
use agora_link_sandbox::{
    Fault, FaultAction, Sandbox, TlsIdentity, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
};
use common::{client_for, config_for, sandbox};

#[tokio::test]
async fn a_proxy_error_page_is_a_server_error_with_status_and_excerpt() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    sandbox.inject(Fault::new(
        "/getAll",
        FaultAction::Respond {
            status: 502,
            body: "<html><body>Bad Gateway</body></html>".into(),
            content_type: Some("text/html".into()),
            headers: Vec::new(),
        },
        2,
    ));
    let err = client.list_packages().await.unwrap_err();
    // HTTP 502 is a host failure: the spec's same-host retry got it too, and the error lists both.
    let tried: Vec<_> = err.attempts().iter().map(|a| a.failure).collect();
    assert_eq!(
        tried,
        [agora_link::FailureClass::ServerError(502); 2],
        "{err}"
    );
    // A proxy's error page is a server failure (network kind), not a decode error.
    match &err {
        Error::Server {
            http_status,
            excerpt,
            trace_id,
            ..
        } => {
            assert_eq!(*http_status, 502);
            assert!(excerpt.contains("Bad Gateway"), "{excerpt}");
            assert!(trace_id.is_some());
        }
        other => panic!("expected a server error, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Network);
}

#[tokio::test]
async fn a_truncated_body_is_a_decode_error_whose_excerpt_hides_secrets() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    sandbox.inject(Fault::new(
        "/oauth/rest-token",
        FaultAction::respond(200, r#"{"code":0,"msg":"SUCCESS","data":{"access_token":"TOPSECRET-ACCESS","refresh_token":"TOPSECRET-REFR"#),
        2,
    ));
    let err = client.list_packages().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                http_status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    assert!(shown.contains("access_token"), "{shown}");
}

#[tokio::test]
async fn empty_and_wrongly_shaped_bodies_are_decode_errors() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    for body in [
        "",
        "[]",
        r#"{"msg":"no code"}"#,
        r#"{"code":0,"data":{"unexpected":true}}"#,
        "null",
    ] {
        sandbox.inject(Fault::new("/getById", FaultAction::respond(200, body), 2));
        let err = client.get_package(1).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{body:?}: {err:?}");
        sandbox.clear_faults();
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let sandbox = sandbox().await;
    let client = common::build(config_for(&sandbox).max_response_bytes(64 * 1024));
    client.list_packages().await.unwrap();
    let huge = format!(
        r#"{{"code":0,"data":[],"pad":"{}"}}"#,
        "x".repeat(200 * 1024)
    );
    sandbox.inject(Fault::new("/getAll", FaultAction::respond(200, huge), 1));
    let err = client.list_packages().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BodyTooLarge {
                limit: 65536,
                http_status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    // The default limit is 4 MiB.
    let default_client = client_for(&sandbox);
    let huge = format!(
        r#"{{"code":0,"data":[],"pad":"{}"}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    sandbox.inject(Fault::new("/getAll", FaultAction::respond(200, huge), 1));
    let err = default_client.list_packages().await.unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 4194304, .. }),
        "{err:?}"
    );
    // The client still works afterwards.
    assert_eq!(client.list_packages().await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_dropped_connection_is_a_network_error() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    // Three drops: the first on a pooled connection looks like one the server closed as idle
    // and is retried at once on a fresh connection, then the spec's same-host retry.
    sandbox.inject(Fault::new("/login", FaultAction::DropConnection, 3));
    let account = client.register_account("p", "a").await.unwrap();
    let err = client
        .login_account("p", "a", &account.token)
        .await
        .unwrap_err();
    common::assert_transport(&err, TransportErrorKind::Io);
    assert_eq!(err.kind(), ErrorKind::Network);
    client
        .login_account("p", "a", &account.token)
        .await
        .expect("next call works");
}

#[tokio::test]
async fn a_slow_server_gives_a_timeout_error_not_a_hang() {
    let sandbox = sandbox().await;
    let client = common::build(config_for(&sandbox).request_timeout(Duration::from_millis(300)));
    client.list_packages().await.unwrap();
    sandbox.inject(Fault::new(
        "/getAll",
        FaultAction::delay(Duration::from_secs(5)),
        2,
    ));
    let started = Instant::now();
    let err = client.list_packages().await.unwrap_err();
    common::assert_transport(&err, TransportErrorKind::Timeout);
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout cut the call short"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = common::build(
        ClientConfig::builder(Region::China, "id", "secret")
            .base_url(format!("http://127.0.0.1:{port}")),
    );
    let err = client.list_packages().await.unwrap_err();
    common::assert_transport(&err, TransportErrorKind::Connect);
    assert!(matches!(&err, Error::Transport { kind, .. } if kind.before_request_sent()));
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let client = common::build(
        ClientConfig::builder(Region::China, "id", "secret")
            .base_url("https://agora-link-test.invalid")
            .request_timeout(Duration::from_secs(10)),
    );
    let err = client.list_packages().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportErrorKind::Dns | TransportErrorKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
}

async fn https_sandbox() -> (Sandbox, String) {
    let (identity, ca_pem) =
        TlsIdentity::generate_for(&["api.sd-rtn.com", "api.agora.io"]).unwrap();
    let sandbox = Sandbox::builder().tls(identity).start().await.unwrap();
    (sandbox, ca_pem)
}

#[tokio::test]
async fn https_with_a_private_ca_and_resolve_overrides() {
    let (sandbox, ca_pem) = https_sandbox().await;
    let client = common::build(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .add_root_certificates_pem(ca_pem)
            .resolve("api.sd-rtn.com", sandbox.address())
            .resolve_overrides_only(true),
    );
    assert_eq!(
        client
            .endpoint_url(agora_link::Endpoint::RestToken)
            .as_str(),
        "https://api.sd-rtn.com/agoralink/cn/api/oauth/rest-token"
    );
    let packages = client
        .list_packages()
        .await
        .expect("HTTPS through the CA option");
    assert_eq!(packages.len(), 5);
}

#[tokio::test]
async fn https_without_the_ca_is_a_tls_error() {
    let (sandbox, _) = https_sandbox().await;
    // One attempt (domain switching would go on to api.agora.io, which is not mapped here),
    // and no system DNS: the tests never leave loopback.
    let client = common::build(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .resolve("api.sd-rtn.com", sandbox.address())
            .resolve_overrides_only(true)
            .failover(agora_link::FailoverPolicy::disabled()),
    );
    let err = client.list_packages().await.unwrap_err();
    common::assert_transport(&err, TransportErrorKind::Tls);
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert_eq!(sandbox.stats().requests_to("/oauth/rest-token"), 0);
}

#[tokio::test]
async fn https_to_a_host_the_certificate_does_not_name_is_a_tls_error() {
    let (sandbox, ca_pem) = https_sandbox().await;
    let client = common::build(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .base_url("https://other.example.com")
            .add_root_certificates_pem(ca_pem)
            .resolve("other.example.com", sandbox.address()),
    );
    let err = client.list_packages().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
}

#[test]
fn bad_pem_is_a_config_error() {
    for pem in [
        "",
        "not a pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let err = Client::new(
            ClientConfig::builder(Region::China, "id", "secret")
                .add_root_certificates_pem(pem)
                .build()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{pem:?}: {err}");
    }
}
