//! Scheduled health checks: a background task that checks every service
//! once per interval, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::domain::Registry;

/// Never wait longer than this between looks (new services are announced,
/// but another replica may add them).
const MAX_IDLE: Duration = Duration::from_secs(60);
/// Nor less than this, so a failing store does not spin.
const MIN_IDLE: Duration = Duration::from_secs(1);

/// Starts the scheduler; `None` when scheduled checks are off.
pub fn spawn(registry: Arc<Registry>, shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    let interval = registry.settings().check_interval;
    if interval.is_zero() {
        tracing::info!("scheduled health checks are off");
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let idle = tokio::select! {
                _ = shutdown.cancelled() => break,
                round = registry.run_due_checks() => match round {
                    Ok((checked, next)) => {
                        if checked > 0 {
                            tracing::debug!(checked, "health checks done");
                        }
                        next.unwrap_or(interval)
                    }
                    Err(error) => {
                        tracing::error!(%error, "scheduled health checks failed");
                        interval
                    }
                },
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(idle.clamp(MIN_IDLE, MAX_IDLE)) => {}
                _ = registry.woken() => {}
            }
        }
        tracing::debug!("health scheduler stopped");
    }))
}
