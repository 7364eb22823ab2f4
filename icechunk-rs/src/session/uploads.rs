//! Chunk uploads behind the writer: setting a chunk queues its upload and returns, so a
//! client that awaits each write (zarr-python keeps only about 10 in flight) still keeps up
//! to the storage's request limit busy. On object storage, where each PUT costs a round trip,
//! that is the difference between N/10 and N/256 sequential round trips for N chunks.
//!
//! What makes it safe: the chunk's reference is recorded at once (its id is chosen before the
//! upload), its bytes stay readable here until the upload lands, and everything that
//! publishes references (commit, fork serialization) first waits for every upload they name
//! ([`Uploads::flush`]). A failed upload is retried there, and reported if it fails again;
//! the bytes are kept, so the session loses nothing. A budget of bytes in flight bounds memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::Result;
use crate::format::manifest::{ChunkLocation, ChunkRef};
use crate::format::{chunk_checksum, ChunkId};
use crate::repository::Repository;

/// Chunk bytes in uploads at once (per session)...
const BYTES_IN_FLIGHT: usize = 8 * 1024 * 1024;
/// ... unless the chunks are large: this many are always allowed in flight, whatever their
/// size (so 4 MiB chunks still upload 16 at a time, more than zarr's 10 awaited writes).
const MIN_CHUNKS_IN_FLIGHT: usize = 16;
/// Failed uploads retried at once by `flush`.
const RETRIES_IN_FLIGHT: usize = 32;

#[derive(Default)]
struct State {
    /// Chunks not yet stored: in flight, or failed (kept for the retry in `flush`).
    pending: HashMap<ChunkId, Bytes>,
    tasks: JoinSet<()>,
}

pub(crate) struct Uploads {
    state: Mutex<State>,
    budget: Arc<Semaphore>,
}

impl Default for Uploads {
    fn default() -> Self {
        Uploads { state: Mutex::default(), budget: Arc::new(Semaphore::new(BYTES_IN_FLIGHT)) }
    }
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("pending", &self.lock().pending.len()).finish()
    }
}

impl Uploads {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a chunk: inline in its reference when small; else starts its upload and
    /// returns the reference at once (or after waiting for room in the byte budget).
    pub async fn write_chunk(self: &Arc<Self>, repo: &Repository, bytes: Bytes) -> Result<ChunkRef> {
        let assets = repo.assets();
        let length = bytes.len() as u64;
        if length <= assets.config().inline_chunk_threshold_bytes as u64 {
            return assets.write_chunk(bytes).await;
        }
        let checksum = chunk_checksum(&bytes);
        let id = ChunkId::random();
        let chunk = ChunkRef { location: ChunkLocation::Object { id, offset: 0 }, length, checksum };
        // Without a runtime to run it, or when it must fail (read-only storage: say so now).
        let runtime = tokio::runtime::Handle::try_current().ok().filter(|_| repo.storage().writable());
        let Some(runtime) = runtime else {
            assets.write_chunk_object(&id, bytes).await?;
            return Ok(chunk);
        };
        let weight = bytes.len().clamp(1, BYTES_IN_FLIGHT / MIN_CHUNKS_IN_FLIGHT) as u32;
        let permit = self.budget.clone().acquire_many_owned(weight).await.expect("never closed");
        let mut state = self.lock();
        // Finished uploads leave nothing worth keeping (failures stay in `pending`).
        while state.tasks.try_join_next().is_some() {}
        state.pending.insert(id, bytes.clone());
        let (repo, uploads) = (repo.clone(), Arc::downgrade(self));
        state.tasks.spawn_on(
            async move {
                let outcome = repo.assets().write_chunk_object(&id, bytes).await;
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
            &runtime,
        );
        Ok(chunk)
    }

    /// The bytes of a chunk not yet stored, if it is one of ours.
    pub fn pending(&self, chunk: &ChunkRef) -> Option<Bytes> {
        match &chunk.location {
            ChunkLocation::Object { id, offset: 0 } => self.lock().pending.get(id).cloned(),
            _ => None,
        }
    }

    /// Waits until every chunk written so far is stored, retrying failed uploads once; the
    /// first failure that remains is returned (the bytes stay, a later flush tries again).
    pub async fn flush(&self, repo: &Repository) -> Result<()> {
        loop {
            let mut tasks = std::mem::take(&mut self.lock().tasks);
            if tasks.is_empty() {
                break;
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("an upload task does not panic");
            }
        }
        let failed: Vec<(ChunkId, Bytes)> =
            self.lock().pending.iter().map(|(id, bytes)| (*id, bytes.clone())).collect();
        futures::stream::iter(failed)
            .map(|(id, bytes)| async move {
                repo.assets().write_chunk_object(&id, bytes).await?;
                self.lock().pending.remove(&id);
                Ok::<_, crate::error::IcechunkError>(())
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

    #[tokio::test(flavor = "multi_thread")]
    async fn stored_chunks_leave_memory_without_waiting_for_a_flush() {
        let repo = Repository::create(crate::storage::new_in_memory_storage(), None).await.unwrap();
        let uploads = Arc::new(Uploads::default());
        let mut written = Vec::new();
        for i in 0..20u8 {
            let bytes = Bytes::from(vec![i; 4096]);
            written.push((uploads.write_chunk(&repo, bytes.clone()).await.unwrap(), bytes));
        }
        for _ in 0..200 {
            if uploads.lock().pending.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(uploads.lock().pending.is_empty(), "uploaded bytes are still held");
        uploads.flush(&repo).await.unwrap();
        for (chunk, bytes) in written {
            assert_eq!(repo.assets().read_chunk("c", &chunk).await.unwrap(), bytes);
        }
    }
}
