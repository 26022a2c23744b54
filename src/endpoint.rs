//! The vocabulary of calls: [`Endpoint`], every endpoint the client can call (re-exported as
//! `agora_link::api::Endpoint`). The bottom layer: it imports nothing from the crate.

use std::fmt;

/// One endpoint of the Agora Link REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST oauth/rest-token`.
    RestToken,
    /// `POST cloud-recorder/cloud-record-package/v1/getAll`.
    PackagesGetAll,
    /// `POST cloud-recorder/cloud-record-package/v1/getById`.
    PackagesGetById,
    /// `POST cloud-recorder/cloud-record-order/v1/open` (a purchase; not idempotent).
    OrderOpen,
    /// `POST oauth/third-party/register` (not idempotent).
    ThirdPartyRegister,
    /// `POST oauth/third-party/login`.
    ThirdPartyLogin,
    /// `POST oauth/third-party/removeAccount` (not idempotent).
    ThirdPartyRemoveAccount,
    /// Amazon Cognito `GetCredentialsForIdentity`, used to renew IoT credentials (not an Agora
    /// Link endpoint: not in [`Endpoint::ALL`]).
    CognitoGetCredentials,
    /// The AWS IoT MQTT-over-WebSocket connection (not an Agora Link endpoint: not in
    /// [`Endpoint::ALL`]).
    IotMqtt,
}

impl Endpoint {
    /// Every Agora Link REST endpoint, in spec order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::RestToken,
        Endpoint::PackagesGetAll,
        Endpoint::PackagesGetById,
        Endpoint::OrderOpen,
        Endpoint::ThirdPartyRegister,
        Endpoint::ThirdPartyLogin,
        Endpoint::ThirdPartyRemoveAccount,
    ];

    /// The path below the API base (`/agoralink/<cn|na>/api`).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::RestToken => "/oauth/rest-token",
            Endpoint::PackagesGetAll => "/cloud-recorder/cloud-record-package/v1/getAll",
            Endpoint::PackagesGetById => "/cloud-recorder/cloud-record-package/v1/getById",
            Endpoint::OrderOpen => "/cloud-recorder/cloud-record-order/v1/open",
            Endpoint::ThirdPartyRegister => "/oauth/third-party/register",
            Endpoint::ThirdPartyLogin => "/oauth/third-party/login",
            Endpoint::ThirdPartyRemoveAccount => "/oauth/third-party/removeAccount",
            Endpoint::CognitoGetCredentials => "/",
            Endpoint::IotMqtt => "/mqtt",
        }
    }

    /// A short, stable name (`rest-token`, `getAll`, ...), used in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::RestToken => "rest-token",
            Endpoint::PackagesGetAll => "getAll",
            Endpoint::PackagesGetById => "getById",
            Endpoint::OrderOpen => "open",
            Endpoint::ThirdPartyRegister => "register",
            Endpoint::ThirdPartyLogin => "login",
            Endpoint::ThirdPartyRemoveAccount => "removeAccount",
            Endpoint::CognitoGetCredentials => "cognito:GetCredentialsForIdentity",
            Endpoint::IotMqtt => "mqtt",
        }
    }

    /// `true` when repeating the call cannot change the outcome on the server.
    /// `open`, `register` and `removeAccount` are not idempotent.
    pub fn is_idempotent(self) -> bool {
        !matches!(
            self,
            Endpoint::OrderOpen | Endpoint::ThirdPartyRegister | Endpoint::ThirdPartyRemoveAccount
        )
    }

    /// `true` for the cloud-storage calls, which use the `{header, payload}` envelope.
    pub fn uses_envelope(self) -> bool {
        matches!(
            self,
            Endpoint::PackagesGetAll | Endpoint::PackagesGetById | Endpoint::OrderOpen
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
