//! nginx on loopback as a TLS reverse proxy in front of the sandbox, the way the API is often
//! reached in the field: a front that closes idle keep-alive connections after
//! `keepalive_timeout`, answers `502 Bad Gateway` when its upstream is down. Throw-away
//! configuration and certificate; killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tls::TlsIdentity;

/// A running nginx (the Debian package `nginx`). Dropping it stops nginx.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    address: SocketAddr,
    ca_pem: String,
    dir: PathBuf,
}

/// A program of a Debian package: `$VAR`, else the Debian locations, else `name` on `PATH`.
pub(crate) fn program(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return path.into();
    }
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .into_iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| name.into())
}

/// Starts the Debian program `name` (`$var` overrides where it is) with `args`, its output
/// discarded; the error says how to install it.
pub(crate) fn spawn(var: &str, name: &str, args: &[&std::ffi::OsStr]) -> std::io::Result<Child> {
    Command::new(program(var, name))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot run {name} (apt-get install {name}, or set {var}): {e}"),
            )
        })
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits (at most 10 s) until `address` accepts connections.
pub(crate) async fn wait_listening(address: SocketAddr, what: &str) -> std::io::Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what} did not start listening on {address} within 10 s"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

impl Nginx {
    /// Starts nginx on an ephemeral loopback port, serving HTTPS for `localhost` (a throw-away
    /// certificate authority: [`Nginx::ca_pem`]) and proxying everything to `upstream` (plain
    /// HTTP), with `keepalive_timeout` for client connections.
    pub async fn start(
        upstream: SocketAddr,
        keepalive_timeout: Duration,
    ) -> std::io::Result<Nginx> {
        let dir = std::env::temp_dir().join(format!("agora-link-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let (identity, ca_pem) = TlsIdentity::generate_for(&["localhost", "127.0.0.1"])?;
        std::fs::write(dir.join("cert.pem"), &identity.cert_chain_pem)?;
        std::fs::write(dir.join("key.pem"), &identity.private_key_pem)?;
        let port = free_port()?;
        let d = dir.display();
        let keepalive_ms = keepalive_timeout.as_millis();
        let config = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             user root;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 keepalive_timeout {keepalive_ms}ms;\n\
             \x20 server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/cert.pem;\n\
             \x20   ssl_certificate_key {d}/key.pem;\n\
             \x20   location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n\
             \x20 }}\n}}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config)?;
        let error_log = dir.join("error.log");
        let child = spawn(
            "NGINX",
            "nginx",
            &[
                "-p".as_ref(),
                dir.as_os_str(),
                "-e".as_ref(),
                error_log.as_os_str(),
                "-c".as_ref(),
                conf.as_os_str(),
            ],
        )?;
        let nginx = Nginx {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            ca_pem,
            dir,
        };
        wait_listening(nginx.address, "nginx").await?;
        Ok(nginx)
    }

    /// The HTTPS listener.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `https://localhost:<port>`, the base URL to give a client.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    /// The PEM certificate of the authority that signed nginx's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
