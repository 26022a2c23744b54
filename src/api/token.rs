//! `oauth/rest-token`: the REST token and its three grants.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// A grant for one explicit token request ([`crate::Client::request_token`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenGrant {
    /// `grant_type=password`.
    Password {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// `grant_type=client_credentials`.
    ClientCredentials,
    /// `grant_type=refresh_token`, with the `refresh_token` of an earlier token.
    RefreshToken {
        /// The refresh token.
        refresh_token: SecretString,
    },
}

impl TokenGrant {
    /// The `grant_type` value sent for this grant.
    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenGrant::Password { .. } => "password",
            TokenGrant::ClientCredentials => "client_credentials",
            TokenGrant::RefreshToken { .. } => "refresh_token",
        }
    }
}

impl From<&crate::config::Grant> for TokenGrant {
    fn from(grant: &crate::config::Grant) -> Self {
        match grant {
            crate::config::Grant::Password { username, password } => TokenGrant::Password {
                username: username.clone(),
                password: password.clone(),
            },
            crate::config::Grant::ClientCredentials => TokenGrant::ClientCredentials,
        }
    }
}

/// The body of a token request. Borrows every secret; never logged.
#[derive(Serialize)]
pub(crate) struct TokenRequestBody<'a> {
    pub grant_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<&'a str>,
    pub scope: &'static str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl<'a> TokenRequestBody<'a> {
    pub(crate) fn new(grant: &'a TokenGrant, client_id: &'a str, client_secret: &'a str) -> Self {
        let (username, password, refresh_token) = match grant {
            TokenGrant::Password { username, password } => {
                (Some(username.as_str()), Some(password.expose()), None)
            }
            TokenGrant::ClientCredentials => (None, None, None),
            TokenGrant::RefreshToken { refresh_token } => {
                (None, None, Some(refresh_token.expose()))
            }
        };
        Self {
            grant_type: grant.grant_type(),
            username,
            password,
            refresh_token,
            scope: "read",
            client_id,
            client_secret,
        }
    }
}

/// An Agora Link token: the REST token, and also the `lsToken` of a third-party login.
#[derive(Debug, Clone, Serialize)]
pub struct RestToken {
    /// The bearer token.
    pub access_token: SecretString,
    /// The token type (`bearer`).
    pub token_type: String,
    /// The refresh token, when the server issued one.
    pub refresh_token: Option<SecretString>,
    /// The lifetime the server gave (`expires_in`, seconds).
    #[serde(serialize_with = "crate::api::wire::serialize_secs")]
    pub expires_in: Duration,
    /// The scope (`read`).
    pub scope: String,
    /// When the token expires: the time the response arrived plus `expires_in`.
    #[serde(serialize_with = "crate::api::wire::serialize_epoch_ms")]
    pub expires_at: SystemTime,
}

/// `data` of a token response, and `data.lsToken` of a login response.
#[derive(Deserialize)]
pub(crate) struct TokenWire {
    access_token: SecretString,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(deserialize_with = "crate::api::wire::flexible_seconds")]
    expires_in: u64,
    #[serde(default)]
    scope: String,
}

impl TokenWire {
    /// The public model, with `expires_at` counted from `received_at`.
    pub(crate) fn into_model(self, received_at: SystemTime) -> RestToken {
        let expires_in = crate::wire_time::lifetime_from_secs(self.expires_in);
        RestToken {
            access_token: self.access_token,
            token_type: self.token_type,
            refresh_token: self.refresh_token.filter(|t| !t.is_empty()),
            expires_in,
            scope: self.scope,
            expires_at: crate::wire_time::system_after(received_at, expires_in),
        }
    }
}
