//! Unit trees for the presets, built from Vietnam's real administrative units in `data/`
//! (`provinces_2024.csv`, `districts_2024.csv`, `provinces_2025.csv`, `communes_2025.csv`) and
//! the union structure of DESIGN §6: 63 provincial federations and 20 central sector and
//! corporation unions in 2024, 1,226 direct-superior unions (one per district, plus provincial
//! sector, agency and industrial-zone unions, plus those under the central unions), about
//! 127,000 grassroots unions; in 2025, 34 provinces and commune/ward unions instead of districts.
//! Fan-out is skewed (heavy-tailed, industrial provinces weighted up), from `topology_seed`.

use std::collections::BTreeMap;
use sync_protocol::entry::UnitRole;

use crate::rng::Rng;
use crate::scenario::TopologySpec;
use crate::SimError;

const PROVINCES_2024: &str = include_str!("../../data/provinces_2024.csv");
const DISTRICTS_2024: &str = include_str!("../../data/districts_2024.csv");
const COMMUNES_2024: &str = include_str!("../../data/communes_2024.csv");
const PROVINCES_2025: &str = include_str!("../../data/provinces_2025.csv");
const COMMUNES_2025: &str = include_str!("../../data/communes_2025.csv");

/// The real number of grassroots unions, about.
pub const REAL_GRASSROOTS: u32 = 127_000;

/// Province codes of the big industrial provinces (2024 and 2025 codes), weighted up.
const INDUSTRIAL: &[&str] = &[
    "01", "79", "74", "75", "27", "31", "80", "24", "30", "26", "19", "22", "48",
];

/// Industrial-zone unions in the industrial provinces (2024), with 696 district unions, 4 provincial
/// sector and agency unions per province and 7 under each central union: 1,226 direct-superior
/// unions.
const INDUSTRIAL_ZONE_UNIONS: usize = 138;

/// The 20 central sector and corporation unions (10 sector unions, 10 corporation unions).
const CENTRAL: &[(&str, UnitRole)] = &[
    ("Công đoàn Giáo dục Việt Nam", UnitRole::CentralSectorUnion),
    ("Công đoàn Y tế Việt Nam", UnitRole::CentralSectorUnion),
    ("Công đoàn Viên chức Việt Nam", UnitRole::CentralSectorUnion),
    (
        "Công đoàn Công Thương Việt Nam",
        UnitRole::CentralSectorUnion,
    ),
    (
        "Công đoàn Giao thông vận tải Việt Nam",
        UnitRole::CentralSectorUnion,
    ),
    ("Công đoàn Xây dựng Việt Nam", UnitRole::CentralSectorUnion),
    (
        "Công đoàn Nông nghiệp và Phát triển nông thôn Việt Nam",
        UnitRole::CentralSectorUnion,
    ),
    ("Công đoàn Ngân hàng Việt Nam", UnitRole::CentralSectorUnion),
    ("Công đoàn Công an nhân dân", UnitRole::CentralSectorUnion),
    ("Công đoàn Quốc phòng", UnitRole::CentralSectorUnion),
    ("Công đoàn Dầu khí Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Điện lực Việt Nam", UnitRole::CorporationUnion),
    (
        "Công đoàn Than - Khoáng sản Việt Nam",
        UnitRole::CorporationUnion,
    ),
    ("Công đoàn Bưu điện Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Đường sắt Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Hàng không Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Cao su Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Dệt May Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Tài chính Việt Nam", UnitRole::CorporationUnion),
    ("Công đoàn Viettel", UnitRole::CorporationUnion),
];

/// One unit of the tree.
#[derive(Clone, Debug)]
pub struct UnitSpec {
    /// Unit id (a-z, 0-9, '-').
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: UnitRole,
    /// Index of the parent; `None` for the root.
    pub parent: Option<usize>,
    /// Link preset of the link to the parent.
    pub link: String,
}

/// A whole tree, parents before children.
#[derive(Clone, Debug)]
pub struct Tree {
    /// The units; index 0 is the national node.
    pub units: Vec<UnitSpec>,
}

fn rows(csv: &str) -> impl Iterator<Item = Vec<&str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
}

struct Builder<'a> {
    units: Vec<UnitSpec>,
    spec: &'a TopologySpec,
}

impl Builder<'_> {
    fn add(&mut self, id: String, name: String, role: UnitRole, parent: Option<usize>) -> usize {
        let l = &self.spec.level_links;
        let link = match role {
            UnitRole::National => String::new(),
            UnitRole::DirectSuperior => l.direct_superior.clone(),
            UnitRole::Grassroots => l.grassroots.clone(),
            _ => l.level1.clone(),
        };
        self.units.push(UnitSpec {
            id,
            name,
            role,
            parent,
            link,
        });
        self.units.len() - 1
    }
}

/// Builds the tree of a topology spec.
pub fn build(spec: &TopologySpec) -> Result<Tree, SimError> {
    let mut b = Builder {
        units: Vec::new(),
        spec,
    };
    b.add(
        "tld".into(),
        "Tổng Liên đoàn Lao động Việt Nam".into(),
        UnitRole::National,
        None,
    );
    match spec.preset.as_str() {
        "small" => small(&mut b),
        "national-2024" => national(&mut b, false, false)?,
        "national-2025" => national(&mut b, true, false)?,
        "reform-2024" => national(&mut b, false, true)?,
        "custom" => custom(&mut b)?,
        other => {
            return Err(SimError::Scenario(format!(
                "unknown topology preset {other:?}: small, national-2024, national-2025, reform-2024, custom"
            )))
        }
    }
    Ok(Tree { units: b.units })
}

fn small(b: &mut Builder<'_>) {
    let mut g = 0;
    let mut grassroots = |b: &mut Builder<'_>, parent: usize, n: usize| {
        for _ in 0..n {
            g += 1;
            b.add(
                format!("cdcs-{g:03}"),
                format!("Công đoàn cơ sở Công ty số {g}"),
                UnitRole::Grassroots,
                Some(parent),
            );
        }
    };
    for (p, pname) in [("p1", "Phú Yên"), ("p2", "Trà Vinh")] {
        let pi = b.add(
            format!("ldld-{p}"),
            format!("Liên đoàn Lao động tỉnh {pname}"),
            UnitRole::ProvincialFederation,
            Some(0),
        );
        for d in 1..=2 {
            let di = b.add(
                format!("ldld-{p}-d{d}"),
                format!("Liên đoàn Lao động huyện {d} tỉnh {pname}"),
                UnitRole::DirectSuperior,
                Some(pi),
            );
            grassroots(b, di, 3);
        }
        grassroots(b, pi, 1);
    }
    let ci = b.add(
        "cd-dien-luc".into(),
        "Công đoàn Điện lực Việt Nam".into(),
        UnitRole::CorporationUnion,
        Some(0),
    );
    grassroots(b, ci, 2);
}

/// A tree spelled out in the scenario file (`topology.units`), checked unit by unit: the id
/// well formed and new, the role known, the parent listed earlier and allowed to hold that role
/// (the rule the verifier applies to certificates, `UnitRole::may_parent`).
fn custom(b: &mut Builder<'_>) -> Result<(), SimError> {
    let spec = b.spec;
    let root = b.units[0].id.clone();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    index.insert(&root, 0);
    let roles = UnitRole::ALL[1..]
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(", ");
    for u in &spec.units {
        let bad = |why: String| {
            Err(SimError::Scenario(format!(
                "topology.units, unit {:?}: {why}",
                u.id
            )))
        };
        if let Err(e) = sync_protocol::ids::UnitId::new(&u.id) {
            return bad(e.to_string());
        }
        if index.contains_key(u.id.as_str()) {
            return bad(format!("listed twice (or named {root}, the national node)"));
        }
        let Some(role) = UnitRole::from_code(&u.role).filter(|r| *r != UnitRole::National) else {
            return bad(format!("role {:?} is not one of {roles}", u.role));
        };
        let Some(&parent) = index.get(u.parent.as_str()) else {
            return bad(format!(
                "parent {:?} is neither {root} nor a unit listed before it",
                u.parent
            ));
        };
        let parent_role = b.units[parent].role;
        if !parent_role.may_parent(role) {
            return bad(format!(
                "a {} unit may not sit under a {} unit",
                role.code(),
                parent_role.code()
            ));
        }
        let i = b.add(u.id.clone(), u.name.clone(), role, Some(parent));
        if let Some(l) = &u.link {
            b.units[i].link = l.clone();
        }
        index.insert(&u.id, i);
    }
    Ok(())
}

/// `national-2024`, `national-2025`, or with `plan_ids` the 2024 tree under the unit ids the
/// reform plan names (`reform-2024`, as `sangkien federation sample-2024` makes them):
/// provinces `t<code>`, districts `h<code>`, and each grassroots union under a district
/// located in one of its communes, `cs<commune code>-<n>`, so that the plan's commune lines
/// place it. The others keep the ids of `national-2024`.
fn national(b: &mut Builder<'_>, y2025: bool, plan_ids: bool) -> Result<(), SimError> {
    let spec = b.spec;
    let mut rng = Rng::new(spec.topology_seed.unwrap_or(1), 0x7090);
    let total = spec.grassroots.unwrap_or_else(|| {
        (f64::from(REAL_GRASSROOTS) * spec.grassroots_fraction.unwrap_or(0.1)).round() as u32
    });
    let total = total.max(1);
    // Level 1: provinces, then the central unions.
    let mut provinces: Vec<(String, usize)> = Vec::new();
    let pcsv = if y2025 {
        PROVINCES_2025
    } else {
        PROVINCES_2024
    };
    for r in rows(pcsv) {
        let (Some(code), Some(full)) = (r.first(), r.get(3)) else {
            return Err(SimError::Scenario("malformed provinces file".into()));
        };
        let id = if plan_ids {
            format!("t{code}")
        } else {
            format!("ldld-{code}")
        };
        let i = b.add(
            id,
            format!("Liên đoàn Lao động {full}"),
            UnitRole::ProvincialFederation,
            Some(0),
        );
        provinces.push((code.to_string(), i));
    }
    let mut central = Vec::new();
    for (n, (name, role)) in CENTRAL.iter().enumerate() {
        central.push(b.add(
            format!("cd-tw-{:02}", n + 1),
            name.to_string(),
            *role,
            Some(0),
        ));
    }
    let pidx = |code: &str| provinces.iter().find(|(c, _)| c == code).map(|(_, i)| *i);
    // Direct-superior unions, each with a fan-out weight.
    let mut superiors: Vec<(usize, f64)> = Vec::new();
    // With plan ids: the 2024 communes of each district, by tree index of the district.
    let mut communes_of: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut district_index: BTreeMap<&str, usize> = BTreeMap::new();
    let weight = |rng: &mut Rng, province_code: &str| {
        // Pareto(alpha = 1.6), capped: most unions are small, a few very large.
        let w = (1.0 - rng.unit()).powf(-1.0 / 1.6).min(40.0);
        if INDUSTRIAL.contains(&province_code) {
            w * 4.0
        } else {
            w
        }
    };
    let (lower_csv, parent_col) = if y2025 {
        (COMMUNES_2025, 1)
    } else {
        (DISTRICTS_2024, 1)
    };
    for r in rows(lower_csv) {
        let (Some(code), Some(pcode), Some(full)) = (r.first(), r.get(parent_col), r.last()) else {
            return Err(SimError::Scenario(
                "malformed districts or communes file".into(),
            ));
        };
        let Some(p) = pidx(pcode) else {
            return Err(SimError::Scenario(format!(
                "unit {code} names an unknown province {pcode}"
            )));
        };
        let id = if plan_ids {
            format!("h{code}")
        } else {
            format!("cd-{code}")
        };
        let i = b.add(
            id,
            format!("Công đoàn {full}"),
            UnitRole::DirectSuperior,
            Some(p),
        );
        if plan_ids {
            district_index.insert(code, i);
        }
        // Commune unions are smaller than district unions.
        let w = weight(&mut rng, pcode) * if y2025 { 0.35 } else { 1.0 };
        superiors.push((i, w));
    }
    // Provincial sector, agency and industrial-zone unions: 4 per province, plus industrial-zone
    // unions in the industrial provinces; 7 under each central union. 2024: 696 + 390 + 140 =
    // 1,226.
    let mut n = 0;
    for (code, p) in provinces.clone() {
        // The 138 industrial-zone unions shared among the industrial provinces, the first ones
        // in the list taking one more when the division leaves a remainder.
        let extra = match INDUSTRIAL.iter().position(|c| *c == code.as_str()) {
            Some(k) => {
                4 + INDUSTRIAL_ZONE_UNIONS / INDUSTRIAL.len()
                    + usize::from(k < INDUSTRIAL_ZONE_UNIONS % INDUSTRIAL.len())
            }
            None => 4,
        };
        for k in 0..extra {
            n += 1;
            let kind = if k < 4 {
                [
                    "Công đoàn Viên chức",
                    "Công đoàn ngành Giáo dục",
                    "Công đoàn ngành Y tế",
                    "Công đoàn các cơ quan",
                ][k]
            } else {
                "Công đoàn các khu công nghiệp"
            };
            let i = b.add(
                format!("cd-ldld-{code}-{k}"),
                format!("{kind} số {n}"),
                UnitRole::DirectSuperior,
                Some(p),
            );
            let w = weight(&mut rng, &code) * if k >= 4 { 3.0 } else { 1.0 };
            superiors.push((i, w));
        }
    }
    for (ci, &c) in central.iter().enumerate() {
        for k in 0..7 {
            let i = b.add(
                format!("cd-tw-{:02}-{k}", ci + 1),
                format!(
                    "Công đoàn cấp trên trực tiếp cơ sở {} số {}",
                    CENTRAL[ci].0,
                    k + 1
                ),
                UnitRole::DirectSuperior,
                Some(c),
            );
            superiors.push((i, weight(&mut rng, "")));
        }
    }
    if plan_ids {
        for r in rows(COMMUNES_2024) {
            if let (Some(code), Some(district)) = (r.first(), r.get(1)) {
                if let Some(&d) = district_index.get(district) {
                    communes_of.entry(d).or_default().push(code);
                }
            }
        }
    }
    let mut located: BTreeMap<&str, u32> = BTreeMap::new();
    // Grassroots: some directly under a level-1 unit, the rest by weight.
    let level1: Vec<usize> = provinces
        .iter()
        .map(|(_, i)| *i)
        .chain(central.iter().copied())
        .collect();
    let direct = spec.direct_under_level1_fraction.unwrap_or(0.04);
    let mut cumulative = Vec::with_capacity(superiors.len());
    let mut sum = 0.0;
    for (_, w) in &superiors {
        sum += w;
        cumulative.push(sum);
    }
    for g in 0..total {
        let parent = if rng.chance(direct) {
            level1[rng.below(level1.len())]
        } else {
            let x = rng.unit() * sum;
            let k = cumulative
                .partition_point(|c| *c <= x)
                .min(superiors.len() - 1);
            superiors[k].0
        };
        let id = match communes_of.get(&parent) {
            Some(cs) if !cs.is_empty() => {
                let c = cs[rng.below(cs.len())];
                let n = located.entry(c).or_default();
                *n += 1;
                format!("cs{c}-{n}")
            }
            _ => format!("cdcs-{:06}", g + 1),
        };
        b.add(
            id,
            format!("Công đoàn cơ sở doanh nghiệp số {}", g + 1),
            UnitRole::Grassroots,
            Some(parent),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn count(tree: &Tree, role: UnitRole) -> usize {
        tree.units.iter().filter(|u| u.role == role).count()
    }

    #[test]
    fn national_2024_has_the_real_level_counts() {
        let mut s = Scenario::preset("national-2024").unwrap();
        s.topology.grassroots = Some(2_000);
        let tree = build(&s.topology).unwrap();
        assert_eq!(count(&tree, UnitRole::National), 1);
        assert_eq!(count(&tree, UnitRole::ProvincialFederation), 63);
        assert_eq!(
            count(&tree, UnitRole::CentralSectorUnion) + count(&tree, UnitRole::CorporationUnion),
            20
        );
        assert_eq!(count(&tree, UnitRole::DirectSuperior), 1_226);
        assert_eq!(count(&tree, UnitRole::Grassroots), 2_000);
    }

    fn custom(units: &str) -> Result<Tree, SimError> {
        let text =
            format!(r#"{{"name": "t", "topology": {{"preset": "custom", "units": [{units}]}}}}"#);
        let s = Scenario::from_json(&text)?;
        s.validate()?;
        build(&s.topology)
    }

    #[test]
    fn a_custom_tree_is_built_as_written() {
        let tree = custom(
            r#"{"id": "ldld-a", "name": "LĐLĐ A", "role": "provincial", "parent": "tld"},
               {"id": "cd-b", "name": "CĐ B", "role": "direct-superior", "parent": "ldld-a", "link": "lan"},
               {"id": "cdcs-c", "name": "CĐCS C", "role": "grassroots", "parent": "cd-b"}"#,
        )
        .unwrap();
        let ids: Vec<&str> = tree.units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["tld", "ldld-a", "cd-b", "cdcs-c"]);
        assert_eq!(tree.units[3].parent, Some(2));
        assert_eq!(tree.units[2].link, "lan");
        assert_eq!(tree.units[3].link, "grassroots_mobile");
    }

    #[test]
    fn a_bad_custom_tree_is_refused_naming_the_unit() {
        let a = r#"{"id": "ldld-a", "name": "A", "role": "provincial", "parent": "tld"}"#;
        for (units, says) in [
            (
                format!(r#"{a}, {{"id": "cdcs-x", "name": "X", "role": "grassroots", "parent": "cd-later"}}"#),
                "\"cdcs-x\": parent \"cd-later\" is neither tld",
            ),
            (format!("{a}, {a}"), "\"ldld-a\": listed twice"),
            (
                r#"{"id": "tld", "name": "T", "role": "provincial", "parent": "tld"}"#.to_string(),
                "\"tld\": listed twice",
            ),
            (
                format!(r#"{a}, {{"id": "cd-p", "name": "P", "role": "provincial", "parent": "ldld-a"}}"#),
                "a provincial unit may not sit under a provincial unit",
            ),
            (
                r#"{"id": "x", "name": "X", "role": "mayor", "parent": "tld"}"#.to_string(),
                "role \"mayor\" is not one of",
            ),
            (
                r#"{"id": "X Y", "name": "X", "role": "provincial", "parent": "tld"}"#.to_string(),
                "unit \"X Y\"",
            ),
            (
                r#"{"id": "x", "name": "X", "role": "provincial", "parent": "tld", "link": "pigeon"}"#.to_string(),
                "unit x: unknown link preset \"pigeon\"",
            ),
        ] {
            let e = custom(&units).err().unwrap_or_else(|| panic!("{units} accepted"));
            assert!(e.to_string().contains(says), "{units}: {e}");
        }
        let e = Scenario::from_json(r#"{"name": "t", "topology": {"preset": "custom"}}"#)
            .and_then(|s| s.validate())
            .unwrap_err();
        assert!(e.to_string().contains("needs topology.units"), "{e}");
        let e = Scenario::from_json(&format!(
            r#"{{"name": "t", "topology": {{"preset": "small", "units": [{a}]}}}}"#
        ))
        .and_then(|s| s.validate())
        .unwrap_err();
        assert!(e.to_string().contains("only for preset \"custom\""), "{e}");
    }
}
