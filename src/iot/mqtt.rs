//! An MQTT connection to AWS IoT over a presigned WebSocket (feature `mqtt`, on rumqttc).
//!
//! * Every (re)connect signs a fresh URL with the provider's current credentials (rumqttc's
//!   request hook), with the identity id as the MQTT client id.
//! * A refused upgrade (HTTP 403) feeds its `Date` header to the clock and makes the provider
//!   renew its credentials before the next attempt.
//! * Reconnects back off exponentially with jitter and never exceed `max_connects_per_minute`;
//!   while no credentials can be had, no connection is attempted at all.
//! * Subscriptions are renewed after every reconnect; the connection state is observable.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::IotCredentialProvider;
use crate::error::{Error, Result};

/// The state of an [`IotMqttClient`]'s connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttState {
    /// Connecting for the first time.
    Connecting,
    /// Connected (CONNACK received).
    Connected,
    /// Disconnected; the next attempt is in `retry_in`.
    Reconnecting {
        /// Consecutive failed attempts.
        attempt: u32,
        /// The wait before the next attempt.
        retry_in: Duration,
        /// Why the last attempt or connection failed (no secrets).
        reason: String,
    },
    /// No credentials can be obtained (the provider keeps failing): no attempt is made until
    /// they can; the app may need to log in again.
    WaitingForCredentials {
        /// The provider's error (no secrets).
        reason: String,
    },
    /// Closed by [`IotMqttClient::disconnect`].
    Closed,
}

/// Options of an [`IotMqttClient`].
#[derive(Debug, Clone)]
pub struct IotMqttOptions {
    /// MQTT keep-alive (default 60 s).
    pub keep_alive: Duration,
    /// The first reconnect delay (default 1 s), doubled per failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest reconnect delay (default 60 s).
    pub max_backoff: Duration,
    /// At most this many connection attempts in any 60-second window (default 6).
    pub max_connects_per_minute: u32,
    /// Capacity of the incoming-message queue (default 256).
    pub queue_capacity: usize,
}

impl Default for IotMqttOptions {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(60),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_connects_per_minute: 6,
            queue_capacity: 256,
        }
    }
}

/// A message received on a subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttMessage {
    /// The topic it was published to.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
}

#[derive(Default)]
struct Shared {
    subscriptions: Mutex<Vec<(String, QoS)>>,
    connect_attempts: AtomicU64,
    connections: AtomicU64,
}

/// An MQTT client connected to AWS IoT with credentials from an [`IotCredentialProvider`].
/// `Send + Sync`; the connection is driven by a task on the current tokio runtime.
pub struct IotMqttClient {
    client: AsyncClient,
    state: watch::Receiver<MqttState>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<MqttMessage>>,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for IotMqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IotMqttClient")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

fn mqtt_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("MQTT {what}: {error}"))
}

impl IotMqttClient {
    /// Starts connecting to the provider's endpoint; returns at once (see [`Self::state`] and
    /// [`Self::wait_connected`]). The connection is driven by the library runtime
    /// ([`crate::runtime`]), from any executor. It does not survive `fork()`: make a new one in
    /// the child.
    pub async fn connect(provider: IotCredentialProvider, options: IotMqttOptions) -> Result<Self> {
        let endpoint = provider.endpoint();
        let target = super::websocket_target(&endpoint)?;
        let scheme = if target.secure { "wss" } else { "ws" };
        let broker = format!("{scheme}://{}/mqtt", target.host);
        let port = target
            .host
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(if target.secure { 443 } else { 80 });
        let mut mqtt = MqttOptions::new(provider.client_id(), broker, port);
        mqtt.set_keep_alive(options.keep_alive.max(Duration::from_secs(5)));
        mqtt.set_clean_session(true);
        mqtt.set_max_packet_size(256 * 1024, 256 * 1024);
        mqtt.set_transport(if target.secure {
            Transport::wss_with_config(TlsConfiguration::Rustls(provider_tls(&provider)))
        } else {
            Transport::Ws
        });
        let shared = Arc::new(Shared::default());
        let signer = provider.clone();
        let counter = shared.clone();
        mqtt.set_request_modifier(move |mut request: http::Request<()>| {
            let provider = signer.clone();
            let shared = counter.clone();
            async move {
                shared.connect_attempts.fetch_add(1, Ordering::Relaxed);
                match provider.mqtt_url().await {
                    Ok(url) => match url.expose().parse() {
                        Ok(uri) => *request.uri_mut() = uri,
                        Err(error) => tracing::warn!(%error, "presigned URL does not parse"),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "no credentials to sign the MQTT connection")
                    }
                }
                request
            }
        });
        let (client, mut eventloop) = AsyncClient::new(mqtt, 64);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(10);
        eventloop.set_network_options(network);
        let (state_tx, state) = watch::channel(MqttState::Connecting);
        let (incoming_tx, incoming) = mpsc::channel(options.queue_capacity.max(1));
        // The event loop runs on the library runtime, whose threads block SIGPIPE: a broker or
        // gateway that hangs up can never raise SIGPIPE in the host, whatever its disposition.
        let task = crate::runtime::handle()?.spawn(drive(
            eventloop,
            client.clone(),
            provider,
            options,
            shared.clone(),
            state_tx,
            incoming_tx,
        ));
        Ok(Self {
            client,
            state,
            incoming: tokio::sync::Mutex::new(incoming),
            shared,
            task: Some(task),
        })
    }

    /// The connection state now.
    pub fn state(&self) -> MqttState {
        self.state.borrow().clone()
    }

    /// A receiver of state changes.
    pub fn watch_state(&self) -> watch::Receiver<MqttState> {
        self.state.clone()
    }

    /// Connection attempts so far (each one signed a new URL).
    pub fn connect_attempts(&self) -> u64 {
        self.shared.connect_attempts.load(Ordering::Relaxed)
    }

    /// Connections established so far (CONNACKs).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Waits until connected, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut state = self.state.clone();
        let wait = async move {
            state
                .wait_for(|s| *s == MqttState::Connected)
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::Transport {
                endpoint: crate::Endpoint::IotMqtt,
                kind: crate::TransportErrorKind::Timeout,
                message: format!(
                    "not connected to MQTT within {} ms (state {:?})",
                    timeout.as_millis(),
                    self.state()
                ),
                trace_id: None,
                attempts: Default::default(),
            }),
        }
    }

    /// Subscribes to `topic` (QoS 1); renewed after every reconnect.
    pub async fn subscribe(&self, topic: &str) -> Result<()> {
        self.shared
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((topic.to_owned(), QoS::AtLeastOnce));
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .await
            .map_err(|e| mqtt_error("subscribe", e))
    }

    /// Publishes `payload` to `topic` (QoS 1).
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .map_err(|e| mqtt_error("publish", e))
    }

    /// The next message on a subscribed topic; `None` once closed.
    pub async fn recv(&self) -> Option<MqttMessage> {
        self.incoming.lock().await.recv().await
    }

    /// Disconnects and stops the connection task.
    pub async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for IotMqttClient {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn provider_tls(provider: &IotCredentialProvider) -> Arc<rustls::ClientConfig> {
    provider.client().transport().tls_config()
}

/// The HTTP status and `Date` of a refused WebSocket upgrade.
fn refused_upgrade(error: &ConnectionError) -> Option<(u16, Option<String>)> {
    if let ConnectionError::Websocket(async_tungstenite::tungstenite::Error::Http(response)) = error
    {
        let date = response
            .headers()
            .get("date")
            .and_then(|d| d.to_str().ok())
            .map(str::to_owned);
        return Some((response.status().as_u16(), date));
    }
    None
}

/// A sliding window of connection attempts.
struct RateLimit {
    window: VecDeque<Instant>,
    max: usize,
}

impl RateLimit {
    /// How long to wait before another attempt is allowed.
    fn wait(&mut self, now: Instant) -> Duration {
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.window.pop_front();
        }
        if self.window.len() < self.max {
            Duration::ZERO
        } else {
            self.window
                .front()
                .map(|t| Duration::from_secs(60).saturating_sub(now.duration_since(*t)))
                .unwrap_or_default()
        }
    }

    fn record(&mut self, now: Instant) {
        self.window.push_back(now);
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    provider: IotCredentialProvider,
    options: IotMqttOptions,
    shared: Arc<Shared>,
    state: watch::Sender<MqttState>,
    incoming: mpsc::Sender<MqttMessage>,
) {
    let mut failures: u32 = 0;
    let mut limit = RateLimit {
        window: VecDeque::new(),
        max: options.max_connects_per_minute.max(1) as usize,
    };
    limit.record(Instant::now());
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let _ = state.send(MqttState::Connected);
                let subscriptions = shared
                    .subscriptions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                for (topic, qos) in subscriptions {
                    let _ = client.try_subscribe(topic, qos);
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = MqttMessage {
                    topic: publish.topic.clone(),
                    payload: publish.payload.clone(),
                };
                if incoming.send(message).await.is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                let _ = state.send(MqttState::Closed);
                return;
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => {
                let _ = state.send(MqttState::Closed);
                return;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                if let Some((status, date)) = refused_upgrade(&error) {
                    if let Some(date) = date {
                        provider.clock().observe_date_header(&date);
                    }
                    if status == 403 {
                        provider.invalidate();
                    }
                }
                let reason = error.to_string();
                // Without credentials, attempting to connect is pointless: wait for them.
                loop {
                    match provider.credentials().await {
                        Ok(_) => break,
                        Err(error) => {
                            let _ = state.send(MqttState::WaitingForCredentials {
                                reason: error.to_string(),
                            });
                            failures = failures.saturating_add(1);
                            tokio::time::sleep(backoff(&options, failures)).await;
                        }
                    }
                }
                let now = Instant::now();
                let retry_in = backoff(&options, failures).max(limit.wait(now));
                let _ = state.send(MqttState::Reconnecting {
                    attempt: failures,
                    retry_in,
                    reason,
                });
                tokio::time::sleep(retry_in).await;
                limit.record(Instant::now());
            }
        }
    }
}

fn backoff(options: &IotMqttOptions, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = options
        .min_backoff
        .saturating_mul(1u32 << doublings)
        .min(options.max_backoff);
    // ±20 % jitter.
    base.mul_f64(0.8 + 0.4 * crate::policy::random_unit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_caps_attempts_per_minute() {
        let mut limit = RateLimit {
            window: VecDeque::new(),
            max: 3,
        };
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limit.wait(t0 + Duration::from_secs(i)), Duration::ZERO);
            limit.record(t0 + Duration::from_secs(i));
        }
        assert_eq!(
            limit.wait(t0 + Duration::from_secs(10)),
            Duration::from_secs(50)
        );
        assert_eq!(limit.wait(t0 + Duration::from_secs(60)), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let options = IotMqttOptions::default();
        assert!(backoff(&options, 1) <= Duration::from_millis(1200));
        assert!(backoff(&options, 3) >= Duration::from_millis(3200));
        assert!(backoff(&options, 30) <= Duration::from_secs(72));
    }
}
