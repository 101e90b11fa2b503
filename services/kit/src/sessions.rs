//! Sessions: every user token names the session it was issued for (`sid`),
//! and a token is good only while that session is live. The user service
//! keeps sessions; every other service (and the gateway) asks it through
//! `UserInternalService.CheckSession` and remembers the answer.
//!
//! What is remembered, and for how long:
//! - an ended session, for good (it never comes back);
//! - a live one, for `auth.session_check_ttl` (10 s by default), unless an
//!   [`Ended`] event arrives first on the process's [`Bus`]: the user
//!   service publishes one whenever it ends sessions (sign-out, password
//!   change, deactivation, role change, a replayed refresh token), so a
//!   revocation takes effect in every process at once. Should events be
//!   missed (Redis down), the TTL bounds how long a revoked token lives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fip_proto::common::v1::ErrorReason;
use fip_proto::user::v1::CheckSessionRequest;
use fip_proto::user::v1::user_internal_service_client::UserInternalServiceClient;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::auth::{AuthError, ServiceIdentity, UserPrincipal};
use crate::error::ApiError;
use crate::events::{Bus, Listener};

/// The bus topic of [`Ended`] events.
pub const TOPIC: &str = "sessions";

/// Sessions that have ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ended", rename_all = "snake_case")]
pub enum Ended {
    /// One session.
    Session { id: String },
    /// Every session of a user (password change, deactivation, roles), but
    /// `except` when given (the session that changed the password).
    User {
        id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<String>,
    },
}

/// Says whether a session is live.
#[async_trait]
pub trait SessionSource: Send + Sync + 'static {
    async fn is_live(&self, user_id: i64, session_id: &str) -> Result<bool, ApiError>;
}

/// The user service's answer, over the mesh.
pub struct RemoteSessions {
    channel: Option<Channel>,
    identity: Arc<ServiceIdentity>,
}

impl RemoteSessions {
    /// Asks the user service at `channel` (none: every check fails, as the
    /// platform cannot tell a live session from an ended one).
    pub fn new(channel: Option<Channel>, identity: Arc<ServiceIdentity>) -> Self {
        Self { channel, identity }
    }
}

#[async_trait]
impl SessionSource for RemoteSessions {
    async fn is_live(&self, user_id: i64, session_id: &str) -> Result<bool, ApiError> {
        let channel = self.channel.clone().ok_or_else(|| {
            ApiError::unavailable(
                ErrorReason::UpstreamFailed,
                "cannot check the session: the user service is not configured",
            )
            .with_metadata("upstream", "user")
        })?;
        let mut client =
            UserInternalServiceClient::with_interceptor(channel, self.identity.interceptor());
        let answer = client
            .check_session(CheckSessionRequest {
                session_id: session_id.to_string(),
                user_id,
            })
            .await
            .map_err(|status| {
                tracing::warn!(code = ?status.code(), message = status.message(), "session check failed");
                ApiError::unavailable(ErrorReason::UpstreamFailed, "cannot check the session")
                    .with_metadata("upstream", "user")
            })?;
        Ok(answer.into_inner().live)
    }
}

/// Live and ended sessions as this process knows them.
pub struct Sessions {
    source: Arc<dyn SessionSource>,
    trust_for: Duration,
    bus: Bus,
    known: Mutex<Known>,
    /// Woken by every event, for [`Sessions::ended`].
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Known {
    entries: HashMap<String, Entry>,
    /// Bumped by every event, so that an answer read before an event is
    /// not remembered after it.
    generation: u64,
}

struct Entry {
    user_id: i64,
    live: bool,
    checked: Instant,
}

/// Sessions remembered at most; past it the live ones are forgotten.
const CAPACITY: usize = 100_000;

impl Sessions {
    /// Sessions answered by `source`, trusted live for `trust_for`, kept
    /// current by the [`Ended`] events of `bus` (until `shutdown`).
    pub fn new(
        source: Arc<dyn SessionSource>,
        trust_for: Duration,
        bus: &Bus,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let sessions = Arc::new(Self {
            source,
            trust_for,
            bus: bus.clone(),
            known: Mutex::new(Known::default()),
            changed: tokio::sync::Notify::new(),
        });
        bus.listen(TOPIC, Arc::new(Hook(Arc::downgrade(&sessions))), shutdown);
        sessions
    }

    /// Ok while `user`'s session is live.
    pub async fn check(&self, user: &UserPrincipal) -> Result<(), ApiError> {
        let generation = {
            let known = self.lock();
            match known.entries.get(&user.session_id) {
                Some(e) if e.user_id == user.id && !e.live => {
                    return Err(AuthError::SessionEnded.into());
                }
                Some(e) if e.user_id == user.id && e.checked.elapsed() < self.trust_for => {
                    return Ok(());
                }
                _ => known.generation,
            }
        };
        let live = self.source.is_live(user.id, &user.session_id).await?;
        {
            let mut known = self.lock();
            // A live answer read before an event may be stale: use it for
            // this call, but do not remember it.
            if !live || known.generation == generation {
                if known.entries.len() >= CAPACITY {
                    known.entries.retain(|_, e| !e.live);
                }
                known.entries.insert(
                    user.session_id.clone(),
                    Entry {
                        user_id: user.id,
                        live,
                        checked: Instant::now(),
                    },
                );
            }
        }
        if live {
            Ok(())
        } else {
            Err(AuthError::SessionEnded.into())
        }
    }

    /// Resolves once `user`'s session has ended, for streams that outlive
    /// the call that opened them (a watch): checked again at each event
    /// this process hears and at least every `auth.session_check_ttl`. Not
    /// being able to check (the user service away) is not an ending.
    pub async fn ended(&self, user: &UserPrincipal) {
        let every = self.trust_for.max(Duration::from_secs(1));
        loop {
            let changed = self.changed.notified();
            if let Err(error) = self.check(user).await
                && error.reason == ErrorReason::SessionEnded
            {
                return;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Announces that sessions ended: in force in this process when this
    /// returns, and in the others as soon as the bus carries it.
    pub async fn end(&self, ended: Ended) {
        let payload = serde_json::to_string(&ended).expect("an event always encodes");
        self.bus.publish(TOPIC, &payload).await;
    }

    fn apply(&self, ended: &Ended) {
        self.remember(ended);
        self.changed.notify_waiters();
    }

    fn remember(&self, ended: &Ended) {
        let mut known = self.lock();
        known.generation += 1;
        match ended {
            Ended::Session { id } => {
                if let Some(entry) = known.entries.get_mut(id) {
                    entry.live = false;
                }
            }
            Ended::User { id, except } => {
                for (session, entry) in known.entries.iter_mut() {
                    if entry.user_id == *id && except.as_ref() != Some(session) {
                        entry.live = false;
                    }
                }
            }
        }
    }

    /// Events may have been missed: ask again about every live session.
    fn forget_live(&self) {
        {
            let mut known = self.lock();
            known.generation += 1;
            known.entries.retain(|_, e| !e.live);
        }
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().expect("sessions poisoned")
    }
}

/// Feeds bus events to a [`Sessions`] (weakly: the bus outlives it).
struct Hook(Weak<Sessions>);

impl Listener for Hook {
    fn message(&self, payload: &str) {
        let Some(sessions) = self.0.upgrade() else {
            return;
        };
        match serde_json::from_str::<Ended>(payload) {
            Ok(ended) => sessions.apply(&ended),
            Err(error) => {
                tracing::warn!(%error, "unreadable session event; rechecking every session");
                sessions.forget_live();
            }
        }
    }

    fn gap(&self) {
        if let Some(sessions) = self.0.upgrade() {
            sessions.forget_live();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A session store in memory that counts the questions it answers.
    #[derive(Default)]
    struct Store {
        live: Mutex<HashSet<(i64, String)>>,
        asked: AtomicUsize,
    }

    #[async_trait]
    impl SessionSource for Store {
        async fn is_live(&self, user_id: i64, session_id: &str) -> Result<bool, ApiError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .live
                .lock()
                .unwrap()
                .contains(&(user_id, session_id.to_string())))
        }
    }

    fn user(id: i64, sid: &str) -> UserPrincipal {
        UserPrincipal {
            id,
            username: format!("u{id}"),
            roles: Vec::new(),
            session_id: sid.into(),
        }
    }

    fn setup(trust_for: Duration) -> (Arc<Store>, Arc<Sessions>, Bus) {
        let store = Arc::new(Store::default());
        store.live.lock().unwrap().insert((1, "a".into()));
        store.live.lock().unwrap().insert((1, "b".into()));
        store.live.lock().unwrap().insert((2, "c".into()));
        let bus = Bus::local();
        let sessions = Sessions::new(store.clone(), trust_for, &bus, &CancellationToken::new());
        (store, sessions, bus)
    }

    fn is_ended(result: Result<(), ApiError>) -> bool {
        result.is_err_and(|e| {
            e.reason == fip_proto::common::v1::ErrorReason::SessionEnded
                && e.code == tonic::Code::Unauthenticated
        })
    }

    #[tokio::test]
    async fn a_live_session_is_asked_about_once_within_the_ttl() {
        let (store, sessions, _) = setup(Duration::from_secs(60));
        for _ in 0..5 {
            sessions.check(&user(1, "a")).await.unwrap();
        }
        assert_eq!(store.asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn unknown_sessions_and_other_users_sessions_are_ended() {
        let (_, sessions, _) = setup(Duration::from_secs(60));
        assert!(is_ended(sessions.check(&user(1, "zz")).await));
        assert!(is_ended(sessions.check(&user(2, "a")).await));
    }

    #[tokio::test]
    async fn an_ended_event_takes_effect_at_once_without_asking() {
        let (store, sessions, _) = setup(Duration::from_secs(60));
        sessions.check(&user(1, "a")).await.unwrap();
        sessions.check(&user(1, "b")).await.unwrap();
        sessions.check(&user(2, "c")).await.unwrap();
        // The store still says live: only the event can end them here.
        sessions.end(Ended::Session { id: "a".into() }).await;
        assert!(is_ended(sessions.check(&user(1, "a")).await));
        sessions.check(&user(1, "b")).await.unwrap();
        sessions
            .end(Ended::User {
                id: 1,
                except: Some("b".into()),
            })
            .await;
        sessions.check(&user(1, "b")).await.unwrap();
        sessions
            .end(Ended::User {
                id: 1,
                except: None,
            })
            .await;
        assert!(is_ended(sessions.check(&user(1, "b")).await));
        sessions.check(&user(2, "c")).await.unwrap();
        assert_eq!(store.asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn events_reach_every_sessions_on_the_bus() {
        let (store, here, bus) = setup(Duration::from_secs(60));
        let there = Sessions::new(
            store.clone(),
            Duration::from_secs(60),
            &bus,
            &CancellationToken::new(),
        );
        there.check(&user(2, "c")).await.unwrap();
        here.end(Ended::User {
            id: 2,
            except: None,
        })
        .await;
        assert!(is_ended(there.check(&user(2, "c")).await));
    }

    #[tokio::test]
    async fn a_stream_hears_its_session_end() {
        let (_, sessions, _) = setup(Duration::from_secs(3600));
        let ada = user(1, "a");
        let watching = {
            let sessions = sessions.clone();
            let ada = ada.clone();
            tokio::spawn(async move { sessions.ended(&ada).await })
        };
        // Another session's ending does not end it.
        sessions.end(Ended::Session { id: "b".into() }).await;
        tokio::task::yield_now().await;
        assert!(!watching.is_finished());
        sessions.end(Ended::Session { id: "a".into() }).await;
        tokio::time::timeout(Duration::from_secs(5), watching)
            .await
            .expect("the watch hears the end at once, not after the TTL")
            .unwrap();
    }

    #[tokio::test]
    async fn past_the_ttl_a_live_session_is_asked_about_again() {
        let (store, sessions, _) = setup(Duration::ZERO);
        sessions.check(&user(1, "a")).await.unwrap();
        store.live.lock().unwrap().remove(&(1, "a".to_string()));
        assert!(is_ended(sessions.check(&user(1, "a")).await));
        assert_eq!(store.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_gap_forgets_live_sessions_but_not_ended_ones() {
        let (store, sessions, _) = setup(Duration::from_secs(60));
        sessions.check(&user(1, "a")).await.unwrap();
        assert!(is_ended(sessions.check(&user(1, "zz")).await));
        Hook(Arc::downgrade(&sessions)).gap();
        sessions.check(&user(1, "a")).await.unwrap();
        assert!(is_ended(sessions.check(&user(1, "zz")).await));
        assert_eq!(store.asked.load(Ordering::SeqCst), 3);
    }
}
