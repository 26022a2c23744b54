//! The [`Client`]: configuration, transport and token cache behind one cheap, cloneable handle.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::api::envelope::{decode_response, new_trace_id};
use crate::api::token::{RestToken, TokenGrant, TokenRequestBody, TokenWire};
use crate::api::Endpoint;
use crate::auth::TokenManager;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::transport::{HttpResponse, HttpTransport};

/// An async client for the Agora Link REST API.
///
/// `Client` is a handle: cloning it is cheap and every clone shares one connection pool and one
/// token cache. It is `Send + Sync`; use it from any number of tasks at once. Calls run on the
/// caller's tokio runtime.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    transport: HttpTransport,
    tokens: TokenManager,
    configured_grant: TokenGrant,
    urls: Vec<Url>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client. Fails only on configuration problems (TLS roots, HTTP stack).
    pub fn new(config: ClientConfig) -> Result<Self> {
        let transport = HttpTransport::new(&config)?;
        let urls = Endpoint::ALL
            .iter()
            .map(|endpoint| endpoint_url(config.api_base(), *endpoint))
            .collect::<Result<Vec<_>>>()?;
        let configured_grant = TokenGrant::from(config.grant());
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                tokens: TokenManager::default(),
                configured_grant,
                urls,
            }),
        })
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The full URL of `endpoint` for this client.
    pub fn endpoint_url(&self, endpoint: Endpoint) -> &Url {
        let index = Endpoint::ALL
            .iter()
            .position(|e| *e == endpoint)
            .unwrap_or_default();
        &self.inner.urls[index]
    }

    /// Performs one token request (`oauth/rest-token`) with `grant` and returns the token.
    /// The result is not cached: the managed token is [`Client::access_token`].
    pub async fn request_token(&self, grant: &TokenGrant) -> Result<RestToken> {
        let config = &self.inner.config;
        let body = serde_json::to_vec(&TokenRequestBody::new(
            grant,
            &config.client_id,
            config.client_secret.expose(),
        ))
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the token request: {e}")))?;
        tracing::debug!(grant_type = grant.grant_type(), "requesting a REST token");
        let response = self
            .send(Endpoint::RestToken, Bytes::from(body), None, None)
            .await?;
        let received_at = SystemTime::now();
        let wire: TokenWire =
            decode_response(Endpoint::RestToken, response.status, &response.body, None)?;
        Ok(wire.into_model(received_at))
    }

    /// The managed REST token: cached, renewed ahead of expiry, one renewal at a time.
    pub async fn access_token(&self) -> Result<RestToken> {
        Ok(self.managed_token().await?.token.clone())
    }

    /// Drops the cached token, so the next call requests a new one with the configured grant.
    pub fn clear_token_cache(&self) {
        self.inner.tokens.clear();
    }

    async fn managed_token(&self) -> Result<Arc<crate::auth::CachedToken>> {
        self.inner
            .tokens
            .get(&self.inner.configured_grant, |grant| async move {
                self.request_token(&grant).await
            })
            .await
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        body: Bytes,
        token: Option<&crate::auth::CachedToken>,
        trace_id: Option<&str>,
    ) -> Result<HttpResponse> {
        self.inner
            .transport
            .post_json(
                endpoint,
                self.endpoint_url(endpoint).clone(),
                body,
                token.map(|t| t.authorization.clone()),
                trace_id.map(str::to_owned),
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
        let mut replayed = false;
        loop {
            let trace_id = traced.then(new_trace_id);
            let body = make_body(trace_id.as_deref().unwrap_or_default())?;
            let token = self.managed_token().await?;
            let response = self
                .send(endpoint, body, Some(&token), trace_id.as_deref())
                .await?;
            let result = decode_response::<T>(
                endpoint,
                response.status,
                &response.body,
                trace_id.as_deref(),
            );
            let unauthorized = response.status == 401
                || matches!(&result, Err(Error::Api(api)) if api.is_unauthorized());
            if unauthorized && !replayed {
                tracing::info!(
                    endpoint = endpoint.name(),
                    trace_id = trace_id.as_deref(),
                    "token rejected; renewing it and replaying the call once"
                );
                self.inner.tokens.invalidate(token.generation);
                replayed = true;
                continue;
            }
            return result;
        }
    }
}

fn endpoint_url(base: &Url, endpoint: Endpoint) -> Result<Url> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), endpoint.path());
    Url::parse(&joined).map_err(|e| Error::Config(format!("bad endpoint URL {joined:?}: {e}")))
}
