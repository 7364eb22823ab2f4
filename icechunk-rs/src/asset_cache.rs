//! Reads and writes the immutable objects (snapshots, manifest shards, transaction logs,
//! chunks), verifying each on read, with bounded caches in front of the decoded ones.
//! Concurrent requests for one uncached object share a single fetch. Where a new chunk goes
//! (inline in its reference, or an object of its own) is decided here, and only here.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::config::RepositoryConfig;
use crate::error::{IcechunkError, Result};
use crate::format::chunk::{self, BlockTable, ByteRange};
use crate::format::manifest::{ChunkLocation, ChunkRef, ManifestShard};
use crate::format::paths;
use crate::format::snapshot::{ShardInfo, Snapshot};
use crate::format::txlog::TransactionLog;
use crate::ids::{ChunkCoords, ChunkId, ManifestId, NodeId, SnapshotId};
use crate::storage::Storage;

/// Bytes of chunk block tables kept in memory (a table is 1/4096 of its chunk or less).
const BLOCK_TABLE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A manifest shard weighs its bytes, or its chunk references when the config bounds the cache
/// in references (`num_chunk_refs`).
#[derive(Clone)]
struct ShardWeight {
    by_refs: bool,
}

/// A snapshot weighs 1, or its nodes when the config bounds the cache in nodes
/// (`num_snapshot_nodes`).
#[derive(Clone)]
struct SnapshotWeight {
    by_nodes: bool,
}

impl Weighter<SnapshotId, Arc<Snapshot>> for SnapshotWeight {
    fn weight(&self, _key: &SnapshotId, snapshot: &Arc<Snapshot>) -> u64 {
        if self.by_nodes {
            snapshot.nodes.len().max(1) as u64
        } else {
            1
        }
    }
}

#[derive(Clone)]
struct TableWeight;

impl Weighter<ChunkId, Arc<BlockTable>> for TableWeight {
    fn weight(&self, _key: &ChunkId, table: &Arc<BlockTable>) -> u64 {
        table.weight() as u64
    }
}

impl Weighter<ManifestId, Arc<ManifestShard>> for ShardWeight {
    fn weight(&self, _key: &ManifestId, shard: &Arc<ManifestShard>) -> u64 {
        let weight = if self.by_refs { shard.len() } else { shard.weight() };
        weight.max(1) as u64
    }
}

pub struct AssetCache {
    storage: Arc<dyn Storage>,
    config: RepositoryConfig,
    snapshots: Cache<SnapshotId, Arc<Snapshot>, SnapshotWeight>,
    manifests: Cache<ManifestId, Arc<ManifestShard>, ShardWeight>,
    transaction_logs: Cache<SnapshotId, Arc<TransactionLog>>,
    /// Verified block tables of chunk objects, for range reads.
    block_tables: Cache<ChunkId, Arc<BlockTable>, TableWeight>,
}

impl std::fmt::Debug for AssetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetCache").field("storage", &self.storage).finish_non_exhaustive()
    }
}

async fn cached<K, V, W, F>(cache: &Cache<K, V, W>, key: K, load: F) -> Result<V>
where
    K: Eq + Hash + Clone,
    V: Clone,
    W: Weighter<K, V> + Clone,
    F: Future<Output = Result<V>>,
{
    match cache.get_value_or_guard_async(&key).await {
        Ok(value) => Ok(value),
        Err(guard) => {
            let value = load.await?;
            let _ = guard.insert(value.clone());
            Ok(value)
        }
    }
}

impl AssetCache {
    pub fn new(storage: Arc<dyn Storage>, config: RepositoryConfig) -> Self {
        let snapshot_entries = config.snapshot_cache_size.max(1) as usize;
        // Estimated item counts and weight capacities: entries or nodes for snapshots
        // (~100 nodes each), bytes (~64 KB per shard) or references for manifest shards.
        let snapshots = match config.num_snapshot_nodes {
            Some(nodes) => Cache::with_weighter(
                (nodes / 100).clamp(16, 1 << 16) as usize,
                nodes,
                SnapshotWeight { by_nodes: true },
            ),
            None => Cache::with_weighter(
                snapshot_entries,
                snapshot_entries as u64,
                SnapshotWeight { by_nodes: false },
            ),
        };
        let manifests = match config.num_chunk_refs {
            Some(refs) => Cache::with_weighter(
                (refs / 4096).clamp(16, 1 << 20) as usize,
                refs,
                ShardWeight { by_refs: true },
            ),
            None => {
                let bytes = config.manifest_cache_bytes.max(1);
                Cache::with_weighter(
                    (bytes / 65_536).clamp(16, 1 << 20) as usize,
                    bytes,
                    ShardWeight { by_refs: false },
                )
            }
        };
        AssetCache {
            snapshots,
            transaction_logs: Cache::new(snapshot_entries),
            manifests,
            block_tables: Cache::with_weighter(4096, BLOCK_TABLE_CACHE_BYTES, TableWeight),
            storage,
            config,
        }
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn config(&self) -> &RepositoryConfig {
        &self.config
    }

    pub async fn snapshot(&self, id: &SnapshotId) -> Result<Arc<Snapshot>> {
        cached(&self.snapshots, *id, async {
            let path = paths::snapshot(id);
            let stored = self
                .storage
                .get(&path)
                .await?
                .ok_or_else(|| IcechunkError::SnapshotNotFound { id: id.to_string() })?;
            let snapshot = Snapshot::decode(&path, &stored)?;
            if snapshot.id != *id {
                return Err(IcechunkError::corrupt(path, "snapshot id does not match its name"));
            }
            Ok(Arc::new(snapshot))
        })
        .await
    }

    /// Forgets a snapshot that garbage collection deleted, so this process no longer
    /// serves it from memory.
    pub fn forget_snapshot(&self, id: &SnapshotId) {
        self.snapshots.remove(id);
    }

    pub async fn write_snapshot(&self, snapshot: Snapshot) -> Result<Arc<Snapshot>> {
        let stored = snapshot.encode(self.config.compression_level)?;
        self.storage.put(&paths::snapshot(&snapshot.id), stored).await?;
        let snapshot = Arc::new(snapshot);
        self.snapshots.insert(snapshot.id, snapshot.clone());
        Ok(snapshot)
    }

    /// The shard `info` points at, for block `block` of the array node `node_id`: decoded from
    /// the snapshot's own bytes when it is inline there, else fetched from its object. The
    /// shard must name itself `info.manifest_id` and belong to that node and block (spec §5).
    pub async fn shard(
        &self,
        node_id: NodeId,
        block: &[u32],
        info: &ShardInfo,
    ) -> Result<Arc<ManifestShard>> {
        let id = info.manifest_id;
        let (name, shard) = match &info.inline {
            None => {
                let path = paths::manifest(&id);
                let shard = cached(&self.manifests, id, async {
                    let stored = self
                        .storage
                        .get(&path)
                        .await?
                        .ok_or_else(|| IcechunkError::corrupt(&path, "manifest shard is missing"))?;
                    Ok(Arc::new(ManifestShard::decode(&path, &stored)?))
                })
                .await?;
                (path, shard)
            }
            Some(stored) => {
                let name = format!("inline manifest {id}");
                let shard = cached(&self.manifests, id, async {
                    Ok(Arc::new(ManifestShard::decode(&name, stored)?))
                })
                .await?;
                (name, shard)
            }
        };
        // Checked on every use, cached or not: two references to one shard id must agree too.
        if shard.id() != id {
            return Err(IcechunkError::corrupt(name, "manifest id does not match its reference"));
        }
        if shard.node_id() != node_id || !shard.is_block(block) {
            return Err(IcechunkError::corrupt(
                name,
                format!(
                    "the shard holds block {:?} of node {}, its reference block {block:?} of node {node_id}",
                    shard.block(),
                    shard.node_id()
                ),
            ));
        }
        Ok(shard)
    }

    /// A new shard's stored bytes: uncompressed when it is to live inside a snapshot (whose
    /// compression covers it), compressed when it gets an object of its own.
    pub fn encode_manifest(
        &self,
        id: ManifestId,
        node_id: NodeId,
        block: &[u32],
        refs: &[(ChunkCoords, ChunkRef)],
        for_snapshot: bool,
    ) -> Result<Bytes> {
        let level = (!for_snapshot).then_some(self.config.compression_level);
        ManifestShard::encode(id, node_id, block, refs, level)
    }

    pub async fn write_manifest(&self, id: &ManifestId, stored: Bytes) -> Result<()> {
        self.storage.put(&paths::manifest(id), stored).await
    }

    pub async fn transaction_log(&self, id: &SnapshotId) -> Result<Arc<TransactionLog>> {
        cached(&self.transaction_logs, *id, async {
            let path = paths::transaction_log(id);
            let stored = self
                .storage
                .get(&path)
                .await?
                .ok_or_else(|| IcechunkError::corrupt(&path, "transaction log is missing"))?;
            let (log_id, log) = TransactionLog::decode(&path, &stored)?;
            if log_id != *id {
                return Err(IcechunkError::corrupt(path, "transaction log id does not match its name"));
            }
            Ok(Arc::new(log))
        })
        .await
    }

    pub async fn write_transaction_log(&self, id: SnapshotId, log: TransactionLog) -> Result<()> {
        let stored = log.encode(id, self.config.compression_level)?;
        self.storage.put(&paths::transaction_log(&id), stored).await?;
        self.transaction_logs.insert(id, Arc::new(log));
        Ok(())
    }

    /// Where a new chunk goes, as its reference: inline when it is at most
    /// `inline_chunk_threshold_bytes`, else a fresh object (with a block table when it spans
    /// more than one block), to be written with [`Self::write_chunk_object`].
    pub fn place_chunk(&self, bytes: Bytes) -> ChunkRef {
        let checksum = chunk::checksum(&bytes);
        let length = bytes.len() as u64;
        let location = if length <= self.config.inline_chunk_threshold_bytes as u64 {
            ChunkLocation::Inline(bytes)
        } else {
            let block_size_log2 = chunk::block_size_log2_for(length);
            ChunkLocation::Object { id: ChunkId::random(), offset: 0, block_size_log2 }
        };
        ChunkRef { location, length, checksum }
    }

    /// Stores the object of a chunk placed by [`Self::place_chunk`]; `data` are its bytes.
    pub async fn write_chunk_object(&self, chunk: &ChunkRef, data: Bytes) -> Result<()> {
        let ChunkLocation::Object { id, offset: 0, block_size_log2 } = chunk.location else {
            return Err(IcechunkError::InvalidInput("only a new chunk object can be written".into()));
        };
        // A fresh id, referenced only once this has returned: no whole-or-nothing write needed.
        self.storage.put_new(&paths::chunk(&id), chunk::encode_object(&data, block_size_log2)).await
    }

    /// A chunk's bytes, or a range of them, verified (see [`chunk`]). `key` names the chunk
    /// in errors.
    pub async fn read_chunk(&self, key: &str, chunk: &ChunkRef, range: Option<ByteRange>) -> Result<Bytes> {
        match (&chunk.location, range) {
            (ChunkLocation::Object { id, offset, block_size_log2 }, Some(range)) if *block_size_log2 > 0 => {
                self.read_blocks(key, chunk, id, *offset, *block_size_log2, range).await
            }
            (_, range) => {
                let whole = self.read_whole_chunk(key, chunk).await?;
                Ok(match range {
                    Some(range) => range.slice(whole),
                    None => whole,
                })
            }
        }
    }

    async fn read_whole_chunk(&self, key: &str, chunk: &ChunkRef) -> Result<Bytes> {
        let (bytes, object) = match &chunk.location {
            ChunkLocation::Inline(bytes) => (Some(bytes.clone()), format!("inline chunk {key}")),
            ChunkLocation::Object { id, offset, block_size_log2 } => {
                let path = paths::chunk(id);
                let bytes = if *offset == 0 && *block_size_log2 == 0 {
                    self.storage.get(&path).await?
                } else {
                    self.storage.get_range(&path, *offset..offset + chunk.length).await?
                };
                (bytes, path)
            }
            // Sessions read these through the repository's virtual sources, which know the
            // containers and their credentials; the cache reads only the repository's objects.
            ChunkLocation::Virtual { location, .. } => {
                return Err(IcechunkError::InvalidInput(format!(
                    "chunk `{key}` is virtual ({location}): not an object of the repository"
                )))
            }
        };
        let bytes = bytes.ok_or_else(|| {
            IcechunkError::corrupt(&object, format!("the object holding chunk `{key}` is missing"))
        })?;
        if bytes.len() as u64 != chunk.length || chunk::checksum(&bytes) != chunk.checksum {
            return Err(IcechunkError::corrupt(object, format!("checksum mismatch for chunk `{key}`")));
        }
        Ok(bytes)
    }

    /// A range of a chunk with a block table: the blocks covering it, each checked against
    /// the table, which is checked against the chunk's checksum when first fetched.
    async fn read_blocks(
        &self,
        key: &str,
        chunk: &ChunkRef,
        id: &ChunkId,
        offset: u64,
        block_size_log2: u8,
        range: ByteRange,
    ) -> Result<Bytes> {
        let path = paths::chunk(id);
        let wanted = range.within(chunk.length);
        if wanted.is_empty() {
            return Ok(Bytes::new());
        }
        let missing =
            || IcechunkError::corrupt(&path, format!("the object holding chunk `{key}` is missing"));
        let table = async {
            cached(&self.block_tables, *id, async {
                let at = BlockTable::position(chunk.length, block_size_log2)
                    .map_err(|e| IcechunkError::corrupt(&path, e.to_string()))?;
                let stored = self
                    .storage
                    .get_range(&path, offset + at.start..offset + at.end)
                    .await?
                    .ok_or_else(missing)?;
                let table =
                    BlockTable::decode(&path, &stored, chunk.length, block_size_log2, chunk.checksum)?;
                Ok(Arc::new(table))
            })
            .await
        };
        // The blocks are known from the range alone, so they are fetched together with the table.
        let covering = chunk::covering(chunk.length, block_size_log2, &wanted);
        let blocks = async {
            self.storage
                .get_range(&path, offset + covering.start..offset + covering.end)
                .await?
                .ok_or_else(missing)
        };
        let (table, blocks) = futures::try_join!(table, blocks)?;
        table.verify(&path, &covering, &blocks)?;
        let start = (wanted.start - covering.start) as usize;
        Ok(blocks.slice(start..start + (wanted.end - wanted.start) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline_ref(n: u8) -> (ChunkCoords, ChunkRef) {
        let bytes = Bytes::from(vec![n; 8]);
        (vec![u32::from(n)], ChunkRef { location: ChunkLocation::Inline(bytes), length: 8, checksum: 0 })
    }

    #[test]
    fn icechunks_cache_units_bound_the_caches() {
        let refs: Vec<_> = (0..3).map(inline_ref).collect();
        let stored =
            ManifestShard::encode(ManifestId::random(), NodeId::random(), &[0], &refs, None).unwrap();
        let shard = Arc::new(ManifestShard::decode("manifests/x", &stored).unwrap());
        let id = ManifestId::random();
        assert_eq!(ShardWeight { by_refs: true }.weight(&id, &shard), 3);
        assert_eq!(ShardWeight { by_refs: false }.weight(&id, &shard), shard.weight() as u64);

        let storage = crate::storage::new_in_memory_storage();
        let by_units = RepositoryConfig {
            num_snapshot_nodes: Some(1000),
            num_chunk_refs: Some(10),
            ..RepositoryConfig::default()
        };
        let cache = AssetCache::new(storage.clone(), by_units);
        assert_eq!((cache.snapshots.capacity(), cache.manifests.capacity()), (1000, 10));
        let default = RepositoryConfig::default();
        let cache = AssetCache::new(storage, default.clone());
        assert_eq!(cache.snapshots.capacity(), default.snapshot_cache_size);
        assert_eq!(cache.manifests.capacity(), default.manifest_cache_bytes);
    }
}
