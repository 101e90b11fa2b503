//! Retention: the content of files whose `expires_at` has passed is deleted;
//! their metadata stays, so that a download answers RESULTS_EXPIRED rather
//! than NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::FilesError;
use crate::files::Files;

const BATCH: i64 = 100;

impl Files {
    /// Deletes the content of every file expired by now; returns how many.
    pub async fn sweep_expired(&self) -> Result<usize, FilesError> {
        let now = self.clock.now_millis();
        let mut swept = 0;
        loop {
            let batch = self.store.expired_files(now, BATCH).await?;
            let last = (batch.len() as i64) < BATCH;
            for file in batch {
                self.objects.delete(&file.object_key).await?;
                self.store.mark_content_deleted(&file.id, now).await?;
                tracing::info!(file_id = %file.id, owner_user_id = file.owner_user_id,
                    "expired content deleted");
                swept += 1;
            }
            if last {
                return Ok(swept);
            }
        }
    }
}

/// Sweeps every `interval` until `shutdown` (a zero interval: never).
pub fn spawn(files: Arc<Files>, interval: Duration, shutdown: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = files.sweep_expired().await {
                tracing::warn!(error = %e, "retention sweep failed; retrying at the next tick");
            }
        }
    });
}
