//! Keeping the data directory private: it holds password hashes, emails,
//! the audit log, sealed credentials, keys and uploaded genotype files.
//! Directories are 0700 and files 0600: [`restrict_new_files`] makes
//! everything the process creates so, and [`secure_data_dir`] tightens what
//! an earlier version (or a careless copy) left readable by others.

use std::path::{Path, PathBuf};

/// Files and directories this process creates from now on are its user's
/// alone (umask 077).
pub fn restrict_new_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot
    // fail and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (0700) when missing, and takes group and other access away
/// from it and everything under it. Returns what had to be tightened.
pub fn secure_data_dir(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", dir.display()))?;
    let mut tightened = Vec::new();
    #[cfg(unix)]
    tighten(dir, &mut tightened)
        .map_err(|e| anyhow::anyhow!("cannot secure the data dir {}: {e}", dir.display()))?;
    Ok(tightened)
}

#[cfg(unix)]
fn tighten(path: &Path, tightened: &mut Vec<PathBuf>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Symbolic links are neither followed nor changed: what they point at
    // is not the data dir's.
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o777;
    let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
    if mode & 0o077 != 0 {
        std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(mode & !0o077 | wanted),
        )?;
        tightened.push(path.to_path_buf());
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            match entry.and_then(|entry| tighten(&entry.path(), tightened)) {
                // Removed while the walk went on (a temporary file, a
                // finished job's work dir): nothing of it is left to secure.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_readable_data_dir_is_made_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("files/ab")).unwrap();
        std::fs::write(dir.join("user.db"), b"hashes").unwrap();
        std::fs::write(dir.join("files/ab/upload"), b"genotypes").unwrap();
        for (path, m) in [
            (dir.clone(), 0o755),
            (dir.join("files"), 0o775),
            (dir.join("files/ab"), 0o755),
            (dir.join("user.db"), 0o644),
            (dir.join("files/ab/upload"), 0o664),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
        }
        let tightened = secure_data_dir(&dir).unwrap();
        assert_eq!(tightened.len(), 5);
        for d in [&dir, &dir.join("files"), &dir.join("files/ab")] {
            assert_eq!(mode(d), 0o700);
        }
        assert_eq!(mode(&dir.join("user.db")), 0o600);
        assert_eq!(mode(&dir.join("files/ab/upload")), 0o600);
        assert!(
            secure_data_dir(&dir).unwrap().is_empty(),
            "nothing left to do"
        );
        let fresh = root.path().join("new");
        secure_data_dir(&fresh).unwrap();
        assert!(fresh.is_dir());
    }
}
