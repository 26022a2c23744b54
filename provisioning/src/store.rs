//! Durable state on SQLite (WAL, `synchronous=FULL`, one file): customers, license
//! configurations and project grants. One writer thread applies requests in batches, one
//! transaction per batch (group commit: one fsync for many requests), and answers each request
//! only after its batch is committed.
//!
//! Every call is bounded: [`STORE_DEADLINE`] from the call to the answer, whatever the database
//! does (slow, stalled, gone); past it the call fails with [`StoreError::Unavailable`] (a 503
//! that Agora's retry repeats). A call that timed out may still take effect: its outcome is
//! unknown to the caller, as with any lost answer, and a repeat gets the same answer.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::secrets::MasterKey;

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

/// The longest a health check of the database takes ([`Store::health`]).
pub const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

/// How long a health check's result is reused (a load balancer probing every few ms costs one
/// check per interval).
pub const HEALTH_CACHE: Duration = Duration::from_millis(250);

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Storage(error.to_string())
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    CreateCustomer(NewCustomer, Reply<()>),
    ConfigureLicense(String, License, Reply<()>),
    Activate(String, i64, Reply<Grant>),
    DeactivateProject(String, i64, Reply<()>),
    DeactivateCustomer(String, Reply<()>),
    GrantLicense(String, Reply<GrantLicense>),
    ListGrants(Reply<Vec<Grant>>),
    ListCustomers(Reply<Vec<CustomerSummary>>),
    /// Answered once the batch it is in commits: the writer is alive and the disk writable.
    Ping(Reply<()>),
}

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
    Sqlite(mpsc::SyncSender<Command>),
    Postgres(Arc<crate::postgres::Postgres>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &[&str] = &[
    // Version 1.
    "CREATE TABLE IF NOT EXISTS customers (
        customer_id TEXT PRIMARY KEY,
        plan_id TEXT,
        name TEXT,
        email TEXT,
        phone TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS licenses (
        customer_id TEXT PRIMARY KEY REFERENCES customers(customer_id),
        platforms TEXT NOT NULL,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER NOT NULL,
        license_type TEXT,
        updated_at INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS grants (
        customer_id TEXT NOT NULL REFERENCES customers(customer_id),
        project_id INTEGER NOT NULL,
        app_key TEXT NOT NULL UNIQUE,
        secret_salt BLOB NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        deactivated_at INTEGER,
        PRIMARY KEY (customer_id, project_id)
     );",
    // Version 2: the master key's verifier (one row; see `MasterKey::verifier`).
    "CREATE TABLE IF NOT EXISTS master_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        verifier BLOB NOT NULL,
        created_at INTEGER NOT NULL
     );",
];

/// Stores `key`'s verifier if the database has none (its first start), else checks it.
fn check_master_key(connection: &Connection, key: &MasterKey) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO master_key (id, verifier, created_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO NOTHING",
        params![key.verifier(), now()],
    )?;
    let stored: Vec<u8> =
        connection.query_row("SELECT verifier FROM master_key WHERE id = 1", [], |r| {
            r.get(0)
        })?;
    if !key.matches_verifier(&stored) {
        return Err(StoreError::KeyMismatch);
    }
    Ok(())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, step) in SCHEMA.iter().enumerate() {
        let target = index as i64 + 1;
        if version < target {
            connection.execute_batch(&format!(
                "BEGIN; {step} PRAGMA user_version = {target}; COMMIT;"
            ))?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (creating and migrating) the SQLite database at `path` and starts the writer thread.
    pub fn open_sqlite(path: &Path, master_key: MasterKey) -> Result<Store, StoreError> {
        let connection = Connection::open(path)?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        migrate(&connection)?;
        check_master_key(&connection, &master_key)?;
        let (commands, receiver) = mpsc::sync_channel::<Command>(4096);
        thread::Builder::new()
            .name("provisioning-store".into())
            .spawn(move || writer(connection, receiver, master_key))
            .map_err(|e| StoreError::Storage(format!("cannot start the writer: {e}")))?;
        Ok(Store {
            backend: Backend::Sqlite(commands),
            health: Arc::default(),
        })
    }

    /// Connects to PostgreSQL at `url` (several nodes may share it) and migrates it.
    pub async fn open_postgres(url: &str, master_key: MasterKey) -> Result<Store, StoreError> {
        let postgres = crate::postgres::Postgres::open(url, master_key).await?;
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

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let Backend::Sqlite(commands) = &self.backend else {
            return Err(StoreError::Storage("not a SQLite store".into()));
        };
        // The queue is bounded: full means the writer is behind by thousands of requests (a
        // stalled disk), and waiting for room would hold the request: refused at once.
        commands
            .try_send(make(reply))
            .map_err(|error| match error {
                mpsc::TrySendError::Full(_) => {
                    StoreError::Unavailable("the writer's queue is full".into())
                }
                mpsc::TrySendError::Disconnected(_) => {
                    StoreError::Storage("the store is closed".into())
                }
            })?;
        answer
            .await
            .map_err(|_| StoreError::Storage("the store stopped".into()))?
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
                Backend::Sqlite(_) => self.call(Command::Ping).await,
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
        if let Backend::Postgres(pg) = &self.backend {
            return self.bounded(pg.create_customer(&customer)).await;
        }
        self.bounded(self.call(|r| Command::CreateCustomer(customer, r)))
            .await
    }

    /// Configures (replaces) a customer's license; creates the customer if needed.
    pub async fn configure_license(
        &self,
        customer_id: &str,
        license: License,
    ) -> Result<(), StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return self
                .bounded(pg.configure_license(customer_id, &license))
                .await;
        }
        let customer_id = customer_id.to_owned();
        self.bounded(self.call(|r| Command::ConfigureLicense(customer_id, license, r)))
            .await
    }

    /// Activates the extension for a project: the same project again gets the same credentials.
    pub async fn activate(&self, customer_id: &str, project_id: i64) -> Result<Grant, StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return self.bounded(pg.activate(customer_id, project_id)).await;
        }
        let customer_id = customer_id.to_owned();
        self.bounded(self.call(|r| Command::Activate(customer_id, project_id, r)))
            .await
    }

    /// Deactivates a project's grant (idempotent).
    pub async fn deactivate_project(
        &self,
        customer_id: &str,
        project_id: i64,
    ) -> Result<(), StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return self
                .bounded(pg.deactivate_project(customer_id, project_id))
                .await;
        }
        let customer_id = customer_id.to_owned();
        self.bounded(self.call(|r| Command::DeactivateProject(customer_id, project_id, r)))
            .await
    }

    /// Deactivates a customer and all its grants (idempotent).
    pub async fn deactivate_customer(&self, customer_id: &str) -> Result<(), StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return self.bounded(pg.deactivate_customer(customer_id)).await;
        }
        let customer_id = customer_id.to_owned();
        self.bounded(self.call(|r| Command::DeactivateCustomer(customer_id, r)))
            .await
    }

    /// The grant of `app_key` and its customer's license.
    pub async fn grant_license(&self, app_key: &str) -> Result<GrantLicense, StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return self.bounded(pg.grant_license(app_key)).await;
        }
        let app_key = app_key.to_owned();
        self.bounded(self.call(|r| Command::GrantLicense(app_key, r)))
            .await
    }

    /// Every customer with its project counts (admin).
    pub async fn list_customers(&self) -> Result<Vec<CustomerSummary>, StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return pg.list_customers().await;
        }
        self.call(Command::ListCustomers).await
    }

    /// Every grant (admin).
    pub async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        if let Backend::Postgres(pg) = &self.backend {
            return pg.list_grants().await;
        }
        self.call(Command::ListGrants).await
    }
}

/// The writer: batches of up to 256 commands, one IMMEDIATE transaction each, a savepoint per
/// command (one failing command does not undo the others), replies after COMMIT.
fn writer(mut connection: Connection, receiver: mpsc::Receiver<Command>, key: MasterKey) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match receiver.recv_timeout(Duration::from_micros(200)) {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Box<dyn FnOnce(bool)>> = Vec::with_capacity(batch.len());
        let committed = (|| -> rusqlite::Result<()> {
            let mut transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for command in batch.drain(..) {
                let mut savepoint = transaction.savepoint()?;
                let (reply, succeeded) = apply(&mut savepoint, command, &key);
                if succeeded {
                    savepoint.commit()?;
                } else {
                    // A refused command leaves nothing behind (an implicit customer, say).
                    savepoint.rollback()?;
                    savepoint.commit()?;
                }
                replies.push(reply);
            }
            transaction.commit()
        })();
        let ok = committed.is_ok();
        if let Err(error) = &committed {
            tracing::error!(%error, "store batch failed to commit");
        }
        for reply in replies {
            reply(ok);
        }
        // Commands of a batch that failed before its replies were collected are dropped: their
        // callers see "the store stopped".
        batch.clear();
    }
}

/// Runs one command inside `tx`; returns how to answer it once the batch's fate is known.
fn apply(
    tx: &mut rusqlite::Savepoint<'_>,
    command: Command,
    key: &MasterKey,
) -> (Box<dyn FnOnce(bool)>, bool) {
    fn answer<T: Send + 'static>(
        reply: Reply<T>,
        result: Result<T, StoreError>,
    ) -> (Box<dyn FnOnce(bool)>, bool) {
        let succeeded = result.is_ok();
        let reply: Box<dyn FnOnce(bool)> = Box::new(move |committed| {
            let _ = reply.send(if committed {
                result
            } else {
                Err(StoreError::Unavailable(
                    "the transaction did not commit".into(),
                ))
            });
        });
        (reply, succeeded)
    }
    match command {
        Command::CreateCustomer(customer, reply) => answer(reply, create_customer(tx, &customer)),
        Command::ConfigureLicense(customer_id, license, reply) => {
            answer(reply, configure_license(tx, &customer_id, &license))
        }
        Command::Activate(customer_id, project_id, reply) => {
            answer(reply, activate(tx, &customer_id, project_id, key))
        }
        Command::DeactivateProject(customer_id, project_id, reply) => {
            answer(reply, deactivate_project(tx, &customer_id, project_id))
        }
        Command::DeactivateCustomer(customer_id, reply) => {
            answer(reply, deactivate_customer(tx, &customer_id))
        }
        Command::GrantLicense(app_key, reply) => answer(reply, grant_license(tx, &app_key, key)),
        Command::ListGrants(reply) => answer(reply, list_grants(tx, key)),
        Command::ListCustomers(reply) => answer(reply, list_customers(tx)),
        Command::Ping(reply) => answer(reply, Ok(())),
    }
}

fn ensure_customer(tx: &rusqlite::Savepoint<'_>, customer_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO customers (customer_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![customer_id, now()],
    )?;
    let active: i64 = tx.query_row(
        "SELECT active FROM customers WHERE customer_id = ?1",
        [customer_id],
        |r| r.get(0),
    )?;
    if active == 0 {
        return Err(StoreError::Conflict(format!(
            "customer {customer_id} is deactivated"
        )));
    }
    Ok(())
}

/// `plan_id, name, email, phone` of a customer row.
type CustomerDetails = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `POST /customers/new`: a new customer is created; a deactivated one (however it was created)
/// is reactivated with these details — a purchase after a cancellation — and its projects stay
/// deactivated until each is activated again; an active one created implicitly gets these
/// details; an active one with the same details is a no-op, with others a conflict.
fn create_customer(tx: &rusqlite::Savepoint<'_>, c: &NewCustomer) -> Result<(), StoreError> {
    let existing: Option<(CustomerDetails, bool)> = tx
        .query_row(
            "SELECT plan_id, name, email, phone, active FROM customers WHERE customer_id = ?1",
            [&c.customer_id],
            |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                    r.get::<_, i64>(4)? != 0,
                ))
            },
        )
        .optional()?;
    let existing = match existing {
        // Deactivated: reactivated with these details.
        Some((_, false)) => Some((None, None, None, None)),
        Some((details, true)) => Some(details),
        None => None,
    };
    match existing {
        None => {
            tx.execute(
                "INSERT INTO customers (customer_id, plan_id, name, email, phone, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.customer_id, c.plan_id, c.name, c.email, c.phone, now()],
            )?;
            Ok(())
        }
        // Created implicitly by an earlier activation (or deactivated): these details, active.
        Some((None, None, None, None)) => {
            tx.execute(
                "UPDATE customers SET plan_id = ?2, name = ?3, email = ?4, phone = ?5, active = 1
                 WHERE customer_id = ?1",
                params![c.customer_id, c.plan_id, c.name, c.email, c.phone],
            )?;
            Ok(())
        }
        Some((plan, name, email, phone))
            if plan.as_deref() == Some(c.plan_id.as_str())
                && name == c.name
                && email == c.email
                && phone == c.phone =>
        {
            Ok(())
        }
        Some(_) => Err(StoreError::Conflict(format!(
            "customer {} exists with different details",
            c.customer_id
        ))),
    }
}

fn configure_license(
    tx: &rusqlite::Savepoint<'_>,
    customer_id: &str,
    l: &License,
) -> Result<(), StoreError> {
    ensure_customer(tx, customer_id)?;
    tx.execute(
        "INSERT INTO licenses (customer_id, platforms, valid_from, valid_to, license_type, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (customer_id) DO UPDATE SET platforms = excluded.platforms,
           valid_from = excluded.valid_from, valid_to = excluded.valid_to,
           license_type = excluded.license_type, updated_at = excluded.updated_at",
        params![customer_id, l.platforms.join("|"), l.valid_from, l.valid_to, l.license_type, now()],
    )?;
    Ok(())
}

fn grant_from_row(row: &rusqlite::Row<'_>, key: &MasterKey) -> rusqlite::Result<Grant> {
    let app_key: String = row.get(2)?;
    let salt: Vec<u8> = row.get(3)?;
    Ok(Grant {
        customer_id: row.get(0)?,
        project_id: row.get(1)?,
        app_secret: key.app_secret(&app_key, &salt),
        app_key,
        active: row.get::<_, i64>(4)? != 0,
        created_at: row.get(5)?,
    })
}

const GRANT_COLUMNS: &str = "customer_id, project_id, app_key, secret_salt, active, created_at";

fn activate(
    tx: &rusqlite::Savepoint<'_>,
    customer_id: &str,
    project_id: i64,
    key: &MasterKey,
) -> Result<Grant, StoreError> {
    ensure_customer(tx, customer_id)?;
    let existing = tx
        .query_row(
            &format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE customer_id = ?1 AND project_id = ?2"
            ),
            params![customer_id, project_id],
            |r| grant_from_row(r, key),
        )
        .optional()?;
    if let Some(mut grant) = existing {
        if !grant.active {
            // Activated again after a deactivation: the same credentials, active again.
            tx.execute(
                "UPDATE grants SET active = 1, deactivated_at = NULL WHERE customer_id = ?1 AND project_id = ?2",
                params![customer_id, project_id],
            )?;
            grant.active = true;
        }
        return Ok(grant);
    }
    let app_key = uuid::Uuid::new_v4().simple().to_string();
    let salt = crate::secrets::random_salt();
    let created_at = now();
    tx.execute(
        "INSERT INTO grants (customer_id, project_id, app_key, secret_salt, active, created_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)",
        params![customer_id, project_id, app_key, salt.to_vec(), created_at],
    )?;
    Ok(Grant {
        customer_id: customer_id.to_owned(),
        project_id,
        app_secret: key.app_secret(&app_key, &salt),
        app_key,
        active: true,
        created_at,
    })
}

fn deactivate_project(
    tx: &rusqlite::Savepoint<'_>,
    customer_id: &str,
    project_id: i64,
) -> Result<(), StoreError> {
    let changed = tx.execute(
        "UPDATE grants SET active = 0, deactivated_at = COALESCE(deactivated_at, ?3)
         WHERE customer_id = ?1 AND project_id = ?2",
        params![customer_id, project_id, now()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "no project {project_id} activated for customer {customer_id}"
        )));
    }
    Ok(())
}

fn deactivate_customer(tx: &rusqlite::Savepoint<'_>, customer_id: &str) -> Result<(), StoreError> {
    let changed = tx.execute(
        "UPDATE customers SET active = 0 WHERE customer_id = ?1",
        [customer_id],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("no customer {customer_id}")));
    }
    tx.execute(
        "UPDATE grants SET active = 0, deactivated_at = COALESCE(deactivated_at, ?2) WHERE customer_id = ?1",
        params![customer_id, now()],
    )?;
    Ok(())
}

fn grant_license(
    tx: &rusqlite::Savepoint<'_>,
    app_key: &str,
    key: &MasterKey,
) -> Result<GrantLicense, StoreError> {
    // A grant is served only while its customer is active too.
    let grant = tx
        .query_row(
            "SELECT g.customer_id, g.project_id, g.app_key, g.secret_salt,
                    g.active * c.active, g.created_at
             FROM grants g JOIN customers c ON c.customer_id = g.customer_id
             WHERE g.app_key = ?1",
            [app_key],
            |r| grant_from_row(r, key),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound("unknown appKey".into()))?;
    let license = tx
        .query_row(
            "SELECT platforms, valid_from, valid_to, license_type FROM licenses WHERE customer_id = ?1",
            [&grant.customer_id],
            |r| {
                let platforms: String = r.get(0)?;
                Ok(License {
                    platforms: platforms.split('|').map(str::to_owned).collect(),
                    valid_from: r.get(1)?,
                    valid_to: r.get(2)?,
                    license_type: r.get(3)?,
                })
            },
        )
        .optional()?;
    Ok(GrantLicense { grant, license })
}

fn list_grants(tx: &rusqlite::Savepoint<'_>, key: &MasterKey) -> Result<Vec<Grant>, StoreError> {
    let mut statement = tx.prepare(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants ORDER BY customer_id, project_id"
    ))?;
    let grants = statement
        .query_map([], |r| grant_from_row(r, key))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(grants)
}

/// The admin listing of customers (shared SQL: both backends accept it).
pub(crate) const CUSTOMER_SUMMARY_SQL: &str = "SELECT c.customer_id, c.plan_id, c.active,
        (SELECT COUNT(*) FROM grants g WHERE g.customer_id = c.customer_id),
        (SELECT COUNT(*) FROM grants g WHERE g.customer_id = c.customer_id AND g.active = TRUE)
     FROM customers c ORDER BY c.customer_id";

fn list_customers(tx: &rusqlite::Savepoint<'_>) -> Result<Vec<CustomerSummary>, StoreError> {
    let mut statement = tx.prepare(CUSTOMER_SUMMARY_SQL)?;
    let customers = statement
        .query_map([], |r| {
            Ok(CustomerSummary {
                customer_id: r.get(0)?,
                plan_id: r.get(1)?,
                active: r.get::<_, i64>(2)? != 0,
                projects: r.get(3)?,
                active_projects: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(customers)
}
