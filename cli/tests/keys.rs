//! Units and keys over their lifetime, as operators work them between offices: a key rotated
//! by request verifies everywhere and the rotated unit's grassroots nodes sync with it over
//! QUIC at once; a unit enrolled by request never has its private key outside its directory;
//! revocation by fingerprint with the cascade shown first.

mod support;
use support::{sangkien, text, TempDir};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use node::control::{self, Reply, Request};

/// Polls (50 ms apart) before giving up on a service: a bound, not a synchronisation.
const MAX_POLLS: u32 = 600;

fn at(data: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "--lang".to_string(),
        "en".to_string(),
        "--data".to_string(),
        data.to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    sangkien(&all)
}

fn ok(data: &Path, args: &[&str]) -> String {
    let o = at(data, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Carries a file from one office to another (a USB stick, an e-mail).
fn carry(from: &Path, to_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(to_dir).expect("office");
    let to = to_dir.join(from.file_name().expect("name"));
    std::fs::copy(from, &to).expect("carry");
    to
}

/// `verify --json` at `data`: every record valid and no trust problem; returns the records.
fn verify_clean(data: &Path) -> serde_json::Value {
    let o = at(data, &["--json", "verify"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        o.status.success(),
        "verify at {}: {}",
        data.display(),
        text(&o)
    );
    assert_eq!(v["invalid"], serde_json::json!([]), "{}", data.display());
    assert_eq!(
        v["trust_problems"],
        serde_json::json!([]),
        "{}",
        data.display()
    );
    assert_eq!(v["records"], v["valid"], "{}", data.display());
    v
}

/// The keys `unit list` shows for `unit` at `data`.
fn keys_of(data: &Path, unit: &str) -> Vec<serde_json::Value> {
    let o = ok(data, &["--json", "unit", "list", "--unit", unit]);
    let v: serde_json::Value = serde_json::from_str(&o).expect("json");
    v[0]["keys"].as_array().expect("keys").clone()
}

struct Service(Child);
impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `sangkien node run` on `data` (QUIC on 127.0.0.1, any port, no peers, the interval an
/// hour); returns it and its address once it answers.
fn start(dir: &Path, data: &Path) -> (Service, String) {
    let name = data.file_name().and_then(|n| n.to_str()).expect("name");
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:0\"\ninterval_s = 3600\n",
            p(data)
        ),
    )
    .expect("config");
    let log = dir.join(format!("{name}.log"));
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(["node", "run", "--config"])
            .arg(&config)
            .env_remove("SANGKIEN_DATA")
            .env_remove("SANGKIEN_LANG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("node run"),
    );
    for _ in 0..MAX_POLLS {
        if let Ok(Reply::Status(s)) = control::request(data, Request::Status) {
            return (service, s.listen.expect("listens"));
        }
        assert!(
            matches!(service.0.try_wait(), Ok(None)),
            "the service stopped: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name}: the service did not answer");
}

/// Stops the service as an operator would (SIGTERM: it stops cleanly, removing its socket).
fn stop(mut service: Service, data: &Path) {
    let pid = service.0.id().to_string();
    let o = Command::new("kill")
        .args(["-TERM", &pid])
        .output()
        .expect("kill");
    assert!(o.status.success());
    let status = service.0.wait().expect("the service ends");
    assert!(status.success(), "{}: {status}", data.display());
}

#[test]
fn a_districts_key_rotated_between_two_offices_verifies_everywhere_and_its_grassroots_sync_over_quic(
) {
    let tmp = TempDir::new("rotate");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", p(&demo), "--lang", "en"]);
    assert!(o.status.success(), "{}", text(&o));
    let (tld, province, district, grassroots) = (
        demo.join("tld"),
        demo.join("ldld-phu-yen"),
        demo.join("ldld-tuy-hoa"),
        demo.join("cdcs-thuy-san-tuy-hoa"),
    );
    let old = keys_of(&district, "ldld-tuy-hoa");
    assert_eq!(old.len(), 1);

    // At the district's office: a new key and a rotation request, signed by both keys.
    let district_office = tmp.path().join("district-office");
    std::fs::create_dir_all(&district_office).unwrap();
    let request = district_office.join("rotate-ldld-tuy-hoa.txt");
    let out = ok(
        &district,
        &["unit", "request", "--rotate", "--out", p(&request)],
    );
    assert!(out.contains("Check code"), "{out}");
    assert!(district.join("unit.key.new").is_file());
    // Carried to the province's office, which certifies the new key.
    let province_office = tmp.path().join("province-office");
    let carried = carry(&request, &province_office);
    let answer = province_office.join("certificate-ldld-tuy-hoa.json");
    let out = ok(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            p(&carried),
            "--out",
            p(&answer),
        ],
    );
    assert!(
        out.contains("Certified the new key of ldld-tuy-hoa"),
        "{out}"
    );
    // Carried back; the district switches to the new key.
    let back = carry(&answer, &district_office);
    let out = ok(&district, &["unit", "accept", p(&back)]);
    assert!(out.contains("Switched to the new key"), "{out}");
    assert!(!district.join("unit.key.new").exists());
    let keys = keys_of(&district, "ldld-tuy-hoa");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0]["ended_by"], "replaced");
    assert_eq!(keys[1]["valid_now"], true);
    let new_key = keys[1]["key"].as_str().unwrap().to_owned();
    assert_ne!(keys[0]["key"], keys[1]["key"]);

    // The district signs with its new key: a programme for its subtree.
    ok(
        &district,
        &[
            "programme",
            "new",
            "--name",
            "Phong trào sáng kiến thành phố Tuy Hòa",
            "--phase",
            "Giai đoạn 1|2026-01-01|2026-12-31|40",
            "--national-target",
            "40",
        ],
    );

    // Its grassroots node has never seen the rotation: it syncs with the district over QUIC,
    // nothing carried by hand; the district's handshake presents its certificate.
    assert_eq!(keys_of(&grassroots, "ldld-tuy-hoa").len(), 1);
    let (district_service, district_addr) = start(tmp.path(), &district);
    let s = ok(&grassroots, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    let seen = keys_of(&grassroots, "ldld-tuy-hoa");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1]["key"], new_key.as_str());
    assert_eq!(seen[1]["valid_now"], true);
    let programmes = ok(&grassroots, &["programme", "show"]);
    assert!(programmes.contains("Tuy Hòa"), "{programmes}");
    // The other grassroots union of the district first gets a bundle the district signed with
    // its new key: the rotation certificate inside proves the key.
    let other = demo.join("cdcs-bv-phu-yen");
    assert_eq!(keys_of(&other, "ldld-tuy-hoa").len(), 1);
    let bundle = district_office.join("down.bundle");
    ok(
        &district,
        &["bundle", "export", "--for", "cdcs-bv-phu-yen", p(&bundle)],
    );
    let o = ok(&other, &["--json", "bundle", "import", p(&bundle)]);
    let rep: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rep["rejected"], serde_json::json!([]), "{o}");
    assert_eq!(keys_of(&other, "ldld-tuy-hoa")[1]["key"], new_key.as_str());
    let s = ok(&other, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    // The province (which certified the key) syncs with the district, the national node with
    // the province.
    let s = ok(&province, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    stop(district_service, &district);
    let (province_service, province_addr) = start(tmp.path(), &province);
    let s = ok(&tld, &["sync", "--peer", &province_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    stop(province_service, &province);
    assert_eq!(keys_of(&tld, "ldld-tuy-hoa")[1]["key"], new_key.as_str());

    // `verify` is clean at the district, its province, the national node and its grassroots
    // nodes; the programme the new key signed is among the valid records everywhere.
    for data in [&district, &province, &tld, &grassroots, &other] {
        let v = verify_clean(data);
        let programmes = v["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "programme" && r["owner"] == "ldld-tuy-hoa")
            .count();
        assert_eq!(programmes, 1, "{}", data.display());
    }
}

/// A key rotated by request while the unit's `node run` serves its directory: the commands go
/// through the running service, and the service presents the new key from the moment it is
/// accepted, without a restart. The province that certified the new key refuses the old one, so
/// its sync with the running service succeeds only if the service presents the new key.
#[test]
fn a_key_rotated_through_the_running_service_is_presented_at_once() {
    let tmp = TempDir::new("rotate-live");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", p(&demo), "--lang", "en"]);
    assert!(o.status.success(), "{}", text(&o));
    let (province, district, grassroots) = (
        demo.join("ldld-phu-yen"),
        demo.join("ldld-tuy-hoa"),
        demo.join("cdcs-thuy-san-tuy-hoa"),
    );
    let (district_service, district_addr) = start(tmp.path(), &district);
    // Before the rotation the province syncs with the district.
    let s = ok(&province, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");

    // The rotation, every step at the district carried out by its running service.
    let office = tmp.path().join("office");
    std::fs::create_dir_all(&office).unwrap();
    let request = office.join("rotate.txt");
    ok(
        &district,
        &["unit", "request", "--rotate", "--out", p(&request)],
    );
    let answer = office.join("certificate.json");
    ok(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            p(&request),
            "--out",
            p(&answer),
        ],
    );
    let out = ok(&district, &["unit", "accept", p(&answer)]);
    assert!(out.contains("Switched to the new key"), "{out}");
    assert!(
        out.contains("The running node service uses the new key for sync sessions from now on."),
        "the command went through the service: {out}"
    );
    assert!(!out.contains("restart"), "{out}");
    let keys = keys_of(&district, "ldld-tuy-hoa");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let new_key = keys[1]["key"].as_str().unwrap().to_owned();
    assert_eq!(keys_of(&province, "ldld-tuy-hoa")[0]["valid_now"], false);

    // The province holds the old key replaced: it syncs with the running service, which now
    // presents the new key.
    let s = ok(&province, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    // A grassroots node that has not seen the rotation learns it from the handshake.
    let s = ok(&grassroots, &["sync", "--peer", &district_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
    let seen = keys_of(&grassroots, "ldld-tuy-hoa");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1]["key"], new_key.as_str());
    stop(district_service, &district);
}

/// Every file under `root` (recursively), except under `skip`.
fn files_under(root: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(root).expect("dir").flatten() {
        let path = e.path();
        if path.starts_with(skip) {
            continue;
        }
        if path.is_dir() {
            files_under(&path, skip, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_unit_enrolled_by_request_keeps_its_private_key_in_its_own_directory() {
    let tmp = TempDir::new("request");
    let national_office = tmp.path().join("national-office");
    let province_office = tmp.path().join("province-office");
    std::fs::create_dir_all(&national_office).unwrap();
    std::fs::create_dir_all(&province_office).unwrap();
    let tld = national_office.join("tld");
    ok(&tld, &["federation", "init"]);

    // The province's office makes its key and request; its directory is new.
    let hn = province_office.join("ldld-ha-noi");
    let request = province_office.join("request.txt");
    let out = ok(
        &hn,
        &[
            "unit",
            "request",
            "--id",
            "ldld-ha-noi",
            "--name",
            "Liên đoàn Lao động thành phố Hà Nội",
            "--role",
            "provincial",
            "--parent",
            "tld",
            "--out",
            p(&request),
        ],
    );
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("Check code: "))
        .expect("a check code")
        .to_owned();
    // The national office certifies it and sends back the certificate file; both sides read
    // the same check code.
    let carried = carry(&request, &national_office);
    let answer = national_office.join("certificate.json");
    let out = ok(
        &tld,
        &[
            "unit",
            "enrol",
            "--request",
            p(&carried),
            "--out",
            p(&answer),
        ],
    );
    assert!(out.contains(&code), "{out}");
    let back = carry(&answer, &province_office);
    let out = ok(&hn, &["unit", "accept", p(&back)]);
    assert!(out.contains("The node is ready"), "{out}");

    // A working node: its key is valid at both ends, and `verify` is clean.
    assert_eq!(keys_of(&hn, "ldld-ha-noi")[0]["valid_now"], true);
    assert_eq!(keys_of(&tld, "ldld-ha-noi")[0]["valid_now"], true);
    verify_clean(&hn);
    verify_clean(&tld);
    // It works as a node: it enrols a child of its own (all in one place) and hands the national
    // node a bundle, which the national node accepts.
    ok(
        &hn,
        &[
            "unit",
            "enrol",
            "--id",
            "ldld-ba-dinh",
            "--name",
            "LĐLĐ quận Ba Đình",
            "--role",
            "direct-superior",
            "--into",
            p(&province_office.join("ldld-ba-dinh")),
        ],
    );
    let bundle = province_office.join("up.bundle");
    ok(&hn, &["bundle", "export", "--for", "tld", p(&bundle)]);
    let carried = carry(&bundle, &national_office);
    let o = ok(&tld, &["--json", "bundle", "import", p(&carried)]);
    let rep: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rep["rejected"], serde_json::json!([]), "{o}");
    assert_eq!(rep["accepted"], 1, "the new child's certificate: {o}");
    verify_clean(&tld);

    // The secret key never existed outside the province's directory: not in the request, not
    // in the certificate file, nowhere in the national office (its database included), nowhere
    // else under the test's directory.
    let secret_hex = std::fs::read_to_string(hn.join("unit.key"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(secret_hex.len(), 64, "an unencrypted key file in hex");
    let secret = hex::decode(&secret_hex).unwrap();
    let mut files = Vec::new();
    files_under(tmp.path(), &hn, &mut files);
    assert!(files.iter().any(|f| f.ends_with("request.txt")));
    assert!(files.iter().any(|f| f.ends_with("certificate.json")));
    assert!(files.iter().any(|f| f.starts_with(tld.join("db"))));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let lower = bytes.to_ascii_lowercase();
        assert!(
            !contains(&bytes, &secret) && !contains(&lower, secret_hex.as_bytes()),
            "the secret key is in {}",
            f.display()
        );
    }
}

#[test]
fn an_emergency_rotation_and_a_revocation_by_fingerprint_show_what_they_invalidate() {
    let tmp = TempDir::new("revoke");
    let demo = tmp.path().join("demo");
    let o = sangkien(&["demo", "--no-serve", "--dir", p(&demo), "--lang", "en"]);
    assert!(o.status.success(), "{}", text(&o));
    let (province, district) = (demo.join("ldld-phu-yen"), demo.join("ldld-tuy-hoa"));

    // The district's key is stolen. The province revokes it from a date and time, by the
    // fingerprint `unit list` shows; it is told first what that invalidates.
    let keys = keys_of(&province, "ldld-tuy-hoa");
    let fingerprint = keys[0]["fingerprint"].as_str().unwrap().to_owned();
    let o = at(
        &province,
        &[
            "unit",
            "revoke",
            "--key",
            &fingerprint[..6],
            "--from",
            "01/01/2020 08:00",
            "--reason",
            "khóa bị lộ",
        ],
    );
    // Not a terminal and no --yes: nothing is revoked, the cascade is shown.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("Revoking the key of ldld-tuy-hoa"), "{t}");
    assert!(t.contains("01/01/2020 08:00"), "{t}");
    assert!(t.contains("Certificates that become invalid"), "{t}");
    assert!(t.contains("cdcs-thuy-san-tuy-hoa"), "{t}");
    assert!(t.contains("Entries signed from then on"), "{t}");
    assert!(t.contains("--yes"), "{t}");
    assert_eq!(keys_of(&province, "ldld-tuy-hoa")[0]["valid_now"], true);

    // The district makes a new key; its request cannot be signed by a key it no longer trusts,
    // so the province certifies it as an emergency (check code confirmed by telephone).
    let request = tmp.path().join("rotate.txt");
    ok(
        &district,
        &["unit", "request", "--rotate", "--out", p(&request)],
    );
    // A request missing the current key's signature is refused without --emergency.
    let text_req = std::fs::read_to_string(&request).unwrap();
    let unsigned: String = text_req
        .lines()
        .filter(|l| !l.starts_with("current-signature"))
        .map(|l| format!("{l}\n"))
        .collect();
    let unsigned_path = tmp.path().join("rotate-unsigned.txt");
    std::fs::write(&unsigned_path, unsigned).unwrap();
    let answer = tmp.path().join("answer.json");
    let o = at(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            p(&unsigned_path),
            "--out",
            p(&answer),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--emergency"), "{}", text(&o));
    ok(
        &province,
        &[
            "unit",
            "enrol",
            "--request",
            p(&unsigned_path),
            "--out",
            p(&answer),
            "--emergency",
        ],
    );
    ok(&district, &["unit", "accept", p(&answer)]);
    // Now the old key is revoked for real (--yes), from the time it may have leaked.
    let o = ok(
        &province,
        &[
            "unit",
            "revoke",
            "--key",
            &fingerprint,
            "--from",
            "2026-01-01T08:00+07:00",
            "--reason",
            "khóa bị lộ",
            "--yes",
        ],
    );
    assert!(o.contains("Revoked the key of ldld-tuy-hoa"), "{o}");
    let keys = keys_of(&province, "ldld-tuy-hoa");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["valid_now"], true);
    let o = ok(&province, &["unit", "list", "--unit", "ldld-tuy-hoa"]);
    assert!(o.contains(&fingerprint), "{o}");
    assert!(o.contains("certificate chain: ldld-tuy-hoa"), "{o}");
}
