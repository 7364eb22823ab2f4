//! Block tables of chunk objects (spec §6.4).
//!
//! Input: byte 0 selects the mode and the block size. Mode "table" (bit 7 clear): bytes 1..9
//! are the chunk length (u64 LE), 9..13 the reference's checksum, the rest the stored table, as
//! a reader fetches it; a table that decodes re-encodes to the same bytes, and range
//! arithmetic stays inside the chunk. Mode "chunk" (bit 7 set): byte 1 is a repeat count and
//! the rest, repeated, is a chunk; its object is written, its table read back and checked, and
//! every range verifies while a flipped byte does not.
#![no_main]

use std::ops::Range;

use icechunk::format::chunk::{self, BlockTable, ByteRange};
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fn ranges(length: u64, seed: &[u8]) -> Vec<Range<u64>> {
    let mut out = vec![0..length.min(1), length.saturating_sub(1)..length, length / 3..length - length / 3];
    for pair in seed.chunks_exact(2).take(4) {
        // In 128 bits: a table may describe a chunk of up to 2^64 - 1 bytes.
        let at = |x: u8| (x as u128 * length as u128 / 255) as u64;
        let (a, b) = (at(pair[0]), at(pair[1]));
        out.push(a.min(b)..a.max(b));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let block_size_log2 = mode & 0x7F;
    if mode & 0x80 == 0 {
        if rest.len() < 12 {
            return;
        }
        let length = u64::from_le_bytes(rest[..8].try_into().unwrap());
        let whole = u32::from_le_bytes(rest[8..12].try_into().unwrap());
        let stored = &rest[12..];
        let table = match BlockTable::decode("fuzz", stored, length, block_size_log2, whole) {
            Ok(table) => table,
            Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
        };
        assert_eq!(table.encode(), stored);
        for range in ranges(length, stored) {
            let covering = chunk::covering(length, block_size_log2, &range);
            assert!(covering.start <= range.start && range.end <= covering.end && covering.end <= length);
            // Bytes of the wrong size never verify.
            if covering.end - covering.start > 0 && covering.end - covering.start < 1 << 16 {
                let short = vec![0u8; (covering.end - covering.start - 1) as usize];
                assert!(table.verify("fuzz", &covering, &short).is_err());
            }
        }
        return;
    }
    // A chunk written with a table, at a block size a reader accepts (2^14..=2^30). Byte 1
    // stretches the rest (repeated 1 to 32 times), so that a chunk spans several blocks.
    let block_size_log2 = chunk::MIN_BLOCK_SIZE_LOG2
        + block_size_log2 % (chunk::MAX_BLOCK_SIZE_LOG2 - chunk::MIN_BLOCK_SIZE_LOG2 + 1);
    let Some((&stretch, rest)) = rest.split_first() else { return };
    let chunk = bytes::Bytes::from(rest.repeat(stretch as usize % 32 + 1));
    let length = chunk.len() as u64;
    let object = chunk::encode_object(&chunk, block_size_log2);
    let at = BlockTable::position(length, block_size_log2).unwrap();
    assert_eq!(at.end, object.len() as u64);
    let stored = &object[at.start as usize..at.end as usize];
    let table = BlockTable::decode("fuzz", stored, length, block_size_log2, chunk::checksum(&chunk))
        .expect("a written table matches its chunk");
    assert_eq!(table, BlockTable::compute(&chunk, block_size_log2));
    assert!(BlockTable::decode("fuzz", stored, length, block_size_log2, chunk::checksum(&chunk) ^ 1).is_err());
    for range in ranges(length, rest) {
        let covering = chunk::covering(length, block_size_log2, &range);
        let part = &chunk[covering.start as usize..covering.end as usize];
        table.verify("fuzz", &covering, part).unwrap();
        if !part.is_empty() {
            let mut flipped = part.to_vec();
            flipped[part.len() / 2] ^= 1;
            assert!(table.verify("fuzz", &covering, &flipped).is_err());
        }
        let wanted = ByteRange::Bounded { start: range.start, end: range.end }.slice(chunk.clone());
        assert_eq!(&part[(range.start - covering.start) as usize..][..wanted.len()], &wanted[..]);
    }
});
