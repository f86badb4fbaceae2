//! The July 2025 reform from `data/`: the plan (`sangkien unit reform-plan`, committed as
//! `data/reform_2025.plan`) and a sample federation of the 2024 structure to apply it to
//! (`sangkien federation sample-2024`).
//!
//! Unit ids: the national root `tld`; provinces `t<2-digit code>` (2024 codes; each 2025
//! province keeps the code of one of the provinces merged into it, so that unit carries on and
//! the others merge into it); districts `h<3-digit code>`; 2025 commune and ward unions
//! `x<5-digit code>`; sample grassroots unions `cs<5-digit 2024 commune code>-<n>` (located in
//! that commune, see [`super::commune_of`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ed25519_dalek::SigningKey;
use sync_protocol::author::Author;
use sync_protocol::date::Date;
use sync_protocol::entry::{
    Certificate, Entry, EntryBody, RecordChange, RecordKind, Sector, UnitRole,
};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{
    self, Application, Description, Initiative, Phase, Programme, RecordContent,
};
use sync_protocol::text::Text;

use crate::node::{Node, NodeError};

const PROVINCES_2024: &str = include_str!("../../../data/provinces_2024.csv");
const DISTRICTS_2024: &str = include_str!("../../../data/districts_2024.csv");
const COMMUNES_2024: &str = include_str!("../../../data/communes_2024.csv");
const PROVINCES_2025: &str = include_str!("../../../data/provinces_2025.csv");
const COMMUNES_2025: &str = include_str!("../../../data/communes_2025.csv");
const PROVINCE_MAP: &str = include_str!("../../../data/province_map_2024_2025.csv");
const COMMUNE_MAP: &str = include_str!("../../../data/commune_map_2024_2025.csv");

/// The reform's date.
pub const REFORM_DATE: &str = "01/07/2025";

/// The sample federation's clock: certificates on 2025-01-01, initiatives from 2025-01-02
/// (Unix ms), all before the reform.
pub const SAMPLE_T0_MS: u64 = 1_735_689_600_000;

fn rows(csv: &str) -> Vec<Vec<&str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect()
}

/// The administrative structures and the mapping, as shipped in `data/`.
pub struct ReformData {
    /// 2024 provinces: code → full name.
    pub provinces_2024: BTreeMap<String, String>,
    /// 2024 districts: code → (province code, full name).
    pub districts_2024: BTreeMap<String, (String, String)>,
    /// 2024 communes: code → (district code, full name).
    pub communes_2024: BTreeMap<String, (String, String)>,
    /// 2025 provinces: code → full name.
    pub provinces_2025: BTreeMap<String, String>,
    /// 2025 communes: code → (province code, full name).
    pub communes_2025: BTreeMap<String, (String, String)>,
    /// Old province → new province.
    pub province_map: BTreeMap<String, String>,
    /// Old commune → its primary new commune.
    pub commune_primary: BTreeMap<String, String>,
    /// Old district → new communes with the number of mapping rows from it.
    pub district_parts: BTreeMap<String, BTreeMap<String, usize>>,
}

impl ReformData {
    /// The data compiled into the program (the repository's `data/`).
    pub fn shipped() -> Self {
        let two = |csv: &str| -> BTreeMap<String, String> {
            rows(csv)
                .into_iter()
                .filter(|r| r.len() >= 4)
                .map(|r| (r[0].to_owned(), r[3].to_owned()))
                .collect()
        };
        let mut d = ReformData {
            provinces_2024: two(PROVINCES_2024),
            districts_2024: rows(DISTRICTS_2024)
                .into_iter()
                .filter(|r| r.len() >= 5)
                .map(|r| (r[0].to_owned(), (r[1].to_owned(), r[4].to_owned())))
                .collect(),
            communes_2024: rows(COMMUNES_2024)
                .into_iter()
                .filter(|r| r.len() >= 6)
                .map(|r| (r[0].to_owned(), (r[1].to_owned(), r[5].to_owned())))
                .collect(),
            provinces_2025: two(PROVINCES_2025),
            communes_2025: rows(COMMUNES_2025)
                .into_iter()
                .filter(|r| r.len() >= 5)
                .map(|r| (r[0].to_owned(), (r[1].to_owned(), r[4].to_owned())))
                .collect(),
            province_map: rows(PROVINCE_MAP)
                .into_iter()
                .filter(|r| r.len() >= 4)
                .map(|r| (r[0].to_owned(), r[2].to_owned()))
                .collect(),
            commune_primary: BTreeMap::new(),
            district_parts: BTreeMap::new(),
        };
        for r in rows(COMMUNE_MAP) {
            let [_, district, commune, _, new_commune, _, primary] = r[..] else {
                continue;
            };
            if !commune.is_empty() && primary == "1" {
                d.commune_primary
                    .insert(commune.to_owned(), new_commune.to_owned());
            }
            *d.district_parts
                .entry(district.to_owned())
                .or_default()
                .entry(new_commune.to_owned())
                .or_default() += 1;
        }
        d
    }

    /// The new commune that took the largest part of an old district (most mapping rows;
    /// the smallest code on a tie).
    pub fn main_commune_of(&self, district: &str) -> Option<&str> {
        self.district_parts.get(district).and_then(|parts| {
            parts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(c, _)| c.as_str())
        })
    }
}

/// The plan of the July 2025 reform (see the module doc of [`super`] for the format).
pub fn plan_2025(d: &ReformData) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# The July 2025 re-organisation of the union tree, generated from data/ by\n\
         # `sangkien unit reform-plan` (node/src/reorg/reform.rs). Do not edit by hand.\n\
         # 63 provinces -> 34 (each 2025 province keeps the code of one 2024 province: the\n\
         # others merge into it); the district level ends; grassroots unions go to the commune\n\
         # and ward unions by the commune mapping (the primary commune of a split one)."
    );
    let _ = writeln!(s, "effective,{REFORM_DATE}");
    let _ = writeln!(
        s,
        "note,Nghị quyết 202/2025/QH15: 34 tỉnh, thành phố; kết thúc cấp huyện từ 01/07/2025"
    );
    let _ = writeln!(
        s,
        "# {} commune and ward unions, under their 2025 province",
        d.communes_2025.len()
    );
    for (code, (province, name)) in &d.communes_2025 {
        let _ = writeln!(
            s,
            "new,x{code},direct-superior,t{province},Công đoàn {name}"
        );
    }
    let _ = writeln!(
        s,
        "# grassroots unions located in an old commune: to its (primary) new commune"
    );
    for (old, new) in &d.commune_primary {
        let _ = writeln!(s, "commune,{old},x{new}");
    }
    let _ = writeln!(
        s,
        "# every other union under a district: to the commune that took most of the district"
    );
    for code in d.districts_2024.keys() {
        if let Some(main) = d.main_commune_of(code) {
            let _ = writeln!(s, "children,h{code},x{main}");
        }
    }
    let _ = writeln!(s, "# the district level ends");
    for code in d.districts_2024.keys() {
        let _ = writeln!(s, "close,h{code}");
    }
    let _ = writeln!(s, "# provinces merged, and the carried-on ones renamed");
    for (old, new) in &d.province_map {
        if old != new {
            let _ = writeln!(s, "merge,t{old},t{new}");
        }
    }
    for (code, name) in &d.provinces_2025 {
        if d.provinces_2024.get(code) != Some(name) {
            let _ = writeln!(s, "rename,t{code},Liên đoàn Lao động {name}");
        }
    }
    s
}

fn text(field: &'static str, s: &str) -> Text {
    Text::new(field, s, 20_000).expect("sample text is valid")
}

fn uid(s: &str) -> UnitId {
    UnitId::new(s).expect("sample unit ids are valid")
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

/// What [`sample_2024`] made.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Units certified (root excluded).
    pub units_count: usize,
    /// Grassroots unions among them.
    pub grassroots_count: usize,
    /// Initiatives registered.
    pub initiatives_count: usize,
    /// The programme they belong to (phase 1).
    pub programme: RecordId,
}

/// Creates, in `dir`, the national node of a federation of the 2024 structure: the 63
/// provinces, the 696 districts, and one grassroots union in every `communes_every`-th 2024
/// commune (1: all 10,035), each with `initiatives_per_unit` initiatives of a national
/// programme. Keys of the units below the root are derived from `seed` (a sample: they are
/// not written anywhere).
pub fn sample_2024(
    dir: &std::path::Path,
    d: &ReformData,
    communes_every: usize,
    initiatives_per_unit: u32,
    seed: u64,
) -> Result<(Node, Sample), NodeError> {
    let mut node = Node::create_root(
        dir,
        uid("tld"),
        text("name", "Tổng Liên đoàn Lao động Việt Nam"),
        SAMPLE_T0_MS - 60_000,
    )?;
    let federation = node.federation();
    let root = node.author()?.clone();
    let mut authors: BTreeMap<UnitId, Author> = BTreeMap::new();
    let mut certs: Vec<Entry> = Vec::new();
    let mut t = SAMPLE_T0_MS;
    let mut add = |id: &str,
                   name: &str,
                   role: UnitRole,
                   parent: &UnitId,
                   authors: &mut BTreeMap<UnitId, Author>| {
        let unit = uid(id);
        let key = SigningKey::from_bytes(&derive(seed, id, 0));
        let a = Author::new(federation, unit.clone(), key);
        let signer = authors.get(parent).unwrap_or(&root);
        t += 1;
        certs.push(signer.sign(
            t,
            EntryBody::Certificate(Certificate {
                unit: unit.clone(),
                name: text("name", name),
                role,
                parent: parent.clone(),
                key: a.public_key(),
                replaces: None,
            }),
        ));
        authors.insert(unit, a);
    };
    let tld = uid("tld");
    for (code, name) in &d.provinces_2024 {
        add(
            &format!("t{code}"),
            &format!("Liên đoàn Lao động {name}"),
            UnitRole::ProvincialFederation,
            &tld,
            &mut authors,
        );
    }
    for (code, (province, name)) in &d.districts_2024 {
        add(
            &format!("h{code}"),
            &format!("Liên đoàn Lao động {name}"),
            UnitRole::DirectSuperior,
            &uid(&format!("t{province}")),
            &mut authors,
        );
    }
    let mut grassroots = Vec::new();
    for (i, (code, (district, name))) in d.communes_2024.iter().enumerate() {
        if i % communes_every.max(1) != 0 {
            continue;
        }
        let id = format!("cs{code}-1");
        add(
            &id,
            &format!("Công đoàn cơ sở {name}"),
            UnitRole::Grassroots,
            &uid(&format!("h{district}")),
            &mut authors,
        );
        grassroots.push((uid(&id), uid(&format!("h{district}"))));
    }
    let units_count = certs.len();
    let r = node.import(certs, SAMPLE_T0_MS + 86_400_000)?;
    if let Some((h, why)) = r.rejected.first() {
        return Err(NodeError::Refused(format!("certificate {h}: {why}")));
    }
    // The programme, then the initiatives.
    let start = Date::from_unix_ms(SAMPLE_T0_MS);
    let end = Date::parse("2025-12-31").expect("a valid date");
    let programme = Programme {
        name: text("name", "Sáng kiến 2025"),
        phases: vec![Phase {
            name: text("name", "Giai đoạn 1"),
            start,
            end,
            target: 1_000_000,
        }],
        deadlines: Vec::new(),
        campaigns: Vec::new(),
        national_target: 1_000_000,
    };
    let programme = crate::records::create(
        &mut node,
        &RecordContent::Programme(programme),
        SAMPLE_T0_MS,
    )?;
    let mut entries = Vec::new();
    let mut n = 0u64;
    for (g, district) in &grassroots {
        let a = &authors[g];
        for _ in 0..initiatives_per_unit {
            n += 1;
            let t = SAMPLE_T0_MS + 86_400_000 + n;
            let i = Initiative {
                title: text("title", &format!("Sáng kiến số {n}")),
                authors: vec![record::Author {
                    name: text("name", "Nguyễn Văn An"),
                    position: text("position", "Kỹ sư"),
                }],
                origin: g.clone(),
                superior: district.clone(),
                programme: Some(programme),
                phase: 1,
                sector: Sector::ALL[(n % 6) as usize],
                summary: text("summary", "Giảm thời gian dừng máy"),
                registered_on: Date::from_unix_ms(t),
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
            let mut doc = record::new_document(derive(seed, "actor", n));
            let change =
                record::commit_content(&mut doc, &RecordContent::Initiative(Box::new(i)), t)
                    .map_err(|e| NodeError::Refused(e.to_string()))?
                    .ok_or_else(|| NodeError::Refused("an empty initiative".into()))?;
            entries.push(a.sign(
                t,
                EntryBody::RecordChange(RecordChange {
                    record: RecordId(derive(seed, "record", n)),
                    kind: RecordKind::Initiative,
                    owner: g.clone(),
                    confidential: false,
                    change,
                }),
            ));
        }
    }
    for chunk in entries.chunks(20_000) {
        let r = node.import(chunk.to_vec(), SAMPLE_T0_MS + 2 * 86_400_000)?;
        if let Some((h, why)) = r.rejected.first() {
            return Err(NodeError::Refused(format!("initiative {h}: {why}")));
        }
    }
    Ok((
        node,
        Sample {
            units_count,
            grassroots_count: grassroots.len(),
            initiatives_count: n as usize,
            programme,
        },
    ))
}
