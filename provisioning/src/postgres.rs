//! The PostgreSQL backend: the same tables and guarantees as SQLite (primary key on customer and
//! project, unique app keys, the answer sent after the commit), for several nodes sharing one
//! database. Concurrent duplicate activations on any node insert once: the loser's
//! `ON CONFLICT DO NOTHING` waits for the winner's commit, then reads its grant.
//!
//! Activations and license configurations hold a `FOR SHARE` lock on their customer's row from
//! the check that it is active to their commit, and a customer's deactivation updates that row
//! first: so a deactivation waits for the activations in flight and then deactivates their
//! grants too, and an activation that comes after it sees it (409).
//!
//! Every wait is bounded (see [`Timeouts`]): a stalled or vanished server costs a request at most
//! [`crate::records::STORE_DEADLINE`], and a connection that did not answer in time is dropped
//! from the pool rather than handed to the next request.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::records::{
    CustomerSummary, Grant, GrantLicense, License, NewCustomer, StoreError, CUSTOMER_SUMMARY_SQL,
};
use crate::secrets::MasterKey;

/// The timeouts of the PostgreSQL backend (all shorter than [`crate::records::STORE_DEADLINE`]).
pub(crate) struct Timeouts;

impl Timeouts {
    /// Waiting for a free connection of the pool.
    pub const POOL_WAIT: Duration = Duration::from_millis(500);
    /// Opening a connection, TCP connect and startup handshake together.
    pub const CONNECT: Duration = Duration::from_millis(500);
    /// Checking a pooled connection before reuse.
    pub const RECYCLE: Duration = Duration::from_millis(300);
    /// One operation on a connection (all its statements); past it the connection is dropped.
    pub const OPERATION: Duration = Duration::from_millis(900);
    /// The server's `statement_timeout` (a statement waiting on a lock, or slow).
    pub const STATEMENT_MS: u64 = 800;
    /// The server's `idle_in_transaction_session_timeout`: a transaction left open by a stalled
    /// node releases its locks.
    pub const IDLE_IN_TRANSACTION_MS: u64 = 5000;
    /// TCP keepalive (idle, interval) and `TCP_USER_TIMEOUT`: a peer that vanished is noticed.
    pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
    /// The interval between keepalive probes.
    pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
    /// Unacknowledged data older than this closes the connection.
    pub const TCP_USER: Duration = Duration::from_secs(5);
}

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE IF NOT EXISTS customers (
        customer_id TEXT PRIMARY KEY,
        plan_id TEXT, name TEXT, email TEXT, phone TEXT,
        active BOOLEAN NOT NULL DEFAULT TRUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS licenses (
        customer_id TEXT PRIMARY KEY REFERENCES customers(customer_id),
        platforms TEXT NOT NULL,
        valid_from BIGINT NOT NULL,
        valid_to BIGINT NOT NULL,
        license_type TEXT,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS grants (
        customer_id TEXT NOT NULL REFERENCES customers(customer_id),
        project_id BIGINT NOT NULL,
        app_key TEXT NOT NULL UNIQUE,
        secret_salt BYTEA NOT NULL,
        active BOOLEAN NOT NULL DEFAULT TRUE,
        created_at BIGINT NOT NULL,
        deactivated_at BIGINT,
        PRIMARY KEY (customer_id, project_id)
    );
",
    "
    CREATE TABLE IF NOT EXISTS master_key (
        id INT PRIMARY KEY CHECK (id = 1),
        verifier BYTEA NOT NULL,
        created_at BIGINT NOT NULL
    );
",
    // An activation as one statement (one round trip, one transaction: see `activate`). The
    // same steps as a transaction of separate statements, in the same order and with the same
    // locks; each statement of a PL/pgSQL function takes a new snapshot under READ COMMITTED,
    // so a duplicate that waited on `ON CONFLICT` then reads the winner's committed grant.
    // `out_customer_active` is false for a deactivated customer (the grant's columns are then
    // NULL, FALSE and 0, and not read).
    "
    CREATE OR REPLACE FUNCTION agora_link_activate(
        p_customer TEXT, p_project BIGINT, p_app_key TEXT, p_salt BYTEA, p_now BIGINT)
    RETURNS TABLE (out_customer_id TEXT, out_project_id BIGINT, out_app_key TEXT,
        out_secret_salt BYTEA, out_active BOOLEAN, out_created_at BIGINT,
        out_customer_active BOOLEAN)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        customer_active BOOLEAN;
        g grants%ROWTYPE;
    BEGIN
        INSERT INTO customers (customer_id, created_at) VALUES (p_customer, p_now)
            ON CONFLICT DO NOTHING;
        SELECT c.active INTO customer_active FROM customers c
            WHERE c.customer_id = p_customer FOR SHARE;
        IF customer_active IS NOT TRUE THEN
            RETURN QUERY SELECT p_customer, p_project, NULL::TEXT, NULL::BYTEA, FALSE, 0::BIGINT, FALSE;
            RETURN;
        END IF;
        INSERT INTO grants (customer_id, project_id, app_key, secret_salt, active, created_at)
            VALUES (p_customer, p_project, p_app_key, p_salt, TRUE, p_now)
            ON CONFLICT (customer_id, project_id) DO NOTHING
            RETURNING * INTO g;
        IF NOT FOUND THEN
            SELECT * INTO STRICT g FROM grants gr
                WHERE gr.customer_id = p_customer AND gr.project_id = p_project;
            IF NOT g.active THEN
                UPDATE grants gr SET active = TRUE, deactivated_at = NULL
                    WHERE gr.customer_id = p_customer AND gr.project_id = p_project
                    RETURNING * INTO STRICT g;
            END IF;
        END IF;
        RETURN QUERY SELECT g.customer_id, g.project_id, g.app_key, g.secret_salt, g.active,
            g.created_at, TRUE;
    END
    $fn$;
",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A database error as a store error: unavailability (no connection, a connection lost, a
/// timeout, the server shutting down or out of resources, a serialization failure) is a 503 to
/// be retried; anything else a 500.
fn storage(error: tokio_postgres::Error) -> StoreError {
    let retryable = match error.code() {
        // No SQLSTATE: I/O, a closed connection, a timeout.
        None => true,
        Some(code) => {
            let class = &code.code()[..2.min(code.code().len())];
            // 08 connection, 40 transaction rollback, 53 resources, 57 operator intervention
            // (statement timeout, admin shutdown, cannot connect now), 58 system error.
            matches!(class, "08" | "40" | "53" | "57" | "58")
        }
    };
    if retryable {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Storage(error.to_string())
    }
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Backend(error) => storage(error),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

type Client = deadpool_postgres::Object;

/// A pool of connections to one PostgreSQL database.
pub(crate) struct Postgres {
    pool: Pool,
    key: MasterKey,
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/database`), migrates under an advisory lock
    /// (several nodes may start at once).
    pub async fn open(url: &str, key: MasterKey) -> Result<Postgres, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Storage(e.to_string()))?;
        let options = format!(
            "{} -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            config.get_options().unwrap_or_default(),
            Timeouts::STATEMENT_MS,
            Timeouts::IDLE_IN_TRANSACTION_MS
        );
        config
            .options(options.trim())
            .connect_timeout(Timeouts::CONNECT)
            .keepalives(true)
            .keepalives_idle(Timeouts::KEEPALIVE_IDLE)
            .keepalives_interval(Timeouts::KEEPALIVE_INTERVAL)
            .keepalives_retries(3)
            .tcp_user_timeout(Timeouts::TCP_USER);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Timeouts::POOL_WAIT))
            .create_timeout(Some(Timeouts::CONNECT))
            .recycle_timeout(Some(Timeouts::RECYCLE))
            .build()
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        let mut client = pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(storage)?;
        tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])
            .await
            .map_err(storage)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL)")
            .await
            .map_err(storage)?;
        let version: i32 = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .await
            .map_err(storage)?
            .map(|row| row.get(0))
            .unwrap_or(0);
        for (index, step) in MIGRATIONS.iter().enumerate() {
            if version < index as i32 + 1 {
                tx.batch_execute(step).await.map_err(storage)?;
            }
        }
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .map_err(storage)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(MIGRATIONS.len() as i32)],
        )
        .await
        .map_err(storage)?;
        // The master key's verifier: stored at the first start (under the advisory lock, so
        // nodes starting at once agree), checked at every later one.
        tx.execute(
            "INSERT INTO master_key (id, verifier, created_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
            &[&key.verifier(), &now()],
        )
        .await
        .map_err(storage)?;
        let stored: Vec<u8> = tx
            .query_one("SELECT verifier FROM master_key WHERE id = 1", &[])
            .await
            .map_err(storage)?
            .get(0);
        if !key.matches_verifier(&stored) {
            return Err(StoreError::KeyMismatch);
        }
        tx.commit().await.map_err(storage)?;
        drop(client);
        Ok(Postgres { pool, key })
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The outcome of an operation on `client` that ran under [`Timeouts::OPERATION`]: one that
    /// timed out leaves its connection out of the pool (it may be stalled mid-answer).
    fn settle<T>(
        client: Client,
        outcome: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
        started: Instant,
    ) -> Result<T, StoreError> {
        match outcome {
            Ok(result) => result,
            Err(_) => {
                drop(Client::take(client));
                Err(StoreError::Unavailable(format!(
                    "no answer from the database within {} ms",
                    started.elapsed().as_millis()
                )))
            }
        }
    }

    /// `SELECT 1` on a pooled connection (the health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let client = self.client().await?;
        let outcome = tokio::time::timeout(Timeouts::OPERATION, async {
            client.simple_query("SELECT 1").await.map_err(storage)?;
            Ok(())
        })
        .await;
        Self::settle(client, outcome, started)
    }

    fn grant(&self, row: &tokio_postgres::Row) -> Grant {
        let app_key: String = row.get(2);
        let salt: Vec<u8> = row.get(3);
        Grant {
            customer_id: row.get(0),
            project_id: row.get(1),
            app_secret: self.key.app_secret(&app_key, &salt),
            app_key,
            active: row.get(4),
            created_at: row.get(5),
        }
    }

    /// Creates the customer if needed and checks that it is active, holding a `FOR SHARE` lock
    /// on its row until the transaction ends: a customer's deactivation (which updates the row
    /// first) waits for this transaction, then deactivates what it created.
    async fn ensure_customer(
        tx: &deadpool_postgres::Transaction<'_>,
        customer_id: &str,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO customers (customer_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&customer_id, &now()],
        )
        .await
        .map_err(storage)?;
        let active: bool = tx
            .query_one(
                "SELECT active FROM customers WHERE customer_id = $1 FOR SHARE",
                &[&customer_id],
            )
            .await
            .map_err(storage)?
            .get(0);
        if !active {
            return Err(StoreError::Conflict(format!(
                "customer {customer_id} is deactivated"
            )));
        }
        Ok(())
    }

    /// Runs `operation` on a pooled connection, bounded by [`Timeouts::OPERATION`] from the
    /// call (the pool's wait included).
    async fn run<T>(
        &self,
        operation: impl for<'c> FnOnce(
            &'c mut Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
        >,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + Timeouts::OPERATION);
        let mut client = match tokio::time::timeout_at(deadline, self.client()).await {
            Ok(client) => client?,
            Err(_) => {
                return Err(StoreError::Unavailable(
                    "no database connection in time".into(),
                ))
            }
        };
        let outcome = tokio::time::timeout_at(deadline, operation(&mut client)).await;
        Self::settle(client, outcome, started)
    }

    pub async fn create_customer(&self, c: &NewCustomer) -> Result<(), StoreError> {
        let c = c.clone();
        self.run(move |client| Box::pin(async move { create_customer(client, &c).await }))
            .await
    }

    pub async fn configure_license(
        &self,
        customer_id: &str,
        l: &License,
    ) -> Result<(), StoreError> {
        let (customer_id, l) = (customer_id.to_owned(), l.clone());
        self.run(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(storage)?;
                Self::ensure_customer(&tx, &customer_id).await?;
                tx.execute(
                    "INSERT INTO licenses (customer_id, platforms, valid_from, valid_to, license_type, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (customer_id) DO UPDATE SET platforms = excluded.platforms,
                       valid_from = excluded.valid_from, valid_to = excluded.valid_to,
                       license_type = excluded.license_type, updated_at = excluded.updated_at",
                    &[&customer_id, &l.platforms.join("|"), &l.valid_from, &l.valid_to, &l.license_type, &now()],
                )
                .await
                .map_err(storage)?;
                tx.commit().await.map_err(storage)
            })
        })
        .await
    }

    /// Activates a project: one prepared statement in its own transaction (the function
    /// `agora_link_activate` of the schema), so one round trip and one commit, and under load
    /// PostgreSQL's group commit flushes the WAL once for many activations. The answer is sent
    /// after the commit, as before.
    pub async fn activate(&self, customer_id: &str, project_id: i64) -> Result<Grant, StoreError> {
        let customer_id = customer_id.to_owned();
        let row = self
            .run(move |client| {
                Box::pin(async move {
                    let statement = client
                        .prepare_cached("SELECT * FROM agora_link_activate($1, $2, $3, $4, $5)")
                        .await
                        .map_err(storage)?;
                    let app_key = uuid::Uuid::new_v4().simple().to_string();
                    let salt = crate::secrets::random_salt().to_vec();
                    let row = client
                        .query_one(
                            &statement,
                            &[&customer_id, &project_id, &app_key, &salt, &now()],
                        )
                        .await
                        .map_err(storage)?;
                    let customer_active: bool = row.get(6);
                    if !customer_active {
                        return Err(StoreError::Conflict(format!(
                            "customer {customer_id} is deactivated"
                        )));
                    }
                    Ok(row)
                })
            })
            .await?;
        Ok(self.grant(&row))
    }

    pub async fn deactivate_project(
        &self,
        customer_id: &str,
        project_id: i64,
    ) -> Result<(), StoreError> {
        let customer_id = customer_id.to_owned();
        self.run(move |client| {
            Box::pin(async move {
                let changed = client
                    .execute(
                        "UPDATE grants SET active = FALSE, deactivated_at = COALESCE(deactivated_at, $3)
                         WHERE customer_id = $1 AND project_id = $2",
                        &[&customer_id, &project_id, &now()],
                    )
                    .await
                    .map_err(storage)?;
                if changed == 0 {
                    return Err(StoreError::NotFound(format!(
                        "no project {project_id} activated for customer {customer_id}"
                    )));
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn deactivate_customer(&self, customer_id: &str) -> Result<(), StoreError> {
        let customer_id = customer_id.to_owned();
        self.run(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(storage)?;
                // The customer's row first: this waits for the activations in flight (their
                // `FOR SHARE` locks), and the grants' update below, a statement of its own,
                // then sees their grants.
                let changed = tx
                    .execute(
                        "UPDATE customers SET active = FALSE WHERE customer_id = $1",
                        &[&customer_id],
                    )
                    .await
                    .map_err(storage)?;
                if changed == 0 {
                    return Err(StoreError::NotFound(format!("no customer {customer_id}")));
                }
                tx.execute(
                    "UPDATE grants SET active = FALSE, deactivated_at = COALESCE(deactivated_at, $2) WHERE customer_id = $1",
                    &[&customer_id, &now()],
                )
                .await
                .map_err(storage)?;
                tx.commit().await.map_err(storage)
            })
        })
        .await
    }

    pub async fn grant_license(&self, app_key: &str) -> Result<GrantLicense, StoreError> {
        let app_key = app_key.to_owned();
        // One statement: the grant, active only while its customer is too, and the license.
        let row = self
            .run(move |client| {
                Box::pin(async move {
                    client
                        .query_opt(
                            "SELECT g.customer_id, g.project_id, g.app_key, g.secret_salt,
                                    g.active AND c.active, g.created_at,
                                    l.platforms, l.valid_from, l.valid_to, l.license_type
                             FROM grants g JOIN customers c ON c.customer_id = g.customer_id
                             LEFT JOIN licenses l ON l.customer_id = g.customer_id
                             WHERE g.app_key = $1",
                            &[&app_key],
                        )
                        .await
                        .map_err(storage)
                })
            })
            .await?
            .ok_or_else(|| StoreError::NotFound("unknown appKey".into()))?;
        let grant = self.grant(&row);
        let platforms: Option<String> = row.get(6);
        let license = platforms.map(|platforms| License {
            platforms: platforms.split('|').map(str::to_owned).collect(),
            valid_from: row.get(7),
            valid_to: row.get(8),
            license_type: row.get(9),
        });
        Ok(GrantLicense { grant, license })
    }

    pub async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT customer_id, project_id, app_key, secret_salt, active, created_at
                 FROM grants ORDER BY customer_id, project_id",
                &[],
            )
            .await
            .map_err(storage)?;
        Ok(rows.iter().map(|row| self.grant(row)).collect())
    }

    pub async fn list_customers(&self) -> Result<Vec<CustomerSummary>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(CUSTOMER_SUMMARY_SQL, &[])
            .await
            .map_err(storage)?;
        Ok(rows
            .iter()
            .map(|row| CustomerSummary {
                customer_id: row.get(0),
                plan_id: row.get(1),
                active: row.get(2),
                projects: row.get(3),
                active_projects: row.get(4),
            })
            .collect())
    }
}

/// `POST /customers/new` (the rules of the SQLite store's `create_customer`): new, or a
/// deactivated customer reactivated with these details, or an implicit one given them; the same
/// details again a no-op; other details for an active customer a conflict.
async fn create_customer(client: &mut Client, c: &NewCustomer) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(storage)?;
    let inserted = tx
        .execute(
            "INSERT INTO customers (customer_id, plan_id, name, email, phone, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &c.customer_id,
                &c.plan_id,
                &c.name,
                &c.email,
                &c.phone,
                &now(),
            ],
        )
        .await
        .map_err(storage)?;
    if inserted == 0 {
        let row = tx
            .query_one(
                "SELECT plan_id, name, email, phone, active FROM customers WHERE customer_id = $1 FOR UPDATE",
                &[&c.customer_id],
            )
            .await
            .map_err(storage)?;
        let active: bool = row.get(4);
        let existing: (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = if active {
            (row.get(0), row.get(1), row.get(2), row.get(3))
        } else {
            (None, None, None, None)
        };
        match existing {
            (None, None, None, None) => {
                tx.execute(
                    "UPDATE customers SET plan_id = $2, name = $3, email = $4, phone = $5, active = TRUE
                     WHERE customer_id = $1",
                    &[&c.customer_id, &c.plan_id, &c.name, &c.email, &c.phone],
                )
                .await
                .map_err(storage)?;
            }
            (plan, name, email, phone)
                if plan.as_deref() == Some(c.plan_id.as_str())
                    && name == c.name
                    && email == c.email
                    && phone == c.phone => {}
            _ => {
                return Err(StoreError::Conflict(format!(
                    "customer {} exists with different details",
                    c.customer_id
                )))
            }
        }
    }
    tx.commit().await.map_err(storage)
}
