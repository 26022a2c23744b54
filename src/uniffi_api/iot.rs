//! IoT credentials for the bindings: presigned MQTT URLs and a credential provider with a
//! listener.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::models::{IotCredentials, Secret};
use super::{on_runtime_cancellable, AgoraLinkClient, AgoraLinkError, FailureKind, Outcome};
use crate::iot::{CredentialSource, IotCredentialProvider, ProviderEvent};

/// Where a provider's current credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IotCredentialSource {
    /// `gyToken.proof` of the login.
    Proof,
    /// Cognito `GetCredentialsForIdentity`.
    Cognito,
    /// A new login (`update_credentials`).
    Relogin,
}

impl From<CredentialSource> for IotCredentialSource {
    fn from(source: CredentialSource) -> Self {
        match source {
            CredentialSource::Proof => Self::Proof,
            CredentialSource::Cognito => Self::Cognito,
            CredentialSource::Relogin => Self::Relogin,
        }
    }
}

/// What happened to a provider's credentials.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum IotEvent {
    /// New credentials are in use.
    Refreshed {
        /// Their source.
        source: IotCredentialSource,
        /// When they expire, ms since the Unix epoch.
        expires_at_ms: i64,
    },
    /// A refresh failed; the previous credentials stay in use while valid.
    RefreshFailed {
        /// The source that failed.
        source: IotCredentialSource,
        /// Why (no secrets).
        reason: String,
    },
    /// The account must log in again: give the new login's IoT credentials (`gy_token`,
    /// `gyToken`) to the provider's `update_credentials` (`updateCredentials`).
    LoginRequired,
}

/// Told of a provider's events, on a library thread of the provider's own, one at a time and in
/// order, never inside the call that caused them (an event may arrive just after that call
/// returned): keep it short, do not block on the SDK.
#[uniffi::export(with_foreign)]
pub trait IotEventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: IotEvent);
}

/// Keeps the IoT credentials of one login fresh and presigns MQTT-over-WebSocket URLs.
/// Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct IotProvider {
    provider: IotCredentialProvider,
}

fn invalid(message: String) -> AgoraLinkError {
    AgoraLinkError::new(FailureKind::InvalidArgument, message)
}

impl IotCredentials {
    /// The core model (the record carries every field).
    pub(crate) fn to_core(&self) -> crate::IotCredentials {
        let from_ms = |ms: i64| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        crate::IotCredentials {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            expiration: Duration::from_secs(self.expiration_s.max(0) as u64),
            expires_at: from_ms(self.expires_at_ms),
            granwin_token: self.granwin_token.value(),
            pool: crate::IdentityPool {
                identifier: self.identifier.clone(),
                identity_id: self.identity_id.clone(),
                identity_pool_id: self.identity_pool_id.clone(),
                token: self.cognito_token.value(),
            },
            proof: crate::AwsProof {
                access_key_id: self.access_key_id.clone(),
                secret_key: self.secret_key.value(),
                session_token: self.session_token.value(),
                session_expiration: from_ms(self.session_expiration_ms),
            },
        }
    }
}

#[uniffi::export]
impl IotProvider {
    /// A provider for `credentials` (a login's `gy_token`), renewing through `client`.
    /// `cognito_endpoint`: absent (null, nil, None) for the region's Cognito (plain http only
    /// to loopback).
    #[uniffi::constructor]
    pub fn new(
        client: Arc<AgoraLinkClient>,
        credentials: IotCredentials,
        cognito_endpoint: Option<String>,
        listener: Option<Arc<dyn IotEventListener>>,
    ) -> Outcome<Arc<Self>> {
        let core = credentials.to_core();
        let mut builder = IotCredentialProvider::builder_for(&client.core()?, &core);
        if let Some(endpoint) = cognito_endpoint {
            builder = builder.cognito_endpoint(endpoint);
        }
        if let Some(listener) = listener {
            // Events go to the listener on a library thread of their own, in order (see
            // `runtime::Dispatcher`): never inside the call that caused them, where the caller
            // may hold its own lock, and never on a worker the calls in flight need.
            let queue =
                crate::runtime::Dispatcher::new(move |event: IotEvent| listener.on_event(event));
            builder = builder.on_event(move |event| {
                queue.send(match event {
                    ProviderEvent::Refreshed { source, expires_at } => IotEvent::Refreshed {
                        source: (*source).into(),
                        expires_at_ms: crate::api::wire::epoch_ms(*expires_at),
                    },
                    ProviderEvent::RefreshFailed {
                        source, message, ..
                    } => IotEvent::RefreshFailed {
                        source: (*source).into(),
                        reason: message.clone(),
                    },
                    ProviderEvent::LoginRequired => IotEvent::LoginRequired,
                });
            });
        }
        Ok(Arc::new(Self {
            provider: builder.build()?,
        }))
    }

    /// A presigned MQTT URL made now with fresh credentials (renewed first when needed). Call it
    /// right before every (re)connect. Cancelling the caller aborts a renewal in progress.
    pub async fn mqtt_url(&self) -> Outcome<Arc<Secret>> {
        let provider = self.provider.clone();
        let url = on_runtime_cancellable(async move { provider.mqtt_url().await }).await?;
        Ok(Secret::wrap(&url))
    }

    /// A presigned MQTT URL made now with fresh credentials, blocking the calling thread (from a
    /// library thread, such as inside a listener, it fails with `WouldDeadlock`).
    pub fn mqtt_url_blocking(&self) -> Outcome<Arc<Secret>> {
        let url = super::blocking(self.provider.mqtt_url())?;
        Ok(Secret::wrap(&url))
    }

    /// The MQTT client id (`identityId`).
    pub fn client_id(&self) -> String {
        self.provider.client_id()
    }

    /// The AWS IoT endpoint.
    pub fn endpoint(&self) -> String {
        self.provider.endpoint()
    }

    /// Where the current credentials came from.
    pub fn source(&self) -> IotCredentialSource {
        self.provider.source().into()
    }

    /// Tells the provider the gateway refused its URL: the next URL uses renewed credentials,
    /// and the refusal's `Date` header (when given) corrects the clock.
    pub fn refused(&self, date_header: Option<String>) -> Outcome<()> {
        if let Some(date) = date_header {
            if !self.provider.clock().observe_date_header(&date) {
                return Err(invalid(format!("{date:?} is not an HTTP date")));
            }
        }
        self.provider.invalidate();
        Ok(())
    }

    /// Replaces the credentials with a new login's `gy_token` (`gyToken`), after the
    /// login-required event.
    pub fn update_credentials(&self, credentials: IotCredentials) -> Outcome<()> {
        Ok(self.provider.update_credentials(&credentials.to_core())?)
    }
}

/// Presigns `wss://<endpoint>/mqtt` (SigV4, service `iotdevicegateway`, the session token
/// appended unsigned). `region`: absent (null, nil, None) reads it from the endpoint. `time_ms`:
/// the signing time (ms since the Unix epoch), absent for now. The URL is a secret.
#[uniffi::export]
pub fn presign_mqtt_url(
    endpoint: String,
    region: Option<String>,
    access_key_id: String,
    secret_access_key: Arc<Secret>,
    session_token: Option<Arc<Secret>>,
    time_ms: Option<i64>,
) -> Outcome<Arc<Secret>> {
    let region = match region.filter(|r| !r.trim().is_empty()) {
        Some(region) => region,
        None => crate::iot::sigv4::region_from_endpoint(&endpoint)
            .ok_or_else(|| {
                invalid(format!(
                    "no region given and none in the endpoint {endpoint:?}"
                ))
            })?
            .to_owned(),
    };
    let credentials = crate::AwsProof {
        access_key_id,
        secret_key: secret_access_key.value(),
        session_token: session_token.map(|t| t.value()).unwrap_or_default(),
        session_expiration: UNIX_EPOCH,
    };
    let time = match time_ms {
        Some(ms) if ms > 0 => UNIX_EPOCH + Duration::from_millis(ms as u64),
        Some(_) => return Err(invalid("time_ms must be positive".into())),
        None => std::time::SystemTime::now(),
    };
    let url = crate::iot::presign_mqtt_url(&endpoint, &region, &credentials, time)?;
    Ok(Secret::wrap(&url))
}
