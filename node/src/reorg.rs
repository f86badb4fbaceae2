//! Re-organisation of the unit tree (issue 16): move, merge, close and rename units, one at a
//! time or as a plan applied as one whole (the July 2025 reform: 63 provinces into 34, the
//! district level ended, grassroots unions under commune and ward unions).
//!
//! Every step is a signed entry verified like any other, under the rules that govern
//! re-parenting (`sync_protocol::verify`): a **move** or **rename** is a certificate replacing
//! the unit's current one (same key), signed by an ancestor of both the old and the new parent;
//! a **new** unit is a first certificate signed by its parent or an ancestor of it; a **merge**
//! or **closure** is an `EntryBody::UnitEnd` signed by an ancestor of the unit. Records keep
//! their origin unit; counters follow the certificates and ends (a merged unit's history is
//! counted under its successor, `Directory::report_parent`).
//!
//! # Plan files
//!
//! UTF-8 text, one instruction per line, fields separated by commas (as the CSV files in
//! `data/`: no quoting; a name is the last field and may not hold a comma). Empty lines and
//! lines starting with `#` are ignored. Instructions are carried out in file order:
//!
//! ```text
//! effective,01/07/2025                      the date merges and closures take effect (once, first)
//! note,Nghị quyết 202/2025/QH15            why, recorded in every end (optional)
//! new,<unit>,<role>,<parent>,<name>        certify a new unit (role: a code or a name)
//! move,<unit>,<new parent>
//! rename,<unit>,<new name>
//! commune,<old commune code>,<new parent>  move the grassroots unions located in that old
//!                                          commune (unit id `cs<code>-…`, see below)
//! children,<unit>,<new parent>             move the unit's children that are still under it
//! close,<unit>                             no new entries from the date; history kept
//! merge,<unit>,<successor>                 the unit's remaining children move to the
//!                                          successor; its history is reported there
//! ```
//!
//! A grassroots union is *located* in an old commune when its id is `cs` followed by the
//! commune's 5-digit code and `-` (e.g. `cs00001-3`): certificates name no address, so a plan
//! derived from the commune mapping can only place the unions it can locate; a district's
//! `children` line places the others in the commune that took the largest part of it.
//! `sangkien unit reform-plan` writes the plan of the July 2025 reform from `data/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sync_protocol::date::Date;
use sync_protocol::entry::{Certificate, Entry, EntryBody, UnitEnd, UnitRole};
use sync_protocol::ids::{UnitId, UnitKey};
use sync_protocol::limits::{
    MAX_NOTE_CHARS, MAX_PLAN_BYTES, MAX_PLAN_LINES_COUNT, MAX_UNIT_NAME_CHARS,
};
use sync_protocol::text::Text;

use ed25519_dalek::SigningKey;
use sync_protocol::author::Author;
use sync_protocol::directory::Directory;

use crate::node::{Node, NodeError};

pub mod reform;

/// One instruction of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Certify a new unit.
    New {
        /// its id
        unit: UnitId,
        /// its role
        role: UnitRole,
        /// its parent
        parent: UnitId,
        /// its name
        name: Text,
    },
    /// Re-parent a unit.
    Move {
        /// the unit
        unit: UnitId,
        /// its new parent
        parent: UnitId,
    },
    /// Rename a unit.
    Rename {
        /// the unit
        unit: UnitId,
        /// its new name
        name: Text,
    },
    /// Move the grassroots unions located in an old commune.
    Commune {
        /// 5-digit commune code
        code: String,
        /// their new parent
        parent: UnitId,
    },
    /// Move the children still under a unit.
    Children {
        /// the unit
        unit: UnitId,
        /// their new parent
        parent: UnitId,
    },
    /// Close a unit.
    Close {
        /// the unit
        unit: UnitId,
    },
    /// Merge a unit into a successor.
    Merge {
        /// the unit
        unit: UnitId,
        /// its successor
        into: UnitId,
    },
}

/// A re-organisation plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// When merges and closures take effect, Unix ms (UTC midnight of the date).
    pub effective_ms: u64,
    /// Why, recorded in every end.
    pub note: Text,
    /// Steps with their 1-based line numbers.
    pub steps: Vec<(usize, Step)>,
}

/// What is wrong with one line of a plan file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// An instruction this version does not know.
    #[error("unknown instruction {0:?}")]
    UnknownInstruction(String),
    /// Too few or too many fields.
    #[error("{instruction} takes {expected} fields, found {found}")]
    FieldCount {
        /// the instruction
        instruction: &'static str,
        /// fields it takes (the instruction included)
        expected: usize,
        /// fields found
        found: usize,
    },
    /// Not a unit id.
    #[error("{0:?} is not a unit id")]
    BadUnitId(String),
    /// Not a role.
    #[error("{0:?} is not a unit role")]
    BadRole(String),
    /// Not a date (dd/mm/yyyy).
    #[error("{0:?} is not a date (dd/mm/yyyy)")]
    BadDate(String),
    /// A second `effective` line.
    #[error("a second effective date")]
    SecondDate,
    /// A name or note that is not valid text.
    #[error("invalid text: {0}")]
    BadText(String),
    /// Not a 5-digit commune code.
    #[error("{0:?} is not a 5-digit commune code")]
    BadCommuneCode(String),
}

/// What is wrong with a step, given the tree the node holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepProblem {
    /// The unit is not known here.
    #[error("unit {0} is not known")]
    Unknown(UnitId),
    /// A new unit whose id is taken.
    #[error("unit {0} already exists")]
    Exists(UnitId),
    /// The unit has ended (merged or closed), or ends earlier in the plan.
    #[error("unit {0} has ended")]
    Ended(UnitId),
    /// The root cannot be moved, merged or closed.
    #[error("the root unit cannot be moved, merged or closed")]
    Root,
    /// The move would put the unit under itself.
    #[error("{unit} would be under itself")]
    UnderItself {
        /// the unit
        unit: UnitId,
    },
    /// The role may not sit under the parent's role.
    #[error("a {} unit may not sit under a {} unit", child.code(), parent.code())]
    RoleNotAllowed {
        /// parent role
        parent: UnitRole,
        /// child role
        child: UnitRole,
    },
    /// Merging units of different roles.
    #[error("{unit} ({role:?}) and {into} ({into_role:?}) have different roles")]
    RolesDiffer {
        /// merged unit
        unit: UnitId,
        /// its role
        role: UnitRole,
        /// successor
        into: UnitId,
        /// its role
        into_role: UnitRole,
    },
    /// A unit closed while units still sit under it.
    #[error("{unit} still has {count} units under it; move them first")]
    HasChildren {
        /// the unit
        unit: UnitId,
        /// how many
        count: usize,
    },
}

/// Why a re-organisation was not carried out. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ReorgError {
    /// The plan file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// why
        source: std::io::Error,
    },
    /// The plan file is over [`MAX_PLAN_BYTES`].
    #[error("plan file is {actual} bytes, over the limit of {MAX_PLAN_BYTES}")]
    TooLarge {
        /// its size
        actual: u64,
    },
    /// The plan has more than [`MAX_PLAN_LINES_COUNT`] lines.
    #[error("plan has over {MAX_PLAN_LINES_COUNT} lines")]
    TooManyLines,
    /// The plan names no effective date.
    #[error("the plan has no `effective,dd/mm/yyyy` line")]
    NoDate,
    /// A line that is not an instruction.
    #[error("line {line}: {problem}")]
    Line {
        /// 1-based line
        line: usize,
        /// what
        problem: LineProblem,
    },
    /// A step that cannot be carried out on this tree (line 0: a single command).
    #[error("line {line}: {problem}")]
    Step {
        /// 1-based line (0 for a single command)
        line: usize,
        /// what
        problem: StepProblem,
    },
    /// The verifier refused one of the plan's entries (e.g. this node's unit has no authority
    /// over the units named).
    #[error("{action}: {source}")]
    Refused {
        /// the action whose entry was refused
        action: Box<Action>,
        /// why
        source: NodeError,
    },
    /// The node failed (keys, store).
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// One change a plan makes, for people and for the dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A unit certified.
    New {
        /// the unit
        unit: UnitId,
        /// its role
        role: UnitRole,
        /// its parent
        parent: UnitId,
        /// its name
        name: String,
    },
    /// A unit re-parented (and perhaps renamed).
    Move {
        /// the unit
        unit: UnitId,
        /// its parent before
        from: UnitId,
        /// its parent after
        to: UnitId,
    },
    /// A unit renamed (in place).
    Rename {
        /// the unit
        unit: UnitId,
        /// its new name
        name: String,
    },
    /// A unit closed.
    Close {
        /// the unit
        unit: UnitId,
    },
    /// A unit merged.
    Merge {
        /// the unit
        unit: UnitId,
        /// its successor
        into: UnitId,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::New {
                unit, role, parent, ..
            } => write!(f, "new {} {unit} under {parent}", role.code()),
            Action::Move { unit, from, to } => write!(f, "move {unit} from {from} to {to}"),
            Action::Rename { unit, name } => write!(f, "rename {unit} to {name}"),
            Action::Close { unit } => write!(f, "close {unit}"),
            Action::Merge { unit, into } => write!(f, "merge {unit} into {into}"),
        }
    }
}

/// What a plan did (or would do).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every change, in the order of the entries.
    pub actions: Vec<Action>,
    /// New units certified.
    pub new_count: usize,
    /// Units re-parented.
    pub moved_count: usize,
    /// Units renamed.
    pub renamed_count: usize,
    /// Units closed.
    pub closed_count: usize,
    /// Units merged.
    pub merged_count: usize,
    /// Entries signed.
    pub entries_count: usize,
    /// Where the new units' private keys were written (not on a dry run).
    pub keys_dir: Option<PathBuf>,
}

/// The Unix ms of a date's start (UTC midnight), the time ends and reports use for a date.
pub fn date_ms(d: Date) -> u64 {
    (d.days_since_epoch().max(0) as u64) * 86_400_000
}

/// Reads a plan file (bounded by [`MAX_PLAN_BYTES`] before it is read).
pub fn read_plan(path: &Path) -> Result<Plan, ReorgError> {
    let read_err = |source| ReorgError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_PLAN_BYTES {
        return Err(ReorgError::TooLarge { actual: len });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    parse_plan(&text)
}

/// Parses a plan (see the module doc).
pub fn parse_plan(text: &str) -> Result<Plan, ReorgError> {
    if text.len() as u64 > MAX_PLAN_BYTES {
        return Err(ReorgError::TooLarge {
            actual: text.len() as u64,
        });
    }
    let mut effective = None;
    let mut note = None;
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if line > MAX_PLAN_LINES_COUNT {
            return Err(ReorgError::TooManyLines);
        }
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let err = |problem| ReorgError::Line { line, problem };
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let want = |instruction: &'static str, n: usize| {
            if f.len() == n {
                Ok(())
            } else {
                Err(err(LineProblem::FieldCount {
                    instruction,
                    expected: n,
                    found: f.len(),
                }))
            }
        };
        let uid = |s: &str| UnitId::new(s).map_err(|_| err(LineProblem::BadUnitId(s.to_owned())));
        let name = |s: &str| {
            Text::required("name", s, MAX_UNIT_NAME_CHARS)
                .map_err(|e| err(LineProblem::BadText(e.to_string())))
        };
        let step = match f[0] {
            "effective" => {
                want("effective", 2)?;
                let d = parse_date(f[1]).ok_or_else(|| err(LineProblem::BadDate(f[1].into())))?;
                if effective.replace(date_ms(d)).is_some() {
                    return Err(err(LineProblem::SecondDate));
                }
                continue;
            }
            "note" => {
                let rest = l["note".len()..]
                    .trim_start()
                    .trim_start_matches(',')
                    .trim();
                note = Some(
                    Text::new("note", rest, MAX_NOTE_CHARS)
                        .map_err(|e| err(LineProblem::BadText(e.to_string())))?,
                );
                continue;
            }
            "new" => {
                want("new", 5)?;
                let role = UnitRole::from_code(f[2])
                    .ok_or_else(|| err(LineProblem::BadRole(f[2].into())))?;
                Step::New {
                    unit: uid(f[1])?,
                    role,
                    parent: uid(f[3])?,
                    name: name(f[4])?,
                }
            }
            "move" => {
                want("move", 3)?;
                Step::Move {
                    unit: uid(f[1])?,
                    parent: uid(f[2])?,
                }
            }
            "rename" => {
                want("rename", 3)?;
                Step::Rename {
                    unit: uid(f[1])?,
                    name: name(f[2])?,
                }
            }
            "commune" => {
                want("commune", 3)?;
                if f[1].len() != 5 || !f[1].bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(LineProblem::BadCommuneCode(f[1].into())));
                }
                Step::Commune {
                    code: f[1].to_owned(),
                    parent: uid(f[2])?,
                }
            }
            "children" => {
                want("children", 3)?;
                Step::Children {
                    unit: uid(f[1])?,
                    parent: uid(f[2])?,
                }
            }
            "close" => {
                want("close", 2)?;
                Step::Close { unit: uid(f[1])? }
            }
            "merge" => {
                want("merge", 3)?;
                Step::Merge {
                    unit: uid(f[1])?,
                    into: uid(f[2])?,
                }
            }
            other => {
                return Err(err(LineProblem::UnknownInstruction(
                    other.chars().take(40).collect(),
                )))
            }
        };
        steps.push((line, step));
    }
    Ok(Plan {
        effective_ms: effective.ok_or(ReorgError::NoDate)?,
        note: match note {
            Some(n) => n,
            None => Text::new("note", "", MAX_NOTE_CHARS).expect("empty text is valid"),
        },
        steps,
    })
}

/// A date as officers write it (dd/mm/yyyy) or ISO (yyyy-mm-dd).
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() == 10 && s.as_bytes()[4] == b'-' {
        return Date::parse(s).ok();
    }
    let parts: Vec<&str> = s.split('/').collect();
    let [d, m, y] = parts.as_slice() else {
        return None;
    };
    let digits =
        |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if !digits(d, &[1, 2]) || !digits(m, &[1, 2]) || !digits(y, &[4]) {
        return None;
    }
    let (d, m): (u8, u8) = (d.parse().ok()?, m.parse().ok()?);
    Date::parse(&format!("{y}-{m:02}-{d:02}")).ok()
}

/// The tree as the plan changes it, step by step.
struct Tree {
    parent: BTreeMap<UnitId, UnitId>,
    children: BTreeMap<UnitId, BTreeSet<UnitId>>,
    role: BTreeMap<UnitId, UnitRole>,
    name: BTreeMap<UnitId, Text>,
    ended: BTreeSet<UnitId>,
    root: UnitId,
}

impl Tree {
    fn from_directory(d: &Directory) -> Self {
        let mut t = Tree {
            parent: BTreeMap::new(),
            children: BTreeMap::new(),
            role: BTreeMap::new(),
            name: BTreeMap::new(),
            ended: BTreeSet::new(),
            root: d.root().clone(),
        };
        t.role.insert(d.root().clone(), UnitRole::National);
        for c in d.certificates().filter(|c| c.until_ms.is_none()) {
            let u = c.cert.unit.clone();
            t.parent.insert(u.clone(), c.cert.parent.clone());
            t.children
                .entry(c.cert.parent.clone())
                .or_default()
                .insert(u.clone());
            t.role.insert(u.clone(), c.cert.role);
            t.name.insert(u.clone(), c.cert.name.clone());
            if d.end_of(&u).is_some() {
                t.ended.insert(u);
            }
        }
        t
    }

    fn known(&self, u: &UnitId) -> Result<UnitRole, StepProblem> {
        self.role
            .get(u)
            .copied()
            .ok_or_else(|| StepProblem::Unknown(u.clone()))
    }

    fn open(&self, u: &UnitId) -> Result<UnitRole, StepProblem> {
        let r = self.known(u)?;
        if self.ended.contains(u) {
            return Err(StepProblem::Ended(u.clone()));
        }
        Ok(r)
    }

    fn is_under(&self, u: &UnitId, ancestor: &UnitId) -> bool {
        let mut cur = u;
        for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
            if cur == ancestor {
                return true;
            }
            match self.parent.get(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    }

    fn set_parent(&mut self, u: &UnitId, p: &UnitId) {
        if let Some(old) = self.parent.insert(u.clone(), p.clone()) {
            if let Some(s) = self.children.get_mut(&old) {
                s.remove(u);
            }
        }
        self.children
            .entry(p.clone())
            .or_default()
            .insert(u.clone());
    }

    /// Checks that `u` may move under `p`.
    fn may_move(&self, u: &UnitId, p: &UnitId) -> Result<(), StepProblem> {
        if *u == self.root {
            return Err(StepProblem::Root);
        }
        let role = self.open(u)?;
        let prole = self.open(p)?;
        if self.is_under(p, u) {
            return Err(StepProblem::UnderItself { unit: u.clone() });
        }
        if !prole.may_parent(role) {
            return Err(StepProblem::RoleNotAllowed {
                parent: prole,
                child: role,
            });
        }
        Ok(())
    }

    fn open_children(&self, u: &UnitId) -> Vec<UnitId> {
        self.children
            .get(u)
            .map(|s| {
                s.iter()
                    .filter(|c| !self.ended.contains(*c))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Applies `plan` at `node` (signed by the node's unit), or, with `dry_run`, only says what it
/// would do: every entry is signed and verified either way, and nothing is stored unless all
/// are accepted. New units get fresh keys, written to `keys_dir` (made 0700; one
/// `<unit>.key` each, 0600) when the plan is applied.
pub fn apply(
    node: &mut Node,
    plan: &Plan,
    now_ms: u64,
    dry_run: bool,
    keys_dir: &Path,
) -> Result<Outcome, ReorgError> {
    let author = node.author()?.clone();
    let Compiled {
        entries,
        per_entry,
        mut outcome,
        new_keys,
    } = compile(node.directory(), &author, plan, now_ms, &mut |_| {
        crate::keys::generate()
    })?;
    let mut out = std::mem::take(&mut outcome);
    // Every entry is verified against a copy of the directory before anything is stored.
    if dry_run {
        let mut dir = node.directory().clone();
        for (ci, chunk) in entries
            .chunks(sync_protocol::limits::MAX_BATCH_ENTRIES)
            .enumerate()
        {
            let o = sync_protocol::import::import_batch(
                node.store(),
                &mut dir,
                chunk.to_vec(),
                Some(node.unit()),
                now_ms,
            )
            .map_err(NodeError::from)?;
            let at = |h: &sync_protocol::ids::EntryHash| {
                ci * sync_protocol::limits::MAX_BATCH_ENTRIES
                    + chunk.iter().position(|e| e.hash() == *h).unwrap_or(0)
            };
            if let Some((h, r)) = o.rejected.first() {
                return Err(refused(&per_entry, at(h), NodeError::Rejected(r.clone())));
            }
            if let Some((e, m)) = o.waiting.first() {
                return Err(refused(
                    &per_entry,
                    at(&e.hash()),
                    NodeError::Waiting(m.clone()),
                ));
            }
        }
        return Ok(out);
    }
    if !new_keys.is_empty() {
        crate::node::create_private_dir(keys_dir)?;
        for (unit, key) in &new_keys {
            crate::keys::write_new(&keys_dir.join(format!("{unit}.key")), key)
                .map_err(NodeError::from)?;
        }
        out.keys_dir = Some(keys_dir.to_path_buf());
    }
    node.write_signed_all(entries, now_ms)
        .map_err(|(i, e)| refused(&per_entry, i, e))?;
    Ok(out)
}

/// A plan turned into signed entries (not yet verified or stored): what [`compile`] returns.
pub struct Compiled {
    /// The entries, in the order they must be imported: new units (parents first), then one
    /// certificate per moved or renamed unit, then the ends.
    pub entries: Vec<Entry>,
    /// The action each entry carries out (same length as `entries`).
    pub per_entry: Vec<Action>,
    /// What the plan does (`keys_dir` unset).
    pub outcome: Outcome,
    /// The new units' private keys, as `new_key` made them.
    pub new_keys: Vec<(UnitId, SigningKey)>,
}

/// Checks `plan` step by step against the tree `dir` holds and signs its entries with
/// `author` at `now_ms`, with a fresh key from `new_key` for each new unit. Pure: nothing is
/// verified or stored here ([`apply`] does that at a node; the simulator imports them through
/// the same verified import). A step that cannot be carried out is a [`ReorgError::Step`].
pub fn compile(
    dir: &Directory,
    author: &Author,
    plan: &Plan,
    now_ms: u64,
    new_key: &mut dyn FnMut(&UnitId) -> SigningKey,
) -> Result<Compiled, ReorgError> {
    let mut tree = Tree::from_directory(dir);
    let mut out = Outcome::default();
    // Located grassroots unions by old commune code.
    let mut located: BTreeMap<String, Vec<UnitId>> = BTreeMap::new();
    for (u, r) in &tree.role {
        if *r != UnitRole::Grassroots {
            continue;
        }
        if let Some(code) = commune_of(u) {
            located.entry(code.to_owned()).or_default().push(u.clone());
        }
    }
    let mut new_units: Vec<(UnitId, UnitRole, UnitId, Text)> = Vec::new();
    let mut ends: Vec<(UnitId, Option<UnitId>)> = Vec::new();
    let mut renamed: BTreeSet<UnitId> = BTreeSet::new();
    let original_parent = tree.parent.clone();
    for (line, step) in &plan.steps {
        let line = *line;
        let fail = |problem| ReorgError::Step { line, problem };
        match step {
            Step::New {
                unit,
                role,
                parent,
                name,
            } => {
                if tree.role.contains_key(unit) {
                    return Err(fail(StepProblem::Exists(unit.clone())));
                }
                let prole = tree.open(parent).map_err(fail)?;
                if !prole.may_parent(*role) {
                    return Err(fail(StepProblem::RoleNotAllowed {
                        parent: prole,
                        child: *role,
                    }));
                }
                tree.role.insert(unit.clone(), *role);
                tree.name.insert(unit.clone(), name.clone());
                tree.set_parent(unit, parent);
                new_units.push((unit.clone(), *role, parent.clone(), name.clone()));
            }
            Step::Move { unit, parent } => {
                tree.may_move(unit, parent).map_err(fail)?;
                tree.set_parent(unit, parent);
            }
            Step::Rename { unit, name } => {
                tree.open(unit).map_err(fail)?;
                tree.name.insert(unit.clone(), name.clone());
                renamed.insert(unit.clone());
            }
            Step::Commune { code, parent } => {
                for u in located.get(code).cloned().unwrap_or_default() {
                    if tree.ended.contains(&u) {
                        continue;
                    }
                    tree.may_move(&u, parent).map_err(fail)?;
                    tree.set_parent(&u, parent);
                }
            }
            Step::Children { unit, parent } => {
                tree.known(unit).map_err(fail)?;
                for c in tree.open_children(unit) {
                    tree.may_move(&c, parent).map_err(fail)?;
                    tree.set_parent(&c, parent);
                }
            }
            Step::Close { unit } => {
                if *unit == tree.root {
                    return Err(fail(StepProblem::Root));
                }
                tree.open(unit).map_err(fail)?;
                let left = tree.open_children(unit);
                if !left.is_empty() {
                    return Err(fail(StepProblem::HasChildren {
                        unit: unit.clone(),
                        count: left.len(),
                    }));
                }
                tree.ended.insert(unit.clone());
                ends.push((unit.clone(), None));
            }
            Step::Merge { unit, into } => {
                if *unit == tree.root {
                    return Err(fail(StepProblem::Root));
                }
                let role = tree.open(unit).map_err(fail)?;
                let into_role = tree.open(into).map_err(fail)?;
                if role != into_role {
                    return Err(fail(StepProblem::RolesDiffer {
                        unit: unit.clone(),
                        role,
                        into: into.clone(),
                        into_role,
                    }));
                }
                if tree.is_under(into, unit) {
                    return Err(fail(StepProblem::UnderItself { unit: into.clone() }));
                }
                for c in tree.open_children(unit) {
                    tree.may_move(&c, into).map_err(fail)?;
                    tree.set_parent(&c, into);
                }
                tree.ended.insert(unit.clone());
                ends.push((unit.clone(), Some(into.clone())));
            }
        }
    }

    // The entries: new units (parents first, as the plan lists them), then one certificate
    // per moved or renamed unit, then the ends.
    let d = dir;
    let mut entries: Vec<Entry> = Vec::new();
    let mut actions: Vec<Action> = Vec::new();
    // The action each entry carries out (a move and rename of one unit is one entry).
    let mut per_entry: Vec<Action> = Vec::new();
    let mut new_keys = Vec::new();
    let new_set: BTreeSet<&UnitId> = new_units.iter().map(|n| &n.0).collect();
    // New units are certified a millisecond apart before `now_ms`, in plan order (parents
    // first), so that each exists before anything names it as parent.
    let first_new_ms = now_ms.saturating_sub(new_units.len() as u64);
    for (i, (unit, role, _, _)) in new_units.iter().enumerate() {
        let key = new_key(unit);
        let parent = tree
            .parent
            .get(unit)
            .cloned()
            .unwrap_or_else(|| tree.root.clone());
        let name = tree.name.get(unit).cloned().expect("a new unit has a name");
        entries.push(author.sign(
            first_new_ms + i as u64,
            EntryBody::Certificate(Certificate {
                unit: unit.clone(),
                name: name.clone(),
                role: *role,
                parent: parent.clone(),
                key: UnitKey(key.verifying_key().to_bytes()),
                replaces: None,
            }),
        ));
        actions.push(Action::New {
            unit: unit.clone(),
            role: *role,
            parent,
            name: name.to_string(),
        });
        per_entry.push(actions[actions.len() - 1].clone());
        new_keys.push((unit.clone(), key));
        out.new_count += 1;
    }
    for (unit, parent) in &tree.parent {
        if new_set.contains(unit) {
            continue;
        }
        let moved = original_parent.get(unit) != Some(parent);
        let is_renamed = renamed.contains(unit);
        if !moved && !is_renamed {
            continue;
        }
        let Some(current) = d.latest_cert(unit) else {
            continue;
        };
        let name = tree
            .name
            .get(unit)
            .cloned()
            .unwrap_or(current.cert.name.clone());
        entries.push(author.sign(
            now_ms,
            EntryBody::Certificate(Certificate {
                name: name.clone(),
                parent: parent.clone(),
                replaces: Some(current.hash),
                ..current.cert.clone()
            }),
        ));
        if moved {
            out.moved_count += 1;
            actions.push(Action::Move {
                unit: unit.clone(),
                from: current.cert.parent.clone(),
                to: parent.clone(),
            });
        }
        if is_renamed {
            out.renamed_count += 1;
            actions.push(Action::Rename {
                unit: unit.clone(),
                name: name.to_string(),
            });
        }
        per_entry.push(actions[actions.len() - 1].clone());
    }
    for (unit, successor) in &ends {
        entries.push(author.sign(
            now_ms,
            EntryBody::UnitEnd(UnitEnd {
                unit: unit.clone(),
                successor: successor.clone(),
                effective_ms: plan.effective_ms,
                note: plan.note.clone(),
            }),
        ));
        match successor {
            Some(into) => {
                out.merged_count += 1;
                actions.push(Action::Merge {
                    unit: unit.clone(),
                    into: into.clone(),
                });
            }
            None => {
                out.closed_count += 1;
                actions.push(Action::Close { unit: unit.clone() });
            }
        }
        per_entry.push(actions[actions.len() - 1].clone());
    }
    out.entries_count = entries.len();
    out.actions = actions;
    Ok(Compiled {
        entries,
        per_entry,
        outcome: out,
        new_keys,
    })
}

fn refused(per_entry: &[Action], index: usize, source: NodeError) -> ReorgError {
    let action = per_entry.get(index).cloned().unwrap_or(Action::Close {
        unit: UnitId::new("unknown").expect("a valid id"),
    });
    ReorgError::Refused {
        action: Box::new(action),
        source,
    }
}

/// The old commune a grassroots union's id locates it in (`cs<5 digits>-…`), if any.
pub fn commune_of(u: &UnitId) -> Option<&str> {
    let s = u.as_str().strip_prefix("cs")?;
    let code = s.get(..5)?;
    (code.bytes().all(|b| b.is_ascii_digit()) && s[5..].starts_with('-')).then_some(code)
}

#[cfg(test)]
mod tests;
