//! The HTTP(S) server: listener, TLS, fault injection in front of the axum router, admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agora_link_server_guard::{GuardStats, GuardedBody, Limits, Tracker, Transport};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Request, Response, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::fault_proxy::FaultProxy;
use crate::faults::{Fault, FaultAction, MAX_FAULT_RULES};
use crate::iot::{run_gateway, Gateway};
use crate::shared::Shared;
use crate::state::{
    now_ms, Db, Failure, Lifetimes, Order, Outcome, SandboxClient, Stats, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};
use crate::tls::{tls_acceptor, TlsIdentity};

/// Configures and starts a [`Sandbox`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SandboxBuilder {
    listen: SocketAddr,
    clients: Vec<SandboxClient>,
    lifetimes: Lifetimes,
    iot_region: String,
    tls: Option<TlsIdentity>,
    hosts: Vec<String>,
    iot_gateway: bool,
    iot_upstream: Option<SocketAddr>,
    limits: Limits,
    fault_proxy: bool,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clients: vec![SandboxClient {
                client_id: DEFAULT_CLIENT_ID.into(),
                client_secret: DEFAULT_CLIENT_SECRET.into(),
                users: vec![(DEFAULT_USERNAME.into(), DEFAULT_PASSWORD.into())],
            }],
            lifetimes: Lifetimes::default(),
            iot_region: "cn-north-1".into(),
            tls: None,
            hosts: Vec::new(),
            iot_gateway: false,
            iot_upstream: None,
            limits: Limits::default(),
            fault_proxy: false,
        }
    }
}

impl SandboxBuilder {
    /// The address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// Replaces the accepted clients (default: [`crate::DEFAULT_CLIENT_ID`] and friends).
    pub fn clients(mut self, clients: Vec<SandboxClient>) -> Self {
        self.clients = clients;
        self
    }

    /// Sets every lifetime at once.
    pub fn lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Sets the lifetime of REST tokens (`expires_in`).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetimes.rest_token = lifetime;
        self
    }

    /// Sets the AWS region of the IoT credentials `login` returns (default `cn-north-1`).
    pub fn iot_region(mut self, region: impl Into<String>) -> Self {
        self.iot_region = region.into();
        self
    }

    /// Serves HTTPS with this identity instead of plain HTTP.
    pub fn tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Adds a virtual host: a listener of its own on an ephemeral loopback port, serving the same
    /// cloud (accounts, tokens, orders are shared) under the name `host`. Point a client at it
    /// with a resolve override (`host` → [`Sandbox::host_address`]), then take it down, blackhole
    /// it or break it on its own with [`Sandbox::set_host_mode`] and [`Fault::on_host`].
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Starts the IoT gateway on an ephemeral loopback port: `login` then returns
    /// `ws://127.0.0.1:<port>` as the IoT endpoint, and the gateway checks the SigV4 query of each
    /// WebSocket upgrade against the credentials the sandbox issued (HTTP 403 with a `Date`
    /// header when it is wrong, stale, or made with expired credentials). Accepted connections
    /// go to the broker set with [`Self::iot_gateway_upstream`], or are answered with
    /// `101 Switching Protocols` and kept open when there is none.
    pub fn iot_gateway(mut self) -> Self {
        self.iot_gateway = true;
        self
    }

    /// Bridges accepted gateway connections to an MQTT broker's WebSocket listener (for example
    /// mosquitto with `listener 9001 127.0.0.1` and `protocol websockets`). Implies
    /// [`Self::iot_gateway`].
    pub fn iot_gateway_upstream(mut self, broker_websocket: SocketAddr) -> Self {
        self.iot_gateway = true;
        self.iot_upstream = Some(broker_websocket);
        self
    }

    /// The connection limits of every listener, as [`Limits`] documents (defaults: 5 s, 10 s,
    /// 15 s, 4096): request-head and body deadlines, an idle keep-alive timeout and one
    /// connection cap shared by the main listener, the virtual hosts and the IoT gateway (whose
    /// connections, once upgraded, are served as long as they last).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Also starts a [`crate::FaultProxy`] in front of the (plain) main listener: TLS for
    /// `api.sd-rtn.com`, `api.agora.io` and `localhost` from a generated CA, armed through the
    /// admin API (`GET /_sandbox/fault-proxy` gives its address and the CA's PEM, `POST
    /// /_sandbox/fault-proxy/arm` a strike), so that tests in any language can break one
    /// exchange at a chosen byte. [`Sandbox::fault_proxy_address`] and
    /// [`Sandbox::fault_proxy_ca_pem`] give the same from Rust. Not with [`SandboxBuilder::tls`].
    pub fn fault_proxy(mut self) -> Self {
        self.fault_proxy = true;
        self
    }

    /// Binds the listener and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// The address cannot be bound, the TLS identity does not parse, or a fault proxy was asked
    /// for together with TLS.
    pub async fn start(self) -> std::io::Result<Sandbox> {
        let acceptor = self.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = agora_link_server_guard::bind(self.listen).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot listen on {}: {error}", self.listen),
            )
        })?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::new(Db::new(
            self.clients.clone(),
            self.lifetimes.clone(),
            self.iot_region.clone(),
        )));
        if self.fault_proxy {
            if acceptor.is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the fault proxy terminates TLS itself: start the sandbox without TLS",
                ));
            }
            let (identity, ca) =
                TlsIdentity::generate_for(&["api.sd-rtn.com", "api.agora.io", "localhost"])?;
            let proxy = FaultProxy::start(address, &identity).await?;
            tracing::info!(address = %proxy.address(), "fault proxy listening (TLS)");
            let _ = shared.fault_proxy.set((Arc::new(proxy), ca));
        }
        let tracker = Tracker::new(self.limits);
        let mut gateway_task = None;
        let mut gateway_address = None;
        let mut gateway_handle = None;
        if self.iot_gateway {
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let address = listener.local_addr()?;
            shared.db().iot_endpoint = Some(format!("ws://{address}"));
            let gateway = Arc::new(Gateway {
                shared: shared.clone(),
                upstream: self.iot_upstream,
                drops: tokio::sync::watch::channel(0).0,
                tracker: tracker.clone(),
                refusal_log: agora_link_server_guard::RateLimited::new(Duration::from_secs(1)),
            });
            gateway_handle = Some(gateway.clone());
            gateway_task = Some(tokio::spawn(run_gateway(listener, gateway)));
            gateway_address = Some(address);
            tracing::info!(%address, upstream = ?self.iot_upstream, "IoT gateway listening");
        }
        let router = router(shared.clone());
        let serve = ServeContext {
            acceptor,
            shared: shared.clone(),
            router,
            tracker,
        };
        let task = tokio::spawn(accept_loop(listener, serve.clone(), None));
        tracing::info!(%address, tls = self.tls.is_some(), "agora link sandbox listening");
        let mut hosts = Vec::new();
        for name in &self.hosts {
            let listener = agora_link_server_guard::bind_with_backlog(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                agora_link_server_guard::LISTEN_BACKLOG,
            )?;
            let host_address = listener.local_addr()?;
            let name: Arc<str> = Arc::from(name.as_str());
            let task = tokio::spawn(accept_loop(listener, serve.clone(), Some(name.clone())));
            tracing::info!(host = %name, address = %host_address, "virtual host listening");
            hosts.push(HostSlot {
                name,
                address: host_address,
                state: tokio::sync::Mutex::new(SlotState {
                    mode: HostMode::Up,
                    task: Some(task),
                    blackhole: None,
                }),
            });
        }
        Ok(Sandbox {
            address,
            scheme: if self.tls.is_some() { "https" } else { "http" },
            shared,
            task,
            clients: self.clients,
            serve,
            hosts,
            gateway_task,
            gateway_address,
            gateway: gateway_handle,
        })
    }
}

/// What a virtual host does with connections (see [`Sandbox::set_host_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostMode {
    /// Serves normally.
    Up,
    /// Nothing listens on the port: connections are refused.
    Down,
    /// The port's accept queue is full and never drained: connection attempts time out, like a
    /// blackholed address.
    Blackhole,
    /// Serves TLS with a certificate from a CA no client trusts: TLS handshakes fail.
    UntrustedCertificate,
}

/// The listener, router and TLS setup that every listener of one sandbox shares.
#[derive(Clone)]
struct ServeContext {
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    router: Router,
    /// The connections of every HTTP listener of this sandbox, under one cap.
    tracker: Tracker,
}

impl std::fmt::Debug for ServeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeContext").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct HostSlot {
    name: Arc<str>,
    address: SocketAddr,
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    mode: HostMode,
    task: Option<JoinHandle<()>>,
    /// A listener whose accept queue is kept full, and the connections filling it.
    blackhole: Option<(tokio::net::TcpListener, Vec<std::net::TcpStream>)>,
}

impl Drop for SlotState {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A running sandbox. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct Sandbox {
    address: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    clients: Vec<SandboxClient>,
    serve: ServeContext,
    hosts: Vec<HostSlot>,
    gateway_task: Option<JoinHandle<()>>,
    gateway_address: Option<SocketAddr>,
    gateway: Option<Arc<Gateway>>,
}

impl Sandbox {
    /// A builder with the defaults: ephemeral loopback port, plain HTTP, default credentials.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The address of the fault proxy ([`SandboxBuilder::fault_proxy`]), if it runs one.
    pub fn fault_proxy_address(&self) -> Option<SocketAddr> {
        self.shared
            .fault_proxy
            .get()
            .map(|(proxy, _)| proxy.address())
    }

    /// The PEM of the CA the fault proxy's certificate chains to, if it runs one.
    pub fn fault_proxy_ca_pem(&self) -> Option<&str> {
        self.shared.fault_proxy.get().map(|(_, ca)| ca.as_str())
    }

    /// The address the sandbox listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL (scheme, host and port), e.g. `http://127.0.0.1:41234`. Clients append
    /// `/agoralink/<cn|na>/api` to it.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// The clients the sandbox accepts.
    pub fn clients(&self) -> &[SandboxClient] {
        &self.clients
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.db().stats()
    }

    /// The connection counters of the HTTP listeners (accepted, open, shed, closed for being
    /// idle or slow; see [`SandboxBuilder::limits`]).
    pub fn connection_stats(&self) -> GuardStats {
        self.serve.tracker.stats()
    }

    /// The orders opened so far (the latest [`crate::MAX_ORDERS`]).
    pub fn orders(&self) -> Vec<Order> {
        self.shared.db().orders()
    }

    /// Adds a fault rule (first matching rule wins). Returns `false`, and the rule is not
    /// added (a warning is logged), when [`crate::MAX_FAULT_RULES`] rules are active.
    pub fn inject(&self, fault: Fault) -> bool {
        let added = self.shared.plan().add(fault);
        if !added {
            tracing::warn!(
                max = MAX_FAULT_RULES,
                "fault rule refused: too many active rules"
            );
        }
        added
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.plan().clear();
    }

    /// While on, a request that arrives on a connection that already carried one is not
    /// handled: the connection is closed without an answer. This is what a client sees when it
    /// reuses a pooled connection just as the server closes it for being idle (a keep-alive
    /// timeout), made deterministic. Counted in [`Stats::reused_connections_closed`].
    pub fn set_close_reused_connections(&self, enabled: bool) {
        self.shared
            .close_reused
            .store(enabled, std::sync::atomic::Ordering::SeqCst);
    }

    /// Forgets every issued access token: the next call with one gets HTTP 401.
    pub fn revoke_access_tokens(&self) {
        self.shared.db().revoke_access_tokens();
    }

    /// Stops the server now (also done on drop).
    pub fn shutdown(&self) {
        self.task.abort();
        if let Some(task) = &self.gateway_task {
            task.abort();
        }
    }

    /// The IoT gateway's address, when it runs ([`SandboxBuilder::iot_gateway`]).
    pub fn iot_gateway_address(&self) -> Option<SocketAddr> {
        self.gateway_address
    }

    /// The IoT endpoint `login` returns: `ws://<gateway>` when the gateway runs.
    pub fn iot_endpoint(&self) -> Option<String> {
        self.shared.db().iot_endpoint.clone()
    }

    /// Makes every temporary AWS credential issued so far expired: the gateway refuses them.
    pub fn expire_aws_sessions(&self) {
        self.shared.db().iot.expire_sessions(now_ms());
    }

    /// Closes every connection open through the IoT gateway (clients must reconnect).
    pub fn drop_iot_connections(&self) {
        if let Some(gateway) = &self.gateway {
            gateway.drops.send_modify(|n| *n += 1);
        }
    }

    /// Makes every Cognito OpenID token issued so far expired: Cognito refuses them.
    pub fn expire_open_id_tokens(&self) {
        self.shared.db().iot.expire_open_id_tokens(now_ms());
    }

    /// The virtual hosts, in the order they were added.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.to_string()).collect()
    }

    /// The loopback address of the virtual host `host`, if there is one.
    pub fn host_address(&self, host: &str) -> Option<SocketAddr> {
        self.slot(host).map(|slot| slot.address)
    }

    fn slot(&self, host: &str) -> Option<&HostSlot> {
        self.hosts.iter().find(|slot| &*slot.name == host)
    }

    /// The current mode of the virtual host `host`.
    pub async fn host_mode(&self, host: &str) -> Option<HostMode> {
        Some(self.slot(host)?.state.lock().await.mode)
    }

    /// Takes the virtual host `host` down, blackholes it, breaks its TLS or brings it back up.
    /// Changing the mode closes the host's open connections. Fails for an unknown host or when
    /// the host's port cannot be bound again.
    pub async fn set_host_mode(&self, host: &str, mode: HostMode) -> std::io::Result<()> {
        let slot = self.slot(host).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no virtual host {host:?}"),
            )
        })?;
        let mut state = slot.state.lock().await;
        if let Some(task) = state.task.take() {
            task.abort();
            // Wait until the task (and with it the listener) is gone, so that the port is free.
            let _ = task.await;
        }
        state.blackhole = None;
        state.mode = HostMode::Down;
        match mode {
            HostMode::Down => {}
            HostMode::Up => {
                let listener = agora_link_server_guard::bind_with_backlog(
                    slot.address,
                    agora_link_server_guard::LISTEN_BACKLOG,
                )?;
                state.task = Some(tokio::spawn(accept_loop(
                    listener,
                    self.serve.clone(),
                    Some(slot.name.clone()),
                )));
            }
            HostMode::UntrustedCertificate => {
                let (identity, _untrusted_ca) = TlsIdentity::generate_for(&[&slot.name])?;
                let serve = ServeContext {
                    acceptor: Some(tls_acceptor(&identity)?),
                    ..self.serve.clone()
                };
                let listener = agora_link_server_guard::bind_with_backlog(
                    slot.address,
                    agora_link_server_guard::LISTEN_BACKLOG,
                )?;
                state.task = Some(tokio::spawn(accept_loop(
                    listener,
                    serve,
                    Some(slot.name.clone()),
                )));
            }
            HostMode::Blackhole => {
                // Backlog 0 queues one connection; with the queue full and never accepted, the
                // kernel drops further SYNs and connection attempts time out.
                let listener = agora_link_server_guard::bind_with_backlog(slot.address, 0)?;
                let mut fillers = Vec::new();
                for _ in 0..8 {
                    let address = slot.address;
                    let attempt = tokio::task::spawn_blocking(move || {
                        std::net::TcpStream::connect_timeout(&address, Duration::from_millis(150))
                    })
                    .await
                    .map_err(std::io::Error::other)?;
                    match attempt {
                        Ok(stream) => fillers.push(stream),
                        Err(_) => break,
                    }
                }
                state.blackhole = Some((listener, fillers));
            }
        }
        state.mode = mode;
        tracing::info!(host, ?mode, "virtual host mode changed");
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(task) = &self.gateway_task {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, serve: ServeContext, host: Option<Arc<str>>) {
    // Aborting this task drops `serve`'s future and with it every connection.
    let transport = match serve.acceptor.clone() {
        Some(acceptor) => Transport::Tls(acceptor),
        None => Transport::Plain,
    };
    let (shared, router) = (serve.shared.clone(), serve.router.clone());
    agora_link_server_guard::serve(
        listener,
        serve.tracker.clone(),
        transport,
        move |_connection| {
            let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let (shared, router, host) = (shared.clone(), router.clone(), host.clone());
            hyper::service::service_fn(move |request: Request<GuardedBody>| {
                let reused = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0;
                handle(
                    shared.clone(),
                    router.clone(),
                    host.clone(),
                    request,
                    reused,
                )
            })
        },
        std::future::pending(),
    )
    .await;
}

/// The error a service returns to make hyper close the connection without a response.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    host: Option<Arc<str>>,
    request: Request<GuardedBody>,
    reused: bool,
) -> Result<Response<Body>, DroppedByFault> {
    let path = request.uri().path().to_owned();
    let admin = path.starts_with("/_sandbox/");
    if !admin
        && reused
        && shared
            .close_reused
            .load(std::sync::atomic::Ordering::SeqCst)
    {
        shared.db().stats.reused_connections_closed += 1;
        return Err(DroppedByFault);
    }
    if !admin {
        shared.db().count_request(&path, host.as_deref());
        let fault = shared.plan().take(&path, host.as_deref());
        if let Some(action) = fault {
            shared.db().stats.faults_injected += 1;
            match action {
                FaultAction::Delay { millis } => {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                }
                FaultAction::Respond {
                    status,
                    body,
                    content_type,
                    headers,
                } => {
                    let status =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let content_type = content_type.unwrap_or_else(|| "application/json".into());
                    let mut response = Response::new(Body::from(body));
                    *response.status_mut() = status;
                    if let Ok(value) = content_type.parse() {
                        response.headers_mut().insert(header::CONTENT_TYPE, value);
                    }
                    for (name, value) in headers {
                        if let (Ok(name), Ok(value)) = (
                            header::HeaderName::from_bytes(name.as_bytes()),
                            header::HeaderValue::from_str(&value),
                        ) {
                            response.headers_mut().append(name, value);
                        }
                    }
                    return Ok(response);
                }
                FaultAction::DropConnection => return Err(DroppedByFault),
            }
        }
    }
    // The body is read here, within its deadline, so that a stalled one is a 408 (as in the
    // provisioning service) rather than the extractor's 400.
    let (parts, body) = request.into_parts();
    let body =
        match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY_BYTES))
            .await
        {
            Ok(collected) => {
                if !admin {
                    shared.db().count_delivered(&path);
                }
                collected.to_bytes()
            }
            Err(error) => {
                let timed_out = error.is::<agora_link_server_guard::BodyTimeout>();
                let (status, message) = if timed_out {
                    (
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body did not arrive in time",
                    )
                } else if error.is::<http_body_util::LengthLimitError>() {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the request body is too large",
                    )
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        "the request body could not be read",
                    )
                };
                let mut response = envelope_response(Err(Failure::new(
                    status.as_u16(),
                    i64::from(status.as_u16()),
                    message,
                )));
                response.headers_mut().insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
                return Ok(response);
            }
        };
    match router
        .oneshot(Request::from_parts(parts, Body::from(body)))
        .await
    {
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// The largest request body the sandbox reads (axum's default limit).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/agoralink/{segment}/api/{*endpoint}", post(api))
        .route("/_sandbox/health", get(admin_health))
        .route("/_sandbox/stats", get(admin_stats))
        .route("/_sandbox/orders", get(admin_orders))
        .route(
            "/_sandbox/faults",
            post(admin_add_fault).delete(admin_clear_faults),
        )
        .route("/_sandbox/revoke-tokens", post(admin_revoke))
        .route("/_sandbox/fault-proxy", get(admin_fault_proxy))
        .route("/_sandbox/fault-proxy/arm", post(admin_arm_fault_proxy))
        .route("/_sandbox/iot/expire-sessions", post(admin_expire_sessions))
        .route(
            "/_sandbox/iot/expire-open-id-tokens",
            post(admin_expire_open_id_tokens),
        )
        .route("/", post(cognito))
        .fallback(not_found)
        .with_state(shared)
}

fn envelope_response(outcome: Outcome) -> Response<Body> {
    let (status, body) = match outcome {
        Ok(data) => {
            let mut body =
                json!({"code": 0, "msg": "SUCCESS", "timestamp": now_ms(), "success": true});
            if !data.is_null() {
                body["data"] = data;
            }
            (200, body)
        }
        Err(Failure { status, code, msg }) => (
            status,
            json!({"code": code, "msg": msg, "timestamp": now_ms(), "success": false}),
        ),
    };
    let mut response = axum::response::IntoResponse::into_response(Json(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response
}

async fn not_found() -> Response<Body> {
    envelope_response(Err(Failure::new(404, 404, "Not Found")))
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path((segment, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    envelope_response(serve_api(&shared, &segment, &endpoint, &headers, &body))
}

fn serve_api(
    shared: &Shared,
    segment: &str,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    if segment != "cn" && segment != "na" {
        return Err(Failure::new(404, 404, "Not Found"));
    }
    type Handler = fn(&mut Db, &Value) -> Outcome;
    let (authorized, handler): (bool, Handler) = match endpoint {
        "oauth/rest-token" => (false, Db::rest_token),
        "cloud-recorder/cloud-record-package/v1/getAll" => (true, Db::get_all),
        "cloud-recorder/cloud-record-package/v1/getById" => (true, Db::get_by_id),
        "cloud-recorder/cloud-record-order/v1/open" => (true, Db::open),
        "oauth/third-party/register" => (true, Db::register),
        "oauth/third-party/login" => (true, Db::login),
        "oauth/third-party/removeAccount" => (true, Db::remove_account),
        _ => return Err(Failure::new(404, 404, "Not Found")),
    };
    let mut db = shared.db();
    if authorized {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        db.check_bearer(authorization)?;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(Failure::new(
            415,
            415,
            format!("Content type '{content_type}' not supported"),
        ));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::new(400, 400, format!("JSON parse error: {e}")))?;
    if !body.is_object() {
        return Err(Failure::new(
            400,
            400,
            "the request body must be a JSON object",
        ));
    }
    handler(&mut db, &body)
}

/// `GET /_sandbox/health`: `200 {"status":"ok"}` while the sandbox serves (for health checks
/// of containers and CI services; never affected by injected faults).
async fn admin_health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn admin_stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(shared.db().stats())
}

async fn admin_orders(State(shared): State<Arc<Shared>>) -> Json<Vec<Order>> {
    Json(shared.db().orders())
}

/// `POST /_sandbox/faults`: 204, or 507 with `{"message"}` when [`crate::MAX_FAULT_RULES`]
/// rules are active.
async fn admin_add_fault(
    State(shared): State<Arc<Shared>>,
    Json(fault): Json<Fault>,
) -> Response<Body> {
    use axum::response::IntoResponse;
    if shared.plan().add(fault) {
        return StatusCode::NO_CONTENT.into_response();
    }
    let message = format!(
        "{} fault rules are active, the most: DELETE /_sandbox/faults first",
        MAX_FAULT_RULES
    );
    (
        StatusCode::INSUFFICIENT_STORAGE,
        Json(json!({ "message": message })),
    )
        .into_response()
}

/// `GET /_sandbox/fault-proxy`: `{"address": "127.0.0.1:PORT", "caPem": "...", "connections":
/// n, "deliveredByPath": {...}}` (the last as [`Stats::delivered_by_path`], without the rest of
/// the statistics) when the sandbox runs a fault proxy ([`SandboxBuilder::fault_proxy`]), else
/// 404.
async fn admin_fault_proxy(State(shared): State<Arc<Shared>>) -> Response<Body> {
    use axum::response::IntoResponse;
    match shared.fault_proxy.get() {
        Some((proxy, ca)) => Json(json!({
            "address": proxy.address().to_string(),
            "caPem": ca,
            "connections": proxy.connections(),
            "deliveredByPath": shared.db().stats.delivered_by_path.clone(),
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /_sandbox/fault-proxy/arm`: ends the proxy's open connections, then arms a strike for
/// the next connection (see [`crate::FaultProxy`]; the body's shape is documented on
/// `StrikeSpec`): 204; 400 with `{"message"}` for a bad strike; 404 without a fault proxy.
async fn admin_arm_fault_proxy(
    State(shared): State<Arc<Shared>>,
    Json(spec): Json<crate::fault_proxy::StrikeSpec>,
) -> Response<Body> {
    use axum::response::IntoResponse;
    let Some((proxy, _)) = shared.fault_proxy.get() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match spec.strike() {
        Ok(strike) => {
            proxy.abort_connections();
            proxy.arm(strike);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(message) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
        }
    }
}

async fn admin_clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.plan().clear();
    StatusCode::NO_CONTENT
}

async fn admin_expire_sessions(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.db().iot.expire_sessions(now_ms());
    StatusCode::NO_CONTENT
}

async fn admin_expire_open_id_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.db().iot.expire_open_id_tokens(now_ms());
    StatusCode::NO_CONTENT
}

/// Amazon Cognito (`POST /` with `X-Amz-Target`), for the IoT credential refresh path.
async fn cognito(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let (status, body) = match shared.db().cognito_get_credentials(target, &body) {
        Ok(value) => (StatusCode::OK, value),
        Err(failure) => (
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST),
            failure.body,
        ),
    };
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

async fn admin_revoke(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.db().revoke_access_tokens();
    StatusCode::NO_CONTENT
}
