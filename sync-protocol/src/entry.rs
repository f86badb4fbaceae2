//! Signed entries: the only thing that crosses a node boundary.
//!
//! An entry is immutable and content-addressed. Its canonical encoding (see [`crate::codec`]) is
//!
//! ```text
//! version:u8=1 | federation:[32] | author:unit-id | key:[32] | time_ms:u64 | body | signature:[64]
//! ```
//!
//! The signature is ed25519 over `ENTRY_SIGNING_CONTEXT || everything before the signature`,
//! checked with `verify_strict`. The entry hash is BLAKE3 over all the bytes, signature included.
//! `time_ms` is the signer's wall clock (Unix milliseconds), passed in by the caller.

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::codec::{DecodeError, Reader, Writer};
use crate::ids::{ChangeHash, ContentHash, EntryHash, FederationId, RecordId, UnitId, UnitKey};
use crate::limits::*;
use crate::record::AutomergeChange;
use crate::text::{Lines, Text};

/// The encoding version byte every entry starts with.
pub const ENTRY_VERSION: u8 = 1;

/// Domain separation for entry signatures.
pub const ENTRY_SIGNING_CONTEXT: &[u8] = b"sangkien entry v1\0";

/// Domain separation for deriving a federation id from its genesis.
pub const FEDERATION_ID_CONTEXT: &str = "sangkien 2026 federation id v1";

/// A unit's role in the union hierarchy. "Level" is a role, not a depth: a corporation union's
/// grassroots units sit directly under a level-2 unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitRole {
    /// Tổng Liên đoàn Lao động Việt Nam: the root.
    National,
    /// Liên đoàn Lao động tỉnh/thành phố: a provincial federation.
    ProvincialFederation,
    /// Công đoàn ngành trung ương: a central sector union.
    CentralSectorUnion,
    /// Công đoàn tổng công ty / tập đoàn: a corporation union.
    CorporationUnion,
    /// Công đoàn cấp trên trực tiếp cơ sở: district, provincial sector, industrial-zone, and after
    /// July 2025 commune and ward unions.
    DirectSuperior,
    /// Công đoàn cơ sở: a grassroots union.
    Grassroots,
}

impl UnitRole {
    /// Every role, in tag order.
    pub const ALL: [UnitRole; 6] = [
        UnitRole::National,
        UnitRole::ProvincialFederation,
        UnitRole::CentralSectorUnion,
        UnitRole::CorporationUnion,
        UnitRole::DirectSuperior,
        UnitRole::Grassroots,
    ];
    /// The stable code used on the command line and in files.
    pub fn code(self) -> &'static str {
        match self {
            UnitRole::National => "national",
            UnitRole::ProvincialFederation => "provincial",
            UnitRole::CentralSectorUnion => "central-sector",
            UnitRole::CorporationUnion => "corporation",
            UnitRole::DirectSuperior => "direct-superior",
            UnitRole::Grassroots => "grassroots",
        }
    }
    /// Parses a code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == s)
    }
    /// Whether a unit of this role may have a child of role `child`.
    pub fn may_parent(self, child: UnitRole) -> bool {
        use UnitRole::*;
        match (self, child) {
            (_, National) | (Grassroots, _) => false,
            (National, _) => true,
            (ProvincialFederation | CentralSectorUnion | CorporationUnion, DirectSuperior) => true,
            (ProvincialFederation | CentralSectorUnion, CorporationUnion) => true,
            (_, Grassroots) => true,
            _ => false,
        }
    }
    fn tag(self) -> u8 {
        self as u8
    }
    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .get(tag as usize)
            .copied()
            .ok_or(DecodeError::UnknownTag {
                field: "unit role",
                tag,
            })
    }
}

/// What kind of record a record id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// Sáng kiến.
    Initiative,
    /// Chương trình / đợt cao điểm: a programme or campaign.
    Programme,
    /// Chỉ tiêu: target assignments from a parent to its children.
    Target,
}

impl RecordKind {
    /// Every kind, in tag order.
    pub const ALL: [RecordKind; 3] = [
        RecordKind::Initiative,
        RecordKind::Programme,
        RecordKind::Target,
    ];
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RecordKind::Initiative => "initiative",
            RecordKind::Programme => "programme",
            RecordKind::Target => "target",
        }
    }
    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .get(tag as usize)
            .copied()
            .ok_or(DecodeError::UnknownTag {
                field: "record kind",
                tag,
            })
    }
}

/// The grade of an award.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AwardGrade {
    /// Tiêu biểu.
    Typical,
    /// Xuất sắc.
    Excellent,
}

/// What a decision decides. Verbs, in the order a chain usually takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecisionKind {
    /// Nộp: the origin unit submits the initiative to its direct superior.
    Submit,
    /// Trả lại để bổ sung: sent back to the origin for revision; the origin may submit again.
    ReturnForRevision,
    /// Không công nhận: rejected; nothing may follow.
    Reject,
    /// Duyệt và chuyển lên: approved and forwarded to the next level.
    Approve,
    /// Công nhận: recognised at the deciding unit's level.
    Recognise,
    /// Khen thưởng: awarded at the deciding unit's level.
    Award(AwardGrade),
}

impl DecisionKind {
    /// Stable code used on the command line and in reports.
    pub fn code(self) -> &'static str {
        match self {
            DecisionKind::Submit => "submit",
            DecisionKind::ReturnForRevision => "return",
            DecisionKind::Reject => "reject",
            DecisionKind::Approve => "approve",
            DecisionKind::Recognise => "recognise",
            DecisionKind::Award(AwardGrade::Typical) => "award-typical",
            DecisionKind::Award(AwardGrade::Excellent) => "award-excellent",
        }
    }
    fn tag(self) -> u8 {
        match self {
            DecisionKind::Submit => 0,
            DecisionKind::ReturnForRevision => 1,
            DecisionKind::Reject => 2,
            DecisionKind::Approve => 3,
            DecisionKind::Recognise => 4,
            DecisionKind::Award(AwardGrade::Typical) => 5,
            DecisionKind::Award(AwardGrade::Excellent) => 6,
        }
    }
    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Ok(match tag {
            0 => DecisionKind::Submit,
            1 => DecisionKind::ReturnForRevision,
            2 => DecisionKind::Reject,
            3 => DecisionKind::Approve,
            4 => DecisionKind::Recognise,
            5 => DecisionKind::Award(AwardGrade::Typical),
            6 => DecisionKind::Award(AwardGrade::Excellent),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "decision kind",
                    tag,
                })
            }
        })
    }
}

/// The sector (lĩnh vực) of an initiative, from the fixed list of the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sector {
    /// Sản xuất - kinh doanh.
    ProductionBusiness,
    /// Hành chính.
    Administration,
    /// Giáo dục.
    Education,
    /// Y tế.
    Health,
    /// Khoa học - công nghệ.
    ScienceTechnology,
    /// Khác.
    Other,
}

impl Sector {
    /// Every sector, in tag order.
    pub const ALL: [Sector; 6] = [
        Sector::ProductionBusiness,
        Sector::Administration,
        Sector::Education,
        Sector::Health,
        Sector::ScienceTechnology,
        Sector::Other,
    ];
    /// Stable code stored in records.
    pub fn code(self) -> &'static str {
        match self {
            Sector::ProductionBusiness => "production-business",
            Sector::Administration => "administration",
            Sector::Education => "education",
            Sector::Health => "health",
            Sector::ScienceTechnology => "science-technology",
            Sector::Other => "other",
        }
    }
    /// Parses a code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }
    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .get(tag as usize)
            .copied()
            .ok_or(DecodeError::UnknownTag {
                field: "sector",
                tag,
            })
    }
}

/// The root of a federation: the national unit and its key, fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The root unit's id.
    pub root_unit: UnitId,
    /// Its name, "Tổng Liên đoàn Lao động Việt Nam".
    pub root_name: Text,
    /// The root key every chain ends in.
    pub root_key: UnitKey,
}

impl Genesis {
    /// The federation id this genesis defines.
    pub fn federation_id(&self) -> FederationId {
        let mut w = Writer::new();
        encode_genesis(&mut w, self);
        FederationId(blake3::derive_key(FEDERATION_ID_CONTEXT, &w.into_bytes()))
    }
}

/// A unit certificate, signed by the parent unit's key. Also how a key is rotated (a new
/// certificate for the same unit that `replaces` the old one) and how a unit is re-parented (a
/// certificate from the new parent that replaces the old one). A certificate takes effect at its
/// entry's time; the one it replaces stops there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The unit certified.
    pub unit: UnitId,
    /// Its name.
    pub name: Text,
    /// Its role.
    pub role: UnitRole,
    /// Its parent, the signer of this certificate.
    pub parent: UnitId,
    /// Its public key.
    pub key: UnitKey,
    /// The certificate this one replaces (rotation, re-parenting), if any.
    pub replaces: Option<EntryHash>,
}

/// Revokes a unit key from `effective_ms` on. Signed by the unit itself or any ancestor.
/// `effective_ms` may be earlier than the revocation's own time: the moment the key is believed
/// to have been stolen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Whose key.
    pub unit: UnitId,
    /// Which key.
    pub key: UnitKey,
    /// From when entries signed by it are refused.
    pub effective_ms: u64,
    /// Why, for people.
    pub reason: Text,
}

/// The end of a unit in a re-organisation (giải thể / sáp nhập): a **merge** into `successor`
/// or a **closure** (`successor` is `None`). Signed by an ancestor of the unit (the same rule
/// as re-parenting: its parent or one of its ancestors); for a merge the signer is also the
/// successor itself or one of its ancestors. From `effective_ms` on, the unit's keys sign
/// nothing — but never earlier than the entry's own time, so an end voids nothing already
/// signed — and its history is reported under its successor. Its records keep their origin.
/// Move its children first (certificates): an end does not move them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitEnd {
    /// The unit that ends.
    pub unit: UnitId,
    /// The unit it is merged into; `None` for a closure.
    pub successor: Option<UnitId>,
    /// When it takes effect (the re-organisation's date), Unix milliseconds.
    pub effective_ms: u64,
    /// Why (the decision number, the reform), for people.
    pub note: Text,
}

/// One Automerge change to one record, by the record's owner unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    /// The record.
    pub record: RecordId,
    /// Its kind; every entry of a record agrees on it.
    pub kind: RecordKind,
    /// The owner: an initiative's origin unit, a programme's or target's issuing unit.
    pub owner: UnitId,
    /// Bí mật công nghệ: the change stays with the origin and its direct superior.
    pub confidential: bool,
    /// The Automerge change, uncompressed.
    pub change: AutomergeChange,
}

/// What state of a record a decision judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Automerge heads of the record.
    Heads(Vec<ChangeHash>),
    /// A public projection entry of a confidential initiative.
    Projection(EntryHash),
}

/// A decision on an initiative: submit, return, reject, approve, recognise, award.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The initiative.
    pub record: RecordId,
    /// What was decided.
    pub kind: DecisionKind,
    /// The exact state judged.
    pub binding: Binding,
    /// The previous decision in the chain (none for the first submission).
    pub previous: Option<EntryHash>,
    /// The officer who decided.
    pub officer_name: Text,
    /// The officer's title.
    pub officer_title: Text,
    /// A note (reasons for a return, the decision number of a recognition).
    pub note: Text,
}

/// The public part of a confidential initiative: what travels beyond the origin and its direct
/// superior, plus a commitment to the private part so that decisions made higher up bind to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// The initiative.
    pub record: RecordId,
    /// The state of the full record this projects.
    pub heads: Vec<ChangeHash>,
    /// Title.
    pub title: Text,
    /// Effect summary.
    pub summary: Text,
    /// Benefit value in VND.
    pub benefit_vnd: u64,
    /// The rewards (the employer's recognition: decision number and reward).
    pub reward: Text,
    /// Programme the initiative belongs to, if any.
    pub programme: Option<RecordId>,
    /// Phase number within the programme (1-based; 0 when none).
    pub phase: u32,
    /// Sector, for reports.
    pub sector: Sector,
    /// BLAKE3 commitment to the private part (see `record::private_commitment`).
    pub commitment: ContentHash,
}

/// The body of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryBody {
    /// The federation's root.
    Genesis(Genesis),
    /// A unit certificate.
    Certificate(Certificate),
    /// A key revocation.
    Revocation(Revocation),
    /// An Automerge change to a record.
    RecordChange(RecordChange),
    /// A decision on an initiative.
    Decision(Decision),
    /// The public projection of a confidential initiative.
    Projection(Projection),
    /// A unit's end in a re-organisation (merge or closure). Encoded with tag 6, after every
    /// older kind, so no earlier entry's encoding changes.
    UnitEnd(UnitEnd),
}

impl EntryBody {
    /// A short name of the body's kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            EntryBody::Genesis(_) => "genesis",
            EntryBody::Certificate(_) => "certificate",
            EntryBody::Revocation(_) => "revocation",
            EntryBody::RecordChange(_) => "record-change",
            EntryBody::Decision(_) => "decision",
            EntryBody::Projection(_) => "projection",
            EntryBody::UnitEnd(_) => "unit-end",
        }
    }
    /// The record this entry belongs to, if it belongs to one.
    pub fn record(&self) -> Option<RecordId> {
        match self {
            EntryBody::RecordChange(c) => Some(c.record),
            EntryBody::Decision(d) => Some(d.record),
            EntryBody::Projection(p) => Some(p.record),
            _ => None,
        }
    }
}

/// The signed-over part of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedEntry {
    /// The federation the entry belongs to.
    pub federation: FederationId,
    /// The signing unit.
    pub author: UnitId,
    /// The key that signed (one of the author's certified keys).
    pub key: UnitKey,
    /// The signer's wall clock, Unix milliseconds.
    pub time_ms: u64,
    /// What the entry says.
    pub body: EntryBody,
}

impl UnsignedEntry {
    /// Signs with `signing_key`, whose public half must be `self.key`.
    pub fn sign(self, signing_key: &SigningKey) -> Entry {
        assert_eq!(
            signing_key.verifying_key().to_bytes(),
            self.key.0,
            "an entry must be signed by the key it names"
        );
        let mut w = Writer::new();
        encode_unsigned(&mut w, &self);
        let mut msg = Vec::with_capacity(ENTRY_SIGNING_CONTEXT.len() + 256);
        msg.extend_from_slice(ENTRY_SIGNING_CONTEXT);
        let unsigned_len = {
            let b = w.into_bytes();
            msg.extend_from_slice(&b);
            b.len()
        };
        let signature = signing_key.sign(&msg).to_bytes();
        let mut bytes = msg.split_off(ENTRY_SIGNING_CONTEXT.len());
        debug_assert_eq!(bytes.len(), unsigned_len);
        bytes.extend_from_slice(&signature);
        let hash = EntryHash(*blake3::hash(&bytes).as_bytes());
        Entry::new(self, signature, hash, bytes.into())
    }
}

/// A decoded entry whose signature has been checked against the key it names. It is not yet
/// known whether that key belonged to the author when it signed, nor whether the author had
/// authority: that is [`crate::verify`]'s job, which alone makes a `VerifiedEntry`.
///
/// Cloning is cheap (one shared allocation): entries pass through overlays, batches and stores.
#[derive(Clone)]
pub struct Entry(Arc<EntryInner>);

struct EntryInner {
    unsigned: UnsignedEntry,
    signature: [u8; 64],
    hash: EntryHash,
    bytes: Box<[u8]>,
}

impl PartialEq for Entry {
    /// The hash covers every byte, signature included.
    fn eq(&self, other: &Self) -> bool {
        self.0.hash == other.0.hash
    }
}
impl Eq for Entry {}

impl Entry {
    fn new(
        unsigned: UnsignedEntry,
        signature: [u8; 64],
        hash: EntryHash,
        bytes: Box<[u8]>,
    ) -> Self {
        Entry(Arc::new(EntryInner {
            unsigned,
            signature,
            hash,
            bytes,
        }))
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Entry({} {} by {} at {})",
            self.0.hash.short(),
            self.0.unsigned.body.kind_name(),
            self.0.unsigned.author,
            self.0.unsigned.time_ms
        )
    }
}

/// Signing keys already decompressed, by their bytes: decoding many entries from few signers
/// decompresses each key once. Bounded by [`crate::limits::MAX_KEY_CACHE_COUNT`] (it starts
/// over when full); only valid keys are kept.
#[derive(Default, Debug)]
pub struct KeyCache {
    keys: std::collections::BTreeMap<[u8; 32], VerifyingKey>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, bytes: &[u8; 32]) -> Result<VerifyingKey, EntryError> {
        if let Some(k) = self.keys.get(bytes) {
            return Ok(*k);
        }
        let k = VerifyingKey::from_bytes(bytes).map_err(|_| EntryError::BadKey)?;
        if self.keys.len() >= crate::limits::MAX_KEY_CACHE_COUNT {
            self.keys.clear();
        }
        self.keys.insert(*bytes, k);
        Ok(k)
    }
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Over [`MAX_ENTRY_BYTES`].
    #[error("entry is {actual} bytes, over the limit of {MAX_ENTRY_BYTES}")]
    TooLarge {
        /// size found
        actual: usize,
    },
    /// Not a canonical encoding.
    #[error("malformed entry: {0}")]
    Malformed(#[from] DecodeError),
    /// The key bytes are not a valid ed25519 point.
    #[error("the signing key is not a valid ed25519 key")]
    BadKey,
    /// The signature does not verify (strictly) under the named key.
    #[error("signature does not verify")]
    BadSignature,
}

impl Entry {
    /// Decodes canonical bytes and checks the signature with `verify_strict`. The size is checked
    /// before anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        Self::decode_inner(bytes, None)
    }

    /// [`Entry::decode`], taking the signing key's decompressed point from `keys` when it was
    /// seen before (the same check; a batch from few signers skips most key decompressions).
    pub fn decode_cached(bytes: &[u8], keys: &mut KeyCache) -> Result<Self, EntryError> {
        Self::decode_inner(bytes, Some(keys))
    }

    fn decode_inner(bytes: &[u8], keys: Option<&mut KeyCache>) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                actual: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let unsigned = decode_unsigned(&mut r)?;
        let signed_len = r.position();
        let signature: [u8; 64] = r.array("signature")?;
        r.finish()?;
        let key = match keys {
            Some(cache) => cache.key(&unsigned.key.0)?,
            None => VerifyingKey::from_bytes(&unsigned.key.0).map_err(|_| EntryError::BadKey)?,
        };
        let mut msg = Vec::with_capacity(ENTRY_SIGNING_CONTEXT.len() + signed_len);
        msg.extend_from_slice(ENTRY_SIGNING_CONTEXT);
        msg.extend_from_slice(&bytes[..signed_len]);
        key.verify_strict(&msg, &Signature::from_bytes(&signature))
            .map_err(|_| EntryError::BadSignature)?;
        Ok(Entry::new(
            unsigned,
            signature,
            EntryHash(*blake3::hash(bytes).as_bytes()),
            bytes.into(),
        ))
    }
    /// Decodes bytes that this node's own store wrote after verifying them: the same size and
    /// canonical-form checks as [`Entry::decode`], without checking the signature again (it was
    /// checked before the bytes were stored; a store read must not cost an ed25519 verify). Never
    /// call it on bytes from outside the store: `node check` re-verifies stored entries with
    /// [`Entry::decode`].
    pub fn decode_stored_unchecked(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                actual: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let unsigned = decode_unsigned(&mut r)?;
        let signature: [u8; 64] = r.array("signature")?;
        r.finish()?;
        Ok(Entry::new(
            unsigned,
            signature,
            EntryHash(*blake3::hash(bytes).as_bytes()),
            bytes.into(),
        ))
    }

    /// The canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }
    /// The content address.
    pub fn hash(&self) -> EntryHash {
        self.0.hash
    }
    /// The signed-over fields.
    pub fn unsigned(&self) -> &UnsignedEntry {
        &self.0.unsigned
    }
    /// The body.
    pub fn body(&self) -> &EntryBody {
        &self.0.unsigned.body
    }
    /// The signing unit.
    pub fn author(&self) -> &UnitId {
        &self.0.unsigned.author
    }
    /// The signing key.
    pub fn key(&self) -> UnitKey {
        self.0.unsigned.key
    }
    /// The signer's time.
    pub fn time_ms(&self) -> u64 {
        self.0.unsigned.time_ms
    }
    /// The federation.
    pub fn federation(&self) -> FederationId {
        self.0.unsigned.federation
    }
    /// The signature bytes.
    pub fn signature(&self) -> &[u8; 64] {
        &self.0.signature
    }
}

// ---- encoding ----------------------------------------------------------------------------

fn encode_unsigned(w: &mut Writer, e: &UnsignedEntry) {
    w.u8(ENTRY_VERSION);
    w.array(&e.federation.0);
    w.text(e.author.as_str());
    w.array(&e.key.0);
    w.u64(e.time_ms);
    match &e.body {
        EntryBody::Genesis(g) => {
            w.u8(0);
            encode_genesis(w, g);
        }
        EntryBody::Certificate(c) => {
            w.u8(1);
            w.text(c.unit.as_str());
            w.text(c.name.as_str());
            w.u8(c.role.tag());
            w.text(c.parent.as_str());
            w.array(&c.key.0);
            encode_option_hash(w, c.replaces.as_ref());
        }
        EntryBody::Revocation(r) => {
            w.u8(2);
            w.text(r.unit.as_str());
            w.array(&r.key.0);
            w.u64(r.effective_ms);
            w.text(r.reason.as_str());
        }
        EntryBody::RecordChange(c) => {
            w.u8(3);
            w.array(&c.record.0);
            w.u8(c.kind as u8);
            w.text(c.owner.as_str());
            w.bool(c.confidential);
            w.bytes(c.change.bytes());
        }
        EntryBody::Decision(d) => {
            w.u8(4);
            w.array(&d.record.0);
            w.u8(d.kind.tag());
            match &d.binding {
                Binding::Heads(h) => {
                    w.u8(0);
                    encode_heads(w, h);
                }
                Binding::Projection(p) => {
                    w.u8(1);
                    w.array(&p.0);
                }
            }
            encode_option_hash(w, d.previous.as_ref());
            w.text(d.officer_name.as_str());
            w.text(d.officer_title.as_str());
            w.text(d.note.as_str());
        }
        EntryBody::Projection(p) => {
            w.u8(5);
            w.array(&p.record.0);
            encode_heads(w, &p.heads);
            w.text(p.title.as_str());
            w.text(p.summary.as_str());
            w.u64(p.benefit_vnd);
            w.text(p.reward.as_str());
            match &p.programme {
                None => w.u8(0),
                Some(id) => {
                    w.u8(1);
                    w.array(&id.0);
                }
            }
            w.u32(p.phase);
            w.u8(p.sector as u8);
            w.array(&p.commitment.0);
        }
        EntryBody::UnitEnd(x) => {
            w.u8(6);
            w.text(x.unit.as_str());
            match &x.successor {
                None => w.u8(0),
                Some(s) => {
                    w.u8(1);
                    w.text(s.as_str());
                }
            }
            w.u64(x.effective_ms);
            w.text(x.note.as_str());
        }
    }
}

fn encode_genesis(w: &mut Writer, g: &Genesis) {
    w.text(g.root_unit.as_str());
    w.text(g.root_name.as_str());
    w.array(&g.root_key.0);
}

fn encode_option_hash(w: &mut Writer, h: Option<&EntryHash>) {
    match h {
        None => w.u8(0),
        Some(h) => {
            w.u8(1);
            w.array(&h.0);
        }
    }
}

fn encode_heads(w: &mut Writer, heads: &[ChangeHash]) {
    w.len(heads.len());
    for h in heads {
        w.array(&h.0);
    }
}

// ---- decoding ----------------------------------------------------------------------------

/// UTF-8 bytes per character at most, to turn a character limit into a byte limit.
const MAX_UTF8_BYTES_PER_CHAR: usize = 4;

fn decode_unsigned(r: &mut Reader<'_>) -> Result<UnsignedEntry, DecodeError> {
    let version = r.u8("version")?;
    if version != ENTRY_VERSION {
        return Err(DecodeError::UnknownTag {
            field: "version",
            tag: version,
        });
    }
    let federation = FederationId(r.array("federation")?);
    let author = decode_unit_id(r, "author")?;
    let key = UnitKey(r.array("key")?);
    let time_ms = r.u64("time")?;
    let body = match r.u8("body kind")? {
        0 => EntryBody::Genesis(decode_genesis(r)?),
        1 => EntryBody::Certificate(Certificate {
            unit: decode_unit_id(r, "certificate unit")?,
            name: decode_text(r, "unit name", MAX_UNIT_NAME_CHARS, true)?,
            role: UnitRole::from_tag(r.u8("unit role")?)?,
            parent: decode_unit_id(r, "certificate parent")?,
            key: UnitKey(r.array("certificate key")?),
            replaces: decode_option_hash(r, "replaces")?,
        }),
        2 => EntryBody::Revocation(Revocation {
            unit: decode_unit_id(r, "revoked unit")?,
            key: UnitKey(r.array("revoked key")?),
            effective_ms: r.u64("effective time")?,
            reason: decode_multiline(r, "revocation reason", MAX_NOTE_CHARS)?,
        }),
        3 => {
            let record = RecordId(r.array("record")?);
            let kind = RecordKind::from_tag(r.u8("record kind")?)?;
            let owner = decode_unit_id(r, "record owner")?;
            let confidential = r.bool("confidential")?;
            let change_bytes = r.bytes("automerge change", MAX_CHANGE_BYTES)?;
            let change = AutomergeChange::from_entry_bytes(change_bytes).map_err(|e| {
                DecodeError::Invalid {
                    field: "automerge change",
                    reason: e.to_string(),
                }
            })?;
            EntryBody::RecordChange(RecordChange {
                record,
                kind,
                owner,
                confidential,
                change,
            })
        }
        4 => {
            let record = RecordId(r.array("record")?);
            let kind = DecisionKind::from_tag(r.u8("decision kind")?)?;
            let binding = match r.u8("binding")? {
                0 => Binding::Heads(decode_heads(r)?),
                1 => Binding::Projection(EntryHash(r.array("projection")?)),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        field: "binding",
                        tag,
                    })
                }
            };
            EntryBody::Decision(Decision {
                record,
                kind,
                binding,
                previous: decode_option_hash(r, "previous decision")?,
                officer_name: decode_text(r, "officer name", MAX_SHORT_TEXT_CHARS, true)?,
                officer_title: decode_text(r, "officer title", MAX_SHORT_TEXT_CHARS, true)?,
                note: decode_multiline(r, "note", MAX_NOTE_CHARS)?,
            })
        }
        5 => EntryBody::Projection(Projection {
            record: RecordId(r.array("record")?),
            heads: decode_heads(r)?,
            title: decode_text(r, "title", MAX_TITLE_CHARS, true)?,
            summary: decode_multiline(r, "summary", MAX_SUMMARY_CHARS)?,
            benefit_vnd: {
                let v = r.u64("benefit value")?;
                if v > MAX_BENEFIT_VND {
                    return Err(DecodeError::Invalid {
                        field: "benefit value",
                        reason: format!("{v} is over the limit of {MAX_BENEFIT_VND}"),
                    });
                }
                v
            },
            reward: decode_text(r, "reward", MAX_SHORT_TEXT_CHARS, false)?,
            programme: match r.u8("programme")? {
                0 => None,
                1 => Some(RecordId(r.array("programme")?)),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        field: "programme",
                        tag,
                    })
                }
            },
            phase: r.u32("phase")?,
            sector: Sector::from_tag(r.u8("sector")?)?,
            commitment: ContentHash(r.array("commitment")?),
        }),
        6 => EntryBody::UnitEnd(UnitEnd {
            unit: decode_unit_id(r, "ended unit")?,
            successor: match r.u8("successor")? {
                0 => None,
                1 => Some(decode_unit_id(r, "successor")?),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        field: "successor",
                        tag,
                    })
                }
            },
            effective_ms: r.u64("effective time")?,
            note: decode_multiline(r, "unit end note", MAX_NOTE_CHARS)?,
        }),
        tag => {
            return Err(DecodeError::UnknownTag {
                field: "body kind",
                tag,
            })
        }
    };
    Ok(UnsignedEntry {
        federation,
        author,
        key,
        time_ms,
        body,
    })
}

fn decode_genesis(r: &mut Reader<'_>) -> Result<Genesis, DecodeError> {
    Ok(Genesis {
        root_unit: decode_unit_id(r, "root unit")?,
        root_name: decode_text(r, "root name", MAX_UNIT_NAME_CHARS, true)?,
        root_key: UnitKey(r.array("root key")?),
    })
}

fn decode_unit_id(r: &mut Reader<'_>, field: &'static str) -> Result<UnitId, DecodeError> {
    let s = r.text(field, MAX_UNIT_ID_BYTES)?;
    UnitId::new(s)
}

/// Decodes text and insists it is exactly what [`Text::new`] would make of it, so that there is
/// one encoding per value (no untrimmed or control-character variants).
fn decode_text(
    r: &mut Reader<'_>,
    field: &'static str,
    limit_chars: usize,
    required: bool,
) -> Result<Text, DecodeError> {
    decode_text_lines(r, field, limit_chars, required, Lines::One)
}

/// [`decode_text`] of a multi-line field (summary, note, revocation reason).
fn decode_multiline(
    r: &mut Reader<'_>,
    field: &'static str,
    limit_chars: usize,
) -> Result<Text, DecodeError> {
    decode_text_lines(r, field, limit_chars, false, Lines::Many)
}

fn decode_text_lines(
    r: &mut Reader<'_>,
    field: &'static str,
    limit_chars: usize,
    required: bool,
    lines: Lines,
) -> Result<Text, DecodeError> {
    let s = r.text(field, limit_chars * MAX_UTF8_BYTES_PER_CHAR)?;
    let t = Text::checked(field, s, limit_chars, lines, required).map_err(|e| {
        DecodeError::Invalid {
            field,
            reason: e.to_string(),
        }
    })?;
    if t.as_str() != s {
        return Err(DecodeError::Invalid {
            field,
            reason: "not in canonical form (surrounding spaces)".into(),
        });
    }
    Ok(t)
}

fn decode_option_hash(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Option<EntryHash>, DecodeError> {
    match r.u8(field)? {
        0 => Ok(None),
        1 => Ok(Some(EntryHash(r.array(field)?))),
        tag => Err(DecodeError::UnknownTag { field, tag }),
    }
}

fn decode_heads(r: &mut Reader<'_>) -> Result<Vec<ChangeHash>, DecodeError> {
    let n = r.len("heads", MAX_HEADS_COUNT)?;
    let mut heads = Vec::with_capacity(n);
    for _ in 0..n {
        heads.push(ChangeHash(r.array("head")?));
    }
    if heads.windows(2).any(|w| w[0] >= w[1]) {
        return Err(DecodeError::Invalid {
            field: "heads",
            reason: "must be sorted and without repeats".into(),
        });
    }
    Ok(heads)
}

#[cfg(test)]
mod tests;
