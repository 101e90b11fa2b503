//! The web UI end to end in real Chromium: the platform (with the built UI
//! in `clients/web/dist`, see scripts/build-web) and the Cloudgene emulator
//! start here; `clients/web/e2e/journey.mjs` drives Debian's chromium
//! through a researcher's whole journey with playwright-core and saves
//! screenshots of each page to `clients/web/e2e/screenshots`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fip_emulators::cloudgene::{self, Emulator, Panel, Polls};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::GenomeBuild;
use fip_proto::registry::v1 as registry;

use crate::support::{self, TestPlatform};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

const SERVICE: &str = "H3Africa (emulated)";
/// A second service on the same emulator, where the user stores a token
/// the server refuses.
const SECOND_SERVICE: &str = "Michigan (emulated)";
const PANEL_A: &str = "H3Africa v6";
const PANEL_B: &str = "1000G deep";

#[tokio::test]
async fn a_researchers_journey_in_the_browser() {
    let root = repository();
    let dist = root.join("clients/web/dist");
    assert!(
        dist.join("index.html").is_file(),
        "the web UI is not built: run scripts/build-web (scripts/test does)"
    );
    let chromium = std::env::var("FIP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: scripts/install-test-tools installs Debian's chromium"
    );

    let platform = TestPlatform::start_with(|c| {
        c.gateway.web_dir = Some(dist.clone());
        c.jobs.poll_interval = Duration::from_millis(250);
        c.jobs.max_retry_interval = Duration::from_millis(500);
        c.external.request_timeout = Duration::from_secs(2);
    })
    .await;
    // Several polls per step, so that the page sees the progress move.
    let mut config = cloudgene::Config {
        polls: Polls {
            waiting: 2,
            per_step: 3,
            exporting: 2,
        },
        ..Default::default()
    };
    config.panels.push(
        Panel::new("1000g-deep", "1.0.0", "1000G deep (GRCh38/hg38)", "hg38")
            .populations(&[("afr", "AFR"), ("mixed", "Other/Mixed")]),
    );
    let server = Emulator::start(config).await;
    let admin = platform.user_token(&[Role::Admin]).await;
    register(&platform, &admin, server.base_url()).await;
    let accepted = server.issue_token("ada");
    let refused = server.issue_token("ada-old");
    server.revoke_token(&refused);

    let work = tempfile::tempdir().unwrap();
    let vcf = work.path().join("study.vcf.gz");
    std::fs::write(
        &vcf,
        VcfSpec::new(25, 60)
            .chromosomes(["20", "21"])
            .phased(true)
            .build()
            .bgzf(),
    )
    .unwrap();

    // About 2 MiB: long enough to watch and cancel on a throttled link.
    let large_vcf = work.path().join("large.vcf.gz");
    std::fs::write(
        &large_vcf,
        VcfSpec::new(25, 20_000)
            .chromosomes(["20"])
            .phased(true)
            .build()
            .bgzf(),
    )
    .unwrap();

    let started = Instant::now();
    let mut journey = tokio::process::Command::new("node")
        .arg(root.join("clients/web/e2e/journey.mjs"))
        .current_dir(root.join("clients/web"))
        .env("FIP_URL", platform.platform.gateway_url().unwrap())
        .env("FIP_VCF", &vcf)
        .env("FIP_LARGE_VCF", &large_vcf)
        .env("FIP_REMOTE_TOKEN", &accepted)
        .env("FIP_REFUSED_TOKEN", &refused)
        .env("FIP_SERVICE_NAME", SERVICE)
        .env("FIP_SECOND_SERVICE_NAME", SECOND_SERVICE)
        .env("FIP_PANELS", format!("{PANEL_A}|{PANEL_B}"))
        .env("FIP_SCREENSHOTS", root.join("clients/web/e2e/screenshots"))
        .env("FIP_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the journey (Node.js and `npm ci` in clients/web)");
    let status = tokio::time::timeout(Duration::from_secs(300), journey.wait())
        .await
        .expect("the journey ends within 5 minutes")
        .unwrap();
    println!("browser journey: {:.1} s", started.elapsed().as_secs_f64());
    assert!(status.success(), "the browser journey failed: {status}");

    // What the browser did reached the server as the user's own.
    let submissions = server.submissions();
    assert!(
        submissions.iter().filter(|s| s.username == "ada").count() >= 2,
        "both targets of the multi-service job were submitted with ada's token"
    );
    server.stop().await;
    platform.stop().await;
}

/// The emulated service with two hg38 panels, and a second one with one.
async fn register(platform: &TestPlatform, admin: &str, base_url: &str) {
    let population = |id: &str, name: &str| registry::Population {
        id: id.into(),
        name: name.into(),
        ..Default::default()
    };
    let panel = |slug: &str, name: &str| registry::ReferencePanel {
        slug: slug.into(),
        name: name.into(),
        build: GenomeBuild::Hg38 as i32,
        populations: vec![population("afr", "AFR"), population("mixed", "Other/Mixed")],
        default_population: "mixed".into(),
        is_active: true,
        ..Default::default()
    };
    let service = |name: &str, slug: &str, country: &str| registry::ImputationService {
        name: name.into(),
        slug: slug.into(),
        api_type: registry::ApiType::Michigan as i32,
        base_url: base_url.to_string(),
        description: "The Cloudgene emulator of the tests".into(),
        location_country: country.into(),
        supported_builds: vec![GenomeBuild::Hg38 as i32],
        is_active: true,
        ..Default::default()
    };
    let (service_id, _) = support::register_service(
        platform.channel.clone(),
        admin,
        service(SERVICE, "h3africa-emulated", "South Africa"),
        panel("apps@h3africa-v6hc-s@1.0.0", PANEL_A),
    )
    .await;
    support::register_service(
        platform.channel.clone(),
        admin,
        service(SECOND_SERVICE, "michigan-emulated", "United States"),
        panel("apps@h3africa-v6hc-s@1.0.0", PANEL_A),
    )
    .await;
    registry::registry_service_client::RegistryServiceClient::new(platform.channel.clone())
        .create_reference_panel(with_token(
            registry::CreateReferencePanelRequest {
                service_id,
                reference_panel: Some(panel("apps@1000g-deep@1.0.0", PANEL_B)),
            },
            admin,
        ))
        .await
        .expect("second panel registered");
}

/// Measures the jobs table with 1,000 jobs (see clients/web/e2e/jobs-table.mjs):
/// `cargo test -p fip-tests --test e2e thousand -- --ignored --nocapture`.
/// It prints figures and checks only that every page is reachable.
#[tokio::test]
#[ignore = "a measurement: run it by name"]
async fn the_jobs_table_with_a_thousand_jobs() {
    use fip_proto::common::v1::Phasing;
    use fip_proto::jobs::v1 as jobs;
    const JOBS: usize = 1000;
    let root = repository();
    let dist = root.join("clients/web/dist");
    assert!(
        dist.join("index.html").is_file(),
        "run scripts/build-web first"
    );
    let platform = TestPlatform::start_with(|c| {
        c.gateway.web_dir = Some(dist.clone());
        // The seeding submits a thousand jobs as fast as it can.
        let plenty = fip_kit::config::RateQuota {
            burst: 100_000,
            per_second: 100_000.0,
        };
        c.gateway.rate_limit_per_user = plenty;
        c.gateway.rate_limit_per_address = plenty;
    })
    .await;
    let server = Emulator::start(cloudgene::Config {
        max_jobs_per_user: JOBS + 10,
        ..Default::default()
    })
    .await;
    let admin = platform.user_token(&[Role::Admin]).await;
    register(&platform, &admin, server.base_url()).await;
    let token = support::sign_up(platform.channel.clone(), "tara").await;
    let services =
        registry::registry_service_client::RegistryServiceClient::new(platform.channel.clone())
            .list_reference_panels(with_token(
                registry::ListReferencePanelsRequest::default(),
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .reference_panels;
    let panel = services.iter().find(|p| p.name == PANEL_A).unwrap();
    support::store_credential(
        platform.channel.clone(),
        &token,
        panel.service_id,
        &server.issue_token("tara"),
    )
    .await;
    let vcf = VcfSpec::new(25, 20).chromosomes(["20"]).build().bgzf();
    let file = support::upload(platform.channel.clone(), &token, "study.vcf.gz", &vcf).await;
    let started = Instant::now();
    let mut client = jobs::job_service_client::JobServiceClient::new(platform.channel.clone());
    for i in 0..JOBS {
        client
            .submit_job(with_token(
                jobs::SubmitJobRequest {
                    name: format!("job {i:04}"),
                    service_id: panel.service_id,
                    reference_panel_id: panel.id,
                    build: GenomeBuild::Hg38 as i32,
                    phasing: Phasing::Eagle as i32,
                    input_file_id: file.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("submitted");
    }
    println!(
        "jobs table: {JOBS} jobs submitted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = tokio::process::Command::new("node")
        .arg(root.join("clients/web/e2e/jobs-table.mjs"))
        .current_dir(root.join("clients/web"))
        .env("FIP_URL", platform.platform.gateway_url().unwrap())
        .env("FIP_USERNAME", "tara")
        .env("FIP_PASSWORD", "tara-passphrase")
        .env("FIP_JOBS", JOBS.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "the jobs table measurement failed");
    server.stop().await;
    platform.stop().await;
}
