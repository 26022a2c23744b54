//! The UniFFI adapter (feature `uniffi`): a thin layer over the Rust core for the Kotlin, Swift
//! and Python bindings.
//!
//! * Async methods are spawned on the library runtime and their join handle awaited, so any
//!   foreign executor (Kotlin coroutines, Swift tasks, asyncio) can poll them. Cancelling the
//!   foreign call aborts a read (token, packages, login, MQTT URL) with its connection; a call
//!   that changes state on the server (open, register, remove) finishes in the background and
//!   its result is discarded, so it is never left half-sent. `*_blocking` variants block the calling
//!   thread (for scripts); from a library thread they fail with `WouldDeadlock`.
//! * Secrets are [`Secret`] objects whose string forms (`__str__`/`__repr__`, `toString`,
//!   `description`) are `***`; `reveal()` gives the value.
//! * One error type, [`AgoraLinkError`], with the kind, message, server code and message, HTTP
//!   status and trace id.
//! * [`set_log_listener`] forwards the SDK's log records to the host's logger.

mod failover;
mod iot;
mod logging;
mod models;
mod wake;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use failover::{
    default_failover_settings, ClientStats, FailedAttempt, FailoverSettings, HostFailure,
    HostStats, RegionMapping, RegionalStep, ServerSite,
};
pub use iot::{presign_mqtt_url, IotCredentialSource, IotEvent, IotEventListener, IotProvider};
pub use logging::{set_log_level, set_log_listener, LogLevel, LogListener, LogRecord};
pub use models::{
    CloudStoragePackage, IotCredentials, LoginResult, OpenPackageRequest, RegisteredAccount,
    RestToken, Secret,
};

use crate::client::Client;
use crate::config::{ClientConfig, ClientConfigBuilder};
use crate::error::{Error, ErrorKind};

/// The Agora Link deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Region {
    /// Mainland China: `https://api.sd-rtn.com/agoralink/cn/api`.
    China,
    /// North America: `https://api.agora.io/agoralink/na/api`.
    NorthAmerica,
}

/// What kind of failure an error of the SDK is: its `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FailureKind {
    /// Invalid configuration (bad URL, plain HTTP to a remote host, bad PEM).
    Config,
    /// An invalid argument; nothing was sent.
    InvalidArgument,
    /// The server could not be reached, or the connection failed.
    Network,
    /// The connect or request timeout expired.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// Credentials or token refused.
    Auth,
    /// The server answered with a non-zero code.
    Api,
    /// The response could not be decoded.
    Decode,
    /// The library runtime was shut down.
    Shutdown,
    /// A blocking call was made from a library thread.
    WouldDeadlock,
}

/// The one error of the bindings: raised as an exception in Kotlin, Swift and Python.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum AgoraLinkError {
    /// A failed call.
    #[error("{reason}")]
    Failure {
        /// What kind of failure.
        kind: FailureKind,
        /// A description, free of secrets. (Named `reason`, as `message` is taken by the
        /// exception base classes of Kotlin and Swift.)
        reason: String,
        /// The server's `code`, when the server answered with one.
        server_code: Option<i64>,
        /// The server's `msg`, when the server answered with one.
        server_message: Option<String>,
        /// The HTTP status, when there was a response.
        http_status: Option<i32>,
        /// The trace id of a cloud-storage request.
        trace_id: Option<String>,
        /// The failed attempts, in order (hosts the call moved away from, and the host whose
        /// failure ended it); empty when the first answer was final.
        attempts: Vec<FailedAttempt>,
    },
}

impl AgoraLinkError {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        AgoraLinkError::Failure {
            kind,
            reason: message.into(),
            server_code: None,
            server_message: None,
            http_status: None,
            trace_id: None,
            attempts: Vec::new(),
        }
    }
}

impl From<Error> for AgoraLinkError {
    fn from(error: Error) -> Self {
        let kind = match error.kind() {
            ErrorKind::Config => FailureKind::Config,
            ErrorKind::InvalidArgument => FailureKind::InvalidArgument,
            ErrorKind::Network => FailureKind::Network,
            ErrorKind::Timeout => FailureKind::Timeout,
            ErrorKind::Tls => FailureKind::Tls,
            ErrorKind::Auth => FailureKind::Auth,
            ErrorKind::Api => FailureKind::Api,
            ErrorKind::Decode => FailureKind::Decode,
            ErrorKind::Shutdown => FailureKind::Shutdown,
            ErrorKind::WouldDeadlock => FailureKind::WouldDeadlock,
        };
        let api = error.api_error();
        AgoraLinkError::Failure {
            kind,
            reason: error.to_string(),
            server_code: api.map(|a| a.code),
            server_message: api.map(|a| a.msg.clone()),
            http_status: error.http_status().map(i32::from),
            trace_id: error.trace_id().map(str::to_owned),
            attempts: error
                .attempts()
                .iter()
                .map(|a| FailedAttempt {
                    host: a.host.clone(),
                    failure: a.failure.into(),
                })
                .collect(),
        }
    }
}

type Outcome<T> = Result<T, AgoraLinkError>;

/// A client configuration being built: region and credentials first, then optional settings.
/// Thread-safe. Its string forms never show the client secret or the password.
#[derive(uniffi::Object)]
#[uniffi::export(Debug)]
pub struct AgoraLinkConfig {
    builder: Mutex<ClientConfigBuilder>,
}

/// The foreign string forms (`toString`, `debugDescription`, `repr`): one line,
/// `AgoraLinkConfig(region=Region.CHINA, client_id="…", client_secret=***, …)`, never a secret.
impl std::fmt::Debug for AgoraLinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let builder = self.builder.lock().unwrap_or_else(|p| p.into_inner());
        f.write_str(&builder.summarize("AgoraLinkConfig"))
    }
}

impl AgoraLinkConfig {
    fn update(&self, change: impl FnOnce(ClientConfigBuilder) -> ClientConfigBuilder) {
        let mut builder = self.builder.lock().unwrap_or_else(|p| p.into_inner());
        *builder = change(builder.clone());
    }
}

/// The longest timeout the bindings take: `u32::MAX` ms (about 49.7 days).
const MAX_TIMEOUT_MS: i64 = u32::MAX as i64;

/// A duration in milliseconds from the foreign side (signed, so Java can pass it): values below
/// `min` (0 or 1) or above [`MAX_TIMEOUT_MS`] are `InvalidArgument`.
fn millis_between(value: i64, min: i64) -> Outcome<Duration> {
    match u64::try_from(value) {
        Ok(ms) if (min..=MAX_TIMEOUT_MS).contains(&value) => Ok(Duration::from_millis(ms)),
        _ => Err(AgoraLinkError::new(
            FailureKind::InvalidArgument,
            format!("a timeout must be between {min} and {MAX_TIMEOUT_MS} ms (got {value})"),
        )),
    }
}

#[uniffi::export]
impl AgoraLinkConfig {
    /// A configuration for `region` with the client id and secret Agora issued; the grant is
    /// client credentials until the password grant is set.
    #[uniffi::constructor]
    pub fn new(region: Region, client_id: String, client_secret: Arc<Secret>) -> Arc<Self> {
        let region = match region {
            Region::China => crate::Region::China,
            Region::NorthAmerica => crate::Region::NorthAmerica,
        };
        Arc::new(Self {
            builder: Mutex::new(ClientConfig::builder(
                region,
                client_id,
                client_secret.value(),
            )),
        })
    }

    /// Uses the password grant.
    pub fn set_password_grant(&self, username: String, password: Arc<Secret>) {
        self.update(|b| b.password_grant(username, password.value()));
    }

    /// Replaces scheme and host (e.g. `http://127.0.0.1:8080`); the region's path is appended.
    pub fn set_base_url(&self, base_url: String) {
        self.update(|b| b.base_url(base_url));
    }

    /// Sets the connect timeout in milliseconds (default 5000; 1 to 4294967295, else
    /// `InvalidArgument`).
    pub fn set_connect_timeout_ms(&self, timeout_ms: i64) -> Outcome<()> {
        let timeout = millis_between(timeout_ms, 1)?;
        self.update(|b| b.connect_timeout(timeout));
        Ok(())
    }

    /// Sets the timeout of a whole HTTP exchange in milliseconds (default 15000; 1 to
    /// 4294967295, else `InvalidArgument`).
    pub fn set_request_timeout_ms(&self, timeout_ms: i64) -> Outcome<()> {
        let timeout = millis_between(timeout_ms, 1)?;
        self.update(|b| b.request_timeout(timeout));
        Ok(())
    }

    /// Sets how long an idle pooled connection is kept for reuse, in milliseconds (default 4000;
    /// 0 keeps none; at most 4294967295, negative is `InvalidArgument`). Purchases never reuse
    /// a pooled connection whatever it is.
    pub fn set_pool_idle_timeout_ms(&self, timeout_ms: i64) -> Outcome<()> {
        let timeout = millis_between(timeout_ms, 0)?;
        self.update(|b| b.pool_idle_timeout(timeout));
        Ok(())
    }

    /// Adds trusted root certificates (PEM text).
    pub fn add_root_certificates_pem(&self, pem: String) {
        self.update(|b| b.add_root_certificates_pem(pem.into_bytes()));
    }

    /// Sends connections for `host` to `address` (`"ip:port"`), like curl's `--resolve`.
    pub fn add_resolve(&self, host: String, address: String) -> Outcome<()> {
        let address: SocketAddr = address.parse().map_err(|_| {
            AgoraLinkError::new(
                FailureKind::InvalidArgument,
                format!("address {address:?} is not \"ip:port\""),
            )
        })?;
        self.update(|b| b.resolve(host, address));
        Ok(())
    }

    /// Sets the `User-Agent` header.
    pub fn set_user_agent(&self, user_agent: String) {
        self.update(|b| b.user_agent(user_agent));
    }

    /// Sets the failover policy (domain switching, back-off, deadline, host cool-down); start
    /// from the defaults (`default_failover_settings()`, in Kotlin and Swift
    /// `defaultFailoverSettings()`). Invalid values give `InvalidArgument`.
    pub fn set_failover(&self, settings: FailoverSettings) -> Outcome<()> {
        let policy = settings.to_policy()?;
        self.update(|b| b.failover(policy));
        Ok(())
    }

    /// Sends requests through this HTTP proxy (`http://[user:password@]host:port`,
    /// `https://…` or `host:port`), like curl's `--proxy`; HTTPS goes through `CONNECT`.
    /// No URL (null, nil, None) goes back to the default: the environment as curl reads it
    /// (`https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`, `no_proxy`, `NO_PROXY`).
    /// Loopback hosts, plain HTTP and pinned hosts never go through a proxy. The URL is a
    /// `Secret` (it may carry credentials); an unusable one fails the client's constructor with
    /// `Config`.
    pub fn set_proxy(&self, proxy_url: Option<Arc<Secret>>) {
        self.update(|b| match proxy_url {
            Some(url) => b.proxy(url.value()),
            None => b.proxy_setting(crate::config::ProxySetting::FromEnvironment),
        });
    }

    /// Hosts reached without a proxy, like curl's `--noproxy` (replacing `NO_PROXY`):
    /// comma-separated names (matching their subdomains), IP addresses, CIDR ranges; `"*"` for
    /// no proxy at all, whatever the environment says.
    pub fn set_no_proxy(&self, hosts: String) {
        self.update(|b| {
            if hosts.trim() == "*" {
                b.disable_proxy()
            } else {
                b.no_proxy(hosts)
            }
        });
    }

    /// Resolves only the hosts given an address with `add_resolve` (`addResolve`); others fail
    /// at once as DNS failures (pinned endpoints, hermetic tests).
    pub fn set_resolve_overrides_only(&self, enabled: bool) {
        self.update(|b| b.resolve_overrides_only(enabled));
    }
}

/// A client for the Agora Link REST API. Thread-safe: share one across threads and tasks.
/// `shutdown()` closes it (Python: `close()` and `with`).
#[derive(uniffi::Object)]
#[uniffi::export(Debug)]
pub struct AgoraLinkClient {
    state: std::sync::RwLock<ClientState>,
    /// `Region.CHINA` or `Region.NORTH_AMERICA`, for the string forms.
    region: &'static str,
    /// The API base URL, for the string forms.
    api_base: String,
}

/// The foreign string forms (`toString`, `debugDescription`, `repr`): one line,
/// `AgoraLinkClient(region=Region.CHINA, api_base="https://…", state=open)` (`state=closed` after
/// `shutdown`), known without I/O.
impl std::fmt::Debug for AgoraLinkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match *self.state() {
            ClientState::Open(_) => "open",
            ClientState::Closed(_) => "closed",
        };
        write!(
            f,
            "AgoraLinkClient(region={}, api_base={:?}, state={state})",
            self.region, self.api_base
        )
    }
}

/// An [`AgoraLinkClient`] before and after [`AgoraLinkClient::shutdown`].
#[derive(Debug)]
enum ClientState {
    Open(Client),
    /// Shut down: the counters as they were then.
    Closed(ClientStats),
}

impl AgoraLinkClient {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, ClientState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The core client, or `Shutdown` ("the client is closed") after [`Self::shutdown`].
    pub(crate) fn core(&self) -> Outcome<Client> {
        match &*self.state() {
            ClientState::Open(client) => Ok(client.clone()),
            ClientState::Closed(_) => Err(AgoraLinkError::new(
                FailureKind::Shutdown,
                "the client is closed",
            )),
        }
    }
}

/// Runs `work` on the library runtime and awaits it from whatever executor polls this future.
/// Dropping the returned future (the caller was cancelled) only drops the wait: `work` runs to
/// its end. For calls that change state on the server (purchases, account changes), which must
/// never be left half-sent.
pub(crate) async fn on_runtime<T, F>(work: F) -> Outcome<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let handle = crate::runtime::handle()?;
    joined(handle.spawn(work)).await
}

/// [`on_runtime`] for calls that only read (token, packages, login, IoT credentials): dropping
/// the returned future aborts `work`, closing its connection, so that cancelling the caller
/// (a Swift `Task`, a Kotlin coroutine, an asyncio task) cancels the request itself.
pub(crate) async fn on_runtime_cancellable<T, F>(work: F) -> Outcome<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    /// Aborts the task when the waiting future is dropped before it finished.
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let handle = crate::runtime::handle()?;
    let task = handle.spawn(work);
    let _abort = AbortOnDrop(task.abort_handle());
    joined(task).await
}

async fn joined<T>(task: tokio::task::JoinHandle<Result<T, Error>>) -> Outcome<T> {
    match task.await {
        Ok(result) => result.map_err(AgoraLinkError::from),
        Err(join) if join.is_panic() => Err(AgoraLinkError::new(
            FailureKind::Shutdown,
            "internal error: the call panicked",
        )),
        Err(_) => Err(Error::Shutdown.into()),
    }
}

/// Runs `work` on the library runtime, blocking the calling thread.
pub(crate) fn blocking<T>(work: impl Future<Output = Result<T, Error>>) -> Outcome<T> {
    crate::runtime::block_on(work).map_err(AgoraLinkError::from)
}

#[uniffi::export]
impl AgoraLinkClient {
    /// Builds a client; fails on an invalid configuration.
    #[uniffi::constructor]
    pub fn new(config: Arc<AgoraLinkConfig>) -> Outcome<Arc<Self>> {
        let builder = config
            .builder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let client = Client::new(builder.build()?)?;
        let region = match client.config().region() {
            crate::Region::China => "Region.CHINA",
            crate::Region::NorthAmerica => "Region.NORTH_AMERICA",
        };
        Ok(Arc::new(Self {
            region,
            api_base: client.config().api_base().to_string(),
            state: std::sync::RwLock::new(ClientState::Open(client)),
        }))
    }

    /// Closes the client: its cached token and pooled connections are dropped (once the IoT
    /// providers made from it are gone too) and every later call fails with `Shutdown` ("the
    /// client is closed"). Calls in flight finish. Idempotent; `stats()` keeps giving the
    /// counters as they were. Python's `close()` and `with` call this.
    pub fn shutdown(&self) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let ClientState::Open(client) = &*state {
            *state = ClientState::Closed(client.stats().into());
        }
    }

    /// Whether `shutdown()` was called.
    pub fn is_shut_down(&self) -> bool {
        matches!(*self.state(), ClientState::Closed(_))
    }

    /// Request counters and host health (requests, attempts, retries, failovers; per host
    /// attempts, failures, skips and cool-down). Never touches the network.
    pub fn stats(&self) -> ClientStats {
        match &*self.state() {
            ClientState::Open(client) => client.stats().into(),
            ClientState::Closed(stats) => stats.clone(),
        }
    }

    /// The managed REST token (cached, renewed ahead of expiry). Cancelling the caller aborts
    /// the request.
    pub async fn access_token(&self) -> Outcome<RestToken> {
        let client = self.core()?;
        on_runtime_cancellable(async move { client.access_token().await.map(RestToken::from) })
            .await
    }

    /// Lists every cloud-storage package. Cancelling the caller aborts the request.
    pub async fn list_packages(&self) -> Outcome<Vec<CloudStoragePackage>> {
        let client = self.core()?;
        on_runtime_cancellable(async move {
            Ok(client
                .list_packages()
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// Gets one cloud-storage package by id. Cancelling the caller aborts the request.
    pub async fn get_package(&self, package_id: i64) -> Outcome<CloudStoragePackage> {
        let client = self.core()?;
        on_runtime_cancellable(async move { client.get_package(package_id).await.map(Into::into) })
            .await
    }

    /// Opens (buys) a package and returns the order id. Never repeated once it may have
    /// reached the server. Cancelling the caller ends the wait only: the purchase runs to its
    /// end in the background (it is sent once, whether or not anyone still waits for it).
    pub async fn open_package(&self, request: OpenPackageRequest) -> Outcome<String> {
        let client = self.core()?;
        on_runtime(async move { client.open_package(&request.into()).await }).await
    }

    /// Registers a third-party account. Cancelling the caller ends the wait only: the
    /// registration runs to its end in the background.
    pub async fn register_account(
        &self,
        project_id: String,
        account: String,
    ) -> Outcome<RegisteredAccount> {
        let client = self.core()?;
        on_runtime(async move {
            client
                .register_account(&project_id, &account)
                .await
                .map(Into::into)
        })
        .await
    }

    /// Logs a third-party account in; returns its token and IoT credentials. Cancelling the
    /// caller aborts the request.
    pub async fn login_account(
        &self,
        project_id: String,
        account: String,
        account_token: Arc<Secret>,
    ) -> Outcome<LoginResult> {
        let client = self.core()?;
        on_runtime_cancellable(async move {
            client
                .login_account(&project_id, &account, &account_token.value())
                .await
                .map(Into::into)
        })
        .await
    }

    /// Removes a third-party account. Cancelling the caller ends the wait only: the removal
    /// runs to its end in the background.
    pub async fn remove_account(
        &self,
        project_id: String,
        account: String,
        account_token: Arc<Secret>,
    ) -> Outcome<()> {
        let client = self.core()?;
        on_runtime(async move {
            client
                .remove_account(&project_id, &account, &account_token.value())
                .await
        })
        .await
    }

    /// The managed REST token (cached, renewed ahead of expiry), blocking the calling thread
    /// (from a library thread, such as inside a callback, it fails with `WouldDeadlock`).
    pub fn access_token_blocking(&self) -> Outcome<RestToken> {
        blocking(self.core()?.access_token()).map(RestToken::from)
    }

    /// Lists every cloud-storage package, blocking the calling thread (from a library
    /// thread, such as inside a callback, it fails with `WouldDeadlock`).
    pub fn list_packages_blocking(&self) -> Outcome<Vec<CloudStoragePackage>> {
        Ok(blocking(self.core()?.list_packages())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Gets one cloud-storage package by id, blocking the calling thread (from a library
    /// thread, such as inside a callback, it fails with `WouldDeadlock`).
    pub fn get_package_blocking(&self, package_id: i64) -> Outcome<CloudStoragePackage> {
        blocking(self.core()?.get_package(package_id)).map(Into::into)
    }

    /// Opens (buys) a package and returns the order id, blocking the calling thread. Never
    /// repeated once it may have reached the server. From a library thread (such as inside a
    /// callback) it fails with `WouldDeadlock`.
    pub fn open_package_blocking(&self, request: OpenPackageRequest) -> Outcome<String> {
        blocking(self.core()?.open_package(&request.into()))
    }

    /// Registers a third-party account, blocking the calling thread (from a library
    /// thread, such as inside a callback, it fails with `WouldDeadlock`).
    pub fn register_account_blocking(
        &self,
        project_id: String,
        account: String,
    ) -> Outcome<RegisteredAccount> {
        blocking(self.core()?.register_account(&project_id, &account)).map(Into::into)
    }

    /// Logs a third-party account in and returns its token and IoT credentials, blocking the
    /// calling thread (from a library thread, such as inside a callback, it fails with
    /// `WouldDeadlock`).
    pub fn login_account_blocking(
        &self,
        project_id: String,
        account: String,
        account_token: Arc<Secret>,
    ) -> Outcome<LoginResult> {
        blocking(
            self.core()?
                .login_account(&project_id, &account, &account_token.value()),
        )
        .map(Into::into)
    }

    /// Removes a third-party account, blocking the calling thread (from a library
    /// thread, such as inside a callback, it fails with `WouldDeadlock`).
    pub fn remove_account_blocking(
        &self,
        project_id: String,
        account: String,
        account_token: Arc<Secret>,
    ) -> Outcome<()> {
        blocking(
            self.core()?
                .remove_account(&project_id, &account, &account_token.value()),
        )
    }
}

/// Stops the library runtime (for hosts that unload the library): calls in flight are
/// cancelled and worker threads get up to `timeout_ms` to finish. Final: every later call fails
/// with `Shutdown`. Returns whether the runtime was running. From a library thread (inside a
/// log callback) it fails with `WouldDeadlock`; a negative `timeout_ms` (or one above
/// 4294967295) with `InvalidArgument`.
#[uniffi::export]
pub fn shutdown_runtime(timeout_ms: i64) -> Outcome<bool> {
    Ok(crate::runtime::shutdown(millis_between(timeout_ms, 0)?)?)
}

/// The region named `name`, case-insensitive: `cn`/`china` or `na`/`north-america` (the values of
/// `AGORA_LINK_REGION`). Anything else fails with `Config`, naming the accepted values.
#[uniffi::export]
pub fn region_from_name(name: String) -> Outcome<Region> {
    Ok(match name.parse::<crate::Region>()? {
        crate::Region::China => Region::China,
        crate::Region::NorthAmerica => Region::NorthAmerica,
    })
}

/// The library version (equals the crate version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::{on_runtime, on_runtime_cancellable};

    #[test]
    fn a_shut_down_client_refuses_calls_without_the_network_and_keeps_its_counters() {
        use super::{AgoraLinkClient, AgoraLinkConfig, AgoraLinkError, FailureKind, Region};
        let config = AgoraLinkConfig::new(
            Region::China,
            "id".to_owned(),
            crate::uniffi_api::models::Secret::new("secret".to_owned()),
        );
        let client = AgoraLinkClient::new(config).expect("client");
        assert!(!client.is_shut_down());
        client.shutdown();
        client.shutdown();
        assert!(client.is_shut_down());
        let AgoraLinkError::Failure { kind, reason, .. } =
            client.access_token_blocking().expect_err("closed");
        assert_eq!(
            (kind, reason.as_str()),
            (FailureKind::Shutdown, "the client is closed")
        );
        let AgoraLinkError::Failure { kind, .. } =
            client.list_packages_blocking().expect_err("closed");
        assert_eq!(kind, FailureKind::Shutdown);
        assert_eq!(client.stats().requests, 0);
    }

    /// Sets its flag when dropped: tells whether a spawned task was aborted (dropped unfinished)
    /// or ran on.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn slow_work(
        dropped: Arc<AtomicBool>,
        finished: Arc<AtomicBool>,
    ) -> impl std::future::Future<Output = crate::Result<()>> + Send + 'static {
        // Captured, so dropped with the future whether or not it was ever polled.
        let guard = Dropped(dropped);
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_millis(300)).await;
            finished.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    /// Polls `future` once (it starts the task), then drops it, as a cancelled caller does.
    fn poll_once_then_drop<F: std::future::Future>(future: F) {
        let mut future = Box::pin(future);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        assert!(future.as_mut().poll(&mut context).is_pending());
        drop(future);
    }

    fn wait_until(flag: &AtomicBool) -> bool {
        for _ in 0..200 {
            if flag.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_cancelled_read_is_aborted_with_its_task() {
        let (dropped, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        poll_once_then_drop(on_runtime_cancellable(slow_work(
            dropped.clone(),
            finished.clone(),
        )));
        assert!(wait_until(&dropped), "the task was aborted");
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            !finished.load(Ordering::SeqCst),
            "an aborted read does not run to its end"
        );
    }

    #[test]
    fn a_cancelled_state_change_runs_to_its_end() {
        let (dropped, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        poll_once_then_drop(on_runtime(slow_work(dropped.clone(), finished.clone())));
        assert!(
            wait_until(&finished),
            "a purchase or account change is never cut short"
        );
    }
}
