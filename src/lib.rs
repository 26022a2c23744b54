//! # agora-link
//!
//! A Rust SDK for the REST API of Agora Link (声网灵隼), Agora's IoT platform.
//!
//! * [`Client`]: an async client for every endpoint: the REST token (three grants), cloud-storage
//!   packages (`getAll`, `getById`, `open`) and third-party accounts (`register`, `login`,
//!   `removeAccount`). It caches and renews the REST token, replays a call once after a 401, never
//!   repeats a purchase, and never logs a secret.
//! * [`ClientConfig`]: region, credentials, grant, endpoint override, timeouts, trust, resolve
//!   overrides.
//! * [`Error`]: one error type, keeping the server's `code`, `msg`, HTTP status and trace id.
//!
//! ```no_run
//! use agora_link::{Client, ClientConfig, Region, SecretString};
//!
//! # async fn run() -> agora_link::Result<()> {
//! let config = ClientConfig::builder(Region::China, "client-id", "client-secret")
//!     .password_grant("username", "password")
//!     .build()?;
//! let client = Client::new(config)?;
//! let account = client.register_account("project-id", "alice").await?;
//! let login = client.login_account("project-id", "alice", &account.token).await?;
//! println!("MQTT client id: {}", login.gy_token.pool.identity_id);
//! # Ok(()) }
//! ```
//!
//! Layers, from the bottom: the vocabulary ([`api::Endpoint`], [`failover::FailureClass`]),
//! [`error`], the failover policy, [`config`] and [`runtime`], [`api`] (request and response
//! models per API group), `transport` (one HTTP exchange), [`failover`] (host plan, back-off,
//! deadline, host health), [`auth`] (token cache), [`client`], [`iot`]; every import points down
//! (the repository's `docs/architecture.md`, enforced by a test).

#![warn(missing_docs)]
// docs.rs (`--cfg docsrs`, Cargo.toml's `[package.metadata.docs.rs]`): each item that a feature
// gates is shown with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
mod attempt;
pub mod auth;
#[cfg(feature = "capi")]
pub mod capi;
pub mod client;
mod clock;
pub mod config;
mod endpoint;
pub mod error;
pub mod failover;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod iot;
mod policy;
pub mod runtime;
pub mod secret;
mod transport;
#[cfg(feature = "uniffi")]
pub mod uniffi_api;
pub mod wipe_alloc;
pub mod wire_time;

/// With the `wipe-on-free` feature (the C library and the binding packages), every heap block is
/// zeroed before it is freed: see [`wipe_alloc`].
#[cfg(feature = "wipe-on-free")]
#[global_allocator]
static WIPING_ALLOCATOR: wipe_alloc::WipingAllocator = wipe_alloc::WipingAllocator;

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub use api::cloud_storage::{CloudStoragePackage, OpenPackageRequest};
pub use api::third_party::{
    AwsProof, IdentityPool, IotCredentials, LoginResult, RegisteredAccount,
};
pub use api::token::{RestToken, TokenGrant};
pub use api::Endpoint;
pub use client::Client;
pub use config::{ClientConfig, ClientConfigBuilder, Grant, ProxySetting, Region};
pub use error::{ApiError, Error, ErrorKind, Result, TransportErrorKind};
pub use failover::{
    AgoraRegion, Attempt, CallOptions, ClientStats, FailoverEvent, FailoverObserver,
    FailoverPolicy, FailureClass, HostState, HostStats, RegionalFallback, ServerLocation,
};
pub use secret::SecretString;

/// The README's Rust examples, compiled as doctests so that they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The Rust examples of the guides in `docs/`, compiled as doctests like the README's (one item
/// per page that has Rust blocks; `scripts/test-docs` checks their shell blocks and links).
#[cfg(doctest)]
pub mod docs_doctests {
    /// docs/rust.md
    #[doc = include_str!("../docs/rust.md")]
    pub struct Rust;
    /// docs/failover.md
    #[doc = include_str!("../docs/failover.md")]
    pub struct Failover;
    /// docs/iot-mqtt.md
    #[doc = include_str!("../docs/iot-mqtt.md")]
    pub struct IotMqtt;
    /// docs/sandbox.md
    #[doc = include_str!("../docs/sandbox.md")]
    pub struct Sandbox;
}
