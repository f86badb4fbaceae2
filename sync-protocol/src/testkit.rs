//! Building blocks for tests and the simulator: a small federation in a MemStore.
//!
//! [`Federation::new`] makes a genesis for `tld` and certificates for a fixed tree, imports
//! them through [`import::import_batch`] and keeps the [`Directory`] and the [`MemStore`] up to
//! date. Everything is deterministic: signing keys are `[n; 32]` in the order units are made
//! (`tld` is `[1; 32]`), Automerge actor ids, record ids and commitment salts come from a
//! counter, and the clock is `BASE_MS + step * STEP_MS`. Nothing reads the OS clock or the OS
//! random generator.
//!
//! ```text
//! tld (National)
//! ├── ldld-phu-yen (ProvincialFederation)
//! │   └── ldld-tuy-hoa (DirectSuperior)
//! │       ├── cdcs-a (Grassroots)
//! │       └── cdcs-b (Grassroots)
//! ├── ldld-tra-vinh (ProvincialFederation)
//! │   └── ldld-tp-tra-vinh (DirectSuperior)
//! │       └── cdcs-c (Grassroots)
//! └── cd-tct-dien-luc (CorporationUnion)
//!     └── cdcs-dien-luc-phu-yen (Grassroots)
//! ```
//!
//! The helpers panic on misuse (an unknown unit, a record the fixture did not make): they are
//! for tests and simulations, never for input from outside.

use std::collections::BTreeMap;

use automerge::AutoCommit;
use ed25519_dalek::SigningKey;

use crate::audit::{self, RecordReport};
use crate::author::Author;
use crate::date::Date;
use crate::directory::Directory;
use crate::entry::{
    Binding, Certificate, Decision, DecisionKind, Entry, EntryBody, Genesis, Projection,
    RecordChange, RecordKind, Revocation, Sector, UnitRole, ENTRY_SIGNING_CONTEXT,
};
use crate::ids::{ChangeHash, EntryHash, RecordId, UnitId, UnitKey};
use crate::import::{self, ImportOutcome};
use crate::limits::{
    MAX_DESCRIPTION_SECTION_CHARS, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, MAX_UNIT_NAME_CHARS,
};
use crate::record::{self, Application, Description, Initiative, RecordContent};
use crate::store::{EntryStore, MemStore};
use crate::text::Text;
use crate::verify::{self, VerifiedEntry, VerifyError, VerifyOptions};

/// The clock's origin: 2023-11-14, Unix milliseconds.
pub const BASE_MS: u64 = 1_700_000_000_000;

/// How far the clock moves at each [`Federation::tick`].
pub const STEP_MS: u64 = 1_000;

/// The root unit's id.
pub const ROOT: &str = "tld";

/// The root unit's name.
pub const ROOT_NAME: &str = "Tổng Liên đoàn Lao động Việt Nam";

/// The units [`Federation::new`] certifies, parents first: id, name, role, parent.
pub const UNITS: &[(&str, &str, UnitRole, &str)] = &[
    (
        "ldld-phu-yen",
        "Liên đoàn Lao động tỉnh Phú Yên",
        UnitRole::ProvincialFederation,
        ROOT,
    ),
    (
        "ldld-tuy-hoa",
        "Liên đoàn Lao động thành phố Tuy Hòa",
        UnitRole::DirectSuperior,
        "ldld-phu-yen",
    ),
    (
        "cdcs-a",
        "Công đoàn cơ sở Công ty Cổ phần A",
        UnitRole::Grassroots,
        "ldld-tuy-hoa",
    ),
    (
        "cdcs-b",
        "Công đoàn cơ sở Công ty TNHH B",
        UnitRole::Grassroots,
        "ldld-tuy-hoa",
    ),
    (
        "ldld-tra-vinh",
        "Liên đoàn Lao động tỉnh Trà Vinh",
        UnitRole::ProvincialFederation,
        ROOT,
    ),
    (
        "ldld-tp-tra-vinh",
        "Liên đoàn Lao động thành phố Trà Vinh",
        UnitRole::DirectSuperior,
        "ldld-tra-vinh",
    ),
    (
        "cdcs-c",
        "Công đoàn cơ sở Công ty C",
        UnitRole::Grassroots,
        "ldld-tp-tra-vinh",
    ),
    (
        "cd-tct-dien-luc",
        "Công đoàn Tổng công ty Điện lực miền Trung",
        UnitRole::CorporationUnion,
        ROOT,
    ),
    (
        "cdcs-dien-luc-phu-yen",
        "Công đoàn cơ sở Công ty Điện lực Phú Yên",
        UnitRole::Grassroots,
        "cd-tct-dien-luc",
    ),
];

/// A unit id from a literal; panics on an invalid one.
pub fn unit(s: &str) -> UnitId {
    UnitId::new(s).unwrap_or_else(|e| panic!("testkit: bad unit id {s:?}: {e}"))
}

/// Text for a field; panics when the text breaks the bound.
pub fn text(field: &'static str, s: &str, limit: usize) -> Text {
    Text::new(field, s, limit).unwrap_or_else(|e| panic!("testkit: {e}"))
}

/// A signing key made of one repeated byte.
pub fn key_of(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// The genesis of the test federation: `tld` with the key `[1; 32]`.
pub fn genesis() -> Genesis {
    Genesis {
        root_unit: unit(ROOT),
        root_name: text("root name", ROOT_NAME, MAX_UNIT_NAME_CHARS),
        root_key: UnitKey(key_of(1).verifying_key().to_bytes()),
    }
}

/// Re-signs tampered entry bytes: replaces the last 64 bytes (the signature) with a valid
/// signature of the rest by `key`, so that only the checks other than the signature can fail.
pub fn resign(entry_bytes: &[u8], key: &SigningKey) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let unsigned = &entry_bytes[..entry_bytes.len().saturating_sub(64)];
    let mut msg = ENTRY_SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(unsigned);
    let signature = key.sign(&msg).to_bytes();
    [unsigned, &signature[..]].concat()
}

/// 16 bytes derived from a counter (actor ids, record ids).
fn derived16(context: &str, n: u64) -> [u8; 16] {
    let full = blake3::derive_key(context, &n.to_be_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// An initiative the fixture made, and its document.
#[derive(Clone, Debug)]
struct Draft {
    doc: AutoCommit,
    initiative: Initiative,
    latest_projection: Option<EntryHash>,
}

/// A small federation: keys, trust directory, store and clock.
#[derive(Clone, Debug)]
pub struct Federation {
    /// The genesis.
    pub genesis: Genesis,
    /// The genesis entry.
    pub genesis_entry: Entry,
    /// The trust directory, updated by every [`Federation::import`].
    pub directory: Directory,
    /// Every entry accepted by [`Federation::import`].
    pub store: MemStore,
    /// The genesis and certificates made by [`Federation::new`], in order.
    pub trust_entries: Vec<Entry>,
    keys: BTreeMap<UnitId, SigningKey>,
    certs: BTreeMap<UnitId, (EntryHash, Certificate)>,
    next_key: u8,
    step: u64,
    ids: u64,
    drafts: BTreeMap<RecordId, Draft>,
}

impl Default for Federation {
    fn default() -> Self {
        Self::new()
    }
}

impl Federation {
    /// The federation of [`UNITS`], every certificate imported and stored.
    pub fn new() -> Self {
        let genesis = genesis();
        let root_key = key_of(1);
        let national = Author::new(genesis.federation_id(), unit(ROOT), root_key.clone());
        let genesis_entry = national.sign(BASE_MS, EntryBody::Genesis(genesis.clone()));
        let directory = Directory::new(genesis.clone(), genesis_entry.hash());
        let mut fed = Self {
            genesis,
            genesis_entry: genesis_entry.clone(),
            directory,
            store: MemStore::new(),
            trust_entries: vec![genesis_entry.clone()],
            keys: BTreeMap::from([(unit(ROOT), root_key)]),
            certs: BTreeMap::new(),
            next_key: 2,
            step: 0,
            ids: 0,
            drafts: BTreeMap::new(),
        };
        let mut batch = vec![genesis_entry];
        for (id, name, role, parent) in UNITS {
            let c = fed.certify(parent, id, name, *role);
            fed.trust_entries.push(c.clone());
            batch.push(c);
        }
        fed.import_ok(batch);
        fed
    }

    // ---- clock and ids --------------------------------------------------------------------

    /// Advances the clock one step and returns the new time: the time of the next entry.
    pub fn tick(&mut self) -> u64 {
        self.step += 1;
        self.time_ms()
    }

    /// The time of the latest step.
    pub fn time_ms(&self) -> u64 {
        BASE_MS + self.step * STEP_MS
    }

    /// The verifier's clock: half a step after the latest entry.
    pub fn now_ms(&self) -> u64 {
        self.time_ms() + STEP_MS / 2
    }

    fn next_id(&mut self, context: &str) -> [u8; 16] {
        self.ids += 1;
        derived16(context, self.ids)
    }

    fn fresh_key(&mut self) -> SigningKey {
        let n = self.next_key;
        self.next_key = self
            .next_key
            .checked_add(1)
            .expect("testkit: out of deterministic keys");
        key_of(n)
    }

    // ---- units ----------------------------------------------------------------------------

    /// The current signing key of a unit.
    pub fn signing_key(&self, unit_id: &str) -> &SigningKey {
        self.keys
            .get(&unit(unit_id))
            .unwrap_or_else(|| panic!("testkit: no key for {unit_id}"))
    }

    /// A signer for the unit with its current key.
    pub fn author(&self, unit_id: &str) -> Author {
        Author::new(
            self.genesis.federation_id(),
            unit(unit_id),
            self.signing_key(unit_id).clone(),
        )
    }

    /// The hash of the latest certificate the fixture made for a unit.
    pub fn certificate_of(&self, unit_id: &str) -> EntryHash {
        self.cert(unit_id).0
    }

    fn cert(&self, unit_id: &str) -> &(EntryHash, Certificate) {
        self.certs
            .get(&unit(unit_id))
            .unwrap_or_else(|| panic!("testkit: no certificate for {unit_id}"))
    }

    /// The parent of a unit in the latest certificate the fixture made (whether imported or
    /// not); `None` for the root.
    pub fn parent_of(&self, unit_id: &str) -> Option<UnitId> {
        self.certs
            .get(&unit(unit_id))
            .map(|(_, c)| c.parent.clone())
    }

    /// A certificate for a new unit with a fresh key, signed by `parent` at the next step. The
    /// fixture remembers the key; the caller imports the entry.
    pub fn certify(&mut self, parent: &str, unit_id: &str, name: &str, role: UnitRole) -> Entry {
        let key = self.fresh_key();
        let cert = Certificate {
            unit: unit(unit_id),
            name: text("unit name", name, MAX_UNIT_NAME_CHARS),
            role,
            parent: unit(parent),
            key: UnitKey(key.verifying_key().to_bytes()),
            replaces: None,
        };
        self.sign_certificate(cert, key)
    }

    /// Signs `cert` as its parent at the next step; the fixture signs as the unit with `key`
    /// from then on.
    pub fn sign_certificate(&mut self, cert: Certificate, key: SigningKey) -> Entry {
        let parent = cert.parent.clone();
        self.sign_certificate_as(parent.as_str(), cert, key)
    }

    /// Like [`Federation::sign_certificate`], signed by `signer` (an ancestor re-parenting a
    /// unit, or a forger).
    pub fn sign_certificate_as(
        &mut self,
        signer: &str,
        cert: Certificate,
        key: SigningKey,
    ) -> Entry {
        let t = self.tick();
        let e = self
            .author(signer)
            .sign(t, EntryBody::Certificate(cert.clone()));
        self.keys.insert(cert.unit.clone(), key);
        self.certs.insert(cert.unit.clone(), (e.hash(), cert));
        e
    }

    /// Rotates a unit's key: a certificate from its parent with a fresh key that replaces the
    /// latest one. The fixture signs as the unit with the new key from then on.
    pub fn rotate_key(&mut self, unit_id: &str) -> Entry {
        let (old_hash, old) = self.cert(unit_id).clone();
        let key = self.fresh_key();
        let cert = Certificate {
            key: UnitKey(key.verifying_key().to_bytes()),
            replaces: Some(old_hash),
            ..old
        };
        self.sign_certificate(cert, key)
    }

    /// A new key for a unit without a certificate: what [`Federation::sign_certificate`] needs
    /// for a re-parenting or a forged certificate.
    pub fn new_key(&mut self) -> SigningKey {
        self.fresh_key()
    }

    /// Revokes `unit_id`'s current key from `effective_ms`, signed by `revoker` at the next step.
    pub fn revoke(&mut self, revoker: &str, unit_id: &str, effective_ms: u64) -> Entry {
        let key = UnitKey(self.signing_key(unit_id).verifying_key().to_bytes());
        let body = EntryBody::Revocation(Revocation {
            unit: unit(unit_id),
            key,
            effective_ms,
            reason: text("reason", "Mất máy tính chứa khóa", MAX_NOTE_CHARS),
        });
        let t = self.tick();
        self.author(revoker).sign(t, body)
    }

    // ---- import and verification ------------------------------------------------------------

    /// Imports a batch as a node that holds everything, at [`Federation::now_ms`]; stores what
    /// was accepted.
    pub fn import(&mut self, entries: Vec<Entry>) -> ImportOutcome {
        self.import_as(None, entries)
    }

    /// Imports a batch as `local_unit`'s node.
    pub fn import_as(&mut self, local_unit: Option<&UnitId>, entries: Vec<Entry>) -> ImportOutcome {
        let now = self.now_ms();
        let outcome =
            import::import_batch(&self.store, &mut self.directory, entries, local_unit, now)
                .unwrap_or_else(|e| panic!("testkit: import failed: {e}"));
        self.store
            .insert_batch(&outcome.accepted)
            .unwrap_or_else(|e| panic!("testkit: {e}"));
        outcome
    }

    /// Imports a batch and panics unless every entry was accepted.
    pub fn import_ok(&mut self, entries: Vec<Entry>) {
        let n = entries.len();
        let outcome = self.import(entries);
        assert!(
            outcome.accepted.len() == n
                && outcome.waiting.is_empty()
                && outcome.rejected.is_empty(),
            "testkit: expected all {n} entries accepted, got {outcome:?}"
        );
    }

    /// Verifies one entry against the store and directory, as a node that holds everything.
    pub fn verify(&self, entry: &Entry) -> Result<VerifiedEntry, VerifyError> {
        self.verify_with(entry, false)
    }

    /// Verifies one entry, `complete` saying whether something missing is a rejection.
    pub fn verify_with(&self, entry: &Entry, complete: bool) -> Result<VerifiedEntry, VerifyError> {
        verify::verify_entry(
            &self.store,
            &self.directory,
            entry,
            VerifyOptions {
                local_unit: None,
                now_ms: self.now_ms(),
                complete,
            },
        )
    }

    /// Re-checks a stored record as a whole.
    pub fn verify_record(&self, record: RecordId) -> RecordReport {
        audit::verify_record(&self.store, &self.directory, record, None, self.now_ms())
            .unwrap_or_else(|e| panic!("testkit: {e}"))
    }

    // ---- initiatives ------------------------------------------------------------------------

    /// A valid initiative of `origin` (superior: its parent now), committed as the first change
    /// of a new document and signed by `origin` at the next step. The caller imports it.
    pub fn new_initiative(
        &mut self,
        origin: &str,
        title: &str,
        confidential: bool,
    ) -> (RecordId, Vec<Entry>) {
        let record = RecordId(self.next_id("sangkien testkit record id"));
        let actor = self.next_id("sangkien testkit actor id");
        let salt =
            confidential.then(|| blake3::derive_key("sangkien testkit commitment salt", &record.0));
        let origin_id = unit(origin);
        let superior = self
            .parent_of(origin)
            .unwrap_or_else(|| panic!("testkit: {origin} has no parent"));
        let t = self.tick();
        let section = |s: &str| text("description", s, MAX_DESCRIPTION_SECTION_CHARS);
        let initiative = Initiative {
            title: Text::required("title", title, MAX_TITLE_CHARS)
                .unwrap_or_else(|e| panic!("testkit: {e}")),
            authors: vec![record::Author {
                name: text("name", "Nguyễn Văn An", MAX_SHORT_TEXT_CHARS),
                position: text("position", "Kỹ sư cơ khí", MAX_SHORT_TEXT_CHARS),
            }],
            origin: origin_id,
            superior,
            programme: None,
            phase: 0,
            sector: Sector::ProductionBusiness,
            summary: text(
                "summary",
                "Giảm 20% thời gian dừng máy của dây chuyền đóng gói",
                MAX_SUMMARY_CHARS,
            ),
            registered_on: Date::from_unix_ms(t),
            description: Description {
                current_state: section("Dây chuyền dừng trung bình 3 giờ mỗi tuần để bảo trì."),
                solution: section("Lắp cảm biến rung và lịch bảo trì theo tình trạng."),
                novelty: section("Lần đầu áp dụng tại đơn vị."),
                scope: section("Toàn bộ phân xưởng đóng gói."),
                effectiveness: section("Làm lợi 150 triệu đồng mỗi năm."),
            },
            benefit_vnd: 150_000_000,
            application: Application::Applied,
            recognition: None,
            confidential,
            attachments: Vec::new(),
            commitment_salt: salt,
        };
        let mut doc = record::new_document(actor);
        let change = record::commit_content(
            &mut doc,
            &RecordContent::Initiative(Box::new(initiative.clone())),
            t,
        )
        .unwrap_or_else(|e| panic!("testkit: {e}"))
        .expect("a new initiative is a change");
        let entry = self.author(origin).sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Initiative,
                owner: initiative.origin.clone(),
                confidential,
                change,
            }),
        );
        self.drafts.insert(
            record,
            Draft {
                doc,
                initiative,
                latest_projection: None,
            },
        );
        (record, vec![entry])
    }

    /// A programme with one phase launched by `owner`, signed at the next step. The caller
    /// imports it.
    pub fn new_programme(&mut self, owner: &str, name: &str) -> (RecordId, Entry) {
        let record = RecordId(self.next_id("sangkien testkit record id"));
        let actor = self.next_id("sangkien testkit actor id");
        let t = self.tick();
        let day = Date::from_unix_ms(t);
        let programme = record::Programme {
            name: text("programme name", name, MAX_TITLE_CHARS),
            phases: vec![record::Phase {
                name: text("phase name", "Giai đoạn 1", MAX_SHORT_TEXT_CHARS),
                start: day,
                end: day,
                target: 100,
            }],
            deadlines: Vec::new(),
            campaigns: Vec::new(),
            national_target: 100,
        };
        let mut doc = record::new_document(actor);
        let change = record::commit_content(&mut doc, &RecordContent::Programme(programme), t)
            .unwrap_or_else(|e| panic!("testkit: {e}"))
            .expect("a new programme is a change");
        let entry = self.author(owner).sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Programme,
                owner: unit(owner),
                confidential: false,
                change,
            }),
        );
        (record, entry)
    }

    fn draft(&mut self, record: RecordId) -> &mut Draft {
        self.drafts
            .get_mut(&record)
            .unwrap_or_else(|| panic!("testkit: record {record} was not made here"))
    }

    /// The initiative as the fixture last wrote it.
    pub fn initiative(&self, record: RecordId) -> &Initiative {
        &self
            .drafts
            .get(&record)
            .unwrap_or_else(|| panic!("testkit: record {record} was not made here"))
            .initiative
    }

    /// Edits an initiative and signs the change as its origin at the next step.
    pub fn edit_initiative(
        &mut self,
        record: RecordId,
        edit: impl FnOnce(&mut Initiative),
    ) -> Entry {
        let t = self.tick();
        let draft = self.draft(record);
        edit(&mut draft.initiative);
        let initiative = draft.initiative.clone();
        let change = record::commit_content(
            &mut draft.doc,
            &RecordContent::Initiative(Box::new(initiative.clone())),
            t,
        )
        .unwrap_or_else(|e| panic!("testkit: {e}"))
        .expect("the edit changes something");
        self.author(initiative.origin.as_str()).sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Initiative,
                owner: initiative.origin.clone(),
                confidential: initiative.confidential,
                change,
            }),
        )
    }

    /// The current heads of an initiative's document.
    pub fn heads(&mut self, record: RecordId) -> Vec<ChangeHash> {
        record::heads(&mut self.draft(record).doc)
    }

    /// The public projection of a confidential initiative at its current heads (commitment by
    /// [`record::private_commitment`], reward by [`record::reward_text`]).
    pub fn projection_body(&mut self, record: RecordId) -> Projection {
        let heads = self.heads(record);
        let i = self.initiative(record);
        record::projection(i, record, heads)
            .expect("only confidential initiatives have projections")
    }

    /// The projection, signed by the origin at the next step. Later bindings cite it.
    pub fn projection(&mut self, record: RecordId) -> Entry {
        let body = self.projection_body(record);
        let origin = self.initiative(record).origin.clone();
        let t = self.tick();
        let e = self
            .author(origin.as_str())
            .sign(t, EntryBody::Projection(body));
        self.draft(record).latest_projection = Some(e.hash());
        e
    }

    /// What a decision made now would bind to: the current heads of a public initiative, the
    /// latest projection of a confidential one.
    pub fn binding(&mut self, record: RecordId) -> Binding {
        if self.initiative(record).confidential {
            let p = self
                .draft(record)
                .latest_projection
                .expect("testkit: make a projection first");
            Binding::Projection(p)
        } else {
            Binding::Heads(self.heads(record))
        }
    }

    /// The body of a decision, with fixed officer fields.
    pub fn decision_body(
        &self,
        record: RecordId,
        kind: DecisionKind,
        binding: Binding,
        previous: Option<EntryHash>,
    ) -> EntryBody {
        EntryBody::Decision(Decision {
            record,
            kind,
            binding,
            previous,
            officer_name: text("officer name", "Trần Thị Bình", MAX_SHORT_TEXT_CHARS),
            officer_title: text("officer title", "Chủ tịch", MAX_SHORT_TEXT_CHARS),
            note: text(
                "note",
                &format!("Quyết định {}", kind.code()),
                MAX_NOTE_CHARS,
            ),
        })
    }

    /// A decision signed by `unit_id` at the next step.
    pub fn decide(
        &mut self,
        unit_id: &str,
        record: RecordId,
        kind: DecisionKind,
        binding: Binding,
        previous: Option<EntryHash>,
    ) -> Entry {
        let body = self.decision_body(record, kind, binding, previous);
        let t = self.tick();
        self.author(unit_id).sign(t, body)
    }

    /// A chain of decisions on the current binding, each citing the one before (the first
    /// cites `previous`).
    pub fn chain(
        &mut self,
        record: RecordId,
        previous: Option<EntryHash>,
        steps: &[(&str, DecisionKind)],
    ) -> Vec<Entry> {
        let mut previous = previous;
        let mut out = Vec::new();
        for (unit_id, kind) in steps {
            let binding = self.binding(record);
            let e = self.decide(unit_id, record, *kind, binding, previous);
            previous = Some(e.hash());
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_builds_and_is_deterministic() {
        let a = Federation::new();
        let b = Federation::new();
        assert_eq!(a.store.hashes().unwrap(), b.store.hashes().unwrap());
        assert_eq!(a.store.len().unwrap(), 1 + UNITS.len());
        for (id, _, role, parent) in UNITS {
            assert_eq!(a.directory.role_at(&unit(id), a.now_ms()), Some(*role));
            assert_eq!(
                a.directory.parent_at(&unit(id), a.now_ms()),
                Some(&unit(parent))
            );
        }
        let (mut a, mut b) = (a, b);
        let (ra, ea) = a.new_initiative("cdcs-a", "Sáng kiến", false);
        let (rb, eb) = b.new_initiative("cdcs-a", "Sáng kiến", false);
        assert_eq!((ra, ea), (rb, eb));
    }
}
