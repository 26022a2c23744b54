//! A PostgreSQL cluster of its own (through `scripts/start-postgres`), for tests and the history
//! checker that stop, freeze or cut the database: the shared test server is never touched.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A throw-away cluster: its admin URL, its directory, and the faults it can be put through.
pub struct Cluster {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    /// The directory `scripts/start-postgres` made (`data/`, `server.log`, the socket).
    pub dir: PathBuf,
    port: String,
    bin: PathBuf,
    stopped: bool,
    /// Whether dropping it removes the cluster (not when adopted).
    owned: bool,
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `pg_ctl` as the cluster's owner (`postgres` when running as root, as the script does).
fn pg_ctl(bin: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join("pg_ctl"));
        command
    } else {
        Command::new(bin.join("pg_ctl"))
    }
}

impl Cluster {
    /// Starts a fresh cluster; `None` when PostgreSQL is not installed or did not start.
    pub fn start() -> Option<Cluster> {
        let bin = postgres_bin()?;
        let output = Command::new(repository().join("scripts/start-postgres"))
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!(
                "scripts/start-postgres failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let (url, dir) = line.split_once(' ')?;
        let port = url.rsplit_once(':')?.1.split('/').next()?.to_owned();
        Some(Cluster {
            url: url.to_owned(),
            dir: PathBuf::from(dir),
            port,
            bin,
            stopped: false,
            owned: true,
        })
    }

    /// A cluster `scripts/start-postgres` started for the caller (`<admin URL> <directory>`),
    /// left running when dropped: its starter removes it.
    pub fn adopt(url: &str, dir: &Path) -> Option<Cluster> {
        let port = url.rsplit_once(':')?.1.split('/').next()?.to_owned();
        Some(Cluster {
            url: url.to_owned(),
            dir: dir.to_path_buf(),
            port,
            bin: postgres_bin()?,
            stopped: false,
            owned: false,
        })
    }

    /// The URL of database `name` on this cluster.
    pub fn database_url(&self, name: &str) -> String {
        let base = self
            .url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&self.url);
        format!("{base}/{name}")
    }

    /// Creates database `name` (through `psql`-free SQL on the admin connection).
    pub async fn create_database(&self, name: &str) -> Result<String, String> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(connection);
        let result = client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| e.to_string());
        drop(client);
        let _ = task.await;
        result.map(|()| self.database_url(name))
    }

    /// The postmaster's pid (first line of `data/postmaster.pid`).
    pub fn postmaster(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// The postmaster and every process it started (the backends, the checkpointer, …).
    pub fn processes(&self) -> Vec<u32> {
        let Some(root) = self.postmaster() else {
            return Vec::new();
        };
        let mut all = vec![root];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // `pid (comm) state ppid …`: the fields after the last `)`.
                let parent = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if parent == Some(root) {
                    all.push(pid);
                }
            }
        }
        all
    }

    fn signal(&self, signal: &str) -> usize {
        let pids = self.processes();
        for pid in &pids {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
        pids.len()
    }

    /// SIGSTOP to the postmaster and all its children: the database stalls, sockets stay open.
    pub fn freeze(&self) -> usize {
        self.signal("-STOP")
    }

    /// SIGCONT to the same.
    pub fn thaw(&self) -> usize {
        self.signal("-CONT")
    }

    /// `pg_ctl stop -m immediate`: every connection closed, nothing listening.
    pub fn stop(&mut self) -> bool {
        self.thaw();
        let ok = pg_ctl(&self.bin)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        self.stopped = ok;
        ok
    }

    /// `pg_ctl start` with the options `scripts/start-postgres` used.
    pub fn restart(&mut self) -> bool {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let ok = pg_ctl(&self.bin)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-o", &options, "start"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            self.stopped = false;
        }
        ok
    }

    /// `pg_terminate_backend` of every connection to `database`; the number terminated.
    pub async fn terminate_connections(&self, database: &str) -> Result<u64, String> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(connection);
        let result = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .await
            .map(|rows| rows.len() as u64)
            .map_err(|e| e.to_string());
        drop(client);
        let _ = task.await;
        result
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.thaw();
        if !self.owned {
            if self.stopped {
                self.restart();
            }
            return;
        }
        let _ = Command::new(repository().join("scripts/start-postgres"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}
