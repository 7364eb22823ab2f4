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
/// The largest payload a reader decompresses (spec §4.2: 2^31 − 1 bytes; flatbuffers address
/// their contents with 32-bit offsets). Fuzzing builds use a smaller bound, so that the fuzzer's
/// allocation limit tells a real leak from a large but valid payload.
pub const MAX_PAYLOAD_LEN: u64 = if cfg!(fuzzing) { 64 << 20 } else { (1 << 31) - 1 };
/// The first bytes of a zstd frame (RFC 8878), little-endian 0xFD2FB528; skippable frames have
/// other magic numbers.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectType {
    Snapshot = 1,
    Manifest = 2,
    TransactionLog = 3,
    Ref = 4,
    Config = 5,
    /// A record of the repository's own state (`repo/<seq>`, spec §12).
    RepoInfo = 6,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            ObjectType::Snapshot => "snapshot",
            ObjectType::Manifest => "manifest",
            ObjectType::TransactionLog => "transaction log",
            ObjectType::Ref => "ref",
            ObjectType::Config => "config",
            ObjectType::RepoInfo => "repository record",
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
        1 => decompress(body).map_err(|reason| IcechunkError::corrupt(path, format!("zstd: {reason}"))),
        other => Err(IcechunkError::UnsupportedFormat {
            path: path.to_string(),
            reason: format!("unknown compression {other}"),
        }),
    }
}

/// A compressed payload (spec §4.2): exactly one zstd frame, spanning the whole body, that
/// declares its content size, at most [`MAX_PAYLOAD_LEN`]; it must decode to exactly that many
/// bytes. The output is allocated once, before decoding, so a small object can never make the
/// reader allocate more than it declared.
fn decompress(body: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use zstd::zstd_safe;
    if !body.starts_with(&ZSTD_MAGIC) {
        return Err("not a zstd frame".into());
    }
    let frame_len = zstd_safe::find_frame_compressed_size(body)
        .map_err(|code| format!("invalid frame: {}", zstd_safe::get_error_name(code)))?;
    if frame_len != body.len() {
        return Err(format!("{} bytes after the frame", body.len() - frame_len));
    }
    let declared = match zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) => n,
        Ok(None) => return Err("the frame does not declare its content size".into()),
        Err(_) => return Err("invalid frame header".into()),
    };
    if declared > MAX_PAYLOAD_LEN {
        return Err(format!("declared content size {declared} exceeds {MAX_PAYLOAD_LEN}"));
    }
    let out = zstd::bulk::decompress(body, declared as usize).map_err(|e| e.to_string())?;
    if out.len() as u64 != declared {
        return Err(format!("decoded {} bytes, the frame declares {declared}", out.len()));
    }
    Ok(out)
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

    /// An object of `payload` stored with compression 1, whatever `payload` is.
    fn zstd_object(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::from(&MAGIC[..]);
        out.extend_from_slice(&[FORMAT_VERSION, ObjectType::Snapshot as u8, Compression::Zstd as u8, 0]);
        out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    /// A zstd frame declaring `declared` content bytes and holding one empty raw block.
    fn frame_declaring(declared: u64) -> Vec<u8> {
        let mut frame = ZSTD_MAGIC.to_vec();
        // Frame header descriptor: 8-byte content size, single segment, no checksum, no dictionary.
        frame.push(0xE0);
        frame.extend_from_slice(&declared.to_le_bytes());
        // The last block: raw, 0 bytes.
        frame.extend_from_slice(&[0x01, 0x00, 0x00]);
        frame
    }

    fn refused(body: &[u8]) -> String {
        let err = decode("x", ObjectType::Snapshot, &zstd_object(body)).unwrap_err();
        assert!(matches!(err, IcechunkError::Corrupt { .. }), "{err:?}");
        err.to_string()
    }

    #[test]
    fn writers_declare_the_content_size() {
        for payload in [&b""[..], b"a", &[7u8; 100_000]] {
            let framed = encode(ObjectType::Snapshot, payload, Some(3)).unwrap();
            if framed[10] == Compression::Zstd as u8 {
                let size = zstd::zstd_safe::get_frame_content_size(&framed[HEADER_LEN..]).unwrap();
                assert_eq!(size, Some(payload.len() as u64));
            }
            assert_eq!(decode("x", ObjectType::Snapshot, &framed).unwrap(), payload);
        }
        // The empty frame decodes to an empty payload.
        assert_eq!(decode("x", ObjectType::Snapshot, &zstd_object(&frame_declaring(0))).unwrap(), b"");
    }

    #[test]
    fn only_one_frame_with_a_bounded_declared_size_is_accepted() {
        let frame = zstd::bulk::compress(&[1u8; 4096], 3).unwrap();
        assert_eq!(decode("x", ObjectType::Snapshot, &zstd_object(&frame)).unwrap(), vec![1u8; 4096]);

        // A frame without its content size (what a streaming compressor writes).
        let mut unsized_frame = Vec::new();
        let mut encoder = zstd::stream::Encoder::new(&mut unsized_frame, 3).unwrap();
        std::io::Write::write_all(&mut encoder, &[1u8; 4096]).unwrap();
        encoder.finish().unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&unsized_frame).unwrap(), None);
        assert!(refused(&unsized_frame).contains("content size"));

        // Trailing garbage, a second frame, a skippable frame after the frame, or alone.
        let skippable = [0x50, 0x2A, 0x4D, 0x18, 0x01, 0x00, 0x00, 0x00, 0xAA];
        for tail in [&b"x"[..], &frame, &skippable] {
            let mut two = frame.clone();
            two.extend_from_slice(tail);
            refused(&two);
        }
        assert!(refused(&skippable).contains("not a zstd frame"));
        // Truncated.
        refused(&frame[..frame.len() - 1]);
        refused(b"");

        // A declared size beyond the limit is refused before anything is allocated.
        assert!(refused(&frame_declaring(MAX_PAYLOAD_LEN + 1)).contains("exceeds"));
        assert!(refused(&frame_declaring(1 << 40)).contains("exceeds"));
        // zstd's codes for "unknown" and "error" in the 8-byte field.
        refused(&frame_declaring(u64::MAX));
        refused(&frame_declaring(u64::MAX - 1));
        // A declared size the frame does not decode to.
        refused(&frame_declaring(5));
        let mut longer = zstd::bulk::compress(&[2u8; 10], 3).unwrap();
        // A single-segment frame has a 1-byte content size field for small payloads: 10 -> 9.
        assert_eq!(longer[4] & 0xE0, 0x20, "single segment, 1-byte content size");
        longer[5] = 9;
        refused(&longer);
    }

    #[test]
    fn wrong_type_is_refused() {
        let framed = encode(ObjectType::Ref, b"{}", None).unwrap();
        let err = decode("refs/x", ObjectType::Snapshot, &framed).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
    }
}
