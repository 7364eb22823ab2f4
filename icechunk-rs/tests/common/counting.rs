//! A storage that counts the chunk-object reads going through it (range tests, the zarrs
//! adapter's sharded reads).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use icechunk::storage::{ListedObject, StorageSpec};
use icechunk::Storage;

/// Records every chunk-object read: the path and how many bytes came back.
#[derive(Debug)]
pub struct CountingStorage {
    inner: Arc<dyn Storage>,
    chunk_reads: Mutex<Vec<u64>>,
}

impl CountingStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        CountingStorage { inner, chunk_reads: Mutex::default() }
    }

    fn record(&self, path: &str, bytes: &Option<Bytes>) {
        if path.starts_with("chunks/") {
            self.chunk_reads.lock().unwrap().push(bytes.as_ref().map_or(0, |b| b.len() as u64));
        }
    }

    /// (requests, bytes) since the last call.
    pub fn take(&self) -> (usize, u64) {
        let reads = std::mem::take(&mut *self.chunk_reads.lock().unwrap());
        (reads.len(), reads.iter().sum())
    }
}

#[async_trait]
impl Storage for CountingStorage {
    fn spec(&self) -> StorageSpec {
        self.inner.spec()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn get(&self, path: &str) -> icechunk::Result<Option<Bytes>> {
        let got = self.inner.get(path).await?;
        self.record(path, &got);
        Ok(got)
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> icechunk::Result<Option<Bytes>> {
        let got = self.inner.get_range(path, range).await?;
        self.record(path, &got);
        Ok(got)
    }
    async fn put(&self, path: &str, bytes: Bytes) -> icechunk::Result<()> {
        self.inner.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> icechunk::Result<bool> {
        self.inner.put_if_absent(path, bytes).await
    }
    async fn list(&self, prefix: &str) -> icechunk::Result<Vec<ListedObject>> {
        self.inner.list(prefix).await
    }
    async fn list_folders(&self, prefix: &str) -> icechunk::Result<Vec<String>> {
        self.inner.list_folders(prefix).await
    }
    async fn delete(&self, path: &str) -> icechunk::Result<()> {
        self.inner.delete(path).await
    }
}
