//! End-to-end tests of the real `sangkien` executable, run as a user would run it.
//!
//! They live in the `cli` package, not in the workspace's `tests/` binary, because Cargo only
//! tells integration tests of the package that owns a binary where that binary is
//! (`CARGO_BIN_EXE_sangkien`).

mod support;
use support::TempDir;

use std::path::Path;
use std::process::{Command, Output};

fn sangkien(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(args)
        .env_remove("SANGKIEN_DATA")
        .env_remove("SANGKIEN_LANG")
        .output()
        .expect("the sangkien binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn verify_json(dir: &Path) -> serde_json::Value {
    let o = sangkien(&["--data", dir.to_str().unwrap(), "verify", "--json"]);
    serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", stdout(&o)))
}

#[test]
fn demo_tells_the_story_and_every_node_verifies() {
    let tmp = TempDir::new("demo");
    let dir = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "demo failed: {out}\n{}", stderr(&o));
    assert!(out.contains("Tất cả chuỗi phê duyệt hợp lệ"), "{out}");
    assert!(out.contains("BÁO CÁO TIẾN ĐỘ"), "{out}");
    assert!(
        out.contains("4.133"),
        "Phú Yên's phase-2 target, written the Vietnamese way: {out}"
    );
    assert!(out.contains("trả lại để bổ sung"), "{out}");
    assert!(out.contains("bí mật công nghệ"), "{out}");

    let mut nodes = 0;
    let mut differs_seen = 0;
    for item in std::fs::read_dir(&dir).unwrap() {
        let node = item.unwrap().path();
        if !node.join("node.json").exists() {
            continue;
        }
        nodes += 1;
        let v = verify_json(&node);
        assert_eq!(
            v["invalid"].as_array().unwrap().len(),
            0,
            "{}: {v}",
            node.display()
        );
        assert_eq!(
            v["conflicts"].as_array().unwrap().len(),
            0,
            "{}: {v}",
            node.display()
        );
        assert_eq!(v["records"], v["valid"], "{}: {v}", node.display());
        differs_seen += v["approved_state_differs"].as_array().unwrap().len();
    }
    assert_eq!(nodes, 17, "one node per unit");
    // The initiative edited after approval is held by its origin, its district, province and
    // the national node: each reports it.
    assert_eq!(differs_seen, 4);

    // A confidential initiative's private part stays with its origin and direct superior:
    // the province holds only its projection.
    let confidential = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["confidential"] == true)
            .cloned()
            .collect()
    };
    for (node, held) in [
        ("cdcs-thuy-san-tuy-hoa", Some(true)),
        ("ldld-tuy-hoa", Some(true)),
        ("ldld-phu-yen", Some(false)),
        ("tld", Some(false)),
        ("ldld-dong-hoa", None),
    ] {
        let v = verify_json(&dir.join(node));
        let c = confidential(&v);
        let Some(held) = held else {
            assert!(c.is_empty(), "a sibling district holds nothing of it: {v}");
            continue;
        };
        assert_eq!(c.len(), 1, "{node}: {v}");
        assert_eq!(c[0]["private_part_held"], held, "{node}: {v}");
        assert_eq!(c[0]["valid"], true, "{node}: {v}");
    }

    // English on request, numbers the English way.
    let o = sangkien(&[
        "demo",
        "--no-serve",
        "--dir",
        dir.to_str().unwrap(),
        "--lang",
        "en",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("all chains valid"), "{out}");
    assert!(out.contains("4,133"), "{out}");
}

#[test]
fn a_federation_is_created_units_enrolled_and_bad_input_refused() {
    let tmp = TempDir::new("fed");
    let root = tmp.path().join("tld");
    let prov = tmp.path().join("phu-yen");
    let r = root.to_str().unwrap();
    let o = sangkien(&["--data", r, "federation", "init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ff: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("federation.json")).unwrap())
            .unwrap();
    assert_eq!(ff["root_unit"], "tld");
    assert_eq!(ff["root_name"], "Tổng Liên đoàn Lao động Việt Nam");

    // The private key file is 0600 and never printed.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("unit.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let key_hex = std::fs::read_to_string(root.join("unit.key")).unwrap();
    assert!(!stdout(&o).contains(key_hex.trim()));

    let o = sangkien(&[
        "--data",
        r,
        "unit",
        "enrol",
        "--id",
        "ldld-phu-yen",
        "--name",
        "Liên đoàn Lao động tỉnh Phú Yên",
        "--role",
        "provincial",
        "--into",
        prov.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sangkien(&["--data", prov.to_str().unwrap(), "unit", "list", "--json"]);
    let units: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(units.as_array().unwrap().len(), 2);

    // Bad input: exit 2, a sentence naming what is wrong, nothing stored.
    let before = verify_json(&root);
    let bad = sangkien(&[
        "--data",
        r,
        "unit",
        "enrol",
        "--id",
        "Phú Yên",
        "--name",
        "x",
        "--role",
        "provincial",
        "--into",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("mã đơn vị không hợp lệ"),
        "{}",
        stderr(&bad)
    );
    assert!(!tmp.path().join("bad").exists());
    let bad = sangkien(&[
        "--data",
        r,
        "unit",
        "enrol",
        "--id",
        "x",
        "--name",
        "x",
        "--role",
        "king",
        "--into",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("king"));
    let bad = sangkien(&[
        "--data",
        r,
        "unit",
        "enrol",
        "--id",
        "ldld-phu-yen",
        "--name",
        "again",
        "--role",
        "provincial",
        "--into",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2), "a unit id already in use");
    let bad = sangkien(&["verify"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--data"));
    assert_eq!(verify_json(&root)["records"], before["records"]);

    // Key rotation at the parent, then revocation of the old key: both are signed entries.
    let old_key = units.as_array().unwrap().len();
    assert_eq!(old_key, 2);
    let o = sangkien(&[
        "--data",
        r,
        "unit",
        "rotate-key",
        "--child",
        prov.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sangkien(&["--data", prov.to_str().unwrap(), "federation", "show"]);
    assert!(o.status.success());
    // A rotation is a valid re-certification: `verify` is clean at both ends.
    for data in [root.as_path(), prov.as_path()] {
        let o = sangkien(&["--data", data.to_str().unwrap(), "verify"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn a_forged_bundle_is_refused_and_stores_nothing() {
    let tmp = TempDir::new("bundle");
    let dir = tmp.path().join("demo");
    let o = sangkien(&[
        "demo",
        "--no-serve",
        "--dir",
        dir.to_str().unwrap(),
        "--lang",
        "en",
    ]);
    assert!(o.status.success());
    let district = dir.join("ldld-tuy-hoa");
    let file = tmp.path().join("up.bundle");
    let o = sangkien(&[
        "--data",
        district.to_str().unwrap(),
        "bundle",
        "export",
        "--for",
        "ldld-phu-yen",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Importing what the province already holds is idempotent.
    let province = dir.join("ldld-phu-yen");
    let o = sangkien(&[
        "--data",
        province.to_str().unwrap(),
        "--json",
        "bundle",
        "import",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rep["accepted"], 0);
    // Flip one byte inside the last entry: the bundle's signature no longer verifies, and the
    // whole bundle is refused before anything is inflated.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 70] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let before = verify_json(&province);
    let o = sangkien(&[
        "--data",
        province.to_str().unwrap(),
        "bundle",
        "import",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    // Vietnamese by default: the reason in Vietnamese, not the reader's English text.
    assert!(
        stderr(&o).contains("chữ ký của gói không khớp"),
        "{}",
        stderr(&o)
    );
    // Truncated.
    std::fs::write(&file, &bytes[..n / 2]).unwrap();
    let o = sangkien(&[
        "--data",
        province.to_str().unwrap(),
        "bundle",
        "import",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cắt cụt"), "{}", stderr(&o));
    assert_eq!(verify_json(&province)["records"], before["records"]);
}

// ---- enrolment leaves nothing half-done --------------------------------------------------

fn store_digest(dir: &Path) -> Vec<String> {
    use sync_protocol::store::EntryStore;
    let o = sangkien(&["--data", dir.to_str().unwrap(), "unit", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let n = node::Node::open(dir).expect("open");
    let mut hashes: Vec<String> = n
        .store()
        .hashes()
        .unwrap()
        .iter()
        .map(|h| h.to_hex())
        .collect();
    hashes.sort();
    hashes
}

#[test]
fn a_failed_enrolment_leaves_nothing_at_the_parent_and_no_child_directory() {
    let tmp = TempDir::new("enrol-atomic");
    let root = tmp.path().join("tld");
    let r = root.to_str().unwrap();
    let o = sangkien(&["--data", r, "federation", "init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = store_digest(&root);
    let into = tmp.path().join("phu-yen");
    let enrol = |into: &Path, fail: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sangkien"));
        c.args([
            "--data",
            r,
            "--lang",
            "en",
            "unit",
            "enrol",
            "--id",
            "ldld-phu-yen",
            "--name",
            "Liên đoàn Lao động tỉnh Phú Yên",
            "--role",
            "provincial",
            "--into",
            into.to_str().unwrap(),
        ])
        .env_remove("SANGKIEN_DATA")
        .env_remove("SANGKIEN_LANG");
        if fail {
            c.env("SANGKIEN_TEST_FAIL_ENROL", "1");
        }
        c.output().expect("runs")
    };
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "tld")
            .collect()
    };

    // A failure after the certificate is signed and the child's directory built.
    let o = enrol(&into, true);
    assert!(!o.status.success());
    assert_eq!(store_digest(&root), before, "nothing stored at the parent");
    assert!(!into.exists(), "no child directory");
    assert!(leftovers().is_empty(), "{:?}", leftovers());

    // A directory that is not empty is refused before anything.
    std::fs::create_dir_all(&into).unwrap();
    std::fs::write(into.join("notes.txt"), "mine").unwrap();
    let o = enrol(&into, false);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(store_digest(&root), before);
    assert_eq!(
        std::fs::read_dir(&into).unwrap().count(),
        1,
        "the directory is untouched"
    );
    std::fs::remove_dir_all(&into).unwrap();

    // Then it works, into a new directory, and the child verifies with its chain only.
    let o = enrol(&into, false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(store_digest(&root).len(), before.len() + 1);
    assert_eq!(leftovers(), ["phu-yen"]);
    let v = verify_json(&into);
    assert_eq!(v["trust_problems"].as_array().map(Vec::len), Some(0), "{v}");
}
