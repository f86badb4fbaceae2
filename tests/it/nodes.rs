//! Real on-disk nodes: durability across reopen, quarantine, damaged files.

use node::node::NodeError;
use node::Node;
use sync_protocol::entry::{Certificate, EntryBody, UnitRole};
use sync_protocol::store::{EntryLookup, EntryStore};
use tests::{enrol, root, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;

#[test]
fn entries_survive_reopening_and_import_is_idempotent() {
    let tmp = TempDir::new("reopen");
    let mut tld = root(tmp.path(), T0);
    let prov = enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let held = prov.store().len().unwrap();
    assert_eq!(held, 2, "genesis and its own certificate");
    drop(prov);
    let mut prov = Node::open(&tmp.path().join("ldld-phu-yen")).unwrap();
    assert_eq!(prov.store().len().unwrap(), held);
    let all = tld.all_entries().unwrap();
    let report = prov.import(all.clone(), T0 + 2).unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.duplicates, all.len());
}

#[test]
fn an_entry_waits_in_quarantine_until_its_certificate_arrives() {
    let tmp = TempDir::new("quarantine");
    let mut tld = root(tmp.path(), T0);
    let mut prov = enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    // The province certifies a district; the national node has not seen that certificate.
    let district = enrol(
        &mut prov,
        tmp.path(),
        "ldld-tuy-hoa",
        UnitRole::DirectSuperior,
        T0 + 2,
    );
    let grass_key = node::node::prepare_enrolment(&tmp.path().join("cdcs-a")).unwrap();
    let mut district = district;
    let cert = district
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit("cdcs-a"),
                name: text("Công đoàn cơ sở A"),
                role: UnitRole::Grassroots,
                parent: unit("ldld-tuy-hoa"),
                key: grass_key,
                replaces: None,
            }),
            T0 + 3,
        )
        .unwrap();
    // Deliver the grassroots certificate before the district's own: it waits.
    let report = tld.import(vec![cert.clone()], T0 + 4).unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.quarantined.len(), 1);
    assert!(
        report.quarantined[0].1.contains("ldld-tuy-hoa"),
        "{:?}",
        report.quarantined
    );
    // Quarantine is persistent.
    drop(tld);
    let mut tld = Node::open(&tmp.path().join("tld")).unwrap();
    assert_eq!(tld.store().quarantined().unwrap().len(), 1);
    // The district's certificate arrives: both are accepted.
    let district_cert = prov
        .store()
        .trust_entries()
        .unwrap()
        .into_iter()
        .find(|e| matches!(e.body(), EntryBody::Certificate(c) if c.unit == unit("ldld-tuy-hoa")))
        .unwrap();
    let report = tld.import(vec![district_cert], T0 + 5).unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.released, 1);
    assert!(tld.store().quarantined().unwrap().is_empty());
    assert!(tld.store().entry(&cert.hash()).unwrap().is_some());
}

#[test]
fn a_refused_write_stores_nothing() {
    let tmp = TempDir::new("refused");
    let mut tld = root(tmp.path(), T0);
    let before = tld.store().len().unwrap();
    // The national node may not certify a unit as national, nor name another parent.
    let err = tld
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit("x"),
                name: text("x"),
                role: UnitRole::Grassroots,
                parent: unit("ldld-phu-yen"),
                key: sync_protocol::ids::UnitKey([9; 32]),
                replaces: None,
            }),
            T0 + 1,
        )
        .unwrap_err();
    assert!(matches!(err, NodeError::Rejected(_)), "{err}");
    assert!(err.to_string().contains("signed by tld"), "{err}");
    assert_eq!(tld.store().len().unwrap(), before);
}

#[test]
fn a_damaged_database_gives_a_clear_error_and_is_left_untouched() {
    let tmp = TempDir::new("damaged");
    let tld = root(tmp.path(), T0);
    drop(tld);
    let db = tmp.path().join("tld").join("db").join("conf");
    std::fs::write(&db, b"this is not sled's configuration").unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = match Node::open(&tmp.path().join("tld")) {
        Ok(_) => panic!("a damaged database must not open"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(msg.contains("cannot open the database"), "{msg}");
    assert!(msg.contains("tld"), "{msg}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is untouched");
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("keyperm");
    drop(root(tmp.path(), T0));
    let key = tmp.path().join("tld").join("unit.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = match Node::open(&tmp.path().join("tld")) {
        Ok(_) => panic!("must refuse"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("600"), "{err}");
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(
        !err.contains(secret.trim()),
        "the key never appears in an error"
    );
}

#[test]
fn a_node_of_another_federation_refuses_its_bundles() {
    let tmp = TempDir::new("otherfed");
    let a = root(&tmp.path().join("a"), T0);
    let b = root(&tmp.path().join("b"), T0);
    let file = tmp.path().join("a.bundle");
    node::bundle::write_signed(
        &file,
        a.author().unwrap(),
        &unit("tld"),
        None,
        T0 + 1,
        &a.all_entries().unwrap(),
    )
    .unwrap();
    let err = node::bundle::read_signed(&file, b.directory()).unwrap_err();
    assert!(err.to_string().contains("federation"), "{err}");
}

/// A local write goes through the same door as sync and bundles: what waited in quarantine
/// for it is released in the same commit.
#[test]
fn a_local_write_releases_what_waited_for_it() {
    let tmp = TempDir::new("local-release");
    let mut tld = root(tmp.path(), T0);
    let prov = sync_protocol::author::Author::new(
        tld.federation(),
        unit("ldld-phu-yen"),
        sync_protocol::testkit::key_of(77),
    );
    // The province's certificate of a district arrives before the province is certified.
    let district_cert = prov.sign(
        T0 + 5,
        EntryBody::Certificate(Certificate {
            unit: unit("ldld-tuy-hoa"),
            name: text("Liên đoàn Lao động thành phố Tuy Hòa"),
            role: UnitRole::DirectSuperior,
            parent: unit("ldld-phu-yen"),
            key: sync_protocol::author::Author::new(
                tld.federation(),
                unit("ldld-tuy-hoa"),
                sync_protocol::testkit::key_of(78),
            )
            .public_key(),
            replaces: None,
        }),
    );
    let report = tld.import(vec![district_cert.clone()], T0 + 5).unwrap();
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    // The national officer certifies the province here (dated before the district's
    // certificate, as it must be): the waiting certificate is released.
    tld.write(
        EntryBody::Certificate(Certificate {
            unit: unit("ldld-phu-yen"),
            name: text("Liên đoàn Lao động tỉnh Phú Yên"),
            role: UnitRole::ProvincialFederation,
            parent: unit("tld"),
            key: prov.public_key(),
            replaces: None,
        }),
        T0 + 4,
    )
    .unwrap();
    assert!(tld.store().quarantined().unwrap().is_empty());
    assert!(tld.store().entry(&district_cert.hash()).unwrap().is_some());
    assert!(tld.directory().knows(&unit("ldld-tuy-hoa")));
    // And it stays so after reopening.
    drop(tld);
    let tld = Node::open(&tmp.path().join("tld")).unwrap();
    assert!(tld.directory().knows(&unit("ldld-tuy-hoa")));
}
