//! `sangkien node check|backup|restore` as a user runs them.

mod support;
use support::TempDir;

use std::process::Command;

use support::{sangkien, text};

#[test]
fn check_finds_a_damaged_counter_tree_repair_fixes_it_and_backups_restore() {
    let tmp = TempDir::new("storage");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", demo.to_str().unwrap()]);
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

// ---- a node always reopens (issue 12) ----------------------------------------------------

/// What `verify --json` and `node check` say of the node in `data`: the acknowledged entries
/// and records, to compare before and after.
fn node_state(data: &str) -> (String, String) {
    let check = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    let verify = sangkien(&["--lang", "en", "--data", data, "--json", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    (
        String::from_utf8_lossy(&check.stdout).into_owned(),
        String::from_utf8_lossy(&verify.stdout).into_owned(),
    )
}

#[test]
fn an_incomplete_snapshot_or_a_damaged_conf_never_makes_a_node_unopenable() {
    let tmp = TempDir::new("reopen");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let tld = demo.join("tld");
    let data = tld.to_str().unwrap();
    let db = tld.join("db");
    let before = node_state(data);
    assert!(before.0.contains("result: consistent"), "{}", before.0);
    let snapshot = || -> std::path::PathBuf {
        std::fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("snap.") && !n.ends_with(".generating")
            })
            .expect("sled wrote a snapshot when the node was opened")
    };
    // Killed before sled wrote a byte of its snapshot: an empty `snap.<lsn>.generating`, which
    // sorts after the complete `snap.<lsn>` and so is what sled 0.34 would read.
    let real = snapshot();
    let empty = format!("{}.generating", real.display());
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(node_state(data), before);
    assert!(!std::path::Path::new(&empty).exists());
    // Killed halfway through: a real snapshot cut short, at a later log position.
    let real = snapshot();
    let lsn = u64::from_str_radix(
        real.file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("snap."),
        16,
    )
    .unwrap();
    let bytes = std::fs::read(&real).unwrap();
    assert!(bytes.len() > 24);
    let cut = db.join(format!("snap.{:016X}.generating", lsn + 1));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(node_state(data), before);
    assert!(!cut.exists());
    // An interrupted creation's `conf`, cut short.
    let conf = std::fs::read(db.join("conf")).unwrap();
    std::fs::write(db.join("conf"), &conf[..conf.len() - 3]).unwrap();
    assert_eq!(node_state(data), before);
    assert_eq!(std::fs::read(db.join("conf")).unwrap(), conf);
    // A node.json write killed before its rename leaves its temporary file: removed.
    let tmp_file = tld.join(".node.json.0123456789abcdef.tmp");
    std::fs::write(&tmp_file, b"{\"unit\":").unwrap();
    assert_eq!(node_state(data), before);
    assert!(!tmp_file.exists());
}

// ---- files are private and honest (issue 12) ----------------------------------------------

#[test]
fn a_backup_is_0600_never_follows_a_planted_link_and_a_loose_data_dir_is_refused() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let tmp = TempDir::new("files");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let tld = demo.join("tld");
    let data = tld.to_str().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tld.join("unit.key")), 0o600);
    // Links planted where the old code wrote its temporary file and at the backup's own name:
    // neither is followed, the victim is untouched, and the backup is a private regular file.
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"not yours").unwrap();
    let file = tmp.path().join("tld.backup");
    symlink(&victim, tmp.path().join("tld.tmp")).unwrap();
    symlink(&victim, &file).unwrap();
    let o = sangkien(&[
        "--lang",
        "en",
        "--data",
        data,
        "node",
        "backup",
        file.to_str().unwrap(),
        "--include-key",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), b"not yours");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Reported bytes are the bytes on disk.
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let len = meta.len();
    let en = if len >= 1000 {
        format!("{},{:03} bytes", len / 1000, len % 1000)
    } else {
        format!("{len} bytes")
    };
    assert!(out.contains(&en), "{out} / {len}");
    // A device as the target is refused, not "written".
    let o = sangkien(&["--data", data, "node", "backup", "/dev/null"]);
    assert!(!o.status.success(), "{}", text(&o));
    // No temporary file left beside it.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "tld.tmp")
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A data directory others can write to is refused, with the reason and the fix, in both
    // languages; so is a database directory; chmod 700 makes it open again.
    for (dir, m) in [
        (tld.clone(), 0o777),
        (tld.clone(), 0o775),
        (tld.join("db"), 0o757),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let o = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains("other users can write to it"), "{t}");
        assert!(t.contains(&format!("chmod 700 {}", dir.display())), "{t}");
        let o = sangkien(&["--data", data, "node", "check"]);
        assert!(
            text(&o).contains("người dùng khác ghi được"),
            "{}",
            text(&o)
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let o = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

// ---- `sangkien … | head` (issue 12) --------------------------------------------------------

#[test]
fn a_reader_that_goes_away_stops_the_command_quietly() {
    use std::process::Stdio;
    let tmp = TempDir::new("pipe");
    let data = tmp.path().join("tld");
    let o = sangkien(&["--data", data.to_str().unwrap(), "federation", "init"]);
    assert!(o.status.success(), "{}", text(&o));
    for args in [
        vec!["--data", data.to_str().unwrap(), "verify"],
        vec!["--data", data.to_str().unwrap(), "--json", "verify"],
        vec!["--data", data.to_str().unwrap(), "node", "check"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(&args)
            .env_remove("SANGKIEN_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command prints: like `| head -0`, or `| head` once
        // it has its lines.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    }
}
