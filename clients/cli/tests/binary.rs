//! The `fip` binary as an operator runs it: `fip server --dev` comes up,
//! prints where it serves, answers health checks, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn dev_server_starts_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fip"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("FIP_DATABASE_URL")
        .env_remove("FIP_REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fip starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let url = loop {
        let line = lines
            .next()
            .expect("fip printed its URLs before exiting")
            .unwrap();
        banner.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("gateway") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(banner[0].starts_with("fip is up in"), "{banner:?}");
    // The banner is printed once the gateway sees every service serving.
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let reply = health
        .check(HealthCheckRequest {
            service: "fip.jobs.v1.JobService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, ServingStatus::Serving as i32);
    assert!(dir.path().join("keys/user-token.pem").exists());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "fip exited with {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "fip stopped"), "{rest:?}");
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fip"))
        .args(["server", "--dev", "--data-dir"])
        .arg(dir.path())
        .env("FIP_AUTH__TOKEN_TTL", "forever")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.token_ttl"), "{stderr}");
    assert!(stderr.contains("FIP_AUTH__TOKEN_TTL"), "{stderr}");
}

/// The researcher's journey through the real binary, against a platform
/// started in this process and two emulated Cloudgene servers.
mod researcher {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::{Output, Stdio};
    use std::time::Duration;

    use fip::platform::{self, Selection};
    use fip_emulators::cloudgene::{self, Emulator, Step};
    use fip_emulators::fixtures::VcfSpec;
    use fip_proto::common::v1::GenomeBuild;
    use fip_proto::jobs::v1 as jobs;
    use fip_proto::registry::v1 as registry;
    use fip_proto::user::v1 as user;
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    use tonic::transport::Channel;

    const PANEL: &str = "apps@h3africa-v6hc-s@1.0.0";

    struct Cli {
        config_home: tempfile::TempDir,
        url: String,
    }

    impl Cli {
        /// Runs `fip ARGS` with `stdin`, the profiles in a temp dir.
        async fn run(&self, args: &[&str], stdin: &str) -> Output {
            self.run_with(args, stdin, &[]).await
        }

        /// Runs `fip ARGS` with these extra environment variables.
        async fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fip"))
                .args(args)
                .env("XDG_CONFIG_HOME", self.config_home.path())
                .env_remove("FIP_URL")
                .env_remove("FIP_TOKEN")
                .env_remove("FIP_PROFILE")
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("fip starts");
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin.as_bytes()).await.unwrap();
            drop(input);
            tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
                .await
                .expect("fip ends within two minutes")
                .unwrap()
        }

        async fn ok(&self, args: &[&str], stdin: &str) -> String {
            let output = self.run(args, stdin).await;
            assert_eq!(
                output.status.code(),
                Some(0),
                "fip {args:?}: {}",
                text(&output.stderr)
            );
            text(&output.stdout)
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
        fip_kit::testing::with_token(message, token)
    }

    async fn account(
        config: &fip_kit::config::Config,
        channel: Channel,
        name: &str,
        admin: bool,
    ) -> String {
        fip_user::admin::create_user(
            config,
            fip_user::accounts::Registration {
                username: name.into(),
                email: format!("{name}@example.org"),
                password: format!("{name}-passphrase"),
                first_name: "Test".into(),
                last_name: name.into(),
                ..Default::default()
            },
            admin,
        )
        .await
        .expect("account created");
        user::user_service_client::UserServiceClient::new(channel)
            .login(user::LoginRequest {
                username: name.into(),
                password: format!("{name}-passphrase"),
            })
            .await
            .expect("signs in")
            .into_inner()
            .access_token
    }

    async fn register(channel: Channel, admin: &str, slug: &str, server: &Emulator) {
        let mut client = registry::registry_service_client::RegistryServiceClient::new(channel);
        let service = client
            .create_service(with_token(
                registry::CreateServiceRequest {
                    service: Some(registry::ImputationService {
                        name: format!("Emulated {slug}"),
                        slug: slug.into(),
                        api_type: registry::ApiType::Michigan as i32,
                        base_url: server.base_url().to_string(),
                        supported_builds: vec![GenomeBuild::Hg38 as i32],
                        is_active: true,
                        ..Default::default()
                    }),
                },
                admin,
            ))
            .await
            .expect("service registered")
            .into_inner()
            .service
            .unwrap();
        client
            .create_reference_panel(with_token(
                registry::CreateReferencePanelRequest {
                    service_id: service.id,
                    reference_panel: Some(registry::ReferencePanel {
                        slug: PANEL.into(),
                        name: "H3Africa v6".into(),
                        build: GenomeBuild::Hg38 as i32,
                        is_active: true,
                        ..Default::default()
                    }),
                },
                admin,
            ))
            .await
            .expect("panel registered");
    }

    fn sha256_of(path: &Path) -> String {
        hex::encode(Sha256::digest(
            std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        ))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_researcher_signs_in_checks_submits_waits_and_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = fip_kit::testing::config(dir.path(), "cli");
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.jobs.poll_interval = Duration::from_millis(20);
        config.jobs.max_retry_interval = Duration::from_millis(200);
        let platform = platform::start(config, &Selection::all())
            .await
            .expect("platform starts");
        let url = platform.gateway_url().unwrap();
        let channel = Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let first = Emulator::start(cloudgene::Config::default()).await;
        let second = Emulator::start(cloudgene::Config::default()).await;
        let admin = account(&platform.config, channel.clone(), "admin", true).await;
        register(channel.clone(), &admin, "first", &first).await;
        register(channel.clone(), &admin, "second", &second).await;
        let ada = account(&platform.config, channel.clone(), "ada", false).await;
        let cli = Cli {
            config_home: tempfile::tempdir().unwrap(),
            url: url.clone(),
        };
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
        let vcf = vcf.to_str().unwrap();

        // Usage errors are 2; anything before signing in is 4.
        let usage = cli.run(&["submit", vcf], "").await;
        assert_eq!(usage.status.code(), Some(2), "{}", text(&usage.stderr));
        let bad_target = cli.run(&["submit", vcf, "--target", "first"], "").await;
        assert_eq!(
            bad_target.status.code(),
            Some(2),
            "{}",
            text(&bad_target.stderr)
        );
        let anonymous = cli.run(&["services"], "").await;
        assert_eq!(anonymous.status.code(), Some(4));
        assert!(
            text(&anonymous.stderr).contains("run `fip login`"),
            "{}",
            text(&anonymous.stderr)
        );
        let wrong = cli
            .run(
                &[
                    "login",
                    "--url",
                    &cli.url,
                    "--username",
                    "ada",
                    "--password-stdin",
                ],
                "nope\n",
            )
            .await;
        assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong.stderr));

        let said = cli
            .ok(
                &[
                    "login",
                    "--url",
                    &cli.url,
                    "--username",
                    "ada",
                    "--password-stdin",
                ],
                "ada-passphrase\n",
            )
            .await;
        assert!(said.contains("signed in"), "{said}");
        let fip_dir = cli.config_home.path().join("fip");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fip_dir), 0o700);
        assert_eq!(mode(&fip_dir.join("profiles.json")), 0o600);

        let services: serde_json::Value =
            serde_json::from_str(&cli.ok(&["services", "--json"], "").await).unwrap();
        let slugs: Vec<&str> = services["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["slug"].as_str().unwrap())
            .collect();
        assert!(
            slugs.contains(&"first") && slugs.contains(&"second"),
            "{slugs:?}"
        );
        let panels = cli.ok(&["panels", "--service", "first"], "").await;
        assert!(panels.contains(PANEL), "{panels}");

        // Without a credential the hub refuses, and says what to run.
        let target_one = format!("first:{PANEL}");
        let target_two = format!("second:{PANEL}");
        let missing = cli
            .run(
                &["submit", vcf, "--target", &target_one, "--phasing", "eagle"],
                "",
            )
            .await;
        assert_eq!(missing.status.code(), Some(4), "{}", text(&missing.stderr));
        assert!(
            text(&missing.stderr)
                .contains("no credential for Emulated first: run `fip credentials set first`"),
            "{}",
            text(&missing.stderr)
        );

        cli.ok(
            &[
                "credentials",
                "set",
                "first",
                "--token-stdin",
                "--label",
                "lab",
            ],
            &format!("{}\n", first.issue_token("ada")),
        )
        .await;
        cli.ok(
            &["credentials", "set", "second", "--token-stdin"],
            &format!("{}\n", second.issue_token("ada")),
        )
        .await;
        let tested = cli.ok(&["credentials", "test", "first"], "").await;
        assert!(tested.contains("accepts your token"), "{tested}");
        let listed = cli.ok(&["credentials", "list"], "").await;
        assert!(
            listed.contains("first") && listed.contains("second"),
            "{listed}"
        );

        // The local check: the worker's own findings, no upload.
        let checked = cli.ok(&["check", vcf, "--build", "hg38"], "").await;
        assert!(checked.contains("samples     25"), "{checked}");
        let not_vcf = work.path().join("notes.txt");
        std::fs::write(&not_vcf, "not a vcf\n").unwrap();
        let refused = cli
            .run(&["check", not_vcf.to_str().unwrap(), "--build", "hg38"], "")
            .await;
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));

        // Two targets, waited for and downloaded, every byte checked.
        let out = work.path().join("results");
        let submitted: serde_json::Value = serde_json::from_str(
            &cli.ok(
                &[
                    "--json",
                    "submit",
                    vcf,
                    "--target",
                    &target_one,
                    "--target",
                    &target_two,
                    "--build",
                    "hg38",
                    "--phasing",
                    "eagle",
                    "--name",
                    "two servers",
                    "--wait",
                    "--download",
                    out.to_str().unwrap(),
                ],
                "",
            )
            .await,
        )
        .unwrap();
        assert_eq!(submitted["job"]["status"], "completed", "{submitted}");
        let children = submitted["job"]["child_job_ids"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(children.len(), 2);
        let downloaded = submitted["downloaded"].as_array().unwrap();
        let mut jobs_client = jobs::job_service_client::JobServiceClient::new(channel.clone());
        let mut expected = 0;
        for child in &children {
            let child = child.as_str().unwrap();
            let results = jobs_client
                .list_job_results(with_token(
                    jobs::ListJobResultsRequest {
                        job_id: child.into(),
                    },
                    &ada,
                ))
                .await
                .unwrap()
                .into_inner();
            assert!(!results.files.is_empty(), "job {child} has results");
            for file in &results.files {
                expected += 1;
                let path = out.join(child).join(&file.name);
                assert_eq!(sha256_of(&path), file.sha256, "{}", path.display());
                assert_eq!(
                    std::fs::metadata(&path).unwrap().len(),
                    file.size_bytes as u64
                );
                assert!(
                    downloaded
                        .iter()
                        .any(|d| d["path"] == path.display().to_string()
                            && d["sha256"] == file.sha256),
                    "{downloaded:?}"
                );
            }
        }
        assert_eq!(downloaded.len(), expected);
        // The bytes are the emulator's imputation: each variant of every
        // downloaded dose file carries the R2 the emulator gives its position,
        // and all 25 samples are there.
        for child in &children {
            for chromosome in ["20", "21"] {
                let path = out
                    .join(child.as_str().unwrap())
                    .join(format!("chr{chromosome}.dose.vcf.gz"));
                let mut vcf = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap()),
                    &mut vcf,
                )
                .unwrap();
                let header = vcf.lines().find(|l| l.starts_with("#CHROM")).unwrap();
                assert_eq!(header.split('\t').count(), 9 + 25, "{header}");
                let mut variants = 0;
                for line in vcf.lines().filter(|l| !l.starts_with('#')) {
                    let fields: Vec<&str> = line.split('\t').collect();
                    let position: u64 = fields[1].parse().unwrap();
                    let r2 = format!("R2={:.5}", cloudgene::r2(position));
                    assert!(fields[7].split(';').any(|f| f == r2), "{line}");
                    variants += 1;
                }
                assert!(variants > 0, "{} has variants", path.display());
            }
        }
        assert_eq!(first.accepted_submissions(), 1);
        assert_eq!(second.accepted_submissions(), 1);

        // A partial file is resumed, not fetched again from the start.
        let child = children[0].as_str().unwrap();
        let some = std::fs::read_dir(out.join(child))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_file())
            .unwrap();
        let whole = std::fs::read(&some).unwrap();
        std::fs::remove_file(&some).unwrap();
        let partial = some.with_file_name(format!(
            "{}.part",
            some.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(&partial, &whole[..whole.len() / 2]).unwrap();
        cli.ok(
            &[
                "download",
                child,
                "--output",
                out.join(child).to_str().unwrap(),
            ],
            "",
        )
        .await;
        assert_eq!(std::fs::read(&some).unwrap(), whole);
        assert!(!partial.exists());
        // A corrupt partial file fails the check and is deleted.
        std::fs::remove_file(&some).unwrap();
        let mut corrupt = whole[..whole.len() / 2].to_vec();
        corrupt[0] ^= 0xff;
        std::fs::write(&partial, &corrupt).unwrap();
        let damaged = cli
            .run(
                &[
                    "download",
                    child,
                    "--output",
                    out.join(child).to_str().unwrap(),
                ],
                "",
            )
            .await;
        assert_eq!(damaged.status.code(), Some(1));
        assert!(
            text(&damaged.stderr).contains("SHA-256"),
            "{}",
            text(&damaged.stderr)
        );
        assert!(!partial.exists() && !some.exists());

        let listed = cli.ok(&["jobs", "--all"], "").await;
        assert!(listed.contains("two servers"), "{listed}");

        // A job the server fails ends the command with 3 and its message.
        first.script_next_job(cloudgene::Script::fail_at(
            Step::QualityControl,
            "Too many variants excluded.",
        ));
        let failed = cli
            .run(
                &[
                    "submit",
                    vcf,
                    "--target",
                    &target_one,
                    "--phasing",
                    "eagle",
                    "--wait",
                ],
                "",
            )
            .await;
        assert_eq!(failed.status.code(), Some(3), "{}", text(&failed.stderr));
        assert!(
            text(&failed.stderr).contains("Too many variants excluded."),
            "{}",
            text(&failed.stderr)
        );

        // The other job commands on the finished jobs.
        let parent = submitted["job"]["id"].as_str().unwrap();
        let status = cli.ok(&["status", parent], "").await;
        assert_eq!(status.matches("completed").count(), 3, "{status}");
        let watched = cli.ok(&["watch", parent], "").await;
        assert!(watched.contains("completed"), "{watched}");
        let logs = cli.ok(&["logs", child], "").await;
        assert!(logs.contains("Quality Control"), "{logs}");
        let results = cli.ok(&["results", child], "").await;
        assert!(results.contains("chr20.dose.vcf.gz"), "{results}");
        let not_cancellable = cli.run(&["cancel", child], "").await;
        assert_eq!(
            not_cancellable.status.code(),
            Some(1),
            "{}",
            text(&not_cancellable.stderr)
        );
        assert!(
            text(&not_cancellable.stderr).contains("fip status JOB"),
            "{}",
            text(&not_cancellable.stderr)
        );
        let notices: serde_json::Value =
            serde_json::from_str(&cli.ok(&["--json", "notifications"], "").await).unwrap();
        assert!(
            !notices["notifications"].as_array().unwrap().is_empty(),
            "{notices}"
        );
        let failed_id = {
            let listed: serde_json::Value =
                serde_json::from_str(&cli.ok(&["--json", "jobs", "--status", "failed"], "").await)
                    .unwrap();
            let list = listed["jobs"].as_array().unwrap();
            assert_eq!(list.len(), 1, "{listed}");
            list[0]["id"].as_str().unwrap().to_owned()
        };
        let rewatched = cli.run(&["watch", &failed_id], "").await;
        assert_eq!(
            rewatched.status.code(),
            Some(3),
            "{}",
            text(&rewatched.stderr)
        );

        // FIP_TOKEN and FIP_URL stand in for a profile.
        let elsewhere = Cli {
            config_home: tempfile::tempdir().unwrap(),
            url: url.clone(),
        };
        let scripted = elsewhere
            .run_with(
                &["jobs"],
                "",
                &[("FIP_URL", &elsewhere.url), ("FIP_TOKEN", &ada)],
            )
            .await;
        assert_eq!(
            scripted.status.code(),
            Some(0),
            "{}",
            text(&scripted.stderr)
        );
        assert!(text(&scripted.stdout).contains("two servers"));

        // An access token about to expire is renewed first, and the new
        // refresh token is saved (each works once: replaying the old one
        // would end the session, and the next command would fail).
        let profiles = fip_dir.join("profiles.json");
        let read = || -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(&profiles).unwrap()).unwrap()
        };
        for _ in 0..2 {
            let mut saved = read();
            let before = saved["profiles"]["default"]["refresh_token"]
                .as_str()
                .unwrap()
                .to_owned();
            saved["profiles"]["default"]["access_expires_at"] = 0.into();
            std::fs::write(&profiles, serde_json::to_vec(&saved).unwrap()).unwrap();
            cli.ok(&["services"], "").await;
            let after = read();
            let renewed = after["profiles"]["default"]["refresh_token"]
                .as_str()
                .unwrap();
            assert_ne!(renewed, before, "the session was renewed and saved");
            assert_eq!(mode(&profiles), 0o600);
        }
        // Two commands renewing at once share one renewal: neither replays
        // the other's spent refresh token.
        let mut saved = read();
        saved["profiles"]["default"]["access_expires_at"] = 0.into();
        std::fs::write(&profiles, serde_json::to_vec(&saved).unwrap()).unwrap();
        let (one, two) = tokio::join!(cli.run(&["services"], ""), cli.run(&["jobs"], ""));
        assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));
        assert_eq!(two.status.code(), Some(0), "{}", text(&two.stderr));
        cli.ok(&["services"], "").await;
        // A replayed refresh token ends the session: the CLI says to sign in.
        let stale = read()["profiles"]["default"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        user::user_service_client::UserServiceClient::new(channel.clone())
            .refresh_session(user::RefreshSessionRequest {
                refresh_token: stale.clone(),
            })
            .await
            .expect("the first use works");
        let mut saved = read();
        saved["profiles"]["default"]["access_expires_at"] = 0.into();
        std::fs::write(&profiles, serde_json::to_vec(&saved).unwrap()).unwrap();
        let ended = cli.run(&["services"], "").await;
        assert_eq!(ended.status.code(), Some(4), "{}", text(&ended.stderr));
        assert!(
            text(&ended.stderr).contains("run `fip login`"),
            "{}",
            text(&ended.stderr)
        );
        cli.ok(
            &["login", "--username", "ada", "--password-stdin"],
            "ada-passphrase\n",
        )
        .await;

        // Signing out ends the session on the hub too.
        cli.ok(&["logout"], "").await;
        let after = cli.run(&["jobs"], "").await;
        assert_eq!(after.status.code(), Some(4));

        first.stop().await;
        second.stop().await;
        let config = platform.config.clone();
        platform.stop().await.expect("clean stop");
        if let Some(url) = &config.database_url {
            fip_kit::db::drop_schemas_with_prefix(url, &config.database_schema_prefix)
                .await
                .unwrap();
        }
    }
}
