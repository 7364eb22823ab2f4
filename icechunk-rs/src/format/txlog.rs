//! Transaction logs: what one commit changed relative to its parent. Diffs are built from them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::fb;
use super::header::{self, ObjectType};
use crate::error::{IcechunkError, Result};
use crate::ids::{ChunkCoords, NodeId, SnapshotId};

/// A node a commit touched: its id and path.
pub type ChangedNode = (NodeId, String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionLog {
    pub new_groups: Vec<ChangedNode>,
    pub new_arrays: Vec<ChangedNode>,
    pub deleted_groups: Vec<ChangedNode>,
    pub deleted_arrays: Vec<ChangedNode>,
    pub updated_groups: Vec<ChangedNode>,
    pub updated_arrays: Vec<ChangedNode>,
    /// Per array (node id, path): the coordinates of chunks written or deleted.
    pub updated_chunks: BTreeMap<(NodeId, String), BTreeSet<ChunkCoords>>,
}

impl TransactionLog {
    pub fn is_empty(&self) -> bool {
        self.new_groups.is_empty()
            && self.new_arrays.is_empty()
            && self.deleted_groups.is_empty()
            && self.deleted_arrays.is_empty()
            && self.updated_groups.is_empty()
            && self.updated_arrays.is_empty()
            && self.updated_chunks.is_empty()
    }

    pub fn encode(&self, id: SnapshotId, zstd_level: i32) -> Result<Bytes> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(1024);
        macro_rules! nodes {
            ($list:expr) => {{
                let items: Vec<_> = $list
                    .iter()
                    .map(|(id, path)| {
                        let path = fbb.create_string(path);
                        fb::ChangedNode::create(
                            &mut fbb,
                            &fb::ChangedNodeArgs { id: Some(&id.to_fb()), path: Some(path) },
                        )
                    })
                    .collect();
                fbb.create_vector(&items)
            }};
        }
        let new_groups = nodes!(self.new_groups);
        let new_arrays = nodes!(self.new_arrays);
        let deleted_groups = nodes!(self.deleted_groups);
        let deleted_arrays = nodes!(self.deleted_arrays);
        let updated_groups = nodes!(self.updated_groups);
        let updated_arrays = nodes!(self.updated_arrays);
        let mut chunks = Vec::with_capacity(self.updated_chunks.len());
        for ((node_id, path), coords) in &self.updated_chunks {
            let ndim = coords.iter().next().map_or(0, |c| c.len());
            let flat: Vec<u32> = coords.iter().flatten().copied().collect();
            let path = fbb.create_string(path);
            let flat = fbb.create_vector(&flat);
            chunks.push(fb::ChangedChunks::create(
                &mut fbb,
                &fb::ChangedChunksArgs {
                    node_id: Some(&node_id.to_fb()),
                    path: Some(path),
                    ndim: ndim as u32,
                    coords: Some(flat),
                },
            ));
        }
        let updated_chunks = fbb.create_vector(&chunks);
        let log = fb::TransactionLog::create(
            &mut fbb,
            &fb::TransactionLogArgs {
                id: Some(&id.to_fb()),
                new_groups: Some(new_groups),
                new_arrays: Some(new_arrays),
                deleted_groups: Some(deleted_groups),
                deleted_arrays: Some(deleted_arrays),
                updated_groups: Some(updated_groups),
                updated_arrays: Some(updated_arrays),
                updated_chunks: Some(updated_chunks),
            },
        );
        fbb.finish_minimal(log);
        header::encode(ObjectType::TransactionLog, fbb.finished_data(), Some(zstd_level))
    }

    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let buf = header::decode(path, ObjectType::TransactionLog, stored)?;
        let opts = flatbuffers::VerifierOptions {
            max_tables: usize::MAX / 2,
            max_apparent_size: usize::MAX / 2,
            ..Default::default()
        };
        let log = flatbuffers::root_with_opts::<fb::TransactionLog>(&opts, &buf)
            .map_err(|e| IcechunkError::corrupt(path, format!("invalid transaction log: {e}")))?;
        let nodes = |v: flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::ChangedNode<'_>>>| {
            v.iter().map(|n| (NodeId::from_fb(n.id()), n.path().to_string())).collect::<Vec<_>>()
        };
        let mut updated_chunks = BTreeMap::new();
        for entry in log.updated_chunks() {
            let ndim = entry.ndim() as usize;
            let flat: Vec<u32> = entry.coords().iter().collect();
            let coords: BTreeSet<ChunkCoords> = if ndim == 0 {
                // A zero-dimensional array has one chunk, at the empty coordinates.
                std::iter::once(Vec::new()).collect()
            } else {
                if !flat.len().is_multiple_of(ndim) {
                    return Err(IcechunkError::corrupt(path, "chunk coordinates of uneven length"));
                }
                flat.chunks(ndim).map(|c| c.to_vec()).collect()
            };
            updated_chunks.insert((NodeId::from_fb(entry.node_id()), entry.path().to_string()), coords);
        }
        Ok(TransactionLog {
            new_groups: nodes(log.new_groups()),
            new_arrays: nodes(log.new_arrays()),
            deleted_groups: nodes(log.deleted_groups()),
            deleted_arrays: nodes(log.deleted_arrays()),
            updated_groups: nodes(log.updated_groups()),
            updated_arrays: nodes(log.updated_arrays()),
            updated_chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut log = TransactionLog::default();
        let a = (NodeId::random(), "/a".to_string());
        log.new_arrays.push(a.clone());
        log.deleted_groups.push((NodeId::random(), "/g".to_string()));
        log.updated_chunks.insert(a, [vec![0, 1], vec![2, 3]].into_iter().collect());
        let decoded = TransactionLog::decode("t", &log.encode(SnapshotId::random(), 3).unwrap()).unwrap();
        assert_eq!(decoded, log);
    }
}
