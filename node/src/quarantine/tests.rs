use super::*;

use sync_protocol::entry::{EntryBody, Genesis};
use sync_protocol::testkit;

fn entry() -> Entry {
    let g: Genesis = testkit::genesis();
    sync_protocol::author::Author::new(g.federation_id(), testkit::unit("tld"), testkit::key_of(1))
        .sign(testkit::BASE_MS, EntryBody::Genesis(g))
}

/// A value as schema 2 wrote it: wait key length, wait key, what it waits for, 0, entry.
fn schema2(key: &[u8], missing: &str, e: &Entry) -> Vec<u8> {
    let mut v = (key.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(key);
    v.extend_from_slice(missing.as_bytes());
    v.push(0);
    v.extend_from_slice(e.bytes());
    v
}

#[test]
fn a_value_round_trips_with_its_arrival_and_source() {
    let e = entry();
    let v = encode(
        b"ctuy-hoa\0",
        "certificate of unit tuy-hoa",
        &e,
        42,
        "peer:ldld-phu-yen",
    );
    let h = decode(&v).expect("decodes");
    assert_eq!(h.key, b"ctuy-hoa\0");
    assert_eq!(h.missing, b"certificate of unit tuy-hoa");
    assert_eq!(h.entry, e.bytes());
    assert_eq!(h.since_ms, Some(42));
    assert_eq!(h.source, b"peer:ldld-phu-yen");
}

#[test]
fn a_schema_2_value_is_still_read_without_an_arrival() {
    let e = entry();
    let v = schema2(b"ctuy-hoa\0", "certificate of unit tuy-hoa", &e);
    let h = decode(&v).expect("decodes");
    assert_eq!(h.key, b"ctuy-hoa\0");
    assert_eq!(h.missing, b"certificate of unit tuy-hoa");
    assert_eq!(h.entry, e.bytes());
    assert_eq!(h.since_ms, None);
    assert!(h.source.is_empty());
}

#[test]
fn a_long_source_is_cut_at_a_character_boundary() {
    let e = entry();
    let long = format!("bundle:{}", "ệ".repeat(200));
    let v = encode(b"?", "x", &e, 1, &long);
    let h = decode(&v).expect("decodes");
    assert!(h.source.len() <= MAX_QUARANTINE_SOURCE_BYTES);
    assert!(std::str::from_utf8(h.source).is_ok());
    assert!(long.starts_with(std::str::from_utf8(h.source).unwrap_or("")));
}

#[test]
fn damaged_values_are_refused_not_misread() {
    let e = entry();
    let v = encode(b"ctuy-hoa\0", "x", &e, 42, "peer:a");
    for n in [0, 1, 5, 9, 10, 12, 20] {
        assert!(decode(&v[..n]).is_none(), "{n} bytes");
    }
    let mut other = v.clone();
    other[0] = 7;
    assert!(decode(&other).is_none(), "unknown format tag");
}

#[test]
fn wait_keys_read_back_as_what_is_awaited() {
    assert_eq!(
        WaitsFor::from_key(b"cldld-tuy-hoa\0"),
        WaitsFor::Certificate("ldld-tuy-hoa".into())
    );
    assert_eq!(
        WaitsFor::from_key(&[b'e', 0xab]),
        WaitsFor::Entry("ab".into())
    );
    assert_eq!(
        WaitsFor::from_key(&[b'm', 0x01]),
        WaitsFor::Change("01".into())
    );
    assert_eq!(
        WaitsFor::from_key(&[b'r', 0xff]),
        WaitsFor::Record("ff".into())
    );
    assert_eq!(WaitsFor::from_key(b"?"), WaitsFor::Unknown);
}
