//! The distributed queue: a Redis stream with a consumer group.
//!
//! `enqueue` appends `{job_id}` (XADD); each worker reads new entries as its
//! own consumer (XREADGROUP), so an entry goes to one worker; `ack` removes
//! the job's entries (XACK + XDEL) once it is final. A worker that starts
//! again first re-reads its own pending entries (id `0`), and any worker
//! claims entries another consumer left idle for too long (XAUTOCLAIM) — the
//! jobs of a worker that died resume elsewhere.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio::sync::Mutex;

use super::JobQueue;

/// Stream and group names.
pub const STREAM: &str = "fip:jobs:queue";
pub const GROUP: &str = "fip-workers";

pub struct RedisQueue {
    /// Short commands (XADD, XACK, XLEN).
    commands: ConnectionManager,
    /// Blocking reads, on a connection of their own.
    reader: Mutex<Reader>,
    consumer: String,
    stream: String,
    /// An entry idle this long in another consumer's pending list is claimed.
    claim_after: Duration,
    /// Entry ids delivered to this consumer, by job id (for ack).
    delivered: Mutex<HashMap<String, Vec<String>>>,
}

struct Reader {
    connection: ConnectionManager,
    /// Read our own pending entries first (after a restart).
    backlog_done: bool,
    /// Entries fetched but not yet handed out.
    ready: Vec<(String, String)>,
}

impl RedisQueue {
    /// Connects and creates the consumer group if needed. `consumer` names
    /// this worker; keep it stable across restarts of the same worker.
    pub async fn connect(url: &str, consumer: &str, claim_after: Duration) -> anyhow::Result<Self> {
        Self::connect_stream(url, STREAM, consumer, claim_after).await
    }

    /// Like [`RedisQueue::connect`] on another stream (tests isolate themselves).
    pub async fn connect_stream(
        url: &str,
        stream: &str,
        consumer: &str,
        claim_after: Duration,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        // Connection managers reconnect by themselves after Redis restarts.
        let mut commands = ConnectionManager::new(client.clone()).await?;
        create_group(&mut commands, stream).await?;
        let reader = ConnectionManager::new(client).await?;
        Ok(Self {
            commands,
            reader: Mutex::new(Reader {
                connection: reader,
                backlog_done: false,
                ready: Vec::new(),
            }),
            consumer: consumer.to_string(),
            stream: stream.to_string(),
            claim_after,
            delivered: Mutex::new(HashMap::new()),
        })
    }

    fn entries(reply: StreamReadReply) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for key in reply.keys {
            for entry in key.ids {
                if let Some(job) = entry.get::<String>("job_id") {
                    out.push((entry.id, job));
                }
            }
        }
        out
    }

    /// Claims entries other consumers left idle too long.
    async fn claim_stale(
        &self,
        connection: &mut ConnectionManager,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let reply: redis::Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.claim_after.as_millis() as u64)
            .arg("0")
            .arg("COUNT")
            .arg(100)
            .query_async(connection)
            .await?;
        // [next-cursor, [[id, [field, value, ...]], ...], deleted-ids]
        let mut out = Vec::new();
        if let redis::Value::Array(parts) = reply
            && let Some(redis::Value::Array(entries)) = parts.get(1)
        {
            for entry in entries {
                if let redis::Value::Array(pair) = entry
                    && let (Some(id), Some(redis::Value::Array(fields))) =
                        (pair.first(), pair.get(1))
                {
                    let id: String = redis::from_redis_value(id)?;
                    let mut iter = fields.iter();
                    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                        let k: String = redis::from_redis_value(k)?;
                        if k == "job_id" {
                            out.push((id.clone(), redis::from_redis_value(v)?));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn enqueue(&self, job_id: &str) -> anyhow::Result<()> {
        let mut c = self.commands.clone();
        let _: String = c.xadd(&self.stream, "*", &[("job_id", job_id)]).await?;
        Ok(())
    }

    async fn next(&self) -> anyhow::Result<Option<String>> {
        let mut reader = self.reader.lock().await;
        loop {
            if let Some((id, job)) = reader.ready.pop() {
                self.delivered
                    .lock()
                    .await
                    .entry(job.clone())
                    .or_default()
                    .push(id);
                return Ok(Some(job));
            }
            let start = if reader.backlog_done { ">" } else { "0" };
            let mut options = StreamReadOptions::default()
                .group(GROUP, &self.consumer)
                .count(50);
            if reader.backlog_done {
                options = options.block(2000);
            }
            let reply: redis::RedisResult<Option<StreamReadReply>> = reader
                .connection
                .xread_options(&[&self.stream], &[start], &options)
                .await;
            let reply = match reply {
                Ok(reply) => reply,
                // Redis lost the stream (a restart without persistence):
                // make the group again; unfinished jobs are queued again by
                // the workers' reconciliation.
                Err(e) if e.code() == Some("NOGROUP") => {
                    tracing::warn!(stream = %self.stream, "the job queue was lost; recreating it");
                    create_group(&mut reader.connection, &self.stream).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut found = reply.map(Self::entries).unwrap_or_default();
            if !reader.backlog_done {
                reader.backlog_done = true;
            }
            if found.is_empty() {
                found = self.claim_stale(&mut reader.connection).await?;
            }
            found.reverse();
            reader.ready = found;
        }
    }

    async fn ack(&self, job_id: &str) -> anyhow::Result<()> {
        let ids = self
            .delivered
            .lock()
            .await
            .remove(job_id)
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.commands.clone();
        let _: i64 = c.xack(&self.stream, GROUP, &ids).await?;
        let _: i64 = c.xdel(&self.stream, &ids).await?;
        Ok(())
    }

    async fn depth(&self) -> anyhow::Result<u64> {
        let mut c = self.commands.clone();
        Ok(c.xlen(&self.stream).await?)
    }

    fn resumes_from_store(&self) -> bool {
        false
    }
}

async fn create_group(connection: &mut ConnectionManager, stream: &str) -> anyhow::Result<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}
