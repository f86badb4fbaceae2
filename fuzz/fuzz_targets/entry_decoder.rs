//! Fuzzes the entry decoder: any bytes either decode (canonically: the bytes are the entry's
//! own encoding) or are refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::entry::Entry;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Entry::decode(data) {
        assert_eq!(e.bytes(), data);
    }
    if let Ok(e) = Entry::decode_stored_unchecked(data) {
        assert_eq!(e.bytes(), data);
    }
});
