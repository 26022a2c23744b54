//! squid on loopback as the HTTP proxy of an office network: `CONNECT` tunnels allowed, or every
//! request refused with `403` (an ACL), with a throw-away configuration. It resolves names only
//! from its own hosts file (no DNS server is reachable: its resolver points at an unused
//! loopback port). Killed when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;

use crate::nginx::{free_port, spawn, wait_listening};

/// A running squid (the Debian package `squid`). Dropping it stops squid.
#[derive(Debug)]
pub struct Squid {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
}

/// What a [`Squid`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SquidPolicy {
    /// Every request and `CONNECT` tunnel is allowed.
    AllowAll,
    /// Every request is refused with `403 Forbidden` (`http_access deny all`).
    DenyAll,
}

impl Squid {
    /// Starts squid on an ephemeral loopback port with `policy`, resolving each `(name, ip)` of
    /// `hosts` from its hosts file, and waits (at most 10 s) until it accepts connections.
    pub async fn start(policy: SquidPolicy, hosts: &[(&str, &str)]) -> std::io::Result<Squid> {
        let dir = std::env::temp_dir().join(format!("agora-link-squid-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        // squid drops to its own user (`proxy` on Debian) when started as root: let it write here.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        }
        let port = free_port()?;
        let unused_dns = free_port()?;
        let hosts_file: String = hosts
            .iter()
            .map(|(name, ip)| format!("{ip} {name}\n"))
            .collect();
        std::fs::write(dir.join("hosts"), hosts_file)?;
        let access = match policy {
            SquidPolicy::AllowAll => "http_access allow all",
            SquidPolicy::DenyAll => "http_access deny all",
        };
        let d = dir.display();
        let config = format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename {d}/squid.pid\n\
             cache_log {d}/cache.log\n\
             access_log stdio:{d}/access.log\n\
             cache_store_log none\n\
             coredump_dir {d}\n\
             cache deny all\n\
             hosts_file {d}/hosts\n\
             dns_nameservers 127.0.0.1:{unused_dns}\n\
             pinger_enable off\n\
             shutdown_lifetime 0 seconds\n\
             logfile_rotate 0\n\
             {access}\n"
        );
        let conf = dir.join("squid.conf");
        std::fs::write(&conf, config)?;
        let child = spawn(
            "SQUID",
            "squid",
            // `-n`: a service name of its own, since squid names its shared-memory segments
            // (`/dev/shm/<service>-cf__*.shm`) after it — squids started at once with the default
            // name clash there, and one of them never listens.
            &[
                "-N".as_ref(),
                "-n".as_ref(),
                format!("agoralink{port}").as_ref(),
                "-f".as_ref(),
                conf.as_os_str(),
            ],
        )?;
        let squid = Squid {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        wait_listening(squid.address, "squid").await?;
        // The port can accept before squid serves (a tunnel opened then was reset, a flaky
        // test): wait for its own word that it does, up to 10 s more.
        let log = squid.dir.join("cache.log");
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            let ready = std::fs::read_to_string(&log)
                .is_ok_and(|text| text.contains("Accepting HTTP Socket connections"));
            if ready {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(squid)
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The lines of squid's access log so far (one per request or tunnel).
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        // Killed, squid leaves its shared-memory segments behind.
        let prefix = format!("agoralink{}-", self.address.port());
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
