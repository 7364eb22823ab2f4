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
}

impl LimitedStorage {
    pub fn new(inner: Arc<dyn Storage>, max_in_flight: usize) -> Self {
        LimitedStorage { inner, permits: Semaphore::new(max_in_flight.max(1)) }
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
    /// One permit for the whole batch: the inner store sends it as few bulk requests.
    async fn delete_many(&self, paths: Vec<String>, concurrency: usize) -> Vec<Result<()>> {
        let _permit = self.permit().await;
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
