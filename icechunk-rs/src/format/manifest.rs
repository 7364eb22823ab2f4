//! Manifest shards: the chunk references of one array inside one block of its chunk grid.
//!
//! A decoded shard keeps its verified flatbuffer and answers lookups by binary search over
//! the sorted coordinates, without building per-reference objects.

use std::cmp::Ordering;

use bytes::Bytes;

use super::fb;
use super::header::{self, ObjectType};
use crate::error::{IcechunkError, Result};
use crate::ids::{ChunkCoords, ChunkId, ManifestId, NodeId};

/// Where a chunk's bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkLocation {
    Inline(Bytes),
    /// Bytes `offset..offset + length` of object `chunks/<id>`, followed there by a table of
    /// block checksums when `block_size_log2` > 0 (see [`super::chunk`]).
    Object {
        id: ChunkId,
        offset: u64,
        block_size_log2: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    pub location: ChunkLocation,
    pub length: u64,
    /// CRC-32C of the chunk's bytes.
    pub checksum: u32,
}

pub struct ManifestShard {
    /// The verified flatbuffer.
    buf: Vec<u8>,
}

fn verifier_options() -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions {
        max_depth: 64,
        max_tables: usize::MAX / 2,
        max_apparent_size: usize::MAX / 2,
        ignore_missing_null_terminator: false,
    }
}

pub(crate) fn cmp_coords(stored: flatbuffers::Vector<'_, u32>, wanted: &[u32]) -> Ordering {
    stored.iter().cmp(wanted.iter().copied())
}

impl ManifestShard {
    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let buf = header::decode(path, ObjectType::Manifest, stored)?;
        flatbuffers::root_with_opts::<fb::Manifest>(&verifier_options(), &buf)
            .map_err(|e| IcechunkError::corrupt(path, format!("invalid manifest: {e}")))?;
        Ok(ManifestShard { buf })
    }

    fn fb(&self) -> fb::Manifest<'_> {
        // SAFETY: the buffer was verified in `decode` and is immutable since.
        unsafe { flatbuffers::root_unchecked::<fb::Manifest>(&self.buf) }
    }

    pub fn id(&self) -> ManifestId {
        ManifestId::from_fb(self.fb().id())
    }

    pub fn node_id(&self) -> NodeId {
        NodeId::from_fb(self.fb().node_id())
    }

    pub fn len(&self) -> usize {
        self.fb().refs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decoded size, for cache accounting.
    pub fn weight(&self) -> usize {
        self.buf.len()
    }

    pub fn lookup(&self, coords: &[u32]) -> Option<ChunkRef> {
        let refs = self.fb().refs();
        let (mut lo, mut hi) = (0usize, refs.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let entry = refs.get(mid);
            match cmp_coords(entry.coords(), coords) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(to_chunk_ref(&entry)),
            }
        }
        None
    }

    /// All references, in coordinate order.
    pub fn iter(&self) -> impl Iterator<Item = (ChunkCoords, ChunkRef)> + '_ {
        self.fb().refs().iter().map(|r| (r.coords().iter().collect(), to_chunk_ref(&r)))
    }

    /// Coordinates and lengths only: what listings and sizes need.
    pub fn iter_lengths(&self) -> impl Iterator<Item = (ChunkCoords, u64)> + '_ {
        self.fb().refs().iter().map(|r| (r.coords().iter().collect(), r.length()))
    }

    pub fn encode(
        id: ManifestId,
        node_id: NodeId,
        block: &[u32],
        refs: &[(ChunkCoords, ChunkRef)],
        zstd_level: Option<i32>,
    ) -> Result<Bytes> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(64 + refs.len() * 48);
        let mut offsets = Vec::with_capacity(refs.len());
        for (coords, chunk) in refs {
            let coords = fbb.create_vector(coords);
            let (inline, chunk_id, offset, block_size_log2) = match &chunk.location {
                ChunkLocation::Inline(bytes) => (Some(fbb.create_vector(bytes)), None, 0, 0),
                ChunkLocation::Object { id, offset, block_size_log2 } => {
                    (None, Some(id.to_fb()), *offset, *block_size_log2)
                }
            };
            offsets.push(fb::ChunkRef::create(
                &mut fbb,
                &fb::ChunkRefArgs {
                    coords: Some(coords),
                    inline_data: inline,
                    chunk_id: chunk_id.as_ref(),
                    offset,
                    length: chunk.length,
                    checksum: chunk.checksum,
                    block_size_log2,
                },
            ));
        }
        let refs = fbb.create_vector(&offsets);
        let block = fbb.create_vector(block);
        let manifest = fb::Manifest::create(
            &mut fbb,
            &fb::ManifestArgs {
                id: Some(&id.to_fb()),
                node_id: Some(&node_id.to_fb()),
                block: Some(block),
                refs: Some(refs),
            },
        );
        fbb.finish_minimal(manifest);
        header::encode(ObjectType::Manifest, fbb.finished_data(), zstd_level)
    }
}

fn to_chunk_ref(entry: &fb::ChunkRef<'_>) -> ChunkRef {
    let location = match (entry.inline_data(), entry.chunk_id()) {
        (Some(data), _) => ChunkLocation::Inline(Bytes::copy_from_slice(data.bytes())),
        (None, Some(id)) => ChunkLocation::Object {
            id: ChunkId::from_fb(id),
            offset: entry.offset(),
            block_size_log2: entry.block_size_log2(),
        },
        // A reference with neither is written by no writer; treat it as an empty inline chunk
        // whose checksum check will fail unless the chunk really was empty.
        (None, None) => ChunkLocation::Inline(Bytes::new()),
    };
    ChunkRef { location, length: entry.length(), checksum: entry.checksum() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_lookup_iterate() {
        let refs: Vec<_> = (0..100u32)
            .map(|i| {
                let location = if i % 2 == 0 {
                    ChunkLocation::Inline(Bytes::from(vec![i as u8; 3]))
                } else {
                    ChunkLocation::Object { id: ChunkId::random(), offset: 0, block_size_log2: 14 }
                };
                (vec![i / 10, i % 10], ChunkRef { location, length: 3, checksum: i })
            })
            .collect();
        let id = ManifestId::random();
        let stored = ManifestShard::encode(id, NodeId::random(), &[0, 0], &refs, Some(3)).unwrap();
        let shard = ManifestShard::decode("m", &stored).unwrap();
        assert_eq!(shard.id(), id);
        assert_eq!(shard.len(), 100);
        for (coords, r) in &refs {
            assert_eq!(shard.lookup(coords).as_ref(), Some(r));
        }
        assert_eq!(shard.lookup(&[10, 0]), None);
        assert_eq!(shard.iter().collect::<Vec<_>>(), refs);
    }
}
