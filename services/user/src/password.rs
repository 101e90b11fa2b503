//! Password hashing with argon2id (the crate's defaults: m=19 MiB, t=2, p=1,
//! a fresh salt per hash), run off the async executor.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A valid hash of a random password, used to spend the same time on unknown
/// usernames as on wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(b"decoy password that matches nothing", &salt)
            .expect("hashing a constant succeeds")
            .to_string()
    })
}

/// Password rules: 8 to 256 characters, not all the same kind of thing as
/// the username.
pub fn check_strength(password: &str, username: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < 8 {
        return Err("must be at least 8 characters");
    }
    if length > 256 {
        return Err("must be at most 256 characters");
    }
    if password.eq_ignore_ascii_case(username) {
        return Err("must differ from the username");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), phc.clone()).await);
        assert!(!verify("wrong horse".into(), phc).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
        assert!(!verify("x".into(), decoy_hash().to_string()).await);
    }

    #[test]
    fn strength_rules() {
        assert!(check_strength("short", "bob").is_err());
        assert!(check_strength("bobbobbob", "BOBBOBBOB").is_err());
        assert!(check_strength("a reasonable passphrase", "bob").is_ok());
    }
}
