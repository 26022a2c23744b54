//! The [`Client`]: configuration, transport and token cache behind one cheap, cloneable handle.

mod cloud_storage;
mod third_party;

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::api::envelope::{decode_response, new_trace_id};
use crate::api::token::{RestToken, TokenGrant, TokenRequestBody, TokenWire};
use crate::api::Endpoint;
use crate::auth::TokenManager;
use crate::clock::Clock;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::failover::{CallOptions, ClientStats, Failover, RequestBudget};
use crate::runtime::ForkLocal;
use crate::transport::{HttpResponse, HttpTransport};

/// An async client for the Agora Link REST API.
///
/// `Client` is a handle: cloning it is cheap and every clone shares one connection pool and one
/// token cache. It is `Send + Sync`; use it from any number of tasks at once. Calls run on the
/// caller's tokio runtime.
///
/// Every request follows the failover plan of [`crate::failover`]: the clones of a client share
/// its host health and counters ([`Client::stats`]).
///
/// A client survives `fork()`: in the child its first call builds a fresh connection pool and
/// host table from the same configuration, keeping the cached REST token and the clock offset;
/// the parent's connections are never touched there (see [`crate::runtime`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<ForkLocal<Inner>>,
    options: CallOptions,
}

struct Inner {
    config: ClientConfig,
    failover: Failover,
    tokens: TokenManager,
    configured_grant: TokenGrant,
    clock: Arc<Clock>,
}

impl Inner {
    /// The state of a client inherited across `fork()`, for the child: a new transport (pool,
    /// host table), the cached token when it can be read without waiting, the same clock.
    fn remake(inherited: &Inner) -> Option<Inner> {
        let rebuilt = HttpTransport::new(&inherited.config)
            .and_then(|transport| Failover::new(&inherited.config, transport));
        match rebuilt {
            Ok(failover) => Some(Inner {
                config: inherited.config.clone(),
                failover,
                tokens: inherited.tokens.inherit(),
                configured_grant: inherited.configured_grant.clone(),
                clock: inherited.clock.clone(),
            }),
            Err(error) => {
                tracing::warn!(%error, "cannot rebuild the client's transport after fork()");
                None
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.original().config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client. Fails only on configuration problems (TLS roots, HTTP stack).
    pub fn new(config: ClientConfig) -> Result<Self> {
        let failover = Failover::new(&config, HttpTransport::new(&config)?)?;
        let configured_grant = TokenGrant::from(config.grant());
        Ok(Self {
            inner: Arc::new(ForkLocal::new(Inner {
                config,
                failover,
                tokens: TokenManager::default(),
                configured_grant,
                clock: Arc::default(),
            })),
            options: CallOptions::default(),
        })
    }

    /// The client's state for this process (rebuilt once in a forked child).
    fn live(&self) -> &Inner {
        self.inner.get(&Inner::remake)
    }

    /// A handle to the same client (same pool, token cache and host health) whose calls use
    /// `options`: a deadline of their own, or permission to resend a purchase after a failure
    /// that may have reached the server.
    ///
    /// ```no_run
    /// # async fn run(client: agora_link::Client, request: agora_link::OpenPackageRequest) -> agora_link::Result<()> {
    /// use std::time::Duration;
    /// let patient = client.with_call_options(
    ///     agora_link::CallOptions::default().deadline(Duration::from_secs(60)),
    /// );
    /// let order_id = patient.open_package(&request).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_call_options(&self, options: CallOptions) -> Client {
        Client {
            inner: self.inner.clone(),
            options,
        }
    }

    /// The client's estimate of the server clock (from the `Date` headers of token and login
    /// answers, and of IoT gateway refusals), used for signing and for IoT expiry checks.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.live().clock
    }

    /// The transport, for the IoT credential provider (Cognito).
    pub(crate) fn transport(&self) -> &HttpTransport {
        self.live().failover.transport()
    }

    fn observe_date(&self, response: &HttpResponse) {
        if let Some(date) = response.date.as_ref().and_then(|d| d.to_str().ok()) {
            self.live().clock.observe_date_header(date);
        }
    }

    /// The call options of this handle.
    pub fn call_options(&self) -> CallOptions {
        self.options
    }

    /// Request counters and host health: requests, attempts, retries, failovers, and per host
    /// attempts, failures, skips and cool-down. Shared by every clone.
    pub fn stats(&self) -> ClientStats {
        self.live().failover.stats()
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.live().config
    }

    /// The full URL of `endpoint` on the primary host.
    pub fn endpoint_url(&self, endpoint: Endpoint) -> &Url {
        self.live().failover.primary_url(endpoint)
    }

    fn deadline(&self) -> Instant {
        let budget = self
            .options
            .deadline
            .unwrap_or_else(|| self.live().failover.default_call_deadline());
        crate::wire_time::instant_after_capped(Instant::now(), budget)
    }

    /// Performs one token request (`oauth/rest-token`) with `grant` and returns the token.
    /// The result is not cached: the managed token is [`Client::access_token`].
    pub async fn request_token(&self, grant: &TokenGrant) -> Result<RestToken> {
        self.request_token_until(grant, self.deadline()).await
    }

    async fn request_token_until(
        &self,
        grant: &TokenGrant,
        deadline: Instant,
    ) -> Result<RestToken> {
        let config = &self.live().config;
        let body = serde_json::to_vec(&TokenRequestBody::new(
            grant,
            &config.client_id,
            config.client_secret.expose(),
        ))
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the token request: {e}")))?;
        tracing::debug!(grant_type = grant.grant_type(), "requesting a REST token");
        let response = self
            .send(Endpoint::RestToken, Bytes::from(body), None, None, deadline)
            .await?;
        let received_at = SystemTime::now();
        self.observe_date(&response);
        let wire: TokenWire = decoded(&response, Endpoint::RestToken, None)?;
        Ok(wire.into_model(received_at))
    }

    /// The managed REST token: cached, renewed ahead of expiry, one renewal at a time.
    pub async fn access_token(&self) -> Result<RestToken> {
        Ok(self.managed_token(self.deadline()).await?.token.clone())
    }

    /// Drops the cached token, so the next call requests a new one with the configured grant.
    pub fn clear_token_cache(&self) {
        self.live().tokens.clear();
    }

    async fn managed_token(&self, deadline: Instant) -> Result<Arc<crate::auth::CachedToken>> {
        let inner = self.live();
        inner
            .tokens
            .get(&inner.configured_grant, deadline, |grant| async move {
                self.request_token_until(&grant, deadline).await
            })
            .await
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        body: Bytes,
        token: Option<&crate::auth::CachedToken>,
        trace_id: Option<&str>,
        deadline: Instant,
    ) -> Result<HttpResponse> {
        self.live()
            .failover
            .post_json(
                endpoint,
                body,
                token.map(|t| t.authorization.clone()),
                trace_id.map(str::to_owned),
                RequestBudget {
                    deadline,
                    allow_resend: self.options.allow_resend,
                },
            )
            .await
    }

    /// An authorized call: sends `Authorization: Bearer`, and after an authentication failure
    /// (HTTP 401 or code 401) renews the token and replays the call once.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        body: Vec<u8>,
    ) -> Result<T> {
        let body = Bytes::from(body);
        let result = self.call_with(endpoint, |_| Ok(body.clone()), false).await;
        crate::transport::wipe(body);
        result
    }

    /// Like [`Client::call`] for the cloud-storage calls: `make_body` builds the envelope around a
    /// fresh trace id (UUID v4) for every request sent.
    pub(crate) async fn call_enveloped<T, F>(&self, endpoint: Endpoint, make_body: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn(&str) -> Result<Vec<u8>>,
    {
        self.call_with(
            endpoint,
            |trace_id| make_body(trace_id).map(Bytes::from),
            true,
        )
        .await
    }

    async fn call_with<T, F>(&self, endpoint: Endpoint, make_body: F, traced: bool) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn(&str) -> Result<Bytes>,
    {
        let deadline = self.deadline();
        let mut replayed = false;
        loop {
            let trace_id = traced.then(new_trace_id);
            let body = make_body(trace_id.as_deref().unwrap_or_default())?;
            let token = self.managed_token(deadline).await?;
            let response = self
                .send(endpoint, body, Some(&token), trace_id.as_deref(), deadline)
                .await?;
            if endpoint == Endpoint::ThirdPartyLogin {
                self.observe_date(&response);
            }
            let result = decoded::<T>(&response, endpoint, trace_id.as_deref());
            let unauthorized = response.status == 401
                || matches!(&result, Err(Error::Api(api)) if api.is_unauthorized());
            if unauthorized && !replayed {
                tracing::info!(
                    endpoint = endpoint.name(),
                    trace_id = trace_id.as_deref(),
                    "token rejected; renewing it and replaying the call once"
                );
                self.live().tokens.invalidate(token.generation);
                replayed = true;
                continue;
            }
            return result;
        }
    }
}

/// Decodes an answer; a decode error keeps the hosts tried before it.
fn decoded<T: DeserializeOwned>(
    response: &HttpResponse,
    endpoint: Endpoint,
    trace_id: Option<&str>,
) -> Result<T> {
    decode_response(endpoint, response.status, &response.body, trace_id).map_err(|error| {
        if response.attempts.is_empty() {
            error
        } else {
            error.with_attempts(response.attempts.clone())
        }
    })
}
