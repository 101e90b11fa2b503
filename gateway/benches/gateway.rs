//! Gateway overhead under load, on loopback.
//!
//! Three processes: the user service, the gateway in front of it, and this
//! one generating load (the same binary re-executed with a role). For a
//! fixed time and concurrency it calls `GetCurrentUser` (authenticated):
//!
//! 1. as REST through the gateway (`GET /api/auth/user`, HTTP/1.1 keep-alive),
//! 2. as gRPC through the gateway (HTTP/2),
//! 3. as gRPC directly to the user service (the baseline),
//!
//! and prints throughput, p50 and p99 latency, each as a ratio to the
//! baseline, and the gateway's peak resident memory under load.
//!
//! `cargo bench -p fip-gateway --bench gateway` (defaults: 8 s per phase,
//! 32 concurrent callers; `FIP_BENCH_SECONDS`, `FIP_BENCH_CONCURRENCY`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fip_kit::auth::Keys;
use fip_kit::config::{Config, RateQuota};
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{self, Context};
use fip_kit::testing::with_token;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use fip_proto::user::v1::{GetCurrentUserRequest, LoginRequest, RegisterRequest};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

fn config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.auth.generate_missing_keys = true;
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

/// A child: serves one part, prints its address, stops when stdin closes.
async fn serve_role(role: &str, data_dir: &str, user_url: Option<&String>) -> anyhow::Result<()> {
    let config = Arc::new(config(Path::new(data_dir)));
    let keys = Keys::load(&config, role == "user")?;
    let shutdown = CancellationToken::new();
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        stop.cancel();
    });
    match role {
        "user" => {
            // The registry is named but never called by the measured RPC.
            let peers = Peers::new([(ServiceName::Registry, "http://127.0.0.1:9".to_string())])?;
            let ctx = Context::new(
                ServiceName::User,
                config.clone(),
                keys,
                peers,
                shutdown.clone(),
            )?;
            let hosted = fip_user::start(&ctx).await?;
            println!("ready {addr}");
            serve::serve(listener, hosted, ctx.verifier.clone(), shutdown).await
        }
        "gateway" => {
            let url = user_url.expect("the gateway role needs the user service's URL");
            let peers = Peers::new([(ServiceName::User, url.clone())])?;
            let gateway = fip_gateway::Gateway::new(config, &keys, peers)?;
            println!("ready {addr}");
            gateway.serve(listener, shutdown).await
        }
        other => anyhow::bail!("unknown role {other}"),
    }
}

/// A child process and its address.
struct Part {
    child: Child,
    addr: SocketAddr,
}

impl Part {
    fn spawn(role: &str, data_dir: &Path, user_url: Option<&str>) -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--role", role, data_dir.to_str().unwrap()])
            .args(user_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("ready ")
            .ok_or_else(|| anyhow::anyhow!("{role} did not start: {line:?}"))?
            .parse()?;
        Ok(Self { child, addr })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resident memory (VmRSS) in KiB.
    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }
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
    requests: usize,
    errors: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    peak_gateway_rss_kib: u64,
}

impl Figures {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
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
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        name,
        requests: latencies.len(),
        errors,
        seconds,
        p50: at(0.50),
        p99: at(0.99),
        peak_gateway_rss_kib: peak.max(gateway.rss_kib()),
    }
}

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
    // Keys first, so that both children load the same ones.
    Keys::load(&config(dir.path()), true)?;
    let user = Part::spawn("user", dir.path(), None)?;
    let gateway = Part::spawn("gateway", dir.path(), Some(&user.url()))?;
    let idle_rss = gateway.rss_kib();

    let direct = channel(&user.url());
    let mut users = UserServiceClient::new(direct.clone());
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

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    let rest_url = format!("{}/api/auth/user", gateway.url());
    let rest = {
        let (http, token) = (http.clone(), token.clone());
        move || {
            let (http, url, token) = (http.clone(), rest_url.clone(), token.clone());
            async move {
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    other => {
                        eprintln!("call failed: {other:?}");
                        false
                    }
                }
            }
        }
    };
    let grpc_call = |channel: Channel, token: String| {
        move || {
            let mut client = UserServiceClient::new(channel.clone());
            let request = with_token(GetCurrentUserRequest {}, &token);
            async move {
                match client.get_current_user(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        eprintln!("call failed: {status:?}");
                        false
                    }
                }
            }
        }
    };
    let via_gateway = grpc_call(channel(&gateway.url()), token.clone());
    let baseline = grpc_call(direct, token.clone());

    let figures = [
        phase(
            "gRPC direct to the user service",
            concurrency,
            length,
            &gateway,
            baseline,
        )
        .await,
        phase(
            "REST through the gateway",
            concurrency,
            length,
            &gateway,
            rest,
        )
        .await,
        phase(
            "gRPC through the gateway",
            concurrency,
            length,
            &gateway,
            via_gateway,
        )
        .await,
    ];
    let base = &figures[0];
    println!(
        "\nGetCurrentUser, {concurrency} concurrent callers, {seconds} s per phase, loopback, {} CPUs\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| path | req/s | p50 | p99 | throughput vs direct | errors | gateway RSS peak |");
    println!("|---|---|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} | {} | {} |",
            f.name,
            f.throughput(),
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.throughput() / base.throughput(),
            f.errors,
            if std::ptr::eq(f, base) {
                "—".to_string()
            } else {
                format!("{:.1} MiB", f.peak_gateway_rss_kib as f64 / 1024.0)
            },
        );
    }
    println!("\ngateway RSS idle: {:.1} MiB", idle_rss as f64 / 1024.0);
    drop(gateway);
    drop(user);
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
