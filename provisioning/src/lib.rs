//! # agora-link-provisioning
//!
//! The provider side of the service-activation API of Agora's extension marketplace
//! (Agora's page "服务开通 RESTful API",
//! <https://doc.shengwang.cn/doc/marketplace/android/create-extensions/provisioning>; summarized
//! in English in the repository's `docs/spec-summary.md`): the endpoints Agora's console calls
//! to configure licenses, activate and deactivate an extension for a customer's projects.
//!
//! * [`signature`]: Agora's documented request signature (and an optional stronger scheme).

#![warn(missing_docs)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod postgres;
mod records;
pub mod secrets;
pub mod server;
pub mod signature;
pub mod simulate;
mod sqlite;
pub mod store;
pub mod text;
