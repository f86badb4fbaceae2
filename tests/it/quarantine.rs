//! The quarantine over time: arrival and source recorded, kept through retries, expired after
//! `MAX_QUARANTINE_AGE_MS` (kept at N−1 and N, expired at N+1) into a bounded log the operator
//! lists; a schema-2 quarantine value is read and migrated.

use node::quarantine::{self, WaitsFor};
use node::sled_store::{t, SledStore, SCHEMA_VERSION};
use node::{check, Node};
use sync_protocol::entry::{Certificate, Entry, EntryBody, UnitRole};
use sync_protocol::limits::{MAX_QUARANTINE_AGE_MS, MAX_QUARANTINE_EXPIRED_LOG_ENTRIES};
use sync_protocol::store::EntryStore;
use tests::{enrol, root, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;

/// The national node `tld`, and a grassroots certificate signed by a district whose own
/// certificate `tld` has not seen (so it waits), with that district's certificate.
fn setup(tmp: &TempDir) -> (Node, Entry, Entry) {
    let mut tld = root(tmp.path(), T0);
    let mut prov = enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let mut district = enrol(
        &mut prov,
        tmp.path(),
        "ldld-tuy-hoa",
        UnitRole::DirectSuperior,
        T0 + 2,
    );
    let key = node::node::prepare_enrolment(&tmp.path().join("cdcs-a")).expect("dir");
    let cert = district
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit("cdcs-a"),
                name: text("Công đoàn cơ sở A"),
                role: UnitRole::Grassroots,
                parent: unit("ldld-tuy-hoa"),
                key,
                replaces: None,
            }),
            T0 + 3,
        )
        .expect("certificate");
    let district_cert = prov
        .store()
        .trust_entries()
        .expect("trust")
        .into_iter()
        .find(|e| matches!(e.body(), EntryBody::Certificate(c) if c.unit == unit("ldld-tuy-hoa")))
        .expect("district certificate");
    (tld, cert, district_cert)
}

#[test]
fn a_held_entry_is_kept_until_its_age_passes_the_limit_then_expires_into_the_log() {
    let tmp = TempDir::new("q-expiry");
    let (mut tld, cert, _) = setup(&tmp);
    let arrived = T0 + 10;
    let r = tld
        .import_from("peer:ldld-phu-yen", vec![cert.clone()], arrived)
        .expect("import");
    assert_eq!(r.quarantined.len(), 1);
    // Sent again later, from elsewhere: it keeps its first arrival and source.
    tld.import_from("bundle:late.bundle", vec![cert.clone()], arrived + 5_000)
        .expect("import again");
    let l = quarantine::listing(tld.store(), 10).expect("listing");
    assert_eq!(l.held_count, 1);
    let held = &l.held[0];
    assert_eq!(held.entry, cert.hash().to_hex());
    assert_eq!(held.kind, "certificate");
    assert_eq!(held.author, "ldld-tuy-hoa");
    assert_eq!(held.waits_for, WaitsFor::Certificate("ldld-tuy-hoa".into()));
    assert_eq!(held.since_ms, Some(arrived));
    assert_eq!(held.source, "peer:ldld-phu-yen");
    assert_eq!(l.by_source.get("peer:ldld-phu-yen"), Some(&1));
    // N−1 and N: kept.
    for age in [MAX_QUARANTINE_AGE_MS - 1, MAX_QUARANTINE_AGE_MS] {
        let gone = tld.expire_quarantine(arrived + age).expect("expire");
        assert!(gone.is_empty(), "expired at age {age}");
        assert_eq!(tld.store().quarantine_len(), 1);
    }
    // N+1, reached by an import of something unrelated: expired, logged, listed.
    let unrelated = tld.all_entries().expect("entries");
    tld.import(unrelated, arrived + MAX_QUARANTINE_AGE_MS + 1)
        .expect("import");
    assert_eq!(tld.store().quarantine_len(), 0);
    let l = quarantine::listing(tld.store(), 10).expect("listing");
    assert_eq!((l.held_count, l.expired_count), (0, 1));
    let x = &l.expired[0];
    assert_eq!(x.expired_ms, arrived + MAX_QUARANTINE_AGE_MS + 1);
    assert_eq!(x.held.entry, cert.hash().to_hex());
    assert_eq!(x.held.since_ms, Some(arrived));
    assert_eq!(x.held.source, "peer:ldld-phu-yen");
    assert_eq!(
        x.held.waits_for,
        WaitsFor::Certificate("ldld-tuy-hoa".into())
    );
    // The indexes agree, and the log survives a repair (it is not derived).
    let r = check::run(&mut tld, arrived + MAX_QUARANTINE_AGE_MS + 2, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    node::check::rebuild(&mut tld, arrived + MAX_QUARANTINE_AGE_MS + 3).expect("rebuild");
    assert_eq!(tld.store().tree(t::Q_EXPIRED).len(), 1);
    // Expiry lost nothing for good: sent again, it waits anew.
    let r = tld
        .import_from(
            "peer:ldld-phu-yen",
            vec![cert],
            arrived + MAX_QUARANTINE_AGE_MS + 10,
        )
        .expect("import");
    assert_eq!(r.quarantined.len(), 1);
}

#[test]
fn a_released_entry_leaves_no_arrival_row_and_the_check_stays_clean() {
    let tmp = TempDir::new("q-release");
    let (mut tld, cert, district_cert) = setup(&tmp);
    tld.import_from("peer:x", vec![cert.clone()], T0 + 10)
        .expect("import");
    assert_eq!(tld.store().tree(t::Q_SINCE).len(), 1);
    let r = check::run(&mut tld, T0 + 11, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    let r = tld.import(vec![district_cert], T0 + 12).expect("import");
    assert_eq!(r.released, 1);
    assert_eq!(tld.store().tree(t::Q_SINCE).len(), 0);
    assert_eq!(tld.store().tree(t::Q_WAIT).len(), 0);
    let r = check::run(&mut tld, T0 + 13, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn the_expired_log_keeps_the_newest_records_up_to_its_limit() {
    let tmp = TempDir::new("q-log");
    let (mut tld, cert, _) = setup(&tmp);
    // A log already full (records older than anything real).
    let log = tld.store().tree(t::Q_EXPIRED).clone();
    for i in 0..MAX_QUARANTINE_EXPIRED_LOG_ENTRIES as u64 {
        let mut k = i.to_be_bytes().to_vec();
        k.extend_from_slice(&[0; 32]);
        log.insert(k, &b"{}"[..]).expect("insert");
    }
    tld.import_from("peer:x", vec![cert.clone()], T0 + 10)
        .expect("import");
    tld.expire_quarantine(T0 + 10 + MAX_QUARANTINE_AGE_MS + 1)
        .expect("expire");
    assert_eq!(log.len(), MAX_QUARANTINE_EXPIRED_LOG_ENTRIES);
    let mut first = 0u64.to_be_bytes().to_vec();
    first.extend_from_slice(&[0; 32]);
    assert!(!log.contains_key(first).expect("read"), "the oldest went");
    let l = quarantine::listing(tld.store(), 1).expect("listing");
    assert_eq!(
        l.expired[0].held.entry,
        cert.hash().to_hex(),
        "newest first"
    );
}

#[test]
fn a_schema_2_quarantine_value_is_read_and_migrated_with_the_migration_as_its_arrival() {
    let tmp = TempDir::new("q-migrate");
    let (mut tld, cert, _) = setup(&tmp);
    tld.import(vec![cert.clone()], T0 + 10).expect("import");
    let dir = tld.dir().to_owned();
    drop(tld);
    // Rewrite the database as schema 2 left it: the value without arrival and source, no
    // arrival index.
    {
        let s = SledStore::open(&dir.join(node::node::DB_DIR)).expect("open");
        let wait = {
            let mut k = b"cldld-tuy-hoa".to_vec();
            k.push(0);
            k
        };
        let mut v = (wait.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(&wait);
        v.extend_from_slice(b"certificate of unit ldld-tuy-hoa");
        v.push(0);
        v.extend_from_slice(cert.bytes());
        s.tree(t::QUARANTINE)
            .insert(cert.hash().0, v)
            .expect("insert");
        s.tree(t::Q_SINCE).clear().expect("clear");
        s.set_meta("schema_version", &2u32.to_be_bytes())
            .expect("meta");
    }
    // Read as it is, before any migration.
    {
        let s = SledStore::open(&dir.join(node::node::DB_DIR)).expect("open");
        assert_eq!(s.needs_migration(), Some(2));
        let held = s.quarantined().expect("quarantined");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0.hash(), cert.hash());
        assert!(held[0].1.contains("ldld-tuy-hoa"), "{}", held[0].1);
    }
    let before = node::now_ms();
    let mut tld = Node::open(&dir).expect("migrated");
    let after = node::now_ms();
    assert_eq!(
        tld.store().meta("schema_version").expect("meta"),
        Some(SCHEMA_VERSION.to_be_bytes().to_vec())
    );
    let l = quarantine::listing(tld.store(), 10).expect("listing");
    assert_eq!(l.held_count, 1);
    let since = l.held[0].since_ms.expect("an arrival");
    assert!((before..=after).contains(&since), "{since}");
    assert_eq!(
        l.held[0].waits_for,
        WaitsFor::Certificate("ldld-tuy-hoa".into())
    );
    let r = check::run(&mut tld, after, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    // It expires counted from the migration.
    assert!(tld
        .expire_quarantine(since + MAX_QUARANTINE_AGE_MS)
        .expect("expire")
        .is_empty());
    assert_eq!(
        tld.expire_quarantine(since + MAX_QUARANTINE_AGE_MS + 1)
            .expect("expire")
            .len(),
        1
    );
}
