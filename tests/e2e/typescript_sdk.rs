//! The TypeScript SDK (`@fip/client/node`) end to end: the platform and the
//! Cloudgene emulator start here, with one service and two panels registered
//! by an administrator; `npm test` in clients/typescript (its built `dist`,
//! see scripts/build-web) then runs the whole flow over gRPC on HTTP/2, from
//! sign-in to a verified download, and must exit 0.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fip_emulators::cloudgene::{self, Emulator, Panel};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::GenomeBuild;
use fip_proto::registry::v1 as registry;

use crate::support::{self, TestPlatform};

fn package() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .join("clients/typescript")
}

#[tokio::test]
async fn the_typescript_sdk_from_sign_in_to_a_verified_download() {
    let package = package();
    assert!(
        package.join("dist/node.js").is_file(),
        "the TypeScript SDK is not built: run scripts/build-web (scripts/test does)"
    );
    let platform = TestPlatform::start_with(|c| {
        c.jobs.poll_interval = Duration::from_millis(100);
        c.jobs.max_retry_interval = Duration::from_millis(500);
        c.external.request_timeout = Duration::from_secs(2);
    })
    .await;
    let mut config = cloudgene::Config::default();
    config.panels.push(
        Panel::new("1000g-deep", "1.0.0", "1000G deep (GRCh38/hg38)", "hg38")
            .populations(&[("mixed", "Other/Mixed")]),
    );
    let server = Emulator::start(config).await;
    let admin = platform.user_token(&[Role::Admin]).await;

    let panel = |slug: &str, name: &str| registry::ReferencePanel {
        slug: slug.into(),
        name: name.into(),
        build: GenomeBuild::Hg38 as i32,
        populations: vec![registry::Population {
            id: "mixed".into(),
            name: "Other/Mixed".into(),
            ..Default::default()
        }],
        default_population: "mixed".into(),
        is_active: true,
        ..Default::default()
    };
    let (service_id, _) = support::register_service(
        platform.channel.clone(),
        &admin,
        registry::ImputationService {
            name: "H3Africa (emulated)".into(),
            slug: "h3africa-emulated".into(),
            api_type: registry::ApiType::Michigan as i32,
            base_url: server.base_url().to_string(),
            supported_builds: vec![GenomeBuild::Hg38 as i32],
            is_active: true,
            ..Default::default()
        },
        panel("apps@h3africa-v6hc-s@1.0.0", "H3Africa v6"),
    )
    .await;
    let second_panel =
        registry::registry_service_client::RegistryServiceClient::new(platform.channel.clone())
            .create_reference_panel(with_token(
                registry::CreateReferencePanelRequest {
                    service_id,
                    reference_panel: Some(panel("apps@1000g-deep@1.0.0", "1000G deep")),
                },
                &admin,
            ))
            .await
            .expect("second panel registered")
            .into_inner()
            .reference_panel
            .expect("the panel")
            .id;
    support::sign_up(platform.channel.clone(), "grace").await;
    let remote_token = server.issue_token("grace");

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

    let output = tokio::process::Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&package)
        .env("FIP_URL", platform.platform.gateway_url().unwrap())
        .env("FIP_USERNAME", "grace")
        .env("FIP_PASSWORD", "grace-passphrase")
        .env("FIP_REMOTE_TOKEN", &remote_token)
        .env("FIP_SERVICE_SLUG", "h3africa-emulated")
        .env("FIP_SERVICE_ID", service_id.to_string())
        .env("FIP_PANEL_SLUG", "apps@h3africa-v6hc-s@1.0.0")
        .env("FIP_SECOND_PANEL_ID", second_panel.to_string())
        .env("FIP_VCF", &vcf)
        .env("FIP_WORK_DIR", work.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), output)
        .await
        .expect("the SDK's tests end within 4 minutes")
        .expect("npm runs the SDK's tests (Node.js >= 20)");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the TypeScript SDK's tests failed: {}",
        output.status
    );
    // What the SDK submitted reached the server with grace's own token.
    assert!(
        server
            .submissions()
            .iter()
            .filter(|s| s.username == "grace")
            .count()
            >= 2,
        "both targets were submitted with grace's token"
    );
    server.stop().await;
    platform.stop().await;
}
