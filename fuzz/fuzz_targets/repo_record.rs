//! Repository records (spec §12): decode, then re-encode and decode to the same record.
//!
//! Input: the payload (uncompressed), framed by the target with a valid header, as for ref
//! records.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::repo_info::RepoRecord;
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::RepoInfo, payload, None).unwrap()[..];
    let record = match RepoRecord::decode("fuzz", data) {
        Ok(record) => record,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    // What readers derive from a record never fails on a decoded one.
    let _ = (record.written_at(), record.state.status.set_at());
    for flag in ["move_node", "create_tag", "delete_tag", "unknown"] {
        let _ = record.state.check_flag(flag);
    }
    let stored = record.encode().unwrap();
    assert_eq!(
        RepoRecord::decode("fuzz", &stored).expect("a decoded record re-encodes to a valid one"),
        record
    );
});
