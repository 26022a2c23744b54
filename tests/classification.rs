//! Field hardening, kind 6: every failure is classified by what happened and names who answered.
//! A reverse proxy's HTML error page is a server failure (network kind) with its status and the
//! start of the page, not a decode error. Cognito's error bodies are read whatever their `null`s
//! (the type falls back to `X-Amzn-ErrorType`), and only Cognito's own refusals ask for a new
//! login; a 404 page or a proxy's 429 is a temporary failure. A refusal is remembered (kind 8):
//! Cognito is not asked again with the token it refused.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_link::iot::{IotCredentialProvider, ProviderEvent};
use agora_link::{Error, ErrorKind};
use agora_link_sandbox::{Fault, FaultAction, Sandbox};

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

fn html(status: u16, body: &str) -> FaultAction {
    FaultAction::Respond {
        status,
        body: body.into(),
        content_type: Some("text/html".into()),
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn a_proxy_error_page_is_a_server_failure_with_status_and_excerpt() {
    let sandbox = common::sandbox().await;
    let client = common::client_for(&sandbox);
    client.access_token().await.unwrap();
    for status in [502u16, 503, 504, 500, 429] {
        let page = NGINX_502.replace("502 Bad Gateway", &format!("{status} Proxy Page"));
        sandbox.clear_faults();
        sandbox.inject(Fault::always("getAll", html(status, &page)));
        let error = client.list_packages().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Network, "{status}: {error}");
        assert_eq!(error.http_status(), Some(status), "{error}");
        assert!(
            matches!(&error, Error::Server { excerpt, .. } if excerpt.contains("Proxy Page")),
            "{status}: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&format!("HTTP {status}")) && text.contains("proxy"),
            "{text}"
        );
        assert!(
            !error.attempts().is_empty(),
            "the hosts tried are listed: {text}"
        );
    }
    // The server's own JSON refusal with a 5xx status stays an API error.
    sandbox.clear_faults();
    sandbox.inject(Fault::new(
        "getAll",
        FaultAction::respond(500, r#"{"code":500,"msg":"internal"}"#),
        2,
    ));
    let error = client.list_packages().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Api, "{error}");
    // A non-JSON 200 is still a decode error: the API answered something it should not.
    sandbox.clear_faults();
    sandbox.inject(Fault::new("getAll", html(200, "<html>portal</html>"), 2));
    let error = client.list_packages().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
}

struct Case {
    status: u16,
    body: &'static str,
    content_type: &'static str,
    error_type_header: Option<&'static str>,
    /// Does the answer mean "log in again"?
    refusal: bool,
    /// The expected kind of the error.
    kind: ErrorKind,
    /// Text the error must contain.
    says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        status: 400,
        body: r#"{"__type":"NotAuthorizedException","message":null}"#,
        content_type: "application/x-amz-json-1.1",
        error_type_header: None,
        refusal: true,
        kind: ErrorKind::Auth,
        says: "NotAuthorizedException",
    },
    Case {
        status: 400,
        body: r#"{"message":null}"#,
        content_type: "application/x-amz-json-1.1",
        error_type_header: Some("NotAuthorizedException:http://internal.amazon.com/coral/com.amazonaws.cognito.identity/"),
        refusal: true,
        kind: ErrorKind::Auth,
        says: "NotAuthorizedException",
    },
    Case {
        status: 400,
        body: r#"{"__type":null}"#,
        content_type: "application/x-amz-json-1.1",
        error_type_header: Some("ResourceNotFoundException"),
        refusal: true,
        kind: ErrorKind::Auth,
        says: "ResourceNotFoundException",
    },
    Case {
        status: 400,
        body: r#"{"__type":"com.amazonaws.cognito.identity.model#TooManyRequestsException","message":"Rate exceeded"}"#,
        content_type: "application/x-amz-json-1.1",
        error_type_header: None,
        refusal: false,
        kind: ErrorKind::Api,
        says: "TooManyRequestsException: Rate exceeded",
    },
    Case {
        status: 404,
        body: "<html><body><h1>404 Not Found</h1></body></html>",
        content_type: "text/html",
        error_type_header: None,
        refusal: false,
        kind: ErrorKind::Network,
        says: "404 Not Found",
    },
    Case {
        status: 429,
        body: "<html><head><title>429 Too Many Requests</title></head></html>",
        content_type: "text/html",
        error_type_header: None,
        refusal: false,
        kind: ErrorKind::Network,
        says: "429 Too Many Requests",
    },
    Case {
        status: 403,
        body: "",
        content_type: "text/plain",
        error_type_header: None,
        refusal: false,
        kind: ErrorKind::Network,
        says: "HTTP 403",
    },
];

#[tokio::test]
async fn only_cognitos_own_refusals_ask_for_a_new_login() {
    let sandbox = Sandbox::builder().iot_gateway().start().await.unwrap();
    let client = common::client_for(&sandbox);
    let account = client.register_account("iot", "classified").await.unwrap();
    let login = client
        .login_account("iot", "classified", &account.token)
        .await
        .unwrap();
    for case in CASES {
        let mut headers = vec![("Content-Type".to_owned(), case.content_type.to_owned())];
        if let Some(value) = case.error_type_header {
            headers.push(("X-Amzn-ErrorType".into(), value.into()));
        }
        sandbox.clear_faults();
        sandbox.inject(Fault::always(
            "/",
            FaultAction::Respond {
                status: case.status,
                body: case.body.into(),
                content_type: Some(case.content_type.into()),
                headers,
            },
        ));
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let provider = IotCredentialProvider::builder(&client, &login)
            .cognito_endpoint(sandbox.base_url())
            .on_event(move |e| seen.lock().unwrap().push(e.clone()))
            .build()
            .unwrap();
        sandbox.expire_aws_sessions();
        provider.invalidate();
        let before = sandbox.stats().faults_injected;
        let error = provider.mqtt_url().await.unwrap_err();
        let what = format!("{} {}", case.status, case.body);
        assert_eq!(error.kind(), case.kind, "{what}: {error}");
        assert!(error.to_string().contains(case.says), "{what}: {error}");
        let login_required = events
            .lock()
            .unwrap()
            .contains(&ProviderEvent::LoginRequired);
        assert_eq!(login_required, case.refusal, "{what}: {error}");
        // Asked again: a refusal is remembered (Cognito is not asked with the same token), a
        // temporary failure is retried.
        for _ in 0..4 {
            provider.mqtt_url().await.unwrap_err();
        }
        let asked = sandbox.stats().faults_injected - before;
        if case.refusal {
            assert_eq!(
                asked, 1,
                "{what}: Cognito asked {asked} times with a refused token"
            );
        } else {
            assert_eq!(asked, 5, "{what}");
        }
        // New login credentials end the refusal.
        if case.refusal {
            sandbox.clear_faults();
            let again = client
                .login_account("iot", "classified", &account.token)
                .await
                .unwrap();
            provider.update_login(&again).unwrap();
            tokio::time::timeout(Duration::from_secs(10), provider.mqtt_url())
                .await
                .unwrap()
                .unwrap();
        }
    }
}
