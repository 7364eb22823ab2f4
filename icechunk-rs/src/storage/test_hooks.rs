//! A storage wrapper for the engine's own tests: puts wait at a gate the test opens, deletes
//! take a while and count how many run at once. Everything else goes straight through.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Semaphore;

use super::{ListedObject, Storage, StorageSpec};
use crate::error::Result;

#[derive(Debug)]
pub(crate) struct HookedStorage {
    inner: Arc<dyn Storage>,
    /// A put holds a permit while it runs: none until `open_puts`, for a closed gate.
    put_gate: Semaphore,
    delete_delay: Duration,
    deletes_in_flight: AtomicUsize,
    /// The most deletes that were in flight at once.
    pub most_deletes_in_flight: AtomicUsize,
}

impl HookedStorage {
    /// Puts open, deletes without delay.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        HookedStorage {
            inner,
            put_gate: Semaphore::new(Semaphore::MAX_PERMITS),
            delete_delay: Duration::ZERO,
            deletes_in_flight: AtomicUsize::new(0),
            most_deletes_in_flight: AtomicUsize::new(0),
        }
    }

    /// Puts wait until `open_puts`.
    pub fn with_closed_puts(mut self) -> Self {
        self.put_gate = Semaphore::new(0);
        self
    }

    pub fn open_puts(&self) {
        self.put_gate.add_permits(Semaphore::MAX_PERMITS - self.put_gate.available_permits());
    }

    pub fn with_delete_delay(mut self, delay: Duration) -> Self {
        self.delete_delay = delay;
        self
    }
}

#[async_trait]
impl Storage for HookedStorage {
    fn spec(&self) -> StorageSpec {
        self.inner.spec()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let _permit = self.put_gate.acquire().await.expect("never closed");
        self.inner.put(path, bytes).await
    }
    async fn put_new(&self, path: &str, bytes: Bytes) -> Result<()> {
        let _permit = self.put_gate.acquire().await.expect("never closed");
        self.inner.put_new(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        self.inner.put_if_absent(path, bytes).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        self.inner.list(prefix).await
    }
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_folders(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        let now = self.deletes_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_deletes_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delete_delay).await;
        self.deletes_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.delete(path).await
    }
}
