//! The project's deterministic simulation tests: same seed same bytes, the checker can fail,
//! and the CI seed sweep of the small scenario with faults.

use simulations::{run, Scenario};

fn report(s: &Scenario, seed: u64) -> simulations::Report {
    run(s, seed, &mut |_, _| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

/// The failure message: the seed, the replay command (`scenario_arg` is `--preset NAME` or
/// `--scenario FILE`), the report and the trace.
fn explain(r: &simulations::Report, scenario_arg: &str) -> String {
    format!(
        "seed {} failed; replay: {}\n{}\ntrace:\n{}",
        r.seed,
        simulations::replay_command(scenario_arg, r.seed),
        r.to_table(),
        r.trace.join("\n")
    )
}

#[test]
fn small_scenario_converges_and_holds_every_invariant() {
    let s = Scenario::preset("small").unwrap();
    let r = report(&s, 1);
    assert!(r.ok(), "{}", explain(&r, "--preset small"));
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
                            failures.push((seed, explain(&a, "--preset small-faults")));
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

/// Seeds that once failed the sweep, kept after their fix (issue 6: "a failing seed, once
/// fixed, is kept as a regression test"). Each runs twice and must hold every invariant.
#[test]
fn regression_seeds_small_with_faults() {
    let s = Scenario::preset("small-faults").unwrap();
    for seed in REGRESSION_SEEDS {
        let a = report(&s, seed);
        assert!(a.ok(), "{}", explain(&a, "--preset small-faults"));
        assert_eq!(a.to_json(), report(&s, seed).to_json(), "seed {seed}");
    }
}

/// Every example in `simulations/scenarios/` loads, runs and holds every invariant, and what
/// it describes happened (the scheduled faults and bundles were applied).
#[test]
fn example_scenarios_load_and_hold_every_invariant() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "examples in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let s = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = report(&s, 1);
        let arg = format!("--scenario {}", path.display());
        assert!(r.ok(), "{}: {}", path.display(), explain(&r, &arg));
        // What the national node saw adds up: each initiative is approved for it once (a
        // corporation union's approval under a sector union is not counted again), and
        // recognised only after that approval.
        let mut cum = [0u64; 4];
        for (day, row) in r.national_daily.iter().enumerate() {
            for (c, v) in cum.iter_mut().zip(row) {
                *c += v;
            }
            assert!(
                cum[1] <= cum[0] && cum[2] <= cum[1],
                "{} day {day}: registered {}, approved {}, recognised {}",
                path.display(),
                cum[0],
                cum[1],
                cum[2]
            );
        }
        let c = &r.counters;
        assert_eq!(
            c.outages as usize,
            s.faults.outages.len(),
            "{}",
            path.display()
        );
        assert_eq!(
            c.crashes as usize,
            s.faults.crashes.len(),
            "{}",
            path.display()
        );
        assert_eq!(
            c.restores as usize,
            s.faults.restores.len(),
            "{}",
            path.display()
        );
        assert_eq!(
            c.bundles as usize,
            s.faults.bundles.len(),
            "{}",
            path.display()
        );
    }
}

/// Seeds of `small-faults` that once failed the sweep: 3 and 24 before the fixes in e00ed86;
/// 52 (a grassroots unit restored from a 3-day-old backup kept editing a record whose earlier
/// changes its store no longer held, so its own write waited in quarantine and was lost) before
/// the officer waits for the record to come back. More join as they are found.
const REGRESSION_SEEDS: [u64; 3] = [3, 24, 52];
