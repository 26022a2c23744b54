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

/// What the key verifier signs: the verifier stored in the database is
/// `HMAC-SHA256(HMAC-SHA256(master key, VERIFIER_KEY_LABEL), VERIFIER_LABEL)`, never the key.
const VERIFIER_KEY_LABEL: &[u8] = b"agora-link-provisioning/master-key-verifier/key/v1";
const VERIFIER_LABEL: &[u8] = b"agora-link-provisioning/master-key-verifier/v1";

impl MasterKey {
    /// The verifier of this key, stored in the database at its first start: a later start with
    /// another key is refused (it would answer other appSecrets for the same appKeys). A
    /// one-way function of the key under a key derived from it for this purpose only, so it
    /// reveals nothing of the key or of any appSecret.
    pub fn verifier(&self) -> Vec<u8> {
        let derived = hmac::sign(&self.0, VERIFIER_KEY_LABEL);
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        hmac::sign(&key, VERIFIER_LABEL).as_ref().to_vec()
    }

    /// Whether `stored` is this key's [`verifier`](Self::verifier) (compared in constant time).
    pub fn matches_verifier(&self, stored: &[u8]) -> bool {
        crate::signature::constant_time_eq(&self.verifier(), stored)
    }
}

/// The error of a start with a master key that is not the database's: names the setting, never
/// the key.
pub const KEY_MISMATCH: &str = "PROVISIONING_MASTER_KEY is not the key that issued this \
    database's credentials (the key verifier stored at its first start does not match); start \
    with the original key: another key would answer a different appSecret for every appKey";

/// 16 random bytes.
pub fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut salt);
    salt
}
