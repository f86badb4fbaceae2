//! The discrete-event engine: virtual time in milliseconds, one event queue ordered by (time,
//! sequence number), nodes running the real [`SyncSession`] and the real
//! [`import::import_batch`] over simulated links. Everything random comes from the seed.
//!
//! Model, in short:
//! - each non-root unit has one link to its parent; while the link is available (its preset's
//!   hours), the child starts a session every `sync_interval_minutes`, unless neither side's
//!   shared scope changed since their last completed session (the cursor fast path's "nothing
//!   new", skipped without a session);
//! - every message is encoded, delayed by latency and bandwidth, decoded and fed to the peer's
//!   session; a lost message cuts the connection (both sides drop the session, as QUIC would),
//!   and the next tick starts a fresh one;
//! - received entries go through `Entry::decode` (signature) and `import_batch` (verification
//!   and scope) into the node's [`SimStore`]; they are pending until the node's flush
//!   (`FLUSH_DELAY_MS` later), when they are acknowledged; a crash drops the pending part;
//! - what waits for something goes to the node's quarantine and is retried with every batch;
//! - the workload registers initiatives (one Automerge change, or two concurrent ones by the
//!   officer and the support team), submits them, and every level decides after its delay,
//!   binding to the heads (or the projection) it holds.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use automerge::ActorId;
use ed25519_dalek::SigningKey;
use sync_protocol::audit::verify_store;
use sync_protocol::author::Author;
use sync_protocol::date::Date;
use sync_protocol::directory::Directory;
use sync_protocol::entry::{
    Binding, Certificate, Decision, DecisionKind, Entry, EntryBody, Genesis, RecordChange,
    RecordKind, Sector, UnitRole,
};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId, UnitId, UnitKey};
use sync_protocol::import::import_batch;
use sync_protocol::limits::{
    MAX_DESCRIPTION_SECTION_CHARS, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, MAX_UNIT_NAME_CHARS,
};
use sync_protocol::record::{self, Application, Description, Initiative, RecordContent};
use sync_protocol::sync::{
    Bound, Event, Fingerprint, IdPrefix, Message, Role, SortedKeys, SyncKey, SyncSession,
    SyncSource,
};
use sync_protocol::text::Text;
use sync_protocol::verify::expected_decider;

use crate::report::{Counters, LinkStats, ReorgSummary, Report};
use crate::rng::Rng;
use crate::scenario::{LinkSpec, Scenario};
use crate::store::{Interner, KeySet, RecordsOnly, SharedTrust, SimStore, TrustBase};
use crate::topology::Tree;
use crate::SimError;

/// One hour of virtual time.
pub const HOUR_MS: u64 = 3_600_000;
/// One day of virtual time.
pub const DAY_MS: u64 = 24 * HOUR_MS;
/// Delay between an import and its flush (fsync); a crash in between loses the import.
pub const FLUSH_DELAY_MS: u64 = 50;
/// How often convergence is checked in the quiet phase.
pub const CHECK_INTERVAL_MS: u64 = 2 * HOUR_MS;
/// Days the national series extends past the quiet phase (decisions still arriving).
const MAX_EXTRA_DAYS: usize = 60;
/// Events kept for a failure's trace.
pub const TRACE_EVENTS: usize = 40;

/// The role classes reports use.
pub const LEVEL_NAMES: [&str; 4] = ["national", "level1", "direct_superior", "grassroots"];

fn level_of(role: UnitRole) -> usize {
    match role {
        UnitRole::National => 0,
        UnitRole::DirectSuperior => 2,
        UnitRole::Grassroots => 3,
        _ => 1,
    }
}

#[derive(Debug)]
enum Ev {
    LinkTick(usize),
    Deliver {
        sid: u64,
        to_parent: bool,
        bytes: Vec<u8>,
    },
    Flush(usize),
    Crash {
        node: usize,
        down_ms: u64,
    },
    Recover(usize),
    Restore {
        node: usize,
        age_ms: u64,
    },
    Backup(usize),
    OutageStart {
        child: usize,
        until: u64,
    },
    Bundle {
        from: usize,
        to: usize,
    },
    Forge(usize),
    Create(usize),
    Edit {
        record: RecordId,
        support: bool,
    },
    Submit(RecordId),
    Decide {
        node: usize,
        record: RecordId,
        previous: EntryHash,
    },
    Check,
    /// A re-organisation plan is signed (index into the scenario's `reorganisations`).
    Reorganise(usize),
    /// An ending unit's hourly hand-off session with its parent.
    HandOff(usize),
    /// A unit's end takes effect: its node retires.
    UnitEnds(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create,
    Edit,
    Projection,
    Decision(DecisionKind, usize),
}

#[derive(Clone, Debug)]
struct Meta {
    origin: usize,
    time: u64,
    conf_change: bool,
    kind: Kind,
}

struct Node {
    unit: UnitId,
    role: UnitRole,
    level: usize,
    parent: Option<usize>,
    link: Option<LinkSpec>,
    link_kind: String,
    author: Author,
    store: SimStore,
    quarantine: BTreeMap<EntryHash, Entry>,
    up: bool,
    flush_pending: bool,
    up_keys: KeySet,
    up_ver: u64,
    branch: BTreeMap<usize, KeySet>,
    branch_ver: BTreeMap<usize, u64>,
    synced: Option<(u64, u64)>,
    session: Option<u64>,
    outage_until: u64,
    busy: [u64; 2],
    backups: Vec<(u64, Vec<EntryHash>)>,
    wants_backups: bool,
    /// An ending unit (merged or closed): from this virtual time it decides nothing and hands
    /// its data on to its parent.
    stop_ms: Option<u64>,
    /// The virtual time its end takes effect (its keys sign nothing from then on).
    end_ms: Option<u64>,
    /// Its end has taken effect: the node is shut down (no sessions, no decisions).
    retired: bool,
}

/// What the origin holds of a record it is still editing.
enum RecordState {
    Whole,
    Missing,
    Lost,
}

struct Draft {
    doc: automerge::AutoCommit,
    fork: automerge::AutoCommit,
    initiative: Initiative,
    edits_left: u8,
}

/// What one side of a session offers: a snapshot of its sorted keys, taken when the session
/// starts. Entry bytes come from the run's interner (one shared copy of each entry), served only
/// for keys in the snapshot, so a side never offers what it did not hold.
struct Source {
    keys: SortedKeys<SnapshotKeys>,
    interner: Interner,
}

/// A shared snapshot of sorted keys.
#[derive(Default)]
struct SnapshotKeys(Rc<Vec<SyncKey>>);

impl AsRef<[SyncKey]> for SnapshotKeys {
    fn as_ref(&self) -> &[SyncKey] {
        &self.0
    }
}

impl SyncSource for Source {
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
        let interner = self.interner.borrow();
        let e = interner.get(hash)?;
        self.keys
            .contains(&SimStore::key_of(e))
            .then(|| e.bytes().to_vec())
    }
}

struct Sess {
    child: usize,
    parent: usize,
    init: SyncSession,
    resp: SyncSession,
    src_child: Source,
    src_parent: Source,
    in_flight: u32,
    versions: (u64, u64),
}

/// The fault rates of one seed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FaultProfile {
    /// Extra loss on every link (probability a message cuts its connection).
    pub loss: f64,
    /// Link outages drawn.
    pub outages: u32,
    /// Crashes drawn.
    pub crashes: u32,
    /// Restores from old backups drawn.
    pub restores: u32,
    /// USB bundles drawn.
    pub bundles: u32,
    /// Share of a bundle's entries carried twice.
    pub duplication: f64,
    /// Forged entries injected (must all be refused).
    pub forgeries: u32,
}

/// A violated invariant.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Violation {
    /// Invariant name.
    pub invariant: String,
    /// Virtual time, ms.
    pub at_ms: u64,
    /// What was seen.
    pub detail: String,
}

/// One simulation run.
pub struct Sim {
    sc: Scenario,
    seed: u64,
    rng: Rng,
    fed: sync_protocol::ids::FederationId,
    directory: Directory,
    interner: Rc<RefCell<BTreeMap<EntryHash, Rc<Entry>>>>,
    nodes: Vec<Node>,
    index: BTreeMap<UnitId, usize>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    now: u64,
    sessions: BTreeMap<u64, Sess>,
    next_sid: u64,
    meta: BTreeMap<EntryHash, Meta>,
    record_origin: BTreeMap<RecordId, usize>,
    changes: BTreeMap<RecordId, Vec<(ChangeHash, Vec<ChangeHash>, EntryHash)>>,
    projection_of: BTreeMap<RecordId, EntryHash>,
    drafts: BTreeMap<RecordId, Draft>,
    decided: BTreeSet<(usize, RecordId)>,
    scheduled: BTreeSet<(usize, RecordId)>,
    durable_copies: BTreeMap<EntryHash, u32>,
    wiped: BTreeSet<EntryHash>,
    ids: u64,
    workload_pending: u64,
    last_edit_ms: u64,
    last_fault_ms: u64,
    campaign_end: u64,
    end: u64,
    converged_at: Option<u64>,
    dropped_one: bool,
    /// The counters and series the report is made of.
    pub counters: Counters,
    /// Per link kind.
    pub link_stats: BTreeMap<String, LinkStats>,
    delays: [Vec<u64>; 3],
    national_daily: Vec<[u64; 4]>,
    violations: Vec<Violation>,
    trace: VecDeque<String>,
    profile: FaultProfile,
    /// Events processed.
    pub events: u64,
    trust: SharedTrust,
    plans: Vec<node::reorg::Plan>,
    /// Units that were an ancestor of a unit before a re-organisation and are not any more: they
    /// may hold (keep) the entries of its history.
    former: BTreeMap<usize, BTreeSet<usize>>,
    /// Units whose chain of ancestors a re-organisation changed.
    moved: BTreeSet<usize>,
    /// When the first re-organisation was signed (virtual ms).
    reorganised_at: Option<u64>,
    /// The level-1 unit each initiative held at the national node was reported under when the
    /// first plan was signed.
    totals_before: Option<BTreeMap<RecordId, Option<UnitId>>>,
    reorg: ReorgSummary,
    /// Each decision made, by the entry it cites as previous (after a re-organisation only).
    followed_by: BTreeMap<EntryHash, EntryHash>,
}

/// A unit's key in the simulation: derived from its id (the simulator's nodes, and the new
/// units a re-organisation certifies).
fn unit_key(id: &str) -> SigningKey {
    SigningKey::from_bytes(&blake3::derive_key(
        "sangkien simulations unit key v1",
        id.as_bytes(),
    ))
}

fn txt(field: &'static str, s: &str, limit: usize) -> Result<Text, SimError> {
    Text::new(field, s, limit).map_err(|e| SimError::Build(e.to_string()))
}

fn derive16(context: &str, seed: u64, n: u64) -> [u8; 16] {
    let mut input = seed.to_be_bytes().to_vec();
    input.extend_from_slice(&n.to_be_bytes());
    let full = blake3::derive_key(context, &input);
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

impl Sim {
    /// Builds the federation of `tree` (keys derived from the unit ids, certificates signed and
    /// imported once: every node is enrolled with them) and schedules the workload and faults.
    pub fn new(sc: &Scenario, tree: &Tree, seed: u64) -> Result<Self, SimError> {
        let links = sc.all_links();
        let plans = sc
            .reorganisations
            .iter()
            .map(|r| r.parsed())
            .collect::<Result<Vec<_>, _>>()?;
        let key = unit_key;
        let root = &tree.units[0];
        let root_id = UnitId::new(&root.id).map_err(|e| SimError::Build(e.to_string()))?;
        let genesis = Genesis {
            root_unit: root_id.clone(),
            root_name: txt("root name", &root.name, MAX_UNIT_NAME_CHARS)?,
            root_key: UnitKey(key(&root.id).verifying_key().to_bytes()),
        };
        let fed = genesis.federation_id();
        let t0 = sc.start_unix_ms - DAY_MS;
        let g = Author::new(fed, root_id.clone(), key(&root.id))
            .sign(t0, EntryBody::Genesis(genesis.clone()));
        let mut directory = Directory::new(genesis, g.hash());
        let mut trust = TrustBase::default();
        let mut authors = Vec::with_capacity(tree.units.len());
        let mut index = BTreeMap::new();
        trust.entries.push(g);
        for (i, u) in tree.units.iter().enumerate() {
            let id = UnitId::new(&u.id).map_err(|e| SimError::Build(format!("{}: {e}", u.id)))?;
            if index.insert(id.clone(), i).is_some() {
                return Err(SimError::Build(format!("unit {} twice", u.id)));
            }
            let k = key(&u.id);
            if let Some(p) = u.parent {
                let cert = Certificate {
                    unit: id.clone(),
                    name: txt("unit name", &u.name, MAX_UNIT_NAME_CHARS)?,
                    role: u.role,
                    parent: authors
                        .get(p)
                        .map(|a: &Author| a.unit().clone())
                        .ok_or_else(|| SimError::Build("parent after child".into()))?,
                    key: UnitKey(k.verifying_key().to_bytes()),
                    replaces: None,
                };
                let pa: &Author = &authors[p];
                trust
                    .entries
                    .push(pa.sign(t0 + i as u64, EntryBody::Certificate(cert)));
            }
            authors.push(Author::new(fed, id, k));
        }
        // Enrolment: the trust entries verified once, through the real import.
        let empty = Rc::new(RefCell::new(TrustBase::default()));
        let interner = Rc::new(RefCell::new(BTreeMap::new()));
        let scratch = SimStore::new(empty, interner.clone());
        for chunk in trust.entries.chunks(50_000) {
            let out = import_batch(
                &scratch,
                &mut directory,
                chunk.to_vec(),
                None,
                sc.start_unix_ms,
            )
            .map_err(|e| SimError::Build(e.to_string()))?;
            if out.accepted.len() != chunk.len() {
                return Err(SimError::Build(format!(
                    "enrolment: {} of {} trust entries accepted: {:?}",
                    out.accepted.len(),
                    chunk.len(),
                    out.rejected.first()
                )));
            }
        }
        trust.index = trust
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.hash(), i))
            .collect();
        let trust = Rc::new(RefCell::new(trust));
        let mut nodes = Vec::with_capacity(tree.units.len());
        for (u, author) in tree.units.iter().zip(authors) {
            let link =
                if u.parent.is_some() {
                    Some(links.get(&u.link).cloned().ok_or_else(|| {
                        SimError::Scenario(format!("unknown link preset {}", u.link))
                    })?)
                } else {
                    None
                };
            nodes.push(Node {
                unit: author.unit().clone(),
                role: u.role,
                level: level_of(u.role),
                parent: u.parent,
                link,
                link_kind: u.link.clone(),
                author,
                store: SimStore::new(trust.clone(), interner.clone()),
                quarantine: BTreeMap::new(),
                up: true,
                flush_pending: false,
                up_keys: KeySet::default(),
                up_ver: 0,
                branch: BTreeMap::new(),
                branch_ver: BTreeMap::new(),
                synced: None,
                session: None,
                outage_until: 0,
                busy: [0, 0],
                backups: Vec::new(),
                wants_backups: false,
                stop_ms: None,
                end_ms: None,
                retired: false,
            });
        }
        let campaign_end = u64::from(sc.campaign_days) * DAY_MS;
        // The quiet phase, and the liveness bound after it: a district office that last synced
        // on a Friday morning sees the last decisions on Monday.
        let end = campaign_end + u64::from(sc.quiet_days) * DAY_MS;
        let mut sim = Sim {
            sc: sc.clone(),
            seed,
            rng: Rng::new(seed, 1),
            fed,
            directory,
            interner,
            nodes,
            index,
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            sessions: BTreeMap::new(),
            next_sid: 0,
            meta: BTreeMap::new(),
            record_origin: BTreeMap::new(),
            changes: BTreeMap::new(),
            projection_of: BTreeMap::new(),
            drafts: BTreeMap::new(),
            decided: BTreeSet::new(),
            scheduled: BTreeSet::new(),
            durable_copies: BTreeMap::new(),
            wiped: BTreeSet::new(),
            ids: 0,
            workload_pending: 0,
            last_edit_ms: 0,
            last_fault_ms: 0,
            campaign_end,
            end,
            converged_at: None,
            dropped_one: false,
            counters: Counters::default(),
            link_stats: BTreeMap::new(),
            delays: [Vec::new(), Vec::new(), Vec::new()],
            national_daily: vec![[0; 4]; (end / DAY_MS) as usize + 1 + MAX_EXTRA_DAYS],
            violations: Vec::new(),
            trace: VecDeque::new(),
            profile: FaultProfile::default(),
            events: 0,
            trust,
            plans,
            former: BTreeMap::new(),
            moved: BTreeSet::new(),
            reorganised_at: None,
            totals_before: None,
            reorg: ReorgSummary::default(),
            followed_by: BTreeMap::new(),
        };
        sim.counters.nodes = sim.nodes.len() as u64;
        sim.schedule_all()?;
        Ok(sim)
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn node_named(&self, id: &str) -> Result<usize, SimError> {
        UnitId::new(id)
            .ok()
            .and_then(|u| self.index.get(&u).copied())
            .ok_or_else(|| SimError::Scenario(format!("unknown unit {id:?} in the faults")))
    }

    fn schedule_all(&mut self) -> Result<(), SimError> {
        let n = self.nodes.len();
        // Link ticks, staggered.
        for c in 1..n {
            let Some(l) = &self.nodes[c].link else {
                continue;
            };
            let off = self.rng.range(0, l.sync_interval_minutes * 60_000);
            self.push(off, Ev::LinkTick(c));
        }
        // Workload: Poisson arrivals per grassroots unit.
        let rate_per_ms =
            self.sc.workload.initiatives_per_grassroots_per_week / (7.0 * DAY_MS as f64);
        let mut expected = 0.0;
        if rate_per_ms > 0.0 {
            for g in 0..n {
                if self.nodes[g].role != UnitRole::Grassroots {
                    continue;
                }
                expected += rate_per_ms * self.campaign_end as f64;
                let mut t = self.rng.exp(1.0 / rate_per_ms);
                while (t as u64) < self.campaign_end {
                    // Officers work 07:00-18:00.
                    let day = t as u64 / DAY_MS;
                    let at = day * DAY_MS + 7 * HOUR_MS + self.rng.range(0, 11 * HOUR_MS);
                    if at < self.campaign_end {
                        self.workload_pending += 1;
                        self.push(at, Ev::Create(g));
                    }
                    t += self.rng.exp(1.0 / rate_per_ms);
                }
            }
        }
        self.counters.target_recognised = self
            .sc
            .workload
            .target_recognised
            .unwrap_or((expected * 0.8).round() as u64);
        // Scheduled faults.
        let f = self.sc.faults.clone();
        let at = |d: u32, h: u8| u64::from(d) * DAY_MS + u64::from(h) * HOUR_MS;
        for o in &f.outages {
            let c = self.node_named(&o.unit)?;
            let t = at(o.day, o.hour);
            self.push(
                t,
                Ev::OutageStart {
                    child: c,
                    until: t + u64::from(o.hours) * HOUR_MS,
                },
            );
        }
        for c in &f.crashes {
            let node = self.node_named(&c.unit)?;
            self.push(
                at(c.day, c.hour),
                Ev::Crash {
                    node,
                    down_ms: u64::from(c.down_hours) * HOUR_MS,
                },
            );
        }
        for r in &f.restores {
            let node = self.node_named(&r.unit)?;
            self.nodes[node].wants_backups = true;
            self.push(
                at(r.day, r.hour),
                Ev::Restore {
                    node,
                    age_ms: u64::from(r.backup_age_days) * DAY_MS,
                },
            );
        }
        for b in &f.bundles {
            let (from, to) = (self.node_named(&b.from)?, self.node_named(&b.to)?);
            self.push(at(b.day, b.hour), Ev::Bundle { from, to });
        }
        if f.random {
            self.draw_faults();
        }
        for node in 0..n {
            if self.nodes[node].wants_backups {
                for d in 0..self.sc.campaign_days {
                    self.push(u64::from(d) * DAY_MS, Ev::Backup(node));
                }
            }
        }
        for (i, r) in self.sc.reorganisations.clone().iter().enumerate() {
            self.node_named(
                r.signed_by
                    .as_deref()
                    .unwrap_or(self.nodes[0].unit.as_str()),
            )?;
            self.push(at(r.day, r.hour), Ev::Reorganise(i));
        }
        self.push(self.campaign_end, Ev::Check);
        Ok(())
    }

    /// This seed's own fault rates and fault schedule.
    fn draw_faults(&mut self) {
        let n = self.nodes.len();
        let r = &mut self.rng;
        let p = FaultProfile {
            loss: [0.0, 0.001, 0.01, 0.05, 0.15][r.below(5)],
            outages: r.range(0, n as u64 / 2) as u32,
            crashes: r.range(0, n as u64 / 3) as u32,
            restores: r.range(0, n as u64 / 6) as u32,
            bundles: r.range(0, n as u64 / 2) as u32,
            duplication: [0.0, 0.1, 0.5, 1.0][r.below(4)],
            forgeries: r.range(0, 6) as u32,
        };
        let span = self.campaign_end;
        for _ in 0..p.outages {
            let child = 1 + self.rng.below(n - 1);
            let t = self.rng.range(0, span);
            let until = t + self.rng.range(HOUR_MS, 3 * DAY_MS);
            self.push(t, Ev::OutageStart { child, until });
        }
        for _ in 0..p.crashes {
            let node = self.rng.below(n);
            let t = self.rng.range(0, span);
            let down_ms = self.rng.range(60_000, 2 * DAY_MS);
            self.push(t, Ev::Crash { node, down_ms });
        }
        for _ in 0..p.restores {
            let node = self.rng.below(n);
            self.nodes[node].wants_backups = true;
            let t = self.rng.range(DAY_MS, span);
            let age_ms = self.rng.range(1, 4) * DAY_MS;
            self.push(t, Ev::Restore { node, age_ms });
        }
        for _ in 0..p.bundles {
            let from = self.rng.below(n);
            let to = self.rng.below(n);
            let t = self.rng.range(0, span);
            self.push(t, Ev::Bundle { from, to });
        }
        for _ in 0..p.forgeries {
            let t = self.rng.range(DAY_MS, span);
            let node = self.rng.below(n);
            self.push(t, Ev::Forge(node));
        }
        self.profile = p;
    }

    fn note(&mut self, what: impl FnOnce(&Self) -> String) {
        if self.sc.trace {
            if self.trace.len() == TRACE_EVENTS {
                self.trace.pop_front();
            }
            let line = format!("t={} {}", fmt_time(self.now), what(self));
            self.trace.push_back(line);
        }
    }

    fn violate(&mut self, invariant: &str, detail: String) {
        if self.violations.len() < 100 {
            self.violations.push(Violation {
                invariant: invariant.to_string(),
                at_ms: self.now,
                detail,
            });
        }
    }

    /// Runs to the end; `progress(now, end)` is called now and then.
    pub fn run(mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<Report, SimError> {
        let mut last_progress = 0;
        while let Some(((t, _), ev)) = self.queue.pop_first() {
            // The run ends at convergence, or when the liveness bound after the last edit or
            // fault has passed without it.
            let bound = self.sc.liveness_bound_hours * HOUR_MS;
            let limit = self
                .end
                .max(self.last_edit_ms.max(self.last_fault_ms) + bound + CHECK_INTERVAL_MS);
            // A decision still scheduled (an exponential approval delay has a long tail) is
            // waited for: liveness is judged from the last edit, and it is not made yet. A run
            // whose workload never drains stops anyway, MAX_EXTRA_DAYS after the limit.
            let waiting = self.workload_pending > 0 && t <= limit + MAX_EXTRA_DAYS as u64 * DAY_MS;
            if (t > limit && !waiting) || self.converged_at.is_some() {
                break;
            }
            self.now = t;
            self.events += 1;
            if t >= last_progress + HOUR_MS {
                last_progress = t;
                progress(t, self.end);
            }
            self.handle(ev)?;
        }
        progress(self.end, self.end);
        self.finish()
    }

    fn handle(&mut self, ev: Ev) -> Result<(), SimError> {
        match ev {
            Ev::LinkTick(c) => self.link_tick(c),
            Ev::Deliver {
                sid,
                to_parent,
                bytes,
            } => self.deliver(sid, to_parent, bytes)?,
            Ev::Flush(n) => self.flush(n),
            Ev::Crash { node, down_ms } => {
                if self.nodes[node].up {
                    self.note(|s| format!("crash {} for {}", s.nodes[node].unit, fmt_dur(down_ms)));
                    self.counters.crashes += 1;
                    self.nodes[node].up = false;
                    let lost = self.nodes[node].store.drop_pending();
                    self.counters.pending_lost_in_crashes += lost.len() as u64;
                    for e in lost {
                        self.on_remove(node, &e);
                    }
                    self.nodes[node].flush_pending = false;
                    self.cut_sessions_of(node, "crash");
                    self.last_fault_ms = self.last_fault_ms.max(self.now + down_ms);
                    self.push(self.now + down_ms, Ev::Recover(node));
                }
            }
            Ev::Recover(node) => {
                self.note(|s| format!("recover {}", s.nodes[node].unit));
                self.nodes[node].up = true;
            }
            Ev::Backup(node) => {
                if self.nodes[node].up {
                    let durable: Vec<EntryHash> =
                        self.nodes[node].store.own().keys().copied().collect();
                    self.nodes[node].backups.push((self.now, durable));
                }
            }
            Ev::Restore { node, age_ms } => self.restore(node, age_ms),
            Ev::OutageStart { child, until } => {
                self.note(|s| {
                    format!(
                        "outage of link {} until {}",
                        s.nodes[child].unit,
                        fmt_time(until)
                    )
                });
                self.counters.outages += 1;
                let n = &mut self.nodes[child];
                n.outage_until = n.outage_until.max(until);
                self.last_fault_ms = self.last_fault_ms.max(until);
                if let Some(sid) = self.nodes[child].session {
                    self.cut(sid, "outage");
                }
            }
            Ev::Bundle { from, to } => self.bundle(from, to),
            Ev::Forge(node) => self.forge(node),
            Ev::Create(g) => self.workload(g, |s, g| s.create(g), Ev::Create(g))?,
            Ev::Edit { record, support } => {
                let Some(&o) = self.record_origin.get(&record) else {
                    return Ok(());
                };
                self.workload(
                    o,
                    |s, _| s.edit(record, support),
                    Ev::Edit { record, support },
                )?
            }
            Ev::Submit(record) => {
                let Some(&o) = self.record_origin.get(&record) else {
                    return Ok(());
                };
                self.workload(o, |s, _| s.submit(record), Ev::Submit(record))?
            }
            Ev::Decide {
                node,
                record,
                previous,
            } => self.workload(
                node,
                |s, n| s.decide(n, record, previous),
                Ev::Decide {
                    node,
                    record,
                    previous,
                },
            )?,
            Ev::Check => self.check(),
            Ev::Reorganise(i) => self.reorganise(i)?,
            Ev::HandOff(n) => self.hand_off(n),
            Ev::UnitEnds(n) => self.unit_ends(n),
        }
        Ok(())
    }

    /// Runs a workload step at `node`, or retries it an hour later while the node is down.
    fn workload(
        &mut self,
        node: usize,
        f: impl FnOnce(&mut Self, usize) -> Result<(), SimError>,
        again: Ev,
    ) -> Result<(), SimError> {
        if !self.nodes[node].up {
            self.push(self.now + HOUR_MS, again);
            return Ok(());
        }
        self.workload_pending -= 1;
        f(self, node)
    }

    // ---- links and sessions ---------------------------------------------------------------

    fn available(l: &LinkSpec, t: u64) -> bool {
        let day = t / DAY_MS;
        let hour = (t % DAY_MS) / HOUR_MS;
        (!l.weekdays_only || day % 7 < 5)
            && hour >= u64::from(l.hours[0])
            && hour < u64::from(l.hours[1])
    }

    fn next_window(l: &LinkSpec, t: u64) -> u64 {
        for day in (t / DAY_MS)..(t / DAY_MS + 9) {
            let start = day * DAY_MS + u64::from(l.hours[0]) * HOUR_MS;
            let end = day * DAY_MS + u64::from(l.hours[1]) * HOUR_MS;
            if (!l.weekdays_only || day % 7 < 5) && t < end {
                return start.max(t);
            }
        }
        t + DAY_MS
    }

    fn link_tick(&mut self, c: usize) {
        let Some(l) = self.nodes[c].link.clone() else {
            return;
        };
        let Some(p) = self.nodes[c].parent else {
            return;
        };
        if self.nodes[c].retired {
            return;
        }
        let interval = l.sync_interval_minutes * 60_000;
        if !Self::available(&l, self.now) {
            let next = Self::next_window(&l, self.now);
            self.push(next.max(self.now + 1), Ev::LinkTick(c));
            return;
        }
        self.push(self.now + interval, Ev::LinkTick(c));
        if self.nodes[c].outage_until > self.now
            || !self.nodes[c].up
            || !self.nodes[p].up
            || self.nodes[c].session.is_some()
        {
            return;
        }
        let versions = (
            self.nodes[c].up_ver,
            self.nodes[p].branch_ver.get(&c).copied().unwrap_or(0),
        );
        if self.nodes[c].synced == Some(versions) {
            self.counters.idle_polls += 1;
            return;
        }
        self.start_session(c, p, versions);
    }

    fn source(&self, keys: Option<&KeySet>) -> Source {
        Source {
            keys: SortedKeys::new(SnapshotKeys(keys.map(KeySet::snapshot).unwrap_or_default())),
            interner: self.interner.clone(),
        }
    }

    fn start_session(&mut self, c: usize, p: usize, versions: (u64, u64)) {
        let t = self.sc.start_unix_ms + self.now;
        let src_child = self.source(Some(&self.nodes[c].up_keys));
        let src_parent = self.source(self.nodes[p].branch.get(&c));
        let mut init = SyncSession::new(Role::Initiator, self.fed, t);
        let resp = SyncSession::new(Role::Responder, self.fed, t);
        init.start(t, &src_child, None);

        self.next_sid += 1;
        let sid = self.next_sid;
        self.counters.sessions += 1;
        self.link_stats
            .entry(self.nodes[c].link_kind.clone())
            .or_default()
            .sessions += 1;
        self.sessions.insert(
            sid,
            Sess {
                child: c,
                parent: p,
                init,
                resp,
                src_child,
                src_parent,
                in_flight: 0,
                versions,
            },
        );
        self.nodes[c].session = Some(sid);
        self.pump(sid, false);
    }

    /// Drains one side's transmits (scheduling deliveries) and events (importing).
    fn pump(&mut self, sid: u64, parent_side: bool) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let (c, p) = (s.child, s.parent);
        let mut out = Vec::new();
        let mut events = Vec::new();
        {
            let side = if parent_side {
                &mut s.resp
            } else {
                &mut s.init
            };
            while let Some(m) = side.poll_transmit() {
                out.push(m.encode());
            }
            while let Some(e) = side.poll_event() {
                events.push(e);
            }
        }
        let me = if parent_side { p } else { c };
        for e in events {
            match e {
                Event::Received(raw) => {
                    self.counters.entries_transferred += raw.len() as u64;
                    self.receive(me, raw, false);
                }
                Event::Finished(_) => {}
                Event::Misbehaved(why) => {
                    self.violate(
                        "sessions_well_behaved",
                        format!(
                            "session {} of link {}: misbehaved: {why}",
                            sid, self.nodes[c].unit
                        ),
                    );
                    self.cut(sid, "misbehaved");
                    return;
                }
                Event::TimedOut => {
                    self.violate(
                        "sessions_well_behaved",
                        format!("session of link {} timed out", self.nodes[c].unit),
                    );
                    self.cut(sid, "timeout");
                    return;
                }
            }
        }
        let Some(l) = self.nodes[c].link.clone() else {
            return;
        };
        let loss = (l.loss + self.profile.loss).min(0.5);
        let dir = usize::from(!parent_side);
        for bytes in out {
            let len = bytes.len() as u64;
            let ls = self
                .link_stats
                .entry(self.nodes[c].link_kind.clone())
                .or_default();
            ls.bytes += len;
            ls.messages += 1;
            if loss > 0.0 && self.rng.chance(loss) {
                self.cut(sid, "message lost");
                return;
            }
            let start = self.now.max(self.nodes[c].busy[dir]);
            let done = start + len * 1000 / l.bandwidth_bytes_per_s.max(1);
            self.nodes[c].busy[dir] = done;
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.in_flight += 1;
            }
            self.push(
                done + l.latency_ms,
                Ev::Deliver {
                    sid,
                    to_parent: !parent_side,
                    bytes,
                },
            );
        }
        self.check_session(sid);
    }

    fn check_session(&mut self, sid: u64) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        if s.in_flight > 0 {
            return;
        }
        if s.init.is_finished() && s.resp.is_finished() {
            let (c, v) = (s.child, s.versions);

            self.sessions.remove(&sid);
            self.nodes[c].session = None;
            self.nodes[c].synced = Some(v);
            self.counters.sessions_completed += 1;
        } else {
            let child = s.child;
            self.violate(
                "sessions_well_behaved",
                format!(
                    "session of link {} stalled: nothing in flight, not finished",
                    self.nodes[child].unit
                ),
            );
            self.cut(sid, "stalled");
        }
    }

    fn cut(&mut self, sid: u64, why: &str) {
        if let Some(s) = self.sessions.remove(&sid) {
            self.nodes[s.child].session = None;
            self.counters.sessions_cut += 1;
            self.link_stats
                .entry(self.nodes[s.child].link_kind.clone())
                .or_default()
                .cut += 1;
            let unit = self.nodes[s.child].unit.clone();
            self.note(|_| format!("session {sid} of link {unit} cut: {why}"));
        }
    }

    fn cut_sessions_of(&mut self, node: usize, why: &str) {
        let ids: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.child == node || s.parent == node)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.cut(id, why);
        }
    }

    fn deliver(&mut self, sid: u64, to_parent: bool, bytes: Vec<u8>) -> Result<(), SimError> {
        let t = self.sc.start_unix_ms + self.now;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        s.in_flight -= 1;
        let m = match Message::decode(&bytes) {
            Ok(m) => m,
            Err(e) => {
                self.violate(
                    "sessions_well_behaved",
                    format!("a message did not decode: {e}"),
                );
                self.cut(sid, "undecodable");
                return Ok(());
            }
        };
        if to_parent {
            s.resp.handle_timeout(t);
            s.resp.handle_message(t, m, &s.src_parent);
        } else {
            s.init.handle_timeout(t);
            s.init.handle_message(t, m, &s.src_child);
        }
        self.pump(sid, to_parent);
        if self.sessions.contains_key(&sid) {
            self.pump(sid, !to_parent);
        }
        Ok(())
    }

    // ---- stores ---------------------------------------------------------------------------

    fn origin_of(&self, e: &Entry) -> Option<usize> {
        match e.body() {
            EntryBody::RecordChange(c) => self.index.get(&c.owner).copied(),
            EntryBody::Projection(_) => self.index.get(e.author()).copied(),
            EntryBody::Decision(d) => self.record_origin.get(&d.record).copied(),
            _ => None,
        }
    }

    fn conf_change(e: &Entry) -> bool {
        matches!(e.body(), EntryBody::RecordChange(c) if c.confidential)
    }

    /// The nodes that should hold an entry of `origin`: the oracle, independent of
    /// `sync_protocol::scope`.
    fn holders(&self, origin: usize, conf_change: bool) -> Vec<usize> {
        let mut v = vec![origin];
        let mut at = origin;
        while let Some(p) = self.nodes[at].parent {
            v.push(p);
            if conf_change {
                break;
            }
            at = p;
        }
        v
    }

    /// The nodes that must hold an entry of `origin` now: [`Sim::holders`] without the nodes
    /// whose unit has ended (shut down).
    fn must_hold(&self, origin: usize, conf_change: bool) -> Vec<usize> {
        let mut v = self.holders(origin, conf_change);
        v.retain(|&n| !self.nodes[n].retired);
        v
    }

    /// Whether `n` may hold an entry of `origin`: it must, or it was an ancestor of `origin`
    /// before a re-organisation (scope is judged by the tree then and now).
    fn may_hold(&self, n: usize, origin: usize, conf_change: bool) -> bool {
        self.holders(origin, conf_change).contains(&n)
            || self.former.get(&origin).is_some_and(|f| f.contains(&n))
    }

    /// The child of `node` on the way down to `origin`.
    fn branch_of(&self, node: usize, origin: usize) -> Option<usize> {
        let mut at = origin;
        while let Some(p) = self.nodes[at].parent {
            if p == node {
                return Some(at);
            }
            at = p;
        }
        None
    }

    fn on_insert(&mut self, n: usize, e: &Entry) {
        let Some(o) = self.origin_of(e) else { return };
        let key = SimStore::key_of(e);
        let conf = Self::conf_change(e);
        if self.nodes[n].parent.is_some()
            && !(conf && o != n)
            && (o == n
                || self.branch_of(n, o).is_some()
                || self.former.get(&o).is_some_and(|f| f.contains(&n)))
        {
            self.nodes[n].up_keys.insert(key);
            self.nodes[n].up_ver += 1;
        }
        if o != n {
            if let Some(c) = self.branch_of(n, o) {
                self.nodes[n].branch.entry(c).or_default().insert(key);
                *self.nodes[n].branch_ver.entry(c).or_default() += 1;
            }
        }
    }

    fn on_remove(&mut self, n: usize, e: &Entry) {
        let key = SimStore::key_of(e);
        if self.nodes[n].up_keys.remove(&key) {
            self.nodes[n].up_ver += 1;
        }
        if let Some(o) = self.origin_of(e) {
            if let Some(c) = self.branch_of(n, o) {
                if let Some(b) = self.nodes[n].branch.get_mut(&c) {
                    b.remove(&key);
                }
                *self.nodes[n].branch_ver.entry(c).or_default() += 1;
            }
        }
    }

    /// Decodes and imports entries at `n` (a session, a bundle or a local write), as the node's
    /// import does: decode, verify and check scope, store (pending), flush later.
    fn receive(&mut self, n: usize, raw: Vec<Vec<u8>>, local: bool) {
        let mut entries: Vec<Entry> = Vec::with_capacity(raw.len());
        for b in raw {
            match Entry::decode(&b) {
                Ok(e) => entries.push(e),
                Err(e) => self.violate(
                    "no_valid_entry_refused",
                    format!("an entry did not decode: {e}"),
                ),
            }
        }
        self.import(n, entries, local);
    }

    fn import(&mut self, n: usize, mut entries: Vec<Entry>, local: bool) {
        let t = self.sc.start_unix_ms + self.now;
        let retry: Vec<Entry> = std::mem::take(&mut self.nodes[n].quarantine)
            .into_values()
            .collect();
        entries.extend(retry);
        let unit = self.nodes[n].unit.clone();
        let local_unit = if self.sc.insecure_skip_scope_check {
            None
        } else {
            Some(&unit)
        };
        let out = match import_batch(
            &self.nodes[n].store,
            &mut self.directory,
            entries,
            local_unit,
            t,
        ) {
            Ok(o) => o,
            Err(e) => {
                self.violate(
                    "no_valid_entry_refused",
                    format!("import at {unit} failed: {e}"),
                );
                return;
            }
        };
        for (e, _) in out.waiting {
            self.nodes[n].quarantine.insert(e.hash(), e);
        }
        self.counters.duplicates_skipped += out.duplicates as u64;
        for (h, reason) in &out.rejected {
            let should_hold = self
                .meta
                .get(h)
                .is_some_and(|m| self.holders(m.origin, m.conf_change).contains(&n));
            if should_hold {
                self.violate(
                    "no_valid_entry_refused",
                    format!("{unit} refused valid entry {}: {reason}", h.short()),
                );
                if let Some(o) = self.meta.get(h).map(|m| m.origin) {
                    if self.moved.contains(&o) {
                        let from = self.nodes[o].unit.clone();
                        self.violate(
                            "moved_units_entries_accepted",
                            format!(
                                "{unit} refused valid entry {} of moved unit {from}: {reason}",
                                h.short()
                            ),
                        );
                    }
                }
            } else {
                self.counters.forgeries_refused += 1;
                self.note(|_| format!("{unit} refused {}: {reason}", h.short()));
            }
        }
        if local {
            if let Some((h, reason)) = out.rejected.first() {
                self.violate(
                    "local_writes_accepted",
                    format!("{unit} refused its own write {}: {reason}", h.short()),
                );
            }
        }
        let accepted: Vec<Entry> = out.accepted.iter().map(|v| v.entry().clone()).collect();
        if let Err(e) =
            sync_protocol::store::EntryStore::insert_batch(&mut self.nodes[n].store, &out.accepted)
        {
            self.violate("no_valid_entry_refused", e.to_string());
        }
        let mut dropped = None;
        if self.sc.insecure_drop_one_received_entry
            && !self.dropped_one
            && !local
            && self.now > DAY_MS
        {
            if let Some(e) = accepted.first() {
                self.nodes[n].store.remove(&e.hash());
                self.dropped_one = true;
                dropped = Some(e.hash());
            }
        }
        for e in &accepted {
            if Some(e.hash()) != dropped {
                self.on_insert(n, e);
            }
            self.after_accept(n, e, local);
        }
        if local {
            self.flush(n);
        } else if !accepted.is_empty() && !self.nodes[n].flush_pending {
            self.nodes[n].flush_pending = true;
            self.push(self.now + FLUSH_DELAY_MS, Ev::Flush(n));
        }
    }

    /// Continuous checks and bookkeeping for one accepted entry.
    fn after_accept(&mut self, n: usize, e: &Entry, local: bool) {
        let h = e.hash();
        let Some(m) = self.meta.get(&h).cloned() else {
            let unit = self.nodes[n].unit.clone();
            self.violate(
                "nothing_unauthorised_accepted",
                format!(
                    "{unit} accepted forged entry {} ({})",
                    h.short(),
                    e.body().kind_name()
                ),
            );
            return;
        };
        if !self.may_hold(n, m.origin, m.conf_change) {
            let unit = self.nodes[n].unit.clone();
            let inv = if m.conf_change {
                "no_confidential_leak"
            } else {
                "nothing_out_of_scope_accepted"
            };
            self.violate(
                inv,
                format!(
                    "{unit} accepted {} of {}, outside its scope",
                    h.short(),
                    self.nodes[m.origin].unit
                ),
            );
            return;
        }
        if !local
            && n != m.origin
            && self.moved.contains(&m.origin)
            && self.reorganised_at.is_some_and(|t| m.time >= t)
        {
            self.reorg.moved_entries_accepted += 1;
        }
        if !local && n != m.origin {
            let lvl = self.nodes[n].level.min(2);
            self.delays[lvl].push(self.now.saturating_sub(m.time));
        }
        if n == 0 {
            let day = ((self.now / DAY_MS) as usize).min(self.national_daily.len() - 1);
            let slot = match m.kind {
                Kind::Create => Some(0),
                Kind::Projection => Some(0),
                // The approval that sends it to the national node: under a central sector
                // union, a corporation union (also level 1) approves first, and counting both
                // would count the initiative twice.
                Kind::Decision(DecisionKind::Approve, 1)
                    if self
                        .index
                        .get(e.author())
                        .and_then(|&s| self.nodes[s].parent)
                        == Some(0) =>
                {
                    Some(1)
                }
                Kind::Decision(DecisionKind::Recognise, _) => Some(2),
                Kind::Decision(DecisionKind::Reject, _) => Some(3),
                _ => None,
            };
            if let Some(s) = slot {
                self.national_daily[day][s] += 1;
            }
        }
        // The next decider schedules its decision when the previous one reaches it.
        if let (EntryBody::Decision(d), Kind::Decision(kind, _)) = (e.body(), m.kind) {
            let next = self.next_decider(m.origin, e.author(), kind);
            if next == Some(n)
                && !self.decided.contains(&(n, d.record))
                && self.scheduled.insert((n, d.record))
            {
                self.schedule_decision(n, d.record, h);
            }
        }
    }

    /// The node whose turn it is to decide after a decision of `prev_kind` by `prev_signer` on
    /// an initiative of `origin`: one level up the chain, as the verifier judges it now
    /// (`verify::expected_decider`, so it follows a re-organisation); `None` at the end of the
    /// chain (recognised, rejected).
    fn next_decider(
        &self,
        origin: usize,
        prev_signer: &UnitId,
        prev_kind: DecisionKind,
    ) -> Option<usize> {
        if self.reorganised_at.is_none() {
            // The tree has not changed: the simulator's own links say the same, faster.
            return match prev_kind {
                DecisionKind::Submit => self.nodes[origin].parent,
                DecisionKind::Approve => self
                    .index
                    .get(prev_signer)
                    .and_then(|&s| self.nodes[s].parent),
                _ => None,
            };
        }
        let t = self.sc.start_unix_ms + self.now;
        expected_decider(
            &self.directory,
            &self.nodes[origin].unit,
            DecisionKind::Approve,
            Some(&(prev_signer.clone(), prev_kind)),
            t,
        )
        .ok()
        .and_then(|u| self.index.get(&u).copied())
    }

    /// Schedules `n`'s decision on `record` after its level's approval delay (before an ending
    /// unit stops deciding; a decision it can no longer make is stranded).
    fn schedule_decision(&mut self, n: usize, record: RecordId, previous: EntryHash) {
        let d_h = &self.sc.workload.approval_delay_hours;
        let mean = match self.nodes[n].level {
            0 => d_h.national,
            1 => d_h.level1,
            _ => d_h.direct_superior,
        } * HOUR_MS as f64;
        let delay = self.rng.exp(mean) as u64;
        let mut at = self.now + delay.max(60_000);
        if let Some(stop) = self.nodes[n].stop_ms {
            if self.now + 60_000 >= stop || self.nodes[n].retired {
                self.scheduled.remove(&(n, record));
                self.strand(n, record);
                return;
            }
            at = at.min(stop - 60_000);
        }
        self.workload_pending += 1;
        self.push(
            at,
            Ev::Decide {
                node: n,
                record,
                previous,
            },
        );
    }

    /// A decision left to a unit that has stopped deciding because it ends: the initiative can
    /// go no further (its chain names an ended unit), so the hand-off failed.
    fn strand(&mut self, n: usize, record: RecordId) {
        self.reorg.decisions_stranded += 1;
        let unit = self.nodes[n].unit.clone();
        let origin = self
            .record_origin
            .get(&record)
            .map(|&o| self.nodes[o].unit.to_string())
            .unwrap_or_default();
        self.violate(
            "ended_units_handed_off",
            format!("{unit} ends with a decision on an initiative of {origin} still to make"),
        );
    }

    fn flush(&mut self, n: usize) {
        self.nodes[n].flush_pending = false;
        let flushed = self.nodes[n].store.flush();
        for h in flushed {
            if !self.nodes[n].store.holds(&h) {
                let unit = self.nodes[n].unit.clone();
                self.violate(
                    "nothing_acknowledged_lost",
                    format!("{unit} acknowledged {} but does not hold it", h.short()),
                );
                continue;
            }
            *self.durable_copies.entry(h).or_default() += 1;
        }
    }

    fn restore(&mut self, node: usize, age_ms: u64) {
        let cutoff = self.now.saturating_sub(age_ms);
        let backup: Vec<EntryHash> = self.nodes[node]
            .backups
            .iter()
            .rev()
            .find(|(t, _)| *t <= cutoff)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        self.note(|s| {
            format!(
                "restore {} from a backup of {} entries ({} old)",
                s.nodes[node].unit,
                backup.len(),
                fmt_dur(age_ms)
            )
        });
        self.counters.restores += 1;
        self.cut_sessions_of(node, "restore");
        self.last_fault_ms = self.last_fault_ms.max(self.now);
        let pending: BTreeSet<EntryHash> = self.nodes[node].store.flush().into_iter().collect();
        let all: Vec<EntryHash> = self.nodes[node].store.own().keys().copied().collect();
        for h in all {
            if let Some(e) = self.nodes[node].store.remove(&h) {
                self.on_remove(node, &e);
                if !pending.contains(&h) {
                    if let Some(c) = self.durable_copies.get_mut(&h) {
                        *c = c.saturating_sub(1);
                        if *c == 0 {
                            self.wiped.insert(h);
                        }
                    }
                }
            }
        }
        self.nodes[node].quarantine.clear();
        for h in backup {
            let Some(e) = self.interner.borrow().get(&h).cloned() else {
                continue;
            };
            if self.nodes[node].store.insert_rc(e.clone()) {
                self.on_insert(node, &e);
            }
        }
        for h in self.nodes[node].store.flush() {
            *self.durable_copies.entry(h).or_default() += 1;
        }
        self.nodes[node].synced = None;
    }

    /// A USB bundle: what `from` holds in `to`'s scope, shuffled, some entries twice.
    fn bundle(&mut self, from: usize, to: usize) {
        if from == to
            || !self.nodes[from].up
            || !self.nodes[to].up
            || self.nodes[from].retired
            || self.nodes[to].retired
        {
            return;
        }
        let mut raw: Vec<Vec<u8>> = Vec::new();
        for (h, e) in self.nodes[from].store.own() {
            let Some(m) = self.meta.get(h) else { continue };
            if self.holders(m.origin, m.conf_change).contains(&to) {
                raw.push(e.bytes().to_vec());
            }
        }
        let dup: Vec<Vec<u8>> = raw
            .iter()
            .filter(|_| self.rng.chance(self.profile.duplication))
            .cloned()
            .collect();
        raw.extend(dup);
        self.rng.shuffle(&mut raw);
        self.counters.bundles += 1;
        let bytes: u64 = raw.iter().map(|b| b.len() as u64).sum();
        let ls = self.link_stats.entry("usb_bundle".into()).or_default();
        ls.bytes += bytes;
        ls.sessions += 1;
        self.note(|s| {
            format!(
                "bundle of {} entries from {} to {}",
                raw.len(),
                s.nodes[from].unit,
                s.nodes[to].unit
            )
        });
        for chunk in raw.chunks(10_000) {
            self.receive(to, chunk.to_vec(), false);
        }
    }

    /// Injects a forged or misdirected entry at `node`: an entry of another subtree (out of
    /// scope) or a decision signed by a unit whose turn it is not.
    fn forge(&mut self, node: usize) {
        if !self.nodes[node].up || self.nodes[node].retired {
            return;
        }
        let candidates: Vec<(EntryHash, usize)> = self
            .meta
            .iter()
            .filter(|(_, m)| !self.may_hold(node, m.origin, m.conf_change))
            .map(|(h, m)| (*h, m.origin))
            .take(64)
            .collect();
        if self.rng.chance(0.5) && !candidates.is_empty() {
            let (h, _) = candidates[self.rng.below(candidates.len())];
            let Some(e) = self.interner.borrow().get(&h).cloned() else {
                return;
            };
            self.counters.forgeries += 1;
            self.note(|s| {
                format!(
                    "forge: out-of-scope entry {} into {}",
                    h.short(),
                    s.nodes[node].unit
                )
            });
            self.receive(node, vec![e.bytes().to_vec()], false);
            return;
        }
        // A unit approving its own submission (skips a level).
        let subs: Vec<(EntryHash, RecordId, usize)> = self
            .meta
            .iter()
            .filter_map(|(h, m)| match m.kind {
                Kind::Decision(DecisionKind::Submit, _) => Some((*h, m.origin)),
                _ => None,
            })
            .filter_map(|(h, o)| {
                let e = self.interner.borrow().get(&h).cloned()?;
                match e.body() {
                    EntryBody::Decision(d) => Some((h, d.record, o)),
                    _ => None,
                }
            })
            .take(64)
            .collect();
        if subs.is_empty() {
            return;
        }
        let (prev, record, origin) = subs[self.rng.below(subs.len())];
        let body = EntryBody::Decision(Decision {
            record,
            kind: DecisionKind::Approve,
            binding: Binding::Heads(self.heads_held(origin, record)),
            previous: Some(prev),
            officer_name: Text::new("officer name", "Kẻ giả mạo", MAX_SHORT_TEXT_CHARS)
                .unwrap_or_default(),
            officer_title: Text::new("officer title", "Chủ tịch", MAX_SHORT_TEXT_CHARS)
                .unwrap_or_default(),
            note: Text::new("note", "Tự duyệt", MAX_NOTE_CHARS).unwrap_or_default(),
        });
        let e = self.nodes[origin]
            .author
            .sign(self.sc.start_unix_ms + self.now, body);
        self.counters.forgeries += 1;
        let target = self.nodes[origin].parent.unwrap_or(0);
        self.note(|s| {
            format!(
                "forge: {} approves its own initiative, sent to {}",
                s.nodes[origin].unit, s.nodes[target].unit
            )
        });
        self.receive(target, vec![e.bytes().to_vec()], false);
    }

    // ---- workload -------------------------------------------------------------------------

    fn local_write(&mut self, n: usize, entries: Vec<(Entry, Kind)>) {
        let origin_conf: Vec<Entry> = entries
            .into_iter()
            .map(|(e, kind)| {
                let origin = match e.body() {
                    EntryBody::RecordChange(c) => self.index.get(&c.owner).copied(),
                    EntryBody::Decision(d) => self.record_origin.get(&d.record).copied(),
                    _ => Some(n),
                }
                .unwrap_or(n);
                self.meta.insert(
                    e.hash(),
                    Meta {
                        origin,
                        time: self.now,
                        conf_change: Self::conf_change(&e),
                        kind,
                    },
                );
                self.interner
                    .borrow_mut()
                    .insert(e.hash(), Rc::new(e.clone()));
                self.counters.entries_authored += 1;
                e
            })
            .collect();
        self.last_edit_ms = self.now;
        let n_entries = origin_conf.len();
        let before = self.nodes[n].store.own().len();
        self.import(n, origin_conf, true);
        let after = self.nodes[n].store.own().len();
        if after < before + n_entries {
            let unit = self.nodes[n].unit.clone();
            self.violate(
                "local_writes_accepted",
                format!(
                    "{unit} stored {} of its {n_entries} new entries",
                    after - before
                ),
            );
        }
    }

    fn create(&mut self, g: usize) -> Result<(), SimError> {
        self.ids += 1;
        let record = RecordId(derive16(
            "sangkien simulations record id",
            self.seed,
            self.ids,
        ));
        let actor = derive16("sangkien simulations actor id", self.seed, self.ids);
        let w = self.sc.workload.clone();
        let confidential = self.rng.chance(w.confidential_fraction);
        let edited = !confidential && self.rng.chance(w.support_edit_fraction);
        let t = self.sc.start_unix_ms + self.now;
        let parent = self.nodes[g]
            .parent
            .ok_or_else(|| SimError::Build("grassroots without parent".into()))?;
        let section = |s: &str| txt("description", s, MAX_DESCRIPTION_SECTION_CHARS);
        let initiative = Initiative {
            title: txt(
                "title",
                &format!("Cải tiến dây chuyền số {}", self.ids),
                MAX_TITLE_CHARS,
            )?,
            authors: vec![record::Author {
                name: txt("name", "Nguyễn Văn An", MAX_SHORT_TEXT_CHARS)?,
                position: txt("position", "Kỹ sư cơ khí", MAX_SHORT_TEXT_CHARS)?,
            }],
            origin: self.nodes[g].unit.clone(),
            superior: self.nodes[parent].unit.clone(),
            programme: None,
            phase: 0,
            sector: Sector::ProductionBusiness,
            summary: txt(
                "summary",
                "Giảm 20% thời gian dừng máy của dây chuyền đóng gói",
                MAX_SUMMARY_CHARS,
            )?,
            registered_on: Date::from_unix_ms(t),
            description: Description {
                current_state: section("Dây chuyền dừng trung bình 3 giờ mỗi tuần để bảo trì.")?,
                solution: section("Lắp cảm biến rung và lịch bảo trì theo tình trạng.")?,
                novelty: section("Lần đầu áp dụng tại đơn vị.")?,
                scope: section("Toàn bộ phân xưởng đóng gói.")?,
                effectiveness: section("Làm lợi 150 triệu đồng mỗi năm.")?,
            },
            benefit_vnd: 150_000_000,
            application: Application::Applied,
            recognition: None,
            confidential,
            attachments: Vec::new(),
            commitment_salt: confidential
                .then(|| blake3::derive_key("sangkien simulations salt", &record.0)),
        };
        let mut doc = record::new_document(actor);
        let change = record::commit_content(
            &mut doc,
            &RecordContent::Initiative(Box::new(initiative.clone())),
            t,
        )
        .map_err(|e| SimError::Build(e.to_string()))?
        .ok_or_else(|| SimError::Build("empty first change".into()))?;
        let ch = change.hash();
        let e = self.nodes[g].author.sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Initiative,
                owner: initiative.origin.clone(),
                confidential,
                change,
            }),
        );
        self.record_origin.insert(record, g);
        self.changes
            .entry(record)
            .or_default()
            .push((ch, Vec::new(), e.hash()));
        self.counters.initiatives += 1;
        let mut writes = vec![(e, Kind::Create)];
        if confidential {
            let heads = record::heads(&mut doc);
            let p = record::projection(&initiative, record, heads)
                .ok_or_else(|| SimError::Build("no projection".into()))?;
            let pe = self.nodes[g].author.sign(t + 1, EntryBody::Projection(p));
            self.projection_of.insert(record, pe.hash());
            writes.push((pe, Kind::Projection));
        }
        self.local_write(g, writes);
        if edited {
            let actor2 = derive16("sangkien simulations support actor id", self.seed, self.ids);
            let fork = doc.fork().with_actor(ActorId::from(actor2.to_vec()));
            self.drafts.insert(
                record,
                Draft {
                    doc,
                    fork,
                    initiative,
                    edits_left: 2,
                },
            );
            for support in [false, true] {
                let d = self.rng.range(10 * 60_000, 6 * HOUR_MS);
                self.workload_pending += 1;
                self.push(self.now + d, Ev::Edit { record, support });
            }
        } else {
            self.submit_now(g, record)?;
        }
        Ok(())
    }

    fn edit(&mut self, record: RecordId, support: bool) -> Result<(), SimError> {
        let Some(&g) = self.record_origin.get(&record) else {
            return Ok(());
        };
        match self.record_at_origin(g, record) {
            RecordState::Whole => {}
            RecordState::Missing => {
                self.workload_pending += 1;
                self.push(self.now + HOUR_MS, Ev::Edit { record, support });
                return Ok(());
            }
            RecordState::Lost => {
                self.drafts.remove(&record);
                self.counters.records_abandoned += 1;
                return Ok(());
            }
        }
        let t = self.sc.start_unix_ms + self.now;
        let Some(d) = self.drafts.get_mut(&record) else {
            return Ok(());
        };
        let mut i = d.initiative.clone();
        // As the node's edit does: the initiative names the origin's parent now (it may have
        // moved since the record was created).
        if let Some(p) = self.nodes[g].parent {
            i.superior = self.nodes[p].unit.clone();
        }
        let doc = if support {
            i.summary = txt(
                "summary",
                "Giảm 25% thời gian dừng máy; bổ sung số liệu đo rung của tổ hỗ trợ",
                MAX_SUMMARY_CHARS,
            )?;
            &mut d.fork
        } else {
            i.benefit_vnd += 10_000_000;
            &mut d.doc
        };
        let deps = record::heads(doc);
        let change =
            record::commit_content(doc, &RecordContent::Initiative(Box::new(i.clone())), t)
                .map_err(|e| SimError::Build(e.to_string()))?
                .ok_or_else(|| SimError::Build("empty edit".into()))?;
        d.edits_left -= 1;
        let last = d.edits_left == 0;
        let ch = change.hash();
        let e = self.nodes[g].author.sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Initiative,
                owner: i.origin.clone(),
                confidential: false,
                change,
            }),
        );
        self.changes
            .entry(record)
            .or_default()
            .push((ch, deps, e.hash()));
        self.local_write(g, vec![(e, Kind::Edit)]);
        if last {
            self.workload_pending += 1;
            self.push(self.now + 10 * 60_000, Ev::Submit(record));
        }
        Ok(())
    }

    fn submit(&mut self, record: RecordId) -> Result<(), SimError> {
        let Some(&g) = self.record_origin.get(&record) else {
            return Ok(());
        };
        match self.record_at_origin(g, record) {
            RecordState::Whole => {}
            RecordState::Missing => {
                self.workload_pending += 1;
                self.push(self.now + HOUR_MS, Ev::Submit(record));
                return Ok(());
            }
            RecordState::Lost => {
                self.drafts.remove(&record);
                self.counters.records_abandoned += 1;
                return Ok(());
            }
        }
        self.drafts.remove(&record);
        self.submit_now(g, record)
    }

    fn submit_now(&mut self, g: usize, record: RecordId) -> Result<(), SimError> {
        let binding = self.binding(g, record);
        let e = self.decision(g, record, DecisionKind::Submit, binding, None, 2)?;
        self.local_write(
            g,
            vec![(e, Kind::Decision(DecisionKind::Submit, self.nodes[g].level))],
        );
        Ok(())
    }

    /// Whether the origin still holds every change it wrote to a record. After a restore from
    /// an old backup it may not: the officer waits until sync brings the record back (an
    /// officer cannot edit a record the node does not show), or gives the record up when a
    /// change is held nowhere any more (wiped by restores).
    fn record_at_origin(&self, g: usize, record: RecordId) -> RecordState {
        let Some(all) = self.changes.get(&record) else {
            return RecordState::Whole;
        };
        let mut state = RecordState::Whole;
        for (_, _, h) in all {
            if self.nodes[g].store.holds(h) {
                continue;
            }
            let held_somewhere = self.meta.get(h).is_some_and(|m| {
                self.holders(m.origin, m.conf_change)
                    .iter()
                    .any(|&n| self.nodes[n].store.holds(h))
            });
            if !held_somewhere {
                return RecordState::Lost;
            }
            state = RecordState::Missing;
        }
        state
    }

    fn heads_held(&self, n: usize, record: RecordId) -> Vec<ChangeHash> {
        let Some(all) = self.changes.get(&record) else {
            return Vec::new();
        };
        let held: Vec<&(ChangeHash, Vec<ChangeHash>, EntryHash)> = all
            .iter()
            .filter(|(_, _, h)| self.nodes[n].store.holds(h))
            .collect();
        let deps: BTreeSet<ChangeHash> = held
            .iter()
            .flat_map(|(_, d, _)| d.iter().copied())
            .collect();
        let mut heads: Vec<ChangeHash> = held
            .iter()
            .map(|(c, _, _)| *c)
            .filter(|c| !deps.contains(c))
            .collect();
        heads.sort();
        heads
    }

    fn binding(&self, n: usize, record: RecordId) -> Binding {
        match self.projection_of.get(&record) {
            Some(p) => Binding::Projection(*p),
            None => Binding::Heads(self.heads_held(n, record)),
        }
    }

    fn decision(
        &self,
        n: usize,
        record: RecordId,
        kind: DecisionKind,
        binding: Binding,
        previous: Option<EntryHash>,
        offset_ms: u64,
    ) -> Result<Entry, SimError> {
        let body = EntryBody::Decision(Decision {
            record,
            kind,
            binding,
            previous,
            officer_name: txt("officer name", "Trần Thị Bình", MAX_SHORT_TEXT_CHARS)?,
            officer_title: txt("officer title", "Chủ tịch", MAX_SHORT_TEXT_CHARS)?,
            note: txt(
                "note",
                &format!("Quyết định {}", kind.code()),
                MAX_NOTE_CHARS,
            )?,
        });
        Ok(self.nodes[n]
            .author
            .sign(self.sc.start_unix_ms + self.now + offset_ms, body))
    }

    fn decide(&mut self, n: usize, record: RecordId, previous: EntryHash) -> Result<(), SimError> {
        self.scheduled.remove(&(n, record));
        if self.decided.contains(&(n, record)) || !self.nodes[n].store.holds(&previous) {
            // Lost in a crash or a restore: scheduled again when it arrives again.
            return Ok(());
        }
        if self.reorganised_at.is_some() {
            // A re-organisation since it was scheduled may have passed the turn on (the
            // initiative's origin moved): the decider is whoever the chain names now.
            let prev = self
                .interner
                .borrow()
                .get(&previous)
                .and_then(|e| match e.body() {
                    EntryBody::Decision(d) => Some((e.author().clone(), d.kind)),
                    _ => None,
                });
            let origin = self.record_origin.get(&record).copied();
            if let (Some((signer, kind)), Some(o)) = (prev, origin) {
                match self.next_decider(o, &signer, kind) {
                    Some(m) if m != n => {
                        if self.nodes[m].store.holds(&previous)
                            && !self.decided.contains(&(m, record))
                            && self.scheduled.insert((m, record))
                        {
                            self.schedule_decision(m, record, previous);
                        }
                        return Ok(());
                    }
                    None => return Ok(()),
                    Some(_) => {}
                }
            }
            if let Some(o) = origin {
                // An ending unit whose former subtree moved away keeps its turn on the
                // initiatives it was deciding, but they are out of its scope now (it may not
                // sign a decision on them): from its end, its successor decides in its place.
                if let Some(end) = self.nodes[n].end_ms {
                    if !self.nodes[n].retired && !self.holders(o, false).contains(&n) {
                        self.reorg.decisions_passed_to_successor += 1;
                        self.scheduled.insert((n, record));
                        self.workload_pending += 1;
                        self.push(
                            end + 60_000,
                            Ev::Decide {
                                node: n,
                                record,
                                previous,
                            },
                        );
                        return Ok(());
                    }
                }
            }
            if self.nodes[n].retired || self.nodes[n].stop_ms.is_some_and(|s| self.now >= s) {
                self.strand(n, record);
                return Ok(());
            }
            // The old decider may have decided before the move, and its decision not be here
            // yet (it comes up the old chain and down the new one): the officer waits for the
            // handed-over file rather than deciding a second time.
            if let Some(d) = self.followed_by.get(&previous).copied() {
                if self.nodes[n].store.holds(&d) {
                    return Ok(());
                }
                let somewhere = self.nodes.iter().any(|x| !x.retired && x.store.holds(&d));
                if somewhere {
                    self.scheduled.insert((n, record));
                    self.workload_pending += 1;
                    self.push(
                        self.now + HOUR_MS,
                        Ev::Decide {
                            node: n,
                            record,
                            previous,
                        },
                    );
                    return Ok(());
                }
            }
        }
        let binding = self.binding(n, record);
        match &binding {
            Binding::Projection(p) if !self.nodes[n].store.holds(p) => return Ok(()),
            Binding::Heads(h) if h.is_empty() => return Ok(()),
            _ => {}
        }
        let kind = if self.nodes[n].level == 0 {
            DecisionKind::Recognise
        } else if self.rng.chance(self.sc.workload.reject_fraction) {
            DecisionKind::Reject
        } else {
            DecisionKind::Approve
        };
        self.decided.insert((n, record));
        let e = self.decision(n, record, kind, binding, Some(previous), 0)?;
        if self.reorganised_at.is_some() {
            self.followed_by.insert(previous, e.hash());
        }
        self.counters.decisions += 1;
        self.local_write(n, vec![(e, Kind::Decision(kind, self.nodes[n].level))]);
        Ok(())
    }

    // ---- re-organisation ------------------------------------------------------------------

    /// Signs the plan at its unit's node (`node::reorg::compile`, the code behind `sangkien
    /// unit reorganise --plan`), imports its entries through the real verified import into the
    /// shared trust base, then makes the simulated tree follow what the directory now says:
    /// every unit's parent is its certificate's (`Directory::parent_at`), new units get nodes,
    /// ended units stop deciding, hand their data on, and shut down at their end's date.
    fn reorganise(&mut self, i: usize) -> Result<(), SimError> {
        let r = self.sc.reorganisations[i].clone();
        let plan = self.plans[i].clone();
        let t = self.sc.start_unix_ms + self.now;
        let signer = self.node_named(
            r.signed_by
                .as_deref()
                .unwrap_or(self.nodes[0].unit.as_str()),
        )?;
        let chains_before: Vec<Vec<usize>> = (0..self.nodes.len())
            .map(|n| self.holders(n, false))
            .collect();
        if self.totals_before.is_none() {
            self.totals_before = Some(self.attribution(t.saturating_sub(1)));
            self.reorg.nodes_before = self.nodes.len() as u64;
            self.reorg.level1_before = self.nodes.iter().filter(|n| n.level == 1).count() as u64;
        }
        let compiled = node::reorg::compile(
            &self.directory,
            &self.nodes[signer].author,
            &plan,
            t,
            &mut |u| unit_key(u.as_str()),
        )
        .map_err(|e| SimError::Scenario(format!("reorganisation {}: {e}", i + 1)))?;
        let unit = self.nodes[signer].unit.clone();
        let mut accepted: Vec<Entry> = Vec::new();
        for chunk in compiled
            .entries
            .chunks(sync_protocol::limits::MAX_BATCH_ENTRIES)
        {
            let out = import_batch(
                &self.nodes[signer].store,
                &mut self.directory,
                chunk.to_vec(),
                Some(&unit),
                t,
            )
            .map_err(|e| SimError::Build(e.to_string()))?;
            for (h, reason) in &out.rejected {
                self.reorg.refused += 1;
                self.violate(
                    "every_chain_verifies",
                    format!(
                        "{unit} refused entry {} of its re-organisation: {reason}",
                        h.short()
                    ),
                );
            }
            for (e, why) in &out.waiting {
                self.reorg.refused += 1;
                self.violate(
                    "every_chain_verifies",
                    format!(
                        "entry {} of the re-organisation waits at {unit}: {why:?}",
                        e.hash().short()
                    ),
                );
            }
            accepted.extend(out.accepted.iter().map(|v| v.entry().clone()));
        }
        self.trust.borrow_mut().extend(accepted.iter().cloned());
        let o = &compiled.outcome;
        self.reorg.plans += 1;
        self.reorg.signed_at_ms = self.now;
        self.reorg.entries += accepted.len() as u64;
        self.reorg.new_units += o.new_count as u64;
        self.reorg.moved += o.moved_count as u64;
        self.reorg.renamed += o.renamed_count as u64;
        self.reorg.closed += o.closed_count as u64;
        self.reorg.merged += o.merged_count as u64;
        if self.reorganised_at.is_none() {
            // Which decision followed which, so far (kept up to date from now on).
            let interner = self.interner.borrow();
            for (h, m) in &self.meta {
                if !matches!(m.kind, Kind::Decision(..)) {
                    continue;
                }
                if let Some(EntryBody::Decision(d)) = interner.get(h).map(|e| e.body()) {
                    if let Some(p) = d.previous {
                        self.followed_by.insert(p, *h);
                    }
                }
            }
        }
        self.reorganised_at.get_or_insert(self.now);
        self.note(|_| {
            format!(
                "re-organisation {} signed by {unit}: {} entries",
                i + 1,
                accepted.len()
            )
        });

        // New units: a node each, enrolled with the certificate just verified.
        let links = self.sc.all_links();
        let level_links = self.sc.topology.level_links.clone();
        for e in &accepted {
            let EntryBody::Certificate(c) = e.body() else {
                continue;
            };
            if c.replaces.is_some() || self.index.contains_key(&c.unit) {
                continue;
            }
            let Some(&p) = self.index.get(&c.parent) else {
                continue;
            };
            let link_kind = match c.role {
                UnitRole::DirectSuperior => level_links.direct_superior.clone(),
                UnitRole::Grassroots => level_links.grassroots.clone(),
                _ => level_links.level1.clone(),
            };
            let link = links.get(&link_kind).cloned();
            let n = self.nodes.len();
            self.nodes.push(Node {
                unit: c.unit.clone(),
                role: c.role,
                level: level_of(c.role),
                parent: Some(p),
                link: link.clone(),
                link_kind,
                author: Author::new(self.fed, c.unit.clone(), unit_key(c.unit.as_str())),
                store: SimStore::new(self.trust.clone(), self.interner.clone()),
                quarantine: BTreeMap::new(),
                up: true,
                flush_pending: false,
                up_keys: KeySet::default(),
                up_ver: 0,
                branch: BTreeMap::new(),
                branch_ver: BTreeMap::new(),
                synced: None,
                session: None,
                outage_until: 0,
                busy: [0, 0],
                backups: Vec::new(),
                wants_backups: false,
                stop_ms: None,
                end_ms: None,
                retired: false,
            });
            self.index.insert(c.unit.clone(), n);
            if let Some(l) = link {
                let off = self.rng.range(0, l.sync_interval_minutes * 60_000);
                self.push(self.now + off, Ev::LinkTick(n));
            }
        }
        self.counters.nodes = self.nodes.len() as u64;
        // Every unit's parent is now its certificate's.
        for n in 1..self.nodes.len() {
            let p = self
                .directory
                .parent_at(&self.nodes[n].unit, t)
                .and_then(|p| self.index.get(p))
                .copied();
            if p.is_some() && p != self.nodes[n].parent {
                self.cut_sessions_of(n, "re-parented");
                self.nodes[n].parent = p;
            }
        }
        // Ends: stop deciding, hand on, shut down.
        for e in &accepted {
            let EntryBody::UnitEnd(x) = e.body() else {
                continue;
            };
            let Some(&n) = self.index.get(&x.unit) else {
                continue;
            };
            let Some(end) = self.directory.end_of(&x.unit) else {
                continue;
            };
            let end_abs = end.effective_ms.max(end.time_ms);
            let end_v = end_abs
                .saturating_sub(self.sc.start_unix_ms)
                .max(self.now + 1);
            let window = u64::from(r.hand_off_hours) * HOUR_MS;
            let window = if self.nodes[n].level <= 1 {
                window / 2
            } else {
                window
            };
            let stop = end_v.saturating_sub(window).max(self.now);
            self.nodes[n].end_ms = Some(end_v);
            self.nodes[n].stop_ms = Some(stop);
            self.reorg.effective_at_ms = self.reorg.effective_at_ms.max(end_v);
            self.push(stop, Ev::HandOff(n));
            self.push(end_v, Ev::UnitEnds(n));
        }
        // Decisions an ending unit had scheduled after it stops: brought forward.
        let late: Vec<(u64, u64)> = self
            .queue
            .iter()
            .filter_map(|(k, ev)| match ev {
                Ev::Decide { node, .. } => {
                    self.nodes[*node].stop_ms.filter(|s| k.0 >= *s).map(|_| *k)
                }
                _ => None,
            })
            .collect();
        for k in late {
            if let Some(ev) = self.queue.remove(&k) {
                let Ev::Decide { node, .. } = &ev else {
                    continue;
                };
                let stop = self.nodes[*node].stop_ms.unwrap_or(self.now);
                let at = if stop > self.now + 2 * 60_000 {
                    self.now + self.rng.range(60_000, stop - self.now - 60_000)
                } else {
                    self.now + 60_000
                };
                self.push(at, ev);
            }
        }
        // Who was moved, and who may keep its history.
        let level1 = |chain: &[usize]| chain.len().checked_sub(2).map(|i| chain[i]);
        for (n, before) in chains_before.iter().enumerate() {
            let after = self.holders(n, false);
            if after != *before {
                if let (Some(a), Some(b)) = (level1(before), level1(&after)) {
                    let merged_into = self.directory.successor_of(&self.nodes[a].unit);
                    if a != b && merged_into.as_ref() != Some(&self.nodes[b].unit) {
                        self.reorg.moved_between_level1 += 1;
                    }
                }
                self.moved.insert(n);
                let f = self.former.entry(n).or_default();
                f.extend(before.iter().filter(|x| !after.contains(x)));
            }
        }
        self.reorg.units_moved_in_tree = self.moved.len() as u64;
        for n in 0..self.nodes.len() {
            self.rebuild_keys(n);
        }
        Ok(())
    }

    /// Rebuilds a node's sync keys towards its parent and children from its store (after the
    /// tree changed), and forgets its last completed session.
    fn rebuild_keys(&mut self, n: usize) {
        let mut up: Vec<SyncKey> = Vec::new();
        let mut branch: BTreeMap<usize, Vec<SyncKey>> = BTreeMap::new();
        let has_parent = self.nodes[n].parent.is_some();
        for e in self.nodes[n].store.own().values() {
            let Some(o) = self.origin_of(e) else { continue };
            let key = SimStore::key_of(e);
            let conf = Self::conf_change(e);
            let below = self.branch_of(n, o);
            if has_parent
                && !(conf && o != n)
                && (o == n
                    || below.is_some()
                    || self.former.get(&o).is_some_and(|f| f.contains(&n)))
            {
                up.push(key);
            }
            if o != n {
                if let Some(c) = below {
                    branch.entry(c).or_default().push(key);
                }
            }
        }
        let node = &mut self.nodes[n];
        node.up_keys = KeySet::from_keys(up);
        node.up_ver += 1;
        let old: Vec<usize> = node.branch.keys().copied().collect();
        node.branch = branch
            .into_iter()
            .map(|(c, v)| (c, KeySet::from_keys(v)))
            .collect();
        for c in old
            .into_iter()
            .chain(node.branch.keys().copied().collect::<Vec<_>>())
        {
            *node.branch_ver.entry(c).or_default() += 1;
        }
        node.synced = None;
    }

    /// An ending unit's hand-off: a session with its parent every hour from when it stops
    /// deciding until its end (the office connects for it, whatever the link's usual hours;
    /// not through an outage).
    fn hand_off(&mut self, n: usize) {
        let Some(end) = self.nodes[n].end_ms else {
            return;
        };
        if self.nodes[n].retired || self.now >= end {
            return;
        }
        if self.now + HOUR_MS < end {
            self.push(self.now + HOUR_MS, Ev::HandOff(n));
        }
        let Some(p) = self.nodes[n].parent else {
            return;
        };
        if self.nodes[n].outage_until > self.now
            || !self.nodes[n].up
            || !self.nodes[p].up
            || self.nodes[n].session.is_some()
            || self.nodes[n].link.is_none()
        {
            return;
        }
        let versions = (
            self.nodes[n].up_ver,
            self.nodes[p].branch_ver.get(&n).copied().unwrap_or(0),
        );
        if self.nodes[n].synced == Some(versions) {
            return;
        }
        self.reorg.hand_off_sessions += 1;
        self.start_session(n, p, versions);
    }

    /// A unit's end takes effect: what its node holds for its parent must be there already
    /// (the hand-off), no decision may be left to it; then the node shuts down.
    fn unit_ends(&mut self, n: usize) {
        if self.nodes[n].retired {
            return;
        }
        self.reorg.ended_units += 1;
        let unit = self.nodes[n].unit.clone();
        if let Some(p) = self.nodes[n].parent {
            let missing = self.nodes[n]
                .up_keys
                .keys()
                .iter()
                .filter(|k| !self.nodes[p].store.holds(&k.hash))
                .count();
            if missing > 0 {
                self.reorg.entries_not_handed_off += missing as u64;
                let parent = self.nodes[p].unit.clone();
                self.violate(
                    "ended_units_handed_off",
                    format!("{unit} ends with {missing} entries its parent {parent} does not hold"),
                );
            }
        }
        self.note(|_| format!("{unit} ends"));
        self.cut_sessions_of(n, "unit ended");
        self.nodes[n].retired = true;
    }

    /// The level-1 unit each initiative held at the national node is reported under at
    /// `at_ms` (Unix), by the tree the directory defines then (`Directory::report_parent_at`:
    /// a merged unit under its successor from its end's date).
    fn attribution(&self, at_ms: u64) -> BTreeMap<RecordId, Option<UnitId>> {
        let mut out = BTreeMap::new();
        for h in self.nodes[0].store.own().keys() {
            let Some(m) = self.meta.get(h) else { continue };
            if m.kind != Kind::Create {
                continue;
            }
            let Some(EntryBody::RecordChange(c)) =
                self.interner.borrow().get(h).map(|e| e.body().clone())
            else {
                continue;
            };
            out.insert(c.record, self.level1_of(&c.owner, at_ms));
        }
        out
    }

    fn level1_of(&self, unit: &UnitId, at_ms: u64) -> Option<UnitId> {
        let root = self.directory.root();
        let mut cur = unit.clone();
        for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
            let p = self.directory.report_parent_at(&cur, at_ms)?;
            if p == root {
                return Some(cur);
            }
            cur = p.clone();
        }
        None
    }

    /// Report totals across the re-organisation: the initiatives the national node held when
    /// the plan was signed, counted per level-1 unit then and at the end. Conserved in total;
    /// none under an ended unit; each under the level-1 unit the simulated tree puts its origin
    /// under; a merged unit's initiatives under its successor.
    fn check_totals(&mut self, t: u64) {
        let Some(before) = self.totals_before.clone() else {
            return;
        };
        let mut after = self.attribution(t);
        after.retain(|r, _| before.contains_key(r));
        let count = |m: &BTreeMap<RecordId, Option<UnitId>>| {
            let mut c: BTreeMap<Option<UnitId>, u64> = BTreeMap::new();
            for u in m.values() {
                *c.entry(u.clone()).or_default() += 1;
            }
            c
        };
        let (cb, ca) = (count(&before), count(&after));
        let kept: u64 = before.keys().filter(|r| after.contains_key(r)).count() as u64;
        self.reorg.initiatives_before = before.values().filter(|u| u.is_some()).count() as u64;
        self.reorg.initiatives_after = before
            .keys()
            .filter(|r| after.get(r).is_some_and(|u| u.is_some()))
            .count() as u64;
        self.reorg.level1_counted_before = cb.keys().filter(|u| u.is_some()).count() as u64;
        if kept != before.len() as u64 {
            self.violate(
                "report_totals_conserved",
                format!(
                    "{} of the {} initiatives at the national node at the reform are gone",
                    before.len() as u64 - kept,
                    before.len()
                ),
            );
        }
        if self.reorg.initiatives_before != self.reorg.initiatives_after {
            self.violate(
                "report_totals_conserved",
                format!(
                    "national total {} before, {} after",
                    self.reorg.initiatives_before, self.reorg.initiatives_after
                ),
            );
        }
        let mut wrong = Vec::new();
        for (r, b) in &before {
            let Some(a) = after.get(r) else { continue };
            let Some(a) = a else {
                wrong.push(format!("{} under no level-1 unit", r));
                continue;
            };
            if self.directory.ended_at(a, t) {
                wrong.push(format!("{r} under ended unit {a}"));
                continue;
            }
            // The simulated tree's own answer.
            let tree_l1 = self.record_origin.get(r).and_then(|&o| {
                let mut at = o;
                while let Some(p) = self.nodes[at].parent {
                    if p == 0 {
                        return Some(self.nodes[at].unit.clone());
                    }
                    at = p;
                }
                None
            });
            if tree_l1.as_ref() != Some(a) {
                wrong.push(format!("{r} under {a}, its origin under {tree_l1:?}"));
                continue;
            }
            if let Some(b) = b {
                if let Some(s) = self.directory.successor_of(b) {
                    if self.directory.ended_at(b, t) && s != *a {
                        wrong.push(format!(
                            "{r} of merged {b} under {a}, not its successor {s}"
                        ));
                    }
                }
            }
        }
        // Per unit: each level-1 unit's count is its own before plus its predecessors'.
        for (u, n_after) in &ca {
            let Some(u) = u else { continue };
            let preds: Vec<UnitId> = cb
                .keys()
                .flatten()
                .filter(|b| {
                    *b == u
                        || (self.directory.ended_at(b, t)
                            && self.directory.successor_of(b).as_ref() == Some(u))
                })
                .cloned()
                .collect();
            if preds.len() > 1 {
                self.reorg.successors_checked += 1;
            }
            let sum: u64 = preds.iter().map(|b| cb[&Some(b.clone())]).sum();
            // Units moved between level-1 units carry theirs along; only plans that merge
            // (as the 2025 reform) make each count the sum of its predecessors'.
            if self.reorg.moved_between_level1 == 0 && sum != *n_after {
                wrong.push(format!(
                    "{u}: {n_after} initiatives after, {sum} under it and its predecessors before"
                ));
            }
        }
        self.reorg.misattributed = wrong.len() as u64;
        if let Some(w) = wrong.first() {
            let n = wrong.len();
            let w = w.clone();
            self.violate(
                "report_totals_conserved",
                format!("{n} initiatives reported under the wrong unit, e.g. {w}"),
            );
        }
    }

    // ---- convergence and the end ----------------------------------------------------------

    /// Whether every linked pair agrees on the scope it shares.
    fn converged(&self) -> Option<String> {
        for (c, node) in self.nodes.iter().enumerate() {
            let Some(p) = node.parent else { continue };
            if node.retired {
                continue;
            }
            for k in node.up_keys.keys() {
                if !self.nodes[p].store.holds(&k.hash) {
                    return Some(format!(
                        "{} lacks {} held by its child {}",
                        self.nodes[p].unit,
                        k.hash.short(),
                        node.unit
                    ));
                }
            }
            if let Some(b) = self.nodes[p].branch.get(&c) {
                for k in b.keys() {
                    if !node.store.holds(&k.hash) {
                        return Some(format!(
                            "{} lacks {} held by its parent {}",
                            node.unit,
                            k.hash.short(),
                            self.nodes[p].unit
                        ));
                    }
                }
            }
        }
        None
    }

    fn check(&mut self) {
        let quiet = self.now >= self.campaign_end
            && self.now >= self.last_fault_ms
            && self.workload_pending == 0;
        if quiet && self.converged().is_none() {
            self.converged_at = Some(self.now);
            return;
        }
        self.push(self.now + CHECK_INTERVAL_MS, Ev::Check);
    }

    fn finish(mut self) -> Result<Report, SimError> {
        let t = self.sc.start_unix_ms + self.now;
        let mut invariants: BTreeMap<String, bool> = BTreeMap::new();
        // Convergence and nothing lost, entry by entry against the oracle.
        let mut missing = 0u64;
        let mut lost = 0u64;
        let mut lost_unexplained = Vec::new();
        for (h, m) in &self.meta {
            let holders = self.must_hold(m.origin, m.conf_change);
            let held = holders
                .iter()
                .filter(|&&n| self.nodes[n].store.holds(h))
                .count();
            if held == 0 {
                lost += 1;
                if !self.wiped.contains(h) {
                    lost_unexplained.push(*h);
                }
            } else if held < holders.len() {
                missing += 1;
            }
        }
        self.counters.lost_to_restores = lost - lost_unexplained.len() as u64;
        if let Some(h) = lost_unexplained.first() {
            self.violate(
                "nothing_acknowledged_lost",
                format!(
                    "{} entries held nowhere though never wiped by a restore, e.g. {}",
                    lost_unexplained.len(),
                    h.short()
                ),
            );
        }
        if let Some(why) = self.converged() {
            self.violate("converged", format!("not converged at the end: {why}"));
        } else if missing > 0 {
            self.violate(
                "converged",
                format!("{missing} entries missing at some node that should hold them"),
            );
        }
        // Stores hold only what they should: count check against the oracle.
        let mut expected = vec![0usize; self.nodes.len()];
        for (h, m) in &self.meta {
            for n in self.holders(m.origin, m.conf_change) {
                if self.nodes[n].store.holds(h) {
                    expected[n] += 1;
                }
            }
            if let Some(f) = self.former.get(&m.origin) {
                let chain = self.holders(m.origin, m.conf_change);
                for &n in f {
                    if !chain.contains(&n) && self.nodes[n].store.holds(h) {
                        expected[n] += 1;
                    }
                }
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            if node.store.own().len() != expected[n] {
                let (inv, unit) = ("nothing_out_of_scope_accepted", node.unit.clone());
                let d = format!(
                    "{unit} holds {} entries, {} of them in its scope",
                    node.store.own().len(),
                    expected[n]
                );
                self.violations.push(Violation {
                    invariant: inv.into(),
                    at_ms: self.now,
                    detail: d,
                });
                break;
            }
        }
        // Liveness.
        let reference = self
            .campaign_end
            .max(self.last_edit_ms)
            .max(self.last_fault_ms);
        let bound = self.sc.liveness_bound_hours * HOUR_MS;
        match self.converged_at {
            Some(c) => {
                self.counters.converged_after_last_edit_ms =
                    Some(c.saturating_sub(self.last_edit_ms));
                if c.saturating_sub(reference) > bound {
                    self.violate(
                        "liveness",
                        format!(
                            "converged {} after the last fault and edit, bound {}",
                            fmt_dur(c - reference),
                            fmt_dur(bound)
                        ),
                    );
                }
            }
            None => self.violate(
                "liveness",
                format!(
                    "not converged by the end of the quiet phase ({} pending workload steps)",
                    self.workload_pending
                ),
            ),
        }
        // Every chain verifies at the audited nodes.
        let audited: Vec<usize> = match self.sc.audit {
            crate::scenario::Audit::All => (0..self.nodes.len()).collect(),
            crate::scenario::Audit::Sample(k) => {
                let mut v: Vec<usize> = (0..self.nodes.len())
                    .filter(|&n| self.nodes[n].level <= 1)
                    .collect();
                let mut r = Rng::new(self.seed, 7);
                for _ in 0..k {
                    v.push(r.below(self.nodes.len()));
                }
                v.sort();
                v.dedup();
                v
            }
        };
        let mut records_checked = 0u64;
        for (i, n) in audited.into_iter().enumerate() {
            let node = &self.nodes[n];
            // The trust base is one shared copy: checked once, with the first audited store.
            let rep = if i == 0 {
                verify_store(&node.store, &self.directory, Some(&node.unit), t)
            } else {
                verify_store(
                    &RecordsOnly(&node.store),
                    &self.directory,
                    Some(&node.unit),
                    t,
                )
            }
            .map_err(|e| SimError::Build(e.to_string()))?;
            records_checked += rep.records.len() as u64;
            let bad = rep
                .records
                .iter()
                .find(|r| !r.is_valid() || !r.conflicts.is_empty());
            if let Some(r) = bad {
                let d = format!(
                    "at {}: record {} has problems {:?} conflicts {}",
                    node.unit,
                    r.record,
                    r.problems.first().map(|p| p.reason.to_string()),
                    r.conflicts.len()
                );
                self.violations.push(Violation {
                    invariant: "every_chain_verifies".into(),
                    at_ms: self.now,
                    detail: d,
                });
            } else if let Some(p) = rep.trust_problems.first() {
                let d = format!("at {}: trust entry problem {}", node.unit, p.reason);
                self.violations.push(Violation {
                    invariant: "every_chain_verifies".into(),
                    at_ms: self.now,
                    detail: d,
                });
            }
        }
        self.counters.records_audited = records_checked;
        let reorganised = !self.sc.reorganisations.is_empty();
        if reorganised {
            self.check_totals(t);
            // Entries of moved units still waiting somewhere at the end.
            for n in 0..self.nodes.len() {
                if self.nodes[n].retired {
                    continue;
                }
                let waiting = self.nodes[n]
                    .quarantine
                    .values()
                    .filter(|e| {
                        self.meta
                            .get(&e.hash())
                            .is_some_and(|m| self.moved.contains(&m.origin))
                    })
                    .count();
                if waiting > 0 {
                    let unit = self.nodes[n].unit.clone();
                    self.violate(
                        "moved_units_entries_accepted",
                        format!("{waiting} entries of moved units still wait at {unit}"),
                    );
                }
            }
            self.reorg.nodes_after = self.nodes.iter().filter(|n| !n.retired).count() as u64;
            self.reorg.level1_after = self
                .nodes
                .iter()
                .filter(|n| !n.retired && n.level == 1)
                .count() as u64;
        }
        let extra: &[&str] = if reorganised {
            &[
                "report_totals_conserved",
                "moved_units_entries_accepted",
                "ended_units_handed_off",
            ]
        } else {
            &[]
        };
        for name in extra {
            invariants.insert(
                name.to_string(),
                !self.violations.iter().any(|v| v.invariant == *name),
            );
        }
        for name in [
            "converged",
            "nothing_acknowledged_lost",
            "every_chain_verifies",
            "nothing_unauthorised_accepted",
            "nothing_out_of_scope_accepted",
            "no_confidential_leak",
            "liveness",
            "sessions_well_behaved",
            "no_valid_entry_refused",
            "local_writes_accepted",
        ] {
            invariants.insert(
                name.to_string(),
                !self.violations.iter().any(|v| v.invariant == name),
            );
        }
        let mut delays = BTreeMap::new();
        for (lvl, v) in self.delays.iter_mut().enumerate() {
            v.sort_unstable();
            delays.insert(
                LEVEL_NAMES[lvl].to_string(),
                crate::report::Percentiles::of(v),
            );
        }
        let mut roles: BTreeMap<String, u64> = BTreeMap::new();
        for n in &self.nodes {
            *roles.entry(n.role.code().to_string()).or_default() += 1;
        }
        self.counters.events = self.events;
        self.national_daily
            .truncate((self.now / DAY_MS) as usize + 1);
        self.counters.end_ms = self.now;
        Ok(Report {
            scenario: self.sc.name.clone(),
            seed: self.seed,
            roles,
            faults: self.profile.clone(),
            counters: self.counters.clone(),
            links: self.link_stats.clone(),
            delays_ms: delays,
            national_daily: self.national_daily.clone(),
            invariants,
            reorganisation: reorganised.then(|| self.reorg.clone()),
            violations: self.violations.clone(),
            trace: self.trace.iter().cloned().collect(),
        })
    }
}

/// `d3 14:05` style virtual time.
pub fn fmt_time(ms: u64) -> String {
    format!(
        "d{} {:02}:{:02}",
        ms / DAY_MS,
        (ms % DAY_MS) / HOUR_MS,
        (ms % HOUR_MS) / 60_000
    )
}

/// A duration as `2d 3h` / `5m 3s`.
pub fn fmt_dur(ms: u64) -> String {
    if ms >= DAY_MS {
        format!("{}d {}h", ms / DAY_MS, (ms % DAY_MS) / HOUR_MS)
    } else if ms >= HOUR_MS {
        format!("{}h {}m", ms / HOUR_MS, (ms % HOUR_MS) / 60_000)
    } else if ms >= 60_000 {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}
