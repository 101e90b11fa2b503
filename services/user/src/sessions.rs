//! Sessions: one per sign-in. A session hands out short-lived access
//! tokens naming it (`sid`) and one refresh token at a time; each refresh
//! spends the token it was given and returns the next (rotation). A spent
//! token presented again means two parties hold it, so the session ends.
//! Ending a session is announced on the process's bus, so every service
//! refuses its access tokens at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use fip_kit::ApiError;
use fip_kit::auth::{TokenIssuer, UserPrincipal};
use fip_kit::db::now_millis;
use fip_kit::sessions::{Ended, SessionSource, Sessions};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::audit::{Caller, Event, action, outcome};
use crate::error::UserError;
use crate::store::{NewSession, Rotation, SessionRecord, Store, UserRecord};

/// Why sessions end, as stored and audited.
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const REVOKED: &str = "revoked";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const ROLES_CHANGED: &str = "roles_changed";
    pub const DEACTIVATED: &str = "deactivated";
    pub const REFRESH_REPLAYED: &str = "refresh_token_replayed";
}

/// What a client holds after signing in or refreshing.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub session_id: String,
}

/// The sessions of every account.
pub struct SessionBook {
    store: Arc<dyn Store>,
    issuer: TokenIssuer,
    lifetime: Duration,
    /// This process's view of live sessions: told of every ending.
    live: Arc<Sessions>,
}

/// Refresh tokens: a prefix (so a leaked one is recognisable in a scan)
/// and 256 random bits.
const REFRESH_PREFIX: &str = "fip_rt_";

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{REFRESH_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// How a refresh token is stored: its SHA-256 (it has 256 bits of entropy,
/// so a slow hash adds nothing).
fn refresh_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl SessionBook {
    pub fn new(
        store: Arc<dyn Store>,
        issuer: TokenIssuer,
        lifetime: Duration,
        live: Arc<Sessions>,
    ) -> Self {
        Self {
            store,
            issuer,
            lifetime,
            live,
        }
    }

    /// Starts a session for `user` signing in as `caller`.
    pub async fn start(&self, caller: &Caller, user: &UserRecord) -> Result<Tokens, UserError> {
        let now = now_millis();
        let id = uuid::Uuid::now_v7().to_string();
        let refresh_token = new_refresh_token();
        let expires_at = now + self.lifetime.as_millis() as i64;
        self.store
            .create_session(NewSession {
                id: id.clone(),
                user_id: user.id,
                refresh_hash: refresh_hash(&refresh_token),
                created_at: now,
                expires_at,
                client_address: caller.client_address.clone(),
                user_agent: caller.user_agent.clone(),
            })
            .await?;
        self.tokens(user, id, refresh_token, expires_at - now)
    }

    fn tokens(
        &self,
        user: &UserRecord,
        session_id: String,
        refresh_token: String,
        remaining_ms: i64,
    ) -> Result<Tokens, UserError> {
        let principal = UserPrincipal {
            id: user.id,
            username: user.username.clone(),
            roles: user.roles.clone(),
            session_id: session_id.clone(),
        };
        let (access_token, expires_in) = self
            .issuer
            .issue(&principal)
            .map_err(|e| UserError::Internal(anyhow::anyhow!("{e}")))?;
        Ok(Tokens {
            access_token,
            expires_in,
            refresh_token,
            refresh_expires_in: u64::try_from(remaining_ms / 1000).unwrap_or_default(),
            session_id,
        })
    }

    /// Spends `refresh_token` for the next tokens of its session.
    pub async fn refresh(
        &self,
        caller: &Caller,
        refresh_token: &str,
    ) -> Result<(Tokens, UserRecord), UserError> {
        if refresh_token.is_empty() || refresh_token.len() > 200 {
            return Err(UserError::Validation(vec![(
                "refresh_token".into(),
                "is required (as returned by Login or RefreshSession)".into(),
            )]));
        }
        let now = now_millis();
        let next = new_refresh_token();
        let rotation = self
            .store
            .rotate_refresh(
                &refresh_hash(refresh_token),
                &refresh_hash(&next),
                now,
                reason::REFRESH_REPLAYED,
            )
            .await?;
        let session = match rotation {
            Rotation::Rotated(session) => session,
            Rotation::Replayed(session) => {
                self.live
                    .end(Ended::Session {
                        id: session.id.clone(),
                    })
                    .await;
                Event::new(caller, action::SESSION_REFRESHED, outcome::DENIED)
                    .about(session.user_id)
                    .resource("session", &session.id)
                    .reason("SESSION_ENDED")
                    .summary("a spent refresh token was presented again: the session ended")
                    .record(self.store.as_ref())
                    .await?;
                return Err(UserError::SessionEnded);
            }
            Rotation::Refused => {
                Event::new(caller, action::SESSION_REFRESHED, outcome::FAILURE)
                    .reason("SESSION_ENDED")
                    .record(self.store.as_ref())
                    .await?;
                return Err(UserError::SessionEnded);
            }
        };
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .ok_or(UserError::SessionEnded)?;
        if !user.is_active {
            self.end_all(&user, None, reason::DEACTIVATED).await?;
            return Err(UserError::AccountDisabled);
        }
        let tokens = self.tokens(&user, session.id, next, session.expires_at - now)?;
        Ok((tokens, user))
    }

    /// Signs the caller out: their session, or all of theirs.
    pub async fn logout(
        &self,
        caller: &Caller,
        principal: &UserPrincipal,
        all_sessions: bool,
    ) -> Result<u64, UserError> {
        let now = now_millis();
        let ended = if all_sessions {
            let n = self
                .store
                .end_user_sessions(principal.id, None, now, reason::LOGOUT)
                .await?;
            self.live
                .end(Ended::User {
                    id: principal.id,
                    except: None,
                })
                .await;
            n
        } else {
            let n = self
                .store
                .end_session(&principal.session_id, principal.id, now, reason::LOGOUT)
                .await?;
            self.live
                .end(Ended::Session {
                    id: principal.session_id.clone(),
                })
                .await;
            u64::from(n)
        };
        let scope = if all_sessions {
            "every session"
        } else {
            "this session"
        };
        Event::new(caller, action::LOGOUT, outcome::SUCCESS)
            .about(principal.id)
            .resource("session", &principal.session_id)
            .summary(scope)
            .record(self.store.as_ref())
            .await?;
        Ok(ended)
    }

    /// Ends one of the caller's own sessions.
    pub async fn revoke(
        &self,
        caller: &Caller,
        principal: &UserPrincipal,
        id: &str,
    ) -> Result<(), UserError> {
        let not_found = || UserError::NotFound {
            resource_type: "session",
            id: id.to_string(),
        };
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(not_found());
        }
        let ended = self
            .store
            .end_session(id, principal.id, now_millis(), reason::REVOKED)
            .await?;
        if !ended {
            return Err(not_found());
        }
        self.live.end(Ended::Session { id: id.to_string() }).await;
        Event::new(caller, action::SESSION_REVOKED, outcome::SUCCESS)
            .about(principal.id)
            .resource("session", id)
            .summary(reason::REVOKED)
            .record(self.store.as_ref())
            .await
    }

    /// Ends every session of `user` but `except` (the caller's own, on a
    /// password change), and says so everywhere.
    pub async fn end_all(
        &self,
        user: &UserRecord,
        except: Option<&str>,
        why: &str,
    ) -> Result<u64, UserError> {
        let ended = self
            .store
            .end_user_sessions(user.id, except, now_millis(), why)
            .await?;
        self.live
            .end(Ended::User {
                id: user.id,
                except: except.map(str::to_string),
            })
            .await;
        Ok(ended)
    }

    /// The caller's live sessions, newest first.
    pub async fn list(
        &self,
        principal: &UserPrincipal,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SessionRecord>, UserError> {
        Ok(self
            .store
            .list_sessions(principal.id, now_millis(), before, limit)
            .await?)
    }

    /// This process's view of live sessions.
    pub fn live(&self) -> &Arc<Sessions> {
        &self.live
    }
}

/// Session checks answered from the user service's own store.
pub struct StoredSessions(pub Arc<dyn Store>);

#[async_trait]
impl SessionSource for StoredSessions {
    async fn is_live(&self, user_id: i64, session_id: &str) -> Result<bool, ApiError> {
        self.0
            .session_live(session_id, user_id, now_millis())
            .await
            .map_err(|e| UserError::from(e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_random_and_stored_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.starts_with(REFRESH_PREFIX));
        assert_eq!(a.len(), REFRESH_PREFIX.len() + 43);
        let hash = refresh_hash(&a);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&a[REFRESH_PREFIX.len()..]));
        assert_eq!(hash, refresh_hash(&a));
    }
}
