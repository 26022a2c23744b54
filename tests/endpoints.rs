//! Every endpoint against the sandbox: the happy path and every error path.

mod common;

use std::time::{Duration, SystemTime};

use agora_link::{
    ClientConfig, Endpoint, Error, ErrorKind, OpenPackageRequest, Region, SecretString, TokenGrant,
};
use agora_link_sandbox::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};
use common::{client_for, config_for, sandbox};

fn open_request(package_id: i64) -> OpenPackageRequest {
    OpenPackageRequest {
        app_id: "d0app".into(),
        user_id: "user-1".into(),
        device_id: "device-1".into(),
        payment_order_id: "pay-1".into(),
        cloud_record_package_id: package_id,
        order_number: 4,
    }
}

#[tokio::test]
async fn token_grants_password_client_credentials_and_refresh() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let before = SystemTime::now();
    let password = client
        .request_token(&TokenGrant::Password {
            username: DEFAULT_USERNAME.into(),
            password: DEFAULT_PASSWORD.into(),
        })
        .await
        .expect("password grant");
    assert_eq!(password.token_type, "bearer");
    assert_eq!(password.scope, "read");
    assert_eq!(password.expires_in, Duration::from_secs(31969));
    assert!(password.expires_at >= before + password.expires_in);
    assert!(password.expires_at <= SystemTime::now() + password.expires_in);
    let refresh = password
        .refresh_token
        .clone()
        .expect("refresh token issued");

    let credentials = client
        .request_token(&TokenGrant::ClientCredentials)
        .await
        .expect("client_credentials grant");
    assert_ne!(credentials.access_token, password.access_token);

    let refreshed = client
        .request_token(&TokenGrant::RefreshToken {
            refresh_token: refresh,
        })
        .await
        .expect("refresh_token grant");
    assert_ne!(refreshed.access_token, password.access_token);

    let stats = sandbox.stats();
    for grant in ["password", "client_credentials", "refresh_token"] {
        assert_eq!(
            stats.token_requests_by_grant.get(grant),
            Some(&1),
            "{grant}"
        );
    }
}

#[tokio::test]
async fn token_errors_are_typed_auth_errors_with_code_and_status() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let err = client
        .request_token(&TokenGrant::Password {
            username: DEFAULT_USERNAME.into(),
            password: "wrong".into(),
        })
        .await
        .unwrap_err();
    let api = err.api_error().expect("api error");
    assert_eq!(
        (api.http_status, api.code, api.msg.as_str()),
        (400, 400, "invalid_grant")
    );
    assert_eq!(err.kind(), ErrorKind::Auth);

    let err = client
        .request_token(&TokenGrant::RefreshToken {
            refresh_token: "not-issued".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().map(|a| a.msg.as_str()),
        Some("invalid_grant")
    );

    let wrong_client = common::build(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, "wrong-secret")
            .base_url(sandbox.base_url()),
    );
    let err = wrong_client
        .request_token(&TokenGrant::ClientCredentials)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.kind(), ErrorKind::Auth);
    // A refused grant surfaces from every authorized call, with the token endpoint named.
    let err = wrong_client.list_packages().await.unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.endpoint == Endpoint::RestToken),
        "{err}"
    );
}

#[tokio::test]
async fn cloud_storage_list_get_and_open() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let packages = client.list_packages().await.expect("getAll");
    assert_eq!(packages.len(), 5);
    assert_eq!(packages[0].cloud_record_package_id, 1);
    assert_eq!(packages[0].package_name, "包年365-1天");
    assert_eq!(packages[1].life_cycle, "THREE");

    let package = client.get_package(2).await.expect("getById");
    assert_eq!(package, packages[1]);
    assert_eq!(
        package.created_at(),
        SystemTime::UNIX_EPOCH + Duration::from_millis(1659597359000)
    );

    let order_id = client.open_package(&open_request(2)).await.expect("open");
    assert!(
        order_id.starts_with('b') && order_id.len() == 26,
        "{order_id}"
    );
    let orders = sandbox.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_id, order_id);
    assert_eq!(orders[0].payment_order_id, "pay-1");
    assert_eq!(orders[0].order_number, 4);

    // Every cloud-storage request carried its own UUID v4 trace id.
    let trace_ids = sandbox.stats().trace_ids;
    assert_eq!(trace_ids.len(), 3);
    for id in &trace_ids {
        let uuid = uuid::Uuid::parse_str(id).expect("uuid");
        assert_eq!(uuid.get_version_num(), 4, "{id}");
    }
    let unique: std::collections::HashSet<_> = trace_ids.iter().collect();
    assert_eq!(unique.len(), 3);
    // One token for all of it.
    assert_eq!(sandbox.stats().token_requests(), 1);
}

#[tokio::test]
async fn cloud_storage_errors_keep_code_message_and_trace_id() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let err = client.get_package(99).await.unwrap_err();
    let api = err.api_error().expect("api error");
    assert_eq!((api.http_status, api.code), (200, 999999));
    assert!(api.msg.contains("cloudRecordPackageId={99}"), "{}", api.msg);
    assert_eq!(err.kind(), ErrorKind::Api);
    let trace_id = err.trace_id().expect("trace id");
    assert_eq!(
        sandbox.stats().trace_ids.last().map(String::as_str),
        Some(trace_id)
    );
    assert!(err.to_string().contains(trace_id));

    let err = client.open_package(&open_request(42)).await.unwrap_err();
    assert_eq!(err.api_error().map(|a| a.code), Some(999999));
    assert!(sandbox.orders().is_empty());
}

#[tokio::test]
async fn open_rejects_bad_input_before_sending() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let mut request = open_request(1);
    request.payment_order_id = "  ".into();
    let err = client.open_package(&request).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("paymentOrderId")),
        "{err}"
    );
    let mut request = open_request(1);
    request.order_number = 0;
    assert_eq!(
        client.open_package(&request).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(sandbox.stats().requests_to("/open"), 0);
}

#[tokio::test]
async fn third_party_register_login_remove() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let account = client
        .register_account("1254", "xiaobai6")
        .await
        .expect("register");
    assert!(
        account.user_id.starts_with("100000000000000000_"),
        "{}",
        account.user_id
    );
    assert!(!account.token.is_empty());

    let before = SystemTime::now();
    let login = client
        .login_account("1254", "xiaobai6", &account.token)
        .await
        .expect("login");
    let after = SystemTime::now();
    let ls = &login.ls_token;
    assert_eq!(ls.token_type, "bearer");
    assert_eq!(ls.expires_in, Duration::from_secs(43199));
    assert!(ls.refresh_token.is_some());
    let gy = &login.gy_token;
    assert!(
        gy.endpoint.ends_with(".iot.cn-north-1.amazonaws.com.cn"),
        "{}",
        gy.endpoint
    );
    assert_eq!(gy.region, "cn-north-1");
    assert_eq!(gy.account.len(), 32);
    assert_eq!(gy.expiration, Duration::from_secs(7200));
    assert!(gy.expires_at >= before + gy.expiration && gy.expires_at <= after + gy.expiration);
    assert!(gy
        .granwin_token
        .expose()
        .starts_with("granwin_aws_user_info_hash:_7200_"));
    assert!(gy.pool.identity_id.starts_with("cn-north-1:"));
    assert!(gy.pool.identity_pool_id.starts_with("cn-north-1:"));
    assert_ne!(gy.pool.identity_id, gy.pool.identity_pool_id);
    assert!(gy
        .pool
        .identifier
        .ends_with(account.user_id.rsplit('_').next().unwrap()));
    assert!(gy.pool.token.expose().starts_with("eyJ"));
    assert!(gy.proof.access_key_id.starts_with("ASIA"));
    assert_eq!(gy.proof.secret_key.expose().len(), 40);
    assert!(!gy.proof.session_token.is_empty());
    let session = gy
        .proof
        .session_expiration
        .duration_since(before)
        .expect("in the future");
    assert!(session > Duration::from_secs(3500) && session <= Duration::from_secs(3601));

    client
        .remove_account("1254", "xiaobai6", &account.token)
        .await
        .expect("remove");
    let err = client
        .login_account("1254", "xiaobai6", &account.token)
        .await
        .unwrap_err();
    let api = err.api_error().expect("api error");
    assert_eq!((api.http_status, api.code), (201, 999999));
    assert_eq!(
        api.msg,
        "The user not exists. projectId={1254}, thirdPartyAccount={xiaobai6}"
    );
}

#[tokio::test]
async fn third_party_error_paths() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox);
    let account = client.register_account("p1", "bob").await.unwrap();

    // Registering twice is refused by the server.
    let err = client.register_account("p1", "bob").await.unwrap_err();
    assert_eq!(
        err.api_error().map(|a| (a.http_status, a.code)),
        Some((201, 999999))
    );
    // The same name in another project is another account.
    client
        .register_account("p2", "bob")
        .await
        .expect("other project");

    // Wrong account token: invalid_grant, HTTP 201.
    let wrong = SecretString::new("not-the-token");
    for err in [
        client.login_account("p1", "bob", &wrong).await.unwrap_err(),
        client
            .remove_account("p1", "bob", &wrong)
            .await
            .unwrap_err(),
    ] {
        let api = err.api_error().expect("api error");
        assert_eq!(
            (api.http_status, api.code, api.msg.as_str()),
            (201, 400, "invalid_grant")
        );
    }
    // Unknown account on remove.
    let err = client
        .remove_account("p1", "nobody", &account.token)
        .await
        .unwrap_err();
    assert_eq!(err.api_error().map(|a| a.code), Some(999999));

    // Login checks the client id/secret it is sent.
    let other_client = common::build(
        ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .base_url(sandbox.base_url()),
    );
    other_client
        .login_account("p1", "bob", &account.token)
        .await
        .expect("client credentials grant, same client: login works");

    // Empty arguments never reach the server.
    let requests_before = sandbox.stats().requests_to("/register");
    for err in [
        client.register_account("", "bob").await.unwrap_err(),
        client.register_account("p1", " ").await.unwrap_err(),
        client
            .login_account("p1", "bob", &SecretString::new(""))
            .await
            .unwrap_err(),
        client
            .remove_account("", "bob", &account.token)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    assert_eq!(sandbox.stats().requests_to("/register"), requests_before);
}

#[tokio::test]
async fn north_america_region_uses_its_path_segment() {
    let sandbox = sandbox().await;
    let client = common::build(
        ClientConfig::builder(
            Region::NorthAmerica,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
        )
        .base_url(sandbox.base_url()),
    );
    assert!(client
        .endpoint_url(Endpoint::PackagesGetAll)
        .as_str()
        .ends_with("/agoralink/na/api/cloud-recorder/cloud-record-package/v1/getAll"));
    client.list_packages().await.expect("na");
    assert_eq!(
        sandbox
            .stats()
            .requests_to("/agoralink/na/api/oauth/rest-token"),
        1
    );
}

#[tokio::test]
async fn client_credentials_config_grant_works_end_to_end() {
    let sandbox = sandbox().await;
    let client = common::build(config_for(&sandbox).client_credentials_grant());
    client.list_packages().await.expect("getAll");
    assert_eq!(
        sandbox
            .stats()
            .token_requests_by_grant
            .get("client_credentials"),
        Some(&1)
    );
}
