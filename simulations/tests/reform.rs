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

#[test]
fn the_reform_preset_holds_every_invariant() {
    let mut s = reform(400);
    s.start_unix_ms += 14 * 86_400_000;
    s.campaign_days = 28;
    s.reorganisations[0].day = 4;
    let t = std::time::Instant::now();
    let r = report(&s, 1);
    eprintln!("{}\n{:?}", r.to_table(), t.elapsed());
    let mut seen = std::collections::BTreeSet::new();
    for v in &r.violations {
        if seen.insert(v.invariant.clone()) {
            eprintln!("FIRST {} at {}: {}", v.invariant, v.at_ms, v.detail);
        }
    }
    assert!(r.ok(), "{}\n{}", r.to_table(), r.trace.join("\n"));
}
