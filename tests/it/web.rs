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
