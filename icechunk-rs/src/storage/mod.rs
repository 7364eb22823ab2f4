//! Storage: one async trait for everything the engine reads and writes, implemented over the
//! `object_store` crate. Paths are relative to the repository's location.
//!
//! The only conditional write the engine needs is create-if-absent ([`Storage::put_if_absent`]):
//! every backend and every S3-compatible server tried here implements it safely under
//! contention, unlike compare-and-swap updates (see spec/format.md, "Refs").
//!
//! Backends: in memory, local disk, and the cloud stores of [`cloud`]: S3 and S3-compatibles
//! (R2, Tigris, MinIO), Google Cloud Storage, Azure Blob Storage, and read-only HTTP.

pub mod cloud;
mod credentials;
mod limit;
mod local_disk;
mod object_store_backend;
#[cfg(test)]
pub(crate) mod test_hooks;

use std::fmt::Debug;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};
pub use cloud::{
    new_azure_storage, new_gcs_storage, new_http_storage, new_http_storage_with, new_r2_storage,
    new_s3_storage, new_tigris_storage, resolve_redirect, set_credential_fetcher_loader, Attribution,
    AzureCredentials, AzureOptions, CredentialFetcher, Expiring, ExtraHeaders, FetchedCredential,
    FetcherLoader, GcsCredentials, GcsOptions, HttpOptions, NetworkOptions, RefreshableCredentials, S3Auth,
    S3Checksum, S3Options, S3Provider, REFRESH_MARGIN, USER_AGENT,
};
pub use credentials::Secret;
pub use limit::LimitedStorage;
pub use local_disk::{reading_inline, with_inline_reads, InlineReads};
pub use object_store_backend::{BackendSettings, ConditionalRead, CreateIfAbsent, LargeReads, ObjectStorage};

/// How to rebuild a storage elsewhere (another process, a Dask worker).
///
/// Credentials are part of it (serialized, so that the storage can be rebuilt), but neither
/// its `Debug` nor its `Display` shows them. `Display` is the constructor call, for `repr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageSpec {
    /// Lives only in this process.
    InMemory,
    LocalFilesystem {
        path: PathBuf,
    },
    /// Amazon S3 and S3-compatibles (R2, Tigris, MinIO...).
    S3(S3Options),
    /// Google Cloud Storage.
    Gcs(GcsOptions),
    /// Azure Blob Storage.
    Azure(AzureOptions),
    /// Read-only HTTP(S).
    Http(HttpOptions),
}

impl StorageSpec {
    /// The spec as compact bytes (MessagePack), credentials included: for pickling.
    pub fn to_bytes(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("a storage spec serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        rmp_serde::from_slice(bytes)
            .map_err(|e| IcechunkError::InvalidInput(format!("not a serialized storage spec: {e}")))
    }

    /// In this process's memory or on a local disk: a request costs no network round trip,
    /// so keeping many in flight hides nothing (and holds their bytes in memory).
    pub fn is_local(&self) -> bool {
        matches!(self, StorageSpec::InMemory | StorageSpec::LocalFilesystem { .. })
    }

    /// The network options of a cloud storage (none for memory and local folders).
    pub fn network_mut(&mut self) -> Option<&mut NetworkOptions> {
        match self {
            StorageSpec::InMemory | StorageSpec::LocalFilesystem { .. } => None,
            StorageSpec::S3(o) => Some(&mut o.network),
            StorageSpec::Gcs(o) => Some(&mut o.network),
            StorageSpec::Azure(o) => Some(&mut o.network),
            StorageSpec::Http(o) => Some(&mut o.network),
        }
    }
}

impl std::fmt::Display for StorageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        cloud::describe(self, f)
    }
}

/// An object's name and size, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Relative to the listed prefix.
    pub path: String,
    pub size: u64,
    /// When the store last wrote it (the store's clock).
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

#[async_trait]
pub trait Storage: Send + Sync + Debug {
    fn spec(&self) -> StorageSpec;
    /// Human-readable location, for messages.
    fn location(&self) -> String;
    /// `Ok(None)` when the object does not exist.
    async fn get(&self, path: &str) -> Result<Option<Bytes>>;
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>>;
    /// Writes or replaces an object; readers see the old or the new bytes, never a part.
    async fn put(&self, path: &str, bytes: Bytes) -> Result<()>;
    /// Writes an object under a fresh name that nothing reads before this returns (a chunk
    /// object: a random id, referenced only once its upload has ended), so it need not appear
    /// whole at once: while the call runs, or after the writer crashed, the name may hold a
    /// part of it, which nothing references. Where a whole-or-nothing write costs extra
    /// (local disk: a staging file and a rename), stores skip it; by default `put`.
    async fn put_new(&self, path: &str, bytes: Bytes) -> Result<()> {
        self.put(path, bytes).await
    }
    /// Creates the object only if no object has that path. `Ok(false)`: one already existed.
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool>;
    /// Every object under `prefix` (a folder: "refs/"), recursively.
    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>>;
    /// The immediate sub-folders of `prefix`, by name.
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>>;
    async fn delete(&self, path: &str) -> Result<()>;
    /// The paths (relative to `prefix`) of every object under it, without sizes or times,
    /// when this store lists much faster that way (local disk: no `stat` per file); `None`:
    /// use `list`. For garbage collection, which needs times only of unreachable objects.
    async fn list_paths(&self, _prefix: &str) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// Sizes and times of the objects `paths` (relative to `prefix`) of a store whose
    /// `list_paths` answers; an object gone meanwhile is left out.
    async fn describe(&self, prefix: &str, _paths: Vec<String>) -> Result<Vec<ListedObject>> {
        Err(IcechunkError::StorageOther(format!(
            "{}: cannot describe objects under {prefix}",
            self.location()
        )))
    }
    /// Deletes every one of `paths` (one already gone counts as deleted); a result per path,
    /// in order. Stores delete in bulk where they can (S3's DeleteObjects takes up to 1,000
    /// keys a request; local disk unlinks a batch per thread hand-off); by default `delete`,
    /// `concurrency` at a time.
    async fn delete_many(&self, paths: Vec<String>, concurrency: usize) -> Vec<Result<()>> {
        use futures::StreamExt;
        let deletes = paths.into_iter().map(|path| async move { self.delete(&path).await });
        futures::stream::iter(deletes).buffered(concurrency.max(1)).collect().await
    }
    /// False when every write fails (HTTP).
    fn writable(&self) -> bool {
        true
    }
    /// Whether `list` works. Plain HTTP servers cannot list: refs are then found by reads.
    fn can_list(&self) -> bool {
        true
    }
    /// How much earlier than the true time a listed `last_modified` may be: object stores
    /// report whole seconds (S3, moto), and garbage collection must not take an object
    /// written just now for an old one.
    fn timestamp_slack(&self) -> std::time::Duration {
        std::time::Duration::from_secs(2)
    }
    /// Fails with `UnsafeStorage` when the store is known not to honour create-if-absent (and
    /// the user did not accept single-writer mode), so that a repository is refused at open
    /// rather than at its first commit. Stores that honour it by construction do nothing.
    async fn check_conditional_writes(&self) -> Result<()> {
        Ok(())
    }
}

pub fn new_in_memory_storage() -> Arc<dyn Storage> {
    Arc::new(ObjectStorage::in_memory())
}

/// A repository in the folder `path` (created if missing).
pub fn new_local_filesystem_storage(path: impl Into<PathBuf>) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(ObjectStorage::local_filesystem(path.into())?))
}

/// `storage`, rebuilt so that every request it sends carries `attribution` in its `User-Agent`
/// (see [`Attribution`]); the attribution travels with its spec, so a storage rebuilt elsewhere
/// (a pickled session on a Dask worker) labels its requests the same way. Memory and local
/// folders send no requests, so there is nothing to label: they come back as they are, as does
/// a storage that already carries this attribution.
pub fn with_attribution(storage: Arc<dyn Storage>, attribution: &Attribution) -> Result<Arc<dyn Storage>> {
    attribution.validate()?;
    let mut spec = storage.spec();
    match spec.network_mut() {
        Some(network) if network.attribution != *attribution => {
            network.attribution = attribution.clone();
            from_spec(&spec)
        }
        _ => Ok(storage),
    }
}

/// Rebuilds a storage from its description. In-memory storage cannot be rebuilt.
pub fn from_spec(spec: &StorageSpec) -> Result<Arc<dyn Storage>> {
    match spec {
        StorageSpec::InMemory => Err(IcechunkError::InvalidInput(
            "an in-memory repository lives in one process and cannot be reopened elsewhere".into(),
        )),
        StorageSpec::LocalFilesystem { path } => new_local_filesystem_storage(path.clone()),
        cloud => {
            let storage = cloud::from_cloud_spec(cloud).expect("a cloud storage spec")?;
            Ok(Arc::new(storage))
        }
    }
}
