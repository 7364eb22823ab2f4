//! Commits: manifest shards for changed blocks (small ones inside the snapshot), the
//! transaction log and the snapshot, all new immutable objects written at once, and only then
//! the branch move that publishes them. A crash before the branch move leaves the branch
//! where it was.
//!
//! Three ways to publish the new snapshot ([`Publish`]): a commit on the branch, an amend that
//! replaces the branch tip, and a flush that moves no ref at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::relayout::relayout_jobs;
use super::Session;
use crate::change_set::ChangeSet;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::{ChunkLocation, ChunkRef};
use crate::format::snapshot::{block_of, ArrayData, Node, NodeKind, ShardInfo, Snapshot};
use crate::format::txlog::TransactionLog;
use crate::ids::{ChunkCoords, ManifestId, NodeId, SnapshotId};
use crate::refs::RefOp;
use crate::repository::Repository;
use crate::zarr_json::{ArrayInfo, NodeType};

/// Shard writes in flight at once during one commit.
const SHARD_WRITES_IN_FLIGHT: usize = 32;

/// Merges sorted old references with sorted changes (`None` deletes), taking both by value so
/// that a large commit holds each reference once.
fn merge_refs(
    old: impl Iterator<Item = (ChunkCoords, ChunkRef)>,
    changes: impl IntoIterator<Item = (ChunkCoords, Option<ChunkRef>)>,
) -> Vec<(ChunkCoords, ChunkRef)> {
    let mut merged = Vec::new();
    let mut old = old.peekable();
    let mut changes = changes.into_iter().peekable();
    loop {
        match (old.peek(), changes.peek()) {
            (Some((oc, _)), Some((cc, _))) if oc < cc => merged.push(old.next().expect("peeked")),
            (Some((oc, _)), Some((cc, _))) if oc == cc => {
                old.next();
            }
            (_, Some(_)) => {
                let (coords, chunk) = changes.next().expect("peeked");
                if let Some(chunk) = chunk {
                    merged.push((coords, chunk));
                }
            }
            (Some(_), None) => merged.push(old.next().expect("peeked")),
            (None, None) => return merged,
        }
    }
}

/// One shard to write: block `block` of the array at `path`, from the shard it replaces (if
/// any) and the changes to it, sorted by coordinates.
pub(super) struct ShardJob {
    pub path: String,
    pub node_id: NodeId,
    pub block: Vec<u32>,
    pub old: Option<ShardInfo>,
    pub changes: Vec<(ChunkCoords, Option<ChunkRef>)>,
}

/// A rough size of a shard's encoding, to skip encoding twice a shard that cannot be inline.
fn estimated_shard_bytes(refs: &[(ChunkCoords, ChunkRef)]) -> usize {
    refs.iter()
        .map(|(coords, chunk)| {
            let inline = match &chunk.location {
                ChunkLocation::Inline(bytes) => bytes.len(),
                ChunkLocation::Object { .. } => 0,
                ChunkLocation::Virtual { location, .. } => location.len(),
            };
            56 + 4 * coords.len() + inline
        })
        .sum()
}

/// Which shards a commit writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Those of the blocks the session changed; arrays keep their block shapes.
    Changed,
    /// Every shard of every array, in the block shape the configuration gives it now
    /// (`Repository::rewrite_manifests`).
    Rewrite,
}

/// How a new snapshot is published.
pub(crate) enum Publish {
    /// A new commit on `branch`, whose parent is the session's base; the base must still be
    /// the branch tip.
    Commit { branch: String },
    /// Replaces the branch tip, the session's base, by a snapshot with the base's parent that
    /// holds the base's changes (`base_log`) and the session's.
    Amend { branch: String, base_log: Arc<TransactionLog> },
    /// Moves no ref: the snapshot is reachable by its id (and by refs made to it later).
    Anonymous,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_commit(
    repo: &Repository,
    publish: Publish,
    base: &Arc<Snapshot>,
    changes: &ChangeSet,
    message: &str,
    metadata: serde_json::Map<String, serde_json::Value>,
    layout: Layout,
    chunk_uploads: impl std::future::Future<Output = Result<()>>,
) -> Result<Arc<Snapshot>> {
    let config = repo.config();
    let block_shape = |info: &ArrayInfo| {
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

    let assets = repo.assets();
    let jobs = match layout {
        Layout::Changed => changed_blocks(&nodes, changes),
        Layout::Rewrite => relayout_jobs(assets, config, &mut nodes, changes).await?,
    };
    write_shards_and_publish(repo, publish, base, nodes, jobs, changes, message, metadata, chunk_uploads)
        .await
}

/// The shard jobs of the blocks `changes` touch, in the arrays' block shapes.
fn changed_blocks(nodes: &BTreeMap<String, Arc<Node>>, changes: &ChangeSet) -> Vec<ShardJob> {
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
            let old = array.shards.get(&block).cloned();
            jobs.push(ShardJob { path: path.clone(), node_id: node.id, block, old, changes });
        }
    }
    jobs
}

#[allow(clippy::too_many_arguments)]
async fn write_shards_and_publish(
    repo: &Repository,
    publish: Publish,
    base: &Arc<Snapshot>,
    mut nodes: BTreeMap<String, Arc<Node>>,
    jobs: Vec<ShardJob>,
    changes: &ChangeSet,
    message: &str,
    metadata: serde_json::Map<String, serde_json::Value>,
    chunk_uploads: impl std::future::Future<Output = Result<()>>,
) -> Result<Arc<Snapshot>> {
    let config = repo.config();

    // Inline shards already in the snapshot, but for those about to be replaced.
    let replaced: usize = jobs.iter().map(|job| job.old.as_ref().map_or(0, ShardInfo::inline_len)).sum();
    let carried: usize = nodes
        .values()
        .filter_map(|node| match &node.kind {
            NodeKind::Array(array) => Some(array.shards.values().map(ShardInfo::inline_len).sum::<usize>()),
            NodeKind::Group => None,
        })
        .sum();
    let inline_max = config.inline_manifest_threshold_bytes as usize;
    let mut inline_budget = (4 * inline_max).saturating_sub(carried.saturating_sub(replaced));

    // The new shards' contents (reading the old ones they update, in parallel).
    let assets = repo.assets();
    let merged: Vec<(ShardJob, Vec<(ChunkCoords, ChunkRef)>)> = futures::stream::iter(jobs)
        .map(|mut job| async move {
            let changes = std::mem::take(&mut job.changes);
            let merged = match &job.old {
                Some(old) => merge_refs(assets.shard(job.node_id, &job.block, old).await?.iter(), changes),
                None => merge_refs(std::iter::empty(), changes),
            };
            Ok::<_, IcechunkError>((job, merged))
        })
        .buffer_unordered(SHARD_WRITES_IN_FLIGHT)
        .try_collect()
        .await?;

    // Ids are chosen here, so the snapshot can name the shards before they are written:
    // shard objects, transaction log and snapshot then all go out at once.
    let mut shard_objects = Vec::new();
    for (job, merged) in merged {
        let info = if merged.is_empty() {
            None
        } else {
            let manifest_id = ManifestId::random();
            let mut inline = None;
            if estimated_shard_bytes(&merged) <= inline_max.min(inline_budget) * 5 / 4 {
                let stored = assets.encode_manifest(manifest_id, job.node_id, &job.block, &merged, true)?;
                if stored.len() <= inline_max.min(inline_budget) {
                    inline_budget -= stored.len();
                    inline = Some(stored);
                }
            }
            if inline.is_none() {
                let stored = assets.encode_manifest(manifest_id, job.node_id, &job.block, &merged, false)?;
                shard_objects.push((manifest_id, stored));
            }
            Some(ShardInfo {
                manifest_id,
                chunk_count: merged.len() as u64,
                total_bytes: merged.iter().map(|(_, c)| c.length).sum(),
                inline,
            })
        };
        let node = nodes.get_mut(&job.path).expect("jobs come from nodes");
        if let NodeKind::Array(array) = &mut Arc::make_mut(node).kind {
            match info {
                Some(info) => array.shards.insert(job.block, info),
                None => array.shards.remove(&job.block),
            };
        }
    }

    let (parent_id, ancestors, log) = match &publish {
        Publish::Commit { .. } | Publish::Anonymous => {
            (Some(base.id), base.ancestors_for_child(), changes.transaction_log(base))
        }
        Publish::Amend { base_log, .. } => {
            (base.parent_id, base.ancestors.clone(), base_log.followed_by(&changes.transaction_log(base)))
        }
    };
    let snapshot = Snapshot {
        id: SnapshotId::random(),
        parent_id,
        flushed_at: chrono::Utc::now().timestamp_micros().max(0) as u64,
        message: message.to_string(),
        metadata,
        nodes,
        ancestors,
    };
    let id = snapshot.id;
    let write_shards = futures::stream::iter(shard_objects)
        .map(|(id, stored)| async move { assets.write_manifest(&id, stored).await })
        .buffer_unordered(SHARD_WRITES_IN_FLIGHT)
        .try_collect::<Vec<()>>();
    // The chunks still uploading finish alongside: nothing is reachable before the ref moves.
    // The repository's status is checked alongside: a commit refused for it costs no time.
    let (_, _, snapshot, (), ()) = futures::try_join!(
        write_shards,
        assets.write_transaction_log(id, log),
        assets.write_snapshot(snapshot),
        chunk_uploads,
        repo.check_writable("cannot commit"),
    )?;

    let branch = match &publish {
        Publish::Commit { branch } | Publish::Amend { branch, .. } => branch,
        Publish::Anonymous => return Ok(snapshot),
    };
    let expected = base.id;
    let op = match &publish {
        Publish::Amend { .. } => RefOp::Amend,
        _ => RefOp::Commit,
    };
    repo.move_branch(branch, Some(id), op, |current| {
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

impl Session {
    /// Writes the changes as a new snapshot and moves the branch to it, if the branch still
    /// points at this session's base snapshot (else `Conflict`, and nothing is lost: the
    /// session keeps its changes).
    pub async fn commit(
        &self,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        allow_empty: bool,
    ) -> Result<SnapshotId> {
        let branch = self.check_can_publish("commit")?;
        self.publish(Publish::Commit { branch }, message, metadata, allow_empty, Layout::Changed).await
    }

    /// Like `commit`, but the new snapshot replaces the branch tip (this session's base): it
    /// takes the base's parent and holds the base's changes and this session's. Refused
    /// (`Conflict`) if the tip moved; the repository's first snapshot cannot be amended.
    pub async fn amend(
        &self,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        allow_empty: bool,
    ) -> Result<SnapshotId> {
        let branch = self.check_can_publish("amend")?;
        let publish = self.amending(branch).await?;
        self.publish(publish, message, metadata, allow_empty, Layout::Changed).await
    }

    /// How to replace the tip of `branch`, this session's base.
    async fn amending(&self, branch: String) -> Result<Publish> {
        let base = self.state().base.clone();
        if base.parent_id.is_none() {
            return Err(IcechunkError::SessionState(
                "the repository's first snapshot cannot be amended; commit instead".into(),
            ));
        }
        let base_log = self.repository().assets().transaction_log(&base.id).await?;
        Ok(Publish::Amend { branch, base_log })
    }

    /// Commits (or, with `amend`, amends) a snapshot that holds this session's changes, if
    /// any, with every manifest shard rewritten in the block shapes the repository's
    /// configuration gives its arrays now (see `relayout`). The data read back is the same.
    pub async fn rewrite_manifests(
        &self,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        amend: bool,
    ) -> Result<SnapshotId> {
        let branch = self.check_can_publish("rewrite manifests")?;
        let publish = if amend { self.amending(branch).await? } else { Publish::Commit { branch } };
        self.publish(publish, message, metadata, true, Layout::Rewrite).await
    }

    /// Writes the changes as a new snapshot without moving any branch (tag or branch it to
    /// keep it); the session is then read-only, on that snapshot.
    pub async fn flush(
        &self,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<SnapshotId> {
        self.check_can_publish("flush")?;
        self.publish(Publish::Anonymous, message, metadata, true, Layout::Changed).await
    }

    /// The branch this session may publish to, or why it may not.
    fn check_can_publish(&self, verb: &str) -> Result<String> {
        if self.inner.writable && self.state().committed {
            return Err(IcechunkError::SessionState(format!(
                "this session already committed; open a new writable session to {verb} again"
            )));
        }
        if !self.inner.writable {
            // Icechunk's class for this situation (a read-only session asked to publish).
            return Err(IcechunkError::SessionState(format!(
                "a read-only session cannot {verb}: open a writable session (Repository.writable_session)"
            )));
        }
        self.check_writable()?;
        if self.inner.fork {
            return Err(IcechunkError::SessionState(format!(
                "a fork cannot {verb}: merge it into the session it came from (session.merge(fork))"
            )));
        }
        self.inner
            .branch
            .clone()
            .ok_or_else(|| IcechunkError::SessionState(format!("only a session on a branch can {verb}")))
    }

    /// The repository's default metadata (as of this session's start), then the commit's own.
    fn commit_metadata(
        &self,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut merged = self.inner.default_metadata.clone();
        merged.extend(metadata.unwrap_or_default());
        merged
    }

    async fn publish(
        &self,
        publish: Publish,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        allow_empty: bool,
        layout: Layout,
    ) -> Result<SnapshotId> {
        let (base, changes) = {
            let state = self.state();
            (state.base.clone(), state.changes.clone())
        };
        if changes.is_empty() && !allow_empty {
            return Err(IcechunkError::SessionState(
                "no changes to commit; pass allow_empty=True to commit anyway".into(),
            ));
        }
        // The objects written now are covered by a lease (spec §13.2), and the leases that
        // cover the chunks uploaded earlier must still be honoured by garbage collection.
        self.ensure_lease().await?;
        self.check_leases_fresh()?;
        let snapshot = write_commit(
            &self.inner.repo,
            publish,
            &base,
            &changes,
            message,
            self.commit_metadata(metadata),
            layout,
            // Objects before references: the chunks the snapshot names are stored before
            // the branch moves to it.
            self.wait_for_uploads(),
        )
        .await?;
        let id = snapshot.id;
        let mut state = self.state();
        state.base = snapshot;
        state.unmoved_base = None;
        state.changes = Arc::default();
        state.array_infos.clear();
        state.committed = true;
        drop(state);
        self.release_leases();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let merged = merge_refs(old.into_iter(), changes);
        assert_eq!(merged, vec![(vec![0], chunk(0)), (vec![1], chunk(11)), (vec![4], chunk(44))]);
    }
}
