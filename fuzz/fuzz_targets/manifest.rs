//! Manifest shards (spec §6.1, virtual references §6.6): decode, look every reference up by binary search, re-encode
//! and decode to the same references.
//!
//! Input: the payload (uncompressed), which the target frames with a valid header: mutations
//! reach the payload's decoder instead of failing the checksum. The `header` target covers
//! the header, the checksum and decompression.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::format::manifest::{ChunkLocation, ManifestShard};
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::Manifest, payload, None).unwrap()[..];
    let shard = match ManifestShard::decode("fuzz", data) {
        Ok(shard) => shard,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    let refs: Vec<_> = shard.iter().collect();
    assert_eq!(refs.len(), shard.len());
    let block = shard.block();
    for pair in refs.windows(2) {
        assert!(pair[0].0 < pair[1].0, "references are strictly sorted");
    }
    for (coords, chunk) in &refs {
        assert_eq!(coords.len(), block.len());
        assert_eq!(shard.lookup(coords).as_ref(), Some(chunk));
        match &chunk.location {
            ChunkLocation::Inline(bytes) => assert_eq!(bytes.len() as u64, chunk.length),
            ChunkLocation::Object { offset, .. } => assert!(offset.checked_add(chunk.length).is_some()),
            ChunkLocation::Virtual { offset, .. } => assert!(offset.checked_add(chunk.length).is_some()),
        }
    }
    let lengths: Vec<_> = shard.iter_lengths().collect();
    assert!(lengths.iter().zip(&refs).all(|((c, l), (rc, r))| c == rc && *l == r.length));
    for compression in [None, Some(1)] {
        let stored = ManifestShard::encode(shard.id(), shard.node_id(), &block, &refs, compression).unwrap();
        let again =
            ManifestShard::decode("fuzz", &stored).expect("a decoded shard re-encodes to a valid one");
        assert_eq!(
            (again.id(), again.node_id(), again.block()),
            (shard.id(), shard.node_id(), block.clone())
        );
        assert!(again.iter().eq(refs.iter().cloned()));
    }
});
