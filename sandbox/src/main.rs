//! `agora-link-sandbox`: run the Agora Link cloud emulator as a standalone server.

/// Writes a line on stdout; `false` when stdout is closed (a reader such as `| head` went away),
/// where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say_line(format_args!($($arg)*))
    };
}

fn say_line(line: std::fmt::Arguments<'_>) -> bool {
    use std::io::Write as _;
    writeln!(std::io::stdout(), "{line}").is_ok()
}

use std::net::SocketAddr;
use std::time::Duration;

use agora_link_sandbox::{Limits, Sandbox, SandboxClient, TlsIdentity};
use clap::Parser;

/// A local emulator of the Agora Link cloud REST API.
#[derive(Parser, Debug)]
#[command(name = "agora-link-sandbox", version)]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        env = "AGORA_LINK_SANDBOX_LISTEN"
    )]
    listen: SocketAddr,
    /// Client id accepted by the token endpoint and by login.
    #[arg(long, default_value = agora_link_sandbox::DEFAULT_CLIENT_ID, env = "AGORA_LINK_SANDBOX_CLIENT_ID")]
    client_id: String,
    /// Client secret accepted with the client id.
    #[arg(long, default_value = agora_link_sandbox::DEFAULT_CLIENT_SECRET, env = "AGORA_LINK_SANDBOX_CLIENT_SECRET")]
    client_secret: String,
    /// User name accepted by the password grant.
    #[arg(long, default_value = agora_link_sandbox::DEFAULT_USERNAME, env = "AGORA_LINK_SANDBOX_USERNAME")]
    username: String,
    /// Password accepted by the password grant.
    #[arg(long, default_value = agora_link_sandbox::DEFAULT_PASSWORD, env = "AGORA_LINK_SANDBOX_PASSWORD")]
    password: String,
    /// Lifetime of REST tokens, in seconds.
    #[arg(long, default_value_t = 31969)]
    token_lifetime_secs: u64,
    /// AWS region of the IoT credentials returned by login.
    #[arg(long, default_value = "cn-north-1")]
    iot_region: String,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Also serve the same cloud as virtual host NAME on a port of its own (repeatable), e.g.
    /// `--host api.sd-rtn.com --host api.agora.io`, to test domain switching with resolve
    /// overrides; admin faults can target one host with `"host": NAME`.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Run the IoT gateway (login then returns `ws://127.0.0.1:<port>` as the IoT endpoint):
    /// WebSocket upgrades are checked against the SigV4 credentials the sandbox issued.
    #[arg(long)]
    iot_gateway: bool,
    /// Also run a fault proxy in front of the sandbox, for fault-injection tests in any language:
    /// TLS for api.sd-rtn.com, api.agora.io and localhost from a generated CA; `GET
    /// /_sandbox/fault-proxy` gives its address and the CA, `POST /_sandbox/fault-proxy/arm` a
    /// strike for the next connection (see docs/sandbox.md). Not with --tls-cert.
    #[arg(long)]
    fault_proxy: bool,
    /// Bridge accepted gateway connections to this MQTT broker WebSocket listener (implies
    /// --iot-gateway).
    #[arg(long, value_name = "IP:PORT")]
    iot_broker: Option<SocketAddr>,
    /// Milliseconds a client has to send a request head (from its first byte, or from
    /// connecting for the first one).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    header_read_timeout_ms: u64,
    /// Milliseconds a client has to send a request body, after its head.
    #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    body_read_timeout_ms: u64,
    /// Milliseconds a keep-alive connection may stay idle between requests.
    #[arg(long, default_value_t = 15000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    idle_timeout_ms: u64,
    /// The most connections open at once (never more than the descriptor limit less 128).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
}

/// Colour in log lines only on a terminal, and never with `NO_COLOR` set (https://no-color.org).
fn log_colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
        && !matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty())
}

fn main() {
    // SIGTERM/SIGINT unblocked (a parent may have blocked them), then the async main.
    agora_link_server_guard::run_server_main("agora-link-sandbox", async_main());
}

async fn async_main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "agora_link_sandbox=info,agora_link_server_guard=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colour())
        .init();
    let args = Args::parse();
    if let Err(error) = run(args).await {
        eprintln!("agora-link-sandbox: {error}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    // Connections are bounded by descriptors: use all the hard limit allows.
    if let Some(nofile) = agora_link_server_guard::raise_nofile_limit() {
        tracing::debug!(
            before = nofile.before,
            after = nofile.after,
            "RLIMIT_NOFILE soft limit"
        );
    }
    let mut builder = Sandbox::builder()
        .limits(Limits {
            header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        })
        .listen(args.listen)
        .token_lifetime(Duration::from_secs(args.token_lifetime_secs))
        .iot_region(args.iot_region)
        .clients(vec![SandboxClient {
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
            users: vec![(args.username.clone(), args.password.clone())],
        }]);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        builder = builder.tls(TlsIdentity {
            cert_chain_pem: read_pem(&cert, "--tls-cert")?,
            private_key_pem: read_pem(&key, "--tls-key")?,
        });
    }
    for host in &args.hosts {
        builder = builder.host(host.clone());
    }
    if let Some(broker) = args.iot_broker {
        builder = builder.iot_gateway_upstream(broker);
    } else if args.iot_gateway {
        builder = builder.iot_gateway();
    }
    if args.fault_proxy {
        builder = builder.fault_proxy();
    }
    let sandbox = builder.start().await?;
    // SIGINT (Ctrl-C) or SIGTERM (`kill`, service managers, CI runners): a clean stop, exit 0.
    // Listened for before the first line is printed: a parent that signals as soon as it reads
    // it must not kill the process by the default action.
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    // These are sandbox-only credentials, printed so that a user can copy them.
    say!("agora-link-sandbox listening on {}", sandbox.base_url());
    say!("  AGORA_LINK_ENDPOINT={}", sandbox.base_url());
    say!("  AGORA_LINK_CLIENT_ID={}", args.client_id);
    say!("  AGORA_LINK_CLIENT_SECRET={}", args.client_secret);
    say!("  AGORA_LINK_USERNAME={}", args.username);
    say!("  AGORA_LINK_PASSWORD={}", args.password);
    if let Some(endpoint) = sandbox.iot_endpoint() {
        say!("  iot gateway on {endpoint}");
    }
    for host in sandbox.hosts() {
        if let Some(address) = sandbox.host_address(&host) {
            say!("  host {host} on {address}");
        }
    }
    #[cfg(unix)]
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    tracing::info!("stopping");
    sandbox.shutdown();
    Ok(())
}

/// Reads a PEM file named by `option`; the error names the option and the file.
fn read_pem(path: &std::path::Path, option: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("{option} {}: {error}", path.display()),
        )
    })
}
