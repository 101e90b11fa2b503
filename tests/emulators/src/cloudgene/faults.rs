//! Fault injection: answers that fail or never come, to exercise client
//! retries and timeouts. Also records every request.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::state::RequestRecord;

/// What a fault does to a request it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Answers this status at once; the request is not handled (nothing changes).
    Status(u16),
    /// Never answers; the request is not handled. The connection stays open
    /// until the client gives up or the emulator stops.
    Hang,
    /// Handles the request (a submit creates its job), then never answers:
    /// the reply is lost.
    HangAfterHandling,
    /// Handles the request, then answers this status instead of the real answer.
    StatusAfterHandling(u16),
}

/// Which matching requests a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The next `n` matching requests.
    Next(u32),
    /// Every `k`-th matching request (the k-th, 2k-th, …).
    EveryKth(u32),
}

/// A fault: an effect, a schedule and which requests it looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    effect: Effect,
    schedule: Schedule,
    path_prefix: Option<String>,
    method: Option<String>,
    seen: u32,
    fired: u32,
}

impl Fault {
    /// Hits the next `n` requests.
    pub fn next(n: u32, effect: Effect) -> Self {
        Self::new(Schedule::Next(n), effect)
    }

    /// Hits every `k`-th request (k ≥ 1).
    pub fn every(k: u32, effect: Effect) -> Self {
        Self::new(Schedule::EveryKth(k.max(1)), effect)
    }

    fn new(schedule: Schedule, effect: Effect) -> Self {
        Self {
            effect,
            schedule,
            path_prefix: None,
            method: None,
            seen: 0,
            fired: 0,
        }
    }

    /// Looks only at requests whose path starts with `prefix`
    /// (e.g. `/api/v2/jobs/submit`, `/share/results`).
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Looks only at requests with this method (`GET`, `POST`, …).
    pub fn on_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_ascii_uppercase());
        self
    }

    /// Requests this fault hit so far.
    pub fn fired(&self) -> u32 {
        self.fired
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
            && self.method.as_deref().is_none_or(|m| m == method)
    }

    /// Counts a matching request; whether the fault hits it.
    fn hits(&mut self) -> bool {
        self.seen += 1;
        let hit = match self.schedule {
            Schedule::Next(n) => self.fired < n,
            Schedule::EveryKth(k) => self.seen.is_multiple_of(k),
        };
        if hit {
            self.fired += 1;
        }
        hit
    }
}

/// Records the request, then applies the first fault that hits it.
pub(crate) async fn middleware(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let uri = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let token = request
        .headers()
        .get("x-auth-token")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (index, effect) = {
        let mut state = shared.lock();
        let effect = state
            .faults
            .iter_mut()
            .filter(|fault| fault.matches(&method, &path))
            .find_map(|fault| fault.hits().then_some(fault.effect));
        state.requests.push(RequestRecord {
            method: method.clone(),
            uri,
            token,
            status: None,
        });
        (state.requests.len() - 1, effect)
    };
    if let Some(effect) = effect {
        tracing::debug!(%method, %path, ?effect, "emulated fault");
    }
    let response = match effect {
        None => next.run(request).await,
        Some(Effect::Status(status)) => failure(status),
        Some(Effect::Hang) => return hang(&shared).await,
        Some(Effect::HangAfterHandling) => {
            drop(next.run(request).await);
            return hang(&shared).await;
        }
        Some(Effect::StatusAfterHandling(status)) => {
            drop(next.run(request).await);
            failure(status)
        }
    };
    shared.lock().requests[index].status = Some(response.status().as_u16());
    response
}

/// Waits until the emulator stops, then lets the connection go.
async fn hang(shared: &Shared) -> Response {
    let mut shutdown = shared.shutdown.clone();
    // An error means the emulator is gone: stop waiting too.
    let _ = shutdown.wait_for(|stopped| *stopped).await;
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

/// The answer of a failing server or of the proxy in front of it.
fn failure(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = code.canonical_reason().unwrap_or("Error");
    match status {
        // What nginx in front of a down Micronaut answers.
        502..=504 => Response::builder()
            .status(code)
            .header(header::CONTENT_TYPE, "text/html")
            .body(Body::from(format!(
                "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            )))
            .expect("static response"),
        // Micronaut's default error body.
        _ => Response::builder()
            .status(code)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({
                    "message": reason,
                    "_embedded": {"errors": [{"message": format!("{reason}: emulated fault")}]}
                })
                .to_string(),
            ))
            .expect("static response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_count_matching_requests() {
        let mut next = Fault::next(2, Effect::Status(503)).on_path("/api/v2/jobs");
        assert!(!next.matches("GET", "/api/v2/server"));
        assert!(next.matches("GET", "/api/v2/jobs/x"));
        let hits: Vec<bool> = (0..4).map(|_| next.hits()).collect();
        assert_eq!(hits, [true, true, false, false]);
        assert_eq!(next.fired(), 2);

        let mut every = Fault::every(3, Effect::Hang).on_method("get");
        assert!(!every.matches("POST", "/"));
        let hits: Vec<bool> = (0..6).map(|_| every.hits()).collect();
        assert_eq!(hits, [false, false, true, false, false, true]);
    }
}
