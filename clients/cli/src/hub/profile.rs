//! Profiles: one hub each (URL, user, session tokens), kept in
//! `$XDG_CONFIG_HOME/fip/profiles.json` (`~/.config/fip/`), directory 0700
//! and file 0600, rewritten atomically (a temporary file renamed over it)
//! so that a rotated refresh token is never lost half-written.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CliError;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// One hub and the session on it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The gateway's URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Who signed in.
    #[serde(default)]
    pub username: String,
    /// The current access token; empty when signed out.
    #[serde(default)]
    pub access_token: String,
    /// When it expires (Unix seconds).
    #[serde(default)]
    pub access_expires_at: i64,
    /// The refresh token that renews the session (works once).
    #[serde(default)]
    pub refresh_token: String,
}

impl Profile {
    /// True when the profile holds a session.
    pub fn signed_in(&self) -> bool {
        !self.refresh_token.is_empty() || !self.access_token.is_empty()
    }
}

/// Every saved profile.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Profiles {
    /// The profile used when `--profile` is not given.
    #[serde(default)]
    pub default: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The directory holding the profiles.
pub fn config_dir() -> Result<PathBuf, CliError> {
    directories::ProjectDirs::from("", "", "fip")
        .map(|dirs| dirs.config_dir().to_path_buf())
        .ok_or_else(|| {
            CliError::error("no home directory to keep profiles in: set HOME or XDG_CONFIG_HOME")
        })
}

fn file() -> Result<PathBuf, CliError> {
    Ok(config_dir()?.join("profiles.json"))
}

impl Profiles {
    /// Reads the saved profiles (none when the file does not exist).
    pub fn load() -> Result<Self, CliError> {
        let path = file()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::error(format!(
                    "{} is not a profiles file ({e}): fix or delete it, then run `fip login`",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::error(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes every profile: directory 0700, file 0600, atomically.
    pub fn save(&self) -> Result<(), CliError> {
        let path = file()?;
        let dir = path.parent().expect("the file is in a directory");
        write_private(
            dir,
            &path,
            &serde_json::to_vec_pretty(self).expect("serialisable"),
        )
        .map_err(|e| CliError::error(format!("cannot save {}: {e}", path.display())))
    }

    /// The name `--profile` picks, else the default one.
    pub fn chosen(&self, name: Option<&str>) -> String {
        name.map(str::to_owned)
            .or_else(|| self.default.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned())
    }
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let temporary = dir.join(format!(".profiles.{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&temporary, path)
}

/// An exclusive lock on the profiles, held while a session is renewed, so
/// that two `fip` processes never spend the same refresh token (the second
/// would end the session). Released when dropped.
pub struct Lock {
    _file: std::fs::File,
}

/// Takes [`Lock`], waiting for another process that holds it.
pub fn lock() -> Result<Lock, CliError> {
    use std::os::fd::AsRawFd;
    let dir = config_dir()?;
    let failed = |e: std::io::Error| {
        CliError::error(format!(
            "cannot lock the profiles in {}: {e}",
            dir.display()
        ))
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(failed)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(".profiles.lock"))
        .map_err(failed)?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(failed(std::io::Error::last_os_error()));
    }
    Ok(Lock { _file: file })
}

/// Stores `profile` under `name` (the default when there is none yet).
pub fn store(name: &str, profile: Profile) -> Result<(), CliError> {
    let mut all = Profiles::load()?;
    all.profiles.insert(name.to_owned(), profile);
    if all.default.is_none() {
        all.default = Some(name.to_owned());
    }
    all.save()
}
