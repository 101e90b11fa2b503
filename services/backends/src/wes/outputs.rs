//! Fetching what a run's outputs point at: `http(s)` URLs, `drs://` ids
//! resolved through the GA4GH DRS API, and `file://` paths, only under a
//! directory the operator shares with the hub.

use std::path::{Path, PathBuf};

use reqwest::Url;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::http::{self, Call};
use crate::run::RunOutput;
use crate::{BackendError, Secret};

use super::{BACKEND, WesBackend, authorize};

impl WesBackend {
    /// Streams one output to `dest`.
    pub(crate) async fn fetch_output(
        &self,
        output: &RunOutput,
        secret: Option<&Secret>,
        dest: &Path,
    ) -> Result<u64, BackendError> {
        let url = Url::parse(&output.url).map_err(|e| {
            BackendError::protocol(format!("the output {} has no usable url: {e}", output.name))
        })?;
        let credential = match secret {
            Some(secret) if output.send_credential => Some(secret),
            _ => None,
        };
        match url.scheme() {
            "http" | "https" => {
                let mut request = self.client.get(url);
                if let Some(secret) = credential {
                    request = authorize(request, secret);
                }
                crate::download::to_file(BACKEND, request, dest).await
            }
            "drs" => self.fetch_drs(&url, credential, dest).await,
            "file" => self.copy_shared(&url, dest).await,
            other => Err(BackendError::protocol(format!(
                "the output {} is at a {other}:// location the hub cannot fetch",
                output.name
            ))),
        }
    }

    /// `drs://host/id`: `GET /ga4gh/drs/v1/objects/{id}`, then an access
    /// method's `access_url`, or `GET …/access/{access_id}` for one.
    async fn fetch_drs(
        &self,
        uri: &Url,
        secret: Option<&Secret>,
        dest: &Path,
    ) -> Result<u64, BackendError> {
        let host = uri
            .host_str()
            .ok_or_else(|| BackendError::protocol(format!("{uri} names no drs server")))?;
        let id = uri.path().trim_start_matches('/');
        if id.is_empty() {
            return Err(BackendError::protocol(format!("{uri} names no drs object")));
        }
        // DRS is served over https; loopback servers (development, tests)
        // over plain http.
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let scheme = if loopback { "http" } else { "https" };
        let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
        let server = format!("{scheme}://{host}{port}");
        let call = Call {
            backend: BACKEND,
            operation: "drs",
            secret,
        };
        let object_url = http::endpoint(&server, &["ga4gh", "drs", "v1", "objects", id])?;
        let object = self.drs_get(&call, object_url).await?;
        let methods = object
            .get("access_methods")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let usable = |m: &&Value| {
            matches!(
                m.get("type").and_then(Value::as_str),
                Some("https" | "http")
            )
        };
        let method = methods
            .iter()
            .filter(usable)
            .find(|m| m.pointer("/access_url/url").is_some())
            .or_else(|| methods.iter().find(usable))
            .ok_or_else(|| {
                BackendError::protocol(format!("the drs object {id} has no http(s) access method"))
            })?;
        let access =
            match method.get("access_url") {
                Some(access) if access.get("url").is_some() => access.clone(),
                _ => {
                    let access_id = method.get("access_id").and_then(Value::as_str).ok_or_else(
                        || {
                            BackendError::protocol(format!(
                                "the drs object {id} gives neither an access_url nor an access_id"
                            ))
                        },
                    )?;
                    let url = http::endpoint(
                        &server,
                        &["ga4gh", "drs", "v1", "objects", id, "access", access_id],
                    )?;
                    self.drs_get(&call, url).await?
                }
            };
        let url = access
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| BackendError::protocol(format!("the drs access of {id} has no url")))?;
        // The access URL carries its own authorization (signed, or in the
        // headers the DRS server gives); the user's credential goes only to
        // the DRS server itself.
        let mut headers = HeaderMap::new();
        for line in access
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some((name, value)) = line.split_once(':')
                && let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.trim()),
                    HeaderValue::try_from(value.trim()),
                )
            {
                headers.insert(name, value);
            }
        }
        let same_server = Url::parse(url)
            .ok()
            .is_some_and(|u| u.host_str() == Some(host) && u.port() == uri.port());
        let given = headers.contains_key(header::AUTHORIZATION);
        let mut request = self.client.get(url).headers(headers);
        if let Some(secret) = secret
            && same_server
            && !given
        {
            request = authorize(request, secret);
        }
        crate::download::to_file(BACKEND, request, dest).await
    }

    async fn drs_get(&self, call: &Call<'_>, url: Url) -> Result<Value, BackendError> {
        let mut request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json");
        if let Some(secret) = call.secret {
            request = authorize(request, secret);
        }
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        call.json(&answer, "the drs answer")
    }

    /// Copies a `file://` output, which must lie under a shared directory.
    async fn copy_shared(&self, url: &Url, dest: &Path) -> Result<u64, BackendError> {
        let path = url
            .to_file_path()
            .map_err(|()| BackendError::protocol(format!("{url} is not a local path")))?;
        let real = shared_path(&self.shared_dirs, &path).await?;
        let partial = dest.with_extension("part");
        let copied = tokio::fs::copy(&real, &partial)
            .await
            .map_err(|e| BackendError::protocol(format!("cannot copy {}: {e}", path.display())));
        match copied {
            Ok(size) => {
                tokio::fs::rename(&partial, dest).await.map_err(|e| {
                    BackendError::protocol(format!("cannot write {}: {e}", dest.display()))
                })?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }
}

/// `path` resolved (symbolic links included), when it lies under one of
/// `shared`; an error naming the configuration otherwise.
async fn shared_path(shared: &[PathBuf], path: &Path) -> Result<PathBuf, BackendError> {
    let refuse = || {
        BackendError::protocol(format!(
            "the output {} is a local path outside the directories shared with the hub \
             (external.wes_shared_dirs)",
            path.display()
        ))
    };
    let real = tokio::fs::canonicalize(path)
        .await
        .map_err(|e| BackendError::protocol(format!("cannot read {}: {e}", path.display())))?;
    for dir in shared {
        if let Ok(dir) = tokio::fs::canonicalize(dir).await
            && real.starts_with(&dir)
            && real != dir
        {
            return Ok(real);
        }
    }
    Err(refuse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_paths_under_a_shared_directory_are_read() {
        let root = std::env::temp_dir().join(format!("fip-wes-shared-{}", std::process::id()));
        let shared = root.join("shared");
        let other = root.join("other");
        std::fs::create_dir_all(shared.join("run")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(shared.join("run/out.vcf.gz"), b"x").unwrap();
        std::fs::write(other.join("secret"), b"y").unwrap();
        let dirs = vec![shared.clone()];
        assert!(
            shared_path(&dirs, &shared.join("run/out.vcf.gz"))
                .await
                .is_ok()
        );
        for outside in [
            other.join("secret"),
            shared.join("run/../../other/secret"),
            shared.clone(),
        ] {
            let error = shared_path(&dirs, &outside).await.unwrap_err();
            assert!(error.to_string().contains("wes_shared_dirs"), "{outside:?}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(other.join("secret"), shared.join("run/link")).unwrap();
            assert!(shared_path(&dirs, &shared.join("run/link")).await.is_err());
        }
        assert!(
            shared_path(&[], &shared.join("run/out.vcf.gz"))
                .await
                .is_err()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
