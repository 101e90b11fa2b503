//! Gateway overhead under load, on loopback.
//!
//! Three processes: the services (user, registry, files and jobs, with an
//! emulated Cloudgene server, one user and one submitted job), the gateway
//! in front of them, and this one generating load (the same binary
//! re-executed with a role). For a fixed time and concurrency it reads the
//! job (authenticated):
//!
//! 1. as REST through the gateway (`GET /api/jobs/{id}`, HTTP/1.1 keep-alive),
//! 2. as gRPC through the gateway (`JobService/GetJob`, HTTP/2),
//! 3. as gRPC directly to the jobs service (the baseline),
//!
//! and prints throughput, p50 and p99 latency, throughput as a ratio to the
//! baseline, and the gateway's peak resident memory under load.
//!
//! The three paths take turns in four rounds, so that other load on the
//! machine weighs on each alike.
//!
//! Then it uploads a file of `FIP_BENCH_UPLOAD_MIB` MiB (default 1024; 0
//! skips it) as one multipart `POST /api/files/upload` through the gateway,
//! streamed from disk, and prints the throughput and the gateway's peak
//! resident memory meanwhile (goal: under 64 MiB).
//!
//! `cargo bench -p fip-gateway --bench gateway` (defaults: 8 s per path,
//! 32 concurrent callers; `FIP_BENCH_SECONDS`, `FIP_BENCH_CONCURRENCY`,
//! `FIP_BENCH_UPLOAD_MIB`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fip_emulators::cloudgene::{self, Emulator};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Keys;
use fip_kit::config::{Config, RateQuota};
use fip_kit::events::Bus;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{self, Context};
use fip_kit::testing::with_token;
use fip_proto::common::v1::GenomeBuild;
use fip_proto::files::v1 as files;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use fip_proto::jobs::v1 as jobs;
use fip_proto::jobs::v1::GetJobRequest;
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::registry::v1 as registry;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::user::v1::credential_service_client::CredentialServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use fip_proto::user::v1::{
    GetCurrentUserRequest, LoginRequest, PutServiceCredentialRequest, RegisterRequest,
};
use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

fn config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.auth.generate_missing_keys = true;
    // Only the emulated server: nothing leaves the machine.
    config.registry.seed_catalog = false;
    config.registry.health_check_interval = Duration::ZERO;
    config.registry.unavailable_after = Duration::ZERO;
    // The limits stay on (their cost is part of the measure) but never bite.
    let unlimited = RateQuota {
        burst: u32::MAX,
        per_second: 1e9,
    };
    config.gateway.rate_limit_per_address = unlimited;
    config.gateway.rate_limit_per_user = unlimited;
    config
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.iter().position(|a| a == "--role") {
        Some(i) => runtime.block_on(serve_role(&args[i + 1], &args[i + 2], args.get(i + 3))),
        // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
        None => runtime.block_on(drive()),
    }
}

/// A child: serves one part, prints what the driver needs, stops when
/// stdin closes.
async fn serve_role(role: &str, data_dir: &str, urls: Option<&String>) -> anyhow::Result<()> {
    let config = Arc::new(config(Path::new(data_dir)));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        stop.cancel();
    });
    match role {
        "services" => services(config, shutdown).await,
        "gateway" => {
            let urls = urls.expect("the gateway role needs the services' URLs");
            let peers = Peers::new(urls.split(',').map(|pair| {
                let (name, url) = pair.split_once('=').expect("name=url");
                (name.parse().expect("a service name"), url.to_string())
            }))?;
            let keys = Keys::load(&config, false)?;
            let gateway = fip_gateway::Gateway::new(config, &keys, peers)?;
            let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            println!("ready {}", listener.local_addr()?);
            gateway.serve(listener, shutdown).await
        }
        other => anyhow::bail!("unknown role {other}"),
    }
}

/// The services behind the gateway, with an emulated imputation server,
/// one researcher and one job; prints `ready <urls> <token> <job id>`.
async fn services(config: Arc<Config>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let keys = Keys::load(&config, true)?;
    let names = [
        ServiceName::User,
        ServiceName::Registry,
        ServiceName::Files,
        ServiceName::Jobs,
    ];
    let mut listeners = Vec::new();
    for name in names {
        listeners.push((
            name,
            serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?,
        ));
    }
    let urls: Vec<(ServiceName, String)> = listeners
        .iter()
        .map(|(name, l)| Ok((*name, format!("http://{}", l.local_addr()?))))
        .collect::<anyhow::Result<_>>()?;
    let peers = Peers::new(urls.clone())?;
    let bus = Bus::local();
    let mut tasks = Vec::new();
    for (name, listener) in listeners {
        let ctx = Context::new(
            name,
            config.clone(),
            keys.clone(),
            peers.clone(),
            bus.clone(),
            shutdown.clone(),
        )?;
        let hosted = match name {
            ServiceName::User => fip_user::start(&ctx).await?,
            ServiceName::Registry => fip_registry::start(&ctx).await?,
            ServiceName::Files => fip_files::start(&ctx).await?,
            _ => fip_jobs::start(&ctx).await?,
        };
        let auth = ctx.authenticator_for(&hosted);
        tasks.push(tokio::spawn(serve::serve(
            listener,
            hosted,
            auth,
            shutdown.clone(),
        )));
    }
    let emulator = Emulator::start(cloudgene::Config::default()).await;
    let url = |name: ServiceName| peers.url(name).expect("started").to_string();
    let (token, job) = fixture_job(&config, &url, &emulator).await?;
    let list = urls
        .iter()
        .map(|(name, url)| format!("{name}={url}"))
        .collect::<Vec<_>>()
        .join(",");
    println!("ready {list} {token} {job}");
    for task in tasks {
        task.await??;
    }
    emulator.stop().await;
    Ok(())
}

/// Creates an administrator, as an operator would, and signs in.
async fn admin_token(config: &Config, user_url: &str) -> anyhow::Result<String> {
    let password = "Bench-Admin-Password-42";
    fip_user::admin::create_user(
        config,
        fip_user::accounts::Registration {
            username: "bench-admin".into(),
            email: "bench-admin@example.org".into(),
            password: password.into(),
            first_name: "Bench".into(),
            last_name: "Admin".into(),
            ..Default::default()
        },
        true,
    )
    .await?;
    Ok(UserServiceClient::new(channel(user_url))
        .login(LoginRequest {
            username: "bench-admin".into(),
            password: password.into(),
        })
        .await?
        .into_inner()
        .access_token)
}

/// Registers an emulated service and panel, a researcher with a
/// credential, uploads a VCF and submits it; returns the token and job id.
async fn fixture_job(
    config: &Config,
    url: &impl Fn(ServiceName) -> String,
    emulator: &Emulator,
) -> anyhow::Result<(String, String)> {
    let admin = admin_token(config, &url(ServiceName::User)).await?;
    let mut registry = RegistryServiceClient::new(channel(&url(ServiceName::Registry)));
    let service = registry
        .create_service(with_token(
            registry::CreateServiceRequest {
                service: Some(registry::ImputationService {
                    name: "Emulated".into(),
                    slug: "emulated".into(),
                    api_type: registry::ApiType::Michigan as i32,
                    base_url: emulator.base_url().to_string(),
                    supported_builds: vec![GenomeBuild::Hg38 as i32],
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?
        .into_inner()
        .service
        .expect("a service");
    let panel = registry
        .create_reference_panel(with_token(
            registry::CreateReferencePanelRequest {
                service_id: service.id,
                reference_panel: Some(registry::ReferencePanel {
                    slug: "apps@h3africa-v6hc-s@1.0.0".into(),
                    name: "H3Africa v6".into(),
                    build: GenomeBuild::Hg38 as i32,
                    populations: vec![registry::Population {
                        id: "afr".into(),
                        name: "AFR".into(),
                        ..Default::default()
                    }],
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?
        .into_inner()
        .reference_panel
        .expect("a panel");
    let mut users = UserServiceClient::new(channel(&url(ServiceName::User)));
    users
        .register(RegisterRequest {
            username: "bench".into(),
            email: "bench@example.org".into(),
            password: "Bench-Password-42".into(),
            first_name: "Bench".into(),
            last_name: "Mark".into(),
            ..Default::default()
        })
        .await?;
    let token = users
        .login(LoginRequest {
            username: "bench".into(),
            password: "Bench-Password-42".into(),
        })
        .await?
        .into_inner()
        .access_token;
    CredentialServiceClient::new(channel(&url(ServiceName::User)))
        .put_service_credential(with_token(
            PutServiceCredentialRequest {
                service_id: service.id,
                api_token: emulator.issue_token("bench"),
                ..Default::default()
            },
            &token,
        ))
        .await?;
    let vcf = VcfSpec::new(25, 60)
        .chromosomes(["20"])
        .phased(true)
        .build()
        .bgzf();
    let mut upload = vec![files::UploadFileRequest {
        data: Some(files::upload_file_request::Data::Metadata(
            files::UploadFileMetadata {
                name: "study.vcf.gz".into(),
                ..Default::default()
            },
        )),
    }];
    upload.push(files::UploadFileRequest {
        data: Some(files::upload_file_request::Data::Chunk(vcf.into())),
    });
    let file = FileServiceClient::new(channel(&url(ServiceName::Files)))
        .upload_file(with_token(tokio_stream::iter(upload), &token))
        .await?
        .into_inner()
        .file
        .expect("a file");
    let job = JobServiceClient::new(channel(&url(ServiceName::Jobs)))
        .submit_job(with_token(
            jobs::SubmitJobRequest {
                name: "bench".into(),
                service_id: service.id,
                reference_panel_id: panel.id,
                build: GenomeBuild::Hg38 as i32,
                population: "afr".into(),
                input_file_id: file.id,
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner()
        .job
        .expect("a job");
    Ok((token, job.id))
}

/// A child process and what it printed when ready.
struct Part {
    child: Child,
    ready: Vec<String>,
}

impl Part {
    fn spawn(role: &str, data_dir: &Path, urls: Option<&str>) -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--role", role, data_dir.to_str().unwrap()])
            .args(urls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let ready: Vec<String> = line
            .trim()
            .strip_prefix("ready ")
            .ok_or_else(|| anyhow::anyhow!("{role} did not start: {line:?}"))?
            .split(' ')
            .map(str::to_string)
            .collect();
        Ok(Self { child, ready })
    }

    fn url(&self) -> String {
        format!("http://{}", self.ready[0])
    }

    /// Resident memory (VmRSS) in KiB.
    fn rss_kib(&self) -> u64 {
        rss_of(self.child.id())
    }
}

/// Resident memory (VmRSS) of process `pid` in KiB; 0 when unknown.
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

impl Drop for Part {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One phase's figures.
struct Figures {
    name: &'static str,
    latencies: Vec<Duration>,
    errors: usize,
    seconds: f64,
    peak_gateway_rss_kib: u64,
}

impl Figures {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }

    /// Adds another round of the same phase.
    fn merge(&mut self, other: Figures) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.seconds += other.seconds;
        self.peak_gateway_rss_kib = self.peak_gateway_rss_kib.max(other.peak_gateway_rss_kib);
    }
}

/// Runs `concurrency` callers of `call` for `length`; samples the
/// gateway's memory meanwhile.
async fn phase<F, Fut>(
    name: &'static str,
    concurrency: usize,
    length: Duration,
    gateway: &Part,
    call: F,
) -> Figures
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    // Warm up connections and caches.
    for _ in 0..concurrency {
        call().await;
    }
    let start = Instant::now();
    let deadline = start + length;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let begun = Instant::now();
                if call().await {
                    latencies.push(begun.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut peak = 0;
    while Instant::now() < deadline {
        peak = peak.max(gateway.rss_kib());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("a caller finished");
        latencies.extend(l);
        errors += e;
    }
    Figures {
        name,
        latencies,
        errors,
        seconds: start.elapsed().as_secs_f64(),
        peak_gateway_rss_kib: peak.max(gateway.rss_kib()),
    }
}

/// Turns each path takes.
const ROUNDS: u32 = 4;

fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_string())
        .expect("a valid URL")
        .tcp_nodelay(true)
        .connect_lazy()
}

async fn drive() -> anyhow::Result<()> {
    let seconds: u64 = env_or("FIP_BENCH_SECONDS", 8);
    let concurrency: usize = env_or("FIP_BENCH_CONCURRENCY", 32);
    let length = Duration::from_secs(seconds);
    let dir = tempfile::tempdir()?;
    let services = Part::spawn("services", dir.path(), None)?;
    let [urls, token, job_id] = &services.ready[..] else {
        anyhow::bail!("the services printed {:?}", services.ready);
    };
    let gateway = Part::spawn("gateway", dir.path(), Some(urls))?;
    let idle_rss = gateway.rss_kib();
    let jobs_url = urls
        .split(',')
        .find_map(|p| p.strip_prefix("jobs="))
        .expect("the jobs service's URL")
        .to_string();

    let user_url = urls
        .split(',')
        .find_map(|p| p.strip_prefix("user="))
        .expect("the user service's URL")
        .to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    println!(
        "\n{concurrency} concurrent callers, {seconds} s per path in 4 rounds, loopback, {} CPUs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for call in [Call::Job(job_id.clone()), Call::User] {
        let (title, path, direct_url) = match &call {
            Call::Job(id) => ("GetJob", format!("/api/jobs/{id}"), &jobs_url),
            Call::User => ("GetCurrentUser", "/api/auth/user".to_string(), &user_url),
        };
        let rest = rest_caller(
            http.clone(),
            format!("{}{path}", gateway.url()),
            token.clone(),
        );
        let via = grpc_caller(channel(&gateway.url()), token.clone(), call.clone());
        let direct = grpc_caller(channel(direct_url), token.clone(), call.clone());
        // The three paths take turns, round after round, so that the load
        // of other processes on the machine falls on each alike.
        let mut figures: Vec<Figures> = Vec::new();
        for _ in 0..ROUNDS {
            let round = [
                phase(
                    "gRPC, direct to the service",
                    concurrency,
                    length / ROUNDS,
                    &gateway,
                    direct.clone(),
                )
                .await,
                phase(
                    "REST through the gateway",
                    concurrency,
                    length / ROUNDS,
                    &gateway,
                    rest.clone(),
                )
                .await,
                phase(
                    "gRPC through the gateway",
                    concurrency,
                    length / ROUNDS,
                    &gateway,
                    via.clone(),
                )
                .await,
            ];
            if figures.is_empty() {
                figures.extend(round);
            } else {
                for (total, part) in figures.iter_mut().zip(round) {
                    total.merge(part);
                }
            }
        }
        report(&format!("{title} (REST: GET {path})"), &figures);
    }
    println!("\ngateway RSS idle: {:.1} MiB", idle_rss as f64 / 1024.0);
    let upload_mib: u64 = env_or("FIP_BENCH_UPLOAD_MIB", 1024);
    if upload_mib > 0 {
        upload(&http, &gateway, token, dir.path(), upload_mib).await?;
    }
    drop(gateway);
    drop(services);
    Ok(())
}

/// One multipart upload of `mib` MiB through the gateway, streamed from
/// disk; prints its throughput and the gateway's peak memory meanwhile.
async fn upload(
    http: &reqwest::Client,
    gateway: &Part,
    token: &str,
    dir: &Path,
    mib: u64,
) -> anyhow::Result<()> {
    let path = dir.join("upload.vcf.gz");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut block = vec![0u8; 1 << 20];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..mib {
            for byte in block.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            file.write_all(&block)?;
        }
        file.flush()?;
    }
    let size = mib << 20;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::open(&path).await?,
        256 * 1024,
    ));
    let form = reqwest::multipart::Form::new().text("kind", "input").part(
        "file",
        reqwest::multipart::Part::stream_with_length(body, size)
            .file_name("upload.vcf.gz")
            .mime_str("application/gzip")?,
    );
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(gateway.rss_kib()));
    let done = CancellationToken::new();
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        let pid = gateway.child.id();
        tokio::spawn(async move {
            while !done.is_cancelled() {
                let rss = rss_of(pid);
                peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let answer = http
        .post(format!("{}/api/files/upload", gateway.url()))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = answer.status();
    let text = answer.text().await?;
    let seconds = started.elapsed().as_secs_f64();
    done.cancel();
    sampler.await?;
    anyhow::ensure!(status.is_success(), "the upload failed: {status} {text}");
    let stored: serde_json::Value = serde_json::from_str(&text)?;
    anyhow::ensure!(
        stored["size_bytes"].as_u64() == Some(size),
        "the stored size differs: {}",
        stored["size_bytes"]
    );
    println!(
        "\nmultipart upload of {mib} MiB through the gateway: {:.1} s, {:.0} MiB/s; \
         gateway RSS peak {:.1} MiB",
        seconds,
        mib as f64 / seconds,
        peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    );
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The measured call.
#[derive(Clone)]
enum Call {
    Job(String),
    User,
}

fn rest_caller(
    http: reqwest::Client,
    url: String,
    token: String,
) -> impl Fn() -> BoxFuture<'static, bool> + Clone + Send + 'static {
    move || {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        Box::pin(async move {
            match http.get(&url).bearer_auth(&token).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                other => {
                    eprintln!("call failed: {other:?}");
                    false
                }
            }
        })
    }
}

fn grpc_caller(
    channel: Channel,
    token: String,
    call: Call,
) -> impl Fn() -> BoxFuture<'static, bool> + Clone + Send + 'static {
    move || {
        let (channel, token, call) = (channel.clone(), token.clone(), call.clone());
        Box::pin(async move {
            let result = match call {
                Call::Job(id) => JobServiceClient::new(channel)
                    .get_job(with_token(GetJobRequest { id }, &token))
                    .await
                    .map(drop),
                Call::User => UserServiceClient::new(channel)
                    .get_current_user(with_token(GetCurrentUserRequest {}, &token))
                    .await
                    .map(drop),
            };
            match result {
                Ok(()) => true,
                Err(status) => {
                    eprintln!("call failed: {status:?}");
                    false
                }
            }
        })
    }
}

/// Prints one call's figures as a table.
fn report(title: &str, figures: &[Figures]) {
    let base = &figures[0];
    println!("\n{title}\n");
    println!("| path | req/s | p50 | p99 | throughput vs direct | errors | gateway RSS peak |");
    println!("|---|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} | {} | {} |",
            f.name,
            f.throughput(),
            f.quantile(0.50).as_secs_f64() * 1e3,
            f.quantile(0.99).as_secs_f64() * 1e3,
            f.throughput() / base.throughput(),
            f.errors,
            if std::ptr::eq(f, base) {
                "—".to_string()
            } else {
                format!("{:.1} MiB", f.peak_gateway_rss_kib as f64 / 1024.0)
            },
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
