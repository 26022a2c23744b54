//! `agora-link-provisioning`: the provisioning service and its admin commands.

/// Writes a line on stdout; `false` when stdout is closed (a reader such as `| head` went away),
/// where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say_line(format_args!($($arg)*))
    };
}

/// The header rows of the admin listings (tab-separated, like their rows).
const CUSTOMERS_HEADER: &str = "customer\tplan\tstate\tprojects\tactive_projects";
const GRANTS_HEADER: &str = "customer\tproject\tapp_key\tstate";

fn say_line(line: std::fmt::Arguments<'_>) -> bool {
    use std::io::Write as _;
    writeln!(std::io::stdout(), "{line}").is_ok()
}

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
    /// Serve the API. Settings: flags, then environment variables, then the --config file, then
    /// the defaults.
    Serve {
        /// A JSON configuration file: `{"listen", "database", "publicUrl", "requireV2",
        /// "apiKeys": [{"apiKey", "apiSecret"}], "limits": {"headerReadTimeoutMs",
        /// "bodyReadTimeoutMs", "idleTimeoutMs", "maxConnections"}}` (the master key stays in the
        /// environment).
        #[arg(long, env = "PROVISIONING_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Address to listen on (default 127.0.0.1:8090).
        #[arg(long, env = "PROVISIONING_LISTEN")]
        listen: Option<SocketAddr>,
        /// The database: a SQLite file (created and migrated on start; default
        /// provisioning.sqlite3), or a `postgres://user@host:port/database` URL for several nodes.
        #[arg(long, env = "PROVISIONING_DATABASE")]
        database: Option<String>,
        /// An apiKey Agora sends (repeatable, paired in order with --api-secret).
        #[arg(long = "api-key")]
        api_keys: Vec<String>,
        /// The secret of the --api-key at the same position.
        #[arg(long = "api-secret")]
        api_secrets: Vec<String>,
        /// The public base URL of this service, for `licenseUrl` (default http://<listen>).
        #[arg(long, env = "PROVISIONING_PUBLIC_URL")]
        public_url: Option<String>,
        /// Require the HMAC-SHA256 scheme with a timestamp (refuse Agora's HMAC-SHA1 one).
        #[arg(long)]
        require_v2: bool,
        /// Connection limits (defaults in brackets; see the README's "Limits").
        #[command(flatten)]
        limits: LimitArgs,
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

/// The connection limits of `serve`.
#[derive(clap::Args, Debug, Default)]
struct LimitArgs {
    /// Milliseconds a client has to send a whole request head, from its first byte (or from
    /// connecting, for its first request) [5000].
    #[arg(long, env = "PROVISIONING_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request body, after its head [10000].
    #[arg(long, env = "PROVISIONING_BODY_READ_TIMEOUT_MS")]
    body_read_timeout_ms: Option<u64>,
    /// Milliseconds a keep-alive connection may stay idle between requests [15000].
    #[arg(long, env = "PROVISIONING_IDLE_TIMEOUT_MS")]
    idle_timeout_ms: Option<u64>,
    /// The most connections open at once; never more than the file-descriptor limit less 128
    /// [4096].
    #[arg(long, env = "PROVISIONING_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
}

/// The `--config` file's `"limits"`: the same settings as the flags.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigLimits {
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
}

/// The longest timeout accepted (one hour): longer would in effect turn the limit off.
const MAX_LIMIT_MS: u64 = 3_600_000;

fn limits(args: &LimitArgs, file: &ConfigLimits) -> Result<server::Limits, String> {
    let defaults = server::Limits::default();
    let ms =
        |name: &str, flag: Option<u64>, file: Option<u64>, default: std::time::Duration| match flag
            .or(file)
        {
            None => Ok(default),
            Some(ms @ 1..=MAX_LIMIT_MS) => Ok(std::time::Duration::from_millis(ms)),
            Some(ms) => Err(format!(
                "{name} must be from 1 to {MAX_LIMIT_MS} ms (one hour), not {ms}"
            )),
        };
    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(defaults.max_connections);
    if max_connections == 0 {
        return Err("max-connections must be at least 1".into());
    }
    Ok(server::Limits {
        header_read_timeout: ms(
            "header-read-timeout-ms",
            args.header_read_timeout_ms,
            file.header_read_timeout_ms,
            defaults.header_read_timeout,
        )?,
        body_read_timeout: ms(
            "body-read-timeout-ms",
            args.body_read_timeout_ms,
            file.body_read_timeout_ms,
            defaults.body_read_timeout,
        )?,
        idle_timeout: ms(
            "idle-timeout-ms",
            args.idle_timeout_ms,
            file.idle_timeout_ms,
            defaults.idle_timeout,
        )?,
        max_connections,
    })
}

/// The `--config` file.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    database: Option<String>,
    public_url: Option<String>,
    #[serde(default)]
    require_v2: bool,
    #[serde(default)]
    api_keys: Vec<ConfigKey>,
    #[serde(default)]
    limits: ConfigLimits,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigKey {
    api_key: String,
    api_secret: String,
}

/// The admin commands read a database; a SQLite path that names no file is a mistake (opening it
/// would create an empty database and list nothing).
fn existing(database: &str) -> Result<(), String> {
    let is_url = database.starts_with("postgres://") || database.starts_with("postgresql://");
    if !is_url && !std::path::Path::new(database).exists() {
        return Err(format!("no database at {database}"));
    }
    Ok(())
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
    Ok(pairs)
}

fn main() {
    // SIGTERM/SIGINT unblocked (a parent may have blocked them), then the async main.
    agora_link_server_guard::run_server_main("agora-link-provisioning", async_main());
}

async fn async_main() {
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
            config,
            listen,
            database,
            api_keys,
            api_secrets,
            public_url,
            require_v2,
            limits: limit_args,
        } => {
            if api_keys.len() != api_secrets.len() {
                return Err("each --api-key needs an --api-secret".into());
            }
            let file = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    serde_json::from_str::<ConfigFile>(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => ConfigFile::default(),
            };
            let listen = match listen.or(file.listen) {
                Some(listen) => listen,
                None => SocketAddr::from(([127, 0, 0, 1], 8090)),
            };
            let database = database
                .or(file.database)
                .unwrap_or_else(|| "provisioning.sqlite3".into());
            let require_v2 = require_v2 || file.require_v2;
            let mut pairs = credentials(api_keys, api_secrets)?;
            pairs.extend(file.api_keys.into_iter().map(|k| ApiCredential {
                api_key: k.api_key,
                api_secret: k.api_secret,
            }));
            if pairs.is_empty() {
                return Err(
                    "no API key: use --api-key/--api-secret, PROVISIONING_API_KEYS or the config file"
                        .into(),
                );
            }
            let public_url = public_url.or(file.public_url);
            let limits = limits(&limit_args, &file.limits)?;
            // Connections are bounded by descriptors: use all the hard limit allows.
            if let Some(nofile) = agora_link_server_guard::raise_nofile_limit() {
                tracing::info!(
                    before = nofile.before,
                    after = nofile.after,
                    hard = nofile.hard,
                    "RLIMIT_NOFILE soft limit"
                );
            }
            let verifier = Verifier::new(pairs).require_v2(require_v2);
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            let listener = agora_link_server_guard::bind(listen)
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            say!("agora-link-provisioning listening on http://{address}");
            let public_url = public_url.unwrap_or_else(|| format!("http://{address}"));
            let router = server::router(
                ServerConfig {
                    verifier,
                    public_url,
                },
                store,
            );
            // Ctrl-C or SIGTERM: stop accepting, finish the requests in flight, then exit.
            server::serve(listener, router, limits, async {
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
            say!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            if !report.consistent {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Customers { database } => {
            existing(&database)?;
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            // Stored text is escaped (`\u{202e}`, `\t`, `\\`): an id cannot hide or reorder what an
            // operator reads.
            let shown = agora_link_provisioning::text::escape_for_terminal;
            let customers = store.list_customers().await.map_err(|e| e.to_string())?;
            // A header row first (as `grants`); a closed stdout (`| head`) ends the listing quietly.
            if !say!("{CUSTOMERS_HEADER}") {
                return Ok(());
            }
            for customer in customers {
                let written = say!(
                    "{}\t{}\t{}\t{}\t{}",
                    shown(&customer.customer_id),
                    shown(customer.plan_id.as_deref().unwrap_or("-")),
                    if customer.active {
                        "active"
                    } else {
                        "deactivated"
                    },
                    customer.projects,
                    customer.active_projects
                );
                if !written {
                    break;
                }
            }
            Ok(())
        }
        Command::Grants { database } => {
            existing(&database)?;
            let store = Store::open(&database, master_key()?)
                .await
                .map_err(|e| e.to_string())?;
            let shown = agora_link_provisioning::text::escape_for_terminal;
            let grants = store.list_grants().await.map_err(|e| e.to_string())?;
            if !say!("{GRANTS_HEADER}") {
                return Ok(());
            }
            for grant in grants {
                let written = say!(
                    "{}\t{}\t{}\t{}",
                    shown(&grant.customer_id),
                    grant.project_id,
                    shown(&grant.app_key),
                    if grant.active {
                        "active"
                    } else {
                        "deactivated"
                    }
                );
                if !written {
                    break;
                }
            }
            Ok(())
        }
    }
}
