//! The on-storage format: identifiers, the object header, and the flatbuffer-backed objects.
//! `spec/format.md` is the prose description; `spec/format.fbs` the schema.

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

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32HEX_NOPAD;
use rand::RngCore;

use crate::error::IcechunkError;

macro_rules! random_id {
    ($name:ident, $len:expr, $what:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub fn random() -> Self {
                let mut bytes = [0u8; $len];
                rand::rng().fill_bytes(&mut bytes);
                $name(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&BASE32HEX_NOPAD.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = IcechunkError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || IcechunkError::InvalidInput(format!("`{s}` is not a valid {}", $what));
                let decoded = BASE32HEX_NOPAD.decode(s.as_bytes()).map_err(|_| invalid())?;
                let bytes: [u8; $len] = decoded.try_into().map_err(|_| invalid())?;
                Ok($name(bytes))
            }
        }
    };
}

random_id!(SnapshotId, 12, "snapshot id");
random_id!(ManifestId, 12, "manifest id");
random_id!(ChunkId, 12, "chunk id");
random_id!(NodeId, 8, "node id");

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

/// Chunk coordinates in an array's chunk grid.
pub type ChunkCoords = Vec<u32>;

/// CRC-32C of chunk bytes, as kept in manifests.
pub fn chunk_checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}
