//! What the repository's chunks and manifests occupy: `chunk_storage_stats` over every
//! snapshot reachable from a ref, `list_manifest_files` of one snapshot.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use super::Repository;
use crate::error::{IcechunkError, Result};
use crate::format::chunk::BlockTable;
use crate::format::manifest::ChunkLocation;
use crate::format::paths;
use crate::format::snapshot::{NodeKind, ShardInfo};
use crate::ids::{ChunkId, ManifestId, NodeId, SnapshotId};
use crate::sync::current_runtime;

/// Bytes of chunk data reachable from the refs, each stored byte counted once however many
/// snapshots share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkStorageStats {
    /// In chunk objects (`chunks/<id>`), with their block checksum tables.
    pub native_bytes: u64,
    /// Inside manifest shards.
    pub inlined_bytes: u64,
    /// In files outside the repository (virtual chunks), each reference's range counted.
    pub virtual_bytes: u64,
}

/// Where a shard is: its array's node, its block, and its entry in the snapshot.
pub(super) type ShardAt = (NodeId, Vec<u32>, ShardInfo);

/// One manifest shard stored as an object of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFileInfo {
    pub id: ManifestId,
    pub size_bytes: u64,
    pub num_chunk_refs: u64,
}

impl Repository {
    /// Every snapshot reachable from a branch or tag (the tips and their ancestors).
    pub async fn reachable_snapshots(&self) -> Result<HashSet<SnapshotId>> {
        let (branches, tags) = futures::try_join!(self.list_branches(), self.list_tags())?;
        let tips = futures::future::try_join_all(branches.iter().map(|b| self.lookup_branch(b)));
        let targets = futures::future::try_join_all(tags.iter().map(|t| self.lookup_tag(t)));
        let (tips, targets) = futures::try_join!(tips, targets)?;
        let runtime = current_runtime()?;
        let cuts = self.history_cuts().await?;
        let mut seen = HashSet::new();
        for start in tips.into_iter().chain(targets) {
            // Histories share their older part: stop at the first snapshot already walked.
            let mut history =
                crate::history::ancestry(self.assets().clone(), start, runtime.clone(), cuts.clone());
            while let Some(info) = history.try_next().await? {
                if !seen.insert(info.id) {
                    break;
                }
            }
        }
        Ok(seen)
    }

    /// Bytes of chunks reachable from the refs. Each snapshot is read once, and each manifest
    /// shard once however many snapshots share it; `concurrency` shards are read at a time.
    pub async fn chunk_storage_stats(&self, concurrency: usize) -> Result<ChunkStorageStats> {
        let snapshots = self.reachable_snapshots().await?;
        let shards = self.shards_of(&snapshots, concurrency, |_| {}).await?;
        let mut stats = ChunkStorageStats::default();
        let mut objects: HashSet<(ChunkId, u64)> = HashSet::new();
        let mut read = futures::stream::iter(shards.into_values())
            .map(|(node, block, info)| async move { self.assets().shard(node, &block, &info).await })
            .buffer_unordered(concurrency.max(1));
        while let Some(shard) = read.try_next().await? {
            for (_, chunk) in shard.iter() {
                match chunk.location {
                    ChunkLocation::Inline(_) => stats.inlined_bytes += chunk.length,
                    ChunkLocation::Virtual { .. } => stats.virtual_bytes += chunk.length,
                    ChunkLocation::Object { id, offset, block_size_log2 } => {
                        if objects.insert((id, offset)) {
                            let table = if block_size_log2 > 0 {
                                let at = BlockTable::position(chunk.length, block_size_log2)?;
                                at.end - at.start
                            } else {
                                0
                            };
                            stats.native_bytes += chunk.length + table;
                        }
                    }
                }
            }
        }
        Ok(stats)
    }

    /// Every distinct manifest shard of `snapshots` (inline ones too), with what reading it
    /// takes; each snapshot is read once, `concurrency` at a time (at most 64), and
    /// `on_read` is told how many have been read after each.
    pub(super) async fn shards_of(
        &self,
        snapshots: &HashSet<SnapshotId>,
        concurrency: usize,
        on_read: impl Fn(u64) + Send,
    ) -> Result<HashMap<ManifestId, ShardAt>> {
        let mut shards: HashMap<ManifestId, ShardAt> = HashMap::new();
        let mut loaded = futures::stream::iter(snapshots.iter().copied())
            .map(|id| async move { self.assets().snapshot(&id).await })
            .buffer_unordered(concurrency.clamp(1, 64));
        let mut read = 0;
        while let Some(snapshot) = loaded.try_next().await? {
            read += 1;
            on_read(read);
            for node in snapshot.nodes.values() {
                if let NodeKind::Array(array) = &node.kind {
                    for (block, info) in &array.shards {
                        shards
                            .entry(info.manifest_id)
                            .or_insert_with(|| (node.id, block.clone(), info.clone()));
                    }
                }
            }
        }
        Ok(shards)
    }

    /// The manifest shards of a snapshot stored as objects (small shards live inside the
    /// snapshot and are not listed), with their stored sizes.
    pub async fn list_manifest_files(&self, snapshot: &SnapshotId) -> Result<Vec<ManifestFileInfo>> {
        let snapshot = self.assets().snapshot(snapshot).await?;
        let mut files: Vec<(ManifestId, u64)> = snapshot
            .nodes
            .values()
            .filter_map(|node| match &node.kind {
                NodeKind::Array(array) => Some(array.shards.values()),
                _ => None,
            })
            .flatten()
            .filter(|info| info.inline.is_none())
            .map(|info| (info.manifest_id, info.chunk_count))
            .collect();
        files.sort();
        files.dedup();
        let storage = self.storage();
        futures::stream::iter(files)
            .map(|(id, num_chunk_refs)| async move {
                let path = paths::manifest(&id);
                let stored = storage.get(&path).await?.ok_or_else(|| {
                    IcechunkError::corrupt(&path, "a manifest the snapshot names is missing")
                })?;
                Ok::<_, IcechunkError>(ManifestFileInfo {
                    id,
                    size_bytes: stored.len() as u64,
                    num_chunk_refs,
                })
            })
            .buffered(16)
            .try_collect()
            .await
    }
}
