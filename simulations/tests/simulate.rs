//! The project's deterministic simulation tests: same seed same bytes, the checker can fail,
//! and the CI seed sweep of the small scenario with faults.

use simulations::{run, Scenario};

fn report(s: &Scenario, seed: u64) -> simulations::Report {
    run(s, seed, &mut |_, _| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

fn explain(r: &simulations::Report, preset: &str) -> String {
    format!(
        "seed {} failed; replay: {}\n{}\ntrace:\n{}",
        r.seed,
        simulations::replay_command(&format!("--preset {preset}"), r.seed),
        r.to_table(),
        r.trace.join("\n")
    )
}

#[test]
fn small_scenario_converges_and_holds_every_invariant() {
    let s = Scenario::preset("small").unwrap();
    let r = report(&s, 1);
    assert!(r.ok(), "{}", explain(&r, "small"));
    assert!(
        r.counters.initiatives > 10 && r.counters.decisions > 10,
        "{}",
        r.to_table()
    );
}

#[test]
fn same_seed_same_bytes() {
    let s = Scenario::preset("small-faults").unwrap();
    let a = report(&s, 42);
    let b = report(&s, 42);
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_table(), b.to_table());
    assert_eq!(a.to_svg(), b.to_svg());
    let c = report(&s, 43);
    assert_ne!(a.to_json(), c.to_json(), "another seed, another run");
}

#[test]
fn the_checker_reports_a_dropped_entry_with_its_seed() {
    let mut s = Scenario::preset("small").unwrap();
    s.insecure_drop_one_received_entry = true;
    let r = report(&s, 5);
    assert_eq!(
        r.invariants.get("nothing_acknowledged_lost"),
        Some(&false),
        "{}",
        r.to_table()
    );
    let table = r.to_table();
    assert!(
        table.contains("seed 5") && table.contains("FAILED"),
        "{table}"
    );
    assert!(r.to_json().contains("\"nothing_acknowledged_lost\": false"));
}

#[test]
fn the_checker_reports_an_out_of_scope_entry_accepted_without_the_scope_check() {
    let mut s = Scenario::preset("small").unwrap();
    s.insecure_skip_scope_check = true;
    s.faults.bundles = vec![simulations::scenario::Bundle {
        from: "ldld-p1".into(),
        to: "ldld-p2".into(),
        day: 6,
        hour: 12,
    }];
    // A bundle carries only what the reader should hold; a forged delivery is what tests the
    // receive-side check, so the faults draw forgeries too.
    s.faults.random = true;
    let mut failed = None;
    for seed in 1..40 {
        let r = report(&s, seed);
        if r.invariants.get("nothing_out_of_scope_accepted") == Some(&false) {
            failed = Some(r);
            break;
        }
    }
    let r = failed.expect("some seed injects an out-of-scope entry and the checker sees it");
    assert!(r.to_table().contains(&format!("seed {}", r.seed)));
}

/// CI: `SANGKIEN_SIM_SEEDS` seeds (default 100) of the small scenario with faults, each run
/// twice and compared byte for byte.
#[test]
fn ci_seed_sweep_small_with_faults() {
    let n: u64 = std::env::var("SANGKIEN_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let s = Scenario::preset("small-faults").unwrap();
    // Two workers, each running whole seeds: a run never shares state with another, so the
    // threads cannot change any result.
    let workers = 2;
    let mut failures: Vec<(u64, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let s = &s;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for seed in (1..=n).filter(|seed| seed % workers == w) {
                        let a = report(s, seed);
                        let b = report(s, seed);
                        assert_eq!(a.to_json(), b.to_json(), "seed {seed} is not deterministic");
                        if !a.ok() {
                            failures.push((seed, explain(&a, "small-faults")));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    failures.sort_by_key(|f| f.0);
    let failures: Vec<String> = failures.into_iter().map(|f| f.1).collect();
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
