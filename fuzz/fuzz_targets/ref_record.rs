//! Ref records (spec §8.1): decode, then re-encode and decode to the same record.
//!
//! Input: the payload (uncompressed), which the target frames with a valid header: mutations
//! reach the payload's decoder instead of failing the checksum. The `header` target covers
//! the header, the checksum and decompression.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::refs::RefRecord;
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::Ref, payload, None).unwrap()[..];
    let record = match RefRecord::decode("fuzz", data) {
        Ok(record) => record,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    match record.snapshot_id("fuzz") {
        Ok(Some(id)) => assert_eq!(Some(id.to_string()), record.snapshot, "ids have one text form"),
        Ok(None) => assert!(record.deleted),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    }
    let stored = record.encode().unwrap();
    assert_eq!(
        RefRecord::decode("fuzz", &stored).expect("a decoded record re-encodes to a valid one"),
        record
    );
});
