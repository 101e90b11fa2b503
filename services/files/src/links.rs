//! Signed download links: `<file id>.<expiry, unix seconds>.<HMAC-SHA256>`,
//! the MAC taken over the file id and the expiry with the service's link
//! key. The token is the capability: whoever holds it may download that one
//! file until it expires, and no other.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fip_kit::config::Config;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::error::FilesError;

type HmacSha256 = Hmac<Sha256>;

/// Shortest accepted link key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
const DOMAIN: &str = "fip/download-link/v1";

/// Signs and checks download-link tokens.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    pub fn new(key: Vec<u8>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            key.len() >= MIN_KEY_BYTES,
            "the link key must be at least {MIN_KEY_BYTES} bytes"
        );
        Ok(Self { key })
    }

    /// A fresh random key (tests).
    pub fn random() -> Self {
        let mut key = vec![0u8; MIN_KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }

    /// The key from `files.link_key`, else from the key file in the data
    /// dir, created (mode 0600) when `auth.generate_missing_keys` is set.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        if let Some(text) = &config.files.link_key {
            let key = STANDARD.decode(text.trim()).map_err(|_| {
                anyhow::anyhow!("invalid configuration: `files.link_key`: not base64")
            })?;
            return Self::new(key)
                .map_err(|e| anyhow::anyhow!("invalid configuration: `files.link_key`: {e}"));
        }
        let path = key_file(config);
        Self::load_or_generate(&path, config.auth.generate_missing_keys)
    }

    fn load_or_generate(path: &Path, generate: bool) -> anyhow::Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let key = STANDARD
                    .decode(text.trim())
                    .map_err(|_| anyhow::anyhow!("{}: not a base64 key", path.display()))?;
                Self::new(key).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
                let signer = Self::random();
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
                writeln!(file, "{}", STANDARD.encode(&signer.key))?;
                tracing::info!(path = %path.display(), "generated a new download-link key");
                Ok(signer)
            }
            Err(e) => Err(anyhow::anyhow!(
                "cannot read the download-link key {}: {e} (set files.link_key, or \
                 auth.generate_missing_keys to create it)",
                path.display()
            )),
        }
    }

    fn mac(&self, file_id: &str, expires_at_secs: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("hmac takes keys of any length");
        mac.update(format!("{DOMAIN}\n{file_id}\n{expires_at_secs}").as_bytes());
        mac
    }

    /// A token for `file_id` that works until `expires_at_secs` (unix seconds).
    pub fn sign(&self, file_id: &str, expires_at_secs: i64) -> String {
        let tag = self.mac(file_id, expires_at_secs).finalize().into_bytes();
        format!(
            "{file_id}.{expires_at_secs}.{}",
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The file id a token grants at `now_millis`. The signature is checked
    /// before the expiry, so an altered expiry is invalid, not expired.
    pub fn verify(&self, token: &str, now_millis: i64) -> Result<String, FilesError> {
        let mut parts = token.split('.');
        let (Some(file_id), Some(expiry), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(FilesError::LinkInvalid);
        };
        let expires_at_secs: i64 = expiry.parse().map_err(|_| FilesError::LinkInvalid)?;
        if expiry != expires_at_secs.to_string() {
            return Err(FilesError::LinkInvalid);
        }
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| FilesError::LinkInvalid)?;
        self.mac(file_id, expires_at_secs)
            .verify_slice(&tag)
            .map_err(|_| FilesError::LinkInvalid)?;
        let expires_at = expires_at_secs.saturating_mul(1000);
        if now_millis >= expires_at {
            return Err(FilesError::LinkExpired {
                expired_at: expires_at,
            });
        }
        Ok(file_id.to_string())
    }
}

/// `<data_dir>/keys/file-links.key`.
pub fn key_file(config: &Config) -> PathBuf {
    config.keys_dir().join("file-links.key")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01890000-0000-7000-8000-000000000001";

    #[test]
    fn signed_tokens_verify_until_they_expire() {
        let signer = LinkSigner::random();
        let token = signer.sign(ID, 1_000);
        assert_eq!(signer.verify(&token, 999_999).unwrap(), ID);
        assert!(matches!(
            signer.verify(&token, 1_000_000),
            Err(FilesError::LinkExpired {
                expired_at: 1_000_000
            })
        ));
    }

    #[test]
    fn altered_tokens_are_invalid() {
        let signer = LinkSigner::random();
        let token = signer.sign(ID, 1_000);
        let other_file = token.replacen("0001.", "0002.", 1);
        let later = token.replacen(".1000.", ".9000.", 1);
        let padded = token.replacen(".1000.", ".01000.", 1);
        let foreign = LinkSigner::random().sign(ID, 1_000);
        for bad in [
            other_file.as_str(),
            later.as_str(),
            padded.as_str(),
            foreign.as_str(),
            "",
            "a.b",
            "a.b.c.d",
        ] {
            assert!(
                matches!(signer.verify(bad, 0), Err(FilesError::LinkInvalid)),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/file-links.key");
        assert!(LinkSigner::load_or_generate(&path, false).is_err());
        let first = LinkSigner::load_or_generate(&path, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = LinkSigner::load_or_generate(&path, false).unwrap();
        assert_eq!(first.key, again.key);
        let token = first.sign(ID, 10);
        assert_eq!(again.verify(&token, 0).unwrap(), ID);
    }
}
