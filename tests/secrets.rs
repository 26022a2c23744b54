//! Secrets never reach `Debug` output, `Display` of errors, or logs (ours and the HTTP stack's,
//! captured at TRACE level).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use agora_link::{ClientConfig, OpenPackageRequest, Region, TokenGrant};
use agora_link_sandbox::{Fault, FaultAction, Sandbox, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_absent(haystack: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        assert!(
            secret.len() >= 8,
            "secret too short to search for: {secret:?}"
        );
        assert!(
            !haystack.contains(secret.as_str()),
            "{what} contains a secret: {secret}"
        );
    }
}

#[test]
fn the_full_flow_leaks_no_secret_to_logs_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    // A global subscriber at TRACE, which also captures `log` records of the HTTP/TLS stack.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (debug_output, secrets) = runtime.block_on(async {
        let sandbox = Sandbox::builder().start().await.unwrap();
        let client = common::client_for(&sandbox);
        let mut debug_output = format!("{client:?}\n{:?}\n", client.config());
        let token = client.access_token().await.unwrap();
        debug_output += &format!("{token:?}\n");
        let refreshed = client
            .request_token(&TokenGrant::RefreshToken {
                refresh_token: token.refresh_token.clone().unwrap(),
            })
            .await
            .unwrap();
        debug_output += &format!("{refreshed:?}\n");
        let account = client.register_account("p", "alice").await.unwrap();
        debug_output += &format!("{account:?}\n");
        let login = client.login_account("p", "alice", &account.token).await.unwrap();
        debug_output += &format!("{login:?}\n{login:#?}\n");
        // The access key id is an identifier, masked wherever a person reads it (docs/bindings.md).
        let key_id = &login.gy_token.proof.access_key_id;
        assert!(!debug_output.contains(key_id.as_str()), "{debug_output}");
        assert!(debug_output.contains(&agora_link::secret::masked(key_id)));
        client.list_packages().await.unwrap();
        client
            .open_package(&OpenPackageRequest {
                app_id: "app".into(),
                user_id: "user".into(),
                device_id: "device".into(),
                payment_order_id: "payment".into(),
                cloud_record_package_id: 1,
                order_number: 1,
            })
            .await
            .unwrap();
        // Failures, including a decode failure of a body full of secrets and a 401 replay.
        sandbox.revoke_access_tokens();
        let decoy = format!(
            r#"{{"code":0,"data":{{"lsToken":{{"access_token":"{}","refresh_token":"{}"}},"gyToken":{{"proof":{{"secretKey":"{}""#,
            login.ls_token.access_token.expose(),
            login.ls_token.refresh_token.as_ref().unwrap().expose(),
            login.gy_token.proof.secret_key.expose()
        );
        sandbox.inject(Fault::new("/login", FaultAction::respond(200, decoy), 2));
        let err = client.login_account("p", "alice", &account.token).await.unwrap_err();
        debug_output += &format!("{err}\n{err:?}\n");
        let err = client.login_account("p", "alice", &"wrong-account-token".into()).await.unwrap_err();
        debug_output += &format!("{err}\n{err:?}\n");
        let wrong = common::build(ClientConfig::builder(Region::China, "sandbox-client-id", "a-wrong-client-secret")
                .password_grant("sandbox-user", "a-wrong-password")
                .base_url(sandbox.base_url()));
        let err = wrong.list_packages().await.unwrap_err();
        debug_output += &format!("{err}\n{err:?}\n{wrong:?}\n");

        let secrets = vec![
            DEFAULT_PASSWORD.to_owned(),
            DEFAULT_CLIENT_SECRET.to_owned(),
            "a-wrong-client-secret".to_owned(),
            "a-wrong-password".to_owned(),
            "wrong-account-token".to_owned(),
            token.access_token.expose().to_owned(),
            token.refresh_token.as_ref().unwrap().expose().to_owned(),
            refreshed.access_token.expose().to_owned(),
            account.token.expose().to_owned(),
            login.ls_token.access_token.expose().to_owned(),
            login.ls_token.refresh_token.as_ref().unwrap().expose().to_owned(),
            login.gy_token.granwin_token.expose().to_owned(),
            login.gy_token.pool.token.expose().to_owned(),
            login.gy_token.proof.secret_key.expose().to_owned(),
            login.gy_token.proof.session_token.expose().to_owned(),
        ];
        (debug_output, secrets)
    });
    drop(runtime);
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("agora link response"),
        "our own events were captured"
    );
    assert!(
        logs.contains("token rejected; renewing"),
        "the 401 replay was logged"
    );
    assert_absent(&logs, &secrets, "the log");
    assert_absent(&debug_output, &secrets, "Debug/Display output");
    assert!(debug_output.contains("***"));
}
