//! Conflict detection: a session's change set against the transaction log of a commit that
//! landed on its branch since the session's base. Chunks conflict per coordinate, so writers
//! of disjoint chunks never conflict.

mod solvers;

use std::collections::{BTreeSet, HashMap, HashSet};

pub use solvers::{BasicConflictSolver, ConflictDetector, ConflictSolver, VersionSelection};

use crate::change_set::ChangeSet;
pub use crate::error::Conflict;
use crate::format::snapshot::{NodeKind, Snapshot};
use crate::format::txlog::TransactionLog;
use crate::ids::{ChunkCoords, NodeId};
use crate::zarr_json::NodeType;

/// What a commit of theirs did, indexed for lookups.
struct Theirs<'a> {
    new_paths: HashSet<&'a str>,
    deleted: HashSet<NodeId>,
    deleted_group_paths: Vec<&'a str>,
    updated: HashSet<NodeId>,
    chunks: HashMap<NodeId, &'a BTreeSet<ChunkCoords>>,
    moved: HashSet<NodeId>,
    /// The paths their moves left and took.
    moved_paths: Vec<&'a str>,
}

impl<'a> Theirs<'a> {
    fn index(log: &'a TransactionLog) -> Self {
        let ids = |lists: &[&'a Vec<(NodeId, String)>]| -> HashSet<NodeId> {
            lists.iter().flat_map(|l| l.iter().map(|(id, _)| *id)).collect()
        };
        Theirs {
            new_paths: log.new_groups.iter().chain(&log.new_arrays).map(|(_, p)| p.as_str()).collect(),
            deleted: ids(&[&log.deleted_groups, &log.deleted_arrays]),
            deleted_group_paths: log.deleted_groups.iter().map(|(_, p)| p.as_str()).collect(),
            updated: ids(&[&log.updated_groups, &log.updated_arrays]),
            chunks: log.updated_chunks.iter().map(|((id, _), coords)| (*id, coords)).collect(),
            moved: log.moved_nodes.iter().map(|m| m.id).collect(),
            moved_paths: log.moved_nodes.iter().flat_map(|m| [m.from.as_str(), m.to.as_str()]).collect(),
        }
    }

    /// Whether `path` is, or is below, a path one of their moves left or took.
    fn moved_over(&self, path: &str) -> bool {
        self.moved_paths
            .iter()
            .any(|moved| path == *moved || path.strip_prefix(moved).is_some_and(|rest| rest.starts_with('/')))
    }

    fn deleted_ancestor_group(&self, path: &str) -> bool {
        self.deleted_group_paths.iter().any(|group| {
            let prefix = if *group == "/" { "/".to_string() } else { format!("{group}/") };
            path.starts_with(&prefix)
        })
    }
}

/// Every conflict between our changes (relative to `base`) and their commit `theirs`.
pub fn detect(ours: &ChangeSet, base: &Snapshot, theirs: &TransactionLog) -> Vec<Conflict> {
    let theirs = Theirs::index(theirs);
    let mut conflicts = Vec::new();
    for (path, change) in &ours.nodes {
        let path_owned = || path.clone();
        if theirs.moved.contains(&change.id) || (change.is_new && theirs.moved_over(path)) {
            conflicts.push(Conflict::MoveOperationCannotBeRebased { path: path_owned() });
        } else if change.is_new {
            if theirs.new_paths.contains(path.as_str()) {
                conflicts.push(Conflict::NewNodeConflictsWithExistingNode { path: path_owned() });
            } else if theirs.deleted_ancestor_group(path) {
                conflicts.push(Conflict::NewNodeInInvalidGroup { path: path_owned() });
            }
        } else if theirs.deleted.contains(&change.id) {
            conflicts.push(match change.node_type {
                NodeType::Array(_) => Conflict::ZarrMetadataUpdateOfDeletedArray { path: path_owned() },
                NodeType::Group => Conflict::ZarrMetadataUpdateOfDeletedGroup { path: path_owned() },
            });
        } else if theirs.updated.contains(&change.id) {
            conflicts.push(Conflict::ZarrMetadataDoubleUpdate { path: path_owned() });
        }
    }
    for (path, chunks) in &ours.chunks {
        let Some(node) = ours.node(base, path) else { continue };
        let node_id = node.id();
        if theirs.moved.contains(&node_id) {
            conflicts.push(Conflict::MoveOperationCannotBeRebased { path: path.clone() });
            continue;
        }
        if theirs.deleted.contains(&node_id) {
            conflicts.push(Conflict::ChunksUpdatedInDeletedArray { path: path.clone() });
            continue;
        }
        if theirs.updated.contains(&node_id) {
            conflicts.push(Conflict::ChunksUpdatedInUpdatedArray { path: path.clone() });
        }
        if let Some(their_chunks) = theirs.chunks.get(&node_id) {
            let both: BTreeSet<ChunkCoords> =
                chunks.keys().filter(|c| their_chunks.contains(*c)).cloned().collect();
            if !both.is_empty() {
                conflicts.push(Conflict::ChunkDoubleUpdate {
                    path: path.clone(),
                    node_id,
                    chunk_coordinates: both,
                });
            }
        }
    }
    for (path, id) in &ours.deleted {
        if theirs.deleted.contains(id) {
            continue;
        }
        if theirs.moved.contains(id) {
            conflicts.push(Conflict::MoveOperationCannotBeRebased { path: path.clone() });
            continue;
        }
        if theirs.updated.contains(id) || theirs.chunks.contains_key(id) {
            let is_array = matches!(base.node(path).map(|n| &n.kind), Some(NodeKind::Array(_)));
            conflicts.push(if is_array {
                Conflict::DeleteOfUpdatedArray { path: path.clone() }
            } else {
                Conflict::DeleteOfUpdatedGroup { path: path.clone() }
            });
        }
    }
    conflicts
}

/// Drops from `ours.chunks` the chunk changes named by `conflict` (for "use theirs").
pub(crate) fn drop_our_chunks(ours: &mut ChangeSet, path: &str, coords: &BTreeSet<ChunkCoords>) {
    if let Some(chunks) = ours.chunks.get_mut(path) {
        chunks.retain(|c, _| !coords.contains(c));
        if chunks.is_empty() {
            ours.chunks.remove(path);
        }
    }
}

/// After moving our base to `new_base`: forget deletions of nodes that are already gone, or
/// whose path now holds another node (theirs re-created it; our delete was of the old one).
pub(crate) fn retarget_deletions(ours: &mut ChangeSet, new_base: &Snapshot) {
    ours.deleted.retain(|path, id| new_base.node(path).is_some_and(|n| n.id == *id));
}
