//! `sangkien bench web`: what every page of the web interface costs at a national node.
//!
//! Starts `sangkien node run` (a separate process, the real service) on a node made by
//! `sangkien bench national --dir DIR` (its `DIR/tld`), with its web interface on a free
//! loopback port; makes an officer account with every role (`bench-web`, in the node's own
//! accounts, before the service starts); logs in over HTTP as a browser does (the login form's
//! pre-session token, the session cookie) and requests every page and download `--requests`
//! times, one after the other: the dashboard, the list (first page, a page in the middle, the
//! last, one status, one sector, a child unit's subtree and a page deep in it), searches (a rare
//! word, a word every initiative has, and page 100 of it), an initiative's page, the inbox, targets, Mẫu 2 and its signed bundle,
//! reports and each download, sync, accounts.
//!
//! Server time is what the service says in its `Server-Timing: app;dur=…` header (from the
//! request reaching the router to the answer leaving it: the node's lock, the store, the
//! rendering); the loopback wall time (a new TCP connection per request, as the tests do) is
//! printed beside it. Bytes are the body as sent (no compression). Targets: p99 ≤ 100 ms of
//! server time, pages ≤ 100 KB (downloads are files and have no size target).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use node::officers::{self, Role};
use node::Node;
use sync_protocol::limits::MAX_WEB_PAGE_BYTES;

use super::bench::{fail, Scratch};
use super::bench_serve::{free_port, loadavg, rss_of, ServiceProcess};
use crate::Failure;

/// What `bench web` is asked.
pub struct WebArgs {
    /// The `bench national` directory, or a node's data directory.
    pub dir: PathBuf,
    /// Requests per page.
    pub requests: usize,
    /// Pages not to request, by name.
    pub skip: Vec<String>,
    /// The service's page cache, MiB.
    pub cache_mb: u64,
}

/// The account the benchmark logs in with.
const LOGIN: &str = "bench-web";
const PASSWORD: &str = "bench-web-mat-khau-1";
/// How long to wait for the service to open its node and listen.
/// The server-time goal for every page's 99th percentile, ms.
const TARGET_P99_MS: f64 = 100.0;

/// Runs `sangkien bench web`.
pub fn web(a: WebArgs) -> Result<u8, Failure> {
    if a.requests == 0 {
        return Err(Failure::input("--requests must be at least 1"));
    }
    let data = if a.dir.join("tld").join("node.json").exists() {
        a.dir.join("tld")
    } else if a.dir.join("node.json").exists() {
        a.dir.clone()
    } else {
        return Err(Failure::input(format!(
            "{}: neither a `bench national` directory nor a node's data directory (make one with `sangkien bench national --initiatives N --dir DIR`)",
            a.dir.display()
        )));
    };
    let data = std::fs::canonicalize(&data).map_err(fail)?;
    if node::control::request(&data, node::control::Request::Status).is_ok() {
        return Err(Failure::input(format!(
            "{}: a service already serves this node; stop it first (the benchmark starts its own)",
            data.display()
        )));
    }
    let scratch = Scratch::new(None, "web")?;
    crate::outln!("load before: {}", loadavg());

    // The account, written while no service holds the store.
    let t = Instant::now();
    // A child unit of the node's, for the list of one subtree.
    let child;
    let has_superior;
    {
        let node = Node::open(&data).map_err(fail)?;
        child = node.tree_children(node.unit()).first().cloned();
        has_superior = node
            .directory()
            .parent_at(node.unit(), node::now_ms())
            .is_some();
        let _ = officers::remove(node.store(), LOGIN);
        officers::add(
            node.store(),
            LOGIN,
            "Cán bộ đo hiệu năng",
            "Cán bộ vận hành",
            &Role::ALL,
            PASSWORD,
            node::now_ms(),
        )
        .map_err(fail)?;
    }
    crate::outln!(
        "account {LOGIN} (every role) written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The real service, in its own process, its web interface on a free loopback port.
    let http: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let quic: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let config = scratch.path.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nlisten = \"{quic}\"\nhttp_listen = \"{http}\"\nlog_level = \"warn\"\ncache_mb = {}\n",
            data.display().to_string(),
            a.cache_mb
        ),
    )
    .map_err(fail)?;
    let t = Instant::now();
    // Ready when its web interface answers.
    let service = ServiceProcess::start(&config, &scratch.path.join("service.log"), || {
        get(http, "/login", "").is_ok()
    })?;
    crate::outln!(
        "service pid {} serving {} (web on http://{http}): ready in {:.1} s, RSS {:.0} MiB",
        service.pid(),
        data.display(),
        t.elapsed().as_secs_f64(),
        rss_of(service.pid()) as f64 / 1048576.0
    );

    // Log in as a browser does.
    let form = get(http, "/login", "")?;
    let pre = form.cookie("sk_pre").ok_or_else(|| fail("no login form"))?;
    let r = request(
        http,
        "POST",
        "/login",
        &format!("sk_pre={pre}"),
        &format!("pre={pre}&next=%2F&login={LOGIN}&password={PASSWORD}"),
    )?;
    let session = r
        .cookie("sk_session")
        .filter(|_| r.status == 303)
        .ok_or_else(|| fail(format!("the login was refused ({})", r.status)))?;
    let cookies = format!("sk_session={session}");
    let first = get(http, "/initiatives", &cookies)?;
    let csrf = first
        .hidden("csrf")
        .ok_or_else(|| fail("no form token on the list page"))?;
    let body = String::from_utf8_lossy(&first.body).into_owned();
    let pages = body
        .find(" / ")
        .and_then(|i| {
            body[i + 3..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(1);
    let middle = (pages / 2).max(1);
    let one = body
        .match_indices("href=\"/initiatives/")
        .filter_map(|(i, _)| body.get(i + 19..i + 19 + 32))
        .find(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .ok_or_else(|| fail("no initiative on the list's first page"))?;
    crate::outln!("the list has {pages} pages; an initiative: {one}");

    let mut plan: Vec<(&str, String, Option<String>)> = vec![
        ("dashboard", "/".into(), None),
        ("list", "/initiatives".into(), None),
        ("list-middle", format!("/initiatives?page={middle}"), None),
        ("list-status", "/initiatives?status=approve".into(), None),
        ("list-last", format!("/initiatives?page={pages}"), None),
        ("list-sector", "/initiatives?sector=education".into(), None),
        ("search", "/initiatives?q=so+777".into(), None),
        // Every initiative `bench national` registers is "Sáng kiến số N": the densest search.
        ("search-all", "/initiatives?q=sang+kien".into(), None),
        (
            "search-p100",
            "/initiatives?q=sang+kien&page=100".into(),
            None,
        ),
        ("initiative", format!("/initiatives/{one}"), None),
    ];
    if let Some(c) = &child {
        plan.push(("list-unit", format!("/initiatives?unit={c}"), None));
        plan.push((
            "list-unit-middle",
            format!("/initiatives?unit={c}&page=20"),
            None,
        ));
    }
    plan.extend([
        ("inbox", "/inbox".into(), None),
        ("targets", "/targets".into(), None),
        ("mau2", "/mau2".into(), None),
        ("reports", "/reports".into(), None),
    ]);
    // The signed bundle goes to the superior: the national node has none, and the page does
    // not offer it there.
    if has_superior {
        plan.push((
            "mau2-bundle",
            "/mau2/bundle".into(),
            Some(format!("csrf={csrf}")),
        ));
    } else {
        crate::outln!("mau2-bundle: not offered at a node with no superior (the national node)");
    }
    for f in ["csv", "xlsx", "json", "svg", "png"] {
        let name: &'static str = match f {
            "csv" => "report.csv",
            "xlsx" => "report.xlsx",
            "json" => "report.json",
            "svg" => "report.svg",
            _ => "report.png",
        };
        plan.push((name, format!("/reports/download/{f}"), None));
    }
    // The phase holding the initiatives `bench national` registers (phase 1), beside the
    // default (current) phase the pages above show.
    plan.push(("dashboard-p1", "/?phase=1".into(), None));
    plan.push(("reports-p1", "/reports?phase=1".into(), None));
    plan.push(("targets-p1", "/targets?phase=1".into(), None));
    plan.push(("mau2-p1", "/mau2?phase=1".into(), None));
    plan.push((
        "report.xlsx-p1",
        "/reports/download/xlsx?phase=1".into(),
        None,
    ));
    plan.push((
        "report.png-p1",
        "/reports/download/png?phase=1".into(),
        None,
    ));
    plan.push(("sync", "/sync".into(), None));
    plan.push(("accounts", "/accounts".into(), None));

    crate::outln!(
        "{:<15} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10}  {}",
        "page",
        "n",
        "p50 ms",
        "p99 ms",
        "wall p50",
        "wall p99",
        "bytes",
        "goal (p99 ≤ 100 ms, ≤ 100 KB)"
    );
    let mut all_met = true;
    for (name, path, post) in &plan {
        if a.skip.iter().any(|s| s == name) {
            crate::outln!("{name:<15} skipped");
            continue;
        }
        let mut server = Vec::with_capacity(a.requests);
        let mut wall = Vec::with_capacity(a.requests);
        let mut bytes = 0usize;
        let mut status = 0;
        let mut parts: Vec<(String, Vec<f64>)> = Vec::new();
        for _ in 0..a.requests {
            let t = Instant::now();
            let r = match post {
                Some(body) => request(http, "POST", path, &cookies, body)?,
                None => get(http, path, &cookies)?,
            };
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            server.push(r.server_ms().unwrap_or(f64::NAN));
            for (k, v) in r.timings().into_iter().filter(|(k, _)| k != "app") {
                match parts.iter_mut().find(|(n, _)| *n == k) {
                    Some((_, vs)) => vs.push(v),
                    None => parts.push((k, vec![v])),
                }
            }
            bytes = bytes.max(r.body.len());
            status = r.status;
            if r.status != 200 {
                break;
            }
        }
        let file = name.starts_with("report.") || *name == "mau2-bundle";
        let (p50, p99) = (pct(&server, 50.0), pct(&server, 99.0));
        let met = status == 200 && p99 <= TARGET_P99_MS && (file || bytes <= MAX_WEB_PAGE_BYTES);
        all_met &= met;
        crate::outln!(
            "{name:<15} {:>5} {p50:>10.1} {p99:>10.1} {:>10.1} {:>10.1} {bytes:>10}  {}{}",
            server.len(),
            pct(&wall, 50.0),
            pct(&wall, 99.0),
            if status != 200 {
                format!("HTTP {status}")
            } else if met {
                "met".into()
            } else {
                "NOT met".into()
            },
            if file { " (a file: no size goal)" } else { "" }
        );
        for (k, vs) in &parts {
            crate::outln!(
                "  of which {k:<8} {:>10.1} {:>10.1}",
                pct(vs, 50.0),
                pct(vs, 99.0)
            );
        }
    }
    crate::outln!(
        "service RSS at the end {:.0} MiB; load after: {}",
        rss_of(service.pid()) as f64 / 1048576.0,
        loadavg()
    );
    drop(service);
    Ok(if all_met { 0 } else { 1 })
}

/// The `q`-th percentile (nearest rank) of `v`.
fn pct(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
    fn hidden(&self, name: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        let key = format!("name=\"{name}\" value=\"");
        let at = body.find(&key)? + key.len();
        let rest = &body[at..];
        Some(rest[..rest.find('"')?].to_owned())
    }
    /// The service's own time (`Server-Timing: app;dur=…`), ms.
    fn server_ms(&self) -> Option<f64> {
        self.timings()
            .into_iter()
            .find(|(k, _)| k == "app")
            .map(|(_, v)| v)
    }
    /// Every `name;dur=ms` of the `Server-Timing` headers.
    fn timings(&self) -> Vec<(String, f64)> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "server-timing")
            .flat_map(|(_, v)| v.split(','))
            .filter_map(|m| {
                let (name, dur) = m.trim().split_once(";dur=")?;
                Some((name.to_owned(), dur.trim().parse().ok()?))
            })
            .collect()
    }
}

fn get(addr: SocketAddr, path: &str, cookies: &str) -> Result<Resp, Failure> {
    request(addr, "GET", path, cookies, "")
}

/// One HTTP/1.1 request on a new connection, read to its end.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookies: &str,
    body: &str,
) -> Result<Resp, Failure> {
    let mut s = TcpStream::connect(addr).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(3600)))
        .map_err(fail)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(fail)?;
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| fail(format!("{path}: no HTTP answer")))?;
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
    Ok(Resp {
        status,
        headers,
        body: raw[at + 4..].to_vec(),
    })
}
