//! The on-storage format: the object header, the flatbuffer-backed objects and their paths.
//! `spec/format.md` is the prose description; `spec/format.fbs` the schema.

pub mod chunk;
pub mod header;
pub mod manifest;
pub mod snapshot;
pub mod txlog;

#[allow(clippy::all, unused_imports, dead_code, non_snake_case, unsafe_op_in_unsafe_fn)]
#[rustfmt::skip]
pub mod generated {
    include!("generated/format_generated.rs");
}
pub use generated::icechunk::format as fb;

use crate::ids::{ChunkId, ManifestId, NodeId, SnapshotId};

/// How a flatbuffer payload of `len` bytes is verified (spec §4.3). Writers never reference a
/// table twice, so a well-formed payload visits at most `len / 4` tables (a table is at least
/// its 4-byte vtable offset), and the verifier's "apparent size" (bytes checked, counting
/// shared vtables and vectors once per reference) stays within a small multiple of `len`.
/// Bounding both keeps verification, and decoding after it, linear in the payload: a payload
/// that references the same tables or vectors over and over is refused instead of taking
/// quadratic time and memory.
pub(crate) fn verifier_options(len: usize) -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions {
        max_depth: 64,
        max_tables: len / 4 + 1,
        max_apparent_size: len.saturating_mul(APPARENT_SIZE_FACTOR).saturating_add(1024),
        ignore_missing_null_terminator: false,
    }
}

/// Bytes the verifier may check per payload byte (see [`verifier_options`]).
pub(crate) const APPARENT_SIZE_FACTOR: usize = 8;

/// Decodes a JSON object stored behind a header (ref records §8.1, config §11, repository
/// records §12): the header checks of §4.1, unique member names, then the fields; any failure
/// is Corrupt, naming `what` was expected.
pub(crate) fn decode_json_object<T: serde::de::DeserializeOwned>(
    path: &str,
    object_type: header::ObjectType,
    what: &str,
    stored: &[u8],
) -> crate::error::Result<T> {
    let json = header::decode(path, object_type, stored)?;
    let invalid = |e: String| crate::error::IcechunkError::corrupt(path, format!("invalid {what}: {e}"));
    check_unique_members(&json).map_err(invalid)?;
    serde_json::from_slice(&json).map_err(|e| invalid(e.to_string()))
}

/// Checks that a JSON payload (ref records §8.1, config §11) is one object whose member names
/// are unique; serde catches repeated known members, this catches repeated unknown ones too.
pub(crate) fn check_unique_members(json: &[u8]) -> std::result::Result<(), String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(serde::de::Error::custom(format!("repeated member `{key}`")));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    de.deserialize_map(Members).and_then(|()| de.end()).map_err(|e| e.to_string())
}

impl SnapshotId {
    pub(crate) fn to_fb(self) -> fb::ObjectId12 {
        fb::ObjectId12::new(&self.0)
    }
    pub(crate) fn from_fb(id: &fb::ObjectId12) -> Self {
        SnapshotId(id.0)
    }
}
impl ManifestId {
    pub(crate) fn to_fb(self) -> fb::ObjectId12 {
        fb::ObjectId12::new(&self.0)
    }
    pub(crate) fn from_fb(id: &fb::ObjectId12) -> Self {
        ManifestId(id.0)
    }
}
impl ChunkId {
    pub(crate) fn to_fb(self) -> fb::ObjectId12 {
        fb::ObjectId12::new(&self.0)
    }
    pub(crate) fn from_fb(id: &fb::ObjectId12) -> Self {
        ChunkId(id.0)
    }
}
impl NodeId {
    pub(crate) fn to_fb(self) -> fb::NodeId8 {
        fb::NodeId8::new(&self.0)
    }
    pub(crate) fn from_fb(id: &fb::NodeId8) -> Self {
        NodeId(id.0)
    }
}

/// Object paths, relative to the repository's prefix.
pub mod paths {
    use super::*;
    pub const CONFIG: &str = "config.json";
    pub fn snapshot(id: &SnapshotId) -> String {
        format!("snapshots/{id}")
    }
    pub fn manifest(id: &ManifestId) -> String {
        format!("manifests/{id}")
    }
    pub fn chunk(id: &ChunkId) -> String {
        format!("chunks/{id}")
    }
    pub fn transaction_log(id: &SnapshotId) -> String {
        format!("transactions/{id}")
    }
    /// Leases of writing sessions (§13.2): their objects are kept by garbage collection.
    pub const LEASES: &str = "leases/";
    pub fn lease(id: &str) -> String {
        format!("leases/{id}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bytes::Bytes;

    use super::header::{self, ObjectType};
    use super::manifest::{ChunkLocation, ChunkRef, ManifestShard};
    use super::snapshot::{ArrayData, Node, NodeKind, ShardInfo, Snapshot};
    use super::txlog::TransactionLog;
    use super::*;

    /// The smallest `max_apparent_size` that verifies `payload` as root type `T`.
    fn apparent_size(payload: &[u8], verify: impl Fn(&flatbuffers::VerifierOptions, &[u8]) -> bool) -> usize {
        let ok = |limit: usize| {
            let opts =
                flatbuffers::VerifierOptions { max_apparent_size: limit, ..verifier_options(payload.len()) };
            verify(&opts, payload)
        };
        assert!(ok(usize::MAX / 2));
        let (mut lo, mut hi) = (0, payload.len() * 64);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if ok(mid) {
                hi = mid
            } else {
                lo = mid + 1
            }
        }
        lo
    }

    /// Written objects made of the smallest tables the schema allows (the worst case of the
    /// apparent size per payload byte) verify with room to spare under [`verifier_options`].
    #[test]
    fn written_objects_stay_well_inside_the_verifier_limits() {
        let group = |i: usize| {
            let path = format!("/{i}");
            (
                path.clone(),
                Arc::new(Node { id: NodeId::random(), path, zarr_json: Bytes::new(), kind: NodeKind::Group }),
            )
        };
        let mut nodes: BTreeMap<String, Arc<Node>> = (0..2000).map(group).collect();
        let info =
            ShardInfo { manifest_id: ManifestId::random(), chunk_count: 0, total_bytes: 0, inline: None };
        let shards = (0..2000u32).map(|i| (vec![i], info.clone())).collect();
        let array = Node {
            id: NodeId::random(),
            path: "/a".into(),
            zarr_json: Bytes::new(),
            kind: NodeKind::Array(ArrayData { block_shape: vec![1], shards }),
        };
        nodes.insert("/a".into(), Arc::new(array));
        let snapshot = Snapshot {
            id: SnapshotId::random(),
            parent_id: None,
            flushed_at: 0,
            message: String::new(),
            metadata: Default::default(),
            nodes,
            ancestors: Vec::new(),
        };
        let refs: Vec<_> = (0..5000u32)
            .map(|i| {
                (vec![i], ChunkRef { location: ChunkLocation::Inline(Bytes::new()), length: 0, checksum: 0 })
            })
            .collect();
        let log = TransactionLog {
            new_groups: (0..5000).map(|i| (NodeId::random(), format!("/{i}"))).collect(),
            ..Default::default()
        };
        let payloads = [
            (ObjectType::Snapshot, snapshot.encode(1).unwrap()),
            (
                ObjectType::Manifest,
                ManifestShard::encode(ManifestId::random(), NodeId::random(), &[0], &refs, None).unwrap(),
            ),
            (ObjectType::TransactionLog, log.encode(SnapshotId::random(), 1).unwrap()),
        ];
        for (object_type, stored) in payloads {
            let payload = header::decode("x", object_type, &stored).unwrap();
            let needed = match object_type {
                ObjectType::Snapshot => {
                    apparent_size(&payload, |o, p| flatbuffers::root_with_opts::<fb::Snapshot>(o, p).is_ok())
                }
                ObjectType::Manifest => {
                    apparent_size(&payload, |o, p| flatbuffers::root_with_opts::<fb::Manifest>(o, p).is_ok())
                }
                _ => apparent_size(&payload, |o, p| {
                    flatbuffers::root_with_opts::<fb::TransactionLog>(o, p).is_ok()
                }),
            };
            let factor = needed as f64 / payload.len() as f64;
            println!(
                "{object_type:?}: {} bytes, apparent size {needed} ({factor:.2} per byte)",
                payload.len()
            );
            assert!(factor * 2.0 <= APPARENT_SIZE_FACTOR as f64, "{object_type:?}: {factor:.2} per byte");
        }
    }
}
