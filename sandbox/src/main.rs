//! `agora-link-sandbox`: run the Agora Link cloud emulator as a standalone server.

use std::net::SocketAddr;
use std::time::Duration;

use agora_link_sandbox::{Sandbox, SandboxClient, TlsIdentity};
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
    /// Bridge accepted gateway connections to this MQTT broker WebSocket listener (implies
    /// --iot-gateway).
    #[arg(long, value_name = "IP:PORT")]
    iot_broker: Option<SocketAddr>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "agora_link_sandbox=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Err(error) = run(args).await {
        eprintln!("agora-link-sandbox: {error}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut builder = Sandbox::builder()
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
            cert_chain_pem: std::fs::read_to_string(cert)?,
            private_key_pem: std::fs::read_to_string(key)?,
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
    let sandbox = builder.start().await?;
    // These are sandbox-only credentials, printed so that a user can copy them.
    println!("agora-link-sandbox listening on {}", sandbox.base_url());
    println!("  AGORA_LINK_ENDPOINT={}", sandbox.base_url());
    println!("  AGORA_LINK_CLIENT_ID={}", args.client_id);
    println!("  AGORA_LINK_CLIENT_SECRET={}", args.client_secret);
    println!("  AGORA_LINK_USERNAME={}", args.username);
    println!("  AGORA_LINK_PASSWORD={}", args.password);
    if let Some(endpoint) = sandbox.iot_endpoint() {
        println!("  iot gateway on {endpoint}");
    }
    for host in sandbox.hosts() {
        if let Some(address) = sandbox.host_address(&host) {
            println!("  host {host} on {address}");
        }
    }
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown();
    Ok(())
}
