//! The wire form of sessions sent between processes (forks): decode and check without opening
//! storage, then re-encode and decode to the same parts.
#![no_main]

use icechunk::session::SessionParts;
use icechunk::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts = match SessionParts::decode(data) {
        Ok(parts) => parts,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}"),
    };
    assert!(parts.config.validate().is_ok());
    let bytes = parts.encode().unwrap();
    assert_eq!(SessionParts::decode(&bytes).expect("decoded parts re-encode to valid bytes"), parts);
});
