//! Amazon Cognito `GetCredentialsForIdentity` (an unsigned POST): new temporary AWS credentials
//! for a developer-authenticated identity, from its OpenID token.



use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;

use crate::api::third_party::AwsProof;
use crate::api::Endpoint;
use crate::client::Client;
use crate::error::{ApiError, Error, Result};
use crate::secret::SecretString;

const ENDPOINT: Endpoint = Endpoint::CognitoGetCredentials;

/// `https://cognito-identity.<region>.amazonaws.com[.cn]/`.
pub(crate) fn default_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
    format!("https://cognito-identity.{region}.amazonaws.com{suffix}/")
}

/// The `Logins` key of an OpenID token issued by Cognito itself.
pub(crate) fn logins_key(region: &str) -> String {
    if region == "cn-north-1" {
        "cognito-identity.cn-north-1.amazonaws.com.cn".into()
    } else {
        "cognito-identity.amazonaws.com".into()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    credentials: CredentialsWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsWire {
    access_key_id: String,
    secret_key: SecretString,
    session_token: SecretString,
    /// Epoch seconds (a JSON number, possibly fractional).
    expiration: f64,
}

#[derive(Deserialize)]
struct Failure {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default, alias = "Message")]
    message: String,
}

/// Calls `GetCredentialsForIdentity` at `endpoint`.
pub(crate) async fn get_credentials(
    client: &Client,
    endpoint: &Url,
    region: &str,
    identity_id: &str,
    open_id_token: &SecretString,
) -> Result<AwsProof> {
    let body = serde_json::json!({
        "IdentityId": identity_id,
        "Logins": { logins_key(region): open_id_token.expose() },
    });
    let body =
        Bytes::from(serde_json::to_vec(&body).map_err(|e| {
            Error::InvalidArgument(format!("cannot encode the Cognito request: {e}"))
        })?);
    let headers = vec![
        (
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        ),
        (
            HeaderName::from_static("x-amz-target"),
            HeaderValue::from_static("AWSCognitoIdentityService.GetCredentialsForIdentity"),
        ),
    ];
    let transport = client.transport();
    let response = transport
        .post_raw(
            ENDPOINT,
            endpoint.clone(),
            headers,
            body,
            transport.request_timeout(),
        )
        .await?;
    if let Some(date) = response.date.as_ref().and_then(|d| d.to_str().ok()) {
        client.clock().observe_date_header(date);
    }
    if response.status != 200 {
        let failure: Option<Failure> = serde_json::from_slice(&response.body).ok();
        let (kind, message) = failure
            .map(|f| (f.kind, f.message))
            .unwrap_or_else(|| (String::new(), String::new()));
        let kind = kind.rsplit('#').next().unwrap_or_default().to_owned();
        return Err(Error::Api(ApiError {
            endpoint: ENDPOINT,
            http_status: response.status,
            code: i64::from(response.status),
            msg: if kind.is_empty() {
                message
            } else {
                format!("{kind}: {message}")
            },
            server_timestamp_ms: None,
            trace_id: None,
            attempts: Default::default(),
        }));
    }
    let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| {
        crate::api::envelope::decode_error(
            ENDPOINT,
            response.status,
            &response.body,
            None,
            e.to_string(),
        )
    })?;
    let credentials = answer.credentials;
    let session_expiration = (credentials.expiration > 0.0)
        .then(|| crate::wire_time::epoch_from_secs_f64(credentials.expiration))
        .flatten();
    let Some(session_expiration) = session_expiration else {
        return Err(crate::api::envelope::decode_error(
            ENDPOINT,
            response.status,
            &response.body,
            None,
            "Credentials.Expiration is not a positive number".into(),
        ));
    };
    Ok(AwsProof {
        access_key_id: credentials.access_key_id,
        secret_key: credentials.secret_key,
        session_token: credentials.session_token,
        session_expiration,
    })
}

/// `true` when Cognito refused the identity's token (a new login is needed).
pub(crate) fn is_refused(error: &Error) -> bool {
    matches!(error, Error::Api(api) if api.endpoint == ENDPOINT && (400..500).contains(&api.http_status))
}
