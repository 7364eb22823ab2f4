//! Chunk uploads behind the writer: setting a chunk queues its upload and returns, so a
//! client that awaits each write (zarr-python keeps only about 10 in flight) still keeps up
//! to the storage's request limit busy. On object storage, where each PUT costs a round trip,
//! that is the difference between N/10 and N/256 sequential round trips for N chunks.
//!
//! What makes it safe: the chunk's reference is recorded at once (its id is chosen before the
//! upload), its bytes stay readable here until the upload lands, and everything that
//! publishes references (commit, fork serialization) first waits for every upload they name
//! ([`Uploads::flush`]). A failed upload (an error, a panic, a cancelled task) is retried
//! there, and reported if it fails again; the bytes are kept, so the session loses nothing. A
//! budget of bytes in flight bounds memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::asset_cache::AssetCache;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::{ChunkLocation, ChunkRef};
use crate::ids::ChunkId;
use crate::sync::lock;

/// Chunk bytes in uploads at once (per session) on object storage: 100 chunks of 40 KB,
/// more PUTs a second at 20 ms each than S3 takes under one prefix (3,500). Writing 400 such
/// chunks behind a 20 ms proxy took as long with 8 MiB (twice the connections and bytes held:
/// peak RSS 124 MB, now 107); with 2 MiB, 10% longer...
const BYTES_IN_FLIGHT: usize = 4 * 1024 * 1024;
/// ... and on local disk or in memory, where a write costs no round trip to hide: more in
/// flight than the threads that write (on local disk a small chunk is written by the runtime
/// worker running its upload) only holds chunk bytes in memory longer.
const LOCAL_BYTES_IN_FLIGHT: usize = 1024 * 1024;
/// ... unless the chunks are large: this many are always allowed in flight, whatever their
/// size (so 4 MiB chunks still upload 16 at a time, more than zarr's 10 awaited writes).
const MIN_CHUNKS_IN_FLIGHT: usize = 16;
/// Failed uploads retried at once by `flush`.
const RETRIES_IN_FLIGHT: usize = 32;

/// A chunk not yet known to be stored: its reference and its bytes.
type Pending = (ChunkRef, Bytes);

#[derive(Default)]
struct State {
    /// Chunks not yet stored: in flight, or failed (kept for the retry in `flush`).
    pending: HashMap<ChunkId, Pending>,
    tasks: JoinSet<()>,
}

/// The uploads of one session (a session that merged forks also waits for theirs).
pub(crate) struct Uploads {
    assets: Arc<AssetCache>,
    /// Where upload tasks run: the runtime of the session that owns them.
    runtime: Handle,
    state: Mutex<State>,
    budget: Arc<Semaphore>,
    /// The budget's size: the most one chunk's upload weighs is a `MIN_CHUNKS_IN_FLIGHT`th.
    budget_bytes: usize,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("pending", &self.lock().pending.len()).finish()
    }
}

fn object_id(chunk: &ChunkRef) -> Option<ChunkId> {
    match chunk.location {
        ChunkLocation::Object { id, offset: 0, .. } => Some(id),
        _ => None,
    }
}

impl Uploads {
    pub fn new(assets: Arc<AssetCache>, runtime: Handle) -> Self {
        let local = assets.storage().spec().is_local();
        let budget_bytes = if local { LOCAL_BYTES_IN_FLIGHT } else { BYTES_IN_FLIGHT };
        Uploads {
            assets,
            runtime,
            state: Mutex::default(),
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Stores a chunk where [`AssetCache::place_chunk`] says: in its reference, or as an
    /// object whose upload starts now; returns the reference at once (or after waiting for
    /// room in the byte budget).
    pub async fn write_chunk(self: &Arc<Self>, bytes: Bytes) -> Result<ChunkRef> {
        let chunk = self.assets.place_chunk(bytes.clone());
        let Some(id) = object_id(&chunk) else { return Ok(chunk) };
        let storage = self.assets.storage();
        if !storage.writable() {
            return Err(IcechunkError::ReadOnlyStorage { location: storage.location() });
        }
        let weight = bytes.len().clamp(1, self.budget_bytes / MIN_CHUNKS_IN_FLIGHT) as u32;
        let permit = self.budget.clone().acquire_many_owned(weight).await.expect("never closed");
        let mut state = self.lock();
        // Finished uploads leave nothing worth keeping (failures stay in `pending`).
        while state.tasks.try_join_next().is_some() {}
        state.pending.insert(id, (chunk.clone(), bytes.clone()));
        let (assets, uploads, upload) = (self.assets.clone(), Arc::downgrade(self), chunk.clone());
        state.tasks.spawn_on(
            async move {
                let outcome = assets.write_chunk_object(&upload, bytes).await;
                match (&outcome, uploads.upgrade()) {
                    // Stored: the bytes are read from the storage from now on.
                    (Ok(()), Some(uploads)) => drop(uploads.lock().pending.remove(&id)),
                    (Err(e), _) => {
                        tracing::debug!(chunk = %id, error = %e, "chunk upload failed; retried at flush")
                    }
                    (Ok(()), None) => {}
                }
                drop(permit);
            },
            &self.runtime,
        );
        Ok(chunk)
    }

    /// The bytes of a chunk not yet stored, if it is one of ours.
    pub fn pending(&self, chunk: &ChunkRef) -> Option<Bytes> {
        let id = object_id(chunk)?;
        self.lock().pending.get(&id).map(|(_, bytes)| bytes.clone())
    }

    /// Waits until every chunk written so far is stored, retrying failed uploads once; the
    /// first failure that remains is returned (the bytes stay, a later flush tries again).
    pub async fn flush(&self) -> Result<()> {
        loop {
            let mut tasks = std::mem::take(&mut self.lock().tasks);
            if tasks.is_empty() {
                break;
            }
            while let Some(joined) = tasks.join_next().await {
                // A task that panicked or was cancelled left its chunk in `pending`: the
                // retry below uploads it again.
                if let Err(e) = joined {
                    tracing::warn!(error = %e, "a chunk upload task did not finish; retrying it");
                }
            }
        }
        let failed: Vec<Pending> = self.lock().pending.values().cloned().collect();
        futures::stream::iter(failed)
            .map(|(chunk, bytes)| async move {
                self.assets.write_chunk_object(&chunk, bytes).await?;
                if let Some(id) = object_id(&chunk) {
                    self.lock().pending.remove(&id);
                }
                Ok::<_, IcechunkError>(())
            })
            .buffer_unordered(RETRIES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepositoryConfig;

    fn uploads() -> Arc<Uploads> {
        let assets = AssetCache::new(crate::storage::new_in_memory_storage(), RepositoryConfig::default());
        Arc::new(Uploads::new(Arc::new(assets), Handle::current()))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stored_chunks_leave_memory_without_waiting_for_a_flush() {
        let uploads = uploads();
        let mut written = Vec::new();
        for i in 0..20u8 {
            let bytes = Bytes::from(vec![i; 4096]);
            written.push((uploads.write_chunk(bytes.clone()).await.unwrap(), bytes));
        }
        for _ in 0..200 {
            if uploads.lock().pending.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(uploads.lock().pending.is_empty(), "uploaded bytes are still held");
        uploads.flush().await.unwrap();
        for (chunk, bytes) in written {
            assert_eq!(uploads.assets.read_chunk("c", &chunk, None).await.unwrap(), bytes);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicked_upload_task_is_retried_by_flush_not_a_panic() {
        let uploads = uploads();
        let bytes = Bytes::from(vec![7u8; 4096]);
        let chunk = uploads.assets.place_chunk(bytes.clone());
        let id = object_id(&chunk).unwrap();
        {
            let mut state = uploads.lock();
            state.pending.insert(id, (chunk.clone(), bytes.clone()));
            state.tasks.spawn_on(async { panic!("an upload task panics") }, &uploads.runtime);
        }
        uploads.flush().await.unwrap();
        assert!(uploads.lock().pending.is_empty());
        assert_eq!(uploads.assets.read_chunk("c", &chunk, None).await.unwrap(), bytes);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn on_local_storage_little_waits_in_memory_for_uploads() {
        use crate::storage::test_hooks::HookedStorage;
        // In-memory storage counts as local: a write costs no round trip worth hiding.
        let gated = Arc::new(HookedStorage::new(crate::storage::new_in_memory_storage()).with_closed_puts());
        let assets = AssetCache::new(gated.clone(), RepositoryConfig::default());
        let uploads = Arc::new(Uploads::new(Arc::new(assets), Handle::current()));
        let chunks: Vec<Bytes> = (0..100u8).map(|i| Bytes::from(vec![i; 40_000])).collect();
        let writer = {
            let (uploads, chunks) = (uploads.clone(), chunks.clone());
            tokio::spawn(async move {
                let mut refs = Vec::new();
                for bytes in chunks {
                    refs.push(uploads.write_chunk(bytes).await.unwrap());
                }
                refs
            })
        };
        // No upload can land: the writer stops once the budget is taken.
        let held = || uploads.lock().pending.values().map(|(_, b)| b.len()).sum::<usize>();
        let mut last = usize::MAX;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if held() == last {
                break;
            }
            last = held();
        }
        assert!(!writer.is_finished(), "4 MB of chunks written past a 1 MiB budget");
        assert!(held() <= LOCAL_BYTES_IN_FLIGHT, "{} bytes held for uploads", held());
        assert!(held() > LOCAL_BYTES_IN_FLIGHT / 2, "only {} bytes in flight", held());
        gated.open_puts();
        let refs = writer.await.unwrap();
        uploads.flush().await.unwrap();
        assert!(uploads.lock().pending.is_empty());
        for (chunk, bytes) in refs.iter().zip(&chunks) {
            assert_eq!(&uploads.assets.read_chunk("c", chunk, None).await.unwrap(), bytes);
        }
    }
}
