//! Job changes, published as they are saved, feeding `WatchJob`. In-process
//! broadcast; a slow watcher that falls behind is told so and resynchronises
//! from the store.

use tokio::sync::broadcast;

use crate::model::{Job, LogEntry, StatusUpdate};

/// What changed.
#[derive(Debug, Clone)]
pub enum Change {
    /// The job was saved (with the history entry, when its status changed).
    Saved(Option<StatusUpdate>),
    /// Log lines were added.
    Logged(Vec<LogEntry>),
}

/// One change of one job, with the job as it now is.
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub job: Job,
    pub change: Change,
}

#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<JobEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Events {
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, event: JobEvent) {
        // No watcher is not an error.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.sender.subscribe()
    }
}
