//! Benchmark: one worker following many in-flight jobs on a Cloudgene server.
//!
//! Runs the real `fip` binary (release build) as two processes — the jobs
//! service with its worker alone in one (the process measured), every other
//! service and the gateway in the other — against the Cloudgene emulator in
//! this process, submits `--jobs`
//! jobs that stay WAITING on the server, then measures poll rounds (every
//! job polled once more): their duration, the worker process's CPU time per
//! round, and its resident memory (VmRSS, VmHWM).
//!
//! ```sh
//! cargo build --release -p fip
//! cargo bench -p fip-jobs --bench worker -- --jobs 10000 --rounds 3
//! cargo bench -p fip-jobs --bench worker -- --jobs 200 --rounds 1   # smoke run
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fip_emulators::cloudgene::{self, Emulator};
use fip_emulators::fixtures::VcfSpec;
use fip_proto::common::v1::{GenomeBuild, Phasing};
use fip_proto::files::v1 as files;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::registry::v1 as registry;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::user::v1 as user;
use fip_proto::user::v1::credential_service_client::CredentialServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use futures::StreamExt;
use tonic::transport::Channel;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fip_binary() -> PathBuf {
    if let Ok(path) = std::env::var("FIP_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let release = PathBuf::from(&target).join("release/fip");
    if release.exists() {
        release
    } else {
        PathBuf::from(target).join("debug/fip")
    }
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// What a process uses: CPU seconds (utime + stime) and memory in MiB.
struct Usage {
    cpu: f64,
    /// VmRSS: resident memory, and its parts.
    rss: f64,
    anon: f64,
    file: f64,
    shmem: f64,
    /// VmHWM: peak resident memory.
    peak: f64,
}

fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    Usage {
        cpu: cpu / ticks,
        rss: kib("VmRSS:"),
        anon: kib("RssAnon:"),
        file: kib("RssFile:"),
        shmem: kib("RssShmem:"),
        peak: kib("VmHWM:"),
    }
}

struct Server {
    /// The jobs service and its worker, alone in a process (measured).
    worker: Child,
    /// Everything else (user, registry, files, notify, monitor, gateway).
    rest: Child,
    url: String,
}

impl Drop for Server {
    /// The processes end with the benchmark, whatever happens to it.
    fn drop(&mut self) {
        for child in [&mut self.worker, &mut self.rest] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(dir: &std::path::Path, poll_interval: &str) -> Server {
    let binary = fip_binary();
    let mut admin = Command::new(&binary)
        .args([
            "admin",
            "create-user",
            "--admin",
            "--username",
            "root",
            "--email",
            "root@example.org",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(dir)
        .env("FIP_AUTH__GENERATE_MISSING_KEYS", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the fip binary runs (cargo build --release -p fip)");
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(b"root-passphrase\n")
        .unwrap();
    assert!(admin.wait().unwrap().success());
    let names = ["user", "registry", "jobs", "files", "notify", "monitor"];
    let ports: Vec<(&str, u16)> = names.iter().map(|n| (*n, free_port())).collect();
    let mesh = |command: &mut Command| {
        for (name, port) in &ports {
            let upper = name.to_uppercase();
            command.env(
                format!("FIP_SERVICES__{upper}__LISTEN"),
                format!("127.0.0.1:{port}"),
            );
            command.env(
                format!("FIP_SERVICES__{upper}__URL"),
                format!("http://127.0.0.1:{port}"),
            );
        }
        command
            .arg("--data-dir")
            .arg(dir)
            .env("FIP_AUTH__GENERATE_MISSING_KEYS", "true")
            .env("FIP_JOBS__POLL_INTERVAL", poll_interval)
            .env("FIP_JOBS__MAX_CONCURRENT_CALLS", "32")
            .env("FIP_REGISTRY__SEED_CATALOG", "false")
            .env("FIP_REGISTRY__HEALTH_CHECK_INTERVAL", "0s")
            .env("FIP_REGISTRY__UNAVAILABLE_AFTER", "0s")
            .env("FIP_LOG_FILTER", "warn")
            // The load comes from one user on one address by design.
            .env("FIP_GATEWAY__RATE_LIMIT_PER_ADDRESS__BURST", "0")
            .env("FIP_GATEWAY__RATE_LIMIT_PER_USER__BURST", "0")
            .env_remove("FIP_DATABASE_URL")
            .env_remove("FIP_REDIS_URL")
            .stdout(Stdio::piped());
    };
    let mut rest = Command::new(&binary);
    rest.args([
        "server",
        "--services",
        "user,registry,files,notify,monitor,gateway",
        "--listen",
        "127.0.0.1:0",
    ]);
    mesh(&mut rest);
    rest.stderr(std::fs::File::create(dir.join("rest.log")).unwrap());
    let mut rest = rest.spawn().unwrap();
    // The user service creates the token keys the worker's process reads.
    let public_key = dir.join("keys/user-token.pub.pem");
    let waited = Instant::now();
    while !public_key.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "keys were not created"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut worker = Command::new(&binary);
    worker.args(["server", "--services", "jobs"]);
    mesh(&mut worker);
    worker.stderr(std::fs::File::create(dir.join("worker.log")).unwrap());
    let mut worker = worker.spawn().unwrap();
    let mut lines = BufReader::new(rest.stdout.take().unwrap()).lines();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "fip stopped before printing its urls: {}\nworker: {}",
                std::fs::read_to_string(dir.join("rest.log")).unwrap_or_default(),
                std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default()
            );
        };
        if let Some(found) = line.trim().strip_prefix("gateway") {
            break found.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let worker_out = worker.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(worker_out).lines() {});
    Server { worker, rest, url }
}

#[tokio::main]
async fn main() {
    let count = arg("--jobs", 10_000);
    let rounds = arg("--rounds", 3);
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(cloudgene::Config {
        max_jobs_per_user: count + 10,
        polls: cloudgene::Polls {
            waiting: u32::MAX / 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let server = start_server(dir.path(), "1s");
    let channel = Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut users = UserServiceClient::new(channel.clone());
    let admin = users
        .login(user::LoginRequest {
            username: "root".into(),
            password: "root-passphrase".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut registry = RegistryServiceClient::new(channel.clone());
    let service = registry
        .create_service(with_token(
            registry::CreateServiceRequest {
                service: Some(registry::ImputationService {
                    name: "Bench server".into(),
                    slug: "bench".into(),
                    api_type: registry::ApiType::Michigan as i32,
                    base_url: emulator.base_url().to_string(),
                    supported_builds: vec![GenomeBuild::Hg38 as i32],
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    let panel = registry
        .create_reference_panel(with_token(
            registry::CreateReferencePanelRequest {
                service_id: service.id,
                reference_panel: Some(registry::ReferencePanel {
                    slug: "apps@h3africa-v6hc-s@1.0.0".into(),
                    name: "H3Africa v6".into(),
                    build: GenomeBuild::Hg38 as i32,
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panel
        .unwrap();
    users
        .register(user::RegisterRequest {
            username: "bench".into(),
            email: "bench@example.org".into(),
            password: "bench-passphrase".into(),
            first_name: "Bench".into(),
            last_name: "Mark".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let token = users
        .login(user::LoginRequest {
            username: "bench".into(),
            password: "bench-passphrase".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    CredentialServiceClient::new(channel.clone())
        .put_service_credential(with_token(
            user::PutServiceCredentialRequest {
                service_id: service.id,
                api_token: emulator.issue_token("bench"),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    let vcf = VcfSpec::new(25, 40)
        .chromosomes(["20"])
        .phased(true)
        .build()
        .bgzf();
    let upload = vec![
        files::UploadFileRequest {
            data: Some(files::upload_file_request::Data::Metadata(
                files::UploadFileMetadata {
                    name: "bench.vcf.gz".into(),
                    ..Default::default()
                },
            )),
        },
        files::UploadFileRequest {
            data: Some(files::upload_file_request::Data::Chunk(vcf.into())),
        },
    ];
    let file = FileServiceClient::new(channel.clone())
        .upload_file(with_token(tokio_stream::iter(upload), &token))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap()
        .id;

    let started = Instant::now();
    let submits = futures::stream::iter(0..count).map(|i| {
        let mut client = JobServiceClient::new(channel.clone());
        let request = jobs::SubmitJobRequest {
            name: format!("bench {i}"),
            service_id: service.id,
            reference_panel_id: panel.id,
            build: GenomeBuild::Hg38 as i32,
            phasing: Phasing::Eagle as i32,
            input_file_id: file.clone(),
            ..Default::default()
        };
        let token = token.clone();
        async move {
            client
                .submit_job(with_token(request, &token))
                .await
                .map(|_| ())
        }
    });
    let failures = submits
        .buffer_unordered(16)
        .filter(|r| futures::future::ready(r.is_err()))
        .count()
        .await;
    assert_eq!(failures, 0, "every submit is accepted");
    println!(
        "submitted {count} jobs through the API in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Wait until the server has every job (the worker prepared and submitted them).
    let prepare = Instant::now();
    while emulator.jobs().len() < count {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if prepare.elapsed() > Duration::from_secs(3600) {
            panic!(
                "only {} of {count} jobs reached the server",
                emulator.jobs().len()
            );
        }
    }
    println!(
        "the worker prepared and submitted {count} jobs in {:.1} s",
        prepare.elapsed().as_secs_f64()
    );

    let pid = server.worker.id();
    let min_polls = || emulator.jobs().iter().map(|j| j.polls).min().unwrap_or(0);
    let mut base = min_polls();
    for round in 1..=rounds {
        let before = usage(pid);
        let start = Instant::now();
        while min_polls() <= base {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        base = min_polls();
        let after = usage(pid);
        println!(
            "round {round}: every job polled again in {:.2} s; worker CPU {:.2} s; \
             RSS {:.0} MiB (anon {:.0}, file {:.0}, shmem {:.0}; peak {:.0} MiB)",
            start.elapsed().as_secs_f64(),
            after.cpu - before.cpu,
            after.rss,
            after.anon,
            after.file,
            after.shmem,
            after.peak
        );
    }
    let requests = emulator.requests().len();
    println!("requests seen by the server: {requests}");
    drop(server);
    emulator.stop().await;
}
