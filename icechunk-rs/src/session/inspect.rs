//! What a session can tell about its nodes and chunks, by node path (`/group/array`): node
//! ids, where a chunk lives, which chunks an array has.

use super::Session;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::{ChunkLocation, ChunkRef};
use crate::format::snapshot::valid_node_path;
use crate::ids::{ChunkCoords, NodeId};

/// Where a chunk's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// No chunk at these coordinates: reads give the fill value.
    Uninitialized,
    /// An object of its own.
    Native,
    /// Inside its manifest reference.
    Inline,
    /// A byte range of a file outside the repository.
    Virtual,
}

/// `path` as the engine spells node paths: absolute, `/` for the root.
fn node_path(path: &str) -> Result<String> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    if !valid_node_path(path) {
        return Err(IcechunkError::InvalidInput(format!(
            "`{path}` is not a node path: absolute (`/group/array`), without empty, `.` or `..` segments"
        )));
    }
    Ok(path.to_string())
}

impl Session {
    /// The path of every group and array, sorted (`/` for the root group).
    pub fn list_nodes(&self) -> Vec<String> {
        self.node_paths()
    }

    /// The id of the node at `path`, kept for the node's whole life.
    pub fn node_id(&self, path: &str) -> Result<NodeId> {
        let path = node_path(path)?;
        self.node(&path).map(|node| node.id()).ok_or(IcechunkError::NodeNotFound { path })
    }

    /// Where the chunk at `coords` of the array at `path` lives.
    pub async fn chunk_kind(&self, path: &str, coords: &[u32]) -> Result<ChunkKind> {
        let path = self.array_path(path)?;
        Ok(match self.chunk_ref(&path, coords).await?.map(|chunk| chunk.location) {
            None => ChunkKind::Uninitialized,
            Some(ChunkLocation::Inline(_)) => ChunkKind::Inline,
            Some(ChunkLocation::Object { .. }) => ChunkKind::Native,
            Some(ChunkLocation::Virtual { .. }) => ChunkKind::Virtual,
        })
    }

    /// The coordinates of every chunk the array at `path` has, in order.
    pub async fn chunk_coordinates(&self, path: &str) -> Result<Vec<ChunkCoords>> {
        let path = self.array_path(path)?;
        Ok(self.array_chunks(&path).await?.into_iter().map(|(coords, _)| coords).collect())
    }

    /// Every chunk of the array at `path` with its reference (where its bytes are), in
    /// coordinate order.
    pub async fn chunk_refs(&self, path: &str) -> Result<Vec<(ChunkCoords, ChunkRef)>> {
        let path = self.array_path(path)?;
        self.array_chunk_refs(&path).await
    }

    pub(super) fn array_path(&self, path: &str) -> Result<String> {
        let path = node_path(path)?;
        match self.node(&path) {
            Some(node) if node.is_array() => Ok(path),
            Some(_) => Err(IcechunkError::InvalidInput(format!("`{path}` is a group, not an array"))),
            None => Err(IcechunkError::NodeNotFound { path }),
        }
    }
}
