//! The cloud-storage calls (`getAll`, `getById`, `open`) of [`Client`], built from the
//! descriptions of [`crate::api::cloud_storage`].

use super::Client;
use crate::api::cloud_storage::{envelope, CloudStoragePackage, OpenPackageRequest, OrderIdWire};
use crate::endpoint::Endpoint;
use crate::error::Result;

impl Client {
    /// Lists every cloud-storage package (`getAll`).
    pub async fn list_packages(&self) -> Result<Vec<CloudStoragePackage>> {
        self.call_enveloped(Endpoint::PackagesGetAll, |trace_id| {
            envelope(trace_id, None::<()>)
        })
        .await
    }

    /// Gets one cloud-storage package by id (`getById`).
    pub async fn get_package(&self, package_id: i64) -> Result<CloudStoragePackage> {
        self.call_enveloped(Endpoint::PackagesGetById, |trace_id| {
            envelope(trace_id, Some(package_id))
        })
        .await
    }

    /// Opens (buys) a cloud-storage package (`open`) and returns the id of the opened package.
    ///
    /// This call is a purchase: it is never repeated by the client once the request may have
    /// reached the server. It is repeated once only after an authentication failure (HTTP 401 or
    /// code 401), which the server reports before acting on the request.
    pub async fn open_package(&self, request: &OpenPackageRequest) -> Result<String> {
        request.validate()?;
        let id: OrderIdWire = self
            .call_enveloped(Endpoint::OrderOpen, |trace_id| {
                envelope(trace_id, Some(request))
            })
            .await?;
        Ok(id.into_id())
    }
}
