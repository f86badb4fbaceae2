//! The pages: each handler parses the request, calls the node's use cases and renders.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use minijinja::{context, Value};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::{AwardGrade, DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::limits::{
    MAX_AUTHORS_COUNT, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS,
    WEB_PAGE_ROWS_COUNT,
};
use sync_protocol::record::{
    Application, Author, Description, Initiative, Programme, RecordContent,
};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::Text;
use sync_protocol::verify::expected_decider;

use super::{auth, texts, Form, Page, Req, Web, WebError};
use crate::counters::{counter_prefix, Tally, SUBTREE};
use crate::lang::Lang;
use crate::node::Node;
use crate::officers::{self, Role};
use crate::refusal;
use crate::search::{self, Listed};
use crate::sled_store::t as trees;
use crate::{now_ms, records};

type St = State<Arc<Web>>;

fn form(body: &str) -> Form {
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

#[derive(Serialize)]
struct PhaseRow {
    programme: String,
    phase: String,
    count: String,
    target: String,
    percent: String,
    bar: u64,
    benefit: String,
    statuses: Vec<(String, String)>,
    children: Vec<ChildRow>,
    deadlines: Vec<(String, String)>,
}

#[derive(Serialize)]
struct ChildRow {
    name: String,
    count: String,
    target: String,
    percent: String,
    bar: u64,
}

fn status_label(lang: Lang, slot: &crate::report::Status) -> String {
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

fn tenths(num: u64, den: u64) -> u64 {
    if den == 0 {
        0
    } else {
        ((num as u128 * 1000) / den as u128).min(1000) as u64
    }
}

pub(super) async fn dashboard(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let lang = r.lang;
        let unit = web.unit.clone();
        let today = Date::from_unix_ms(web.now());
        let rows = web
            .with_node(move |node| dashboard_rows(node, &unit, lang, today))
            .await??;
        Ok(web.render(&r, "dashboard.html", context! { phases => rows }))
    })
}

/// The dashboard's figures, from the counters and the target rows: never a walk over records.
fn dashboard_rows(
    node: &Node,
    unit: &UnitId,
    lang: Lang,
    today: Date,
) -> Result<Vec<PhaseRow>, WebError> {
    let store = node.store();
    let prefix = counter_prefix(SUBTREE, unit);
    let mut phases: Vec<(RecordId, u32, Tally)> = Vec::new();
    for kv in store.tree(trees::COUNTERS).scan_prefix(&prefix) {
        let (k, v) = kv.map_err(super::store_error)?;
        let rest = &k[prefix.len()..];
        if rest.len() != 20 {
            continue;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&rest[..16]);
        let phase = u32::from_be_bytes([rest[16], rest[17], rest[18], rest[19]]);
        let Some(t) = Tally::decode(&v) else { continue };
        phases.push((RecordId(id), phase, t));
    }
    let now = now_ms();
    let d = node.directory();
    let parent = d.parent_at(unit, now).cloned();
    let mut out = Vec::new();
    for (prog, phase, tally) in phases {
        let programme = match records::check(node, prog, now)
            .map_err(super::store_error)?
            .content
        {
            Some(RecordContent::Programme(p)) => Some(p),
            _ => None,
        };
        let target = match &parent {
            Some(p) => store
                .targets_of(prog, phase, p)
                .map_err(super::store_error)?
                .get(unit)
                .copied(),
            None => programme
                .as_ref()
                .and_then(|p| p.phases.get(phase.saturating_sub(1) as usize))
                .map(|ph| ph.target),
        };
        let counts = crate::report::Counts::from_tally(&tally);
        let count = counts.initiatives;
        let mut statuses: Vec<(String, String)> = counts
            .by_status
            .iter()
            .map(|(s, n)| (status_label(lang, s), lang.int(*n)))
            .collect();
        statuses.sort();
        let child_targets = store
            .targets_of(prog, phase, unit)
            .map_err(super::store_error)?;
        let mut children: Vec<(u64, ChildRow)> = Vec::new();
        for c in node.tree_children(unit) {
            let ct = crate::report::Counts::from_tally(
                &store
                    .subtree_tally(c, prog, phase)
                    .map_err(super::store_error)?,
            )
            .initiatives;
            let tg = child_targets.get(c).copied();
            let rank = tg.map(|t| tenths(ct, t)).unwrap_or(0);
            children.push((
                rank * 1_000_000_000 + ct.min(999_999_999),
                ChildRow {
                    name: d
                        .name(c)
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_else(|| c.to_string()),
                    count: lang.int(ct),
                    target: tg.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
                    percent: tg
                        .map(|t| lang.percent(ct, t))
                        .unwrap_or_else(|| "—".into()),
                    bar: tg.map(|t| tenths(ct, t) / 10).unwrap_or(0),
                },
            ));
        }
        children.sort_by_key(|b| std::cmp::Reverse(b.0));
        let deadlines = programme
            .as_ref()
            .map(|p: &Programme| {
                let mut v: Vec<_> = p
                    .deadlines
                    .iter()
                    .filter(|dl| dl.date >= today)
                    .map(|dl| (dl.date, dl.label.as_str().to_owned()))
                    .collect();
                v.sort();
                v.into_iter()
                    .take(5)
                    .map(|(dt, l)| (lang.date(dt), l))
                    .collect()
            })
            .unwrap_or_default();
        out.push(PhaseRow {
            programme: programme
                .as_ref()
                .map(|p| p.name.as_str().to_owned())
                .unwrap_or_else(|| prog.short()),
            phase: programme
                .as_ref()
                .and_then(|p| p.phases.get(phase.saturating_sub(1) as usize))
                .map(|ph| ph.name.as_str().to_owned())
                .unwrap_or_else(|| format!("{phase}")),
            count: lang.int(count),
            target: target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
            percent: target
                .map(|t| lang.percent(count, t))
                .unwrap_or_else(|| "—".into()),
            bar: target.map(|t| tenths(count, t) / 10).unwrap_or(0),
            benefit: lang.money(counts.benefit_vnd),
            statuses,
            children: children.into_iter().map(|(_, c)| c).collect(),
            deadlines,
        });
    }
    Ok(out)
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

// ---- the initiative form -----------------------------------------------------------------

fn sectors(lang: Lang) -> Vec<(String, String)> {
    Sector::ALL
        .iter()
        .map(|s| (s.code().to_owned(), lang.sector(*s).to_owned()))
        .collect()
}

pub(super) async fn new_form(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.require(
            &r,
            &[Role::Support],
            ("đăng ký sáng kiến", "register initiatives"),
        )?;
        let today = r.lang.date(Date::from_unix_ms(web.now()));
        Ok(form_page(
            &web,
            &r,
            Value::from_serialize(NewValues {
                registered_on: today,
                ..NewValues::default()
            }),
            Vec::new(),
        ))
    })
}

#[derive(Serialize, Default)]
struct NewValues {
    title: String,
    summary: String,
    sector: String,
    benefit: String,
    registered_on: String,
    confidential: bool,
    trial: bool,
    authors: Vec<(String, String)>,
    current_state: String,
    solution: String,
    novelty: String,
    scope: String,
    effectiveness: String,
}

/// Author rows the form shows.
const FORM_AUTHOR_ROWS: usize = 3;

fn form_page(web: &Web, r: &Req, values: Value, errors: Vec<(String, String)>) -> Page {
    let errs: std::collections::BTreeMap<String, String> = errors.iter().cloned().collect();
    web.render(
        r,
        "form.html",
        context! {
            v => values, errors => errs, has_errors => !errors.is_empty(),
            sectors => sectors(r.lang), author_rows => (0..FORM_AUTHOR_ROWS).collect::<Vec<_>>(),
        },
    )
}

pub(super) async fn new_submit(
    State(web): St,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let account = web
            .require(
                &r,
                &[Role::Support],
                ("đăng ký sáng kiến", "register initiatives"),
            )?
            .clone();
        let f = form(&body);
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let lang = r.lang;
        let mut errors: Vec<(String, String)> = Vec::new();
        macro_rules! err {
            ($f:expr, $m:expr) => {
                errors.push(($f.to_owned(), $m))
            };
        }
        let title = match Text::required("title", f.str("title"), MAX_TITLE_CHARS) {
            Ok(t) => Some(t),
            Err(e) => {
                err!("title", field_error(lang, &e));
                None
            }
        };
        let summary = match Text::multiline("summary", f.str("summary"), MAX_SUMMARY_CHARS) {
            Ok(t) if !t.is_empty() => Some(t),
            Ok(_) => {
                err!("summary", texts::text(lang, "err_required").into());
                None
            }
            Err(e) => {
                err!("summary", field_error(lang, &e));
                None
            }
        };
        let sector = Sector::from_code(f.str("sector"));
        if sector.is_none() {
            err!("sector", texts::text(lang, "err_sector").into());
        }
        let benefit = if f.str("benefit").trim().is_empty() {
            Some(0)
        } else {
            let b = crate::input::money(f.str("benefit"));
            if b.is_none() {
                err!("benefit", texts::text(lang, "err_money").into());
            }
            b
        };
        let registered_on = crate::input::date(f.str("registered_on"));
        if registered_on.is_none() {
            err!("registered_on", texts::text(lang, "err_date").into());
        }
        let mut authors = Vec::new();
        let mut author_values = Vec::new();
        for i in 0..FORM_AUTHOR_ROWS.min(MAX_AUTHORS_COUNT) {
            let (n, p) = (
                f.str(&format!("author_name_{i}")),
                f.str(&format!("author_pos_{i}")),
            );
            author_values.push((n.to_owned(), p.to_owned()));
            if n.trim().is_empty() && p.trim().is_empty() {
                continue;
            }
            match (
                Text::required("author", n, MAX_SHORT_TEXT_CHARS),
                Text::new("position", p, MAX_SHORT_TEXT_CHARS),
            ) {
                (Ok(name), Ok(position)) => authors.push(Author { name, position }),
                (Err(e), _) | (_, Err(e)) => err!("authors", field_error(lang, &e)),
            }
        }
        if authors.is_empty() && !errors.iter().any(|(k, _)| k == "authors") {
            err!("authors", texts::text(lang, "err_author").into());
        }
        let mut description = Description::default();
        for (field, slot) in [
            ("current_state", &mut description.current_state),
            ("solution", &mut description.solution),
            ("novelty", &mut description.novelty),
            ("scope", &mut description.scope),
            ("effectiveness", &mut description.effectiveness),
        ] {
            match Text::multiline("description", f.str(field), MAX_SUMMARY_CHARS) {
                Ok(t) => *slot = t,
                Err(e) => err!(field, field_error(lang, &e)),
            }
        }
        let confidential = f.get("confidential").is_some();
        let trial = f.str("application") == "trial";
        let values = NewValues {
            title: f.str("title").into(),
            summary: f.str("summary").into(),
            sector: f.str("sector").into(),
            benefit: f.str("benefit").into(),
            registered_on: f.str("registered_on").into(),
            confidential,
            trial,
            authors: author_values,
            current_state: f.str("current_state").into(),
            solution: f.str("solution").into(),
            novelty: f.str("novelty").into(),
            scope: f.str("scope").into(),
            effectiveness: f.str("effectiveness").into(),
        };
        let (Some(title), Some(summary), Some(sector), Some(benefit), Some(registered_on), true) = (
            title,
            summary,
            sector,
            benefit,
            registered_on,
            errors.is_empty(),
        ) else {
            return Ok(bad_form_page(&web, &r, values, errors));
        };
        let now = web.now();
        let created = web
            .with_node(move |node| {
                let d = node.directory();
                let Some(superior) = d.parent_at(node.unit(), now).cloned() else {
                    return Err(None);
                };
                let mut i = Initiative {
                    title,
                    authors,
                    origin: node.unit().clone(),
                    superior,
                    programme: None,
                    phase: 0,
                    sector,
                    summary,
                    registered_on,
                    description,
                    benefit_vnd: benefit,
                    application: if trial {
                        Application::Trial
                    } else {
                        Application::Applied
                    },
                    recognition: None,
                    confidential,
                    attachments: Vec::new(),
                    commitment_salt: confidential.then(records::new_salt),
                };
                if let Some((prog, n)) = programme_for(node, registered_on, now) {
                    i.programme = Some(prog);
                    i.phase = n;
                }
                let content = RecordContent::Initiative(Box::new(i));
                records::create(node, &content, now).map_err(Some)
            })
            .await?;
        match created {
            Ok(id) => {
                web.audit(&account.login, "register", &id.to_hex());
                (web.on_write)();
                Ok(Page::Redirect(format!("/initiatives/{}", id.to_hex())))
            }
            Err(None) => Err(WebError::forbidden(
                "Quy tắc: sáng kiến được đăng ký tại công đoàn cơ sở, đơn vị có cấp trên trực tiếp; đơn vị này không có cấp trên trong cây đơn vị.",
                "Rule: initiatives are registered at a grassroots union, a unit with a direct superior; this unit has none in the unit tree.",
            )
            .into()),
            Err(Some(e)) => {
                let msg = refusal::node_error(lang, &e);
                Ok(bad_form_page(&web, &r, values, vec![("form".into(), msg)]))
            }
        }
    })
}

/// A text field's refusal as the form shows it beside the field (without the CLI's flag name).
fn field_error(lang: Lang, e: &sync_protocol::text::TextError) -> String {
    let s = refusal::text_error(lang, e);
    let s = match s.split_once(": ") {
        Some((flag, rest)) if flag.starts_with("--") => rest.to_owned(),
        _ => s,
    };
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str() + ".")
        .unwrap_or_default()
}

fn bad_form_page(web: &Web, r: &Req, values: NewValues, errors: Vec<(String, String)>) -> Page {
    match form_page(web, r, Value::from_serialize(values), errors) {
        Page::Html(h) => Page::Status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, h),
        p => p,
    }
}

/// The programme and phase a registration date falls in, among the programmes held here (a
/// grassroots node holds few records).
fn programme_for(node: &Node, d: Date, now: u64) -> Option<(RecordId, u32)> {
    let mut found = Vec::new();
    for r in node.store().records().ok()? {
        let rep = records::check(node, r, now).ok()?;
        if rep.header.as_ref().map(|h| h.kind) != Some(RecordKind::Programme) || !rep.is_valid() {
            continue;
        }
        if let Some(RecordContent::Programme(p)) = rep.content {
            if let Some(n) = p.phases.iter().position(|ph| ph.start <= d && d <= ph.end) {
                found.push((r, n as u32 + 1));
            }
        }
    }
    (found.len() == 1).then(|| found[0])
}

// ---- an initiative -----------------------------------------------------------------------

#[derive(Serialize)]
struct Step {
    what: String,
    unit: String,
    officer: String,
    when: String,
    note: String,
}

/// What this unit may decide now on an initiative: each kind whose turn it is here.
fn allowed_here(
    node: &Node,
    origin: &UnitId,
    status: Option<&(DecisionKind, UnitId)>,
    now: u64,
) -> Vec<DecisionKind> {
    let prev = status.map(|(k, u)| (u.clone(), *k));
    [
        DecisionKind::Submit,
        DecisionKind::ReturnForRevision,
        DecisionKind::Reject,
        DecisionKind::Approve,
        DecisionKind::Recognise,
        DecisionKind::Award(AwardGrade::Typical),
        DecisionKind::Award(AwardGrade::Excellent),
    ]
    .into_iter()
    .filter(|k| {
        // A recognised or awarded initiative waits for nothing more in the chain.
        if matches!(
            prev.as_ref().map(|p| p.1),
            Some(DecisionKind::Recognise | DecisionKind::Award(_))
        ) {
            return false;
        }
        expected_decider(node.directory(), origin, *k, prev.as_ref(), now)
            .is_ok_and(|u| &u == node.unit())
    })
    .collect()
}

/// The roles that may make a decision, and the rule as words.
fn roles_for(k: DecisionKind) -> (&'static [Role], (&'static str, &'static str)) {
    match k {
        DecisionKind::Submit => (
            &[Role::Support, Role::Appraiser],
            (
                "nộp sáng kiến lên cấp trên",
                "submit initiatives to the superior",
            ),
        ),
        DecisionKind::ReturnForRevision | DecisionKind::Reject | DecisionKind::Approve => (
            &[Role::Appraiser],
            (
                "trả lại, không công nhận hoặc duyệt sáng kiến",
                "return, reject or approve initiatives",
            ),
        ),
        DecisionKind::Recognise | DecisionKind::Award(_) => (
            &[Role::Appraiser, Role::Leader],
            (
                "công nhận hoặc khen thưởng sáng kiến",
                "recognise or award initiatives",
            ),
        ),
    }
}

fn kind_from_code(s: &str) -> Option<DecisionKind> {
    [
        DecisionKind::Submit,
        DecisionKind::ReturnForRevision,
        DecisionKind::Reject,
        DecisionKind::Approve,
        DecisionKind::Recognise,
        DecisionKind::Award(AwardGrade::Typical),
        DecisionKind::Award(AwardGrade::Excellent),
    ]
    .into_iter()
    .find(|k| k.code() == s)
}

/// Everything the initiative page and the inbox show of one record.
fn initiative_ctx(
    node: &Node,
    id: RecordId,
    lang: Lang,
    now: u64,
) -> Result<Option<Value>, WebError> {
    let rep = records::check(node, id, now).map_err(super::store_error)?;
    let Some(h) = rep.header.clone() else {
        return Ok(None);
    };
    if h.kind != RecordKind::Initiative {
        return Ok(None);
    }
    let d = node.directory();
    let name = |u: &UnitId| {
        d.name(u)
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| u.to_string())
    };
    let mut steps = Vec::new();
    for hash in &rep.chain {
        let Some(e) = node.store().entry(hash).map_err(super::store_error)? else {
            continue;
        };
        if let EntryBody::Decision(dec) = e.body() {
            steps.push(Step {
                what: status_label(lang, &crate::report::Status::Decided(dec.kind)),
                unit: name(e.author()),
                officer: format!("{}, {}", dec.officer_name, dec.officer_title),
                when: lang.time(e.time_ms()),
                note: dec.note.as_str().to_owned(),
            });
        }
    }
    let problems: Vec<String> = rep
        .problems
        .iter()
        .map(|p| refusal::reject(lang, &p.reason))
        .collect();
    let (title, summary, sector, benefit, authors, registered, description, confidential, origin) =
        match &rep.content {
            Some(RecordContent::Initiative(i)) => (
                i.title.as_str().to_owned(),
                i.summary.as_str().to_owned(),
                lang.sector(i.sector).to_owned(),
                lang.money(i.benefit_vnd),
                i.authors
                    .iter()
                    .map(|a| format!("{} — {}", a.name, a.position))
                    .collect::<Vec<_>>(),
                lang.date(i.registered_on),
                vec![
                    (
                        texts::text(lang, "current_state"),
                        i.description.current_state.as_str().to_owned(),
                    ),
                    (
                        texts::text(lang, "solution"),
                        i.description.solution.as_str().to_owned(),
                    ),
                    (
                        texts::text(lang, "novelty"),
                        i.description.novelty.as_str().to_owned(),
                    ),
                    (
                        texts::text(lang, "scope"),
                        i.description.scope.as_str().to_owned(),
                    ),
                    (
                        texts::text(lang, "effectiveness"),
                        i.description.effectiveness.as_str().to_owned(),
                    ),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>(),
                i.confidential,
                i.origin.clone(),
            ),
            _ => {
                // Held as its public projection only (confidential, above the direct superior).
                let Some(ph) = rep.latest_projection else {
                    return Ok(None);
                };
                let Some(e) = node.store().entry(&ph).map_err(super::store_error)? else {
                    return Ok(None);
                };
                let EntryBody::Projection(p) = e.body() else {
                    return Ok(None);
                };
                (
                    p.title.as_str().to_owned(),
                    p.summary.as_str().to_owned(),
                    lang.sector(p.sector).to_owned(),
                    lang.money(p.benefit_vnd),
                    Vec::new(),
                    "—".into(),
                    Vec::new(),
                    true,
                    h.owner.clone(),
                )
            }
        };
    let status = rep.status.as_ref().map(|(k, u, _)| (*k, u.clone()));
    let allowed: Vec<(String, String)> = if rep.is_valid() {
        allowed_here(node, &origin, status.as_ref(), now)
            .into_iter()
            .map(|k| (k.code().to_owned(), texts::action_name(lang, k).to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(context! {
        id => id.to_hex(), short => id.short(), title, summary, sector, benefit, authors,
        registered, description, confidential,
        origin => name(&origin),
        status => match &status {
            None => lang.t("Mới đăng ký", "Registered").to_owned(),
            Some((k, _)) => status_label(lang, &crate::report::Status::Decided(*k)),
        },
        steps, valid => rep.is_valid(), problems,
        differs => rep.approved_state_differs,
        conflicts => rep.conflicts.len(),
        allowed,
    }))
}

fn parse_id(s: &str) -> Option<RecordId> {
    let b = hex::decode(s).ok()?;
    let a: [u8; 16] = b.try_into().ok()?;
    Some(RecordId(a))
}

pub(super) async fn initiative(
    State(web): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let id = parse_id(&id).ok_or_else(WebError::not_found)?;
        let lang = r.lang;
        let now = web.now();
        let ctx = web
            .with_node(move |node| initiative_ctx(node, id, lang, now))
            .await??
            .ok_or_else(WebError::not_found)?;
        Ok(web.render(
            &r,
            "initiative.html",
            context! { i => ctx, notice => Value::UNDEFINED },
        ))
    })
}

pub(super) async fn decide(
    State(web): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let f = form(&body);
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let id = parse_id(&id).ok_or_else(WebError::not_found)?;
        let lang = r.lang;
        let kind = kind_from_code(f.str("kind")).ok_or_else(WebError::not_found)?;
        let (roles, what) = roles_for(kind);
        let account = web.require(&r, roles, what)?.clone();
        let note = Text::multiline("note", f.str("note"), MAX_NOTE_CHARS);
        let back = f.str("back").to_owned();
        let now = web.now();
        let note = match note {
            Ok(n) if kind == DecisionKind::ReturnForRevision && n.is_empty() => {
                Err(texts::text(lang, "err_reason").to_owned())
            }
            Ok(n) => Ok(n),
            Err(e) => Err(field_error(lang, &e)),
        };
        let note = match note {
            Ok(n) => n,
            Err(msg) => {
                let ctx = web
                    .with_node(move |node| initiative_ctx(node, id, lang, now))
                    .await??
                    .ok_or_else(WebError::not_found)?;
                return match web.render(&r, "initiative.html", context! { i => ctx, notice => msg })
                {
                    Page::Html(h) => Ok(Page::Status(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        h,
                    )),
                    p => Ok(p),
                };
            }
        };
        let (name, title) = (
            Text::required("officer", &account.name, MAX_SHORT_TEXT_CHARS),
            Text::required("title", &account.title, MAX_SHORT_TEXT_CHARS),
        );
        let (Ok(name), Ok(title)) = (name, title) else {
            return Err(WebError::internal().into());
        };
        let result = web
            .with_node(move |node| records::decide(node, id, kind, name, title, note, now))
            .await?;
        match result {
            Ok(hash) => {
                web.audit(
                    &account.login,
                    "decide",
                    &format!("{} {} entry {}", id.to_hex(), kind.code(), hash.to_hex()),
                );
                (web.on_write)();
                Ok(Page::Redirect(if back == "inbox" {
                    "/inbox".into()
                } else {
                    format!("/initiatives/{}", id.to_hex())
                }))
            }
            Err(e) => {
                web.audit(
                    &account.login,
                    "decide_refused",
                    &format!("{} {}", id.to_hex(), kind.code()),
                );
                let why = refusal::node_error(lang, &e);
                Err(WebError::forbidden(
                    format!(
                        "Nút không ghi quyết định «{}»: {why}. Không có gì được lưu.",
                        lang.decision(kind)
                    ),
                    format!(
                        "The node did not record the decision «{}»: {why}. Nothing was stored.",
                        Lang::En.decision(kind)
                    ),
                )
                .into())
            }
        }
    })
}

// ---- the inbox ---------------------------------------------------------------------------

pub(super) async fn inbox(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let at: usize = q.str("at").parse().unwrap_or(0);
        let lang = r.lang;
        let now = web.now();
        let (total, at, ctx) = web
            .with_node(move |node| -> Result<_, WebError> {
                // One initiative of the inbox index (`search::inbox_page`): O(children + 1).
                let page = |at: usize| {
                    search::inbox_page(node, at as u64 + 1, 1, now).map_err(|e| match e {
                        search::PageError::Node(e) => super::store_error(e),
                        _ => WebError::internal(),
                    })
                };
                let mut p = page(at.min(sync_protocol::limits::MAX_PAGE_NUMBER as usize - 1))?;
                let total = p.total as usize;
                let at = at.min(total.saturating_sub(1));
                if p.items.is_empty() && total > 0 {
                    p = page(at)?;
                }
                let ctx = match p.items.first() {
                    Some(l) => initiative_ctx(node, l.record, lang, now)?,
                    None => None,
                };
                Ok((total, at, ctx))
            })
            .await??;
        Ok(web.render(
            &r,
            "inbox.html",
            context! {
                i => ctx, total => lang.int(total as u64), position => at + 1,
                prev => (at > 0).then(|| format!("/inbox?at={}", at - 1)),
                next => (at + 1 < total).then(|| format!("/inbox?at={}", at + 1)),
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
                error: s
                    .last_error
                    .as_ref()
                    .map(|_| texts::text(lang, "sync_failed").to_owned()),
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
