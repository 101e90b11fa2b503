//! Streaming an output to disk: bounded memory whatever its size; a failed
//! download leaves no file behind.

use std::path::Path;

use reqwest::RequestBuilder;
use tokio::io::AsyncWriteExt;

use crate::BackendError;
use crate::http::{self, Call};

/// Sends `request` (a GET, with whatever authorization it needs) and
/// streams the answer into `dest`.
pub(crate) async fn to_file(
    backend: &'static str,
    request: RequestBuilder,
    dest: &Path,
) -> Result<u64, BackendError> {
    let (client, request) = request.build_split();
    let request =
        request.map_err(|e| BackendError::protocol(format!("invalid output url: {e}")))?;
    let parsed = request.url().clone();
    let host = parsed.host_str().unwrap_or_default().to_string();
    let response = client
        .execute(request)
        .await
        .map_err(|e| http::transport_failure(&e, &host))?;
    if !response.status().is_success() {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default().to_vec();
        let call = Call {
            backend,
            operation: "download",
            secret: None,
        };
        return Err(call.status_error(&http::Answer {
            status,
            headers,
            body,
            latency: std::time::Duration::ZERO,
        }));
    }
    let partial = dest.with_extension("part");
    let result = async {
        let mut file = tokio::fs::File::create(&partial).await.map_err(|e| {
            BackendError::protocol(format!("cannot write {}: {e}", partial.display()))
        })?;
        let mut response = response;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| http::transport_failure(&e, &host))?
        {
            file.write_all(&chunk).await.map_err(|e| {
                BackendError::protocol(format!("cannot write {}: {e}", partial.display()))
            })?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| {
            BackendError::protocol(format!("cannot write {}: {e}", partial.display()))
        })?;
        tokio::fs::rename(&partial, dest)
            .await
            .map_err(|e| BackendError::protocol(format!("cannot write {}: {e}", dest.display())))?;
        tracing::debug!(
            backend,
            url = http::loggable(&parsed),
            bytes = written,
            "output downloaded"
        );
        Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}
