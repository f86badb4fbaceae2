//! The web interface at the HTTP level, with a plain client (a TCP stream): CSRF on every form,
//! the failed-login limit, session expiry (the interface's clock moved by the test), 404 in the
//! officer's language without internals, the page size bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use node::officers::{self, Role};
use node::web::{Web, WebConfig};
use sync_protocol::limits::{MAX_LOGIN_FAILURES_COUNT, MAX_WEB_PAGE_BYTES, WEB_SESSION_IDLE_S};
use tests::{root, TempDir};

const T0: u64 = 1_764_000_000_000;
const PASSWORD: &str = "mat-khau-dung-1";

struct Served {
    addr: SocketAddr,
    clock: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
    _tmp: TempDir,
}

fn serve(name: &str) -> Served {
    let tmp = TempDir::new(name);
    let node = root(tmp.path(), T0);
    officers::add(
        node.store(),
        "van-hanh",
        "Nguyễn Văn An",
        "Cán bộ vận hành",
        &[Role::Operator],
        PASSWORD,
        T0,
    )
    .unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 1000));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let c = clock.clone();
    let addr = rt.block_on(async move {
        let config = WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..WebConfig::default()
        };
        let listener = node::web::bind(&config).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let web = Web::new(
            Arc::new(tokio::sync::Mutex::new(node)),
            config,
            Arc::new(|| {}),
            Arc::new(move || c.load(Ordering::SeqCst)),
        )
        .await;
        tokio::spawn(web.serve(listener));
        addr
    });
    Served {
        addr,
        clock,
        _rt: rt,
        _tmp: tmp,
    }
}

/// One response: status, headers (lowercase names), body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
    /// The value of the hidden input `name`.
    fn hidden(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &self.body[at + name.len() + 15..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, cookies: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in; returns the session cookie, or the refusal.
fn login(addr: SocketAddr, login: &str, password: &str) -> Result<String, Resp> {
    let form = http(addr, "GET", "/login", "", "");
    let pre = form.cookie("sk_pre").unwrap();
    assert_eq!(form.hidden("pre").as_deref(), Some(pre.as_str()));
    let r = http(
        addr,
        "POST",
        "/login",
        &format!("sk_pre={pre}"),
        &format!(
            "pre={pre}&next=%2F&login={}&password={}",
            enc(login),
            enc(password)
        ),
    );
    match (r.status, r.cookie("sk_session")) {
        (303, Some(s)) => Ok(s),
        _ => Err(r),
    }
}

#[test]
fn every_form_needs_its_csrf_token() {
    let s = serve("web-csrf");
    // The login form without its pre-session token.
    let r = http(
        s.addr,
        "POST",
        "/login",
        "",
        &format!("login=van-hanh&password={PASSWORD}"),
    );
    assert_eq!(r.status, 403, "login without its token");
    assert!(r.body.contains("mã chống giả mạo"), "{}", r.body);
    let session = login(s.addr, "van-hanh", PASSWORD).ok().unwrap();
    let cookie = format!("sk_session={session}");
    let page = http(s.addr, "GET", "/accounts", &cookie, "");
    assert_eq!(page.status, 200);
    let csrf = page
        .hidden("csrf")
        .expect("the accounts page carries its token");
    let add = "login=binh&name=Tr%E1%BA%A7n+B%C3%ACnh&title=Th%E1%BA%A9m+%C4%91%E1%BB%8Bnh&role=appraiser&password=mat-khau-cua-binh";
    // Without a token, with a wrong one, with another session's: refused, nothing added.
    for bad in [
        "",
        "csrf=00&",
        "csrf=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff&",
    ] {
        let r = http(s.addr, "POST", "/accounts", &cookie, &format!("{bad}{add}"));
        assert_eq!(r.status, 403, "{bad}");
    }
    let other = login(s.addr, "van-hanh", PASSWORD).ok().unwrap();
    let other_csrf = http(
        s.addr,
        "GET",
        "/accounts",
        &format!("sk_session={other}"),
        "",
    )
    .hidden("csrf")
    .unwrap();
    assert_ne!(other_csrf, csrf);
    let r = http(
        s.addr,
        "POST",
        "/accounts",
        &cookie,
        &format!("csrf={other_csrf}&{add}"),
    );
    assert_eq!(r.status, 403, "another session's token");
    let r = http(s.addr, "POST", "/logout", &cookie, "");
    assert_eq!(r.status, 403, "logout without its token");
    assert!(!http(s.addr, "GET", "/accounts", &cookie, "")
        .body
        .contains("binh"));
    // With the token: added.
    let r = http(
        s.addr,
        "POST",
        "/accounts",
        &cookie,
        &format!("csrf={csrf}&{add}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(http(s.addr, "GET", "/accounts", &cookie, "")
        .body
        .contains("Trần Bình"));
    // Logout with the token ends the session.
    let r = http(s.addr, "POST", "/logout", &cookie, &format!("csrf={csrf}"));
    assert_eq!(r.status, 303);
    let r = http(s.addr, "GET", "/accounts", &cookie, "");
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().starts_with("/login"));
}

#[test]
fn failed_logins_lock_the_account_out() {
    let s = serve("web-limit");
    for i in 0..MAX_LOGIN_FAILURES_COUNT {
        let r = login(s.addr, "van-hanh", "sai-mat-khau-roi").unwrap_err();
        assert_eq!(r.status, 401, "failure {i}");
        assert!(r.body.contains("Sai tên đăng nhập hoặc mật khẩu"));
    }
    // Locked: even the right password is refused, with when it ends.
    let r = login(s.addr, "van-hanh", PASSWORD).unwrap_err();
    assert_eq!(r.status, 429);
    assert!(r.body.contains("tạm khóa"), "{}", r.body);
    // After the lockout, the right password works.
    s.clock.fetch_add(
        sync_protocol::limits::LOGIN_LOCKOUT_S * 1000 + 1,
        Ordering::SeqCst,
    );
    login(s.addr, "van-hanh", PASSWORD)
        .ok()
        .expect("free again");
}

#[test]
fn a_session_ends_after_its_idle_time() {
    let s = serve("web-expiry");
    let session = login(s.addr, "van-hanh", PASSWORD).ok().unwrap();
    let cookie = format!("sk_session={session}");
    assert_eq!(http(s.addr, "GET", "/", &cookie, "").status, 200);
    s.clock
        .fetch_add((WEB_SESSION_IDLE_S - 1) * 1000, Ordering::SeqCst);
    assert_eq!(
        http(s.addr, "GET", "/", &cookie, "").status,
        200,
        "still active"
    );
    s.clock
        .fetch_add(WEB_SESSION_IDLE_S * 1000 + 1, Ordering::SeqCst);
    let r = http(s.addr, "GET", "/", &cookie, "");
    assert_eq!(r.status, 303, "expired");
    assert!(r.header("location").unwrap().starts_with("/login"));
}

#[test]
fn cookies_errors_and_sizes() {
    let s = serve("web-pages");
    let form = http(s.addr, "GET", "/login", "", "");
    let session = login(s.addr, "van-hanh", PASSWORD).ok().unwrap();
    let cookie = format!("sk_session={session}");
    // The session cookie: HttpOnly, SameSite=Strict.
    let form2 = http(s.addr, "GET", "/login", "", "");
    let pre = form2.cookie("sk_pre").unwrap();
    let r = http(
        s.addr,
        "POST",
        "/login",
        &format!("sk_pre={pre}"),
        &format!("pre={pre}&next=%2F&login=van-hanh&password={PASSWORD}"),
    );
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("sk_session="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    // A page that does not exist: 404 in the officer's language, no internals.
    let r = http(s.addr, "GET", "/khong-co", &cookie, "");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Không tìm thấy"));
    let r = http(
        s.addr,
        "GET",
        "/initiatives/00112233445566778899aabbccddeeff?lang=en",
        &cookie,
        "",
    );
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("There is no such page or record"),
        "{}",
        r.body
    );
    assert!(r.cookie("sk_lang").as_deref() == Some("en"));
    // The operator may not register initiatives: 403 with the rule.
    let r = http(s.addr, "GET", "/initiatives/new", &cookie, "");
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("Quy tắc: chỉ cán bộ có vai trò Tổ hỗ trợ"),
        "{}",
        r.body
    );
    // Pages stay small and forbid scripts and framing.
    for p in ["/", "/initiatives", "/inbox", "/sync", "/accounts"] {
        let r = http(s.addr, "GET", p, &cookie, "");
        assert_eq!(r.status, 200, "{p}");
        assert!(
            r.body.len() < MAX_WEB_PAGE_BYTES,
            "{p}: {} bytes",
            r.body.len()
        );
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'"));
        assert!(!r.body.contains("<script"), "{p}");
    }
    assert!(form.body.len() < MAX_WEB_PAGE_BYTES);
    // A body over the bound is refused before it is read whole.
    let big = "x".repeat(sync_protocol::limits::MAX_WEB_FORM_BYTES + 1);
    let r = http(s.addr, "POST", "/accounts", &cookie, &big);
    assert_eq!(r.status, 413);
}

// ---- dashboard, targets, Mẫu 2, reports --------------------------------------------------

/// A national node with a child province and a programme, served with a leader's and a support
/// officer's accounts; the node stays reachable for the test's checks.
struct Programmed {
    served: Served,
    node: Arc<tokio::sync::Mutex<node::Node>>,
    programme: sync_protocol::ids::RecordId,
}

fn serve_programmed(name: &str) -> Programmed {
    serve_programmed_at(name, At::National)
}

/// Which node of the little tree is served.
#[derive(PartialEq)]
enum At {
    National,
    /// `p1`, the programme synced down to it.
    Province,
    /// `d1` under `p1`, where an initiative its grassroots union `g1` submitted waits.
    District,
}

/// As [`serve_programmed`]; with `province`, the province `p1` is served instead, the
/// programme synced down to it.
fn serve_programmed_at(name: &str, at: At) -> Programmed {
    use sync_protocol::date::Date;
    use sync_protocol::entry::UnitRole;
    use sync_protocol::record::{Deadline, Phase, Programme, RecordContent};
    let tmp = TempDir::new(name);
    let mut node = root(tmp.path(), T0);
    let mut p1 = tests::enrol(
        &mut node,
        tmp.path(),
        "p1",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    drop(tests::enrol(
        &mut node,
        tmp.path(),
        "p2",
        UnitRole::ProvincialFederation,
        T0 + 2,
    ));
    let d = |s: &str| Date::parse(s).unwrap();
    let p = Programme {
        name: tests::text("01 triệu sáng kiến"),
        phases: vec![Phase {
            name: tests::text("Giai đoạn 1"),
            start: d("2025-01-01"),
            end: d("2026-12-31"),
            target: 1000,
        }],
        deadlines: vec![Deadline {
            label: tests::text("Nộp hồ sơ"),
            date: d("2026-08-05"),
        }],
        campaigns: Vec::new(),
        national_target: 1000,
    };
    let programme = node::records::create(&mut node, &RecordContent::Programme(p), T0 + 3).unwrap();
    let node = match at {
        At::National => {
            drop(p1);
            node
        }
        At::Province => {
            node::sync::sync_in_memory(&mut p1, &mut node, None, T0 + 4).unwrap();
            drop(node);
            p1
        }
        At::District => {
            use sync_protocol::entry::{DecisionKind, Sector};
            use sync_protocol::record::{Application, Author, Description, Initiative};
            let mut d1 = tests::enrol(&mut p1, tmp.path(), "d1", UnitRole::DirectSuperior, T0 + 5);
            let mut g1 = tests::enrol(&mut d1, tmp.path(), "g1", UnitRole::Grassroots, T0 + 6);
            node::sync::sync_in_memory(&mut p1, &mut node, None, T0 + 7).unwrap();
            node::sync::sync_in_memory(&mut d1, &mut p1, None, T0 + 8).unwrap();
            node::sync::sync_in_memory(&mut g1, &mut d1, None, T0 + 9).unwrap();
            let i = Initiative {
                title: tests::text("Băng tải tự động"),
                authors: vec![Author {
                    name: tests::text("Lê Văn Cường"),
                    position: tests::text("Tổ trưởng"),
                }],
                origin: tests::unit("g1"),
                superior: tests::unit("d1"),
                programme: Some(programme),
                phase: 1,
                sector: Sector::ALL[0],
                summary: tests::text("Giảm thời gian bốc xếp"),
                registered_on: d("2025-11-20"),
                description: Description::default(),
                benefit_vnd: 1_000_000,
                application: Application::Applied,
                recognition: None,
                confidential: false,
                attachments: Vec::new(),
                commitment_salt: None,
            };
            let id =
                node::records::create(&mut g1, &RecordContent::Initiative(Box::new(i)), T0 + 10)
                    .unwrap();
            node::records::decide(
                &mut g1,
                id,
                DecisionKind::Submit,
                tests::text("Lê Văn Cường"),
                tests::text("Chủ tịch"),
                tests::text(""),
                T0 + 11,
            )
            .unwrap();
            node::sync::sync_in_memory(&mut g1, &mut d1, None, T0 + 12).unwrap();
            drop((node, p1, g1));
            d1
        }
    };
    for (login, role) in [("lanh-dao", Role::Leader), ("ho-tro", Role::Support)] {
        officers::add(
            node.store(),
            login,
            "Trần Thị Bình",
            "Phó Chủ tịch",
            &[role],
            PASSWORD,
            T0,
        )
        .unwrap();
    }
    let clock = Arc::new(AtomicU64::new(T0 + 1000));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(tokio::sync::Mutex::new(node));
    let (c, n) = (clock.clone(), shared.clone());
    let addr = rt.block_on(async move {
        let config = WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..WebConfig::default()
        };
        let listener = node::web::bind(&config).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let web = Web::new(
            n,
            config,
            Arc::new(|| {}),
            Arc::new(move || c.load(Ordering::SeqCst)),
        )
        .await;
        tokio::spawn(web.serve(listener));
        addr
    });
    Programmed {
        served: Served {
            addr,
            clock,
            _rt: rt,
            _tmp: tmp,
        },
        node: shared,
        programme,
    }
}

impl Programmed {
    /// The targets the national unit has assigned for phase 1.
    fn assigned(&self) -> std::collections::BTreeMap<sync_protocol::ids::UnitId, u64> {
        let n = self.node.blocking_lock();
        n.store().targets_of(self.programme, 1, n.unit()).unwrap()
    }
}

/// One response with its body as bytes (downloads are not text).
fn http_bytes(
    addr: SocketAddr,
    path: &str,
    cookies: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    post_bytes(addr, "GET", path, cookies, "")
}

fn post_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookies: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[at + 4..].to_vec())
}

fn session(addr: SocketAddr, login_name: &str) -> (String, String) {
    let s = login(addr, login_name, PASSWORD).unwrap_or_else(|r| panic!("{}", r.status));
    let cookies = format!("sk_session={s}");
    let page = http(addr, "GET", "/targets", &cookies, "");
    let csrf = page.hidden("csrf").expect("the logout form's token");
    (cookies, csrf)
}

#[test]
fn a_leader_assigns_targets_and_a_bad_one_is_refused_with_nothing_stored() {
    let p = serve_programmed("web-targets");
    let addr = p.served.addr;
    let prog = p.programme.to_hex();

    // Support reads the page but has no form, and is refused with the rule when posting.
    let (support, csrf) = session(addr, "ho-tro");
    let page = http(addr, "GET", "/targets", &support, "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("p1") && page.body.contains("p2"));
    assert!(!page.body.contains("id=\"assign\""), "no form for support");
    let r = http(
        addr,
        "POST",
        "/targets",
        &support,
        &format!("csrf={csrf}&programme={prog}&phase=1&t_p1=500"),
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Quy tắc"), "{}", r.body);
    assert!(p.assigned().is_empty(), "nothing stored");

    let (leader, csrf) = session(addr, "lanh-dao");
    let page = http(addr, "GET", "/targets", &leader, "");
    assert!(page.body.contains("id=\"assign\""), "the leader's form");
    // A count that is not a number: marked, nothing stored.
    let r = http(
        addr,
        "POST",
        "/targets",
        &leader,
        &format!("csrf={csrf}&programme={prog}&phase=1&t_p1=500&t_p2=nhi%E1%BB%81u"),
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("field-err") && r.body.contains("id=\"form-errors\""));
    assert!(p.assigned().is_empty(), "nothing stored half-way");
    // A unit that is not a child (the national unit itself): refused with the rule.
    let r = http(
        addr,
        "POST",
        "/targets?lang=en",
        &leader,
        &format!("csrf={csrf}&programme={prog}&phase=1&t_p1=500&t_tld=7"),
    );
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("rule: targets go only to the units just below"),
        "{}",
        r.body
    );
    assert!(p.assigned().is_empty());
    // Without the form's token: refused.
    let r = http(
        addr,
        "POST",
        "/targets",
        &leader,
        &format!("programme={prog}&phase=1&t_p1=500"),
    );
    assert_eq!(r.status, 403);
    assert!(p.assigned().is_empty());
    // A good one: signed, stored, shown; re-assigning edits it.
    let r = http(
        addr,
        "POST",
        "/targets",
        &leader,
        &format!("csrf={csrf}&programme={prog}&phase=1&t_p1=2.400&t_p2="),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let assigned = p.assigned();
    assert_eq!(assigned.get(&tests::unit("p1")), Some(&2400));
    assert_eq!(assigned.len(), 1, "an empty field assigns nothing");
    let r = http(
        addr,
        "POST",
        "/targets",
        &leader,
        &format!("csrf={csrf}&programme={prog}&phase=1&t_p2=300"),
    );
    assert_eq!(r.status, 303);
    let assigned = p.assigned();
    assert_eq!(
        (
            assigned.get(&tests::unit("p1")),
            assigned.get(&tests::unit("p2"))
        ),
        (Some(&2400), Some(&300))
    );
    let page = http(addr, "GET", "/targets", &leader, "");
    assert!(
        page.body.contains("id=\"assigned-total\">2.700<"),
        "{}",
        page.body
    );
}

#[test]
fn the_dashboard_and_the_reports_come_from_the_report_and_download_well_formed() {
    let p = serve_programmed("web-reports");
    let addr = p.served.addr;
    let (support, _) = session(addr, "ho-tro");
    let dash = http(addr, "GET", "/", &support, "");
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("<svg"), "the chart");
    assert!(dash.body.contains("01 triệu sáng kiến"));
    assert!(dash.body.contains("Nộp hồ sơ"), "the deadline coming up");
    assert!(dash.body.contains("id=\"waiting\""));
    let timing: Vec<&str> = dash
        .headers
        .iter()
        .filter(|(k, _)| k == "server-timing")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        timing.iter().any(|v| v.starts_with("app;dur=")),
        "{timing:?}"
    );
    assert!(
        timing.iter().any(|v| v.contains("report;dur=")),
        "{timing:?}"
    );
    assert!(
        dash.body.contains("id=\"waiting\">0<"),
        "nothing waits here"
    );
    let page = http(addr, "GET", "/reports", &support, "");
    assert_eq!(page.status, 200);
    assert!(page.body.len() <= MAX_WEB_PAGE_BYTES);

    let q = format!("?programme={}&phase=1", p.programme.to_hex());
    let (s, h, csv) = http_bytes(addr, &format!("/reports/download/csv{q}"), &support);
    assert_eq!(s, 200);
    assert!(h
        .iter()
        .any(|(k, v)| k == "content-disposition" && v.starts_with("attachment")));
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.starts_with("phần,mã,tên,số sáng kiến,chỉ tiêu,tỷ lệ (%),giá trị làm lợi (VND)\r\n"),
        "{csv}"
    );
    assert!(csv.contains("child-1,p1,"), "{csv}");
    let (_, _, xlsx) = http_bytes(addr, &format!("/reports/download/xlsx{q}"), &support);
    assert!(xlsx.starts_with(b"PK\x03\x04"), "an XLSX is a zip");
    let (_, _, png) = http_bytes(addr, &format!("/reports/download/png{q}"), &support);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (_, _, json) = http_bytes(
        addr,
        &format!("/reports/download/json{q}&lang=en"),
        &support,
    );
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["programme"], p.programme.to_hex());
    assert_eq!(v["children"].as_array().map(|a| a.len()), Some(2));
    let (s, _, _) = http_bytes(addr, "/reports/download/exe", &support);
    assert_eq!(s, 404);
    // Without a session: to the login page, nothing sent.
    let (s, h, _) = http_bytes(addr, &format!("/reports/download/csv{q}"), "");
    assert_eq!(s, 303);
    assert!(h
        .iter()
        .any(|(k, v)| k == "location" && v.starts_with("/login")));
}

#[test]
fn the_mau2_bundle_is_signed_by_a_leader_only() {
    // The national unit has no superior to sign a bundle for: the rule.
    let n = serve_programmed("web-mau2-national");
    let (leader, csrf) = session(n.served.addr, "lanh-dao");
    let page = http(n.served.addr, "GET", "/mau2", &leader, "");
    assert!(!page.body.contains("id=\"mau2-sign\""));
    let r = http(
        n.served.addr,
        "POST",
        "/mau2/bundle",
        &leader,
        &format!("csrf={csrf}&programme={}", n.programme.to_hex()),
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Quy tắc"), "{}", r.body);

    let p = serve_programmed_at("web-mau2", At::Province);
    let addr = p.served.addr;
    let prog = p.programme.to_hex();
    let (support, csrf) = session(addr, "ho-tro");
    let page = http(addr, "GET", "/mau2", &support, "");
    assert_eq!(page.status, 200);
    // The empty list's digest, as `sangkien list mau2` prints it.
    assert!(page.body.contains(&node::mau2::digest([])), "{}", page.body);
    assert!(!page.body.contains("id=\"mau2-sign\""));
    let (s, _, _) = post_bytes(
        addr,
        "POST",
        "/mau2/bundle",
        &support,
        &format!("csrf={csrf}&programme={prog}"),
    );
    assert_eq!(s, 403);
    let (leader, csrf) = session(addr, "lanh-dao");
    let (s, _, _) = post_bytes(
        addr,
        "POST",
        "/mau2/bundle",
        &leader,
        &format!("programme={prog}"),
    );
    assert_eq!(s, 403, "the form's token is needed");
    let (s, h, b) = post_bytes(
        addr,
        "POST",
        "/mau2/bundle",
        &leader,
        &format!("csrf={csrf}&programme={prog}"),
    );
    assert_eq!(s, 200);
    assert!(h
        .iter()
        .any(|(k, v)| k == "content-disposition" && v.contains(".bundle")));
    assert!(b.starts_with(b"SKBUNDL2"), "a signed bundle");
    let _ = p.served.clock.load(Ordering::SeqCst);
}

#[test]
fn the_dashboard_counts_what_waits_as_the_inbox_does() {
    let p = serve_programmed_at("web-waiting", At::District);
    let addr = p.served.addr;
    let (support, _) = session(addr, "ho-tro");
    let dash = http(addr, "GET", "/", &support, "");
    assert!(dash.body.contains("id=\"waiting\">1<"), "{}", dash.body);
    let inbox = http(addr, "GET", "/inbox", &support, "");
    assert!(inbox.body.contains("Băng tải tự động"), "{}", inbox.body);
}
