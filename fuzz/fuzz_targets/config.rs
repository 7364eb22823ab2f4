//! The repository config, `config.json` with its header (spec §11): decode, validate, then
//! re-encode and decode to the same config.
//!
//! Input: the payload (uncompressed), which the target frames with a valid header: mutations
//! reach the payload's decoder instead of failing the checksum. The `header` target covers
//! the header, the checksum and decompression.
#![no_main]

use icechunk::format::header::{self, ObjectType};
use icechunk::{ErrorKind, RepositoryConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let data = &header::encode(ObjectType::Config, payload, None).unwrap()[..];
    let config = match RepositoryConfig::decode(data) {
        Ok(config) => config,
        Err(e) => return assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
    };
    if let Err(e) = config.validate() {
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    let stored = config.encode().unwrap();
    assert_eq!(
        RepositoryConfig::decode(&stored).expect("a decoded config re-encodes to a valid one"),
        config
    );
});
