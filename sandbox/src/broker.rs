//! A mosquitto broker on loopback for tests and local runs: a plain MQTT listener and a WebSocket
//! listener on ephemeral ports, with a throw-away configuration; killed when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;

use crate::nginx::free_port;
use std::time::{Duration, Instant};

/// A running mosquitto (the Debian package `mosquitto`). Dropping it kills the broker.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    mqtt: SocketAddr,
    websocket: SocketAddr,
    dir: PathBuf,
}

impl Mosquitto {
    /// Starts mosquitto with anonymous access on 127.0.0.1 only and waits (at most 10 s) until
    /// its WebSocket listener accepts connections.
    pub async fn start() -> std::io::Result<Mosquitto> {
        let dir =
            std::env::temp_dir().join(format!("agora-link-mosquitto-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let (plain, websocket) = (free_port()?, free_port()?);
        let config = dir.join("mosquitto.conf");
        // mosquitto refuses to start with only a WebSocket listener: it gets a plain one too.
        std::fs::write(
            &config,
            format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\n\
                 listener {plain} 127.0.0.1\nlistener {websocket} 127.0.0.1\nprotocol websockets\n"
            ),
        )?;
        let child = crate::nginx::spawn(
            "MOSQUITTO",
            "mosquitto",
            &["-c".as_ref(), config.as_os_str()],
        )?;
        let broker = Mosquitto {
            child,
            mqtt: SocketAddr::from(([127, 0, 0, 1], plain)),
            websocket: SocketAddr::from(([127, 0, 0, 1], websocket)),
            dir,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(broker.websocket)
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "mosquitto did not start listening within 10 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(broker)
    }

    /// The plain MQTT listener.
    pub fn mqtt_address(&self) -> SocketAddr {
        self.mqtt
    }

    /// The WebSocket listener (give it to `SandboxBuilder::iot_gateway_upstream`).
    pub fn websocket_address(&self) -> SocketAddr {
        self.websocket
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
