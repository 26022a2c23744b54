//! Held-connection attack on the provisioning service, from loopback, bounded in time: a server
//! started with `ulimit -n <limit>` (this program, re-executed in server mode) faces `held`
//! attacker connections — a third trickling a request head (slowloris), a third stalling a body,
//! a third idle after one request — that reconnect 100 ms after the server closes them, while
//! signed activations arrive every 20 ms, alternately on a new connection and on a keep-alive
//! one, with Agora's 500 ms timeout, sent from a thread and runtime of their own (Agora is not
//! the attacker) and each answer read whole. The same activations are first measured without the
//! attack (the baseline).
//!
//! `cargo run --release -p agora-link-provisioning --example bench_held_connections -- [attack seconds, default 20] [held, default 2000] [descriptor limit, default 1024] [bad signatures a second, default 10000; 0: as fast as answered]`
//!
//! Then 8 connections flood the service with bad signatures (pipelined, at a fixed rate or as
//! fast as they are answered) while the activations
//! go on, and the growth of the server's log is weighed.
//!
//! Prints p50/p99/max of the activations before and during the attack, the activations that
//! failed or took 500 ms or more, the attacker connections the server closed (shed by the cap
//! or timed out), and the server's RSS before, at the end of and after the attack. Exits 1 if
//! any activation failed or took 500 ms or more.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_link_provisioning::secrets::MasterKey;
use agora_link_provisioning::server::{self, ServerConfig};
use agora_link_provisioning::signature::{signed_body, ApiCredential, Verifier};
use agora_link_provisioning::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";
const AGORA_TIMEOUT: Duration = Duration::from_millis(500);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve-child") {
        return serve_child(&args[2]);
    }
    let attack = Duration::from_secs(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20));
    let held: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let limit: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let flood_rate: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Agora's side runs apart from the attackers (its own thread and runtime), as it does in the
    // world: its figures are then the server's doing, not the attackers' load on this process.
    let agora = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let failed = runtime.block_on(run(attack, held, limit, flood_rate, agora.handle().clone()));
    std::process::exit(i32::from(failed));
}

/// Server mode: the provisioning service on a temporary SQLite file, its address on stdout.
fn serve_child(database: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .json()
        .init();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if let Some(limit) = agora_link_server_guard::raise_nofile_limit() {
            eprintln!(
                "server: RLIMIT_NOFILE {} -> {} (hard {})",
                limit.before, limit.after, limit.hard
            );
        }
        let store = Store::open(database, MasterKey::new(&[7u8; 32]).unwrap())
            .await
            .unwrap();
        let listener =
            agora_link_server_guard::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        println!("{base}");
        let router = server::router(
            ServerConfig {
                verifier: Verifier::new(vec![ApiCredential {
                    api_key: KEY.into(),
                    api_secret: SECRET.into(),
                }]),
                public_url: base,
            },
            store,
        );
        let limits = server::Limits::default();
        eprintln!(
            "server: cap {} connections",
            limits.effective_max_connections()
        );
        server::serve(listener, router, limits, std::future::pending())
            .await
            .unwrap();
    });
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn run(
    attack: Duration,
    held: usize,
    limit: u64,
    flood_rate: u64,
    agora: tokio::runtime::Handle,
) -> bool {
    if let Some(own) = agora_link_server_guard::raise_nofile_limit() {
        if own.after < held as u64 + 256 {
            println!(
                "  note: this process may open {} descriptors, fewer than {held} attackers need",
                own.after
            );
        }
    }
    let database =
        std::env::temp_dir().join(format!("held-{}.sqlite3", uuid::Uuid::new_v4().simple()));
    // `BENCH_SERVER=<agora-link-provisioning binary>` attacks that binary instead (an older
    // build, for before/after figures).
    // The server's log (JSON lines at `info`, as the binary writes them), to weigh the flood's.
    let log_path = std::env::temp_dir().join(format!("held-{}.log", uuid::Uuid::new_v4().simple()));
    let log_bytes = || std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let (program, script) = match std::env::var_os("BENCH_SERVER") {
        Some(binary) => (
            std::path::PathBuf::from(binary),
            format!("ulimit -n {limit} && exec \"$0\" serve --listen 127.0.0.1:0 --api-key {KEY} --api-secret {SECRET} --database \"$1\""),
        ),
        None => (
            std::env::current_exe().unwrap(),
            format!("ulimit -n {limit} && exec \"$0\" --serve-child \"$1\""),
        ),
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&program)
        .arg(&database)
        .env("RUST_LOG", "info")
        .env(
            "PROVISIONING_MASTER_KEY",
            "a-master-key-of-at-least-thirty-two-bytes-for-benchmarks",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let base = match line.find("http://") {
        Some(at) => line[at..].trim().to_owned(),
        None => panic!("the server printed {line:?}"),
    };
    let address = base.trim_start_matches("http://").to_owned();
    println!(
        "bench_held_connections: server under `ulimit -n {limit}`, {held} held connections, {} s attack, activations every 20 ms (Agora's timeout: 500 ms), loopback",
        attack.as_secs()
    );
    let project = Arc::new(AtomicI64::new(1));
    // reqwest needs a TLS provider even for plain HTTP: ring, as everywhere in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(AGORA_TIMEOUT)
        .build()
        .unwrap();
    let legit = |duration: Duration| {
        let (http, base, address, project) =
            (http.clone(), base.clone(), address.clone(), project.clone());
        let measured =
            agora.spawn(async move { legit(&http, &base, &address, &project, duration).await });
        async move { measured.await.unwrap() }
    };

    let baseline = legit(Duration::from_secs(3)).await;
    let rss_before = rss_kib(pid);
    baseline.print("baseline (no attack)");

    let stop = Arc::new(AtomicBool::new(false));
    let closed_by_server = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for i in 0..held {
        let (stop, closed, connected, address) = (
            stop.clone(),
            closed_by_server.clone(),
            connected.clone(),
            address.clone(),
        );
        attackers.push(tokio::spawn(async move {
            attacker(i % 3, &address, &stop, &closed, &connected).await
        }));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = legit(attack).await;
    let rss_during = rss_kib(pid);
    stop.store(true, Ordering::SeqCst);
    for attacker in attackers {
        let _ = attacker.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let after = legit(Duration::from_secs(1)).await;
    during.print("during the attack");
    after.print("after the attack");
    let ratio =
        during.percentile(0.99).as_secs_f64() / baseline.percentile(0.99).as_secs_f64().max(1e-6);
    println!(
        "  attacker connections made {}, closed by the server {} (shed at the cap or timed out); p99 during/baseline {ratio:.1}x",
        connected.load(Ordering::SeqCst),
        closed_by_server.load(Ordering::SeqCst)
    );
    println!(
        "  server RSS: before {:.1} MB, end of attack {:.1} MB, 2 s after {:.1} MB",
        rss_before as f64 / 1024.0,
        rss_during as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );

    // A flood of bad signatures: 8 keep-alive connections pipelining refused activations at
    // `flood_rate` a second in all (0: as fast as they are answered).
    let flood_stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let log_before = log_bytes();
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            let (stop, refused, address) = (flood_stop.clone(), refused.clone(), address.clone());
            tokio::spawn(async move { flooder(&address, &stop, &refused, flood_rate / 8).await })
        })
        .collect();
    let flood_started = Instant::now();
    let flooded = legit(attack.min(Duration::from_secs(5))).await;
    flood_stop.store(true, Ordering::SeqCst);
    for flooder in flooders {
        let _ = flooder.await;
    }
    let flood_elapsed = flood_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = log_bytes().saturating_sub(log_before);
    let refused = refused.load(Ordering::SeqCst);
    flooded.print("bad-signature flood");
    println!(
        "  flood: {refused} refused requests ({:.0}/s), server log grew {logged} bytes ({:.1} bytes per refusal, {:.1} KB/s)",
        refused as f64 / flood_elapsed,
        logged as f64 / (refused.max(1)) as f64,
        logged as f64 / 1024.0 / flood_elapsed
    );
    let _ = child.kill().await;
    let _ = std::fs::remove_file(&log_path);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let failed = baseline.failed + during.failed + after.failed + flooded.failed;
    if failed > 0 {
        println!("  FAILED: {failed} activations failed or took 500 ms or more");
    }
    failed > 0
}

/// One flooding connection: batches of 32 pipelined activations with a bad signature, `rate` a
/// second (0: as fast as the server answers).
async fn flooder(address: &str, stop: &AtomicBool, refused: &AtomicU64, rate: u64) {
    let mut pace = (rate > 0).then(|| {
        let mut pace = tokio::time::interval(Duration::from_secs_f64(32.0 / rate as f64));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pace
    });
    let body = br#"{"projectId":1,"apiKey":"pzD5XinRSlmA64tZx81fL92YcBsJK0gd","signature":"bad"}"#;
    let mut batch = Vec::new();
    for _ in 0..32 {
        batch.extend_from_slice(
            format!(
                "POST /customers/flood/projects/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        batch.extend_from_slice(body);
    }
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut stream) = TcpStream::connect(address).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut buffer = vec![0u8; 64 * 1024];
        'connection: while !stop.load(Ordering::SeqCst) {
            if let Some(pace) = pace.as_mut() {
                pace.tick().await;
            }
            if stream.write_all(&batch).await.is_err() {
                break;
            }
            // Count the answers, across reads (the tail of one read may start the next status).
            let mut answers = 0;
            let mut window: Vec<u8> = Vec::new();
            while answers < 32 {
                let read =
                    tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
                match read {
                    Ok(Ok(n)) if n > 0 => {
                        window.extend_from_slice(&buffer[..n]);
                        answers += window.windows(12).filter(|w| w == b"HTTP/1.1 401").count();
                        let keep = window.len().min(11);
                        window.drain(..window.len() - keep);
                    }
                    _ => break 'connection,
                }
            }
            refused.fetch_add(answers as u64, Ordering::Relaxed);
        }
    }
}

/// One attacker connection, reconnecting 100 ms after the server closes it.
async fn attacker(
    kind: usize,
    address: &str,
    stop: &AtomicBool,
    closed: &AtomicU64,
    connected: &AtomicU64,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut stream) = TcpStream::connect(address).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        connected.fetch_add(1, Ordering::Relaxed);
        let opening: &[u8] = match kind {
            // Slowloris: a head that never ends, a byte a second.
            0 => b"POST /customers/x/projects/new HTTP/1.1\r\n",
            // A stalled body.
            1 => b"POST /customers/x/projects/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"projectId\":",
            // Idle keep-alive after one request.
            _ => b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        };
        if stream.write_all(opening).await.is_ok() {
            let mut buffer = [0u8; 1024];
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let read =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await;
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => {}
                    Err(_) => {
                        if kind == 0 && stream.write_all(b"X").await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        closed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Figures {
    latencies: Vec<Duration>,
    failed: usize,
}

impl Figures {
    fn percentile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.latencies[((n as f64 * q) as usize).min(n - 1)]
    }

    fn print(&self, name: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {name:<22} {:5} activations  p50 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms  failed or >= 500 ms: {}",
            self.latencies.len(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.failed
        );
    }
}

/// Signed activations every 20 ms for `duration`, alternately on a new connection (raw) and on
/// reqwest's keep-alive pool.
async fn legit(
    http: &reqwest::Client,
    base: &str,
    address: &str,
    project: &AtomicI64,
    duration: Duration,
) -> Figures {
    let mut latencies = Vec::new();
    let mut failed = 0;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n = 0u64;
    while started.elapsed() < duration {
        tick.tick().await;
        n += 1;
        let id = project.fetch_add(1, Ordering::Relaxed);
        let path = "/customers/held/projects/new";
        let body = signed_body(
            KEY,
            SECRET,
            "POST",
            path,
            &serde_json::json!({"projectId": id}),
        );
        let sent = Instant::now();
        let outcome = if n % 2 == 0 {
            match http
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                // The answer is read whole, as Agora does (and as a connection must be to be
                // used again).
                Ok(response) if response.status() == 200 => response
                    .bytes()
                    .await
                    .map(drop)
                    .map_err(|error| format!("keep-alive, reading the answer: {error:?}")),
                Ok(response) => Err(format!("keep-alive: HTTP {}", response.status())),
                Err(error) => Err(format!("keep-alive: {error:?}")),
            }
        } else {
            match tokio::time::timeout(AGORA_TIMEOUT, fresh_connection(address, path, &body)).await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(format!("new connection: {error}")),
                Err(_) => Err("new connection: timed out".to_owned()),
            }
        };
        let took = sent.elapsed();
        if outcome.is_err() || took >= AGORA_TIMEOUT {
            failed += 1;
            eprintln!("  activation {id} failed after {took:?}: {outcome:?}");
        }
        latencies.push(took);
    }
    latencies.sort();
    Figures { latencies, failed }
}

async fn fresh_connection(address: &str, path: &str, body: &[u8]) -> Result<(), String> {
    let started = Instant::now();
    let mut stream = tokio::time::timeout(
        AGORA_TIMEOUT - Duration::from_millis(20),
        TcpStream::connect(address),
    )
    .await
    .map_err(|_| "connect timed out (the accept queue was full)".to_owned())?
    .map_err(|e| format!("connect: {e}"))?;
    let connected = started.elapsed();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response).await;
    if response.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "connected in {connected:?}, then read {read:?}: {:?}",
            String::from_utf8_lossy(&response[..response.len().min(40)])
        ))
    }
}
