//! Uploads (client streaming, ~1 MiB chunks read from the file) and
//! downloads (resumed from a partial file, SHA-256 checked).

use std::path::{Path, PathBuf};

use clap::Args;
use files::file_service_client::FileServiceClient;
use fip_proto::files::v1 as files;
use fip_proto::jobs::v1 as jobs;
use futures::StreamExt;
use indicatif::ProgressBar;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Global, jobs as job_commands};
use crate::hub::session::authed;
use crate::hub::{CliError, Hub};
use crate::output::Out;

/// Bytes per upload message, and per read when hashing.
const CHUNK: usize = 1024 * 1024;

/// Uploads `path` as an input file; returns the stored file.
pub async fn upload(hub: &mut Hub, path: &Path, out: Out) -> Result<files::File, CliError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| CliError::error(format!("cannot read {}: {e}", path.display())))?;
    let size = meta.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input.vcf.gz".to_owned());
    let bar = out.bytes_bar(size, &name);
    let file = hub
        .call(|channel, token| {
            let path = path.to_path_buf();
            let name = name.clone();
            let bar = bar.clone();
            async move {
                let input = tokio::fs::File::open(&path).await.map_err(|e| {
                    tonic::Status::aborted(format!("cannot read {}: {e}", path.display()))
                })?;
                bar.set_position(0);
                let metadata = files::UploadFileRequest {
                    data: Some(files::upload_file_request::Data::Metadata(
                        files::UploadFileMetadata {
                            name,
                            kind: files::FileKind::Input as i32,
                            content_type: content_type(&path).to_owned(),
                            expected_size_bytes: Some(size as i64),
                            ..Default::default()
                        },
                    )),
                };
                let chunks = futures::stream::unfold(Some(input), move |state| {
                    let bar = bar.clone();
                    async move {
                        let mut input = state?;
                        let mut buffer = vec![0u8; CHUNK];
                        let mut filled = 0;
                        while filled < CHUNK {
                            match input.read(&mut buffer[filled..]).await {
                                Ok(0) => break,
                                Ok(n) => filled += n,
                                // The server sees the stream end short of
                                // the declared size and refuses the upload.
                                Err(_) => return None,
                            }
                        }
                        if filled == 0 {
                            return None;
                        }
                        buffer.truncate(filled);
                        bar.inc(filled as u64);
                        Some((
                            files::UploadFileRequest {
                                data: Some(files::upload_file_request::Data::Chunk(buffer.into())),
                            },
                            Some(input),
                        ))
                    }
                });
                let messages = futures::stream::iter([metadata]).chain(chunks);
                FileServiceClient::new(channel)
                    .upload_file(authed(messages, &token))
                    .await
            }
        })
        .await?
        .into_inner()
        .file
        .ok_or_else(|| CliError::error("the hub answered the upload without a file"))?;
    bar.finish_and_clear();
    Ok(file)
}

fn content_type(path: &Path) -> &'static str {
    let name = path.to_string_lossy();
    if name.ends_with(".gz") || name.ends_with(".bgz") {
        "application/gzip"
    } else {
        "text/plain"
    }
}

/// `fip download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The job's id.
    pub job: String,
    /// Where to put the files (default: the current directory).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A downloaded, checked result file.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The job it belongs to.
    pub job_id: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its SHA-256 (lowercase hex).
    pub sha256: String,
    /// Its size.
    pub size: u64,
}

/// Downloads every result of `job` (each child's into a folder named after
/// the child, for a job with several targets) into `dir`.
pub async fn download_job(
    hub: &mut Hub,
    job: &jobs::Job,
    dir: &Path,
    out: Out,
) -> Result<Vec<Downloaded>, CliError> {
    let mut done = Vec::new();
    if job.child_job_ids.is_empty() {
        done.extend(download_results(hub, &job.id, dir, out).await?);
    } else {
        for child in &job.child_job_ids {
            done.extend(download_results(hub, child, &dir.join(child), out).await?);
        }
    }
    Ok(done)
}

async fn download_results(
    hub: &mut Hub,
    job_id: &str,
    dir: &Path,
    out: Out,
) -> Result<Vec<Downloaded>, CliError> {
    let listing = job_commands::list_results(hub, job_id).await?;
    if !listing.complete {
        return Err(CliError::error(format!(
            "the hub is still fetching the results of job {job_id}: run `fip download {job_id}` again in a moment"
        )));
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| CliError::error(format!("cannot create {}: {e}", dir.display())))?;
    let mut done = Vec::new();
    for result in &listing.files {
        let path = dir.join(safe_relative(&result.name)?);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| CliError::error(format!("cannot create {}: {e}", parent.display())))?;
        }
        let sha256 = download_file(hub, &result.file_id, &path, &result.sha256, out).await?;
        done.push(Downloaded {
            job_id: job_id.to_owned(),
            path,
            sha256,
            size: result.size_bytes as u64,
        });
    }
    Ok(done)
}

/// A result's name as a path inside the output directory: its plain
/// components only (no root, no `..`), so no name can write elsewhere.
fn safe_relative(name: &str) -> Result<PathBuf, CliError> {
    let mut path = PathBuf::new();
    for part in Path::new(name).components() {
        match part {
            std::path::Component::Normal(part) => path.push(part),
            std::path::Component::CurDir => {}
            _ => {
                return Err(CliError::error(format!(
                    "the hub named a result {name:?}, which is not a path inside the output directory"
                )));
            }
        }
    }
    if path.as_os_str().is_empty() {
        return Err(CliError::error("the hub named a result with an empty name"));
    }
    Ok(path)
}

async fn hash_file(path: &Path) -> std::io::Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut file = tokio::fs::File::open(path).await?;
    let mut buffer = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok((hasher, total));
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

/// Downloads one file to `path`, resuming `path.part` where it stopped;
/// the whole content must hash to `expected` (or the file's own sha256).
pub async fn download_file(
    hub: &mut Hub,
    file_id: &str,
    path: &Path,
    expected: &str,
    out: Out,
) -> Result<String, CliError> {
    let io = |e: std::io::Error| CliError::error(format!("cannot write {}: {e}", path.display()));
    if tokio::fs::try_exists(path).await.map_err(io)? && !expected.is_empty() {
        let (hasher, _) = hash_file(path).await.map_err(io)?;
        let have = hex::encode(hasher.finalize());
        if have == expected {
            return Ok(have);
        }
    }
    let partial = path.with_file_name(format!(
        "{}.part",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let (mut hasher, mut offset) = match hash_file(&partial).await {
        Ok(found) => found,
        Err(_) => (Sha256::new(), 0),
    };
    let label = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let id = file_id.to_owned();
    let start = offset as i64;
    let mut stream = hub
        .call(|channel, token| {
            let id = id.clone();
            async move {
                FileServiceClient::new(channel)
                    .download_file(authed(
                        files::DownloadFileRequest {
                            id,
                            offset: start,
                            length: 0,
                        },
                        &token,
                    ))
                    .await
            }
        })
        .await?
        .into_inner();
    let mut output = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)
        .await
        .map_err(io)?;
    let mut bar = ProgressBar::hidden();
    let mut announced = expected.to_owned();
    loop {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(status) => {
                output.flush().await.map_err(io)?;
                let error = hub.explain(&status).await;
                return Err(CliError::error(format!(
                    "the download of {label} broke after {offset} bytes ({}): run the command again to resume",
                    error.message
                )));
            }
        };
        match message.data {
            Some(files::download_file_response::Data::Metadata(file)) => {
                if announced.is_empty() {
                    announced = file.sha256.clone();
                }
                bar = out.bytes_bar(file.size_bytes as u64, &label);
                bar.set_position(offset);
            }
            Some(files::download_file_response::Data::Chunk(chunk)) => {
                output.write_all(&chunk).await.map_err(io)?;
                hasher.update(&chunk);
                offset += chunk.len() as u64;
                bar.set_position(offset);
            }
            None => {}
        }
    }
    output.flush().await.map_err(io)?;
    output.sync_all().await.map_err(io)?;
    drop(output);
    bar.finish_and_clear();
    let have = hex::encode(hasher.finalize());
    if !announced.is_empty() && have != announced {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(CliError::error(format!(
            "{label} does not match its SHA-256 (got {have}, expected {announced}): it was deleted; run the command again"
        )));
    }
    tokio::fs::rename(&partial, path).await.map_err(io)?;
    Ok(have)
}

/// Prints what was downloaded.
pub fn report(out: Out, files: &[Downloaded]) {
    if out.json {
        let list: Vec<_> = files
            .iter()
            .map(|f| json!({"job_id": f.job_id, "path": f.path.display().to_string(), "sha256": f.sha256, "size_bytes": f.size}))
            .collect();
        out.print_json(&json!({ "downloaded": list }));
    } else {
        for f in files {
            println!("{}  {}", f.sha256, f.path.display());
        }
    }
}

/// `fip download JOB`.
pub async fn download_command(args: DownloadArgs, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let job = job_commands::get_job(&mut hub, &args.job).await?;
    let dir = args.output.unwrap_or_else(|| PathBuf::from("."));
    let files = download_job(&mut hub, &job, &dir, global.out).await?;
    report(global.out, &files);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_names_stay_inside_the_output_directory() {
        assert_eq!(
            safe_relative("statistics/chunks-excluded.txt").unwrap(),
            PathBuf::from("statistics/chunks-excluded.txt")
        );
        assert_eq!(safe_relative("./qc.txt").unwrap(), PathBuf::from("qc.txt"));
        assert!(safe_relative("../escape").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("").is_err());
    }
}
