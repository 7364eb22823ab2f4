//! Snapshots: the node tree of one version, decoded into owned, shareable structures.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::fb;
use super::header::{self, ObjectType};
use crate::error::{IcechunkError, Result};
use crate::ids::{ManifestId, NodeId, SnapshotId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub manifest_id: ManifestId,
    pub chunk_count: u64,
    pub total_bytes: u64,
    /// The shard's stored bytes when it lives in the snapshot (small shards) instead of in
    /// its own object.
    pub inline: Option<Bytes>,
}

impl ShardInfo {
    pub fn inline_len(&self) -> usize {
        self.inline.as_ref().map_or(0, Bytes::len)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayData {
    /// Chunks per manifest shard along each dimension of the chunk grid.
    pub block_shape: Vec<u32>,
    /// Block index -> the shard holding that block's references.
    pub shards: BTreeMap<Vec<u32>, ShardInfo>,
}

impl ArrayData {
    pub fn block_of(&self, coords: &[u32]) -> Vec<u32> {
        block_of(&self.block_shape, coords)
    }
}

/// The block of the chunk grid that holds `coords`. Extra dimensions (a reference of another
/// rank than the block shape) land in block 0 of that dimension.
pub fn block_of(block_shape: &[u32], coords: &[u32]) -> Vec<u32> {
    coords
        .iter()
        .enumerate()
        .map(|(i, c)| c / block_shape.get(i).copied().unwrap_or(u32::MAX).max(1))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Group,
    Array(ArrayData),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    /// "/" for the root, "/a/b" below it.
    pub path: String,
    pub zarr_json: Bytes,
    pub kind: NodeKind,
}

impl Node {
    pub fn is_array(&self) -> bool {
        matches!(self.kind, NodeKind::Array(_))
    }
}

/// What history shows of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct AncestorInfo {
    pub id: SnapshotId,
    pub parent_id: Option<SnapshotId>,
    /// Microseconds since the Unix epoch.
    pub flushed_at: u64,
    pub message: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// How many ancestors a snapshot summarizes, and how many bytes of messages and metadata:
/// reading 1,000 commits of history then fetches ~5 snapshots instead of 1,000.
const ANCESTOR_WINDOW: usize = 200;
const ANCESTOR_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub parent_id: Option<SnapshotId>,
    /// Microseconds since the Unix epoch.
    pub flushed_at: u64,
    pub message: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub nodes: BTreeMap<String, Arc<Node>>,
    /// Summaries of the parent, grandparent, ... (contiguous, possibly empty).
    pub ancestors: Vec<AncestorInfo>,
}

impl Snapshot {
    pub fn summary(&self) -> AncestorInfo {
        AncestorInfo {
            id: self.id,
            parent_id: self.parent_id,
            flushed_at: self.flushed_at,
            message: self.message.clone(),
            metadata: self.metadata.clone(),
        }
    }

    /// The ancestor summaries a child of this snapshot carries: this one, then ours, bounded.
    pub fn ancestors_for_child(&self) -> Vec<AncestorInfo> {
        let mut budget = ANCESTOR_BYTES;
        let mut out = Vec::new();
        for info in std::iter::once(self.summary()).chain(self.ancestors.iter().cloned()) {
            let size = info.message.len() + serde_json::to_string(&info.metadata).map_or(0, |m| m.len());
            if out.len() == ANCESTOR_WINDOW || (size > budget && !out.is_empty()) {
                break;
            }
            budget = budget.saturating_sub(size);
            out.push(info);
        }
        out
    }

    pub fn node(&self, path: &str) -> Option<&Arc<Node>> {
        self.nodes.get(path)
    }

    pub fn encode(&self, zstd_level: i32) -> Result<Bytes> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(1024);
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for node in self.nodes.values() {
            let path = fbb.create_string(&node.path);
            let zarr_json = fbb.create_vector(&node.zarr_json);
            let (data_type, data) = match &node.kind {
                NodeKind::Group => (
                    fb::NodeData::GroupNode,
                    fb::GroupNode::create(&mut fbb, &fb::GroupNodeArgs {}).as_union_value(),
                ),
                NodeKind::Array(array) => {
                    let mut shards = Vec::with_capacity(array.shards.len());
                    for (block, info) in &array.shards {
                        let block = fbb.create_vector(block);
                        let inline_manifest = info.inline.as_ref().map(|b| fbb.create_vector(b));
                        shards.push(fb::ShardRef::create(
                            &mut fbb,
                            &fb::ShardRefArgs {
                                block: Some(block),
                                manifest_id: Some(&info.manifest_id.to_fb()),
                                chunk_count: info.chunk_count,
                                total_bytes: info.total_bytes,
                                inline_manifest,
                            },
                        ));
                    }
                    let shards = fbb.create_vector(&shards);
                    let block_shape = fbb.create_vector(&array.block_shape);
                    let array = fb::ArrayNode::create(
                        &mut fbb,
                        &fb::ArrayNodeArgs { block_shape: Some(block_shape), shards: Some(shards) },
                    );
                    (fb::NodeData::ArrayNode, array.as_union_value())
                }
            };
            nodes.push(fb::Node::create(
                &mut fbb,
                &fb::NodeArgs {
                    id: Some(&node.id.to_fb()),
                    path: Some(path),
                    zarr_json: Some(zarr_json),
                    data_type,
                    data: Some(data),
                },
            ));
        }
        let nodes = fbb.create_vector(&nodes);
        let message = fbb.create_string(&self.message);
        let metadata = serde_json::to_string(&self.metadata).expect("a JSON map serializes");
        let metadata = fbb.create_string(&metadata);
        let mut ancestors = Vec::with_capacity(self.ancestors.len());
        for info in &self.ancestors {
            let message = fbb.create_string(&info.message);
            let metadata = serde_json::to_string(&info.metadata).expect("a JSON map serializes");
            let metadata = fbb.create_string(&metadata);
            let parent = info.parent_id.map(|p| p.to_fb());
            ancestors.push(fb::AncestorInfo::create(
                &mut fbb,
                &fb::AncestorInfoArgs {
                    id: Some(&info.id.to_fb()),
                    parent_id: parent.as_ref(),
                    flushed_at: info.flushed_at,
                    message: Some(message),
                    metadata_json: Some(metadata),
                },
            ));
        }
        let ancestors = fbb.create_vector(&ancestors);
        let parent = self.parent_id.map(|p| p.to_fb());
        let snapshot = fb::Snapshot::create(
            &mut fbb,
            &fb::SnapshotArgs {
                id: Some(&self.id.to_fb()),
                parent_id: parent.as_ref(),
                flushed_at: self.flushed_at,
                message: Some(message),
                metadata_json: Some(metadata),
                nodes: Some(nodes),
                ancestors: Some(ancestors),
            },
        );
        fbb.finish_minimal(snapshot);
        header::encode(ObjectType::Snapshot, fbb.finished_data(), Some(zstd_level))
    }

    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let buf = header::decode(path, ObjectType::Snapshot, stored)?;
        let opts = flatbuffers::VerifierOptions {
            max_tables: usize::MAX / 2,
            max_apparent_size: usize::MAX / 2,
            ..Default::default()
        };
        let corrupt = |reason: String| IcechunkError::corrupt(path, reason);
        let snap = flatbuffers::root_with_opts::<fb::Snapshot>(&opts, &buf)
            .map_err(|e| corrupt(format!("invalid snapshot: {e}")))?;
        let metadata = serde_json::from_str(snap.metadata_json())
            .map_err(|e| corrupt(format!("invalid metadata: {e}")))?;
        let mut nodes = BTreeMap::new();
        for node in snap.nodes() {
            let kind = match node.data_type() {
                fb::NodeData::GroupNode => NodeKind::Group,
                fb::NodeData::ArrayNode => {
                    let array =
                        node.data_as_array_node().ok_or_else(|| corrupt("array node without data".into()))?;
                    let shards = array
                        .shards()
                        .iter()
                        .map(|s| {
                            let info = ShardInfo {
                                manifest_id: ManifestId::from_fb(s.manifest_id()),
                                chunk_count: s.chunk_count(),
                                total_bytes: s.total_bytes(),
                                inline: s.inline_manifest().map(|b| Bytes::copy_from_slice(b.bytes())),
                            };
                            (s.block().iter().collect(), info)
                        })
                        .collect();
                    NodeKind::Array(ArrayData { block_shape: array.block_shape().iter().collect(), shards })
                }
                other => return Err(corrupt(format!("unknown node type {}", other.0))),
            };
            let node = Node {
                id: NodeId::from_fb(node.id()),
                path: node.path().to_string(),
                zarr_json: Bytes::copy_from_slice(node.zarr_json().bytes()),
                kind,
            };
            nodes.insert(node.path.clone(), Arc::new(node));
        }
        let mut ancestors = Vec::new();
        for info in snap.ancestors().iter().flatten() {
            ancestors.push(AncestorInfo {
                id: SnapshotId::from_fb(info.id()),
                parent_id: info.parent_id().map(SnapshotId::from_fb),
                flushed_at: info.flushed_at(),
                message: info.message().to_string(),
                metadata: serde_json::from_str(info.metadata_json())
                    .map_err(|e| corrupt(format!("invalid ancestor metadata: {e}")))?,
            });
        }
        Ok(Snapshot {
            ancestors,
            id: SnapshotId::from_fb(snap.id()),
            parent_id: snap.parent_id().map(SnapshotId::from_fb),
            flushed_at: snap.flushed_at(),
            message: snap.message().to_string(),
            metadata,
            nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut nodes = BTreeMap::new();
        let group = Node {
            id: NodeId::random(),
            path: "/".into(),
            zarr_json: Bytes::from_static(b"{\"node_type\":\"group\"}"),
            kind: NodeKind::Group,
        };
        let mut shards = BTreeMap::new();
        shards.insert(
            vec![0, 1],
            ShardInfo { manifest_id: ManifestId::random(), chunk_count: 3, total_bytes: 99, inline: None },
        );
        shards.insert(
            vec![0, 2],
            ShardInfo {
                manifest_id: ManifestId::random(),
                chunk_count: 1,
                total_bytes: 7,
                inline: Some(Bytes::from_static(b"stored shard bytes")),
            },
        );
        let array = Node {
            id: NodeId::random(),
            path: "/a".into(),
            zarr_json: Bytes::from_static(b"{}"),
            kind: NodeKind::Array(ArrayData { block_shape: vec![4, 4], shards }),
        };
        nodes.insert("/".to_string(), Arc::new(group));
        nodes.insert("/a".to_string(), Arc::new(array));
        let mut metadata = serde_json::Map::new();
        metadata.insert("author".into(), "me".into());
        let snap = Snapshot {
            id: SnapshotId::random(),
            parent_id: Some(SnapshotId::random()),
            flushed_at: 123,
            message: "msg".into(),
            metadata,
            nodes,
            ancestors: vec![AncestorInfo {
                id: SnapshotId::random(),
                parent_id: None,
                flushed_at: 7,
                message: "first".into(),
                metadata: Default::default(),
            }],
        };
        let decoded = Snapshot::decode("s", &snap.encode(3).unwrap()).unwrap();
        assert_eq!(decoded.id, snap.id);
        assert_eq!(decoded.parent_id, snap.parent_id);
        assert_eq!(decoded.message, "msg");
        assert_eq!(decoded.metadata, snap.metadata);
        assert_eq!(decoded.nodes, snap.nodes);
        assert_eq!(decoded.ancestors, snap.ancestors);
    }

    #[test]
    fn blocks() {
        assert_eq!(block_of(&[10, 10], &[25, 3]), vec![2, 0]);
    }
}
