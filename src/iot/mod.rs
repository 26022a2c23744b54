//! IoT credentials: from a login's `gyToken` to a presigned MQTT-over-WebSocket URL for AWS IoT.

pub mod sigv4;
