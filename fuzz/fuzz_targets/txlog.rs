//! Transaction logs (spec §7): decode, then re-encode and decode to the same id and value.
//!
//! Input: the payload (uncompressed), which the target frames with a valid header: mutations
//! reach the payload's decoder instead of failing the checksum. The `header` target covers
//! the header, the checksum and decompression.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::format::txlog::TransactionLog;
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::TransactionLog, payload, None).unwrap()[..];
    let (id, log) = match TransactionLog::decode("fuzz", data) {
        Ok(decoded) => decoded,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    for ((_, path), coords) in &log.updated_chunks {
        assert!(!coords.is_empty(), "an entry of {path} without chunks");
        let ndim = coords.iter().next().map(Vec::len);
        assert!(coords.iter().all(|c| Some(c.len()) == ndim));
    }
    let stored = log.encode(id, 1).unwrap();
    let again = TransactionLog::decode("fuzz", &stored).expect("a decoded log re-encodes to a valid one");
    assert_eq!(again, (id, log.clone()));
    let _ = icechunk::Diff::from_transaction_log(&log);
});
