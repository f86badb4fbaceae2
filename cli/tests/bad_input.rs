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

    let total = entry_cases + bundle_cases.len() + cli_cases.len();
    eprintln!(
        "bad-input catalogue: {entry_cases} entries, {} bundles, {} command lines = {total}",
        bundle_cases.len(),
        cli_cases.len()
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
    keys: Vec<sync_protocol::sync::SyncKey>,
    entries: std::collections::BTreeMap<EntryHash, Vec<u8>>,
}

impl sync_protocol::sync::SyncSource for Offer {
    fn keys(&self) -> &[sync_protocol::sync::SyncKey] {
        &self.keys
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
    let src = Offer {
        keys,
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
