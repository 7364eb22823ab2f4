//! The 16-byte object header and the payload codec (spec §4, §4.1, §4.2), for every type.
//! Input: a whole stored object. Seeds: every kind of object of real repositories.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

const TYPES: [ObjectType; 5] = [
    ObjectType::Snapshot,
    ObjectType::Manifest,
    ObjectType::TransactionLog,
    ObjectType::Ref,
    ObjectType::Config,
];

fuzz_target!(|data: &[u8]| {
    check(data);
    // The same bytes with a correct checksum: mutations of the body reach the decompressor.
    if data.len() >= header::HEADER_LEN {
        let mut fixed = data.to_vec();
        let crc = icechunk::format::chunk::checksum(&data[header::HEADER_LEN..]);
        fixed[12..16].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    for object_type in TYPES {
        match header::decode("fuzz", object_type, data) {
            Ok(payload) => {
                assert_eq!(data[9], object_type as u8, "only the stored type decodes");
                assert!(payload.len() as u64 <= header::MAX_PAYLOAD_LEN);
                // Framed again without compression, the object is the input when that was
                // uncompressed too, and it decodes to the same payload.
                let plain = header::encode(object_type, &payload, None).unwrap();
                if data[10] == 0 {
                    assert_eq!(&plain[..], data);
                }
                assert_eq!(header::decode("fuzz", object_type, &plain).unwrap(), payload);
                // Compressed (zstd, or stored as it is when that is no smaller): same payload.
                if payload.len() <= 1 << 20 {
                    let compressed = header::encode(object_type, &payload, Some(1)).unwrap();
                    assert_eq!(header::decode("fuzz", object_type, &compressed).unwrap(), payload);
                }
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
        }
    }
}
