//! The job queue: which jobs a worker should pick up. The database stays the
//! source of truth; the queue only says "look at this job now".

use std::sync::atomic::{AtomicU64, Ordering};

pub mod redis;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc};

/// Hands job ids to workers.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Asks a worker to drive `job_id`.
    async fn enqueue(&self, job_id: &str) -> anyhow::Result<()>;
    /// The next job id for this worker; None when the queue is closed.
    async fn next(&self) -> anyhow::Result<Option<String>>;
    /// The worker is done with `job_id` (it reached a final state).
    async fn ack(&self, job_id: &str) -> anyhow::Result<()>;
    /// Job ids waiting for a worker.
    async fn depth(&self) -> anyhow::Result<u64>;

    /// Whether a starting worker should drive every unfinished job of the
    /// database itself (a queue that does not outlive the process), rather
    /// than wait for the queue to hand them out.
    fn resumes_from_store(&self) -> bool {
        true
    }
}

/// The embedded queue: an unbounded in-process channel. A restart loses
/// nothing because the worker re-reads unfinished jobs from the database.
pub struct InProcessQueue {
    sender: mpsc::UnboundedSender<String>,
    receiver: Mutex<mpsc::UnboundedReceiver<String>>,
    waiting: AtomicU64,
}

impl Default for InProcessQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Mutex::new(receiver),
            waiting: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, job_id: &str) -> anyhow::Result<()> {
        self.sender
            .send(job_id.to_string())
            .map_err(|_| anyhow::anyhow!("the job queue is closed"))?;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn next(&self) -> anyhow::Result<Option<String>> {
        let next = self.receiver.lock().await.recv().await;
        if next.is_some() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(next)
    }

    async fn ack(&self, _job_id: &str) -> anyhow::Result<()> {
        Ok(())
    }

    async fn depth(&self) -> anyhow::Result<u64> {
        Ok(self.waiting.load(Ordering::SeqCst))
    }
}
