//! Quickstart: token → register an account → log in (IoT credentials) → list packages → open one.
//!
//! `cargo run --example quickstart` starts an embedded sandbox and runs against it. With
//! `AGORA_LINK_ENDPOINT` or `AGORA_LINK_CLIENT_ID` set, it runs against that deployment instead:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `AGORA_LINK_REGION` | `cn` (default) or `na` |
//! | `AGORA_LINK_ENDPOINT` | base URL override (scheme + host) |
//! | `AGORA_LINK_CLIENT_ID`, `AGORA_LINK_CLIENT_SECRET` | your client credentials |
//! | `AGORA_LINK_USERNAME`, `AGORA_LINK_PASSWORD` | password grant (else client credentials) |
//! | `AGORA_LINK_PROJECT_ID`, `AGORA_LINK_ACCOUNT` | the project and account to register |
//! | `AGORA_LINK_APP_ID` | the App ID for `open` |
//! | `AGORA_LINK_QUICKSTART_OPEN=yes` | really open (buy) a package on a non-sandbox endpoint |

use std::time::{SystemTime, UNIX_EPOCH};

use agora_link::{Client, ClientConfig, OpenPackageRequest, Region};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn until(instant: SystemTime) -> String {
    match instant.duration_since(SystemTime::now()) {
        Ok(left) => format!("in {} s", left.as_secs()),
        Err(_) => "already expired".into(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The error's Display form: what failed and why (never a secret).
            eprintln!("quickstart: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let use_sandbox = env("AGORA_LINK_ENDPOINT").is_none() && env("AGORA_LINK_CLIENT_ID").is_none();
    // Settings first, so that a wrong one is named before anything starts.
    let region: Region = env("AGORA_LINK_REGION")
        .unwrap_or_else(|| "cn".into())
        .parse()?;
    // The embedded sandbox lives as long as this binding.
    let sandbox = if use_sandbox {
        let sandbox = agora_link_sandbox::Sandbox::builder().start().await?;
        println!("0. embedded sandbox at {}", sandbox.base_url());
        Some(sandbox)
    } else {
        None
    };
    let mut builder = match &sandbox {
        Some(sandbox) => ClientConfig::builder(
            region,
            agora_link_sandbox::DEFAULT_CLIENT_ID,
            agora_link_sandbox::DEFAULT_CLIENT_SECRET,
        )
        .password_grant(
            agora_link_sandbox::DEFAULT_USERNAME,
            agora_link_sandbox::DEFAULT_PASSWORD,
        )
        .base_url(sandbox.base_url()),
        None => {
            let mut builder = ClientConfig::builder(
                region,
                env("AGORA_LINK_CLIENT_ID").ok_or("AGORA_LINK_CLIENT_ID is not set or empty")?,
                env("AGORA_LINK_CLIENT_SECRET")
                    .ok_or("AGORA_LINK_CLIENT_SECRET is not set or empty")?,
            );
            if let (Some(user), Some(password)) =
                (env("AGORA_LINK_USERNAME"), env("AGORA_LINK_PASSWORD"))
            {
                builder = builder.password_grant(user, password);
            }
            builder
        }
    };
    if let Some(endpoint) = env("AGORA_LINK_ENDPOINT").filter(|_| sandbox.is_none()) {
        builder = builder.base_url(endpoint);
    }
    let client = Client::new(builder.build()?)?;
    println!("   API base: {}", client.config().api_base());

    let token = client.access_token().await?;
    println!(
        "1. REST token {} ({}), expires {}",
        token.access_token.masked(),
        token.token_type,
        until(token.expires_at)
    );

    let project = env("AGORA_LINK_PROJECT_ID").unwrap_or_else(|| "quickstart-project".into());
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let account_name = env("AGORA_LINK_ACCOUNT").unwrap_or_else(|| format!("quickstart-{stamp}"));
    let account = client.register_account(&project, &account_name).await?;
    println!(
        "2. registered {account_name:?} in project {project:?}: userId {}, token {}",
        account.user_id,
        account.token.masked()
    );

    let login = client
        .login_account(&project, &account_name, &account.token)
        .await?;
    let iot = &login.gy_token;
    println!("3. logged in; IoT credentials:");
    println!("     endpoint          {}", iot.endpoint);
    println!("     region            {}", iot.region);
    println!("     MQTT client id    {}", iot.pool.identity_id);
    println!("     identity pool     {}", iot.pool.identity_pool_id);
    // The access key id is an identifier, not a secret (it is in every presigned URL), but
    // output a person reads shows it masked like the secrets; `to_dict()`/JSON carry it whole.
    println!(
        "     access key id     {}",
        agora_link::SecretString::new(iot.proof.access_key_id.as_str()).masked()
    );
    println!("     secret key        {}", iot.proof.secret_key.masked());
    println!(
        "     session token     {}",
        iot.proof.session_token.masked()
    );
    println!(
        "     keys expire       {}",
        until(iot.proof.session_expiration)
    );
    println!(
        "     account token     {} (expires {})",
        login.ls_token.access_token.masked(),
        until(login.ls_token.expires_at)
    );

    let packages = client.list_packages().await?;
    println!("4. {} cloud-storage packages:", packages.len());
    for package in &packages {
        println!(
            "     #{:<3} {} ({}, {})",
            package.cloud_record_package_id,
            package.package_name,
            package.package_type,
            package.life_cycle
        );
    }

    let open_allowed =
        sandbox.is_some() || env("AGORA_LINK_QUICKSTART_OPEN").as_deref() == Some("yes");
    match packages.first() {
        Some(package) if open_allowed => {
            let order_id = client
                .open_package(&OpenPackageRequest {
                    app_id: env("AGORA_LINK_APP_ID").unwrap_or_else(|| "quickstart-app".into()),
                    user_id: account.user_id.clone(),
                    device_id: "quickstart-device".into(),
                    payment_order_id: format!("quickstart-payment-{stamp}"),
                    cloud_record_package_id: package.cloud_record_package_id,
                    order_number: 1,
                })
                .await?;
            println!(
                "5. opened package #{}: order {order_id}",
                package.cloud_record_package_id
            );
        }
        Some(_) => println!(
            "5. skipped opening a package (a purchase): set AGORA_LINK_QUICKSTART_OPEN=yes"
        ),
        None => println!("5. no package to open"),
    }

    client
        .remove_account(&project, &account_name, &account.token)
        .await?;
    println!("6. removed {account_name:?}; done");
    Ok(())
}
