//! What the user service keeps, behind a trait; [`sql::SqlStore`] keeps it in
//! SQLite or PostgreSQL.

pub mod sql;

use async_trait::async_trait;
use fip_kit::auth::Role;

use crate::vault::Sealed;

/// A stored account.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub institution: String,
    pub department: String,
    pub is_active: bool,
    pub roles: Vec<Role>,
    pub date_joined: i64,
    pub last_login: Option<i64>,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub institution: String,
    pub department: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
}

/// Profile fields to change (None: keep).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub institution: Option<String>,
    pub department: Option<String>,
}

/// Which accounts to list; ordered by id, `after_id` is the page cursor.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub query: Option<String>,
    pub after_id: i64,
    pub limit: i64,
}

/// The kind of a stored credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiToken,
    BasicAuth,
    OAuth2,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiToken => "api_token",
            CredentialKind::BasicAuth => "basic_auth",
            CredentialKind::OAuth2 => "oauth2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::ApiToken, Self::BasicAuth, Self::OAuth2]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A stored service credential (its secret sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRecord {
    pub id: i64,
    pub user_id: i64,
    pub service_id: i64,
    pub kind: CredentialKind,
    pub label: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub last_verified_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub verification_error: String,
    pub remote_username: String,
    pub expires_at: Option<i64>,
    pub masked_token: String,
    pub has_api_token: bool,
    pub has_basic_auth: bool,
    pub has_oauth_token: bool,
    pub sealed: Sealed,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A credential to create or replace for (user, service). Replacing resets
/// verification and use.
#[derive(Debug, Clone)]
pub struct CredentialWrite {
    pub user_id: i64,
    pub service_id: i64,
    pub kind: CredentialKind,
    pub label: String,
    pub is_active: bool,
    pub expires_at: Option<i64>,
    pub masked_token: String,
    pub has_api_token: bool,
    pub has_basic_auth: bool,
    pub has_oauth_token: bool,
    pub sealed: Sealed,
    pub at: i64,
}

/// The result of a "Test connection".
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationOutcome {
    pub is_verified: bool,
    pub verified_at: i64,
    pub error: String,
    pub remote_username: String,
    pub expires_at: Option<i64>,
}

/// Login bookkeeping for one throttled subject (an account and address
/// pair, or an address): attempts in the current window, and the end of
/// the current refusal (0: none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub failures: i64,
    pub first_failure_at: i64,
    pub locked_until: i64,
}

/// A new session, as sign-in starts it.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: i64,
    pub refresh_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub client_address: String,
    pub user_agent: String,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub refreshed_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
}

/// What became of a refresh token presented for rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// It was the session's current one: replaced by the new hash.
    Rotated(SessionRecord),
    /// It was spent already: the session ended because of it (or had).
    Replayed(SessionRecord),
    /// Unknown, or its session ended or expired.
    Refused,
}

/// One audit event as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    /// The account the event is about.
    pub user_id: Option<i64>,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub outcome: String,
    pub client_address: String,
    pub user_agent: String,
    pub summary: String,
    pub changed_fields: Vec<String>,
    pub service_id: Option<i64>,
    pub job_id: String,
    pub previous_roles: Vec<Role>,
    pub new_roles: Vec<Role>,
    pub error_reason: String,
    pub created_at: i64,
}

/// Which audit events to list, newest first; `before_id` is the page cursor.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<i64>,
    pub actions: Vec<String>,
    pub outcome: Option<String>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    pub client_address: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field} already taken")]
    Conflict { field: &'static str },
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_user(&self, user: NewUser) -> StoreResult<UserRecord>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>>;
    /// By username, or by email (both case-insensitive).
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>>;
    async fn set_last_login(&self, id: i64, at: i64) -> StoreResult<()>;
    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()>;
    async fn update_profile(&self, id: i64, changes: &ProfileChanges) -> StoreResult<UserRecord>;
    async fn list_users(&self, filter: &UserFilter) -> StoreResult<(Vec<UserRecord>, i64)>;
    async fn set_roles(&self, id: i64, roles: &[Role]) -> StoreResult<UserRecord>;
    async fn set_active(&self, id: i64, active: bool) -> StoreResult<UserRecord>;
    /// Active accounts holding the admin role.
    async fn count_active_admins(&self) -> StoreResult<i64>;

    /// Creates or replaces; returns the record and whether one was replaced.
    async fn put_credential(&self, write: CredentialWrite)
    -> StoreResult<(CredentialRecord, bool)>;
    async fn credential(
        &self,
        user_id: i64,
        service_id: i64,
    ) -> StoreResult<Option<CredentialRecord>>;
    async fn list_credentials(&self, user_id: i64) -> StoreResult<Vec<CredentialRecord>>;
    async fn delete_credential(&self, user_id: i64, service_id: i64) -> StoreResult<bool>;
    async fn record_verification(
        &self,
        user_id: i64,
        service_id: i64,
        outcome: &VerificationOutcome,
    ) -> StoreResult<Option<CredentialRecord>>;
    /// Records a use by a job; a rejection also clears `is_verified` and
    /// stores the server's message.
    async fn record_use(
        &self,
        credential_id: i64,
        user_id: i64,
        at: i64,
        rejection: Option<&str>,
    ) -> StoreResult<bool>;
    /// Every sealed secret with its owner and service (key rotation).
    async fn all_sealed(&self) -> StoreResult<Vec<(i64, i64, i64, Sealed)>>;
    /// Replaces a credential's sealed secret, if it is still `previous`.
    async fn reseal(
        &self,
        credential_id: i64,
        previous: &Sealed,
        sealed: &Sealed,
    ) -> StoreResult<bool>;

    /// Counts one login attempt for a subject, atomically (concurrent
    /// attempts each count): a window older than `window_start` starts
    /// again at 1. Returns the state with this attempt counted.
    async fn count_attempt(
        &self,
        scope: &str,
        subject: &str,
        now: i64,
        window_start: i64,
    ) -> StoreResult<Throttle>;
    /// Refuses the subject until `until`.
    async fn lock_throttle(&self, scope: &str, subject: &str, until: i64) -> StoreResult<()>;
    /// Takes back one counted attempt (it succeeded).
    async fn forgive_attempt(&self, scope: &str, subject: &str) -> StoreResult<()>;
    async fn clear_throttle(&self, scope: &str, subject: &str) -> StoreResult<()>;

    async fn create_session(&self, session: NewSession) -> StoreResult<()>;
    /// Replaces the session's refresh hash `old` by `new` when `old` is its
    /// current one and the session is live at `now`; a spent `old` ends its
    /// session (`reason`).
    async fn rotate_refresh(
        &self,
        old: &str,
        new: &str,
        now: i64,
        reason: &str,
    ) -> StoreResult<Rotation>;
    /// Whether the session is live at `now`: not ended, not expired, its
    /// user `user_id` and active.
    async fn session_live(&self, id: &str, user_id: i64, now: i64) -> StoreResult<bool>;
    /// Ends one live session of `user_id`; false when there is none.
    async fn end_session(
        &self,
        id: &str,
        user_id: i64,
        now: i64,
        reason: &str,
    ) -> StoreResult<bool>;
    /// Ends every live session of `user_id` but `except`; returns how many.
    async fn end_user_sessions(
        &self,
        user_id: i64,
        except: Option<&str>,
        now: i64,
        reason: &str,
    ) -> StoreResult<u64>;
    /// Live sessions of `user_id`, newest first, older than the session
    /// `before` (the page cursor) when given.
    async fn list_sessions(
        &self,
        user_id: i64,
        now: i64,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SessionRecord>>;

    async fn append_audit(&self, event: &AuditRecord) -> StoreResult<()>;
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
}
