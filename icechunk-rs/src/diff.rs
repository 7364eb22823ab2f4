//! Diffs: what changed between two versions, folded from the transaction logs of the commits
//! between them. The result is the net change: a node created and deleted in the range
//! appears nowhere (spec/format.md, §7).

use std::collections::{BTreeMap, BTreeSet};

use crate::format::txlog::TransactionLog;
use crate::ids::{ChunkCoords, NodeId};

/// What changed between two versions (or in a session). Paths are absolute ("/a/b").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub new_groups: BTreeSet<String>,
    pub new_arrays: BTreeSet<String>,
    pub deleted_groups: BTreeSet<String>,
    pub deleted_arrays: BTreeSet<String>,
    pub updated_groups: BTreeSet<String>,
    pub updated_arrays: BTreeSet<String>,
    pub updated_chunks: BTreeMap<String, BTreeSet<ChunkCoords>>,
    /// Nodes that moved (`Session::move_node`): (path in `from`, path in `to`), sorted by the
    /// latter; every node of a moved subtree has its pair.
    pub moved_nodes: Vec<(String, String)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }

    pub fn from_transaction_log(log: &TransactionLog) -> Self {
        let mut builder = DiffBuilder::default();
        builder.apply(log);
        builder.finish()
    }
}

#[derive(Default)]
struct NodeHistory {
    path: String,
    /// Unknown while the node's only entries are moves.
    is_array: Option<bool>,
    /// The path before the range's first move of the node.
    moved_from: Option<String>,
    created: bool,
    deleted: bool,
    updated: bool,
    chunks: BTreeSet<ChunkCoords>,
}

/// Folds transaction logs, oldest first, into one diff, tracking nodes by id (a path can be
/// taken by another node later): a node created and deleted within the range disappears;
/// otherwise a node is reported in every category the range touched it in, as Icechunk does
/// (created and then updated: new and updated; updated and then deleted: updated and
/// deleted, with its chunks, unless a node created in the range took its path: a path's
/// chunks are then the new node's).
#[derive(Default)]
pub struct DiffBuilder {
    nodes: BTreeMap<NodeId, NodeHistory>,
}

impl DiffBuilder {
    fn entry(&mut self, id: NodeId, path: &str, is_array: bool) -> &mut NodeHistory {
        let node = self
            .nodes
            .entry(id)
            .or_insert_with(|| NodeHistory { path: path.to_string(), ..Default::default() });
        node.is_array.get_or_insert(is_array);
        node
    }

    pub fn apply(&mut self, log: &TransactionLog) {
        for (list, is_array) in [(&log.new_groups, false), (&log.new_arrays, true)] {
            for (id, path) in list {
                self.entry(*id, path, is_array).created = true;
            }
        }
        for (list, is_array) in [(&log.updated_groups, false), (&log.updated_arrays, true)] {
            for (id, path) in list {
                self.entry(*id, path, is_array).updated = true;
            }
        }
        for ((id, path), coords) in &log.updated_chunks {
            self.entry(*id, path, true).chunks.extend(coords.iter().cloned());
        }
        for moved in &log.moved_nodes {
            let node = self
                .nodes
                .entry(moved.id)
                .or_insert_with(|| NodeHistory { path: moved.from.clone(), ..Default::default() });
            node.moved_from.get_or_insert_with(|| moved.from.clone());
            node.path.clone_from(&moved.to);
        }
        for (list, is_array) in [(&log.deleted_groups, false), (&log.deleted_arrays, true)] {
            for (id, path) in list {
                let node = self.entry(*id, path, is_array);
                if node.created {
                    self.nodes.remove(id);
                } else {
                    node.deleted = true;
                }
            }
        }
    }

    pub fn finish(self) -> Diff {
        let mut diff = Diff::default();
        let created: BTreeSet<&str> =
            self.nodes.values().filter(|n| n.created).map(|n| n.path.as_str()).collect();
        for node in self.nodes.values() {
            let path = || node.path.clone();
            let (new, deleted, updated) = match node.is_array.unwrap_or(false) {
                true => (&mut diff.new_arrays, &mut diff.deleted_arrays, &mut diff.updated_arrays),
                false => (&mut diff.new_groups, &mut diff.deleted_groups, &mut diff.updated_groups),
            };
            if node.created {
                new.insert(path());
            }
            if node.deleted {
                deleted.insert(path());
            }
            if node.updated {
                updated.insert(path());
            }
            let path_taken = node.deleted && created.contains(node.path.as_str());
            if !node.chunks.is_empty() && !path_taken {
                diff.updated_chunks.entry(path()).or_default().extend(node.chunks.iter().cloned());
            }
            match &node.moved_from {
                Some(from) if !node.created && !node.deleted && *from != node.path => {
                    diff.moved_nodes.push((from.clone(), path()));
                }
                _ => {}
            }
        }
        diff.moved_nodes.sort_by(|a, b| a.1.cmp(&b.1));
        diff
    }
}
