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
    (
        Served {
            addr,
            clock,
            _rt: rt,
            _tmp: tmp,
        },
        store,
    )
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
