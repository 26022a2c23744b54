//! Third-party account systems (对接自研或第三方账户系统): `register`, `login`, `removeAccount`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::token::{RestToken, TokenWire};
use super::wire::{from_epoch_ms, serialize_epoch_ms, serialize_secs};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The result of `register`: the user id and the account's login token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredAccount {
    /// `userId`: the Agora Link user id.
    pub user_id: String,
    /// `token`: the account token; `login` and `removeAccount` need it, so keep it.
    pub token: SecretString,
}

/// The result of `login`: an Agora Link token (`lsToken`) and the IoT credentials (`gyToken`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResult {
    /// `lsToken`: an Agora Link token for the account.
    pub ls_token: RestToken,
    /// `gyToken`: the AWS IoT credentials for MQTT over WebSocket.
    pub gy_token: IotCredentials,
}

/// `gyToken`: what a device or app needs to connect to AWS IoT.
#[derive(Debug, Clone, Serialize)]
pub struct IotCredentials {
    /// `endpoint`: the AWS IoT ATS host, e.g. `xxxx.ats.iot.cn-north-1.amazonaws.com.cn`.
    pub endpoint: String,
    /// `region`: the AWS region, e.g. `cn-north-1`.
    pub region: String,
    /// `account`: the app user name.
    pub account: String,
    /// `expiration`: lifetime of `granwin_token` (seconds, relative to the response).
    #[serde(serialize_with = "serialize_secs")]
    pub expiration: Duration,
    /// When `granwin_token` expires: the time the response arrived plus `expiration`.
    #[serde(serialize_with = "serialize_epoch_ms")]
    pub expires_at: SystemTime,
    /// `granwin_token`: the session token of the interface.
    pub granwin_token: SecretString,
    /// `pool`: the Cognito identity.
    pub pool: IdentityPool,
    /// `proof`: the temporary AWS credentials.
    pub proof: AwsProof,
}

/// `gyToken.pool`: the Cognito identity of the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPool {
    /// `identifier`: the unique identifier of the AWS user identity.
    #[serde(default)]
    pub identifier: String,
    /// `identityId`: the Cognito identity id; also the MQTT client id.
    pub identity_id: String,
    /// `identityPoolId`: the Cognito identity pool id.
    #[serde(default)]
    pub identity_pool_id: String,
    /// `token`: the Cognito OpenID token.
    pub token: SecretString,
}

/// `gyToken.proof`: temporary AWS credentials for a SigV4-signed MQTT-over-WebSocket connection.
/// Its `Debug` form masks the access key id (`ASIA…(20)`) and never shows the keys' secrets.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsProof {
    /// `accessKeyId`.
    pub access_key_id: String,
    /// `secretKey`.
    pub secret_key: SecretString,
    /// `sessionToken`.
    pub session_token: SecretString,
    /// `sessionExpiration`: when the credentials expire (sent as ms since the Unix epoch).
    #[serde(serialize_with = "serialize_epoch_ms")]
    pub session_expiration: SystemTime,
}

impl std::fmt::Debug for AwsProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProof")
            .field("access_key_id", &crate::secret::masked(&self.access_key_id))
            .field("secret_key", &self.secret_key)
            .field("session_token", &self.session_token)
            .field("session_expiration", &self.session_expiration)
            .finish()
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginWire {
    #[serde(rename = "lsToken")]
    ls_token: TokenWire,
    #[serde(rename = "gyToken")]
    gy_token: GyTokenWire,
}

#[derive(Deserialize)]
struct GyTokenWire {
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    account: String,
    #[serde(deserialize_with = "super::wire::flexible_seconds")]
    expiration: u64,
    #[serde(default)]
    granwin_token: SecretString,
    pool: IdentityPool,
    proof: ProofWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofWire {
    access_key_id: String,
    secret_key: SecretString,
    session_token: SecretString,
    #[serde(deserialize_with = "super::wire::flexible_i64")]
    session_expiration: i64,
}

impl LoginWire {
    pub(crate) fn into_model(self, received_at: SystemTime) -> LoginResult {
        let gy = self.gy_token;
        let expiration = crate::wire_time::lifetime_from_secs(gy.expiration);
        LoginResult {
            ls_token: self.ls_token.into_model(received_at),
            gy_token: IotCredentials {
                endpoint: gy.endpoint,
                region: gy.region,
                account: gy.account,
                expiration,
                expires_at: crate::wire_time::system_after(received_at, expiration),
                granwin_token: gy.granwin_token,
                pool: gy.pool,
                proof: AwsProof {
                    access_key_id: gy.proof.access_key_id,
                    secret_key: gy.proof.secret_key,
                    session_token: gy.proof.session_token,
                    session_expiration: from_epoch_ms(gy.proof.session_expiration),
                },
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    project_id: &'a str,
    third_party_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

fn require(name: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::InvalidArgument(format!("{name} must not be empty")))
    } else {
        Ok(())
    }
}

fn encode(body: &AccountBody<'_>) -> Result<Vec<u8>> {
    serde_json::to_vec(body)
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the request: {e}")))
}

/// The body of `register`: the project and the account name. Errors: an empty `project_id` or
/// `account` ([`Error::InvalidArgument`]).
pub(crate) fn register_body(project_id: &str, account: &str) -> Result<Vec<u8>> {
    account_body(project_id, account, None, None)
}

/// The body of `login`: the client's id and secret, the project, the account and the token
/// `register` returned. Errors: an empty argument ([`Error::InvalidArgument`]).
pub(crate) fn login_body(
    client_id: &str,
    client_secret: &SecretString,
    project_id: &str,
    account: &str,
    account_token: &SecretString,
) -> Result<Vec<u8>> {
    account_body(
        project_id,
        account,
        Some(account_token),
        Some((client_id, client_secret)),
    )
}

/// The body of `removeAccount`: the project, the account and its token. Errors: an empty
/// argument ([`Error::InvalidArgument`]).
pub(crate) fn remove_account_body(
    project_id: &str,
    account: &str,
    account_token: &SecretString,
) -> Result<Vec<u8>> {
    account_body(project_id, account, Some(account_token), None)
}

/// The body the three account calls share: each argument checked before anything is encoded.
fn account_body(
    project_id: &str,
    account: &str,
    account_token: Option<&SecretString>,
    client: Option<(&str, &SecretString)>,
) -> Result<Vec<u8>> {
    require("projectId", project_id)?;
    require("thirdPartyAccount", account)?;
    if let Some(token) = account_token {
        require("token", token.expose())?;
    }
    encode(&AccountBody {
        client_id: client.map(|(id, _)| id),
        client_secret: client.map(|(_, secret)| secret.expose()),
        project_id,
        third_party_account: account,
        token: account_token.map(SecretString::expose),
    })
}
