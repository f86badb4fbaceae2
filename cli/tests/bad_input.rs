//! The bad-input catalogue: every door into a node — entries (as sync and bundles deliver
//! them), bundle files, command-line arguments, QUIC frames — fed something wrong. Each case is
//! refused with its own reason, the store's entries are byte-for-byte unchanged (a digest of
//! them before and after), and the node then serves the next valid request.

mod support;
use support::TempDir;

use std::path::Path;
use std::process::Command;

use node::node::{FederationFile, KEY_FILE};
use node::Node;
use sync_protocol::entry::{Binding, Certificate, DecisionKind, Entry, EntryBody, UnitRole};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId};
use sync_protocol::limits::{MAX_ENTRY_BYTES, MAX_HEADS_COUNT};
use sync_protocol::store::EntryStore;
use sync_protocol::testkit::{resign, unit, Federation};

/// A digest of every entry a node stores.
fn digest(n: &Node) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    for e in n.store().hashes().unwrap() {
        h.update(&e.0);
    }
    h.finalize()
}

/// A node on disk for a testkit unit, holding the testkit's key for it.
fn node_for(fed: &Federation, dir: &Path, id: &str) -> Node {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    node::keys::write_new(&d.join(KEY_FILE), fed.signing_key(id)).unwrap();
    let g = &fed.genesis;
    let ff = FederationFile {
        federation_id: g.federation_id().to_hex(),
        root_unit: g.root_unit.to_string(),
        root_name: g.root_name.to_string(),
        root_public_key: g.root_key.to_hex(),
        genesis: hex::encode(fed.genesis_entry.bytes()),
    };
    std::fs::write(
        d.join("federation.json"),
        serde_json::to_string(&ff).unwrap(),
    )
    .unwrap();
    Node::create_enrolled(
        &d,
        &ff,
        fed.genesis_entry.clone(),
        unit(id),
        fed.trust_entries.clone(),
        node::now_ms(),
    )
    .unwrap()
}

/// What the door said: the decode error, or what import did.
fn deliver(n: &mut Node, bytes: &[u8]) -> String {
    match Entry::decode(bytes) {
        Err(e) => format!("refused: {e}"),
        Ok(e) => {
            let r = n.import(vec![e], node::now_ms()).unwrap();
            if let Some((_, why)) = r.rejected.first() {
                format!("refused: {why}")
            } else if let Some((_, why)) = r.quarantined.first() {
                format!("quarantined: waiting for {why}")
            } else if r.duplicates > 0 {
                "already held (a replay changes nothing)".into()
            } else {
                format!("ACCEPTED {r:?}")
            }
        }
    }
}

/// Offset of the body-kind byte in an entry of `author`.
fn body_tag_offset(author: &str) -> usize {
    1 + 32 + 4 + author.len() + 32 + 8
}

#[test]
fn every_door_refuses_bad_input_and_keeps_serving() {
    let tmp = TempDir::new("catalogue");
    let mut fed = Federation::new();
    let mut district = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    // A valid initiative from cdcs-a, submitted: the store's baseline.
    let (r, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(change.clone());
    let submit = fed.chain(r, None, &[("cdcs-a", DecisionKind::Submit)]);
    fed.import_ok(submit.clone());
    let mut all = change.clone();
    all.extend(submit.clone());
    assert!(district
        .import(all, node::now_ms())
        .unwrap()
        .rejected
        .is_empty());
    let valid = change[0].clone();

    // Each case: (door, name, bytes or an entry, expected words of the reason).
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let b = valid.bytes().to_vec();
    cases.push(("truncated entry", b[..b.len() - 10].to_vec(), "truncated"));
    cases.push(("trailing byte", [b.clone(), vec![0]].concat(), "trailing"));
    let mut v = b.clone();
    v[0] = 9;
    cases.push(("unknown version", v, "unknown tag 9"));
    let mut v = b.clone();
    v[body_tag_offset("cdcs-a")] = 77;
    cases.push(("unknown body kind", v, "body kind has unknown tag"));
    cases.push((
        "oversized entry",
        vec![1; MAX_ENTRY_BYTES + 1],
        "over the limit",
    ));
    let mut v = b.clone();
    let n = v.len();
    v[n - 1] ^= 1;
    cases.push(("forged signature", v, "signature does not verify"));
    let mut v = b.clone();
    v[body_tag_offset("cdcs-a") - 1] ^= 1;
    cases.push(("altered time", v, "signature does not verify"));
    // Text that is not UTF-8 / not NFC, re-signed by the rightful key so only that rule fails.
    let officer = |e: &Entry| -> usize {
        let bytes = e.bytes();
        let needle = "Trần Thị Bình".as_bytes();
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let d = &submit[0];
    let mut v = d.bytes().to_vec();
    let at = officer(d);
    v[at] = 0xff;
    cases.push((
        "officer name not UTF-8",
        resign(&v, fed.signing_key("cdcs-a")),
        "not valid UTF-8",
    ));
    let mut v = d.bytes().to_vec();
    // "ầ" (3 bytes) becomes "a" + a combining grave accent (3 bytes): valid UTF-8, not NFC.
    let at = officer(d);
    v[at + 2..at + 5].copy_from_slice(&[b'a', 0xcc, 0x80]);
    cases.push((
        "officer name not NFC",
        resign(&v, fed.signing_key("cdcs-a")),
        "NFC",
    ));

    // Entries whose bytes are fine but whose meaning is refused.
    let t = fed.tick();
    let other = sync_protocol::author::Author::new(
        sync_protocol::ids::FederationId([9; 32]),
        unit("cdcs-a"),
        fed.signing_key("cdcs-a").clone(),
    );
    let binding_r = fed.binding(r);
    let body = fed.decision_body(r, DecisionKind::Submit, binding_r.clone(), None);
    cases.push((
        "another federation's entry",
        other.sign(t, body.clone()).bytes().to_vec(),
        "belongs to federation",
    ));
    let future = node::now_ms() + 10 * 60 * 1000;
    cases.push((
        "future-dated entry",
        fed.author("cdcs-a")
            .sign(future, body.clone())
            .bytes()
            .to_vec(),
        "in the future",
    ));
    cases.push(("replayed entry", valid.bytes().to_vec(), "already held"));
    let stranger = sync_protocol::author::Author::new(
        fed.genesis.federation_id(),
        unit("cdcs-la"),
        sync_protocol::testkit::key_of(200),
    );
    cases.push((
        "unknown key",
        stranger.sign(t, body.clone()).bytes().to_vec(),
        "quarantined: waiting for certificate",
    ));
    // cdcs-b's key is revoked by its district from before; it signs afterwards.
    let revocation = fed.revoke("ldld-tuy-hoa", "cdcs-b", fed.time_ms() - 500);
    fed.import_ok(vec![revocation.clone()]);
    assert!(district
        .import(vec![revocation], node::now_ms())
        .unwrap()
        .rejected
        .is_empty());
    let t = fed.tick();
    cases.push((
        "revoked key",
        fed.author("cdcs-b").sign(t, body.clone()).bytes().to_vec(),
        "revoked",
    ));
    let skip = fed.decide(
        "ldld-phu-yen",
        r,
        DecisionKind::Approve,
        binding_r.clone(),
        Some(submit[0].hash()),
    );
    cases.push((
        "decision that skips a level",
        skip.bytes().to_vec(),
        "skips a level",
    ));
    let outside = fed.decide(
        "ldld-tra-vinh",
        r,
        DecisionKind::Approve,
        binding_r.clone(),
        Some(submit[0].hash()),
    );
    cases.push((
        "decision outside the subtree",
        outside.bytes().to_vec(),
        "outside its subtree",
    ));
    let first = fed.decide(
        "ldld-tuy-hoa",
        r,
        DecisionKind::Approve,
        binding_r.clone(),
        None,
    );
    cases.push((
        "decision out of order",
        first.bytes().to_vec(),
        "out of order",
    ));
    let heads = Binding::Heads(
        (0..=MAX_HEADS_COUNT as u8)
            .map(|i| ChangeHash([i; 32]))
            .collect(),
    );
    let many = fed.decide(
        "ldld-tuy-hoa",
        r,
        DecisionKind::Approve,
        heads,
        Some(submit[0].hash()),
    );
    cases.push((
        "more heads than the limit",
        many.bytes().to_vec(),
        "heads is 65 long",
    ));
    let (_, sibling_change) = fed.new_initiative("cdcs-c", "Của Trà Vinh", false);
    cases.push((
        "initiative of another subtree",
        sibling_change[0].bytes().to_vec(),
        "outside the scope",
    ));
    let t = fed.tick();
    let by_sibling = fed.author("ldld-tp-tra-vinh").sign(
        t,
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-moi"),
            name: sync_protocol::text::Text::new("name", "Mới", 100).unwrap(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-tuy-hoa"),
            key: stranger.public_key(),
            replaces: None,
        }),
    );
    cases.push((
        "certificate signed by a sibling",
        by_sibling.bytes().to_vec(),
        "signed by ldld-tp-tra-vinh",
    ));
    let takeover = fed.author("ldld-tp-tra-vinh").sign(
        t + 1,
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-a"),
            name: sync_protocol::text::Text::new("name", "Chiếm", 100).unwrap(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-tp-tra-vinh"),
            key: stranger.public_key(),
            replaces: Some(fed.certificate_of("cdcs-a")),
        }),
    );
    cases.push((
        "takeover of a unit",
        takeover.bytes().to_vec(),
        "may not re-certify",
    ));
    let mut foreign = change[0].body().clone();
    if let EntryBody::RecordChange(c) = &mut foreign {
        c.owner = unit("cdcs-b");
    }
    let t = fed.tick();
    let by_other = fed.author("cdcs-a").sign(t, foreign);
    cases.push((
        "record change naming another owner",
        by_other.bytes().to_vec(),
        "belongs to",
    ));
    // A real first change renumbered 2 by its signer, for a new record: Automerge 0.7 would
    // panic applying it (it registers an actor only from its change 1).
    let renumbered = {
        let EntryBody::RecordChange(mut c) = change[0].body().clone() else {
            unreachable!("new_initiative makes a record change")
        };
        let mut expanded = c.change.to_automerge().decode();
        expanded.seq = 2;
        expanded.hash = None;
        c.change = sync_protocol::record::AutomergeChange::from_automerge(
            &automerge::Change::from(expanded),
        )
        .unwrap();
        c.record = RecordId([0x42; 16]);
        let t = fed.tick();
        fed.author("cdcs-a").sign(t, EntryBody::RecordChange(c))
    };
    cases.push((
        "automerge change numbered 2 as a record's first",
        renumbered.bytes().to_vec(),
        "first change is not in the record",
    ));
    let proj = {
        let (rs, sc) = fed.new_initiative("cdcs-a", "Bí mật", true);
        fed.import_ok(sc.clone());
        assert!(district
            .import(sc, node::now_ms())
            .unwrap()
            .rejected
            .is_empty());
        let mut p = fed.projection_body(rs);
        p.commitment = sync_protocol::ids::ContentHash([0; 32]);
        let t = fed.tick();
        fed.author("cdcs-a").sign(t, EntryBody::Projection(p))
    };
    cases.push((
        "projection not matching its private part",
        proj.bytes().to_vec(),
        "commitment",
    ));
    let unknown_prev = fed.decide(
        "ldld-tuy-hoa",
        r,
        DecisionKind::Approve,
        binding_r.clone(),
        Some(EntryHash([3; 32])),
    );
    cases.push((
        "decision citing an unknown previous decision",
        unknown_prev.bytes().to_vec(),
        "quarantined: waiting for entry",
    ));
    let wrong_binding = fed.decide(
        "ldld-tuy-hoa",
        RecordId([0x77; 16]),
        DecisionKind::Approve,
        binding_r.clone(),
        None,
    );
    cases.push((
        "decision on a record never seen",
        wrong_binding.bytes().to_vec(),
        "quarantined: waiting for record",
    ));

    let entry_cases = cases.len();
    for (name, bytes, expected) in cases {
        let before = digest(&district);
        let said = deliver(&mut district, &bytes);
        assert!(
            said.contains(expected),
            "{name}: expected {expected:?}, got {said:?}"
        );
        assert_eq!(digest(&district), before, "{name}: the store changed");
        // The node serves the next valid request: a fresh initiative from its subtree.
        let (_, ok) = fed.new_initiative("cdcs-a", &format!("Sau: {name}"), false);
        fed.import_ok(ok.clone());
        let r = district.import(ok, node::now_ms()).unwrap();
        assert_eq!(r.accepted, 1, "{name}: the node stopped serving: {r:?}");
    }
    assert!(entry_cases >= 25, "{entry_cases}");

    // ---- bundle files and command-line arguments, through the real executable ----
    let exe = env!("CARGO_BIN_EXE_sangkien");
    let run = |args: &[&str]| {
        Command::new(exe)
            .args(args)
            .env_remove("SANGKIEN_DATA")
            .env("SANGKIEN_LANG", "en")
            .output()
            .unwrap()
    };
    let data = district.dir().to_owned();
    let data_s = data.to_str().unwrap().to_owned();
    drop(district);
    let good = tmp.path().join("good.bundle");
    let o = run(&[
        "--data",
        &data_s,
        "bundle",
        "export",
        "--for",
        "ldld-phu-yen",
        good.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let good_bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let mut flipped = good_bytes.clone();
    let n = flipped.len();
    flipped[n / 2] ^= 1;
    let mut huge = good_bytes.clone();
    // The uncompressed length sits 16 bytes before the payload; set it far over the limit.
    let header_len = 8 + 32 + 4 + "ldld-tuy-hoa".len() + 32 + 4 + "ldld-phu-yen".len() + 8 + 1;
    huge[header_len..header_len + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    // Another federation's bundle: made by a fresh federation on disk.
    let other_root = tmp.path().join("other");
    let o = run(&["--data", other_root.to_str().unwrap(), "federation", "init"]);
    assert!(o.status.success());
    let other_bundle = tmp.path().join("other.bundle");
    let o = run(&[
        "--data",
        other_root.to_str().unwrap(),
        "bundle",
        "export",
        "--for",
        "tld",
        other_bundle.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle_cases: Vec<(&str, String, &str)> = vec![
        (
            "garbage bundle",
            write(
                "garbage.bundle",
                b"this is not a bundle at all, not even close.....................................",
            ),
            "not a sangkien bundle",
        ),
        (
            "truncated bundle",
            write("truncated.bundle", &good_bytes[..good_bytes.len() / 3]),
            "truncated",
        ),
        (
            "corrupted bundle",
            write("flipped.bundle", &flipped),
            "signature does not verify",
        ),
        (
            "bundle of another federation",
            other_bundle.to_str().unwrap().to_owned(),
            "federation",
        ),
        (
            "unsigned bundle of the old format",
            write("v1.bundle", &[b"SKBUNDLE".as_slice(), &[0u8; 100]].concat()),
            "older version",
        ),
        (
            "bundle announcing a huge payload",
            write("huge.bundle", &huge),
            "over the limit",
        ),
        (
            "missing bundle file",
            tmp.path().join("nope.bundle").to_str().unwrap().to_owned(),
            "No such file",
        ),
    ];
    let digest_of = |dir: &Path| {
        let n = Node::open(dir).unwrap();
        digest(&n)
    };
    for (name, file, expected) in &bundle_cases {
        let before = digest_of(&data);
        let o = run(&["--data", &data_s, "bundle", "import", file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
        assert_eq!(digest_of(&data), before, "{name}: the store changed");
    }
    // The node still imports a good bundle (idempotent: it already holds all of it).
    let o = run(&[
        "--data",
        &data_s,
        "bundle",
        "import",
        good.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = tmp.path().join("x").to_str().unwrap().to_owned();
    let cli_cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "unit id with capitals and spaces",
            vec![
                "--data",
                &data_s,
                "unit",
                "enrol",
                "--id",
                "Phú Yên",
                "--name",
                "x",
                "--role",
                "grassroots",
                "--into",
                &out,
            ],
            "invalid unit id",
        ),
        (
            "unknown role",
            vec![
                "--data", &data_s, "unit", "enrol", "--id", "x", "--name", "x", "--role", "king",
                "--into", &out,
            ],
            "invalid role",
        ),
        ("no data directory", vec!["verify"], "--data"),
        (
            "data directory that is not a node",
            vec!["--data", tmp.path().to_str().unwrap(), "verify"],
            "is not a sangkien node",
        ),
        (
            "--since that is not a date",
            vec![
                "--data",
                &data_s,
                "bundle",
                "export",
                "--for",
                "ldld-phu-yen",
                "--since",
                "tomorrow",
                &out,
            ],
            "--since",
        ),
        (
            "export for an unknown unit",
            vec![
                "--data",
                &data_s,
                "bundle",
                "export",
                "--for",
                "cdcs-khong-co",
                &out,
            ],
            "not known",
        ),
        (
            "revocation with a malformed key",
            vec![
                "--data",
                &data_s,
                "unit",
                "revoke",
                "--unit",
                "cdcs-a",
                "--key",
                "zz",
                "--reason",
                "mất máy",
            ],
            "hexadecimal",
        ),
        (
            "unknown subcommand",
            vec!["--data", &data_s, "explode"],
            "unrecognized subcommand",
        ),
        (
            "empty unit name",
            vec![
                "--data",
                &data_s,
                "unit",
                "enrol",
                "--id",
                "cdcs-rong",
                "--name",
                "   ",
                "--role",
                "grassroots",
                "--into",
                &out,
            ],
            "is required",
        ),
    ];
    for (name, args, expected) in &cli_cases {
        let before = digest_of(&data);
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
        assert_eq!(digest_of(&data), before, "{name}: the store changed");
        assert!(!Path::new(&out).exists(), "{name}: left a file behind");
    }
    let o = run(&["--data", &data_s, "verify"]);
    assert!(
        o.status.success(),
        "the node still answers: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // ---- input the way officers write it (issue 13, item 5): ambiguous or impossible forms
    // are refused with the form to use, near misses answered with the closest names ----
    let printed_cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "--since on a day that does not exist",
            vec![
                "--data",
                &data_s,
                "bundle",
                "export",
                "--for",
                "ldld-phu-yen",
                "--since",
                "31/02/2022",
                &out,
            ],
            vec!["--since", "15/07/2022"],
        ),
        (
            "--today with a two-digit year",
            vec!["--data", &data_s, "report", "--today", "15/7/22"],
            vec!["--today", "15/07/2022"],
        ),
        (
            "export for a mistyped unit",
            vec![
                "--data",
                &data_s,
                "bundle",
                "export",
                "--for",
                "ldld-phu-yne",
                &out,
            ],
            vec!["did you mean", "ldld-phu-yen"],
        ),
        (
            "record id that names no record",
            vec!["--data", &data_s, "initiative", "show", "0123456789"],
            vec!["no record held at this node starts with 0123456789"],
        ),
        (
            "every missing flag at once",
            vec!["--data", &data_s, "unit", "enrol", "--id", "cdcs-x"],
            vec!["--name", "--role", "--into"],
        ),
    ];
    for (name, args, expected) in &printed_cases {
        let before = digest_of(&data);
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        for e in expected {
            assert!(err.contains(e), "{name}: expected {e:?} in {err:?}");
        }
        assert_eq!(digest_of(&data), before, "{name}: the store changed");
        assert!(!Path::new(&out).exists(), "{name}: left a file behind");
    }
    let o = run(&["--data", &data_s, "verify"]);
    assert!(
        o.status.success(),
        "the node still answers after the printed-input cases"
    );

    let total = entry_cases + bundle_cases.len() + cli_cases.len() + printed_cases.len();
    eprintln!(
        "bad-input catalogue: {entry_cases} entries, {} bundles, {} command lines = {total}",
        bundle_cases.len(),
        cli_cases.len() + printed_cases.len()
    );
    assert!(total >= 40, "{total}");
}

/// What the server side of one connection did.
async fn serve_one(
    endpoint: &node::quic::QuicEndpoint,
    n: &mut Node,
) -> Result<node::sync::SideOutcome, node::sync::SyncError> {
    let c = endpoint.accept().await.expect("a connection");
    node::sync::sync_over_quic(
        n,
        c,
        sync_protocol::sync::Role::Responder,
        None,
        node::now_ms,
    )
    .await
}

#[tokio::test]
async fn bad_quic_frames_disconnect_that_peer_and_the_node_keeps_serving() {
    use node::quic::{FederationVerifier, QuicEndpoint, QuicIdentity, MAX_FRAME_BYTES};
    use std::sync::{Arc, RwLock};
    use sync_protocol::sync::{Bound, Message, Range, RangePayload};
    let tmp = TempDir::new("frames");
    let mut fed = Federation::new();
    let mut server = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let mut client = node_for(&fed, tmp.path(), "cdcs-a");
    let (r, change) = fed.new_initiative("cdcs-a", "Qua QUIC", false);
    fed.import_ok(change.clone());
    client.import(change, node::now_ms()).unwrap();
    let bind = |n: &Node| {
        let id = QuicIdentity::for_node(n).unwrap();
        let dir = Arc::new(RwLock::new(n.directory().clone()));
        QuicEndpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            &id,
            FederationVerifier::for_directory(dir),
        )
        .unwrap()
    };
    let (es, ec) = (bind(&server), bind(&client));
    let addr = es.local_addr().unwrap();
    let fed_id = server.federation();
    let forged = {
        let mut v = fed.chain(r, None, &[("cdcs-a", DecisionKind::Submit)])[0]
            .bytes()
            .to_vec();
        let n = v.len();
        v[n - 1] ^= 1;
        v
    };
    let hello = |federation, upper| Message::Hello {
        version: 1,
        federation,
        cursor_ms: None,
        ranges: vec![Range {
            upper,
            payload: RangePayload::Fingerprint(sync_protocol::sync::Fingerprint([0; 16])),
        }],
    };
    // (case, raw bytes written on the stream, expected words in the server's error)
    let frame = |m: &Message| {
        let body = m.encode();
        [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage frame",
            [8u32.to_be_bytes().to_vec(), b"garbage!".to_vec()].concat(),
            "bad message",
        ),
        (
            "frame over the limit",
            ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec(),
            "over MAX_FRAME_BYTES",
        ),
        (
            "truncated frame",
            [100u32.to_be_bytes().to_vec(), vec![1; 10]].concat(),
            "truncated",
        ),
        (
            "wrong message for the state",
            frame(&Message::Done),
            "first message must be a hello",
        ),
        (
            "hello of another federation",
            frame(&hello(
                sync_protocol::ids::FederationId([5; 32]),
                Bound::Infinity,
            )),
            "federation",
        ),
        (
            "ranges not reaching infinity",
            frame(&hello(
                fed_id,
                Bound::Key {
                    time_ms: 5,
                    prefix: vec![],
                },
            )),
            "infinity",
        ),
    ];
    for (name, bytes, expected) in &cases {
        let before = digest(&server);
        let attack = async {
            let mut c = ec.connect(addr).await.expect("connect");
            c.send_raw_unchecked(bytes).await.ok();
            let (mut tx, mut rx) = c.split();
            tx.finish().ok();
            while let Ok(Some(_)) = rx.recv_frame().await {}
        };
        let (res, _) = tokio::join!(serve_one(&es, &mut server), attack);
        let err = res.expect_err(name).to_string();
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err:?}"
        );
        assert_eq!(digest(&server), before, "{name}: the store changed");
    }
    // A forged entry inside a well-formed session is rejected with its reason; the session
    // goes on and the genuine entries are stored.
    let before = digest(&server);
    let session = async {
        let mut c = ec.connect(addr).await.expect("connect");
        c.send_frame(&Message::Entries(vec![forged.clone()]).encode())
            .await
            .ok();
        drop(c);
    };
    let (res, _) = tokio::join!(serve_one(&es, &mut server), session);
    let _ = res;
    assert_eq!(digest(&server), before, "a forged entry changed the store");
    // The node still serves a valid peer, who syncs its initiative to it.
    let valid = async {
        let c = ec.connect(addr).await.expect("connect");
        node::sync::sync_over_quic(
            &mut client,
            c,
            sync_protocol::sync::Role::Initiator,
            None,
            node::now_ms,
        )
        .await
    };
    let (s, c) = tokio::join!(serve_one(&es, &mut server), valid);
    let (s, c) = (s.expect("server"), c.expect("client"));
    assert_eq!(s.import.accepted, 1, "{s:?} {c:?}");
    eprintln!(
        "QUIC frame cases: {} + forged entry in session",
        cases.len()
    );
}

// ---- text cannot forge a document (issue 12) ----------------------------------------------

/// Text that would add a line to a printed Mẫu 2, reverse what a name shows, or hide a
/// character in it: refused, with the field and the character named, at every door.
#[test]
fn text_that_could_forge_a_document_is_refused_with_field_and_character() {
    let tmp = TempDir::new("text");
    let mut fed = Federation::new();
    let mut district = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let mut grassroots = node_for(&fed, tmp.path(), "cdcs-a");
    let (r, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(change.clone());
    let submit = fed.chain(r, None, &[("cdcs-a", DecisionKind::Submit)]);
    fed.import_ok(submit.clone());
    let mut all = change.clone();
    all.extend(submit.clone());
    assert!(district
        .import(all, node::now_ms())
        .unwrap()
        .rejected
        .is_empty());

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    // A later change of the record whose title holds a line break: the stamped paper would
    // show a second line ("Quyết định số 99...") that no officer wrote.
    let forged_title = fed.edit_initiative(r, |i| {
        i.title = sync_protocol::text::Text::multiline(
            "title",
            "Băng tải\nQuyết định số 99/QĐ-TLĐ: khen thưởng",
            300,
        )
        .unwrap();
    });
    cases.push((
        "title with a line break",
        forged_title.bytes().to_vec(),
        "title must be one line; it contains a line break (U+000A)",
    ));
    // A decision whose officer name holds a right-to-left override ("ầ", 3 bytes, becomes
    // U+202E, 3 bytes), re-signed by the rightful key so that only the text rule fails.
    let d = &submit[0];
    let mut v = d.bytes().to_vec();
    let needle = "Trần".as_bytes();
    let at = v.windows(needle.len()).position(|w| w == needle).unwrap();
    v[at + 2..at + 5].copy_from_slice("\u{202E}".as_bytes());
    cases.push((
        "officer name with a bidi override",
        resign(&v, fed.signing_key("cdcs-a")),
        "officer name contains an invisible or direction-changing character (U+202E)",
    ));
    // A certificate whose unit name hides a zero-width space ("ớ" → U+200B).
    let t = fed.tick();
    let cert = fed.author("ldld-tuy-hoa").sign(
        t,
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-moi"),
            name: sync_protocol::text::Text::new("name", "Công đoàn Mới", 100).unwrap(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-tuy-hoa"),
            key: sync_protocol::ids::UnitKey(
                sync_protocol::testkit::key_of(201)
                    .verifying_key()
                    .to_bytes(),
            ),
            replaces: None,
        }),
    );
    let mut v = cert.bytes().to_vec();
    let needle = "ớ".as_bytes();
    let at = v.windows(needle.len()).position(|w| w == needle).unwrap();
    v[at..at + 3].copy_from_slice("\u{200B}".as_bytes());
    cases.push((
        "unit name with a zero-width space",
        resign(&v, fed.signing_key("ldld-tuy-hoa")),
        "unit name contains an invisible or direction-changing character (U+200B)",
    ));
    for (name, bytes, expected) in cases {
        let before = digest(&district);
        let said = deliver(&mut district, &bytes);
        assert!(
            said.contains(expected),
            "{name}: expected {expected:?}, got {said:?}"
        );
        assert_eq!(digest(&district), before, "{name}: the store changed");
        let (_, ok) = fed.new_initiative("cdcs-a", &format!("Sau: {name}"), false);
        fed.import_ok(ok.clone());
        let r = district.import(ok, node::now_ms()).unwrap();
        assert_eq!(r.accepted, 1, "{name}: the node stopped serving: {r:?}");
    }

    // The same through the command line, in both languages.
    let exe = env!("CARGO_BIN_EXE_sangkien");
    let run = |lang: &str, args: &[&str]| {
        Command::new(exe)
            .args(args)
            .env_remove("SANGKIEN_DATA")
            .env("SANGKIEN_LANG", lang)
            .output()
            .unwrap()
    };
    let data = district.dir().to_str().unwrap().to_owned();
    let cdcs = grassroots.dir().to_str().unwrap().to_owned();
    let _ = grassroots.import(fed.trust_entries.clone(), node::now_ms());
    drop(district);
    drop(grassroots);
    let out = tmp.path().join("x").to_str().unwrap().to_owned();
    let cli_cases: Vec<(&str, Vec<&str>, &str, &str)> = vec![
        (
            "unit name with a bidi override",
            vec![
                "--data",
                &data,
                "unit",
                "enrol",
                "--id",
                "cdcs-rtl",
                "--name",
                "Công đoàn \u{202E}nàoĐ gnôC",
                "--role",
                "grassroots",
                "--into",
                &out,
            ],
            "(U+202E)",
            "ký tự vô hình hoặc ký tự đổi chiều văn bản (U+202E)",
        ),
        (
            "initiative title with a line break",
            vec![
                "--data",
                &cdcs,
                "initiative",
                "new",
                "--title",
                "Băng tải\nQuyết định số 99",
                "--author",
                "Lê Thị Mai|Kỹ sư chế biến",
                "--sector",
                "production-business",
                "--summary",
                "Giảm hao hụt",
            ],
            "title must be one line; it contains a line break (U+000A)",
            "phải viết trên một dòng",
        ),
        (
            "programme name with a zero-width joiner",
            vec![
                "--data",
                &data,
                "programme",
                "new",
                "--name",
                "Sáng\u{200D}kiến",
                "--phase",
                "Giai đoạn 1|2021-12-15|2022-05-31|300",
                "--national-target",
                "300",
            ],
            "(U+200D)",
            "(U+200D)",
        ),
        (
            "phase name with a line break",
            vec![
                "--data",
                &data,
                "programme",
                "new",
                "--name",
                "Sáng kiến",
                "--phase",
                "Giai đoạn 1\nGiai đoạn giả|2021-12-15|2022-05-31|300",
                "--national-target",
                "300",
            ],
            "(U+000A)",
            "(U+000A)",
        ),
    ];
    let store_digest = |d: &str| {
        let n = Node::open(Path::new(d)).unwrap();
        digest(&n)
    };
    for (name, args, en, vi) in &cli_cases {
        let before = (store_digest(&data), store_digest(&cdcs));
        let o = run("en", args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(en), "{name}: expected {en:?} in {err:?}");
        let o = run("vi", args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(vi), "{name}: expected {vi:?} in {err:?}");
        assert_eq!(
            (store_digest(&data), store_digest(&cdcs)),
            before,
            "{name}: the store changed"
        );
        assert!(!Path::new(&out).exists(), "{name}: left a file behind");
    }
    let o = run("en", &["--data", &data, "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

// ---- an acknowledgement is covered by a sync (issue 12) --------------------------------------

/// A batch made only of entries already held is still synced before `import` returns (and so
/// before any acknowledgement): what it found held may be an earlier write not yet synced.
#[test]
fn a_batch_of_duplicates_is_synced_before_it_is_acknowledged() {
    let tmp = TempDir::new("dups");
    let mut fed = Federation::new();
    let mut district = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let (_, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(change.clone());
    let r = district.import(change.clone(), node::now_ms()).unwrap();
    assert_eq!(r.accepted, 1);
    let before = district.store().durable_rounds();
    let r = district.import(change, node::now_ms()).unwrap();
    assert_eq!((r.accepted, r.duplicates), (0, 1));
    assert!(
        district.store().durable_rounds() > before,
        "a batch of duplicates was acknowledged without a sync"
    );
}

// ---- QUIC sessions that try to hold the node (issue 12: bounded work per peer) ----

/// The server side of one connection, under `limits`.
async fn serve_one_within(
    endpoint: &node::quic::QuicEndpoint,
    n: &mut Node,
    limits: &node::sync::SessionLimits,
) -> Result<node::sync::SideOutcome, node::sync::SyncError> {
    let c = endpoint.accept().await.expect("a connection");
    let n = tokio::sync::Mutex::new(n);
    node::sync::run_session(
        &n,
        c,
        sync_protocol::sync::Role::Responder,
        None,
        node::now_ms,
        limits,
    )
    .await
}

#[tokio::test]
async fn sessions_that_hold_the_node_end_at_their_deadline_and_the_node_keeps_serving() {
    use node::quic::{FederationVerifier, QuicEndpoint, QuicIdentity};
    use std::sync::{Arc, RwLock};
    use std::time::{Duration, Instant};
    use sync_protocol::sync::{Bound, Deadlines, Message, Range, RangePayload};
    const BUDGET: usize = 64 * 1024;
    let tmp = TempDir::new("held-sessions");
    let mut fed = Federation::new();
    let mut server = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let mut client = node_for(&fed, tmp.path(), "cdcs-a");
    let (_, change) = fed.new_initiative("cdcs-a", "Giữ phiên", false);
    fed.import_ok(change.clone());
    client.import(change, node::now_ms()).unwrap();
    let bind = |n: &Node| {
        let id = QuicIdentity::for_node(n).unwrap();
        let dir = Arc::new(RwLock::new(n.directory().clone()));
        QuicEndpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            &id,
            FederationVerifier::for_directory(dir),
        )
        .unwrap()
    };
    let (es, ec) = (bind(&server), bind(&client));
    let addr = es.local_addr().unwrap();
    let limits = node::sync::SessionLimits {
        deadlines: Deadlines {
            total_ms: 3_000,
            idle_ms: 1_500,
        },
        buffered: Arc::new(tokio::sync::Semaphore::new(BUDGET)),
        before_import: None,
    };
    // A hello whose fingerprint differs from the server's, so the session stays open.
    let hello = Message::Hello {
        version: 1,
        federation: server.federation(),
        cursor_ms: None,
        ranges: vec![Range {
            upper: Bound::Infinity,
            payload: RangePayload::Fingerprint(sync_protocol::sync::Fingerprint([0; 16])),
        }],
    }
    .encode();
    let big = Message::Entries(vec![vec![0u8; BUDGET]]).encode();
    // (case, frames sent after the hello, pause between them)
    let cases: Vec<(&str, Vec<Vec<u8>>, u64)> = vec![
        ("silent after its hello", vec![], 0),
        ("re-sends its hello", vec![hello.clone(); 40], 200),
        ("a message over the node's buffer budget", vec![big], 0),
    ];
    for (name, frames, pause_ms) in &cases {
        let before = digest(&server);
        let begun = Instant::now();
        let attack = async {
            let c = ec.connect(addr).await.expect("connect");
            let (mut tx, mut rx) = c.split();
            let sends = async {
                tx.send_frame(&hello).await.ok();
                for f in frames {
                    tokio::time::sleep(Duration::from_millis(*pause_ms)).await;
                    if tx.send_frame(f).await.is_err() {
                        return;
                    }
                }
            };
            let reads = async { while let Ok(Some(_)) = rx.recv_frame().await {} };
            tokio::join!(sends, reads);
        };
        let (res, _) = tokio::join!(serve_one_within(&es, &mut server, &limits), attack);
        let err = res.expect_err(name).to_string();
        assert!(err.contains("deadline"), "{name}: {err}");
        assert!(
            begun.elapsed() < Duration::from_millis(3_500),
            "{name}: held for {:?}",
            begun.elapsed()
        );
        assert_eq!(digest(&server), before, "{name}: the store changed");
    }
    // The node then serves a valid peer, who syncs its initiative to it.
    let valid = async {
        let c = ec.connect(addr).await.expect("connect");
        node::sync::sync_over_quic(
            &mut client,
            c,
            sync_protocol::sync::Role::Initiator,
            None,
            node::now_ms,
        )
        .await
    };
    let (s, c) = tokio::join!(serve_one_within(&es, &mut server, &limits), valid);
    let (s, c) = (s.expect("server"), c.expect("client"));
    assert_eq!(s.import.accepted, 1, "{s:?} {c:?}");
    eprintln!("held-session cases: {}", cases.len());
}

// ---- stolen keys, forks, back-dated decisions, foreign programmes (issue 12, h-trust) ------

/// Each class of the stolen-key and programme-authority attacks, delivered to a province's node
/// on disk: contained (the children's records stay valid, the record can be decided further)
/// or refused with its reason and the store unchanged; the node then serves the next request,
/// and `report` without `--programme` still works with several programmes held.
#[test]
fn stolen_keys_forks_and_foreign_programmes_are_contained() {
    use node::records;
    use sync_protocol::entry::Revocation;
    use sync_protocol::ids::UnitKey;
    use sync_protocol::limits::{MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS};
    use sync_protocol::store::EntryLookup;
    use sync_protocol::testkit::text;
    use DecisionKind::*;

    let tmp = TempDir::new("trust-catalogue");
    let mut fed = Federation::new();
    let mut province = node_for(&fed, tmp.path(), "ldld-phu-yen");
    let now = node::now_ms;
    let import_ok = |n: &mut Node, entries: Vec<Entry>, what: &str| {
        let r = n.import(entries, now()).unwrap();
        assert!(
            r.rejected.is_empty() && r.quarantined.is_empty(),
            "{what}: {r:?}"
        );
    };
    // Baseline: cdcs-a's initiative, submitted and approved by its district.
    let (r, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    let decided = fed.chain(r, None, &[("cdcs-a", Submit), ("ldld-tuy-hoa", Approve)]);
    import_ok(&mut province, [change, decided].concat(), "baseline");
    let valid = |n: &Node, r| records::check(n, r, now()).unwrap().is_valid();
    assert!(valid(&province, r));
    let mut classes = 0;

    // 1. A stolen district key revokes itself from time zero.
    let district_cert = fed.certificate_of("ldld-tuy-hoa");
    let certified_at = province
        .store()
        .entry(&district_cert)
        .unwrap()
        .unwrap()
        .time_ms();
    let rev = fed.author("ldld-tuy-hoa").sign(
        certified_at,
        EntryBody::Revocation(Revocation {
            unit: unit("ldld-tuy-hoa"),
            key: UnitKey(fed.signing_key("ldld-tuy-hoa").verifying_key().to_bytes()),
            effective_ms: 0,
            reason: text("reason", "Khóa bị lộ", MAX_NOTE_CHARS),
        }),
    );
    import_ok(&mut province, vec![rev], "self-revocation");
    // Contained: the children still register (their certificates stand)...
    let (r2, change2) = fed.new_initiative("cdcs-b", "Máy cắt", false);
    let submit2 = fed.chain(r2, None, &[("cdcs-b", Submit)]);
    import_ok(
        &mut province,
        [change2, submit2.clone()].concat(),
        "a child registers",
    );
    // ...and the province's rotation of the district's key voids the self-revocation: the
    // district's earlier approval stands again.
    let rotation = fed.rotate_key("ldld-tuy-hoa");
    import_ok(&mut province, vec![rotation], "rotation");
    assert!(
        valid(&province, r),
        "{:?}",
        records::check(&province, r, now()).unwrap().problems
    );
    assert!(valid(&province, r2));
    classes += 1;

    // 2. The district decides twice on one submission (a fork): a notice, and the record can
    // be decided further (the province's decision cites the branch the chain follows).
    let b2 = fed.binding(r2);
    let ret = fed.decide(
        "ldld-tuy-hoa",
        r2,
        ReturnForRevision,
        b2.clone(),
        Some(submit2[0].hash()),
    );
    let approve = fed.decide(
        "ldld-tuy-hoa",
        r2,
        Approve,
        b2.clone(),
        Some(submit2[0].hash()),
    );
    import_ok(&mut province, vec![ret, approve.clone()], "fork");
    let rep = records::check(&province, r2, now()).unwrap();
    assert_eq!(rep.conflicts.len(), 1);
    assert_eq!(rep.conflicts[0].chosen, approve.hash());
    let t = |s: &str| text("officer", s, MAX_SHORT_TEXT_CHARS);
    let provincial = records::decide(
        &mut province,
        r2,
        Approve,
        t("Lê Văn Cường"),
        t("Chủ tịch"),
        t("Đồng ý"),
        now(),
    )
    .unwrap();
    let rep = records::check(&province, r2, now()).unwrap();
    assert_eq!(rep.chain.last(), Some(&provincial));
    classes += 1;

    // 3. Programme authority. A neighbouring district and grassroots union of the province.
    let song_cau = fed.certify(
        "ldld-phu-yen",
        "ldld-song-cau",
        "Liên đoàn Lao động thị xã Sông Cầu",
        UnitRole::DirectSuperior,
    );
    let cdcs_sc = fed.certify(
        "ldld-song-cau",
        "cdcs-song-cau",
        "Công đoàn cơ sở Sông Cầu",
        UnitRole::Grassroots,
    );
    import_ok(&mut province, vec![song_cau, cdcs_sc], "neighbours");
    // The national programme, and one of the same name launched by the district of Tuy Hòa.
    let (national, national_entry) = fed.new_programme("tld", "01 triệu sáng kiến");
    let (district_prog, district_entry) = fed.new_programme("ldld-tuy-hoa", "01 triệu sáng kiến");
    import_ok(
        &mut province,
        vec![national_entry, district_entry],
        "programmes",
    );
    let mut refused: Vec<(&str, Entry, &str)> = Vec::new();
    // A programme launched by another province's district is outside this node's scope.
    let (_, foreign) = fed.new_programme("ldld-tp-tra-vinh", "01 triệu sáng kiến");
    refused.push((
        "another province's district programme",
        foreign,
        "outside the scope",
    ));
    // A union of Sông Cầu cannot take part in Tuy Hòa's programme.
    let (r3, change3) = fed.new_initiative("cdcs-song-cau", "Lò sấy", false);
    import_ok(&mut province, change3, "a neighbour registers");
    let joined = fed.edit_initiative(r3, |i| {
        i.programme = Some(district_prog);
        i.phase = 1;
    });
    refused.push((
        "initiative in a programme outside its launcher's subtree",
        joined,
        "no authority",
    ));
    // But in the national one it can.
    let (r4, change4) = fed.new_initiative("cdcs-song-cau", "Máy sàng", false);
    import_ok(&mut province, change4, "another initiative");
    let national_joined = fed.edit_initiative(r4, |i| {
        i.programme = Some(national);
        i.phase = 1;
    });
    import_ok(&mut province, vec![national_joined], "national programme");

    // A submission dated four minutes ahead (a fast clock) does not block the district, whose
    // decision by the correct clock comes "before" it.
    let (r6, change6) = fed.new_initiative("cdcs-a", "Đồng hồ nhanh", false);
    import_ok(&mut province, change6, "a fast clock's initiative");
    let b6 = fed.binding(r6);
    let body = fed.decision_body(r6, Submit, b6.clone(), None);
    let ahead = fed.author("cdcs-a").sign(now() + 4 * 60 * 1000, body);
    import_ok(&mut province, vec![ahead.clone()], "submission dated ahead");
    let body = fed.decision_body(r6, Approve, b6, Some(ahead.hash()));
    let approve6 = fed.author("ldld-tuy-hoa").sign(now(), body);
    import_ok(
        &mut province,
        vec![approve6.clone()],
        "decision after one dated ahead",
    );
    let rep = records::check(&province, r6, now()).unwrap();
    assert_eq!(rep.chain, vec![ahead.hash(), approve6.hash()]);
    classes += 1;

    // 4. The district's key is stolen again and revoked by the province; the thief back-dates
    // a decision (before the one it follows, or after the revocation).
    let theft = fed.tick();
    let revocation = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", theft);
    import_ok(&mut province, vec![revocation], "province revokes");
    let (r5, change5) = fed.new_initiative("cdcs-a", "Khuôn mẫu", false);
    let submit5 = fed.chain(r5, None, &[("cdcs-a", Submit)]);
    import_ok(
        &mut province,
        [change5, submit5.clone()].concat(),
        "a new submission",
    );
    let b5 = fed.binding(r5);
    let body = fed.decision_body(r5, Reject, b5, Some(submit5[0].hash()));
    let thief = fed.author("ldld-tuy-hoa");
    refused.push((
        "decision by a revoked key back-dated before the revocation",
        thief.sign(theft - 1, body.clone()),
        "decision is dated before",
    ));
    refused.push((
        "decision by a revoked key dated after the revocation",
        thief.sign(submit5[0].time_ms() + 1, body),
        "revoked",
    ));
    for (name, entry, expected) in &refused {
        let before = digest(&province);
        let said = deliver(&mut province, entry.bytes());
        assert!(
            said.contains(expected),
            "{name}: expected {expected:?}, got {said:?}"
        );
        assert_eq!(digest(&province), before, "{name}: the store changed");
        let (_, ok) = fed.new_initiative("cdcs-b", &format!("Sau: {name}"), false);
        import_ok(&mut province, ok, name);
        classes += 1;
    }

    // 5. `report` without --programme with both programmes held: it picks the national one
    // (the widest launched on this unit's line) and says so; `programme show` names launchers.
    let exe = env!("CARGO_BIN_EXE_sangkien");
    let data = province.dir().to_owned();
    drop(province);
    let run = |args: &[&str]| {
        Command::new(exe)
            .arg("--data")
            .arg(&data)
            .args(args)
            .env_remove("SANGKIEN_DATA")
            .env("SANGKIEN_LANG", "en")
            .output()
            .unwrap()
    };
    let o = run(&["report"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("launched by") && err.contains("[tld]"),
        "{err}"
    );
    assert!(out.contains("[tld]"), "{out}");
    // `verify` reports the fork as a notice naming the decision the chain follows.
    let o = run(&["verify"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("notice, the chain forks") && out.contains(&approve.hash().short()),
        "{out}"
    );
    let o = run(&["--json", "verify"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["conflicts"][0]["chosen"], approve.hash().to_hex(), "{v}");
    let o = run(&["programme", "show"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Launched by") && out.contains("[ldld-tuy-hoa]") && out.contains("[tld]"),
        "{out}"
    );
    classes += 1;
    eprintln!("stolen-key and programme catalogue: {classes} cases");
}

// ---- import hardening (issue 12): entries Automerge would panic on, chained edits, an
// ---- inflation bomb, a quarantine flood -------------------------------------------------------

/// A later change of `r` (title edited, one author added) whose operations `rewrite` tampers
/// with, signed again by the record's owner: everything but the operations is right.
fn tampered_edit(
    fed: &mut Federation,
    r: RecordId,
    rewrite: impl FnOnce(&mut Vec<automerge::legacy::Op>, &automerge::ActorId),
) -> Entry {
    let e = fed.edit_initiative(r, |i| {
        i.title = sync_protocol::text::Text::new("title", "Băng tải sửa", 300).unwrap();
        i.authors.push(sync_protocol::record::Author {
            name: sync_protocol::text::Text::new("name", "Lê Văn Cường", 200).unwrap(),
            position: sync_protocol::text::Text::new("position", "Thợ điện", 200).unwrap(),
        });
    });
    let EntryBody::RecordChange(mut c) = e.body().clone() else {
        unreachable!("an edit is a record change")
    };
    let mut x = c.change.to_automerge().decode();
    let actor = x.actor_id.clone();
    rewrite(&mut x.operations, &actor);
    x.hash = None;
    c.change = sync_protocol::record::AutomergeChange::from_automerge(&automerge::Change::from(x))
        .unwrap();
    let t = fed.tick();
    fed.author("cdcs-a").sign(t, EntryBody::RecordChange(c))
}

fn missing_object(fed: &mut Federation, r: RecordId) -> Entry {
    tampered_edit(fed, r, |ops, actor| {
        ops[0].obj = automerge::legacy::ObjectId::Id(automerge::legacy::OpId(9_999, actor.clone()));
    })
}

fn insert_after_missing(fed: &mut Federation, r: RecordId) -> Entry {
    tampered_edit(fed, r, |ops, actor| {
        let op = ops
            .iter_mut()
            .filter(|o| o.insert)
            .nth(1)
            .expect("two inserts");
        op.key = automerge::legacy::Key::Seq(automerge::legacy::ElementId::Id(
            automerge::legacy::OpId(9_999, actor.clone()),
        ));
    })
}

#[test]
fn import_hardening_refuses_contains_and_keeps_serving() {
    use sync_protocol::limits::MAX_QUARANTINE_SOURCE_ENTRIES;
    let tmp = TempDir::new("hardening");
    let mut fed = Federation::new();
    let mut district = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let (r, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(change.clone());
    district.import(change, node::now_ms()).unwrap();
    let serves = |district: &mut Node, fed: &mut Federation, name: &str| {
        let (_, ok) = fed.new_initiative("cdcs-a", &format!("Sau: {name}"), false);
        fed.import_ok(ok.clone());
        let r = district.import(ok, node::now_ms()).unwrap();
        assert_eq!(r.accepted, 1, "{name}: the node stopped serving: {r:?}");
    };

    // Entries Automerge 0.7 would panic on (the node used to exit 101).
    let (r1, change) = fed.new_initiative("cdcs-a", "Máy ép", false);
    fed.import_ok(change.clone());
    district.import(change, node::now_ms()).unwrap();
    let cases = vec![
        (
            "later change naming an object that does not exist",
            missing_object(&mut fed, r),
            "names an object that does not exist",
        ),
        (
            "later change inserting after a list element that does not exist",
            insert_after_missing(&mut fed, r1),
            "names a list element that does not exist",
        ),
    ];
    for (name, e, expected) in cases {
        let before = digest(&district);
        let said = deliver(&mut district, e.bytes());
        assert!(
            said.contains(expected),
            "{name}: expected {expected:?}, got {said:?}"
        );
        assert_eq!(digest(&district), before, "{name}: the store changed");
        serves(&mut district, &mut fed, name);
    }

    // 800 chained edits of one record in one batch: each applied once (no timed assertion;
    // the figure is printed).
    let (r2, first) = fed.new_initiative("cdcs-a", "Nhiều lần sửa", false);
    fed.import_ok(first.clone());
    district.import(first, node::now_ms()).unwrap();
    let edits: Vec<Entry> = (0..800u64)
        .map(|n| fed.edit_initiative(r2, |i| i.benefit_vnd = 1_000 + n))
        .collect();
    let bytes: usize = edits.iter().map(|e| e.bytes().len()).sum();
    let t = std::time::Instant::now();
    let rep = district.import(edits, node::now_ms()).unwrap();
    eprintln!(
        "800 chained edits ({bytes} bytes) imported in {:?}",
        t.elapsed()
    );
    assert_eq!(rep.accepted, 800, "{:?}", rep.rejected.first());
    serves(&mut district, &mut fed, "chained edits");

    // A flood from one key without a certificate: it fills only its own share of the
    // quarantine; another source's entry still waits there, and valid entries are stored.
    let fed_id = fed.genesis.federation_id();
    let stranger = |n: u8| {
        sync_protocol::author::Author::new(
            fed_id,
            unit("cdcs-la"),
            sync_protocol::testkit::key_of(n),
        )
    };
    let flooder = stranger(201);
    let binding = fed.binding(r);
    let body = fed.decision_body(r, DecisionKind::Submit, binding, None);
    let t0 = fed.tick();
    let flood: Vec<Entry> = (0..=MAX_QUARANTINE_SOURCE_ENTRIES as u64)
        .map(|i| flooder.sign(t0 + i, body.clone()))
        .collect();
    let before = digest(&district);
    let rep = district.import(flood, node::now_ms()).unwrap();
    assert_eq!(rep.quarantined.len(), MAX_QUARANTINE_SOURCE_ENTRIES);
    assert_eq!(rep.rejected.len(), 1, "{:?}", rep.rejected.first());
    assert!(
        rep.rejected[0]
            .1
            .contains("no room in quarantine for its signer"),
        "{:?}",
        rep.rejected[0]
    );
    assert_eq!(digest(&district), before, "the flood changed the store");
    let other = stranger(202).sign(fed.tick(), body.clone());
    let said = deliver(&mut district, other.bytes());
    assert!(
        said.contains("quarantined: waiting for certificate"),
        "another source's entry: {said}"
    );
    serves(&mut district, &mut fed, "quarantine flood");

    // An inflation bomb: a correctly signed bundle whose header announces 6.8 GB.
    let author = sync_protocol::author::Author::new(
        fed.genesis.federation_id(),
        unit("ldld-tuy-hoa"),
        fed.signing_key("ldld-tuy-hoa").clone(),
    );
    let bomb = tmp.path().join("bomb.bundle");
    node::bundle::write_signed_raw(
        &bomb,
        &author,
        &unit("ldld-tuy-hoa"),
        None,
        node::now_ms(),
        6_800_000_000,
        &[0u8; 1024],
    )
    .unwrap();
    let err = node::bundle::read_signed(&bomb, district.directory())
        .expect_err("a bomb")
        .to_string();
    assert!(
        err.contains("over the limit of 536870912 bytes (MAX_BUNDLE_INFLATED_BYTES)"),
        "{err}"
    );
    // One whose header is modest but whose stream inflates past it: stopped at the header's
    // size, never inflated further.
    let zeros = {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut payload = 1u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&1000u32.to_be_bytes());
        z.write_all(&payload).unwrap();
        z.write_all(&vec![0u8; 4 * 1024 * 1024]).unwrap();
        z.finish().unwrap()
    };
    let liar = tmp.path().join("liar.bundle");
    node::bundle::write_signed_raw(
        &liar,
        &author,
        &unit("ldld-tuy-hoa"),
        None,
        node::now_ms(),
        1008,
        &zeros,
    )
    .unwrap();
    let err = node::bundle::read_signed(&liar, district.directory())
        .expect_err("a liar")
        .to_string();
    assert!(err.contains("1008 bytes its header announces"), "{err}");
    serves(&mut district, &mut fed, "inflation bomb");
}

/// A peer that offers exactly `entries` (whatever they are) in a real sync session: the
/// initiator's side of the protocol over a QUIC connection, without a node behind it.
struct Offer {
    keys: sync_protocol::sync::SortedKeys<Vec<sync_protocol::sync::SyncKey>>,
    entries: std::collections::BTreeMap<EntryHash, Vec<u8>>,
}

impl sync_protocol::sync::SyncSource for Offer {
    fn summarize(
        &self,
        lower: Option<&sync_protocol::sync::Bound>,
        upper: &sync_protocol::sync::Bound,
    ) -> (usize, sync_protocol::sync::Fingerprint) {
        self.keys.summarize(lower, upper)
    }
    fn keys_in(
        &self,
        lower: Option<&sync_protocol::sync::Bound>,
        upper: &sync_protocol::sync::Bound,
    ) -> Vec<sync_protocol::sync::SyncKey> {
        self.keys.keys_in(lower, upper)
    }
    fn hash_of(&self, id: &sync_protocol::sync::IdPrefix) -> Option<EntryHash> {
        self.keys.hash_of(id)
    }
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        self.entries.get(hash).cloned()
    }
}

async fn offer_over_quic(
    endpoint: &node::quic::QuicEndpoint,
    addr: std::net::SocketAddr,
    federation: sync_protocol::ids::FederationId,
    entries: &[Entry],
) {
    use sync_protocol::sync::{Message, Role, SyncKey, SyncSession};
    let mut keys: Vec<SyncKey> = entries
        .iter()
        .map(|e| SyncKey {
            time_ms: e.time_ms(),
            hash: e.hash(),
        })
        .collect();
    keys.sort();
    keys.dedup();
    let src = Offer {
        keys: sync_protocol::sync::SortedKeys::new(keys),
        entries: entries
            .iter()
            .map(|e| (e.hash(), e.bytes().to_vec()))
            .collect(),
    };
    let c = endpoint.connect(addr).await.expect("connect");
    let (mut tx, mut rx) = c.split();
    let now = node::now_ms();
    let mut s = SyncSession::new(Role::Initiator, federation, now);
    s.start(now, &src, None);
    loop {
        while let Some(m) = s.poll_transmit() {
            if tx.send_frame(&m.encode()).await.is_err() {
                return;
            }
        }
        while s.poll_event().is_some() {}
        if s.is_finished() {
            tx.finish().ok();
            while let Ok(Some(_)) = rx.recv_frame().await {}
            return;
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv_frame()).await;
        match frame {
            Ok(Ok(Some(f))) => s.handle_message(node::now_ms(), Message::decode(&f).unwrap(), &src),
            _ => return,
        }
    }
}

#[tokio::test]
async fn a_sync_session_delivering_an_entry_automerge_would_panic_on_rejects_it_and_the_next_succeeds(
) {
    use node::quic::{FederationVerifier, QuicEndpoint, QuicIdentity};
    use std::sync::{Arc, RwLock};
    let tmp = TempDir::new("panic-entry-quic");
    let mut fed = Federation::new();
    let mut server = node_for(&fed, tmp.path(), "ldld-tuy-hoa");
    let mut client = node_for(&fed, tmp.path(), "cdcs-a");
    let (r, change) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(change.clone());
    server.import(change.clone(), node::now_ms()).unwrap();
    client.import(change, node::now_ms()).unwrap();
    let bad = missing_object(&mut fed, r);
    let bind = |n: &Node| {
        let id = QuicIdentity::for_node(n).unwrap();
        let dir = Arc::new(RwLock::new(n.directory().clone()));
        QuicEndpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            &id,
            FederationVerifier::for_directory(dir),
        )
        .unwrap()
    };
    let (es, ec) = (bind(&server), bind(&client));
    let addr = es.local_addr().unwrap();
    let fed_id = server.federation();
    let before = digest(&server);
    let (res, _) = tokio::join!(
        serve_one(&es, &mut server),
        offer_over_quic(&ec, addr, fed_id, std::slice::from_ref(&bad))
    );
    let out = res.expect("the session itself completes");
    let why = out
        .import
        .rejected
        .iter()
        .find(|(h, _)| *h == bad.hash().to_hex())
        .map(|(_, why)| why.clone())
        .unwrap_or_else(|| panic!("not rejected: {out:?}"));
    assert!(why.contains("names an object that does not exist"), "{why}");
    assert_eq!(digest(&server), before, "the store changed");
    // The next session, from a real node with a new initiative, succeeds.
    let (_, ok) = fed.new_initiative("cdcs-a", "Sau phiên xấu", false);
    fed.import_ok(ok.clone());
    client.import(ok, node::now_ms()).unwrap();
    let valid = async {
        let c = ec.connect(addr).await.expect("connect");
        node::sync::sync_over_quic(
            &mut client,
            c,
            sync_protocol::sync::Role::Initiator,
            None,
            node::now_ms,
        )
        .await
    };
    let (s, c) = tokio::join!(serve_one(&es, &mut server), valid);
    let (s, c) = (s.expect("server"), c.expect("client"));
    assert_eq!(s.import.accepted, 1, "{s:?} {c:?}");
}

// ---- paging arguments of `initiative list` and `initiative search` (issue 13, h-report) ------

/// `--limit` and `--page` outside their bounds are refused naming the flag and the bound, in
/// the person's language, the store unchanged; a valid page then answers.
#[test]
fn paging_arguments_outside_their_bounds_are_refused() {
    use sync_protocol::limits::{MAX_PAGE_ITEMS_COUNT, MAX_PAGE_NUMBER};
    let tmp = TempDir::new("bad-paging");
    let data = tmp.path().join("tld");
    let d = data.to_str().unwrap();
    let o = support::sangkien(&["--data", d, "federation", "init"]);
    assert!(o.status.success(), "{}", support::text(&o));
    let before = digest(&Node::open(&data).expect("open"));
    let too_many = (MAX_PAGE_ITEMS_COUNT + 1).to_string();
    let too_far = (MAX_PAGE_NUMBER + 1).to_string();
    let cases: [(&[&str], &str, &str); 9] = [
        (
            &["initiative", "list", "--limit", "0"],
            "--limit 0",
            "mỗi trang có từ 1 đến",
        ),
        (
            &["initiative", "list", "--limit", &too_many],
            "--limit",
            "a page holds from 1 to",
        ),
        (
            &["initiative", "list", "--page", "0"],
            "--page 0",
            "số trang từ 1 đến",
        ),
        (
            &["initiative", "list", "--page", &too_far],
            "--page",
            "pages are numbered from 1 to",
        ),
        (
            &["initiative", "search", "x", "--limit", "0"],
            "--limit 0",
            "mỗi trang có từ 1 đến",
        ),
        (
            &["initiative", "list", "--status", "nope"],
            "--status \"nope\"",
            "chọn một trong",
        ),
        // ---- list and search filters through the word index (search_index) ----
        (
            &["initiative", "search", "may", "--status", "nope"],
            "--status \"nope\"",
            "choose one of",
        ),
        (
            &["initiative", "list", "--sector", "nope"],
            "--sector",
            "nope",
        ),
        (
            &["initiative", "search", "may", "--unit", "nobody-here"],
            "nobody-here",
            "nobody-here",
        ),
    ];
    for (i, (args, flag, words)) in cases.iter().enumerate() {
        let lang = if words.is_ascii() { "en" } else { "vi" };
        let mut all = vec!["--lang", lang, "--data", d];
        all.extend_from_slice(args);
        let o = support::sangkien(&all);
        let out = support::text(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {out}");
        assert!(out.contains(flag) && out.contains(words), "case {i}: {out}");
    }
    assert_eq!(digest(&Node::open(&data).expect("open")), before);
    let o = support::sangkien(&[
        "--data",
        d,
        "initiative",
        "list",
        "--page",
        "3",
        "--limit",
        "5",
    ]);
    assert!(o.status.success(), "{}", support::text(&o));
}

// ---------------------------------------------------------------------------------------------
// Enrolment requests, certificate files and revocations (issue 16, items 1-3).

/// `sangkien --data DATA ARGS...` in Vietnamese (the default).
fn at_vi(data: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    support::sangkien(&all)
}

/// The store digest of the node in `dir` (opened and closed again).
fn digest_at(dir: &Path) -> blake3::Hash {
    digest(&Node::open(dir).unwrap())
}

#[test]
fn bad_enrolment_requests_and_revocations_are_refused_and_the_parent_keeps_serving() {
    let tmp = TempDir::new("enrol-requests");
    let demo = tmp.path().join("demo");
    let o = support::sangkien(&["demo", "--no-serve", "--dir", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", support::text(&o));
    let (tld, province, district) = (
        demo.join("tld"),
        demo.join("ldld-phu-yen"),
        demo.join("ldld-tuy-hoa"),
    );
    let file = |n: &str| tmp.path().join(n);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = file("answer.json");

    // A genuine rotation request of the district, then altered or forged copies of it.
    let o = at_vi(
        &district,
        &["unit", "request", "--rotate", "--out", &s(&file("rot.txt"))],
    );
    assert!(o.status.success(), "{}", support::text(&o));
    let genuine = std::fs::read_to_string(file("rot.txt")).unwrap();
    let altered = genuine.replacen("name Liên đoàn", "name Liên minh", 1);
    assert_ne!(altered, genuine);
    let other_key = hex::encode(node::keys::generate().verifying_key().to_bytes());
    let forged: String = genuine
        .lines()
        .map(|l| {
            if l.starts_with("key ") {
                format!("key {other_key}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let garbage = "sangkien-enrolment-request 1\nunit x\n";
    // A first enrolment request for a unit that is already certified.
    let o = at_vi(
        &file("again"),
        &[
            "unit",
            "request",
            "--id",
            "ldld-tuy-hoa",
            "--name",
            "Liên đoàn Lao động thành phố Tuy Hòa",
            "--role",
            "direct-superior",
            "--parent",
            "ldld-phu-yen",
            "--out",
            &s(&file("again.txt")),
        ],
    );
    assert!(o.status.success(), "{}", support::text(&o));
    std::fs::write(file("altered.txt"), &altered).unwrap();
    std::fs::write(file("forged.txt"), &forged).unwrap();
    std::fs::write(file("garbage.txt"), garbage).unwrap();
    std::fs::write(file("huge.txt"), "x".repeat(5000)).unwrap();

    let before = digest_at(&province);
    let cases: [(&str, String, &str); 5] = [
        (
            "altered request",
            s(&file("altered.txt")),
            "yêu cầu đã bị sửa hoặc giả mạo",
        ),
        (
            "request signed for another key",
            s(&file("forged.txt")),
            "yêu cầu đã bị sửa hoặc giả mạo",
        ),
        (
            "not a request",
            s(&file("garbage.txt")),
            "không phải là yêu cầu kết nạp hợp lệ",
        ),
        (
            "request over its size limit",
            s(&file("huge.txt")),
            "vượt giới hạn 4096",
        ),
        (
            "first enrolment of a certified unit",
            s(&file("again.txt")),
            "đơn vị đã được chứng thực",
        ),
    ];
    for (what, path, says) in &cases {
        let o = at_vi(
            &province,
            &["unit", "enrol", "--request", path, "--out", &s(&out)],
        );
        assert_eq!(o.status.code(), Some(2), "{what}: {}", support::text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{what}: {err}");
        assert!(!out.exists(), "{what}: no certificate file");
        assert_eq!(
            digest_at(&province),
            before,
            "{what}: the store is unchanged"
        );
    }

    // The genuine request is then certified and accepted; replaying it is refused (it replaces
    // a certificate that is no longer current), and so is a certificate file at a node that
    // waits for no such key.
    let o = at_vi(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            &s(&file("rot.txt")),
            "--out",
            &s(&out),
        ],
    );
    assert!(o.status.success(), "{}", support::text(&o));
    let o = at_vi(&district, &["unit", "accept", &s(&out)]);
    assert!(o.status.success(), "{}", support::text(&o));
    let before = digest_at(&province);
    let o = at_vi(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            &s(&file("rot.txt")),
            "--out",
            &s(&file("replay.json")),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", support::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("không còn hiệu lực"),
        "{}",
        support::text(&o)
    );
    assert_eq!(digest_at(&province), before);
    let o = at_vi(&district, &["unit", "accept", &s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", support::text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("không có yêu cầu kết nạp hoặc đổi khóa nào đang chờ"),
        "{}",
        support::text(&o)
    );

    // Revocations: an unknown fingerprint, an ambiguous prefix (the national node holds 17
    // keys, so two share a first digit at least), something that is no fingerprint, a time that
    // does not exist. Nothing is signed.
    let list = at_vi(&tld, &["--json", "unit", "list"]);
    let units: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let mut keys: Vec<String> = units
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["keys"].as_array().unwrap().iter())
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 16, "{}", keys.len());
    let shared = keys
        .windows(2)
        .map(|w| {
            let n = w[0]
                .bytes()
                .zip(w[1].bytes())
                .take_while(|(a, b)| a == b)
                .count();
            w[0][..n].to_owned()
        })
        .max_by_key(|p| p.len())
        .unwrap();
    assert!(!shared.is_empty());
    let unknown = (0..16u8)
        .map(|d| format!("{d:x}{d:x}{d:x}{d:x}{d:x}{d:x}{d:x}{d:x}"))
        .find(|p| !keys.iter().any(|k| k.starts_with(p.as_str())))
        .unwrap();
    let before = digest_at(&tld);
    let revocations: [(&str, Vec<&str>, &str); 5] = [
        (
            "unknown fingerprint",
            vec!["--key", &unknown],
            "không có khóa nào bắt đầu bằng",
        ),
        (
            "ambiguous prefix",
            vec!["--key", &shared],
            "khóa; hãy gõ thêm chữ số",
        ),
        (
            "not a fingerprint",
            vec!["--key", "khóa-xyz"],
            "không phải dấu vân tay khóa",
        ),
        (
            "unknown unit",
            vec!["--unit", "ldld-khong-co"],
            "đơn vị không có ở nút này",
        ),
        (
            "a time that does not exist",
            vec!["--unit", "ldld-phu-yen", "--from", "31/02/2025 08:00"],
            "không đọc được ngày giờ",
        ),
    ];
    for (what, args, says) in &revocations {
        let mut all = vec!["unit", "revoke", "--reason", "thử", "--yes"];
        all.extend(args.iter().copied());
        let o = at_vi(&tld, &all);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", support::text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{what}: {err}");
        assert_eq!(digest_at(&tld), before, "{what}: nothing signed");
    }
    // The parent's key cannot be revoked by its child (not an ancestor): the verifier says so
    // before anything is asked or signed.
    let before = digest_at(&province);
    let o = at_vi(
        &province,
        &[
            "unit", "revoke", "--unit", "tld", "--reason", "thử", "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", support::text(&o));
    assert_eq!(digest_at(&province), before);
    // And the node keeps serving: a valid revocation by unit id goes through.
    let o = at_vi(
        &province,
        &[
            "unit",
            "revoke",
            "--unit",
            "cdcs-bv-phu-yen",
            "--reason",
            "giải thể",
            "--yes",
        ],
    );
    assert!(o.status.success(), "{}", support::text(&o));
    assert_ne!(digest_at(&province), before);
}

// ---- re-organisation plans (issue 16) ------------------------------------------------------

/// Bad plan files and bad re-organisation commands: each refused with exit 2 and a sentence
/// naming the line and what is wrong, nothing written (the store's digest unchanged).
#[test]
fn bad_reorganisation_plans_are_refused_and_change_nothing() {
    let dir = support::TempDir::new("bad-plan");
    let data = dir.path().join("tld");
    let d = data.to_str().unwrap();
    let o = support::sangkien(&["--data", d, "federation", "init"]);
    assert!(o.status.success(), "{}", support::text(&o));
    let plans: &[(&str, &str, &str)] = &[
        ("move,a,b\n", "thiếu dòng ngày hiệu lực", "no effective date line"),
        ("effective,31/06/2025\n", "dòng 1", "line 1: \"31/06/2025\": not a date"),
        ("effective,01/07/2025\nsplit,a,b\n", "lệnh không rõ", "line 2: unknown instruction"),
        ("effective,01/07/2025\nmove,a\n", "dòng 2", "line 2: move takes 3 fields, found 2"),
        ("effective,01/07/2025\nmove,t99,tld\n", "không có ở nút này", "line 2: t99: no such unit"),
        ("effective,01/07/2025\nclose,tld\n", "đơn vị gốc", "the root unit cannot be"),
        (
            "effective,01/07/2025\nnew,x1,direct-superior,tld,Công đoàn X\nnew,x1,grassroots,x1,Y\n",
            "mã đơn vị đã có",
            "line 3: x1: the unit id is taken",
        ),
        (
            "effective,01/07/2025\nnew,x1,provincial,tld,Tỉnh\nnew,x2,provincial,x1,Tỉnh con\n",
            "không được đặt dưới",
            "may not sit under",
        ),
    ];
    let before = std::fs::read_dir(&data).unwrap().count();
    for (i, (plan, vi, en)) in plans.iter().enumerate() {
        let file = dir.path().join(format!("plan{i}.txt"));
        std::fs::write(&file, plan).unwrap();
        let f = file.to_str().unwrap();
        for (lang, want) in [("vi", vi), ("en", en)] {
            let o = support::sangkien(&[
                "--lang",
                lang,
                "--data",
                d,
                "unit",
                "reorganise",
                "--plan",
                f,
            ]);
            assert_eq!(o.status.code(), Some(2), "{plan:?}: {}", support::text(&o));
            assert!(
                support::text(&o).contains(want),
                "{plan:?} ({lang}): {}",
                support::text(&o)
            );
        }
    }
    // An oversized plan is refused before it is read.
    let big = dir.path().join("big.txt");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(sync_protocol::limits::MAX_PLAN_BYTES + 1)
        .unwrap();
    let o = support::sangkien(&[
        "--lang",
        "en",
        "--data",
        d,
        "unit",
        "reorganise",
        "--plan",
        big.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        support::text(&o).contains("over the limit of"),
        "{}",
        support::text(&o)
    );
    // Nothing was certified: the list still holds the root alone, no keys were written.
    let o = support::sangkien(&["--data", d, "--json", "unit", "list"]);
    let units: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(units.as_array().map(|a| a.len()), Some(1), "{units}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), before);
}

// ---------------------------------------------------------------------------------------------
// The members' self-registration page: `sangkien node registration` (issue 15, item 4).

/// A bad `--url` is refused naming the flag, in the person's language, the page left closed;
/// opening and closing are kept in the store (they survive the process: a restart).
#[test]
fn bad_registration_addresses_are_refused_and_the_state_is_kept() {
    let tmp = TempDir::new("bad-registration");
    let data = tmp.path().join("tld");
    let d = data.to_str().unwrap();
    let o = support::sangkien(&["--data", d, "federation", "init"]);
    assert!(o.status.success(), "{}", support::text(&o));
    let before = digest(&Node::open(&data).expect("open"));
    let long = format!("http://{}", "a".repeat(600));
    for (lang, url, words) in [
        (
            "vi",
            "ftp://192.168.1.20/register",
            "cần một địa chỉ http://",
        ),
        (
            "en",
            "http://192.168.1.20/dang ky",
            "needs an http:// or https://",
        ),
        ("en", long.as_str(), "at most 512 characters"),
        ("vi", "", "cần một địa chỉ http://"),
    ] {
        let o = support::sangkien(&[
            "--lang",
            lang,
            "--data",
            d,
            "node",
            "registration",
            "open",
            "--url",
            url,
        ]);
        let out = support::text(&o);
        assert_eq!(o.status.code(), Some(2), "{url}: {out}");
        assert!(out.contains("--url") && out.contains(words), "{url}: {out}");
    }
    let status = |lang: &str| {
        let o = support::sangkien(&[
            "--lang",
            lang,
            "--data",
            d,
            "node",
            "registration",
            "status",
        ]);
        assert!(o.status.success(), "{}", support::text(&o));
        support::text(&o)
    };
    assert!(status("vi").contains("đang ĐÓNG"), "closed by default");
    assert_eq!(
        digest(&Node::open(&data).expect("open")),
        before,
        "no entry written"
    );
    let o = support::sangkien(&[
        "--data",
        d,
        "node",
        "registration",
        "open",
        "--url",
        "http://192.168.1.20:7480/register",
    ]);
    assert!(o.status.success(), "{}", support::text(&o));
    let now = status("en");
    assert!(
        now.contains("is OPEN") && now.contains("http://192.168.1.20:7480/register"),
        "kept by the next process: {now}"
    );
    let o = support::sangkien(&["--json", "--data", d, "node", "registration", "close"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["open"], false);
    assert!(status("vi").contains("đang ĐÓNG"));
}
