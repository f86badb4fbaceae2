//! Sessions joined by in-memory queues: convergence for any two sets, the fast path, bounds,
//! duplicated and reordered delivery.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;

use super::*;
use crate::ids::{EntryHash, FederationId};

/// A side's entries: hash → (time, bytes).
#[derive(Default)]
struct Side {
    entries: BTreeMap<EntryHash, (u64, Vec<u8>)>,
    keys: Vec<SyncKey>,
    sorted: SortedKeys<Vec<SyncKey>>,
}

impl Clone for Side {
    fn clone(&self) -> Self {
        let mut s = Side {
            entries: self.entries.clone(),
            keys: Vec::new(),
            sorted: SortedKeys::default(),
        };
        s.reindex();
        s
    }
}

impl Side {
    fn new(items: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Self {
        let mut s = Side::default();
        for (t, b) in items {
            s.add(t, b);
        }
        s.reindex();
        s
    }
    fn add(&mut self, t: u64, b: Vec<u8>) {
        let h = EntryHash(*blake3::hash(&b).as_bytes());
        self.entries.insert(h, (t, b));
    }
    fn reindex(&mut self) {
        self.keys = self
            .entries
            .iter()
            .map(|(h, (t, _))| SyncKey {
                time_ms: *t,
                hash: *h,
            })
            .collect();
        self.keys.sort();
        self.sorted = SortedKeys::new(self.keys.clone());
    }
    fn sorted(&self) -> &SortedKeys<Vec<SyncKey>> {
        &self.sorted
    }
    /// Received bytes carry their time in the first 8 bytes (test encoding).
    fn receive(&mut self, b: Vec<u8>) {
        let t = u64::from_be_bytes(b[..8].try_into().unwrap());
        self.add(t, b);
    }
}

impl SyncSource for Side {
    fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint) {
        self.sorted().summarize(lower, upper)
    }
    fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey> {
        self.sorted().keys_in(lower, upper)
    }
    fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        self.sorted().split(lower, upper, parts)
    }
    fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash> {
        self.sorted().hash_of(id)
    }
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        self.entries.get(hash).map(|(_, b)| b.clone())
    }
}

fn item(t: u64, n: u64) -> (u64, Vec<u8>) {
    let mut b = t.to_be_bytes().to_vec();
    b.extend_from_slice(&n.to_le_bytes());
    (t, b)
}

const FED: FederationId = FederationId([3; 32]);

/// What a run did.
#[derive(Debug, Default)]
struct Run {
    round_trips: u64,
    bytes: u64,
    steps: usize,
}

/// Runs one session between `a` (initiator) and `b` to quiescence. Messages are encoded and
/// decoded on the way, as a transport would. `dup` duplicates every n-th message.
fn run(a: &mut Side, b: &mut Side, cursor: Option<u64>, dup: Option<usize>) -> Run {
    let mut sa = SyncSession::new(Role::Initiator, FED, 0);
    let mut sb = SyncSession::new(Role::Responder, FED, 0);
    sa.start(0, a, cursor);
    let mut to_b: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_a: VecDeque<Vec<u8>> = VecDeque::new();
    let mut run = Run::default();
    let mut sent = 0usize;
    let mut last_dir_a = None;
    loop {
        run.steps += 1;
        assert!(run.steps < 10_000, "no quiescence");
        for (s, side, q, from_a) in [
            (&mut sa, &mut *a, &mut to_b, true),
            (&mut sb, &mut *b, &mut to_a, false),
        ] {
            while let Some(m) = s.poll_transmit() {
                let bytes = m.encode();
                run.bytes += bytes.len() as u64;
                if matches!(m, Message::Hello { .. } | Message::Ranges(_))
                    && last_dir_a != Some(from_a)
                {
                    if from_a {
                        run.round_trips += 1;
                    }
                    last_dir_a = Some(from_a);
                }
                sent += 1;
                if dup.is_some_and(|n| sent.is_multiple_of(n)) {
                    q.push_back(bytes.clone());
                }
                q.push_back(bytes);
            }
            while let Some(e) = s.poll_event() {
                match e {
                    Event::Received(es) => es.into_iter().for_each(|b| side.receive(b)),
                    Event::Misbehaved(w) => panic!("misbehaved: {w}"),
                    Event::TimedOut => panic!("timed out"),
                    Event::Finished(_) => {}
                }
            }
        }
        if to_a.is_empty() && to_b.is_empty() {
            break;
        }
        if let Some(m) = to_b.pop_front() {
            sb.handle_message(1, Message::decode(&m).unwrap(), b);
        }
        if let Some(m) = to_a.pop_front() {
            sa.handle_message(1, Message::decode(&m).unwrap(), a);
        }
    }
    a.reindex();
    b.reindex();
    run
}

fn sets(n_common: u64, only_a: &[u64], only_b: &[u64]) -> (Side, Side) {
    let common: Vec<_> = (0..n_common).map(|i| item(1_000 + i, i)).collect();
    let a = Side::new(
        common
            .iter()
            .cloned()
            .chain(only_a.iter().map(|&t| item(t, 1_000_000 + t))),
    );
    let b = Side::new(
        common
            .into_iter()
            .chain(only_b.iter().map(|&t| item(t, 2_000_000 + t))),
    );
    (a, b)
}

#[test]
fn identical_sets_take_one_round_trip() {
    let (mut a, mut b) = sets(10_000, &[], &[]);
    let r = run(&mut a, &mut b, None, None);
    assert_eq!(r.round_trips, 1);
    assert_eq!(a.keys, b.keys);
}

#[test]
fn one_difference_in_ten_thousand_converges_in_few_bytes() {
    let (mut a, mut b) = sets(10_000, &[5_000], &[]);
    let r = run(&mut a, &mut b, None, None);
    assert_eq!(a.keys, b.keys);
    assert!(r.round_trips <= 4, "{r:?}");
    assert!(r.bytes < 4_000, "{r:?}");
}

#[test]
fn the_cursor_fast_path_takes_one_round_trip() {
    let (mut a, mut b) = sets(10_000, &[20_000, 20_001], &[20_002]);
    let r = run(&mut a, &mut b, Some(11_000), None);
    assert_eq!(a.keys, b.keys);
    assert_eq!(r.round_trips, 1, "{r:?}");
}

#[test]
fn a_wrong_cursor_still_converges() {
    // Old entries arrived after the cursor was taken: the fingerprint below it differs.
    let (mut a, mut b) = sets(5_000, &[1_500, 20_000], &[1_600]);
    let r = run(&mut a, &mut b, Some(11_000), None);
    assert_eq!(a.keys, b.keys);
    assert!(r.round_trips >= 2);
}

#[test]
fn duplicated_messages_still_converge() {
    let (mut a, mut b) = sets(3_000, &[10, 20, 4_000], &[30, 5_000]);
    run(&mut a, &mut b, None, Some(2));
    assert_eq!(a.keys, b.keys);
}

#[test]
fn a_want_for_something_not_offered_is_not_served() {
    let (a, _) = sets(10, &[], &[]);
    let mut s = SyncSession::new(Role::Responder, FED, 0);
    s.handle_message(
        0,
        Message::Hello {
            version: 1,
            federation: FED,
            cursor_ms: None,
            ranges: vec![Range {
                upper: Bound::Infinity,
                payload: RangePayload::Skip,
            }],
        },
        &a,
    );
    while s.poll_transmit().is_some() {}
    s.handle_message(1, Message::Want(vec![IdPrefix([9; 16])]), &a);
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn protocol_violations_are_reported() {
    let (a, _) = sets(10, &[], &[]);
    for (first, why) in [
        (Message::Done, "first message"),
        (
            Message::Hello {
                version: 9,
                federation: FED,
                cursor_ms: None,
                ranges: vec![],
            },
            "version",
        ),
        (
            Message::Hello {
                version: 1,
                federation: FederationId([4; 32]),
                cursor_ms: None,
                ranges: vec![],
            },
            "federation",
        ),
        (
            Message::Hello {
                version: 1,
                federation: FED,
                cursor_ms: None,
                ranges: vec![Range {
                    upper: Bound::Key {
                        time_ms: 5,
                        prefix: vec![],
                    },
                    payload: RangePayload::Skip,
                }],
            },
            "infinity",
        ),
    ] {
        let mut s = SyncSession::new(Role::Responder, FED, 0);
        s.handle_message(0, first, &a);
        match s.poll_event() {
            Some(Event::Misbehaved(w)) => assert!(w.contains(why), "{w}"),
            other => panic!("expected misbehaviour about {why}, got {other:?}"),
        }
    }
}

#[test]
fn a_silent_peer_times_out() {
    let mut s = SyncSession::new(Role::Responder, FED, 0);
    assert_eq!(s.poll_timeout(), Some(SESSION_TIMEOUT_MS));
    s.handle_timeout(SESSION_TIMEOUT_MS - 1);
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(SESSION_TIMEOUT_MS);
    assert_eq!(s.poll_event(), Some(Event::TimedOut));
}

#[test]
fn message_bounds_are_checked_before_allocation() {
    // A want claiming more hashes than the limit.
    let mut bytes = vec![3u8];
    write_leb(&mut bytes, crate::limits::MAX_IDS_COUNT as u64 + 1);
    assert!(matches!(
        Message::decode(&bytes),
        Err(MessageError::Malformed(
            crate::codec::DecodeError::TooLong { .. }
        ))
    ));
    // At the limit, the count is accepted (and the body is then missing).
    let mut bytes = vec![3u8];
    write_leb(&mut bytes, crate::limits::MAX_IDS_COUNT as u64);
    assert!(matches!(
        Message::decode(&bytes),
        Err(MessageError::Malformed(
            crate::codec::DecodeError::Truncated { .. }
        ))
    ));
    let huge = vec![0u8; crate::limits::MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        Message::decode(&huge),
        Err(MessageError::TooLarge(_))
    ));
    // Bounds must increase: two bounds at one time, the second with a smaller prefix.
    let m = Message::Ranges(vec![
        Range {
            upper: Bound::Key {
                time_ms: 9,
                prefix: vec![5],
            },
            payload: RangePayload::Skip,
        },
        Range {
            upper: Bound::Key {
                time_ms: 9,
                prefix: vec![3],
            },
            payload: RangePayload::Skip,
        },
    ]);
    assert!(Message::decode(&m.encode()).is_err());
}

fn write_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_two_sets_converge(
        common in 0u64..600,
        only_a in proptest::collection::vec(0u64..5_000, 0..40),
        only_b in proptest::collection::vec(0u64..5_000, 0..40),
        cursor in proptest::option::of(0u64..6_000),
    ) {
        let (mut a, mut b) = sets(common, &only_a, &only_b);
        let mut union: Vec<SyncKey> = a.keys.iter().chain(b.keys.iter()).copied().collect();
        union.sort();
        union.dedup();
        run(&mut a, &mut b, cursor, None);
        prop_assert_eq!(&a.keys, &union);
        prop_assert_eq!(&b.keys, &union);
    }

    #[test]
    fn messages_round_trip(
        times in proptest::collection::vec(any::<u64>(), 1..20),
        ids in proptest::collection::vec(any::<[u8; 16]>(), 0..20),
    ) {
        let mut times = times;
        times.sort();
        times.dedup();
        let mut ranges: Vec<Range> = times
            .iter()
            .enumerate()
            .map(|(i, t)| Range {
                upper: Bound::Key { time_ms: *t, prefix: vec![i as u8; i % 3] },
                payload: match i % 3 {
                    0 => RangePayload::Skip,
                    1 => RangePayload::Fingerprint(Fingerprint([i as u8; 16])),
                    _ => RangePayload::IdList(ids.iter().map(|b| IdPrefix(*b)).collect()),
                },
            })
            .collect();
        ranges.push(Range { upper: Bound::Infinity, payload: RangePayload::Skip });
        for m in [
            Message::Ranges(ranges.clone()),
            Message::Hello { version: 1, federation: FED, cursor_ms: times.first().copied(), ranges },
            Message::Want(ids.iter().map(|b| IdPrefix(*b)).collect()),
            Message::Entries(ids.iter().map(|b| b.to_vec()).collect()),
            Message::Done,
        ] {
            prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }
}

// ---- Session deadlines (issue 12): a fixed end that no message moves ----

/// A hello that leaves the responder waiting for an entry it lacks, so the session stays open.
fn open_hello() -> Message {
    Message::Hello {
        version: 1,
        federation: FED,
        cursor_ms: None,
        ranges: vec![Range {
            upper: Bound::Infinity,
            payload: RangePayload::IdList(vec![IdPrefix([9; 16])]),
        }],
    }
}

#[test]
fn re_sent_hellos_do_not_extend_a_session() {
    let (a, _) = sets(10, &[], &[]);
    let deadlines = Deadlines {
        total_ms: 10_000,
        idle_ms: 3_000,
    };
    let mut s = SyncSession::with_deadlines(Role::Responder, FED, 0, deadlines);
    s.handle_message(0, open_hello(), &a);
    while s.poll_transmit().is_some() {}
    assert_eq!(s.poll_event(), None);
    // A hello every second: not progress, so the idle bound set by the first one holds.
    for t in [1_000, 2_000, 2_999] {
        s.handle_message(t, open_hello(), &a);
        s.handle_timeout(t);
        assert_eq!(s.poll_event(), None, "at {t} ms");
        assert_eq!(s.poll_timeout(), Some(3_000));
    }
    s.handle_message(3_000, open_hello(), &a);
    assert_eq!(s.poll_event(), Some(Event::TimedOut));
    assert!(!s.is_finished());
}

#[test]
fn progress_moves_the_idle_bound_but_never_the_end() {
    let (a, _) = sets(10, &[], &[]);
    let deadlines = Deadlines {
        total_ms: 10_000,
        idle_ms: 3_000,
    };
    let mut s = SyncSession::with_deadlines(Role::Responder, FED, 0, deadlines);
    s.handle_message(0, open_hello(), &a);
    let step = Message::Ranges(vec![Range {
        upper: Bound::Infinity,
        payload: RangePayload::Skip,
    }]);
    // Progress every two seconds: the idle bound is never reached...
    for t in [2_000, 4_000, 6_000, 8_000] {
        s.handle_message(t, step.clone(), &a);
        s.handle_timeout(t);
        assert_eq!(s.poll_event(), None, "at {t} ms");
    }
    // ...but the end stays where the session's start put it: at N - 1 still open, at N over.
    assert_eq!(s.poll_timeout(), Some(10_000));
    s.handle_message(9_999, step.clone(), &a);
    s.handle_timeout(9_999);
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_timeout(), Some(10_000));
    s.handle_message(10_000, step, &a);
    assert_eq!(s.poll_event(), Some(Event::TimedOut));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn the_default_deadlines_are_the_limits() {
    let d = Deadlines::default();
    assert_eq!(d.total_ms, crate::limits::MAX_SESSION_DURATION_MS);
    assert_eq!(d.idle_ms, crate::limits::MAX_SESSION_IDLE_MS);
}

// ---- h-sync: the range queries of an offer ----

proptest! {
    /// `SortedKeys` answers every range as the slice it stands for: count and fingerprint from
    /// running sums (a subset's sum subtracted), keys, and cuts into non-empty parts.
    #[test]
    fn sorted_keys_answer_ranges_as_their_slices(
        items in proptest::collection::btree_set((0u64..50, 0u64..1_000), 0..200),
        cuts in proptest::collection::vec((0u64..52, proptest::collection::vec(any::<u8>(), 0..3)), 1..6),
    ) {
        let side = Side::new(items.iter().map(|(t, n)| item(*t, *n)));
        let keys = side.keys.clone();
        let mut bounds: Vec<Bound> = cuts
            .into_iter()
            .map(|(time_ms, prefix)| Bound::Key { time_ms, prefix })
            .collect();
        bounds.push(Bound::Infinity);
        let below = |b: &Bound| keys.partition_point(|k| b.is_above(k));
        for (i, upper) in bounds.iter().enumerate() {
            for lower in std::iter::once(None).chain(bounds[..i].iter().map(Some)) {
                let lo = lower.map(below).unwrap_or(0);
                let hi = below(upper).max(lo);
                let slice = &keys[lo..hi];
                let (n, fp) = side.summarize(lower, upper);
                prop_assert_eq!(n, slice.len());
                prop_assert_eq!(fp, fingerprint(slice));
                prop_assert_eq!(side.keys_in(lower, upper), slice.to_vec());
                if slice.len() > BRANCHING_FOR_TEST {
                    let parts = side.split(lower, upper, BRANCHING_FOR_TEST);
                    let mut prev = lower.cloned();
                    let mut total = 0;
                    for b in parts.iter().chain(std::iter::once(upper)) {
                        let (c, _) = side.summarize(prev.as_ref(), b);
                        prop_assert!(c > 0, "every part holds keys");
                        total += c;
                        prev = Some(b.clone());
                    }
                    prop_assert_eq!(total, slice.len());
                }
            }
        }
        for k in &keys {
            prop_assert_eq!(side.hash_of(&IdPrefix::of(&k.hash)), Some(k.hash));
        }
    }
}

const BRANCHING_FOR_TEST: usize = 16;
