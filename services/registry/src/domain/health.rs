//! Health of the external servers: probing, the verdict, the bookkeeping
//! that marks a service unavailable, the history and its summary.

use std::time::Duration;

use futures::StreamExt;

use super::{HISTORY_RETENTION, Registry, millis, split_page};
use crate::error::{RegistryError, RegistryResult};
use crate::model::{
    CheckTrigger, HealthCheck, HealthState, HealthStatus, NewHealthCheck, Page, Service,
    ServiceHealth,
};
use crate::store::{CheckCursor, CheckFilter, Claim, ServiceFilter, StoreError};
use crate::upstream::{Probe, ProbeOutcome};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The verdict on one probe: status, response time, HTTP status and error.
///
/// A 2xx answer is healthy (degraded when slower than `degraded_after`); a
/// 401 or 403 proves the server is up too (Cloudgene refuses anonymous
/// calls). Anything else — no answer, a timeout, 5xx, 503 maintenance, a
/// 404 from a wrong URL — is unhealthy.
pub fn verdict(probe: &Probe, degraded_after: Duration, checked_at: i64) -> NewHealthCheck {
    let (status, response_time_ms, http_status, error) = match &probe.outcome {
        ProbeOutcome::Answered {
            http_status,
            message,
        } => {
            let elapsed = i32::try_from(probe.elapsed.as_millis()).unwrap_or(i32::MAX);
            match http_status {
                200..=299 | 401 | 403 => {
                    let status = if probe.elapsed > degraded_after {
                        HealthStatus::Degraded
                    } else {
                        HealthStatus::Healthy
                    };
                    (status, elapsed, *http_status, String::new())
                }
                other => {
                    let message = message.trim();
                    let error = if message.is_empty() {
                        format!("HTTP {other}")
                    } else {
                        format!("HTTP {other}: {}", truncate(message, 300))
                    };
                    (HealthStatus::Unhealthy, elapsed, *other, error)
                }
            }
        }
        ProbeOutcome::TimedOut { after } => (
            HealthStatus::Unhealthy,
            0,
            0,
            format!("timeout after {}", describe(*after)),
        ),
        ProbeOutcome::Failed { message } => (HealthStatus::Unhealthy, 0, 0, truncate(message, 300)),
    };
    NewHealthCheck {
        status,
        response_time_ms,
        http_status: i32::from(http_status),
        error,
        checked_at,
        trigger: CheckTrigger::Scheduled,
    }
}

fn describe(duration: Duration) -> String {
    if duration.as_millis().is_multiple_of(1000) {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The health of a service after `check`: a success resets the failures
/// and makes it available; a failure counts, and once failures have lasted
/// `unavailable_after_ms` the service is marked unavailable.
pub fn next_state(
    prev: &HealthState,
    check: &NewHealthCheck,
    unavailable_after_ms: i64,
) -> HealthState {
    if check.status.is_up() {
        HealthState {
            status: check.status,
            last_check_at: Some(check.checked_at),
            error: String::new(),
            response_time_ms: check.response_time_ms,
            consecutive_failures: 0,
            failing_since: None,
            last_available_at: Some(check.checked_at),
            available: true,
        }
    } else {
        let failing_since = prev.failing_since.unwrap_or(check.checked_at);
        let failed_long_enough = check.checked_at - failing_since >= unavailable_after_ms;
        HealthState {
            status: check.status,
            last_check_at: Some(check.checked_at),
            error: check.error.clone(),
            response_time_ms: check.response_time_ms,
            consecutive_failures: prev.consecutive_failures.saturating_add(1),
            failing_since: Some(failing_since),
            last_available_at: prev.last_available_at,
            available: prev.available && !failed_long_enough,
        }
    }
}

impl Registry {
    /// Probes `service`, records the check and moves its health.
    async fn check(&self, service: &Service, trigger: CheckTrigger) -> RegistryResult<HealthCheck> {
        let probe = self
            .upstream
            .probe(service.spec.api_type, &service.spec.base_url)
            .await;
        let now = self.now();
        let check = NewHealthCheck {
            trigger,
            ..verdict(&probe, self.settings.degraded_after, now)
        };
        let unavailable_after = millis(self.settings.unavailable_after);
        let recorded = self
            .store
            .record_check(
                service.id,
                &check,
                &|prev: &HealthState| next_state(prev, &check, unavailable_after),
                probe.wes.as_ref(),
                self.settings.health_history,
                now - millis(HISTORY_RETENTION),
            )
            .await
            .map_err(|e| match e {
                StoreError::Missing(_) => RegistryError::ServiceNotFound(service.id),
                other => RegistryError::Store(other),
            })?;
        // Changes are worth a log line; a server that stays down is not news.
        let was_down = service.health.status == HealthStatus::Unhealthy;
        match (was_down, recorded.status == HealthStatus::Unhealthy) {
            (false, true) => {
                tracing::warn!(service_id = service.id, error = %recorded.error, "service is unhealthy");
            }
            (true, false) => {
                tracing::info!(service_id = service.id, status = %recorded.status, "service answers again");
            }
            _ => {
                tracing::debug!(service_id = service.id, status = %recorded.status, error = %recorded.error, "health check");
            }
        }
        Ok(recorded)
    }

    /// Probes service `id` now, at most once per on-demand gap.
    pub async fn check_now(&self, id: i64) -> RegistryResult<HealthCheck> {
        let now = self.now();
        let gap = millis(self.settings.on_demand_gap);
        match self.store.claim_on_demand(id, now, gap).await? {
            Claim::Granted => {}
            Claim::NoSuchService => return Err(RegistryError::ServiceNotFound(id)),
            Claim::TooSoon { last_at } => {
                return Err(RegistryError::RateLimited {
                    service_id: id,
                    retry_after_ms: (last_at + gap - now).max(1),
                });
            }
        }
        let service = self.get_service(id, true).await?;
        self.check(&service, CheckTrigger::OnDemand).await
    }

    /// Checks every service whose last check is an interval old (or that was
    /// never checked), a few at a time. Returns how many were checked and
    /// how long until the next one is due.
    pub async fn run_due_checks(&self) -> RegistryResult<(usize, Option<Duration>)> {
        let interval = millis(self.settings.check_interval);
        let filter = ServiceFilter {
            include_inactive: true,
            ..ServiceFilter::default()
        };
        let mut services = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_services(&filter, after.as_ref(), 500).await?;
            services.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let now = self.now();
        let (due, later): (Vec<_>, Vec<_>) = services.into_iter().partition(|s| {
            s.health
                .last_check_at
                .is_none_or(|last| now - last >= interval)
        });
        let next_due = later
            .iter()
            .filter_map(|s| s.health.last_check_at)
            .map(|last| last + interval - now)
            .min()
            .map(|ms| Duration::from_millis(ms.max(0) as u64));
        let checked = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(self.settings.check_concurrency, |service| async move {
                if let Err(error) = self.check(&service, CheckTrigger::Scheduled).await {
                    tracing::error!(service_id = service.id, %error, "recording a health check failed");
                }
            })
            .await;
        Ok((checked, next_due))
    }

    /// The current health of a service from its recorded checks.
    pub async fn service_health(&self, id: i64, privileged: bool) -> RegistryResult<ServiceHealth> {
        let service = self.get_service(id, privileged).await?;
        let filter = CheckFilter {
            service_id: id,
            ..CheckFilter::default()
        };
        let last_check = self.store.list_checks(&filter, None, 1).await?.pop();
        let now = self.now();
        let (total, up) = self.store.check_counts(id, now - DAY_MS).await?;
        let interval = millis(self.settings.check_interval);
        let stale = interval > 0
            && service
                .health
                .last_check_at
                .is_some_and(|last| now - last > interval.saturating_mul(3));
        let status = if stale {
            HealthStatus::Unknown
        } else {
            service.health.status
        };
        Ok(ServiceHealth {
            service_id: id,
            status,
            is_available: service.is_available(),
            last_check,
            consecutive_failures: service.health.consecutive_failures,
            last_available_at: service.health.last_available_at,
            availability_24h: if total == 0 {
                0.0
            } else {
                up as f64 / total as f64
            },
        })
    }

    /// A page of a service's checks, newest first.
    pub async fn list_checks(
        &self,
        filter: &CheckFilter,
        after: Option<&CheckCursor>,
        limit: usize,
        privileged: bool,
    ) -> RegistryResult<Page<HealthCheck, CheckCursor>> {
        self.get_service(filter.service_id, privileged).await?;
        let rows = self.store.list_checks(filter, after, limit + 1).await?;
        let (items, more) = split_page(rows, limit);
        let next = more.then(|| items.last()).flatten().map(|c| CheckCursor {
            checked_at: c.checked_at,
            id: c.id,
        });
        Ok(Page { items, next })
    }
}
