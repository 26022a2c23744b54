//! Load test of the provisioning service on SQLite, from loopback, bounded in time, next to a bare
//! axum hello-world measured in the same run.
//!
//! `cargo run --release -p agora-link-provisioning --example bench_load -- [seconds per phase, default 3] [connections, default 32] [database: a postgres:// URL, default a temporary SQLite file]`
//!
//! Phases: new activations (closed loop, `connections` in flight), repeated activations of one
//! project (closed loop), new activations at a fixed 1,000 requests/s (open loop: latency counted
//! from the scheduled send time), and the hello-world server (closed loop).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{signed_body, ApiCredential, Verifier};
use agora_link_provisioning::store::Store;

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

fn activation(project: i64) -> (String, Vec<u8>) {
    let path = "/customers/load/projects/new".to_owned();
    let body = signed_body(
        KEY,
        SECRET,
        "POST",
        &path,
        &serde_json::json!({"projectId": project}),
    );
    (path, body)
}

struct Stats {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Stats {
    fn print(&mut self, name: &str) -> f64 {
        self.latencies.sort();
        let pick = |q: f64| {
            let n = self.latencies.len();
            if n == 0 {
                return 0.0;
            }
            self.latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1000.0
        };
        let rate = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "  {name:<44} {rate:8.0} req/s  p50 {:6.2} ms  p99 {:6.2} ms  p99.9 {:6.2} ms  errors {}",
            pick(0.5),
            pick(0.99),
            pick(0.999),
            self.errors
        );
        rate
    }
}

async fn send(http: &reqwest::Client, url: &str, body: Vec<u8>) -> bool {
    match http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// `connections` workers, each sending as fast as answers come, for `duration`.
async fn closed_loop(
    http: &reqwest::Client,
    base: &str,
    connections: usize,
    duration: Duration,
    next_body: Arc<dyn Fn() -> (String, Vec<u8>) + Send + Sync>,
) -> Stats {
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (http, base, next_body) = (http.clone(), base.to_owned(), next_body.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while started.elapsed() < duration {
                let (path, body) = next_body();
                let sent = Instant::now();
                if send(&http, &format!("{base}{path}"), body).await {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut stats = Stats {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        let (latencies, errors) = worker.await.unwrap();
        stats.latencies.extend(latencies);
        stats.errors += errors;
    }
    stats.elapsed = started.elapsed();
    stats
}

/// Requests sent at `rate` per second for `duration`, latency from the scheduled send time.
async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    rate: u64,
    duration: Duration,
    counter: Arc<AtomicI64>,
) -> Stats {
    let started = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let total = (duration.as_secs_f64() * rate as f64) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, base) = (http.clone(), base.to_owned());
        let (path, body) = activation(counter.fetch_add(1, Ordering::Relaxed));
        tasks.push(tokio::spawn(async move {
            let ok = send(&http, &format!("{base}{path}"), body).await;
            (ok, scheduled.elapsed())
        }));
    }
    let mut stats = Stats {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (ok, latency) = task.await.unwrap();
        if ok {
            stats.latencies.push(latency);
        } else {
            stats.errors += 1;
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let database = args.next();
    let duration = Duration::from_secs(seconds.max(1));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = std::env::temp_dir().join(format!("bench-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (store, backend) = match &database {
        Some(url) => (
            Store::open(url, MasterKey::new(&[3u8; 32]).unwrap())
                .await
                .expect("the database"),
            "PostgreSQL",
        ),
        None => (
            Store::open_sqlite(
                &dir.join("grants.sqlite3"),
                MasterKey::new(&[3u8; 32]).unwrap(),
            )
            .unwrap(),
            "SQLite (WAL, synchronous=FULL)",
        ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::new(vec![ApiCredential {
        api_key: KEY.into(),
        api_secret: SECRET.into(),
    }]);
    let router = server::router(
        ServerConfig {
            verifier,
            public_url: base.clone(),
        },
        store,
    );
    tokio::spawn(server::serve(
        listener,
        router,
        server::Limits::default(),
        std::future::pending(),
    ));

    let hello = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hello_base = format!("http://{}", hello.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "hello" });
        axum::serve(hello, app).await
    });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let counter = Arc::new(AtomicI64::new(1));
    println!("bench_load: {seconds} s per phase, {connections} connections, {backend}, loopback");
    let new = {
        let counter = counter.clone();
        Arc::new(move || activation(counter.fetch_add(1, Ordering::Relaxed)))
    };
    let new_rate = closed_loop(&http, &base, connections, duration, new)
        .await
        .print("new activations (closed loop)");
    let repeated = Arc::new(|| activation(i64::MAX));
    let _ = send(
        &http,
        &format!("{base}/customers/load/projects/new"),
        activation(i64::MAX).1,
    )
    .await;
    closed_loop(&http, &base, connections, duration, repeated)
        .await
        .print("repeated activations (closed loop)");
    open_loop(&http, &base, 1000, duration, counter.clone())
        .await
        .print("new activations at 1,000 req/s (open loop)");
    let hello_rate = closed_loop(
        &http,
        &hello_base,
        connections,
        duration,
        Arc::new(|| ("/".to_owned(), Vec::new())),
    )
    .await
    .print("bare axum hello-world (closed loop)");
    println!(
        "  new activations / hello-world: {:.2}",
        new_rate / hello_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
}
