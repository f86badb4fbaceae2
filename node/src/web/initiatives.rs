//! The initiative pages: the inbox of what waits for this unit's decision (one at a time or
//! several at once), the initiative form (Mẫu 1 and Mẫu 4, attachments), an initiative's page
//! (approval chain, verification, attachments, what changed since the approved state) and the
//! decisions made from them. Each handler parses, calls the node's use cases and renders.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use minijinja::{context, Value};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::{AwardGrade, DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::limits::{
    MAX_AUTHORS_COUNT, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS,
};
use sync_protocol::record::{Application, Author, Description, Initiative, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::Text;
use sync_protocol::verify::expected_decider;

use super::pages::{form, status_label};
use super::{texts, Form, Page, Req, Web, WebError};
use crate::lang::Lang;
use crate::node::Node;
use crate::officers::Role;
use crate::records;
use crate::refusal;
use crate::search::{self, Listed};

type St = State<Arc<Web>>;

macro_rules! page {
    ($web:expr, $r:expr, $body:expr) => {{
        let out: Result<Page, Page> = async { $body }.await;
        $web.finish(&$r, out.unwrap_or_else(|p| p))
    }};
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
                let all = search::listing(node, now).map_err(super::store_error)?;
                let waiting: Vec<&Listed> = all
                    .iter()
                    .filter(|l| !l.conflict)
                    .filter(|l| {
                        let s = l.status.as_ref().map(|(k, u, _)| (*k, u.clone()));
                        !allowed_here(node, &l.origin, s.as_ref(), now).is_empty()
                    })
                    .collect();
                let total = waiting.len();
                let at = at.min(total.saturating_sub(1));
                let ctx = match waiting.get(at) {
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
