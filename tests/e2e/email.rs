//! Email end to end: a job run through the whole mesh against the Cloudgene
//! emulator mails its owner, through a real SMTP server (scripts/smtp-sink,
//! aiosmtpd from tools/python/venv), exactly once, even when the server was
//! down as the job completed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fip_emulators::cloudgene::{self, Emulator};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{GenomeBuild, Phasing};
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::registry::v1 as registry;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{self, TestPlatform};

const HUB: &str = "https://hub.example.org";
const MAIL_WAIT: Duration = Duration::from_secs(60);

/// scripts/smtp-sink on 127.0.0.1, writing what it receives to a temp dir.
struct Sink {
    port: u16,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Sink {
    async fn start(port: u16) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join("tools/python/venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/install-test-tools",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(python)
            .arg(root.join("scripts/smtp-sink"))
            .arg("--dir")
            .arg(dir.path())
            .args(["--port", &port.to_string(), "--max-seconds", "600"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/smtp-sink starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(MAIL_WAIT, lines.next_line())
            .await
            .expect("the SMTP sink gets ready")
            .unwrap()
            .expect("the SMTP sink says where it listens");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { port, dir, child }
    }

    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} mails expected, {} arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

fn header<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name].as_str().unwrap_or_default()
}

fn parts(message: &Value) -> [&str; 2] {
    [
        message["text"].as_str().unwrap_or_default(),
        message["html"].as_str().unwrap_or_default(),
    ]
}

/// The platform mailing through `smtp_port`, an emulated server, and a
/// researcher with a credential for it.
struct World {
    platform: TestPlatform,
    server: Emulator,
    service_id: i64,
    panel_id: i64,
    token: String,
    remote_token: String,
}

impl World {
    async fn start(smtp_port: u16) -> Self {
        let platform = TestPlatform::start_with(|c| {
            c.jobs.poll_interval = Duration::from_millis(20);
            c.jobs.max_retry_interval = Duration::from_millis(200);
            c.external.request_timeout = Duration::from_secs(2);
            c.notify.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}"));
            c.notify.public_url = Some(HUB.into());
            c.notify.from = "Imputation Hub <hub@example.org>".into();
            c.notify.send_interval = Duration::from_millis(50);
            c.notify.retry_initial = Duration::from_millis(100);
            c.notify.retry_max = Duration::from_millis(500);
            c.notify.smtp_timeout = Duration::from_secs(5);
        })
        .await;
        let server = Emulator::start(cloudgene::Config::default()).await;
        let admin = platform.user_token(&[Role::Admin]).await;
        let (service_id, panel_id) = crate::jobs::register(
            platform.channel.clone(),
            &admin,
            "emulated",
            server.base_url(),
            vec![GenomeBuild::Hg38 as i32],
            vec![registry::Population {
                id: "afr".into(),
                name: "AFR".into(),
                ..Default::default()
            }],
        )
        .await;
        let token = support::sign_up(platform.channel.clone(), "ada").await;
        let remote_token = server.issue_token("ada");
        support::store_credential(platform.channel.clone(), &token, service_id, &remote_token)
            .await;
        Self {
            platform,
            server,
            service_id,
            panel_id,
            token,
            remote_token,
        }
    }

    /// Submits a job on a small synthetic VCF and follows it to its end.
    async fn run_job(&self, name: &str) -> jobs::Job {
        let vcf = VcfSpec::new(25, 60)
            .chromosomes(["20"])
            .phased(true)
            .build()
            .bgzf();
        let channel = self.platform.channel.clone();
        let file = support::upload(channel.clone(), &self.token, "study.vcf.gz", &vcf).await;
        let job = JobServiceClient::new(channel.clone())
            .submit_job(with_token(
                jobs::SubmitJobRequest {
                    name: name.into(),
                    service_id: self.service_id,
                    reference_panel_id: self.panel_id,
                    build: GenomeBuild::Hg38 as i32,
                    phasing: Phasing::Eagle as i32,
                    population: "afr".into(),
                    input_file_id: file,
                    ..Default::default()
                },
                &self.token,
            ))
            .await
            .expect("accepted")
            .into_inner()
            .job
            .unwrap();
        let done = support::finish_job(channel, &self.token, &job.id, MAIL_WAIT).await;
        assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
        done
    }

    async fn qc(&self, job_id: &str) -> jobs::QcSummary {
        JobServiceClient::new(self.platform.channel.clone())
            .list_job_results(with_token(
                jobs::ListJobResultsRequest {
                    job_id: job_id.into(),
                },
                &self.token,
            ))
            .await
            .unwrap()
            .into_inner()
            .qc_summary
            .expect("a QC summary")
    }

    async fn stop(self) {
        self.server.stop().await;
        self.platform.stop().await;
    }
}

#[tokio::test]
async fn a_completed_job_mails_its_owner_with_qc_links_and_no_secret() {
    let sink = Sink::start(0).await;
    let world = World::start(sink.port).await;
    let job = world.run_job("chr20 study").await;
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ada@example.org"]));
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert!(
        header(&mail, "subject").contains("chr20 study"),
        "{}",
        header(&mail, "subject")
    );
    assert_eq!(
        header(&mail, "list-unsubscribe"),
        format!("<{HUB}/notifications>")
    );
    assert!(!header(&mail, "message-id").is_empty());
    let qc = world.qc(&job.id).await;
    let password = world.server.submissions()[0]
        .field("password")
        .expect("the job's zip password")
        .to_string();
    for part in parts(&mail) {
        assert!(part.contains("Test ada"), "{part}");
        assert!(part.contains(&format!("{HUB}/jobs/{}", job.id)), "{part}");
        assert!(part.contains(&format!("{HUB}/notifications")), "{part}");
        for figure in [
            qc.variant_count.to_string(),
            format!("{:.3}", qc.mean_r2),
            qc.count_r2_ge_0_3.to_string(),
            qc.count_r2_ge_0_8.to_string(),
        ] {
            assert!(part.contains(&figure), "QC figure {figure} in {part}");
        }
        for secret in [&password, &world.remote_token, &world.token] {
            assert!(!part.contains(secret.as_str()), "a secret in {part}");
        }
    }
    world.stop().await;
    sink.stop().await;
}

#[tokio::test]
async fn a_job_completed_while_smtp_was_down_is_mailed_once_it_is_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = World::start(port).await;
    let first = world.run_job("during the outage").await;
    let sink = Sink::start(port).await;
    let mails = sink.wait_for(1).await;
    assert!(parts(&mails[0])[0].contains(&first.id));
    // A second job's mail comes after the first's, and the first's never
    // comes again (the sender sends in order, and no mail twice).
    let second = world.run_job("after the outage").await;
    let mails = sink.wait_for(2).await;
    let about = |id: &str| {
        mails
            .iter()
            .filter(|m| parts(m)[0].contains(&format!("/jobs/{id}")))
            .count()
    };
    assert_eq!((about(&first.id), about(&second.id)), (1, 1), "{mails:#?}");
    assert_eq!(mails.len(), 2);
    world.stop().await;
    sink.stop().await;
}
