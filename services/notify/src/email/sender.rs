//! The sender: delivers the outbox's due mails, each claimed under a lease
//! so that replicas never send the same one; retries transient failures
//! with exponential backoff and jitter; records permanent refusals; turns
//! the mails held by a user's rate limit into one digest.
//!
//! A mail is sent at most once per claim, and recorded as soon as the
//! server took it. Only a crash between the server's answer and that record
//! can repeat it, once the lease expires; the repeat has the same
//! Message-ID, so the receiving side can recognise it.

use std::sync::Arc;
use std::time::Duration;

use fip_kit::db::now_millis;
use lettre::message::Mailbox;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::compose::Composer;
use super::transport::{self, SendError, Transport};
use crate::model::{NewEmail, OutboxEmail};
use crate::store::Store;

/// Mails claimed at once.
const BATCH: i64 = 16;

/// How a sender paces itself.
#[derive(Debug, Clone)]
pub struct Pacing {
    pub send_interval: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_attempts: u32,
    pub lease: Duration,
    /// Held mails become a digest when the oldest is this old (the rate
    /// window); None when there is no rate limit.
    pub digest_after: Option<Duration>,
}

impl Pacing {
    pub fn from_config(config: &fip_kit::config::NotifyConfig) -> Self {
        Self {
            send_interval: config.send_interval,
            retry_initial: config.retry_initial,
            retry_max: config.retry_max,
            max_attempts: config.max_attempts,
            lease: config.lease,
            digest_after: (config.rate_limit > 0).then_some(config.rate_window),
        }
    }

    /// The wait before the attempt after `attempts` failed ones: doubling
    /// from `retry_initial` up to `retry_max`, then a random point in its
    /// upper half (so that mails failed together do not retry together).
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .retry_initial
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.retry_max);
        let half = full / 2;
        half + half.mul_f64(rand::thread_rng().r#gen::<f64>())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub struct Sender {
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    composer: Arc<Composer>,
    from: Mailbox,
    pacing: Pacing,
    /// This sender's lease owner name, unique per process.
    owner: String,
    wake: Arc<tokio::sync::Notify>,
}

impl Sender {
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        composer: Arc<Composer>,
        from: Mailbox,
        pacing: Pacing,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            store,
            transport,
            composer,
            from,
            pacing,
            owner: format!("sender-{}", uuid::Uuid::now_v7()),
            wake,
        }
    }

    /// Sends until `shutdown`; a mail being sent is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(to = %self.transport.describe(), "email sender started");
        loop {
            let busy = match self.tick().await {
                Ok(busy) => busy,
                Err(error) => {
                    tracing::warn!(%error, "email sender: cannot read the outbox");
                    false
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            if !busy {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.pacing.send_interval) => {}
                }
            }
        }
        tracing::info!("email sender stopped");
    }

    /// Makes the due digests, then sends one batch of due mails; true when
    /// there were some (there may be more).
    pub async fn tick(&self) -> anyhow::Result<bool> {
        self.digests().await?;
        let now = now_millis();
        let batch = self
            .store
            .claim_emails(&self.owner, now, now + millis(self.pacing.lease), BATCH)
            .await?;
        let busy = !batch.is_empty();
        for email in batch {
            self.deliver(email).await?;
        }
        Ok(busy)
    }

    async fn deliver(&self, email: OutboxEmail) -> anyhow::Result<()> {
        let outcome = match transport::build(&self.from, &email, &self.composer.preferences_url()) {
            Ok(message) => self.transport.send(message).await,
            Err(e) => Err(e),
        };
        let now = now_millis();
        let kept = match &outcome {
            Ok(()) => {
                tracing::info!(email_id = email.id, message_id = %email.message_id,
                    attempts = email.attempts, "email sent");
                self.store
                    .finish_email(email.id, &self.owner, None, now)
                    .await?
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(email_id = email.id, message_id = %email.message_id, %error,
                    "email refused for good");
                self.store
                    .finish_email(email.id, &self.owner, Some(error), now)
                    .await?
            }
            Err(SendError::Transient(error))
                if email.attempts >= i64::from(self.pacing.max_attempts) =>
            {
                tracing::warn!(email_id = email.id, attempts = email.attempts, %error,
                    "email given up");
                let error = format!("gave up after {} attempts: {error}", email.attempts);
                self.store
                    .finish_email(email.id, &self.owner, Some(&error), now)
                    .await?
            }
            Err(SendError::Transient(error)) => {
                let wait = self.pacing.backoff(email.attempts);
                tracing::info!(email_id = email.id, attempts = email.attempts, %error,
                    retry_in_ms = millis(wait), "email not sent yet");
                self.store
                    .retry_email(email.id, &self.owner, error, now + millis(wait))
                    .await?
            }
        };
        if !kept {
            tracing::warn!(
                email_id = email.id,
                "the lease of an email expired while it was being sent"
            );
        }
        Ok(())
    }

    /// Turns each user's held mails into one digest once the oldest has
    /// waited the rate window.
    async fn digests(&self) -> anyhow::Result<()> {
        let Some(after) = self.pacing.digest_after else {
            return Ok(());
        };
        let now = now_millis();
        for user_id in self.store.digests_due(now - millis(after)).await? {
            let held = self.store.held_emails(user_id).await?;
            let Some(last) = held.last() else { continue };
            let rendered = self.composer.digest(&last.to_name, &held)?;
            let digest = NewEmail {
                message_id: self.composer.message_id(),
                to_address: last.to_address.clone(),
                to_name: last.to_name.clone(),
                subject: rendered.subject,
                body_text: rendered.text,
                body_html: rendered.html,
                action_url: String::new(),
                rate_limit: None,
            };
            let ids: Vec<i64> = held.iter().map(|e| e.id).collect();
            if let Some(id) = self.store.insert_digest(user_id, digest, &ids, now).await? {
                tracing::info!(
                    user_id,
                    digest_id = id,
                    mails = ids.len(),
                    "email digest stored"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let pacing = Pacing {
            send_interval: Duration::from_secs(1),
            retry_initial: Duration::from_secs(10),
            retry_max: Duration::from_secs(100),
            max_attempts: 5,
            lease: Duration::from_secs(60),
            digest_after: None,
        };
        for (attempts, full) in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (40, 100)] {
            let full = Duration::from_secs(full);
            for _ in 0..20 {
                let wait = pacing.backoff(attempts);
                assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
            }
        }
    }
}
