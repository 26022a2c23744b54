//! Every JSON response example of the spec, served by the sandbox, decoded by the client.
//! The fixtures are in `tests/fixtures` (see its README for the two corrections made).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_link::{Error, OpenPackageRequest, SecretString, TokenGrant};
use agora_link_sandbox::{Fault, FaultAction};
use common::{client_for, fixture, sandbox};

fn serve(sandbox: &agora_link_sandbox::Sandbox, path: &str, status: u16, file: &str) {
    sandbox.inject(Fault::new(
        path,
        FaultAction::respond(status, fixture(file)),
        1,
    ));
}

#[tokio::test]
async fn rest_token_example() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/oauth/rest-token", 200, "rest-token.json");
    let token = client
        .request_token(&TokenGrant::ClientCredentials)
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "yoXXXXXXXXXXXXXXk");
    assert_eq!(token.token_type, "bearer");
    assert_eq!(
        token.refresh_token.as_ref().map(SecretString::expose),
        Some("08XXXXXXXXXXXXXXXXdk")
    );
    assert_eq!(token.expires_in, Duration::from_secs(31969));
    assert_eq!(token.scope, "read");
}

#[tokio::test]
async fn get_all_example() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/getAll", 200, "getAll.json");
    let packages = client.list_packages().await.unwrap();
    assert_eq!(packages.len(), 2);
    let p = &packages[1];
    assert_eq!(p.cloud_record_package_id, 2);
    assert_eq!(p.package_name, "包年365-3天");
    assert_eq!(p.package_type, "YEAR");
    assert_eq!(p.life_cycle, "THREE");
    assert_eq!(p.bucket, "XXXXXXX");
    assert_eq!(p.pre_dir, "iot-three");
    assert!(!p.deleted);
    assert_eq!(p.created_by, 1);
    assert_eq!(p.created_time, 1659597359000);
    assert_eq!(p.changed_time, 1662111198000);
    assert_eq!(
        p.changed_at(),
        UNIX_EPOCH + Duration::from_millis(1662111198000)
    );
}

#[tokio::test]
async fn get_by_id_example_fixed_and_as_printed() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/getById", 200, "getById.json");
    let package = client.get_package(5).await.unwrap();
    assert_eq!(package.cloud_record_package_id, 1);
    assert_eq!(package.pre_dir, "iot-one");
    assert_eq!(package.changed_time, 1662111196000);

    // The page prints the example without the comma before "success": not valid JSON, and
    // reported as a decode error rather than accepted.
    let as_printed = fixture("getById.json").replace("},\n  \"success\"", "}\n  \"success\"");
    assert_ne!(as_printed, fixture("getById.json"));
    sandbox.inject(Fault::new(
        "/getById",
        FaultAction::respond(200, as_printed),
        2,
    ));
    let err = client.get_package(5).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn open_example() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/open", 200, "open.json");
    let order = client
        .open_package(&OpenPackageRequest {
            app_id: "d0XXXXXXXXXXXXXXX6".into(),
            user_id: "1XXXXXXXXXXXXXXXXXXXXXXXXXx1".into(),
            device_id: "1XXXXXXXXXXXXXXXXXXXXXXXX1".into(),
            payment_order_id: "pXXXXXXXXXXXXXXX6".into(),
            cloud_record_package_id: 2,
            order_number: 4,
        })
        .await
        .unwrap();
    assert_eq!(order, "bXXXXXXXXXXXXXXXXXXXXXXXX5");
}

#[tokio::test]
async fn register_examples() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/register", 200, "register-200.json");
    let account = client.register_account("1254", "xiaobai6").await.unwrap();
    assert_eq!(account.user_id, "100000000000000000_712573185701490688");
    assert_eq!(
        account.token.expose(),
        "uwmgZAQvxxxxxxxxxxxx53qrjUnWgapzQoYV46"
    );

    serve(&sandbox, "/register", 201, "register-201.json");
    let err = client
        .register_account("1254", "xiaobai6")
        .await
        .unwrap_err();
    let api = err.api_error().unwrap();
    assert_eq!(
        (api.http_status, api.code, api.msg.as_str()),
        (201, 400, "invalid_grant")
    );
    assert_eq!(api.server_timestamp_ms, Some(1652450193251));
}

#[tokio::test]
async fn login_examples() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/login", 200, "login-200.json");
    let received = SystemTime::now();
    let login = client
        .login_account(
            "1254",
            "xiaobai6",
            &SecretString::new("bZN2Zxmdr7BxxxxxxxxxxxyhHiiMP5OG9vTBIqA"),
        )
        .await
        .unwrap();
    let ls = &login.ls_token;
    assert_eq!(ls.access_token.expose(), "NpKnxxxxxxxxxx-sFQiBbI");
    assert_eq!(ls.token_type, "bearer");
    assert_eq!(
        ls.refresh_token.as_ref().unwrap().expose(),
        "Rv4hnY2xxxxxxxxsoQ45vU"
    );
    assert_eq!(ls.expires_in, Duration::from_secs(43199));
    assert_eq!(ls.scope, "read");
    assert!(ls.expires_at >= received + ls.expires_in);
    let gy = &login.gy_token;
    assert_eq!(
        gy.endpoint,
        "axxxxxxxxx85d.ats.iot.cn-north-1.amazonaws.com.cn"
    );
    assert_eq!(
        gy.pool.identifier,
        "100000000000000000_680a87117509885c39698b37577ed2e0_712573185701490688"
    );
    assert_eq!(
        gy.pool.identity_id,
        "cn-north-1:b8xxxxxxxxx47a3-9aaa-974135e0da67"
    );
    assert_eq!(gy.pool.identity_pool_id, "cn-north-1:a6e5e0xxxxxxxx7d940");
    assert_eq!(
        gy.pool.token.expose(),
        "eyJraWQiOiJjbi1xxxxxxxxxxxxxxxx3aFNJGkBEM8xNk2hM9IAIFdV6FebIvOYbw"
    );
    assert_eq!(gy.expiration, Duration::from_secs(7200));
    assert!(gy.expires_at >= received + Duration::from_secs(7200));
    assert_eq!(
        gy.granwin_token.expose(),
        "granwin_aws_user_info_hash:_7200_xxxxxxxxxxx36296101"
    );
    assert_eq!(gy.proof.access_key_id, "ASIA2xxxxxxxxxMPY");
    assert_eq!(gy.proof.secret_key.expose(), "esWgtxxxxxxxxxxxZ0TVx");
    assert_eq!(
        gy.proof.session_token.expose(),
        "FwoDYXdzENL//////////wEaDPMINGMxxxxxxxxxxxxxxxxxxxtqX4Wu3w=="
    );
    assert_eq!(
        gy.proof.session_expiration,
        UNIX_EPOCH + Duration::from_millis(1659005928000)
    );
    assert_eq!(gy.region, "cn-north-1");
    assert_eq!(gy.account, "680axxxxxxxxxxx77ed2e0");

    serve(&sandbox, "/login", 201, "login-201.json");
    let err = client
        .login_account("1254", "xiaobai1233", &SecretString::new("t"))
        .await
        .unwrap_err();
    let api = err.api_error().unwrap();
    assert_eq!((api.http_status, api.code), (201, 999999));
    assert_eq!(
        api.msg,
        "The user not exists. projectId={1254}, thirdPartyAccount={xiaobai1233}"
    );
}

#[tokio::test]
async fn login_accepts_string_typed_numbers() {
    // The spec types expires_in, expiration and sessionExpiration as String; accept both forms.
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let body = fixture("login-200.json")
        .replace("\"expires_in\": 43199", "\"expires_in\": \"43199\"")
        .replace("\"expiration\": 7200", "\"expiration\": \"7200\"")
        .replace(
            "\"sessionExpiration\": 1659005928000",
            "\"sessionExpiration\": \"1659005928000\"",
        );
    assert_eq!(body.matches("\"43199\"").count(), 1);
    sandbox.inject(Fault::new("/login", FaultAction::respond(200, body), 1));
    let login = client
        .login_account("1254", "x", &SecretString::new("t"))
        .await
        .unwrap();
    assert_eq!(login.ls_token.expires_in, Duration::from_secs(43199));
    assert_eq!(login.gy_token.expiration, Duration::from_secs(7200));
    assert_eq!(
        login.gy_token.proof.session_expiration,
        UNIX_EPOCH + Duration::from_millis(1659005928000)
    );

    let bad =
        fixture("login-200.json").replace("\"expires_in\": 43199", "\"expires_in\": \"soon\"");
    sandbox.inject(Fault::new("/login", FaultAction::respond(200, bad), 1));
    let err = client
        .login_account("1254", "x", &SecretString::new("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn remove_account_examples() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    serve(&sandbox, "/removeAccount", 200, "removeAccount-200.json");
    client
        .remove_account("1254", "hei1", &SecretString::new("o70n"))
        .await
        .unwrap();
    serve(&sandbox, "/removeAccount", 201, "removeAccount-201.json");
    let err = client
        .remove_account("1254", "hei1", &SecretString::new("o70n"))
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().map(|a| (a.http_status, a.code)),
        Some((201, 999999))
    );
}
