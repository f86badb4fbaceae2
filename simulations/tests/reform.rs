//! The July 2025 re-organisation in the simulator: the `reform-2025` preset (the shipped plan
//! signed at the national node, verified by the real import, during a campaign) keeps every
//! invariant, and a merged unit that ends before handing its data on is caught.

use simulations::{run, Scenario};

fn report(s: &Scenario, seed: u64) -> simulations::Report {
    run(s, seed, &mut |_, _| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

/// The preset with a smaller grassroots sample (the tree above it, and the plan, are whole).
fn reform(grassroots: u32) -> Scenario {
    let mut s = Scenario::preset("reform-2025").unwrap();
    s.topology.grassroots = Some(grassroots);
    s.audit = simulations::scenario::Audit::All;
    s.trace = true;
    s
}

/// The preset's run, shortened for CI (400 grassroots units, a campaign from Monday 16 June):
/// the shipped plan signed on Friday 20 June, in force on 1 July, every invariant true, and
/// the plan did what it says.
#[test]
fn the_reform_preset_holds_every_invariant() {
    let mut s = reform(400);
    s.start_unix_ms += 14 * 86_400_000;
    s.campaign_days = 21;
    s.quiet_days = 10;
    s.reorganisations[0].day = 4;
    let r = report(&s, 1);
    assert!(r.ok(), "{}\n{}", r.to_table(), r.trace.join("\n"));
    let g = r.reorganisation.as_ref().expect("a re-organisation");
    assert_eq!(
        (g.new_units, g.closed, g.merged, g.renamed, g.refused),
        (3_321, 696, 29, 7, 0),
        "{}",
        r.to_table()
    );
    assert_eq!(g.ended_units, 696 + 29);
    assert_eq!((g.level1_before, g.level1_after), (83, 54));
    assert!(g.initiatives_before > 100, "{}", r.to_table());
    assert_eq!(g.initiatives_before, g.initiatives_after);
    assert!(
        g.successors_checked > 0 && g.moved_entries_accepted > 100,
        "{}",
        r.to_table()
    );
    assert_eq!(
        (
            g.entries_not_handed_off,
            g.decisions_stranded,
            g.misattributed
        ),
        (0, 0, 0)
    );
    // The table says it in Vietnamese by default, in English on request.
    let vi = r.to_table_in(node::lang::Lang::Vi);
    assert!(vi.contains("tái tổ chức") && vi.contains("ĐẠT"), "{vi}");
    assert!(r.to_table().contains("re-organisation: 1 plan(s)"));
}

fn merge_district() -> Scenario {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/merge-district.json");
    Scenario::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_district_merged_during_the_campaign_hands_its_data_on() {
    let s = merge_district();
    for seed in 1..4 {
        let r = report(&s, seed);
        assert!(r.ok(), "{}\n{}", r.to_table(), r.trace.join("\n"));
        let g = r.reorganisation.as_ref().unwrap();
        assert_eq!(
            (g.merged, g.renamed, g.ended_units),
            (1, 1, 1),
            "{}",
            r.to_table()
        );
        assert!(
            g.moved >= 3 && g.moved_entries_accepted > 0,
            "{}",
            r.to_table()
        );
        assert_eq!(g.initiatives_before, g.initiatives_after);
    }
}

/// The checker is real: a merged district cut off from before the plan until after its end
/// cannot hand its decisions on, and the run says so.
#[test]
fn a_merged_unit_that_ends_before_handing_on_is_reported() {
    let mut s = merge_district();
    s.workload.initiatives_per_grassroots_per_week = 6.0;
    // The district office is cut off (its link and its grassroots unions' links to it) from
    // the second day's noon until after its end: what it decided in between stays with it.
    s.faults.outages = ["ldld-p1-d1", "cdcs-001", "cdcs-002", "cdcs-003"]
        .iter()
        .map(|u| simulations::scenario::Outage {
            unit: u.to_string(),
            day: 1,
            hour: 12,
            hours: 96,
        })
        .collect();
    let r = report(&s, 1);
    assert_eq!(
        r.invariants.get("ended_units_handed_off"),
        Some(&false),
        "{}",
        r.to_table()
    );
    assert!(r.reorganisation.as_ref().unwrap().entries_not_handed_off > 0);
    assert!(
        r.to_table().contains("ldld-p1-d1 ends with"),
        "{}",
        r.to_table()
    );
}
