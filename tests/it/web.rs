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
    start(tmp, node)
}

/// Serves `node`'s web interface on 127.0.0.1 (any port) with a clock the test moves.
fn start(tmp: TempDir, node: node::Node) -> Served {
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

// ---- members' self-registration (/register) ---------------------------------------------

/// A grassroots union's interface, with a support officer `ho-tro`; the store for checks.
fn serve_grassroots(name: &str) -> (Served, node::SledStore) {
    use sync_protocol::entry::UnitRole;
    let tmp = TempDir::new(name);
    let mut tld = root(tmp.path(), T0);
    let mut prov = tests::enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let mut district = tests::enrol(
        &mut prov,
        tmp.path(),
        "ldld-tuy-hoa",
        UnitRole::DirectSuperior,
        T0 + 2,
    );
    let node = tests::enrol(
        &mut district,
        tmp.path(),
        "cdcs-thuy-san",
        UnitRole::Grassroots,
        T0 + 3,
    );
    officers::add(
        node.store(),
        "ho-tro",
        "Lê Thị Hoa",
        "Tổ hỗ trợ sáng kiến",
        &[Role::Support],
        PASSWORD,
        T0,
    )
    .unwrap();
    let store = node.store().clone();
    (start(tmp, node), store)
}

/// The registration form: its token (cookie and hidden field agree).
fn registration_token(addr: SocketAddr) -> String {
    let r = http(addr, "GET", "/register", "", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.cookie("sk_reg").expect("the token cookie");
    assert_eq!(r.hidden("reg").as_deref(), Some(c.as_str()));
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("sk_reg="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    c
}

const GOOD_FORM: &str = "name=Tr%E1%BA%A7n+V%C4%83n+H%E1%BA%A3i&position=T%E1%BB%95+tr%C6%B0%E1%BB%9Fng&contact=0905+123+456&title=M%C3%A1y+c%E1%BA%A5p+%C4%91%C3%A1+v%E1%BA%A3y&summary=Gi%E1%BA%A3m+chi+ph%C3%AD+%C4%91i%E1%BB%87n&sector=production-business&benefit=150.000.000&application=applied";

fn self_registered(store: &node::SledStore) -> u64 {
    node::self_registration::count(store).unwrap()
}

fn list_total(addr: SocketAddr, cookie: &str) -> String {
    let r = http(addr, "GET", "/initiatives", cookie, "");
    let at = r.body.find("id=\"total\">").expect("the total") + 11;
    r.body[at..at + r.body[at..].find('<').unwrap()].to_owned()
}

#[test]
fn self_registration_is_closed_until_the_operator_opens_it() {
    let (s, store) = serve_grassroots("web-reg-open");
    // Closed by default: a clear page, not an error of the node, in the page's language.
    for (path, lang_text) in [
        ("/register", "đang đóng"),
        ("/register?lang=en", "self-registration page is closed"),
    ] {
        let r = http(s.addr, "GET", path, "", "");
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body.contains(lang_text), "{path}: {}", r.body);
        assert!(!r.body.contains("<form"), "{path}: no form");
    }
    let r = http(
        s.addr,
        "POST",
        "/register",
        "sk_reg=aa",
        &format!("reg=aa&{GOOD_FORM}"),
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("đang đóng"), "{}", r.body);
    assert_eq!(self_registered(&store), 0);
    let session = login(s.addr, "ho-tro", PASSWORD).ok().unwrap();
    let cookie = format!("sk_session={session}");
    assert!(!http(s.addr, "GET", "/", &cookie, "")
        .body
        .contains("registration-qr"));

    // Opened (what `sangkien node registration open` does): the dashboard shows the QR code
    // of the address the officer used, and a worker's form lands as a registered initiative.
    node::self_registration::set_state(&store, true, None, T0).unwrap();
    let dash = http(s.addr, "GET", "/", &cookie, "");
    assert!(
        dash.body.contains("id=\"registration-qr\""),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("<svg"));
    // (minijinja writes '/' as "&#x2f;" in HTML.)
    assert!(dash
        .body
        .replace("&#x2f;", "/")
        .contains(&format!(">http://{}/register</a>", s.addr)));
    let before = list_total(s.addr, &cookie);
    let token = registration_token(s.addr);
    let r = http(
        s.addr,
        "POST",
        "/register",
        &format!("sk_reg={token}"),
        &format!("reg={token}&{GOOD_FORM}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/register/thanks"));
    let thanks = http(s.addr, "GET", "/register/thanks", "", "");
    assert_eq!(thanks.status, 200);
    assert!(thanks.body.contains("Cảm ơn"));
    // Nothing else is visible from the page: no record, no id, no link into the interface.
    for page in [&thanks.body, &http(s.addr, "GET", "/register", "", "").body] {
        assert!(!page.contains("/initiatives"), "{page}");
        assert!(!page.contains("Máy cấp đá vảy"), "{page}");
        assert!(!page.contains("/inbox"), "{page}");
    }
    assert_eq!(self_registered(&store), 1);
    assert_ne!(list_total(s.addr, &cookie), before);
    // The support team sees it, marked, with the worker's contact; registered, not submitted.
    let list = http(s.addr, "GET", "/initiatives?status=registered", &cookie, "");
    assert!(list.body.contains("Máy cấp đá vảy"), "{}", list.body);
    assert!(list.body.contains("Người lao động tự đăng ký"));
    let at = list.body.find("<td><a href=\"/initiatives/").unwrap() + 26;
    let id = &list.body[at..at + 32];
    let page = http(s.addr, "GET", &format!("/initiatives/{id}"), &cookie, "");
    assert!(page.body.contains("0905 123 456"), "{}", page.body);
    assert!(page.body.contains("Trần Văn Hải"));
    assert!(page.body.contains("Mới đăng ký"));
    assert!(
        page.body.contains("id=\"do-submit\""),
        "the support team may submit it"
    );

    // Closed again: refused, the QR code gone.
    node::self_registration::set_state(&store, false, None, T0).unwrap();
    assert_eq!(http(s.addr, "GET", "/register", "", "").status, 403);
    assert!(!http(s.addr, "GET", "/", &cookie, "")
        .body
        .contains("registration-qr"));
}

#[test]
fn self_registration_needs_its_token_and_marks_bad_fields() {
    let (s, store) = serve_grassroots("web-reg-csrf");
    node::self_registration::set_state(&store, true, None, T0).unwrap();
    let token = registration_token(s.addr);
    let other = registration_token(s.addr);
    assert_ne!(token, other);
    // Without the cookie, without the field, with another form's token: refused.
    for (cookie, body) in [
        (String::new(), format!("reg={token}&{GOOD_FORM}")),
        (format!("sk_reg={token}"), GOOD_FORM.to_owned()),
        (
            format!("sk_reg={token}"),
            format!("reg={other}&{GOOD_FORM}"),
        ),
    ] {
        let r = http(s.addr, "POST", "/register", &cookie, &body);
        assert_eq!(r.status, 403, "{cookie} {body}");
        assert!(r.body.contains("Không có gì được lưu"), "{}", r.body);
    }
    assert_eq!(self_registered(&store), 0);
    // Bad fields: each marked in the page's language, what was typed kept, nothing stored.
    let long = "a".repeat(sync_protocol::limits::MAX_CONTACT_CHARS + 1);
    let r = http(
        s.addr,
        "POST",
        "/register?lang=en",
        &format!("sk_reg={token}"),
        &format!("reg={token}&name=&contact={long}&title=&summary=Gi%E1%BA%A3m&sector=x&benefit=2%2C5+t%E1%BB%B7"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    for id in [
        "form-errors",
        "err-name",
        "err-contact",
        "err-title",
        "err-sector",
        "err-benefit",
    ] {
        assert!(r.body.contains(&format!("id=\"{id}\"")), "{id}: {}", r.body);
    }
    assert!(r.body.contains("Not saved"), "English: {}", r.body);
    assert!(r.body.contains(">Giảm</textarea>"), "kept");
    assert!(!r.body.contains("--"), "no command-line flag in the page");
    assert_eq!(self_registered(&store), 0);
    // A body over the bound: refused before it is read whole.
    let big = format!(
        "reg={token}&summary={}",
        "x".repeat(sync_protocol::limits::MAX_SELF_REGISTRATION_FORM_BYTES)
    );
    let r = http(
        s.addr,
        "POST",
        "/register",
        &format!("sk_reg={token}"),
        &big,
    );
    assert_eq!(r.status, 413);
    assert_eq!(self_registered(&store), 0);
}

#[test]
fn self_registration_is_rate_limited_per_address() {
    use sync_protocol::limits::{
        MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT, SELF_REGISTRATION_WINDOW_S,
    };
    let (s, store) = serve_grassroots("web-reg-limit");
    node::self_registration::set_state(&store, true, None, T0).unwrap();
    let token = registration_token(s.addr);
    let cookie = format!("sk_reg={token}");
    // Bad forms count too.
    for i in 0..MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT {
        let r = http(
            s.addr,
            "POST",
            "/register",
            &cookie,
            &format!("reg={token}&title="),
        );
        assert_eq!(r.status, 422, "form {i}");
    }
    let r = http(
        s.addr,
        "POST",
        "/register",
        &cookie,
        &format!("reg={token}&{GOOD_FORM}"),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("quá nhiều đăng ký"), "{}", r.body);
    assert_eq!(self_registered(&store), 0, "nothing stored");
    // The next window takes forms again.
    s.clock
        .fetch_add(SELF_REGISTRATION_WINDOW_S * 1000, Ordering::SeqCst);
    let r = http(
        s.addr,
        "POST",
        "/register",
        &cookie,
        &format!("reg={token}&{GOOD_FORM}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(self_registered(&store), 1);
}

// ---- the inbox, the initiative form and page (web::initiatives) ---------------------------
// Several decisions at once (mixed allowed and refused), attachments (upload, too big refused
// with nothing stored, download, confidential ones by role), editing, what changed since the
// judged state, and authority refusals with their rule, also for forged POSTs.

mod initiatives {
    use super::*;
    use node::records;
    use node::Node;
    use sync_protocol::entry::{DecisionKind, UnitRole};
    use sync_protocol::ids::RecordId;
    use sync_protocol::limits::{
        MAX_ATTACHMENT_BYTES, MAX_WEB_FORM_PARTS_COUNT, MAX_WEB_UPLOAD_BYTES,
    };
    use sync_protocol::record::{Application, Author, Description, Initiative, RecordContent};
    use sync_protocol::store::EntryStore;
    use sync_protocol::text::Text;
    use tests::{enrol, text};

    type Shared = Arc<tokio::sync::Mutex<Node>>;

    struct At {
        addr: SocketAddr,
        node: Shared,
        data: std::path::PathBuf,
        _rt: tokio::runtime::Runtime,
    }

    /// Serves `node`'s interface, with a support officer `hotro`, an appraiser `thamdinh` and
    /// an operator `vanhanh`.
    fn serve_node(node: Node) -> At {
        for (login, name, title, role) in [
            ("hotro", "Lê Thị Hoa", "Tổ hỗ trợ sáng kiến", Role::Support),
            ("thamdinh", "Phạm Văn Đức", "Phó Chủ tịch", Role::Appraiser),
            (
                "vanhanh",
                "Nguyễn Văn An",
                "Cán bộ vận hành",
                Role::Operator,
            ),
        ] {
            officers::add(node.store(), login, name, title, &[role], PASSWORD, T0).unwrap();
        }
        let data = node.dir().to_owned();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared: Shared = Arc::new(tokio::sync::Mutex::new(node));
        let s2 = shared.clone();
        let addr = rt.block_on(async move {
            let config = WebConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..WebConfig::default()
            };
            let listener = node::web::bind(&config).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let web = Web::new(s2, config, Arc::new(|| {}), Arc::new(|| T0 + 10_000)).await;
            tokio::spawn(web.serve(listener));
            addr
        });
        At {
            addr,
            node: shared,
            data,
            _rt: rt,
        }
    }

    /// A session cookie and the CSRF token of `page`.
    fn session(addr: SocketAddr, who: &str, page: &str) -> (String, String) {
        let cookie = format!("sk_session={}", login(addr, who, PASSWORD).ok().unwrap());
        let p = http(addr, "GET", page, &cookie, "");
        assert_eq!(p.status, 200, "{page}: {}", p.body);
        (cookie, p.hidden("csrf").unwrap())
    }

    fn initiative(origin: &Node, title: &str) -> Initiative {
        Initiative {
            title: text(title),
            authors: vec![Author {
                name: text("Lê Thị Mai"),
                position: text("Kỹ sư"),
            }],
            origin: origin.unit().clone(),
            superior: origin
                .directory()
                .parent_at(origin.unit(), T0)
                .cloned()
                .unwrap(),
            programme: None,
            phase: 0,
            sector: sync_protocol::entry::Sector::ProductionBusiness,
            summary: text("Giảm hao hụt"),
            registered_on: sync_protocol::date::Date::from_unix_ms(T0),
            description: Description::default(),
            benefit_vnd: 2_400_000_000,
            application: Application::Applied,
            recognition: None,
            confidential: false,
            attachments: Vec::new(),
            commitment_salt: None,
        }
    }

    fn register(n: &mut Node, title: &str, submit: bool) -> RecordId {
        let i = initiative(n, title);
        let id = records::create(n, &RecordContent::Initiative(Box::new(i)), T0).unwrap();
        if submit {
            decide(n, id, DecisionKind::Submit);
        }
        id
    }

    fn decide(n: &mut Node, id: RecordId, kind: DecisionKind) {
        let t = |s: &str| Text::new("t", s, 200).unwrap();
        records::decide(n, id, kind, t("Lê Thị Hoa"), t("Tổ hỗ trợ"), t(""), T0 + 1).unwrap();
    }

    /// national → district → two grassroots unions.
    fn federation(tmp: &TempDir) -> (Node, Node, Node, Node) {
        let mut tld = root(tmp.path(), T0);
        let mut d = enrol(
            &mut tld,
            tmp.path(),
            "ldld-q1",
            UnitRole::DirectSuperior,
            T0,
        );
        let a = enrol(&mut d, tmp.path(), "cdcs-a", UnitRole::Grassroots, T0);
        let b = enrol(&mut d, tmp.path(), "cdcs-b", UnitRole::Grassroots, T0);
        (tld, d, a, b)
    }

    fn status_of(at: &At, id: RecordId) -> Option<(DecisionKind, String)> {
        let n = at.node.blocking_lock();
        records::check(&n, id, T0 + 20_000)
            .unwrap()
            .status
            .map(|(k, u, _)| (k, u.to_string()))
    }

    #[test]
    fn the_inbox_decides_several_at_once_and_says_what_happened_to_each() {
        let tmp = TempDir::new("web-inbox-batch");
        let (_tld, mut d, mut a, mut b) = federation(&tmp);
        let ia = register(&mut a, "Máy cấp đá tự động", true);
        let ib = register(&mut a, "Quy trình bảo quản cá ngừ", true);
        let ic = register(&mut a, "Băng tải phân loại", true);
        let draft = register(&mut a, "Bản nháp chưa nộp", false);
        let id_ = register(&mut b, "Sổ tay an toàn", true);
        for n in [&a, &b] {
            d.import(n.all_entries().unwrap(), T0 + 2).unwrap();
        }
        // Already approved here: the next decision on it is the national level's.
        decide(&mut d, ic, DecisionKind::Approve);
        let at = serve_node(d);
        let (cookie, csrf) = session(at.addr, "thamdinh", "/inbox");
        let inbox = http(at.addr, "GET", "/inbox", &cookie, "");
        for (id, waiting) in [
            (ia, true),
            (ib, true),
            (id_, true),
            (ic, false),
            (draft, false),
        ] {
            assert_eq!(
                inbox.body.contains(&format!("pick-{}", id.to_hex())),
                waiting,
                "{id:?} in the inbox: {}",
                inbox.body
            );
        }
        assert!(inbox.body.contains("batch-do"));

        // A return without its reason: refused whole, nothing recorded.
        let ids = |v: &[&str]| v.iter().map(|i| format!("&id={i}")).collect::<String>();
        let r = http(
            at.addr,
            "POST",
            "/inbox/decide",
            &cookie,
            &format!("csrf={csrf}&kind=return&note={}", ids(&[&ia.to_hex()])),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Khi trả lại cần ghi lý do"), "{}", r.body);
        assert_eq!(status_of(&at, ia).unwrap().0, DecisionKind::Submit);

        // No decision chosen: refused whole with what to do.
        let r = http(
            at.addr,
            "POST",
            "/inbox/decide",
            &cookie,
            &format!("csrf={csrf}&kind=&note={}", ids(&[&ia.to_hex()])),
        );
        assert_eq!(r.status, 422);
        assert!(
            r.body
                .contains("Chọn quyết định cho các sáng kiến đã đánh dấu"),
            "{}",
            r.body
        );
        assert_eq!(status_of(&at, ia).unwrap().0, DecisionKind::Submit);

        // A support officer may not approve: the role's rule, nothing recorded.
        let (sup, sup_csrf) = session(at.addr, "hotro", "/inbox");
        let r = http(
            at.addr,
            "POST",
            "/inbox/decide",
            &sup,
            &format!("csrf={sup_csrf}&kind=approve{}", ids(&[&ia.to_hex()])),
        );
        assert_eq!(r.status, 403);
        assert!(
            r.body.contains("Quy tắc: chỉ cán bộ có vai trò Thẩm định"),
            "{}",
            r.body
        );
        assert_eq!(status_of(&at, ia).unwrap().0, DecisionKind::Submit);

        // Approve four at once, one of them (C) not this unit's turn, one not an id, one draft.
        let r = http(
            at.addr,
            "POST",
            "/inbox/decide",
            &cookie,
            &format!(
                "csrf={csrf}&kind=approve&note=%C4%90%E1%BA%A1t{}",
                ids(&[
                    &ia.to_hex(),
                    &ic.to_hex(),
                    "zz",
                    &ib.to_hex(),
                    &draft.to_hex(),
                    &id_.to_hex()
                ])
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let result = |id: RecordId| {
            let at = r
                .body
                .find(&format!("id=\"result-{}\"", id.to_hex()))
                .unwrap();
            let start = r.body[..at].rfind("<li").unwrap();
            let end = at + r.body[at..].find("</li>").unwrap();
            r.body[start..end].to_owned()
        };
        for id in [ia, ib, id_] {
            let line = result(id);
            assert!(
                line.contains("class=\"ok\"") && line.contains("Đã ghi quyết định"),
                "{line}"
            );
            assert_eq!(
                status_of(&at, id),
                Some((DecisionKind::Approve, "ldld-q1".into()))
            );
        }
        let c = result(ic);
        assert!(
            c.contains("class=\"err\"")
                && c.contains("Quy tắc: mỗi cấp chỉ quyết định sau cấp ngay dưới nó"),
            "{c}"
        );
        let dr = result(draft);
        assert!(
            dr.contains("Quy tắc: quyết định đầu tiên về một sáng kiến phải là nộp"),
            "{dr}"
        );
        assert!(r.body.contains("Không phải mã sáng kiến"), "{}", r.body);
        // The refused items are untouched: C still carries the one approval, the draft none.
        assert_eq!(
            status_of(&at, ic),
            Some((DecisionKind::Approve, "ldld-q1".into()))
        );
        assert_eq!(status_of(&at, draft), None);
        // Each decision names the logged-in officer and is in the audit log.
        let page = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}", ia.to_hex()),
            &cookie,
            "",
        );
        assert!(
            page.body.contains("Phạm Văn Đức, Phó Chủ tịch"),
            "{}",
            page.body
        );
        let n = at.node.blocking_lock();
        let log = officers::recent_audit(n.store(), 50).unwrap();
        drop(n);
        let done = log
            .iter()
            .filter(|l| l.action == "decide" && l.login == "thamdinh")
            .count();
        let refused = log
            .iter()
            .filter(|l| l.action == "decide_refused" && l.detail.ends_with("(batch)"))
            .count();
        assert_eq!((done, refused), (3, 3), "{log:?}");
        // Nothing waits any more.
        let inbox = http(at.addr, "GET", "/inbox", &cookie, "");
        assert!(inbox.body.contains("inbox-empty"), "{}", inbox.body);
    }

    /// The node's batch, without the web's checks in front: the verifier judges each request,
    /// a refused one stores nothing and does not stop the others.
    #[test]
    fn decide_all_judges_each_request_on_its_own() {
        use node::decisions::{decide_all, ItemRefusal, Outcome, Request};
        let tmp = TempDir::new("web-decide-all");
        let (_tld, mut d, mut a, _b) = federation(&tmp);
        let ia = register(&mut a, "Máy cấp đá tự động", true);
        let ic = register(&mut a, "Băng tải phân loại", true);
        let draft = register(&mut a, "Bản nháp chưa nộp", false);
        d.import(a.all_entries().unwrap(), T0 + 2).unwrap();
        decide(&mut d, ic, DecisionKind::Approve);
        let entries_before = d.all_entries().unwrap().len();
        let t = |s: &str| Text::new("t", s, 200).unwrap();
        let req = |record, kind| Request {
            record,
            kind,
            note: t(""),
        };
        let out = decide_all(
            &mut d,
            &[
                req(ia, DecisionKind::Approve),
                req(ic, DecisionKind::Approve),
                req(ia, DecisionKind::Reject),
                req(draft, DecisionKind::Approve),
                req(RecordId([9; 16]), DecisionKind::Approve),
            ],
            &t("Phạm Văn Đức"),
            &t("Phó Chủ tịch"),
            T0 + 3,
        )
        .unwrap();
        assert!(matches!(out[0], Outcome::Done(_)), "{out:?}");
        assert!(
            matches!(
                &out[1],
                Outcome::Refused(ItemRefusal::Node(node::NodeError::Rejected(_)))
            ),
            "{out:?}"
        );
        assert!(
            matches!(out[2], Outcome::Refused(ItemRefusal::Twice(_))),
            "{out:?}"
        );
        assert!(
            matches!(
                &out[3],
                Outcome::Refused(ItemRefusal::Node(node::NodeError::Rejected(_)))
            ),
            "{out:?}"
        );
        assert!(
            matches!(out[4], Outcome::Refused(ItemRefusal::Node(_))),
            "{out:?}"
        );
        assert_eq!(
            d.all_entries().unwrap().len(),
            entries_before + 1,
            "one decision stored"
        );
        let status = |id| records::check(&d, id, T0 + 4).unwrap().status.map(|s| s.0);
        assert_eq!(status(ia), Some(DecisionKind::Approve));
        assert_eq!(status(ic), Some(DecisionKind::Approve));
        assert_eq!(status(draft), None);
        // Over the bound: refused whole before anything is signed.
        let many: Vec<Request> = (0..=sync_protocol::limits::MAX_DECISIONS_PER_BATCH_COUNT)
            .map(|_| req(ia, DecisionKind::Recognise))
            .collect();
        assert!(matches!(
            decide_all(&mut d, &many, &t("A"), &t("B"), T0 + 5),
            Err(node::decisions::BatchError::TooMany { .. })
        ));
        assert_eq!(d.all_entries().unwrap().len(), entries_before + 1);
    }

    #[test]
    fn a_forged_decision_is_refused_with_the_rule() {
        let tmp = TempDir::new("web-inbox-forged");
        let (_tld, mut d, mut a, _b) = federation(&tmp);
        let ia = register(&mut a, "Máy cấp đá tự động", true);
        d.import(a.all_entries().unwrap(), T0 + 2).unwrap();
        decide(&mut d, ia, DecisionKind::Approve);
        let at = serve_node(d);
        let (cookie, csrf) = session(
            at.addr,
            "thamdinh",
            &format!("/initiatives/{}", ia.to_hex()),
        );
        // No button offers it, the form is forged: the chain's rule, in each language.
        for (lang, rule) in [
            ("", "Quy tắc: mỗi cấp chỉ quyết định sau cấp ngay dưới nó"),
            (
                "?lang=en",
                "Rule: each level decides only after the level just below it",
            ),
        ] {
            let r = http(
                at.addr,
                "POST",
                &format!("/initiatives/{}/decide{lang}", ia.to_hex()),
                &cookie,
                &format!("csrf={csrf}&kind=approve&note="),
            );
            assert_eq!(r.status, 403, "{}", r.body);
            assert!(r.body.contains(rule), "{}", r.body);
            assert!(
                !r.body.contains("not this unit's turn in the chain\"")
                    && !r.body.contains("NodeError")
            );
        }
        // A submission forged at the district: only the origin submits.
        let r = http(
            at.addr,
            "POST",
            &format!("/initiatives/{}/decide", ia.to_hex()),
            &cookie,
            &format!("csrf={csrf}&kind=submit&note="),
        );
        assert_eq!(r.status, 403);
        assert!(
            r.body.contains("Quy tắc: chỉ nộp khi bắt đầu chuỗi"),
            "{}",
            r.body
        );
        assert_eq!(
            status_of(&at, ia),
            Some((DecisionKind::Approve, "ldld-q1".into()))
        );
        // Editing is the origin's: refused here with its rule.
        let r = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}/edit", ia.to_hex()),
            &cookie,
            "",
        );
        assert_eq!(r.status, 403);
        let (sup, _) = session(at.addr, "hotro", "/");
        let r = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}/edit", ia.to_hex()),
            &sup,
            "",
        );
        assert_eq!(r.status, 403);
        assert!(r.body.contains("Quy tắc: chỉ đơn vị gốc"), "{}", r.body);
    }

    /// A multipart body: text fields, then files (name, bytes).
    fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
        let boundary = "----skBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (name, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    /// Sends a request with any body; `length` overrides the declared length (the body is not
    /// sent then).
    fn send(
        addr: SocketAddr,
        path: &str,
        cookie: &str,
        content_type: &str,
        body: &[u8],
        length: Option<usize>,
    ) -> Resp {
        let mut s = TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            length.unwrap_or(body.len())
        );
        s.write_all(head.as_bytes()).unwrap();
        if length.is_none() {
            s.write_all(body).unwrap();
        }
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
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

    fn get_bytes(
        addr: SocketAddr,
        path: &str,
        cookie: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers, raw[split + 4..].to_vec())
    }

    fn form_fields<'a>(csrf: &'a str, title: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("csrf", csrf),
            ("title", title),
            ("summary", "Giảm 40 % thời gian phân loại"),
            ("sector", "production-business"),
            ("benefit", "2.400.000.000"),
            ("registered_on", "15/07/2022"),
            ("application", "applied"),
            ("author_name_0", "Lê Thị Mai"),
            ("author_pos_0", "Kỹ sư chế biến"),
            ("author_name_1", "Trần Văn Bình"),
            ("author_pos_1", "Tổ trưởng"),
            ("employer_decision", "125/QĐ-CT"),
            ("employer_date", "20/09/2022"),
            ("employer_reward", "Giấy khen"),
        ]
    }

    fn blob_files(data: &std::path::Path) -> usize {
        fn walk(p: &std::path::Path) -> usize {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            if e.path().is_dir() {
                                walk(&e.path())
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&data.join(node::blobs::BLOB_DIR))
    }

    fn records_count(at: &At) -> usize {
        at.node.blocking_lock().store().records().unwrap().len()
    }

    fn location_id(r: &Resp) -> String {
        assert_eq!(r.status, 303, "{}", r.body);
        r.header("location")
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn attachments_are_uploaded_refused_when_too_big_and_downloaded() {
        let tmp = TempDir::new("web-form-files");
        let (_tld, _d, a, _b) = federation(&tmp);
        let at = serve_node(a);
        let (cookie, csrf) = session(at.addr, "hotro", "/initiatives/new");
        let before = records_count(&at);
        let mau4 = "BÁO CÁO MÔ TẢ SÁNG KIẾN (Mẫu 4)\r\n--not a boundary\r\n".as_bytes();

        // A file over the limit, inside a body under the form's bound: the field is marked and
        // nothing is stored, neither the record nor a blob.
        let big = vec![7u8; MAX_ATTACHMENT_BYTES as usize + 1];
        let (ct, body) = multipart(
            &form_fields(&csrf, "Máy cấp đá"),
            &[("mau4.txt", mau4), ("video.mp4", &big)],
        );
        assert!(body.len() <= MAX_WEB_UPLOAD_BYTES);
        let r = send(at.addr, "/initiatives/new", &cookie, &ct, &body, None);
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("id=\"err-files\""), "{}", r.body);
        assert!(r.body.contains("quá giới hạn 25 MiB"), "{}", r.body);
        assert!(
            r.body.contains("value=\"Máy cấp đá\""),
            "what was typed is kept"
        );
        assert_eq!((records_count(&at), blob_files(&at.data)), (before, 0));

        // A body declared over the bound: refused before it is read, with the limit named.
        let r = send(
            at.addr,
            "/initiatives/new",
            &cookie,
            &ct,
            &[],
            Some(MAX_WEB_UPLOAD_BYTES + 1),
        );
        assert_eq!(r.status, 413, "{}", r.body);
        assert!(r.body.contains("tối đa 32 MiB"), "{}", r.body);
        assert_eq!((records_count(&at), blob_files(&at.data)), (before, 0));

        // A malformed body: refused as unreadable, nothing stored.
        let r = send(
            at.addr,
            "/initiatives/new",
            &cookie,
            &ct,
            b"--not-the-boundary\r\n",
            None,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("không đọc được biểu mẫu"), "{}", r.body);
        assert_eq!((records_count(&at), blob_files(&at.data)), (before, 0));
        // Cut off before its last boundary, a type without its boundary, more parts than the
        // bound (the good fields first): refused the same way, as the page says, nothing stored.
        let (_, good) = multipart(&form_fields(&csrf, "Máy cấp đá"), &[("mau4.txt", mau4)]);
        let cut = &good[..good.len() - 10];
        let mut fields = form_fields(&csrf, "Máy cấp đá");
        let names: Vec<String> = (0..MAX_WEB_FORM_PARTS_COUNT)
            .map(|i| format!("extra_{i}"))
            .collect();
        fields.extend(names.iter().map(|n| (n.as_str(), "x")));
        assert!(fields.len() > MAX_WEB_FORM_PARTS_COUNT);
        let (_, many) = multipart(&fields, &[]);
        for (what, ct, body) in [
            ("cut off", ct.as_str(), cut),
            ("no boundary", "multipart/form-data", &good[..]),
            ("too many parts", ct.as_str(), &many[..]),
        ] {
            let r = send(at.addr, "/initiatives/new", &cookie, ct, body, None);
            assert_eq!(r.status, 400, "{what}: {}", r.body);
            assert!(
                r.body.contains("không đọc được biểu mẫu"),
                "{what}: {}",
                r.body
            );
            assert!(
                r.body.contains("Không có gì được lưu"),
                "{what}: {}",
                r.body
            );
            assert_eq!((records_count(&at), blob_files(&at.data)), (before, 0));
        }

        // A bad field with a good file: nothing stored either.
        let mut bad = form_fields(&csrf, "Máy cấp đá");
        bad.retain(|(k, _)| *k != "employer_date");
        let (ct, body) = multipart(&bad, &[("mau4.txt", mau4)]);
        let r = send(at.addr, "/initiatives/new", &cookie, &ct, &body, None);
        assert_eq!(r.status, 422);
        assert!(r.body.contains("id=\"err-employer_date\""), "{}", r.body);
        assert_eq!((records_count(&at), blob_files(&at.data)), (before, 0));

        // The good form: the record and its file, together.
        let (ct, body) = multipart(&form_fields(&csrf, "Máy cấp đá"), &[("mau4.txt", mau4)]);
        let id = location_id(&send(
            at.addr,
            "/initiatives/new",
            &cookie,
            &ct,
            &body,
            None,
        ));
        assert_eq!((records_count(&at), blob_files(&at.data)), (before + 1, 1));
        let page = http(at.addr, "GET", &format!("/initiatives/{id}"), &cookie, "");
        for shown in [
            "2.400.000.000 đ",
            "Lê Thị Mai — Kỹ sư chế biến",
            "Trần Văn Bình — Tổ trưởng",
            "Quyết định số 125/QĐ-CT ngày 20/09/2022 — Giấy khen",
            "mau4.txt",
        ] {
            let text = page.body.replace("&#x2f;", "/");
            assert!(text.contains(shown), "{shown}: {}", page.body);
        }
        let text = page.body.replace("&#x2f;", "/");
        let at_href = text.find(&format!("/initiatives/{id}/files/")).unwrap();
        let href = &text[at_href..at_href + text[at_href..].find('"').unwrap()];
        let (status, headers, bytes) = get_bytes(at.addr, href, &cookie);
        assert_eq!(status, 200);
        assert_eq!(bytes, mau4);
        assert!(headers
            .iter()
            .any(|(k, v)| k == "content-disposition" && v.contains("mau4.txt")));
        // A hash alone opens nothing: through another record, or unknown, it is not found.
        let hash = href.rsplit('/').next().unwrap();
        let other = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}", "00".repeat(16)),
            &cookie,
            "",
        );
        assert_eq!(other.status, 404);
        let (status, _, _) = get_bytes(
            at.addr,
            &format!("/initiatives/{}/files/{hash}", "00".repeat(16)),
            &cookie,
        );
        assert_eq!(status, 404);

        // Editing the draft through the same form: new title, another file.
        let edit = http(
            at.addr,
            "GET",
            &format!("/initiatives/{id}/edit"),
            &cookie,
            "",
        );
        assert_eq!(edit.status, 200);
        assert!(
            edit.body.contains("value=\"Máy cấp đá\"")
                && edit.body.contains("value=\"Trần Văn Bình\"")
        );
        let (ct, body) = multipart(
            &form_fields(&csrf, "Máy cấp đá tự động"),
            &[("ban-ve.pdf", b"%PDF-1.4 ban ve")],
        );
        assert_eq!(
            location_id(&send(
                at.addr,
                &format!("/initiatives/{id}/edit"),
                &cookie,
                &ct,
                &body,
                None
            )),
            id
        );
        let page = http(at.addr, "GET", &format!("/initiatives/{id}"), &cookie, "");
        assert!(
            page.body.contains("Máy cấp đá tự động")
                && page.body.contains("ban-ve.pdf")
                && page.body.contains("mau4.txt")
        );
        assert_eq!((records_count(&at), blob_files(&at.data)), (before + 1, 2));

        // Once submitted, the form refuses an edit with the rule.
        let r = http(
            at.addr,
            "POST",
            &format!("/initiatives/{id}/decide"),
            &cookie,
            &format!("csrf={csrf}&kind=submit&note="),
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let (ct, body) = multipart(&form_fields(&csrf, "Sửa sau khi nộp"), &[]);
        let r = send(
            at.addr,
            &format!("/initiatives/{id}/edit"),
            &cookie,
            &ct,
            &body,
            None,
        );
        assert_eq!(r.status, 403);
        assert!(
            r.body
                .contains("Quy tắc: sáng kiến chỉ được sửa khi mới đăng ký"),
            "{}",
            r.body
        );

        // A confidential initiative's file: support may download it, an operator may not.
        let mut conf = form_fields(&csrf, "Công thức bí mật");
        conf.push(("confidential", "1"));
        let (ct, body) = multipart(&conf, &[("cong-thuc.txt", b"bi mat")]);
        let cid = location_id(&send(
            at.addr,
            "/initiatives/new",
            &cookie,
            &ct,
            &body,
            None,
        ));
        let page = http(at.addr, "GET", &format!("/initiatives/{cid}"), &cookie, "");
        let text = page.body.replace("&#x2f;", "/");
        let at_href = text.find(&format!("/initiatives/{cid}/files/")).unwrap();
        let href = text[at_href..at_href + text[at_href..].find('"').unwrap()].to_owned();
        assert_eq!(get_bytes(at.addr, &href, &cookie).0, 200);
        let (op, _) = session(at.addr, "vanhanh", "/");
        let r = http(at.addr, "GET", &href, &op, "");
        assert_eq!(r.status, 403);
        assert!(
            r.body
                .contains("Quy tắc: tệp đính kèm của sáng kiến có bí mật công nghệ"),
            "{}",
            r.body
        );
        let page = http(at.addr, "GET", &format!("/initiatives/{cid}"), &op, "");
        let text = page.body.replace("&#x2f;", "/");
        assert!(
            !text.contains(&href) && text.contains("cong-thuc.txt"),
            "no link for whom may not download"
        );
    }

    #[test]
    fn a_returned_initiative_is_edited_again_through_the_form() {
        let tmp = TempDir::new("web-returned");
        let (_tld, mut d, mut a, _b) = federation(&tmp);
        let id = register(&mut a, "Máy cấp đá", true);
        d.import(a.all_entries().unwrap(), T0 + 2).unwrap();
        let t = |s: &str| Text::new("t", s, 200).unwrap();
        records::decide(
            &mut d,
            id,
            DecisionKind::ReturnForRevision,
            t("Phạm Văn Đức"),
            t("Phó Chủ tịch"),
            t("Bổ sung Mẫu 4"),
            T0 + 3,
        )
        .unwrap();
        a.import(d.all_entries().unwrap(), T0 + 4).unwrap();
        let at = serve_node(a);
        let (cookie, csrf) = session(at.addr, "hotro", &format!("/initiatives/{}", id.to_hex()));
        let page = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}", id.to_hex()),
            &cookie,
            "",
        );
        assert!(page.body.contains("id=\"edit\"") && page.body.contains("Bổ sung Mẫu 4"));
        let mut fields = form_fields(&csrf, "Máy cấp đá");
        fields.push(("solution", "Băng tải có cảm biến trọng lượng"));
        let (ct, body) = multipart(&fields, &[]);
        let r = send(
            at.addr,
            &format!("/initiatives/{}/edit", id.to_hex()),
            &cookie,
            &ct,
            &body,
            None,
        );
        assert_eq!(location_id(&r), id.to_hex());
        let page = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}", id.to_hex()),
            &cookie,
            "",
        );
        assert!(
            page.body.contains("Băng tải có cảm biến trọng lượng"),
            "{}",
            page.body
        );
        // Submitted again, it is no longer editable.
        assert!(page.body.contains("id=\"do-submit\""));
    }

    /// The node's save with files: blobs are placed before the record change and removed
    /// again when the change is refused; a blob already held (named by another record) stays.
    #[test]
    fn a_refused_save_leaves_no_blob_behind() {
        let tmp = TempDir::new("web-refused-blob");
        let (_tld, _d, mut a, _b) = federation(&tmp);
        let id = register(&mut a, "Máy cấp đá", false);
        let dir = a.dir().to_owned();
        let name = Text::new("n", "mau4.txt", 200).unwrap();
        let stage = |b: &[u8]| node::blobs::stage_bytes(&dir, "mau4.txt", b).unwrap();
        assert!(records::attach(&mut a, id, stage(b"da co"), name.clone(), T0 + 1).unwrap());
        let held = sync_protocol::ids::ContentHash(*blake3::hash(b"da co").as_bytes());
        let fresh = sync_protocol::ids::ContentHash(*blake3::hash(b"moi").as_bytes());
        let refused = records::edit_attached(
            &mut a,
            id,
            |c| {
                if let RecordContent::Initiative(i) = c {
                    i.benefit_vnd = sync_protocol::limits::MAX_BENEFIT_VND + 1;
                }
            },
            vec![(stage(b"moi"), name.clone()), (stage(b"da co"), name)],
            T0 + 2,
        );
        assert!(refused.is_err());
        assert!(
            !node::blobs::contains(&dir, &fresh),
            "the refused save's blob is gone"
        );
        assert!(
            node::blobs::contains(&dir, &held),
            "a blob a record names stays"
        );
        let rep = records::check(&a, id, T0 + 3).unwrap();
        let Some(RecordContent::Initiative(i)) = rep.content else {
            panic!("held")
        };
        assert_eq!((i.attachments.len(), i.benefit_vnd), (1, 2_400_000_000));
        assert_eq!(blob_files(&dir), 1, "no staging file either");
    }

    #[test]
    fn the_page_shows_what_changed_since_the_judged_state() {
        let tmp = TempDir::new("web-changed");
        let (_tld, _d, mut a, _b) = federation(&tmp);
        let id = register(&mut a, "Máy cấp đá", true);
        let unchanged = register(&mut a, "Sổ tay an toàn", true);
        // Edited after its submission (as `sangkien initiative edit` may).
        records::edit(
            &mut a,
            id,
            |c| {
                if let RecordContent::Initiative(i) = c {
                    i.title = text("Máy cấp đá tự động");
                    i.benefit_vnd = 3_100_000_000;
                }
            },
            T0 + 5,
        )
        .unwrap();
        let at = serve_node(a);
        let (cookie, _) = session(at.addr, "hotro", "/");
        let page = http(at.addr, "GET", &format!("/initiatives/{id}"), &cookie, "");
        assert!(page.body.contains("id=\"differs\""), "{}", page.body);
        let table = &page.body[page.body.find("id=\"changes\"").expect("the changes table")..];
        let table = &table[..table.find("</table>").unwrap()];
        for (field, before, after) in [
            ("Tên sáng kiến", "Máy cấp đá", "Máy cấp đá tự động"),
            (
                "Giá trị làm lợi (đồng)",
                "2.400.000.000 đ",
                "3.100.000.000 đ",
            ),
        ] {
            assert!(
                table.contains(&format!(
                    "<td>{field}</td><td class=\"skf-before\">{before}</td><td class=\"skf-after\">{after}</td>"
                )),
                "{field}: {table}"
            );
        }
        assert_eq!(
            table.matches("<tr>").count(),
            3,
            "a header and two changed fields: {table}"
        );
        let en = http(
            at.addr,
            "GET",
            &format!("/initiatives/{id}?lang=en"),
            &cookie,
            "",
        );
        assert!(
            en.body.contains("When decided") && en.body.contains("<td>Title</td>"),
            "{}",
            en.body
        );
        let page = http(
            at.addr,
            "GET",
            &format!("/initiatives/{}", unchanged.to_hex()),
            &cookie,
            "",
        );
        assert!(!page.body.contains("id=\"changes\"") && !page.body.contains("id=\"differs\""));
        assert!(page.body.contains("id=\"valid\""));
    }
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
    // A wide chart for a desktop and a narrow one a phone shows instead (text at its size).
    assert!(dash
        .body
        .contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart-wide""#));
    assert!(dash
        .body
        .contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart-narrow""#));
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
