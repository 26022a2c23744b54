//! A history checker in the style of Jepsen for the provisioning service.
//!
//! Many concurrent clients issue random signed operations (configure a license, create a
//! customer, activate a project, deactivate a project or a customer, fetch a license, and Agora's
//! retry: the same request three times, 500 ms apart) against real `agora-link-provisioning`
//! processes while a nemesis injects faults, and every call is recorded (invocation, completion,
//! request, answer). Afterwards the history is checked:
//!
//! * every call answered within the bound (a 503 is fine, if in time);
//! * an activation's credentials never change (one appKey/appSecret per project, on every node,
//!   before and after every fault), and the database holds one grant per project;
//! * acknowledged ⇒ durable: after the run, every acknowledged activation's license is served
//!   with the same credentials unless a deactivation may have come after it;
//! * no license is served after a deactivation (of the project or of its customer) that was
//!   acknowledged before the fetch began, unless an activation may have come after it;
//! * identical requests (a retry group) get identical answers, unless another change to the same
//!   customer overlapped them.
//!
//! Targets: `--nodes N` processes on one PostgreSQL (`--postgres URL --postgres-dir DIR`, a
//! cluster from `scripts/start-postgres`; nemeses: kill -9 and restart a node, SIGSTOP/SIGCONT
//! every PostgreSQL process, `pg_ctl stop`/`start`, `pg_terminate_backend` of the nodes'
//! connections), then one node on SQLite (kill -9 and restart). `scripts/history-check` runs it.
//!
//! Operations come from a seeded xorshift generator per client and for the nemesis: the same
//! `--seed` replays the same choices (timing still varies).

#[path = "../tests/common/cluster.rs"]
mod cluster;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_link_provisioning::signature::signed_body;
use serde_json::{json, Value};

const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";
const MASTER: &str = "history-check-master-key-of-at-least-32-bytes";
/// The client's own timeout: a call without an answer by then is recorded as unanswered.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const CUSTOMERS: u64 = 5;
const PROJECTS: u64 = 4;

/// xorshift64*: small, seeded, enough for choosing operations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng =
            Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
        if rng.0 == 0 {
            rng.0 = 1;
        }
        for _ in 0..4 {
            rng.next();
        }
        rng
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// What a call asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Configure(u64),
    Create(u64),
    Activate(u64, u64),
    DeactivateProject(u64, u64),
    DeactivateCustomer(u64),
    Fetch(u64, u64),
}

impl Kind {
    fn customer(&self) -> u64 {
        match *self {
            Kind::Configure(c)
            | Kind::Create(c)
            | Kind::DeactivateCustomer(c)
            | Kind::Activate(c, _)
            | Kind::DeactivateProject(c, _)
            | Kind::Fetch(c, _) => c,
        }
    }
    fn is_change(&self) -> bool {
        !matches!(self, Kind::Fetch(..))
    }
}

/// A request, ready to send again byte for byte.
#[derive(Clone, Debug)]
struct Request {
    kind: Kind,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    basic: Option<(String, String)>,
}

fn customer_id(c: u64) -> String {
    format!("hc-{c}")
}

fn request(kind: Kind, rng: &mut Rng, credentials: Option<(String, String)>) -> Request {
    let signed = |method: &'static str, path: String, fields: Value| Request {
        kind: kind.clone(),
        method,
        body: signed_body(KEY, SECRET, method, &path, &fields),
        path,
        basic: None,
    };
    match kind {
        Kind::Configure(c) => {
            let from = 1_700_000_000 + rng.below(1000) as i64;
            signed(
                "PUT",
                format!("/license/customers/{}/activate", customer_id(c)),
                json!({"platform": "android|ios", "expire": format!("{from}-{}", from + 86_400), "type": "normal"}),
            )
        }
        Kind::Create(c) => signed(
            "POST",
            "/customers/new".into(),
            json!({"customerId": customer_id(c), "planId": "plan-pro"}),
        ),
        Kind::Activate(c, p) => signed(
            "POST",
            format!("/customers/{}/projects/new", customer_id(c)),
            json!({"projectId": p}),
        ),
        Kind::DeactivateProject(c, p) => signed(
            "PUT",
            format!("/customers/{}/projects/{p}/deactivate", customer_id(c)),
            json!({}),
        ),
        Kind::DeactivateCustomer(c) => signed(
            "PUT",
            format!("/customers/{}/deactivate", customer_id(c)),
            json!({}),
        ),
        Kind::Fetch(..) => {
            let (key, secret) = credentials.unwrap_or_default();
            Request {
                kind,
                method: "GET",
                path: format!("/licenses/{key}"),
                body: Vec::new(),
                basic: Some((key, secret)),
            }
        }
    }
}

/// How a call ended.
#[derive(Clone, Debug)]
enum Outcome {
    Answered(u16, Value),
    /// No connection, or it broke (a killed node): answered by the kernel, not the service.
    Failed(String),
    /// No answer within [`CLIENT_TIMEOUT`].
    TimedOut,
}

/// One call of the history.
#[derive(Clone, Debug)]
struct Op {
    id: usize,
    /// The retry group (Agora's three calls of one request), if any.
    group: Option<u64>,
    kind: Kind,
    node: usize,
    invoke: Duration,
    complete: Duration,
    outcome: Outcome,
}

impl Op {
    fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Answered(status, _) => Some(*status),
            _ => None,
        }
    }
    /// Acknowledged: a 200.
    fn acked(&self) -> bool {
        self.status() == Some(200)
    }
    /// May have taken effect: a 200, or no definite answer (503, 500, none).
    fn maybe(&self) -> bool {
        match self.status() {
            Some(200) => true,
            Some(status) => status >= 500,
            None => true,
        }
    }
    /// Definitely took effect before `t`.
    fn acked_before(&self, t: Duration) -> bool {
        self.acked() && self.complete < t
    }
    fn credentials(&self) -> Option<(String, String)> {
        let Outcome::Answered(200, body) = &self.outcome else {
            return None;
        };
        Some((
            body["data"]["appKey"].as_str()?.to_owned(),
            body["data"]["appSecret"].as_str()?.to_owned(),
        ))
    }
}

/// A service process and its address (none while it is down).
struct Node {
    child: Option<Child>,
    url: Option<String>,
    log: PathBuf,
}

struct Target {
    label: String,
    database: String,
    nodes: Vec<Mutex<Node>>,
    bin: PathBuf,
}

fn spawn(bin: &PathBuf, database: &str, log: &PathBuf) -> Result<(Child, String), String> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", KEY])
        .args(["--api-secret", SECRET, "--database", database])
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    match line.split_whitespace().last() {
        Some(url) if url.starts_with("http://") => Ok((child, url.to_owned())),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the node did not start (see its log)".into())
        }
    }
}

impl Target {
    /// Starts node `index`, retrying (the database may be down) for up to 60 s.
    fn start(&self, index: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let log = lock(&self.nodes[index]).log.clone();
        loop {
            match spawn(&self.bin, &self.database, &log) {
                Ok((child, url)) => {
                    let mut node = lock(&self.nodes[index]);
                    node.child = Some(child);
                    node.url = Some(url);
                    return Ok(());
                }
                Err(error) if Instant::now() > deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }

    fn kill(&self, index: usize) {
        let mut node = lock(&self.nodes[index]);
        node.url = None;
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, index: usize) -> Option<String> {
        lock(&self.nodes[index]).url.clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Run {
    target: Arc<Target>,
    http: reqwest::Client,
    started: Instant,
    history: Mutex<Vec<Op>>,
    credentials: Mutex<HashMap<(u64, u64), (String, String)>>,
    /// Earlier changes, for retries of an earlier request.
    earlier: Mutex<Vec<Request>>,
    faults: Mutex<Vec<(Duration, String)>>,
}

impl Run {
    async fn call(&self, request: &Request, node: usize, group: Option<u64>) -> Op {
        let invoke = self.started.elapsed();
        let outcome = match self.target.url(node) {
            None => Outcome::Failed("the node is down".into()),
            Some(url) => {
                let mut builder = self
                    .http
                    .request(
                        request.method.parse().unwrap_or(reqwest::Method::GET),
                        format!("{url}{}", request.path),
                    )
                    .timeout(CLIENT_TIMEOUT);
                if let Some((key, secret)) = &request.basic {
                    builder = builder.basic_auth(key, Some(secret));
                } else {
                    builder = builder
                        .header("content-type", "application/json")
                        .body(request.body.clone());
                }
                match builder.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.bytes().await {
                            Ok(bytes) => Outcome::Answered(
                                status,
                                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                            ),
                            Err(error) if error.is_timeout() => Outcome::TimedOut,
                            Err(error) => Outcome::Failed(error.to_string()),
                        }
                    }
                    Err(error) if error.is_timeout() => Outcome::TimedOut,
                    Err(error) => Outcome::Failed(error.to_string()),
                }
            }
        };
        let mut op = Op {
            id: 0,
            group,
            kind: request.kind.clone(),
            node,
            invoke,
            complete: self.started.elapsed(),
            outcome,
        };
        if let (Kind::Activate(c, p), Some(credentials)) = (&op.kind, op.credentials()) {
            lock(&self.credentials)
                .entry((*c, *p))
                .or_insert(credentials);
        }
        let mut history = lock(&self.history);
        op.id = history.len();
        history.push(op.clone());
        op
    }

    fn fault(&self, what: String) {
        let at = self.started.elapsed();
        println!("  {:>7.2}s  {what}", at.as_secs_f64());
        lock(&self.faults).push((at, what));
    }
}

async fn client(run: Arc<Run>, mut rng: Rng, until: Instant, worker: u64) {
    let mut group = worker << 40;
    let nodes = run.target.nodes.len() as u64;
    while Instant::now() < until {
        let c = rng.below(CUSTOMERS);
        let p = 1 + rng.below(PROJECTS);
        let node = rng.below(nodes) as usize;
        let roll = rng.below(100);
        let kind = match roll {
            0..=29 => Kind::Activate(c, p),
            30..=54 => Kind::Fetch(c, p),
            55..=62 => Kind::DeactivateProject(c, p),
            63..=65 => Kind::DeactivateCustomer(c),
            66..=77 => Kind::Create(c),
            78..=84 => Kind::Configure(c),
            _ => {
                // Agora's retry: the same request three times, 500 ms apart, on any node; half
                // the time a fresh one, half the time an earlier one again.
                let earlier = {
                    let earlier = lock(&run.earlier);
                    if earlier.is_empty() || rng.below(2) == 0 {
                        None
                    } else {
                        Some(earlier[rng.below(earlier.len() as u64) as usize].clone())
                    }
                };
                let request = earlier.unwrap_or_else(|| {
                    let kind = match rng.below(4) {
                        0 | 1 => Kind::Activate(c, p),
                        2 => Kind::DeactivateProject(c, p),
                        _ => Kind::Create(c),
                    };
                    request(kind, &mut rng, None)
                });
                group += 1;
                let calls: Vec<_> = (0..3u64)
                    .map(|i| {
                        let (run, request) = (run.clone(), request.clone());
                        let node = rng.below(nodes) as usize;
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(500 * i)).await;
                            run.call(&request, node, Some(group)).await
                        })
                    })
                    .collect();
                for call in calls {
                    let _ = call.await;
                }
                continue;
            }
        };
        let credentials = match kind {
            Kind::Fetch(c, p) => match lock(&run.credentials).get(&(c, p)).cloned() {
                Some(credentials) => Some(credentials),
                None => continue,
            },
            _ => None,
        };
        let request = request(kind, &mut rng, credentials);
        if request.kind.is_change() {
            let mut earlier = lock(&run.earlier);
            if earlier.len() < 500 {
                earlier.push(request.clone());
            }
        }
        let op = run.call(&request, node, None).await;
        // A node that is down refuses at once: a pause rather than a flood of refusals.
        let pause = if matches!(op.outcome, Outcome::Failed(_)) {
            rng.millis(50, 100)
        } else {
            rng.millis(0, 20)
        };
        tokio::time::sleep(pause).await;
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillNode,
    Freeze,
    StopDatabase,
    Terminate,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Injects faults until `until`: the first round every kind once (in a seeded order), then at
/// random; each fault lasts 2.5–4 s, 1–3 s apart.
async fn nemesis(
    run: Arc<Run>,
    cluster: Option<Arc<Mutex<cluster::Cluster>>>,
    database_name: String,
    mut rng: Rng,
    until: Instant,
    faults: bool,
) -> Result<(), String> {
    let kinds: Vec<Fault> = if cluster.is_some() {
        vec![
            Fault::KillNode,
            Fault::Freeze,
            Fault::StopDatabase,
            Fault::Terminate,
        ]
    } else {
        vec![Fault::KillNode]
    };
    if !faults {
        return Ok(());
    }
    let mut round: Vec<Fault> = kinds.clone();
    for i in (1..round.len()).rev() {
        round.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut next = 0;
    tokio::time::sleep(rng.millis(1500, 3000)).await;
    while Instant::now() + Duration::from_secs(3) < until {
        let fault = if next < round.len() {
            round[next]
        } else {
            kinds[rng.below(kinds.len() as u64) as usize]
        };
        next += 1;
        // Long enough (2.5–4 s) that a request held for the whole fault breaks the bound.
        let hold = rng.millis(2500, 4000);
        match fault {
            Fault::KillNode => {
                let index = rng.below(run.target.nodes.len() as u64) as usize;
                let target = run.target.clone();
                blocking(move || target.kill(index)).await;
                run.fault(format!("kill -9 node {index}"));
                tokio::time::sleep(hold).await;
                let target = run.target.clone();
                let started = blocking(move || target.start(index))
                    .await
                    .unwrap_or_else(|| Err("the restart task failed".into()));
                run.fault(format!("node {index} restarted: {started:?}"));
                started?;
            }
            Fault::Freeze => {
                let Some(cluster) = cluster.clone() else {
                    continue;
                };
                let frozen = blocking({
                    let cluster = cluster.clone();
                    move || lock(&cluster).freeze()
                })
                .await
                .unwrap_or(0);
                run.fault(format!("SIGSTOP {frozen} PostgreSQL processes"));
                tokio::time::sleep(hold).await;
                blocking(move || lock(&cluster).thaw()).await;
                run.fault("SIGCONT".into());
            }
            Fault::StopDatabase => {
                let Some(cluster) = cluster.clone() else {
                    continue;
                };
                let stopped = blocking({
                    let cluster = cluster.clone();
                    move || lock(&cluster).stop()
                })
                .await
                .unwrap_or(false);
                run.fault(format!("pg_ctl stop -m immediate: {stopped}"));
                tokio::time::sleep(hold).await;
                let started = blocking(move || lock(&cluster).restart())
                    .await
                    .unwrap_or(false);
                run.fault(format!("pg_ctl start: {started}"));
                if !started {
                    return Err("PostgreSQL did not start again".into());
                }
            }
            Fault::Terminate => {
                let Some(cluster) = cluster.clone() else {
                    continue;
                };
                let url = lock(&cluster).url.clone();
                let terminated = terminate(&url, &database_name).await;
                run.fault(format!("pg_terminate_backend: {terminated:?} connections"));
            }
        }
        tokio::time::sleep(rng.millis(1000, 3000)).await;
    }
    Ok(())
}

async fn terminate(admin: &str, database: &str) -> Result<u64, String> {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .map(|rows| rows.len() as u64)
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    rows
}

/// What a run found.
struct Report {
    label: String,
    seconds: f64,
    ops: usize,
    by_status: BTreeMap<String, usize>,
    faults: Vec<(Duration, String)>,
    anomalies: Vec<String>,
    slowest: Duration,
}

fn outcome_name(op: &Op) -> String {
    match &op.outcome {
        Outcome::Answered(status, _) => status.to_string(),
        Outcome::Failed(_) => "no connection".into(),
        Outcome::TimedOut => "no answer".into(),
    }
}

fn describe(op: &Op) -> String {
    let answer = match &op.outcome {
        Outcome::Answered(status, body) => format!("{status} {body}"),
        Outcome::Failed(error) => format!("failed: {error}"),
        Outcome::TimedOut => "no answer".into(),
    };
    format!(
        "#{} {:?} node {} [{:.3}s, {:.3}s] → {answer}",
        op.id,
        op.kind,
        op.node,
        op.invoke.as_secs_f64(),
        op.complete.as_secs_f64()
    )
}

/// Whether an activation of `(c, p)` may have taken effect after deactivation `d` and before
/// `before` (and, for a customer's deactivation, after a reactivation of the customer).
fn reactivated_after(ops: &[&Op], d: &Op, c: u64, p: u64, before: Duration) -> bool {
    let activations = ops
        .iter()
        .filter(|a| a.kind == Kind::Activate(c, p) && a.maybe() && a.invoke < before);
    match d.kind {
        Kind::DeactivateCustomer(_) => {
            let creations: Vec<&&Op> = ops
                .iter()
                .filter(|r| {
                    r.kind == Kind::Create(c)
                        && r.maybe()
                        && r.invoke < before
                        && !r.acked_before(d.invoke)
                })
                .collect();
            activations
                .filter(|a| !a.acked_before(d.invoke))
                .any(|a| creations.iter().any(|r| !a.acked_before(r.invoke)))
        }
        _ => activations.into_iter().any(|a| !a.acked_before(d.invoke)),
    }
}

fn check(history: &[Op], bound: Duration, grants: &[(String, i64, String)]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut by_customer: HashMap<u64, Vec<&Op>> = HashMap::new();
    for op in history {
        by_customer.entry(op.kind.customer()).or_default().push(op);
    }
    // Bounded answers, and no 500.
    for op in history {
        let elapsed = op.complete.saturating_sub(op.invoke);
        match &op.outcome {
            Outcome::Answered(status, _) if elapsed > bound => anomalies.push(format!(
                "slow answer: {elapsed:?} (bound {bound:?}, status {status}) {}",
                describe(op)
            )),
            Outcome::Answered(500, _) => anomalies.push(format!("a 500: {}", describe(op))),
            Outcome::TimedOut => anomalies.push(format!("no answer: {}", describe(op))),
            _ => {}
        }
    }
    // Credentials never change.
    let mut credentials: HashMap<(u64, u64), ((String, String), usize)> = HashMap::new();
    for op in history {
        if let (Kind::Activate(c, p), Some(given)) = (&op.kind, op.credentials()) {
            match credentials.get(&(*c, *p)) {
                None => {
                    credentials.insert((*c, *p), (given, op.id));
                }
                Some((first, first_op)) if *first != given => anomalies.push(format!(
                    "credentials changed: customer {c} project {p}: #{first_op} answered \
                     appKey {}, then {}",
                    first.0,
                    describe(op)
                )),
                Some(_) => {}
            }
        }
    }
    // One grant per project, with the credentials answered.
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for (customer, project, app_key) in grants {
        *seen.entry((customer.clone(), *project)).or_default() += 1;
        let c = customer
            .strip_prefix("hc-")
            .and_then(|c| c.parse::<u64>().ok());
        if let Some(((key, _), _)) = c.and_then(|c| credentials.get(&(c, *project as u64))) {
            if key != app_key {
                anomalies.push(format!(
                    "grant differs from the answer: customer {customer} project {project}: the \
                     database holds appKey {app_key}, {key} was answered"
                ));
            }
        }
    }
    for ((customer, project), count) in seen {
        if count > 1 {
            anomalies.push(format!(
                "two grants for a project: customer {customer} project {project}: {count}"
            ));
        }
    }
    // No license served after an acknowledged deactivation (unless reactivated since).
    for op in history {
        let (Kind::Fetch(c, p), true) = (&op.kind, op.acked()) else {
            continue;
        };
        let ops = &by_customer[c];
        for d in ops.iter().filter(|d| {
            (d.kind == Kind::DeactivateProject(*c, *p) || d.kind == Kind::DeactivateCustomer(*c))
                && d.acked_before(op.invoke)
        }) {
            if !reactivated_after(ops, d, *c, *p, op.complete) {
                anomalies.push(format!(
                    "license served after an acknowledged deactivation: {} after {}",
                    describe(op),
                    describe(d)
                ));
                break;
            }
        }
    }
    // Identical requests, identical answers (a retry group, unless another change to the
    // customer overlapped it).
    let mut groups: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in history {
        if let Some(group) = op.group {
            groups.entry(group).or_default().push(op);
        }
    }
    for calls in groups.values() {
        let first = calls.iter().map(|o| o.invoke).min().unwrap_or_default();
        let last = calls.iter().map(|o| o.complete).max().unwrap_or_default();
        let slack = Duration::from_secs(2);
        let overlapped = by_customer[&calls[0].kind.customer()].iter().any(|o| {
            o.kind.is_change()
                && o.group != calls[0].group
                && o.maybe()
                && o.invoke < last
                && o.complete + slack > first
        });
        if overlapped {
            continue;
        }
        let answers: Vec<(u16, Value)> = calls
            .iter()
            .filter_map(|o| match &o.outcome {
                Outcome::Answered(status, body) if *status != 503 => {
                    let mut body = body.clone();
                    if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
                        // Each node names itself in licenseUrl.
                        data.remove("licenseUrl");
                    }
                    Some((*status, body))
                }
                _ => None,
            })
            .collect();
        if answers.windows(2).any(|w| w[0] != w[1]) {
            let shown: Vec<String> = calls.iter().map(|o| describe(o)).collect();
            anomalies.push(format!(
                "identical requests, different answers: {}",
                shown.join(" | ")
            ));
        }
    }
    anomalies
}

/// Acknowledged ⇒ durable: each project with an acknowledged activation is fetched after the
/// run (on every node). A 401/404 means the credentials were lost or changed; a 403 must be
/// explained by a deactivation that may have come after the last acknowledged activation.
fn check_final(history: &[Op], finals: &[Op]) -> Vec<String> {
    let mut anomalies = Vec::new();
    for fetch in finals {
        let Kind::Fetch(c, p) = fetch.kind else {
            continue;
        };
        let ops: Vec<&Op> = history.iter().filter(|o| o.kind.customer() == c).collect();
        match fetch.status() {
            Some(200) => {}
            Some(403) => {
                let last = ops
                    .iter()
                    .filter(|a| a.kind == Kind::Activate(c, p) && a.acked())
                    .map(|a| a.invoke)
                    .max()
                    .unwrap_or_default();
                let explained = ops.iter().any(|d| {
                    (d.kind == Kind::DeactivateProject(c, p)
                        || d.kind == Kind::DeactivateCustomer(c))
                        && d.maybe()
                        && !d.acked_before(last)
                });
                if !explained {
                    anomalies.push(format!(
                        "acknowledged activation not durable (deactivated with no deactivation \
                         after it): {}",
                        describe(fetch)
                    ));
                }
            }
            _ => anomalies.push(format!(
                "acknowledged credentials not served after the run: {}",
                describe(fetch)
            )),
        }
    }
    anomalies
}

fn grants_listing(bin: &PathBuf, database: &str) -> Result<Vec<(String, i64, String)>, String> {
    let output = Command::new(bin)
        .args(["grants", "--database", database])
        .env("PROVISIONING_MASTER_KEY", MASTER)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1) // the header row
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let customer = fields.next()?.to_owned();
            let project = fields.next()?.parse().ok()?;
            let app_key = fields.next()?.to_owned();
            Some((customer, project, app_key))
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn run_target(
    label: String,
    database: String,
    nodes: usize,
    bin: PathBuf,
    cluster: Option<Arc<Mutex<cluster::Cluster>>>,
    database_name: String,
    seconds: u64,
    seed: u64,
    clients: u64,
    bound: Duration,
    faults: bool,
    logs: PathBuf,
) -> Result<Report, String> {
    println!("== {label}: {nodes} node(s), {clients} clients, {seconds} s, seed {seed}");
    let target = Arc::new(Target {
        label: label.clone(),
        database: database.clone(),
        nodes: (0..nodes)
            .map(|i| {
                Mutex::new(Node {
                    child: None,
                    url: None,
                    log: logs.join(format!("{}-node{i}.log", label.replace(' ', "-"))),
                })
            })
            .collect(),
        bin: bin.clone(),
    });
    for index in 0..nodes {
        target.start(index)?;
    }
    let run = Arc::new(Run {
        target: target.clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| e.to_string())?,
        started: Instant::now(),
        history: Mutex::default(),
        credentials: Mutex::default(),
        earlier: Mutex::default(),
        faults: Mutex::default(),
    });
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..clients)
        .map(|w| tokio::spawn(client(run.clone(), Rng::new(seed, w + 1), until, w)))
        .collect();
    let nemesis = tokio::spawn(nemesis(
        run.clone(),
        cluster.clone(),
        database_name,
        Rng::new(seed, 0),
        until,
        faults,
    ));
    let nemesis_result = nemesis
        .await
        .unwrap_or_else(|_| Err("the nemesis panicked".into()));
    for worker in workers {
        let _ = worker.await;
    }
    let seconds_run = run.started.elapsed().as_secs_f64();
    // Heal: the database up, every node up and healthy.
    if let Some(cluster) = &cluster {
        let cluster = cluster.clone();
        blocking(move || {
            let mut cluster = lock(&cluster);
            cluster.thaw();
            if cluster.postmaster().is_none() {
                cluster.restart();
            }
        })
        .await;
    }
    for index in 0..nodes {
        if target.url(index).is_none() {
            let target = target.clone();
            blocking(move || target.start(index))
                .await
                .unwrap_or_else(|| Err("restart failed".into()))?;
        }
    }
    let healthy_by = Instant::now() + Duration::from_secs(30);
    for index in 0..nodes {
        loop {
            let url = target.url(index).unwrap_or_default();
            let ok = run
                .http
                .get(format!("{url}/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false);
            if ok {
                break;
            }
            if Instant::now() > healthy_by {
                return Err(format!(
                    "{label}: node {index} not healthy 30 s after healing"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Final reads: every acknowledged grant, on every node.
    let history = lock(&run.history).clone();
    let known = lock(&run.credentials).clone();
    let mut finals = Vec::new();
    for ((c, p), credentials) in &known {
        let request = request(
            Kind::Fetch(*c, *p),
            &mut Rng::new(seed, 9),
            Some(credentials.clone()),
        );
        for node in 0..nodes {
            finals.push(run.call(&request, node, None).await);
        }
    }
    for index in 0..nodes {
        target.kill(index);
    }
    let grants = grants_listing(&bin, &database)?;
    let mut anomalies = check(&history, bound, &grants);
    anomalies.extend(check_final(&history, &finals));
    if let Err(error) = nemesis_result {
        anomalies.push(format!("the nemesis failed: {error}"));
    }
    let mut by_status = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for op in &history {
        *by_status.entry(outcome_name(op)).or_insert(0) += 1;
        if op.status().is_some() {
            slowest = slowest.max(op.complete.saturating_sub(op.invoke));
        }
    }
    let faults = lock(&run.faults).clone();
    if !anomalies.is_empty() {
        // The whole history, one call a line, for a closer look.
        let file = logs.join(format!("{}-history.txt", label.replace(' ', "-")));
        let mut text = String::new();
        for op in history.iter().chain(&finals) {
            text.push_str(&describe(op));
            if let Some(group) = op.group {
                text.push_str(&format!(" (retry group {group})"));
            }
            text.push('\n');
        }
        for (at, fault) in &faults {
            text.push_str(&format!("fault at {:.3}s: {fault}\n", at.as_secs_f64()));
        }
        let _ = std::fs::write(&file, text);
        println!("   history written to {}", file.display());
    }
    Ok(Report {
        label: target.label.clone(),
        seconds: seconds_run,
        ops: history.len(),
        by_status,
        faults,
        anomalies,
        slowest,
    })
}

struct Args {
    bin: PathBuf,
    postgres: Option<(String, PathBuf)>,
    nodes: usize,
    pg_seconds: u64,
    sqlite_seconds: u64,
    seed: u64,
    clients: u64,
    bound: Duration,
    faults: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        bin: PathBuf::from("target/release/agora-link-provisioning"),
        postgres: None,
        nodes: 3,
        pg_seconds: 45,
        sqlite_seconds: 30,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        clients: 12,
        bound: Duration::from_millis(2000),
        faults: true,
    };
    let mut postgres_url = None;
    let mut postgres_dir = None;
    let mut list = std::env::args().skip(1);
    while let Some(flag) = list.next() {
        let mut value = || list.next().ok_or(format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {text}"))
        };
        match flag.as_str() {
            "--bin" => args.bin = PathBuf::from(value()?),
            "--postgres" => postgres_url = Some(value()?),
            "--postgres-dir" => postgres_dir = Some(PathBuf::from(value()?)),
            "--nodes" => args.nodes = number(value()?)?.clamp(1, 8) as usize,
            "--pg-seconds" => args.pg_seconds = number(value()?)?,
            "--sqlite-seconds" => args.sqlite_seconds = number(value()?)?,
            "--seed" => args.seed = number(value()?)?,
            "--clients" => args.clients = number(value()?)?.max(1),
            "--bound-ms" => args.bound = Duration::from_millis(number(value()?)?),
            "--no-faults" => args.faults = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let (Some(url), Some(dir)) = (postgres_url, postgres_dir) {
        args.postgres = Some((url, dir));
    }
    Ok(args)
}

fn print(report: &Report, seed: u64) {
    println!(
        "== {}: {} calls in {:.1} s ({:.0} ops/s), slowest answer {} ms",
        report.label,
        report.ops,
        report.seconds,
        report.ops as f64 / report.seconds.max(0.001),
        report.slowest.as_millis()
    );
    let statuses: Vec<String> = report
        .by_status
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    println!("   outcomes: {}", statuses.join(", "));
    println!("   fault events: {}", report.faults.len());
    println!("   anomalies: {}", report.anomalies.len());
    // By kind (the text before the first `:`), the first 3 of each in full.
    let mut kinds: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for anomaly in &report.anomalies {
        let kind = anomaly.split(':').next().unwrap_or_default();
        kinds.entry(kind).or_default().push(anomaly);
    }
    for (kind, all) in kinds {
        println!("   {} × {kind}", all.len());
        for anomaly in all.iter().take(3) {
            println!("     ANOMALY {anomaly}");
        }
    }
    println!("   seed: {seed}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = match args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("history_check: {error}");
            std::process::exit(2);
        }
    };
    let logs = std::env::temp_dir().join(format!("history-check-{}", args.seed));
    let _ = std::fs::create_dir_all(&logs);
    println!(
        "history check, seed {} (replay: --seed {}), node logs in {}",
        args.seed,
        args.seed,
        logs.display()
    );
    let mut reports = Vec::new();
    if let Some((url, dir)) = &args.postgres {
        let Some(cluster) = cluster::Cluster::adopt(url, dir) else {
            eprintln!("history_check: cannot use the PostgreSQL cluster at {url}");
            std::process::exit(2);
        };
        let name = format!("history_{}", args.seed % 1_000_000_000);
        let database = match cluster.create_database(&name).await {
            Ok(database) => database,
            Err(error) => {
                eprintln!("history_check: cannot create database {name}: {error}");
                std::process::exit(2);
            }
        };
        let cluster = Arc::new(Mutex::new(cluster));
        match run_target(
            format!("postgres {} nodes", args.nodes),
            database,
            args.nodes,
            args.bin.clone(),
            Some(cluster),
            name,
            args.pg_seconds,
            args.seed,
            args.clients,
            args.bound,
            args.faults,
            logs.clone(),
        )
        .await
        {
            Ok(report) => reports.push(report),
            Err(error) => {
                eprintln!("history_check: {error}");
                std::process::exit(2);
            }
        }
    }
    if args.sqlite_seconds > 0 {
        let database = logs.join("history.sqlite3").display().to_string();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{database}{suffix}"));
        }
        match run_target(
            "sqlite 1 node".into(),
            database,
            1,
            args.bin.clone(),
            None,
            String::new(),
            args.sqlite_seconds,
            args.seed,
            args.clients,
            args.bound,
            args.faults,
            logs.clone(),
        )
        .await
        {
            Ok(report) => reports.push(report),
            Err(error) => {
                eprintln!("history_check: {error}");
                std::process::exit(2);
            }
        }
    }
    let mut anomalies = 0;
    for report in &reports {
        print(report, args.seed);
        anomalies += report.anomalies.len();
    }
    if anomalies > 0 {
        println!(
            "FAILED: {anomalies} anomalies; replay with --seed {}",
            args.seed
        );
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&logs);
    println!("history check passed (seed {})", args.seed);
}
