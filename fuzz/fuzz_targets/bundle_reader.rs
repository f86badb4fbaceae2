//! Fuzzes the bundle reader with the test federation's trust directory: any bytes are refused
//! with a reason or decode, never a panic or an inflation past the announced size.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sync_protocol::directory::Directory;
use sync_protocol::testkit::Federation;

fn directory() -> &'static Directory {
    static D: OnceLock<Directory> = OnceLock::new();
    D.get_or_init(|| Federation::new().directory)
}

fuzz_target!(|data: &[u8]| {
    let _ = node::bundle::parse_signed(Path::new("fuzz.bundle"), data, directory());
});
