//! Secrets at rest: AES-256-GCM under a key ring that comes from
//! configuration (never from the database). Each ciphertext is stored with
//! the id of the key that sealed it, so keys can rotate; callers bind a
//! ciphertext to its row with additional data, so a sealed secret copied onto
//! another row does not open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::Zeroize;

use crate::config::Config;

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
    /// The key source from an inline ring, a key file, or the default file
    /// `<data_dir>/keys/<default_file>` (inline keys win over the file).
    pub fn source(
        config: &Config,
        inline: Option<&str>,
        file: Option<&Path>,
        default_file: &str,
    ) -> KeySource {
        match inline {
            Some(inline) if !inline.trim().is_empty() => KeySource::Inline(inline.to_string()),
            _ => KeySource::File(
                file.map(Path::to_path_buf)
                    .unwrap_or_else(|| config.keys_dir().join(default_file)),
            ),
        }
    }

    /// Loads a key ring, creating a key file with one key when the
    /// configuration allows generating missing keys.
    pub fn load(config: &Config, source: KeySource) -> Result<Self, VaultError> {
        if let KeySource::File(path) = &source
            && !path.exists()
        {
            if !config.auth.generate_missing_keys {
                return Err(VaultError::Config(format!(
                    "no key file at {} (configure the keys or create the file)",
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

    /// Seals `plain` under the active key, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Sealed {
        let guard = self.keys.read().expect("key ring lock");
        let key = &guard.1[&guard.0];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = key
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .expect("aes-gcm encryption does not fail");
        Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens what [`KeyRing::seal`] sealed with the same `aad`. Callers
    /// zeroize the plaintext when done.
    pub fn open_sealed(&self, aad: &[u8], sealed: &Sealed) -> Result<Vec<u8>, VaultError> {
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
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Open)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_aad() {
        let ring = KeyRing::open(KeySource::Inline(format!("a:{}", generate_key()))).unwrap();
        let sealed = ring.seal(b"row-1", b"h3a_abc123def456ghi789");
        assert_eq!(sealed.key_id, "a");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"h3a_ab"));
        assert_eq!(
            ring.open_sealed(b"row-1", &sealed).unwrap(),
            b"h3a_abc123def456ghi789"
        );
        assert!(matches!(
            ring.open_sealed(b"row-2", &sealed),
            Err(VaultError::Open)
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open_sealed(b"row-1", &tampered),
            Err(VaultError::Open)
        ));
    }

    #[test]
    fn file_ring_rotates_and_old_keys_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        assert_eq!(append_key_to_file(&path).unwrap(), "k1");
        let ring = KeyRing::open(KeySource::File(path.clone())).unwrap();
        let old = ring.seal(b"x", b"secret");
        assert_eq!(append_key_to_file(&path).unwrap(), "k2");
        let fresh = KeyRing::open(KeySource::File(path.clone())).unwrap();
        assert_eq!(fresh.active_key_id(), "k2");
        let new = fresh.seal(b"x", b"secret");
        // A ring loaded before the rotation finds the new key on demand.
        assert_eq!(ring.open_sealed(b"x", &new).unwrap(), b"secret");
        assert_eq!(fresh.open_sealed(b"x", &old).unwrap(), b"secret");
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
}
