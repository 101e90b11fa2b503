//! BGZF blocks compressed in parallel: the split hands full blocks of any
//! output to a small pool of threads and writes them back in order, so
//! compression runs on every core while the input is read and parsed.
//! Memory is bounded by the blocks in flight, a few per thread.

use std::{
    io::{self, Write},
    sync::{Arc, Mutex, mpsc},
    thread,
};

use noodles::bgzf;

/// The uncompressed bytes of a full block, as bgzip writes them (0xff00).
pub(crate) const BLOCK_DATA: usize = 0xff00;

/// Blocks in flight per worker before the caller waits for one.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// Compresses one BGZF block (header, deflate, CRC and size) at the default
/// level, 6, the level of `bgzip`.
pub(crate) fn compress_block(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut writer = bgzf::io::Writer::new(Vec::with_capacity(data.len() / 2 + 64));
    writer.write_all(data)?;
    writer.flush()?;
    Ok(writer.into_inner())
}

struct Job {
    output: usize,
    seq: u64,
    data: Vec<u8>,
}

/// A compressed block of one output.
pub(crate) struct Done {
    /// The output it belongs to.
    pub output: usize,
    /// Its place among that output's blocks.
    pub seq: u64,
    /// The block, or why compressing it failed.
    pub block: io::Result<Vec<u8>>,
}

/// A pool of compressing threads (none: blocks compress on the caller's).
pub(crate) struct Compressor {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    /// Blocks compressed inline, when there is no thread.
    inline: Vec<Done>,
    workers: Vec<thread::JoinHandle<()>>,
    in_flight: usize,
    limit: usize,
}

impl Compressor {
    /// A pool of `threads` threads; with 0 or 1 blocks compress inline.
    pub(crate) fn new(threads: usize) -> Self {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let mut workers = Vec::new();
        if threads > 1 {
            for _ in 0..threads {
                let jobs_rx = Arc::clone(&jobs_rx);
                let done_tx = done_tx.clone();
                let spawned = thread::Builder::new()
                    .name("fip-vcf-bgzf".to_owned())
                    .spawn(move || {
                        loop {
                            let job = match jobs_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            let block = compress_block(&job.data);
                            let done = Done {
                                output: job.output,
                                seq: job.seq,
                                block,
                            };
                            if done_tx.send(done).is_err() {
                                return;
                            }
                        }
                    });
                match spawned {
                    Ok(handle) => workers.push(handle),
                    // No threads on this platform: compress inline.
                    Err(_) => break,
                }
            }
        }
        let limit = workers.len().max(1) * IN_FLIGHT_PER_WORKER;
        Self {
            jobs: (!workers.is_empty()).then_some(jobs_tx),
            done,
            inline: Vec::new(),
            workers,
            in_flight: 0,
            limit,
        }
    }

    /// Queues a block; returns the blocks finished meanwhile when the pool
    /// is full (it then waits for one), so memory stays bounded.
    pub(crate) fn submit(&mut self, output: usize, seq: u64, data: Vec<u8>) -> Vec<Done> {
        let Some(jobs) = &self.jobs else {
            let block = compress_block(&data);
            self.inline.push(Done { output, seq, block });
            return std::mem::take(&mut self.inline);
        };
        let job = Job { output, seq, data };
        if let Err(mpsc::SendError(job)) = jobs.send(job) {
            // The workers are gone (one panicked): compress here.
            let block = compress_block(&job.data);
            return vec![Done { output, seq, block }];
        }
        self.in_flight += 1;
        let mut finished: Vec<Done> = self.done.try_iter().collect();
        self.in_flight -= finished.len();
        if self.in_flight >= self.limit
            && let Some(done) = self.wait()
        {
            finished.push(done);
        }
        finished
    }

    /// Waits for the next finished block; `None` when nothing is in flight.
    pub(crate) fn wait(&mut self) -> Option<Done> {
        if let Some(done) = self.inline.pop() {
            return Some(done);
        }
        if self.in_flight == 0 {
            return None;
        }
        match self.done.recv() {
            Ok(done) => {
                self.in_flight -= 1;
                Some(done)
            }
            Err(_) => {
                self.in_flight = 0;
                None
            }
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn blocks_come_back_whole_and_readable() {
        let mut pool = Compressor::new(2);
        let mut blocks = Vec::new();
        for seq in 0..20u64 {
            let data = vec![b'a' + (seq % 26) as u8; BLOCK_DATA];
            blocks.extend(pool.submit(0, seq, data));
        }
        while let Some(done) = pool.wait() {
            blocks.push(done);
        }
        assert_eq!(blocks.len(), 20);
        blocks.sort_by_key(|d| d.seq);
        let mut file = Vec::new();
        for done in blocks {
            file.extend(done.block.unwrap());
        }
        let mut text = Vec::new();
        bgzf::io::Reader::new(&file[..])
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(text.len(), 20 * BLOCK_DATA);
        assert_eq!(text[BLOCK_DATA * 3], b'd');
    }
}
