//! Scenario files: what to simulate. JSON, every field documented in `simulations/README.md`;
//! examples in `simulations/scenarios/`. Unknown fields are refused; every number from a file is
//! checked against a named bound before anything is allocated from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Largest scenario file read.
pub const MAX_SCENARIO_BYTES: usize = 1024 * 1024;
/// Most grassroots units a topology may have (the real count is about 127,000).
pub const MAX_GRASSROOTS: u32 = 200_000;
/// Longest campaign, days.
pub const MAX_CAMPAIGN_DAYS: u32 = 366;
/// Longest quiet phase, days.
pub const MAX_QUIET_DAYS: u32 = 60;
/// Most scheduled faults and bundles of each kind in one file.
pub const MAX_SCHEDULED_FAULTS: usize = 10_000;
/// Most units a `custom` topology may spell out (the file bound keeps it far lower in practice).
pub const MAX_CUSTOM_UNITS: usize = 20_000;
/// Most named link presets in one file.
pub const MAX_LINK_PRESETS: usize = 64;
/// Highest initiative rate per grassroots unit per week.
pub const MAX_INITIATIVES_PER_WEEK: f64 = 50.0;
/// Longest approval delay, hours.
pub const MAX_APPROVAL_DELAY_HOURS: f64 = 24.0 * 60.0;
/// Most re-organisations one scenario may schedule.
pub const MAX_REORGANISATIONS_COUNT: usize = 16;
/// Longest hand-off window before a unit's end, hours.
pub const MAX_HAND_OFF_HOURS: u32 = 24 * 30;
/// The plan of the July 2025 reform, as shipped (`data/reform_2025.plan`).
pub const REFORM_2025_PLAN: &str = include_str!("../../data/reform_2025.plan");
/// Fewest bytes per second a link may have.
pub const MIN_BANDWIDTH_BYTES_PER_S: u64 = 1_000;
/// Shortest sync interval, minutes.
pub const MIN_SYNC_INTERVAL_MINUTES: u64 = 1;

/// A scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for reports.
    pub name: String,
    /// The unit tree.
    pub topology: TopologySpec,
    /// Days of the campaign (workload and faults).
    #[serde(default = "default_campaign_days")]
    pub campaign_days: u32,
    /// Days after the campaign: no workload, no faults; everything must converge.
    #[serde(default = "default_quiet_days")]
    pub quiet_days: u32,
    /// Unix milliseconds of virtual time 0: a Monday, 00:00 local time.
    #[serde(default = "default_start")]
    pub start_unix_ms: u64,
    /// Link presets added to or replacing the built-in ones (`provincial_fibre`,
    /// `district_office`, `grassroots_mobile`, `lan`).
    #[serde(default)]
    pub links: BTreeMap<String, LinkSpec>,
    /// The workload.
    #[serde(default)]
    pub workload: Workload,
    /// Faults.
    #[serde(default)]
    pub faults: Faults,
    /// Which nodes' stores are re-verified whole at the end (`verify_store`).
    #[serde(default)]
    pub audit: Audit,
    /// After the quiet phase starts, every node must converge within this many hours.
    #[serde(default = "default_liveness_hours")]
    pub liveness_bound_hours: u64,
    /// Keep a trace of events for failure reports (costs time at national scale).
    #[serde(default = "default_true")]
    pub trace: bool,
    /// Re-organisations of the tree at a virtual time: a plan (`node::reorg` format) signed by
    /// one unit's node, verified by the real import, after which the tree follows the
    /// certificates and ends it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reorganisations: Vec<Reorganisation>,
    /// TEST ONLY: the store silently drops one entry it acknowledged (the checker must fail).
    #[serde(default)]
    pub insecure_drop_one_received_entry: bool,
    /// TEST ONLY: import without the receiving unit, so scope is not checked on receive.
    #[serde(default)]
    pub insecure_skip_scope_check: bool,
}

fn default_campaign_days() -> u32 {
    40
}
fn default_quiet_days() -> u32 {
    14
}
fn default_start() -> u64 {
    // 2025-03-03 00:00 in Vietnam (UTC+7), a Monday.
    1_740_934_800_000
}
/// Virtual 0 of the `reform-2025` preset: Monday 2 June 2025, 00:00 in Vietnam (UTC+7).
pub const REFORM_PRESET_START_MS: u64 = 1_748_797_200_000;

fn default_liveness_hours() -> u64 {
    7 * 24
}
fn default_true() -> bool {
    true
}

/// A re-organisation event (see `simulations/README.md`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reorganisation {
    /// Campaign day the plan is signed.
    pub day: u32,
    /// Hour of that day.
    #[serde(default)]
    pub hour: u8,
    /// The plan itself, in the format of `sangkien unit reorganise --plan` (lines separated by
    /// newlines). Exactly one of `plan` and `shipped_plan`.
    #[serde(default)]
    pub plan: Option<String>,
    /// A plan shipped with the program: `reform-2025` (`data/reform_2025.plan`).
    #[serde(default)]
    pub shipped_plan: Option<String>,
    /// The unit whose node signs the plan; default the national node `tld`.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// Hours before its end that an ending unit below level 1 stops deciding and starts
    /// handing its data on to its parent (a session every hour, whatever the link's hours);
    /// level-1 units do so in the last half of this window.
    #[serde(default = "default_hand_off_hours")]
    pub hand_off_hours: u32,
}

fn default_hand_off_hours() -> u32 {
    72
}

impl Reorganisation {
    /// The plan text.
    pub fn plan_text(&self) -> Result<&str, SimError> {
        match (&self.plan, self.shipped_plan.as_deref()) {
            (Some(p), None) => Ok(p),
            (None, Some("reform-2025")) => Ok(REFORM_2025_PLAN),
            (None, Some(other)) => Err(SimError::Scenario(format!(
                "reorganisations: unknown shipped plan {other:?}: reform-2025"
            ))),
            _ => Err(SimError::Scenario(
                "reorganisations: give exactly one of plan and shipped_plan".into(),
            )),
        }
    }

    /// The plan, parsed (and bounded) by `node::reorg::parse_plan`.
    pub fn parsed(&self) -> Result<node::reorg::Plan, SimError> {
        node::reorg::parse_plan(self.plan_text()?)
            .map_err(|e| SimError::Scenario(format!("reorganisations: plan: {e}")))
    }
}

/// The unit tree: a preset and its parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// `small`, `national-2024` or `national-2025`.
    pub preset: String,
    /// Grassroots units (national presets); default: `grassroots_fraction` of 127,000.
    #[serde(default)]
    pub grassroots: Option<u32>,
    /// Fraction of the real 127,000 grassroots units (national presets), default 0.1.
    #[serde(default)]
    pub grassroots_fraction: Option<f64>,
    /// Fraction of grassroots units directly under a level-1 unit, default 0.04.
    #[serde(default)]
    pub direct_under_level1_fraction: Option<f64>,
    /// Seed of the tree's random shape (fan-out), separate from the run seed: default 1.
    #[serde(default)]
    pub topology_seed: Option<u64>,
    /// The link preset of each level's link to its parent.
    #[serde(default)]
    pub level_links: LevelLinks,
    /// The units of a `custom` topology, parents before children, under the national node
    /// `tld` (which is implicit). Only with `preset: "custom"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitDef>,
}

/// One unit of a `custom` topology.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitDef {
    /// Unit id: a-z, 0-9 and '-', unique in the file, not `tld`.
    pub id: String,
    /// Name (Vietnamese, as on the unit's certificate).
    pub name: String,
    /// `provincial`, `central-sector`, `corporation`, `direct-superior` or `grassroots`.
    pub role: String,
    /// The parent's id: `tld` or a unit listed earlier.
    pub parent: String,
    /// Link preset of the link to the parent; default: the level's (`level_links`).
    #[serde(default)]
    pub link: Option<String>,
}

/// The link preset of each level's link to its parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelLinks {
    /// Provincial federations and central unions to the national node.
    pub level1: String,
    /// Direct-superior unions to their level-1 unit.
    pub direct_superior: String,
    /// Grassroots unions to their parent.
    pub grassroots: String,
}

impl Default for LevelLinks {
    fn default() -> Self {
        Self {
            level1: "provincial_fibre".into(),
            direct_superior: "district_office".into(),
            grassroots: "grassroots_mobile".into(),
        }
    }
}

/// One kind of link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way latency, milliseconds.
    pub latency_ms: u64,
    /// Bytes per second each way.
    pub bandwidth_bytes_per_s: u64,
    /// Probability that sending one message cuts the connection (the session restarts later).
    #[serde(default)]
    pub loss: f64,
    /// Local hours the link is up: `[from, to)`, 0-24; `[0, 24]` is always.
    #[serde(default = "always")]
    pub hours: [u8; 2],
    /// Up on Monday-Friday only.
    #[serde(default)]
    pub weekdays_only: bool,
    /// The child starts a session this often while the link is up, minutes.
    pub sync_interval_minutes: u64,
}

fn always() -> [u8; 2] {
    [0, 24]
}

/// The built-in link presets.
pub fn builtin_links() -> BTreeMap<String, LinkSpec> {
    BTreeMap::from([
        (
            "provincial_fibre".to_string(),
            LinkSpec {
                latency_ms: 15,
                bandwidth_bytes_per_s: 12_500_000,
                loss: 0.0,
                hours: [0, 24],
                weekdays_only: false,
                sync_interval_minutes: 15,
            },
        ),
        (
            "district_office".to_string(),
            LinkSpec {
                latency_ms: 60,
                bandwidth_bytes_per_s: 250_000,
                loss: 0.0,
                hours: [8, 11],
                weekdays_only: true,
                sync_interval_minutes: 30,
            },
        ),
        (
            "grassroots_mobile".to_string(),
            LinkSpec {
                latency_ms: 120,
                bandwidth_bytes_per_s: 100_000,
                loss: 0.0,
                hours: [7, 21],
                weekdays_only: false,
                sync_interval_minutes: 120,
            },
        ),
        (
            "lan".to_string(),
            LinkSpec {
                latency_ms: 1,
                bandwidth_bytes_per_s: 100_000_000,
                loss: 0.0,
                hours: [0, 24],
                weekdays_only: false,
                sync_interval_minutes: 5,
            },
        ),
    ])
}

/// The workload.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Initiatives each grassroots unit registers per week (Poisson).
    pub initiatives_per_grassroots_per_week: f64,
    /// Fraction registered as confidential (private part kept at origin and direct superior).
    pub confidential_fraction: f64,
    /// Fraction edited concurrently by the unit's officer and the support team before
    /// submission (two Automerge changes with the same parent).
    pub support_edit_fraction: f64,
    /// Fraction rejected at each level instead of approved.
    pub reject_fraction: f64,
    /// Mean approval delay at each level, hours (exponential).
    pub approval_delay_hours: ApprovalDelays,
    /// Target: initiatives recognised nationally by the end of the campaign; default: 80 % of
    /// the expected registrations.
    #[serde(default)]
    pub target_recognised: Option<u64>,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            initiatives_per_grassroots_per_week: 1.0,
            confidential_fraction: 0.05,
            support_edit_fraction: 0.1,
            reject_fraction: 0.05,
            approval_delay_hours: ApprovalDelays::default(),
            target_recognised: None,
        }
    }
}

/// Mean approval delays, hours.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDelays {
    /// At the direct-superior union.
    pub direct_superior: f64,
    /// At the provincial federation or central union.
    pub level1: f64,
    /// At the national level.
    pub national: f64,
}

impl Default for ApprovalDelays {
    fn default() -> Self {
        Self {
            direct_superior: 48.0,
            level1: 72.0,
            national: 96.0,
        }
    }
}

/// Faults: drawn per seed (`random`), and scheduled ones.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Draw this seed's own fault rates, as TigerBeetle's VOPR does.
    #[serde(default)]
    pub random: bool,
    /// Links cut for a while.
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// Node crashes (pending writes lost).
    #[serde(default)]
    pub crashes: Vec<Crash>,
    /// Restores from an old backup.
    #[serde(default)]
    pub restores: Vec<Restore>,
    /// USB bundles carried by hand.
    #[serde(default)]
    pub bundles: Vec<Bundle>,
}

/// A link down for a while: the link from `unit` to its parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// The child end of the link.
    pub unit: String,
    /// Virtual day it starts (0-based), at `hour`.
    pub day: u32,
    /// Hour of the day.
    #[serde(default)]
    pub hour: u8,
    /// How long, hours.
    pub hours: u32,
}

/// A crash: the node stops, loses what it had not flushed, comes back later.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// The unit.
    pub unit: String,
    /// Day.
    pub day: u32,
    /// Hour.
    #[serde(default)]
    pub hour: u8,
    /// Hours down.
    pub down_hours: u32,
}

/// A restore from a backup taken `backup_age_days` earlier.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The unit.
    pub unit: String,
    /// Day.
    pub day: u32,
    /// Hour.
    #[serde(default)]
    pub hour: u8,
    /// Age of the backup, days (1 or more).
    pub backup_age_days: u32,
}

/// A USB bundle: the entries `from` holds that `to` should hold, imported at `to`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Writer.
    pub from: String,
    /// Reader.
    pub to: String,
    /// Day.
    pub day: u32,
    /// Hour.
    #[serde(default)]
    pub hour: u8,
}

/// Which stores are re-verified whole at the end.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Audit {
    /// Every node.
    #[default]
    All,
    /// The national node, every level-1 node, and this many other nodes chosen by the seed.
    Sample(u32),
}

impl Scenario {
    /// Reads a scenario from JSON text, checking every bound.
    pub fn from_json(text: &str) -> Result<Self, SimError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(SimError::Scenario(format!(
                "the file is {} bytes, over the limit of {MAX_SCENARIO_BYTES}",
                text.len()
            )));
        }
        let s: Scenario =
            serde_json::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every bound; the presets pass it too.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Scenario(m));
        if self.campaign_days == 0 || self.campaign_days > MAX_CAMPAIGN_DAYS {
            return bad(format!("campaign_days must be 1 to {MAX_CAMPAIGN_DAYS}"));
        }
        if self.quiet_days == 0 || self.quiet_days > MAX_QUIET_DAYS {
            return bad(format!("quiet_days must be 1 to {MAX_QUIET_DAYS}"));
        }
        if self.links.len() > MAX_LINK_PRESETS {
            return bad(format!("more than {MAX_LINK_PRESETS} link presets"));
        }
        for (name, l) in &self.links {
            if l.bandwidth_bytes_per_s < MIN_BANDWIDTH_BYTES_PER_S {
                return bad(format!(
                    "link {name}: bandwidth_bytes_per_s under {MIN_BANDWIDTH_BYTES_PER_S}"
                ));
            }
            if l.sync_interval_minutes < MIN_SYNC_INTERVAL_MINUTES
                || l.sync_interval_minutes > 7 * 24 * 60
            {
                return bad(format!(
                    "link {name}: sync_interval_minutes must be 1 to 10080"
                ));
            }
            if !(0.0..=0.5).contains(&l.loss) {
                return bad(format!("link {name}: loss must be 0 to 0.5"));
            }
            if l.hours[0] >= l.hours[1] || l.hours[1] > 24 {
                return bad(format!("link {name}: hours must be [from, to) within 0-24"));
            }
            if l.latency_ms > 60_000 {
                return bad(format!("link {name}: latency_ms over 60000"));
            }
        }
        let links = self.all_links();
        for l in [
            &self.topology.level_links.level1,
            &self.topology.level_links.direct_superior,
            &self.topology.level_links.grassroots,
        ] {
            if !links.contains_key(l) {
                return bad(format!("unknown link preset {l:?}"));
            }
        }
        let custom = self.topology.preset == "custom";
        if custom && self.topology.units.is_empty() {
            return bad("topology preset \"custom\" needs topology.units".into());
        }
        if !custom && !self.topology.units.is_empty() {
            return bad(format!(
                "topology.units is only for preset \"custom\", not {:?}",
                self.topology.preset
            ));
        }
        if self.topology.units.len() > MAX_CUSTOM_UNITS {
            return bad(format!(
                "more than {MAX_CUSTOM_UNITS} units in topology.units"
            ));
        }
        for u in &self.topology.units {
            if let Some(l) = &u.link {
                if !links.contains_key(l) {
                    return bad(format!("unit {}: unknown link preset {l:?}", u.id));
                }
            }
        }
        if let Some(g) = self.topology.grassroots {
            if g == 0 || g > MAX_GRASSROOTS {
                return bad(format!("grassroots must be 1 to {MAX_GRASSROOTS}"));
            }
        }
        for (name, f) in [
            ("grassroots_fraction", self.topology.grassroots_fraction),
            (
                "direct_under_level1_fraction",
                self.topology.direct_under_level1_fraction,
            ),
        ] {
            if let Some(f) = f {
                if !(0.0..=1.0).contains(&f) || (name == "grassroots_fraction" && f <= 0.0) {
                    return bad(format!("{name} must be within (0, 1]"));
                }
            }
        }
        let w = &self.workload;
        if !(0.0..=MAX_INITIATIVES_PER_WEEK).contains(&w.initiatives_per_grassroots_per_week) {
            return bad(format!(
                "initiatives_per_grassroots_per_week must be 0 to {MAX_INITIATIVES_PER_WEEK}"
            ));
        }
        for (name, f) in [
            ("confidential_fraction", w.confidential_fraction),
            ("support_edit_fraction", w.support_edit_fraction),
            ("reject_fraction", w.reject_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                return bad(format!("{name} must be 0 to 1"));
            }
        }
        let d = &w.approval_delay_hours;
        for h in [d.direct_superior, d.level1, d.national] {
            if !(0.0..=MAX_APPROVAL_DELAY_HOURS).contains(&h) {
                return bad(format!(
                    "approval delays must be 0 to {MAX_APPROVAL_DELAY_HOURS} hours"
                ));
            }
        }
        let f = &self.faults;
        if f.outages.len() > MAX_SCHEDULED_FAULTS
            || f.crashes.len() > MAX_SCHEDULED_FAULTS
            || f.restores.len() > MAX_SCHEDULED_FAULTS
            || f.bundles.len() > MAX_SCHEDULED_FAULTS
        {
            return bad(format!(
                "more than {MAX_SCHEDULED_FAULTS} scheduled faults of one kind"
            ));
        }
        let day_ok = |d: u32, h: u8| d < self.campaign_days && h < 24;
        if f.outages
            .iter()
            .any(|o| !day_ok(o.day, o.hour) || o.hours > 24 * 30)
            || f.crashes
                .iter()
                .any(|c| !day_ok(c.day, c.hour) || c.down_hours > 24 * 30)
            || f.restores
                .iter()
                .any(|r| !day_ok(r.day, r.hour) || r.backup_age_days == 0 || r.backup_age_days > 30)
            || f.bundles.iter().any(|b| !day_ok(b.day, b.hour))
        {
            return bad(
                "a scheduled fault lies outside the campaign or is too long (30 days at most)"
                    .into(),
            );
        }
        if self.liveness_bound_hours == 0
            || self.liveness_bound_hours > u64::from(self.quiet_days) * 24
        {
            return bad("liveness_bound_hours must be 1 to quiet_days × 24".into());
        }
        if self.reorganisations.len() > MAX_REORGANISATIONS_COUNT {
            return bad(format!(
                "more than {MAX_REORGANISATIONS_COUNT} reorganisations"
            ));
        }
        for r in &self.reorganisations {
            if !day_ok(r.day, r.hour) {
                return bad("a reorganisation lies outside the campaign".into());
            }
            if r.hand_off_hours == 0 || r.hand_off_hours > MAX_HAND_OFF_HOURS {
                return bad(format!(
                    "reorganisations: hand_off_hours must be 1 to {MAX_HAND_OFF_HOURS}"
                ));
            }
            if let Some(u) = &r.signed_by {
                if let Err(e) = sync_protocol::ids::UnitId::new(u) {
                    return bad(format!("reorganisations: signed_by {u:?}: {e}"));
                }
            }
            r.parsed()?;
        }
        Ok(())
    }

    /// The built-in link presets with this file's on top.
    pub fn all_links(&self) -> BTreeMap<String, LinkSpec> {
        let mut l = builtin_links();
        l.extend(self.links.clone());
        l
    }

    /// A built-in scenario by name: `small`, `small-faults`, `national-2024`, `national-2025`,
    /// `reform-2025`.
    pub fn preset(name: &str) -> Result<Self, SimError> {
        let base = |topology: &str| Scenario {
            name: name.to_string(),
            topology: TopologySpec {
                preset: topology.to_string(),
                grassroots: None,
                grassroots_fraction: None,
                direct_under_level1_fraction: None,
                topology_seed: None,
                level_links: LevelLinks::default(),
                units: Vec::new(),
            },
            campaign_days: 40,
            quiet_days: 14,
            start_unix_ms: default_start(),
            links: BTreeMap::new(),
            workload: Workload::default(),
            faults: Faults::default(),
            audit: Audit::All,
            liveness_bound_hours: default_liveness_hours(),
            trace: true,
            reorganisations: Vec::new(),
            insecure_drop_one_received_entry: false,
            insecure_skip_scope_check: false,
        };
        let s = match name {
            "small" => {
                let mut s = base("small");
                s.campaign_days = 10;
                s.quiet_days = 8;
                s.workload.initiatives_per_grassroots_per_week = 2.0;
                s.workload.approval_delay_hours = ApprovalDelays {
                    direct_superior: 12.0,
                    level1: 24.0,
                    national: 24.0,
                };
                s
            }
            "small-faults" => {
                let mut s = Self::preset("small")?;
                s.name = name.to_string();
                s.campaign_days = 6;
                s.faults.random = true;
                s
            }
            "national-2024" | "national-2025" => {
                let mut s = base(name);
                s.audit = Audit::Sample(40);
                s.trace = false;
                s
            }
            "reform-2025" => {
                // The 2024 structure (unit ids as `sangkien federation sample-2024` makes them,
                // so that the shipped plan applies) from Monday 2 June 2025; the plan of the
                // reform signed on Friday 20 June, in force on 1 July; the campaign runs on two
                // weeks under the 2025 structure. A 2 % grassroots sample by default.
                let mut s = base("reform-2024");
                s.start_unix_ms = REFORM_PRESET_START_MS;
                s.campaign_days = 42;
                s.topology.grassroots_fraction = Some(0.02);
                s.audit = Audit::All;
                s.trace = false;
                s.reorganisations.push(Reorganisation {
                    day: 18,
                    hour: 9,
                    plan: None,
                    shipped_plan: Some("reform-2025".into()),
                    signed_by: None,
                    hand_off_hours: default_hand_off_hours(),
                });
                s
            }
            other => {
                return Err(SimError::Scenario(format!(
                    "unknown preset {other:?}: small, small-faults, national-2024, national-2025, reform-2025"
                )))
            }
        };
        s.validate()?;
        Ok(s)
    }
}
