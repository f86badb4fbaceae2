//! The report and listing index: what a progress report and a page of the initiative list
//! need that the counters ([`crate::counters`]) do not hold, materialised with the entry that
//! changes it, so that a report costs O(children + days) and a page O(page), never O(records).
//!
//! Three sled trees of its own, written in the same transaction as the entries and views
//! (`SledStore::commit`), checked by `node check` and rebuilt by `node check --repair`:
//!
//! | tree       | key                                                   | value |
//! |------------|-------------------------------------------------------|-------|
//! | `rx_rows`  | record id (16)                                        | [`Row`] encoding |
//! | `rx_list`  | list status (1, or [`ALL`]) ‖ origin ‖ 0 ‖ record (16) | empty |
//! |            | [`PROGRAMMES`] ‖ record (16)                          | empty |
//! | `rx_sub`   | unit ‖ 0 ‖ `d` ‖ programme (16) ‖ phase (4) ‖ day (8, BE, sign flipped) | count (i64 BE) |
//! |            | unit ‖ 0 ‖ `c` ‖ list status (1)                       | count (i64 BE) |
//!
//! `rx_sub` counts a unit's whole subtree (the tree the counters follow, [`counters::TREE_TIME`]):
//! the per-day registration series of each programme phase, and the initiatives by list status
//! (the status a listing shows: `conflict` apart from `registered`). When a certificate moves a
//! unit, its subtree rows move from its old ancestors to its new ones, as the counters do.
//!
//! The day of an initiative is its Mẫu 1 registration date; a confidential initiative seen only
//! through its projection has none here, and counts on the day of its first entry held.
//!
//! Presence is marked by [`META_KEY`] in the meta tree (not by the schema number): a node
//! without it (an older node, or one whose build was interrupted) builds the index when it
//! opens, from the stored entries, and only then sets the key.

use std::collections::{BTreeMap, BTreeSet};

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sync_protocol::audit::RecordReport;
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, Entry, EntryBody, RecordKind};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{Initiative, RecordContent};
use sync_protocol::store::{EntryLookup, StoreError};
use sync_protocol::text::fold_for_search;

use crate::counters;

/// The meta key that marks a complete index.
pub const META_KEY: &str = "index.report.v1";

/// The index's trees, opened after the store's own (`SledStore::trees`).
pub const TREES: [&str; 3] = ["rx_rows", "rx_list", "rx_sub"];
/// Positions of the index's trees in `SledStore::trees`.
pub mod t {
    use crate::sled_store::TREES as STORE_TREES;
    /// rx_rows
    pub const ROWS: usize = STORE_TREES.len();
    /// rx_list
    pub const LIST: usize = STORE_TREES.len() + 1;
    /// rx_sub
    pub const SUB: usize = STORE_TREES.len() + 2;
    /// All three.
    pub const ALL: [usize; 3] = [ROWS, LIST, SUB];
}

/// List status codes, in the order of their one-byte index.
pub const STATUS_CODES: [&str; 9] = [
    "registered",
    "conflict",
    "submit",
    "return",
    "reject",
    "approve",
    "recognise",
    "award-typical",
    "award-excellent",
];
/// The `rx_list` prefix of every initiative, whatever its status.
pub const ALL: u8 = 0xff;
/// The `rx_list` prefix of programme records (`PROGRAMMES` ‖ record id): the few records a
/// report reads to choose its programme, listed without walking the store.
pub const PROGRAMMES: u8 = 0xfe;
/// Kind byte of a per-day series row in `rx_sub`.
pub const DAY: u8 = b'd';
/// Kind byte of a by-status count row in `rx_sub`.
pub const COUNT: u8 = b'c';

/// The one-byte index of a list status code.
pub fn status_index(code: &str) -> Option<u8> {
    STATUS_CODES
        .iter()
        .position(|c| *c == code)
        .map(|i| i as u8)
}

/// The list status of an initiative: conflict, else its last decision, else registered.
pub fn list_status(conflict: bool, last: Option<DecisionKind>) -> u8 {
    let code = match (conflict, last) {
        (true, _) => "conflict",
        (false, None) => "registered",
        (false, Some(k)) => k.code(),
    };
    status_index(code).unwrap_or(0)
}

/// What the index holds of one valid initiative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Origin unit.
    pub origin: UnitId,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
    /// List status ([`STATUS_CODES`] index).
    pub status: u8,
    /// Registration day (days since 1970-01-01), or the day of its first entry held.
    pub day: i64,
    /// Title, as written.
    pub title: String,
    /// Title, summary and authors, each folded for search, one per line.
    pub text: String,
}

fn folded(s: &str) -> String {
    fold_for_search(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Row {
    /// The row of a full initiative record.
    pub fn of_initiative(i: &Initiative, status: u8) -> Self {
        let mut text = vec![folded(i.title.as_str()), folded(i.summary.as_str())];
        text.extend(i.authors.iter().map(|a| folded(a.name.as_str())));
        Row {
            origin: i.origin.clone(),
            programme: i.programme.map(|p| (p, i.phase)),
            status,
            day: i.registered_on.days_since_epoch(),
            title: i.title.to_string(),
            text: text.join("\n"),
        }
    }

    /// The row of an initiative seen through its projection (`first_ms`: its first entry).
    pub fn projection(
        origin: UnitId,
        p: &sync_protocol::entry::Projection,
        status: u8,
        first_ms: u64,
    ) -> Self {
        Row {
            origin,
            programme: p.programme.map(|x| (x, p.phase)),
            status,
            day: Date::from_unix_ms(first_ms).days_since_epoch(),
            title: p.title.to_string(),
            text: [folded(p.title.as_str()), folded(p.summary.as_str())].join("\n"),
        }
    }

    /// The stored encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.title.len() + self.text.len());
        let o = self.origin.as_str().as_bytes();
        out.push(o.len() as u8);
        out.extend_from_slice(o);
        match self.programme {
            Some((p, ph)) => {
                out.push(1);
                out.extend_from_slice(&p.0);
                out.extend_from_slice(&ph.to_be_bytes());
            }
            None => out.push(0),
        }
        out.push(self.status);
        out.extend_from_slice(&self.day.to_be_bytes());
        out.extend_from_slice(&(self.title.len() as u32).to_be_bytes());
        out.extend_from_slice(self.title.as_bytes());
        out.extend_from_slice(&(self.text.len() as u32).to_be_bytes());
        out.extend_from_slice(self.text.as_bytes());
        out
    }

    /// Decodes; `None` when the bytes are not a row.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut c = b;
        let mut take = |n: usize| -> Option<&[u8]> {
            if c.len() < n {
                return None;
            }
            let (a, rest) = c.split_at(n);
            c = rest;
            Some(a)
        };
        let n = take(1)?[0] as usize;
        let origin = UnitId::new(std::str::from_utf8(take(n)?).ok()?).ok()?;
        let programme = match take(1)?[0] {
            0 => None,
            1 => {
                let p = RecordId(take(16)?.try_into().ok()?);
                let ph = u32::from_be_bytes(take(4)?.try_into().ok()?);
                Some((p, ph))
            }
            _ => return None,
        };
        let status = take(1)?[0];
        if status as usize >= STATUS_CODES.len() {
            return None;
        }
        let day = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let n = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        let title = std::str::from_utf8(take(n)?).ok()?.to_string();
        let n = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        let text = std::str::from_utf8(take(n)?).ok()?.to_string();
        c.is_empty().then_some(Row {
            origin,
            programme,
            status,
            day,
            title,
            text,
        })
    }
}

/// The row of a record from its verification (`None`: not a valid initiative here): the
/// reference `node check` compares the stored rows with.
pub fn row_from_report<L: EntryLookup>(
    lookup: &L,
    rep: &RecordReport,
) -> Result<Option<Row>, StoreError> {
    let Some(h) = &rep.header else {
        return Ok(None);
    };
    if h.kind != RecordKind::Initiative || !rep.is_valid() {
        return Ok(None);
    }
    let status = list_status(!rep.conflicts.is_empty(), rep.status.as_ref().map(|s| s.0));
    Ok(match (&rep.content, rep.latest_projection) {
        (Some(RecordContent::Initiative(i)), _) => Some(Row::of_initiative(i, status)),
        (_, Some(p)) => {
            let Some(e) = lookup.entry(&p)? else {
                return Ok(None);
            };
            let EntryBody::Projection(p) = e.body() else {
                return Ok(None);
            };
            let first = lookup
                .record_entries(&rep.record)?
                .iter()
                .map(|e| e.time_ms())
                .min()
                .unwrap_or(0);
            Some(Row::projection(h.owner.clone(), p, status, first))
        }
        _ => None,
    })
}

/// The programme record an entry creates or changes, if any.
pub fn programme_record(e: &Entry) -> Option<RecordId> {
    match e.body() {
        EntryBody::RecordChange(c) if c.kind == RecordKind::Programme => Some(c.record),
        _ => None,
    }
}

/// `rx_list` key of a programme record.
pub fn programme_key(record: RecordId) -> Vec<u8> {
    let mut k = vec![PROGRAMMES];
    k.extend_from_slice(&record.0);
    k
}

/// The programme records held (validity is the reader's to check).
pub fn programme_records(
    store: &crate::sled_store::SledStore,
) -> Result<Vec<RecordId>, StoreError> {
    let mut out = Vec::new();
    for k in store.tree(t::LIST).scan_prefix([PROGRAMMES]).keys() {
        let k = k.map_err(|e| crate::sled_store::err("rx_list", e))?;
        if let Ok(r) = <[u8; 16]>::try_from(&k[1..]) {
            out.push(RecordId(r));
        }
    }
    Ok(out)
}

/// `rx_list` key.
pub fn list_key(status: u8, origin: &UnitId, record: RecordId) -> Vec<u8> {
    let mut k = list_prefix(status, origin);
    k.extend_from_slice(&record.0);
    k
}

/// `rx_list` prefix of one status (or [`ALL`]) and origin unit.
pub fn list_prefix(status: u8, origin: &UnitId) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + origin.as_str().len() + 16);
    k.push(status);
    k.extend_from_slice(origin.as_str().as_bytes());
    k.push(0);
    k
}

/// `rx_sub` prefix of one unit.
pub fn sub_prefix(unit: &UnitId) -> Vec<u8> {
    let mut k = unit.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

fn day_bytes(day: i64) -> [u8; 8] {
    ((day as u64) ^ (1 << 63)).to_be_bytes()
}

fn day_of(b: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(b.try_into().ok()?) ^ (1 << 63)) as i64)
}

/// `rx_sub` prefix of a unit's series for a phase.
pub fn series_prefix(unit: &UnitId, programme: RecordId, phase: u32) -> Vec<u8> {
    let mut k = sub_prefix(unit);
    k.push(DAY);
    k.extend_from_slice(&programme.0);
    k.extend_from_slice(&phase.to_be_bytes());
    k
}

/// `rx_sub` key of a unit's count of one day.
pub fn series_key(unit: &UnitId, programme: RecordId, phase: u32, day: i64) -> Vec<u8> {
    let mut k = series_prefix(unit, programme, phase);
    k.extend_from_slice(&day_bytes(day));
    k
}

/// `rx_sub` key of a unit's count of one list status.
pub fn count_key(unit: &UnitId, status: u8) -> Vec<u8> {
    let mut k = sub_prefix(unit);
    k.push(COUNT);
    k.push(status);
    k
}

/// The `rx_sub` rows (key suffix after the unit's prefix, delta) one row adds.
fn sub_suffixes(r: &Row) -> Vec<Vec<u8>> {
    let mut out = vec![vec![COUNT, r.status]];
    if let Some((p, ph)) = r.programme {
        let mut k = vec![DAY];
        k.extend_from_slice(&p.0);
        k.extend_from_slice(&ph.to_be_bytes());
        k.extend_from_slice(&day_bytes(r.day));
        out.push(k);
    }
    out
}

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn abort<T>(what: String) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(what))
}

/// Encodes a count.
pub fn count_value(n: i64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes a count.
pub fn count_of(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

/// What a batch changes in `rx_sub`, accumulated inside the transaction.
#[derive(Default)]
pub struct Pending {
    deltas: BTreeMap<Vec<u8>, i64>,
}

impl Pending {
    fn flush(&mut self, sub: &TransactionalTree) -> TxResult<()> {
        for (k, d) in std::mem::take(&mut self.deltas) {
            if d == 0 {
                continue;
            }
            let cur = match sub.get(&k)? {
                Some(v) => match count_of(&v) {
                    Some(n) => n,
                    None => return abort(format!("index row {} is damaged", hex::encode(&k))),
                },
                None => 0,
            };
            let n = cur + d;
            if n == 0 {
                sub.remove(k)?;
            } else {
                sub.insert(k, &count_value(n)[..])?;
            }
        }
        Ok(())
    }

    /// A unit moved from under `old_chain` to under `new_chain`: its subtree rows (those of
    /// `suffixes`, read before the transaction) move with it.
    pub fn move_unit(
        &mut self,
        tx: &[TransactionalTree],
        unit: &UnitId,
        old_chain: &[UnitId],
        new_chain: &[UnitId],
        suffixes: &BTreeSet<Vec<u8>>,
    ) -> TxResult<()> {
        let sub = &tx[t::SUB];
        self.flush(sub)?;
        let prefix = sub_prefix(unit);
        for s in suffixes {
            let mut k = prefix.clone();
            k.extend_from_slice(s);
            let Some(v) = sub.get(&k)? else { continue };
            let Some(n) = count_of(&v) else {
                return abort(format!("index row {} is damaged", hex::encode(&k)));
            };
            for (chain, sign) in [(old_chain, -1), (new_chain, 1)] {
                for a in chain {
                    let mut ak = sub_prefix(a);
                    ak.extend_from_slice(s);
                    *self.deltas.entry(ak).or_default() += sign * n;
                }
            }
        }
        Ok(())
    }

    /// Applies the new rows of a batch's records (the old ones are read from `rx_rows`);
    /// `chain` gives a unit and its ancestors in the counters' tree.
    pub fn apply_rows<'a>(
        &mut self,
        tx: &[TransactionalTree],
        rows: &[(RecordId, Option<Row>)],
        accepted: impl Iterator<Item = &'a Entry>,
        chain: impl Fn(&UnitId) -> TxResult<Vec<UnitId>>,
    ) -> TxResult<()> {
        for e in accepted {
            if let Some(r) = programme_record(e) {
                tx[t::LIST].insert(programme_key(r), &[][..])?;
            }
        }
        for (record, row) in rows {
            let old = match tx[t::ROWS].get(record.0)? {
                Some(v) => match Row::decode(&v) {
                    Some(r) => Some(r),
                    None => return abort(format!("index row of record {record} is damaged")),
                },
                None => None,
            };
            if old.as_ref() == row.as_ref() {
                continue;
            }
            for (r, sign) in [(&old, -1i64), (row, 1)] {
                let Some(r) = r else { continue };
                for k in [
                    list_key(r.status, &r.origin, *record),
                    list_key(ALL, &r.origin, *record),
                ] {
                    if sign < 0 {
                        tx[t::LIST].remove(k)?;
                    } else {
                        tx[t::LIST].insert(k, &[][..])?;
                    }
                }
                let suffixes = sub_suffixes(r);
                for u in chain(&r.origin)? {
                    let p = sub_prefix(&u);
                    for s in &suffixes {
                        let mut k = p.clone();
                        k.extend_from_slice(s);
                        *self.deltas.entry(k).or_default() += sign;
                    }
                }
            }
            match row {
                Some(r) => tx[t::ROWS].insert(&record.0, r.encode())?,
                None => tx[t::ROWS].remove(&record.0)?,
            };
        }
        self.flush(&tx[t::SUB])
    }
}

/// The suffixes of `rx_sub` rows the moved `units` hold (read before the transaction, which
/// cannot scan).
pub fn move_suffixes(
    sub: &sled::Tree,
    units: impl IntoIterator<Item = UnitId>,
) -> Result<BTreeSet<Vec<u8>>, StoreError> {
    let mut out = BTreeSet::new();
    for u in units {
        let prefix = sub_prefix(&u);
        for k in sub.scan_prefix(&prefix).keys() {
            let k = k.map_err(|e| crate::sled_store::err("rx_sub", e))?;
            out.insert(k[prefix.len()..].to_vec());
        }
    }
    Ok(out)
}

/// Every `rx_sub` row from scratch, from rows and the counters' tree: the reference.
pub fn recount_sub<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    chain: impl Fn(&UnitId) -> Result<Vec<UnitId>, StoreError>,
) -> Result<BTreeMap<Vec<u8>, i64>, StoreError> {
    let mut out: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for r in rows {
        let suffixes = sub_suffixes(r);
        for u in chain(&r.origin)? {
            let p = sub_prefix(&u);
            for s in &suffixes {
                let mut k = p.clone();
                k.extend_from_slice(s);
                *out.entry(k).or_default() += 1;
            }
        }
    }
    out.retain(|_, n| *n != 0);
    Ok(out)
}

/// A unit's subtree registrations of a phase, per day (O(days)).
pub fn series(
    store: &crate::sled_store::SledStore,
    unit: &UnitId,
    programme: RecordId,
    phase: u32,
) -> Result<BTreeMap<i64, u64>, StoreError> {
    let prefix = series_prefix(unit, programme, phase);
    let mut out = BTreeMap::new();
    for kv in store.tree(t::SUB).scan_prefix(&prefix) {
        let (k, v) = kv.map_err(|e| crate::sled_store::err("rx_sub", e))?;
        if let (Some(day), Some(n)) = (day_of(&k[prefix.len()..]), count_of(&v)) {
            out.insert(day, u64::try_from(n).unwrap_or(0));
        }
    }
    Ok(out)
}

/// A unit's subtree initiatives of one list status (or all, with `None`) (O(statuses)).
pub fn subtree_count(
    store: &crate::sled_store::SledStore,
    unit: &UnitId,
    status: Option<u8>,
) -> Result<u64, StoreError> {
    let mut n = 0i64;
    if status.is_none() {
        // Every status's count row is under one prefix: one short range, not a read each.
        let mut prefix = sub_prefix(unit);
        prefix.push(COUNT);
        for kv in store.tree(t::SUB).scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| crate::sled_store::err("rx_sub", e))?;
            if k.len() == prefix.len() + 1 && usize::from(k[prefix.len()]) < STATUS_CODES.len() {
                n += count_of(&v).unwrap_or(0);
            }
        }
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    for s in 0..STATUS_CODES.len() as u8 {
        if status.is_some_and(|x| x != s) {
            continue;
        }
        if let Some(v) = store
            .tree(t::SUB)
            .get(count_key(unit, s))
            .map_err(|e| crate::sled_store::err("rx_sub", e))?
        {
            n += count_of(&v).unwrap_or(0);
        }
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The stored row of a record.
pub fn row(
    store: &crate::sled_store::SledStore,
    record: RecordId,
) -> Result<Option<Row>, StoreError> {
    Ok(store
        .tree(t::ROWS)
        .get(record.0)
        .map_err(|e| crate::sled_store::err("rx_rows", e))?
        .and_then(|v| Row::decode(&v)))
}

/// The unit chain the counters use, read from the directory (the tree at
/// [`counters::TREE_TIME`]).
pub fn directory_chain(
    d: &sync_protocol::directory::Directory,
    unit: &UnitId,
) -> Result<Vec<UnitId>, StoreError> {
    counters::chain(unit, |u| Ok(d.parent_at(u, counters::TREE_TIME).cloned()))
}

/// Builds the index from the stored records when [`META_KEY`] is missing (a node made before
/// the index, or whose build was interrupted): clears its trees, writes every valid
/// initiative's rows (validity as the stored views say; the entries were verified when they
/// were accepted), then sets [`META_KEY`] and makes it durable. Returns whether it built.
pub fn build_if_missing(
    store: &crate::sled_store::SledStore,
    d: &sync_protocol::directory::Directory,
) -> Result<bool, StoreError> {
    use rayon::prelude::*;
    use sync_protocol::store::EntryStore;
    if store.meta(META_KEY)?.is_some() {
        return Ok(false);
    }
    let e = |name: &'static str| move |x: sled::Error| crate::sled_store::err(name, x);
    for i in t::ALL {
        store.tree(i).clear().map_err(e("report index"))?;
    }
    let records = store.records()?;
    let memo = sync_protocol::record::StateMemo::new();
    let mut sub: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for chunk in records.chunks(4096) {
        let rows = chunk
            .par_iter()
            .map(|r| {
                if store.view(*r)?.is_none() {
                    return Ok((*r, None));
                }
                let (_, row, _) = counters::view_row_of_verified(store, *r, &memo)?;
                Ok((*r, row))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut batch_rows = sled::Batch::default();
        let mut batch_list = sled::Batch::default();
        for (r, row) in rows {
            let Some(row) = row else {
                if store
                    .record_entries(&r)?
                    .iter()
                    .any(|e| programme_record(e).is_some())
                {
                    batch_list.insert(programme_key(r), &[][..]);
                }
                continue;
            };
            batch_rows.insert(&r.0, row.encode());
            batch_list.insert(list_key(row.status, &row.origin, r), &[][..]);
            batch_list.insert(list_key(ALL, &row.origin, r), &[][..]);
            let suffixes = sub_suffixes(&row);
            for u in directory_chain(d, &row.origin)? {
                let p = sub_prefix(&u);
                for s in &suffixes {
                    let mut k = p.clone();
                    k.extend_from_slice(s);
                    *sub.entry(k).or_default() += 1;
                }
            }
        }
        store
            .tree(t::ROWS)
            .apply_batch(batch_rows)
            .map_err(e("rx_rows"))?;
        store
            .tree(t::LIST)
            .apply_batch(batch_list)
            .map_err(e("rx_list"))?;
    }
    let mut batch = sled::Batch::default();
    for (k, n) in sub {
        if n != 0 {
            batch.insert(k, &count_value(n)[..]);
        }
    }
    store.tree(t::SUB).apply_batch(batch).map_err(e("rx_sub"))?;
    store.durable()?;
    store.set_meta(META_KEY, &[1])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_days_sort() {
        let r = Row {
            origin: UnitId::new("cdcs-a").unwrap(),
            programme: Some((RecordId([3; 16]), 2)),
            status: 4,
            day: -3,
            title: "Sáng kiến".into(),
            text: "sang kien\nx".into(),
        };
        assert_eq!(Row::decode(&r.encode()), Some(r.clone()));
        let mut e = r.encode();
        e.push(0);
        assert_eq!(Row::decode(&e), None);
        assert!(day_bytes(-1) < day_bytes(0) && day_bytes(0) < day_bytes(20_000));
        assert_eq!(day_of(&day_bytes(-5)), Some(-5));
        assert_eq!(status_index("conflict"), Some(1));
    }
}
