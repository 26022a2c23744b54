//! Benchmark: N third-party logins through `agora_link::Client` and the same HTTP exchange
//! through a bare `reqwest::Client`, against one in-process sandbox, at concurrency 1 and 64.
//! Prints calls/s of both and the ratio (target: SDK ≥ 0.9× bare reqwest).
//!
//! `cargo run --release --example bench_login -- [logins per run, default 4000] [rounds, default 9]`
//!
//! Both sides run in the same process, back to back, for several rounds (which side goes first
//! alternates). The ratio reported is the median of the per-round ratios, which cancels most of
//! the drift of a shared machine; the rates are the medians of each side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_link::{Client, ClientConfig, Region, SecretString};
use agora_link_sandbox::{
    Sandbox, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};
use serde_json::{json, Value};

const PROJECT: &str = "bench-project";
const ACCOUNT: &str = "bench-account";

/// The same exchange the SDK performs, written directly against reqwest: one token request,
/// then logins with `Authorization: Bearer`, each response read and parsed as JSON.
struct BareClient {
    http: reqwest::Client,
    login_url: String,
    bearer: String,
    body: Vec<u8>,
}

impl BareClient {
    async fn new(base: &str, account_token: &str) -> BareClient {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        let api = format!("{base}/agoralink/cn/api");
        let token_body = json!({
            "grant_type": "password", "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD,
            "scope": "read", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
        });
        let response = http
            .post(format!("{api}/oauth/rest-token"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&token_body).unwrap())
            .send()
            .await
            .unwrap();
        let token: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let access = token["data"]["access_token"].as_str().unwrap();
        BareClient {
            http,
            login_url: format!("{api}/oauth/third-party/login"),
            bearer: format!("Bearer {access}"),
            body: serde_json::to_vec(&json!({
                "clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET,
                "projectId": PROJECT, "thirdPartyAccount": ACCOUNT, "token": account_token,
            }))
            .unwrap(),
        }
    }

    async fn login(&self) -> Value {
        let response = self
            .http
            .post(&self.login_url)
            .header("content-type", "application/json")
            .header("authorization", &self.bearer)
            .body(self.body.clone())
            .send()
            .await
            .unwrap();
        let value: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(value["code"], 0, "{value}");
        value
    }
}

async fn timed<F, Fut>(total: usize, concurrency: usize, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = total / concurrency;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_task * concurrency) as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);

    // The sandbox gets its own single-thread runtime; both clients share another.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sandbox = server_runtime.block_on(Sandbox::builder().start()).unwrap();
    let base = sandbox.base_url();
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    client_runtime.block_on(async move {
        let config = ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
            .base_url(&base)
            .build()
            .unwrap();
        let sdk = Client::new(config).unwrap();
        let account = sdk.register_account(PROJECT, ACCOUNT).await.unwrap();
        let token: Arc<SecretString> = Arc::new(account.token.clone());
        let bare = Arc::new(BareClient::new(&base, account.token.expose()).await);

        println!("bench_login: {total} logins per run, median of {rounds} paired rounds, sandbox in-process");
        println!("{:<12} {:>14} {:>14} {:>8}", "concurrency", "SDK calls/s", "reqwest calls/s", "ratio");
        for concurrency in [1usize, 64] {
            // Warm-up: connections, allocator.
            let warm = total.min(200);
            let (s, t) = (sdk.clone(), token.clone());
            timed(warm, concurrency.min(warm), move || {
                let (s, t) = (s.clone(), t.clone());
                async move {
                    s.login_account(PROJECT, ACCOUNT, &t).await.unwrap();
                }
            })
            .await;
            let b = bare.clone();
            timed(warm, concurrency.min(warm), move || {
                let b = b.clone();
                async move {
                    b.login().await;
                }
            })
            .await;

            let (mut sdk_rates, mut bare_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                let run_sdk = || {
                    let (s, t) = (sdk.clone(), token.clone());
                    timed(total, concurrency, move || {
                        let (s, t) = (s.clone(), t.clone());
                        async move {
                            let login = s.login_account(PROJECT, ACCOUNT, &t).await.unwrap();
                            assert!(!login.gy_token.endpoint.is_empty());
                        }
                    })
                };
                let run_bare = || {
                    let b = bare.clone();
                    timed(total, concurrency, move || {
                        let b = b.clone();
                        async move {
                            b.login().await;
                        }
                    })
                };
                let (sdk_rate, bare_rate) = if round % 2 == 0 {
                    let s = run_sdk().await;
                    (s, run_bare().await)
                } else {
                    let b = run_bare().await;
                    (run_sdk().await, b)
                };
                sdk_rates.push(sdk_rate);
                bare_rates.push(bare_rate);
                ratios.push(sdk_rate / bare_rate);
            }
            println!(
                "{:<12} {:>14.0} {:>14.0} {:>7.2}x",
                concurrency,
                median(&mut sdk_rates),
                median(&mut bare_rates),
                median(&mut ratios)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    drop(sandbox);
}
