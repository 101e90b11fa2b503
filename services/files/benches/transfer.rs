//! Transfer benchmark of the files service against a plain `cp`.
//!
//! Creates a file (1 GiB by default) in a temporary directory, times `cp` of
//! it on the same disk, then starts the files service as a separate process
//! (this binary again, in `--serve` mode), uploads the file through gRPC and
//! downloads it back to disk (checking its SHA-256), and reports each
//! throughput as a ratio to `cp` (goal ≥ 0.5) and the service process's peak
//! resident memory, `VmHWM` in `/proc/<pid>/status` (goal < 64 MiB).
//!
//! ```sh
//! cargo bench -p fip-files                      # 1 GiB
//! cargo bench -p fip-files -- --size-mib 64     # a quick smoke run
//! cargo bench -p fip-files -- --dir /data/tmp   # temporary files there
//! cargo bench -p fip-files -- --tuned-transport # see below
//! ```
//!
//! `--tuned-transport` serves the same routes and auth layer on a tonic
//! server with TCP_NODELAY, 8 MiB HTTP/2 windows and 1 MiB frames (and the
//! client likewise), to show what these settings would bring; by default
//! the service runs exactly as `fip_kit::serve::serve` hosts it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fip_kit::auth::{AuthLayer, Keys, Role, TokenIssuer, UserPrincipal};
use fip_kit::config::Config;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{self, Context};
use fip_kit::testing::with_token;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

struct Args {
    size_mib: u64,
    dir: Option<PathBuf>,
    serve: Option<PathBuf>,
    tuned: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        size_mib: 1024,
        dir: None,
        serve: None,
        tuned: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size-mib" => {
                args.size_mib = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow::anyhow!("--size-mib needs a positive number"))?;
            }
            "--dir" => {
                args.dir = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--dir needs a path"))?
                        .into(),
                )
            }
            "--serve" => {
                args.serve = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--serve needs a data dir"))?
                        .into(),
                )
            }
            "--tuned-transport" => args.tuned = true,
            // Passed by `cargo bench`; filters are not used.
            "--bench" => {}
            other if other.starts_with("--") => {
                anyhow::bail!(
                    "unknown option {other} (known: --size-mib N, --dir PATH, --tuned-transport)"
                )
            }
            _ => {}
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match &args.serve {
        Some(data_dir) => runtime.block_on(serve_files(data_dir, args.tuned)),
        None => runtime.block_on(bench(&args)),
    }
}

fn bench_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.auth.generate_missing_keys = true;
    config.files.retention_sweep_interval = Duration::ZERO;
    config
}

/// HTTP/2 settings of `--tuned-transport`: TCP_NODELAY, 8 MiB stream
/// windows (16 MiB per connection) and 1 MiB frames, on both ends.
const TUNED_WINDOW: u32 = 8 * 1024 * 1024;
const TUNED_FRAME: u32 = 1024 * 1024;

/// The service process: the files service alone on a loopback port, whose
/// address goes to stdout; it stops when stdin closes. It is served by the
/// kit's `serve` as in production, or with `tuned` by the same routes and
/// auth layer on a server with the tuned transport settings.
async fn serve_files(data_dir: &Path, tuned: bool) -> anyhow::Result<()> {
    let config = Arc::new(bench_config(data_dir));
    let keys = Keys::load(&config, true)?;
    let shutdown = CancellationToken::new();
    let ctx = Context::new(
        ServiceName::Files,
        config,
        keys,
        Peers::default(),
        shutdown.clone(),
    )?;
    let hosted = fip_files::start(&ctx).await?;
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("listening {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        stop.cancel();
    });
    if !tuned {
        return serve::serve(listener, hosted, ctx.verifier.clone(), shutdown).await;
    }
    let incoming = TcpListenerStream::new(listener).map_ok(|socket| {
        let _ = socket.set_nodelay(true);
        socket
    });
    tonic::transport::Server::builder()
        .initial_stream_window_size(TUNED_WINDOW)
        .initial_connection_window_size(2 * TUNED_WINDOW)
        .max_frame_size(TUNED_FRAME)
        .layer(AuthLayer::new(ctx.verifier.clone()))
        .add_routes(hosted.routes)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// Writes back every dirty page (`sync`) before a timed phase.
fn settle() -> anyhow::Result<()> {
    let status = Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    Ok(())
}

/// Writes `size` bytes of pseudo-random content; returns its SHA-256.
fn make_source(path: &Path, size: u64) -> anyhow::Result<String> {
    let mut file = std::io::BufWriter::with_capacity(CHUNK, std::fs::File::create(path)?);
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(CHUNK as u64) as usize;
        hasher.update(&block[..n]);
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{pid}/status"))
}

/// CPU time (user and system, all threads) the process has used so far,
/// from `/proc/<pid>/stat` in USER_HZ ticks (100 per second on Linux).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of the line (state, field 3, is index 0 here).
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB as f64 / took.as_secs_f64()
}

async fn bench(args: &Args) -> anyhow::Result<()> {
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("fip-files-bench-")
        .tempdir_in(&base)?;
    let size = args.size_mib * MIB;
    let source = tmp.path().join("source.bin");
    println!(
        "transfer benchmark: {} MiB in {}",
        args.size_mib,
        tmp.path().display()
    );
    let sha256 = make_source(&source, size)?;

    // The baseline: cp on the same disk. Every timed phase starts with no
    // dirty pages (`sync`), so that none pays for the previous one's
    // writeback.
    let copy = tmp.path().join("copy.bin");
    settle()?;
    let started = Instant::now();
    let status = Command::new("cp").arg(&source).arg(&copy).status()?;
    anyhow::ensure!(status.success(), "cp failed");
    let cp_time = started.elapsed();
    std::fs::remove_file(&copy)?;

    // The service, in a process of its own.
    let data_dir = tmp.path().join("data");
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--serve").arg(&data_dir);
    if args.tuned {
        command.arg("--tuned-transport");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| anyhow::anyhow!("the service did not start: {line:?}"))?
        .to_string();
    let run = Run {
        data_dir: &data_dir,
        addr: &addr,
        source: &source,
        size,
        sha256: &sha256,
        tmp: tmp.path(),
        pid,
        tuned: args.tuned,
    };
    let result = transfer(&run).await;
    let peak_kib = peak_rss_kib(pid);
    drop(child.stdin.take());
    child.wait()?;
    let timings = result?;
    let peak_kib = peak_kib?;

    let cp = mib_per_s(size, cp_time);
    let up = mib_per_s(size, timings.upload);
    let down = mib_per_s(size, timings.download);
    let peak_mib = peak_kib as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "  cp        {:>8.2} s  {:>8.1} MiB/s",
        cp_time.as_secs_f64(),
        cp
    );
    println!(
        "  upload    {:>8.2} s  {:>8.1} MiB/s  {:.2} x cp  (goal >= 0.5: {})  service CPU {:.2} s",
        timings.upload.as_secs_f64(),
        up,
        up / cp,
        verdict(up / cp >= 0.5),
        timings.upload_cpu.as_secs_f64(),
    );
    println!(
        "  download  {:>8.2} s  {:>8.1} MiB/s  {:.2} x cp  (goal >= 0.5: {})  service CPU {:.2} s",
        timings.download.as_secs_f64(),
        down,
        down / cp,
        verdict(down / cp >= 0.5),
        timings.download_cpu.as_secs_f64(),
    );
    println!(
        "  service peak RSS (VmHWM) {peak_mib:.1} MiB  (goal < 64 MiB: {})",
        verdict(peak_mib < 64.0)
    );
    Ok(())
}

/// One run against a started service.
struct Run<'a> {
    data_dir: &'a Path,
    addr: &'a str,
    source: &'a Path,
    size: u64,
    sha256: &'a str,
    tmp: &'a Path,
    pid: u32,
    tuned: bool,
}

/// Wall-clock and service CPU time of each direction.
struct Timings {
    upload: Duration,
    upload_cpu: Duration,
    download: Duration,
    download_cpu: Duration,
}

/// Uploads the source file, then downloads it back to disk.
async fn transfer(run: &Run<'_>) -> anyhow::Result<Timings> {
    let Run {
        data_dir,
        addr,
        source,
        size,
        sha256,
        tmp,
        pid,
        tuned,
    } = *run;
    // The service created its keys in its data dir: sign a user token with them.
    let config = bench_config(data_dir);
    let keys = Keys::load(&config, true)?;
    let issuer = TokenIssuer::new(keys.user_signing.as_ref().expect("user key"), &config)?;
    let (token, _) = issuer.issue(&UserPrincipal {
        id: 1,
        username: "bench".into(),
        roles: vec![Role::Researcher],
    })?;
    let mut endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    if tuned {
        endpoint = endpoint
            .initial_stream_window_size(TUNED_WINDOW)
            .initial_connection_window_size(2 * TUNED_WINDOW)
            .max_frame_size(TUNED_FRAME);
    }
    let mut client = FileServiceClient::new(endpoint.connect().await?);

    // Upload: read the file in 1 MiB chunks on a thread, send as they come.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Metadata(
            pb::UploadFileMetadata {
                name: "source.bin".into(),
                expected_size_bytes: Some(size as i64),
                expected_sha256: sha256.into(),
                ..Default::default()
            },
        )),
    })
    .await?;
    let path = source.to_path_buf();
    settle()?;
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            let n = (&mut file).take(CHUNK as u64).read_to_end(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            let message = pb::UploadFileRequest {
                data: Some(pb::upload_file_request::Data::Chunk(chunk)),
            };
            if tx.blocking_send(message).is_err() {
                return Ok(());
            }
        }
    });
    let stored = client
        .upload_file(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &token,
        ))
        .await?
        .into_inner()
        .file
        .ok_or_else(|| anyhow::anyhow!("no file in the upload response"))?;
    let upload_time = started.elapsed();
    let upload_cpu = cpu_time(pid)? - cpu_before;
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    anyhow::ensure!(
        stored.sha256 == sha256,
        "the service computed another sha256"
    );

    // Download to disk, hashing on the way.
    let target = tmp.join("download.bin");
    settle()?;
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let mut stream = client
        .download_file(with_token(
            pb::DownloadFileRequest {
                id: stored.id.clone(),
                offset: 0,
                length: 0,
            },
            &token,
        ))
        .await?
        .into_inner();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer_path = target.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<(u64, String)> {
        let mut file = std::fs::File::create(writer_path)?;
        let mut hasher = Sha256::new();
        let mut written = 0;
        for chunk in rx {
            hasher.update(&chunk);
            file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok((written, hex::encode(hasher.finalize())))
    });
    while let Some(message) = stream.message().await? {
        if let Some(pb::download_file_response::Data::Chunk(chunk)) = message.data
            && tx.send(chunk).is_err()
        {
            break;
        }
    }
    drop(tx);
    let (written, downloaded_sha) = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    let download_time = started.elapsed();
    let download_cpu = cpu_time(pid)? - cpu_before;
    anyhow::ensure!(written == size, "downloaded {written} of {size} bytes");
    anyhow::ensure!(downloaded_sha == sha256, "the download's sha256 differs");
    std::fs::remove_file(target)?;
    Ok(Timings {
        upload: upload_time,
        upload_cpu,
        download: download_time,
        download_cpu,
    })
}
