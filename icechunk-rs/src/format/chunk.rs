//! Chunk objects, and how a byte range of a chunk is read and verified.
//!
//! A chunk object holds the chunk's bytes; when the chunk is larger than one block, a table of
//! block checksums follows them (spec/format.md, §6.5):
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
/// The largest block (1 GiB: chunks of up to 4 TiB keep 4096 blocks at most). Readers refuse
/// block sizes outside 2^14..=2^30 as corrupt (spec §6.4): a table is then at most 1/4096 of
/// its chunk, so what a range read fetches stays bounded by what it asked for.
pub const MAX_BLOCK_SIZE_LOG2: u8 = 30;

/// Whether a chunk reference's `block_size_log2` is one a reader accepts: 0 (no table), or a
/// block size of 2^14 to 2^30.
pub fn valid_block_size_log2(log2: u8) -> bool {
    log2 == 0 || (MIN_BLOCK_SIZE_LOG2..=MAX_BLOCK_SIZE_LOG2).contains(&log2)
}

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
    out.put_slice(&table.encode());
    out.freeze()
}

/// The blocks of a chunk of `length` bytes that cover `range` (within the chunk), as a byte
/// range of the chunk.
pub fn covering(length: u64, block_size_log2: u8, range: &Range<u64>) -> Range<u64> {
    let block = 1u64 << block_size_log2;
    let start = range.start / block * block;
    let end = range.end.div_ceil(block).saturating_mul(block).min(length);
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

    /// The table as stored after the chunk's bytes: the block checksums, `u32` little-endian.
    pub fn encode(&self) -> Vec<u8> {
        self.crcs.iter().flat_map(|crc| crc.to_le_bytes()).collect()
    }

    /// The CRC-32C of each block, in order.
    pub fn crcs(&self) -> &[u32] {
        &self.crcs
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
        entries
            .checked_mul(4)
            .and_then(|table| length.checked_add(table))
            .map(|end| length..end)
            .ok_or_else(|| IcechunkError::InvalidInput(format!("a chunk of {length} bytes is too long")))
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

/// Appending `n` zero bytes to a message multiplies its CRC-32C by `x^(8n)` modulo the CRC
/// polynomial (spec §6.4, `shift`). The factor is computed once per table, in O(log n)
/// multiplications; applying it is one multiplication.
struct Shift(u32);

/// The Castagnoli polynomial, reflected.
const POLY: u32 = 0x82F6_3B78;

/// `a * b` modulo the polynomial, both in the reflected bit order (bit 31 is `x^0`).
fn mul_mod(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    for bit in (0..32).rev() {
        if a & (1 << bit) != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    product
}

impl Shift {
    fn new(n: u64) -> Self {
        // x^(8n) by squaring: `power` runs through x^8, x^16, x^32, ...
        let (mut factor, mut power) = (1u32 << 31, 1u32 << (31 - 8));
        let mut n = n;
        while n != 0 {
            if n & 1 != 0 {
                factor = mul_mod(factor, power);
            }
            power = mul_mod(power, power);
            n >>= 1;
        }
        Shift(factor)
    }

    fn apply(&self, crc: u32) -> u32 {
        mul_mod(self.0, crc)
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
    fn shifts_are_the_specs() {
        // spec §6.4: shift(CRC-32C("1234"), 5) combined with CRC-32C("56789").
        assert_eq!(Shift::new(5).apply(0xF63A_F4EE), 0x60B3_F75B);
        assert_eq!(Shift::new(5).apply(checksum(b"1234")) ^ checksum(b"56789"), checksum(b"123456789"));
        for n in [0u64, 1, 7, 16384, 1 << 40, u64::MAX] {
            for crc in [0u32, 1, 0x8000_0000, 0xDEAD_BEEF] {
                if n < 1 << 20 {
                    assert_eq!(
                        Shift::new(n).apply(crc),
                        crc32c::crc32c_combine(crc, 0, n as usize),
                        "{n} {crc:x}"
                    );
                }
                // Linear in the CRC: shifting a sum is the sum of the shifts.
                assert_eq!(
                    Shift::new(n).apply(crc ^ 0x1234_5678),
                    Shift::new(n).apply(crc) ^ Shift::new(n).apply(0x1234_5678)
                );
            }
        }
        // The spec's example table: blocks of 16384, 16384 and 7232 bytes.
        let table = BlockTable {
            block_size_log2: 14,
            length: 40_000,
            crcs: vec![0xEAFC_A51D, 0x5E9F_BC4E, 0xB1D5_0D34],
        };
        assert_eq!(table.combined(), 0x6860_8D15);
        let bytes: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(BlockTable::compute(&bytes, 14), table);
        assert_eq!(checksum(&bytes), 0x6860_8D15);
    }

    #[test]
    fn only_block_sizes_writers_use_are_read() {
        for log2 in [14u8, 20, 30] {
            assert!(BlockTable::position(1000, log2).is_ok(), "{log2}");
            assert!(valid_block_size_log2(log2));
        }
        for log2 in [1u8, 13, 31, 63, 64, 255] {
            assert!(BlockTable::position(1000, log2).is_err(), "{log2}");
            assert!(!valid_block_size_log2(log2));
        }
        assert!(valid_block_size_log2(0)); // no table
                                           // A table that would end past 2^64 is refused, not wrapped.
        assert!(BlockTable::position(u64::MAX, 14).is_err());
        assert_eq!(covering(u64::MAX, 30, &(5..u64::MAX)), 0..u64::MAX);
        let data = data(100_000);
        let table = BlockTable::compute(&data, 14);
        let stored = table.encode();
        assert_eq!(BlockTable::decode("c", &stored, 100_000, 14, checksum(&data)).unwrap(), table);
    }

    #[test]
    fn ranges_are_clamped() {
        assert_eq!(ByteRange::Suffix(10).within(4), 0..4);
        assert_eq!(ByteRange::Bounded { start: 6, end: 9 }.within(4), 4..4);
        assert_eq!(ByteRange::Offset(2).within(4), 2..4);
    }
}
