//! The credential vault: a credential's secret parts sealed with the kit's
//! key ring (`fip_kit::vault`), bound to their owner and service.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use fip_kit::config::Config;
pub use fip_kit::vault::{
    KeyRing, KeySource, Sealed, VaultError, append_key_to_file, generate_key,
};

/// Default key file of the credential key ring, under `<data_dir>/keys`.
pub const KEY_FILE: &str = "credential-keys";

/// The credential key ring the configuration names.
pub fn key_source(config: &Config) -> KeySource {
    KeyRing::source(
        config,
        config.user.credential_keys.as_deref(),
        config.user.credential_key_file.as_deref(),
        KEY_FILE,
    )
}

/// Loads the credential key ring (creating it on the embedded default).
pub fn key_ring(config: &Config) -> Result<KeyRing, VaultError> {
    KeyRing::load(config, key_source(config))
}

/// The secret parts of a credential, as sealed.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretParts {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refresh_token: String,
}

impl fmt::Debug for SecretParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretParts(<redacted>)")
    }
}

fn aad(owner: i64, service: i64) -> Vec<u8> {
    format!("fip-credential:{owner}:{service}").into_bytes()
}

/// Seals a credential's parts for (owner, service).
pub fn seal(keys: &KeyRing, owner: i64, service: i64, parts: &SecretParts) -> Sealed {
    let mut plain = serde_json::to_vec(parts).expect("secret parts serialise");
    let sealed = keys.seal(&aad(owner, service), &plain);
    plain.zeroize();
    sealed
}

/// Opens a credential's parts sealed for (owner, service).
pub fn open(
    keys: &KeyRing,
    owner: i64,
    service: i64,
    sealed: &Sealed,
) -> Result<SecretParts, VaultError> {
    let mut plain = keys.open_sealed(&aad(owner, service), sealed)?;
    let parts = serde_json::from_slice(&plain).map_err(|_| VaultError::Open);
    plain.zeroize();
    parts
}

/// A masked tail for display: `…3f9a` for tokens of 12+ characters, else `…`.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 12 {
        format!("…{}", chars[chars.len() - 4..].iter().collect::<String>())
    } else {
        "…".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> SecretParts {
        let mut parts = SecretParts::default();
        parts.api_token = "h3a_abc123def456ghi789".into();
        parts
    }

    #[test]
    fn parts_are_bound_to_owner_and_service() {
        let ring = KeyRing::open(KeySource::Inline(format!("a:{}", generate_key()))).unwrap();
        let sealed = seal(&ring, 1, 2, &parts());
        assert_eq!(open(&ring, 1, 2, &sealed).unwrap(), parts());
        assert!(matches!(open(&ring, 9, 2, &sealed), Err(VaultError::Open)));
        assert!(matches!(open(&ring, 1, 3, &sealed), Err(VaultError::Open)));
    }

    #[test]
    fn masking() {
        assert_eq!(mask("h3a_abc123def456"), "…f456");
        assert_eq!(mask("short"), "…");
        assert!(!format!("{:?}", parts()).contains("h3a"));
    }
}
