//! The initiative pages: the inbox of what waits for this unit's decision (one at a time or
//! several at once), the initiative form (Mẫu 1 and Mẫu 4, the employer's recognition,
//! attachments; new or editing a draft or returned initiative), an initiative's page (approval
//! chain, verification, attachments, what changed since the judged state) and the decisions
//! made from them. Each handler parses, calls the node's use cases ([`crate::records`],
//! [`crate::decisions`], [`crate::blobs`]) and renders.
//!
//! Authority is checked twice, with the rule given to the person: the officer's role
//! ([`roles_for`]) and the unit's place in the chain ([`chain_rule`]) before anything is
//! signed, and the verifier again when the entry is stored — so a forged POST is refused like
//! a button that was never offered.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::{AwardGrade, DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{ContentHash, RecordId, UnitId};
use sync_protocol::limits::{
    MAX_ATTACHMENTS_COUNT, MAX_ATTACHMENT_BYTES, MAX_AUTHORS_COUNT, MAX_BENEFIT_VND,
    MAX_DECISIONS_PER_BATCH_COUNT, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, MAX_WEB_UPLOAD_FILES_COUNT, WEB_PAGE_ROWS_COUNT,
};
use sync_protocol::record::{
    Application, Author, Description, EmployerRecognition, Initiative, RecordContent,
};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::Text;
use sync_protocol::verify::expected_decider;

use super::form_body::{read_form, Upload};
use super::pages::{form, status_label};
use super::{texts, Form, Page, Req, Web, WebError};
use crate::decisions::{self, ItemRefusal, Outcome};
use crate::lang::Lang;
use crate::node::Node;
use crate::officers::Role;
use crate::records;
use crate::refusal;
use crate::search;

type St = State<Arc<Web>>;

macro_rules! page {
    ($web:expr, $r:expr, $body:expr) => {{
        let out: Result<Page, Page> = async { $body }.await;
        $web.finish(&$r, out.unwrap_or_else(|p| p))
    }};
}

/// The roles that may download a confidential initiative's attachments (those who handle its
/// dossier); an operator's account alone may not.
const CONFIDENTIAL_FILE_ROLES: [Role; 3] = [Role::Support, Role::Appraiser, Role::Leader];

/// Empty author rows the form shows below the filled ones (at least [`FORM_AUTHOR_ROWS`] rows).
const FORM_EXTRA_AUTHOR_ROWS: usize = 2;

/// Author rows the form shows at the least.
const FORM_AUTHOR_ROWS: usize = 3;

// ---- the initiative form -----------------------------------------------------------------

fn sectors(lang: Lang) -> Vec<(String, String)> {
    Sector::ALL
        .iter()
        .map(|s| (s.code().to_owned(), lang.sector(*s).to_owned()))
        .collect()
}

const REGISTER: (&str, &str) = ("đăng ký và sửa sáng kiến", "register and edit initiatives");

pub(super) async fn new_form(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.require(&r, &[Role::Support], REGISTER)?;
        let today = r.lang.date(Date::from_unix_ms(web.now()));
        Ok(form_page(
            &web,
            &r,
            FormValues {
                registered_on: today,
                ..FormValues::default()
            },
            Vec::new(),
        ))
    })
}

/// What the form shows in its fields (what was typed, or the record's current values).
#[derive(Serialize, Default)]
struct FormValues {
    /// The record being edited (hex), empty for a new one.
    id: String,
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
    employer_decision: String,
    employer_date: String,
    employer_reward: String,
    /// Attachments already held (name, size), when editing.
    attachments: Vec<(String, String)>,
}

fn form_page(web: &Web, r: &Req, values: FormValues, errors: Vec<(String, String)>) -> Page {
    let errs: std::collections::BTreeMap<String, String> = errors.iter().cloned().collect();
    let rows =
        (values.authors.len() + FORM_EXTRA_AUTHOR_ROWS).clamp(FORM_AUTHOR_ROWS, MAX_AUTHORS_COUNT);
    let action = if values.id.is_empty() {
        "/initiatives/new".to_owned()
    } else {
        format!("/initiatives/{}/edit", values.id)
    };
    web.render(
        r,
        "form.html",
        context! {
            editing => !values.id.is_empty(), action,
            v => Value::from_serialize(values), errors => errs, has_errors => !errors.is_empty(),
            sectors => sectors(r.lang), author_rows => (0..rows).collect::<Vec<_>>(),
            max_files => MAX_WEB_UPLOAD_FILES_COUNT,
            max_file_mib => MAX_ATTACHMENT_BYTES / (1024 * 1024),
        },
    )
}

fn bad_form_page(web: &Web, r: &Req, values: FormValues, errors: Vec<(String, String)>) -> Page {
    match form_page(web, r, values, errors) {
        Page::Html(h) => Page::Status(StatusCode::UNPROCESSABLE_ENTITY, h),
        p => p,
    }
}

/// An initiative's fields as read from the form, each checked.
struct Parsed {
    title: Text,
    summary: Text,
    sector: Sector,
    benefit_vnd: u64,
    registered_on: Date,
    authors: Vec<Author>,
    description: Description,
    trial: bool,
    confidential: bool,
    recognition: Option<EmployerRecognition>,
}

/// Reads and checks every field; a bad one is marked in `errors` (all of them at once).
fn parse_fields(
    f: &Form,
    lang: Lang,
    errors: &mut Vec<(String, String)>,
) -> (Option<Parsed>, FormValues) {
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
        match crate::input::money(f.str("benefit")) {
            Some(b) if b <= MAX_BENEFIT_VND => Some(b),
            Some(_) => {
                err!(
                    "benefit",
                    match lang {
                        Lang::Vi => format!(
                            "Giá trị làm lợi vượt giới hạn {} đồng.",
                            lang.int(MAX_BENEFIT_VND)
                        ),
                        Lang::En => format!(
                            "The benefit value is over the limit of {} VND.",
                            lang.int(MAX_BENEFIT_VND)
                        ),
                    }
                );
                None
            }
            None => {
                err!("benefit", texts::text(lang, "err_money").into());
                None
            }
        }
    };
    let registered_on = crate::input::date(f.str("registered_on"));
    if registered_on.is_none() {
        err!("registered_on", texts::text(lang, "err_date").into());
    }
    let mut authors = Vec::new();
    let mut author_values = Vec::new();
    for i in 0..MAX_AUTHORS_COUNT {
        let (n, p) = (
            f.get(&format!("author_name_{i}")),
            f.get(&format!("author_pos_{i}")),
        );
        if n.is_none() && p.is_none() {
            continue;
        }
        let (n, p) = (n.unwrap_or(""), p.unwrap_or(""));
        if n.trim().is_empty() && p.trim().is_empty() {
            continue;
        }
        author_values.push((n.to_owned(), p.to_owned()));
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
    // The employer's recognition: all three, or none.
    let (en, ed, er) = (
        f.str("employer_decision"),
        f.str("employer_date"),
        f.str("employer_reward"),
    );
    let recognition = if [en, ed, er].iter().all(|s| s.trim().is_empty()) {
        Some(None)
    } else {
        let number = Text::required("employer_decision", en, MAX_SHORT_TEXT_CHARS);
        let date = crate::input::date(ed);
        let reward = Text::required("employer_reward", er, MAX_SHORT_TEXT_CHARS);
        match (number, date, reward) {
            (Ok(decision_number), Some(date), Ok(reward)) => Some(Some(EmployerRecognition {
                decision_number,
                date,
                reward,
            })),
            (n, d, rw) => {
                if let Err(e) = n {
                    err!("employer_decision", field_error(lang, &e));
                }
                if d.is_none() {
                    err!("employer_date", texts::text(lang, "err_date").into());
                }
                if let Err(e) = rw {
                    err!("employer_reward", field_error(lang, &e));
                }
                None
            }
        }
    };
    let confidential = f.get("confidential").is_some();
    let trial = f.str("application") == "trial";
    let values = FormValues {
        id: String::new(),
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
        employer_decision: en.into(),
        employer_date: ed.into(),
        employer_reward: er.into(),
        attachments: Vec::new(),
    };
    let parsed = match (
        title,
        summary,
        sector,
        benefit,
        registered_on,
        recognition,
        errors.is_empty(),
    ) {
        (
            Some(title),
            Some(summary),
            Some(sector),
            Some(benefit_vnd),
            Some(registered_on),
            Some(recognition),
            true,
        ) => Some(Parsed {
            title,
            summary,
            sector,
            benefit_vnd,
            registered_on,
            authors,
            description,
            trial,
            confidential,
            recognition,
        }),
        _ => None,
    };
    (parsed, values)
}

/// Checks the files sent (count and size, before anything is written) and their names.
fn check_uploads(
    uploads: &[Upload],
    already: usize,
    lang: Lang,
    errors: &mut Vec<(String, String)>,
) -> Vec<Text> {
    let mut names = Vec::new();
    if uploads.len() > MAX_WEB_UPLOAD_FILES_COUNT {
        errors.push((
            "files".into(),
            match lang {
                Lang::Vi => format!("Mỗi lần lưu gửi tối đa {MAX_WEB_UPLOAD_FILES_COUNT} tệp; đã chọn {}. Chọn lại ít tệp hơn.", uploads.len()),
                Lang::En => format!("At most {MAX_WEB_UPLOAD_FILES_COUNT} files per save; {} were chosen. Choose fewer files again.", uploads.len()),
            },
        ));
        return names;
    }
    if already + uploads.len() > MAX_ATTACHMENTS_COUNT {
        errors.push((
            "files".into(),
            match lang {
                Lang::Vi => format!("Một sáng kiến có tối đa {MAX_ATTACHMENTS_COUNT} tệp đính kèm; đã có {already}."),
                Lang::En => format!("An initiative has at most {MAX_ATTACHMENTS_COUNT} attachments; it has {already} already."),
            },
        ));
        return names;
    }
    for u in uploads {
        let size = u.size_bytes;
        if size > MAX_ATTACHMENT_BYTES {
            let limit = MAX_ATTACHMENT_BYTES / (1024 * 1024);
            errors.push((
                "files".into(),
                match lang {
                    Lang::Vi => format!("Tệp «{}» dài {} byte, quá giới hạn {limit} MiB của một tệp đính kèm. Không có gì được lưu; nén hoặc chia nhỏ tệp rồi chọn lại.", u.name, lang.int(size)),
                    Lang::En => format!("File «{}» is {} bytes, over the limit of {limit} MiB for one attachment. Nothing was stored; compress or split it and choose it again.", u.name, lang.int(size)),
                },
            ));
            continue;
        }
        match Text::required("file", &u.name, MAX_SHORT_TEXT_CHARS) {
            Ok(n) => names.push(n),
            Err(e) => errors.push(("files".into(), field_error(lang, &e))),
        }
    }
    names
}

pub(super) async fn new_submit(
    State(web): St,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let account = web.require(&r, &[Role::Support], REGISTER)?.clone();
        let (f, uploads) = read_form(&headers, body).await.map_err(WebError::from)?;
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let lang = r.lang;
        let mut errors = Vec::new();
        let (parsed, values) = parse_fields(&f, lang, &mut errors);
        let names = check_uploads(&uploads, 0, lang, &mut errors);
        let (Some(p), true) = (parsed, errors.is_empty()) else {
            return Ok(bad_form_page(
                &web,
                &r,
                values,
                with_files_note(lang, errors, &uploads),
            ));
        };
        let now = web.now();
        let saved = web
            .with_node(move |node| -> Result<RecordId, Saved> {
                let d = node.directory();
                let Some(superior) = d.parent_at(node.unit(), now).cloned() else {
                    return Err(Saved::Forbidden(WebError::forbidden(
                        "Quy tắc: sáng kiến được đăng ký tại công đoàn cơ sở, đơn vị có cấp trên trực tiếp; đơn vị này không có cấp trên trong cây đơn vị.",
                        "Rule: initiatives are registered at a grassroots union, a unit with a direct superior; this unit has none in the unit tree.",
                    )));
                };
                let mut i = Initiative {
                    title: p.title,
                    authors: p.authors,
                    origin: node.unit().clone(),
                    superior,
                    programme: None,
                    phase: 0,
                    sector: p.sector,
                    summary: p.summary,
                    registered_on: p.registered_on,
                    description: p.description,
                    benefit_vnd: p.benefit_vnd,
                    application: if p.trial {
                        Application::Trial
                    } else {
                        Application::Applied
                    },
                    recognition: p.recognition,
                    confidential: p.confidential,
                    attachments: Vec::new(),
                    commitment_salt: p.confidential.then(records::new_salt),
                };
                if let Some((prog, n)) = programme_for(node, p.registered_on, now) {
                    i.programme = Some(prog);
                    i.phase = n;
                }
                let staged = stage_all(node, &uploads, names)?;
                records::create_attached(node, RecordContent::Initiative(Box::new(i)), staged, now)
                    .map_err(Saved::Attach)
            })
            .await?;
        match saved {
            Ok(id) => {
                web.audit(&account.login, "register", &id.to_hex());
                (web.on_write)();
                Ok(Page::Redirect(format!("/initiatives/{}", id.to_hex())))
            }
            Err(Saved::Forbidden(e)) => Err(e.into()),
            Err(s) => Ok(bad_form_page(
                &web,
                &r,
                values,
                vec![("form".into(), s.sentence(lang))],
            )),
        }
    })
}

/// Why a save stored nothing.
enum Saved {
    /// The rule that forbids it here.
    Forbidden(WebError),
    /// A file could not be staged.
    Blob(crate::blobs::BlobError),
    /// The node refused the record change.
    Attach(records::AttachError),
}

impl Saved {
    fn sentence(&self, lang: Lang) -> String {
        let blob = |e: &crate::blobs::BlobError| {
            tracing::error!(error = %e, "web: an attachment could not be stored");
            lang.t(
                "Nút không ghi được tệp đính kèm vào đĩa. Không có gì được lưu; báo cán bộ vận hành (nhật ký của nút có chi tiết).",
                "The node could not write the attachment to its disk. Nothing was stored; tell the operator (the node's log has the details).",
            )
            .to_owned()
        };
        match self {
            Saved::Forbidden(e) => e.text(lang).to_owned(),
            Saved::Blob(e) | Saved::Attach(records::AttachError::Blob(e)) => blob(e),
            Saved::Attach(records::AttachError::Node(e)) => refusal::node_error(lang, e),
            Saved::Attach(records::AttachError::NotAnInitiative(_)) => {
                texts::text(lang, "rule_edit_origin").to_owned()
            }
        }
    }
}

/// Stages every upload (nothing visible yet: a staged blob dropped is removed).
fn stage_all(
    node: &Node,
    uploads: &[Upload],
    names: Vec<Text>,
) -> Result<Vec<(crate::blobs::Staged, Text)>, Saved> {
    uploads
        .iter()
        .zip(names)
        .map(|(u, n)| {
            crate::blobs::stage_bytes(node.dir(), &u.name, &u.bytes)
                .map(|s| (s, n))
                .map_err(Saved::Blob)
        })
        .collect()
}

/// A refused form cannot keep the files chosen (a browser does not refill file inputs): say so.
fn with_files_note(
    lang: Lang,
    mut errors: Vec<(String, String)>,
    uploads: &[Upload],
) -> Vec<(String, String)> {
    if !uploads.is_empty() && !errors.iter().any(|(k, _)| k == "files") {
        errors.push(("files".into(), texts::text(lang, "err_files_again").into()));
    }
    errors
}

/// Whether this unit may edit the initiative now, or the rule that forbids it.
fn edit_rule(node: &Node, rep: &sync_protocol::audit::RecordReport) -> Result<(), &'static str> {
    match &rep.content {
        Some(RecordContent::Initiative(i)) if &i.origin == node.unit() => {}
        _ => return Err("rule_edit_origin"),
    }
    match rep.status.as_ref().map(|s| s.0) {
        None | Some(DecisionKind::ReturnForRevision) => Ok(()),
        Some(_) => Err("rule_edit_state"),
    }
}

fn values_of(lang: Lang, id: RecordId, i: &Initiative) -> FormValues {
    FormValues {
        id: id.to_hex(),
        title: i.title.as_str().into(),
        summary: i.summary.as_str().into(),
        sector: i.sector.code().into(),
        benefit: lang.int(i.benefit_vnd),
        registered_on: lang.date(i.registered_on),
        confidential: i.confidential,
        trial: i.application == Application::Trial,
        authors: i
            .authors
            .iter()
            .map(|a| (a.name.as_str().into(), a.position.as_str().into()))
            .collect(),
        current_state: i.description.current_state.as_str().into(),
        solution: i.description.solution.as_str().into(),
        novelty: i.description.novelty.as_str().into(),
        scope: i.description.scope.as_str().into(),
        effectiveness: i.description.effectiveness.as_str().into(),
        employer_decision: i
            .recognition
            .as_ref()
            .map(|r| r.decision_number.as_str().into())
            .unwrap_or_default(),
        employer_date: i
            .recognition
            .as_ref()
            .map(|r| lang.date(r.date))
            .unwrap_or_default(),
        employer_reward: i
            .recognition
            .as_ref()
            .map(|r| r.reward.as_str().into())
            .unwrap_or_default(),
        attachments: attachment_names(lang, i),
    }
}

fn attachment_names(lang: Lang, i: &Initiative) -> Vec<(String, String)> {
    i.attachments
        .iter()
        .map(|a| (a.name.as_str().into(), size_text(lang, a.size_bytes)))
        .collect()
}

fn size_text(lang: Lang, n: u64) -> String {
    if n >= 1024 * 1024 {
        format!(
            "{},{} MiB",
            n / (1024 * 1024),
            (n % (1024 * 1024)) * 10 / (1024 * 1024)
        )
    } else if n >= 1024 {
        format!("{} KiB", lang.int(n.div_ceil(1024)))
    } else {
        format!("{} {}", lang.int(n), lang.t("byte", "bytes"))
    }
}

/// The record an edit is for, with what the form needs, or the rule that forbids editing it.
fn edit_target(
    node: &Node,
    id: RecordId,
    lang: Lang,
    now: u64,
) -> Result<Result<(FormValues, usize), WebError>, WebError> {
    let rep = records::check(node, id, now).map_err(super::store_error)?;
    if rep.header.as_ref().map(|h| h.kind) != Some(RecordKind::Initiative) {
        return Ok(Err(WebError::not_found()));
    }
    if let Err(rule) = edit_rule(node, &rep) {
        return Ok(Err(WebError::forbidden(
            texts::text(Lang::Vi, rule),
            texts::text(Lang::En, rule),
        )));
    }
    let Some(RecordContent::Initiative(i)) = &rep.content else {
        return Ok(Err(WebError::not_found()));
    };
    Ok(Ok((values_of(lang, id, i), i.attachments.len())))
}

pub(super) async fn edit_form(
    State(web): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.require(&r, &[Role::Support], REGISTER)?;
        let id = parse_id(&id).ok_or_else(WebError::not_found)?;
        let (lang, now) = (r.lang, web.now());
        let (values, _) = web
            .with_node(move |node| edit_target(node, id, lang, now))
            .await???;
        Ok(form_page(&web, &r, values, Vec::new()))
    })
}

pub(super) async fn edit_submit(
    State(web): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        let account = web.require(&r, &[Role::Support], REGISTER)?.clone();
        let id = parse_id(&id).ok_or_else(WebError::not_found)?;
        let (f, uploads) = read_form(&headers, body).await.map_err(WebError::from)?;
        if !web.csrf_ok(&r, &f) {
            return Err(WebError::bad_form().into());
        }
        let (lang, now) = (r.lang, web.now());
        let (held, already) = web
            .with_node(move |node| edit_target(node, id, lang, now))
            .await???;
        let mut errors = Vec::new();
        let (parsed, mut values) = parse_fields(&f, lang, &mut errors);
        values.id = id.to_hex();
        values.confidential = held.confidential;
        values.attachments = held.attachments;
        let names = check_uploads(&uploads, already, lang, &mut errors);
        let (Some(p), true) = (parsed, errors.is_empty()) else {
            return Ok(bad_form_page(
                &web,
                &r,
                values,
                with_files_note(lang, errors, &uploads),
            ));
        };
        let saved = web
            .with_node(move |node| -> Result<bool, Saved> {
                // Checked again under the same lock as the write.
                let rep = records::check(node, id, now).map_err(|e| Saved::Attach(e.into()))?;
                if let Err(rule) = edit_rule(node, &rep) {
                    return Err(Saved::Forbidden(WebError::forbidden(
                        texts::text(Lang::Vi, rule),
                        texts::text(Lang::En, rule),
                    )));
                }
                let programme = programme_for(node, p.registered_on, now);
                let staged = stage_all(node, &uploads, names)?;
                records::edit_attached(
                    node,
                    id,
                    |c| {
                        if let RecordContent::Initiative(i) = c {
                            if i.registered_on != p.registered_on {
                                if let Some((prog, n)) = programme {
                                    i.programme = Some(prog);
                                    i.phase = n;
                                }
                            }
                            i.title = p.title;
                            i.summary = p.summary;
                            i.sector = p.sector;
                            i.benefit_vnd = p.benefit_vnd;
                            i.registered_on = p.registered_on;
                            i.authors = p.authors;
                            i.description = p.description;
                            i.application = if p.trial {
                                Application::Trial
                            } else {
                                Application::Applied
                            };
                            i.recognition = p.recognition;
                            // Confidentiality is chosen at registration (`p.confidential` is
                            // not applied).
                            let _ = p.confidential;
                        }
                    },
                    staged,
                    now,
                )
                .map_err(Saved::Attach)
            })
            .await?;
        match saved {
            Ok(changed) => {
                if changed {
                    web.audit(&account.login, "edit", &id.to_hex());
                    (web.on_write)();
                }
                Ok(Page::Redirect(format!("/initiatives/{}", id.to_hex())))
            }
            Err(Saved::Forbidden(e)) => Err(e.into()),
            Err(s) => Ok(bad_form_page(
                &web,
                &r,
                values,
                vec![("form".into(), s.sentence(lang))],
            )),
        }
    })
}

/// A text field's refusal as the form shows it beside the field (without the CLI's flag name).
pub(super) fn field_error(lang: Lang, e: &sync_protocol::text::TextError) -> String {
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

/// The programme and phase a registration date falls in, among the programmes held here (a
/// grassroots node holds few records).
pub(super) fn programme_for(node: &Node, d: Date, now: u64) -> Option<(RecordId, u32)> {
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

#[derive(Serialize)]
struct FileRow {
    name: String,
    size: String,
    /// The download address, when this officer may download it.
    href: Option<String>,
}

#[derive(Serialize)]
struct Change {
    field: String,
    before: String,
    after: String,
}

const ALL_KINDS: [DecisionKind; 7] = [
    DecisionKind::Submit,
    DecisionKind::ReturnForRevision,
    DecisionKind::Reject,
    DecisionKind::Approve,
    DecisionKind::Recognise,
    DecisionKind::Award(AwardGrade::Typical),
    DecisionKind::Award(AwardGrade::Excellent),
];

/// What this unit may decide now on an initiative: each kind whose turn it is here.
pub(super) fn allowed_here(
    node: &Node,
    origin: &UnitId,
    status: Option<&(DecisionKind, UnitId)>,
    now: u64,
) -> Vec<DecisionKind> {
    ALL_KINDS
        .into_iter()
        .filter(|k| chain_rule_of(node, origin, status, *k, now).is_ok())
        .collect()
}

/// Whether it is this unit's turn to decide `kind`, or the rule that says whose it is.
fn chain_rule_of(
    node: &Node,
    origin: &UnitId,
    status: Option<&(DecisionKind, UnitId)>,
    kind: DecisionKind,
    now: u64,
) -> Result<(), ChainRule> {
    // A recognised or awarded initiative waits for nothing more in the chain.
    if matches!(
        status.map(|p| p.0),
        Some(DecisionKind::Recognise | DecisionKind::Award(_))
    ) {
        return Err(ChainRule::Finished);
    }
    let prev = status.map(|(k, u)| (u.clone(), *k));
    match expected_decider(node.directory(), origin, kind, prev.as_ref(), now) {
        Ok(u) if &u == node.unit() => Ok(()),
        Ok(u) => Err(ChainRule::OtherUnit(u)),
        Err(why) => Err(ChainRule::Order(why)),
    }
}

/// Why this unit may not make a decision now.
enum ChainRule {
    /// The chain ended with a recognition or an award.
    Finished,
    /// It is another unit's turn.
    OtherUnit(UnitId),
    /// Decisions go in an order this one does not follow (the verifier's words).
    Order(&'static str),
}

impl ChainRule {
    fn sentence(&self, node: &Node, kind: DecisionKind, lang: Lang) -> String {
        let name = |u: &UnitId| {
            node.directory()
                .name(u)
                .map(|n| n.as_str().to_owned())
                .unwrap_or_else(|| u.to_string())
        };
        let here = name(node.unit());
        match (self, lang) {
            (ChainRule::Finished, Lang::Vi) => "Quy tắc: sáng kiến đã được công nhận hoặc khen thưởng; không còn quyết định nào chờ trong chuỗi.".into(),
            (ChainRule::Finished, Lang::En) => "Rule: the initiative is recognised or awarded; no decision waits in its chain any more.".into(),
            (ChainRule::OtherUnit(u), Lang::Vi) => format!(
                "Quy tắc: mỗi cấp chỉ quyết định sau cấp ngay dưới nó, về sáng kiến của đơn vị mình quản lý; quyết định «{}» lúc này thuộc về {}, không phải {here}.",
                lang.decision(kind), name(u)
            ),
            (ChainRule::OtherUnit(u), Lang::En) => format!(
                "Rule: each level decides only after the level just below it, on initiatives of its own subtree; the decision «{}» is now for {}, not {here}.",
                lang.decision(kind), name(u)
            ),
            (ChainRule::Order(why), _) => {
                let d = refusal::detail(lang, why);
                let d = if d.is_empty() { why.to_string() } else { d };
                format!("{} {d}.", lang.t("Quy tắc:", "Rule:"))
            }
        }
    }
}

/// The rule that forbids this unit to decide `kind` on `id` now, if any (also for a request
/// no page offered: a forged or stale form).
fn chain_rule(
    node: &Node,
    id: RecordId,
    kind: DecisionKind,
    lang: Lang,
    now: u64,
) -> Result<Option<String>, WebError> {
    let rep = records::check(node, id, now).map_err(super::store_error)?;
    let Some(h) = rep
        .header
        .as_ref()
        .filter(|h| h.kind == RecordKind::Initiative)
    else {
        return Ok(Some(
            lang.t(
                "Không có sáng kiến này trên nút.",
                "There is no such initiative on this node.",
            )
            .into(),
        ));
    };
    if !rep.is_valid() {
        return Ok(Some(lang.t(
            "Quy tắc: không quyết định về hồ sơ không kiểm tra được (xem phần kiểm tra chữ ký và quy tắc trên trang của nó).",
            "Rule: no decision is made on a record that does not verify (see the signature and rule check on its page).",
        ).into()));
    }
    let origin = match &rep.content {
        Some(RecordContent::Initiative(i)) => i.origin.clone(),
        _ => h.owner.clone(),
    };
    let status = rep.status.as_ref().map(|(k, u, _)| (*k, u.clone()));
    Ok(chain_rule_of(node, &origin, status.as_ref(), kind, now)
        .err()
        .map(|c| c.sentence(node, kind, lang)))
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
    ALL_KINDS.into_iter().find(|k| k.code() == s)
}

/// What the viewer may see of an initiative beyond its page.
#[derive(Clone, Copy)]
struct Viewer {
    /// May download a confidential initiative's attachments.
    confidential_files: bool,
    /// May edit (support role).
    support: bool,
}

impl Viewer {
    fn of(r: &Req) -> Self {
        let a = r.account.as_ref();
        Self {
            confidential_files: a
                .is_some_and(|a| CONFIDENTIAL_FILE_ROLES.iter().any(|x| a.has(*x))),
            support: a.is_some_and(|a| a.has(Role::Support)),
        }
    }
}

/// Everything the initiative page and the inbox show of one record.
fn initiative_ctx(
    node: &Node,
    id: RecordId,
    lang: Lang,
    now: u64,
    viewer: Viewer,
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
    let mut files = Vec::new();
    let mut recognition = None;
    let mut application = String::new();
    let (title, summary, sector, benefit, authors, registered, description, confidential, origin) =
        match &rep.content {
            Some(RecordContent::Initiative(i)) => {
                let may = !i.confidential || viewer.confidential_files;
                files = i
                    .attachments
                    .iter()
                    .map(|a| FileRow {
                        name: a.name.as_str().to_owned(),
                        size: size_text(lang, a.size_bytes),
                        href: may.then(|| {
                            format!("/initiatives/{}/files/{}", id.to_hex(), a.hash.to_hex())
                        }),
                    })
                    .collect();
                recognition = i.recognition.as_ref().map(|r| recognition_text(lang, r));
                application = application_text(lang, i.application);
                (
                    i.title.as_str().to_owned(),
                    i.summary.as_str().to_owned(),
                    lang.sector(i.sector).to_owned(),
                    lang.money(i.benefit_vnd),
                    i.authors
                        .iter()
                        .map(|a| format!("{} — {}", a.name, a.position))
                        .collect::<Vec<_>>(),
                    lang.date(i.registered_on),
                    description_rows(lang, &i.description)
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .collect::<Vec<_>>(),
                    i.confidential,
                    i.origin.clone(),
                )
            }
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
    // What changed since the state the last decision judged, field by field.
    let changes: Vec<Change> = match (&rep.content, rep.approved_state_differs) {
        (Some(RecordContent::Initiative(now_i)), true) => {
            match records::judged_content(node, &rep).map_err(super::store_error)? {
                Some(RecordContent::Initiative(then)) => changed_fields(lang, &then, now_i),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let editable = viewer.support && edit_rule(node, &rep).is_ok();
    Ok(Some(context! {
        id => id.to_hex(), short => id.short(), title, summary, sector, benefit, authors,
        registered, description, confidential, files, recognition, application,
        origin => name(&origin),
        status => match &status {
            None => lang.t("Mới đăng ký", "Registered").to_owned(),
            Some((k, _)) => status_label(lang, &crate::report::Status::Decided(*k)),
        },
        steps, valid => rep.is_valid(), problems,
        differs => rep.approved_state_differs,
        changes,
        conflicts => rep.conflicts.len(),
        allowed, editable,
    }))
}

fn description_rows(lang: Lang, d: &Description) -> Vec<(&'static str, String)> {
    vec![
        (
            texts::text(lang, "current_state"),
            d.current_state.as_str().to_owned(),
        ),
        (
            texts::text(lang, "solution"),
            d.solution.as_str().to_owned(),
        ),
        (texts::text(lang, "novelty"), d.novelty.as_str().to_owned()),
        (texts::text(lang, "scope"), d.scope.as_str().to_owned()),
        (
            texts::text(lang, "effectiveness"),
            d.effectiveness.as_str().to_owned(),
        ),
    ]
}

fn recognition_text(lang: Lang, r: &EmployerRecognition) -> String {
    format!(
        "{} {} {} {} — {}",
        lang.t("Quyết định số", "Decision no."),
        r.decision_number,
        lang.t("ngày", "of"),
        lang.date(r.date),
        r.reward
    )
}

fn application_text(lang: Lang, a: Application) -> String {
    match a {
        Application::Applied => texts::text(lang, "applied").into(),
        Application::Trial => texts::text(lang, "trial").into(),
    }
}

/// The fields that differ between the judged and the current content: field, before, after.
fn changed_fields(lang: Lang, then: &Initiative, now: &Initiative) -> Vec<Change> {
    let none = || "—".to_owned();
    let authors = |i: &Initiative| {
        i.authors
            .iter()
            .map(|a| format!("{} — {}", a.name, a.position))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let files = |i: &Initiative| {
        i.attachments
            .iter()
            .map(|a| a.name.as_str().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let recog = |i: &Initiative| {
        i.recognition
            .as_ref()
            .map(|r| recognition_text(lang, r))
            .unwrap_or_else(none)
    };
    let mut rows: Vec<(&str, String, String)> = vec![
        (
            texts::text(lang, "title"),
            then.title.as_str().into(),
            now.title.as_str().into(),
        ),
        (
            texts::text(lang, "summary"),
            then.summary.as_str().into(),
            now.summary.as_str().into(),
        ),
        (
            texts::text(lang, "sector"),
            lang.sector(then.sector).into(),
            lang.sector(now.sector).into(),
        ),
        (
            texts::text(lang, "benefit"),
            lang.money(then.benefit_vnd),
            lang.money(now.benefit_vnd),
        ),
        (
            texts::text(lang, "registered_on"),
            lang.date(then.registered_on),
            lang.date(now.registered_on),
        ),
        (
            texts::text(lang, "application"),
            application_text(lang, then.application),
            application_text(lang, now.application),
        ),
        (texts::text(lang, "authors_h"), authors(then), authors(now)),
        (texts::text(lang, "recognition_h"), recog(then), recog(now)),
        (texts::text(lang, "files_h"), files(then), files(now)),
    ];
    for ((label, a), (_, b)) in description_rows(lang, &then.description)
        .into_iter()
        .zip(description_rows(lang, &now.description))
    {
        rows.push((label, a, b));
    }
    if (then.programme, then.phase) != (now.programme, now.phase) {
        rows.push((
            texts::text(lang, "phase"),
            then.programme
                .map(|p| format!("{} / {}", p.short(), then.phase))
                .unwrap_or_else(none),
            now.programme
                .map(|p| format!("{} / {}", p.short(), now.phase))
                .unwrap_or_else(none),
        ));
    }
    rows.into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(f, a, b)| Change {
            field: f.to_owned(),
            before: if a.is_empty() { none() } else { a },
            after: if b.is_empty() { none() } else { b },
        })
        .collect()
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
        let (lang, now, viewer) = (r.lang, web.now(), Viewer::of(&r));
        let ctx = web
            .with_node(move |node| initiative_ctx(node, id, lang, now, viewer))
            .await??
            .ok_or_else(WebError::not_found)?;
        Ok(web.render(
            &r,
            "initiative.html",
            context! { i => ctx, notice => Value::UNDEFINED },
        ))
    })
}

/// An attachment of an initiative held here: only through its record (a hash alone opens
/// nothing), a confidential one only for [`CONFIDENTIAL_FILE_ROLES`].
pub(super) async fn attachment(
    State(web): St,
    Path((id, hash)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let r = web.req(&headers, &uri);
    let out: Result<Response, Page> = async {
        web.account(&r)?;
        let id = parse_id(&id).ok_or_else(WebError::not_found)?;
        let hash = ContentHash::from_hex(&hash).map_err(|_| WebError::not_found())?;
        let (now, viewer) = (web.now(), Viewer::of(&r));
        let found = web
            .with_node(move |node| -> Result<_, WebError> {
                let rep = records::check(node, id, now).map_err(super::store_error)?;
                let Some(RecordContent::Initiative(i)) = rep.content else {
                    return Err(WebError::not_found());
                };
                let Some(a) = i.attachments.iter().find(|a| a.hash == hash) else {
                    return Err(WebError::not_found());
                };
                if i.confidential && !viewer.confidential_files {
                    return Ok(Err(()));
                }
                match crate::blobs::read(node.dir(), &hash) {
                    Ok(bytes) => Ok(Ok((a.name.as_str().to_owned(), bytes))),
                    Err(crate::blobs::BlobError::Missing { .. }) => Err(WebError::new(
                        StatusCode::NOT_FOUND,
                        "Tệp đính kèm này không có trên nút này: tệp đính kèm chưa được đồng bộ giữa các nút, tệp chỉ có ở nút của đơn vị gốc.",
                        "This attachment is not held at this node: attachments are not synced between nodes yet, the file is only at the origin unit's node.",
                    )),
                    Err(e) => Err(super::store_error(e)),
                }
            })
            .await??;
        let Ok((name, bytes)) = found else {
            let roles = |vi: bool| {
                CONFIDENTIAL_FILE_ROLES
                    .iter()
                    .map(|x| if vi { x.names().0 } else { x.names().1 })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(WebError::forbidden(
                format!("Quy tắc: tệp đính kèm của sáng kiến có bí mật công nghệ chỉ dành cho cán bộ có vai trò {}.", roles(true)),
                format!("Rule: the attachments of an initiative with a technology secret are for officers with the role {} only.", roles(false)),
            )
            .into());
        };
        let ascii: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' })
            .collect();
        let disposition = format!(
            "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
            // Form encoding writes a space as '+', which RFC 5987 reads as a plus sign.
            super::url_escape(&name).replace('+', "%20")
        );
        let mut resp = (StatusCode::OK, bytes).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        );
        Ok(resp)
    }
    .await;
    match out {
        Ok(resp) => resp,
        Err(p) => web.finish(&r, p),
    }
}

/// The officer's name and title as a decision carries them.
fn signer(account: &crate::officers::Account) -> Result<(Text, Text), Page> {
    match (
        Text::required("officer", &account.name, MAX_SHORT_TEXT_CHARS),
        Text::required("title", &account.title, MAX_SHORT_TEXT_CHARS),
    ) {
        (Ok(n), Ok(t)) => Ok((n, t)),
        _ => Err(WebError::internal().into()),
    }
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
        let (now, viewer) = (web.now(), Viewer::of(&r));
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
                    .with_node(move |node| initiative_ctx(node, id, lang, now, viewer))
                    .await??
                    .ok_or_else(WebError::not_found)?;
                return match web.render(&r, "initiative.html", context! { i => ctx, notice => msg })
                {
                    Page::Html(h) => Ok(Page::Status(StatusCode::UNPROCESSABLE_ENTITY, h)),
                    p => Ok(p),
                };
            }
        };
        let (name, title) = signer(&account)?;
        let result = web
            .with_node(move |node| -> Result<_, WebError> {
                // The unit's place in the chain, with the rule, before anything is signed.
                let rules = [Lang::Vi, Lang::En].map(|l| chain_rule(node, id, kind, l, now));
                if let [Ok(Some(vi)), Ok(Some(en))] = rules {
                    return Ok(Err(Err(WebError::forbidden(vi, en))));
                }
                Ok(records::decide(node, id, kind, name, title, note, now).map_err(Ok))
            })
            .await??;
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
            Err(Err(rule)) => {
                web.audit(
                    &account.login,
                    "decide_refused",
                    &format!("{} {} (rule)", id.to_hex(), kind.code()),
                );
                Err(rule.into())
            }
            Err(Ok(e)) => {
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

/// An initiative's title as held here (its content, or its public projection).
fn title_of(node: &Node, id: RecordId, now: u64) -> Option<String> {
    let rep = records::check(node, id, now).ok()?;
    if let Some(RecordContent::Initiative(i)) = &rep.content {
        return Some(i.title.as_str().to_owned());
    }
    match node.store().entry(&rep.latest_projection?).ok()??.body() {
        EntryBody::Projection(p) => Some(p.title.as_str().to_owned()),
        _ => None,
    }
}

#[derive(Serialize)]
struct InboxRow {
    id: String,
    title: String,
    origin: String,
    status: String,
    actions: String,
}

/// One item of a batch: its id (if it was one), its title, the decision entry or why not.
type ItemResult = (
    Option<RecordId>,
    String,
    Result<sync_protocol::ids::EntryHash, String>,
);

#[derive(Serialize)]
struct BatchResult {
    id: String,
    title: String,
    done: bool,
    message: String,
}

/// What the inbox page shows beside the waiting items: the results of a batch just made, or
/// why it was refused whole.
#[derive(Default)]
struct InboxNotice {
    results: Vec<BatchResult>,
    error: Option<String>,
    note: String,
}

pub(super) async fn inbox(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = web.req(&headers, &uri);
    page!(web, r, {
        web.account(&r)?;
        inbox_page(&web, &r, InboxNotice::default(), StatusCode::OK).await
    })
}

async fn inbox_page(
    web: &Web,
    r: &Req,
    notice: InboxNotice,
    status: StatusCode,
) -> Result<Page, Page> {
    let q = Form(super::form_urlencoded_pairs(&r.query));
    let at: usize = q.str("at").parse().unwrap_or(0);
    let page: usize = q.str("p").parse().unwrap_or(1).max(1);
    let (lang, now, viewer) = (r.lang, web.now(), Viewer::of(r));
    let (total, at, ctx, rows, kinds, page, pages) = web
        .with_node(move |node| -> Result<_, WebError> {
            // The inbox index (`search::inbox_page`): the shown item and the table's page
            // cost O(children + page), never a walk over the records.
            let page_of = |n: usize, limit: usize| {
                search::inbox_page(node, n as u64, limit, now).map_err(|e| match e {
                    search::PageError::Node(e) => super::store_error(e),
                    _ => WebError::internal(),
                })
            };
            let max_page = sync_protocol::limits::MAX_PAGE_NUMBER as usize;
            let mut one = page_of(at.min(max_page - 1) + 1, 1)?;
            let total = one.total as usize;
            let at = at.min(total.saturating_sub(1)).min(max_page - 1);
            if one.items.is_empty() && total > 0 {
                one = page_of(at + 1, 1)?;
            }
            let ctx = match one.items.first() {
                Some(l) => initiative_ctx(node, l.record, lang, now, viewer)?,
                None => None,
            };
            let pages = total.div_ceil(WEB_PAGE_ROWS_COUNT).clamp(1, max_page);
            let page = page.min(pages);
            let mut kinds: Vec<DecisionKind> = Vec::new();
            let waiting = page_of(page, WEB_PAGE_ROWS_COUNT)?.items;
            let rows: Vec<InboxRow> = waiting
                .iter()
                .map(|l| {
                    let s = l.status.as_ref().map(|(k, u, _)| (*k, u.clone()));
                    let allowed = allowed_here(node, &l.origin, s.as_ref(), now);
                    for k in &allowed {
                        if !kinds.contains(k) {
                            kinds.push(*k);
                        }
                    }
                    InboxRow {
                        id: l.record.to_hex(),
                        title: l.title.clone(),
                        origin: l.origin_name.clone(),
                        status: match &l.status {
                            None => lang.t("Mới đăng ký", "Registered").into(),
                            Some((k, _, _)) => {
                                status_label(lang, &crate::report::Status::Decided(*k))
                            }
                        },
                        actions: allowed
                            .iter()
                            .map(|k| texts::action_name(lang, *k))
                            .collect::<Vec<_>>()
                            .join(" · "),
                    }
                })
                .collect();
            kinds.sort_by_key(|k| ALL_KINDS.iter().position(|x| x == k));
            Ok((total, at, ctx, rows, kinds, page, pages))
        })
        .await??;
    let kinds: Vec<(String, String)> = kinds
        .into_iter()
        .map(|k| (k.code().to_owned(), texts::action_name(lang, k).to_owned()))
        .collect();
    let html = web.render(
        r,
        "inbox.html",
        context! {
            i => ctx, total => lang.int(total as u64), position => at + 1,
            prev => (at > 0).then(|| format!("/inbox?at={}", at - 1)),
            next => (at + 1 < total).then(|| format!("/inbox?at={}", at + 1)),
            rows, kinds, page, pages,
            prev_page => (page > 1).then(|| format!("/inbox?p={}", page - 1)),
            next_page => (page < pages).then(|| format!("/inbox?p={}", page + 1)),
            results => notice.results, batch_error => notice.error, batch_note => notice.note,
            max_batch => MAX_DECISIONS_PER_BATCH_COUNT,
        },
    );
    Ok(match html {
        Page::Html(h) if status != StatusCode::OK => Page::Status(status, h),
        p => p,
    })
}

/// Several decisions at once: one action on the initiatives ticked. Each is judged on its own
/// (the officer's role for the action, the unit's turn in each chain, the verifier) and the
/// page says, per initiative, what was done or which rule refused it.
pub(super) async fn inbox_decide(
    State(web): St,
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
        let lang = r.lang;
        let Some(kind) = kind_from_code(f.str("kind")) else {
            let notice = InboxNotice {
                results: Vec::new(),
                error: Some(texts::text(lang, "err_batch_kind").into()),
                note: f.str("note").to_owned(),
            };
            return inbox_page(&web, &r, notice, StatusCode::UNPROCESSABLE_ENTITY).await;
        };
        let (roles, what) = roles_for(kind);
        let account = web.require(&r, roles, what)?.clone();
        let ids: Vec<String> =
            f.0.iter()
                .filter(|(k, _)| k == "id")
                .map(|(_, v)| v.clone())
                .collect();
        let typed_note = f.str("note").to_owned();
        let refuse_whole = |msg: String| InboxNotice {
            results: Vec::new(),
            error: Some(msg),
            note: typed_note.clone(),
        };
        if ids.is_empty() {
            return inbox_page(
                &web,
                &r,
                refuse_whole(texts::text(lang, "err_batch_none").into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        if ids.len() > MAX_DECISIONS_PER_BATCH_COUNT {
            let msg = match lang {
                Lang::Vi => format!("Mỗi lần quyết định tối đa {MAX_DECISIONS_PER_BATCH_COUNT} sáng kiến; đã chọn {}. Không có gì được ghi.", ids.len()),
                Lang::En => format!("At most {MAX_DECISIONS_PER_BATCH_COUNT} initiatives per action; {} were chosen. Nothing was recorded.", ids.len()),
            };
            return inbox_page(
                &web,
                &r,
                refuse_whole(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        let note = match Text::multiline("note", f.str("note"), MAX_NOTE_CHARS) {
            Ok(n) if kind == DecisionKind::ReturnForRevision && n.is_empty() => {
                Err(texts::text(lang, "err_reason").to_owned())
            }
            Ok(n) => Ok(n),
            Err(e) => Err(field_error(lang, &e)),
        };
        let note = match note {
            Ok(n) => n,
            Err(msg) => {
                return inbox_page(
                    &web,
                    &r,
                    refuse_whole(msg),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        };
        let (name, title) = signer(&account)?;
        let now = web.now();
        let results = web
            .with_node(move |node| -> Result<Vec<ItemResult>, WebError> {
                // Each item: its id, its title, and either the rule that refuses it here or a
                // request for the node.
                let mut items: Vec<(Option<RecordId>, String, Option<String>)> = Vec::new();
                let mut requests = Vec::new();
                for raw in &ids {
                    let Some(id) = parse_id(raw) else {
                        items.push((
                            None,
                            raw.chars().take(32).collect(),
                            Some(
                                lang.t("Không phải mã sáng kiến.", "Not an initiative id.")
                                    .into(),
                            ),
                        ));
                        continue;
                    };
                    let title = title_of(node, id, now).unwrap_or_else(|| id.short());
                    match chain_rule(node, id, kind, lang, now)? {
                        Some(rule) => items.push((Some(id), title, Some(rule))),
                        None => {
                            items.push((Some(id), title, None));
                            requests.push(decisions::Request {
                                record: id,
                                kind,
                                note: note.clone(),
                            });
                        }
                    }
                }
                let outcomes = match decisions::decide_all(node, &requests, &name, &title, now) {
                    Ok(o) => o,
                    Err(decisions::BatchError::TooMany { .. }) => return Err(WebError::internal()),
                    Err(decisions::BatchError::Node(e)) => return Err(super::store_error(e)),
                };
                let mut outcomes = outcomes.into_iter();
                Ok(items
                    .into_iter()
                    .map(|(id, title, rule)| {
                        let result = match rule {
                            Some(rule) => Err(rule),
                            None => match outcomes.next() {
                                Some(Outcome::Done(h)) => Ok(h),
                                Some(Outcome::Refused(ItemRefusal::Node(e))) => {
                                    Err(refusal::node_error(lang, &e))
                                }
                                Some(Outcome::Refused(ItemRefusal::Twice(_))) => {
                                    Err(texts::text(lang, "err_batch_twice").into())
                                }
                                None => Err(texts::text(lang, "err_batch_none").into()),
                            },
                        };
                        (id, title, result)
                    })
                    .collect())
            })
            .await??;
        let mut any = false;
        let rows: Vec<BatchResult> = results
            .into_iter()
            .map(|(id, title, result)| {
                let hex = id.map(|i| i.to_hex()).unwrap_or_default();
                match result {
                    Ok(h) => {
                        any = true;
                        web.audit(
                            &account.login,
                            "decide",
                            &format!("{hex} {} entry {} (batch)", kind.code(), h.to_hex()),
                        );
                        BatchResult {
                            id: hex,
                            title,
                            done: true,
                            message: format!(
                                "{} «{}».",
                                lang.t("Đã ghi quyết định", "Recorded the decision"),
                                lang.decision(kind)
                            ),
                        }
                    }
                    Err(why) => {
                        web.audit(
                            &account.login,
                            "decide_refused",
                            &format!("{hex} {} (batch)", kind.code()),
                        );
                        BatchResult {
                            id: hex,
                            title,
                            done: false,
                            message: format!("{} {why}", lang.t("Không ghi:", "Not recorded:")),
                        }
                    }
                }
            })
            .collect();
        if any {
            (web.on_write)();
        }
        inbox_page(
            &web,
            &r,
            InboxNotice {
                results: rows,
                error: None,
                note: String::new(),
            },
            StatusCode::OK,
        )
        .await
    })
}
