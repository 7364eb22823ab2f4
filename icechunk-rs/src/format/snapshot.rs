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

#[derive(Debug, Clone, PartialEq)]
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

    /// Decodes and checks a stored snapshot (spec §5): nodes strictly sorted by path (no
    /// duplicates), valid paths, each array's shards strictly sorted by block, blocks of the
    /// array's dimensionality, block shape entries of at least 1. One pass over the nodes.
    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let buf = header::decode(path, ObjectType::Snapshot, stored)?;
        let corrupt = |reason: String| IcechunkError::corrupt(path, reason);
        let snap = flatbuffers::root_with_opts::<fb::Snapshot>(&super::verifier_options(buf.len()), &buf)
            .map_err(|e| corrupt(format!("invalid snapshot: {e}")))?;
        let metadata = serde_json::from_str(snap.metadata_json())
            .map_err(|e| corrupt(format!("invalid metadata: {e}")))?;
        let mut nodes = BTreeMap::new();
        let mut previous: Option<&str> = None;
        for node in snap.nodes() {
            let node_path = node.path();
            if previous.is_some_and(|p| p.as_bytes() >= node_path.as_bytes()) {
                return Err(corrupt(format!("nodes are not strictly sorted by path at `{node_path}`")));
            }
            previous = Some(node_path);
            if !valid_node_path(node_path) {
                return Err(corrupt(format!("invalid node path `{node_path}`")));
            }
            let kind = match node.data_type() {
                fb::NodeData::GroupNode => NodeKind::Group,
                fb::NodeData::ArrayNode => {
                    let array =
                        node.data_as_array_node().ok_or_else(|| corrupt("array node without data".into()))?;
                    let block_shape: Vec<u32> = array.block_shape().iter().collect();
                    if block_shape.contains(&0) {
                        return Err(corrupt(format!("array `{node_path}` has a block shape entry of 0")));
                    }
                    let mut shards = BTreeMap::new();
                    let mut last_block: Option<flatbuffers::Vector<'_, u32>> = None;
                    for s in array.shards() {
                        let block = s.block();
                        if block.len() != block_shape.len() {
                            return Err(corrupt(format!(
                                "array `{node_path}` has a block of {} dimensions, its block shape {}",
                                block.len(),
                                block_shape.len()
                            )));
                        }
                        if last_block.is_some_and(|last| last.iter().cmp(block.iter()).is_ge()) {
                            return Err(corrupt(format!(
                                "shards of `{node_path}` are not strictly sorted by block"
                            )));
                        }
                        last_block = Some(block);
                        let info = ShardInfo {
                            manifest_id: ManifestId::from_fb(s.manifest_id()),
                            chunk_count: s.chunk_count(),
                            total_bytes: s.total_bytes(),
                            inline: s.inline_manifest().map(|b| Bytes::copy_from_slice(b.bytes())),
                        };
                        // Sorted input: every insertion goes to the end of the map.
                        shards.insert(block.iter().collect(), info);
                    }
                    NodeKind::Array(ArrayData { block_shape, shards })
                }
                other => return Err(corrupt(format!("unknown node type {}", other.0))),
            };
            let node = Node {
                id: NodeId::from_fb(node.id()),
                path: node_path.to_string(),
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

/// A node path (spec §5): `/`, or `/` followed by `/`-separated segments that are non-empty
/// and neither `.` nor `..`.
pub fn valid_node_path(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."))
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

    /// The snapshot's stored bytes with byte patterns of its payload replaced (each must occur
    /// exactly once), stored again uncompressed: a flatbuffer no writer produces.
    fn patched(snap: &Snapshot, patches: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut payload = header::decode("s", ObjectType::Snapshot, &snap.encode(3).unwrap()).unwrap();
        for (from, to) in patches {
            assert_eq!(from.len(), to.len());
            let at: Vec<usize> =
                (0..=payload.len() - from.len()).filter(|&i| payload[i..].starts_with(from)).collect();
            assert_eq!(at.len(), 1, "pattern {from:?} must occur once");
            payload[at[0]..at[0] + to.len()].copy_from_slice(to);
        }
        header::encode(ObjectType::Snapshot, &payload, None).unwrap().to_vec()
    }

    fn snapshot_of(nodes: Vec<Node>) -> Snapshot {
        Snapshot {
            id: SnapshotId::random(),
            parent_id: None,
            flushed_at: 1,
            message: String::new(),
            metadata: Default::default(),
            nodes: nodes.into_iter().map(|n| (n.path.clone(), Arc::new(n))).collect(),
            ancestors: Vec::new(),
        }
    }

    fn group(path: &str) -> Node {
        Node {
            id: NodeId::random(),
            path: path.into(),
            zarr_json: Bytes::from_static(b"{}"),
            kind: NodeKind::Group,
        }
    }

    fn array(path: &str, block_shape: Vec<u32>, blocks: &[Vec<u32>]) -> Node {
        let info =
            ShardInfo { manifest_id: ManifestId::random(), chunk_count: 1, total_bytes: 1, inline: None };
        let shards = blocks.iter().map(|b| (b.clone(), info.clone())).collect();
        Node { kind: NodeKind::Array(ArrayData { block_shape, shards }), ..group(path) }
    }

    fn refused(stored: &[u8]) -> String {
        match Snapshot::decode("s", stored) {
            Err(e @ IcechunkError::Corrupt { .. }) => e.to_string(),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn nodes_must_be_strictly_sorted_with_valid_paths() {
        let snap = snapshot_of(vec![group("/"), group("/xa"), group("/xb")]);
        assert_eq!(Snapshot::decode("s", &patched(&snap, &[])).unwrap(), snap);
        let swapped = patched(&snap, &[(b"/xa\0", b"/xc\0")]);
        assert!(refused(&swapped).contains("not strictly sorted"));
        let duplicate = patched(&snap, &[(b"/xb\0", b"/xa\0")]);
        assert!(refused(&duplicate).contains("not strictly sorted"));
        // Bytewise order: "/a/b" < "/a0" even though '/' sorts after nothing special.
        let snap = snapshot_of(vec![group("/a/b"), group("/a0"), group("/\u{e9}")]);
        assert_eq!(Snapshot::decode("s", &snap.encode(1).unwrap()).unwrap(), snap);
        for bad in ["/x/", "/x//y", "x", "/x/./y", "/..", ""] {
            let snap = snapshot_of(vec![group("/zzzzzz")]);
            let mut to = bad.as_bytes().to_vec();
            to.resize(7, 0);
            let mut from = b"/zzzzzz".to_vec();
            // Shorter paths end at their first 0 byte: patch the length prefix as well.
            let mut from_len = 7u32.to_le_bytes().to_vec();
            from_len.append(&mut from);
            let mut to_len = (bad.len() as u32).to_le_bytes().to_vec();
            to_len.append(&mut to);
            let stored = patched(&snap, &[(&from_len, &to_len)]);
            assert!(refused(&stored).contains("invalid node path"), "{bad:?}");
        }
        for good in ["/", "/a", "/a/b c/.d/..e"] {
            assert!(valid_node_path(good), "{good}");
        }
    }

    #[test]
    fn shards_must_be_strictly_sorted_blocks_of_the_arrays_rank() {
        let snap = snapshot_of(vec![array("/a", vec![3], &[vec![7777], vec![8888]])]);
        assert_eq!(Snapshot::decode("s", &patched(&snap, &[])).unwrap(), snap);
        let (a, b, c) = (7777u32.to_le_bytes(), 8888u32.to_le_bytes(), 9999u32.to_le_bytes());
        assert!(refused(&patched(&snap, &[(&a, &c), (&b, &a), (&c, &b)]))
            .contains("not strictly sorted by block"));
        assert!(refused(&patched(&snap, &[(&a, &b)])).contains("not strictly sorted by block"));
        let snap = snapshot_of(vec![array("/a", vec![3, 3], &[vec![1], vec![1, 2]])]);
        assert!(refused(&snap.encode(1).unwrap()).contains("dimensions"));
        let snap = snapshot_of(vec![array("/a", vec![5, 0], &[])]);
        assert!(refused(&snap.encode(1).unwrap()).contains("block shape entry of 0"));
        // A 0-d array: no dimensions, one block [].
        let snap = snapshot_of(vec![array("/s", vec![], &[vec![]])]);
        assert_eq!(Snapshot::decode("s", &snap.encode(1).unwrap()).unwrap(), snap);
    }

    /// A snapshot whose `nodes` reference one node table over and over, whose `shards` reference
    /// one shard over and over: 16 KB that a verifier without a table limit walks 4 million
    /// tables of. Refused at once.
    #[test]
    fn shared_tables_are_refused_before_they_cost_quadratic_time() {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let block = fbb.create_vector(&[0u32]);
        let shard = fb::ShardRef::create(
            &mut fbb,
            &fb::ShardRefArgs {
                block: Some(block),
                manifest_id: Some(&ManifestId::random().to_fb()),
                chunk_count: 1,
                total_bytes: 1,
                inline_manifest: None,
            },
        );
        let shards = fbb.create_vector(&vec![shard; 2000]);
        let block_shape = fbb.create_vector(&[1u32]);
        let array = fb::ArrayNode::create(
            &mut fbb,
            &fb::ArrayNodeArgs { block_shape: Some(block_shape), shards: Some(shards) },
        );
        let (path, zarr_json) = (fbb.create_string("/a"), fbb.create_vector(b"{}"));
        let node = fb::Node::create(
            &mut fbb,
            &fb::NodeArgs {
                id: Some(&NodeId::random().to_fb()),
                path: Some(path),
                zarr_json: Some(zarr_json),
                data_type: fb::NodeData::ArrayNode,
                data: Some(array.as_union_value()),
            },
        );
        let nodes = fbb.create_vector(&vec![node; 2000]);
        let (message, metadata) = (fbb.create_string(""), fbb.create_string("{}"));
        let snapshot = fb::Snapshot::create(
            &mut fbb,
            &fb::SnapshotArgs {
                id: Some(&SnapshotId::random().to_fb()),
                parent_id: None,
                flushed_at: 0,
                message: Some(message),
                metadata_json: Some(metadata),
                nodes: Some(nodes),
                ancestors: None,
            },
        );
        fbb.finish_minimal(snapshot);
        let stored = header::encode(ObjectType::Snapshot, fbb.finished_data(), Some(3)).unwrap();
        assert!(fbb.finished_data().len() < 20_000);
        let start = std::time::Instant::now();
        let err = refused(&stored);
        assert!(err.contains("invalid snapshot"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_millis(500), "took {:?}", start.elapsed());
    }

    #[test]
    fn blocks() {
        assert_eq!(block_of(&[10, 10], &[25, 3]), vec![2, 0]);
    }
}
