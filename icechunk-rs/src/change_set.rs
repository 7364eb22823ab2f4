//! A writable session's uncommitted changes, and how they overlay the base snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::format::manifest::ChunkRef;
use crate::format::snapshot::{Node, NodeKind, Snapshot};
use crate::format::txlog::{MovedNode, TransactionLog};
use crate::ids::{ChunkCoords, NodeId};
use crate::zarr_json::NodeType;

/// A node created or whose `zarr.json` changed in this session.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeChange {
    pub id: NodeId,
    pub zarr_json: Bytes,
    pub node_type: NodeType,
    /// Created in this session (no chunks in the base snapshot belong to it).
    pub is_new: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    pub nodes: BTreeMap<String, NodeChange>,
    /// Base-snapshot nodes deleted in this session, path -> id (a path may also be re-created).
    pub deleted: BTreeMap<String, NodeId>,
    /// Per array path: chunks written (`Some`) or deleted (`None`).
    pub chunks: BTreeMap<String, BTreeMap<ChunkCoords, Option<ChunkRef>>>,
    /// Nodes moved in this (rearrange) session: their path in the stored base snapshot and
    /// their path now. The session's view of the base has them under the new paths already.
    pub moved: BTreeMap<NodeId, (String, String)>,
}

/// A node as the session sees it: from the change set or from the base snapshot.
#[derive(Debug, Clone)]
pub enum NodeView {
    Changed(NodeChange),
    Base(Arc<Node>),
}

impl NodeView {
    pub fn id(&self) -> NodeId {
        match self {
            NodeView::Changed(c) => c.id,
            NodeView::Base(n) => n.id,
        }
    }
    pub fn zarr_json(&self) -> &Bytes {
        match self {
            NodeView::Changed(c) => &c.zarr_json,
            NodeView::Base(n) => &n.zarr_json,
        }
    }
    pub fn is_array(&self) -> bool {
        match self {
            NodeView::Changed(c) => matches!(c.node_type, NodeType::Array(_)),
            NodeView::Base(n) => matches!(n.kind, NodeKind::Array(_)),
        }
    }
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.deleted.is_empty() && self.chunks.is_empty() && self.moved.is_empty()
    }

    /// Records that the node now at `path` moves to `to` (a node back where it was has no move).
    pub fn record_move(&mut self, id: NodeId, path: &str, to: String) {
        let entry = self.moved.entry(id).or_insert_with(|| (path.to_string(), to.clone()));
        entry.1 = to;
        if entry.0 == entry.1 {
            self.moved.remove(&id);
        }
    }

    pub fn node(&self, base: &Snapshot, path: &str) -> Option<NodeView> {
        if let Some(change) = self.nodes.get(path) {
            return Some(NodeView::Changed(change.clone()));
        }
        if self.deleted.contains_key(path) {
            return None;
        }
        base.node(path).map(|n| NodeView::Base(n.clone()))
    }

    /// Every live node path, sorted.
    pub fn node_paths(&self, base: &Snapshot) -> BTreeSet<String> {
        let mut paths: BTreeSet<String> =
            base.nodes.keys().filter(|p| !self.deleted.contains_key(*p)).cloned().collect();
        paths.extend(self.nodes.keys().cloned());
        paths
    }

    /// Whether chunks of the base snapshot still belong to the node at `path`.
    pub fn base_chunks_visible(&self, base: &Snapshot, path: &str) -> bool {
        match self.nodes.get(path) {
            Some(change) => !change.is_new,
            None => !self.deleted.contains_key(path) && base.node(path).is_some(),
        }
    }

    pub fn delete_node(&mut self, base: &Snapshot, path: &str) {
        self.nodes.remove(path);
        self.chunks.remove(path);
        if let Some(node) = base.node(path) {
            self.deleted.insert(path.to_string(), node.id);
        }
    }

    pub fn set_chunk(&mut self, path: &str, coords: ChunkCoords, chunk: Option<ChunkRef>) {
        self.chunks.entry(path.to_string()).or_default().insert(coords, chunk);
    }

    /// Sets many chunks of one array; the map is taken as it is when the array has no
    /// chunk changes yet.
    pub fn set_chunks(&mut self, path: &str, chunks: BTreeMap<ChunkCoords, Option<ChunkRef>>) {
        match self.chunks.get_mut(path) {
            Some(existing) if !existing.is_empty() => existing.extend(chunks),
            _ => {
                self.chunks.insert(path.to_string(), chunks);
            }
        }
    }

    pub fn chunk(&self, path: &str, coords: &[u32]) -> Option<&Option<ChunkRef>> {
        self.chunks.get(path).and_then(|c| c.get(coords))
    }

    /// What the change set changes relative to `base`.
    pub fn transaction_log(&self, base: &Snapshot) -> TransactionLog {
        let changes = self;
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
        log.moved_nodes = changes
            .moved
            .iter()
            .map(|(id, (from, to))| MovedNode { id: *id, from: from.clone(), to: to.clone() })
            .collect();
        log.moved_nodes.sort_by(|a, b| a.to.cmp(&b.to));
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
}
