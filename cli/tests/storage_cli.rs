//! `sangkien node check|backup|restore` as a user runs them.

mod support;
use support::TempDir;

use std::process::{Command, Output};

fn sangkien(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(args)
        .env_remove("SANGKIEN_DATA")
        .env_remove("SANGKIEN_LANG")
        .output()
        .expect("the sangkien binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_finds_a_damaged_counter_tree_repair_fixes_it_and_backups_restore() {
    let tmp = TempDir::new("storage");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--dir", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // Every node the demo left is consistent.
    for e in std::fs::read_dir(&demo).unwrap() {
        let d = e.unwrap().path();
        if d.join("node.json").exists() {
            let o = sangkien(&[
                "--lang",
                "en",
                "--data",
                d.to_str().unwrap(),
                "node",
                "check",
            ]);
            assert!(o.status.success(), "{}: {}", d.display(), text(&o));
        }
    }
    let tld = demo.join("tld");
    let data = tld.to_str().unwrap();
    // Damage the counter tree.
    {
        let store = node::SledStore::open(&tld.join("db")).unwrap();
        let counters = store.tree(node::sled_store::t::COUNTERS);
        let (k, v) = counters.iter().next().unwrap().unwrap();
        let mut v = v.to_vec();
        v[7] ^= 0x01;
        counters.insert(k, v).unwrap();
        store.durable().unwrap();
    }
    let o = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("counters: row"), "{}", text(&o));
    let o = sangkien(&["--lang", "en", "--data", data, "node", "check", "--repair"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rebuilt"), "{}", text(&o));
    let o = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    // Backup, restore, and the restored node checks clean.
    let file = tmp.path().join("tld.backup");
    let o = sangkien(&[
        "--data",
        data,
        "node",
        "backup",
        file.to_str().unwrap(),
        "--include-key",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let into = tmp.path().join("restored");
    let o = sangkien(&[
        "--data",
        into.to_str().unwrap(),
        "node",
        "restore",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sangkien(&["--data", into.to_str().unwrap(), "node", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sangkien(&["--data", into.to_str().unwrap(), "verify", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
}
