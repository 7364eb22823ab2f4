//! Rewriting every manifest shard of a snapshot (`Repository::rewrite_manifests`): each
//! array's block shape is chosen again from the repository's current configuration
//! (`manifest_shard_size`, `inline_chunk_threshold_bytes`), and all its references, old ones
//! and the session's changes, are laid out anew in shards of that shape. Nothing the
//! references point at is copied: only manifests are written.
//!
//! An array's block shape is otherwise fixed by its first commit (spec §6.2); a rewrite is the
//! one commit that may change it, because it replaces every shard of the array at once, so
//! no shard of the old shape survives next to one of the new.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::commit::ShardJob;
use crate::asset_cache::AssetCache;
use crate::change_set::ChangeSet;
use crate::config::RepositoryConfig;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::ChunkRef;
use crate::format::snapshot::{block_of, ArrayData, Node, NodeKind, ShardInfo};
use crate::ids::ChunkCoords;
use crate::zarr_json::{parse_zarr_json, NodeType};

/// Old shards read at once.
const SHARD_READS_IN_FLIGHT: usize = 32;

/// Resets every array of `nodes` to the block shape the configuration gives it now, with no
/// shards, and returns the shard jobs that fill the new blocks with all of its references.
pub(super) async fn relayout_jobs(
    assets: &AssetCache,
    config: &RepositoryConfig,
    nodes: &mut BTreeMap<String, Arc<Node>>,
    changes: &ChangeSet,
) -> Result<Vec<ShardJob>> {
    let mut jobs = Vec::new();
    for (path, node) in nodes.iter_mut() {
        let NodeKind::Array(array) = &node.kind else { continue };
        let key = format!("{}/zarr.json", path.trim_start_matches('/'));
        let NodeType::Array(info) = parse_zarr_json(&key, &node.zarr_json)? else {
            return Err(IcechunkError::corrupt(&key, "an array node whose zarr.json is a group's"));
        };
        let block_shape = info.block_shape(
            info.refs_per_shard(config.manifest_shard_size, config.inline_chunk_threshold_bytes),
        );
        let old = all_refs(assets, node, &array.shards).await?;
        let no_changes = BTreeMap::new();
        let changed = changes.chunks.get(path).unwrap_or(&no_changes);
        let mut by_block: BTreeMap<Vec<u32>, Vec<(ChunkCoords, Option<ChunkRef>)>> = BTreeMap::new();
        for (coords, chunk) in merge_sorted(old, changed) {
            by_block.entry(block_of(&block_shape, &coords)).or_default().push((coords, Some(chunk)));
        }
        let node_id = node.id;
        Arc::make_mut(node).kind = NodeKind::Array(ArrayData { block_shape, shards: BTreeMap::new() });
        jobs.extend(by_block.into_iter().map(|(block, changes)| ShardJob {
            path: path.clone(),
            node_id,
            block,
            old: None,
            changes,
        }));
    }
    Ok(jobs)
}

/// Every reference of an array's shards (in no particular order).
async fn all_refs(
    assets: &AssetCache,
    node: &Node,
    shards: &BTreeMap<Vec<u32>, ShardInfo>,
) -> Result<Vec<(ChunkCoords, ChunkRef)>> {
    let node_id = node.id;
    // Owned items: a stream of futures borrowing from the map would make the whole commit's
    // future `Send` only for some lifetimes, which the binding's runtime cannot take.
    let owned: Vec<(Vec<u32>, ShardInfo)> = shards.iter().map(|(b, i)| (b.clone(), i.clone())).collect();
    let per_shard: Vec<Vec<(ChunkCoords, ChunkRef)>> = futures::stream::iter(owned)
        .map(|(block, info)| async move {
            Ok::<_, IcechunkError>(assets.shard(node_id, &block, &info).await?.iter().collect())
        })
        .buffer_unordered(SHARD_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(per_shard.into_iter().flatten().collect())
}

/// Old references overlaid with the session's changes (`None` deletes), in coordinate order
/// (the order shards keep their references in).
fn merge_sorted(
    old: Vec<(ChunkCoords, ChunkRef)>,
    changes: &BTreeMap<ChunkCoords, Option<ChunkRef>>,
) -> Vec<(ChunkCoords, ChunkRef)> {
    let mut merged: BTreeMap<ChunkCoords, ChunkRef> = old.into_iter().collect();
    for (coords, chunk) in changes {
        match chunk {
            Some(chunk) => merged.insert(coords.clone(), chunk.clone()),
            None => merged.remove(coords),
        };
    }
    merged.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::ChunkLocation;

    fn chunk(n: u8) -> ChunkRef {
        ChunkRef { location: ChunkLocation::Inline(bytes::Bytes::from(vec![n])), length: 1, checksum: 0 }
    }

    #[test]
    fn changes_overlay_old_references() {
        let old = vec![(vec![0, 1], chunk(1)), (vec![1, 0], chunk(2)), (vec![2, 2], chunk(3))];
        let changes = BTreeMap::from([(vec![1, 0], None), (vec![0, 0], Some(chunk(9)))]);
        let merged = merge_sorted(old, &changes);
        let coords: Vec<_> = merged.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(coords, vec![vec![0, 0], vec![0, 1], vec![2, 2]]);
        assert_eq!(merged[0].1, chunk(9));
    }
}
