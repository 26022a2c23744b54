//! Benchmark: from a third-party login to the first MQTT CONNACK, on loopback, through the
//! sandbox's SigV4-checking IoT gateway to a real mosquitto broker (feature `mqtt`; needs the
//! `mosquitto` binary). The baseline, in the same run: plain rumqttc connecting straight to the
//! broker's WebSocket listener (no login, no signing, no gateway).
//!
//! `cargo run --release --features mqtt --example bench_mqtt_connect -- [rounds, default 20]`

use std::time::{Duration, Instant};

use agora_link::iot::mqtt::{IotMqttClient, IotMqttOptions};
use agora_link::iot::IotCredentialProvider;
use agora_link::{Client, ClientConfig, Region};
use agora_link_sandbox::{
    Mosquitto, Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
};

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn baseline(broker: &Mosquitto, round: usize, websocket: bool) -> Duration {
    let mut options = if websocket {
        let url = format!("ws://{}/mqtt", broker.websocket_address());
        let mut options = rumqttc::MqttOptions::new(
            format!("baseline-{round}"),
            url,
            broker.websocket_address().port(),
        );
        options.set_transport(rumqttc::Transport::Ws);
        options
    } else {
        rumqttc::MqttOptions::new(
            format!("baseline-tcp-{round}"),
            "127.0.0.1",
            broker.mqtt_address().port(),
        )
    };
    options.set_keep_alive(Duration::from_secs(30));
    let started = Instant::now();
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(error) => panic!("baseline connect failed: {error}"),
        }
    }
    let elapsed = started.elapsed();
    let _ = client.disconnect().await;
    elapsed
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    let broker = Mosquitto::start().await.expect("mosquitto");
    let sandbox = Sandbox::builder()
        .iot_gateway_upstream(broker.websocket_address())
        .start()
        .await
        .expect("sandbox");
    let (mut logins, mut connacks, mut totals, mut baselines) = (vec![], vec![], vec![], vec![]);
    let mut tcp_baselines = vec![];
    for round in 0..rounds {
        // A fresh client each round: new TCP connections, a new token, a new login.
        let client = Client::new(
            ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
                .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
                .base_url(sandbox.base_url())
                .build()
                .expect("config"),
        )
        .expect("client");
        let account = format!("bench-{round}");
        let registered = client
            .register_account("bench", &account)
            .await
            .expect("register");
        let started = Instant::now();
        let login = client
            .login_account("bench", &account, &registered.token)
            .await
            .expect("login");
        let logged_in = started.elapsed();
        let provider = IotCredentialProvider::builder(&client, &login)
            .cognito_endpoint(sandbox.base_url())
            .build()
            .expect("provider");
        let mqtt = IotMqttClient::connect(provider, IotMqttOptions::default())
            .await
            .expect("connect");
        mqtt.wait_connected(Duration::from_secs(10))
            .await
            .expect("CONNACK");
        let total = started.elapsed();
        logins.push(logged_in);
        connacks.push(total - logged_in);
        totals.push(total);
        mqtt.disconnect().await;
        baselines.push(baseline(&broker, round, true).await);
        tcp_baselines.push(baseline(&broker, round, false).await);
    }
    let (total, login, connack, base) = (
        median(totals),
        median(logins),
        median(connacks),
        median(baselines),
    );
    println!("bench_mqtt_connect: {rounds} rounds, medians, loopback");
    println!(
        "  login -> first CONNACK      {:7.2} ms (login {:.2} ms + presign, WebSocket through the SigV4 gateway, CONNACK {:.2} ms)",
        ms(total),
        ms(login),
        ms(connack)
    );
    println!(
        "  baseline: rumqttc straight to mosquitto's WebSocket listener {:.2} ms",
        ms(base)
    );
    println!(
        "  (for scale: rumqttc over plain TCP to mosquitto {:.2} ms; the WebSocket listener of the broker sets the floor)",
        ms(median(tcp_baselines))
    );
    println!(
        "  connect part vs baseline {:.2}x",
        connack.as_secs_f64() / base.as_secs_f64()
    );
}
