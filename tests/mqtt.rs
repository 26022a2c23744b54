//! MQTT over the sandbox's SigV4-checking gateway to a real mosquitto broker (feature `mqtt`;
//! needs the `mosquitto` binary, which `.ci/run` installs from Debian): login → presigned URL →
//! CONNACK → subscribe → publish → receive; forced credential expiry mid-session; no reconnect
//! storm while no credentials can be had.
#![cfg(feature = "mqtt")]

mod common;

use std::time::{Duration, Instant};

use agora_link::iot::mqtt::{IotMqttClient, IotMqttOptions, MqttState};
use agora_link::iot::IotCredentialProvider;
use agora_link::Client;
use agora_link_sandbox::{Mosquitto, Sandbox};

struct Setup {
    _broker: Mosquitto,
    sandbox: Sandbox,
    client: Client,
    provider: IotCredentialProvider,
    thing: String,
}

async fn setup(account: &str) -> Setup {
    let broker = Mosquitto::start()
        .await
        .expect("mosquitto (.ci/run installs it)");
    let sandbox = Sandbox::builder()
        .iot_gateway_upstream(broker.websocket_address())
        .start()
        .await
        .unwrap();
    let client = common::client_for(&sandbox);
    let registered = client.register_account("mqtt", account).await.unwrap();
    let login = client
        .login_account("mqtt", account, &registered.token)
        .await
        .unwrap();
    let provider = IotCredentialProvider::builder(&client, &login)
        .cognito_endpoint(sandbox.base_url())
        .build()
        .unwrap();
    Setup {
        _broker: broker,
        sandbox,
        client,
        provider,
        thing: account.to_owned(),
    }
}

fn fast_options() -> IotMqttOptions {
    IotMqttOptions {
        min_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        ..IotMqttOptions::default()
    }
}

async fn round_trip(mqtt: &IotMqttClient, thing: &str, payload: &str) {
    mqtt.publish(
        &format!("$aws/things/{thing}/shadow/get/accepted"),
        payload.as_bytes(),
    )
    .await
    .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), mqtt.recv())
        .await
        .expect("the message comes back")
        .expect("open");
    assert_eq!(
        message.topic,
        format!("$aws/things/{thing}/shadow/get/accepted")
    );
    assert_eq!(message.payload.as_ref(), payload.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_presign_connect_subscribe_publish_receive() {
    let setup = setup("thing-a").await;
    let started = Instant::now();
    let mqtt = IotMqttClient::connect(setup.provider.clone(), fast_options())
        .await
        .unwrap();
    mqtt.wait_connected(Duration::from_secs(10)).await.unwrap();
    eprintln!("login to CONNACK: {:?}", started.elapsed());
    mqtt.subscribe(&format!("$aws/things/{}/shadow/get/+", setup.thing))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    round_trip(&mqtt, &setup.thing, r#"{"state":{"reported":{"on":true}}}"#).await;
    assert_eq!(mqtt.connect_attempts(), 1);
    assert_eq!(setup.sandbox.stats().gateway_accepted, 1);
    mqtt.disconnect().await;
    let _ = &setup.client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_expiring_mid_session_reconnect_with_fresh_ones_without_a_storm() {
    let setup = setup("thing-b").await;
    let mqtt = IotMqttClient::connect(setup.provider.clone(), fast_options())
        .await
        .unwrap();
    mqtt.wait_connected(Duration::from_secs(10)).await.unwrap();
    mqtt.subscribe(&format!("$aws/things/{}/shadow/get/+", setup.thing))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    setup.sandbox.expire_aws_sessions();
    setup.sandbox.drop_iot_connections();
    let mut state = mqtt.watch_state();
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| *s != MqttState::Connected),
    )
    .await
    .unwrap()
    .unwrap();
    mqtt.wait_connected(Duration::from_secs(15)).await.unwrap();
    // The old credentials were refused once (403), then Cognito renewed them.
    let stats = setup.sandbox.stats();
    assert_eq!(stats.cognito_requests, 1, "{stats:?}");
    assert!(stats.gateway_refused <= 1, "{stats:?}");
    assert!(
        mqtt.connect_attempts() <= 3,
        "{} attempts",
        mqtt.connect_attempts()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    round_trip(&mqtt, &setup.thing, "after the reconnect").await;
    mqtt.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_no_connection_is_attempted() {
    let setup = setup("thing-c").await;
    let mqtt = IotMqttClient::connect(setup.provider.clone(), fast_options())
        .await
        .unwrap();
    mqtt.wait_connected(Duration::from_secs(10)).await.unwrap();
    // Everything expires and there is no relogin callback: no credentials can be had.
    setup.sandbox.expire_aws_sessions();
    setup.sandbox.expire_open_id_tokens();
    setup.sandbox.drop_iot_connections();
    let mut state = mqtt.watch_state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, MqttState::WaitingForCredentials { .. })),
    )
    .await
    .expect("the client waits for credentials")
    .unwrap();
    let attempts = mqtt.connect_attempts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        mqtt.connect_attempts() <= attempts + 1,
        "{} attempts after {attempts}: a reconnect storm",
        mqtt.connect_attempts()
    );
    assert!(matches!(
        mqtt.state(),
        MqttState::WaitingForCredentials { .. } | MqttState::Reconnecting { .. }
    ));
}
