//! IoT credentials end to end against the sandbox's Cognito endpoint and SigV4-checking
//! WebSocket gateway: presigned URLs accepted, tampered/expired/skewed ones refused with 403 and
//! a `Date` header, then fixed by the provider (Cognito refresh, clock correction, relogin).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_link::iot::{CredentialSource, IotCredentialProvider, ProviderEvent};
use agora_link::{Client, ErrorKind, LoginResult, SecretString};
use agora_link_sandbox::{Fault, FaultAction, Lifetimes, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status code and headers of a WebSocket upgrade to `url` (`ws://host:port/mqtt?...`).
async fn upgrade(url: &SecretString) -> (u16, Vec<(String, String)>) {
    let rest = url.expose().strip_prefix("ws://").expect("a ws:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("the gateway answers")
            .unwrap();
        if read == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn sandbox_with(lifetimes: Lifetimes) -> Sandbox {
    Sandbox::builder()
        .lifetimes(lifetimes)
        .iot_gateway()
        .start()
        .await
        .unwrap()
}

async fn login(client: &Client, account: &str) -> LoginResult {
    let registered = client.register_account("iot", account).await.unwrap();
    client
        .login_account("iot", account, &registered.token)
        .await
        .unwrap()
}

fn provider(client: &Client, sandbox: &Sandbox, login: &LoginResult) -> IotCredentialProvider {
    IotCredentialProvider::builder(client, login)
        .cognito_endpoint(sandbox.base_url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_presigned_url_from_login_is_accepted_and_a_tampered_one_refused() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "alice").await;
    assert_eq!(login.gy_token.endpoint, sandbox.iot_endpoint().unwrap());
    let url = login.gy_token.mqtt_url(client.clock().now()).unwrap();
    assert!(url.expose().contains("%2Fiotdevicegateway%2Faws4_request"));
    assert_eq!(upgrade(&url).await.0, 101);

    let tampered = SecretString::new(url.expose().replacen(
        "X-Amz-Signature=",
        "X-Amz-Signature=0",
        1,
    ));
    let (status, headers) = upgrade(&tampered).await;
    assert_eq!(status, 403);
    assert!(header(&headers, "date").is_some(), "{headers:?}");
    let stats = sandbox.stats();
    assert_eq!((stats.gateway_accepted, stats.gateway_refused), (1, 1));
    assert!(stats.gateway_refusals[0].contains("signature"), "{stats:?}");
}

#[tokio::test]
async fn signing_the_session_token_in_is_refused_as_aws_iot_does() {
    use agora_link::iot::sigv4::{presign_query, PresignParams, SessionToken};
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "bob").await;
    let authority = sandbox.iot_gateway_address().unwrap().to_string();
    let proof = &login.gy_token.proof;
    let query = presign_query(&PresignParams {
        host: &authority,
        path: "/mqtt",
        service: "iotdevicegateway",
        region: &login.gy_token.region,
        access_key_id: &proof.access_key_id,
        secret_access_key: proof.secret_key.expose(),
        session_token: SessionToken::Signed(proof.session_token.expose()),
        time: client.clock().now(),
        expires: None,
    });
    let url = SecretString::new(format!("ws://{authority}/mqtt?{query}"));
    assert_eq!(upgrade(&url).await.0, 403);
}

#[tokio::test]
async fn expired_credentials_are_refused_then_renewed_through_cognito() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "carol").await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let provider = IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint(sandbox.base_url())
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    assert_eq!(provider.client_id(), login.gy_token.pool.identity_id);
    assert_eq!(provider.source(), CredentialSource::Proof);
    assert_eq!(upgrade(&provider.mqtt_url().await.unwrap()).await.0, 101);
    assert_eq!(
        sandbox.stats().cognito_requests,
        0,
        "proof is used while valid"
    );

    sandbox.expire_aws_sessions();
    let (status, _) = upgrade(&provider.mqtt_url().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(sandbox.stats().gateway_refusals[0].contains("expired"));

    provider.invalidate();
    let url = provider.mqtt_url().await.unwrap();
    assert_eq!(provider.source(), CredentialSource::Cognito);
    assert_eq!(upgrade(&url).await.0, 101);
    assert_eq!(sandbox.stats().cognito_requests, 1);
    assert!(matches!(
        events.lock().unwrap()[..],
        [ProviderEvent::Refreshed {
            source: CredentialSource::Cognito,
            ..
        }]
    ));
}

#[tokio::test]
async fn a_clock_ten_minutes_ahead_is_corrected_from_the_refusal_date() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "dave").await;
    let provider = provider(&client, &sandbox, &login);
    // The device clock runs 10 minutes fast.
    client.clock().set_offset_ms(600_000);
    let (status, headers) = upgrade(&provider.mqtt_url().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(sandbox.stats().gateway_refusals[0].contains("ahead"));
    assert!(provider
        .clock()
        .observe_date_header(header(&headers, "date").unwrap()));
    assert!(
        provider.clock().offset_ms().abs() < 2_000,
        "{}",
        provider.clock().offset_ms()
    );
    assert_eq!(upgrade(&provider.mqtt_url().await.unwrap()).await.0, 101);
}

#[tokio::test]
async fn the_login_response_date_seeds_the_clock() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    assert!(!client.clock().is_synchronized());
    login(&client, "erin").await;
    assert!(client.clock().is_synchronized());
    assert!(client.clock().offset_ms().abs() < 2_000);
}

#[tokio::test]
async fn credentials_are_renewed_ahead_of_expiry_once_for_all_callers() {
    let sandbox = sandbox_with(Lifetimes {
        aws_session: Duration::from_secs(2),
        ..Lifetimes::default()
    })
    .await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "frank").await;
    let provider = provider(&client, &sandbox, &login);
    let first = provider.credentials().await.unwrap();
    assert_eq!(first.access_key_id, login.gy_token.proof.access_key_id);
    // A 2-second lifetime has a 1-second margin (half the lifetime at most): renewed after ~1 s.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let calls = (0..50).map(|_| {
        let provider = provider.clone();
        tokio::spawn(async move { provider.credentials().await.unwrap().access_key_id })
    });
    let keys: Vec<String> = futures_join(calls).await;
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_ne!(keys[0], first.access_key_id);
    assert_eq!(
        sandbox.stats().cognito_requests,
        1,
        "one refresh for 50 callers"
    );
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_refused_open_id_token_leads_to_a_relogin_or_to_login_required() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let account = client.register_account("iot", "grace").await.unwrap();
    let login = client
        .login_account("iot", "grace", &account.token)
        .await
        .unwrap();
    sandbox.expire_open_id_tokens();
    sandbox.expire_aws_sessions();

    // Without a relogin callback: the app is told to log in again.
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let stuck = IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint(sandbox.base_url())
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    stuck.invalidate();
    let err = stuck.mqtt_url().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(events
        .lock()
        .unwrap()
        .contains(&ProviderEvent::LoginRequired));

    // With one: a fresh login, and its credentials are accepted.
    let relogin_client = client.clone();
    let token = account.token.clone();
    let provider = IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint(sandbox.base_url())
        .relogin(move || {
            let client = relogin_client.clone();
            let token = token.clone();
            async move { client.login_account("iot", "grace", &token).await }
        })
        .build()
        .unwrap();
    provider.invalidate();
    let url = provider.mqtt_url().await.unwrap();
    assert_eq!(provider.source(), CredentialSource::Relogin);
    assert_ne!(provider.client_id(), login.gy_token.pool.identity_id);
    assert_eq!(upgrade(&url).await.0, 101);
}

#[tokio::test]
async fn a_failed_refresh_is_not_cached() {
    let sandbox = sandbox_with(Lifetimes::default()).await;
    let client = common::client_for(&sandbox);
    let login = login(&client, "heidi").await;
    let provider = provider(&client, &sandbox, &login);
    sandbox.inject(Fault::new(
        "/",
        FaultAction::respond(503, r#"{"__type":"ServiceUnavailable","message":"busy"}"#),
        1,
    ));
    provider.invalidate();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(err.http_status(), Some(503), "{err}");
    let fresh = provider.credentials().await.unwrap();
    assert_ne!(fresh.access_key_id, login.gy_token.proof.access_key_id);
    assert_eq!(
        sandbox.stats().cognito_requests,
        1,
        "the faulted request never reached Cognito"
    );
}

#[test]
fn bad_endpoints_and_cognito_urls_are_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(sandbox_with(Lifetimes::default()));
    let client = common::client_for(&sandbox);
    let mut login = runtime.block_on(login(&client, "ivan"));
    assert!(IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint("http://cognito.example.com")
        .build()
        .is_err());
    login.gy_token.endpoint = "ws://iot.example.com:9001".into();
    assert!(IotCredentialProvider::builder(&client, &login)
        .build()
        .is_err());
    login.gy_token.endpoint = "abc-ats.iot.cn-north-1.amazonaws.com.cn".into();
    login.gy_token.region = String::new();
    let provider = IotCredentialProvider::builder(&client, &login)
        .build()
        .unwrap();
    assert_eq!(
        provider.region(),
        "cn-north-1",
        "parsed from the China endpoint"
    );
    login.gy_token.endpoint = "broker.example.com".into();
    assert!(IotCredentialProvider::builder(&client, &login)
        .build()
        .is_err());
}

/// A sandbox whose logins name `region` as `gyToken.region`, a client, and a login.
async fn login_in_region(region: &str) -> (Sandbox, Client, LoginResult) {
    let sandbox = Sandbox::builder()
        .iot_region(region)
        .iot_gateway()
        .start()
        .await
        .unwrap();
    let client = common::client_for(&sandbox);
    let login = login(&client, "mallory").await;
    (sandbox, client, login)
}

/// Issue 19, counter-example 6: the Cognito URL is built from `gyToken.region`; a login answer
/// whose region is not an AWS region name (`x@attacker.example/`, a dot, a percent sign, a
/// path) must not send the OpenID token to another host. It is refused before anything is sent.
#[tokio::test]
async fn a_region_that_is_not_an_aws_region_name_is_refused_before_cognito() {
    for region in [
        "x@attacker.example/",
        "cn-north-1.attacker.example",
        "cn-north-1/../x",
        "cn-north-1%2F",
        "CN-NORTH-1",
        "cn--1",
        "-cn-north-1",
        "a\u{0}b-c-1",
        "cn-nörth-1",
        "1cn-north-1",
        "cn",
    ] {
        let (sandbox, client, login) = login_in_region(region).await;
        let error = IotCredentialProvider::builder(&client, &login)
            .build()
            .err()
            .unwrap_or_else(|| panic!("{region:?} accepted"));
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
        assert!(error.to_string().contains("not an AWS region"), "{error}");
        assert!(
            login.gy_token.mqtt_url(client.clock().now()).is_err(),
            "{region:?}"
        );
        assert_eq!(sandbox.stats().cognito_requests, 0);
    }
    for region in ["cn-north-1", "us-gov-west-1", "ap-southeast-3"] {
        let (_sandbox, _client, login) = login_in_region(region).await;
        assert_eq!(login.gy_token.signing_region().unwrap(), region);
    }
}
