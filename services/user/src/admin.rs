//! Operator commands that work on the user database directly
//! (`fip admin create-user`, `fip admin rotate-credential-key`).

use fip_kit::auth::Role;
use fip_kit::config::Config;

use crate::accounts::{Registration, create_account};
use crate::audit::{Caller, Event, action, outcome};
use crate::credentials::reseal_all;
use crate::store::sql::SqlStore;
use crate::store::{Store, UserRecord};
use crate::vault::{self, KeySource, append_key_to_file};

/// Creates an account (an admin when `admin` is set), audited as done by
/// the operator.
pub async fn create_user(
    config: &Config,
    registration: Registration,
    admin: bool,
) -> anyhow::Result<UserRecord> {
    let store = SqlStore::new(crate::open_db(config).await?);
    let roles = if admin {
        vec![Role::Admin, Role::Researcher]
    } else {
        vec![Role::Researcher]
    };
    let user = create_account(&store, registration, roles)
        .await
        .map_err(describe)?;
    Event::new(
        &Caller::default(),
        action::USER_REGISTERED,
        outcome::SUCCESS,
    )
    .about(user.id)
    .actor("operator")
    .resource("user", user.id)
    .summary(if admin {
        "created by an operator as admin"
    } else {
        "created by an operator"
    })
    .record(&store)
    .await
    .map_err(describe)?;
    Ok(user)
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub active_key_id: String,
    pub resealed: usize,
    pub already_current: usize,
}

/// Adds a new active key to the key file (when keys come from a file) and
/// re-seals every credential under the active key. With inline keys
/// (`user.credential_keys`), put the new key first there, then run this.
pub async fn rotate_credential_key(config: &Config) -> anyhow::Result<Rotation> {
    // Refuse early if the present ring does not load: nothing changes.
    vault::key_ring(config)?;
    if let KeySource::File(path) = vault::key_source(config) {
        append_key_to_file(&path)?;
    }
    let keys = vault::key_ring(config)?;
    let store = SqlStore::new(crate::open_db(config).await?);
    let (resealed, already_current) = reseal_all(&store as &dyn Store, &keys)
        .await
        .map_err(describe)?;
    Ok(Rotation {
        active_key_id: keys.active_key_id(),
        resealed,
        already_current,
    })
}

fn describe(error: crate::error::UserError) -> anyhow::Error {
    match error {
        crate::error::UserError::Validation(violations) => anyhow::anyhow!(
            "{}",
            violations
                .iter()
                .map(|(f, d)| format!("{f} {d}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}
