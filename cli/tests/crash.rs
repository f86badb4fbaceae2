//! The crash test, as CI runs it: a real `sangkien` writer process is killed with SIGKILL at
//! random moments, 20 times; every acknowledged entry must be there after each restart, no
//! half-written entry visible, and the counters equal to a recount (`node check`). The run
//! prints its seed first; `sangkien bench crash --seed N` replays its choices.

use std::process::Command;

#[test]
fn twenty_sigkills_lose_nothing_acknowledged_and_counters_stay_exact() {
    let dir = std::env::temp_dir().join(format!("sangkien-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(["bench", "crash", "--cycles", "20", "--dir"])
        .arg(&dir)
        .env_remove("SANGKIEN_DATA")
        .output()
        .expect("the sangkien binary runs");
    let out = String::from_utf8_lossy(&o.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    let last = out.lines().last().unwrap_or_default();
    // The seed comes first, so that a failure replays with `--seed`.
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("seed: "), "{out}");
    assert!(first.contains("--seed "), "{out}");
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(last.starts_with("cycles: 20, acknowledged: "), "{out}");
    assert!(last.ends_with(", lost: 0, counter mismatches: 0"), "{out}");
    let acknowledged: u64 = last
        .split("acknowledged: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(acknowledged > 0, "{out}");
}
