//! The HTTP transport: one pooled `reqwest` client, JSON POSTs with a capped response body,
//! and transport failures classified by whether the request can have reached the server.

mod phase;
mod proxy;
mod resolver;
mod tls;

pub(crate) use resolver::Resolver;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Url;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::attempt::Attempt;
use crate::config::ClientConfig;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result, TransportErrorKind};
use crate::secret::SecretString;

/// A response read in full: status and body (at most the configured number of bytes).
/// The body may hold tokens and keys: it is overwritten with zeros when dropped.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
    /// `Retry-After` of a 429 or 503 answer.
    pub retry_after: Option<Duration>,
    /// The `Date` header, for the clock offset.
    pub date: Option<HeaderValue>,
    /// The hosts the request failed on before this answer (empty when the first one answered).
    pub attempts: Vec<Attempt>,
    /// `X-Amzn-ErrorType` of an AWS answer (raw requests only).
    pub amzn_error_type: Option<HeaderValue>,
}

impl Drop for HttpResponse {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.body));
    }
}

/// Overwrites a buffer with zeros if this is its last reference (best effort: request and
/// response bodies carry secrets; a buffer still shared is left to its other owner).
pub(crate) fn wipe(buffer: Bytes) {
    if let Ok(mut unique) = buffer.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut unique[..]);
    }
}

/// Sends one HTTP exchange at a time to a URL it is given, over one connection pool; the plan of
/// hosts and retries around it is [`crate::failover`]'s. Cheap to share: everything is behind
/// `Arc`s.
#[derive(Debug, Clone)]
pub(crate) struct HttpTransport {
    /// Pooled connections, kept idle for the configured `pool_idle_timeout`.
    http: reqwest::Client,
    /// Never-reused connections: for calls that must not be resent (a purchase), whose request
    /// could otherwise race a server closing an idle pooled connection, and for the one
    /// immediate retry after a pooled connection turned out to be closed.
    fresh: reqwest::Client,
    max_response_bytes: usize,
    request_timeout: Duration,
    /// The resolver of both pools, which also records where each host last resolved (for the
    /// failover plan's regional step).
    resolver: Arc<Resolver>,
    /// The TLS configuration (roots, ring), also used for WebSocket connections to AWS IoT.
    tls: Arc<rustls::ClientConfig>,
    /// The runtime that drives this transport's connections: the multi-thread tokio runtime
    /// the client was created in, or else (`None`) the library runtime.
    home: Option<Handle>,
    /// Which requests go through which proxy.
    proxies: Arc<proxy::ProxyPolicy>,
    /// The fork generation this transport was built in ([`crate::runtime::fork_generation`]):
    /// its pooled connections belong to that process.
    generation: u64,
}

impl HttpTransport {
    /// Builds the connection pools, the resolver and the proxy policy for `config`.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let tls = tls::client_tls_config(config)?;
        let resolver = Arc::new(Resolver::new(
            &config.resolve_overrides,
            config.resolve_overrides_only,
        ));
        let tls = Arc::new(tls);
        let proxies = Arc::new(proxy::ProxyPolicy::new(
            &config.proxy,
            config.no_proxy.as_deref(),
            config
                .resolve_overrides
                .iter()
                .map(|(host, _)| host.clone()),
            config.resolve_overrides_only,
        )?);
        let builder = |max_idle: usize| {
            let builder = reqwest::Client::builder().no_proxy();
            let builder = if proxies.is_direct() {
                builder
            } else {
                builder.proxy(proxy::ProxyPolicy::reqwest_proxy(proxies.clone()))
            };
            builder
                .use_preconfigured_tls((*tls).clone())
                .connect_timeout(config.connect_timeout)
                .user_agent(config.user_agent.clone())
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .pool_max_idle_per_host(max_idle)
                .pool_idle_timeout(config.pool_idle_timeout)
                .connector_layer(phase::PhaseLayer)
                .dns_resolver(Arc::new(resolver::SharedResolver(resolver.clone())))
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
        };
        let http = builder(256)?;
        let fresh = builder(0)?;
        // A current-thread runtime only runs while someone blocks on it: connections driven by
        // it would stall when used from elsewhere. Only a multi-thread runtime can be home.
        let home = Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        Ok(Self {
            http,
            fresh,
            proxies,
            max_response_bytes: config.max_response_bytes,
            request_timeout: config.request_timeout,
            resolver,
            tls,
            home,
            generation: crate::runtime::fork_generation(),
        })
    }

    /// The resolver of the pools (shared with the failover plan, which reads where the primary
    /// host resolved).
    pub fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    /// Runs `work` on the home runtime: inline when already there, else spawned on it and
    /// awaited (so that connections are always driven by the runtime that owns them).
    pub async fn on_home<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        if self.generation != crate::runtime::fork_generation() {
            // Never reached through a `Client`, which rebuilds its transport in a forked child.
            return Err(Error::Config(
                "this connection pool was inherited across fork() and belongs to the parent \
                 process"
                    .into(),
            ));
        }
        let home = match &self.home {
            Some(home) => home.clone(),
            None => crate::runtime::handle()?,
        };
        match Handle::try_current() {
            Ok(current) if current.id() == home.id() => work.await,
            _ => match home.spawn(work).await {
                Ok(result) => result,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => Err(Error::Shutdown),
            },
        }
    }

    /// One POST of `body` to `url` (not an Agora Link endpoint: no failover, no bearer) with
    /// these headers, within `timeout`, on the home runtime. For Amazon Cognito.
    pub async fn post_raw(
        &self,
        endpoint: Endpoint,
        url: Url,
        headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<HttpResponse> {
        let transport = self.clone();
        let exchange = async move {
            let send = async {
                let mut request = transport.http.post(url.clone()).body(body.clone());
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let proxy = transport.proxies.for_url(&url).cloned();
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(e) => {
                        return Err(match &proxy {
                            Some(proxy) => {
                                proxy_error(endpoint, &e, None, proxy, &url, timeout).await
                            }
                            None => transport_error(endpoint, &e, None),
                        })
                    }
                };
                let status = response.status().as_u16();
                let date = response.headers().get(reqwest::header::DATE).cloned();
                let amzn_error_type = response.headers().get("x-amzn-errortype").cloned();
                let body = transport
                    .read_body(endpoint, status, response, None)
                    .await?;
                Ok(HttpResponse {
                    status,
                    body,
                    retry_after: None,
                    date,
                    attempts: Vec::new(),
                    amzn_error_type,
                })
            };
            let result = tokio::time::timeout(timeout, send)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Transport {
                        endpoint,
                        kind: TransportErrorKind::Timeout,
                        message: format!("no complete response within {} ms", timeout.as_millis()),
                        trace_id: None,
                        attempts: Default::default(),
                    })
                });
            wipe(body);
            result
        };
        self.on_home(exchange).await
    }

    /// The client's TLS configuration (its trusted roots, ring).
    #[allow(dead_code)] // used by the `mqtt` feature
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The request timeout of one attempt.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// One exchange with one host, within the request timeout and what is left of the deadline,
    /// on a pooled connection or a fresh one. The flag is `true` when a pooled connection failed
    /// before any byte of an answer, as one the server had closed does (see [`stale_connection`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn attempt(
        &self,
        endpoint: Endpoint,
        url: &Url,
        body: &Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<&str>,
        remaining: Duration,
        pooled: bool,
    ) -> (Result<HttpResponse>, bool) {
        let (limit, what) = if remaining < self.request_timeout {
            (remaining, "the call deadline")
        } else {
            (self.request_timeout, "the request timeout")
        };
        let phase = Arc::new(phase::Phase::default());
        let exchange = self.exchange(
            endpoint,
            url.clone(),
            body.clone(),
            bearer,
            trace_id,
            pooled,
        );
        phase::scope(phase.clone(), tokio::time::timeout(limit, exchange))
            .await
            .unwrap_or_else(|_| {
                // Where the time ran out decides whether the request can have been sent.
                let host = url.host_str().unwrap_or_default();
                let (kind, message) = match phase.unfinished_setup() {
                    Some(TransportErrorKind::Dns) => (
                        TransportErrorKind::Dns,
                        format!(
                            "the DNS lookup of {host} did not finish within {what} ({} ms); \
                             nothing was sent",
                            limit.as_millis()
                        ),
                    ),
                    Some(kind) => (
                        kind,
                        format!(
                            "no connection to {host} within {what} ({} ms); nothing was sent",
                            limit.as_millis()
                        ),
                    ),
                    None => (
                        TransportErrorKind::Timeout,
                        format!(
                            "no complete response within {what} ({} ms); the request may \
                             have been sent",
                            limit.as_millis()
                        ),
                    ),
                };
                let error = Error::Transport {
                    endpoint,
                    kind,
                    message,
                    trace_id: trace_id.map(str::to_owned),
                    attempts: Default::default(),
                };
                (Err(error), false)
            })
    }

    async fn exchange(
        &self,
        endpoint: Endpoint,
        url: Url,
        body: Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<&str>,
        pooled: bool,
    ) -> (Result<HttpResponse>, bool) {
        match self
            .exchange_on(endpoint, url, body, bearer, trace_id, pooled)
            .await
        {
            Ok(response) => (Ok(response), false),
            Err((error, stale)) => (Err(error), pooled && stale),
        }
    }

    async fn exchange_on(
        &self,
        endpoint: Endpoint,
        url: Url,
        body: Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<&str>,
        pooled: bool,
    ) -> std::result::Result<HttpResponse, (Error, bool)> {
        let started = Instant::now();
        let client = if pooled { &self.http } else { &self.fresh };
        let proxy = self.proxies.for_url(&url).cloned();
        let destination = url.clone();
        let mut request = client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if let Some(value) = bearer {
            request = request.header(AUTHORIZATION, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let error = match &proxy {
                    Some(proxy) => {
                        proxy_error(
                            endpoint,
                            &e,
                            trace_id,
                            proxy,
                            &destination,
                            self.request_timeout,
                        )
                        .await
                    }
                    None => transport_error(endpoint, &e, trace_id),
                };
                return Err((error, stale_connection(&e)));
            }
        };
        let status = response.status().as_u16();
        let retry_after = if status == 429 || status == 503 {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| parse_retry_after(value.to_str().ok()?))
        } else {
            None
        };
        let date = response.headers().get(reqwest::header::DATE).cloned();
        let body = self
            .read_body(endpoint, status, response, trace_id)
            .await
            .map_err(|e| (e, false))?;
        tracing::debug!(
            endpoint = endpoint.name(),
            status,
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            trace_id,
            "agora link response"
        );
        Ok(HttpResponse {
            status,
            body,
            retry_after,
            date,
            attempts: Vec::new(),
            amzn_error_type: None,
        })
    }

    async fn read_body(
        &self,
        endpoint: Endpoint,
        status: u16,
        mut response: reqwest::Response,
        trace_id: Option<&str>,
    ) -> Result<Bytes> {
        let limit = self.max_response_bytes;
        let too_large = || Error::BodyTooLarge {
            endpoint,
            http_status: status,
            limit,
            trace_id: trace_id.map(str::to_owned),
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        // The common case, a body in one chunk, is returned without a copy.
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let have = first.as_ref().map_or(0, Bytes::len) + rest.len();
                    if have + chunk.len() > limit {
                        return Err(too_large());
                    }
                    match &first {
                        None => first = Some(chunk),
                        Some(head) => {
                            if rest.is_empty() {
                                rest.reserve(head.len() + chunk.len());
                                rest.extend_from_slice(head);
                            }
                            rest.extend_from_slice(&chunk);
                        }
                    }
                }
                Ok(None) => {
                    return Ok(if rest.is_empty() {
                        first.unwrap_or_default()
                    } else {
                        rest.freeze()
                    })
                }
                Err(e) if e.is_timeout() => return Err(transport_error(endpoint, &e, trace_id)),
                Err(e) => {
                    let partial = if rest.is_empty() {
                        first.unwrap_or_default()
                    } else {
                        rest.freeze()
                    };
                    return Err(crate::api::envelope::decode_error(
                        endpoint,
                        status,
                        &partial,
                        trace_id,
                        format!("the body ended early: {}", error_chain(&e)),
                    ));
                }
            }
        }
    }
}

/// The `Authorization: Bearer <token>` value, marked sensitive (never shown by `Debug`, never
/// indexed by HTTP/2 header compression).
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        Error::InvalidArgument("the access token is not a valid header value".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `true` when a request failed on an established connection before any byte of an answer
/// arrived, the way a pooled connection that the server (or a load balancer) closed as idle
/// fails: hyper's "connection closed before message completed", a reset, a broken pipe. Connect
/// failures, timeouts and TLS failures are not.
fn stale_connection(error: &reqwest::Error) -> bool {
    if error.is_connect() || error.is_timeout() {
        return false;
    }
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(hyper) = current.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return true;
            }
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        source = next_cause(current);
    }
    false
}

/// The error of a request sent through `proxy`: a failure of the proxy itself (unreachable,
/// refusing the tunnel, asking for credentials) is [`TransportErrorKind::Proxy`] and names the
/// proxy (without credentials) and the status it answered, so that the API host is not blamed
/// for it; any other failure keeps its kind and says which proxy it went through.
async fn proxy_error(
    endpoint: Endpoint,
    error: &reqwest::Error,
    trace_id: Option<&str>,
    proxy: &proxy::ProxyTarget,
    destination: &Url,
    timeout: Duration,
) -> Error {
    let chain = error_chain(error);
    let shown = proxy.display();
    let host = destination.host_str().unwrap_or_default().to_owned();
    let port = destination.port_or_known_default().unwrap_or(443);
    let tunnel_refused = chain.contains("tunnel error: unsuccessful")
        || chain.contains("tunnel error: unexpected end of file");
    // Only a failure of the connector (the tunnel is part of connecting) can be the proxy's;
    // once the connection is up, a failure may come after the request was sent.
    let connecting = error.is_connect();
    let message = if connecting && chain.contains("proxy authorization required") {
        Some(format!(
            "the proxy {shown} (from {}) asks for credentials (HTTP 407 Proxy Authentication \
             Required); put them in the proxy URL",
            proxy.source
        ))
    } else if connecting && tunnel_refused {
        let probe = timeout.min(Duration::from_secs(5));
        let status = proxy::probe_connect_status(proxy, &host, port, probe)
            .await
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        Some(format!(
            "the proxy {shown} (from {}) refused to open a tunnel to {host}:{port}{status}",
            proxy.source
        ))
    } else if error.is_connect() && classify(error) != TransportErrorKind::Tls {
        Some(format!(
            "cannot reach the proxy {shown} (from {}): {chain}",
            proxy.source
        ))
    } else {
        None
    };
    match message {
        Some(message) => Error::Transport {
            endpoint,
            kind: TransportErrorKind::Proxy,
            message,
            trace_id: trace_id.map(str::to_owned),
            attempts: Default::default(),
        },
        None => Error::Transport {
            endpoint,
            kind: classify(error),
            message: with_sent_note(
                classify(error),
                format!("{chain} (through the proxy {shown})"),
            ),
            trace_id: trace_id.map(str::to_owned),
            attempts: Default::default(),
        },
    }
}

/// Classifies a `reqwest` error by walking its source chain.
fn transport_error(endpoint: Endpoint, error: &reqwest::Error, trace_id: Option<&str>) -> Error {
    let kind = classify(error);
    Error::Transport {
        endpoint,
        kind,
        message: with_sent_note(kind, error_chain(error)),
        trace_id: trace_id.map(str::to_owned),
        attempts: Default::default(),
    }
}

/// `message`, ending with what the failure says about the request: "nothing was sent" when it
/// failed before any byte could go out, "the request may have been sent" otherwise.
pub(crate) fn with_sent_note(kind: TransportErrorKind, mut message: String) -> String {
    let note = if kind.before_request_sent() {
        "nothing was sent"
    } else {
        "the request may have been sent"
    };
    if !message.ends_with(note) {
        message.push_str("; ");
        message.push_str(note);
    }
    message
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

fn classify(error: &reqwest::Error) -> TransportErrorKind {
    let mut saw_tls = false;
    let mut saw_dns = false;
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<rustls::Error>() {
            saw_tls = true;
        }
        let text = current.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            saw_dns = true;
        }
        source = next_cause(current);
    }
    // Only the connector's own failures can be "nothing was sent": once it handed over a
    // connection (its TLS handshake done), any failure, a TLS record that fails to decrypt
    // included, may come after the server read the request. The phase decides, not the type of
    // the error in the chain.
    if error.is_connect() {
        if error.is_timeout() {
            TransportErrorKind::ConnectTimeout
        } else if saw_tls {
            TransportErrorKind::Tls
        } else if saw_dns {
            TransportErrorKind::Dns
        } else {
            TransportErrorKind::Connect
        }
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if saw_tls || error.is_request() || error.is_body() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    }
}

/// The cause of `error`. `std::io::Error::source` skips the error it wraps (it returns the
/// wrapped error's own source), so the wrapped error is taken with `get_ref` instead.
fn next_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match error.downcast_ref::<std::io::Error>() {
        Some(io) => match io.get_ref() {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => None,
        },
        None => error.source(),
    }
}

/// `outer: inner: innermost`, without the URL.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        let part = current.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = next_cause(current);
    }
    text
}
