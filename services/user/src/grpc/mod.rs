//! The gRPC face of the user service: thin adapters that check the caller,
//! convert and validate wire types, call the domain, and map its errors.

mod audit;
mod credentials;
mod internal;
mod users;

use std::sync::Arc;

use fip_kit::auth::{Principal, Role, forwarded};
use fip_kit::db::timestamp;
use fip_proto::user::v1 as pb;

use crate::accounts::Accounts;
use crate::audit::Caller;
use crate::credentials::Credentials;
use crate::store::{AuditRecord, CredentialKind, CredentialRecord, SessionRecord, UserRecord};

/// Implements every gRPC service of the user service.
#[derive(Clone)]
pub struct UserApi {
    pub accounts: Arc<Accounts>,
    pub credentials: Arc<Credentials>,
}

/// Who calls and from where: the verified principal, and the client's
/// address and user agent as the gateway vouched for them (the auth layer
/// drops those headers on calls the gateway did not stamp), else the peer
/// address and the caller's own user agent.
pub fn caller<T>(request: &tonic::Request<T>) -> Caller {
    let (user, service) = match request.extensions().get::<Principal>() {
        Some(Principal::User(u)) => (Some(u.clone()), None),
        Some(Principal::Service(s)) => (None, Some(s.to_string())),
        None => (None, None),
    };
    let metadata = request.metadata();
    let header = |name: &str| {
        metadata
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let client_address = header(forwarded::CLIENT_ADDRESS)
        .map(str::to_string)
        .or_else(|| request.remote_addr().map(|a| a.ip().to_string()))
        .unwrap_or_default();
    let user_agent = header(forwarded::CLIENT_USER_AGENT)
        .or_else(|| header("user-agent"))
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    Caller {
        user,
        service,
        client_address,
        user_agent,
    }
}

pub fn session_to_wire(session: SessionRecord, current: &str) -> pb::Session {
    let SessionRecord {
        id,
        user_id: _,
        created_at,
        refreshed_at,
        expires_at,
        ended_at: _,
        client_address,
        user_agent,
    } = session;
    pb::Session {
        current: id == current,
        id,
        created_at: Some(timestamp(created_at)),
        last_refreshed_at: Some(timestamp(refreshed_at)),
        expires_at: Some(timestamp(expires_at)),
        client_address,
        user_agent,
    }
}

pub fn role_to_wire(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::ServiceAdmin => pb::Role::ServiceAdmin,
        Role::Researcher => pb::Role::Researcher,
        Role::Viewer => pb::Role::Viewer,
    }
}

/// A wire role, or None for UNSPECIFIED and unknown numbers.
pub fn role_from_wire(value: i32) -> Option<Role> {
    match pb::Role::try_from(value).ok()? {
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::ServiceAdmin => Some(Role::ServiceAdmin),
        pb::Role::Researcher => Some(Role::Researcher),
        pb::Role::Viewer => Some(Role::Viewer),
        pb::Role::Unspecified => None,
    }
}

pub fn user_to_wire(user: UserRecord) -> pb::User {
    let UserRecord {
        id,
        username,
        email,
        password_hash: _,
        first_name,
        last_name,
        institution,
        department,
        is_active,
        roles,
        date_joined,
        last_login,
    } = user;
    pb::User {
        id,
        username,
        email,
        first_name,
        last_name,
        is_active,
        roles: roles.into_iter().map(|r| role_to_wire(r) as i32).collect(),
        date_joined: Some(timestamp(date_joined)),
        last_login: last_login.map(timestamp),
        institution,
        department,
    }
}

pub fn kind_to_wire(kind: CredentialKind) -> pb::CredentialType {
    match kind {
        CredentialKind::ApiToken => pb::CredentialType::ApiToken,
        CredentialKind::BasicAuth => pb::CredentialType::BasicAuth,
        CredentialKind::OAuth2 => pb::CredentialType::Oauth2,
    }
}

pub fn credential_to_wire(record: CredentialRecord) -> pb::ServiceCredential {
    let CredentialRecord {
        id,
        user_id: _,
        service_id,
        kind,
        label,
        is_active,
        is_verified,
        last_verified_at,
        last_used_at,
        verification_error,
        remote_username,
        expires_at,
        masked_token,
        has_api_token,
        has_basic_auth,
        has_oauth_token,
        sealed: _,
        created_at,
        updated_at,
    } = record;
    pb::ServiceCredential {
        id,
        service_id,
        credential_type: kind_to_wire(kind) as i32,
        label,
        is_active,
        is_verified,
        last_verified_at: last_verified_at.map(timestamp),
        last_used_at: last_used_at.map(timestamp),
        verification_error,
        created_at: Some(timestamp(created_at)),
        updated_at: Some(timestamp(updated_at)),
        has_api_token,
        has_basic_auth,
        has_oauth_token,
        masked_token,
        expires_at: expires_at.map(timestamp),
        remote_username,
    }
}

/// `AUDIT_ACTION_LOGIN` ⇄ `login`.
pub fn action_to_wire(action: &str) -> pb::AuditAction {
    pb::AuditAction::from_str_name(&format!("AUDIT_ACTION_{}", action.to_uppercase()))
        .unwrap_or(pb::AuditAction::Unspecified)
}

pub fn action_from_wire(value: i32) -> Option<String> {
    let action = pb::AuditAction::try_from(value).ok()?;
    if action == pb::AuditAction::Unspecified {
        return None;
    }
    action
        .as_str_name()
        .strip_prefix("AUDIT_ACTION_")
        .map(str::to_lowercase)
}

pub fn outcome_to_wire(outcome: &str) -> pb::AuditOutcome {
    pb::AuditOutcome::from_str_name(&format!("AUDIT_OUTCOME_{}", outcome.to_uppercase()))
        .unwrap_or(pb::AuditOutcome::Unspecified)
}

pub fn audit_to_wire(record: AuditRecord) -> pb::AuditEvent {
    let AuditRecord {
        id,
        user_id,
        actor,
        actor_user_id,
        action,
        resource_type,
        resource_id,
        outcome,
        client_address,
        user_agent,
        summary,
        changed_fields,
        service_id,
        job_id,
        previous_roles,
        new_roles,
        error_reason,
        created_at,
    } = record;
    pb::AuditEvent {
        id,
        user_id: user_id.unwrap_or_default(),
        actor,
        actor_user_id: actor_user_id.unwrap_or_default(),
        action: action_to_wire(&action) as i32,
        resource_type,
        resource_id,
        outcome: outcome_to_wire(&outcome) as i32,
        client_address,
        user_agent,
        created_at: Some(timestamp(created_at)),
        detail: Some(pb::AuditDetail {
            summary,
            changed_fields,
            service_id: service_id.unwrap_or_default(),
            job_id,
            previous_roles: previous_roles
                .into_iter()
                .map(|r| role_to_wire(r) as i32)
                .collect(),
            new_roles: new_roles
                .into_iter()
                .map(|r| role_to_wire(r) as i32)
                .collect(),
            error_reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_action_names_match_the_contract() {
        use crate::audit::action::*;
        for name in [
            USER_REGISTERED,
            LOGIN,
            PASSWORD_CHANGED,
            PROFILE_UPDATED,
            ROLES_CHANGED,
            USER_ACTIVATED,
            USER_DEACTIVATED,
            CREDENTIAL_CREATED,
            CREDENTIAL_REPLACED,
            CREDENTIAL_DELETED,
            CREDENTIAL_VERIFIED,
            CREDENTIAL_ACCESSED,
            CREDENTIAL_REJECTED,
            LOGOUT,
            SESSION_REVOKED,
            SESSION_REFRESHED,
        ] {
            let wire = action_to_wire(name);
            assert_ne!(wire, pb::AuditAction::Unspecified, "{name}");
            assert_eq!(action_from_wire(wire as i32).as_deref(), Some(name));
        }
        for outcome in [
            crate::audit::outcome::SUCCESS,
            crate::audit::outcome::FAILURE,
            crate::audit::outcome::DENIED,
        ] {
            assert_ne!(outcome_to_wire(outcome), pb::AuditOutcome::Unspecified);
        }
    }
}
