//! Opening a node: the trust directory is read from the `trust` rows, which hold the trust
//! entries' bytes (schema 5). Those rows equal what a rebuild from the entries writes, through
//! imports, key rotations, re-parenting and revocations; `node check` names a tampered row and
//! `--repair` rewrites it; a schema-4 database (rows without the bytes) is migrated at open.

use node::sled_store::{index_rows, t, SledStore, SCHEMA_VERSION};
use node::{check, Node};
use sync_protocol::entry::{Certificate, Entry, EntryBody, Revocation, UnitRole};
use sync_protocol::import::directory_from_store;
use sync_protocol::store::{EntryStore, MemStore};
use sync_protocol::verify::VerifiedEntry;
use tests::{enrol, root, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;

/// The `trust` rows a rebuild from the `entries` tree writes, in key order.
fn trust_rows_from_entries(n: &Node) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::new();
    for kv in n.store().tree(t::ENTRIES).iter() {
        let (_, v) = kv.expect("entry");
        let e = Entry::decode(&v).expect("stored entry verifies");
        for (tree, k, v) in index_rows(&e, None) {
            if tree == t::TRUST {
                rows.push((k, v));
            }
        }
    }
    rows.sort();
    rows
}

fn trust_rows(n: &Node) -> Vec<(Vec<u8>, Vec<u8>)> {
    n.store()
        .tree(t::TRUST)
        .iter()
        .map(|kv| {
            let (k, v) = kv.expect("trust row");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// The directory built the way it was before schema 5: every entry of the `entries` tree.
fn directory_from_entries(n: &Node) -> String {
    let mut mem = MemStore::new();
    let all: Vec<VerifiedEntry> = n
        .store()
        .tree(t::ENTRIES)
        .iter()
        .map(|kv| {
            let (_, v) = kv.expect("entry");
            VerifiedEntry::reloaded_unchecked(Entry::decode(&v).expect("entry"))
        })
        .collect();
    mem.insert_batch(&all).expect("insert");
    format!(
        "{:?}",
        directory_from_store(&mem).expect("store").expect("genesis")
    )
}

/// The stored rows equal the rebuilt ones, and reopening gives the same directory as one built
/// from every entry.
fn assert_trust_materialised(n: Node) -> Node {
    let rows = trust_rows(&n);
    assert!(
        rows.iter().all(|(_, v)| !v.is_empty()),
        "a row without its bytes"
    );
    assert_eq!(rows, trust_rows_from_entries(&n), "at {}", n.unit());
    let expected = directory_from_entries(&n);
    assert_eq!(format!("{:?}", n.directory()), expected, "at {}", n.unit());
    let dir = n.dir().to_owned();
    drop(n);
    let n = Node::open(&dir).expect("reopen");
    assert_eq!(
        format!("{:?}", n.directory()),
        expected,
        "reopened {}",
        n.unit()
    );
    n
}

#[test]
fn trust_rows_equal_a_rebuild_through_imports_rotations_reparenting_and_revocations() {
    let tmp = TempDir::new("open-trust-rows");
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let mut prov = enrol(
        &mut tld,
        &p,
        "ldld-a",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let _other = enrol(
        &mut tld,
        &p,
        "ldld-b",
        UnitRole::ProvincialFederation,
        T0 + 2,
    );
    let grass = enrol(&mut prov, &p, "cdcs-a", UnitRole::Grassroots, T0 + 3);
    let _g2 = enrol(&mut prov, &p, "cdcs-b", UnitRole::Grassroots, T0 + 4);
    drop(grass);
    // Imports: the province's certificates reach the root.
    let to_root = prov.store().trust_entries().expect("trust");
    let r = tld.import(to_root, T0 + 5).expect("import");
    assert!(r.rejected.is_empty(), "{r:?}");
    // A key rotation of cdcs-a (a certificate that replaces the previous one).
    let old = prov
        .directory()
        .latest_cert(&unit("cdcs-a"))
        .expect("certified")
        .clone();
    let new_key = node::keys::generate();
    prov.write(
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-a"),
            name: old.cert.name.clone(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-a"),
            key: sync_protocol::ids::UnitKey(new_key.verifying_key().to_bytes()),
            replaces: Some(old.hash),
        }),
        T0 + 10,
    )
    .expect("rotation");
    // A re-parenting, by the root: cdcs-b moves to ldld-b.
    let tld_trust = prov.store().trust_entries().expect("trust");
    tld.import(tld_trust, T0 + 11).expect("import");
    let b = tld
        .directory()
        .latest_cert(&unit("cdcs-b"))
        .expect("certified")
        .clone();
    tld.write(
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-b"),
            name: b.cert.name.clone(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-b"),
            key: b.cert.key,
            replaces: Some(b.hash),
        }),
        T0 + 12,
    )
    .expect("re-parenting");
    // A revocation of cdcs-a's old key.
    prov.write(
        EntryBody::Revocation(Revocation {
            unit: unit("cdcs-a"),
            key: old.cert.key,
            effective_ms: T0 + 9,
            reason: text("khóa bị lộ"),
        }),
        T0 + 13,
    )
    .expect("revocation");
    let back = prov.store().trust_entries().expect("trust");
    tld.import(back, T0 + 14).expect("import");
    let prov = assert_trust_materialised(prov);
    let tld = assert_trust_materialised(tld);
    assert!(tld.directory().knows(&unit("cdcs-b")));
    drop(prov);
}

#[test]
fn a_tampered_trust_row_is_named_by_check_repaired_and_never_trusted_at_open() {
    let tmp = TempDir::new("open-trust-tamper");
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let _a = enrol(
        &mut tld,
        &p,
        "ldld-a",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let _b = enrol(
        &mut tld,
        &p,
        "ldld-b",
        UnitRole::ProvincialFederation,
        T0 + 2,
    );
    let expected = directory_from_entries(&tld);
    let rows = trust_rows(&tld);
    assert_eq!(rows.len(), 3, "genesis and two certificates");
    // ldld-a's row gets ldld-b's certificate bytes: a row that lies about its entry.
    let (ka, _) = rows[1].clone();
    let (_, vb) = rows[2].clone();
    tld.store().tree(t::TRUST).insert(&ka, vb).expect("tamper");
    let r = check::run(&mut tld, T0 + 3, false).expect("check");
    assert!(!r.is_clean());
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with("trust: row") && p.ends_with("differs")),
        "{:?}",
        r.problems
    );
    // Opening reads the entry its key names, not the bytes the row holds.
    let dir = tld.dir().to_owned();
    drop(tld);
    let mut tld = Node::open(&dir).expect("open");
    assert_eq!(format!("{:?}", tld.directory()), expected);
    // A row without its bytes is named too.
    tld.store()
        .tree(t::TRUST)
        .insert(&ka, &[][..])
        .expect("empty it");
    let r = check::run(&mut tld, T0 + 4, true).expect("repair");
    assert!(r.repaired, "{:?}", r.problems);
    let r = check::run(&mut tld, T0 + 5, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_trust_materialised(tld);
}

#[test]
fn a_schema_4_database_gets_its_trust_rows_filled_at_open() {
    let tmp = TempDir::new("open-schema-4");
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let _a = enrol(
        &mut tld,
        &p,
        "ldld-a",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let dir = tld.dir().to_owned();
    drop(tld);
    // Schema 4 wrote the trust rows empty.
    {
        let s = SledStore::open(&dir.join(node::node::DB_DIR)).expect("open");
        let keys: Vec<_> = s
            .tree(t::TRUST)
            .iter()
            .keys()
            .map(|k| k.expect("key"))
            .collect();
        for k in keys {
            s.tree(t::TRUST).insert(k, &[][..]).expect("schema 4 row");
        }
        s.set_meta("schema_version", &4u32.to_be_bytes())
            .expect("meta");
    }
    let mut tld = Node::open(&dir).expect("migrated");
    assert_eq!(
        tld.store().meta("schema_version").expect("meta"),
        Some(SCHEMA_VERSION.to_be_bytes().to_vec())
    );
    let r = check::run(&mut tld, T0 + 2, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_trust_materialised(tld);
}
