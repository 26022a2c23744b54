//! The API groups of the Agora Link REST API, their endpoints and their typed models.
//!
//! * [`token`]: `oauth/rest-token` (three grants).
//! * [`cloud_storage`]: cloud-storage packages (`getAll`, `getById`) and orders (`open`).
//! * [`third_party`]: third-party accounts (`register`, `login`, `removeAccount`).

pub mod cloud_storage;
pub(crate) mod envelope;
pub mod third_party;
pub mod token;
pub(crate) mod wire;

pub use crate::endpoint::Endpoint;
