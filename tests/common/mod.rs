//! Shared helpers of the integration tests: a sandbox on loopback and a client pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use agora_link::{Client, ClientConfig, ClientConfigBuilder, Region};
use agora_link_sandbox::{
    Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

/// A client configuration for `sandbox` with the password grant.
pub fn config_for(sandbox: &Sandbox) -> ClientConfigBuilder {
    ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
        .base_url(sandbox.base_url())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(10))
}

/// A client for `sandbox` with the password grant.
pub fn client_for(sandbox: &Sandbox) -> Client {
    Client::new(config_for(sandbox).build().expect("config")).expect("client")
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
