//! A global cap on requests in flight, shared by every session of a repository.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Semaphore;

use super::{ListedObject, Storage, StorageSpec};
use crate::error::Result;

#[derive(Debug)]
pub struct LimitedStorage {
    inner: Arc<dyn Storage>,
    permits: Semaphore,
    max_in_flight: usize,
}

impl LimitedStorage {
    pub fn new(inner: Arc<dyn Storage>, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        LimitedStorage { inner, permits: Semaphore::new(max_in_flight), max_in_flight }
    }

    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the semaphore is never closed")
    }
}

#[async_trait]
impl Storage for LimitedStorage {
    fn spec(&self) -> StorageSpec {
        self.inner.spec()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        let _permit = self.permit().await;
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        let _permit = self.permit().await;
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.put(path, bytes).await
    }
    async fn put_new(&self, path: &str, bytes: Bytes) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.put_new(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        let _permit = self.permit().await;
        self.inner.put_if_absent(path, bytes).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        let _permit = self.permit().await;
        self.inner.list(prefix).await
    }
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        let _permit = self.permit().await;
        self.inner.list_folders(prefix).await
    }
    async fn list_paths(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        let _permit = self.permit().await;
        self.inner.list_paths(prefix).await
    }
    async fn describe(&self, prefix: &str, paths: Vec<String>) -> Result<Vec<ListedObject>> {
        let _permit = self.permit().await;
        self.inner.describe(prefix, paths).await
    }
    /// The inner store sends up to `concurrency` (bulk) requests at once: as many permits,
    /// and `concurrency` cut to the cap, so that deletes count against it like anything else.
    async fn delete_many(&self, paths: Vec<String>, concurrency: usize) -> Vec<Result<()>> {
        let concurrency = concurrency.clamp(1, self.max_in_flight);
        let _permits =
            self.permits.acquire_many(concurrency as u32).await.expect("the semaphore is never closed");
        self.inner.delete_many(paths, concurrency).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        let _permit = self.permit().await;
        self.inner.delete(path).await
    }
    fn writable(&self) -> bool {
        self.inner.writable()
    }
    fn can_list(&self) -> bool {
        self.inner.can_list()
    }
    fn timestamp_slack(&self) -> std::time::Duration {
        self.inner.timestamp_slack()
    }
    async fn check_conditional_writes(&self) -> Result<()> {
        self.inner.check_conditional_writes().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::storage::new_in_memory_storage;
    use crate::storage::test_hooks::HookedStorage;

    #[tokio::test]
    async fn bulk_deletes_stay_under_the_cap() {
        let slow = Arc::new(
            HookedStorage::new(new_in_memory_storage())
                .with_delete_delay(std::time::Duration::from_millis(5)),
        );
        let limited = LimitedStorage::new(slow.clone(), 3);
        let paths: Vec<String> = (0..20).map(|i| format!("chunks/{i}")).collect();
        for path in &paths {
            limited.put(path, Bytes::from_static(b"x")).await.unwrap();
        }
        let deletes = limited.delete_many(paths.clone(), 16);
        let results =
            tokio::time::timeout(std::time::Duration::from_secs(20), deletes).await.expect("deletes end");
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(
            slow.most_deletes_in_flight.load(Ordering::SeqCst),
            3,
            "asked for 16 at once, capped at 3"
        );
        // Without the cap, straight to the store: 16 at once.
        let direct: Vec<String> = (0..20).map(|i| format!("chunks/b{i}")).collect();
        let deletes = slow.delete_many(direct, 16);
        tokio::time::timeout(std::time::Duration::from_secs(20), deletes).await.expect("deletes end");
        assert_eq!(slow.most_deletes_in_flight.load(Ordering::SeqCst), 16);
        for path in &paths {
            assert_eq!(limited.get(path).await.unwrap(), None);
        }
    }
}
