//! The commit: manifest shards for changed blocks (in parallel), the transaction log and the
//! snapshot, all new immutable objects, and only then the branch move that publishes them.
//! A crash before the branch move leaves the branch where it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::change_set::ChangeSet;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::ChunkRef;
use crate::format::snapshot::{block_of, ArrayData, Node, NodeKind, ShardInfo, Snapshot};
use crate::format::txlog::TransactionLog;
use crate::format::{ChunkCoords, ManifestId, NodeId, SnapshotId};
use crate::refs;
use crate::repository::Repository;
use crate::store::metadata::NodeType;

/// Shard writes in flight at once during one commit.
const SHARD_WRITES_IN_FLIGHT: usize = 32;

/// What the change set changes relative to `base`.
pub(crate) fn transaction_log(base: &Snapshot, changes: &ChangeSet) -> TransactionLog {
    let mut log = TransactionLog::default();
    for path in changes.deleted.keys() {
        if let Some(node) = base.node(path) {
            let entry = (node.id, path.clone());
            match node.kind {
                NodeKind::Group => log.deleted_groups.push(entry),
                NodeKind::Array(_) => log.deleted_arrays.push(entry),
            }
        }
    }
    for (path, change) in &changes.nodes {
        let entry = (change.id, path.clone());
        match (&change.node_type, change.is_new) {
            (NodeType::Group, true) => log.new_groups.push(entry),
            (NodeType::Array(_), true) => log.new_arrays.push(entry),
            (NodeType::Group, false) => log.updated_groups.push(entry),
            (NodeType::Array(_), false) => log.updated_arrays.push(entry),
        }
    }
    for (path, chunks) in &changes.chunks {
        if chunks.is_empty() {
            continue;
        }
        if let Some(node) = changes.node(base, path) {
            log.updated_chunks.insert((node.id(), path.clone()), chunks.keys().cloned().collect());
        }
    }
    log
}

/// Merges sorted old references with sorted changes (`None` deletes).
fn merge_refs(
    old: impl Iterator<Item = (ChunkCoords, ChunkRef)>,
    changes: &[(ChunkCoords, Option<ChunkRef>)],
) -> Vec<(ChunkCoords, ChunkRef)> {
    let mut merged = Vec::new();
    let mut old = old.peekable();
    let mut changes = changes.iter().peekable();
    loop {
        match (old.peek(), changes.peek()) {
            (Some((oc, _)), Some((cc, _))) if oc < cc => merged.push(old.next().expect("peeked")),
            (Some((oc, _)), Some((cc, _))) if oc == cc => {
                old.next();
            }
            (_, Some(_)) => {
                let (coords, chunk) = changes.next().expect("peeked");
                if let Some(chunk) = chunk {
                    merged.push((coords.clone(), chunk.clone()));
                }
            }
            (Some(_), None) => merged.push(old.next().expect("peeked")),
            (None, None) => return merged,
        }
    }
}

struct ShardJob {
    path: String,
    node_id: NodeId,
    block: Vec<u32>,
    old: Option<ManifestId>,
    changes: Vec<(ChunkCoords, Option<ChunkRef>)>,
}

pub(crate) async fn write_commit(
    repo: &Repository,
    branch: &str,
    base: &Arc<Snapshot>,
    changes: &ChangeSet,
    message: &str,
    metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<Arc<Snapshot>> {
    let config = repo.config();
    let block_shape = |info: &crate::store::metadata::ArrayInfo| {
        info.block_shape(info.refs_per_shard(config.manifest_shard_size, config.inline_chunk_threshold_bytes))
    };
    let mut nodes: BTreeMap<String, Arc<Node>> = base.nodes.clone();
    for path in changes.deleted.keys() {
        nodes.remove(path);
    }
    for (path, change) in &changes.nodes {
        let kind = match (&change.node_type, base.node(path).filter(|_| !change.is_new)) {
            (NodeType::Group, _) => NodeKind::Group,
            (NodeType::Array(info), Some(old)) => match &old.kind {
                NodeKind::Array(data) if data.block_shape.len() == info.ndim() => {
                    NodeKind::Array(data.clone())
                }
                _ => NodeKind::Array(ArrayData { block_shape: block_shape(info), shards: BTreeMap::new() }),
            },
            (NodeType::Array(info), None) => {
                NodeKind::Array(ArrayData { block_shape: block_shape(info), shards: BTreeMap::new() })
            }
        };
        let node = Node { id: change.id, path: path.clone(), zarr_json: change.zarr_json.clone(), kind };
        nodes.insert(path.clone(), Arc::new(node));
    }

    let mut jobs = Vec::new();
    for (path, chunk_changes) in &changes.chunks {
        let Some(node) = nodes.get(path) else { continue };
        let NodeKind::Array(array) = &node.kind else { continue };
        let mut by_block: BTreeMap<Vec<u32>, Vec<(ChunkCoords, Option<ChunkRef>)>> = BTreeMap::new();
        for (coords, chunk) in chunk_changes {
            by_block
                .entry(block_of(&array.block_shape, coords))
                .or_default()
                .push((coords.clone(), chunk.clone()));
        }
        for (block, changes) in by_block {
            let old = array.shards.get(&block).map(|s| s.manifest_id);
            jobs.push(ShardJob { path: path.clone(), node_id: node.id, block, old, changes });
        }
    }

    let assets = repo.assets();
    let written: Vec<(String, Vec<u32>, Option<ShardInfo>)> = futures::stream::iter(jobs)
        .map(|job| async move {
            let merged = match &job.old {
                Some(id) => merge_refs(assets.manifest(id).await?.iter(), &job.changes),
                None => merge_refs(std::iter::empty(), &job.changes),
            };
            let info = if merged.is_empty() {
                None
            } else {
                let manifest_id = assets.write_manifest(job.node_id, &job.block, &merged).await?;
                Some(ShardInfo {
                    manifest_id,
                    chunk_count: merged.len() as u64,
                    total_bytes: merged.iter().map(|(_, c)| c.length).sum(),
                })
            };
            Ok::<_, IcechunkError>((job.path, job.block, info))
        })
        .buffer_unordered(SHARD_WRITES_IN_FLIGHT)
        .try_collect()
        .await?;

    for (path, block, info) in written {
        let node = nodes.get_mut(&path).expect("jobs come from nodes");
        let node = Arc::make_mut(node);
        if let NodeKind::Array(array) = &mut node.kind {
            match info {
                Some(info) => array.shards.insert(block, info),
                None => array.shards.remove(&block),
            };
        }
    }

    let snapshot = Snapshot {
        id: SnapshotId::random(),
        parent_id: Some(base.id),
        flushed_at: chrono::Utc::now().timestamp_micros().max(0) as u64,
        message: message.to_string(),
        metadata,
        nodes,
        ancestors: base.ancestors_for_child(),
    };
    let id = snapshot.id;
    let log = transaction_log(base, changes);
    let (_, snapshot) =
        futures::try_join!(assets.write_transaction_log(id, log), assets.write_snapshot(snapshot))?;

    let expected = base.id;
    refs::move_branch(repo.storage().as_ref(), branch, Some(id), |current| {
        if current == Some(expected) {
            Ok(())
        } else {
            Err(IcechunkError::Conflict {
                branch: branch.to_string(),
                expected_parent: Some(expected),
                actual_parent: current,
            })
        }
    })
    .await?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::ChunkLocation;

    fn chunk(n: u8) -> ChunkRef {
        ChunkRef {
            location: ChunkLocation::Inline(bytes::Bytes::from(vec![n])),
            length: 1,
            checksum: n as u32,
        }
    }

    #[test]
    fn merge_applies_writes_and_deletes_in_order() {
        let old = vec![(vec![0], chunk(0)), (vec![2], chunk(2)), (vec![4], chunk(4))];
        let changes =
            vec![(vec![1], Some(chunk(11))), (vec![2], None), (vec![4], Some(chunk(44))), (vec![5], None)];
        let merged = merge_refs(old.into_iter(), &changes);
        assert_eq!(merged, vec![(vec![0], chunk(0)), (vec![1], chunk(11)), (vec![4], chunk(44))]);
    }
}
