//! Transfer benchmark of the files service against a plain `cp`.
//!
//! Creates a file (1 GiB by default) in a temporary directory and starts the
//! files service as a separate process (this binary again, in `--serve`
//! mode). Each round then times `cp` of the file on the same disk, an upload
//! of it through gRPC and a download back to disk (its SHA-256 checked after
//! the clock stops). It reports each direction's throughput as a ratio to
//! that round's `cp`, the median over the rounds (goal ≥ 0.5), and the
//! service process's peak resident memory, `VmHWM` in `/proc/<pid>/status`
//! (goal < 64 MiB).
//!
//! ```sh
//! cargo bench -p fip-files                      # 1 GiB
//! cargo bench -p fip-files -- --size-mib 64     # a quick smoke run
//! cargo bench -p fip-files -- --rounds 5        # more rounds (3 by default)
//! cargo bench -p fip-files -- --dir /data/tmp   # temporary files there
//! ```
//!
//! The service runs exactly as `fip_kit::serve::serve` hosts it, and the
//! client connects with the mesh's transport settings
//! (`fip_kit::mesh::endpoint`), as the gateway and the jobs worker do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fip_kit::auth::{Keys, Role, TokenIssuer, UserPrincipal};
use fip_kit::config::Config;
use fip_kit::events::Bus;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{self, Context};
use fip_kit::testing::with_token;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

struct Args {
    size_mib: u64,
    rounds: usize,
    dir: Option<PathBuf>,
    serve: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        size_mib: 1024,
        rounds: 3,
        dir: None,
        serve: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size-mib" => args.size_mib = positive(&arg, it.next())?,
            "--rounds" => args.rounds = positive(&arg, it.next())?,
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
            // Passed by `cargo bench`; filters are not used.
            "--bench" => {}
            other if other.starts_with("--") => {
                anyhow::bail!(
                    "unknown option {other} (known: --size-mib N, --rounds N, --dir PATH)"
                )
            }
            _ => {}
        }
    }
    Ok(args)
}

/// The value of `option`, a positive whole number.
fn positive<T: std::str::FromStr + Default + PartialOrd>(
    option: &str,
    value: Option<String>,
) -> anyhow::Result<T> {
    value
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > T::default())
        .ok_or_else(|| anyhow::anyhow!("{option} needs a positive number"))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match &args.serve {
        Some(data_dir) => runtime.block_on(serve_files(data_dir)),
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

/// The service process: the files service alone on a loopback port, whose
/// address goes to stdout; it stops when stdin closes. It is served by the
/// kit's `serve` as in production.
async fn serve_files(data_dir: &Path) -> anyhow::Result<()> {
    let config = Arc::new(bench_config(data_dir));
    let keys = Keys::load(&config, true)?;
    let shutdown = CancellationToken::new();
    let mut ctx = Context::new(
        ServiceName::Files,
        config,
        keys,
        Peers::default(),
        Bus::local(),
        shutdown.clone(),
    )?;
    // The files service runs alone here, with no user service to ask about
    // sessions: every validly signed token's session counts as live (the
    // check itself, a lookup in memory, still runs on every call).
    ctx.auth = ctx
        .auth
        .with_sessions(ctx.sessions_from(Arc::new(fip_kit::testing::EverySessionLive)));
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
    let auth = ctx.authenticator_for(&hosted);
    serve::serve(listener, hosted, auth, shutdown).await
}

/// Prepares a timed phase that writes `size` bytes into `dir`: writes back
/// every dirty page (`sync`), so that no phase pays for the previous one's
/// writeback, then writes a scratch file a quarter larger than `size` in
/// `dir` and deletes it at once.
///
/// The scratch file puts every phase on the same footing on a virtual
/// machine whose host backs guest memory lazily and takes back what the
/// guest frees (free page reporting): there, writing 1 GiB into page cache
/// the guest has not used lately was seen to take 1.2-4.3 s, against
/// 0.24-0.34 s into pages a deleted file had held a moment before. Without
/// it, whichever phase happens to draw fresh pages looks several times
/// slower, whatever it does; with it, each phase, `cp` included, writes
/// into warm pages, as on a machine with no such host.
fn settle(dir: &Path, size: u64) -> anyhow::Result<()> {
    let status = Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    let scratch = dir.join("scratch.bin");
    let mut file = std::fs::File::create(&scratch)?;
    let block = vec![1u8; CHUNK];
    for _ in 0..(size + size / 4).div_ceil(CHUNK as u64) {
        file.write_all(&block)?;
    }
    drop(file);
    std::fs::remove_file(&scratch)?;
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

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&block[..n]);
    }
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

    // The service, in a process of its own.
    let data_dir = tmp.path().join("data");
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--serve").arg(&data_dir);
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
        rounds: args.rounds,
    };
    let result = transfer(&run).await;
    let peak_kib = peak_rss_kib(pid);
    drop(child.stdin.take());
    child.wait()?;
    let rounds = result?;
    let peak_kib = peak_kib?;

    let rate = |took: Duration| mib_per_s(size, took);
    for (i, round) in rounds.iter().enumerate() {
        println!(
            "  round {}: cp {:.2} s ({:.0} MiB/s), upload {:.2} s ({:.0} MiB/s, service CPU {:.2} s), \
             download {:.2} s ({:.0} MiB/s, service CPU {:.2} s)",
            i + 1,
            round.cp.as_secs_f64(),
            rate(round.cp),
            round.upload.as_secs_f64(),
            rate(round.upload),
            round.upload_cpu.as_secs_f64(),
            round.download.as_secs_f64(),
            rate(round.download),
            round.download_cpu.as_secs_f64(),
        );
    }
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let ratio = |phase: fn(&Round) -> Duration| {
        median(
            rounds
                .iter()
                .map(|r| r.cp.as_secs_f64() / phase(r).as_secs_f64()),
        )
    };
    let (up, down) = (ratio(|r| r.upload), ratio(|r| r.download));
    println!(
        "  median of {} rounds: cp {:.0} MiB/s, upload {:.0} MiB/s, download {:.0} MiB/s",
        rounds.len(),
        median(rounds.iter().map(|r| rate(r.cp))),
        median(rounds.iter().map(|r| rate(r.upload))),
        median(rounds.iter().map(|r| rate(r.download))),
    );
    println!(
        "  upload    {up:.2} x cp (median of the rounds' ratios; goal >= 0.5: {})",
        verdict(up >= 0.5)
    );
    println!(
        "  download  {down:.2} x cp (median of the rounds' ratios; goal >= 0.5: {})",
        verdict(down >= 0.5)
    );
    let peak_mib = peak_kib as f64 / 1024.0;
    println!(
        "  service peak RSS (VmHWM) {peak_mib:.1} MiB  (goal < 64 MiB: {})",
        verdict(peak_mib < 64.0)
    );
    Ok(())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
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
    rounds: usize,
}

/// Wall-clock times of one round: `cp`, then an upload and a download
/// through the service, with the service's CPU time of each direction.
struct Round {
    cp: Duration,
    upload: Duration,
    upload_cpu: Duration,
    download: Duration,
    download_cpu: Duration,
}

/// Uploads the source file, then downloads it back to disk.
/// Connects to the service, then measures `run.rounds` rounds.
async fn transfer(run: &Run<'_>) -> anyhow::Result<Vec<Round>> {
    let Run { data_dir, addr, .. } = *run;
    // The service created its keys in its data dir: sign a user token with them.
    let config = bench_config(data_dir);
    let keys = Keys::load(&config, true)?;
    let issuer = TokenIssuer::new(keys.user_signing.as_ref().expect("user key"), &config)?;
    let (token, _) = issuer.issue(&UserPrincipal {
        id: 1,
        username: "bench".into(),
        roles: vec![Role::Researcher],
        session_id: "bench".into(),
    })?;
    let channel = fip_kit::mesh::endpoint(&format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = FileServiceClient::new(channel);
    let mut rounds = Vec::with_capacity(run.rounds);
    for _ in 0..run.rounds {
        rounds.push(round(run, &mut client, &token).await?);
    }
    Ok(rounds)
}

/// `cp` of the source on the same disk, then an upload of it and a download
/// of what was stored; the stored file is deleted at the end. Every timed
/// phase starts settled (see [`settle`]).
async fn round(
    run: &Run<'_>,
    client: &mut FileServiceClient<Channel>,
    token: &str,
) -> anyhow::Result<Round> {
    let Run {
        source,
        size,
        sha256,
        tmp,
        pid,
        ..
    } = *run;
    let copy = tmp.join("copy.bin");
    settle(tmp, size)?;
    let started = Instant::now();
    let status = Command::new("cp").arg(source).arg(&copy).status()?;
    anyhow::ensure!(status.success(), "cp failed");
    let cp = started.elapsed();
    std::fs::remove_file(&copy)?;

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
    settle(tmp, size)?;
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
                data: Some(pb::upload_file_request::Data::Chunk(chunk.into())),
            };
            if tx.blocking_send(message).is_err() {
                return Ok(());
            }
        }
    });
    let stored = client
        .upload_file(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            token,
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

    // Download to disk; the content is checked once the clock has stopped,
    // as `cp`'s output is not hashed either.
    let target = tmp.join("download.bin");
    settle(tmp, size)?;
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let mut stream = client
        .download_file(with_token(
            pb::DownloadFileRequest {
                id: stored.id.clone(),
                offset: 0,
                length: 0,
            },
            token,
        ))
        .await?
        .into_inner();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let writer_path = target.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut file = std::fs::File::create(writer_path)?;
        let mut written = 0;
        for chunk in rx {
            file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(written)
    });
    while let Some(message) = stream.message().await? {
        if let Some(pb::download_file_response::Data::Chunk(chunk)) = message.data
            && tx.send(chunk).is_err()
        {
            break;
        }
    }
    drop(tx);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    let download_time = started.elapsed();
    let download_cpu = cpu_time(pid)? - cpu_before;
    anyhow::ensure!(written == size, "downloaded {written} of {size} bytes");
    anyhow::ensure!(
        file_sha256(&target)? == sha256,
        "the download's sha256 differs"
    );
    std::fs::remove_file(target)?;
    client
        .delete_file(with_token(pb::DeleteFileRequest { id: stored.id }, token))
        .await?;
    Ok(Round {
        cp,
        upload: upload_time,
        upload_cpu,
        download: download_time,
        download_cpu,
    })
}
