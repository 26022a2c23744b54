//! Shared helpers of the integration tests: a sandbox on loopback and a client pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use agora_link::{Client, ClientConfig, ClientConfigBuilder, FailoverPolicy, Region};
use agora_link_sandbox::{
    Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

/// The default failover policy with a 20 ms back-off instead of 1 s, 3 s, 6 s, so that the
/// spec's same-host retry does not slow the tests down.
pub fn fast_failover() -> FailoverPolicy {
    FailoverPolicy {
        backoff: vec![Duration::from_millis(20)],
        ..FailoverPolicy::default()
    }
}

/// A client configuration for `sandbox` with the password grant. Requests go to the sandbox's
/// one host, retried once there after a failure (spec step 2).
pub fn config_for(sandbox: &Sandbox) -> ClientConfigBuilder {
    ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
        .base_url(sandbox.base_url())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(10))
        .failover(fast_failover())
}

/// A client for `sandbox` with the password grant.
pub fn client_for(sandbox: &Sandbox) -> Client {
    build(config_for(sandbox))
}

/// A sandbox with the defaults.
pub async fn sandbox() -> Sandbox {
    Sandbox::builder().start().await.expect("sandbox starts")
}

/// Reads a spec fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Builds a client from a configuration builder, panicking on a configuration error.
pub fn build(builder: ClientConfigBuilder) -> Client {
    Client::new(builder.build().expect("config")).expect("client")
}

/// Asserts that `error` is a transport error of `kind`.
pub fn assert_transport(error: &agora_link::Error, kind: agora_link::TransportErrorKind) {
    assert!(
        matches!(error, agora_link::Error::Transport { kind: actual, .. } if *actual == kind),
        "expected a {kind} transport error, got {error:?}"
    );
}
