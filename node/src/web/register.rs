//! Members register their own initiatives (issue 15, item 4): `GET/POST /register`, a page
//! without an account that the operator opens on the office network
//! (`sangkien node registration open | close | status`, [`crate::self_registration`]); closed
//! by default. The dashboard shows its address as a QR code (SVG inline, no JavaScript).
//!
//! A worker fills in Mẫu 1 from a phone; it lands as an initiative registered by this unit and
//! not yet submitted (the support team's draft: in their list and inbox, where they check it
//! and submit it), created through the node's one import door ([`records::create`], signed with
//! the unit key), and marked as self-registered with the worker's name and contact as given
//! (kept at this node only). Nothing else is visible from the page: no list, no record id;
//! after a good form, a thank-you page.
//!
//! Protection: the page is answered only while open; a double-submitted CSRF token (cookie
//! `sk_reg`, `HttpOnly; SameSite=Strict`, and a hidden field) without any login; the body is
//! read up to [`MAX_SELF_REGISTRATION_FORM_BYTES`] and refused past it; every field bounded
//! (the record's own limits, [`MAX_CONTACT_CHARS`]); forms counted per client address and for
//! everyone in a window ([`MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT`],
//! [`MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT`] per [`SELF_REGISTRATION_WINDOW_S`]); a bad field
//! is marked in the page's language and nothing is stored.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::Sector;
use sync_protocol::ids::RecordId;
use sync_protocol::limits::{
    MAX_CONTACT_CHARS, MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT,
    MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT, MAX_SELF_REGISTRATION_FORM_BYTES,
    MAX_SELF_REGISTRATION_TRACKED_COUNT, MAX_SHORT_TEXT_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS,
    SELF_REGISTRATION_COAUTHORS_COUNT, SELF_REGISTRATION_WINDOW_S,
};
use sync_protocol::record::{Application, Author, Description, Initiative, RecordContent};
use sync_protocol::text::Text;

use super::{auth, texts, Form, Page, Req, Web, WebError};
use crate::lang::Lang;
use crate::self_registration::{self as selfreg, Mark};
use crate::{records, SledStore};

type St = State<Arc<Web>>;

/// The templates of this page and of the dashboard's QR code.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("register.html", include_str!("templates/register.html")),
    (
        "register_message.html",
        include_str!("templates/register_message.html"),
    ),
    (
        "registration_qr.html",
        include_str!("templates/registration_qr.html"),
    ),
];

/// The page's path.
pub const REGISTER_PATH: &str = "/register";

/// The routes of the registration page.
pub(super) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route(REGISTER_PATH, get(form).post(submit))
        .route("/register/thanks", get(thanks))
}

/// Template functions: `self_registered(id)` (the worker's mark of a record, or none) and
/// `registration_panel(host)` (the QR code of the open page, or none).
pub(super) fn functions(env: &mut Environment<'static>, store: SledStore, https: bool) {
    let s2 = store.clone();
    env.add_function("self_registered", move |id: String| -> Value {
        let Some(id) = parse_id(&id) else {
            return Value::from(());
        };
        match selfreg::mark(&s2, id) {
            Ok(Some(m)) => context! { name => m.name, contact => m.contact },
            Ok(None) => Value::from(()),
            Err(e) => {
                tracing::error!(error = %e, "web: reading a self-registration mark failed");
                Value::from(())
            }
        }
    });
    env.add_function("registration_panel", move |host: Option<String>| -> Value {
        let st = match selfreg::state(&store) {
            Ok(s) if s.open => s,
            Ok(_) => return Value::from(()),
            Err(e) => {
                tracing::error!(error = %e, "web: reading the registration state failed");
                return Value::from(());
            }
        };
        let url = match (&st.url, host.as_deref().filter(|h| good_host(h))) {
            (Some(u), _) => u.clone(),
            (None, Some(h)) => format!(
                "{}://{h}{REGISTER_PATH}",
                if https { "https" } else { "http" }
            ),
            (None, None) => return Value::from(()),
        };
        let local = st.url.is_none()
            && host.as_deref().is_some_and(|h| {
                let name = h.rsplit_once(':').map(|(n, _)| n).unwrap_or(h);
                matches!(name, "localhost" | "127.0.0.1" | "[::1]")
            });
        match qr_svg(&url) {
            Some(svg) => context! { url, svg, local },
            None => Value::from(()),
        }
    });
}

/// A Host header the QR code may show: a host name or address and a port, nothing else.
fn good_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The QR code of `url` as an inline SVG element.
pub fn qr_svg(url: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in the page: without the XML declaration.
    let at = svg.find("<svg")?;
    Some(svg[at..].to_owned())
}

fn parse_id(s: &str) -> Option<RecordId> {
    let b = hex::decode(s).ok()?;
    Some(RecordId(b.try_into().ok()?))
}

// ---- the limiter ------------------------------------------------------------------------

/// Why a form is not taken now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// This client address sent its share of forms in this window.
    Address {
        /// When the window ends (Unix ms).
        until_ms: u64,
    },
    /// The node took its share of forms from everyone in this window.
    Everyone {
        /// When the window ends (Unix ms).
        until_ms: u64,
    },
}

#[derive(Default)]
struct Counts {
    start_ms: u64,
    total: u32,
    by_address: HashMap<IpAddr, (u64, u32)>,
}

/// Counts registration forms per client address and for everyone, in fixed windows of
/// [`SELF_REGISTRATION_WINDOW_S`].
#[derive(Default)]
pub struct Limiter {
    counts: Mutex<Counts>,
}

impl Limiter {
    /// Counts one form from `ip`, or says why it is not taken (then it is not counted).
    pub fn hit(&self, ip: IpAddr, now_ms: u64) -> Result<(), Limited> {
        let window = SELF_REGISTRATION_WINDOW_S * 1000;
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms.saturating_sub(c.start_ms) >= window {
            c.start_ms = now_ms;
            c.total = 0;
        }
        if c.by_address.len() >= MAX_SELF_REGISTRATION_TRACKED_COUNT
            && !c.by_address.contains_key(&ip)
        {
            c.by_address
                .retain(|_, (start, _)| now_ms.saturating_sub(*start) < window);
            if c.by_address.len() >= MAX_SELF_REGISTRATION_TRACKED_COUNT {
                if let Some(oldest) = c
                    .by_address
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| *k)
                {
                    c.by_address.remove(&oldest);
                }
            }
        }
        let (start, count) = c.by_address.get(&ip).copied().unwrap_or((now_ms, 0));
        let (start, count) = if now_ms.saturating_sub(start) >= window {
            (now_ms, 0)
        } else {
            (start, count)
        };
        if count >= MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT {
            return Err(Limited::Address {
                until_ms: start + window,
            });
        }
        if c.total >= MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT {
            return Err(Limited::Everyone {
                until_ms: c.start_ms + window,
            });
        }
        c.total += 1;
        c.by_address.insert(ip, (start, count + 1));
        Ok(())
    }
}

// ---- the pages --------------------------------------------------------------------------

/// The registration page shows nothing of any session: a worker's phone and an officer's
/// browser see the same page.
fn anonymous(web: &Web, headers: &HeaderMap, uri: &Uri) -> Req {
    let mut r = web.req(headers, uri);
    r.account = None;
    r.session = None;
    r
}

#[derive(Serialize, Default)]
struct Values {
    name: String,
    position: String,
    contact: String,
    title: String,
    summary: String,
    sector: String,
    benefit: String,
    trial: bool,
    coauthors: Vec<(String, String)>,
}

fn sectors(lang: Lang) -> Vec<(String, String)> {
    Sector::ALL
        .iter()
        .map(|s| (s.code().to_owned(), lang.sector(*s).to_owned()))
        .collect()
}

fn form_page(
    web: &Web,
    r: &Req,
    token: &str,
    values: &Values,
    errors: &[(String, String)],
) -> Page {
    let errs: std::collections::BTreeMap<String, String> = errors.iter().cloned().collect();
    web.render(
        r,
        "register.html",
        context! {
            reg => token, v => Value::from_serialize(values), errors => errs,
            has_errors => !errors.is_empty(), sectors => sectors(r.lang),
            coauthor_rows => (0..SELF_REGISTRATION_COAUTHORS_COUNT).collect::<Vec<_>>(),
            max_title => MAX_TITLE_CHARS, max_short => MAX_SHORT_TEXT_CHARS,
            max_contact => MAX_CONTACT_CHARS, max_summary => MAX_SUMMARY_CHARS,
        },
    )
}

/// A page with a title and a sentence, and no link anywhere but the page itself.
fn message(
    web: &Web,
    r: &Req,
    status: StatusCode,
    title: &str,
    text: &str,
    again: bool,
) -> Response {
    let page = match web.render(r, "register_message.html", context! { title, text, again }) {
        Page::Html(h) => Page::Status(status, h),
        p => p,
    };
    web.finish(r, page)
}

fn closed(web: &Web, r: &Req) -> Response {
    message(
        web,
        r,
        StatusCode::FORBIDDEN,
        texts::text(r.lang, "reg_closed_title"),
        texts::text(r.lang, "reg_closed"),
        false,
    )
}

fn is_open(web: &Web) -> Result<bool, WebError> {
    selfreg::state(&web.store)
        .map(|s| s.open)
        .map_err(super::store_error)
}

fn reg_cookie(web: &Web, token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "sk_reg={token}; Path={REGISTER_PATH}; HttpOnly; SameSite=Strict{}",
        web.secure()
    ))
    .ok()
}

pub(super) async fn form(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = anonymous(&web, &headers, &uri);
    match is_open(&web) {
        Ok(true) => {}
        Ok(false) => return closed(&web, &r),
        Err(e) => return web.finish(&r, Page::Error(e)),
    }
    let token = auth::token();
    let page = form_page(&web, &r, &token, &Values::default(), &[]);
    let mut resp = web.finish(&r, page);
    if let Some(v) = reg_cookie(&web, &token) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub(super) async fn thanks(State(web): St, headers: HeaderMap, uri: Uri) -> Response {
    let r = anonymous(&web, &headers, &uri);
    message(
        &web,
        &r,
        StatusCode::OK,
        texts::text(r.lang, "reg_thanks_title"),
        texts::text(r.lang, "reg_thanks"),
        true,
    )
}

pub(super) async fn submit(
    State(web): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let r = anonymous(&web, &headers, &uri);
    let lang = r.lang;
    // The body is read up to the bound and refused past it, before anything else is parsed.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SELF_REGISTRATION_FORM_BYTES).await else {
        return message(
            &web,
            &r,
            StatusCode::PAYLOAD_TOO_LARGE,
            texts::text(lang, "reg_refused_title"),
            &match lang {
                Lang::Vi => format!("Biểu mẫu quá lớn (tối đa {} KB). Không có gì được lưu; hãy rút ngắn rồi gửi lại.", MAX_SELF_REGISTRATION_FORM_BYTES / 1024),
                Lang::En => format!("The form is too large (at most {} KB). Nothing was stored; shorten it and send again.", MAX_SELF_REGISTRATION_FORM_BYTES / 1024),
            },
            true,
        );
    };
    match is_open(&web) {
        Ok(true) => {}
        Ok(false) => return closed(&web, &r),
        Err(e) => return web.finish(&r, Page::Error(e)),
    }
    let f = Form(super::form_urlencoded_pairs(&String::from_utf8_lossy(
        &bytes,
    )));
    let token = match (super::cookie(&headers, "sk_reg"), f.get("reg")) {
        (Some(c), Some(t)) if auth::same_token(c, t) => c.to_owned(),
        _ => {
            return message(
                &web,
                &r,
                StatusCode::FORBIDDEN,
                texts::text(lang, "reg_refused_title"),
                texts::text(lang, "reg_bad_token"),
                true,
            )
        }
    };
    let now = web.now();
    if let Err(l) = web.reg_limiter.hit(peer.ip(), now) {
        let (until, everyone) = match l {
            Limited::Address { until_ms } => (lang.time(until_ms), false),
            Limited::Everyone { until_ms } => (lang.time(until_ms), true),
        };
        web.audit("-", "self_register_limited", &peer.ip().to_string());
        let text = match (lang, everyone) {
            (Lang::Vi, false) => format!("Máy này đã gửi quá nhiều đăng ký trong một giờ (tối đa {MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT}). Không có gì được lưu; hãy gửi lại sau {until}, hoặc nhờ tổ hỗ trợ sáng kiến đăng ký giúp."),
            (Lang::En, false) => format!("This device sent too many registrations in an hour (at most {MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT}). Nothing was stored; send again after {until}, or ask the support team to register it for you."),
            (Lang::Vi, true) => format!("Nút đã nhận đủ số đăng ký cho một giờ (tối đa {MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT}). Không có gì được lưu; hãy gửi lại sau {until}."),
            (Lang::En, true) => format!("The node took as many registrations as it takes in an hour (at most {MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT}). Nothing was stored; send again after {until}."),
        };
        return message(
            &web,
            &r,
            StatusCode::TOO_MANY_REQUESTS,
            texts::text(lang, "reg_refused_title"),
            &text,
            false,
        );
    }

    let mut errors: Vec<(String, String)> = Vec::new();
    let mut err = |field: &str, msg: String| errors.push((field.to_owned(), msg));
    let required = texts::text(lang, "err_required").to_owned();
    let name = Text::required("author", f.str("name"), MAX_SHORT_TEXT_CHARS)
        .map_err(|e| err("name", super::initiatives::field_error(lang, &e)))
        .ok();
    let position = Text::new("position", f.str("position"), MAX_SHORT_TEXT_CHARS)
        .map_err(|e| err("position", super::initiatives::field_error(lang, &e)))
        .ok();
    let contact = Text::required("contact", f.str("contact"), MAX_CONTACT_CHARS)
        .map_err(|e| err("contact", super::initiatives::field_error(lang, &e)))
        .ok();
    let title = Text::required("title", f.str("title"), MAX_TITLE_CHARS)
        .map_err(|e| err("title", super::initiatives::field_error(lang, &e)))
        .ok();
    let summary = match Text::multiline("summary", f.str("summary"), MAX_SUMMARY_CHARS) {
        Ok(t) if !t.is_empty() => Some(t),
        Ok(_) => {
            err("summary", required.clone());
            None
        }
        Err(e) => {
            err("summary", super::initiatives::field_error(lang, &e));
            None
        }
    };
    let sector = Sector::from_code(f.str("sector"));
    if sector.is_none() {
        err("sector", texts::text(lang, "err_sector").into());
    }
    let benefit = if f.str("benefit").trim().is_empty() {
        Some(0)
    } else {
        let b = crate::input::money(f.str("benefit"));
        if b.is_none() {
            err("benefit", texts::text(lang, "err_money").into());
        }
        b
    };
    let mut coauthors = Vec::new();
    let mut coauthor_values = Vec::new();
    for i in 0..SELF_REGISTRATION_COAUTHORS_COUNT {
        let (n, p) = (
            f.str(&format!("coauthor_name_{i}")),
            f.str(&format!("coauthor_pos_{i}")),
        );
        coauthor_values.push((n.to_owned(), p.to_owned()));
        if n.trim().is_empty() && p.trim().is_empty() {
            continue;
        }
        match (
            Text::required("author", n, MAX_SHORT_TEXT_CHARS),
            Text::new("position", p, MAX_SHORT_TEXT_CHARS),
        ) {
            (Ok(name), Ok(position)) => coauthors.push(Author { name, position }),
            (Err(e), _) | (_, Err(e)) => {
                err("coauthors", super::initiatives::field_error(lang, &e))
            }
        }
    }
    let trial = f.str("application") == "trial";
    let values = Values {
        name: f.str("name").into(),
        position: f.str("position").into(),
        contact: f.str("contact").into(),
        title: f.str("title").into(),
        summary: f.str("summary").into(),
        sector: f.str("sector").into(),
        benefit: f.str("benefit").into(),
        trial,
        coauthors: coauthor_values,
    };
    let (
        Some(name),
        Some(position),
        Some(contact),
        Some(title),
        Some(summary),
        Some(sector),
        Some(benefit),
        true,
    ) = (
        name,
        position,
        contact,
        title,
        summary,
        sector,
        benefit,
        errors.is_empty(),
    )
    else {
        let page = match form_page(&web, &r, &token, &values, &errors) {
            Page::Html(h) => Page::Status(StatusCode::UNPROCESSABLE_ENTITY, h),
            p => p,
        };
        return web.finish(&r, page);
    };

    let mark = Mark {
        name: name.as_str().to_owned(),
        contact: contact.as_str().to_owned(),
        at_ms: now,
    };
    let mut authors = vec![Author { name, position }];
    authors.extend(coauthors);
    let created = web
        .with_node(move |node| -> Result<Option<RecordId>, Option<crate::NodeError>> {
            // Closed meanwhile (the operator's command holds the node while it writes).
            if !selfreg::state(node.store()).is_ok_and(|s| s.open) {
                return Ok(None);
            }
            let registered_on = Date::from_unix_ms(now);
            let Some(superior) = node.directory().parent_at(node.unit(), now).cloned() else {
                return Err(None);
            };
            let (programme, phase) = super::initiatives::programme_for(node, registered_on, now)
                .map(|(p, n)| (Some(p), n))
                .unwrap_or((None, 0));
            let i = Initiative {
                title,
                authors,
                origin: node.unit().clone(),
                superior,
                programme,
                phase,
                sector,
                summary,
                registered_on,
                description: Description::default(),
                benefit_vnd: benefit,
                application: if trial {
                    Application::Trial
                } else {
                    Application::Applied
                },
                recognition: None,
                confidential: false,
                attachments: Vec::new(),
                commitment_salt: None,
            };
            let id = records::create(node, &RecordContent::Initiative(Box::new(i)), now)
                .map_err(Some)?;
            if let Err(e) = selfreg::set_mark(node.store(), id, &mark) {
                // The record is stored and signed; only the mark is missing (the audit log
                // below still names it as self-registered).
                tracing::error!(error = %e, record = %id.to_hex(), "web: the self-registration mark could not be written");
            }
            Ok(Some(id))
        })
        .await;
    match created {
        Ok(Ok(Some(id))) => {
            web.audit(
                "-",
                "self_register",
                &format!("{} from {}", id.to_hex(), peer.ip()),
            );
            (web.on_write)();
            let mut resp = web.finish(&r, Page::Redirect("/register/thanks".into()));
            // A new token: the same form sent twice is not taken twice.
            if let Some(v) = reg_cookie(&web, &auth::token()) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Ok(Ok(None)) => closed(&web, &r),
        Ok(Err(None)) => message(
            &web,
            &r,
            StatusCode::FORBIDDEN,
            texts::text(lang, "reg_refused_title"),
            texts::text(lang, "reg_not_grassroots"),
            false,
        ),
        Ok(Err(Some(e))) => {
            let msg = crate::refusal::node_error(lang, &e);
            let page = match form_page(&web, &r, &token, &values, &[("form".into(), msg)]) {
                Page::Html(h) => Page::Status(StatusCode::UNPROCESSABLE_ENTITY, h),
                p => p,
            };
            web.finish(&r, page)
        }
        Err(p) => web.finish(&r, p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registration_template_key_is_worded() {
        for (_, src) in TEMPLATES {
            for part in src.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(
                    texts::TEXTS.iter().any(|(k, _, _)| *k == key),
                    "no sentence for {key}"
                );
            }
        }
    }

    #[test]
    fn the_limiter_counts_per_address_and_for_everyone() {
        let l = Limiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT {
            assert!(l.hit(a, 1000).is_ok());
        }
        assert!(matches!(l.hit(a, 1001), Err(Limited::Address { .. })));
        let window = SELF_REGISTRATION_WINDOW_S * 1000;
        assert!(l.hit(a, 1000 + window).is_ok(), "a new window");
        // Everyone: distinct addresses up to the overall limit.
        let l = Limiter::default();
        for i in 0..MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT {
            let ip = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
            assert!(l.hit(ip, 5).is_ok());
        }
        let other: IpAddr = "10.9.9.9".parse().unwrap();
        assert!(matches!(l.hit(other, 6), Err(Limited::Everyone { .. })));
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("http://192.168.1.20:7480/register").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(
            !svg.contains("style="),
            "no inline style (the page's CSP forbids it)"
        );
    }
}
