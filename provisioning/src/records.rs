//! What the store keeps and answers, whichever backend holds it: the records ([`License`],
//! [`NewCustomer`], [`Grant`], [`CustomerSummary`], [`GrantLicense`]), its errors
//! ([`StoreError`]), the deadlines that bound every call, and the SQL both backends share. Below
//! both backends (`sqlite`, `postgres`) and the store that chooses between them (`store`, which
//! re-exports the public items here).

use std::time::Duration;

/// A license configuration (`PUT /license/customers/{customerId}/activate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Platforms, lower-cased, in the order given (`android|ios` → `["android", "ios"]`).
    pub platforms: Vec<String>,
    /// Validity start, unix seconds (UTC).
    pub valid_from: i64,
    /// Validity end, unix seconds (UTC).
    pub valid_to: i64,
    /// The license type, if given.
    pub license_type: Option<String>,
}

/// A customer (`POST /customers/new`; created implicitly by the other calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// `customerId`.
    pub customer_id: String,
    /// `planId`.
    pub plan_id: String,
    /// `customerName`.
    pub name: Option<String>,
    /// `customerEmail`.
    pub email: Option<String>,
    /// `customerPhone`.
    pub phone: Option<String>,
}

/// The credentials of a project grant.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// `customerId`.
    pub customer_id: String,
    /// `projectId`.
    pub project_id: i64,
    /// `appKey` (32 hex characters).
    pub app_key: String,
    /// `appSecret` (derived from the master key; never stored).
    pub app_secret: String,
    /// Whether the grant is active.
    pub active: bool,
    /// When it was created, unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("customer_id", &self.customer_id)
            .field("project_id", &self.project_id)
            .field("app_key", &self.app_key)
            .field("app_secret", &"***")
            .field("active", &self.active)
            .finish()
    }
}

/// A customer as listed by the admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSummary {
    /// `customerId`.
    pub customer_id: String,
    /// `planId`, when the customer was created with `POST /customers/new`.
    pub plan_id: Option<String>,
    /// Whether the customer is active.
    pub active: bool,
    /// Projects activated (ever).
    pub projects: i64,
    /// Projects active now.
    pub active_projects: i64,
}

/// A license as seen through a grant (`GET` on the license URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLicense {
    /// The grant.
    pub grant: Grant,
    /// The customer's license configuration, if one was configured.
    pub license: Option<License>,
}

/// Failures of the store, each mapped to an HTTP status by the server.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// Unknown customer or project (404).
    #[error("{0}")]
    NotFound(String),
    /// A repeat with different parameters, or a state that forbids the call (409).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (500).
    #[error("storage failure: {0}")]
    Storage(String),
    /// The database is slow, stalled or gone: no answer within [`STORE_DEADLINE`], no
    /// connection, a connection lost (503, to be retried).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The master key is not the one that issued the database's credentials (refused at start).
    #[error("{}", crate::secrets::KEY_MISMATCH)]
    KeyMismatch,
}

/// The longest a store call takes, from the call to its answer (the database's wait, connection
/// and statement timeouts are shorter): past it the call is [`StoreError::Unavailable`].
pub const STORE_DEADLINE: Duration = Duration::from_millis(1000);

/// The longest a health check of the database takes
/// ([`Store::health`](crate::store::Store::health)).
pub const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

/// How long a health check's result is reused (a load balancer probing every few ms costs one
/// check per interval).
pub const HEALTH_CACHE: Duration = Duration::from_millis(250);

/// The admin listing of customers (shared SQL: both backends accept it).
pub(crate) const CUSTOMER_SUMMARY_SQL: &str = "SELECT c.customer_id, c.plan_id, c.active,
        (SELECT COUNT(*) FROM grants g WHERE g.customer_id = c.customer_id),
        (SELECT COUNT(*) FROM grants g WHERE g.customer_id = c.customer_id AND g.active = TRUE)
     FROM customers c ORDER BY c.customer_id";
