//! The 16-byte header in front of every metadata object, and the codec that checks it.
//!
//! ```text
//! 0..8   magic "ZARRACID"
//! 8      format version (1)
//! 9      object type
//! 10     compression (0 none, 1 zstd)
//! 11     reserved, 0
//! 12..16 CRC-32C, little-endian, of bytes 16.. as stored
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{IcechunkError, Result};

pub const MAGIC: &[u8; 8] = b"ZARRACID";
pub const FORMAT_VERSION: u8 = 1;
pub const HEADER_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectType {
    Snapshot = 1,
    Manifest = 2,
    TransactionLog = 3,
    Ref = 4,
    Config = 5,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            ObjectType::Snapshot => "snapshot",
            ObjectType::Manifest => "manifest",
            ObjectType::TransactionLog => "transaction log",
            ObjectType::Ref => "ref",
            ObjectType::Config => "config",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

/// Frames `payload` with a header; zstd-compresses it when `zstd_level` is given.
pub fn encode(object_type: ObjectType, payload: &[u8], zstd_level: Option<i32>) -> Result<Bytes> {
    let (compression, body) = match zstd_level {
        Some(level) => {
            let compressed = zstd::bulk::compress(payload, level)
                .map_err(|e| IcechunkError::StorageOther(format!("zstd compression failed: {e}")))?;
            // Random floats, already-compressed chunks: stored as they are, read without
            // a decompression that would gain nothing.
            if compressed.len() < payload.len() {
                (Compression::Zstd, compressed)
            } else {
                (Compression::None, payload.to_vec())
            }
        }
        None => (Compression::None, payload.to_vec()),
    };
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    out.put_slice(MAGIC);
    out.put_u8(FORMAT_VERSION);
    out.put_u8(object_type as u8);
    out.put_u8(compression as u8);
    out.put_u8(0);
    out.put_u32_le(crc32c::crc32c(&body));
    out.put_slice(&body);
    Ok(out.freeze())
}

/// Checks magic, version, type and checksum, in that order, then decompresses.
/// `path` names the object in errors.
pub fn decode(path: &str, expected: ObjectType, stored: &[u8]) -> Result<Vec<u8>> {
    if stored.len() < HEADER_LEN || &stored[..8] != MAGIC {
        return Err(IcechunkError::corrupt(path, "missing object header"));
    }
    let (version, object_type, compression) = (stored[8], stored[9], stored[10]);
    if version != FORMAT_VERSION {
        return Err(IcechunkError::UnsupportedFormat {
            path: path.to_string(),
            reason: format!("format version {version}, this engine reads version {FORMAT_VERSION}"),
        });
    }
    if object_type != expected as u8 {
        return Err(IcechunkError::corrupt(
            path,
            format!("expected a {} object, found type {object_type}", expected.name()),
        ));
    }
    if stored[11] != 0 {
        return Err(IcechunkError::corrupt(path, "reserved header byte is not zero"));
    }
    let checksum = u32::from_le_bytes(stored[12..16].try_into().expect("4 bytes"));
    let body = &stored[HEADER_LEN..];
    if crc32c::crc32c(body) != checksum {
        return Err(IcechunkError::corrupt(path, "checksum mismatch"));
    }
    match compression {
        0 => Ok(body.to_vec()),
        1 => zstd::stream::decode_all(body).map_err(|e| IcechunkError::corrupt(path, format!("zstd: {e}"))),
        other => Err(IcechunkError::UnsupportedFormat {
            path: path.to_string(),
            reason: format!("unknown compression {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flipped_byte_is_caught() {
        let payload = b"hello hello hello hello".to_vec();
        for level in [None, Some(3)] {
            let framed = encode(ObjectType::Snapshot, &payload, level).unwrap();
            assert_eq!(decode("x", ObjectType::Snapshot, &framed).unwrap(), payload);
            for i in 0..framed.len() {
                let mut bad = framed.to_vec();
                bad[i] ^= 0x10;
                assert!(decode("x", ObjectType::Snapshot, &bad).is_err(), "byte {i} flip accepted");
            }
        }
    }

    #[test]
    fn wrong_type_is_refused() {
        let framed = encode(ObjectType::Ref, b"{}", None).unwrap();
        let err = decode("refs/x", ObjectType::Snapshot, &framed).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
    }
}
