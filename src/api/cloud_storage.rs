//! Cloud storage for alarm events (告警事件云存储): packages (`getAll`, `getById`) and orders (`open`).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::envelope::{now_epoch_ms, EnvelopeHeader, RequestEnvelope};
use super::wire::from_epoch_ms;
use crate::error::{Error, Result};

/// A cloud-storage package, as `getAll` and `getById` return it (every field of the spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudStoragePackage {
    /// `cloudRecordPackageId`: the package id.
    pub cloud_record_package_id: i64,
    /// `packageName`, e.g. `包年365-1天`.
    #[serde(default)]
    pub package_name: String,
    /// `packageType`, e.g. `YEAR`.
    #[serde(default)]
    pub package_type: String,
    /// `lifeCycle`: how long recordings are kept, e.g. `ONE`, `THREE`.
    #[serde(default)]
    pub life_cycle: String,
    /// `bucket`: the storage bucket.
    #[serde(default)]
    pub bucket: String,
    /// `preDir`: the storage prefix.
    #[serde(default)]
    pub pre_dir: String,
    /// `deleted`: whether the package was withdrawn.
    #[serde(default)]
    pub deleted: bool,
    /// `createdBy`: the id of the creator.
    #[serde(default, deserialize_with = "super::wire::flexible_i64")]
    pub created_by: i64,
    /// `createdTime`: creation time, ms since the Unix epoch.
    #[serde(default, deserialize_with = "super::wire::flexible_i64")]
    pub created_time: i64,
    /// `changedTime`: last change, ms since the Unix epoch.
    #[serde(default, deserialize_with = "super::wire::flexible_i64")]
    pub changed_time: i64,
}

impl CloudStoragePackage {
    /// `createdTime` as an instant.
    pub fn created_at(&self) -> SystemTime {
        from_epoch_ms(self.created_time)
    }

    /// `changedTime` as an instant.
    pub fn changed_at(&self) -> SystemTime {
        from_epoch_ms(self.changed_time)
    }
}

/// The `payload` of `open`: which package to open for which user and device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPackageRequest {
    /// `appId`: the Agora App ID.
    pub app_id: String,
    /// `userId`: the user the package is opened for.
    pub user_id: String,
    /// `deviceId`: the device the package is opened for.
    pub device_id: String,
    /// `paymentOrderId`: your payment order id; it identifies the purchase.
    pub payment_order_id: String,
    /// `cloudRecordPackageId`: the package to open.
    pub cloud_record_package_id: i64,
    /// `orderNumber`: how many packages to open (at least 1).
    pub order_number: i64,
}

impl OpenPackageRequest {
    /// Checks the request before it is sent. Errors: [`Error::InvalidArgument`].
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("appId", &self.app_id),
            ("userId", &self.user_id),
            ("deviceId", &self.device_id),
            ("paymentOrderId", &self.payment_order_id),
        ] {
            if value.trim().is_empty() {
                return Err(Error::InvalidArgument(format!("{name} must not be empty")));
            }
        }
        if self.order_number < 1 {
            return Err(Error::InvalidArgument(format!(
                "orderNumber must be at least 1, got {}",
                self.order_number
            )));
        }
        Ok(())
    }
}

/// `data` of `open`: the id of the opened package, sent as a string (a number is accepted).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OrderIdWire {
    Text(String),
    Number(i64),
}

impl OrderIdWire {
    /// The id as the public API returns it: the text, or the number in decimal.
    pub(crate) fn into_id(self) -> String {
        match self {
            OrderIdWire::Text(text) => text,
            OrderIdWire::Number(number) => number.to_string(),
        }
    }
}

/// The cloud-storage request envelope around `payload` (`getAll` has none), with `trace_id` and
/// the current time in its header. Errors: a payload that cannot be encoded
/// ([`Error::InvalidArgument`]).
pub(crate) fn envelope<P: Serialize>(trace_id: &str, payload: Option<P>) -> Result<Vec<u8>> {
    serde_json::to_vec(&RequestEnvelope {
        header: EnvelopeHeader {
            trace_id,
            timestamp: now_epoch_ms(),
        },
        payload,
    })
    .map_err(|e| Error::InvalidArgument(format!("cannot encode the request: {e}")))
}
