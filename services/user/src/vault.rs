//! Encryption of service credentials at rest: AES-256-GCM under a key ring
//! that comes from configuration (never from the database). Each ciphertext
//! is stored with the id of the key that sealed it, so keys can rotate; the
//! additional data binds a ciphertext to its owner and service, so a sealed
//! secret copied onto another row does not open.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use fip_kit::config::Config;

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

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("credential key {0:?} is not in the key ring")]
    UnknownKey(String),
    #[error("a sealed credential does not open (wrong key or tampered data)")]
    Open,
    #[error("invalid credential key ring: {0}")]
    Config(String),
    #[error("cannot read or write the credential key file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// `id:base64` entries, the first active (configuration / secret store).
    Inline(String),
    /// One `id base64` line per key, the last active.
    File(PathBuf),
}

/// The key ring. Unknown key ids make it re-read a key file once, so a
/// running service picks up a key added by `fip admin rotate-credential-key`.
pub struct KeyRing {
    source: KeySource,
    keys: RwLock<(String, BTreeMap<String, Key>)>,
}

fn parse_key(id: &str, encoded: &str) -> Result<Key, VaultError> {
    let id = id.trim();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(VaultError::Config(format!("bad key id {id:?}")));
    }
    let mut bytes = B64
        .decode(encoded.trim())
        .map_err(|_| VaultError::Config(format!("key {id} is not base64")))?;
    if bytes.len() != 32 {
        bytes.zeroize();
        return Err(VaultError::Config(format!(
            "key {id} must be 32 bytes (base64 of 32 random bytes)"
        )));
    }
    let cipher = Aes256Gcm::new_from_slice(&bytes).expect("32-byte key");
    bytes.zeroize();
    Ok(Key {
        id: id.to_string(),
        cipher,
    })
}

fn load(source: &KeySource) -> Result<(String, BTreeMap<String, Key>), VaultError> {
    let entries: Vec<(String, String)> = match source {
        KeySource::Inline(text) => text
            .split(',')
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                e.split_once(':')
                    .map(|(i, k)| (i.to_string(), k.to_string()))
                    .ok_or_else(|| VaultError::Config("entries are id:base64".into()))
            })
            .collect::<Result<_, _>>()?,
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| VaultError::Io {
                path: path.clone(),
                error,
            })?;
            let mut entries: Vec<(String, String)> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| {
                    l.split_once(char::is_whitespace)
                        .map(|(i, k)| (i.to_string(), k.to_string()))
                        .ok_or_else(|| VaultError::Config("lines are `id base64`".into()))
                })
                .collect::<Result<_, _>>()?;
            // The file lists keys oldest first; the last one is active.
            entries.reverse();
            entries
        }
    };
    let mut keys = BTreeMap::new();
    let mut active = None;
    for (id, encoded) in entries {
        let key = parse_key(&id, &encoded)?;
        active.get_or_insert_with(|| key.id.clone());
        if keys.insert(key.id.clone(), key).is_some() {
            return Err(VaultError::Config(format!("key id {id} appears twice")));
        }
    }
    let active = active.ok_or_else(|| VaultError::Config("the key ring is empty".into()))?;
    Ok((active, keys))
}

/// A fresh random key, base64.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let encoded = B64.encode(bytes);
    bytes.zeroize();
    encoded
}

/// Appends a new key (which becomes the active one) to a key file, creating
/// the file (mode 0600) when missing. Returns the new key id.
pub fn append_key_to_file(path: &Path) -> Result<String, VaultError> {
    use std::io::Write;
    let io = |error| VaultError::Io {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let next = existing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|id| id.strip_prefix('k').and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    let id = format!("k{next}");
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    writeln!(file, "{id} {}", generate_key()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(id)
}

impl KeyRing {
    /// The key source the configuration names (inline keys win over the file).
    pub fn source(config: &Config) -> KeySource {
        match &config.user.credential_keys {
            Some(inline) if !inline.trim().is_empty() => KeySource::Inline(inline.clone()),
            _ => KeySource::File(
                config
                    .user
                    .credential_key_file
                    .clone()
                    .unwrap_or_else(|| config.keys_dir().join("credential-keys")),
            ),
        }
    }

    /// Loads the configured key ring, creating a key file with one key when
    /// the configuration allows generating missing keys.
    pub fn from_config(config: &Config) -> Result<Self, VaultError> {
        let source = Self::source(config);
        if let KeySource::File(path) = &source
            && !path.exists()
        {
            if !config.auth.generate_missing_keys {
                return Err(VaultError::Config(format!(
                    "no credential key file at {} (set user.credential_keys or create the file)",
                    path.display()
                )));
            }
            append_key_to_file(path)?;
        }
        Self::open(source)
    }

    pub fn open(source: KeySource) -> Result<Self, VaultError> {
        let keys = load(&source)?;
        Ok(Self {
            source,
            keys: RwLock::new(keys),
        })
    }

    /// The id of the key new secrets are sealed with.
    pub fn active_key_id(&self) -> String {
        self.keys.read().expect("key ring lock").0.clone()
    }

    fn aad(owner: i64, service: i64) -> Vec<u8> {
        format!("fip-credential:{owner}:{service}").into_bytes()
    }

    /// Seals `parts` for (owner, service) under the active key.
    pub fn seal(&self, owner: i64, service: i64, parts: &SecretParts) -> Sealed {
        let guard = self.keys.read().expect("key ring lock");
        let key = &guard.1[&guard.0];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut plain = serde_json::to_vec(parts).expect("secret parts serialise");
        let aad = Self::aad(owner, service);
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .expect("aes-gcm encryption does not fail");
        plain.zeroize();
        Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a sealed secret of (owner, service).
    pub fn open_sealed(
        &self,
        owner: i64,
        service: i64,
        sealed: &Sealed,
    ) -> Result<SecretParts, VaultError> {
        if !self.knows(&sealed.key_id) {
            self.reload()?;
        }
        let guard = self.keys.read().expect("key ring lock");
        let key = guard
            .1
            .get(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        let nonce: [u8; 12] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Open)?;
        let aad = Self::aad(owner, service);
        let mut plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Open)?;
        let parts = serde_json::from_slice(&plain).map_err(|_| VaultError::Open);
        plain.zeroize();
        parts
    }

    fn knows(&self, key_id: &str) -> bool {
        self.keys
            .read()
            .expect("key ring lock")
            .1
            .contains_key(key_id)
    }

    /// Re-reads a key file source (inline sources cannot change).
    pub fn reload(&self) -> Result<(), VaultError> {
        if let KeySource::File(_) = self.source {
            let fresh = load(&self.source)?;
            *self.keys.write().expect("key ring lock") = fresh;
        }
        Ok(())
    }
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
    fn seal_and_open_round_trip() {
        let ring = KeyRing::open(KeySource::Inline(format!("a:{}", generate_key()))).unwrap();
        let sealed = ring.seal(1, 2, &parts());
        assert_eq!(sealed.key_id, "a");
        assert!(
            !sealed.ciphertext.windows(6).any(|w| w == b"h3a_ab"),
            "plaintext must not show"
        );
        assert_eq!(ring.open_sealed(1, 2, &sealed).unwrap(), parts());
    }

    #[test]
    fn ciphertext_is_bound_to_owner_and_service() {
        let ring = KeyRing::open(KeySource::Inline(format!("a:{}", generate_key()))).unwrap();
        let sealed = ring.seal(1, 2, &parts());
        assert!(matches!(
            ring.open_sealed(9, 2, &sealed),
            Err(VaultError::Open)
        ));
        assert!(matches!(
            ring.open_sealed(1, 3, &sealed),
            Err(VaultError::Open)
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open_sealed(1, 2, &tampered),
            Err(VaultError::Open)
        ));
    }

    #[test]
    fn file_ring_rotates_and_old_keys_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        assert_eq!(append_key_to_file(&path).unwrap(), "k1");
        let ring = KeyRing::open(KeySource::File(path.clone())).unwrap();
        let old = ring.seal(1, 1, &parts());
        assert_eq!(append_key_to_file(&path).unwrap(), "k2");
        // A ring loaded before the rotation finds the new key on demand.
        let fresh = KeyRing::open(KeySource::File(path.clone())).unwrap();
        assert_eq!(fresh.active_key_id(), "k2");
        let new = fresh.seal(1, 1, &parts());
        assert_eq!(ring.open_sealed(1, 1, &new).unwrap(), parts());
        assert_eq!(fresh.open_sealed(1, 1, &old).unwrap(), parts());
    }

    #[test]
    fn bad_rings_are_refused() {
        for text in ["", "a:notbase64!", "a:AAAA", "bad id:AAAA"] {
            assert!(
                KeyRing::open(KeySource::Inline(text.into())).is_err(),
                "{text}"
            );
        }
        let key = generate_key();
        assert!(KeyRing::open(KeySource::Inline(format!("a:{key},a:{key}"))).is_err());
    }

    #[test]
    fn masking() {
        assert_eq!(mask("h3a_abc123def456"), "…f456");
        assert_eq!(mask("short"), "…");
        assert!(!format!("{:?}", parts()).contains("h3a"));
    }
}
