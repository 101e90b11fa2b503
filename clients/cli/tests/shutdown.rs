//! SIGTERM to a running `fip server`: the process stops accepting, lets the
//! calls in flight finish, ends watch streams cleanly (the client sees the
//! stream end, not an error), and closes what is still running after
//! `shutdown_grace`.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use fip_proto::files::v1 as files;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use fip_proto::notify::v1 as notify;
use fip_proto::notify::v1::notification_service_client::NotificationServiceClient;
use fip_proto::user::v1 as user;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

struct Server {
    /// Taken by [`Server::exited`]; killed on drop otherwise (a failed test).
    child: Option<Child>,
    lines: Option<Lines<BufReader<ChildStdout>>>,
    channel: Channel,
    _dir: tempfile::TempDir,
}

/// `fip server --dev` on a free port, with `grace` as its shutdown grace.
async fn start(grace: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fip"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("FIP_DATABASE_URL")
        .env_remove("FIP_REDIS_URL")
        .env("FIP_SHUTDOWN_GRACE", grace)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fip starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("fip printed its URLs").unwrap();
        if let Some(rest) = line.trim().strip_prefix("gateway") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    Server {
        child: Some(child),
        lines: Some(lines),
        channel,
        _dir: dir,
    }
}

impl Server {
    /// Registers `name` and signs in through the gateway.
    async fn researcher(&self, name: &str) -> String {
        let mut users = UserServiceClient::new(self.channel.clone());
        let password = format!("{name}-long-passphrase");
        users
            .register(user::RegisterRequest {
                username: name.into(),
                email: format!("{name}@example.org"),
                password: password.clone(),
                first_name: "Test".into(),
                last_name: name.into(),
                ..Default::default()
            })
            .await
            .expect("registers");
        users
            .login(user::LoginRequest {
                username: name.into(),
                password,
            })
            .await
            .expect("signs in")
            .into_inner()
            .access_token
    }

    fn terminate(&self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.as_ref().unwrap().id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }

    /// Waits for the process to exit; its status and its last lines.
    async fn exited(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let lines = self.lines.take().unwrap();
        tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            (status, lines.map_while(Result::ok).collect())
        })
        .await
        .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    fip_kit::testing::with_token(message, token)
}

fn chunk(bytes: Vec<u8>) -> files::UploadFileRequest {
    files::UploadFileRequest {
        data: Some(files::upload_file_request::Data::Chunk(bytes.into())),
    }
}

/// An upload through the gateway whose messages are sent on the sender.
fn open_upload(
    channel: Channel,
    token: &str,
    name: &str,
    size: usize,
) -> (
    mpsc::Sender<files::UploadFileRequest>,
    tokio::task::JoinHandle<Result<tonic::Response<files::UploadFileResponse>, tonic::Status>>,
) {
    let (tx, rx) = mpsc::channel(4);
    tx.try_send(files::UploadFileRequest {
        data: Some(files::upload_file_request::Data::Metadata(
            files::UploadFileMetadata {
                name: name.into(),
                expected_size_bytes: Some(size as i64),
                ..Default::default()
            },
        )),
    })
    .unwrap();
    let request = with_token(ReceiverStream::new(rx), token);
    let call =
        tokio::spawn(async move { FileServiceClient::new(channel).upload_file(request).await });
    (tx, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_watches_cleanly_and_lets_calls_in_flight_finish() {
    let server = start("60s").await;
    let ada = server.researcher("ada").await;

    let mut watch = NotificationServiceClient::new(server.channel.clone())
        .watch_notifications(with_token(notify::WatchNotificationsRequest {}, &ada))
        .await
        .expect("the watch opens")
        .into_inner();
    let first = watch.message().await.unwrap().expect("a snapshot first");
    assert_eq!(first.event, notify::NotificationEvent::Snapshot as i32);

    // An upload is half sent when the signal comes.
    let (tx, call) = open_upload(server.channel.clone(), &ada, "half.txt", 2000);
    tx.send(chunk(vec![b'a'; 1000])).await.unwrap();

    server.terminate();
    // The watch ends, without an error.
    while let Some(message) = watch.message().await.expect("the watch ends cleanly") {
        assert_ne!(message.event, notify::NotificationEvent::Snapshot as i32);
    }
    // Shutdown has begun; the upload in flight is still taken in full.
    tx.send(chunk(vec![b'b'; 1000])).await.unwrap();
    drop(tx);
    let file = call
        .await
        .unwrap()
        .expect("the upload in flight completes")
        .into_inner()
        .file
        .unwrap();
    assert_eq!(file.size_bytes, 2000);

    let (status, rest) = server.exited().await;
    assert!(status.success(), "fip exited with {status}");
    assert!(rest.iter().any(|l| l == "fip stopped"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_outlasts_the_grace_is_closed_and_the_process_exits() {
    let server = start("1s").await;
    let ada = server.researcher("ada").await;
    // An upload that never finishes by itself.
    let (tx, call) = open_upload(server.channel.clone(), &ada, "never.txt", 2000);
    tx.send(chunk(vec![b'a'; 1000])).await.unwrap();
    server.terminate();
    let (status, rest) = server.exited().await;
    assert!(status.success(), "fip exited with {status}");
    assert!(rest.iter().any(|l| l == "fip stopped"), "{rest:?}");
    let closed = call.await.unwrap();
    assert!(closed.is_err(), "the unfinished upload is not stored");
    drop(tx);
}
