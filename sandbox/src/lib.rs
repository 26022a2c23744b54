//! # agora-link-sandbox
//!
//! A local emulator of the Agora Link (声网灵隼) cloud REST API, written from the spec alone (it
//! shares no code with the `agora-link` client, so each checks the other). It keeps real state:
//! tokens that expire, Bearer checks, refresh tokens, third-party accounts, a package catalogue
//! seeded with the spec's examples, and orders. Faults (delays, error responses, dropped
//! connections) can be injected per path, count and host. Virtual hosts
//! ([`SandboxBuilder::host`]) serve the same cloud under several names, one listener each, so
//! that domain switching can be tested: each can be taken down, blackholed or given an untrusted
//! certificate on its own ([`Sandbox::set_host_mode`]).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let sandbox = agora_link_sandbox::Sandbox::builder().start().await?;
//! println!("base URL: {}", sandbox.base_url());
//! # Ok(()) }
//! ```
//!
//! Served paths: `/agoralink/{cn|na}/api/...` for every endpoint of the spec, and an admin API
//! under `/_sandbox/` (`GET stats`, `GET orders`, `POST faults`, `DELETE faults`,
//! `POST revoke-tokens`) for tests in other languages.
//!
//! It runs in users' CI, next to anything: every connection has a lifetime and the open
//! connections a cap ([`SandboxBuilder::limits`], [`Limits`]); cleartext HTTP/2 is not served
//! (HTTP/2 is offered over TLS by ALPN); counters stay bounded (paths that are not the API's are
//! counted together, at most [`MAX_TOKENS`] tokens are remembered); so do the rest of its state:
//! at most [`MAX_FAULT_RULES`] fault rules (more are refused), [`MAX_ORDERS`] orders and
//! [`MAX_AWS_SESSIONS`] AWS sessions (the oldest are forgotten), [`MAX_ACCOUNTS`] accounts
//! (`register` is then refused).

#![warn(missing_docs)]

mod aws;
mod broker;
mod fault_proxy;
mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod iot;
mod nginx;
mod server;
mod shared;
mod squid;
mod state;
mod tls;

pub use agora_link_server_guard::{GuardStats, Limits};

/// The README's example (the crate's page on crates.io), compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use aws::MAX_AWS_SESSIONS;
pub use broker::Mosquitto;
pub use fault_proxy::{ConnectionBytes, FaultProxy, Strike, StrikeKind, StrikePoint};
pub use faults::MAX_FAULT_RULES;
pub use faults::{Fault, FaultAction};
pub use nginx::Nginx;
pub use server::{HostMode, Sandbox, SandboxBuilder};
pub use squid::{Squid, SquidPolicy};
pub use state::{
    Lifetimes, Order, SandboxClient, Stats, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD, DEFAULT_USERNAME, MAX_ACCOUNTS, MAX_GATEWAY_REFUSALS, MAX_ORDERS, MAX_TOKENS,
    MAX_TRACE_ID_CHARS, OTHER_GRANTS, OTHER_PATHS,
};
pub use tls::TlsIdentity;
