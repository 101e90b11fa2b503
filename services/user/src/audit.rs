//! The audit log: every auth and credential action, who did it, from where.

use fip_kit::auth::{Role, UserPrincipal};
use fip_kit::db::now_millis;

use crate::error::UserError;
use crate::store::{AuditQuery, AuditRecord, Store};

/// Who is acting and from where (from the request's metadata).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<UserPrincipal>,
    /// The internal service calling, when it is one (`jobs`).
    pub service: Option<String>,
    pub client_address: String,
    pub user_agent: String,
}

impl Caller {
    pub fn actor(&self) -> String {
        match (&self.user, &self.service) {
            (Some(user), _) => user.username.clone(),
            (None, Some(service)) => format!("service:{service}"),
            (None, None) => "anonymous".into(),
        }
    }
}

/// Audit action names (the `AuditAction` enum values without prefix, lowercase).
pub mod action {
    pub const USER_REGISTERED: &str = "user_registered";
    pub const LOGIN: &str = "login";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PROFILE_UPDATED: &str = "profile_updated";
    pub const ROLES_CHANGED: &str = "roles_changed";
    pub const USER_ACTIVATED: &str = "user_activated";
    pub const USER_DEACTIVATED: &str = "user_deactivated";
    pub const CREDENTIAL_CREATED: &str = "credential_created";
    pub const CREDENTIAL_REPLACED: &str = "credential_replaced";
    pub const CREDENTIAL_DELETED: &str = "credential_deleted";
    pub const CREDENTIAL_VERIFIED: &str = "credential_verified";
    pub const CREDENTIAL_ACCESSED: &str = "credential_accessed";
    pub const CREDENTIAL_REJECTED: &str = "credential_rejected";
    pub const LOGOUT: &str = "logout";
    pub const SESSION_REVOKED: &str = "session_revoked";
    pub const SESSION_REFRESHED: &str = "session_refreshed";
}

pub mod outcome {
    pub const SUCCESS: &str = "success";
    pub const FAILURE: &str = "failure";
    pub const DENIED: &str = "denied";
}

/// One event in the making.
pub struct Event {
    record: AuditRecord,
}

impl Event {
    pub fn new(caller: &Caller, action: &str, outcome: &str) -> Self {
        Self {
            record: AuditRecord {
                user_id: caller.user.as_ref().map(|u| u.id),
                actor: caller.actor(),
                actor_user_id: caller.user.as_ref().map(|u| u.id),
                action: action.into(),
                outcome: outcome.into(),
                client_address: caller.client_address.clone(),
                user_agent: caller.user_agent.clone(),
                created_at: now_millis(),
                ..Default::default()
            },
        }
    }

    /// The account the event is about (defaults to the actor).
    pub fn about(mut self, user_id: i64) -> Self {
        self.record.user_id = Some(user_id);
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.record.actor = actor.into();
        self
    }

    pub fn resource(mut self, kind: &str, id: impl ToString) -> Self {
        self.record.resource_type = kind.into();
        self.record.resource_id = id.to_string();
        self
    }

    pub fn summary(mut self, text: impl Into<String>) -> Self {
        self.record.summary = text.into();
        self
    }

    pub fn changed(mut self, fields: Vec<String>) -> Self {
        self.record.changed_fields = fields;
        self
    }

    pub fn service(mut self, service_id: i64) -> Self {
        self.record.service_id = Some(service_id);
        self
    }

    pub fn job(mut self, job_id: &str) -> Self {
        self.record.job_id = job_id.into();
        self
    }

    pub fn roles(mut self, previous: Vec<Role>, new: Vec<Role>) -> Self {
        self.record.previous_roles = previous;
        self.record.new_roles = new;
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.record.error_reason = reason.into();
        self
    }

    /// Appends the event. An audit write that fails fails the action.
    pub async fn record(self, store: &dyn Store) -> Result<(), UserError> {
        store.append_audit(&self.record).await?;
        Ok(())
    }
}

/// One page of events, newest first, and the cursor of the next page.
pub async fn list(
    store: &dyn Store,
    mut query: AuditQuery,
    page_size: i32,
) -> Result<(Vec<AuditRecord>, Option<i64>), UserError> {
    let size = fip_kit::paging::page_size(page_size);
    query.limit = size + 1;
    let mut events = store.list_audit(&query).await?;
    let next = if events.len() as i64 > size {
        events.truncate(size as usize);
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok((events, next))
}
