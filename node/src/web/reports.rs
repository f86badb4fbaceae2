//! The reports page (the progress report `sangkien report` prints, with every child unit, a
//! page at a time) and its downloads (CSV, XLSX, JSON, SVG and PNG, the same bytes as the CLI's:
//! [`crate::report_formats`]); the Mẫu 2 page (the consolidated list, [`crate::mau2`]) and its
//! bundle of signed entries, which a leader signs with the unit key.
//!
//! Cost: the report is O(children + days). The Mẫu 2 list is O(records) (it reads the listing
//! to find this unit's decisions; there is no index of decisions by decider yet), and so is its
//! bundle.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use sync_protocol::date::Date;
use sync_protocol::limits::{MAX_WEB_DOWNLOAD_BYTES, WEB_PAGE_ROWS_COUNT};

use super::progress;
use super::{Form, Page, Web, WebError};
use crate::officers::Role;
use crate::report_formats;

type St = State<Arc<Web>>;

macro_rules! page {
    ($web:expr, $r:expr, $body:expr) => {{
        let out: Result<Page, Page> = async { $body }.await;
        $web.finish(&$r, out.unwrap_or_else(|p| p))
    }};
}

/// The download formats, by the name in the address.
pub(super) const FORMATS: [&str; 5] = ["csv", "xlsx", "json", "svg", "png"];

/// `GET /reports`.
pub(super) async fn page(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let lang = r.lang;
        let now = web.now();
        let today = Date::from_unix_ms(now);
        let page_no: usize = q.str("page").parse().unwrap_or(1).max(1);
        let ctx = web
            .with_node(move |node| -> Result<Value, WebError> {
                let Some(c) = progress::choose(node, &q, today, now)? else {
                    return Ok(context! { report => Value::UNDEFINED });
                };
                let rep = progress::report(node, &c, today, now)?;
                let pages = rep.children.len().div_ceil(WEB_PAGE_ROWS_COUNT).max(1);
                let page_no = page_no.min(pages);
                let children: Vec<Value> = rep
                    .children
                    .iter()
                    .skip((page_no - 1) * WEB_PAGE_ROWS_COUNT)
                    .take(WEB_PAGE_ROWS_COUNT)
                    .map(|ch| progress::child_row(lang, ch))
                    .collect();
                let query = progress::query(&c);
                let link = |p: usize| format!("/reports?{query}&page={p}");
                Ok(context! {
                    report => progress::report_ctx(lang, &rep),
                    children,
                    children_total => lang.int(rep.children.len() as u64),
                    choices => progress::chooser(&c, "/reports"),
                    downloads => FORMATS
                        .iter()
                        .map(|f| (f.to_uppercase(), format!("/reports/download/{f}?{query}")))
                        .collect::<Vec<_>>(),
                    page => page_no, pages,
                    prev => (page_no > 1).then(|| link(page_no - 1)),
                    next => (page_no < pages).then(|| link(page_no + 1)),
                })
            })
            .await??;
        Ok(web.render(&r, "reports.html", ctx))
    })
}

/// `GET /reports/download/{format}`: the report as a file.
pub(super) async fn download(
    State(web): St,
    Path(format): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let r = web.req(&headers, &uri);
    if r.account.is_none() {
        return web.finish(
            &r,
            Page::Redirect(format!("/login?next={}", super::url_escape(&r.path))),
        );
    }
    let Some(format) = FORMATS.iter().find(|f| **f == format).copied() else {
        return web.finish(&r, Page::Error(WebError::not_found()));
    };
    let q = Form(super::form_urlencoded_pairs(&r.query));
    let lang = r.lang;
    let now = web.now();
    let today = Date::from_unix_ms(now);
    let made = web
        .with_node(move |node| -> Result<_, WebError> {
            let c = progress::choose(node, &q, today, now)?.ok_or_else(WebError::not_found)?;
            let rep = progress::report(node, &c, today, now)?;
            Ok((rep, node.unit().to_string()))
        })
        .await;
    let (rep, unit) = match made {
        Ok(Ok(x)) => x,
        Ok(Err(e)) | Err(Page::Error(e)) => return web.finish(&r, Page::Error(e)),
        Err(p) => return web.finish(&r, p),
    };
    let bytes: Result<Vec<u8>, String> = match format {
        "csv" => Ok(report_formats::csv(lang, &rep).into_bytes()),
        "json" => serde_json::to_vec_pretty(&rep).map_err(|e| e.to_string()),
        "svg" => Ok(report_formats::chart::svg(lang, &rep).into_bytes()),
        "png" => report_formats::chart::png(lang, &rep),
        _ => report_formats::xlsx::workbook(lang, &rep).map_err(|e| e.to_string()),
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, format, "web: a report download could not be made");
            return web.finish(&r, Page::Error(WebError::internal()));
        }
    };
    let name = format!("bao-cao-{unit}-giai-doan-{}.{format}", rep.phase);
    file(&name, content_type(format), bytes)
}

fn content_type(format: &str) -> &'static str {
    match format {
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

/// A file to save: attachment, never cached, never sniffed.
fn file(name: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    resp
}

// ---- Mẫu 2 -------------------------------------------------------------------------------

const SIGN: (&str, &str) = ("ký và tải gói Mẫu 2", "sign and download the Mẫu 2 bundle");

/// The national unit sends its list to no one.
fn no_superior() -> WebError {
    WebError::forbidden(
        "Quy tắc: gói Mẫu 2 được ký để gửi cấp trên trực tiếp; đơn vị này không có cấp trên trong cây đơn vị.",
        "Rule: a Mẫu 2 bundle is signed for the direct superior; this unit has none in the unit tree.",
    )
}

/// The phase of the list: a number in the query, else every phase (as `sangkien list mau2`).
fn mau2_phase(q: &Form, c: &progress::Chosen) -> Option<u32> {
    q.get("phase")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1 && *n as usize <= c.programme.phases.len())
}

/// `GET /mau2`: the consolidated list, a page at a time, with its digest.
pub(super) async fn mau2(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        let q = Form(super::form_urlencoded_pairs(&r.query));
        let lang = r.lang;
        let now = web.now();
        let today = Date::from_unix_ms(now);
        let page_no: usize = q.str("page").parse().unwrap_or(1).max(1);
        let all = q.get("all").is_some();
        let ctx = web
            .with_node(move |node| -> Result<Value, WebError> {
                let Some(c) = progress::choose(node, &q, today, now)? else {
                    return Ok(context! { list => Value::UNDEFINED });
                };
                let phase = mau2_phase(&q, &c);
                let list = crate::mau2::consolidated(node, c.id, phase, all, now)
                    .map_err(super::store_error)?;
                let pages = list.lines.len().div_ceil(WEB_PAGE_ROWS_COUNT).max(1);
                let page_no = page_no.min(pages);
                let first = (page_no - 1) * WEB_PAGE_ROWS_COUNT;
                let lines: Vec<Value> = list
                    .lines
                    .iter()
                    .enumerate()
                    .skip(first)
                    .take(WEB_PAGE_ROWS_COUNT)
                    .map(|(i, x)| {
                        context! {
                            no => i + 1, id => x.listed.record.to_hex(),
                            title => x.listed.title.clone(),
                            authors => x.listed.authors.join(", "),
                            origin => x.listed.origin_name.clone(),
                            sector => lang.sector(x.listed.sector),
                            benefit => lang.money(x.listed.benefit_vnd),
                            decision => lang.decision(x.kind),
                            officer => format!("{}, {}", x.officer, x.officer_title),
                            entry => x.entry.to_hex(),
                        }
                    })
                    .collect();
                let mut base = vec![("programme".to_owned(), c.id.to_hex())];
                if let Some(p) = phase {
                    base.push(("phase".into(), p.to_string()));
                }
                if all {
                    base.push(("all".into(), "1".into()));
                }
                let query = super::encode_pairs(&base);
                let link = |p: usize| format!("/mau2?{query}&page={p}");
                let phases: Vec<(String, String, bool)> = std::iter::once((
                    format!("/mau2?programme={}", c.id.to_hex()),
                    lang.t("Mọi giai đoạn", "Every phase").to_owned(),
                    phase.is_none(),
                ))
                .chain(c.programme.phases.iter().enumerate().map(|(i, ph)| {
                    (
                        format!("/mau2?programme={}&phase={}", c.id.to_hex(), i + 1),
                        ph.name.to_string(),
                        phase == Some(i as u32 + 1),
                    )
                }))
                .collect();
                Ok(context! {
                    list => true, lines, programme => c.programme.name.to_string(),
                    programme_id => c.id.to_hex(), phase, all,
                    total => lang.int(list.lines.len() as u64), digest => list.digest,
                    phases,
                    page => page_no, pages,
                    prev => (page_no > 1).then(|| link(page_no - 1)),
                    next => (page_no < pages).then(|| link(page_no + 1)),
                })
            })
            .await??;
        let is_leader = r.account.as_ref().is_some_and(|a| a.has(Role::Leader));
        let has_superior = {
            let n = web.node.lock().await;
            n.directory().parent_at(n.unit(), now).is_some()
        };
        Ok(web.render(
            &r,
            "mau2.html",
            context! { ..ctx, ..context! { is_leader, has_superior } },
        ))
    })
}

/// A signed bundle's bytes, the list's digest, the unit.
type Signed = (Vec<u8>, String, String);

/// `POST /mau2/bundle`: a leader signs, for the superior, the bundle of the entries behind
/// the list, and downloads it.
pub(super) async fn mau2_bundle(
    State(web): St,
    headers: HeaderMap,
    uri: Uri,
    body: String,
) -> Response {
    let r = web.req(&headers, &uri);
    let f = Form(super::form_urlencoded_pairs(&body));
    let account = match web.require(&r, &[Role::Leader], SIGN) {
        Ok(a) => a.clone(),
        Err(p) => return web.finish(&r, p),
    };
    if !web.csrf_ok(&r, &f) {
        return web.finish(&r, Page::Error(WebError::bad_form()));
    }
    let now = web.now();
    let today = Date::from_unix_ms(now);
    let all = f.get("all").is_some();
    let made = web
        .with_node(move |node| -> Result<Signed, WebError> {
            if node.directory().parent_at(node.unit(), now).is_none() {
                return Err(no_superior());
            }
            let c = progress::choose(node, &f, today, now)?.ok_or_else(WebError::not_found)?;
            let list = crate::mau2::consolidated(node, c.id, mau2_phase(&f, &c), all, now)
                .map_err(super::store_error)?;
            // Written beside the store (the data directory is the node's own, 0700), read
            // back and removed.
            let salt = crate::records::new_salt();
            let tmp = node
                .dir()
                .join(format!("mau2-{}.tmp", hex::encode(&salt[..8])));
            let written = crate::mau2::write_bundle(node, &list, &tmp, now);
            let read = written.map_err(|e| e.to_string()).and_then(|()| {
                let len = std::fs::metadata(&tmp).map_err(|e| e.to_string())?.len();
                if len > MAX_WEB_DOWNLOAD_BYTES {
                    return Err(format!("too large: {len}"));
                }
                std::fs::read(&tmp).map_err(|e| e.to_string())
            });
            let _ = std::fs::remove_file(&tmp);
            match read {
                Ok(b) => Ok((b, list.digest, node.unit().to_string())),
                Err(e) if e.starts_with("too large") => Err(WebError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Gói của danh sách này quá lớn để tải qua trang web; hãy dùng lệnh `sangkien list mau2 --out TỆP` trên máy của nút.",
                    "This list's bundle is too large to download from the web page; use `sangkien list mau2 --out FILE` on the node's computer.",
                )),
                Err(e) => {
                    tracing::error!(error = %e, "web: the Mẫu 2 bundle could not be written");
                    Err(WebError::internal())
                }
            }
        })
        .await;
    let (bytes, digest, unit) = match made {
        Ok(Ok(x)) => x,
        Ok(Err(e)) | Err(Page::Error(e)) => return web.finish(&r, Page::Error(e)),
        Err(p) => return web.finish(&r, p),
    };
    web.audit(&account.login, "mau2_bundle", &digest);
    let name = format!("mau2-{unit}-{}.bundle", &digest[..12.min(digest.len())]);
    file(&name, "application/octet-stream", bytes)
}
