//! Records of the bindings, converted from the core models; secrets are [`Secret`] objects.

use std::fmt;
use std::sync::Arc;

use crate::api::wire::epoch_ms;
use crate::secret::SecretString;

/// A secret (token, key, password). Its string forms are `***`; `reveal()` gives the value,
/// `masked()` a fingerprint for display. Zeroized when the last reference goes.
#[derive(uniffi::Object)]
#[uniffi::export(Debug, Display)]
pub struct Secret {
    value: SecretString,
}

impl Secret {
    pub(crate) fn value(&self) -> SecretString {
        self.value.clone()
    }

    pub(crate) fn wrap(value: &SecretString) -> Arc<Secret> {
        Arc::new(Secret {
            value: value.clone(),
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[uniffi::export]
impl Secret {
    /// Wraps a secret value.
    #[uniffi::constructor]
    pub fn new(value: String) -> Arc<Self> {
        Arc::new(Self {
            value: SecretString::new(value),
        })
    }

    /// The secret value. Call it only to use the value, never to log it.
    pub fn reveal(&self) -> String {
        self.value.expose().to_owned()
    }

    /// A display form showing at most the first 4 characters, e.g. `ASIA…(20)`.
    pub fn masked(&self) -> String {
        self.value.masked()
    }
}

/// An Agora Link token (the REST token, and the `lsToken` of a login).
#[derive(Debug, uniffi::Record)]
pub struct RestToken {
    /// The bearer token.
    pub access_token: Arc<Secret>,
    /// The token type (`bearer`).
    pub token_type: String,
    /// The refresh token, when issued.
    pub refresh_token: Option<Arc<Secret>>,
    /// The lifetime the server gave, seconds.
    pub expires_in_s: i64,
    /// When the token expires, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// The scope (`read`).
    pub scope: String,
}

impl From<crate::RestToken> for RestToken {
    fn from(token: crate::RestToken) -> Self {
        Self {
            access_token: Secret::wrap(&token.access_token),
            token_type: token.token_type,
            refresh_token: token.refresh_token.as_ref().map(Secret::wrap),
            expires_in_s: super::failover::signed(token.expires_in.as_secs()),
            expires_at_ms: epoch_ms(token.expires_at),
            scope: token.scope,
        }
    }
}

/// A cloud-storage package.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CloudStoragePackage {
    /// `cloudRecordPackageId`.
    pub id: i64,
    /// `packageName`.
    pub name: String,
    /// `packageType`.
    pub package_type: String,
    /// `lifeCycle`.
    pub life_cycle: String,
    /// `bucket`.
    pub bucket: String,
    /// `preDir`.
    pub pre_dir: String,
    /// `deleted`.
    pub deleted: bool,
    /// `createdBy`.
    pub created_by: i64,
    /// `createdTime`, ms since the Unix epoch.
    pub created_time_ms: i64,
    /// `changedTime`, ms since the Unix epoch.
    pub changed_time_ms: i64,
}

impl From<crate::CloudStoragePackage> for CloudStoragePackage {
    fn from(p: crate::CloudStoragePackage) -> Self {
        Self {
            id: p.cloud_record_package_id,
            name: p.package_name,
            package_type: p.package_type,
            life_cycle: p.life_cycle,
            bucket: p.bucket,
            pre_dir: p.pre_dir,
            deleted: p.deleted,
            created_by: p.created_by,
            created_time_ms: p.created_time,
            changed_time_ms: p.changed_time,
        }
    }
}

/// What to open with `open_package`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpenPackageRequest {
    /// `appId`.
    pub app_id: String,
    /// `userId`.
    pub user_id: String,
    /// `deviceId`.
    pub device_id: String,
    /// `paymentOrderId`.
    pub payment_order_id: String,
    /// `cloudRecordPackageId`.
    pub package_id: i64,
    /// `orderNumber` (at least 1).
    pub order_number: i64,
}

impl From<OpenPackageRequest> for crate::OpenPackageRequest {
    fn from(r: OpenPackageRequest) -> Self {
        Self {
            app_id: r.app_id,
            user_id: r.user_id,
            device_id: r.device_id,
            payment_order_id: r.payment_order_id,
            cloud_record_package_id: r.package_id,
            order_number: r.order_number,
        }
    }
}

/// A registered third-party account.
#[derive(Debug, uniffi::Record)]
pub struct RegisteredAccount {
    /// `userId`.
    pub user_id: String,
    /// The account token; login and remove need it.
    pub token: Arc<Secret>,
}

impl From<crate::RegisteredAccount> for RegisteredAccount {
    fn from(a: crate::RegisteredAccount) -> Self {
        Self {
            user_id: a.user_id,
            token: Secret::wrap(&a.token),
        }
    }
}

/// `gyToken`: the AWS IoT credentials for MQTT over WebSocket.
#[derive(uniffi::Record)]
pub struct IotCredentials {
    /// `endpoint`: the AWS IoT host.
    pub endpoint: String,
    /// `region`.
    pub region: String,
    /// `account`.
    pub account: String,
    /// `expiration`: lifetime of `granwin_token`, seconds.
    pub expiration_s: i64,
    /// When `granwin_token` expires, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// `granwin_token`.
    pub granwin_token: Arc<Secret>,
    /// `pool.identifier`.
    pub identifier: String,
    /// `pool.identityId`: also the MQTT client id.
    pub identity_id: String,
    /// `pool.identityPoolId`.
    pub identity_pool_id: String,
    /// `pool.token`: the Cognito OpenID token.
    pub cognito_token: Arc<Secret>,
    /// `proof.accessKeyId`.
    pub access_key_id: String,
    /// `proof.secretKey`.
    pub secret_key: Arc<Secret>,
    /// `proof.sessionToken`.
    pub session_token: Arc<Secret>,
    /// `proof.sessionExpiration`: when the keys expire, ms since the Unix epoch.
    pub session_expiration_ms: i64,
}

// The access key id masked (`ASIA…(20)`), the secrets as `***` (docs/bindings.md, what is masked).
impl fmt::Debug for IotCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotCredentials")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("account", &self.account)
            .field("expiration_s", &self.expiration_s)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("granwin_token", &self.granwin_token)
            .field("identifier", &self.identifier)
            .field("identity_id", &self.identity_id)
            .field("identity_pool_id", &self.identity_pool_id)
            .field("cognito_token", &self.cognito_token)
            .field("access_key_id", &crate::secret::masked(&self.access_key_id))
            .field("secret_key", &self.secret_key)
            .field("session_token", &self.session_token)
            .field("session_expiration_ms", &self.session_expiration_ms)
            .finish()
    }
}

/// The result of a login.
#[derive(Debug, uniffi::Record)]
pub struct LoginResult {
    /// `lsToken`.
    pub ls_token: RestToken,
    /// `gyToken`.
    pub gy_token: IotCredentials,
}

impl From<crate::LoginResult> for LoginResult {
    fn from(login: crate::LoginResult) -> Self {
        let gy = login.gy_token;
        Self {
            ls_token: login.ls_token.into(),
            gy_token: IotCredentials {
                expires_at_ms: epoch_ms(gy.expires_at),
                expiration_s: super::failover::signed(gy.expiration.as_secs()),
                granwin_token: Secret::wrap(&gy.granwin_token),
                cognito_token: Secret::wrap(&gy.pool.token),
                secret_key: Secret::wrap(&gy.proof.secret_key),
                session_token: Secret::wrap(&gy.proof.session_token),
                session_expiration_ms: epoch_ms(gy.proof.session_expiration),
                access_key_id: gy.proof.access_key_id,
                identifier: gy.pool.identifier,
                identity_id: gy.pool.identity_id,
                identity_pool_id: gy.pool.identity_pool_id,
                endpoint: gy.endpoint,
                region: gy.region,
                account: gy.account,
            },
        }
    }
}
