//! A files service on an ephemeral port over a fresh database (SQLite, or a
//! fresh PostgreSQL schema), an object store (a temporary directory, or a
//! fresh prefix of the S3 bucket that `FIP_TEST_S3_URL` names), and a clock
//! the tests move.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fip_files::clock::ManualClock;
use fip_files::files::{Files, Settings, UploadActivity};
use fip_files::links::LinkSigner;
use fip_files::objects::Objects;
use fip_files::store::sql::SqlStore;
use fip_kit::ApiError;
use fip_kit::auth::{Role, ServiceIdentity};
use fip_kit::db::TestDb;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::Context;
use fip_kit::testing::{TestService, spawn, user_token, with_token};
use fip_proto::common::v1::ErrorReason;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_internal_service_client::FileInternalServiceClient;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use futures::TryStreamExt;
use hyper_util::rt::TokioIo;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Endpoint};

pub const MIB: usize = 1024 * 1024;
/// 2024-01-01T00:00:00Z.
pub const START: i64 = 1_704_067_200_000;

/// Where a harness keeps file contents.
pub enum Backing {
    /// A local directory.
    Local(PathBuf),
    /// A prefix of an S3 bucket: `endpoint` (`http://host:port`), bucket
    /// and prefix.
    S3 {
        endpoint: String,
        bucket: String,
        prefix: String,
        store: Arc<dyn ObjectStore>,
    },
}

impl Backing {
    /// A fresh store: under `dir` locally, or a new prefix of the bucket
    /// `FIP_TEST_S3_URL` (`http://host:port/bucket`) names, which is
    /// created when missing. The S3 server takes any credentials.
    pub async fn fresh(dir: &Path) -> (Self, Arc<dyn ObjectStore>) {
        let Ok(url) = std::env::var("FIP_TEST_S3_URL") else {
            let dir = dir.join("files");
            std::fs::create_dir_all(&dir).unwrap();
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir).unwrap();
            return (Self::Local(dir), Arc::new(store));
        };
        let (endpoint, bucket) = url
            .trim_end_matches('/')
            .rsplit_once('/')
            .filter(|(e, b)| e.starts_with("http") && !b.is_empty())
            .unwrap_or_else(|| panic!("FIP_TEST_S3_URL is not http://host:port/bucket: {url}"));
        let (endpoint, bucket) = (endpoint.to_string(), bucket.to_string());
        // An unsigned PUT creates the bucket on the test server; an existing
        // one answers an error that does not matter here.
        reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the S3 server at {endpoint} does not answer: {e}"));
        let prefix = format!("test-{}", uuid::Uuid::now_v7());
        let builder = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test");
        let store = Objects::s3_store(&format!("s3://{bucket}/{prefix}"), builder).unwrap();
        (
            Self::S3 {
                endpoint,
                bucket,
                prefix,
                store: store.clone(),
            },
            store,
        )
    }

    /// Removes what the tests left in the bucket (a local directory goes
    /// with its temporary parent).
    pub async fn clear(&self) {
        if let Self::S3 { store, .. } = self {
            let objects: Vec<_> = store.list(None).try_collect().await.unwrap();
            for object in objects {
                store.delete(&object.location).await.unwrap();
            }
        }
    }

    /// Every object under the store, and every upload staged there and not
    /// yet complete (a local side file; an S3 multipart upload in progress).
    pub async fn entries(&self) -> Vec<String> {
        match self {
            Self::Local(dir) => {
                fn walk(dir: &Path, out: &mut Vec<String>) {
                    for entry in std::fs::read_dir(dir).unwrap() {
                        let path = entry.unwrap().path();
                        if path.is_dir() {
                            walk(&path, out);
                        } else {
                            out.push(path.display().to_string());
                        }
                    }
                }
                let mut out = Vec::new();
                walk(dir, &mut out);
                out
            }
            Self::S3 {
                endpoint,
                bucket,
                prefix,
                ..
            } => {
                // The test server answers unsigned listings.
                let client = reqwest::Client::new();
                let mut out = Vec::new();
                for (query, tag) in [("list-type=2", "Key"), ("uploads", "Key")] {
                    let url = format!("{endpoint}/{bucket}?{query}&prefix={prefix}/");
                    let response = client.get(&url).send().await.unwrap();
                    assert!(
                        response.status().is_success(),
                        "{url}: {}",
                        response.status()
                    );
                    let body = response.text().await.unwrap();
                    let open = format!("<{tag}>");
                    let close = format!("</{tag}>");
                    for piece in body.split(&open).skip(1) {
                        let key = piece.split(&close).next().unwrap();
                        out.push(if query == "uploads" {
                            format!("{key} (upload in progress)")
                        } else {
                            key.to_string()
                        });
                    }
                }
                out
            }
        }
    }
}

pub struct Harness {
    pub files: Arc<Files>,
    pub clock: Arc<ManualClock>,
    pub ctx: Context,
    pub backing: Backing,
    pub channel: Channel,
    service: TestService,
    db: TestDb,
    _dir: tempfile::TempDir,
}

pub fn default_settings() -> Settings {
    Settings {
        max_upload_bytes: 1 << 40,
        quota_bytes: 0,
        public_base_url: None,
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::with_settings(default_settings()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        Self::with_store(settings, |store| store).await
    }

    /// A harness whose object store is `wrap` of the fresh one.
    pub async fn with_store(
        settings: Settings,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(ServiceName::Files, &fip_files::MIGRATIONS)
            .await
            .unwrap();
        let (backing, store) = Backing::fresh(dir.path()).await;
        let clock = Arc::new(ManualClock::new(START));
        let files = Arc::new(Files::new(
            Arc::new(SqlStore::new(db.db.clone())),
            Objects::new(wrap(store)),
            LinkSigner::random(),
            clock.clone(),
            settings,
        ));
        let config = fip_kit::testing::config(dir.path(), "f");
        let ctx = fip_kit::testing::context(ServiceName::Files, config, Peers::default());
        let service = spawn(fip_files::hosted(files.clone()), &ctx).await.unwrap();
        let channel = Channel::from_shared(service.url.clone())
            .unwrap()
            .connect_lazy();
        Self {
            files,
            clock,
            ctx,
            backing,
            channel,
            service,
            db,
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        self.service.stop().await.unwrap();
        self.backing.clear().await;
        self.db.cleanup().await.unwrap();
    }

    /// The service's address, as a peer of the mesh would be told it.
    pub fn url(&self) -> &str {
        &self.service.url
    }

    pub fn client(&self) -> FileServiceClient<Channel> {
        FileServiceClient::new(self.channel.clone())
            .max_decoding_message_size(8 * MIB)
            .max_encoding_message_size(8 * MIB)
    }

    pub fn internal(&self) -> FileInternalServiceClient<Channel> {
        FileInternalServiceClient::new(self.channel.clone())
            .max_decoding_message_size(8 * MIB)
            .max_encoding_message_size(8 * MIB)
    }

    /// A researcher's token.
    pub fn user(&self, id: i64, name: &str) -> String {
        user_token(&self.ctx, id, name, &[Role::Researcher])
    }

    pub fn admin(&self, id: i64) -> String {
        user_token(&self.ctx, id, "root", &[Role::Admin])
    }

    /// A service-identity token of `name`.
    pub fn service(&self, name: ServiceName) -> String {
        ServiceIdentity::new(name, &self.ctx.keys, &self.ctx.config)
            .unwrap()
            .token()
    }

    /// Uploads `chunks` after `metadata`.
    pub async fn upload(
        &self,
        token: &str,
        metadata: pb::UploadFileMetadata,
        chunks: Vec<Vec<u8>>,
    ) -> Result<pb::File, tonic::Status> {
        let messages = std::iter::once(pb::upload_file_request::Data::Metadata(metadata))
            .chain(
                chunks
                    .into_iter()
                    .map(|c| pb::upload_file_request::Data::Chunk(c.into())),
            )
            .map(|data| pb::UploadFileRequest { data: Some(data) })
            .collect::<Vec<_>>();
        self.upload_messages(token, messages).await
    }

    pub async fn upload_messages(
        &self,
        token: &str,
        messages: Vec<pb::UploadFileRequest>,
    ) -> Result<pb::File, tonic::Status> {
        let response = self
            .client()
            .upload_file(with_token(tokio_stream::iter(messages), token))
            .await?;
        Ok(response.into_inner().file.expect("a stored file"))
    }

    /// Downloads a file: its metadata and its chunks.
    pub async fn download(
        &self,
        token: &str,
        id: &str,
        offset: i64,
        length: i64,
    ) -> Result<(pb::File, Vec<Vec<u8>>), tonic::Status> {
        let mut stream = self
            .client()
            .download_file(with_token(
                pb::DownloadFileRequest {
                    id: id.into(),
                    offset,
                    length,
                },
                token,
            ))
            .await?
            .into_inner();
        let mut metadata = None;
        let mut chunks = Vec::new();
        while let Some(message) = stream.message().await? {
            match message.data {
                Some(pb::download_file_response::Data::Metadata(m)) => {
                    assert!(
                        metadata.is_none() && chunks.is_empty(),
                        "metadata comes first, once"
                    );
                    metadata = Some(m);
                }
                Some(pb::download_file_response::Data::Chunk(c)) => chunks.push(c.to_vec()),
                None => panic!("an empty download message"),
            }
        }
        Ok((metadata.expect("a metadata message"), chunks))
    }

    /// A channel over one TCP connection, and a handle on that connection's
    /// socket to cut it as a failing network or a crashing client would.
    pub async fn severable_channel(&self) -> (Channel, std::net::TcpStream) {
        let socket = std::net::TcpStream::connect(self.service.addr).unwrap();
        let cut = socket.try_clone().unwrap();
        socket.set_nonblocking(true).unwrap();
        let slot = Arc::new(Mutex::new(Some(
            tokio::net::TcpStream::from_std(socket).unwrap(),
        )));
        let channel = Endpoint::from_static("http://files.test")
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let stream = slot.lock().unwrap().take();
                async move {
                    stream
                        .map(TokioIo::new)
                        .ok_or_else(|| std::io::Error::other("the connection was used up"))
                }
            }))
            .await
            .unwrap();
        (channel, cut)
    }

    /// The service's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.service.addr
    }

    /// Every object in the store, and every upload staged and not complete.
    pub async fn stored_objects(&self) -> Vec<String> {
        self.backing.entries().await
    }

    /// Waits until no upload is running.
    pub async fn uploads_settled(&self) {
        self.files
            .upload_activity()
            .wait_for(|a: &UploadActivity| a.active == 0)
            .await
            .unwrap();
    }

    /// The user's files (first page of 500).
    pub async fn list(&self, token: &str) -> pb::ListFilesResponse {
        self.client()
            .list_files(with_token(
                pb::ListFilesRequest {
                    page_size: 500,
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
    }
}

/// Upload metadata with just a name.
pub fn named(name: &str) -> pb::UploadFileMetadata {
    pb::UploadFileMetadata {
        name: name.into(),
        ..Default::default()
    }
}

/// Deterministic, incompressible-looking content.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Splits `data` into chunks of the given sizes, cycling through them.
pub fn split(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        chunks.push(head.to_vec());
        rest = tail;
    }
    chunks
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The error details of a status.
pub fn details(status: &tonic::Status) -> ApiError {
    ApiError::from_status(status).unwrap_or_else(|| panic!("no error details in {status:?}"))
}

pub fn reason(status: &tonic::Status) -> ErrorReason {
    details(status).reason
}

/// The service's answer to an upload.
pub type UploadAnswer = Result<tonic::Response<pb::UploadFileResponse>, tonic::Status>;

/// Starts an upload on `channel` as the holder of `token`; its messages are
/// those sent on the returned sender, and the task ends with the service's
/// answer.
pub fn open_upload(
    channel: Channel,
    token: &str,
) -> (
    tokio::sync::mpsc::Sender<pb::UploadFileRequest>,
    tokio::task::JoinHandle<UploadAnswer>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let token = token.to_string();
    let call = tokio::spawn(async move {
        FileServiceClient::new(channel)
            .upload_file(with_token(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                &token,
            ))
            .await
    });
    (tx, call)
}
