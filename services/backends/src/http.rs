//! Plumbing shared by the backends: URLs, sending with logs, reading answers
//! and mapping HTTP failures onto [`BackendError`].

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde_json::Value;
use time::OffsetDateTime;

use crate::BackendError;
use crate::Secret;
use crate::secret::scrub;

/// Largest answer read; the biggest expected (an app definition) is ~100 KiB.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Longest server text quoted in an error message.
const MAX_QUOTE: usize = 300;

/// Builds `base_url` + `segments`, each segment percent-encoded.
pub(crate) fn endpoint(base_url: &str, segments: &[&str]) -> Result<Url, BackendError> {
    let mut url = base(base_url)?;
    url.path_segments_mut()
        .map_err(|()| BackendError::protocol("the base url cannot carry a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Parses and checks a registered base URL.
pub(crate) fn base(base_url: &str) -> Result<Url, BackendError> {
    let url = Url::parse(base_url.trim())
        .map_err(|error| BackendError::protocol(format!("invalid base url: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BackendError::protocol(format!(
            "unsupported base url scheme `{}`",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BackendError::protocol(
            "the base url must not carry credentials",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BackendError::protocol(
            "the base url must not have a query or fragment",
        ));
    }
    Ok(url)
}

/// A URL as logged: no credentials, query or fragment.
pub(crate) fn loggable(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// A multipart file part streaming `input` from disk (never read whole).
pub(crate) async fn file_part(
    input: &crate::InputFile,
) -> Result<reqwest::multipart::Part, BackendError> {
    let file = tokio::fs::File::open(&input.path)
        .await
        .map_err(|e| BackendError::protocol(format!("cannot open input {}: {e}", input.name)))?;
    let length = file
        .metadata()
        .await
        .map_err(|e| BackendError::protocol(format!("cannot read input {}: {e}", input.name)))?
        .len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    reqwest::multipart::Part::stream_with_length(body, length)
        .file_name(input.name.clone())
        .mime_str("application/gzip")
        .map_err(|e| BackendError::protocol(format!("bad content type: {e}")))
}

/// One call: who makes it, and the secret it carries (to scrub from answers).
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    pub backend: &'static str,
    pub operation: &'static str,
    pub secret: Option<&'a Secret>,
}

/// A complete answer.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Time until the headers arrived.
    pub latency: Duration,
}

impl Call<'_> {
    /// Sends `request` and reads the whole answer (whatever its status).
    pub(crate) async fn send(
        &self,
        client: &Client,
        request: RequestBuilder,
    ) -> Result<Answer, BackendError> {
        let request = request.build().map_err(|error| {
            BackendError::protocol(format!("cannot build the request: {}", root_cause(&error)))
        })?;
        let method = request.method().clone();
        let url = loggable(request.url());
        let host = request.url().host_str().unwrap_or_default().to_owned();
        let started = Instant::now();
        let mut response = match client.execute(request).await {
            Ok(response) => response,
            Err(error) => {
                let error = transport_error(&error, &host);
                tracing::debug!(
                    backend = self.backend,
                    operation = self.operation,
                    %method,
                    url,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    %error,
                    "external call failed"
                );
                return Err(error);
            }
        };
        let latency = started.elapsed();
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(BackendError::protocol(format!(
                            "the answer from {host} is larger than {} MiB",
                            MAX_BODY / (1024 * 1024)
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => {
                    let error = transport_error(&error, &host);
                    tracing::debug!(
                        backend = self.backend,
                        operation = self.operation,
                        %method,
                        url,
                        status = status.as_u16(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        %error,
                        "reading an external answer failed"
                    );
                    return Err(error);
                }
            }
        }
        tracing::debug!(
            backend = self.backend,
            operation = self.operation,
            %method,
            url,
            status = status.as_u16(),
            latency_ms = latency.as_millis() as u64,
            bytes = body.len(),
            "external call answered"
        );
        Ok(Answer {
            status,
            headers,
            body,
            latency,
        })
    }

    /// The error an answer that is not a success stands for: 401/403 →
    /// unauthorized; 5xx, 408, 429 → unavailable; other 4xx → rejected;
    /// anything else (e.g. a redirect not followed) → protocol.
    pub(crate) fn status_error(&self, answer: &Answer) -> BackendError {
        let status = answer.status;
        let quoted = self.server_message(answer);
        let message = quoted.clone().unwrap_or_else(|| describe(status));
        match status.as_u16() {
            401 | 403 => BackendError::Unauthorized {
                message: quoted.unwrap_or_else(|| {
                    format!("the server refused the credential ({})", describe(status))
                }),
            },
            408 | 429 | 500..=599 => BackendError::Unavailable {
                status: Some(status.as_u16()),
                retry_after: retry_after(&answer.headers, OffsetDateTime::now_utc()),
                message,
            },
            code @ 400..=499 => BackendError::Rejected {
                status: code,
                message,
            },
            300..=399 => BackendError::protocol(format!(
                "{} to {} (redirects are followed only within the server's host)",
                describe(status),
                answer
                    .headers
                    .get(header::LOCATION)
                    .and_then(|location| location.to_str().ok())
                    .unwrap_or("an unknown location"),
            )),
            _ => BackendError::protocol(format!("unexpected {}", describe(status))),
        }
    }

    /// The text a server gave with an answer: `message` (Cloudgene), `msg`
    /// (WES) or a few other usual fields of a JSON body, or a short plain-text
    /// body; scrubbed of the call's secret and shortened.
    pub(crate) fn server_message(&self, answer: &Answer) -> Option<String> {
        let text = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(object)) => ["message", "msg", "error_description", "error", "detail"]
                .iter()
                .find_map(|field| object.get(*field).and_then(Value::as_str))
                .map(str::to_owned),
            Ok(Value::String(text)) => Some(text),
            Ok(_) => None,
            Err(_) => {
                let text = String::from_utf8_lossy(&answer.body);
                let looks_like_markup = text.trim_start().starts_with('<');
                (!looks_like_markup && !is_json(&answer.headers)).then(|| text.into_owned())
            }
        }?;
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return None;
        }
        Some(shorten(&scrub(&text, self.secret)))
    }

    /// Parses a JSON body, naming what was expected when it does not parse.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        answer: &Answer,
        what: &str,
    ) -> Result<T, BackendError> {
        serde_json::from_slice(&answer.body).map_err(|error| {
            let content_type = answer
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("no content type");
            BackendError::protocol(scrub(
                &format!("{what} is not the expected json ({content_type}): {error}"),
                self.secret,
            ))
        })
    }
}

/// `http 503 service unavailable`.
pub(crate) fn describe(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("http {} {}", status.as_u16(), reason.to_lowercase()),
        None => format!("http {}", status.as_u16()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A request that got no usable answer.
/// The error a failed transfer stands for (timeouts and connection
/// failures are transient).
pub(crate) fn transport_failure(error: &reqwest::Error, host: &str) -> BackendError {
    transport_error(error, host)
}

fn transport_error(error: &reqwest::Error, host: &str) -> BackendError {
    let cause = root_cause(error);
    if error.is_timeout() {
        BackendError::unavailable(format!("no answer from {host} in time ({cause})"))
    } else if error.is_connect() {
        BackendError::unavailable(format!("cannot connect to {host}: {cause}"))
    } else if error.is_redirect() {
        BackendError::protocol(format!("redirect loop at {host}: {cause}"))
    } else {
        BackendError::unavailable(format!("request to {host} failed: {cause}"))
    }
}

/// The innermost error's text (reqwest's own text names the full URL).
fn root_cause(error: &reqwest::Error) -> String {
    let mut innermost = None;
    let mut source = error.source();
    while let Some(cause) = source {
        innermost = Some(cause);
        source = cause.source();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None => error.to_string().replace(&url_text(error), ""),
    }
}

fn url_text(error: &reqwest::Error) -> String {
    error.url().map(Url::to_string).unwrap_or_default()
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
            latency: Duration::ZERO,
        }
    }

    const CALL: Call<'static> = Call {
        backend: "test",
        operation: "test",
        secret: None,
    };

    #[test]
    fn endpoint_appends_segments_with_or_without_trailing_slash() {
        for base in ["https://impute.example.org", "https://impute.example.org/"] {
            assert_eq!(
                endpoint(base, &["api", "v2", "server"]).unwrap().as_str(),
                "https://impute.example.org/api/v2/server"
            );
        }
        assert_eq!(
            endpoint("http://host:8080/prefix/", &["api", "v2", "x/y"])
                .unwrap()
                .as_str(),
            "http://host:8080/prefix/api/v2/x%2Fy"
        );
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        for base in [
            "not a url",
            "ftp://host",
            "https://user:pw@host",
            "https://host/?a=b",
            "https://host/#x",
        ] {
            let error = endpoint(base, &["x"]).unwrap_err();
            assert!(
                matches!(error, BackendError::Protocol { .. }),
                "{base}: {error:?}"
            );
            assert!(!error.to_string().contains("pw"));
        }
    }

    #[test]
    fn statuses_map_onto_the_closed_set() {
        let cloudgene =
            r#"{"success":false,"message":"This functionality is currently under maintenance."}"#;
        match CALL.status_error(&answer(503, "application/json", cloudgene)) {
            BackendError::Unavailable {
                status: Some(503),
                message,
                ..
            } => assert_eq!(
                message,
                "This functionality is currently under maintenance."
            ),
            other => panic!("{other:?}"),
        }
        match CALL.status_error(&answer(
            400,
            "application/json",
            r#"{"msg":"bad","status_code":400}"#,
        )) {
            BackendError::Rejected {
                status: 400,
                message,
            } => assert_eq!(message, "bad"),
            other => panic!("{other:?}"),
        }
        match CALL.status_error(&answer(401, "text/html", "<html>login</html>")) {
            BackendError::Unauthorized { message } => {
                assert_eq!(
                    message,
                    "the server refused the credential (http 401 unauthorized)"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            CALL.status_error(&answer(429, "text/plain", "slow down")),
            BackendError::Unavailable {
                status: Some(429),
                ..
            }
        ));
        assert!(matches!(
            CALL.status_error(&answer(302, "text/plain", "")),
            BackendError::Protocol { .. }
        ));
    }

    #[test]
    fn server_text_is_scrubbed_and_shortened() {
        let secret = Secret::ApiToken("tok-secret-1".into());
        let call = Call {
            secret: Some(&secret),
            ..CALL
        };
        let body = format!(
            r#"{{"msg":"token tok-secret-1 is unknown {}"}}"#,
            "x".repeat(500)
        );
        let message = call
            .server_message(&answer(401, "application/json", &body))
            .unwrap();
        assert!(message.starts_with("token <redacted> is unknown"));
        assert!(message.chars().count() <= MAX_QUOTE + 1);
        assert_eq!(
            call.server_message(&answer(500, "text/plain", "  busy \n now ")),
            Some("busy now".into())
        );
        assert_eq!(
            call.server_message(&answer(500, "text/html", "<h1>x</h1>")),
            None
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        // 2025-11-16T22:40:29Z
        let now = OffsetDateTime::from_unix_timestamp(1_763_332_829).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(
            header::RETRY_AFTER,
            "Sun, 16 Nov 2025 22:41:29 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}
