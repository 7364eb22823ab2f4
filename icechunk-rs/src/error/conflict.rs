//! The conflicts a rebase can meet: our change and a commit of theirs touched the same thing.
//! Part of the error vocabulary (a failed rebase reports them), so it lives here, below the
//! detection in `conflicts`.

use std::collections::BTreeSet;
use std::fmt;

use crate::ids::{ChunkCoords, NodeId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// We created a node where they created one too.
    NewNodeConflictsWithExistingNode {
        path: String,
    },
    /// We created a node inside a group they deleted.
    NewNodeInInvalidGroup {
        path: String,
    },
    /// Both changed the `zarr.json` of one node.
    ZarrMetadataDoubleUpdate {
        path: String,
    },
    ZarrMetadataUpdateOfDeletedArray {
        path: String,
    },
    ZarrMetadataUpdateOfDeletedGroup {
        path: String,
    },
    /// Both wrote (or deleted) these chunks of one array.
    ChunkDoubleUpdate {
        path: String,
        node_id: NodeId,
        chunk_coordinates: BTreeSet<ChunkCoords>,
    },
    ChunksUpdatedInDeletedArray {
        path: String,
    },
    /// We wrote chunks of an array whose metadata (shape, chunking) they changed.
    ChunksUpdatedInUpdatedArray {
        path: String,
    },
    DeleteOfUpdatedArray {
        path: String,
    },
    DeleteOfUpdatedGroup {
        path: String,
    },
    /// A move (ours, or theirs of a node we changed) cannot be carried onto other commits.
    MoveOperationCannotBeRebased {
        path: String,
    },
}

impl Conflict {
    pub fn kind(&self) -> &'static str {
        match self {
            Conflict::NewNodeConflictsWithExistingNode { .. } => "NewNodeConflictsWithExistingNode",
            Conflict::NewNodeInInvalidGroup { .. } => "NewNodeInInvalidGroup",
            Conflict::ZarrMetadataDoubleUpdate { .. } => "ZarrMetadataDoubleUpdate",
            Conflict::ZarrMetadataUpdateOfDeletedArray { .. } => "ZarrMetadataUpdateOfDeletedArray",
            Conflict::ZarrMetadataUpdateOfDeletedGroup { .. } => "ZarrMetadataUpdateOfDeletedGroup",
            Conflict::ChunkDoubleUpdate { .. } => "ChunkDoubleUpdate",
            Conflict::ChunksUpdatedInDeletedArray { .. } => "ChunksUpdatedInDeletedArray",
            Conflict::ChunksUpdatedInUpdatedArray { .. } => "ChunksUpdatedInUpdatedArray",
            Conflict::DeleteOfUpdatedArray { .. } => "DeleteOfUpdatedArray",
            Conflict::DeleteOfUpdatedGroup { .. } => "DeleteOfUpdatedGroup",
            Conflict::MoveOperationCannotBeRebased { .. } => "MoveOperationCannotBeRebased",
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Conflict::NewNodeConflictsWithExistingNode { path }
            | Conflict::NewNodeInInvalidGroup { path }
            | Conflict::ZarrMetadataDoubleUpdate { path }
            | Conflict::ZarrMetadataUpdateOfDeletedArray { path }
            | Conflict::ZarrMetadataUpdateOfDeletedGroup { path }
            | Conflict::ChunkDoubleUpdate { path, .. }
            | Conflict::ChunksUpdatedInDeletedArray { path }
            | Conflict::ChunksUpdatedInUpdatedArray { path }
            | Conflict::DeleteOfUpdatedArray { path }
            | Conflict::DeleteOfUpdatedGroup { path }
            | Conflict::MoveOperationCannotBeRebased { path } => path,
        }
    }

    /// The chunk coordinates in conflict (empty for node conflicts).
    pub fn chunk_coordinates(&self) -> Vec<ChunkCoords> {
        match self {
            Conflict::ChunkDoubleUpdate { chunk_coordinates, .. } => {
                chunk_coordinates.iter().cloned().collect()
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.kind(), self.path())?;
        if let Conflict::ChunkDoubleUpdate { chunk_coordinates, .. } = self {
            let shown: Vec<String> = chunk_coordinates.iter().take(10).map(|c| format!("{c:?}")).collect();
            write!(f, " chunks {}", shown.join(", "))?;
            if chunk_coordinates.len() > 10 {
                write!(f, " and {} more", chunk_coordinates.len() - 10)?;
            }
        }
        Ok(())
    }
}
