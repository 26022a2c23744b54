//! The client fault matrix: every call kind, on every surface that adds its own path (the Rust
//! API, the C ABI blocking and asynchronous), against a sandbox behind a TLS-terminating
//! [`FaultProxy`] that breaks the call's own connection at one point: at accept, after the
//! `ClientHello`, after every byte offset `k` of the request (0 through the last byte and just
//! after it) and of the response, by a reset, a close without `close_notify`, a clean TLS close,
//! a garbage TLS record, a stall, or a trickle. At each point it checks the promises:
//!
//! - **P1 at most once**: `open`, `register` and `removeAccount` reach the sandbox whole at most
//!   once (counted by the sandbox); a success was delivered exactly once; an error that says
//!   nothing was sent ([`agora_link::Error::request_may_have_been_sent`] false) was delivered
//!   zero times, and an error after the request reached the server never claims otherwise.
//! - **P2 bounded**: every call ends within its call deadline plus [`MARGIN`].
//! - **P3 no panic**: every call returns (a panic in the call's task is a violation).
//!
//! Both the PRIMARY and the OTHER host of the domain-switching plan resolve to the proxy, whose
//! strike applies to the first connection only: a client that wrongly fails over after the
//! request was delivered reaches the sandbox a second time and is caught.
//!
//! Used by `tests/fault_matrix.rs` (a reduced matrix in the test suite) and by
//! `examples/fault_matrix.rs` (every point, release build, in `.ci/run`).
#![allow(dead_code)]

use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_link::{
    ClientConfig, ClientConfigBuilder, FailoverPolicy, OpenPackageRequest, Region,
    RegionalFallback, SecretString, TokenGrant,
};
use agora_link_sandbox::{
    FaultProxy, Sandbox, Strike, StrikeKind, StrikePoint, TlsIdentity, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

/// The spec's two primaries; both resolve to the proxy.
pub const PRIMARY: &str = "api.sd-rtn.com";
pub const OTHER: &str = "api.agora.io";
/// The request timeout of one attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);
/// The call deadline.
pub const DEADLINE: Duration = Duration::from_millis(900);
/// What a call may take past its deadline on a loaded two-core machine (P2's margin).
pub const MARGIN: Duration = Duration::from_millis(1000);
/// A trickle slow enough that no exchange finishes within the deadline.
pub const SLOW_TRICKLE: Duration = Duration::from_millis(40);
/// A trickle that lets short exchanges finish.
pub const FAST_TRICKLE: Duration = Duration::from_micros(500);

/// A surface with its own path from the call to the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The async Rust API.
    Rust,
    /// The C ABI, blocking calls.
    CBlocking,
    /// The C ABI, asynchronous calls with completion callbacks.
    CAsync,
}

/// A call of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    TokenPassword,
    TokenClientCredentials,
    TokenRefresh,
    List,
    Get,
    Open,
    Register,
    Login,
    Remove,
}

impl CallKind {
    pub const ALL: [CallKind; 9] = [
        CallKind::TokenPassword,
        CallKind::TokenClientCredentials,
        CallKind::TokenRefresh,
        CallKind::List,
        CallKind::Get,
        CallKind::Open,
        CallKind::Register,
        CallKind::Login,
        CallKind::Remove,
    ];

    /// The path suffix the sandbox counts the call under.
    pub fn path(self) -> &'static str {
        match self {
            CallKind::TokenPassword | CallKind::TokenClientCredentials | CallKind::TokenRefresh => {
                "/oauth/rest-token"
            }
            CallKind::List => "/getAll",
            CallKind::Get => "/getById",
            CallKind::Open => "/open",
            CallKind::Register => "/register",
            CallKind::Login => "/login",
            CallKind::Remove => "/removeAccount",
        }
    }

    /// Calls that must reach the server at most once (P1).
    pub fn at_most_once(self) -> bool {
        matches!(self, CallKind::Open | CallKind::Register | CallKind::Remove)
    }

    /// Whether the C ABI has this call (it has no explicit token grants but its own).
    pub fn on(self, surface: Surface) -> bool {
        surface == Surface::Rust
            || !matches!(
                self,
                CallKind::TokenClientCredentials | CallKind::TokenRefresh
            )
    }
}

/// The kinds of strike and the points they apply to, for one exchange measured at
/// `request_len` and `response_len` plaintext bytes.
pub fn strikes(request_len: usize, response_len: usize, kinds: &[StrikeKind]) -> Vec<Strike> {
    let mut strikes = Vec::new();
    for &kind in kinds {
        if matches!(kind, StrikeKind::Trickle(_)) {
            // A trickle changes the pace of a whole direction: once per direction.
            strikes.push(Strike::new(StrikePoint::Request(0), kind));
            strikes.push(Strike::new(StrikePoint::Response(0), kind));
            continue;
        }
        if kind != StrikeKind::CloseNotify {
            strikes.push(Strike::new(StrikePoint::Accept, kind));
            strikes.push(Strike::new(StrikePoint::AfterClientHello, kind));
        }
        for k in 0..=request_len {
            strikes.push(Strike::new(StrikePoint::Request(k), kind));
        }
        for k in 0..=response_len {
            strikes.push(Strike::new(StrikePoint::Response(k), kind));
        }
    }
    strikes
}

/// Every kind of strike.
pub fn all_kinds() -> Vec<StrikeKind> {
    vec![
        StrikeKind::Reset,
        StrikeKind::Close,
        StrikeKind::CloseNotify,
        StrikeKind::Garbage,
        StrikeKind::Stall,
        StrikeKind::Trickle(FAST_TRICKLE),
        StrikeKind::Trickle(SLOW_TRICKLE),
    ]
}

/// The shared test identity: a CA and a leaf for both primaries.
pub struct World {
    pub identity: TlsIdentity,
    pub ca: String,
}

impl World {
    pub fn new() -> World {
        let (identity, ca) = TlsIdentity::generate_for(&[PRIMARY, OTHER]).expect("identity");
        World { identity, ca }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// One point's setup: a sandbox, a proxy in front of it, a client configuration through it.
/// A sandbox and a proxy in front of it, used by one point at a time (fresh listeners per
/// point would exhaust the ephemeral ports with tens of thousands of points).
pub struct Rig {
    sandbox: Sandbox,
    proxy: Arc<FaultProxy>,
}

impl Rig {
    async fn start(world: &World) -> std::io::Result<Rig> {
        let sandbox = Sandbox::builder().start().await?;
        let proxy = FaultProxy::start(sandbox.address(), &world.identity).await?;
        Ok(Rig {
            sandbox,
            proxy: Arc::new(proxy),
        })
    }
}

fn config(world: &World, proxy: &FaultProxy) -> ClientConfigBuilder {
    ClientConfig::builder(Region::China, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        .password_grant(DEFAULT_USERNAME, DEFAULT_PASSWORD)
        .add_root_certificates_pem(world.ca.clone())
        .use_bundled_roots(false)
        .resolve(PRIMARY, proxy.address())
        .resolve(OTHER, proxy.address())
        .resolve_overrides_only(true)
        .disable_proxy()
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(REQUEST_TIMEOUT)
        // Connections are not reused between the preparation and the call: the strike hits
        // the call's own connection.
        .pool_idle_timeout(Duration::from_millis(1))
        .failover(FailoverPolicy {
            backoff: vec![Duration::from_millis(10)],
            call_deadline: DEADLINE,
            regional: RegionalFallback::Off,
            cooldown: Duration::ZERO,
            ..FailoverPolicy::default()
        })
}

/// What a call returned, surface-independent.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    /// `request_may_have_been_sent` of the error (false on success).
    pub may_have_been_sent: bool,
    pub message: String,
    pub elapsed: Duration,
    pub panicked: bool,
}

/// A violated promise at one point.
#[derive(Debug, Clone)]
pub struct Violation {
    pub surface: Surface,
    pub kind: CallKind,
    pub strike: Strike,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:?} {:?}@{:?}: {}",
            self.surface, self.kind, self.strike.kind, self.strike.point, self.what
        )
    }
}

/// Prepared state a call needs (a registered account's token, a refresh token).
#[derive(Clone, Default)]
struct Prepared {
    account: String,
    account_token: Option<SecretString>,
    refresh_token: Option<SecretString>,
}

const PROJECT: &str = "fault-matrix-project";

async fn prepare(
    client: &agora_link::Client,
    kind: CallKind,
    n: u64,
    attempt: u32,
) -> Result<Prepared, String> {
    let mut prepared = Prepared {
        account: format!("account-{n:08}-{attempt}"),
        ..Prepared::default()
    };
    match kind {
        CallKind::TokenPassword | CallKind::TokenClientCredentials => {}
        CallKind::TokenRefresh => {
            let token = client
                .access_token()
                .await
                .map_err(|e| format!("prepare: {e}"))?;
            prepared.refresh_token = token.refresh_token.clone();
        }
        CallKind::List | CallKind::Get | CallKind::Open | CallKind::Register => {
            client
                .access_token()
                .await
                .map_err(|e| format!("prepare: {e}"))?;
        }
        CallKind::Login | CallKind::Remove => {
            let account = client
                .register_account(PROJECT, &prepared.account)
                .await
                .map_err(|e| format!("prepare: {e}"))?;
            prepared.account_token = Some(account.token);
        }
    }
    Ok(prepared)
}

fn open_request(n: u64) -> OpenPackageRequest {
    OpenPackageRequest {
        app_id: "fault-matrix-app".into(),
        user_id: "fault-matrix-user".into(),
        device_id: format!("device-{n:08}"),
        payment_order_id: format!("payment-{n:08}"),
        cloud_record_package_id: 1,
        order_number: 1,
    }
}

async fn call_rust(
    client: &agora_link::Client,
    kind: CallKind,
    prepared: &Prepared,
    n: u64,
) -> agora_link::Result<()> {
    let account_token = || {
        prepared
            .account_token
            .clone()
            .unwrap_or_else(|| SecretString::from("none"))
    };
    match kind {
        CallKind::TokenPassword => client
            .request_token(&TokenGrant::Password {
                username: DEFAULT_USERNAME.into(),
                password: DEFAULT_PASSWORD.into(),
            })
            .await
            .map(drop),
        CallKind::TokenClientCredentials => client
            .request_token(&TokenGrant::ClientCredentials)
            .await
            .map(drop),
        CallKind::TokenRefresh => client
            .request_token(&TokenGrant::RefreshToken {
                refresh_token: prepared
                    .refresh_token
                    .clone()
                    .unwrap_or_else(|| SecretString::from("none")),
            })
            .await
            .map(drop),
        CallKind::List => client.list_packages().await.map(drop),
        CallKind::Get => client.get_package(1).await.map(drop),
        CallKind::Open => client.open_package(&open_request(n)).await.map(drop),
        CallKind::Register => client
            .register_account(PROJECT, &prepared.account)
            .await
            .map(drop),
        CallKind::Login => client
            .login_account(PROJECT, &prepared.account, &account_token())
            .await
            .map(drop),
        CallKind::Remove => client
            .remove_account(PROJECT, &prepared.account, &account_token())
            .await
            .map(drop),
    }
}

/// Runs one point; returns the violations found there (none: the promises held).
pub async fn run_point(
    world: Arc<World>,
    surface: Surface,
    kind: CallKind,
    strike: Option<Strike>,
    n: u64,
    rig: Option<Arc<Rig>>,
) -> Result<(Outcome, agora_link_sandbox::ConnectionBytes), Violation> {
    let violation = |what: String| Violation {
        surface,
        kind,
        strike: strike.unwrap_or(Strike::new(
            StrikePoint::Request(usize::MAX),
            StrikeKind::Reset,
        )),
        what,
    };
    let rig = match rig {
        Some(rig) => rig,
        None => Arc::new(
            Rig::start(&world)
                .await
                .map_err(|e| violation(format!("rig: {e}")))?,
        ),
    };
    let builder = config(&world, &rig.proxy);
    let client = agora_link::Client::new(
        builder
            .clone()
            .build()
            .map_err(|e| violation(e.to_string()))?,
    )
    .map_err(|e| violation(e.to_string()))?;
    // Setup, not under test: retried when the loaded machine is slow.
    let mut prepared = prepare(&client, kind, n, 0).await;
    for attempt in 1..5 {
        if prepared.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        prepared = prepare(&client, kind, n, attempt).await;
    }
    let prepared = prepared.map_err(violation)?;
    // Let the pooled connection of the preparation expire.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before = rig.sandbox.stats().delivered_to(kind.path());
    // The first connection of the call itself (after any preparation).
    let first_connection = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let arm = {
        let proxy = rig.proxy.clone();
        let first_connection = first_connection.clone();
        move || {
            first_connection.store(proxy.connections(), std::sync::atomic::Ordering::Release);
            if let Some(strike) = strike {
                proxy.arm(strike);
            }
        }
    };
    let mut started = Instant::now();
    let outcome = match surface {
        Surface::Rust => {
            arm();
            let task = tokio::spawn(async move {
                let result = call_rust(&client, kind, &prepared, n).await;
                drop(client);
                result
            });
            let joined = task.await;
            let elapsed = started.elapsed();
            match joined {
                Ok(Ok(())) => Outcome {
                    ok: true,
                    may_have_been_sent: false,
                    message: String::new(),
                    elapsed,
                    panicked: false,
                },
                Ok(Err(e)) => Outcome {
                    ok: false,
                    may_have_been_sent: e.request_may_have_been_sent(),
                    message: e.to_string(),
                    elapsed,
                    panicked: false,
                },
                Err(e) => Outcome {
                    ok: false,
                    may_have_been_sent: true,
                    message: format!("task failed: {e}"),
                    elapsed,
                    panicked: e.is_panic(),
                },
            }
        }
        Surface::CBlocking | Surface::CAsync => {
            drop(client);
            let account = prepared.account.clone();
            let account_token = prepared
                .account_token
                .as_ref()
                .map(|t| t.expose().to_owned())
                .unwrap_or_default();
            let ca = world.ca.clone();
            let address = rig.proxy.address();
            let asynchronous = surface == Surface::CAsync;
            // A thread of the host's own, as a C program has (not a runtime's blocking pool,
            // where the library refuses blocking calls as deadlock-prone).
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let (done, finished) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    capi::call(
                        &ca,
                        address,
                        kind,
                        &account,
                        &account_token,
                        n,
                        asynchronous,
                        || {
                            arm();
                            let _ = sender.send(Instant::now());
                        },
                    )
                }));
                let _ = done.send(result);
            });
            let joined = finished
                .await
                .unwrap_or_else(|_| Err(Box::new("the thread ended without a result")));
            if let Ok(at) = receiver.await {
                started = at;
            }
            let elapsed = started.elapsed();
            match joined {
                Ok((ok, may_have_been_sent, message)) => Outcome {
                    ok,
                    may_have_been_sent,
                    message,
                    elapsed,
                    panicked: false,
                },
                Err(e) => Outcome {
                    ok: false,
                    may_have_been_sent: true,
                    message: format!(
                        "thread panicked: {}",
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    ),
                    elapsed,
                    panicked: true,
                },
            }
        }
    };
    // A request the sandbox read whole before the client gave up is acted on shortly after:
    // give the server's side a moment, then end whatever of this point is still open
    // (a trickle, a drain) before counting.
    tokio::time::sleep(Duration::from_millis(30)).await;
    rig.proxy.abort_connections();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let delivered = rig.sandbox.stats().delivered_to(kind.path()) - before;
    let mut problems = Vec::new();
    if outcome.panicked {
        problems.push(format!("P3: panicked: {}", outcome.message));
    }
    if outcome.elapsed > DEADLINE + MARGIN {
        problems.push(format!(
            "P2: took {} ms (deadline {} ms): {}",
            outcome.elapsed.as_millis(),
            DEADLINE.as_millis(),
            outcome.message
        ));
    }
    if kind.at_most_once() {
        if delivered > 1 {
            problems.push(format!(
                "P1: delivered {delivered} times: {}",
                if outcome.ok { "ok" } else { &outcome.message }
            ));
        }
        if outcome.ok && delivered != 1 {
            problems.push(format!("P1: succeeded but delivered {delivered} times"));
        }
    }
    if !outcome.ok && delivered > 0 && !outcome.may_have_been_sent {
        problems.push(format!(
            "P1: the server had the request but the error says nothing was sent: {}",
            outcome.message
        ));
    }
    // The message says what the flag says (the words of `with_sent_note` and `with_attempts`).
    if !outcome.ok && outcome.message.contains("nothing was sent") {
        let also_may = outcome.message.contains("may have");
        if outcome.may_have_been_sent != also_may {
            problems.push(format!(
                "P1: the message and the flag ({}) disagree: {}",
                outcome.may_have_been_sent, outcome.message
            ));
        }
    }
    if !outcome.ok && !outcome.may_have_been_sent && !outcome.message.contains("nothing was sent") {
        problems.push(format!(
            "P1: nothing was sent, but the message does not say so: {}",
            outcome.message
        ));
    }
    // Every enumerated point lies within the exchange: a strike that never fired tested nothing.
    if strike.is_some() && !rig.proxy.struck() {
        problems.push("the strike did not fire (the exchange changed length?)".to_owned());
    }
    let bytes = rig
        .proxy
        .connection_bytes()
        .into_iter()
        .filter(|b| b.connection >= first_connection.load(std::sync::atomic::Ordering::Acquire))
        .fold(agora_link_sandbox::ConnectionBytes::default(), |a, b| {
            agora_link_sandbox::ConnectionBytes {
                connection: b.connection,
                request: a.request.max(b.request),
                response: a.response.max(b.response),
            }
        });
    if problems.is_empty() {
        Ok((outcome, bytes))
    } else {
        Err(violation(problems.join("; ")))
    }
}

/// The figures of a matrix run.
#[derive(Debug, Default)]
pub struct Report {
    pub points: usize,
    pub succeeded: usize,
    pub failed_honestly: usize,
    pub violations: Vec<Violation>,
    /// (surface, kind, request bytes, response bytes, points).
    pub shapes: Vec<(Surface, CallKind, usize, usize, usize)>,
}

/// Runs the matrix for `surfaces` × `kinds` × the strikes of `strike_kinds`, `concurrency`
/// points at a time.
pub async fn run(
    surfaces: &[Surface],
    kinds: &[CallKind],
    strike_kinds: &[StrikeKind],
    concurrency: usize,
) -> Report {
    let world = Arc::new(World::new());
    let mut report = Report::default();
    let mut n = 0u64;
    let mut rigs: Vec<Arc<Rig>> = Vec::new();
    for &surface in surfaces {
        for &kind in kinds {
            if !kind.on(surface) {
                continue;
            }
            // Measure the exchange without a fault: the plaintext bytes of the call's connection.
            n += 1;
            let (outcome, bytes) =
                match run_point(world.clone(), surface, kind, None, n, None).await {
                    Ok(measured) => measured,
                    Err(v) => {
                        report.violations.push(v);
                        continue;
                    }
                };
            if !outcome.ok {
                report.violations.push(Violation {
                    surface,
                    kind,
                    strike: Strike::new(StrikePoint::Request(usize::MAX), StrikeKind::Reset),
                    what: format!("fails without a fault: {}", outcome.message),
                });
                continue;
            }
            let points = strikes(bytes.request, bytes.response, strike_kinds);
            report
                .shapes
                .push((surface, kind, bytes.request, bytes.response, points.len()));
            // One rig per slot: a point takes a free rig and gives it back.
            while rigs.len() < concurrency {
                match Rig::start(&world).await {
                    Ok(rig) => rigs.push(Arc::new(rig)),
                    Err(e) => panic!("cannot start a rig: {e}"),
                }
            }
            let (give_back, mut free) = tokio::sync::mpsc::unbounded_channel();
            for rig in &rigs {
                let _ = give_back.send(rig.clone());
            }
            let mut tasks = Vec::with_capacity(points.len());
            for strike in points {
                n += 1;
                let rig = free.recv().await.expect("a rig comes back");
                let world = world.clone();
                let give_back = give_back.clone();
                tasks.push(tokio::spawn(async move {
                    let result =
                        run_point(world, surface, kind, Some(strike), n, Some(rig.clone())).await;
                    let _ = give_back.send(rig);
                    result
                }));
            }
            for task in tasks {
                report.points += 1;
                match task.await {
                    Ok(Ok((outcome, _))) if outcome.ok => report.succeeded += 1,
                    Ok(Ok(_)) => report.failed_honestly += 1,
                    Ok(Err(v)) => report.violations.push(v),
                    Err(e) => report.violations.push(Violation {
                        surface,
                        kind,
                        strike: Strike::new(StrikePoint::Accept, StrikeKind::Reset),
                        what: format!("harness task failed: {e}"),
                    }),
                }
            }
        }
    }
    report
}

/// The C ABI's path: configuration, client, one call (blocking, or asynchronous waited on).
#[allow(clippy::too_many_arguments)]
mod capi {
    use super::*;
    use agora_link::capi::agora_link_result::*;
    use agora_link::capi::*;

    fn c(text: &str) -> CString {
        CString::new(text).expect("no NUL")
    }

    unsafe fn take_error(error: *mut agora_link_error) -> (bool, String) {
        if error.is_null() {
            return (true, "no error object".into());
        }
        let sent = agora_link_error_may_have_been_sent(error);
        let message = agora_link_error_message(error);
        let text = if message.is_null() {
            String::new()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        agora_link_error_free(error);
        (sent, text)
    }

    struct Done {
        sender: std::sync::mpsc::Sender<(agora_link_result, *mut agora_link_error)>,
    }

    unsafe fn complete(
        user_data: *mut c_void,
        result: agora_link_result,
        error: *mut agora_link_error,
    ) {
        let done = Box::from_raw(user_data as *mut Done);
        let _ = done.sender.send((result, error));
    }

    /// A completion callback that frees the call's value (of type `$value`, with `$free`) and
    /// reports the result.
    macro_rules! completion {
        ($name:ident, $value:ty, $free:ident) => {
            extern "C" fn $name(
                u: *mut c_void,
                r: agora_link_result,
                value: *mut $value,
                e: *mut agora_link_error,
            ) {
                unsafe {
                    $free(value);
                    complete(u, r, e)
                }
            }
        };
    }
    completion!(on_token, agora_link_token, agora_link_token_free);
    completion!(
        on_list,
        agora_link_package_list,
        agora_link_package_list_free
    );
    completion!(on_package, agora_link_package, agora_link_package_free);
    completion!(on_string, std::ffi::c_char, agora_link_string_free);
    completion!(on_account, agora_link_account, agora_link_account_free);
    completion!(on_login, agora_link_login, agora_link_login_free);
    extern "C" fn on_unit(u: *mut c_void, r: agora_link_result, e: *mut agora_link_error) {
        unsafe { complete(u, r, e) }
    }

    /// One call through the C ABI: `(ok, may_have_been_sent, message)`.
    pub fn call(
        ca: &str,
        address: std::net::SocketAddr,
        kind: CallKind,
        account: &str,
        account_token: &str,
        n: u64,
        asynchronous: bool,
        arm: impl FnOnce(),
    ) -> (bool, bool, String) {
        unsafe {
            call_unsafe(
                ca,
                address,
                kind,
                account,
                account_token,
                n,
                asynchronous,
                arm,
            )
        }
    }

    unsafe fn call_unsafe(
        ca: &str,
        address: std::net::SocketAddr,
        kind: CallKind,
        account: &str,
        account_token: &str,
        n: u64,
        asynchronous: bool,
        arm: impl FnOnce(),
    ) -> (bool, bool, String) {
        let mut error: *mut agora_link_error = std::ptr::null_mut();
        let mut config = std::ptr::null_mut();
        let r = agora_link_config_new(
            AGORA_LINK_REGION_CN,
            c(DEFAULT_CLIENT_ID).as_ptr(),
            c(DEFAULT_CLIENT_SECRET).as_ptr(),
            &mut config,
            &mut error,
        );
        assert_eq!(r, AGORA_LINK_OK, "{:?}", take_error(error));
        let check = |r: agora_link_result, error: *mut agora_link_error| {
            assert_eq!(r, AGORA_LINK_OK, "{:?}", take_error(error));
        };
        check(
            agora_link_config_set_password_grant(
                config,
                c(DEFAULT_USERNAME).as_ptr(),
                c(DEFAULT_PASSWORD).as_ptr(),
                &mut error,
            ),
            error,
        );
        check(
            agora_link_config_add_root_certificates_pem(config, ca.as_ptr(), ca.len(), &mut error),
            error,
        );
        check(
            agora_link_config_set_use_bundled_roots(config, false, &mut error),
            error,
        );
        let addr = c(&address.to_string());
        check(
            agora_link_config_add_resolve(config, c(PRIMARY).as_ptr(), addr.as_ptr(), &mut error),
            error,
        );
        check(
            agora_link_config_add_resolve(config, c(OTHER).as_ptr(), addr.as_ptr(), &mut error),
            error,
        );
        check(
            agora_link_config_set_resolve_overrides_only(config, true, &mut error),
            error,
        );
        check(
            agora_link_config_set_no_proxy(config, c("*").as_ptr(), &mut error),
            error,
        );
        check(
            agora_link_config_set_request_timeout_ms(
                config,
                REQUEST_TIMEOUT.as_millis() as u32,
                &mut error,
            ),
            error,
        );
        check(
            agora_link_config_set_call_deadline_ms(config, DEADLINE.as_millis() as u32, &mut error),
            error,
        );
        check(
            agora_link_config_set_regional_off(config, &mut error),
            error,
        );
        check(
            agora_link_config_set_host_cooldown_ms(config, 0, 0, &mut error),
            error,
        );
        check(
            agora_link_config_set_pool_idle_timeout_ms(config, 1, &mut error),
            error,
        );
        let mut client = std::ptr::null_mut();
        let r = agora_link_client_new(config, &mut client, &mut error);
        agora_link_config_free(config);
        assert_eq!(r, AGORA_LINK_OK, "{:?}", take_error(error));
        // The C client has its own token cache: warmed before the strike is armed (but for the
        // token call itself), so that the strike hits the call's own connection.
        if !matches!(kind, CallKind::TokenPassword) {
            let mut token = std::ptr::null_mut();
            let mut error = std::ptr::null_mut();
            let r = agora_link_client_get_token(client, &mut token, &mut error);
            agora_link_token_free(token);
            assert_eq!(r, AGORA_LINK_OK, "{:?}", take_error(error));
            std::thread::sleep(Duration::from_millis(5));
        }
        arm();
        let project = c(PROJECT);
        let account_c = c(account);
        let token_c = c(account_token);
        let device = format!("device-{n:08}");
        let payment = format!("payment-{n:08}");
        let (app, user, device, payment) = (
            c("fault-matrix-app"),
            c("fault-matrix-user"),
            c(&device),
            c(&payment),
        );
        let open = agora_link_open_request {
            app_id: app.as_ptr(),
            user_id: user.as_ptr(),
            device_id: device.as_ptr(),
            payment_order_id: payment.as_ptr(),
            package_id: 1,
            order_number: 1,
        };
        let (result, error) = if asynchronous {
            let (sender, receiver) = std::sync::mpsc::channel();
            let user_data = Box::into_raw(Box::new(Done { sender })) as *mut c_void;
            let mut call: *mut agora_link_call = std::ptr::null_mut();
            let mut start_error: *mut agora_link_error = std::ptr::null_mut();
            let started = match kind {
                CallKind::TokenPassword
                | CallKind::TokenClientCredentials
                | CallKind::TokenRefresh => agora_link_client_get_token_async(
                    client,
                    Some(on_token),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::List => agora_link_client_list_packages_async(
                    client,
                    Some(on_list),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::Get => agora_link_client_get_package_async(
                    client,
                    1,
                    Some(on_package),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::Open => agora_link_client_open_package_async(
                    client,
                    &open,
                    Some(on_string),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::Register => agora_link_client_register_account_async(
                    client,
                    project.as_ptr(),
                    account_c.as_ptr(),
                    Some(on_account),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::Login => agora_link_client_login_account_async(
                    client,
                    project.as_ptr(),
                    account_c.as_ptr(),
                    token_c.as_ptr(),
                    Some(on_login),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
                CallKind::Remove => agora_link_client_remove_account_async(
                    client,
                    project.as_ptr(),
                    account_c.as_ptr(),
                    token_c.as_ptr(),
                    Some(on_unit),
                    user_data,
                    &mut call,
                    &mut start_error,
                ),
            };
            if started != AGORA_LINK_OK {
                drop(Box::from_raw(user_data as *mut Done));
                (started, start_error)
            } else {
                let done = receiver.recv_timeout(DEADLINE + MARGIN * 10);
                agora_link_call_free(call);
                match done {
                    Ok(done) => done,
                    Err(_) => (AGORA_LINK_ERROR_TIMEOUT, std::ptr::null_mut()),
                }
            }
        } else {
            let mut error: *mut agora_link_error = std::ptr::null_mut();
            let result = match kind {
                CallKind::TokenPassword
                | CallKind::TokenClientCredentials
                | CallKind::TokenRefresh => {
                    let mut token = std::ptr::null_mut();
                    let r = agora_link_client_get_token(client, &mut token, &mut error);
                    agora_link_token_free(token);
                    r
                }
                CallKind::List => {
                    let mut list = std::ptr::null_mut();
                    let r = agora_link_client_list_packages(client, &mut list, &mut error);
                    agora_link_package_list_free(list);
                    r
                }
                CallKind::Get => {
                    let mut package = std::ptr::null_mut();
                    let r = agora_link_client_get_package(client, 1, &mut package, &mut error);
                    agora_link_package_free(package);
                    r
                }
                CallKind::Open => {
                    let mut order = std::ptr::null_mut();
                    let r = agora_link_client_open_package(client, &open, &mut order, &mut error);
                    agora_link_string_free(order);
                    r
                }
                CallKind::Register => {
                    let mut account = std::ptr::null_mut();
                    let r = agora_link_client_register_account(
                        client,
                        project.as_ptr(),
                        account_c.as_ptr(),
                        &mut account,
                        &mut error,
                    );
                    agora_link_account_free(account);
                    r
                }
                CallKind::Login => {
                    let mut login = std::ptr::null_mut();
                    let r = agora_link_client_login_account(
                        client,
                        project.as_ptr(),
                        account_c.as_ptr(),
                        token_c.as_ptr(),
                        &mut login,
                        &mut error,
                    );
                    agora_link_login_free(login);
                    r
                }
                CallKind::Remove => agora_link_client_remove_account(
                    client,
                    project.as_ptr(),
                    account_c.as_ptr(),
                    token_c.as_ptr(),
                    &mut error,
                ),
            };
            (result, error)
        };
        agora_link_client_free(client);
        if result == AGORA_LINK_OK {
            (true, false, String::new())
        } else {
            let (sent, message) = take_error(error);
            (false, sent, format!("result {result:?}: {message}"))
        }
    }
}
