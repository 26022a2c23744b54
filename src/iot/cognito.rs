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

/// A Cognito error body: `{"__type": "...#NotAuthorizedException", "message": "..."}`. Either
/// field may be missing or `null`; the type then comes from the `X-Amzn-ErrorType` header.
#[derive(Deserialize)]
struct Failure {
    #[serde(rename = "__type", default)]
    kind: Option<String>,
    #[serde(default, alias = "Message")]
    message: Option<String>,
}

/// The error type named by a body's `__type` or an `X-Amzn-ErrorType` header
/// (`aws.cognito#NotAuthorizedException`, `NotAuthorizedException:http://...`).
fn error_type(raw: &str) -> Option<String> {
    let name = raw.split(':').next().unwrap_or_default();
    let name = name.rsplit('#').next().unwrap_or_default().trim();
    (!name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_'))
    .then(|| name.to_owned())
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
    let amzn_error_type = response
        .amzn_error_type
        .as_ref()
        .and_then(|v| v.to_str().ok());
    parse_answer(response.status, &response.body, amzn_error_type)
}

/// The credentials of a `GetCredentialsForIdentity` answer (`status` 200), or its error (any
/// other status; `amzn_error_type` is the `X-Amzn-ErrorType` header).
pub(crate) fn parse_answer(
    status: u16,
    body: &[u8],
    amzn_error_type: Option<&str>,
) -> Result<AwsProof> {
    if status != 200 {
        return Err(failure(status, body, amzn_error_type));
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        crate::api::envelope::decode_error(ENDPOINT, status, body, None, e.to_string())
    })?;
    let credentials = answer.credentials;
    let session_expiration = (credentials.expiration > 0.0)
        .then(|| crate::wire_time::epoch_from_secs_f64(credentials.expiration))
        .flatten();
    let Some(session_expiration) = session_expiration else {
        return Err(crate::api::envelope::decode_error(
            ENDPOINT,
            status,
            body,
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

/// The error of a non-200 answer. Cognito's own errors (a type in the body or in
/// `X-Amzn-ErrorType`) are [`Error::Api`] with `msg` = `"<Type>: <message>"`; anything else — a
/// proxy's 404 page, nginx's 429, a 502 — is [`Error::Server`] (a temporary failure) with the
/// status and the start of the body.
fn failure(status: u16, body: &[u8], amzn_error_type: Option<&str>) -> Error {
    let parsed: Option<Failure> = serde_json::from_slice(body).ok();
    let (body_type, message) = match parsed {
        Some(f) => (f.kind, f.message),
        None => (None, None),
    };
    let header_type = amzn_error_type.and_then(error_type);
    let kind = body_type.as_deref().and_then(error_type).or(header_type);
    let Some(kind) = kind else {
        return Error::Server {
            endpoint: ENDPOINT,
            http_status: status,
            excerpt: crate::api::envelope::redacted_excerpt(body, 160),
            trace_id: None,
            attempts: Default::default(),
        };
    };
    let message = message.unwrap_or_default();
    Error::Api(ApiError {
        endpoint: ENDPOINT,
        http_status: status,
        code: i64::from(status),
        msg: if message.is_empty() {
            kind
        } else {
            format!("{kind}: {message}")
        },
        server_timestamp_ms: None,
        trace_id: None,
        attempts: Default::default(),
    })
}

/// `true` when Cognito itself refused the identity's token or does not know the identity
/// (`NotAuthorizedException`, `ResourceNotFoundException`): a new login is needed. Any other
/// failure (throttling, a proxy's page, a network error) is temporary.
pub(crate) fn is_refused(error: &Error) -> bool {
    match error {
        Error::Api(api) if api.endpoint == ENDPOINT => api.is_refused_grant(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn answers_give_credentials_or_typed_errors() {
        let ok = br#"{"Credentials":{"AccessKeyId":"ASIAEXAMPLE","Expiration":1700003600.5,"SecretKey":"sk","SessionToken":"st"},"IdentityId":"us-east-1:x"}"#;
        let proof = parse_answer(200, ok, None).unwrap();
        assert_eq!(proof.access_key_id, "ASIAEXAMPLE");
        assert_eq!(
            proof.session_expiration,
            UNIX_EPOCH + Duration::from_millis(1_700_003_600_500)
        );
        let refused = parse_answer(
            400,
            br#"{"__type":"NotAuthorizedException","message":"Invalid login token."}"#,
            None,
        )
        .unwrap_err();
        assert!(is_refused(&refused), "{refused}");
        let from_header = parse_answer(
            400,
            br#"{"__type":null}"#,
            Some("ResourceNotFoundException:http://internal.amazon.com/"),
        )
        .unwrap_err();
        assert!(is_refused(&from_header), "{from_header}");
        let proxy = parse_answer(502, b"<html>Bad Gateway</html>", None).unwrap_err();
        assert!(
            matches!(
                proxy,
                Error::Server {
                    http_status: 502,
                    ..
                }
            ),
            "{proxy}"
        );
    }

    /// Found by fuzzing (`structured_cognito`): an answer that does not decode was quoted in the
    /// error with Cognito's `SecretKey` and `SessionToken` in clear (the masked field names
    /// were the Agora Link camelCase ones only).
    #[test]
    fn undecodable_answers_never_quote_the_temporary_keys() {
        for expiration in ["0", "-1", "\"1700003600\"", "null", "1e400"] {
            let body = format!(
                r#"{{"Credentials":{{"AccessKeyId":"ASIAEXAMPLEKEYID","Expiration":{expiration},"SecretKey":"wJalrXUtnFEMI/K7MDENG","SessionToken":"IQoJb3JpZ2luX2VjEJr"}}}}"#
            );
            let error = parse_answer(200, body.as_bytes(), None).unwrap_err();
            assert!(matches!(error, Error::Decode { .. }), "{error}");
            let text = format!("{error} {error:?}");
            for secret in ["ASIAEXAMPLEKEYID", "wJalrXUtnFEMI", "IQoJb3JpZ2luX2VjEJr"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        let echoed = parse_answer(502, br#"{"SecretKey":"wJalrXUtnFEMI"}"#, None).unwrap_err();
        assert!(!format!("{echoed} {echoed:?}").contains("wJalrXUtnFEMI"));
    }
}
