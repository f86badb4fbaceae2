//! Synthetic but real federations for benchmarks and the crash test: real keys, real
//! certificates, real Automerge changes, real signatures. Deterministic from a seed (unit keys,
//! record ids, actor ids), so that a restarted writer regenerates exactly the same entries.

use ed25519_dalek::SigningKey;
use node::Node;
use sync_protocol::author::Author;
use sync_protocol::date::Date;
use sync_protocol::entry::{
    Binding, Certificate, Decision, DecisionKind, Entry, EntryBody, RecordChange, RecordKind,
    Sector, UnitRole,
};
use sync_protocol::ids::{ChangeHash, FederationId, RecordId, UnitId};
use sync_protocol::record::{self, Application, Description, Initiative, RecordContent};
use sync_protocol::text::Text;

/// The clock of synthetic entries: 2025-01-01, Unix ms.
pub const T0: u64 = 1_735_689_600_000;

/// A synthetic tree: root → provinces → districts → grassroots.
pub struct Synth {
    seed: u64,
    federation: FederationId,
    /// Every non-root unit: (author, parent, role).
    pub units: Vec<(Author, UnitId, UnitRole)>,
    /// Indexes into `units` of the grassroots units.
    pub grassroots: Vec<usize>,
    /// The programme the initiatives belong to.
    pub programme: RecordId,
}

fn derive<const N: usize>(seed: u64, what: &str, n: u64) -> [u8; N] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_be_bytes());
    h.update(what.as_bytes());
    h.update(&n.to_be_bytes());
    let mut out = [0u8; N];
    h.finalize_xof().fill(&mut out);
    out
}

fn text(field: &'static str, s: &str) -> Text {
    Text::new(field, s, 20_000).expect("fixed synthetic text is valid")
}

fn uid(s: &str) -> UnitId {
    UnitId::new(s).expect("synthetic unit ids are valid")
}

impl Synth {
    /// The tree shape for `provinces` × `districts` × `grassroots` (per parent). Nothing is
    /// written: [`Synth::certificates`] gives the entries.
    pub fn new(
        seed: u64,
        federation: FederationId,
        provinces: usize,
        districts: usize,
        grassroots: usize,
    ) -> Self {
        let mut s = Self {
            seed,
            federation,
            units: Vec::new(),
            grassroots: Vec::new(),
            programme: RecordId(derive(seed, "programme", 0)),
        };
        let root = uid("tld");
        for p in 0..provinces {
            let pid = s.add(
                &format!("p{p}"),
                root.clone(),
                UnitRole::ProvincialFederation,
            );
            for d in 0..districts {
                let did = s.add(&format!("p{p}-d{d}"), pid.clone(), UnitRole::DirectSuperior);
                for g in 0..grassroots {
                    s.add(
                        &format!("p{p}-d{d}-g{g}"),
                        did.clone(),
                        UnitRole::Grassroots,
                    );
                    s.grassroots.push(s.units.len() - 1);
                }
            }
        }
        s
    }

    /// The signing key of a synthetic unit (for a node that must hold it, e.g. to present it
    /// over QUIC).
    pub fn signing_key(&self, id: &str) -> SigningKey {
        SigningKey::from_bytes(&derive(self.seed, id, 0))
    }

    fn add(&mut self, id: &str, parent: UnitId, role: UnitRole) -> UnitId {
        let unit = uid(id);
        let key = SigningKey::from_bytes(&derive(self.seed, id, 0));
        self.units.push((
            Author::new(self.federation, unit.clone(), key),
            parent,
            role,
        ));
        unit
    }

    /// Certificates of every unit, parents first, signed by `root` for the provinces and by
    /// each parent below.
    pub fn certificates(&self, root: &Author) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.units.len());
        let by_id: std::collections::HashMap<&UnitId, &Author> =
            self.units.iter().map(|(a, _, _)| (a.unit(), a)).collect();
        for (i, (a, parent, role)) in self.units.iter().enumerate() {
            let signer = if parent == root.unit() {
                root
            } else {
                match by_id.get(parent) {
                    Some(p) => *p,
                    None => continue,
                }
            };
            out.push(signer.sign(
                T0 + i as u64,
                EntryBody::Certificate(Certificate {
                    unit: a.unit().clone(),
                    name: text("name", &format!("Đơn vị {}", a.unit())),
                    role: *role,
                    parent: parent.clone(),
                    key: a.public_key(),
                    replaces: None,
                }),
            ));
        }
        out
    }

    /// Initiative number `n`: one Automerge change creating the record, signed by the
    /// grassroots unit `n` falls to. Returns the entry and its change hash (the record's heads).
    pub fn initiative(&self, n: u64) -> (Entry, RecordId, ChangeHash) {
        let g = self.grassroots[(n % self.grassroots.len() as u64) as usize];
        let (author, parent, _) = &self.units[g];
        let t = T0 + 86_400_000 + n;
        let record = RecordId(derive(self.seed, "record", n));
        let sector = Sector::ALL[(n % 6) as usize];
        let i = Initiative {
            title: text("title", &format!("Sáng kiến số {n}")),
            authors: vec![record::Author {
                name: text("name", "Nguyễn Văn An"),
                position: text("position", "Kỹ sư"),
            }],
            origin: author.unit().clone(),
            superior: parent.clone(),
            programme: Some(self.programme),
            phase: 1,
            sector,
            summary: text("summary", "Giảm thời gian dừng máy"),
            // Registered over 300 days (a campaign's progress over time has many points).
            registered_on: Date::from_unix_ms(T0 + 86_400_000 * (1 + n % 300)),
            description: Description {
                current_state: text("description", "Dừng máy 3 giờ mỗi tuần."),
                solution: text("description", "Cảm biến rung."),
                novelty: text("description", "Lần đầu áp dụng."),
                scope: text("description", "Phân xưởng."),
                effectiveness: text("description", "Làm lợi."),
            },
            benefit_vnd: 1_000_000 * (1 + n % 97),
            application: Application::Applied,
            recognition: None,
            confidential: false,
            attachments: Vec::new(),
            commitment_salt: None,
        };
        let mut doc = record::new_document(derive(self.seed, "actor", n));
        let change = record::commit_content(&mut doc, &RecordContent::Initiative(Box::new(i)), t)
            .expect("a synthetic initiative is valid")
            .expect("a new initiative is a change");
        let heads = change.hash();
        let e = author.sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record,
                kind: RecordKind::Initiative,
                owner: author.unit().clone(),
                confidential: false,
                change,
            }),
        );
        (e, record, heads)
    }

    /// The programme record the initiatives belong to, launched by the root (`root`): phases
    /// 2025 and 2026, a 40-day campaign.
    pub fn programme_entry(&self, root: &Author) -> Entry {
        use sync_protocol::record::{Campaign, Deadline, Phase, Programme};
        let d = |s: &str| Date::parse(s).expect("a fixed date");
        let p = Programme {
            name: text("name", "01 triệu sáng kiến"),
            phases: vec![
                Phase {
                    name: text("name", "Giai đoạn 1"),
                    start: d("2025-01-01"),
                    end: d("2025-12-31"),
                    target: 1_000_000,
                },
                Phase {
                    name: text("name", "Giai đoạn 2"),
                    start: d("2026-01-01"),
                    end: d("2026-12-31"),
                    target: 1_500_000,
                },
            ],
            deadlines: vec![Deadline {
                label: text("label", "Nộp hồ sơ"),
                date: d("2025-08-05"),
            }],
            campaigns: vec![Campaign {
                name: text("name", "40 ngày cao điểm"),
                start: d("2025-03-01"),
                end: d("2025-04-09"),
                target: 300_000,
            }],
            national_target: 2_500_000,
        };
        let mut doc = record::new_document(derive(self.seed, "actor", u64::MAX));
        let change = record::commit_content(&mut doc, &RecordContent::Programme(p), T0)
            .expect("a synthetic programme is valid")
            .expect("a new programme is a change");
        root.sign(
            T0,
            EntryBody::RecordChange(RecordChange {
                record: self.programme,
                kind: RecordKind::Programme,
                owner: root.unit().clone(),
                confidential: false,
                change,
            }),
        )
    }

    /// The origin's submission of initiative `n` (whose single change is `heads`).
    pub fn submission(&self, n: u64, record: RecordId, heads: ChangeHash) -> Entry {
        let g = self.grassroots[(n % self.grassroots.len() as u64) as usize];
        let (author, _, _) = &self.units[g];
        author.sign(
            T0 + 86_400_000 + n + 1,
            EntryBody::Decision(Decision {
                record,
                kind: DecisionKind::Submit,
                binding: Binding::Heads(vec![heads]),
                previous: None,
                officer_name: text("officer", "Trần Thị Bình"),
                officer_title: text("title", "Chủ tịch công đoàn"),
                note: text("note", "Nộp"),
            }),
        )
    }
}

/// Creates the root node of a synthetic federation in `dir` and imports the tree's
/// certificates.
pub fn create(
    dir: &std::path::Path,
    seed: u64,
    shape: (usize, usize, usize),
) -> Result<(Node, Synth), node::NodeError> {
    let root_name = text("name", "Tổng Liên đoàn Lao động Việt Nam");
    let mut n = Node::create_root(dir, uid("tld"), root_name, T0 - 1000)?;
    let s = Synth::new(seed, n.federation(), shape.0, shape.1, shape.2);
    let certs = s.certificates(n.author()?);
    for chunk in certs.chunks(50_000) {
        let r = n.import(chunk.to_vec(), node::now_ms())?;
        if let Some((h, why)) = r.rejected.first() {
            return Err(node::NodeError::Refused(format!("certificate {h}: {why}")));
        }
    }
    // The programme the initiatives name, so that `sangkien report` finds it.
    let r = n.import(vec![s.programme_entry(n.author()?)], node::now_ms())?;
    if let Some((h, why)) = r.rejected.first() {
        return Err(node::NodeError::Refused(format!("programme {h}: {why}")));
    }
    Ok((n, s))
}

/// The synthetic tree of an existing node made by [`create`] with the same seed and shape.
pub fn attach(n: &Node, seed: u64, shape: (usize, usize, usize)) -> Synth {
    Synth::new(seed, n.federation(), shape.0, shape.1, shape.2)
}
