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
    /// Makes an account holding `roles` (admin, or researcher), as an
    /// operator would, and signs it in; returns its access token. Each call
    /// makes a new account.
    pub async fn user_token(&self, roles: &[fip_kit::auth::Role]) -> String {
        use fip_proto::user::v1 as user;
        let name = format!("u{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        let password = format!("{name}-passphrase");
        fip_user::admin::create_user(
            &self.platform.config,
            fip_user::accounts::Registration {
                username: name.clone(),
                email: format!("{name}@example.org"),
                password: password.clone(),
                first_name: "Test".into(),
                last_name: name.clone(),
                ..Default::default()
            },
            roles.contains(&fip_kit::auth::Role::Admin),
        )
        .await
        .expect("the account is created");
        user::user_service_client::UserServiceClient::new(self.channel.clone())
            .login(user::LoginRequest {
                username: name,
                password,
            })
            .await
            .expect("signs in")
            .into_inner()
            .access_token
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

/// Registers `name` (password `<name>-passphrase`) and logs in; returns the
/// access token.
pub async fn sign_up(channel: Channel, name: &str) -> String {
    use fip_proto::user::v1 as user;
    let mut users = user::user_service_client::UserServiceClient::new(channel);
    users
        .register(user::RegisterRequest {
            username: name.into(),
            email: format!("{name}@example.org"),
            password: format!("{name}-passphrase"),
            first_name: "Test".into(),
            last_name: name.into(),
            ..Default::default()
        })
        .await
        .expect("registers");
    users
        .login(user::LoginRequest {
            username: name.into(),
            password: format!("{name}-passphrase"),
        })
        .await
        .expect("logs in")
        .into_inner()
        .access_token
}

/// Stores `api_token` as the user's credential for `service_id`.
pub async fn store_credential(channel: Channel, token: &str, service_id: i64, api_token: &str) {
    use fip_proto::user::v1 as user;
    user::credential_service_client::CredentialServiceClient::new(channel)
        .put_service_credential(fip_kit::testing::with_token(
            user::PutServiceCredentialRequest {
                service_id,
                api_token: api_token.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("credential stored");
}

/// Uploads `data` as the user's input file `name`; returns its id.
pub async fn upload(channel: Channel, token: &str, name: &str, data: &[u8]) -> String {
    use fip_proto::files::v1 as files;
    let mut messages = vec![files::UploadFileRequest {
        data: Some(files::upload_file_request::Data::Metadata(
            files::UploadFileMetadata {
                name: name.into(),
                kind: files::FileKind::Input as i32,
                content_type: "application/gzip".into(),
                ..Default::default()
            },
        )),
    }];
    for chunk in data.chunks(64 * 1024) {
        messages.push(files::UploadFileRequest {
            data: Some(files::upload_file_request::Data::Chunk(
                chunk.to_vec().into(),
            )),
        });
    }
    files::file_service_client::FileServiceClient::new(channel)
        .upload_file(fip_kit::testing::with_token(
            tokio_stream::iter(messages),
            token,
        ))
        .await
        .expect("uploads")
        .into_inner()
        .file
        .unwrap()
        .id
}

/// Follows a job on its watch stream until it is final, within `limit`.
pub async fn finish_job(
    channel: Channel,
    token: &str,
    id: &str,
    limit: std::time::Duration,
) -> fip_proto::jobs::v1::Job {
    use fip_proto::jobs::v1::JobStatus;
    let running = [
        JobStatus::Pending as i32,
        JobStatus::Queued as i32,
        JobStatus::Running as i32,
    ];
    watch_job_until(channel, token, id, limit, "finish", |job| {
        !running.contains(&job.status)
    })
    .await
}

/// Follows a job on its watch stream until a snapshot satisfies `until`
/// (`what` names it in the failure), within `limit`.
pub async fn watch_job_until(
    channel: Channel,
    token: &str,
    id: &str,
    limit: std::time::Duration,
    what: &str,
    until: impl Fn(&fip_proto::jobs::v1::Job) -> bool,
) -> fip_proto::jobs::v1::Job {
    use fip_proto::jobs::v1 as jobs;
    let mut stream = jobs::job_service_client::JobServiceClient::new(channel)
        .watch_job(fip_kit::testing::with_token(
            jobs::WatchJobRequest {
                id: id.into(),
                include_logs: false,
            },
            token,
        ))
        .await
        .expect("watch opens")
        .into_inner();
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = None;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("the job does not {what} within {limit:?}: {last:#?}"))
            .expect("the stream stays healthy");
        match next {
            Some(message) => {
                if let Some(job) = message.job {
                    let done = until(&job);
                    last = Some(job);
                    if done {
                        return last.unwrap();
                    }
                }
            }
            None => {
                return last
                    .filter(|job| until(job))
                    .unwrap_or_else(|| panic!("the watch ended before the job did {what}"));
            }
        }
    }
}

/// Registers `service` and its `panel` as `admin`; returns (service id,
/// panel id).
pub async fn register_service(
    channel: Channel,
    admin: &str,
    service: fip_proto::registry::v1::ImputationService,
    panel: fip_proto::registry::v1::ReferencePanel,
) -> (i64, i64) {
    use fip_proto::registry::v1 as registry;
    let mut client = registry::registry_service_client::RegistryServiceClient::new(channel);
    let service = client
        .create_service(fip_kit::testing::with_token(
            registry::CreateServiceRequest {
                service: Some(service),
            },
            admin,
        ))
        .await
        .expect("service registered")
        .into_inner()
        .service
        .unwrap();
    let panel = client
        .create_reference_panel(fip_kit::testing::with_token(
            registry::CreateReferencePanelRequest {
                service_id: service.id,
                reference_panel: Some(panel),
            },
            admin,
        ))
        .await
        .expect("panel registered")
        .into_inner()
        .reference_panel
        .unwrap();
    (service.id, panel.id)
}

/// Submits `file_id` to every (service, panel) of `targets` at once (hg38,
/// Eagle phasing).
pub async fn submit_multi_service(
    channel: Channel,
    token: &str,
    name: &str,
    file_id: String,
    targets: &[(i64, i64)],
) -> fip_proto::jobs::v1::SubmitMultiServiceJobResponse {
    use fip_proto::common::v1::{GenomeBuild, Phasing};
    use fip_proto::jobs::v1 as jobs;
    jobs::job_service_client::JobServiceClient::new(channel)
        .submit_multi_service_job(fip_kit::testing::with_token(
            jobs::SubmitMultiServiceJobRequest {
                name: name.into(),
                input_file_id: file_id,
                targets: targets
                    .iter()
                    .map(|&(service_id, reference_panel_id)| jobs::JobTarget {
                        service_id,
                        reference_panel_id,
                        build: GenomeBuild::Hg38 as i32,
                        phasing: Phasing::Eagle as i32,
                        population: String::new(),
                    })
                    .collect(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("submitted")
        .into_inner()
}
