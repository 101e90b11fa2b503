//! The GA4GH WES path end to end: the shipped CWL imputation workflow run
//! by the real reference server `wes-service` (cwltool, Beagle, bcftools),
//! and the emulated WES server for refusals, failures, retries, DRS
//! outputs, signed-URL inputs, cancels and multi-service fan-out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fip_emulators::fixtures::{VcfSpec, gunzip};
use fip_emulators::wes::{self, Emulator, OutputLocations, Script};
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{GenomeBuild, Phasing};
use fip_proto::files::v1 as files;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::registry::v1 as registry;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::transport::Channel;

use crate::support::{self, TestPlatform};

/// The repository's root (the tests crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .to_path_buf()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The shipped imputation workflow, reading the test panels, with the
/// inputs delivered as `delivery` says.
fn imputation_workflow(delivery: registry::WesInputDelivery) -> registry::WesWorkflow {
    let fixed: serde_json::Map<String, serde_json::Value> = serde_json::json!({
        "panels": {
            "class": "Directory",
            "location": file_url(&root().join("tests/data/wes/panels")),
        }
    })
    .as_object()
    .unwrap()
    .clone();
    registry::WesWorkflow {
        workflow_type: "CWL".into(),
        workflow_type_version: "v1.2".into(),
        workflow_url: file_url(&root().join("services/jobs/workflows/imputation/imputation.cwl")),
        input_delivery: delivery as i32,
        signed_url_ttl_seconds: 600,
        param_names: Some(registry::WesParamNames {
            input: "target".into(),
            reference_panel: "panel".into(),
            build: "build".into(),
            phasing: "phasing".into(),
            r2_filter: "r2_filter".into(),
            ..Default::default()
        }),
        fixed_params: fip_kit::json::struct_out(&fixed),
        tags: [("site".to_string(), "hub-tests".to_string())].into(),
        ..Default::default()
    }
}

/// Registers a WES service at `base_url` running `workflow`, with the panel
/// `synthetic-afr` of `build`; returns (service id, panel id).
async fn register_wes(
    channel: Channel,
    admin: &str,
    slug: &str,
    base_url: &str,
    workflow: registry::WesWorkflow,
    build: GenomeBuild,
) -> (i64, i64) {
    support::register_service(
        channel,
        admin,
        registry::ImputationService {
            name: format!("WES {slug}"),
            slug: slug.into(),
            api_type: registry::ApiType::Ga4ghWes as i32,
            base_url: base_url.to_string(),
            supported_builds: vec![build as i32],
            is_active: true,
            api_settings: Some(registry::imputation_service::ApiSettings::Wes(
                registry::WesSettings {
                    default_workflow: Some(workflow),
                    ..Default::default()
                },
            )),
            ..Default::default()
        },
        registry::ReferencePanel {
            slug: "synthetic-afr".into(),
            name: "Synthetic AFR".into(),
            build: build as i32,
            is_active: true,
            ..Default::default()
        },
    )
    .await
}

fn submission(
    service_id: i64,
    panel_id: i64,
    file_id: &str,
    build: GenomeBuild,
) -> jobs::SubmitJobRequest {
    jobs::SubmitJobRequest {
        name: "wes study".into(),
        service_id,
        reference_panel_id: panel_id,
        build: build as i32,
        phasing: Phasing::Beagle as i32,
        input_file_id: file_id.into(),
        ..Default::default()
    }
}

async fn submit(channel: Channel, token: &str, request: jobs::SubmitJobRequest) -> jobs::Job {
    JobServiceClient::new(channel)
        .submit_job(with_token(request, token))
        .await
        .expect("submitted")
        .into_inner()
        .job
        .unwrap()
}

async fn results(channel: Channel, token: &str, job_id: &str) -> jobs::ListJobResultsResponse {
    JobServiceClient::new(channel)
        .list_job_results(with_token(
            jobs::ListJobResultsRequest {
                job_id: job_id.into(),
            },
            token,
        ))
        .await
        .expect("results listed")
        .into_inner()
}

async fn logs(channel: Channel, token: &str, job_id: &str) -> Vec<String> {
    JobServiceClient::new(channel)
        .list_job_logs(with_token(
            jobs::ListJobLogsRequest {
                job_id: job_id.into(),
                page_size: 500,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("logs listed")
        .into_inner()
        .logs
        .into_iter()
        .map(|l| l.message)
        .collect()
}

/// The whole content of a stored file.
async fn download(channel: Channel, token: &str, file_id: &str) -> Vec<u8> {
    let mut stream = FileServiceClient::new(channel)
        .download_file(with_token(
            files::DownloadFileRequest {
                id: file_id.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("download opens")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await.expect("download streams") {
        if let Some(files::download_file_response::Data::Chunk(chunk)) = message.data {
            bytes.extend_from_slice(&chunk);
        }
    }
    bytes
}

/// `scripts/wes-server` (wes-service with cwltool) on a free loopback port,
/// killed when dropped.
struct WesService {
    child: tokio::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl WesService {
    async fn start(token: &str) -> Self {
        let install = tokio::process::Command::new(root().join("scripts/install-test-tools"))
            .status()
            .await
            .expect("scripts/install-test-tools runs");
        assert!(install.success(), "scripts/install-test-tools failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = tokio::process::Command::new(root().join("scripts/wes-server"))
            .args(["--port", &port.to_string(), "--token", token, "--dir"])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/wes-server starts");
        // Ready when uvicorn says it listens; its log goes on to the test's
        // stderr afterwards.
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut seen = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("the server's log reads") {
                eprintln!("{line}");
                let listening = line.contains("Uvicorn running on");
                seen.push(line);
                if listening {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "wes-service did not start listening: {seen:#?}"
        );
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        Self { child, url, dir }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}

#[tokio::test]
async fn the_shipped_workflow_imputes_on_a_real_wes_server() {
    let token = "wes-test-token";
    let server = WesService::start(token).await;
    let shared = server.dir.path().to_path_buf();
    let platform = TestPlatform::start_with(|c| {
        c.jobs.poll_interval = Duration::from_millis(250);
        c.external.wes_shared_dirs = vec![shared];
    })
    .await;
    let admin = platform.user_token(&[Role::Admin]).await;
    let (service_id, panel_id) = register_wes(
        platform.channel.clone(),
        &admin,
        "wes-service",
        &server.url,
        imputation_workflow(registry::WesInputDelivery::Attachment),
        GenomeBuild::Hg19,
    )
    .await;
    let ana = support::sign_up(platform.channel.clone(), "ana").await;
    support::store_credential(platform.channel.clone(), &ana, service_id, token).await;
    let target = std::fs::read(root().join("tests/data/wes/target.vcf.gz")).unwrap();
    let file = support::upload(platform.channel.clone(), &ana, "target.vcf.gz", &target).await;
    let job = submit(
        platform.channel.clone(),
        &ana,
        submission(service_id, panel_id, &file, GenomeBuild::Hg19),
    )
    .await;
    let done = support::finish_job(
        platform.channel.clone(),
        &ana,
        &job.id,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:#?}");
    assert_eq!(done.progress_percentage, 100);

    let counts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tests/data/wes/counts.json")).unwrap())
            .unwrap();
    let panel_variants = counts["panel_variants"].as_u64().unwrap() as usize;
    let samples: Vec<&str> = counts["target_sample_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let listed = results(platform.channel.clone(), &ana, &job.id).await;
    let names: Vec<&str> = listed.files.iter().map(|f| f.name.as_str()).collect();
    for expected in [
        "chr20.imputed.vcf.gz",
        "chr20.imputed.vcf.gz.tbi",
        "chr20.info.gz",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // The imputed VCF holds every panel variant for the target's samples.
    let imputed = listed
        .files
        .iter()
        .find(|f| f.name == "chr20.imputed.vcf.gz")
        .unwrap();
    let text = String::from_utf8(
        gunzip(&download(platform.channel.clone(), &ana, &imputed.file_id).await)
            .expect("the imputed vcf is gzip"),
    )
    .unwrap();
    let header = text
        .lines()
        .find(|l| l.starts_with("#CHROM"))
        .expect("a header line");
    let columns: Vec<&str> = header.split('\t').skip(9).collect();
    assert_eq!(columns, samples);
    let panel = String::from_utf8(
        gunzip(
            &std::fs::read(root().join("tests/data/wes/panels/synthetic-afr/20.vcf.gz")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let sites = |vcf: &str| -> Vec<String> {
        vcf.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').take(5).collect::<Vec<_>>().join(":"))
            .collect()
    };
    let imputed_sites = sites(&text);
    assert_eq!(imputed_sites.len(), panel_variants);
    assert_eq!(imputed_sites, sites(&panel));
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("DR2=")),
        "every variant carries DR2"
    );
    // The QC summary is read from the DR2 of the info file.
    let qc = listed.qc_summary.expect("a qc summary");
    assert_eq!(qc.chromosomes.len(), 1);
    let chr20 = &qc.chromosomes[0];
    assert_eq!(chr20.chromosome.trim_start_matches("chr"), "20");
    assert_eq!(chr20.variant_count, panel_variants as i64);
    assert!(
        chr20.mean_r2 > 0.0 && chr20.mean_r2 <= 1.0,
        "{}",
        chr20.mean_r2
    );
    assert!(chr20.count_r2_ge_0_3 >= chr20.count_r2_ge_0_8);
    platform.stop().await;
    server.stop().await;
}

/// A platform with one emulated WES server registered and one user holding
/// a token for it.
struct WesWorld {
    platform: TestPlatform,
    server: Emulator,
    service_id: i64,
    panel_id: i64,
    user: String,
    remote_token: String,
}

impl WesWorld {
    async fn start(config: wes::Config) -> Self {
        Self::start_with(config, registry::WesInputDelivery::Attachment, |_| {}).await
    }

    async fn start_with(
        config: wes::Config,
        delivery: registry::WesInputDelivery,
        tweak: impl FnOnce(&mut fip_kit::config::Config),
    ) -> Self {
        let platform = TestPlatform::start_with(|c| {
            c.jobs.poll_interval = Duration::from_millis(20);
            c.jobs.max_retry_interval = Duration::from_millis(200);
            c.external.request_timeout = Duration::from_secs(5);
            tweak(c);
        })
        .await;
        // The shipped workflow is CWL v1.2.
        let mut config = config;
        config.cwl_versions = vec!["v1.0".into(), "v1.2".into()];
        let server = Emulator::start(config).await;
        let admin = platform.user_token(&[Role::Admin]).await;
        let (service_id, panel_id) = register_wes(
            platform.channel.clone(),
            &admin,
            "emulated-wes",
            server.base_url(),
            imputation_workflow(delivery),
            GenomeBuild::Hg38,
        )
        .await;
        let user = support::sign_up(platform.channel.clone(), "wes-user").await;
        let remote_token = server.issue_token("wes-user");
        support::store_credential(platform.channel.clone(), &user, service_id, &remote_token).await;
        Self {
            platform,
            server,
            service_id,
            panel_id,
            user,
            remote_token,
        }
    }

    fn channel(&self) -> Channel {
        self.platform.channel.clone()
    }

    /// Uploads a synthetic study and submits it; returns the job.
    async fn submit(&self) -> jobs::Job {
        let study = VcfSpec::new(25, 40)
            .chromosomes(["chr20", "chr21"])
            .phased(false)
            .build()
            .bgzf();
        let file = support::upload(self.channel(), &self.user, "study.vcf.gz", &study).await;
        submit(
            self.channel(),
            &self.user,
            submission(self.service_id, self.panel_id, &file, GenomeBuild::Hg38),
        )
        .await
    }

    async fn finish(&self, job: &jobs::Job) -> jobs::Job {
        support::finish_job(self.channel(), &self.user, &job.id, Duration::from_secs(60)).await
    }

    async fn stop(self) {
        self.server.stop().await;
        self.platform.stop().await;
    }
}

#[tokio::test]
async fn wes_runs_complete_with_drs_outputs_and_the_runs_request_is_complete() {
    for inline in [false, true] {
        let world = WesWorld::start(wes::Config {
            output_locations: OutputLocations::Drs,
            drs_inline_access_url: inline,
            not_found_polls: 2,
            ..Default::default()
        })
        .await;
        let job = world.submit().await;
        let done = world.finish(&job).await;
        assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:#?}");
        assert_eq!(done.external_job_id, world.server.run_ids()[0]);
        // What the server was sent: the workflow, params and tags.
        let sent = world.server.submissions();
        assert_eq!(sent.len(), 1);
        let sent = &sent[0];
        assert_eq!(sent.workflow_type, "CWL");
        assert!(sent.workflow_url.ends_with("/imputation.cwl"));
        assert_eq!(sent.tags["fip_job_id"], format!("fip-{}", job.id));
        assert_eq!(sent.tags["site"], "hub-tests");
        let params = &sent.workflow_params;
        assert_eq!(params["panel"], "synthetic-afr");
        assert_eq!(params["build"], "hg38");
        assert_eq!(params["panels"]["class"], "Directory");
        let attached: Vec<&str> = sent.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(attached, ["chr20.vcf.gz", "chr21.vcf.gz"]);
        assert_eq!(
            params["target"],
            serde_json::json!([
                {"class": "File", "location": "chr20.vcf.gz"},
                {"class": "File", "location": "chr21.vcf.gz"}
            ])
        );
        // The outputs came through DRS; the info files fed the QC summary.
        let listed = results(world.channel(), &world.user, &job.id).await;
        let names: Vec<&str> = listed.files.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"chr20.imputed.vcf.gz"), "{names:?}");
        assert!(names.contains(&"chr21.info.gz"), "{names:?}");
        let qc = listed.qc_summary.expect("qc");
        assert_eq!(qc.chromosomes.len(), 2);
        assert!(qc.chromosomes.iter().all(|c| c.variant_count == 40));
        let drs_calls = world
            .server
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/ga4gh/drs/v1/objects/"))
            .count();
        assert!(drs_calls >= names.len(), "{drs_calls} drs calls");
        world.stop().await;
    }
}

#[tokio::test]
async fn a_refused_bearer_token_fails_the_job_with_update_your_credentials() {
    let world = WesWorld::start(wes::Config::default()).await;
    world.server.revoke_token(&world.remote_token);
    let job = world.submit().await;
    let done = world.finish(&job).await;
    assert_eq!(done.status, jobs::JobStatus::Failed as i32);
    assert_eq!(
        done.error_action,
        jobs::JobErrorAction::UpdateCredentials as i32
    );
    assert!(
        done.error_message.contains("update your credentials"),
        "{}",
        done.error_message
    );
    assert!(world.server.submissions().is_empty());
    world.stop().await;
}

#[tokio::test]
async fn an_executor_error_shows_the_workflows_stderr() {
    let world = WesWorld::start(wes::Config::default()).await;
    world.server.script_next_run(Script::ExecutorError {
        stderr: "INFO starting beagle\nException: the reference panel has no sites on chr21\n"
            .into(),
    });
    let job = world.submit().await;
    let done = world.finish(&job).await;
    assert_eq!(done.status, jobs::JobStatus::Failed as i32);
    assert!(
        done.error_message
            .contains("EXECUTOR_ERROR (exit code 1): INFO starting beagle\nException: the reference panel has no sites on chr21"),
        "{}",
        done.error_message
    );
    assert_eq!(world.server.submissions().len(), 1, "not retried");
    world.stop().await;
}

#[tokio::test]
async fn a_run_lost_to_a_system_error_is_submitted_again() {
    let world = WesWorld::start(wes::Config::default()).await;
    world.server.script_next_run(Script::SystemError);
    let job = world.submit().await;
    let done = world.finish(&job).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:#?}");
    let runs = world.server.run_ids();
    assert_eq!(runs.len(), 2, "one lost run, one that completed");
    assert_eq!(done.external_job_id, runs[1]);
    let logs = logs(world.channel(), &world.user, &job.id).await;
    assert!(
        logs.iter()
            .any(|l| l.contains("lost the run") && l.contains("submitting again")),
        "{logs:#?}"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_cancel_the_server_ignores_is_followed_and_said() {
    let world = WesWorld::start(wes::Config {
        cancel_is_noop: true,
        polls: wes::Polls {
            queued: 1,
            initializing: 1,
            running: 12,
            canceling: 0,
        },
        ..Default::default()
    })
    .await;
    let job = world.submit().await;
    // Cancel once the server has the run.
    support::watch_job_until(
        world.channel(),
        &world.user,
        &job.id,
        Duration::from_secs(30),
        "reach the server",
        |job| !job.external_job_id.is_empty(),
    )
    .await;
    JobServiceClient::new(world.channel())
        .cancel_job(with_token(
            jobs::CancelJobRequest { id: job.id.clone() },
            &world.user,
        ))
        .await
        .expect("cancel accepted");
    let done = world.finish(&job).await;
    assert_eq!(done.status, jobs::JobStatus::Cancelled as i32, "{done:#?}");
    let logs = logs(world.channel(), &world.user, &job.id).await;
    assert!(
        logs.iter()
            .any(|l| l.contains("has not stopped the run yet")),
        "{logs:#?}"
    );
    let history: Vec<String> = JobServiceClient::new(world.channel())
        .list_job_status_updates(with_token(
            jobs::ListJobStatusUpdatesRequest {
                job_id: job.id.clone(),
                ..Default::default()
            },
            &world.user,
        ))
        .await
        .unwrap()
        .into_inner()
        .status_updates
        .into_iter()
        .map(|u| u.message)
        .collect();
    let asked = history
        .iter()
        .position(|m| m == "the server was asked to cancel the job")
        .expect("the cancel request is in the history");
    assert!(
        history[asked..]
            .iter()
            .any(|m| m.contains("the run had already ended on the server (COMPLETE)")),
        "{history:#?}"
    );
    let cancels = world
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/cancel"))
        .count();
    assert_eq!(cancels, 1, "asked once");
    world.stop().await;
}

#[tokio::test]
async fn inputs_can_reach_the_server_as_signed_hub_links() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = WesWorld::start_with(
        wes::Config::default(),
        registry::WesInputDelivery::SignedUrl,
        |c| {
            c.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.files.public_base_url = Some(format!("http://127.0.0.1:{port}"));
        },
    )
    .await;
    let job = world.submit().await;
    let done = world.finish(&job).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:#?}");
    let sent = world.server.submissions();
    assert!(sent[0].attachments.is_empty(), "nothing attached");
    let fetched = world.server.fetches();
    assert_eq!(fetched.len(), 2, "{fetched:#?}");
    for fetch in &fetched {
        assert!(
            fetch
                .url
                .starts_with(&format!("http://127.0.0.1:{port}/api/downloads/")),
            "{}",
            fetch.url
        );
        assert_eq!(fetch.status, Some(200));
        assert!(fetch.size > 0);
    }
    world.stop().await;
}

#[tokio::test]
async fn a_multi_service_job_fans_out_to_cloudgene_and_wes() {
    let world = WesWorld::start(wes::Config::default()).await;
    let cloudgene = fip_emulators::cloudgene::Emulator::start(Default::default()).await;
    let admin = world.platform.user_token(&[Role::Admin]).await;
    let (michigan_service, michigan_panel) = crate::jobs::register(
        world.channel(),
        &admin,
        "emulated-cloudgene",
        cloudgene.base_url(),
        vec![GenomeBuild::Hg38 as i32],
        Vec::new(),
    )
    .await;
    support::store_credential(
        world.channel(),
        &world.user,
        michigan_service,
        &cloudgene.issue_token("wes-user"),
    )
    .await;
    let study = VcfSpec::new(25, 40)
        .chromosomes(["chr20"])
        .phased(true)
        .build()
        .bgzf();
    let file = support::upload(world.channel(), &world.user, "study.vcf.gz", &study).await;
    let submitted = support::submit_multi_service(
        world.channel(),
        &world.user,
        "cloudgene and wes",
        file,
        &[
            (michigan_service, michigan_panel),
            (world.service_id, world.panel_id),
        ],
    )
    .await;
    let parent = submitted.parent_job.unwrap();
    let done = world.finish(&parent).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:#?}");
    for child in &submitted.child_jobs {
        let child = world.finish(child).await;
        assert_eq!(
            child.status,
            jobs::JobStatus::Completed as i32,
            "{child:#?}"
        );
        let listed = results(world.channel(), &world.user, &child.id).await;
        assert_eq!(
            listed.qc_summary.map(|q| q.chromosomes.len()),
            Some(1),
            "{}",
            child.service_name
        );
    }
    assert_eq!(cloudgene.accepted_submissions(), 1);
    assert_eq!(world.server.submissions().len(), 1);
    cloudgene.stop().await;
    world.stop().await;
}
