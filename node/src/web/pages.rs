//! The pages: each handler parses the request, calls the node's use cases and renders.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use minijinja::{context, Value};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::Sector;
use sync_protocol::limits::WEB_PAGE_ROWS_COUNT;

use super::{auth, texts, Form, Page, Req, Web, WebError};
use crate::lang::Lang;
use crate::officers::{self, Role};
use crate::search::{self, Listed};

type St = State<Arc<Web>>;

pub(super) fn form(body: &str) -> Form {
    Form(super::form_urlencoded_pairs(body))
}

// ---- login ------------------------------------------------------------------------------

pub(super) async fn login_form(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    let next = super::form_urlencoded_pairs(&r.query)
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .unwrap_or_else(|| "/".into());
    login_page(&web, &r, &next, None, "")
}

fn login_page(web: &Web, r: &Req, next: &str, error: Option<String>, login: &str) -> Response {
    let pre = auth::token();
    let page = web.render(
        r,
        "login.html",
        context! { pre => pre.clone(), next => next, error => error, login_value => login },
    );
    let mut resp = web.finish(r, page);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "sk_pre={pre}; Path=/login; HttpOnly; SameSite=Strict{}",
        web.secure()
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".into()
    }
}

pub(super) async fn login(
    State(web): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    let f = form(&body);
    let pre_ok = match (super::cookie(&headers, "sk_pre"), f.get("pre")) {
        (Some(c), Some(p)) => auth::same_token(c, p),
        _ => false,
    };
    if !pre_ok {
        return web.finish(&r, Page::Error(WebError::bad_form()));
    }
    let login = f.str("login").trim().to_lowercase();
    let next = safe_next(f.str("next"));
    let now = web.now();
    if let Err(locked) = web.limiter.check(&login, peer.ip(), now) {
        web.audit(&login, "login_locked", &peer.ip().to_string());
        let until = r.lang.time(locked.until_ms);
        let msg = match r.lang {
            Lang::Vi => format!("Đăng nhập sai quá nhiều lần: tài khoản hoặc máy này bị tạm khóa đến {until}. Hãy thử lại sau, hoặc nhờ cán bộ vận hành đặt lại mật khẩu."),
            Lang::En => format!("Too many failed logins: this account or computer is locked until {until}. Try again later, or ask the operator to reset the password."),
        };
        let mut resp = login_page(&web, &r, &next, Some(msg), &login);
        *resp.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return resp;
    }
    let store = web.store.clone();
    let (l2, pw) = (login.clone(), f.str("password").to_owned());
    let found = tokio::task::spawn_blocking(move || officers::authenticate(&store, &l2, &pw))
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten();
    let Some(account) = found else {
        let locked = web.limiter.failed(&login, peer.ip(), now);
        web.audit(&login, "login_failed", &peer.ip().to_string());
        let msg = r
            .lang
            .t(
                "Sai tên đăng nhập hoặc mật khẩu.",
                "Wrong login name or password.",
            )
            .to_owned()
            + if locked {
                r.lang.t(
                    " Đã sai quá nhiều lần: tạm khóa 15 phút.",
                    " Too many failures: locked for 15 minutes.",
                )
            } else {
                ""
            };
        let mut resp = login_page(&web, &r, &next, Some(msg), &login);
        *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return resp;
    };
    web.limiter.succeeded(&account.login);
    if let Some(old) = &r.token {
        web.sessions.end(old);
    }
    let (token, _) = web.sessions.start(&account.login, now);
    web.audit(&account.login, "login", &peer.ip().to_string());
    let mut resp = web.finish(&r, Page::Redirect(next));
    resp.headers_mut()
        .append(header::SET_COOKIE, web.session_cookie(&token));
    resp
}

pub(super) async fn logout(State(web): St, headers: HeaderMap, uri: Uri, body: String) -> Response {
    let r = web.req(&headers, &uri);
    if !web.csrf_ok(&r, &form(&body)) {
        return web.finish(&r, Page::Error(WebError::bad_form()));
    }
    if let (Some(t), Some(s)) = (&r.token, &r.session) {
        web.sessions.end(t);
        web.audit(&s.login, "logout", "");
    }
    let mut resp = web.finish(&r, Page::Redirect("/login".into()));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "sk_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        web.secure()
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub(super) async fn not_found(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    web.finish(&r, Page::Error(WebError::not_found()))
}

macro_rules! page {
    ($web:expr, $r:expr, $body:expr) => {{
        let out: Result<Page, Page> = async { $body }.await;
        $web.finish(&$r, out.unwrap_or_else(|p| p))
    }};
}

// ---- dashboard ---------------------------------------------------------------------------

pub(super) fn status_label(lang: Lang, slot: &crate::report::Status) -> String {
    match slot {
        crate::report::Status::Registered => lang.t("Mới đăng ký", "Registered").into(),
        crate::report::Status::Decided(k) => {
            let s = lang.decision(*k);
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

pub(super) async fn dashboard(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    // Server time of the two parts, for `Server-Timing` (`sangkien bench web` prints them).
    let mut parts: Option<(f64, f64)> = None;
    let mut resp = page!(web, r, {
        web.account(&r)?;
        let lang = r.lang;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let now = web.now();
        let today = Date::from_unix_ms(now);
        // The node's progress report (`report::progress`, as `sangkien report`: O(children +
        // days) from the counters and the report index) and the inbox's count.
        let (ctx, waiting_ms, report_ms) = web
            .with_node(move |node| -> Result<(Value, f64, f64), WebError> {
                let t = std::time::Instant::now();
                let waiting = crate::search::inbox_count(node).map_err(super::store_error)?;
                let waiting_ms = t.elapsed().as_secs_f64() * 1000.0;
                let t = std::time::Instant::now();
                let Some(c) = super::progress::choose(node, &q, today, now)? else {
                    let ctx = context! { waiting => lang.int(waiting), report => Value::UNDEFINED };
                    return Ok((ctx, waiting_ms, t.elapsed().as_secs_f64() * 1000.0));
                };
                let rep = super::progress::report(node, &c, today, now)?;
                let children: Vec<Value> = rep
                    .children
                    .iter()
                    .take(super::progress::DASHBOARD_CHILDREN_COUNT)
                    .map(|ch| super::progress::child_row(lang, ch))
                    .collect();
                let ctx = context! {
                    waiting => lang.int(waiting),
                    report => super::progress::report_ctx(lang, &rep),
                    children,
                    more_children => rep.children.len() > super::progress::DASHBOARD_CHILDREN_COUNT,
                    children_total => lang.int(rep.children.len() as u64),
                    choices => super::progress::chooser(&c, "/"),
                    query => super::progress::query(&c),
                };
                Ok((ctx, waiting_ms, t.elapsed().as_secs_f64() * 1000.0))
            })
            .await??;
        parts = Some((waiting_ms, report_ms));
        Ok(web.render(&r, "dashboard.html", ctx))
    });
    if let Some((w, rep)) = parts {
        if let Ok(v) = HeaderValue::from_str(&format!("waiting;dur={w:.3}, report;dur={rep:.3}")) {
            resp.headers_mut().append("server-timing", v);
        }
    }
    resp
}

// ---- the list ----------------------------------------------------------------------------

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    origin: String,
    sector: String,
    benefit: String,
    status: String,
    date: String,
    confidential: bool,
}

fn status_of(lang: Lang, l: &Listed) -> String {
    match &l.status {
        None => lang.t("Mới đăng ký", "Registered").into(),
        Some((k, _, _)) => status_label(lang, &crate::report::Status::Decided(*k)),
    }
}

fn row(lang: Lang, l: &Listed) -> Row {
    Row {
        id: l.record.to_hex(),
        title: l.title.clone(),
        origin: l.origin_name.clone(),
        sector: lang.sector(l.sector).into(),
        benefit: lang.money(l.benefit_vnd),
        status: status_of(lang, l),
        date: l
            .registered_on
            .map(|d| lang.date(d))
            .unwrap_or_else(|| "—".into()),
        confidential: l.confidential,
    }
}

const STATUS_CODES: [&str; 7] = [
    "registered",
    "submit",
    "return",
    "reject",
    "approve",
    "recognise",
    "award",
];

pub(super) async fn list(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let lang = r.lang;
        let text = q.str("q").trim().to_owned();
        let status = q.str("status").to_owned();
        let sector = q.str("sector").to_owned();
        let page: usize = q.str("page").parse().unwrap_or(1).max(1);
        // Unknown filter values (a hand-edited address) are ignored, not errors.
        let status = if STATUS_CODES.contains(&status.as_str()) {
            status
        } else {
            String::new()
        };
        let sector = if Sector::ALL.iter().any(|s| s.code() == sector) {
            sector
        } else {
            String::new()
        };
        // A unit's subtree, by id (`unit=`); an unknown unit is ignored like other filters.
        let unit = q.str("unit").trim().to_owned();
        let t2 = text.clone();
        let (status2, sector2, unit2) = (status.clone(), sector.clone(), unit.clone());
        let now = web.now();
        // Every combination of search, status, sector and unit is a page of the word index
        // (`search::find_page`): the cost of the page, never a walk of the records.
        let found = web
            .with_node(
                move |node| -> Result<(Vec<Listed>, u64, bool, usize), String> {
                    let statuses: Vec<&str> = match status2.as_str() {
                        "" => Vec::new(),
                        "award" => vec!["award-typical", "award-excellent"],
                        s => vec![s],
                    };
                    let unit = sync_protocol::ids::UnitId::new(&unit2)
                        .ok()
                        .filter(|u| node.directory().knows(u));
                    let find = search::Find {
                        query: (!t2.is_empty()).then_some(t2.as_str()),
                        statuses,
                        sector: Sector::ALL.iter().copied().find(|s| s.code() == sector2),
                        phase: None,
                        unit: unit.as_ref(),
                    };
                    let mut p =
                        search::find_page(node, &find, page as u64, WEB_PAGE_ROWS_COUNT, now)
                            .map_err(|e| e.to_string())?;
                    // Past the last page (a stale link): the last page.
                    if p.items.is_empty() && p.page > 1 && p.exact {
                        p = search::find_page(node, &find, p.pages(), WEB_PAGE_ROWS_COUNT, now)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok((p.items, p.total, p.exact, p.page as usize))
                },
            )
            .await?;
        let (shown, total, exact, page, error) = match found {
            Ok((v, total, exact, page)) => (v, total as usize, exact, page, None),
            Err(e) => (
                Vec::new(),
                0,
                true,
                1,
                Some(match crate::search::Query::new(&text) {
                    Err(q) => texts::search_error(lang, &q),
                    Ok(_) => {
                        tracing::error!(error = %e, "web: the search failed");
                        return Err(WebError::internal().into());
                    }
                }),
            ),
        };
        let pages = total.div_ceil(WEB_PAGE_ROWS_COUNT).max(1);
        let rows: Vec<Row> = shown.iter().map(|l| row(lang, l)).collect();
        let link = |p: usize| {
            format!(
                "/initiatives?{}",
                super::encode_pairs(&[
                    ("q".into(), text.clone()),
                    ("status".into(), status.clone()),
                    ("sector".into(), sector.clone()),
                    ("unit".into(), unit.clone()),
                    ("page".into(), p.to_string()),
                ])
            )
        };
        let statuses: Vec<(String, String)> = STATUS_CODES
            .iter()
            .map(|c| (c.to_string(), texts::status_name(lang, c).to_owned()))
            .collect();
        let sectors: Vec<(String, String)> = Sector::ALL
            .iter()
            .map(|s| (s.code().to_owned(), lang.sector(*s).to_owned()))
            .collect();
        Ok(web.render(
            &r,
            "list.html",
            context! {
                rows, error, q => text, status => status.clone(), sector => sector.clone(),
                statuses, sectors,
                total => if exact {
                    lang.int(total as u64)
                } else {
                    format!("≥ {}", lang.int(total as u64))
                },
                page, pages,
                prev => (page > 1).then(|| link(page - 1)),
                next => (page < pages).then(|| link(page + 1)),
            },
        ))
    })
}

// ---- sync and health ---------------------------------------------------------------------

#[derive(Serialize)]
struct PeerRow {
    name: String,
    address: String,
    last_sync: String,
    received: String,
    sent: String,
    pending: String,
    error: Option<String>,
}

pub(super) async fn sync_page(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.require(
            &r,
            &[Role::Operator],
            ("xem đồng bộ và cách ly", "see sync and quarantine"),
        )?;
        let lang = r.lang;
        let (dir, store) = {
            let n = web.node.lock().await;
            (n.dir().to_owned(), n.store().clone())
        };
        let peers: Vec<PeerRow> = crate::service::read_status(&dir)
            .into_iter()
            .map(|(k, s)| PeerRow {
                name: s.unit.clone().unwrap_or_else(|| k.clone()),
                address: s.address.clone().unwrap_or_else(|| "—".into()),
                last_sync: s
                    .last_sync_ms
                    .map(|t| lang.time(t))
                    .unwrap_or_else(|| "—".into()),
                received: lang.int(s.received),
                sent: lang.int(s.sent),
                pending: lang.int(s.pending),
                error: s.last_error.as_ref().map(|_| match s.last_failure {
                    Some(f) => crate::refusal::sync_failure(lang, f).to_owned(),
                    None => texts::text(lang, "sync_failed").to_owned(),
                }),
            })
            .collect();
        let q = tokio::task::spawn_blocking(move || crate::quarantine::listing(&store, 20))
            .await
            .map_err(|_| WebError::internal())?
            .map_err(super::store_error)?;
        let held: Vec<(String, String, String)> = q
            .held
            .iter()
            .map(|h| {
                (
                    h.entry.chars().take(16).collect(),
                    h.since_ms
                        .map(|t| lang.time(t))
                        .unwrap_or_else(|| "—".into()),
                    h.source.clone(),
                )
            })
            .collect();
        Ok(web.render(
            &r,
            "sync.html",
            context! {
                peers, held, held_count => lang.int(q.held_count),
                expired_count => lang.int(q.expired_count),
            },
        ))
    })
}

// ---- accounts ----------------------------------------------------------------------------

fn account_rows(web: &Web, lang: Lang) -> Result<Vec<Value>, WebError> {
    Ok(officers::list(&web.store)
        .map_err(super::store_error)?
        .into_iter()
        .map(|a| {
            context! {
                login => a.login, name => a.name, title => a.title,
                roles => a.roles.iter().map(|x| lang.t(x.names().0, x.names().1)).collect::<Vec<_>>().join(", "),
            }
        })
        .collect())
}

fn roles_ctx(lang: Lang) -> Vec<(String, String)> {
    Role::ALL
        .iter()
        .map(|x| {
            (
                x.code().to_owned(),
                lang.t(x.names().0, x.names().1).to_owned(),
            )
        })
        .collect()
}

pub(super) async fn accounts(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.require(
            &r,
            &[Role::Operator],
            ("quản lý tài khoản", "manage accounts"),
        )?;
        let rows = account_rows(&web, r.lang)?;
        Ok(web.render(
            &r,
            "accounts.html",
            context! { rows, roles => roles_ctx(r.lang), error => Value::UNDEFINED },
        ))
    })
}

pub(super) async fn account_add(
    State(web): St,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let me = web
            .require(
                &r,
                &[Role::Operator],
                ("quản lý tài khoản", "manage accounts"),
            )?
            .clone();
        let f = form(&body);
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let roles: Vec<Role> =
            f.0.iter()
                .filter(|(k, _)| k == "role")
                .filter_map(|(_, v)| Role::parse(v))
                .collect();
        let store = web.store.clone();
        let (login, name, title, pw) = (
            f.str("login").trim().to_owned(),
            f.str("name").to_owned(),
            f.str("title").to_owned(),
            f.str("password").to_owned(),
        );
        let l2 = login.clone();
        let now = web.now();
        let added = tokio::task::spawn_blocking(move || {
            officers::add(&store, &l2, &name, &title, &roles, &pw, now)
        })
        .await
        .map_err(|_| WebError::internal())?;
        match added {
            Ok(_) => {
                web.audit(&me.login, "account_add", &login);
                Ok(Page::Redirect("/accounts".into()))
            }
            Err(e) => {
                let rows = account_rows(&web, r.lang)?;
                let msg = texts::account_error(r.lang, &e);
                Ok(web.render(
                    &r,
                    "accounts.html",
                    context! { rows, roles => roles_ctx(r.lang), error => msg },
                ))
            }
        }
    })
}

pub(super) async fn account_remove(
    State(web): St,
    Path(login): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let me = web
            .require(
                &r,
                &[Role::Operator],
                ("quản lý tài khoản", "manage accounts"),
            )?
            .clone();
        if !web.csrf_ok(&r, &form(&body)) {
            return Err(WebError::bad_form().into());
        }
        if login == me.login {
            return Err(WebError::forbidden(
                "Quy tắc: cán bộ vận hành không tự xóa tài khoản đang dùng (để nút không mất người quản lý).",
                "Rule: an operator does not remove the account in use (so the node keeps someone to manage it).",
            )
            .into());
        }
        officers::remove(&web.store, &login).map_err(|_| WebError::not_found())?;
        web.sessions.end_all_of(&login);
        web.audit(&me.login, "account_remove", &login);
        Ok(Page::Redirect("/accounts".into()))
    })
}
