//! `agora-link-provisioning`: the provisioning service and its admin commands.

use std::net::SocketAddr;

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{ApiCredential, Verifier};
use agora_link_provisioning::store::Store;
use clap::{Parser, Subcommand};

/// The provider side of Agora's extension marketplace service-activation API.
#[derive(Parser, Debug)]
#[command(name = "agora-link-provisioning", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PROVISIONING_LISTEN", default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// The SQLite database file (created and migrated on start).
        #[arg(
            long,
            env = "PROVISIONING_DATABASE",
            default_value = "provisioning.sqlite3"
        )]
        database: String,
        /// An apiKey Agora sends (repeatable, paired in order with --api-secret).
        #[arg(long = "api-key")]
        api_keys: Vec<String>,
        /// The secret of the --api-key at the same position.
        #[arg(long = "api-secret")]
        api_secrets: Vec<String>,
        /// The public base URL of this service, for `licenseUrl`.
        #[arg(
            long,
            env = "PROVISIONING_PUBLIC_URL",
            default_value = "http://127.0.0.1:8090"
        )]
        public_url: String,
        /// Require the HMAC-SHA256 scheme with a timestamp (refuse Agora's HMAC-SHA1 one).
        #[arg(long)]
        require_v2: bool,
    },
    /// Play Agora's side against a provider server (yours or this one) and report whether its
    /// answers are consistent: signed calls, 500 ms timeout, up to three calls, duplicates in
    /// flight. Exit code 0 when consistent, 1 when not.
    Simulate {
        /// The provider's base URL.
        #[arg(long)]
        url: String,
        /// The apiKey to send.
        #[arg(long, env = "PROVISIONING_API_KEY")]
        api_key: String,
        /// Its secret.
        #[arg(long, env = "PROVISIONING_API_SECRET", hide_env_values = true)]
        api_secret: String,
        /// The customer id to use (default: a fresh one).
        #[arg(long)]
        customer_id: Option<String>,
        /// The project id to activate.
        #[arg(long, default_value_t = 430892)]
        project_id: i64,
        /// Agora's timeout per call, ms.
        #[arg(long, default_value_t = 500)]
        timeout_ms: u64,
    },
    /// List the customers in the database with their project counts (admin).
    Customers {
        /// The database (SQLite file or PostgreSQL URL).
        #[arg(
            long,
            env = "PROVISIONING_DATABASE",
            default_value = "provisioning.sqlite3"
        )]
        database: String,
    },
    /// List the grants (customer, project, appKey, state) in the database (admin).
    Grants {
        /// The SQLite database file.
        #[arg(
            long,
            env = "PROVISIONING_DATABASE",
            default_value = "provisioning.sqlite3"
        )]
        database: String,
    },
}

fn master_key() -> Result<MasterKey, String> {
    let material = std::env::var("PROVISIONING_MASTER_KEY").map_err(|_| {
        format!(
            "set PROVISIONING_MASTER_KEY (at least 32 bytes; a fresh one: {})",
            MasterKey::generate()
        )
    })?;
    MasterKey::new(material.as_bytes())
}

fn credentials(keys: Vec<String>, secrets: Vec<String>) -> Result<Vec<ApiCredential>, String> {
    let mut pairs: Vec<ApiCredential> = keys
        .into_iter()
        .zip(secrets)
        .map(|(api_key, api_secret)| ApiCredential {
            api_key,
            api_secret,
        })
        .collect();
    if let Ok(list) = std::env::var("PROVISIONING_API_KEYS") {
        for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, secret) = pair
                .split_once(':')
                .ok_or("PROVISIONING_API_KEYS must be key1:secret1,key2:secret2")?;
            pairs.push(ApiCredential {
                api_key: key.trim().to_owned(),
                api_secret: secret.trim().to_owned(),
            });
        }
    }
    if pairs.is_empty() {
        return Err("no API key: use --api-key/--api-secret or PROVISIONING_API_KEYS".into());
    }
    Ok(pairs)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .json()
        .init();
    let result = run(Cli::parse()).await;
    if let Err(error) = result {
        eprintln!("agora-link-provisioning: {error}");
        std::process::exit(2);
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            listen,
            database,
            api_keys,
            api_secrets,
            public_url,
            require_v2,
        } => {
            if api_keys.len() != api_secrets.len() {
                return Err("each --api-key needs an --api-secret".into());
            }
            let verifier =
                Verifier::new(credentials(api_keys, api_secrets)?).require_v2(require_v2);
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            println!("agora-link-provisioning listening on http://{address}");
            let router = server::router(
                ServerConfig {
                    verifier,
                    public_url,
                },
                store,
            );
            // Ctrl-C or SIGTERM: stop accepting, finish the requests in flight, then exit.
            server::serve(listener, router, async {
                #[cfg(unix)]
                {
                    let mut terminate =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = terminate.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            })
            .await
            .map_err(|e| e.to_string())
        }
        Command::Simulate {
            url,
            api_key,
            api_secret,
            customer_id,
            project_id,
            timeout_ms,
        } => {
            let report = agora_link_provisioning::simulate::simulate(
                agora_link_provisioning::simulate::SimulateOptions {
                    url,
                    api_key,
                    api_secret,
                    customer_id: customer_id
                        .unwrap_or_else(|| format!("sim-{}", uuid::Uuid::new_v4().simple())),
                    project_id,
                    timeout: std::time::Duration::from_millis(timeout_ms),
                },
            )
            .await;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            if !report.consistent {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Customers { database } => {
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            for customer in store.list_customers().await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{} projects\t{} active",
                    customer.customer_id,
                    customer.plan_id.as_deref().unwrap_or("-"),
                    if customer.active {
                        "active"
                    } else {
                        "deactivated"
                    },
                    customer.projects,
                    customer.active_projects
                );
            }
            Ok(())
        }
        Command::Grants { database } => {
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            for grant in store.list_grants().await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}",
                    grant.customer_id,
                    grant.project_id,
                    grant.app_key,
                    if grant.active {
                        "active"
                    } else {
                        "deactivated"
                    }
                );
            }
            Ok(())
        }
    }
}
