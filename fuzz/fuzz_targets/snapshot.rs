//! Snapshots (spec §5): decode, then re-encode and decode to the same value.
//!
//! Input: the payload (uncompressed), which the target frames with a valid header: mutations
//! reach the payload's decoder instead of failing the checksum. The `header` target covers
//! the header, the checksum and decompression.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::format::manifest::ManifestShard;
use icechunk::format::snapshot::{NodeKind, Snapshot};
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::Snapshot, payload, None).unwrap()[..];
    let snapshot = match Snapshot::decode("fuzz", data) {
        Ok(snapshot) => snapshot,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    let stored = snapshot.encode(1).unwrap();
    let again = Snapshot::decode("fuzz", &stored).expect("a decoded snapshot re-encodes to a valid one");
    assert_eq!(again, snapshot);
    for (path, node) in &snapshot.nodes {
        assert_eq!(&node.path, path);
        let NodeKind::Array(array) = &node.kind else { continue };
        assert!(array.block_shape.iter().all(|&b| b >= 1));
        for (block, shard) in &array.shards {
            assert_eq!(block.len(), array.block_shape.len());
            // A chunk of the block lands in that block.
            let first: Vec<u32> =
                block.iter().zip(&array.block_shape).map(|(b, s)| b.saturating_mul(*s)).collect();
            if block.iter().zip(&array.block_shape).all(|(b, s)| b.checked_mul(*s).is_some()) {
                assert_eq!(&array.block_of(&first), block);
            }
            if let Some(inline) = &shard.inline {
                if let Err(e) = ManifestShard::decode("inline", inline) {
                    assert_eq!(e.kind(), ErrorKind::Format, "{e}");
                }
            }
        }
    }
    let _ = snapshot.ancestors_for_child();
});
