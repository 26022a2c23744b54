//! Load test of the provisioning service from loopback, bounded in time: SQLite, and PostgreSQL
//! when a server is given, each against baselines measured in the same run.
//!
//! `cargo run --release -p agora-link-provisioning --example bench_load -- [seconds per phase, default 3] [connections, default 32] [postgres://… admin URL: a fresh database is created on it and dropped]`
//!
//! Per backend: new activations (closed loop, `connections` in flight), repeated activations of
//! one project (closed loop), and new activations at a fixed 1,000 requests/s (open loop: latency
//! counted from the scheduled send time). Then the baselines: `GET /health` of the same server
//! at the same fixed 1,000 requests/s (the floor of the HTTP path; it checks the store at most
//! every 250 ms and answers from that check in between), and a bare axum hello-world (closed
//! loop). Printed ratios: the SQLite p99 at 1,000 req/s over the `/health`
//! p99 (goal ≤ 3×), and with PostgreSQL, new activations/s on PostgreSQL over SQLite, the median
//! of three rounds in which the two alternate (goal ≥ 0.6×).

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
    /// The `q` quantile of the latencies, in ms.
    fn quantile(&mut self, q: f64) -> f64 {
        self.latencies.sort();
        let n = self.latencies.len();
        if n == 0 {
            return 0.0;
        }
        self.latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1000.0
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints a line; returns (requests/s, p99 in ms).
    fn print(&mut self, name: &str) -> (f64, f64) {
        let rate = self.rate();
        let (p50, p99, p999) = (
            self.quantile(0.5),
            self.quantile(0.99),
            self.quantile(0.999),
        );
        println!(
            "  {name:<52} {rate:8.0} req/s  p50 {p50:6.2} ms  p99 {p99:6.2} ms  p99.9 {p999:6.2} ms  errors {}",
            self.errors
        );
        (rate, p99)
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

/// Requests sent at `rate` per second for `duration`, latency from the scheduled send time: new
/// activations, or (`counter` `None`) `GET /health`.
async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    rate: u64,
    duration: Duration,
    counter: Option<Arc<AtomicI64>>,
) -> Stats {
    let started = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let total = (duration.as_secs_f64() * rate as f64) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, base) = (http.clone(), base.to_owned());
        let request = counter
            .as_ref()
            .map(|counter| activation(counter.fetch_add(1, Ordering::Relaxed)));
        tasks.push(tokio::spawn(async move {
            let ok = match request {
                Some((path, body)) => send(&http, &format!("{base}{path}"), body).await,
                None => match http.get(format!("{base}/health")).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                },
            };
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

/// A provisioning server on loopback over `store`; returns its base URL.
async fn serve(store: Store) -> String {
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
    base
}

/// A fresh database on the PostgreSQL server of `admin` (dropped by [`drop_database`]).
async fn create_database(admin: &str) -> (String, String) {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL server answers");
    tokio::spawn(connection);
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(admin);
    (format!("{base}/{name}"), name)
}

async fn drop_database(admin: &str, name: &str) {
    if let Ok((client, connection)) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let postgres_admin = args.next();
    let duration = Duration::from_secs(seconds.max(1));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = std::env::temp_dir().join(format!("bench-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = Store::open_sqlite(
        &dir.join("grants.sqlite3"),
        MasterKey::new(&[3u8; 32]).unwrap(),
    )
    .unwrap();
    let sqlite_base = serve(sqlite).await;
    let postgres = match &postgres_admin {
        Some(admin) => {
            let (url, name) = create_database(admin).await;
            let store = Store::open(&url, MasterKey::new(&[3u8; 32]).unwrap())
                .await
                .expect("the database");
            Some((serve(store).await, name))
        }
        None => None,
    };

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
    let new_activations = {
        let counter = counter.clone();
        Arc::new(move || activation(counter.fetch_add(1, Ordering::Relaxed)))
            as Arc<dyn Fn() -> (String, Vec<u8>) + Send + Sync>
    };
    println!(
        "bench_load: {seconds} s per phase, {connections} connections, loopback; SQLite (WAL, synchronous=FULL){}",
        if postgres.is_some() { " and PostgreSQL (fsync on)" } else { "" }
    );

    let mut backends = vec![("SQLite", sqlite_base.clone())];
    if let Some((base, _)) = &postgres {
        backends.push(("PostgreSQL", base.clone()));
    }
    let mut sqlite_p99_fixed = 0.0;
    for (backend, base) in &backends {
        closed_loop(&http, base, connections, duration, new_activations.clone())
            .await
            .print(&format!("{backend}: new activations (closed loop)"));
        let _ = send(
            &http,
            &format!("{base}/customers/load/projects/new"),
            activation(i64::MAX).1,
        )
        .await;
        closed_loop(
            &http,
            base,
            connections,
            duration,
            Arc::new(|| activation(i64::MAX)),
        )
        .await
        .print(&format!("{backend}: repeated activations (closed loop)"));
        let (_, p99) = open_loop(&http, base, 1000, duration, Some(counter.clone()))
            .await
            .print(&format!(
                "{backend}: new activations at 1,000 req/s (open loop)"
            ));
        if *backend == "SQLite" {
            sqlite_p99_fixed = p99;
        }
    }
    let (_, health_p99) = open_loop(&http, &sqlite_base, 1000, duration, None)
        .await
        .print("GET /health at 1,000 req/s (open loop; the HTTP floor)");
    let (hello_rate, _) = closed_loop(
        &http,
        &hello_base,
        connections,
        duration,
        Arc::new(|| ("/".to_owned(), Vec::new())),
    )
    .await
    .print("bare axum hello-world (closed loop)");

    // New activations on each backend again, alternating, for the paired ratio.
    let mut sqlite_rates = Vec::new();
    let mut ratios = Vec::new();
    if let Some((postgres_base, _)) = &postgres {
        for round in 0..3 {
            let run = |base: String| {
                let (http, next) = (http.clone(), new_activations.clone());
                async move {
                    closed_loop(&http, &base, connections, duration, next)
                        .await
                        .rate()
                }
            };
            let (s, p) = if round % 2 == 0 {
                let s = run(sqlite_base.clone()).await;
                (s, run(postgres_base.clone()).await)
            } else {
                let p = run(postgres_base.clone()).await;
                (run(sqlite_base.clone()).await, p)
            };
            println!(
                "  round {}: new activations/s SQLite {s:.0}, PostgreSQL {p:.0}",
                round + 1
            );
            sqlite_rates.push(s);
            ratios.push(p / s);
        }
    } else {
        sqlite_rates.push(
            closed_loop(
                &http,
                &sqlite_base,
                connections,
                duration,
                new_activations.clone(),
            )
            .await
            .rate(),
        );
    }
    println!(
        "  SQLite p99 at 1,000 req/s / GET /health p99 at 1,000 req/s: {:.2}x (goal <= 3x)",
        sqlite_p99_fixed / health_p99
    );
    println!(
        "  SQLite new activations / hello-world: {:.2}",
        median(sqlite_rates) / hello_rate
    );
    if !ratios.is_empty() {
        println!(
            "  PostgreSQL / SQLite new activations/s: {:.2}x (median of 3 alternating rounds; goal >= 0.6x)",
            median(ratios)
        );
    }
    if let (Some(admin), Some((_, name))) = (&postgres_admin, &postgres) {
        drop_database(admin, name).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
