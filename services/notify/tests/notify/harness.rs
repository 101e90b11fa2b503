//! A registry, a user service and a notify service on ephemeral ports,
//! sharing keys, on fresh databases (SQLite, or fresh PostgreSQL schemas).

use std::sync::Arc;
use std::time::Duration;

use fip_kit::ApiError;
use fip_kit::auth::{Keys, Role, ServiceIdentity, TokenIssuer, UserPrincipal};
use fip_kit::config::Config;
use fip_kit::events::Bus;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::Context;
use fip_kit::testing::{TestService, spawn, with_token};
use fip_notify::Notify;
use fip_proto::common::v1::ErrorReason;
use fip_proto::notify::v1 as pb;
use fip_proto::notify::v1::notification_internal_service_client::NotificationInternalServiceClient;
use fip_proto::notify::v1::notification_service_client::NotificationServiceClient;
use fip_proto::user::v1 as user_pb;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tonic::transport::Channel;

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(10);

pub struct Mesh {
    pub config: Arc<Config>,
    pub keys: Keys,
    pub notify: Arc<Notify>,
    notify_service: TestService,
    user: TestService,
    registry: TestService,
    notify_channel: Channel,
    user_channel: Channel,
    _dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Mesh {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = fip_kit::testing::config(dir.path(), "n");
        config.registry.seed_catalog = false;
        tweak(&mut config);
        let config = Arc::new(config);
        let keys = Keys::ephemeral();
        let shutdown = CancellationToken::new();
        let bus = Bus::local();
        let context = |name, peers| {
            Context::new(
                name,
                config.clone(),
                keys.clone(),
                peers,
                bus.clone(),
                shutdown.clone(),
            )
            .unwrap()
        };

        let registry_ctx = context(ServiceName::Registry, Peers::default());
        let registry = spawn(
            fip_registry::start(&registry_ctx).await.unwrap(),
            &registry_ctx,
        )
        .await
        .unwrap();
        let user_ctx = context(
            ServiceName::User,
            Peers::new([(ServiceName::Registry, registry.url.clone())]).unwrap(),
        );
        let user = spawn(fip_user::start(&user_ctx).await.unwrap(), &user_ctx)
            .await
            .unwrap();
        let notify_ctx = context(
            ServiceName::Notify,
            Peers::new([(ServiceName::User, user.url.clone())]).unwrap(),
        );
        let notify = fip_notify::open(&notify_ctx).await.unwrap();
        let notify_service = spawn(
            fip_notify::hosted(notify.clone(), notify_ctx.auth.sessions().clone()),
            &notify_ctx,
        )
        .await
        .unwrap();
        let channel = |url: &str| {
            Channel::from_shared(url.to_string())
                .unwrap()
                .connect_lazy()
        };
        Self {
            notify_channel: channel(&notify_service.url),
            user_channel: channel(&user.url),
            config,
            keys,
            notify,
            notify_service,
            user,
            registry,
            _dir: dir,
            shutdown,
        }
    }

    /// Signals shutdown to every service (open watches end).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops the services and drops their PostgreSQL schemas.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.notify_service.stop().await.unwrap();
        self.user.stop().await.unwrap();
        self.registry.stop().await.unwrap();
        if let Some(url) = &self.config.database_url {
            drop_schemas(url, &self.config.database_schema_prefix).await;
        }
    }

    pub fn inbox(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::new(self.notify_channel.clone())
    }

    pub fn internal(&self) -> NotificationInternalServiceClient<Channel> {
        NotificationInternalServiceClient::new(self.notify_channel.clone())
    }

    /// A service-identity token of `name`.
    pub fn service_token(&self, name: ServiceName) -> String {
        ServiceIdentity::new(name, &self.keys, &self.config)
            .unwrap()
            .token()
    }

    /// Another access token of the session of `token` (its user's), that
    /// expires `ttl` from now.
    pub fn token_with_ttl(&self, token: &str, ttl: Duration) -> String {
        let mut config = (*self.config).clone();
        config.auth.token_ttl = ttl;
        let verifier = fip_kit::auth::TokenVerifier::new(&self.keys, &self.config).unwrap();
        let fip_kit::auth::Principal::User(user) = verifier.verify(token).unwrap() else {
            panic!("a user token");
        };
        TokenIssuer::new(self.keys.user_signing.as_ref().unwrap(), &config)
            .unwrap()
            .issue(&UserPrincipal {
                roles: vec![Role::Researcher],
                ..user
            })
            .unwrap()
            .0
    }

    /// Registers and signs in `username`; returns (user id, token).
    pub async fn sign_up(&self, username: &str) -> (i64, String) {
        let mut users = UserServiceClient::new(self.user_channel.clone());
        let password = format!("{username}-passphrase");
        let user = users
            .register(user_pb::RegisterRequest {
                username: username.into(),
                email: format!("{username}@example.org"),
                password: password.clone(),
                first_name: "Test".into(),
                last_name: username.into(),
                institution: String::new(),
                department: String::new(),
            })
            .await
            .expect("registers")
            .into_inner()
            .user
            .unwrap();
        let login = users
            .login(user_pb::LoginRequest {
                username: username.into(),
                password,
            })
            .await
            .expect("logs in")
            .into_inner();
        (user.id, login.access_token)
    }

    /// Sends `request` as `service:jobs`.
    pub async fn send(
        &self,
        request: pb::SendNotificationRequest,
    ) -> Result<pb::SendNotificationResponse, tonic::Status> {
        self.internal()
            .send_notification(with_token(request, &self.service_token(ServiceName::Jobs)))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sends a plain "job completed" notification to `user_id`.
    pub async fn send_simple(&self, user_id: i64, title: &str) -> pb::Notification {
        self.send(job_completed(user_id, title))
            .await
            .expect("sends")
            .notification
            .unwrap()
    }

    /// Lists `token`'s whole inbox (one page of up to 500).
    pub async fn list(&self, token: &str) -> pb::ListNotificationsResponse {
        self.inbox()
            .list_notifications(with_token(
                pb::ListNotificationsRequest {
                    page_size: 500,
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("lists")
            .into_inner()
    }

    /// Opens a watch for `token` and reads its snapshot; returns the
    /// stream (subscribed from then on) and the snapshot's unread count.
    pub async fn watch(&self, token: &str) -> (Streaming<pb::WatchNotificationsResponse>, i64) {
        let mut stream = self
            .inbox()
            .watch_notifications(with_token(pb::WatchNotificationsRequest {}, token))
            .await
            .expect("watch opens")
            .into_inner();
        let first = next(&mut stream).await.expect("a snapshot");
        assert_eq!(first.event, pb::NotificationEvent::Snapshot as i32);
        assert!(first.notification.is_none());
        (stream, first.unread_count)
    }
}

/// Drops the PostgreSQL schemas of one mesh (`<prefix><service>`).
///
/// `fip_kit::db::drop_schemas_with_prefix` reads `nspname` as the `name`
/// type, which the Any driver cannot decode; this casts it to text.
async fn drop_schemas(url: &str, prefix: &str) {
    use sqlx::{Executor, Row};
    assert!(
        prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "a test schema prefix is a plain identifier"
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT nspname::text AS name FROM pg_namespace WHERE starts_with(nspname, $1)",
    )
    .bind(prefix.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    for row in rows {
        let name: String = row.try_get("name").unwrap();
        pool.execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
            .await
            .unwrap();
    }
    pool.close().await;
}

/// A valid request for a "job completed" notification.
pub fn job_completed(user_id: i64, title: &str) -> pb::SendNotificationRequest {
    pb::SendNotificationRequest {
        user_id,
        r#type: pb::NotificationType::JobCompleted as i32,
        title: title.into(),
        message: format!("{title}: your results are ready"),
        job_id: "01890f3e-1234-7abc-8def-0123456789ab".into(),
        action_url: "/jobs/01890f3e-1234-7abc-8def-0123456789ab".into(),
        action_label: "View results".into(),
        ..Default::default()
    }
}

/// The next message of a watch (None when it ended cleanly); fails the
/// test when nothing comes promptly or the stream errs.
pub async fn next(
    stream: &mut Streaming<pb::WatchNotificationsResponse>,
) -> Option<pb::WatchNotificationsResponse> {
    tokio::time::timeout(PROMPTLY, stream.next())
        .await
        .expect("the watch answers promptly")
        .map(|item| item.expect("the watch does not fail"))
}

/// The error reason carried by a status.
pub fn reason(status: &tonic::Status) -> ErrorReason {
    ApiError::from_status(status)
        .unwrap_or_else(|| panic!("no error details in {status:?}"))
        .reason
}

/// The fields of a status's field violations.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    ApiError::from_status(status)
        .unwrap_or_else(|| panic!("no error details in {status:?}"))
        .violations
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}
