//! Fuzzes the sync message decoder: any bytes either decode or are refused, never a panic or
//! an allocation past the limits; what decodes re-encodes to a message that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::sync::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("a decoded message re-encodes");
        assert_eq!(again, m);
    }
});
