//! What the fuzz targets in `fuzz/` found, replayed through the public API against the sandbox
//! (the provisioning service's findings are unit tests in `provisioning/src/signature.rs`).
//!
//! * `structured_token`: an escaped quote in a value before a secret (`"msg":"say \"hi\""`)
//!   shifted the masking of body excerpts by one string, and the `access_token` after it was
//!   quoted in clear in the error (and so in logs).
//! * `structured_cognito`: a Cognito answer that did not decode was quoted with its
//!   `SecretKey` and `SessionToken` in clear (the masked names were Agora Link's camelCase ones).
//! * `structured_login`: a `gyToken.endpoint` mixing non-ASCII and upper-case letters panicked
//!   in debug builds when presigned (a debug assertion of the ASCII-only IDNA stub).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_link::iot::{IotCredentialProvider, ProviderEvent};
use agora_link::{AwsProof, Error, ErrorKind, TokenGrant};
use agora_link_sandbox::{Fault, FaultAction, Sandbox};

const ACCESS_TOKEN: &str = "yoXXXXXXXXXXXXXXk-must-stay-secret";
const REFRESH_TOKEN: &str = "08XXXXXXXXXXXXXXXXdk-must-stay-secret";

#[tokio::test]
async fn an_escaped_quote_before_a_token_does_not_unmask_it_in_errors() {
    let sandbox = common::sandbox().await;
    let client = common::client_for(&sandbox);
    for before in [
        r#""msg":"say \"hi\"","#,
        r#""code":"\u0000\"","#,
        r#""msg":"ends with a backslash \\","#,
    ] {
        // `expires_in` does not parse, so the answer is a decode error quoting the body.
        let body = format!(
            r#"{{{before}"code":0,"data":{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}","expires_in":"soon"}}}}"#
        );
        sandbox.clear_faults();
        sandbox.inject(Fault::always(
            "/oauth/rest-token",
            FaultAction::respond(200, body.clone()),
        ));
        let error = client
            .request_token(&TokenGrant::ClientCredentials)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Decode { .. }), "{body}: {error}");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(ACCESS_TOKEN), "{text}");
        assert!(!text.contains(REFRESH_TOKEN), "{text}");
        assert!(text.contains("***"), "{text}");
    }
}

#[tokio::test]
async fn an_undecodable_cognito_answer_does_not_quote_the_aws_keys() {
    const KEY_ID: &str = "ASIAFUZZEXAMPLEKEYID";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH";
    let sandbox = Sandbox::builder().iot_gateway().start().await.unwrap();
    let client = common::client_for(&sandbox);
    let account = client.register_account("iot", "ivan").await.unwrap();
    let login = client
        .login_account("iot", "ivan", &account.token)
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let provider = IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint(sandbox.base_url())
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    for expiration in ["0", "-1", "\"1700003600\"", "null", "1e400"] {
        let body = format!(
            r#"{{"Credentials":{{"AccessKeyId":"{KEY_ID}","Expiration":{expiration},"SecretKey":"{SECRET_KEY}","SessionToken":"{SESSION_TOKEN}"}},"IdentityId":"us-east-1:x"}}"#
        );
        sandbox.clear_faults();
        sandbox.inject(Fault::new("/", FaultAction::respond(200, body.clone()), 1));
        events.lock().unwrap().clear();
        provider.invalidate();
        let _ = provider.credentials().await;
        // "RefreshFailed: a description, free of secrets".
        let failures: Vec<(ErrorKind, String)> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                ProviderEvent::RefreshFailed { kind, message, .. } => {
                    Some((*kind, message.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(failures.len(), 1, "{body}: {failures:?}");
        let (kind, message) = &failures[0];
        assert_eq!(*kind, ErrorKind::Decode, "{message}");
        for secret in [KEY_ID, SECRET_KEY, SESSION_TOKEN] {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn a_non_ascii_endpoint_is_refused_when_presigning() {
    let proof = AwsProof {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_key: "secret".into(),
        session_token: "token".into(),
        session_expiration: UNIX_EPOCH + Duration::from_secs(4_000_000_000),
    };
    for endpoint in [
        ",,ECRESSI\u{450}A",
        "ABC.\u{4f8b}\u{5b50}.iot.cn-north-1.amazonaws.com.cn",
    ] {
        let result = std::panic::catch_unwind(|| {
            agora_link::iot::presign_mqtt_url(endpoint, "cn-north-1", &proof, SystemTime::now())
        });
        assert!(
            matches!(result, Ok(Err(Error::InvalidArgument(_)))),
            "{endpoint:?}: {result:?}"
        );
    }
}
