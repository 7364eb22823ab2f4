//! Branch hints (spec §8.2): anything parses to a usable hint or to none, never an error; a
//! hint written back reads as the same hint.
#![no_main]

use icechunk::refs::{TipHint, MAX_HINT_SEQ};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(hint) = TipHint::decode(data) else { return };
    assert!((1..=MAX_HINT_SEQ).contains(&hint.seq));
    assert!(hint.record.is_none());
    let written = hint.encode();
    assert!(written.is_ascii() && written.ends_with(b"\n"));
    assert_eq!(TipHint::decode(&written), Some(hint));
});
