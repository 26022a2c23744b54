//! What the emulated AWS side remembers: the temporary AWS credentials ([`AwsSession`]) that
//! `login` and Cognito issue and the Cognito identities (their OpenID tokens), each bounded by
//! [`MAX_AWS_SESSIONS`] ([`IotRegistry`]), and Cognito's check of a `GetCredentialsForIdentity`
//! request against them. Below the state that holds the registry and the IoT gateway that
//! checks signatures with its sessions.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

/// The most temporary AWS credentials (and, separately, Cognito identities) the sandbox
/// remembers; issuing one more forgets the oldest, which the IoT gateway and Cognito then
/// refuse as unknown.
pub const MAX_AWS_SESSIONS: usize = 10_000;

/// Temporary AWS credentials issued by the sandbox.
#[derive(Debug, Clone)]
pub(crate) struct AwsSession {
    pub access_key_id: String,
    pub secret_key: String,
    pub session_token: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone)]
struct Identity {
    open_id_token: String,
    token_expires_ms: i64,
}

/// Identities and AWS sessions, each at most [`MAX_AWS_SESSIONS`] (the oldest are
/// forgotten first).
#[derive(Debug, Default)]
pub(crate) struct IotRegistry {
    identities: HashMap<String, Identity>,
    identity_order: VecDeque<String>,
    sessions: HashMap<String, AwsSession>,
    session_order: VecDeque<String>,
}

/// Inserts `key`, forgetting the oldest entries first while the map is full.
fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    order: &mut VecDeque<String>,
    key: String,
    value: V,
) {
    if map.insert(key.clone(), value).is_none() {
        order.push_back(key);
    }
    while map.len() > MAX_AWS_SESSIONS {
        let Some(oldest) = order.pop_front() else {
            break;
        };
        map.remove(&oldest);
    }
}

impl IotRegistry {
    pub fn register_identity(&mut self, identity_id: &str, open_id_token: &str, expires_ms: i64) {
        insert_bounded(
            &mut self.identities,
            &mut self.identity_order,
            identity_id.to_owned(),
            Identity {
                open_id_token: open_id_token.to_owned(),
                token_expires_ms: expires_ms,
            },
        );
    }

    pub fn register_session(&mut self, session: AwsSession) {
        insert_bounded(
            &mut self.sessions,
            &mut self.session_order,
            session.access_key_id.clone(),
            session,
        );
    }

    #[cfg(test)]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    #[cfg(test)]
    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }

    #[cfg(test)]
    pub fn has_session(&self, access_key_id: &str) -> bool {
        self.sessions.contains_key(access_key_id)
    }

    /// Makes every AWS session expired now.
    pub fn expire_sessions(&mut self, now_ms: i64) {
        for session in self.sessions.values_mut() {
            session.expires_ms = session.expires_ms.min(now_ms.saturating_sub(1));
        }
    }

    /// Makes every OpenID token expired now (Cognito then refuses them).
    pub fn expire_open_id_tokens(&mut self, now_ms: i64) {
        for identity in self.identities.values_mut() {
            identity.token_expires_ms = identity.token_expires_ms.min(now_ms.saturating_sub(1));
        }
    }

    /// The AWS session of `access_key_id`, if it is remembered.
    pub(crate) fn session(&self, access_key_id: &str) -> Option<&AwsSession> {
        self.sessions.get(access_key_id)
    }
}

/// Cognito's error body and status.
pub(crate) struct CognitoFailure {
    pub status: u16,
    pub body: Value,
}

/// A Cognito error of type `kind` (HTTP 400).
pub(crate) fn cognito_failure(kind: &str, message: &str) -> CognitoFailure {
    CognitoFailure {
        status: 400,
        body: json!({"__type": kind, "message": message}),
    }
}

impl IotRegistry {
    /// Cognito's check of a `GetCredentialsForIdentity` request (`target` is its `X-Amz-Target`,
    /// `body` `{"IdentityId", "Logins": {"<provider>": "<OpenID token>"}}`): the identity whose
    /// OpenID token was presented, and when that token expires (checked by the caller).
    pub(crate) fn cognito_identity(
        &self,
        target: Option<&str>,
        body: &[u8],
    ) -> Result<(String, i64), CognitoFailure> {
        if target != Some("AWSCognitoIdentityService.GetCredentialsForIdentity") {
            return Err(cognito_failure(
                "UnknownOperationException",
                "unknown X-Amz-Target",
            ));
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|_| cognito_failure("SerializationException", "body is not JSON"))?;
        let identity_id = body
            .get("IdentityId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(identity) = self.identities.get(&identity_id).cloned() else {
            return Err(cognito_failure(
                "ResourceNotFoundException",
                "Identity not found.",
            ));
        };
        let presented = body
            .get("Logins")
            .and_then(Value::as_object)
            .and_then(|logins| {
                logins
                    .iter()
                    .find(|(key, _)| key.starts_with("cognito-identity."))
                    .and_then(|(_, value)| value.as_str())
            })
            .unwrap_or_default();
        if presented != identity.open_id_token {
            return Err(cognito_failure(
                "NotAuthorizedException",
                "Invalid login token.",
            ));
        }
        Ok((identity_id, identity.token_expires_ms))
    }
}
