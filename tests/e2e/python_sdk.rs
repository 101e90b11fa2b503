//! The Python SDK end to end: the platform and the Cloudgene emulator start
//! here, and the package's own pytest suite (clients/python/tests) runs in
//! tools/python/sdk-venv (scripts/install-test-tools) against the gateway,
//! from sign-in to a verified download. It runs once per scripts/test: on
//! the embedded defaults, not again on PostgreSQL and Redis.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fip_emulators::cloudgene::{self, Emulator};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Role;
use fip_proto::common::v1::GenomeBuild;
use fip_proto::registry::v1 as registry;

use crate::support::{self, TestPlatform};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

const TOKEN_TTL_SECONDS: u64 = 1;

#[tokio::test]
async fn the_python_sdk_from_sign_in_to_a_verified_download() {
    // scripts/test runs the suite twice, the second time on PostgreSQL and
    // Redis; the SDK sees only the gateway, so its flow runs once, on the
    // embedded defaults.
    if std::env::var_os("FIP_TEST_DATABASE_URL").is_some() {
        println!("python SDK suite: run on the embedded defaults only");
        return;
    }
    let root = repository();
    let python = root.join("tools/python/sdk-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/install-test-tools",
        python.display()
    );

    let platform = TestPlatform::start_with(|c| {
        c.jobs.poll_interval = Duration::from_millis(50);
        c.jobs.max_retry_interval = Duration::from_millis(200);
        c.external.request_timeout = Duration::from_secs(2);
        // Access tokens that expire within the run: every call of the flow
        // renews first, and the suite sees a token answered TOKEN_EXPIRED.
        c.auth.token_ttl = Duration::from_secs(TOKEN_TTL_SECONDS);
        c.auth.clock_leeway = Duration::ZERO;
    })
    .await;
    let server = Emulator::start(cloudgene::Config::default()).await;
    let admin = platform.user_token(&[Role::Admin]).await;
    let panel = registry::ReferencePanel {
        slug: "apps@h3africa-v6hc-s@1.0.0".into(),
        name: "H3Africa v6".into(),
        build: GenomeBuild::Hg38 as i32,
        populations: vec![registry::Population {
            id: "afr".into(),
            name: "AFR".into(),
            ..Default::default()
        }],
        default_population: "afr".into(),
        is_active: true,
        ..Default::default()
    };
    let service = |name: &str, slug: &str| registry::ImputationService {
        name: name.into(),
        slug: slug.into(),
        api_type: registry::ApiType::Michigan as i32,
        base_url: server.base_url().to_string(),
        description: "The Cloudgene emulator of the tests".into(),
        location_country: "South Africa".into(),
        supported_builds: vec![GenomeBuild::Hg38 as i32],
        is_active: true,
        ..Default::default()
    };
    let (first, first_panel) = support::register_service(
        platform.channel.clone(),
        &admin,
        service("H3Africa (emulated)", "h3africa-emulated"),
        panel.clone(),
    )
    .await;
    let (second, _) = support::register_service(
        platform.channel.clone(),
        &admin,
        service("Michigan (emulated)", "michigan-emulated"),
        panel,
    )
    .await;

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

    let started = Instant::now();
    let run = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "tests"])
        .current_dir(root.join("clients/python"))
        .env("FIP_URL", platform.platform.gateway_url().unwrap())
        .env("FIP_VCF", &vcf)
        .env("FIP_TOKEN_TTL_SECONDS", TOKEN_TTL_SECONDS.to_string())
        .env("FIP_WORK_DIR", work.path())
        .env("FIP_REMOTE_TOKEN", server.issue_token("ada"))
        .env("FIP_SERVICE_ID", first.to_string())
        .env("FIP_SERVICE_SLUG", "h3africa-emulated")
        .env("FIP_SECOND_SERVICE_SLUG", "michigan-emulated")
        .env("FIP_SECOND_SERVICE_ID", second.to_string())
        .env("FIP_PANEL_ID", first_panel.to_string())
        .env("FIP_PANEL_SLUG", "apps@h3africa-v6hc-s@1.0.0")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the SDK's suite ends within 5 minutes")
        .expect("the venv's python runs pytest");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    println!("python SDK suite: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        output.status.success(),
        "the Python SDK's suite failed: {}",
        output.status
    );

    // What the SDK did reached the emulated server with ada's own token.
    let submissions = server.submissions();
    assert!(
        submissions.iter().filter(|s| s.username == "ada").count() >= 3,
        "the single and both multi-service submissions reached the server as ada"
    );
    server.stop().await;
    platform.stop().await;
}
