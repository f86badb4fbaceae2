//! `sangkien bench sync`: bytes and round trips of reconciliation, measured in process on the
//! same sets for this protocol, the `negentropy` crate (the reference range-based
//! reconciliation, a benchmark-only dependency), the naive method (send every hash) and
//! Automerge's own per-document sync; then a district's first full sync over loopback QUIC
//! against the store's own ingest rate, in the same run.
//!
//! Round trips count the initiator's reconciliation messages (its hello and each later step),
//! and for negentropy the client's messages: both are "ask, get an answer". Bytes count every
//! reconciliation message in both directions; entries themselves are counted as found
//! differences, except in the per-document comparison, whose totals include the entries.

use std::io::Write;

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use serde_json::json;
use sync_protocol::ids::{EntryHash, FederationId};
use sync_protocol::sync::{
    Bound, Fingerprint, IdPrefix, Message, Role, SortedKeys, SyncKey, SyncSession, SyncSource,
};

/// Start of the synthetic key space (2026-01-01, Unix ms).
const T0_MS: u64 = 1_767_225_600_000;
/// Spacing of synthetic entries in time.
const STEP_MS: u64 = 1_000;

/// One side's set for the benchmark: keys, and no entry bodies (reconciliation only).
struct KeySet {
    keys: SortedKeys<Vec<SyncKey>>,
}

impl SyncSource for KeySet {
    fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint) {
        self.keys.summarize(lower, upper)
    }
    fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey> {
        self.keys.keys_in(lower, upper)
    }
    fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        self.keys.split(lower, upper, parts)
    }
    fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash> {
        self.keys.hash_of(id)
    }
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        // Only reconciliation is measured: an entry is stood in for by its hash, and entry
        // messages are counted as found differences, not as bytes.
        Some(hash.0.to_vec())
    }
}

fn key(i: u64) -> SyncKey {
    SyncKey {
        time_ms: T0_MS + i * STEP_MS,
        hash: EntryHash(*blake3::hash(&i.to_le_bytes()).as_bytes()),
    }
}

/// Which of `n` keys the other side lacks.
fn missing(n: u64, d: u64, bunched: bool) -> Vec<u64> {
    if bunched {
        (n - d..n).collect()
    } else {
        // Spread evenly, offset so that none sits at the very end.
        let stride = n / d;
        (0..d).map(|j| j * stride + stride / 2).collect()
    }
}

/// One measured row.
pub struct Row {
    method: &'static str,
    entries: u64,
    differences: u64,
    layout: &'static str,
    round_trips: u64,
    bytes: u64,
    found: u64,
}

impl Row {
    fn to_json(&self) -> serde_json::Value {
        json!({"method": self.method, "entries": self.entries, "differences": self.differences,
               "layout": self.layout, "round_trips": self.round_trips, "bytes": self.bytes,
               "found": self.found})
    }
}

/// Runs this protocol between a full set and one lacking `lack`; `cursor` for the fast path.
fn ours(full: &[SyncKey], lack: &[u64], cursor: Option<u64>) -> (u64, u64, u64) {
    let lacking: std::collections::BTreeSet<u64> = lack.iter().copied().collect();
    let a = KeySet {
        keys: SortedKeys::new(full.to_vec()),
    };
    let b = KeySet {
        keys: SortedKeys::new(
            full.iter()
                .enumerate()
                .filter(|(i, _)| !lacking.contains(&(*i as u64)))
                .map(|(_, k)| *k)
                .collect(),
        ),
    };
    let fed = FederationId([0; 32]);
    // b initiates (the node that lacks entries pulls), a answers.
    let mut sb = SyncSession::new(Role::Initiator, fed, 0);
    let mut sa = SyncSession::new(Role::Responder, fed, 0);
    sb.start(0, &b, cursor);
    let (mut bytes, mut round_trips, mut wanted) = (0u64, 0u64, 0u64);
    for _ in 0..1_000 {
        let mut moved = false;
        let mut initiator_spoke = false;
        while let Some(m) = sb.poll_transmit() {
            moved = true;
            if matches!(m, Message::Hello { .. } | Message::Ranges(_)) {
                initiator_spoke = true;
            }
            let enc = m.encode();
            if let Message::Entries(e) = &m {
                wanted += e.len() as u64;
            } else {
                bytes += enc.len() as u64;
            }
            sa.handle_message(0, Message::decode(&enc).expect("own encoding"), &a);
        }
        if initiator_spoke {
            round_trips += 1;
        }
        while let Some(m) = sa.poll_transmit() {
            moved = true;
            let enc = m.encode();
            if let Message::Entries(e) = &m {
                wanted += e.len() as u64;
            } else {
                bytes += enc.len() as u64;
            }
            sb.handle_message(0, Message::decode(&enc).expect("own encoding"), &b);
        }
        while sa.poll_event().is_some() {}
        while sb.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    (round_trips, bytes, wanted)
}

fn negentropy_run(full: &[SyncKey], lack: &[u64]) -> (u64, u64, u64) {
    let lacking: std::collections::BTreeSet<u64> = lack.iter().copied().collect();
    let mut server = NegentropyStorageVector::with_capacity(full.len());
    let mut client = NegentropyStorageVector::with_capacity(full.len());
    for (i, k) in full.iter().enumerate() {
        let id = Id::from_byte_array(k.hash.0);
        server.insert(k.time_ms, id).expect("insert");
        if !lacking.contains(&(i as u64)) {
            client.insert(k.time_ms, id).expect("insert");
        }
    }
    server.seal().expect("seal");
    client.seal().expect("seal");
    let mut c = Negentropy::borrowed(&client, 0).expect("client");
    let mut s = Negentropy::borrowed(&server, 0).expect("server");
    let mut msg = c.initiate().expect("initiate");
    let (mut bytes, mut round_trips, mut need_total) = (msg.len() as u64, 0u64, 0u64);
    loop {
        round_trips += 1;
        let reply = s.reconcile(&msg).expect("reconcile");
        bytes += reply.len() as u64;
        let mut have = Vec::new();
        let mut need = Vec::new();
        match c
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .expect("reconcile")
        {
            Some(next) => {
                need_total += need.len() as u64;
                bytes += next.len() as u64;
                msg = next;
            }
            None => {
                need_total += need.len() as u64;
                break;
            }
        }
    }
    (round_trips, bytes, need_total)
}

/// Automerge's sync protocol run document by document: `docs` documents, `changed` of them
/// with one change the other side lacks. Returns (round trips of the slowest doc, bytes, and
/// the bytes of the changed documents' changes as this protocol's signed entries).
fn automerge_per_document(docs: u64, changed: u64) -> (u64, u64, u64) {
    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};
    let mut bytes = 0u64;
    let mut entry_bytes = 0u64;
    let mut max_rounds = 0u64;
    let every = docs / changed.max(1);
    let author = sync_protocol::author::Author::new(
        FederationId([1; 32]),
        sync_protocol::ids::UnitId::new("cdcs-bench").expect("valid id"),
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    );
    for i in 0..docs {
        let mut a = AutoCommit::new().with_actor(ActorId::from(i.to_le_bytes().to_vec()));
        a.put(ROOT, "title", format!("Sáng kiến {i}")).expect("put");
        a.put(ROOT, "benefit_vnd", i).expect("put");
        a.commit();
        let mut b = a
            .fork()
            .with_actor(ActorId::from(((i + 1) << 32).to_le_bytes().to_vec()));
        if changed > 0 && i % every == 0 {
            a.put(ROOT, "benefit_vnd", i + 1).expect("put");
            a.commit();
            let change = a.get_last_local_change().expect("just committed");
            let change = sync_protocol::record::AutomergeChange::from_automerge(&change)
                .expect("a small change");
            let e = author.sign(
                T0_MS + i,
                sync_protocol::entry::EntryBody::RecordChange(sync_protocol::entry::RecordChange {
                    record: sync_protocol::ids::RecordId([(i % 251) as u8; 16]),
                    kind: sync_protocol::entry::RecordKind::Initiative,
                    owner: author.unit().clone(),
                    confidential: false,
                    change,
                }),
            );
            entry_bytes += e.bytes().len() as u64;
        }
        let (mut sa, mut sb) = (State::new(), State::new());
        let mut rounds = 0u64;
        loop {
            let mut moved = false;
            if let Some(m) = a.sync().generate_sync_message(&mut sa) {
                let enc = m.encode();
                bytes += enc.len() as u64;
                b.sync()
                    .receive_sync_message(
                        &mut sb,
                        automerge::sync::Message::decode(&enc).expect("decode"),
                    )
                    .expect("receive");
                moved = true;
                rounds += 1;
            }
            if let Some(m) = b.sync().generate_sync_message(&mut sb) {
                let enc = m.encode();
                bytes += enc.len() as u64;
                a.sync()
                    .receive_sync_message(
                        &mut sa,
                        automerge::sync::Message::decode(&enc).expect("decode"),
                    )
                    .expect("receive");
                moved = true;
            }
            if !moved {
                break;
            }
        }
        max_rounds = max_rounds.max(rounds);
    }
    (max_rounds, bytes, entry_bytes)
}

/// Runs every case and prints one row per line (JSON with `json`). `quick` uses 100,000
/// entries instead of 1,000,000 (for a smoke test).
pub fn reconciliation(json: bool, quick: bool, out: &mut impl Write) -> std::io::Result<()> {
    let n: u64 = if quick { 100_000 } else { 1_000_000 };
    let full: Vec<SyncKey> = (0..n).map(key).collect();
    let mut rows = Vec::new();
    for d in [1u64, 100, 10_000] {
        for bunched in [true, false] {
            let layout = if bunched { "bunched" } else { "scattered" };
            let lack = missing(n, d, bunched);
            let (rt, b, found) = ours(&full, &lack, None);
            rows.push(Row {
                method: "sangkien",
                entries: n,
                differences: d,
                layout,
                round_trips: rt,
                bytes: b,
                found,
            });
            let (rt, b, found) = negentropy_run(&full, &lack);
            rows.push(Row {
                method: "negentropy",
                entries: n,
                differences: d,
                layout,
                round_trips: rt,
                bytes: b,
                found,
            });
            if bunched {
                // The peer synced before: it knows a cursor just before the new entries.
                let cursor = T0_MS + (n - d) * STEP_MS;
                let (rt, b, found) = ours(&full, &lack, Some(cursor));
                rows.push(Row {
                    method: "sangkien-cursor",
                    entries: n,
                    differences: d,
                    layout,
                    round_trips: rt,
                    bytes: b,
                    found,
                });
            }
            rows.push(Row {
                method: "naive",
                entries: n,
                differences: d,
                layout,
                round_trips: 1,
                bytes: 32 * (n - d),
                found: d,
            });
        }
    }
    // Automerge's per-document sync against this protocol over 100,000 documents, 1 % changed.
    let docs: u64 = if quick { 10_000 } else { 100_000 };
    let changed = docs / 100;
    let (rt, b, entry_bytes) = automerge_per_document(docs, changed);
    rows.push(Row {
        method: "automerge-per-document",
        entries: docs,
        differences: changed,
        layout: "scattered",
        round_trips: rt,
        bytes: b,
        found: changed,
    });
    let doc_keys: Vec<SyncKey> = (0..docs + changed).map(key).collect();
    let lack: Vec<u64> = (docs..docs + changed).collect();
    let (rt, b, found) = ours(&doc_keys, &lack, None);
    rows.push(Row {
        method: "sangkien",
        entries: docs + changed,
        differences: changed,
        layout: "documents",
        round_trips: rt,
        bytes: b + entry_bytes,
        found,
    });
    for r in &rows {
        if json {
            writeln!(out, "{}", r.to_json())?;
        } else {
            writeln!(
                out,
                "{:<24} entries {:>9} differences {:>6} {:<10} round trips {:>3} bytes {:>10} found {:>6}",
                r.method, r.entries, r.differences, r.layout, r.round_trips, r.bytes, r.found
            )?;
        }
    }
    Ok(())
}

/// Initiatives in the first-sync measurement.
const FIRST_SYNC_INITIATIVES: u64 = 10_000;
/// Entries per import batch when measuring the store's own ingest rate (about what one sync
/// message carries).
const INGEST_BATCH: usize = 3_000;

/// A district's first full sync of [`FIRST_SYNC_INITIATIVES`] initiatives to its province over
/// loopback QUIC, and, in the same run, the store's own ingest rate for the same entries.
pub fn first_sync(json: bool, out: &mut impl Write) -> Result<(), String> {
    use crate::storage_cli::synth;
    use node::node::FederationFile;
    use node::Node;
    use std::time::Instant;
    let tmp = std::env::temp_dir().join(format!("sangkien-bench-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let result = (|| -> Result<(f64, f64, u64), String> {
        let e = |e: node::NodeError| e.to_string();
        let (root, s) = synth::create(&tmp.join("tld"), 11, (1, 1, 10)).map_err(e)?;
        let (ff, genesis): (FederationFile, _) = root.federation_file().map_err(e)?;
        let trust = sync_protocol::store::EntryStore::trust_entries(root.store())
            .map_err(|x| x.to_string())?;
        // Nodes for the province (p0) and the district (p0-d0), holding the synthetic keys, and
        // a second province node for the baseline.
        let node_for = |id: &str, dir: &str| -> Result<Node, String> {
            let dir = tmp.join(dir);
            std::fs::create_dir_all(&dir).map_err(|x| x.to_string())?;
            node::keys::write_new(&dir.join(node::node::KEY_FILE), &s.signing_key(id))
                .map_err(|x| x.to_string())?;
            let unit = sync_protocol::ids::UnitId::new(id).map_err(|x| x.to_string())?;
            Node::create_enrolled(
                &dir,
                &ff,
                genesis.clone(),
                unit,
                trust.clone(),
                node::now_ms(),
            )
            .map_err(e)
        };
        let mut district = node_for("p0-d0", "district")?;
        let mut province = node_for("p0", "province")?;
        let mut baseline = node_for("p0", "baseline")?;
        let entries: Vec<_> = (0..FIRST_SYNC_INITIATIVES)
            .map(|n| s.initiative(n).0)
            .collect();
        let bytes: u64 = entries.iter().map(|x| x.bytes().len() as u64).sum();
        for chunk in entries.chunks(INGEST_BATCH) {
            district.import(chunk.to_vec(), node::now_ms()).map_err(e)?;
        }
        // The store's own ingest rate: the same entries' bytes in the same batches, decoded
        // (strict signature check), verified and stored through the ingest pipeline — what
        // the receiving side of a sync does too.
        let raw: Vec<Vec<u8>> = entries.iter().map(|x| x.bytes().to_vec()).collect();
        let t = Instant::now();
        let r = node::ingest::ingest(
            &mut baseline,
            raw.chunks(INGEST_BATCH)
                .map(|c| c.iter().collect::<Vec<_>>()),
            node::now_ms,
            |_, _| Ok(()),
        )
        .map_err(e)?;
        let ingest = FIRST_SYNC_INITIATIVES as f64 / t.elapsed().as_secs_f64();
        if r.accepted as u64 != FIRST_SYNC_INITIATIVES {
            return Err(format!(
                "the baseline stored {} of {FIRST_SYNC_INITIATIVES}",
                r.accepted
            ));
        }
        drop(root);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|x| x.to_string())?;
        let t = Instant::now();
        let (_, got) = rt
            .block_on(node::sync::sync_pair_over_quic(
                &mut district,
                &mut province,
                None,
            ))
            .map_err(|x| x.to_string())?;
        let quic = got.import.accepted as f64 / t.elapsed().as_secs_f64();
        if got.import.accepted as u64 != FIRST_SYNC_INITIATIVES {
            return Err(format!(
                "the province received {} of {FIRST_SYNC_INITIATIVES}",
                got.import.accepted
            ));
        }
        Ok((quic, ingest, bytes))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let (quic, ingest, bytes) = result?;
    let ratio = quic / ingest;
    if json {
        writeln!(
            out,
            "{}",
            json!({"method": "quic-first-sync", "entries": FIRST_SYNC_INITIATIVES, "entry_bytes": bytes,
                   "entries_per_s": quic.round(), "ingest_entries_per_s": ingest.round(),
                   "ratio_to_ingest": (ratio * 1000.0).round() / 1000.0})
        )
        .map_err(|x| x.to_string())?;
    } else {
        writeln!(
            out,
            "quic-first-sync          entries {:>9} over loopback QUIC: {:.0} entries/s; store ingest {:.0} entries/s; ratio {:.0} %",
            FIRST_SYNC_INITIATIVES, quic, ingest, ratio * 100.0
        )
        .map_err(|x| x.to_string())?;
    }
    Ok(())
}
