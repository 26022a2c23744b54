//! Benchmark helper: N third-party logins through `agora_link::Client` at a given concurrency,
//! against a sandbox that is already running (its base URL), the way a Rust program on tokio's
//! default multi-thread runtime makes them. `bindings/python/bench/bench_login.py` runs it
//! against the same sandbox process as the Python binding, to compare the two.
//!
//! `cargo run --release --example bench_login_sdk -- BASE_URL [logins, default 4000] [concurrency, default 64]`
//!
//! Registers its own account, warms up with 200 logins, then prints one line of JSON:
//! `{"logins": N, "concurrency": C, "seconds": S, "calls_per_s": R}` (only the timed logins).

use std::sync::Arc;
use std::time::Instant;

use agora_link::{Client, ClientConfig, Region, SecretString};
use agora_link_sandbox::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

const PROJECT: &str = "bench";

async fn logins(
    client: &Client,
    account: &str,
    token: &Arc<SecretString>,
    total: usize,
    concurrency: usize,
) {
    let per_task = (total / concurrency.max(1)).max(1);
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, account, token) = (client.clone(), account.to_owned(), token.clone());
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let login = client
                        .login_account(PROJECT, &account, &token)
                        .await
                        .expect("login");
                    assert!(!login.gy_token.pool.identity_id.is_empty());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a login task");
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(base) = args.next() else {
        eprintln!("usage: bench_login_sdk BASE_URL [logins] [concurrency]");
        std::process::exit(2);
    };
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let concurrency: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(64)
        .max(1);
    let config = ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
        .base_url(&base)
        .build()
        .expect("config");
    let client = Client::new(config).expect("client");
    let account = format!("bench-rs-{}", uuid::Uuid::new_v4().simple());
    let registered = client
        .register_account(PROJECT, &account)
        .await
        .expect("register");
    let token = Arc::new(registered.token.clone());
    logins(&client, &account, &token, 200, concurrency.min(200)).await;
    let started = Instant::now();
    logins(&client, &account, &token, total, concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    let done = (total / concurrency).max(1) * concurrency;
    println!(
        "{{\"logins\": {done}, \"concurrency\": {concurrency}, \"seconds\": {seconds:.4}, \"calls_per_s\": {:.1}}}",
        done as f64 / seconds
    );
}
