//! Jobs end to end: the whole mesh against the Cloudgene emulator — upload,
//! submit with the user's own token, follow, fetch, decrypt, QC, notify.

use std::time::Duration;

use fip_emulators::cloudgene::{self, Emulator, Step};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::ApiError;
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::{ErrorReason, GenomeBuild, Phasing};
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::notify::v1::notification_service_client::NotificationServiceClient;
use fip_proto::registry::v1 as registry;
use fip_proto::user::v1 as user;
use fip_proto::user::v1::credential_service_client::CredentialServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{self, TestPlatform};

/// The mesh, an emulated server registered in it, and one signed-up user.
struct World {
    platform: TestPlatform,
    server: Emulator,
    service_id: i64,
    panel_id: i64,
}

struct Researcher {
    token: String,
    remote_token: String,
}

impl World {
    async fn start() -> Self {
        let platform = TestPlatform::start_with(|c| {
            c.jobs.poll_interval = Duration::from_millis(20);
            c.jobs.max_retry_interval = Duration::from_millis(200);
            c.external.request_timeout = Duration::from_secs(2);
        })
        .await;
        let server = Emulator::start(cloudgene::Config::default()).await;
        let admin = platform.user_token(&[Role::Admin]).await;
        let population = |id: &str, name: &str| registry::Population {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        };
        let (service_id, panel_id) = register(
            platform.channel.clone(),
            &admin,
            "emulated",
            server.base_url(),
            vec![GenomeBuild::Hg19 as i32, GenomeBuild::Hg38 as i32],
            vec![population("afr", "AFR"), population("mixed", "Other/Mixed")],
        )
        .await;
        Self {
            platform,
            server,
            service_id,
            panel_id,
        }
    }

    fn channel(&self) -> Channel {
        self.platform.channel.clone()
    }

    /// Registers `name`, logs in, and (with `credential`) stores a token
    /// the emulated server knows.
    async fn researcher(&self, name: &str, credential: bool) -> Researcher {
        let token = support::sign_up(self.channel(), name).await;
        let remote_token = self.server.issue_token(name);
        if credential {
            support::store_credential(self.channel(), &token, self.service_id, &remote_token).await;
        }
        Researcher {
            token,
            remote_token,
        }
    }

    /// Uploads a synthetic VCF as `who`; returns its file id.
    async fn upload(&self, who: &Researcher, vcf: &[u8]) -> String {
        support::upload(self.channel(), &who.token, "study.vcf.gz", vcf).await
    }

    fn submission(&self, file_id: &str) -> jobs::SubmitJobRequest {
        jobs::SubmitJobRequest {
            name: "my study".into(),
            service_id: self.service_id,
            reference_panel_id: self.panel_id,
            build: GenomeBuild::Hg38 as i32,
            phasing: Phasing::Eagle as i32,
            population: "afr".into(),
            input_file_id: file_id.into(),
            ..Default::default()
        }
    }

    async fn submit(
        &self,
        who: &Researcher,
        request: jobs::SubmitJobRequest,
    ) -> Result<jobs::Job, tonic::Status> {
        JobServiceClient::new(self.channel())
            .submit_job(with_token(request, &who.token))
            .await
            .map(|r| r.into_inner().job.unwrap())
    }

    /// Follows a job on its watch stream until it is final.
    async fn finish(&self, who: &Researcher, id: &str) -> jobs::Job {
        support::finish_job(self.channel(), &who.token, id, Duration::from_secs(60)).await
    }

    async fn stop(self) {
        self.server.stop().await;
        self.platform.stop().await;
    }
}

/// Registers a Michigan-type service at `base_url` with the H3Africa panel;
/// returns (service id, panel id).
pub(crate) async fn register(
    channel: Channel,
    admin: &str,
    slug: &str,
    base_url: &str,
    builds: Vec<i32>,
    populations: Vec<registry::Population>,
) -> (i64, i64) {
    support::register_service(
        channel,
        admin,
        registry::ImputationService {
            name: format!("Emulated {slug}"),
            slug: slug.into(),
            api_type: registry::ApiType::Michigan as i32,
            base_url: base_url.to_string(),
            supported_builds: builds,
            is_active: true,
            ..Default::default()
        },
        registry::ReferencePanel {
            slug: "apps@h3africa-v6hc-s@1.0.0".into(),
            name: "H3Africa v6".into(),
            build: GenomeBuild::Hg38 as i32,
            populations,
            is_active: true,
            ..Default::default()
        },
    )
    .await
}

fn study_spec() -> fip_emulators::fixtures::SyntheticVcf {
    VcfSpec::new(25, 60)
        .chromosomes(["20", "21"])
        .phased(true)
        .build()
}

fn study() -> Vec<u8> {
    study_spec().bgzf()
}

#[tokio::test]
async fn a_job_runs_to_decrypted_results_with_qc() {
    let world = World::start().await;
    let ada = world.researcher("ada", true).await;
    let file = world.upload(&ada, &study()).await;
    // The inbox's own stream, opened before the job exists, so the
    // completion notice (sent right after the job is saved) cannot be missed.
    let mut inbox =
        fip_proto::notify::v1::notification_service_client::NotificationServiceClient::new(
            world.channel(),
        )
        .watch_notifications(with_token(
            fip_proto::notify::v1::WatchNotificationsRequest::default(),
            &ada.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let job = world
        .submit(&ada, world.submission(&file))
        .await
        .expect("accepted");
    assert!(
        [
            jobs::JobStatus::Queued as i32,
            jobs::JobStatus::Running as i32
        ]
        .contains(&job.status),
        "{job:?}"
    );
    let done = world.finish(&ada, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    assert_eq!(done.progress_percentage, 100);
    assert!(!done.external_job_id.is_empty());
    let summary = done.input_summary.expect("the pre-flight summary is kept");
    assert_eq!(summary.sample_count, 25);
    assert_eq!(summary.chromosomes.len(), 2);

    // Sent once, with the user's own token, only the app's fields, one BGZF
    // file per chromosome, and a password.
    let submissions = world.server.submissions();
    assert_eq!(submissions.len(), 1);
    let sent = &submissions[0];
    assert_eq!(sent.username, "ada");
    assert_eq!(sent.field("refpanel"), Some("apps@h3africa-v6hc-s@1.0.0"));
    assert_eq!(sent.field("build"), Some("hg38"));
    assert!(
        sent.field("password")
            .is_some_and(|p| p.len() >= 16 && p.chars().all(|c| c.is_ascii_alphanumeric()))
    );
    assert_eq!(sent.files.len(), 2);
    let _ = &ada.remote_token;

    let results = JobServiceClient::new(world.channel())
        .list_job_results(with_token(
            jobs::ListJobResultsRequest {
                job_id: job.id.clone(),
            },
            &ada.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = results.files.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("dose.vcf.gz")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.contains("info")), "{names:?}");
    let qc = results.qc_summary.expect("qc per chromosome");
    assert_eq!(qc.chromosomes.len(), 2);
    // The emulator's R² is a known function of position: the figures must
    // be exactly those of the input's sites.
    let spec = study_spec();
    for chromosome in &qc.chromosomes {
        let bare = chromosome.chromosome.trim_start_matches("chr");
        let r2: Vec<f64> = spec
            .positions(bare)
            .into_iter()
            .map(cloudgene::r2)
            .collect();
        assert_eq!(
            chromosome.variant_count,
            r2.len() as i64,
            "{}",
            chromosome.chromosome
        );
        let mean = r2.iter().sum::<f64>() / r2.len() as f64;
        assert!(
            (chromosome.mean_r2 - mean).abs() < 1e-3,
            "{} vs {mean}",
            chromosome.mean_r2
        );
        assert_eq!(
            chromosome.count_r2_ge_0_3,
            r2.iter().filter(|v| **v >= 0.3).count() as i64
        );
        assert_eq!(
            chromosome.count_r2_ge_0_8,
            r2.iter().filter(|v| **v >= 0.8).count() as i64
        );
    }
    // Notified on the web.
    let notified = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = inbox.message().await.unwrap() {
            if message.notification.is_some_and(|n| {
                n.job_id == job.id
                    && n.r#type == fip_proto::notify::v1::NotificationType::JobCompleted as i32
            }) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(notified, "a completion notice reaches the user's inbox");
    let history = JobServiceClient::new(world.channel())
        .list_job_status_updates(with_token(
            jobs::ListJobStatusUpdatesRequest {
                job_id: job.id.clone(),
                ..Default::default()
            },
            &ada.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .status_updates;
    let statuses: Vec<i32> = history.iter().map(|u| u.status).collect();
    assert_eq!(statuses.first(), Some(&(jobs::JobStatus::Pending as i32)));
    assert_eq!(statuses.last(), Some(&(jobs::JobStatus::Completed as i32)));
    world.stop().await;
}

#[tokio::test]
async fn submitting_without_a_credential_says_where_to_set_it() {
    let world = World::start().await;
    let bob = world.researcher("bob", false).await;
    let file = world.upload(&bob, &study()).await;
    let error = world
        .submit(&bob, world.submission(&file))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    let details = ApiError::from_status(&error).unwrap();
    assert_eq!(details.reason, ErrorReason::CredentialsMissing);
    assert_eq!(details.metadata["service_id"], world.service_id.to_string());
    assert_eq!(world.server.accepted_submissions(), 0);
    world.stop().await;
}

#[tokio::test]
async fn a_refused_token_fails_the_job_with_update_your_credentials() {
    let world = World::start().await;
    let cyd = world.researcher("cyd", true).await;
    world.server.revoke_token(&cyd.remote_token);
    let file = world.upload(&cyd, &study()).await;
    let job = world.submit(&cyd, world.submission(&file)).await.unwrap();
    let done = world.finish(&cyd, &job.id).await;
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
    assert_eq!(
        done.error_action_url,
        format!("/settings/services/{}", world.service_id)
    );
    world.stop().await;
}

#[tokio::test]
async fn a_replaced_credential_is_the_one_the_next_job_uses() {
    let world = World::start().await;
    let eli = world.researcher("eli", true).await;
    let file = world.upload(&eli, &study()).await;
    // A first job: the worker looks the credential up and remembers it.
    let first = world.submit(&eli, world.submission(&file)).await.unwrap();
    let done = world.finish(&eli, &first.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32);
    // Eli makes a new token on the server (which retires the old one, as a
    // Cloudgene server has one API token per user) and stores it at once:
    // the next job must be sent with it, not with the one remembered.
    let fresh = world.server.issue_token("eli");
    support::store_credential(world.channel(), &eli.token, world.service_id, &fresh).await;
    let second = world.submit(&eli, world.submission(&file)).await.unwrap();
    let done = world.finish(&eli, &second.id).await;
    assert_eq!(
        done.status,
        jobs::JobStatus::Completed as i32,
        "{}",
        done.error_message
    );
    world.stop().await;
}

#[tokio::test]
async fn a_remote_failure_carries_the_servers_message() {
    let world = World::start().await;
    let dee = world.researcher("dee", true).await;
    world.server.script_next_job(cloudgene::Script::fail_at(
        Step::QualityControl,
        "Too many variants excluded.",
    ));
    let file = world.upload(&dee, &study()).await;
    let job = world.submit(&dee, world.submission(&file)).await.unwrap();
    let done = world.finish(&dee, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Failed as i32);
    assert!(
        done.error_message.contains("Too many variants excluded."),
        "{}",
        done.error_message
    );
    assert_eq!(done.error_action, jobs::JobErrorAction::FixInput as i32);
    world.stop().await;
}

#[tokio::test]
async fn a_flaky_server_is_retried_to_completion() {
    let world = World::start().await;
    let eve = world.researcher("eve", true).await;
    world.server.inject(
        cloudgene::Fault::next(3, cloudgene::Effect::Status(503)).on_path("/api/v2/jobs/job"),
    );
    let file = world.upload(&eve, &study()).await;
    let job = world.submit(&eve, world.submission(&file)).await.unwrap();
    let done = world.finish(&eve, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    assert_eq!(world.server.accepted_submissions(), 1);
    world.stop().await;
}

#[tokio::test]
async fn users_cannot_see_each_others_jobs() {
    let world = World::start().await;
    let fay = world.researcher("fay", true).await;
    let gil = world.researcher("gil", true).await;
    let file = world.upload(&fay, &study()).await;
    // Gil cannot submit Fay's file...
    let error = world
        .submit(&gil, world.submission(&file))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    // ...nor see her job.
    let job = world.submit(&fay, world.submission(&file)).await.unwrap();
    let mut client = JobServiceClient::new(world.channel());
    let error = client
        .get_job(with_token(
            jobs::GetJobRequest { id: job.id.clone() },
            &gil.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let listed = client
        .list_jobs(with_token(jobs::ListJobsRequest::default(), &gil.token))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.jobs.is_empty());
    world.finish(&fay, &job.id).await;
    // A page token is good for its own listing only: Fay's token for her
    // completed jobs cannot page through her failed ones, nor a search.
    let second = world.submit(&fay, world.submission(&file)).await.unwrap();
    world.finish(&fay, &second.id).await;
    let completed = |page_token: String| jobs::ListJobsRequest {
        page_size: 1,
        page_token,
        status: vec![jobs::JobStatus::Completed as i32],
        ..Default::default()
    };
    let first_page = client
        .list_jobs(with_token(completed(String::new()), &fay.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_page.jobs.len(), 1);
    assert!(!first_page.next_page_token.is_empty());
    client
        .list_jobs(with_token(
            completed(first_page.next_page_token.clone()),
            &fay.token,
        ))
        .await
        .expect("the token pages its own listing");
    for (request, token) in [
        (
            jobs::ListJobsRequest {
                page_token: first_page.next_page_token.clone(),
                status: vec![jobs::JobStatus::Failed as i32],
                ..Default::default()
            },
            &fay.token,
        ),
        (
            jobs::ListJobsRequest {
                page_token: first_page.next_page_token.clone(),
                query: "study".into(),
                ..completed(String::new())
            },
            &fay.token,
        ),
    ] {
        let error = client
            .list_jobs(with_token(request, token))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
    }
    world.stop().await;
}

#[tokio::test]
async fn a_submit_whose_answer_was_lost_is_found_not_repeated() {
    let world = World::start().await;
    let hal = world.researcher("hal", true).await;
    // The server creates the job, but its answer never arrives: the worker
    // times out, and must find the job by name rather than submit again.
    world.server.inject(
        cloudgene::Fault::next(1, cloudgene::Effect::HangAfterHandling)
            .on_path("/api/v2/jobs/submit")
            .on_method("POST"),
    );
    let file = world.upload(&hal, &study()).await;
    let job = world.submit(&hal, world.submission(&file)).await.unwrap();
    let done = world.finish(&hal, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    assert_eq!(world.server.jobs().len(), 1, "submitted exactly once");
    world.stop().await;
}

#[tokio::test]
async fn open_watches_end_when_their_session_ends() {
    let world = World::start().await;
    world.server.set_polls(cloudgene::Polls {
        waiting: 10_000,
        ..Default::default()
    });
    let jon = world.researcher("jon", true).await;
    let file = world.upload(&jon, &study()).await;
    let job = world.submit(&jon, world.submission(&file)).await.unwrap();
    let mut job_watch = JobServiceClient::new(world.channel())
        .watch_job(with_token(
            jobs::WatchJobRequest {
                id: job.id.clone(),
                include_logs: false,
            },
            &jon.token,
        ))
        .await
        .unwrap()
        .into_inner();
    job_watch
        .message()
        .await
        .unwrap()
        .expect("the first snapshot");
    let mut inbox_watch = NotificationServiceClient::new(world.channel())
        .watch_notifications(with_token(
            fip_proto::notify::v1::WatchNotificationsRequest {},
            &jon.token,
        ))
        .await
        .unwrap()
        .into_inner();
    // Jon signs out (everywhere): both streams end at once with
    // SESSION_ENDED, though the job goes on and his token has not expired.
    UserServiceClient::new(world.channel())
        .logout(with_token(
            user::LogoutRequest { all_sessions: true },
            &jon.token,
        ))
        .await
        .unwrap();
    let ended = |status: tonic::Status| {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(
            ApiError::from_status(&status).unwrap().reason,
            ErrorReason::SessionEnded
        );
    };
    let job_end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match job_watch.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the job watch ended without saying why"),
                Err(status) => break status,
            }
        }
    })
    .await
    .expect("the job watch ends promptly");
    ended(job_end);
    let inbox_end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match inbox_watch.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the inbox watch ended without saying why"),
                Err(status) => break status,
            }
        }
    })
    .await
    .expect("the inbox watch ends promptly");
    ended(inbox_end);
    world.server.set_polls(cloudgene::Polls::default());
    world.stop().await;
}

#[tokio::test]
async fn a_restarted_worker_resumes_without_submitting_twice() {
    let mut world = World::start().await;
    world.server.set_polls(cloudgene::Polls {
        waiting: 40,
        ..Default::default()
    });
    let ian = world.researcher("ian", true).await;
    let file = world.upload(&ian, &study()).await;
    let job = world.submit(&ian, world.submission(&file)).await.unwrap();
    // Wait (on the job's own stream) until the server has it, then kill the mesh.
    let mut stream = JobServiceClient::new(world.channel())
        .watch_job(with_token(
            jobs::WatchJobRequest {
                id: job.id.clone(),
                include_logs: false,
            },
            &ian.token,
        ))
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        if message.job.is_some_and(|j| !j.external_job_id.is_empty()) {
            break;
        }
    }
    drop(stream);
    world.platform = world.platform.restart().await;
    world.server.set_polls(cloudgene::Polls::default());
    let done = world.finish(&ian, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    assert_eq!(
        world.server.accepted_submissions(),
        1,
        "never submitted twice"
    );
    world.stop().await;
}

#[tokio::test]
async fn cancel_reaches_the_server() {
    let world = World::start().await;
    world.server.set_polls(cloudgene::Polls {
        waiting: 1000,
        ..Default::default()
    });
    let joy = world.researcher("joy", true).await;
    let file = world.upload(&joy, &study()).await;
    let job = world.submit(&joy, world.submission(&file)).await.unwrap();
    let mut stream = JobServiceClient::new(world.channel())
        .watch_job(with_token(
            jobs::WatchJobRequest {
                id: job.id.clone(),
                include_logs: false,
            },
            &joy.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut remote = String::new();
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(j) = message.job
            && !j.external_job_id.is_empty()
        {
            remote = j.external_job_id;
            break;
        }
    }
    drop(stream);
    JobServiceClient::new(world.channel())
        .cancel_job(with_token(
            jobs::CancelJobRequest { id: job.id.clone() },
            &joy.token,
        ))
        .await
        .unwrap();
    let done = world.finish(&joy, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Cancelled as i32);
    let state = world
        .server
        .job(&remote)
        .expect("the server has the job")
        .state;
    assert_eq!(state, 6, "the cancel reached the server");
    world.stop().await;
}

impl World {
    /// A second emulated server with one panel, registered in the mesh.
    async fn add_server(&self, slug: &str) -> (Emulator, i64, i64) {
        let server = Emulator::start(cloudgene::Config::default()).await;
        let admin = self.platform.user_token(&[Role::Admin]).await;
        let (service_id, panel_id) = register(
            self.channel(),
            &admin,
            slug,
            server.base_url(),
            vec![GenomeBuild::Hg38 as i32],
            Vec::new(),
        )
        .await;
        (server, service_id, panel_id)
    }
}

#[tokio::test]
async fn a_multi_service_job_completes_every_target_and_the_parent() {
    let world = World::start().await;
    let (second, second_service, second_panel) = world.add_server("second").await;
    let kim = world.researcher("kim", true).await;
    CredentialServiceClient::new(world.channel())
        .put_service_credential(with_token(
            user::PutServiceCredentialRequest {
                service_id: second_service,
                api_token: second.issue_token("kim"),
                ..Default::default()
            },
            &kim.token,
        ))
        .await
        .unwrap();
    let file = world.upload(&kim, &study()).await;
    let submitted = support::submit_multi_service(
        world.channel(),
        &kim.token,
        "two servers",
        file,
        &[
            (world.service_id, world.panel_id),
            (second_service, second_panel),
        ],
    )
    .await;
    let parent = submitted.parent_job.unwrap();
    assert_eq!(submitted.child_jobs.len(), 2);
    assert_eq!(parent.child_job_ids.len(), 2);
    let done = world.finish(&kim, &parent.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    assert_eq!(done.progress_percentage, 100);
    for child in &submitted.child_jobs {
        let child = JobServiceClient::new(world.channel())
            .get_job(with_token(
                jobs::GetJobRequest {
                    id: child.id.clone(),
                },
                &kim.token,
            ))
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        assert_eq!(child.status, jobs::JobStatus::Completed as i32);
        assert_eq!(child.parent_job_id, parent.id);
    }
    assert_eq!(world.server.accepted_submissions(), 1);
    assert_eq!(second.accepted_submissions(), 1);
    let stats = JobServiceClient::new(world.channel())
        .get_dashboard_stats(with_token(
            jobs::GetDashboardStatsRequest::default(),
            &kim.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.total_jobs, stats.completed_jobs),
        (1, 1),
        "the parent counts once"
    );
    second.stop().await;
    world.stop().await;
}

#[tokio::test]
async fn a_token_that_expires_mid_job_fails_it_with_update_your_credentials() {
    let world = World::start().await;
    world.server.set_polls(cloudgene::Polls {
        waiting: 1000,
        ..Default::default()
    });
    let lee = world.researcher("lee", true).await;
    let file = world.upload(&lee, &study()).await;
    let job = world.submit(&lee, world.submission(&file)).await.unwrap();
    let mut stream = JobServiceClient::new(world.channel())
        .watch_job(with_token(
            jobs::WatchJobRequest {
                id: job.id.clone(),
                include_logs: false,
            },
            &lee.token,
        ))
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        if message.job.is_some_and(|j| !j.external_job_id.is_empty()) {
            break;
        }
    }
    drop(stream);
    world.server.expire_token(&lee.remote_token);
    let done = world.finish(&lee, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Failed as i32);
    assert_eq!(
        done.error_action,
        jobs::JobErrorAction::UpdateCredentials as i32
    );
    // The credential is now marked unverified with the server's refusal.
    let credential = CredentialServiceClient::new(world.channel())
        .get_service_credential(with_token(
            user::GetServiceCredentialRequest {
                service_id: world.service_id,
            },
            &lee.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert!(!credential.is_verified);
    assert!(!credential.verification_error.is_empty());
    assert!(credential.last_used_at.is_some());
    world.stop().await;
}

#[tokio::test]
async fn jobs_survive_redis_losing_the_queue() {
    let Ok(url) = std::env::var("FIP_TEST_REDIS_URL") else {
        // Only the Redis-backed run has a queue that can be lost.
        return;
    };
    let world = World::start().await;
    let mia = world.researcher("mia", true).await;
    let file = world.upload(&mia, &study()).await;
    world.server.set_polls(cloudgene::Polls {
        waiting: 30,
        ..Default::default()
    });
    let first = world.submit(&mia, world.submission(&file)).await.unwrap();
    // Redis restarting without persistence loses the stream and its group.
    let stream = world.platform.platform.config.jobs.queue_stream.clone();
    drop_key(&url, &stream).await;
    world.server.set_polls(cloudgene::Polls::default());
    let mut request = world.submission(&file);
    request.name = "after the loss".into();
    let second = world.submit(&mia, request).await.unwrap();
    for id in [&first.id, &second.id] {
        let done = world.finish(&mia, id).await;
        assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    }
    assert_eq!(world.server.accepted_submissions(), 2);
    world.stop().await;
}

/// Deletes a key with a plain RESP exchange (no client library needed here).
async fn drop_key(url: &str, key: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(address)
        .await
        .expect("redis reachable");
    let command = format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len());
    socket.write_all(command.as_bytes()).await.unwrap();
    let mut reply = [0u8; 16];
    let n = socket.read(&mut reply).await.unwrap();
    assert!(
        reply[..n].starts_with(b":1"),
        "the queue existed: {:?}",
        String::from_utf8_lossy(&reply[..n])
    );
}

/// The job's results as listed, and the output files the files service
/// holds for it (as their owner lists them).
async fn results_and_rows(
    world: &World,
    who: &Researcher,
    job_id: &str,
) -> (
    jobs::ListJobResultsResponse,
    Vec<fip_proto::files::v1::File>,
) {
    use fip_proto::files::v1 as files;
    let results = JobServiceClient::new(world.channel())
        .list_job_results(with_token(
            jobs::ListJobResultsRequest {
                job_id: job_id.into(),
            },
            &who.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let rows = files::file_service_client::FileServiceClient::new(world.channel())
        .list_files(with_token(
            files::ListFilesRequest {
                page_size: 500,
                kind: files::FileKind::Output as i32,
                job_id: job_id.into(),
                ..Default::default()
            },
            &who.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .files;
    (results, rows)
}

/// Every listed result is one row of the files service, and no row is
/// left over: each result stored once.
fn assert_one_row_per_result(
    results: &jobs::ListJobResultsResponse,
    rows: &[fip_proto::files::v1::File],
) {
    let mut listed: Vec<&str> = results.files.iter().map(|f| f.file_id.as_str()).collect();
    listed.sort();
    let mut stored: Vec<&str> = rows.iter().map(|f| f.id.as_str()).collect();
    stored.sort();
    assert_eq!(listed, stored, "one file row per result, none left over");
}

/// How many answers of each status every result download got.
fn downloads(server: &Emulator) -> std::collections::BTreeMap<String, Vec<Option<u16>>> {
    let mut by_uri = std::collections::BTreeMap::<String, Vec<Option<u16>>>::new();
    for request in server.requests() {
        if request.uri.starts_with("/share/results") {
            by_uri.entry(request.uri).or_default().push(request.status);
        }
    }
    by_uri
}

#[tokio::test]
async fn a_restart_mid_fetch_resumes_and_stores_each_result_once() {
    let mut world = World::start().await;
    let kim = world.researcher("kim", true).await;
    // The first download is answered, the second hangs: the worker is
    // stopped with one output recorded and the next under way.
    world
        .server
        .inject(cloudgene::Fault::every(2, cloudgene::Effect::Hang).on_path("/share/results"));
    let file = world.upload(&kim, &study()).await;
    let job = world.submit(&kim, world.submission(&file)).await.unwrap();
    let fetching = support::watch_job_until(
        world.channel(),
        &kim.token,
        &job.id,
        Duration::from_secs(60),
        "fetch its first result",
        |j| j.progress_percentage > 90,
    )
    .await;
    assert_eq!(fetching.status, jobs::JobStatus::Running as i32);
    let (partial, _) = results_and_rows(&world, &kim, &job.id).await;
    assert!(!partial.complete, "listed as incomplete while fetching");
    assert!(!partial.files.is_empty());
    world.platform = world.platform.restart().await;
    world.server.clear_faults();

    let done = world.finish(&kim, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    let (results, rows) = results_and_rows(&world, &kim, &job.id).await;
    assert!(results.complete);
    assert!(results.files.len() >= 4, "{results:?}");
    assert_one_row_per_result(&results, &rows);
    // Resumed where it stopped: no output was downloaded twice.
    for (uri, answers) in downloads(&world.server) {
        let answered = answers.iter().filter(|s| **s == Some(200)).count();
        assert_eq!(answered, 1, "{uri}: {answers:?}");
    }
    world.stop().await;
}

#[tokio::test]
async fn a_flaky_result_server_ends_with_every_result_stored_once() {
    let world = World::start().await;
    let lea = world.researcher("lea", true).await;
    // Every other download fails. Starting over after each failure never
    // got past the second output; resuming gets through.
    world.server.inject(
        cloudgene::Fault::every(2, cloudgene::Effect::Status(503)).on_path("/share/results"),
    );
    let file = world.upload(&lea, &study()).await;
    let job = world.submit(&lea, world.submission(&file)).await.unwrap();
    let done = world.finish(&lea, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Completed as i32, "{done:?}");
    let (results, rows) = results_and_rows(&world, &lea, &job.id).await;
    assert!(results.complete);
    assert_one_row_per_result(&results, &rows);
    let downloads = downloads(&world.server);
    assert!(downloads.len() >= 2, "{downloads:?}");
    for (uri, answers) in downloads {
        let answered = answers.iter().filter(|s| **s == Some(200)).count();
        assert_eq!(answered, 1, "{uri}: {answers:?}");
    }
    world.stop().await;
}

#[tokio::test]
async fn a_result_server_that_keeps_failing_fails_the_job_and_keeps_no_part() {
    let world = World::start().await;
    let max = world.researcher("max", true).await;
    world
        .server
        .inject(cloudgene::Fault::every(2, cloudgene::Effect::Hang).on_path("/share/results"));
    let file = world.upload(&max, &study()).await;
    let job = world.submit(&max, world.submission(&file)).await.unwrap();
    // One output is stored; from then on every download fails.
    support::watch_job_until(
        world.channel(),
        &max.token,
        &job.id,
        Duration::from_secs(60),
        "fetch its first result",
        |j| j.progress_percentage > 90,
    )
    .await;
    let (partial, rows) = results_and_rows(&world, &max, &job.id).await;
    assert!(!partial.files.is_empty() && !rows.is_empty());
    let before = world.server.requests().len();
    world.server.clear_faults();
    world.server.inject(
        cloudgene::Fault::next(u32::MAX, cloudgene::Effect::Status(503)).on_path("/share/results"),
    );

    let done = world.finish(&max, &job.id).await;
    assert_eq!(done.status, jobs::JobStatus::Failed as i32, "{done:?}");
    assert_eq!(done.error_reason, ErrorReason::UpstreamFailed as i32);
    assert_eq!(done.error_action, jobs::JobErrorAction::RetryLater as i32);
    assert!(
        done.error_message.contains("could not be fetched")
            && done.error_message.contains("times in a row"),
        "{}",
        done.error_message
    );
    // A bounded number of attempts: the one that hung, then the budget.
    let attempts = world.server.requests()[before..]
        .iter()
        .filter(|r| r.uri.starts_with("/share/results"))
        .count();
    assert!((1..=6).contains(&attempts), "{attempts} attempts");
    // What had been stored of the results is gone with them.
    let (results, rows) = results_and_rows(&world, &max, &job.id).await;
    assert!(results.files.is_empty() && !results.complete, "{results:?}");
    assert!(rows.is_empty(), "{rows:?}");
    world.stop().await;
}
