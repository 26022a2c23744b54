//! `agora-link`: the Agora Link REST API from the command line.
//!
//! Exit codes: 0 success, 1 internal error, 2 usage or configuration error, 3 network error
//! (DNS, connect, TLS, timeout), 4 authentication error, 5 API error (the server refused),
//! 6 undecodable response.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agora_link_cli::output;

use agora_link::{
    Client, ClientConfig, Error, ErrorKind, OpenPackageRequest, Region, SecretString,
};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

/// Command-line client for the Agora Link (声网灵隼) REST API.
#[derive(Parser, Debug)]
#[command(name = "agora-link", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct GlobalOptions {
    /// Region: cn (api.sd-rtn.com, the default) or na (api.agora.io). For `iot presign`: the
    /// AWS region (default: read from the endpoint).
    #[arg(long, global = true, env = "AGORA_LINK_REGION")]
    region: Option<String>,
    /// Whether `--region` came from the command line rather than `AGORA_LINK_REGION` (set after
    /// parsing; the REST region variable must not choose an AWS signing region).
    #[arg(skip)]
    region_on_command_line: bool,
    /// Base URL replacing scheme and host (the /agoralink/<cn|na>/api path is still appended).
    /// For `iot presign`: the AWS IoT endpoint.
    #[arg(long, global = true, env = "AGORA_LINK_ENDPOINT")]
    endpoint: Option<String>,
    /// Client id.
    #[arg(long, global = true, env = "AGORA_LINK_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret.
    #[arg(
        long,
        global = true,
        env = "AGORA_LINK_CLIENT_SECRET",
        hide_env_values = true
    )]
    client_secret: Option<String>,
    /// User name of the password grant (without it, the client-credentials grant is used).
    #[arg(long, global = true, env = "AGORA_LINK_USERNAME")]
    username: Option<String>,
    /// Password of the password grant.
    #[arg(
        long,
        global = true,
        env = "AGORA_LINK_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Extra trusted root certificates (PEM file).
    #[arg(long, global = true, value_name = "PEM_FILE")]
    ca_cert: Option<PathBuf>,
    /// Send connections for HOST to IP:PORT (repeatable), like curl --resolve.
    #[arg(long, global = true, value_name = "HOST=IP:PORT", value_parser = parse_resolve)]
    resolve: Vec<(String, SocketAddr)>,
    /// Use this HTTP proxy (http://[user:password@]host:port, https://..., or host:port), like
    /// curl --proxy; HTTPS goes through CONNECT. Default: https_proxy / HTTPS_PROXY, then
    /// all_proxy / ALL_PROXY, with no_proxy / NO_PROXY. Loopback hosts never use a proxy.
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    proxy: Option<String>,
    /// Hosts to reach without the proxy, like curl --noproxy: comma-separated names (matching
    /// their subdomains), IP addresses, CIDR ranges, or '*' for no proxy at all.
    #[arg(long, global = true, value_name = "LIST")]
    noproxy: Option<String>,
    /// Request timeout in seconds.
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    /// Overall deadline of one call in seconds, whatever the domain-switching plan.
    #[arg(long, global = true, default_value_t = 30)]
    deadline: u64,
    /// Turn domain switching off: one attempt on the primary host.
    #[arg(long, global = true)]
    no_failover: bool,
    /// Regional hosts to try after the primaries (repeatable; replaces the adjacent-region hosts).
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    regional_host: Vec<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Show secrets (tokens, keys) instead of masking them.
    #[arg(long, global = true)]
    show_secrets: bool,
    /// Run the command against an embedded sandbox (a fresh one per invocation).
    #[arg(long, global = true)]
    sandbox: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Get a REST token with the configured grant.
    Token,
    /// Cloud-storage packages.
    #[command(subcommand)]
    Packages(PackagesCommand),
    /// Third-party accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// AWS IoT: presigned MQTT-over-WebSocket URLs.
    #[command(subcommand)]
    Iot(IotCommand),
}

#[derive(Subcommand, Debug)]
enum IotCommand {
    /// Print `wss://<endpoint>/mqtt?X-Amz-...` presigned with these credentials (SigV4, service
    /// iotdevicegateway, session token appended unsigned). Uses --endpoint and --region.
    Presign {
        /// The access key id (gyToken.proof.accessKeyId).
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: String,
        /// The secret access key (gyToken.proof.secretKey).
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
        secret_access_key: String,
        /// The session token of temporary credentials (gyToken.proof.sessionToken).
        #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
        session_token: Option<String>,
        /// Sign at this time (RFC 3339, e.g. 2026-11-24T08:00:00Z) instead of now: the same
        /// inputs then give the same URL.
        #[arg(long, value_parser = parse_rfc3339)]
        time: Option<std::time::SystemTime>,
    },
}

/// Any RFC 3339 time: `2026-11-24T08:00:00Z`, `2026-11-24T16:00:00+08:00`, fractions allowed;
/// from 1970 to the end of 9999 in UTC (a SigV4 date has four digits, and its clock starts at
/// the Unix epoch).
fn parse_rfc3339(value: &str) -> Result<std::time::SystemTime, String> {
    let time =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
            .map(std::time::SystemTime::from)
            .map_err(|e| format!("{value:?} is not an RFC 3339 time: {e}"))?;
    if time < std::time::UNIX_EPOCH || output::rfc3339(time).is_none() {
        return Err(format!(
            "{value:?} is outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
        ));
    }
    Ok(time)
}

/// The AWS region of `iot presign`: `--region` given on the command line (not the REST region
/// of `AGORA_LINK_REGION`), else the one in the endpoint's name; case-insensitive, and refused
/// unless it has the form of an AWS region (`cn-north-1`, `us-east-1`, `us-gov-west-1`).
fn aws_region(from_command_line: Option<&str>, endpoint: &str) -> Result<String, Failure> {
    let region = match from_command_line {
        Some(region) => region.trim().to_ascii_lowercase(),
        None => agora_link::iot::sigv4::region_from_endpoint(&endpoint.to_ascii_lowercase())
            .map(str::to_owned)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--region is required: none can be read from the endpoint {endpoint:?}"
                ))
            })?,
    };
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts
            .first()
            .is_some_and(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if well_formed {
        Ok(region)
    } else {
        Err(Failure::usage(format!(
            "{region:?} is not an AWS region (such as cn-north-1 or us-east-1)"
        )))
    }
}

#[derive(Subcommand, Debug)]
enum PackagesCommand {
    /// List every package (getAll).
    List,
    /// Get one package by id (getById).
    Get {
        /// The package id.
        id: i64,
    },
    /// Open (buy) a package. Never retried once sent.
    Open {
        /// Agora App ID.
        #[arg(long)]
        app_id: String,
        /// User id.
        #[arg(long)]
        user_id: String,
        /// Device id.
        #[arg(long)]
        device_id: String,
        /// Your payment order id.
        #[arg(long)]
        payment_order_id: String,
        /// The package id.
        #[arg(long)]
        package_id: i64,
        /// How many packages to open.
        #[arg(long)]
        order_number: i64,
    },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Register a third-party account.
    Register {
        /// Agora project id.
        #[arg(long)]
        project_id: String,
        /// The third-party account name.
        #[arg(long)]
        account: String,
    },
    /// Log a third-party account in and print its IoT credentials.
    Login {
        /// Agora project id.
        #[arg(long)]
        project_id: String,
        /// The third-party account name.
        #[arg(long)]
        account: String,
        /// The account token returned by register (with --sandbox: optional, the account is
        /// registered in the fresh sandbox first).
        #[arg(long, env = "AGORA_LINK_ACCOUNT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Also print `mqttUrl`: a presigned MQTT-over-WebSocket URL made with the new
        /// credentials (a secret: masked unless --show-secrets).
        #[arg(long)]
        mqtt_url: bool,
    },
    /// Remove a third-party account.
    Remove {
        /// Agora project id.
        #[arg(long)]
        project_id: String,
        /// The third-party account name.
        #[arg(long)]
        account: String,
        /// The account token returned by register (with --sandbox: optional, as for login).
        #[arg(long, env = "AGORA_LINK_ACCOUNT_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn parse_resolve(value: &str) -> Result<(String, SocketAddr), String> {
    let (host, address) = value
        .split_once('=')
        .ok_or_else(|| format!("expected HOST=IP:PORT, got {value:?}"))?;
    if host.trim().is_empty() {
        return Err(format!("expected HOST=IP:PORT, got {value:?}"));
    }
    let address = address
        .parse::<SocketAddr>()
        .map_err(|e| format!("{address:?} is not IP:PORT: {e}"))?;
    Ok((host.trim().to_owned(), address))
}

/// Exit codes, documented in the crate docs and the README.
mod exit {
    pub const INTERNAL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NETWORK: u8 = 3;
    pub const AUTH: u8 = 4;
    pub const API: u8 = 5;
    pub const DECODE: u8 = 6;
}

/// A failure of the CLI: what to print and which exit code to use.
struct Failure {
    code: u8,
    body: Value,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code: exit::USAGE,
            body: json!({"kind": "usage", "message": message}),
            message,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let (code, kind) = match error.kind() {
            ErrorKind::Config | ErrorKind::InvalidArgument => (exit::USAGE, "usage"),
            ErrorKind::Network => (exit::NETWORK, "network"),
            ErrorKind::Timeout => (exit::NETWORK, "timeout"),
            ErrorKind::Tls => (exit::NETWORK, "tls"),
            ErrorKind::Auth => (exit::AUTH, "auth"),
            ErrorKind::Api => (exit::API, "api"),
            ErrorKind::Decode => (exit::DECODE, "decode"),
            _ => (exit::INTERNAL, "internal"),
        };
        let api = error.api_error();
        Self {
            code,
            body: json!({
                "kind": kind,
                "message": error.to_string(),
                "code": api.map(|a| a.code),
                "msg": api.map(|a| a.msg.clone()),
                "httpStatus": error.http_status(),
                "traceId": error.trace_id(),
                "attempts": error
                    .attempts()
                    .iter()
                    .map(|a| json!({"host": a.host, "failure": a.failure.to_string()}))
                    .collect::<Vec<_>>(),
            }),
            message: error.to_string(),
        }
    }
}

/// Whether `--json` is among the arguments (before a `--`), for errors found before parsing
/// finished.
fn json_requested() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json")
}

/// Colour in log lines only on a terminal, and never with `NO_COLOR` set (https://no-color.org).
fn log_colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
        && !matches!(std::env::var_os("NO_COLOR"), Some(v) if !v.is_empty())
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command().try_get_matches().and_then(|matches| {
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.global.region_on_command_line =
            matches.value_source("region") == Some(clap::parser::ValueSource::CommandLine);
        Ok(cli)
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() && json_requested() => {
            // With --json, a usage error is JSON on stderr too, in the shape of every other error.
            let message = error.render().to_string();
            let message = message.trim_end().trim_start_matches("error: ");
            output::print_error_json(&json!({"error": {
                "kind": "usage",
                "message": message,
                "code": null,
                "msg": null,
                "httpStatus": null,
                "traceId": null,
                "attempts": [],
            }}));
            return ExitCode::from(exit::USAGE);
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGORA_LINK_LOG")
                .unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colour())
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::print_error(&format!("error: cannot start the async runtime: {error}"));
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let json_output = cli.global.json;
    let show_secrets = cli.global.show_secrets;
    match runtime.block_on(run(cli)) {
        Ok(value) => match output::print(&value, json_output, show_secrets) {
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`| head`): exit quietly with the status a shell shows for a
            // program ended by SIGPIPE, which Rust programs ignore.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
            Err(error) => {
                output::print_error(&format!("error: cannot write the result: {error}"));
                ExitCode::from(exit::INTERNAL)
            }
        },
        Err(failure) => {
            if json_output {
                output::print_error_json(&json!({"error": failure.body}));
            } else {
                output::print_error(&format!("error: {}", failure.message));
            }
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<Value, Failure> {
    let global = cli.global;
    if let Command::Iot(IotCommand::Presign {
        access_key_id,
        secret_access_key,
        session_token,
        time,
    }) = &cli.command
    {
        return presign(
            &global,
            access_key_id,
            secret_access_key,
            session_token.as_deref(),
            *time,
        );
    }
    // The embedded sandbox lives until the command is done.
    let sandbox = if global.sandbox {
        Some(
            agora_link_sandbox::Sandbox::builder()
                .start()
                .await
                .map_err(|e| Failure {
                    code: exit::INTERNAL,
                    body: json!({"kind": "internal", "message": e.to_string()}),
                    message: format!("cannot start the embedded sandbox: {e}"),
                })?,
        )
    } else {
        None
    };
    let client = build_client(&global, sandbox.as_ref())?;
    let to_value = |value: Result<Value, serde_json::Error>| {
        value.map_err(|e| Failure {
            code: exit::INTERNAL,
            body: json!({"kind": "internal", "message": e.to_string()}),
            message: e.to_string(),
        })
    };
    match cli.command {
        Command::Token => to_value(serde_json::to_value(client.access_token().await?)),
        Command::Packages(PackagesCommand::List) => {
            to_value(serde_json::to_value(client.list_packages().await?))
        }
        Command::Packages(PackagesCommand::Get { id }) => {
            to_value(serde_json::to_value(client.get_package(id).await?))
        }
        Command::Packages(PackagesCommand::Open {
            app_id,
            user_id,
            device_id,
            payment_order_id,
            package_id,
            order_number,
        }) => {
            let order_id = client
                .open_package(&OpenPackageRequest {
                    app_id,
                    user_id,
                    device_id,
                    payment_order_id,
                    cloud_record_package_id: package_id,
                    order_number,
                })
                .await?;
            Ok(json!({"orderId": order_id}))
        }
        Command::Account(AccountCommand::Register {
            project_id,
            account,
        }) => to_value(serde_json::to_value(
            client.register_account(&project_id, &account).await?,
        )),
        Command::Account(AccountCommand::Login {
            project_id,
            account,
            token,
            mqtt_url,
        }) => {
            let token =
                account_token(&client, sandbox.is_some(), &project_id, &account, token).await?;
            let login = client.login_account(&project_id, &account, &token).await?;
            let mut value = to_value(serde_json::to_value(&login))?;
            if mqtt_url {
                let url = login.gy_token.mqtt_url(client.clock().now())?;
                value["mqttUrl"] = Value::String(url.expose().to_owned());
            }
            Ok(value)
        }
        Command::Iot(_) => Err(Failure::usage("unreachable: handled above")),
        Command::Account(AccountCommand::Remove {
            project_id,
            account,
            token,
        }) => {
            let token =
                account_token(&client, sandbox.is_some(), &project_id, &account, token).await?;
            client.remove_account(&project_id, &account, &token).await?;
            Ok(json!({"removed": true, "projectId": project_id, "thirdPartyAccount": account}))
        }
    }
}

/// `iot presign`: no client, no network.
fn presign(
    global: &GlobalOptions,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
    time: Option<std::time::SystemTime>,
) -> Result<Value, Failure> {
    let endpoint = global
        .endpoint
        .as_deref()
        .ok_or_else(|| Failure::usage("--endpoint (the AWS IoT endpoint) is required"))?;
    let region_arg = global
        .region_on_command_line
        .then_some(global.region.as_deref())
        .flatten();
    let region = aws_region(region_arg, endpoint)?;
    let credentials = agora_link::AwsProof {
        access_key_id: access_key_id.to_owned(),
        secret_key: secret_access_key.into(),
        session_token: session_token.unwrap_or_default().into(),
        session_expiration: std::time::UNIX_EPOCH,
    };
    let time = time.unwrap_or_else(std::time::SystemTime::now);
    let url = agora_link::iot::presign_mqtt_url(endpoint, &region, &credentials, time)?;
    Ok(json!({"url": url.expose(), "region": region, "signedAt": output::rfc3339(time)}))
}

/// The account token: as given, or (with `--sandbox` and none given) from a registration in
/// the fresh sandbox.
async fn account_token(
    client: &Client,
    sandbox: bool,
    project_id: &str,
    account: &str,
    token: Option<String>,
) -> Result<SecretString, Failure> {
    match token {
        Some(token) => Ok(SecretString::new(token)),
        None if sandbox => Ok(client.register_account(project_id, account).await?.token),
        None => Err(Failure::usage(
            "--token is required (the token returned by `account register`)",
        )),
    }
}

fn build_client(
    global: &GlobalOptions,
    sandbox: Option<&agora_link_sandbox::Sandbox>,
) -> Result<Client, Failure> {
    let region: Region = global.region.as_deref().unwrap_or("cn").parse()?;
    let (client_id, client_secret, endpoint, username, password) = match sandbox {
        Some(sandbox) => (
            global
                .client_id
                .clone()
                .unwrap_or_else(|| agora_link_sandbox::DEFAULT_CLIENT_ID.into()),
            global
                .client_secret
                .clone()
                .unwrap_or_else(|| agora_link_sandbox::DEFAULT_CLIENT_SECRET.into()),
            Some(sandbox.base_url()),
            global
                .username
                .clone()
                .or_else(|| Some(agora_link_sandbox::DEFAULT_USERNAME.into())),
            global
                .password
                .clone()
                .or_else(|| Some(agora_link_sandbox::DEFAULT_PASSWORD.into())),
        ),
        None => (
            global.client_id.clone().ok_or_else(|| {
                Failure::usage("--client-id (or AGORA_LINK_CLIENT_ID) is required")
            })?,
            global.client_secret.clone().ok_or_else(|| {
                Failure::usage("--client-secret (or AGORA_LINK_CLIENT_SECRET) is required")
            })?,
            global.endpoint.clone(),
            global.username.clone(),
            global.password.clone(),
        ),
    };
    let mut failover = if global.no_failover {
        agora_link::FailoverPolicy::disabled()
    } else {
        agora_link::FailoverPolicy::default()
    };
    failover.call_deadline = Duration::from_secs(global.deadline.max(1));
    if !global.regional_host.is_empty() {
        failover.regional = agora_link::RegionalFallback::Hosts(global.regional_host.clone());
    }
    let mut builder = ClientConfig::builder(region, client_id, client_secret)
        .request_timeout(Duration::from_secs(global.timeout.max(1)))
        .failover(failover);
    match (username, password) {
        (Some(username), Some(password)) => builder = builder.password_grant(username, password),
        (None, None) => {}
        _ => return Err(Failure::usage("--username and --password go together")),
    }
    if let Some(endpoint) = endpoint {
        builder = builder.base_url(endpoint);
    }
    if let Some(path) = &global.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::usage(format!("cannot read --ca-cert {}: {e}", path.display()))
        })?;
        builder = builder.add_root_certificates_pem(pem);
    }
    for (host, address) in &global.resolve {
        builder = builder.resolve(host.clone(), *address);
    }
    if let Some(proxy) = &global.proxy {
        builder = builder.proxy(proxy.as_str());
    }
    match global.noproxy.as_deref().map(str::trim) {
        Some("*") => builder = builder.disable_proxy(),
        Some(list) => builder = builder.no_proxy(list),
        None => {}
    }
    Ok(Client::new(builder.build()?)?)
}
