//! Accounts: registration, login with failed-login throttling, passwords,
//! profiles, roles and activation.
//!
//! Throttling follows OWASP's advice against lockouts that an attacker can
//! turn on the account's owner: failures are counted per (account, client
//! address) pair and per client address, never per account alone. Five
//! failures for one account from one address refuse that address for that
//! account for a minute, doubling with each further attempt up to 16
//! minutes; twenty failures from one address, whatever the accounts
//! (password spraying), refuse the address. The owner signing in from an
//! address that has not failed is never refused. Every attempt is counted
//! before its password is checked, atomically, so concurrent guesses cannot
//! slip past the limit, and attempts during a refusal are counted too.
//! Repeated failures are also slowed (250 ms each, at most 2 s).

use std::sync::Arc;
use std::time::Duration;

use fip_kit::Violations;
use fip_kit::auth::{Role, UserPrincipal};
use fip_kit::config::UserConfig;
use fip_kit::db::now_millis;

use crate::audit::{Caller, Event, action, outcome};
use crate::error::{UserError, check};
use crate::password;
use crate::sessions::{SessionBook, Tokens, reason};
use crate::store::{NewUser, ProfileChanges, Store, UserFilter, UserRecord};

/// Throttle scopes: an account seen from one address, and an address.
const SCOPE_ACCOUNT_ADDRESS: &str = "account_address";
const SCOPE_ADDRESS: &str = "address";

/// What a new account is made of.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub institution: String,
    pub department: String,
}

/// A successful login: the new session's tokens and the account.
#[derive(Debug, Clone)]
pub struct Session {
    pub tokens: Tokens,
    pub user: UserRecord,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    sessions: Arc<SessionBook>,
    settings: UserConfig,
}

/// One throttled subject of a login attempt, and its limit.
struct Subject {
    scope: &'static str,
    key: String,
    max_failures: i64,
}

fn valid_username(name: &str) -> bool {
    (3..=150).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c))
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
}

/// Checks the profile fields shared by registration and profile updates.
fn check_profile(v: &mut Violations, email: Option<&str>, names: [(&str, Option<&str>, bool); 4]) {
    if let Some(email) = email
        && !valid_email(email)
    {
        v.add("email", "must be a valid email address");
    }
    for (field, value, required) in names {
        if let Some(value) = value {
            if required {
                v.text(field, value, 150);
            } else {
                v.max_len(field, value, 200);
            }
        }
    }
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, sessions: Arc<SessionBook>, settings: UserConfig) -> Self {
        Self {
            store,
            sessions,
            settings,
        }
    }

    pub fn sessions(&self) -> &Arc<SessionBook> {
        &self.sessions
    }

    pub(crate) fn check_registration(r: &Registration) -> Result<(), UserError> {
        let mut v = Violations::new();
        if !valid_username(&r.username) {
            v.add(
                "username",
                "must be 3 to 150 letters, digits or . _ - @ + characters",
            );
        }
        check_profile(
            &mut v,
            Some(&r.email),
            [
                ("first_name", Some(&r.first_name), true),
                ("last_name", Some(&r.last_name), true),
                ("institution", Some(&r.institution), false),
                ("department", Some(&r.department), false),
            ],
        );
        if let Err(message) = password::check_strength(&r.password, &r.username) {
            v.add("password", message);
        }
        check(v)
    }

    /// Creates an account with `roles` (no permission check: the callers are
    /// registration, an admin command, or the bootstrap).
    pub async fn create(&self, r: Registration, roles: Vec<Role>) -> Result<UserRecord, UserError> {
        create_account(self.store.as_ref(), r, roles).await
    }

    /// Self-registration: a researcher account.
    pub async fn register(
        &self,
        caller: &Caller,
        r: Registration,
    ) -> Result<UserRecord, UserError> {
        if !self.settings.allow_registration {
            return Err(UserError::RegistrationDisabled);
        }
        let user = self.create(r, vec![Role::Researcher]).await?;
        Event::new(caller, action::USER_REGISTERED, outcome::SUCCESS)
            .about(user.id)
            .actor(user.username.clone())
            .resource("user", user.id)
            .record(self.store.as_ref())
            .await?;
        Ok(user)
    }

    /// The subjects a login attempt for `account` from `caller` counts
    /// against.
    fn subjects(&self, caller: &Caller, account: &str) -> [Subject; 2] {
        let address = if caller.client_address.is_empty() {
            "unknown"
        } else {
            caller.client_address.as_str()
        };
        [
            Subject {
                scope: SCOPE_ACCOUNT_ADDRESS,
                key: format!("{account}|{address}"),
                max_failures: i64::from(self.settings.login_max_failures),
            },
            Subject {
                scope: SCOPE_ADDRESS,
                key: address.to_string(),
                max_failures: i64::from(self.settings.login_max_failures_per_address),
            },
        ]
    }

    /// Counts the attempt against every subject; refuses it when one is
    /// over its limit or refused already. Returns the highest count.
    async fn admit(&self, subjects: &[Subject], now: i64) -> Result<i64, UserError> {
        let window_start = now - self.settings.login_window.as_millis() as i64;
        let lockout = self.settings.login_lockout.as_millis() as i64;
        let mut highest = 0;
        let mut refused_until = None::<i64>;
        for subject in subjects {
            let state = self
                .store
                .count_attempt(subject.scope, &subject.key, now, window_start)
                .await?;
            highest = highest.max(state.failures);
            let mut until = state.locked_until;
            if state.failures > subject.max_failures {
                // Over the limit (attempts during a refusal count, and each
                // doubles the next refusal).
                let doublings = (state.failures - subject.max_failures - 1).min(4) as u32;
                until = until.max(now + lockout * (1 << doublings));
                self.store
                    .lock_throttle(subject.scope, &subject.key, until)
                    .await?;
            }
            if until > now {
                refused_until = Some(refused_until.unwrap_or(0).max(until));
            }
        }
        match refused_until {
            Some(until) => Err(UserError::LoginThrottled {
                retry_after_seconds: ((until - now) + 999) / 1000,
            }),
            None => Ok(highest),
        }
    }

    /// Checks a username (or email) and password and starts a session.
    ///
    /// Unknown users and wrong passwords get the same answer after the same
    /// work; see the module's documentation for the throttling.
    pub async fn login(
        &self,
        caller: &Caller,
        login: &str,
        password: &str,
    ) -> Result<Session, UserError> {
        let mut v = Violations::new();
        v.text("username", login, 254);
        if password.is_empty() {
            v.add("password", "is required");
        }
        check(v)?;
        let now = now_millis();
        let user = self.store.user_by_login(login.trim()).await?;
        // Keyed on the account, so that its username and its email are one
        // subject; an unknown login is keyed on what was typed.
        let account = match &user {
            Some(user) => format!("user:{}", user.id),
            None => format!("login:{}", login.trim().to_lowercase()),
        };
        let subjects = self.subjects(caller, &account);
        let attempts = match self.admit(&subjects, now).await {
            Ok(attempts) => attempts,
            Err(refused) => {
                let mut event = Event::new(caller, action::LOGIN, outcome::DENIED)
                    .actor(login.trim())
                    .reason("LOGIN_THROTTLED");
                if let Some(user) = &user {
                    event = event.about(user.id);
                }
                event.record(self.store.as_ref()).await?;
                return Err(refused);
            }
        };
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_string());
        let matches = password::verify(password.to_string(), hash).await && user.is_some();
        let Some(user) = user.filter(|_| matches) else {
            let mut event = Event::new(caller, action::LOGIN, outcome::FAILURE)
                .actor(login.trim())
                .reason("LOGIN_FAILED");
            if let Some(known) = self.store.user_by_login(login.trim()).await? {
                event = event.about(known.id);
            }
            event.record(self.store.as_ref()).await?;
            // Slow down repeated failures: 250 ms per failure, at most 2 s.
            let delay = Duration::from_millis((attempts as u64 * 250).min(2000));
            tokio::time::sleep(delay).await;
            return Err(UserError::LoginFailed);
        };
        // A success clears this address's failures for this account, and
        // takes back its attempt from the address's count (but not the
        // address's other failures: an attacker's own account must not wash
        // a spraying address clean).
        let [pair, address] = &subjects;
        self.store.clear_throttle(pair.scope, &pair.key).await?;
        self.store
            .forgive_attempt(address.scope, &address.key)
            .await?;
        if !user.is_active {
            Event::new(caller, action::LOGIN, outcome::DENIED)
                .about(user.id)
                .actor(user.username.clone())
                .reason("ACCOUNT_DISABLED")
                .record(self.store.as_ref())
                .await?;
            return Err(UserError::AccountDisabled);
        }
        self.store.set_last_login(user.id, now).await?;
        let tokens = self.sessions.start(caller, &user).await?;
        Event::new(caller, action::LOGIN, outcome::SUCCESS)
            .about(user.id)
            .actor(user.username.clone())
            .resource("session", &tokens.session_id)
            .record(self.store.as_ref())
            .await?;
        let user = UserRecord {
            last_login: Some(now),
            ..user
        };
        Ok(Session { tokens, user })
    }

    /// The signed-in user's current record (refused once deactivated).
    pub async fn current(&self, principal: &UserPrincipal) -> Result<UserRecord, UserError> {
        let user = self
            .store
            .user_by_id(principal.id)
            .await?
            .ok_or(UserError::NotFound {
                resource_type: "user",
                id: principal.id.to_string(),
            })?;
        if !user.is_active {
            return Err(UserError::AccountDisabled);
        }
        Ok(user)
    }

    pub async fn change_password(
        &self,
        caller: &Caller,
        principal: &UserPrincipal,
        current: &str,
        new: &str,
    ) -> Result<(), UserError> {
        let user = self.current(principal).await?;
        let mut v = Violations::new();
        if current.is_empty() {
            v.add("current_password", "is required");
        }
        if let Err(message) = password::check_strength(new, &user.username) {
            v.add("new_password", message);
        }
        check(v)?;
        if !password::verify(current.to_string(), user.password_hash.clone()).await {
            Event::new(caller, action::PASSWORD_CHANGED, outcome::FAILURE)
                .reason("LOGIN_FAILED")
                .record(self.store.as_ref())
                .await?;
            return Err(UserError::LoginFailed);
        }
        let hash = password::hash(new.to_string()).await?;
        self.store.set_password_hash(user.id, &hash).await?;
        let ended = self
            .sessions
            .end_all(&user, Some(&principal.session_id), reason::PASSWORD_CHANGED)
            .await?;
        Event::new(caller, action::PASSWORD_CHANGED, outcome::SUCCESS)
            .resource("user", user.id)
            .summary(format!("{ended} other session(s) ended"))
            .record(self.store.as_ref())
            .await
    }

    pub async fn update_profile(
        &self,
        caller: &Caller,
        principal: &UserPrincipal,
        changes: ProfileChanges,
    ) -> Result<UserRecord, UserError> {
        self.current(principal).await?;
        let mut v = Violations::new();
        check_profile(
            &mut v,
            changes.email.as_deref(),
            [
                ("first_name", changes.first_name.as_deref(), true),
                ("last_name", changes.last_name.as_deref(), true),
                ("institution", changes.institution.as_deref(), false),
                ("department", changes.department.as_deref(), false),
            ],
        );
        check(v)?;
        let mut changed = Vec::new();
        for (name, present) in [
            ("email", changes.email.is_some()),
            ("first_name", changes.first_name.is_some()),
            ("last_name", changes.last_name.is_some()),
            ("institution", changes.institution.is_some()),
            ("department", changes.department.is_some()),
        ] {
            if present {
                changed.push(name.to_string());
            }
        }
        let user = self.store.update_profile(principal.id, &changes).await?;
        Event::new(caller, action::PROFILE_UPDATED, outcome::SUCCESS)
            .resource("user", user.id)
            .changed(changed)
            .record(self.store.as_ref())
            .await?;
        Ok(user)
    }

    /// Admins see anyone; others only themselves (NOT_FOUND otherwise).
    pub async fn get(&self, principal: &UserPrincipal, id: i64) -> Result<UserRecord, UserError> {
        let not_found = || UserError::NotFound {
            resource_type: "user",
            id: id.to_string(),
        };
        if !principal.is_admin() && principal.id != id {
            return Err(not_found());
        }
        self.by_id(id).await
    }

    /// Any account by id (internal callers).
    pub async fn by_id(&self, id: i64) -> Result<UserRecord, UserError> {
        self.store.user_by_id(id).await?.ok_or(UserError::NotFound {
            resource_type: "user",
            id: id.to_string(),
        })
    }

    pub async fn list(&self, filter: UserFilter) -> Result<(Vec<UserRecord>, i64), UserError> {
        Ok(self.store.list_users(&filter).await?)
    }

    async fn require_other_admin(&self, target: &UserRecord) -> Result<(), UserError> {
        let is_active_admin = target.is_active && target.roles.contains(&Role::Admin);
        if is_active_admin && self.store.count_active_admins().await? <= 1 {
            return Err(UserError::LastAdmin);
        }
        Ok(())
    }

    pub async fn set_roles(
        &self,
        caller: &Caller,
        id: i64,
        roles: Vec<Role>,
    ) -> Result<UserRecord, UserError> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(UserError::NotFound {
                resource_type: "user",
                id: id.to_string(),
            })?;
        refuse_self(caller, id, "roles")?;
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        if !roles.contains(&Role::Admin) {
            self.require_other_admin(&target).await?;
        }
        let user = self.store.set_roles(id, &roles).await?;
        if user.roles != target.roles {
            // Tokens carry roles: the user's sessions end, and the new roles
            // hold from their next sign-in.
            self.sessions
                .end_all(&user, None, reason::ROLES_CHANGED)
                .await?;
        }
        Event::new(caller, action::ROLES_CHANGED, outcome::SUCCESS)
            .about(id)
            .resource("user", id)
            .roles(target.roles, user.roles.clone())
            .record(self.store.as_ref())
            .await?;
        Ok(user)
    }

    pub async fn set_active(
        &self,
        caller: &Caller,
        id: i64,
        active: bool,
    ) -> Result<UserRecord, UserError> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(UserError::NotFound {
                resource_type: "user",
                id: id.to_string(),
            })?;
        refuse_self(caller, id, "activation")?;
        if !active {
            self.require_other_admin(&target).await?;
        }
        let user = self.store.set_active(id, active).await?;
        if !active {
            self.sessions
                .end_all(&user, None, reason::DEACTIVATED)
                .await?;
        }
        let what = if active {
            action::USER_ACTIVATED
        } else {
            action::USER_DEACTIVATED
        };
        Event::new(caller, what, outcome::SUCCESS)
            .about(id)
            .resource("user", id)
            .record(self.store.as_ref())
            .await?;
        Ok(user)
    }

    /// Creates the configured bootstrap admin when no active admin exists.
    pub async fn bootstrap_admin(&self) -> Result<Option<UserRecord>, UserError> {
        let (Some(username), Some(email), Some(password)) = (
            self.settings.bootstrap_admin_username.clone(),
            self.settings.bootstrap_admin_email.clone(),
            self.settings.bootstrap_admin_password.clone(),
        ) else {
            return Ok(None);
        };
        if self.store.count_active_admins().await? > 0
            || self.store.user_by_login(&username).await?.is_some()
        {
            return Ok(None);
        }
        let user = self
            .create(
                Registration {
                    username,
                    email,
                    password,
                    first_name: "Platform".into(),
                    last_name: "Administrator".into(),
                    ..Default::default()
                },
                vec![Role::Admin],
            )
            .await?;
        Event::new(
            &Caller::default(),
            action::USER_REGISTERED,
            outcome::SUCCESS,
        )
        .about(user.id)
        .actor("bootstrap")
        .resource("user", user.id)
        .summary("bootstrap admin from configuration")
        .record(self.store.as_ref())
        .await?;
        Ok(Some(user))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// An admin may not change their own roles or activation: another admin
/// must (so a stolen admin session cannot entrench itself, and an admin
/// cannot lock themselves out by mistake).
fn refuse_self(caller: &Caller, id: i64, what: &str) -> Result<(), UserError> {
    match &caller.user {
        Some(user) if user.id == id => Err(UserError::SelfAdministration {
            message: format!("an admin cannot change their own {what}: ask another admin"),
        }),
        _ => Ok(()),
    }
}

/// Creates an account with `roles` after checking its fields.
pub async fn create_account(
    store: &dyn Store,
    r: Registration,
    roles: Vec<Role>,
) -> Result<UserRecord, UserError> {
    Accounts::check_registration(&r)?;
    let hash = password::hash(r.password.clone()).await?;
    let user = store
        .create_user(NewUser {
            username: r.username.trim().to_string(),
            email: r.email.trim().to_string(),
            password_hash: hash,
            first_name: r.first_name.trim().to_string(),
            last_name: r.last_name.trim().to_string(),
            institution: r.institution.trim().to_string(),
            department: r.department.trim().to_string(),
            roles,
            created_at: now_millis(),
        })
        .await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails() {
        assert!(valid_username("ada.lovelace"));
        assert!(!valid_username("ab"));
        assert!(!valid_username("has space"));
        assert!(valid_email("ada@example.org"));
        assert!(!valid_email("ada@localhost"));
        assert!(!valid_email("no-at.example.org"));
        assert!(!valid_email("a b@example.org"));
    }
}
