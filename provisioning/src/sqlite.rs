//! The SQLite backend (WAL, `synchronous=FULL`, one file): customers, license configurations
//! and project grants. One writer thread applies requests in batches, one transaction per batch
//! (group commit: one fsync for many requests), and answers each request only after its batch is
//! committed.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::records::{
    CustomerSummary, Grant, GrantLicense, License, NewCustomer, StoreError, CUSTOMER_SUMMARY_SQL,
};
use crate::secrets::MasterKey;

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

/// A SQLite database served by its writer thread: a handle to the writer's queue, cheap to clone.
#[derive(Clone)]
pub(crate) struct Sqlite {
    commands: mpsc::SyncSender<Command>,
}

impl Sqlite {
    /// Opens (creating and migrating) the SQLite database at `path` and starts the writer thread.
    pub(crate) fn open(path: &Path, master_key: MasterKey) -> Result<Sqlite, StoreError> {
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
        Ok(Sqlite { commands })
    }

    /// Queues a command for the writer and waits for its answer (sent once its batch commits).
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        // The queue is bounded: full means the writer is behind by thousands of requests (a
        // stalled disk), and waiting for room would hold the request: refused at once.
        self.commands
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

    /// A batch committed: the writer is alive and the disk writable.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.call(Command::Ping).await
    }

    /// `Store::create_customer` on SQLite.
    pub(crate) async fn create_customer(&self, customer: NewCustomer) -> Result<(), StoreError> {
        self.call(|r| Command::CreateCustomer(customer, r)).await
    }

    /// `Store::configure_license` on SQLite.
    pub(crate) async fn configure_license(
        &self,
        customer_id: String,
        license: License,
    ) -> Result<(), StoreError> {
        self.call(|r| Command::ConfigureLicense(customer_id, license, r))
            .await
    }

    /// `Store::activate` on SQLite.
    pub(crate) async fn activate(
        &self,
        customer_id: String,
        project_id: i64,
    ) -> Result<Grant, StoreError> {
        self.call(|r| Command::Activate(customer_id, project_id, r))
            .await
    }

    /// `Store::deactivate_project` on SQLite.
    pub(crate) async fn deactivate_project(
        &self,
        customer_id: String,
        project_id: i64,
    ) -> Result<(), StoreError> {
        self.call(|r| Command::DeactivateProject(customer_id, project_id, r))
            .await
    }

    /// `Store::deactivate_customer` on SQLite.
    pub(crate) async fn deactivate_customer(&self, customer_id: String) -> Result<(), StoreError> {
        self.call(|r| Command::DeactivateCustomer(customer_id, r))
            .await
    }

    /// `Store::grant_license` on SQLite.
    pub(crate) async fn grant_license(&self, app_key: String) -> Result<GrantLicense, StoreError> {
        self.call(|r| Command::GrantLicense(app_key, r)).await
    }

    /// `Store::list_customers` on SQLite.
    pub(crate) async fn list_customers(&self) -> Result<Vec<CustomerSummary>, StoreError> {
        self.call(Command::ListCustomers).await
    }

    /// `Store::list_grants` on SQLite.
    pub(crate) async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
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
