//! The PostgreSQL backend: the same tables and guarantees as SQLite (primary key on customer and
//! project, unique app keys, the answer sent after the commit), for several nodes sharing one
//! database. Concurrent duplicate activations on any node insert once: the loser's
//! `ON CONFLICT DO NOTHING` waits for the winner's commit, then reads its grant.

use std::time::{SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::secrets::MasterKey;
use crate::store::{CustomerSummary, Grant, GrantLicense, License, NewCustomer, StoreError};

const MIGRATIONS: &[&str] = &["
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
"];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// A pool of connections to one PostgreSQL database.
pub(crate) struct Postgres {
    pool: Pool,
    key: MasterKey,
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/database`), migrates under an advisory lock
    /// (several nodes may start at once).
    pub async fn open(url: &str, key: MasterKey) -> Result<Postgres, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(storage)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(storage)?;
        let mut client = pool.get().await.map_err(storage)?;
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
        tx.commit().await.map_err(storage)?;
        drop(client);
        Ok(Postgres { pool, key })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(storage)
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
                "SELECT active FROM customers WHERE customer_id = $1",
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

    pub async fn create_customer(&self, c: &NewCustomer) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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
                    "SELECT plan_id, name, email, phone FROM customers WHERE customer_id = $1 FOR UPDATE",
                    &[&c.customer_id],
                )
                .await
                .map_err(storage)?;
            let existing: (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            ) = (row.get(0), row.get(1), row.get(2), row.get(3));
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

    pub async fn configure_license(
        &self,
        customer_id: &str,
        l: &License,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        Self::ensure_customer(&tx, customer_id).await?;
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
    }

    pub async fn activate(&self, customer_id: &str, project_id: i64) -> Result<Grant, StoreError> {
        const COLUMNS: &str = "customer_id, project_id, app_key, secret_salt, active, created_at";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        Self::ensure_customer(&tx, customer_id).await?;
        let app_key = uuid::Uuid::new_v4().simple().to_string();
        let salt = crate::secrets::random_salt().to_vec();
        // The first activation inserts; a repeat (or a concurrent duplicate, once the first one
        // commits) finds the row and takes no row lock unless it must reactivate it.
        let inserted = tx
            .query_opt(
                &format!(
                    "INSERT INTO grants (customer_id, project_id, app_key, secret_salt, active, created_at)
                     VALUES ($1, $2, $3, $4, TRUE, $5) ON CONFLICT (customer_id, project_id) DO NOTHING
                     RETURNING {COLUMNS}"
                ),
                &[&customer_id, &project_id, &app_key, &salt, &now()],
            )
            .await
            .map_err(storage)?;
        let row = match inserted {
            Some(row) => row,
            None => {
                let row = tx
                    .query_one(
                        &format!("SELECT {COLUMNS} FROM grants WHERE customer_id = $1 AND project_id = $2"),
                        &[&customer_id, &project_id],
                    )
                    .await
                    .map_err(storage)?;
                let active: bool = row.get(4);
                if active {
                    row
                } else {
                    tx.query_one(
                        &format!(
                            "UPDATE grants SET active = TRUE, deactivated_at = NULL
                             WHERE customer_id = $1 AND project_id = $2 RETURNING {COLUMNS}"
                        ),
                        &[&customer_id, &project_id],
                    )
                    .await
                    .map_err(storage)?
                }
            }
        };
        let grant = self.grant(&row);
        tx.commit().await.map_err(storage)?;
        Ok(grant)
    }

    pub async fn deactivate_project(
        &self,
        customer_id: &str,
        project_id: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
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
    }

    pub async fn deactivate_customer(&self, customer_id: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
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
    }

    pub async fn grant_license(&self, app_key: &str) -> Result<GrantLicense, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT customer_id, project_id, app_key, secret_salt, active, created_at FROM grants WHERE app_key = $1",
                &[&app_key],
            )
            .await
            .map_err(storage)?
            .ok_or_else(|| StoreError::NotFound("unknown appKey".into()))?;
        let grant = self.grant(&row);
        let license = client
            .query_opt(
                "SELECT platforms, valid_from, valid_to, license_type FROM licenses WHERE customer_id = $1",
                &[&grant.customer_id],
            )
            .await
            .map_err(storage)?
            .map(|row| {
                let platforms: String = row.get(0);
                License {
                    platforms: platforms.split('|').map(str::to_owned).collect(),
                    valid_from: row.get(1),
                    valid_to: row.get(2),
                    license_type: row.get(3),
                }
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
            .query(crate::store::CUSTOMER_SUMMARY_SQL, &[])
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
