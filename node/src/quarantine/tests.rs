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

fn h(n: u32) -> EntryHash {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    EntryHash(b)
}

#[test]
fn one_source_holds_at_most_its_share() {
    use sync_protocol::limits::MAX_QUARANTINE_SOURCE_ENTRIES;
    let flood: Vec<_> = (0..MAX_QUARANTINE_SOURCE_ENTRIES as u32 + 1)
        .map(|i| (h(i), [7u8; 32], 100))
        .collect();
    let a = admit(Vec::new(), &flood);
    assert_eq!(a.admitted.len(), MAX_QUARANTINE_SOURCE_ENTRIES);
    assert_eq!(a.refused, vec![h(MAX_QUARANTINE_SOURCE_ENTRIES as u32)]);
    assert!(a.evicted.is_empty());
    // Another source is still admitted.
    let held = flood[..MAX_QUARANTINE_SOURCE_ENTRIES].to_vec();
    let a = admit(held, &[(h(u32::MAX), [8u8; 32], 100)]);
    assert_eq!(a.admitted.len(), 1);
}

#[test]
fn a_full_quarantine_evicts_from_the_largest_source_not_the_newcomer() {
    use sync_protocol::limits::{MAX_QUARANTINE_ENTRIES, MAX_QUARANTINE_SOURCE_ENTRIES};
    // Ten sources at their share fill it; the first has one fewer, the last one more... all
    // at the share: full.
    let sources = MAX_QUARANTINE_ENTRIES / MAX_QUARANTINE_SOURCE_ENTRIES;
    let held: Vec<_> = (0..MAX_QUARANTINE_ENTRIES as u32)
        .map(|i| (h(i), [(i as usize % sources) as u8 + 1; 32], 10))
        .collect();
    let newcomer = (h(u32::MAX), [200u8; 32], 10);
    let a = admit(held.clone(), &[newcomer]);
    assert!(a.admitted.contains(&h(u32::MAX)), "{a:?}");
    assert_eq!(a.evicted.len(), 1);
    // A source already at its share is refused, nothing evicted.
    let a = admit(held, &[(h(u32::MAX - 1), [1u8; 32], 10)]);
    assert_eq!(a.refused, vec![h(u32::MAX - 1)]);
    assert!(a.evicted.is_empty());
}

#[test]
fn quarantined_bytes_are_bounded_per_source() {
    use sync_protocol::limits::{MAX_ENTRY_BYTES, MAX_QUARANTINE_SOURCE_BYTES_STORED};
    let n = MAX_QUARANTINE_SOURCE_BYTES_STORED / MAX_ENTRY_BYTES;
    let big: Vec<_> = (0..n as u32 + 1)
        .map(|i| (h(i), [3u8; 32], MAX_ENTRY_BYTES))
        .collect();
    let a = admit(Vec::new(), &big);
    assert_eq!(a.admitted.len(), n);
    assert_eq!(a.refused.len(), 1);
}

#[test]
fn the_signer_is_read_from_the_entry_bytes() {
    let fed = sync_protocol::testkit::Federation::new();
    let e = &fed.trust_entries[1];
    assert_eq!(signer_of(e.bytes()), e.key().0);
}
