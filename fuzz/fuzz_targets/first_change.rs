//! Fuzzes the first-change fast path (`record::OpTree`) against Automerge.
//!
//! Mode 0 builds a first change with Automerge's own API from a script of operations (as the
//! property test does, for much longer): whenever the fast path takes the change, every field
//! it reads must equal what Automerge reads. Mode 1 wraps arbitrary bytes in a change chunk with
//! a correct checksum, so that adversarial operation columns reach Automerge's parser and, when
//! it accepts them, the fast path: no panic, and the same agreement.
#![no_main]

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT};
use libfuzzer_sys::fuzz_target;
use sync_protocol::record::{self, AutomergeChange, Fields, OpTree};

fn same<A: Fields, B: Fields>(a: &A, ao: &A::Obj, b: &B, bo: &B::Obj, depth: usize) {
    if depth > 32 {
        return;
    }
    let keys = a.map_keys(ao);
    assert_eq!(keys, b.map_keys(bo));
    assert_eq!(a.len(ao), b.len(bo));
    for k in &keys {
        assert_eq!(a.scalar(ao, k), b.scalar(bo, k), "scalar {k}");
        match (a.map(ao, k), b.map(bo, k)) {
            (Some(x), Some(y)) => same(a, &x, b, &y, depth + 1),
            (None, None) => {}
            _ => panic!("map {k} on one side only"),
        }
        match (a.list(ao, k), b.list(bo, k)) {
            (Some(x), Some(y)) => {
                assert_eq!(a.len(&x), b.len(&y));
                for i in 0..a.len(&x) {
                    match (a.map_at(&x, i), b.map_at(&y, i)) {
                        (Some(p), Some(q)) => same(a, &p, b, &q, depth + 1),
                        (None, None) => {}
                        _ => panic!("list {k}[{i}] map on one side only"),
                    }
                }
            }
            (None, None) => {}
            _ => panic!("list {k} on one side only"),
        }
    }
}

fn compare(change: &AutomergeChange) {
    let tree = OpTree::from_first_change(change);
    let doc = record::load_document([change.clone()], [0; 16]);
    if let Some(tree) = tree {
        let doc = doc.expect("the fast path took a change Automerge refuses");
        same(&doc, &ROOT, &tree, &tree.root(), 0);
    }
}

fn scripted(data: &[u8]) {
    let mut doc = record::new_document([5; 16]);
    let mut maps: Vec<ObjId> = vec![ROOT];
    let mut lists: Vec<ObjId> = Vec::new();
    let keys = ["a", "b", "c", "title", "phase", "authors"];
    for op in data.chunks_exact(3).take(64) {
        let (kind, obj, arg) = (op[0] % 8, op[1] as usize, op[2]);
        let key = keys[arg as usize % keys.len()];
        let m = maps[obj % maps.len()].clone();
        let _ = match kind {
            0 => doc.put(&m, key, i64::from(arg)).map(|_| ()),
            1 => doc.put(&m, key, "văn bản").map(|_| ()),
            2 => doc.put_object(&m, key, ObjType::Map).map(|o| maps.push(o)),
            3 => doc
                .put_object(&m, key, ObjType::List)
                .map(|o| lists.push(o)),
            4 | 5 if !lists.is_empty() => {
                let l = lists[obj % lists.len()].clone();
                let at = arg as usize % (automerge::ReadDoc::length(&doc, &l) + 1);
                if kind == 4 {
                    doc.insert(&l, at, i64::from(arg)).map(|_| ())
                } else {
                    doc.insert_object(&l, at, ObjType::Map)
                        .map(|o| maps.push(o))
                }
            }
            6 => doc.delete(&m, key),
            7 => doc.put_object(&m, key, ObjType::Text).map(|_| ()),
            _ => Ok(()),
        };
    }
    let Some(h) = doc.commit() else { return };
    let c = doc.get_change_by_hash(&h).expect("committed");
    compare(&AutomergeChange::from_automerge(&c).expect("automerge's own change"));
}

fn raw(body: &[u8]) {
    use sha2::{Digest, Sha256};
    let mut header = vec![1u8];
    let mut n = body.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            header.push(b);
            break;
        }
        header.push(b | 0x80);
    }
    let mut h = Sha256::new();
    h.update(&header);
    h.update(body);
    let hash = h.finalize();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83];
    chunk.extend_from_slice(&hash[..4]);
    chunk.extend_from_slice(&header);
    chunk.extend_from_slice(body);
    if let Ok(change) = AutomergeChange::from_entry_bytes(&chunk) {
        compare(&change);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((m, rest)) if m % 2 == 0 => scripted(rest),
        Some((_, rest)) => raw(rest),
        None => {}
    }
});
