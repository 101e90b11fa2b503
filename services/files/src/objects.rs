//! File contents in an object store (`object_store`): a local directory by
//! default, S3 or an S3-compatible store by URL.
//!
//! Memory stays bounded whatever the file size: uploads are buffered up to
//! one part ([`PART_SIZE`]), then go out as a multipart upload with at most
//! [`PART_CONCURRENCY`] parts in flight; downloads are read in chunks of
//! [`CHUNK_SIZE`]. A small file is written with one `put`. Nothing is visible
//! under the object's key until the upload completes: the local store stages
//! parts in a side file that it renames at the end, S3 assembles them at
//! completion; an abandoned upload is aborted (staged data removed).

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fip_kit::config::Config;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, PutPayload, WriteMultipart,
};

use crate::error::FilesError;

/// Size of one part of a multipart upload (S3's minimum for all but the last).
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts of one upload written at the same time.
pub const PART_CONCURRENCY: usize = 2;
/// Largest chunk a download stream yields (the contracts' 1 MiB).
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// A stream of content chunks.
pub type ChunkStream = BoxStream<'static, Result<Bytes, FilesError>>;

/// The object store holding file contents.
#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
}

impl Objects {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// A store in the local directory `dir` (created when missing).
    pub fn local(dir: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the file store {}: {e}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("cannot open the file store {}: {e}", dir.display()))?;
        Ok(Self::new(Arc::new(store)))
    }

    /// The store `files.store_url` names: `<data_dir>/files` when unset,
    /// `file:///path`, or `s3://bucket[/prefix]` with the `AWS_*`
    /// environment variables for credentials, region and endpoint.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match config.files.store_url.as_deref() {
            None => Self::local(&config.data_dir.join("files")),
            Some(url) => {
                if let Some(path) = url.strip_prefix("file://") {
                    Self::local(FsPath::new(path))
                } else if url.starts_with("s3://") {
                    Ok(Self::new(Self::s3_store(url, AmazonS3Builder::from_env())?))
                } else {
                    anyhow::bail!(
                        "invalid configuration: `files.store_url`: {url} is neither file:/// nor s3://"
                    )
                }
            }
        }
    }

    /// The store of `url` (`s3://bucket[/prefix]`) through `builder`, which
    /// carries the credentials, region and endpoint.
    pub fn s3_store(url: &str, builder: AmazonS3Builder) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            anyhow::anyhow!("invalid configuration: `files.store_url`: {url} is not an s3:// URL")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(
            !bucket.is_empty(),
            "invalid configuration: `files.store_url`: no bucket in {url}"
        );
        let s3 = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot open the file store {url}: {e}"))?;
        let prefix = prefix.trim_matches('/');
        Ok(if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        })
    }

    /// A writer for a new object under `key`.
    pub fn writer(&self, key: &str) -> ObjectWriter {
        ObjectWriter {
            store: self.store.clone(),
            path: Path::from(key),
            state: WriterState::Buffered {
                parts: Vec::new(),
                len: 0,
            },
        }
    }

    /// Streams `range` of the object under `key` in chunks of at most
    /// [`CHUNK_SIZE`].
    pub async fn read(&self, key: &str, range: Range<u64>) -> Result<ChunkStream, FilesError> {
        if range.is_empty() {
            return Ok(stream::empty().boxed());
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&Path::from(key), options)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    FilesError::Internal(anyhow::anyhow!("the content of {key} is missing"))
                }
                other => other.into(),
            })?;
        let range = result.range.clone();
        Ok(match result.payload {
            GetResultPayload::File(file, _) => file_chunks(file, range),
            GetResultPayload::Stream(inner) => rechunk(inner.map_err(FilesError::from).boxed()),
        })
    }

    /// Deletes the object under `key`; an absent object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Chunks of a local file read ahead of the consumer.
pub const READ_AHEAD_CHUNKS: usize = 2;

/// Reads a local file's range in [`CHUNK_SIZE`] pieces on the blocking
/// pool, straight into the buffers that are sent, up to
/// [`READ_AHEAD_CHUNKS`] ahead of the consumer so that reading the next
/// chunks overlaps with sending this one. No thread waits on a slow
/// consumer: each chunk is one short positioned read.
fn file_chunks(file: std::fs::File, range: Range<u64>) -> ChunkStream {
    let file = Arc::new(file);
    let starts = (range.start..range.end).step_by(CHUNK_SIZE);
    stream::iter(starts)
        .map(move |start| {
            let file = file.clone();
            let want = (range.end - start).min(CHUNK_SIZE as u64) as usize;
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut chunk = vec![0u8; want];
                    file.read_exact_at(&mut chunk, start).map(|()| chunk)
                })
                .await
                .map_err(|e| FilesError::Internal(e.into()))?
                .map(Bytes::from)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => FilesError::Internal(anyhow::anyhow!(
                        "a stored file ended before byte {}",
                        start + want as u64
                    )),
                    _ => FilesError::ObjectStore(format!("reading a stored file: {e}")),
                })
            }
        })
        .buffered(READ_AHEAD_CHUNKS)
        .boxed()
}

/// Regroups a stream of arbitrary pieces into chunks of [`CHUNK_SIZE`] (the
/// last one shorter), holding at most one chunk plus one piece.
pub fn rechunk(inner: ChunkStream) -> ChunkStream {
    let state = (Some(inner), BytesMut::new());
    stream::try_unfold(state, |(inner, mut buffer)| async move {
        let Some(mut inner) = inner else {
            return Ok(None);
        };
        loop {
            if buffer.len() >= CHUNK_SIZE {
                let chunk = buffer.split_to(CHUNK_SIZE).freeze();
                return Ok(Some((chunk, (Some(inner), buffer))));
            }
            match inner.next().await {
                Some(piece) => buffer.extend_from_slice(&piece?),
                None if buffer.is_empty() => return Ok(None),
                None => {
                    let chunk = buffer.split().freeze();
                    return Ok(Some((chunk, (None, buffer))));
                }
            }
        }
    })
    .boxed()
}

enum WriterState {
    /// Less than one part so far, held in memory.
    Buffered { parts: Vec<Bytes>, len: usize },
    /// A multipart upload in progress.
    Multipart(WriteMultipart),
}

/// Writes one new object from a sequence of chunks. Call [`Self::finish`]
/// to make it visible, or [`Self::abort`] to discard it; a writer dropped
/// in the middle discards what it staged as well (the local store removes
/// its side file; an S3 bucket's lifecycle rule should expire abandoned
/// multipart uploads).
pub struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    state: WriterState,
}

impl ObjectWriter {
    /// Adds the next bytes, waiting while too many parts are in flight.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        match &mut self.state {
            WriterState::Buffered { parts, len } => {
                *len += chunk.len();
                parts.push(chunk);
                if *len >= PART_SIZE {
                    let upload = self.store.put_multipart(&self.path).await?;
                    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                    for part in parts.drain(..) {
                        writer.put(part);
                    }
                    self.state = WriterState::Multipart(writer);
                }
            }
            WriterState::Multipart(writer) => {
                writer.wait_for_capacity(PART_CONCURRENCY).await?;
                writer.put(chunk);
            }
        }
        Ok(())
    }

    /// Completes the object; it is visible under its key from here on.
    pub async fn finish(self) -> Result<(), FilesError> {
        match self.state {
            WriterState::Buffered { parts, .. } => {
                let payload: PutPayload = parts.into_iter().collect();
                self.store.put(&self.path, payload).await?;
            }
            WriterState::Multipart(writer) => {
                writer.finish().await?;
            }
        }
        Ok(())
    }

    /// Discards everything written so far.
    pub async fn abort(self) {
        if let WriterState::Multipart(writer) = self.state
            && let Err(e) = writer.abort().await
        {
            tracing::warn!(path = %self.path, error = %e, "aborting an upload failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(sizes: &[usize]) -> ChunkStream {
        let items: Vec<Result<Bytes, FilesError>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Ok(Bytes::from(vec![i as u8; n])))
            .collect();
        stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn rechunk_regroups_into_full_chunks() {
        let sizes = [10, CHUNK_SIZE - 10, 3 * CHUNK_SIZE + 5, 1, 0];
        let total: usize = sizes.iter().sum();
        let chunks: Vec<Bytes> = rechunk(pieces(&sizes)).try_collect().await.unwrap();
        let lengths: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(
            lengths,
            [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 6],
            "every chunk but the last is full"
        );
        assert_eq!(lengths.iter().sum::<usize>(), total);
        assert!(
            rechunk(pieces(&[]))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn ranges_of_local_files_are_read_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::local(dir.path()).unwrap();
        let content: Vec<u8> = (0..(2 * CHUNK_SIZE + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut writer = objects.writer("a");
        writer.write(Bytes::from(content.clone())).await.unwrap();
        writer.finish().await.unwrap();
        for range in [0..content.len(), 7..CHUNK_SIZE + 9, 100..100, 5..6] {
            let chunks: Vec<Bytes> = objects
                .read("a", range.start as u64..range.end as u64)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert!(
                chunks
                    .iter()
                    .all(|c| !c.is_empty() && c.len() <= CHUNK_SIZE)
            );
            assert_eq!(chunks.concat(), content[range.clone()], "{range:?}");
        }
        objects.delete("a").await.unwrap();
        objects.delete("a").await.unwrap();
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
