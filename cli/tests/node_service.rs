//! `sangkien node run` as an operator runs it, with the commands that reach it over its
//! control socket: a backup taken while it runs restores to every entry it held, `node check`
//! and `node quarantine` answer through it (an entry that waited too long expired at start,
//! logged), SIGTERM stops it cleanly and removes the socket, and a database held by a process
//! that is not a service is reported with that process.

mod support;
use support::TempDir;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use node::control::{self, Reply, Request};
use node::node::{prepare_enrolment, FederationFile};
use node::Node;
use sync_protocol::entry::{Certificate, Entry, EntryBody, UnitRole};
use sync_protocol::ids::UnitId;
use sync_protocol::limits::MAX_QUARANTINE_AGE_MS;
use sync_protocol::store::EntryStore;
use sync_protocol::text::Text;

/// Polls (50 ms apart) before giving up on the service: a bound, not a synchronisation.
const MAX_POLLS: u32 = 600;

/// The service process; killed if the test fails before stopping it.
struct Service(Child);
impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sangkien(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(args)
        .current_dir(cwd)
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

fn unit(s: &str) -> UnitId {
    UnitId::new(s).expect("unit id")
}

fn name(s: &str) -> Text {
    Text::new("name", s, 200).expect("text")
}

/// Enrols `id` under `parent` into `dir/id`, as `sangkien unit enrol` does; returns the node
/// and its certificate.
fn enrol(parent: &mut Node, dir: &Path, id: &str, role: UnitRole, t: u64) -> (Node, Entry) {
    let into = dir.join(id);
    let key = prepare_enrolment(&into).expect("enrolment dir");
    let cert = parent
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit(id),
                name: name(id),
                role,
                parent: parent.unit().clone(),
                key,
                replaces: None,
            }),
            t,
        )
        .expect("certificate");
    let (ff, genesis): (FederationFile, _) = parent.federation_file().expect("federation file");
    let mut trust = parent.store().trust_entries().expect("trust");
    trust.push(cert.clone());
    let n = Node::create_enrolled(&into, &ff, genesis, unit(id), trust, t).expect("enrolled");
    (n, cert)
}

#[test]
fn a_backup_of_a_running_node_restores_every_entry_and_sigterm_stops_it_cleanly() {
    let tmp = TempDir::new("backup");
    let dir = tmp.path();
    let data = dir.join("tld");
    let d = data.to_str().expect("utf-8");
    let now = node::now_ms();
    // A federation made 31 days ago; two grassroots certificates signed by a district whose own
    // certificate the national node never got: one arrived 31 days ago, one arrives now.
    let t0 = now - MAX_QUARANTINE_AGE_MS - 24 * 60 * 60 * 1000;
    let (old, fresh) = {
        let mut tld =
            Node::create_root(&data, unit("tld"), name("Tổng Liên đoàn"), t0).expect("root");
        let (mut prov, _) = enrol(
            &mut tld,
            dir,
            "ldld-phu-yen",
            UnitRole::ProvincialFederation,
            t0 + 1,
        );
        let (mut district, _) = enrol(
            &mut prov,
            dir,
            "ldld-tuy-hoa",
            UnitRole::DirectSuperior,
            t0 + 2,
        );
        let (_, old) = enrol(&mut district, dir, "cdcs-a", UnitRole::Grassroots, t0 + 3);
        let (_, fresh) = enrol(&mut district, dir, "cdcs-b", UnitRole::Grassroots, t0 + 4);
        (old, fresh)
    };
    // Entries written as an officer would, through the binary.
    for args in [
        &[
            "--data",
            d,
            "programme",
            "new",
            "--name",
            "01 triệu sáng kiến",
            "--phase",
            "Giai đoạn 1|2021-12-15|2022-05-31|300000",
            "--national-target",
            "1000000",
        ][..],
        &[
            "--data",
            d,
            "target",
            "assign",
            "--phase",
            "1",
            "--set",
            "ldld-phu-yen=4133",
        ][..],
    ] {
        let o = sangkien(dir, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    // Local writes expire what is too old too (one import door), so the quarantine is filled
    // after them. Each import expires what is too old at its own time: the fresh one goes
    // first, so that the old one is still held when the service starts.
    {
        let mut tld = Node::open(&data).expect("open");
        let r = tld
            .import_from("peer:ldld-tuy-hoa", vec![fresh], now)
            .expect("import");
        assert_eq!(r.quarantined.len(), 1);
        let r = tld
            .import_from("peer:ldld-tuy-hoa", vec![old], t0 + 10)
            .expect("import");
        assert_eq!(r.quarantined.len(), 1);
        assert_eq!(tld.store().quarantine_len(), 2);
    }
    let held = {
        let n = Node::open(&data).expect("open");
        n.store().hashes().expect("hashes")
    };
    assert_eq!(
        held.len(),
        4,
        "genesis, a certificate, a programme, a target: {held:?}"
    );

    // The service, on 127.0.0.1 port 0, its log in a file.
    std::fs::write(
        dir.join("tld.toml"),
        "data = \"tld\"\nlisten = \"127.0.0.1:0\"\ninterval_s = 300\nlog_level = \"info\"\n",
    )
    .expect("config");
    let log = dir.join("service.log");
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(["--lang", "en", "node", "run", "--config"])
            .arg(dir.join("tld.toml"))
            .env_remove("SANGKIEN_DATA")
            .env_remove("SANGKIEN_LANG")
            .env_remove("SANGKIEN_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("node run"),
    );
    // Ready when it answers; the quarantine pass at start has run when the old entry is gone.
    let mut expired = false;
    for _ in 0..MAX_POLLS {
        if let Ok(Reply::Quarantine(q)) = control::request(&data, Request::Quarantine { limit: 10 })
        {
            if q.expired_count == 1 {
                expired = true;
                break;
            }
        }
        assert!(
            matches!(service.0.try_wait(), Ok(None)),
            "the service stopped: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        expired,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // A backup while it runs: the same output as offline, the file beside the caller.
    let o = sangkien(
        dir,
        &["--lang", "en", "--data", d, "node", "backup", "svc.backup"],
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.starts_with(&format!(
            "backed up to svc.backup: {} entries, 1 quarantined, ",
            held.len()
        )),
        "{out}"
    );
    assert!(out.contains("(private key not included"), "{out}");
    // Issue 12: through the service too, a backup with the key is the owner's alone.
    {
        use std::os::unix::fs::PermissionsExt;
        let o = sangkien(
            dir,
            &["--data", d, "node", "backup", "key.backup", "--include-key"],
        );
        assert!(o.status.success(), "{}", text(&o));
        let mode = std::fs::metadata(dir.join("key.backup"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // A check goes through it, a repair too (issue 13: no command needs it stopped).
    let o = sangkien(dir, &["--lang", "en", "--data", d, "node", "check"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("result: consistent"), "{}", text(&o));
    let o = sangkien(
        dir,
        &["--lang", "en", "--data", d, "node", "check", "--repair"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("result: consistent"), "{}", text(&o));
    // The quarantine, as the operator reads it, in both languages and as JSON.
    let o = sangkien(dir, &["--lang", "en", "--data", d, "node", "quarantine"]);
    let en = text(&o);
    assert!(o.status.success(), "{en}");
    for want in [
        "Quarantine: 1 entry waiting (at most 100,000; an entry waiting over 30 days expires)",
        "certificate of unit ldld-tuy-hoa",
        "peer ldld-tuy-hoa",
        "By source: peer ldld-tuy-hoa 1",
        "Expired (log): 1 (keeps at most 10,000)",
        "expired",
    ] {
        assert!(en.contains(want), "{want:?} in {en}");
    }
    let o = sangkien(dir, &["--data", d, "node", "quarantine"]);
    let vi = text(&o);
    assert!(o.status.success(), "{vi}");
    for want in [
        "Cách ly: 1 mục đang chờ (tối đa 100.000; mục chờ quá 30 ngày thì hết hạn)",
        "chứng thư của đơn vị ldld-tuy-hoa",
        "nút ldld-tuy-hoa",
        "Đã hết hạn (nhật ký): 1 (giữ tối đa 10.000)",
    ] {
        assert!(vi.contains(want), "{want:?} in {vi}");
    }
    let o = sangkien(dir, &["--json", "--data", d, "node", "quarantine"]);
    assert!(o.status.success(), "{}", text(&o));
    let q: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(q["held_count"], 1);
    assert_eq!(q["expired"][0]["held"]["waits_for"]["kind"], "certificate");
    assert_eq!(q["expired"][0]["held"]["since_ms"], t0 + 10);

    // Restore into a new directory: every entry, the held one, and a clean check.
    let o = sangkien(
        dir,
        &["--data", "restored", "node", "restore", "svc.backup"],
    );
    assert!(o.status.success(), "{}", text(&o));
    {
        let r = Node::open(&dir.join("restored")).expect("restored");
        assert_eq!(r.store().hashes().expect("hashes"), held);
        assert_eq!(r.store().quarantine_len(), 1);
    }
    let o = sangkien(
        dir,
        &["--lang", "en", "--data", "restored", "node", "check"],
    );
    assert!(o.status.success(), "{}", text(&o));

    // SIGTERM: a clean stop, the socket gone.
    let pid = service.0.id().to_string();
    let k = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(k.success());
    let mut status = None;
    for _ in 0..MAX_POLLS {
        if let Some(s) = service.0.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM: {log_text}"));
    assert!(status.success(), "{status:?}: {log_text}");
    assert!(log_text.contains("Node stopped."), "{log_text}");
    assert!(
        log_text.contains("quarantined entry expired"),
        "the expiry is logged: {log_text}"
    );
    assert!(
        !control::socket_path(&data).exists(),
        "the socket is removed"
    );
}

#[test]
fn a_database_held_by_a_process_that_is_no_service_is_named() {
    let tmp = TempDir::new("locked");
    let data = tmp.path().join("tld");
    drop(
        Node::create_root(&data, unit("tld"), name("Tổng Liên đoàn"), node::now_ms())
            .expect("root"),
    );
    // This test process holds the database, as a long `sangkien sync` would.
    let _held = node::SledStore::open(&data.join("db")).expect("open");
    let d = data.to_str().expect("utf-8");
    let o = sangkien(
        tmp.path(),
        &["--lang", "en", "--data", d, "node", "backup", "x.backup"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("is open in another process"), "{out}");
    assert!(out.contains("no node service answers"), "{out}");
    assert!(
        out.contains(&format!("process {}", std::process::id())),
        "the holder is named: {out}"
    );
    assert!(!tmp.path().join("x.backup").exists());
    let o = sangkien(tmp.path(), &["--data", d, "node", "backup", "x.backup"]);
    assert!(
        text(&o).contains("không có dịch vụ nút nào trả lời"),
        "{}",
        text(&o)
    );
}

// ---- A busy node says so, in the reader's language (issue 12: bounded work per peer) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_whose_session_is_in_progress_is_told_the_node_is_busy_in_its_language() {
    use node::quic::{FederationVerifier, QuicEndpoint, QuicIdentity};
    use std::sync::{Arc, RwLock};
    use sync_protocol::sync::{Bound, Message, Range, RangePayload};
    let tmp = TempDir::new("busy");
    let dir = tmp.path().to_owned();
    let data = dir.join("tld");
    let now = node::now_ms();
    let mut tld =
        Node::create_root(&data, unit("tld"), name("Tổng Liên đoàn"), now - 10_000).expect("root");
    let (prov, _) = enrol(
        &mut tld,
        &dir,
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        now - 9_000,
    );
    let federation = tld.federation();
    drop(tld);
    let endpoint = QuicEndpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        &QuicIdentity::for_node(&prov).expect("identity"),
        FederationVerifier::for_directory(Arc::new(RwLock::new(prov.directory().clone()))),
    )
    .expect("endpoint");
    drop(prov);

    std::fs::write(
        dir.join("tld.toml"),
        "data = \"tld\"\nlisten = \"127.0.0.1:0\"\ninterval_s = 300\nlog_level = \"info\"\n",
    )
    .expect("config");
    let log = dir.join("service.log");
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(["node", "run", "--config"])
            .arg(dir.join("tld.toml"))
            .env_remove("SANGKIEN_DATA")
            .env_remove("SANGKIEN_LANG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("node run"),
    );
    let mut listen = None;
    for _ in 0..MAX_POLLS {
        if let Ok(Reply::Status(s)) = control::request(&data, Request::Status) {
            listen = s.listen;
            break;
        }
        assert!(
            matches!(service.0.try_wait(), Ok(None)),
            "the service stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr: std::net::SocketAddr = listen.expect("the service answers").parse().unwrap();

    // The province holds a session open: a hello the node cannot settle, then silence.
    let mut held = endpoint.connect(addr).await.expect("connect");
    let hello = Message::Hello {
        version: 1,
        federation,
        cursor_ms: None,
        ranges: vec![Range {
            upper: Bound::Infinity,
            payload: RangePayload::Fingerprint(sync_protocol::sync::Fingerprint([0; 16])),
        }],
    };
    held.send_frame(&hello.encode()).await.expect("hello");
    let _reply = held.recv_frame().await.expect("the node answers");

    // The same unit syncs again meanwhile, as an officer would: told the node is busy.
    let prov_dir = dir.join("ldld-phu-yen");
    for (lang, expected) in [("vi", "nút đối tác đang bận"), ("en", "the peer is busy")] {
        let (cwd, p, a) = (dir.clone(), prov_dir.clone(), addr.to_string());
        let o = tokio::task::spawn_blocking(move || {
            sangkien(
                &cwd,
                &[
                    "--lang",
                    lang,
                    "--data",
                    p.to_str().unwrap(),
                    "sync",
                    "--peer",
                    &a,
                ],
            )
        })
        .await
        .unwrap();
        assert_eq!(o.status.code(), Some(1), "{lang}: {}", text(&o));
        assert!(text(&o).contains(expected), "{lang}: {}", text(&o));
    }
    assert!(
        matches!(service.0.try_wait(), Ok(None)),
        "the service stopped"
    );
    drop(held);
}

// ---- Issue 13, item 1: the running service owns the store; no command needs it stopped. ----

/// `sangkien --data DIR args...` run from `cwd`.
fn at(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--data".to_string(), data.to_string_lossy().into_owned()];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    sangkien(cwd, &all)
}

fn ok(cwd: &Path, data: &Path, args: &[&str]) -> String {
    let o = at(cwd, data, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `sangkien node run` on `data` (QUIC on 127.0.0.1, any port; `peers`: TOML peer
/// tables; the interval an hour, so only a write's own trigger syncs) from a directory that is
/// not the callers', and waits until it answers; returns it and its QUIC address.
fn start(dir: &Path, data: &Path, peers: &str) -> (Service, String) {
    let name = data.file_name().and_then(|n| n.to_str()).expect("name");
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:0\"\ninterval_s = 3600\nlog_level = \"debug\"\n{peers}",
            data.to_str().expect("utf-8")
        ),
    )
    .expect("config");
    let log = dir.join(format!("{name}.log"));
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(["node", "run", "--config"])
            .arg(&config)
            .current_dir("/")
            .env_remove("SANGKIEN_DATA")
            .env_remove("SANGKIEN_LANG")
            .env_remove("SANGKIEN_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
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

#[test]
fn every_command_works_while_the_node_serves_and_a_write_reaches_the_parent_at_once() {
    let tmp = TempDir::new("always-on");
    let dir = tmp.path();
    let d = |u: &str| dir.join(u);
    let (tld, py, th, ts) = ("tld", "ldld-phu-yen", "ldld-tuy-hoa", "cdcs-thuy-san");
    ok(dir, &d(tld), &["federation", "init"]);
    for (parent, id, role) in [
        (tld, py, "provincial"),
        (py, th, "direct-superior"),
        (th, ts, "grassroots"),
    ] {
        let into = d(id);
        ok(
            dir,
            &d(parent),
            &[
                "unit",
                "enrol",
                "--id",
                id,
                "--role",
                role,
                "--name",
                id,
                "--into",
                into.to_str().expect("utf-8"),
            ],
        );
    }
    ok(
        dir,
        &d(tld),
        &[
            "programme",
            "new",
            "--name",
            "01 triệu sáng kiến",
            "--phase",
            "Giai đoạn 1|2021-12-15|2022-05-31|300000",
            "--phase",
            "Giai đoạn 2|2022-06-01|2023-08-31|700000",
            "--national-target",
            "1000000",
        ],
    );
    for (from, to) in [(tld, py), (py, th), (th, ts)] {
        let f = format!("{from}-{to}.bundle");
        ok(dir, &d(from), &["bundle", "export", "--for", to, &f]);
        ok(dir, &d(to), &["bundle", "import", &f]);
    }
    let register = |title: &str, day: &str| {
        let o = ok(
            dir,
            &d(ts),
            &[
                "--json",
                "initiative",
                "new",
                "--title",
                title,
                "--author",
                "Lê Thị Mai|Kỹ sư chế biến",
                "--sector",
                "production-business",
                "--summary",
                "Giảm hao hụt",
                "--phase",
                "2",
                "--registered",
                day,
                "--benefit",
                "2.400.000.000",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&o).expect("json");
        v["id"].as_str().expect("id").to_owned()
    };
    let first = register("Quy trình cấp đông nhanh", "20/12/2022");
    // What the read commands print, and a refusal (an approval out of turn), without a service.
    let reads: [&[&str]; 4] = [
        &["initiative", "list"],
        &["--json", "report", "--today", "2023-01-10"],
        &["--lang", "en", "report", "--today", "2023-01-10"],
        &["--json", "verify"],
    ];
    let refused: [&[&str]; 2] = [
        &[
            "decide",
            "approve",
            &first[..8],
            "--officer",
            "A",
            "--title",
            "B",
        ],
        &[
            "--lang",
            "en",
            "decide",
            "approve",
            &first[..8],
            "--officer",
            "A",
            "--title",
            "B",
        ],
    ];
    let offline: Vec<Output> = reads
        .iter()
        .chain(refused.iter())
        .map(|a| at(dir, &d(ts), a))
        .collect();
    for (a, o) in reads.iter().zip(&offline) {
        assert!(o.status.success(), "{a:?}: {}", text(o));
    }

    // The district serves; the grassroots node serves with the district as its peer.
    let (_th_service, th_addr) = start(dir, &d(th), "");
    let (_ts_service, _) = start(
        dir,
        &d(ts),
        &format!("[[peers]]\naddress = \"{th_addr}\"\nunit = \"{th}\"\n"),
    );

    // The same bytes and exit codes through the service.
    for (a, before) in reads.iter().chain(refused.iter()).zip(&offline) {
        let o = at(dir, &d(ts), a);
        assert_eq!(o.status.code(), before.status.code(), "{a:?}: {}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&before.stdout),
            "{a:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&before.stderr),
            "{a:?}"
        );
    }
    // The refusal is in the language asked for.
    let vi = text(&offline[reads.len()]);
    let en = text(&offline[reads.len() + 1]);
    assert!(vi.starts_with("lỗi: "), "{vi}");
    assert!(en.starts_with("error: "), "{en}");

    // Writes while it serves: a registration, then its submission; each reaches the district
    // by QUIC at once (the interval is an hour, and the district's service is not restarted).
    let second = register("Sắp xếp kho lạnh", "21/12/2022");
    ok(
        dir,
        &d(ts),
        &[
            "decide",
            "submit",
            &second[..8],
            "--officer",
            "Nguyễn Văn An",
            "--title",
            "Chủ tịch CĐCS",
        ],
    );
    let mut reached = false;
    let mut shown = String::new();
    for _ in 0..MAX_POLLS {
        let o = at(dir, &d(th), &["--json", "initiative", "show", &second[..8]]);
        shown = text(&o);
        if o.status.success() && shown.contains("submit") {
            reached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        reached,
        "the submission did not reach the district: {shown}\n{}",
        std::fs::read_to_string(dir.join(format!("{ts}.log"))).unwrap_or_default()
    );
    // The district approves, while it serves.
    ok(
        dir,
        &d(th),
        &[
            "decide",
            "approve",
            &second[..8],
            "--officer",
            "Trần Thị Bình",
            "--title",
            "Chủ tịch LĐLĐ thành phố",
        ],
    );
    ok(
        dir,
        &d(th),
        &[
            "target",
            "assign",
            "--phase",
            "2",
            "--set",
            "cdcs-thuy-san=60",
        ],
    );
    // Reads, an export (a path relative to the caller, not to the service) and a check.
    let list = ok(dir, &d(ts), &["initiative", "list"]);
    assert!(list.contains("Sắp xếp kho lạnh"), "{list}");
    let report: serde_json::Value =
        serde_json::from_str(&ok(dir, &d(ts), &["--json", "report"])).expect("json");
    assert!(report.is_object(), "{report}");
    let v = ok(dir, &d(ts), &["--lang", "en", "verify"]);
    assert!(v.contains("Records"), "{v}");
    let e = ok(dir, &d(ts), &["bundle", "export", "--for", th, "up.bundle"]);
    assert!(
        e.contains("up.bundle") && !e.contains(dir.to_str().unwrap()),
        "{e}"
    );
    assert!(dir.join("up.bundle").is_file(), "written beside the caller");
    let c = ok(dir, &d(ts), &["--lang", "en", "node", "check"]);
    assert!(c.contains("result: consistent"), "{c}");
    let c = ok(dir, &d(th), &["--lang", "en", "node", "check"]);
    assert!(c.contains("result: consistent"), "{c}");
    // A unit enrolled through the service syncs with it at once: its QUIC handshake is
    // verified against the directory the enrolment changed.
    let new = d("cdcs-moi");
    ok(
        dir,
        &d(th),
        &[
            "unit",
            "enrol",
            "--id",
            "cdcs-moi",
            "--role",
            "grassroots",
            "--name",
            "Công đoàn mới",
            "--into",
            "cdcs-moi",
        ],
    );
    assert!(
        new.join("federation.json").is_file(),
        "enrolled beside the caller"
    );
    let s = ok(dir, &new, &["--lang", "en", "sync", "--peer", &th_addr]);
    assert!(s.starts_with("Synced with"), "{s}");
}

// ---- A refused sync is told in the reader's language, never as TLS internals ----

#[test]
fn a_sync_with_a_node_of_another_federation_is_refused_in_the_readers_language() {
    let tmp = TempDir::new("foreign");
    let dir = tmp.path().to_owned();
    let now = node::now_ms();
    let ours = dir.join("tld");
    drop(
        Node::create_root(&ours, unit("tld"), name("Tổng Liên đoàn"), now - 10_000).expect("root"),
    );
    let theirs = dir.join("other");
    drop(
        Node::create_root(
            &theirs,
            unit("tld"),
            name("Một liên đoàn khác"),
            now - 10_000,
        )
        .expect("other root"),
    );
    let (mut service, addr) = start(&dir, &theirs, "");
    for (lang, expected) in [
        ("vi", "nút này không chấp nhận khoá của nút đối tác"),
        ("en", "this node did not accept the peer's key"),
    ] {
        let o = at(&dir, &ours, &["--lang", lang, "sync", "--peer", &addr]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{lang}: {t}");
        assert!(t.contains(expected), "{lang}: {t}");
        for internal in ["rustls", "TLS", "alert", "handshake", "QUIC:", "quinn"] {
            assert!(!t.contains(internal), "{lang}: {internal} in {t}");
        }
    }
    // The service that refused goes on serving.
    assert!(
        matches!(service.0.try_wait(), Ok(None)),
        "the service stopped"
    );
}
