//! The object store seen from below: a large upload goes out as a multipart
//! upload in parts of bounded size with a bounded number in flight (so the
//! service's memory does not grow with the file), on the local store and on
//! S3 alike.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use fip_files::objects::{PART_CONCURRENCY, PART_SIZE};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

use crate::harness::*;

#[derive(Debug, Default)]
struct Counts {
    parts: AtomicUsize,
    largest_part: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    single_puts: AtomicUsize,
}

/// An object store that counts the parts written through it.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<Counts>,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    counts: Arc<Counts>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let counts = self.counts.clone();
        counts.parts.fetch_add(1, Ordering::SeqCst);
        counts
            .largest_part
            .fetch_max(data.content_length(), Ordering::SeqCst);
        let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counts.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let part = self.inner.put_part(data);
        Box::pin(async move {
            let result = part.await;
            counts.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.counts.single_puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            inner,
            counts: self.counts.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

#[tokio::test]
async fn a_large_upload_goes_out_in_bounded_parts_and_comes_back_whole() {
    let counts = Arc::new(Counts::default());
    let h = Harness::with_store(default_settings(), {
        let counts = counts.clone();
        move |inner| Arc::new(Counting { inner, counts })
    })
    .await;
    let ada = h.user(1, "ada");
    // 6.5 parts, in the clients' 1 MiB chunks and odd sizes around them.
    let data = content(6 * PART_SIZE + PART_SIZE / 2, 7);
    let chunks = split(&data, &[MIB, 3 * MIB, 17, MIB + 1]);
    let file = h.upload(&ada, named("big.vcf.gz"), chunks).await.unwrap();
    assert_eq!(file.size_bytes, data.len() as i64);
    assert_eq!(file.sha256, sha256_hex(&data));

    let parts = counts.parts.load(Ordering::SeqCst);
    assert_eq!(parts, 7, "six full parts and the rest");
    assert_eq!(counts.single_puts.load(Ordering::SeqCst), 0);
    assert_eq!(counts.largest_part.load(Ordering::SeqCst), PART_SIZE);
    let most = counts.most_in_flight.load(Ordering::SeqCst);
    assert!(
        (1..=PART_CONCURRENCY).contains(&most),
        "{most} parts were in flight at once"
    );
    assert_eq!(
        h.stored_objects().await.len(),
        1,
        "one object, no staged upload"
    );

    let (_, back) = h.download(&ada, &file.id, 0, 0).await.unwrap();
    assert!(back.iter().all(|c| c.len() <= MIB));
    assert_eq!(sha256_hex(&back.concat()), file.sha256);
    // A range across a part boundary.
    let start = PART_SIZE as i64 - 10;
    let (_, range) = h.download(&ada, &file.id, start, 30).await.unwrap();
    assert_eq!(range.concat(), data[start as usize..start as usize + 30]);

    // A small file is one put.
    h.upload(&ada, named("small.txt"), vec![b"hello".to_vec()])
        .await
        .unwrap();
    assert_eq!(counts.single_puts.load(Ordering::SeqCst), 1);
    assert_eq!(counts.parts.load(Ordering::SeqCst), parts);
    h.stop().await;
}
