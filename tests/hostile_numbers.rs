//! Field hardening, kind 1: nothing a server sends can panic the library. Every duration and
//! instant that comes from the network (`Retry-After` as seconds or an HTTP date, `expires_in`,
//! `gyToken.expiration`, `proof.sessionExpiration`, Cognito `Expiration`, the `Date` header) is
//! sent at its extremes by the sandbox; each call returns a value with the documented caps or a
//! typed error, and the client keeps working afterwards.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agora_link::iot::IotCredentialProvider;
use agora_link::{Client, ErrorKind};
use agora_link_sandbox::{Fault, FaultAction, Sandbox};
use serde_json::{json, Value};

/// The documented caps (`agora_link::wire_time`), restated so that this test also builds
/// against a library without them.
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);
const MAX_EPOCH_SECONDS: u64 = 253_402_300_799;

/// Numbers a hostile or broken server might put where a count of seconds or milliseconds goes.
const EXTREME_INTEGERS: &[&str] = &[
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999999999",
    "-1",
    "0",
    "1e308",
    "-1e308",
    "8999999999999999.0",
    "\"9223372036854775807\"",
    "\"18446744073709551615\"",
    "\"-1\"",
    "\"1e30\"",
    "\"\"",
    "null",
];

fn fixture(name: &str) -> Value {
    serde_json::from_str(&common::fixture(name)).unwrap()
}

/// `value` with the number at `pointer` replaced by `raw` (JSON text, spliced in as is so that
/// numbers beyond `f64`/`i64` reach the client unchanged).
fn with_raw(mut value: Value, pointer: &str, raw: &str) -> String {
    const MARK: &str = "\"@@EXTREME@@\"";
    *value.pointer_mut(pointer).unwrap() = json!("@@EXTREME@@");
    value.to_string().replace(MARK, raw)
}

fn year_from_now() -> SystemTime {
    SystemTime::now() + MAX_LIFETIME + Duration::from_secs(60)
}

async fn call_bounded<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .unwrap_or_else(|_| panic!("{what}: the call hung"))
}

#[tokio::test]
async fn any_retry_after_ends_or_waits_within_the_deadline() {
    let sandbox = common::sandbox().await;
    for status in [429u16, 503] {
        for value in [
            "18446744073709551615",
            "99999999999",
            "184467440737095516150",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Sat, 01 Jan 2000 00:00:00 GMT",
            "-1",
            "1e30",
            "   ",
            "2",
        ] {
            sandbox.clear_faults();
            sandbox.inject(Fault::always(
                "getAll",
                FaultAction::respond(status, r#"{"code":429,"msg":"slow down"}"#)
                    .with_header("Retry-After", value),
            ));
            let client =
                common::build(common::config_for(&sandbox).call_deadline(Duration::from_secs(4)));
            let started = Instant::now();
            let error = call_bounded(value, client.list_packages())
                .await
                .expect_err("every answer is a refusal");
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "{status} Retry-After {value:?}: took {:?}",
                started.elapsed()
            );
            assert_ne!(error.kind(), ErrorKind::Shutdown, "{value}: {error}");
            assert_eq!(error.http_status(), Some(status), "{value}: {error}");
        }
    }
    // The same client works once the server does.
    sandbox.clear_faults();
    let client = common::client_for(&sandbox);
    client.list_packages().await.unwrap();
}

#[tokio::test]
async fn any_token_lifetime_is_capped_or_refused() {
    let sandbox = common::sandbox().await;
    let client = common::client_for(&sandbox);
    for raw in EXTREME_INTEGERS {
        sandbox.clear_faults();
        let body = with_raw(fixture("rest-token.json"), "/data/expires_in", raw);
        sandbox.inject(Fault::new(
            "/oauth/rest-token",
            FaultAction::respond(200, body),
            1,
        ));
        client.clear_token_cache();
        match call_bounded(raw, client.access_token()).await {
            Ok(token) => {
                assert!(
                    token.expires_in <= MAX_LIFETIME,
                    "{raw}: {:?}",
                    token.expires_in
                );
                assert!(token.expires_at <= year_from_now(), "{raw}");
                // The cached token is usable: the next call authenticates with it.
                let _ = call_bounded(raw, client.list_packages()).await;
            }
            Err(error) => assert_eq!(error.kind(), ErrorKind::Decode, "{raw}: {error}"),
        }
    }
}

#[tokio::test]
async fn any_login_lifetime_or_session_expiration_is_clamped_or_refused() {
    let sandbox = common::sandbox().await;
    let client = common::client_for(&sandbox);
    let account = client.register_account("hostile", "numbers").await.unwrap();
    let last = UNIX_EPOCH + Duration::from_secs(MAX_EPOCH_SECONDS);
    for pointer in [
        "/data/lsToken/expires_in",
        "/data/gyToken/expiration",
        "/data/gyToken/proof/sessionExpiration",
    ] {
        for raw in EXTREME_INTEGERS {
            sandbox.clear_faults();
            let body = with_raw(fixture("login-200.json"), pointer, raw);
            sandbox.inject(Fault::new("/login", FaultAction::respond(200, body), 1));
            let what = format!("{pointer} = {raw}");
            match call_bounded(
                &what,
                client.login_account("hostile", "numbers", &account.token),
            )
            .await
            {
                Ok(login) => {
                    assert!(login.ls_token.expires_in <= MAX_LIFETIME, "{what}");
                    assert!(login.gy_token.expiration <= MAX_LIFETIME, "{what}");
                    assert!(login.gy_token.expires_at <= year_from_now(), "{what}");
                    let session = login.gy_token.proof.session_expiration;
                    assert!(session >= UNIX_EPOCH && session <= last, "{what}");
                    // The credentials can be used: a provider builds and signs a URL.
                    if let Ok(provider) = IotCredentialProvider::builder(&client, &login)
                        .cognito_endpoint(sandbox.base_url())
                        .build()
                    {
                        let _ = call_bounded(&what, provider.mqtt_url()).await;
                    }
                }
                Err(error) => assert_eq!(error.kind(), ErrorKind::Decode, "{what}: {error}"),
            }
        }
    }
}

#[tokio::test]
async fn any_date_header_moves_the_clock_without_panicking() {
    let sandbox = common::sandbox().await;
    let client = common::client_for(&sandbox);
    let account = client.register_account("hostile", "dates").await.unwrap();
    let login_body = common::fixture("login-200.json");
    for date in [
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "not a date",
        "",
    ] {
        sandbox.clear_faults();
        sandbox.inject(Fault::new(
            "/login",
            FaultAction::respond(200, login_body.clone()).with_header("Date", date),
            1,
        ));
        let login = call_bounded(
            date,
            client.login_account("hostile", "dates", &account.token),
        )
        .await
        .unwrap_or_else(|e| panic!("{date}: {e}"));
        let _ = client.clock().now();
        if let Ok(provider) = IotCredentialProvider::builder(&client, &login)
            .cognito_endpoint(sandbox.base_url())
            .build()
        {
            let _ = call_bounded(date, provider.mqtt_url()).await;
        }
    }
}

fn cognito_answer(expiration: &str) -> String {
    format!(
        r#"{{"IdentityId":"cn-north-1:x","Credentials":{{"AccessKeyId":"ASIAX","SecretKey":"s","SessionToken":"t","Expiration":{expiration}}}}}"#
    )
}

#[tokio::test]
async fn any_cognito_expiration_is_clamped_or_refused() {
    let sandbox = Sandbox::builder().iot_gateway().start().await.unwrap();
    let client: Client = common::client_for(&sandbox);
    let account = client.register_account("iot", "cognito").await.unwrap();
    let login = client
        .login_account("iot", "cognito", &account.token)
        .await
        .unwrap();
    let last = UNIX_EPOCH + Duration::from_secs(MAX_EPOCH_SECONDS);
    for raw in [
        "1e300",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "18446744073709551615",
        "9223372036854775807",
        "-1",
        "0",
        "1e-300",
        "4102444800.5",
        "\"soon\"",
        "null",
    ] {
        sandbox.clear_faults();
        sandbox.inject(Fault::always(
            "/",
            FaultAction::respond(200, cognito_answer(raw))
                .with_header("Content-Type", "application/x-amz-json-1.1"),
        ));
        let provider = IotCredentialProvider::builder(&client, &login)
            .cognito_endpoint(sandbox.base_url())
            .build()
            .unwrap();
        sandbox.expire_aws_sessions();
        provider.invalidate();
        match call_bounded(raw, provider.credentials()).await {
            Ok(proof) => {
                assert!(
                    proof.session_expiration <= last,
                    "{raw}: {:?}",
                    proof.session_expiration
                );
                let _ = call_bounded(raw, provider.mqtt_url()).await;
            }
            Err(error) => assert!(
                matches!(
                    error.kind(),
                    ErrorKind::Decode | ErrorKind::Auth | ErrorKind::Api
                ),
                "{raw}: {error}"
            ),
        }
    }
}
