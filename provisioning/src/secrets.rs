//! The master key: app secrets are derived from it and never stored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The key app secrets are derived from: `appSecret = Base64(HMAC-SHA256(key, "appSecret:" +
/// appKey + salt))`. The database stores only the random salt.
#[derive(Clone)]
pub struct MasterKey(hmac::Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A key from at least 32 bytes of secret material.
    pub fn new(material: &[u8]) -> Result<MasterKey, String> {
        if material.len() < 32 {
            return Err("the master key needs at least 32 bytes".into());
        }
        Ok(MasterKey(hmac::Key::new(hmac::HMAC_SHA256, material)))
    }

    /// A fresh random key's material (32 bytes, Base64).
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        let _ = SystemRandom::new().fill(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// The app secret of `app_key` with `salt`.
    pub fn app_secret(&self, app_key: &str, salt: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(b"appSecret:");
        context.update(app_key.as_bytes());
        context.update(salt);
        STANDARD.encode(context.sign())
    }
}

/// 16 random bytes.
pub fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut salt);
    salt
}
