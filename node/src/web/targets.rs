//! The targets page: each child unit's target for a programme phase, what it re-assigned
//! below, and its progress; a leader assigns (through [`crate::targets::assign`], the use case
//! `sangkien target assign` runs: signed with the unit key, refused with the rule that
//! forbids, nothing stored when a field is wrong).
//!
//! Cost: the progress report (O(children + days)) and one target-index scan per child shown.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use minijinja::{context, Value};
use sync_protocol::date::Date;
use sync_protocol::ids::UnitId;
use sync_protocol::limits::WEB_PAGE_ROWS_COUNT;

use super::progress::{self, Chosen};
use super::{Form, Page, Req, Web, WebError};
use crate::lang::Lang;
use crate::node::Node;
use crate::officers::Role;
use crate::targets::{self, AssignError};

type St = State<Arc<Web>>;

macro_rules! page {
    ($web:expr, $r:expr, $body:expr) => {{
        let out: Result<Page, Page> = async { $body }.await;
        $web.finish(&$r, out.unwrap_or_else(|p| p))
    }};
}

const LEADER: (&str, &str) = ("giao chỉ tiêu", "assign targets");

/// `GET /targets`.
pub(super) async fn page(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let ctx = targets_ctx(&web, &r, q, BTreeMap::new(), BTreeMap::new(), None).await?;
        Ok(web.render(&r, "targets.html", ctx))
    })
}

/// `POST /targets`: a leader assigns.
pub(super) async fn assign(State(web): St, headers: HeaderMap, uri: Uri, body: String) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let account = web.require(&r, &[Role::Leader], LEADER)?.clone();
        let f = Form(super::form_urlencoded_pairs(&body));
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let lang = r.lang;
        // Every field first: a wrong one is marked and nothing is stored.
        let mut given: BTreeMap<UnitId, u64> = BTreeMap::new();
        let mut errors: BTreeMap<String, String> = BTreeMap::new();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &f.0 {
            let Some(u) = k.strip_prefix("t_") else {
                continue;
            };
            values.insert(u.to_owned(), v.clone());
            if v.trim().is_empty() {
                continue;
            }
            let Ok(unit) = UnitId::new(u) else {
                errors.insert(u.to_owned(), bad_unit(lang));
                continue;
            };
            match count(v) {
                Some(n) => {
                    given.insert(unit, n);
                }
                None => {
                    errors.insert(u.to_owned(), bad_count(lang));
                }
            }
        }
        if !errors.is_empty() {
            let ctx = targets_ctx(&web, &r, f, values, errors, None).await?;
            return Ok(unprocessable(web.render(&r, "targets.html", ctx)));
        }
        let now = web.now();
        let today = Date::from_unix_ms(now);
        let f2 = Form(f.0.clone());
        let done = web
            .with_node(move |node| -> Result<Result<_, AssignError>, WebError> {
                let Some(c) = progress::choose(node, &f2, today, now)? else {
                    return Err(WebError::not_found());
                };
                Ok(
                    targets::assign(node, (c.id, &c.programme), c.phase, given, now)
                        .map(|a| (a, progress::query(&c))),
                )
            })
            .await??;
        match done {
            Ok((a, query)) => {
                web.audit(
                    &account.login,
                    "target_assign",
                    &format!("{} {}", a.record.to_hex(), query),
                );
                (web.on_write)();
                Ok(Page::Redirect(format!("/targets?{query}&saved=1")))
            }
            // A field the form could not have sent (a unit not below this one), an empty
            // form, or the node's own refusal: the rule, and nothing stored.
            Err(AssignError::Empty) => {
                let ctx = targets_ctx(
                    &web,
                    &r,
                    f,
                    values,
                    BTreeMap::new(),
                    Some(AssignError::Empty.sentence(lang)),
                )
                .await?;
                Ok(unprocessable(web.render(&r, "targets.html", ctx)))
            }
            Err(e) => {
                web.audit(&account.login, "target_assign_refused", &e.to_string());
                let why = e.sentence(lang);
                let why_en = e.sentence(Lang::En);
                Err(WebError::forbidden(
                    format!("Nút không giao chỉ tiêu: {why}. Không có gì được lưu."),
                    format!("The node did not assign the targets: {why_en}. Nothing was stored."),
                )
                .into())
            }
        }
    })
}

fn unprocessable(p: Page) -> Page {
    match p {
        Page::Html(h) => Page::Status(StatusCode::UNPROCESSABLE_ENTITY, h),
        p => p,
    }
}

fn bad_count(lang: Lang) -> String {
    lang.t(
        "Chỉ tiêu là một số nguyên không âm, ví dụ 2.400.",
        "A target is a whole number, e.g. 2,400.",
    )
    .into()
}

fn bad_unit(lang: Lang) -> String {
    lang.t("Mã đơn vị không hợp lệ.", "Not a valid unit id.")
        .into()
}

/// A count as officers write it: digits, optionally grouped by `.` or `,` in threes.
fn count(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    crate::input::money(s)
}

/// The page's context: the chosen phase, the target this unit received, each child's target,
/// re-assignment and progress (a page of children), and the form's values and errors.
async fn targets_ctx(
    web: &Web,
    r: &Req,
    q: Form,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    notice: Option<String>,
) -> Result<Value, Page> {
    let lang = r.lang;
    let now = web.now();
    let today = Date::from_unix_ms(now);
    let page_no: usize = q.str("page").parse().unwrap_or(1).max(1);
    let saved = q.get("saved").is_some() && errors.is_empty() && notice.is_none();
    let has_errors = !errors.is_empty();
    let ctx = web
        .with_node(move |node| -> Result<Value, WebError> {
            let Some(c) = progress::choose(node, &q, today, now)? else {
                return Ok(context! { report => Value::UNDEFINED });
            };
            let rep = progress::report(node, &c, today, now)?;
            let pages = rep.children.len().div_ceil(WEB_PAGE_ROWS_COUNT).max(1);
            let page_no = page_no.min(pages);
            let shown: Vec<&crate::report::RankedChild> = rep
                .children
                .iter()
                .skip((page_no - 1) * WEB_PAGE_ROWS_COUNT)
                .take(WEB_PAGE_ROWS_COUNT)
                .collect();
            let rows = child_rows(node, &c, lang, &shown, &values, &errors)?;
            let assigned = node
                .store()
                .targets_of(c.id, c.phase, node.unit())
                .map_err(super::store_error)?;
            let sum: u64 = assigned.values().sum();
            let short = rep.target.filter(|t| sum < *t && !rep.children.is_empty());
            let link = |p: usize| format!("/targets?{}&page={p}", progress::query(&c));
            Ok(context! {
                report => progress::report_ctx(lang, &rep),
                rows,
                received => rep.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
                assigned_total => lang.int(sum),
                short => short.map(|t| lang.int(t - sum)),
                choices => progress::chooser(&c, "/targets"),
                programme_id => c.id.to_hex(), phase => c.phase,
                page => page_no, pages,
                prev => (page_no > 1).then(|| link(page_no - 1)),
                next => (page_no < pages).then(|| link(page_no + 1)),
            })
        })
        .await??;
    let is_leader = r.account.as_ref().is_some_and(|a| a.has(Role::Leader));
    Ok(context! {
        ..ctx,
        ..context! {
            is_leader, saved, notice, has_errors,
        }
    })
}

fn child_rows(
    node: &Node,
    c: &Chosen,
    lang: Lang,
    shown: &[&crate::report::RankedChild],
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Result<Vec<Value>, WebError> {
    let ids: Vec<UnitId> = shown
        .iter()
        .filter_map(|ch| UnitId::new(&ch.unit).ok())
        .collect();
    let below = targets::reassigned(node, &ids, c.id, c.phase).map_err(super::store_error)?;
    let given = node
        .store()
        .targets_of(c.id, c.phase, node.unit())
        .map_err(super::store_error)?;
    Ok(shown
        .iter()
        .map(|ch| {
            let id = UnitId::new(&ch.unit).ok();
            let own = id.as_ref().and_then(|u| given.get(u).copied());
            let re = id.as_ref().and_then(|u| below.get(u)).cloned();
            let value = values
                .get(&ch.unit)
                .cloned()
                .unwrap_or_else(|| own.map(|n| n.to_string()).unwrap_or_default());
            context! {
                ..progress::child_row(lang, ch),
                ..context! {
                    assigned => own.map(|n| lang.int(n)).unwrap_or_else(|| lang.t("chưa giao", "not assigned").into()),
                    below => re.as_ref().filter(|x| x.units > 0).map(|x| lang.int(x.total)).unwrap_or_else(|| "—".into()),
                    below_units => re.map(|x| x.units).unwrap_or(0),
                    value, error => errors.get(&ch.unit).cloned(),
                }
            }
        })
        .collect())
}
