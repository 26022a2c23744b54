//! Keeps IoT credentials fresh: `proof` while it is valid, then Cognito
//! `GetCredentialsForIdentity` with the identity's OpenID token, then a fresh third-party login
//! through a callback the app provides.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use reqwest::Url;

use super::{cognito, refresh_margin, Clock};
use crate::api::third_party::{AwsProof, IdentityPool, IotCredentials, LoginResult};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretString;

/// A callback that logs the account in again and returns the new login (called when Cognito
/// refuses the identity's token). It runs on a library thread.
pub type ReloginCallback =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<LoginResult>> + Send>> + Send + Sync>;

type Listener = Arc<dyn Fn(&ProviderEvent) + Send + Sync>;

/// Where the current credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialSource {
    /// `gyToken.proof` of the login.
    Proof,
    /// Cognito `GetCredentialsForIdentity`.
    Cognito,
    /// A fresh login through the relogin callback.
    Relogin,
}

/// What happened to a provider's credentials, for the app's state handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// New credentials are in use.
    Refreshed {
        /// Their source.
        source: CredentialSource,
        /// When they expire (server clock).
        expires_at: SystemTime,
    },
    /// A refresh failed; the previous credentials stay in use while they are valid. Not cached:
    /// the next request for credentials tries again.
    RefreshFailed {
        /// The source that failed.
        source: CredentialSource,
        /// The kind of failure.
        kind: ErrorKind,
        /// A description, free of secrets.
        message: String,
    },
    /// Cognito refused the identity's token and no relogin succeeded: the app must log the
    /// account in again (and build a new provider, or give one a relogin callback).
    LoginRequired,
}

#[derive(Clone)]
struct State {
    identity: IdentityPool,
    endpoint: String,
    region: String,
    credentials: AwsProof,
    source: CredentialSource,
    refresh_at: SystemTime,
    /// Cognito's refusal of this identity's OpenID token, remembered until new login
    /// credentials arrive: asking again with the same token would only be refused again.
    cognito_refusal: Option<crate::error::ApiError>,
}

struct Inner {
    client: Client,
    state: RwLock<Arc<State>>,
    /// One refresh at a time. Per process: a refresh in flight in the parent when it forked
    /// would hold the inherited lock for ever in the child.
    refresh: crate::runtime::ForkLocal<tokio::sync::Mutex<()>>,
    /// Bumped by `invalidate`: credentials older than this are refreshed even if valid.
    generation: AtomicU64,
    state_generation: AtomicU64,
    cognito_endpoint: Option<Url>,
    relogin: Option<ReloginCallback>,
    listener: Option<Listener>,
}

/// Fresh AWS credentials (and presigned MQTT URLs) for one logged-in account. Cheap to clone;
/// `Send + Sync`; one refresh at a time, shared by every caller; errors are never cached.
#[derive(Clone)]
pub struct IotCredentialProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for IotCredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("IotCredentialProvider")
            .field("endpoint", &state.endpoint)
            .field("region", &state.region)
            .field("client_id", &state.identity.identity_id)
            .field("source", &state.source)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IotCredentialProvider`].
#[must_use]
pub struct IotCredentialProviderBuilder {
    client: Client,
    credentials: IotCredentials,
    cognito_endpoint: Option<String>,
    relogin: Option<ReloginCallback>,
    listener: Option<Listener>,
}

impl fmt::Debug for IotCredentialProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotCredentialProviderBuilder")
            .field("cognito_endpoint", &self.cognito_endpoint)
            .finish_non_exhaustive()
    }
}

pub(crate) fn jittered_refresh_at(credentials: &AwsProof, now: SystemTime) -> SystemTime {
    let lifetime = credentials
        .session_expiration
        .duration_since(now)
        .unwrap_or_default();
    let margin = refresh_margin(lifetime);
    // Up to 20 % more margin, so that many devices do not refresh in step.
    let jitter = margin.mul_f64(0.2 * crate::policy::random_unit());
    credentials
        .session_expiration
        .checked_sub(margin + jitter)
        .unwrap_or(now)
}

impl IotCredentialProviderBuilder {
    /// Overrides the Cognito endpoint (default `https://cognito-identity.<region>.amazonaws.com`,
    /// `.com.cn` in China). Plain `http` only to loopback (tests, the sandbox).
    pub fn cognito_endpoint(mut self, url: impl Into<String>) -> Self {
        self.cognito_endpoint = Some(url.into());
        self
    }

    /// Sets the callback that logs in again when Cognito refuses the identity's token.
    pub fn relogin<F, Fut>(mut self, callback: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<LoginResult>> + Send + 'static,
    {
        self.relogin = Some(Arc::new(move || Box::pin(callback())));
        self
    }

    /// Sets a listener told of every [`ProviderEvent`] (on the thread that refreshed).
    pub fn on_event(mut self, listener: impl Fn(&ProviderEvent) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Validates the login's IoT credentials and builds the provider.
    pub fn build(self) -> Result<IotCredentialProvider> {
        let gy = &self.credentials;
        let region = gy.signing_region()?;
        if gy.pool.identity_id.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "gyToken.pool.identityId is empty".into(),
            ));
        }
        super::websocket_target(&gy.endpoint)?;
        let cognito_endpoint = match self.cognito_endpoint {
            Some(url) => Some(parse_cognito_url(&url)?),
            None => None,
        };
        let now = self.client.clock().now();
        let state = State {
            identity: gy.pool.clone(),
            endpoint: gy.endpoint.clone(),
            region,
            credentials: gy.proof.clone(),
            source: CredentialSource::Proof,
            refresh_at: jittered_refresh_at(&gy.proof, now),
            cognito_refusal: None,
        };
        Ok(IotCredentialProvider {
            inner: Arc::new(Inner {
                client: self.client,
                state: RwLock::new(Arc::new(state)),
                refresh: crate::runtime::ForkLocal::new(tokio::sync::Mutex::new(())),
                generation: AtomicU64::new(0),
                state_generation: AtomicU64::new(0),
                cognito_endpoint,
                relogin: self.relogin,
                listener: self.listener,
            }),
        })
    }
}

fn parse_cognito_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        Error::Config(format!(
            "Cognito endpoint {}: {e}",
            crate::config::quoted_url(raw)
        ))
    })?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::Config(format!(
            "Cognito endpoint {} must be https (http only to loopback)",
            crate::config::quoted_url(raw)
        ))),
    }
}

impl IotCredentialProvider {
    /// A provider for the IoT credentials of `login`, renewing through `client`.
    pub fn builder(client: &Client, login: &LoginResult) -> IotCredentialProviderBuilder {
        Self::builder_for(client, &login.gy_token)
    }

    /// A provider for these IoT credentials (a login's `gyToken`), renewing through `client`.
    pub fn builder_for(
        client: &Client,
        credentials: &IotCredentials,
    ) -> IotCredentialProviderBuilder {
        IotCredentialProviderBuilder {
            client: client.clone(),
            credentials: credentials.clone(),
            cognito_endpoint: None,
            relogin: None,
            listener: None,
        }
    }

    fn state(&self) -> Arc<State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn emit(&self, event: ProviderEvent) {
        tracing::info!(?event, "iot credentials");
        if let Some(listener) = &self.inner.listener {
            listener(&event);
        }
    }

    /// The MQTT client id (`pool.identityId` of the current login).
    pub fn client_id(&self) -> String {
        self.state().identity.identity_id.clone()
    }

    /// The AWS IoT endpoint of the current login.
    pub fn endpoint(&self) -> String {
        self.state().endpoint.clone()
    }

    /// The AWS region signed for.
    pub fn region(&self) -> String {
        self.state().region.clone()
    }

    /// Where the current credentials came from.
    pub fn source(&self) -> CredentialSource {
        self.state().source
    }

    /// The client the provider renews through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The clock used for signing and expiry checks (the client's).
    pub fn clock(&self) -> &Arc<Clock> {
        self.inner.client.clock()
    }

    /// Replaces the identity and credentials with those of a new login of the same account (for
    /// hosts that log in again themselves after [`ProviderEvent::LoginRequired`], such as C
    /// hosts, whose callbacks must not block on the library).
    pub fn update_login(&self, login: &LoginResult) -> Result<()> {
        self.update_credentials(&login.gy_token)
    }

    /// Like [`Self::update_login`], with the new login's `gyToken`.
    pub fn update_credentials(&self, gy: &IotCredentials) -> Result<()> {
        super::websocket_target(&gy.endpoint)?;
        let now = self.clock().now();
        let fresh = Arc::new(State {
            region: gy.signing_region()?,
            refresh_at: jittered_refresh_at(&gy.proof, now),
            identity: gy.pool.clone(),
            endpoint: gy.endpoint.clone(),
            credentials: gy.proof.clone(),
            source: CredentialSource::Relogin,
            cognito_refusal: None,
        });
        *self.inner.state.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        self.inner.state_generation.store(
            self.inner.generation.load(Ordering::Acquire),
            Ordering::Release,
        );
        self.emit(ProviderEvent::Refreshed {
            source: CredentialSource::Relogin,
            expires_at: fresh.credentials.session_expiration,
        });
        Ok(())
    }

    /// Makes the next request for credentials refresh them, valid or not (after the gateway
    /// refused them, for example).
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Current credentials, refreshed first when they are within their refresh margin (the
    /// larger of 5 minutes and 10 % of their lifetime, plus up to 20 % jitter) or invalidated.
    /// When a refresh fails and the current credentials have not expired, they are returned.
    pub async fn credentials(&self) -> Result<AwsProof> {
        Ok(self.fresh_state().await?.credentials.clone())
    }

    /// A presigned MQTT-over-WebSocket URL made now with fresh credentials. Call it right before
    /// every (re)connect; the URL holds the session token (a secret).
    pub async fn mqtt_url(&self) -> Result<SecretString> {
        let state = self.fresh_state().await?;
        super::presign_mqtt_url(
            &state.endpoint,
            &state.region,
            &state.credentials,
            self.clock().now(),
        )
    }

    fn usable(&self, state: &State) -> bool {
        self.clock().now() < state.refresh_at
            && self.inner.state_generation.load(Ordering::Acquire)
                >= self.inner.generation.load(Ordering::Acquire)
    }

    async fn fresh_state(&self) -> Result<Arc<State>> {
        let state = self.state();
        if self.usable(&state) {
            return Ok(state);
        }
        let _refreshing = self
            .inner
            .refresh
            .get(&|_| Some(tokio::sync::Mutex::new(())))
            .lock()
            .await;
        let state = self.state();
        if self.usable(&state) {
            return Ok(state);
        }
        let wanted = self.inner.generation.load(Ordering::Acquire);
        match self.refresh(&state).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.inner.state.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                self.inner.state_generation.store(wanted, Ordering::Release);
                self.emit(ProviderEvent::Refreshed {
                    source: fresh.source,
                    expires_at: fresh.credentials.session_expiration,
                });
                Ok(fresh)
            }
            Err(error) => {
                let invalidated = wanted > self.inner.state_generation.load(Ordering::Acquire);
                if !invalidated && self.clock().now() < state.credentials.session_expiration {
                    Ok(state)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Records Cognito's refusal in the current state, unless new credentials replaced it.
    fn remember_refusal(&self, refused: &State, refusal: &crate::error::ApiError) {
        let mut current = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        if std::ptr::eq(&**current, refused) {
            *current = Arc::new(State {
                cognito_refusal: Some(refusal.clone()),
                ..refused.clone()
            });
        }
    }

    async fn refresh(&self, state: &State) -> Result<State> {
        let endpoint = match &self.inner.cognito_endpoint {
            Some(url) => url.clone(),
            None => parse_cognito_url(&cognito::default_endpoint(&state.region))?,
        };
        let remembered = state.cognito_refusal.is_some();
        let cognito_error = match &state.cognito_refusal {
            // Refused before, with this very token: Cognito is not asked again.
            Some(refusal) => Error::Api(refusal.clone()),
            None => match cognito::get_credentials(
                &self.inner.client,
                &endpoint,
                &state.region,
                &state.identity.identity_id,
                &state.identity.token,
            )
            .await
            {
                Ok(credentials) => {
                    let now = self.clock().now();
                    return Ok(State {
                        refresh_at: jittered_refresh_at(&credentials, now),
                        credentials,
                        source: CredentialSource::Cognito,
                        cognito_refusal: None,
                        ..state.clone()
                    });
                }
                Err(error) => error,
            },
        };
        let refused = cognito::is_refused(&cognito_error);
        if !remembered {
            self.emit(ProviderEvent::RefreshFailed {
                source: CredentialSource::Cognito,
                kind: cognito_error.kind(),
                message: cognito_error.to_string(),
            });
            if let (true, Error::Api(refusal)) = (refused, &cognito_error) {
                self.remember_refusal(state, refusal);
            }
        }
        let Some(relogin) = &self.inner.relogin else {
            if refused && !remembered {
                self.emit(ProviderEvent::LoginRequired);
            }
            return Err(cognito_error);
        };
        if !refused {
            // A network failure: Cognito may be back on the next try; a login would not help.
            return Err(cognito_error);
        }
        match relogin().await {
            Ok(login) => {
                let gy = login.gy_token;
                let now = self.clock().now();
                Ok(State {
                    region: gy.signing_region()?,
                    refresh_at: jittered_refresh_at(&gy.proof, now),
                    identity: gy.pool,
                    endpoint: gy.endpoint,
                    credentials: gy.proof,
                    source: CredentialSource::Relogin,
                    cognito_refusal: None,
                })
            }
            Err(error) => {
                self.emit(ProviderEvent::RefreshFailed {
                    source: CredentialSource::Relogin,
                    kind: error.kind(),
                    message: error.to_string(),
                });
                self.emit(ProviderEvent::LoginRequired);
                Err(error)
            }
        }
    }
}
