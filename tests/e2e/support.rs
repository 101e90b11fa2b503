//! Starting a platform for one test.

use fip::platform::{self, Platform, Selection};
use tonic::transport::Channel;

/// A platform on a fresh data dir, every service and the gateway on
/// ephemeral loopback ports, on PostgreSQL when `FIP_TEST_DATABASE_URL` is set.
pub struct TestPlatform {
    pub platform: Platform,
    pub channel: Channel,
    _dir: tempfile::TempDir,
}

impl TestPlatform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut fip_kit::config::Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = fip_kit::testing::config(dir.path(), "e2e");
        config.listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let platform = platform::start(config, &Selection::all())
            .await
            .expect("platform starts");
        let channel = Channel::from_shared(platform.gateway_url().unwrap())
            .unwrap()
            .connect()
            .await
            .expect("gateway accepts connections");
        Self {
            platform,
            channel,
            _dir: dir,
        }
    }

    /// Stops the platform (as if its process died) and starts it again on
    /// the same data, database and queue.
    pub async fn restart(self) -> Self {
        let config = (*self.platform.config).clone();
        self.platform.stop().await.expect("clean stop");
        let mut config = config;
        config.listen = "127.0.0.1:0".parse().unwrap();
        let platform = platform::start(config, &Selection::all())
            .await
            .expect("platform starts again");
        let channel = Channel::from_shared(platform.gateway_url().unwrap())
            .unwrap()
            .connect()
            .await
            .expect("gateway accepts connections");
        Self {
            platform,
            channel,
            _dir: self._dir,
        }
    }

    pub async fn stop(self) {
        let config = self.platform.config.clone();
        self.platform.stop().await.expect("clean stop");
        if let Some(url) = &config.database_url {
            fip_kit::db::drop_schemas_with_prefix(url, &config.database_schema_prefix)
                .await
                .expect("test schemas dropped");
        }
    }
}

impl TestPlatform {
    /// Signs a user token with the platform's own key, as the user service would.
    pub fn user_token(&self, id: i64, roles: &[fip_kit::auth::Role]) -> String {
        let config = &self.platform.config;
        let keys = fip_kit::auth::Keys::load(config, false).expect("keys");
        let issuer = fip_kit::auth::TokenIssuer::new(keys.user_signing.as_ref().unwrap(), config)
            .expect("issuer");
        issuer
            .issue(&fip_kit::auth::UserPrincipal {
                id,
                username: format!("user{id}"),
                roles: roles.to_vec(),
            })
            .expect("token")
            .0
    }

    /// A service-identity token of `name`, as that service would send it.
    pub fn service_token(&self, name: fip_kit::mesh::ServiceName) -> String {
        let config = &self.platform.config;
        let keys = fip_kit::auth::Keys::load(config, false).expect("keys");
        fip_kit::auth::ServiceIdentity::new(name, &keys, config)
            .expect("identity")
            .token()
    }
}
