//! The SQL store (SQLite and PostgreSQL through one `AnyPool`).

use async_trait::async_trait;
use fip_kit::auth::Role;
use fip_kit::db::{Db, SqlBuilder, get_bool, is_unique_violation};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

const USER_COLUMNS: &str = "id, username, email, password_hash, first_name, last_name, \
     institution, department, is_active, date_joined, last_login";

const CREDENTIAL_COLUMNS: &str = "id, user_id, service_id, credential_type, label, is_active, \
     is_verified, last_verified_at, last_used_at, verification_error, remote_username, \
     expires_at, masked_token, has_api_token, has_basic_auth, has_oauth_token, key_id, nonce, \
     ciphertext, created_at, updated_at";

const SESSION_COLUMNS: &str = "id, user_id, created_at, refreshed_at, expires_at, ended_at, \
     client_address, user_agent";

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        refreshed_at: row.try_get("refreshed_at")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
        client_address: row.try_get("client_address")?,
        user_agent: row.try_get("user_agent")?,
    })
}

fn user_from_row(row: &AnyRow, roles: Vec<Role>) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        institution: row.try_get("institution")?,
        department: row.try_get("department")?,
        is_active: get_bool(row, "is_active")?,
        roles,
        date_joined: row.try_get("date_joined")?,
        last_login: row.try_get("last_login")?,
    })
}

fn credential_from_row(row: &AnyRow) -> Result<CredentialRecord, sqlx::Error> {
    let kind: String = row.try_get("credential_type")?;
    Ok(CredentialRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        service_id: row.try_get("service_id")?,
        kind: CredentialKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("credential type {kind}").into()))?,
        label: row.try_get("label")?,
        is_active: get_bool(row, "is_active")?,
        is_verified: get_bool(row, "is_verified")?,
        last_verified_at: row.try_get("last_verified_at")?,
        last_used_at: row.try_get("last_used_at")?,
        verification_error: row.try_get("verification_error")?,
        remote_username: row.try_get("remote_username")?,
        expires_at: row.try_get("expires_at")?,
        masked_token: row.try_get("masked_token")?,
        has_api_token: get_bool(row, "has_api_token")?,
        has_basic_auth: get_bool(row, "has_basic_auth")?,
        has_oauth_token: get_bool(row, "has_oauth_token")?,
        sealed: Sealed {
            key_id: row.try_get("key_id")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn roles_from_text(text: &str) -> Vec<Role> {
    text.split(',').filter_map(Role::parse).collect()
}

fn conflict_field(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(e) if e.message().contains("email") => "email",
        _ => "username",
    }
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    let split = |s: String| -> Vec<String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    Ok(AuditRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        actor: row.try_get("actor")?,
        actor_user_id: row.try_get("actor_user_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        outcome: row.try_get("outcome")?,
        client_address: row.try_get("client_address")?,
        user_agent: row.try_get("user_agent")?,
        summary: row.try_get("summary")?,
        changed_fields: split(row.try_get("changed_fields")?),
        service_id: row.try_get("service_id")?,
        job_id: row.try_get("job_id")?,
        previous_roles: roles_from_text(&row.try_get::<String, _>("previous_roles")?),
        new_roles: roles_from_text(&row.try_get::<String, _>("new_roles")?),
        error_reason: row.try_get("error_reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlStore {
    async fn roles_of(&self, id: i64) -> Result<Vec<Role>, sqlx::Error> {
        let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(id)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("role").ok())
            .filter_map(|r| Role::parse(&r))
            .collect())
    }

    async fn load_user(&self, row: Option<AnyRow>) -> StoreResult<Option<UserRecord>> {
        match row {
            None => Ok(None),
            Some(row) => {
                let id: i64 = row.try_get("id")?;
                let roles = self.roles_of(id).await?;
                Ok(Some(user_from_row(&row, roles)?))
            }
        }
    }

    async fn require_user(&self, id: i64) -> StoreResult<UserRecord> {
        self.user_by_id(id).await?.ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<UserRecord> {
        let mut tx = self.db.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO users (username, email, password_hash, first_name, last_name, \
             institution, department, is_active, date_joined) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&user.username)
        .bind(user.email.to_lowercase())
        .bind(&user.password_hash)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(&user.institution)
        .bind(&user.department)
        .bind(true)
        .bind(user.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict {
                    field: conflict_field(&e),
                }
            } else {
                StoreError::Database(e)
            }
        })?;
        let id: i64 = row.try_get("id")?;
        for role in &user.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.require_user(id).await
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        self.load_user(row).await
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE lower(username) = lower($1) OR lower(email) = lower($1)"
        ))
        .bind(login)
        .fetch_optional(&self.db.pool)
        .await?;
        self.load_user(row).await
    }

    async fn set_last_login(&self, id: i64, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn update_profile(&self, id: i64, changes: &ProfileChanges) -> StoreResult<UserRecord> {
        let mut query = SqlBuilder::new("UPDATE users SET id = id");
        let fields = [
            ("email", changes.email.as_ref().map(|e| e.to_lowercase())),
            ("first_name", changes.first_name.clone()),
            ("last_name", changes.last_name.clone()),
            ("institution", changes.institution.clone()),
            ("department", changes.department.clone()),
        ];
        for (column, value) in fields {
            if let Some(value) = value {
                query.push(&format!(", {column} = ")).bind(value);
            }
        }
        query.push(" WHERE id = ").bind(id);
        let (sql, args) = query.finish();
        let done = sqlx::query_with(&sql, args)
            .execute(&self.db.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict { field: "email" }
                } else {
                    StoreError::Database(e)
                }
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.require_user(id).await
    }

    async fn list_users(&self, filter: &UserFilter) -> StoreResult<(Vec<UserRecord>, i64)> {
        fn conditions(query: &mut SqlBuilder, filter: &UserFilter) {
            query.push(" WHERE 1 = 1");
            if let Some(role) = filter.role {
                query
                    .push(" AND id IN (SELECT user_id FROM user_roles WHERE role = ")
                    .bind(role.as_str())
                    .push(")");
            }
            if let Some(active) = filter.is_active {
                query.push(" AND is_active = ").bind(active);
            }
            if let Some(text) = &filter.query {
                let pattern = format!("%{}%", text.to_lowercase());
                query
                    .push(" AND (lower(username) LIKE ")
                    .bind(pattern.clone())
                    .push(" OR lower(email) LIKE ")
                    .bind(pattern.clone())
                    .push(" OR lower(first_name || ' ' || last_name) LIKE ")
                    .bind(pattern)
                    .push(")");
            }
        }
        let mut count = SqlBuilder::new("SELECT COUNT(*) AS n FROM users");
        conditions(&mut count, filter);
        let (sql, args) = count.finish();
        let total: i64 = sqlx::query_with(&sql, args)
            .fetch_one(&self.db.pool)
            .await?
            .try_get("n")?;

        let mut page = SqlBuilder::new(format!("SELECT {USER_COLUMNS} FROM users"));
        conditions(&mut page, filter);
        page.push(" AND id > ")
            .bind(filter.after_id)
            .push(" ORDER BY id LIMIT ")
            .bind(filter.limit);
        let (sql, args) = page.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            users.push(user_from_row(&row, self.roles_of(id).await?)?);
        }
        Ok((users, total))
    }

    async fn set_roles(&self, id: i64, roles: &[Role]) -> StoreResult<UserRecord> {
        let mut tx = self.db.pool.begin().await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.require_user(id).await
    }

    async fn set_active(&self, id: i64, active: bool) -> StoreResult<UserRecord> {
        let done = sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
            .bind(active)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.require_user(id).await
    }

    async fn count_active_admins(&self) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM users u JOIN user_roles r ON r.user_id = u.id \
             WHERE r.role = $1 AND u.is_active = $2",
        )
        .bind(Role::Admin.as_str())
        .bind(true)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    async fn put_credential(&self, w: CredentialWrite) -> StoreResult<(CredentialRecord, bool)> {
        let mut tx = self.db.pool.begin().await?;
        let existing = sqlx::query(
            "SELECT id FROM service_credentials WHERE user_id = $1 AND service_id = $2",
        )
        .bind(w.user_id)
        .bind(w.service_id)
        .fetch_optional(&mut *tx)
        .await?;
        let replaced = existing.is_some();
        if replaced {
            sqlx::query(
                "UPDATE service_credentials SET credential_type = $1, label = $2, \
                 is_active = $3, is_verified = $4, last_verified_at = NULL, \
                 last_used_at = NULL, verification_error = '', remote_username = '', \
                 expires_at = $5, masked_token = $6, has_api_token = $7, has_basic_auth = $8, \
                 has_oauth_token = $9, key_id = $10, nonce = $11, ciphertext = $12, \
                 updated_at = $13 WHERE user_id = $14 AND service_id = $15",
            )
            .bind(w.kind.as_str())
            .bind(&w.label)
            .bind(w.is_active)
            .bind(false)
            .bind(w.expires_at)
            .bind(&w.masked_token)
            .bind(w.has_api_token)
            .bind(w.has_basic_auth)
            .bind(w.has_oauth_token)
            .bind(&w.sealed.key_id)
            .bind(w.sealed.nonce.clone())
            .bind(w.sealed.ciphertext.clone())
            .bind(w.at)
            .bind(w.user_id)
            .bind(w.service_id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO service_credentials (user_id, service_id, credential_type, label, \
                 is_active, is_verified, expires_at, masked_token, has_api_token, \
                 has_basic_auth, has_oauth_token, key_id, nonce, ciphertext, created_at, \
                 updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(w.user_id)
            .bind(w.service_id)
            .bind(w.kind.as_str())
            .bind(&w.label)
            .bind(w.is_active)
            .bind(false)
            .bind(w.expires_at)
            .bind(&w.masked_token)
            .bind(w.has_api_token)
            .bind(w.has_basic_auth)
            .bind(w.has_oauth_token)
            .bind(&w.sealed.key_id)
            .bind(w.sealed.nonce.clone())
            .bind(w.sealed.ciphertext.clone())
            .bind(w.at)
            .bind(w.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let record = self
            .credential(w.user_id, w.service_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((record, replaced))
    }

    async fn credential(
        &self,
        user_id: i64,
        service_id: i64,
    ) -> StoreResult<Option<CredentialRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM service_credentials \
             WHERE user_id = $1 AND service_id = $2"
        ))
        .bind(user_id)
        .bind(service_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.as_ref().map(credential_from_row).transpose()?)
    }

    async fn list_credentials(&self, user_id: i64) -> StoreResult<Vec<CredentialRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM service_credentials WHERE user_id = $1 \
             ORDER BY service_id"
        ))
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(credential_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn delete_credential(&self, user_id: i64, service_id: i64) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM service_credentials WHERE user_id = $1 AND service_id = $2")
                .bind(user_id)
                .bind(service_id)
                .execute(&self.db.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_verification(
        &self,
        user_id: i64,
        service_id: i64,
        o: &VerificationOutcome,
    ) -> StoreResult<Option<CredentialRecord>> {
        sqlx::query(
            "UPDATE service_credentials SET is_verified = $1, last_verified_at = $2, \
             verification_error = $3, remote_username = $4, \
             expires_at = COALESCE($5, expires_at), updated_at = $2 \
             WHERE user_id = $6 AND service_id = $7",
        )
        .bind(o.is_verified)
        .bind(o.verified_at)
        .bind(&o.error)
        .bind(&o.remote_username)
        .bind(o.expires_at)
        .bind(user_id)
        .bind(service_id)
        .execute(&self.db.pool)
        .await?;
        self.credential(user_id, service_id).await
    }

    async fn record_use(
        &self,
        credential_id: i64,
        user_id: i64,
        at: i64,
        rejection: Option<&str>,
    ) -> StoreResult<bool> {
        let done = match rejection {
            None => {
                sqlx::query(
                    "UPDATE service_credentials SET last_used_at = $1 \
                     WHERE id = $2 AND user_id = $3",
                )
                .bind(at)
                .bind(credential_id)
                .bind(user_id)
                .execute(&self.db.pool)
                .await?
            }
            Some(message) => {
                sqlx::query(
                    "UPDATE service_credentials SET last_used_at = $1, is_verified = $2, \
                     verification_error = $3, updated_at = $1 WHERE id = $4 AND user_id = $5",
                )
                .bind(at)
                .bind(false)
                .bind(message)
                .bind(credential_id)
                .bind(user_id)
                .execute(&self.db.pool)
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    async fn all_sealed(&self) -> StoreResult<Vec<(i64, i64, i64, Sealed)>> {
        let rows = sqlx::query(
            "SELECT id, user_id, service_id, key_id, nonce, ciphertext FROM service_credentials \
             ORDER BY id",
        )
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("user_id")?,
                    r.try_get("service_id")?,
                    Sealed {
                        key_id: r.try_get("key_id")?,
                        nonce: r.try_get("nonce")?,
                        ciphertext: r.try_get("ciphertext")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn reseal(
        &self,
        credential_id: i64,
        previous: &Sealed,
        sealed: &Sealed,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE service_credentials SET key_id = $1, nonce = $2, ciphertext = $3 \
             WHERE id = $4 AND key_id = $5 AND nonce = $6",
        )
        .bind(&sealed.key_id)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(credential_id)
        .bind(&previous.key_id)
        .bind(previous.nonce.clone())
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_attempt(
        &self,
        scope: &str,
        subject: &str,
        now: i64,
        window_start: i64,
    ) -> StoreResult<Throttle> {
        // One statement, so that concurrent attempts each count. A window
        // starts again only once it is over and no refusal is running.
        let row = sqlx::query(
            "INSERT INTO login_throttle (scope, subject, failures, first_failure_at, locked_until) \
             VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
             failures = CASE WHEN login_throttle.first_failure_at < $4 \
                 AND login_throttle.locked_until <= $3 THEN 1 \
                 ELSE login_throttle.failures + 1 END, \
             first_failure_at = CASE WHEN login_throttle.first_failure_at < $4 \
                 AND login_throttle.locked_until <= $3 THEN $3 \
                 ELSE login_throttle.first_failure_at END \
             RETURNING failures, first_failure_at, locked_until",
        )
        .bind(scope)
        .bind(subject)
        .bind(now)
        .bind(window_start)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(Throttle {
            failures: row.try_get("failures")?,
            first_failure_at: row.try_get("first_failure_at")?,
            locked_until: row.try_get("locked_until")?,
        })
    }

    async fn lock_throttle(&self, scope: &str, subject: &str, until: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE login_throttle SET locked_until = $1 \
             WHERE scope = $2 AND subject = $3 AND locked_until < $1",
        )
        .bind(until)
        .bind(scope)
        .bind(subject)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn forgive_attempt(&self, scope: &str, subject: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1 \
             WHERE scope = $1 AND subject = $2 AND failures > 0",
        )
        .bind(scope)
        .bind(subject)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn clear_throttle(&self, scope: &str, subject: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE scope = $1 AND subject = $2")
            .bind(scope)
            .bind(subject)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    async fn create_session(&self, n: NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, \
             expires_at, client_address, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(&n.id)
        .bind(n.user_id)
        .bind(&n.refresh_hash)
        .bind(n.created_at)
        .bind(n.expires_at)
        .bind(&n.client_address)
        .bind(&n.user_agent)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old: &str,
        new: &str,
        now: i64,
        reason: &str,
    ) -> StoreResult<Rotation> {
        let mut tx = self.db.pool.begin().await?;
        let rotated = sqlx::query(
            "UPDATE sessions SET refresh_hash = $1, refreshed_at = $2 \
             WHERE refresh_hash = $3 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(new)
        .bind(now)
        .bind(old)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let outcome = if rotated {
            sqlx::query(
                "INSERT INTO spent_refresh_tokens (refresh_hash, session_id) \
                 SELECT $1, id FROM sessions WHERE refresh_hash = $2",
            )
            .bind(old)
            .bind(new)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_hash = $1"
            ))
            .bind(new)
            .fetch_one(&mut *tx)
            .await?;
            Rotation::Rotated(session_from_row(&row)?)
        } else {
            let spent = sqlx::query(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = \
                 (SELECT session_id FROM spent_refresh_tokens WHERE refresh_hash = $1)"
            ))
            .bind(old)
            .fetch_optional(&mut *tx)
            .await?;
            match spent {
                Some(row) => {
                    let mut session = session_from_row(&row)?;
                    if session.ended_at.is_none() {
                        sqlx::query(
                            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3",
                        )
                        .bind(now)
                        .bind(reason)
                        .bind(&session.id)
                        .execute(&mut *tx)
                        .await?;
                        session.ended_at = Some(now);
                    }
                    Rotation::Replayed(session)
                }
                None => Rotation::Refused,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn session_live(&self, id: &str, user_id: i64, now: i64) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.ended_at IS NULL AND s.expires_at > $3 \
             AND u.is_active = $4",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(true)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn end_session(
        &self,
        id: &str,
        user_id: i64,
        now: i64,
        reason: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 \
             WHERE id = $3 AND user_id = $4 AND ended_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .bind(user_id)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_user_sessions(
        &self,
        user_id: i64,
        except: Option<&str>,
        now: i64,
        reason: &str,
    ) -> StoreResult<u64> {
        let mut query = SqlBuilder::new("UPDATE sessions SET ended_at = ");
        query.bind(now);
        query.push(", end_reason = ").bind(reason.to_string());
        query
            .push(" WHERE ended_at IS NULL AND user_id = ")
            .bind(user_id);
        if let Some(except) = except {
            query.push(" AND id <> ").bind(except.to_string());
        }
        let (sql, args) = query.finish();
        let done = sqlx::query_with(&sql, args).execute(&self.db.pool).await?;
        Ok(done.rows_affected())
    }

    async fn list_sessions(
        &self,
        user_id: i64,
        now: i64,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut query = SqlBuilder::new(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND user_id = "
        ));
        query.bind(user_id);
        query.push(" AND expires_at > ").bind(now);
        if let Some(before) = before {
            query.push(" AND id < ").bind(before.to_string());
        }
        query.push(" ORDER BY id DESC LIMIT ").bind(limit);
        let (sql, args) = query.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn append_audit(&self, e: &AuditRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (user_id, actor, actor_user_id, action, resource_type, \
             resource_id, outcome, client_address, user_agent, summary, changed_fields, \
             service_id, job_id, previous_roles, new_roles, error_reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(e.user_id)
        .bind(&e.actor)
        .bind(e.actor_user_id)
        .bind(&e.action)
        .bind(&e.resource_type)
        .bind(&e.resource_id)
        .bind(&e.outcome)
        .bind(&e.client_address)
        .bind(&e.user_agent)
        .bind(&e.summary)
        .bind(e.changed_fields.join(","))
        .bind(e.service_id)
        .bind(&e.job_id)
        .bind(roles_text(&e.previous_roles))
        .bind(roles_text(&e.new_roles))
        .bind(&e.error_reason)
        .bind(e.created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut query = SqlBuilder::new("SELECT * FROM audit_events WHERE 1 = 1");
        if let Some(user) = q.user_id {
            query.push(" AND user_id = ").bind(user);
        }
        if !q.actions.is_empty() {
            query
                .push(" AND action IN (")
                .bind_list(q.actions.clone())
                .push(")");
        }
        if let Some(outcome) = &q.outcome {
            query.push(" AND outcome = ").bind(outcome.clone());
        }
        if let Some(after) = q.created_after {
            query.push(" AND created_at >= ").bind(after);
        }
        if let Some(before) = q.created_before {
            query.push(" AND created_at < ").bind(before);
        }
        if let Some(address) = &q.client_address {
            query.push(" AND client_address = ").bind(address.clone());
        }
        if let Some(cursor) = q.before_id {
            query.push(" AND id < ").bind(cursor);
        }
        query.push(" ORDER BY id DESC LIMIT ").bind(q.limit);
        let (sql, args) = query.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows.iter().map(audit_from_row).collect::<Result<_, _>>()?)
    }
}
