//! The other services the jobs service talks to, as its own identity:
//! the registry (targets), the user service (credentials), the file service
//! (inputs and results) and the notify service.

use std::path::Path;
use std::sync::Arc;

use fip_backends::Secret;
use fip_kit::auth::{IdentityInterceptor, ServiceIdentity};
use fip_kit::db::timestamp;
use fip_kit::mesh::{Peers, ServiceName};
use fip_proto::files::v1 as files;
use fip_proto::files::v1::file_internal_service_client::FileInternalServiceClient;
use fip_proto::notify::v1 as notify;
use fip_proto::notify::v1::notification_internal_service_client::NotificationInternalServiceClient;
use fip_proto::registry::v1 as registry;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::user::v1 as user;
use fip_proto::user::v1::credential_internal_service_client::CredentialInternalServiceClient;
use fip_proto::user::v1::lookup_service_credential_response::Secret as WireSecret;
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt;
use tonic::Status;

use crate::convert::{UnknownValue, build_from_wire};
use crate::model::{ApiType, GenomeBuild};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

/// A target service as the registry describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub id: i64,
    pub name: String,
    pub api_type: ApiType,
    pub base_url: String,
    pub is_active: bool,
    pub is_available: bool,
    pub builds: Vec<GenomeBuild>,
    /// How a WES server runs jobs (WES services only).
    pub wes: Option<registry::WesSettings>,
}

/// A reference panel as the registry describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelInfo {
    pub id: i64,
    pub service_id: i64,
    pub name: String,
    pub slug: String,
    pub build: Option<GenomeBuild>,
    pub populations: Vec<String>,
    pub is_active: bool,
    /// The panel's own WES workflow, replacing the service's default.
    pub wes_workflow: Option<registry::WesWorkflow>,
}

/// A user's secret for a service, as the user service hands it over.
#[derive(Clone)]
pub struct Credential {
    pub id: i64,
    pub secret: Secret,
}

/// A registry answer the contract does not allow.
fn unreadable(what: String) -> Status {
    Status::internal(format!("the registry answered {what}"))
}

#[derive(Clone)]
pub struct Mesh {
    peers: Peers,
    identity: Arc<ServiceIdentity>,
}

fn missing(name: ServiceName) -> Status {
    Status::unavailable(format!("the {name} service is not configured"))
}

/// A local file to store for a job.
pub struct JobFile<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub kind: files::FileKind,
    pub path: &'a Path,
    /// Unique within the job: what the file is (e.g. the remote output and
    /// the entry it came from), so that storing it again finds it.
    pub idempotency_key: &'a str,
}

impl Mesh {
    pub fn new(peers: Peers, identity: Arc<ServiceIdentity>) -> Self {
        Self { peers, identity }
    }

    fn channel(&self, name: ServiceName) -> Result<Channel, Status> {
        self.peers.channel(name).ok_or_else(|| missing(name))
    }

    fn registry(
        &self,
    ) -> Result<RegistryServiceClient<InterceptedService<Channel, IdentityInterceptor>>, Status>
    {
        Ok(RegistryServiceClient::with_interceptor(
            self.channel(ServiceName::Registry)?,
            self.identity.interceptor(),
        ))
    }

    fn vault(
        &self,
    ) -> Result<
        CredentialInternalServiceClient<InterceptedService<Channel, IdentityInterceptor>>,
        Status,
    > {
        Ok(CredentialInternalServiceClient::with_interceptor(
            self.channel(ServiceName::User)?,
            self.identity.interceptor(),
        ))
    }

    fn files(
        &self,
    ) -> Result<FileInternalServiceClient<InterceptedService<Channel, IdentityInterceptor>>, Status>
    {
        Ok(FileInternalServiceClient::with_interceptor(
            self.channel(ServiceName::Files)?,
            self.identity.interceptor(),
        ))
    }

    /// The service `id`, or None when the registry has none.
    pub async fn service(&self, id: i64) -> Result<Option<ServiceInfo>, Status> {
        match self
            .registry()?
            .get_service(registry::GetServiceRequest { id })
            .await
        {
            Ok(reply) => {
                let Some(s) = reply.into_inner().service else {
                    return Err(Status::internal("the registry answered without a service"));
                };
                let api_type = match registry::ApiType::try_from(s.api_type) {
                    Ok(registry::ApiType::Michigan) => ApiType::Michigan,
                    Ok(registry::ApiType::Ga4ghWes) => ApiType::Ga4ghWes,
                    _ => {
                        return Err(unreadable(format!(
                            "an unknown API type {} for the service {}",
                            s.api_type, s.id
                        )));
                    }
                };
                let mut builds = Vec::new();
                for b in &s.supported_builds {
                    match build_from_wire(*b) {
                        Ok(Some(build)) => builds.push(build),
                        Ok(None) => {}
                        Err(UnknownValue) => {
                            return Err(unreadable(format!(
                                "an unknown build {b} for the service {}",
                                s.id
                            )));
                        }
                    }
                }
                Ok(Some(ServiceInfo {
                    id: s.id,
                    name: s.name,
                    api_type,
                    base_url: s.base_url,
                    is_active: s.is_active,
                    is_available: s.is_available,
                    builds,
                    wes: match s.api_settings {
                        Some(registry::imputation_service::ApiSettings::Wes(wes)) => Some(wes),
                        _ => None,
                    },
                }))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// The panel `id`, or None when the registry has none.
    pub async fn panel(&self, id: i64) -> Result<Option<PanelInfo>, Status> {
        match self
            .registry()?
            .get_reference_panel(registry::GetReferencePanelRequest { id })
            .await
        {
            Ok(reply) => {
                let Some(p) = reply.into_inner().reference_panel else {
                    return Err(Status::internal("the registry answered without a panel"));
                };
                let build = build_from_wire(p.build).map_err(|UnknownValue| {
                    unreadable(format!(
                        "an unknown build {} for the panel {}",
                        p.build, p.id
                    ))
                })?;
                Ok(Some(PanelInfo {
                    id: p.id,
                    service_id: p.service_id,
                    name: p.name,
                    slug: p.slug,
                    build,
                    populations: p.populations.into_iter().map(|pop| pop.id).collect(),
                    is_active: p.is_active,
                    wes_workflow: p.wes_workflow,
                }))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// The user's secret for a service (errors keep the user service's
    /// reasons, e.g. CREDENTIALS_MISSING).
    pub async fn credential(
        &self,
        user_id: i64,
        service_id: i64,
        job_id: &str,
    ) -> Result<Credential, Status> {
        let reply = self
            .vault()?
            .lookup_service_credential(user::LookupServiceCredentialRequest {
                user_id,
                service_id,
                job_id: job_id.to_string(),
            })
            .await?
            .into_inner();
        let secret = match reply.secret {
            Some(WireSecret::ApiToken(t)) => Secret::ApiToken(t.token),
            Some(WireSecret::BasicAuth(b)) => Secret::Basic {
                username: b.username,
                password: b.password,
            },
            Some(WireSecret::Oauth2(o)) => Secret::OAuth2 {
                access_token: o.access_token,
            },
            None => return Err(Status::internal("the credential lookup carried no secret")),
        };
        Ok(Credential {
            id: reply.credential_id,
            secret,
        })
    }

    /// Tells the user service how the server took the credential.
    pub async fn report_credential(
        &self,
        user_id: i64,
        service_id: i64,
        credential_id: i64,
        rejected: Option<&str>,
        job_id: &str,
    ) -> Result<(), Status> {
        let outcome = if rejected.is_some() {
            user::CredentialUseOutcome::Rejected
        } else {
            user::CredentialUseOutcome::Accepted
        };
        self.vault()?
            .report_service_credential_use(user::ReportServiceCredentialUseRequest {
                user_id,
                service_id,
                credential_id,
                outcome: outcome as i32,
                message: rejected.unwrap_or_default().to_string(),
                used_at: Some(timestamp(fip_kit::db::now_millis())),
                job_id: job_id.to_string(),
            })
            .await?;
        Ok(())
    }

    /// The file `id` if `owner` owns it.
    pub async fn file(&self, id: &str, owner: i64) -> Result<Option<files::File>, Status> {
        match self
            .files()?
            .lookup_file(files::LookupFileRequest {
                id: id.to_string(),
                owner_user_id: owner,
            })
            .await
        {
            Ok(reply) => Ok(reply.into_inner().file),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Streams the file `id` into `dest`; returns its size.
    pub async fn read_file(&self, id: &str, dest: &Path) -> Result<u64, Status> {
        let mut stream = self
            .files()?
            .read_file(files::ReadFileRequest {
                id: id.to_string(),
                offset: 0,
                length: 0,
            })
            .await?
            .into_inner();
        let io =
            |e: std::io::Error| Status::internal(format!("cannot write {}: {e}", dest.display()));
        let mut out = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut written = 0u64;
        while let Some(message) = stream.message().await? {
            if let Some(files::read_file_response::Data::Chunk(chunk)) = message.data {
                out.write_all(&chunk).await.map_err(io)?;
                written += chunk.len() as u64;
            }
        }
        out.flush().await.map_err(io)?;
        Ok(written)
    }

    /// Deletes every output file of `job_id`; returns how many.
    pub async fn delete_job_outputs(&self, owner: i64, job_id: &str) -> Result<i32, Status> {
        Ok(self
            .files()?
            .delete_job_outputs(files::DeleteJobOutputsRequest {
                owner_user_id: owner,
                job_id: job_id.to_string(),
            })
            .await?
            .into_inner()
            .deleted_count)
    }

    /// Stores a local file of `job_id` (a result, or an input prepared for
    /// the server) for `owner`. With the same non-empty key again, the file
    /// stored the first time comes back and nothing is stored twice.
    pub async fn store_job_file(
        &self,
        owner: i64,
        job_id: &str,
        file: JobFile<'_>,
    ) -> Result<files::File, Status> {
        let JobFile {
            name,
            content_type,
            kind,
            path,
            idempotency_key,
        } = file;
        const CHUNK: usize = 256 * 1024;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| Status::internal(format!("cannot read {}: {e}", path.display())))?
            .len();
        let metadata = files::UploadJobFileRequest {
            data: Some(files::upload_job_file_request::Data::Metadata(
                files::JobFileMetadata {
                    owner_user_id: owner,
                    job_id: job_id.to_string(),
                    name: name.to_string(),
                    kind: kind as i32,
                    content_type: content_type.to_string(),
                    // A short read fails the upload instead of storing less.
                    expected_size_bytes: Some(size as i64),
                    expected_sha256: String::new(),
                    expires_at: None,
                    idempotency_key: idempotency_key.to_string(),
                },
            )),
        };
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Status::internal(format!("cannot read {}: {e}", path.display())))?;
        let chunks = futures::stream::unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buffer = vec![0u8; CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((
                        files::UploadJobFileRequest {
                            data: Some(files::upload_job_file_request::Data::Chunk(buffer.into())),
                        },
                        file,
                    ))
                }
            }
        });
        let stream = futures::stream::iter([metadata]).chain(chunks);
        // The answer comes after the last byte, however long the upload
        // takes: the streaming channel sets no overall time limit.
        let channel = self
            .peers
            .streaming_channel(ServiceName::Files)
            .ok_or_else(|| missing(ServiceName::Files))?;
        let reply =
            FileInternalServiceClient::with_interceptor(channel, self.identity.interceptor())
                .upload_job_file(stream)
                .await?
                .into_inner();
        reply
            .file
            .ok_or_else(|| Status::internal("the file service answered without a file"))
    }

    /// A signed absolute URL of the file `id` that works for `ttl_seconds`
    /// (0: a day), for an external server to fetch it.
    pub async fn job_file_link(&self, id: &str, ttl_seconds: i64) -> Result<String, Status> {
        let reply = self
            .files()?
            .create_job_file_link(files::CreateJobFileLinkRequest {
                id: id.to_string(),
                ttl_seconds,
            })
            .await?
            .into_inner();
        Ok(reply.url)
    }

    /// Marks the input file as used by `job_id`.
    pub async fn link_input(&self, file_id: &str, job_id: &str, owner: i64) -> Result<(), Status> {
        self.files()?
            .link_file_to_job(files::LinkFileToJobRequest {
                file_id: file_id.to_string(),
                job_id: job_id.to_string(),
                owner_user_id: owner,
            })
            .await?;
        Ok(())
    }

    /// Sends a web notification (and email by the user's preferences).
    pub async fn notify(&self, request: notify::SendNotificationRequest) -> Result<(), Status> {
        let mut client = NotificationInternalServiceClient::with_interceptor(
            self.channel(ServiceName::Notify)?,
            self.identity.interceptor(),
        );
        client.send_notification(request).await?;
        Ok(())
    }
}
