//! The store: durable state of customers, license configurations and project grants, on SQLite
//! (WAL, `synchronous=FULL`, one file; group commit by one writer thread) or PostgreSQL (several
//! nodes sharing one database), chosen by [`Store::open`] from a URL or a path. Each call is
//! answered only after its transaction commits. The records, errors and deadlines are defined
//! below both backends and re-exported here.
//!
//! Every call is bounded: [`STORE_DEADLINE`] from the call to the answer, whatever the database
//! does (slow, stalled, gone); past it the call fails with [`StoreError::Unavailable`] (a 503
//! that Agora's retry repeats). A call that timed out may still take effect: its outcome is
//! unknown to the caller, as with any lost answer, and a repeat gets the same answer.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::postgres::Postgres;
pub use crate::records::{
    CustomerSummary, Grant, GrantLicense, License, NewCustomer, StoreError, HEALTH_CACHE,
    HEALTH_DEADLINE, STORE_DEADLINE,
};
use crate::secrets::MasterKey;
use crate::sqlite::Sqlite;

/// A handle to the store (SQLite or PostgreSQL); cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The last health check: when, and its outcome (one check at a time).
    health: Arc<tokio::sync::Mutex<Option<HealthCheck>>>,
}

/// A health check: when, and its outcome.
type HealthCheck = (Instant, Result<(), StoreError>);

#[derive(Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(Arc<Postgres>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (creating and migrating) the SQLite database at `path` and starts the writer thread.
    pub fn open_sqlite(path: &Path, master_key: MasterKey) -> Result<Store, StoreError> {
        let sqlite = Sqlite::open(path, master_key)?;
        Ok(Store {
            backend: Backend::Sqlite(sqlite),
            health: Arc::default(),
        })
    }

    /// Connects to PostgreSQL at `url` (several nodes may share it) and migrates it.
    pub async fn open_postgres(url: &str, master_key: MasterKey) -> Result<Store, StoreError> {
        let postgres = Postgres::open(url, master_key).await?;
        Ok(Store {
            backend: Backend::Postgres(Arc::new(postgres)),
            health: Arc::default(),
        })
    }

    /// Opens `database`: a `postgres://` or `postgresql://` URL, or else a SQLite file path.
    pub async fn open(database: &str, master_key: MasterKey) -> Result<Store, StoreError> {
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            Self::open_postgres(database, master_key).await
        } else {
            Self::open_sqlite(Path::new(database), master_key)
        }
    }

    /// Runs `operation` within [`STORE_DEADLINE`].
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let outcome = tokio::time::timeout(STORE_DEADLINE, operation)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no answer within {} ms",
                    STORE_DEADLINE.as_millis()
                )))
            });
        if matches!(outcome, Err(StoreError::Unavailable(_))) {
            // The next health check asks the database again rather than repeat a stale "up".
            if let Ok(mut last) = self.health.try_lock() {
                *last = None;
            }
        }
        outcome
    }

    /// Whether the database can serve now: a round trip through it (a batch committed on
    /// SQLite, `SELECT 1` on PostgreSQL) within [`HEALTH_DEADLINE`]. One check at a time; its
    /// result is reused for [`HEALTH_CACHE`].
    pub async fn health(&self) -> Result<(), StoreError> {
        let mut last = match tokio::time::timeout(HEALTH_DEADLINE, self.health.lock()).await {
            Ok(last) => last,
            // Another check holds it for longer than a check may take: not healthy.
            Err(_) => {
                return Err(StoreError::Unavailable(
                    "the health check is stalled".into(),
                ))
            }
        };
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < HEALTH_CACHE {
                return outcome.clone();
            }
        }
        let check = async {
            match &self.backend {
                Backend::Postgres(pg) => pg.ping().await,
                Backend::Sqlite(sqlite) => sqlite.ping().await,
            }
        };
        let outcome = tokio::time::timeout(HEALTH_DEADLINE, check)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no answer within {} ms",
                    HEALTH_DEADLINE.as_millis()
                )))
            });
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }

    /// Creates a customer; the same data again is a no-op, different data a conflict.
    pub async fn create_customer(&self, customer: NewCustomer) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => self.bounded(pg.create_customer(&customer)).await,
            Backend::Sqlite(sqlite) => self.bounded(sqlite.create_customer(customer)).await,
        }
    }

    /// Configures (replaces) a customer's license; creates the customer if needed.
    pub async fn configure_license(
        &self,
        customer_id: &str,
        license: License,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                self.bounded(pg.configure_license(customer_id, &license))
                    .await
            }
            Backend::Sqlite(sqlite) => {
                let customer_id = customer_id.to_owned();
                self.bounded(sqlite.configure_license(customer_id, license))
                    .await
            }
        }
    }

    /// Activates the extension for a project: the same project again gets the same credentials.
    pub async fn activate(&self, customer_id: &str, project_id: i64) -> Result<Grant, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => self.bounded(pg.activate(customer_id, project_id)).await,
            Backend::Sqlite(sqlite) => {
                let customer_id = customer_id.to_owned();
                self.bounded(sqlite.activate(customer_id, project_id)).await
            }
        }
    }

    /// Deactivates a project's grant (idempotent).
    pub async fn deactivate_project(
        &self,
        customer_id: &str,
        project_id: i64,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                self.bounded(pg.deactivate_project(customer_id, project_id))
                    .await
            }
            Backend::Sqlite(sqlite) => {
                let customer_id = customer_id.to_owned();
                self.bounded(sqlite.deactivate_project(customer_id, project_id))
                    .await
            }
        }
    }

    /// Deactivates a customer and all its grants (idempotent).
    pub async fn deactivate_customer(&self, customer_id: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => self.bounded(pg.deactivate_customer(customer_id)).await,
            Backend::Sqlite(sqlite) => {
                let customer_id = customer_id.to_owned();
                self.bounded(sqlite.deactivate_customer(customer_id)).await
            }
        }
    }

    /// The grant of `app_key` and its customer's license.
    pub async fn grant_license(&self, app_key: &str) -> Result<GrantLicense, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => self.bounded(pg.grant_license(app_key)).await,
            Backend::Sqlite(sqlite) => {
                let app_key = app_key.to_owned();
                self.bounded(sqlite.grant_license(app_key)).await
            }
        }
    }

    /// Every customer with its project counts (admin).
    pub async fn list_customers(&self) -> Result<Vec<CustomerSummary>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.list_customers().await,
            Backend::Sqlite(sqlite) => sqlite.list_customers().await,
        }
    }

    /// Every grant (admin).
    pub async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg.list_grants().await,
            Backend::Sqlite(sqlite) => sqlite.list_grants().await,
        }
    }
}
