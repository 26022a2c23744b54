//! A string that holds a credential: redacted in `Debug`/`Display`, zeroized on drop.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

/// The JSON field names, across the whole API, whose values are secrets. Used to mask secrets in
/// body excerpts and in displayed output.
pub const SECRET_FIELDS: &[&str] = &[
    "password",
    "client_secret",
    "clientSecret",
    "access_token",
    "refresh_token",
    "token",
    "granwin_token",
    "secretKey",
    "sessionToken",
    "accessKeyId",
    "mqttUrl",
    // Cognito `GetCredentialsForIdentity` answers (PascalCase).
    "SecretKey",
    "SessionToken",
    "AccessKeyId",
];

/// A secret string (password, client secret, token, AWS key).
///
/// * `Debug` and `Display` print `***` and never the value.
/// * The heap buffer is overwritten with zeros when the value is dropped.
/// * [`SecretString::expose`] is the one, greppable way to read the value.
///
/// `Serialize` writes the real value: serialising is an explicit act (request bodies, or a
/// caller that asked for secrets to be shown). Use [`SecretString::masked`] for display.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value. The argument is moved, so no unzeroized copy is left behind by this call.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value. Call it only to put the value on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A display form that shows at most the first 4 characters of a long secret, e.g. `ASIA…(20)`;
    /// secrets shorter than 12 characters are shown as `***` only.
    pub fn masked(&self) -> String {
        masked(&self.0)
    }
}

/// The display form of [`SecretString::masked`] for a value that is not held as a secret, such
/// as an AWS access key id (an identifier, printed masked wherever a person reads it).
pub fn masked(value: &str) -> String {
    let count = value.chars().count();
    if count < 12 {
        "***".to_owned()
    } else {
        let head: String = value.chars().take(4).collect();
        format!("{head}…({count})")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn masked_shows_only_a_prefix_of_long_values() {
        assert_eq!(SecretString::new("short").masked(), "***");
        assert_eq!(SecretString::new("ASIA2xxxxxxxxxMPY").masked(), "ASIA…(17)");
    }
}
