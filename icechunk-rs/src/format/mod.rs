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
}
