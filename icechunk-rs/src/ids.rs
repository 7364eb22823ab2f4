//! Identifiers: random ids of objects and nodes, and chunk coordinates. The ground floor of
//! the engine: everything else names things with these, and these name nothing else.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32HEX_NOPAD;
use rand::RngCore;

/// A string that is not the text form (base32hex, no padding) of an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    pub text: String,
    pub kind: &'static str,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a valid {}", self.text, self.kind)
    }
}

impl std::error::Error for InvalidId {}

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
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || InvalidId { text: s.to_string(), kind: $what };
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

/// Chunk coordinates in an array's chunk grid.
pub type ChunkCoords = Vec<u32>;
