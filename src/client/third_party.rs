//! The third-party account calls (`register`, `login`, `removeAccount`) of [`Client`], built
//! from the descriptions of [`crate::api::third_party`].

use std::time::SystemTime;

use super::Client;
use crate::api::third_party::{
    login_body, register_body, remove_account_body, LoginResult, LoginWire, RegisteredAccount,
};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::secret::SecretString;

impl Client {
    /// Registers a third-party account in a project (`register`). Not idempotent.
    pub async fn register_account(
        &self,
        project_id: &str,
        account: &str,
    ) -> Result<RegisteredAccount> {
        let body = register_body(project_id, account)?;
        self.call(Endpoint::ThirdPartyRegister, body).await
    }

    /// Logs a third-party account in (`login`) with the token `register` returned, and returns
    /// its Agora Link token and IoT credentials. Sends the configured client id and secret.
    pub async fn login_account(
        &self,
        project_id: &str,
        account: &str,
        account_token: &SecretString,
    ) -> Result<LoginResult> {
        let config = self.config();
        let body = login_body(
            &config.client_id,
            &config.client_secret,
            project_id,
            account,
            account_token,
        )?;
        let wire: LoginWire = self.call(Endpoint::ThirdPartyLogin, body).await?;
        Ok(wire.into_model(SystemTime::now()))
    }

    /// Removes a third-party account (`removeAccount`). Not idempotent.
    pub async fn remove_account(
        &self,
        project_id: &str,
        account: &str,
        account_token: &SecretString,
    ) -> Result<()> {
        let body = remove_account_body(project_id, account, account_token)?;
        self.call::<serde::de::IgnoredAny>(Endpoint::ThirdPartyRemoveAccount, body)
            .await
            .map(|_| ())
    }
}
