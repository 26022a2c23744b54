//! The HTTP transport: one pooled `reqwest` client, JSON POSTs with a capped response body,
//! and transport failures classified by whether the request can have reached the server.

mod tls;

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::api::Endpoint;
use crate::config::ClientConfig;
use crate::error::{Error, Result, TransportErrorKind};
use crate::secret::SecretString;

/// A response read in full: status and body (at most the configured number of bytes).
/// The body may hold tokens and keys: it is overwritten with zeros when dropped.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
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

/// Sends JSON requests over one connection pool. Cheap to share: `reqwest::Client` is an `Arc`.
#[derive(Debug, Clone)]
pub(crate) struct HttpTransport {
    http: reqwest::Client,
    max_response_bytes: usize,
    request_timeout: Duration,
    /// The runtime that drives this transport's connections: the multi-thread tokio runtime
    /// the client was created in, or else (`None`) the library runtime.
    home: Option<Handle>,
}

impl HttpTransport {
    /// Builds the connection pool for `config`.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let tls = tls::client_tls_config(config)?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256);
        for (host, address) in &config.resolve_overrides {
            builder = builder.resolve(host, *address);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        // A current-thread runtime only runs while someone blocks on it: connections driven by
        // it would stall when used from elsewhere. Only a multi-thread runtime can be home.
        let home = Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        Ok(Self {
            http,
            max_response_bytes: config.max_response_bytes,
            request_timeout: config.request_timeout,
            home,
        })
    }

    /// POSTs `body` (JSON) to `url`, with `Authorization: <bearer>` when given, and reads the
    /// whole response body up to the size limit, all within the request timeout. Runs on the
    /// caller's tokio runtime, or on the library runtime when polled outside of one.
    ///
    /// The timeout is one `tokio::time::timeout` around the whole exchange rather than reqwest's
    /// per-request timeout, which costs measurably more per call (see the README's figures).
    pub async fn post_json(
        &self,
        endpoint: Endpoint,
        url: Url,
        body: Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<String>,
    ) -> Result<HttpResponse> {
        let transport = self.clone();
        let exchange = async move {
            let timeout = transport.request_timeout;
            let result = tokio::time::timeout(
                timeout,
                transport.exchange(endpoint, url, body.clone(), bearer, trace_id.as_deref()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::Transport {
                    endpoint,
                    kind: TransportErrorKind::Timeout,
                    message: format!(
                        "no complete response within the request timeout of {} ms",
                        timeout.as_millis()
                    ),
                    trace_id: trace_id.clone(),
                })
            });
            wipe(body);
            result
        };
        let home = match &self.home {
            Some(home) => home.clone(),
            None => crate::runtime::handle()?,
        };
        match Handle::try_current() {
            Ok(current) if current.id() == home.id() => exchange.await,
            _ => match home.spawn(exchange).await {
                Ok(result) => result,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => Err(Error::Shutdown),
            },
        }
    }

    async fn exchange(
        &self,
        endpoint: Endpoint,
        url: Url,
        body: Bytes,
        bearer: Option<HeaderValue>,
        trace_id: Option<&str>,
    ) -> Result<HttpResponse> {
        let started = Instant::now();
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if let Some(value) = bearer {
            request = request.header(AUTHORIZATION, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &e, trace_id))?;
        let status = response.status().as_u16();
        let body = self.read_body(endpoint, status, response, trace_id).await?;
        tracing::debug!(
            endpoint = endpoint.name(),
            status,
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            trace_id,
            "agora link response"
        );
        Ok(HttpResponse { status, body })
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

/// Classifies a `reqwest` error by walking its source chain.
fn transport_error(endpoint: Endpoint, error: &reqwest::Error, trace_id: Option<&str>) -> Error {
    Error::Transport {
        endpoint,
        kind: classify(error),
        message: error_chain(error),
        trace_id: trace_id.map(str::to_owned),
    }
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
    } else if saw_tls {
        TransportErrorKind::Tls
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_request() || error.is_body() {
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
