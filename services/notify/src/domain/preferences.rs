//! A user's notification preferences.

use fip_kit::Violations;
use fip_kit::db::now_millis;

use super::Notify;
use crate::error::{NotifyError, check};
use crate::model::{PreferenceChanges, Preferences};

/// Longest email address accepted (RFC 5321 path limit).
const MAX_EMAIL: usize = 254;

impl Notify {
    /// The preferences of `user_id`, or the defaults when never saved.
    pub async fn preferences(&self, user_id: i64) -> Result<Preferences, NotifyError> {
        Ok(self.store.preferences(user_id).await?.unwrap_or_default())
    }

    /// Applies `changes` to `user_id`'s preferences; a bad value changes
    /// nothing.
    pub async fn update_preferences(
        &self,
        user_id: i64,
        changes: PreferenceChanges,
    ) -> Result<Preferences, NotifyError> {
        let mut v = Violations::new();
        if let Some(address) = &changes.email_address {
            check_email(&mut v, "preferences.email_address", address);
        }
        check(v)?;
        let saved = self
            .store
            .update_preferences(user_id, &changes, now_millis())
            .await?;
        tracing::info!(user_id, "notification preferences updated");
        Ok(saved)
    }
}

/// An email address: empty (use the account's), or `local@domain.tld`
/// without spaces or characters that need quoting.
pub fn check_email(v: &mut Violations, field: &str, address: &str) {
    if address.is_empty() {
        return;
    }
    if address.chars().count() > MAX_EMAIL {
        v.add(field, format!("must be at most {MAX_EMAIL} characters"));
        return;
    }
    let valid = match address.split_once('@') {
        Some((local, domain)) => {
            let plain =
                |c: char| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\\\"@".contains(c);
            !local.is_empty()
                && local.len() <= 64
                && local.chars().all(plain)
                && domain.contains('.')
                && domain.chars().all(plain)
                && domain.split('.').all(|label| !label.is_empty())
        }
        None => false,
    };
    if !valid {
        v.add(
            field,
            "must be an email address such as name@example.org, or empty for the account's",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        for good in ["", "a@b.org", "first.last+tag@lab.example.ac.za"] {
            let mut v = Violations::new();
            check_email(&mut v, "f", good);
            assert!(v.is_empty(), "{good}");
        }
        for bad in [
            "plain",
            "@example.org",
            "a@localhost",
            "a@b..org",
            "a b@c.org",
            " a@b.org",
            "a@b@c.org",
            "<a@b.org>",
            "a@.org",
        ] {
            let mut v = Violations::new();
            check_email(&mut v, "f", bad);
            assert!(!v.is_empty(), "{bad}");
        }
    }
}
