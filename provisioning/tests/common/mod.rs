//! The databases the tests run against: SQLite always, PostgreSQL when
//! `PROVISIONING_TEST_POSTGRES_URL` names a server (`scripts/test-all` starts one; with
//! `PROVISIONING_REQUIRE_POSTGRES=1`, a missing server fails the tests).
#![allow(dead_code)]

pub mod cluster;

/// One database for one test: a SQLite file or a fresh PostgreSQL database.
pub struct Database {
    /// What `Store::open` and `--database` take.
    pub spec: String,
    /// The name shown in assertion messages.
    pub label: &'static str,
    cleanup: Option<std::path::PathBuf>,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(path) = &self.cleanup {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// A fresh SQLite file.
pub fn sqlite() -> Database {
    let path = std::env::temp_dir().join(format!("provisioning-{}.sqlite3", uuid::Uuid::new_v4()));
    Database {
        spec: path.display().to_string(),
        label: "sqlite",
        cleanup: Some(path),
    }
}

/// A fresh PostgreSQL database, if a server is configured.
pub async fn postgres() -> Option<Database> {
    let Ok(admin) = std::env::var("PROVISIONING_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("PROVISIONING_REQUIRE_POSTGRES").is_err(),
            "PROVISIONING_REQUIRE_POSTGRES is set but PROVISIONING_TEST_POSTGRES_URL is not"
        );
        eprintln!("PostgreSQL tests skipped: PROVISIONING_TEST_POSTGRES_URL is not set");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL test server answers");
    tokio::spawn(connection);
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Some(Database {
        spec: format!("{base}/{name}"),
        label: "postgres",
        cleanup: None,
    })
}

/// Every configured database.
pub async fn databases() -> Vec<Database> {
    let mut all = vec![sqlite()];
    all.extend(postgres().await);
    all
}
