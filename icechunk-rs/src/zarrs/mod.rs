//! A session's Zarr key space as storage for the [zarrs](https://docs.rs/zarrs) crate
//! (feature `zarrs`): [`ZarrsStore`] implements zarrs_storage's readable, writable and
//! listable traits, async and sync, on top of [`Store`].
//!
//! Every call goes to the [`Store`] of the session, so zarrs sees exactly what zarr-python
//! sees through the Python package: keys are validated the same way, a chunk's byte range is
//! read from storage as a range (zarrs reading one inner chunk of a shard fetches the index
//! and that chunk, not the shard), and writes of a read-only session are refused.
//!
//! Errors: an [`IcechunkError`] travels inside zarrs's [`StorageError`] (as the source of its
//! I/O variant, so its message is the engine's); [`engine_error`] gets it back, with its
//! [`kind`](IcechunkError::kind).
//!
//! The sync traits block on the engine's async code, see [`ZarrsStore::new`].

mod blocking;
#[cfg(feature = "codecs")]
pub mod chunk_batches;
mod traits_async;
mod traits_sync;

use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Handle;
use zarrs_storage::byte_range::ByteRange as ZarrsRange;
use zarrs_storage::{StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix};

use crate::error::{IcechunkError, Result};
use crate::session::Session;
use crate::storage::{with_inline_reads, InlineReads};
use crate::store::{ByteRange, Store};

/// zarrs storage over the key space of one session. Cheap to clone (the session is shared).
#[derive(Clone, Debug)]
pub struct ZarrsStore {
    store: Store,
    /// Where the sync traits run the engine's futures when the calling thread is in no
    /// runtime (zarrs's rayon workers, a plain `main`).
    runtime: Option<Handle>,
}

impl ZarrsStore {
    /// The storage of `session`'s key space. Called inside a tokio runtime, that runtime also
    /// serves the sync traits from threads outside it. Sync calls need a multi-thread runtime:
    /// inside a current-thread runtime they would block the thread that drives the engine's
    /// I/O, so they fail with [`ErrorKind::SessionState`](crate::ErrorKind::SessionState).
    pub fn new(session: Session) -> Self {
        ZarrsStore { store: session.store(), runtime: Handle::try_current().ok() }
    }

    /// Like [`ZarrsStore::new`], with the runtime the sync traits use from threads outside any
    /// runtime given explicitly (for a program that calls zarrs's sync API outside
    /// `Runtime::block_on`).
    pub fn with_runtime(session: Session, runtime: Handle) -> Self {
        ZarrsStore { store: session.store(), runtime: Some(runtime) }
    }

    /// The engine's key space this storage reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn session(&self) -> &Session {
        self.store.session()
    }

    /// Runs an engine future to completion for the sync traits. The calling thread waits for
    /// it anyway, so it reads local-disk objects itself: one zarrs call is one key, and zarrs
    /// runs its chunk reads on threads of its own.
    fn block<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let blocked = || blocking::block_on(self.runtime.as_ref(), future);
        with_inline_reads(InlineReads::Any, blocked).map_err(storage_error)?
    }

    // The operations both trait families share, as zarrs types.

    /// The bytes of `ranges` of `key` (`None` when the key holds nothing).
    async fn get_ranges(
        &self,
        key: &StoreKey,
        ranges: Vec<ZarrsRange>,
    ) -> Result<Option<Vec<Bytes>>, StorageError> {
        let key = key.as_str();
        if ranges.is_empty() {
            return Ok(self.store.exists(key).await.map_err(storage_error)?.then(Vec::new));
        }
        let reads = ranges.into_iter().map(|range| self.store.get(key, engine_range(range)));
        let values = futures::future::try_join_all(reads).await.map_err(storage_error)?;
        // A key removed between two reads of one batch is missing as a whole.
        Ok(values.into_iter().collect())
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        match self.store.getsize(key.as_str()).await {
            Ok(size) => Ok(Some(size)),
            Err(IcechunkError::KeyNotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.store.set(key.as_str(), value).await.map_err(storage_error)
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.store.delete(key.as_str()).await.map_err(storage_error)
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.store.delete_dir(prefix.as_str()).await.map_err(storage_error)
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        let mut keys = self.store.list_prefix(prefix.as_str()).await.map_err(storage_error)?;
        // zarrs's own stores list in order; the engine lists node by node.
        keys.sort();
        keys.into_iter().map(|k| StoreKey::new(k).map_err(StorageError::from)).collect()
    }

    /// The engine's `list_dir` gives names; a name is a key when it holds a value (a
    /// `zarr.json` or a written chunk) and a folder otherwise. Within one folder a name is
    /// never both: an array holds no nodes, and a group holds no chunks.
    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        let names = self.store.list_dir(prefix.as_str()).await.map_err(storage_error)?;
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        for name in names {
            let path = format!("{}{name}", prefix.as_str());
            if self.store.exists(&path).await.map_err(storage_error)? {
                keys.push(StoreKey::new(path)?);
            } else {
                prefixes.push(StorePrefix::new(path + "/")?);
            }
        }
        Ok(StoreKeysPrefixes::new(keys, prefixes))
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.store.getsize_prefix(prefix.as_str()).await.map_err(storage_error)
    }
}

/// zarrs's byte range as the engine's (`None`: the whole value).
fn engine_range(range: ZarrsRange) -> Option<ByteRange> {
    match range {
        ZarrsRange::FromStart(0, None) => None,
        ZarrsRange::FromStart(start, None) => Some(ByteRange::Offset(start)),
        ZarrsRange::FromStart(start, Some(len)) => {
            Some(ByteRange::Bounded { start, end: start.saturating_add(len) })
        }
        ZarrsRange::Suffix(len) => Some(ByteRange::Suffix(len)),
    }
}

/// The engine's error as zarrs's: its message shows, and [`engine_error`] recovers it.
pub fn storage_error(error: IcechunkError) -> StorageError {
    StorageError::IOError(Arc::new(std::io::Error::other(error)))
}

/// The engine error inside a zarrs [`StorageError`] made by this module, if it is one.
pub fn engine_error(error: &StorageError) -> Option<&IcechunkError> {
    match error {
        StorageError::IOError(io) => io.get_ref()?.downcast_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_map_to_the_engines() {
        assert_eq!(engine_range(ZarrsRange::FromStart(0, None)), None);
        assert_eq!(engine_range(ZarrsRange::FromStart(5, None)), Some(ByteRange::Offset(5)));
        assert_eq!(
            engine_range(ZarrsRange::FromStart(5, Some(3))),
            Some(ByteRange::Bounded { start: 5, end: 8 })
        );
        assert_eq!(engine_range(ZarrsRange::Suffix(16)), Some(ByteRange::Suffix(16)));
    }

    #[test]
    fn engine_errors_survive_the_round_trip() {
        let error = storage_error(IcechunkError::invalid_key("a/../b", "no `..`"));
        assert!(error.to_string().contains("invalid key `a/../b`"), "{error}");
        assert_eq!(engine_error(&error).map(|e| e.kind()), Some(crate::ErrorKind::InvalidInput));
        assert!(engine_error(&StorageError::ReadOnly).is_none());
    }
}
