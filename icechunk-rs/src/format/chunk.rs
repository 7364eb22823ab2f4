//! Chunk objects, and how a byte range of a chunk is read and verified.
//!
//! A chunk object holds the chunk's bytes; when the chunk is larger than one block, a table of
//! block checksums follows them (spec/format.md, §6.4):
//!
//! ```text
//! data (length bytes) || CRC-32C of block 0 || CRC-32C of block 1 || ...   (u32 little-endian)
//! ```
//!
//! A whole-chunk read checks the reference's checksum as always. A range read fetches the table
//! once, checks it against that same checksum (the block checksums, combined in order, must give
//! the checksum of the whole chunk), then fetches only the blocks that cover the range and checks
//! each against its entry. So every byte handed out is verified, and reading the index and one
//! inner chunk of a large sharded chunk costs the table and a few blocks, not the whole chunk.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{IcechunkError, Result};

/// The smallest block: 16 KiB. Chunks of at most one block have no table.
pub const MIN_BLOCK_SIZE_LOG2: u8 = 14;
/// Larger chunks get larger blocks, so that a table has at most this many entries (16 KiB).
pub const MAX_BLOCKS: u64 = 4096;
/// The largest block size a reader accepts (1 GiB); anything above is corrupt.
pub const MAX_BLOCK_SIZE_LOG2: u8 = 30;

/// CRC-32C of chunk bytes, as kept in chunk references.
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// A byte range of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start..end`, end exclusive.
    Bounded { start: u64, end: u64 },
    /// From an offset to the end.
    Offset(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The range within a value of `len` bytes, clamped to it (a range past the end is empty).
    pub fn within(&self, len: u64) -> Range<u64> {
        let (start, end) = match *self {
            ByteRange::Bounded { start, end } => (start.min(len), end.min(len).max(start.min(len))),
            ByteRange::Offset(start) => (start.min(len), len),
            ByteRange::Suffix(n) => (len.saturating_sub(n), len),
        };
        start..end
    }

    pub fn slice(&self, bytes: Bytes) -> Bytes {
        let range = self.within(bytes.len() as u64);
        bytes.slice(range.start as usize..range.end as usize)
    }
}

/// The block size (log2) a writer gives a chunk object of `length` bytes; 0: no table.
pub fn block_size_log2_for(length: u64) -> u8 {
    if length <= 1 << MIN_BLOCK_SIZE_LOG2 {
        return 0;
    }
    let mut log2 = MIN_BLOCK_SIZE_LOG2;
    while length.div_ceil(1 << log2) > MAX_BLOCKS && log2 < MAX_BLOCK_SIZE_LOG2 {
        log2 += 1;
    }
    log2
}

/// The bytes of a chunk object: the chunk, then its block table when `block_size_log2` > 0.
pub fn encode_object(data: &Bytes, block_size_log2: u8) -> Bytes {
    if block_size_log2 == 0 {
        return data.clone();
    }
    let table = BlockTable::compute(data, block_size_log2);
    let mut out = BytesMut::with_capacity(data.len() + 4 * table.crcs.len());
    out.put_slice(data);
    for crc in &table.crcs {
        out.put_u32_le(*crc);
    }
    out.freeze()
}

/// The blocks of a chunk of `length` bytes that cover `range` (within the chunk), as a byte
/// range of the chunk.
pub fn covering(length: u64, block_size_log2: u8, range: &Range<u64>) -> Range<u64> {
    let block = 1u64 << block_size_log2;
    let start = range.start / block * block;
    let end = (range.end.div_ceil(block) * block).min(length);
    start..end.max(start)
}

/// The checksums of the blocks of one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTable {
    block_size_log2: u8,
    length: u64,
    crcs: Vec<u32>,
}

impl BlockTable {
    pub fn compute(data: &[u8], block_size_log2: u8) -> Self {
        let block = 1usize << block_size_log2;
        BlockTable {
            block_size_log2,
            length: data.len() as u64,
            crcs: data.chunks(block).map(checksum).collect(),
        }
    }

    fn block_size(&self) -> u64 {
        1 << self.block_size_log2
    }

    /// Where the table of a chunk of `length` bytes sits in its object, relative to the chunk's
    /// first byte.
    pub fn position(length: u64, block_size_log2: u8) -> Result<Range<u64>> {
        if !(MIN_BLOCK_SIZE_LOG2..=MAX_BLOCK_SIZE_LOG2).contains(&block_size_log2) {
            return Err(IcechunkError::InvalidInput(format!(
                "block size 2^{block_size_log2} is outside 2^{MIN_BLOCK_SIZE_LOG2}..=2^{MAX_BLOCK_SIZE_LOG2}"
            )));
        }
        let entries = length.div_ceil(1 << block_size_log2);
        Ok(length..length + 4 * entries)
    }

    /// Decodes a table fetched from its object and checks it against the chunk's checksum:
    /// combined in order, the block checksums must give the checksum of the whole chunk.
    /// `object` names the chunk object in errors.
    pub fn decode(object: &str, stored: &[u8], length: u64, block_size_log2: u8, whole: u32) -> Result<Self> {
        let expected = Self::position(length, block_size_log2)
            .map_err(|e| IcechunkError::corrupt(object, format!("bad chunk reference: {e}")))?;
        if stored.len() as u64 != expected.end - expected.start {
            return Err(IcechunkError::corrupt(object, "the block table is truncated"));
        }
        let crcs: Vec<u32> =
            stored.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        let table = BlockTable { block_size_log2, length, crcs };
        if table.combined() != whole {
            return Err(IcechunkError::corrupt(
                object,
                "the block table does not match the chunk's checksum",
            ));
        }
        Ok(table)
    }

    /// The checksum of the whole chunk, from the block checksums.
    fn combined(&self) -> u32 {
        let Some((&first, rest)) = self.crcs.split_first() else { return checksum(&[]) };
        let shift = Shift::new(self.block_size());
        let last_len = self.length - (self.crcs.len() as u64 - 1) * self.block_size();
        let mut crc = first;
        for (i, &next) in rest.iter().enumerate() {
            crc = if i + 1 == rest.len() {
                Shift::new(last_len).apply(crc) ^ next
            } else {
                shift.apply(crc) ^ next
            };
        }
        crc
    }

    /// Checks `bytes`, the chunk's bytes `covering` (as returned by [`covering`]).
    pub fn verify(&self, object: &str, covering: &Range<u64>, bytes: &[u8]) -> Result<()> {
        let block = self.block_size() as usize;
        let first = (covering.start / self.block_size()) as usize;
        if bytes.len() as u64 != covering.end - covering.start {
            return Err(IcechunkError::corrupt(object, "the chunk object is shorter than its reference"));
        }
        for (i, part) in bytes.chunks(block).enumerate() {
            if self.crcs.get(first + i) != Some(&checksum(part)) {
                return Err(IcechunkError::corrupt(
                    object,
                    format!("checksum mismatch in block {}", first + i),
                ));
            }
        }
        Ok(())
    }

    /// Bytes held, for cache accounting.
    pub fn weight(&self) -> usize {
        16 + 4 * self.crcs.len()
    }
}

/// Appending `n` bytes to a CRC-32C multiplies it by `x^(8n)` modulo the CRC polynomial,
/// in the reflected bit order CRC-32C is computed in: `crc(A || B) = crc(A)·x^(8|B|) + crc(B)`.
/// So combining a table costs one carry-less product per block.
struct Shift(u32);

/// CRC-32C's polynomial, reflected.
const POLY: u32 = 0x82F6_3B78;

/// `a·b mod P`, reflected (`1 << 31` is `x^0`).
fn multiply(a: u32, mut b: u32) -> u32 {
    let (mut a, mut product) = (a, 0u32);
    while a != 0 {
        if a & (1 << 31) != 0 {
            product ^= b;
        }
        a <<= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    product
}

impl Shift {
    /// `x^(8n) mod P`, from the squares `x^(8·2^k)` (computed once per process).
    fn new(n: u64) -> Self {
        static SQUARES: std::sync::OnceLock<[u32; 64]> = std::sync::OnceLock::new();
        let squares = SQUARES.get_or_init(|| {
            let mut squares = [0u32; 64];
            squares[0] = 1 << (31 - 8); // x^8
            for k in 1..64 {
                squares[k] = multiply(squares[k - 1], squares[k - 1]);
            }
            squares
        });
        let power = (0..64).filter(|k| n & (1 << k) != 0).fold(1 << 31, |p, k| multiply(p, squares[k]));
        Shift(power)
    }

    fn apply(&self, crc: u32) -> u32 {
        multiply(self.0, crc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Bytes {
        (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>().into()
    }

    #[test]
    fn block_sizes_bound_the_table() {
        assert_eq!(block_size_log2_for(16 * 1024), 0);
        assert_eq!(block_size_log2_for(16 * 1024 + 1), 14);
        assert_eq!(block_size_log2_for(64 << 20), 14);
        assert_eq!(block_size_log2_for((64 << 20) + 1), 15);
        assert_eq!(block_size_log2_for(1 << 40), 28);
    }

    #[test]
    fn tables_combine_to_the_whole_checksum_and_catch_flips() {
        for len in [16 * 1024 + 1, 40_000, 3 * 16 * 1024, 100_003] {
            let bytes = data(len);
            let log2 = block_size_log2_for(len as u64);
            let object = encode_object(&bytes, log2);
            let position = BlockTable::position(len as u64, log2).unwrap();
            let stored = &object[position.start as usize..position.end as usize];
            let table = BlockTable::decode("c", stored, len as u64, log2, checksum(&bytes)).unwrap();
            assert!(BlockTable::decode("c", stored, len as u64, log2, checksum(&bytes) ^ 1).is_err());
            for range in [0..1, 5..16385, (len as u64 - 10)..len as u64, 0..len as u64] {
                let covering = covering(len as u64, log2, &range);
                assert!(covering.start <= range.start && covering.end >= range.end);
                let part = &bytes[covering.start as usize..covering.end as usize];
                table.verify("c", &covering, part).unwrap();
                let mut flipped = part.to_vec();
                flipped[part.len() / 2] ^= 1;
                assert!(table.verify("c", &covering, &flipped).is_err());
            }
        }
    }

    #[test]
    fn shifting_is_combining_with_zero_bytes() {
        for n in [1u64, 7, 16384, 1 << 20] {
            let shift = Shift::new(n);
            for crc in [0u32, 1, 0xDEAD_BEEF, u32::MAX, 0x8000_0000] {
                assert_eq!(shift.apply(crc), crc32c::crc32c_combine(crc, 0, n as usize), "n={n} crc={crc:x}");
            }
        }
    }

    #[test]
    fn ranges_are_clamped() {
        assert_eq!(ByteRange::Suffix(10).within(4), 0..4);
        assert_eq!(ByteRange::Bounded { start: 6, end: 9 }.within(4), 4..4);
        assert_eq!(ByteRange::Offset(2).within(4), 2..4);
    }
}
