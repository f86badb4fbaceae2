//! The web interface for union officers and operators, served by every node (`node run`):
//! server-rendered HTML (minijinja templates, escaped by default), no JavaScript, Vietnamese by
//! default with an English switch (`?lang=en`, remembered in a cookie).
//!
//! It only parses and renders: every read and write goes through the node's use cases
//! ([`crate::records`], [`crate::search`], [`crate::officers`], the counters), with the node
//! locked the way a sync session locks it. Officers log in with accounts made by the operator
//! (`sangkien officer add`); a decision made here is signed with the unit key and carries the
//! officer's name and title from the account, and every action is written to the audit log.
//!
//! Security: sessions are random tokens in `HttpOnly; SameSite=Strict` cookies (`Secure` when
//! `web_secure_cookies` says the interface is reached over HTTPS through a reverse proxy),
//! ended after [`WEB_SESSION_IDLE_S`] without a request or [`sync_protocol::limits::WEB_SESSION_MAX_S`]
//! in all; every form carries the session's CSRF token (the login form a pre-session one,
//! double-submitted); failed logins lock an account or an address out
//! ([`sync_protocol::limits::MAX_LOGIN_FAILURES_COUNT`]); request bodies are bounded
//! ([`MAX_WEB_FORM_BYTES`]); pages forbid framing and scripts (Content-Security-Policy).

pub mod auth;
mod form_body;
mod initiatives;
mod pages;
mod register;
mod texts;
// Dashboard figures, targets, Mẫu 2 and reports (the node's report and target use cases).
mod progress;
mod reports;
mod targets;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{Environment, Value};
use sync_protocol::ids::UnitId;
use sync_protocol::limits::{MAX_WEB_FORM_BYTES, WEB_SESSION_IDLE_S};

use crate::lang::Lang;
use crate::node::Node;
use crate::officers::{self, Account, Role};
use crate::SledStore;

pub use texts::{account_error, TEXTS};

/// Where and how the interface is served.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Address to listen on (loopback by default).
    pub listen: SocketAddr,
    /// Cookies marked `Secure`: set when the interface is reached over HTTPS (a reverse proxy).
    pub secure_cookies: bool,
    /// Seconds without a request before a session ends.
    pub session_idle_s: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT)),
            secure_cookies: false,
            session_idle_s: WEB_SESSION_IDLE_S,
        }
    }
}

/// The port the interface listens on when node.toml names none (on 127.0.0.1).
pub const DEFAULT_HTTP_PORT: u16 = 7480;

/// The clock the interface reads (tests move it).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The state every request shares.
pub struct Web {
    node: Arc<tokio::sync::Mutex<Node>>,
    store: SledStore,
    unit: UnitId,
    unit_name: String,
    sessions: auth::Sessions,
    limiter: auth::Limiter,
    /// Members' self-registration: forms counted per address and for everyone.
    reg_limiter: register::Limiter,
    env: Environment<'static>,
    config: WebConfig,
    on_write: Arc<dyn Fn() + Send + Sync>,
    now: Clock,
}

impl Web {
    /// The interface of a node (the service's node, shared with its sync sessions).
    /// `on_write` is called after each write (the service syncs upward at once).
    pub async fn new(
        node: Arc<tokio::sync::Mutex<Node>>,
        config: WebConfig,
        on_write: Arc<dyn Fn() + Send + Sync>,
        now: Clock,
    ) -> Arc<Self> {
        let (store, unit, unit_name) = {
            let n = node.lock().await;
            let unit = n.unit().clone();
            let name = n
                .directory()
                .name(&unit)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| unit.to_string());
            (n.store().clone(), unit, name)
        };
        let mut env = templates();
        register::functions(&mut env, store.clone(), config.secure_cookies);
        Arc::new(Self {
            node,
            store,
            unit,
            unit_name,
            sessions: auth::Sessions::new(config.session_idle_s),
            limiter: auth::Limiter::default(),
            reg_limiter: register::Limiter::default(),
            env,
            config,
            on_write,
            now,
        })
    }

    /// The routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(pages::dashboard))
            .route("/login", get(pages::login_form).post(pages::login))
            .route("/logout", post(pages::logout))
            .route("/initiatives", get(pages::list))
            // ---- the initiative pages and the inbox (web::initiatives) ----
            .route(
                "/initiatives/new",
                get(initiatives::new_form).post(initiatives::new_submit),
            )
            .route("/initiatives/{id}", get(initiatives::initiative))
            .route(
                "/initiatives/{id}/edit",
                get(initiatives::edit_form).post(initiatives::edit_submit),
            )
            .route(
                "/initiatives/{id}/files/{hash}",
                get(initiatives::attachment),
            )
            .route("/initiatives/{id}/decide", post(initiatives::decide))
            .route("/inbox", get(initiatives::inbox))
            .route("/inbox/decide", post(initiatives::inbox_decide))
            // ---- end of the initiative pages ----
            .route("/sync", get(pages::sync_page))
            .route("/accounts", get(pages::accounts).post(pages::account_add))
            .route("/accounts/{login}/remove", post(pages::account_remove))
            .route("/style.css", get(style))
            // Members' self-registration (register.rs): its own, smaller body bound.
            .merge(register::routes())
            // ---- targets, Mẫu 2, reports; the server time of every answer ----
            .route("/targets", get(targets::page).post(targets::assign))
            .route("/mau2", get(reports::mau2))
            .route("/mau2/bundle", post(reports::mau2_bundle))
            .route("/reports", get(reports::page))
            .route("/reports/download/{format}", get(reports::download))
            .layer(axum::middleware::from_fn(progress::server_timing))
            // ---- end of targets, Mẫu 2, reports ----
            .fallback(pages::not_found)
            .layer(DefaultBodyLimit::max(MAX_WEB_FORM_BYTES))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the web interface stopped");
        }
    }

    fn now(&self) -> u64 {
        (self.now)()
    }

    /// Runs `f` with the node locked, on a blocking thread.
    async fn with_node<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node) -> T + Send + 'static,
    ) -> Result<T, Page> {
        let guard = self.node.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let mut g = guard;
            f(&mut g)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a web request's work stopped");
            Page::Error(WebError::internal())
        })
    }

    fn audit(&self, login: &str, action: &str, detail: &str) {
        if let Err(e) = officers::audit(&self.store, self.now(), login, action, detail) {
            tracing::error!(error = %e, "the audit log could not be written");
        }
    }
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("dashboard.html", include_str!("templates/dashboard.html")),
        ("list.html", include_str!("templates/list.html")),
        ("form.html", include_str!("templates/form.html")),
        ("initiative.html", include_str!("templates/initiative.html")),
        (
            "initiative_body.html",
            include_str!("templates/initiative_body.html"),
        ),
        ("inbox.html", include_str!("templates/inbox.html")),
        ("sync.html", include_str!("templates/sync.html")),
        ("accounts.html", include_str!("templates/accounts.html")),
        ("error.html", include_str!("templates/error.html")),
        // ---- targets, Mẫu 2, reports ----
        (
            "progress_head.html",
            include_str!("templates/progress_head.html"),
        ),
        (
            "children_table.html",
            include_str!("templates/children_table.html"),
        ),
        ("targets.html", include_str!("templates/targets.html")),
        ("reports.html", include_str!("templates/reports.html")),
        ("mau2.html", include_str!("templates/mau2.html")),
    ]
    .into_iter()
    .chain(register::TEMPLATES.iter().copied())
    {
        // The templates are ours, checked by the tests: a syntax error is a bug.
        env.add_template(name, src)
            .expect("a template of the web interface");
    }
    env.add_function("t", |state: &minijinja::State, key: &str| -> String {
        let en = state
            .lookup("lang")
            .map(|v| v.as_str() == Some("en"))
            .unwrap_or(false);
        texts::text(if en { Lang::En } else { Lang::Vi }, key).to_owned()
    });
    env
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("templates/style.css"),
    )
        .into_response()
}

/// An error shown to a person: status, and what to say in each language (never internals).
#[derive(Debug, Clone)]
pub struct WebError {
    status: StatusCode,
    vi: String,
    en: String,
}

impl WebError {
    fn new(status: StatusCode, vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            status,
            vi: vi.into(),
            en: en.into(),
        }
    }
    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Nút gặp lỗi khi xử lý yêu cầu này. Không có gì bị thay đổi; hãy thử lại, hoặc báo cán bộ vận hành (nhật ký của nút có chi tiết).",
            "The node failed while handling this request. Nothing was changed; try again, or tell the operator (the node's log has the details).",
        )
    }
    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Không có trang hoặc hồ sơ này trên nút.",
            "There is no such page or record on this node.",
        )
    }
    fn forbidden(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, vi, en)
    }
    fn bad_form() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Biểu mẫu đã hết hạn hoặc không đến từ trang của nút này (mã chống giả mạo không khớp). Mở lại trang rồi gửi lại.",
            "The form has expired or did not come from this node's page (the anti-forgery token does not match). Open the page again and resend.",
        )
    }
    fn text(&self, lang: Lang) -> &str {
        lang.t(&self.vi, &self.en)
    }
}

fn store_error(e: impl std::fmt::Display) -> WebError {
    tracing::error!(error = %e, "web: reading the store failed");
    WebError::internal()
}

/// What a handler answers: a page, a redirect, or an error page.
pub enum Page {
    /// Rendered HTML.
    Html(String),
    /// Rendered HTML with another status (a form sent back with its bad fields marked).
    Status(StatusCode, String),
    /// See other.
    Redirect(String),
    /// An error page.
    Error(WebError),
}

impl From<WebError> for Page {
    fn from(e: WebError) -> Self {
        Page::Error(e)
    }
}

/// The request as the pages see it: language, session, the account, the path.
pub struct Req {
    lang: Lang,
    /// Whether `?lang=` changed the language (the cookie is set).
    lang_set: bool,
    token: Option<String>,
    session: Option<auth::Session>,
    account: Option<Account>,
    path: String,
    query: String,
    /// The Host header as the browser sent it (the dashboard's QR code shows it).
    host: Option<String>,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Web {
    fn req(&self, headers: &HeaderMap, uri: &axum::http::Uri) -> Req {
        let query = uri.query().unwrap_or("").to_owned();
        let asked = form_urlencoded_pairs(&query)
            .into_iter()
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Lang::parse(&v));
        let lang = asked
            .or_else(|| cookie(headers, "sk_lang").and_then(Lang::parse))
            .unwrap_or_default();
        let token = cookie(headers, "sk_session").map(|s| s.to_owned());
        let session = token
            .as_deref()
            .and_then(|t| self.sessions.get(t, self.now()));
        let account = session
            .as_ref()
            .and_then(|s| officers::find(&self.store, &s.login).ok().flatten());
        Req {
            lang,
            lang_set: asked.is_some(),
            token,
            session,
            account,
            path: uri.path().to_owned(),
            query,
            host: headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.to_owned()),
        }
    }

    /// The account, or a redirect to the login page.
    fn account<'a>(&self, r: &'a Req) -> Result<&'a Account, Page> {
        match &r.account {
            Some(a) => Ok(a),
            None => Err(Page::Redirect(format!(
                "/login?next={}",
                url_escape(&r.path)
            ))),
        }
    }

    /// The account, if it has one of `roles`; otherwise the rule that forbids.
    fn require<'a>(
        &self,
        r: &'a Req,
        roles: &[Role],
        what: (&str, &str),
    ) -> Result<&'a Account, Page> {
        let a = self.account(r)?;
        if roles.iter().any(|x| a.has(*x)) {
            return Ok(a);
        }
        let names = |vi: bool| {
            roles
                .iter()
                .map(|x| if vi { x.names().0 } else { x.names().1 })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(WebError::forbidden(
            format!(
                "Quy tắc: chỉ cán bộ có vai trò {} mới được {}. Tài khoản {} không có vai trò này; hãy nhờ cán bộ vận hành cấp quyền.",
                names(true), what.0, a.login
            ),
            format!(
                "Rule: only an officer with the role {} may {}. Account {} does not have it; ask the operator for it.",
                names(false), what.1, a.login
            ),
        )
        .into())
    }

    /// Checks a form's CSRF token against the session's.
    fn csrf_ok(&self, r: &Req, form: &Form) -> bool {
        match (&r.session, form.get("csrf")) {
            (Some(s), Some(t)) => auth::same_token(&s.csrf, t),
            _ => false,
        }
    }

    /// Renders a page of the layout.
    fn render(&self, r: &Req, template: &str, ctx: Value) -> Page {
        let tpl = match self.env.get_template(template) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, template, "web: no such template");
                return Page::Error(WebError::internal());
            }
        };
        let other = match r.lang {
            Lang::Vi => "en",
            Lang::En => "vi",
        };
        let mut switch_q: Vec<(String, String)> = form_urlencoded_pairs(&r.query)
            .into_iter()
            .filter(|(k, _)| k != "lang")
            .collect();
        switch_q.push(("lang".into(), other.into()));
        let switch = format!("{}?{}", r.path, encode_pairs(&switch_q));
        let a = r.account.as_ref();
        let base = minijinja::context! {
            lang => r.lang.code(),
            switch_lang => switch,
            switch_label => r.lang.t("English", "Tiếng Việt"),
            unit_name => self.unit_name.clone(),
            unit => self.unit.as_str(),
            user => a.map(|a| a.name.clone()),
            user_title => a.map(|a| a.title.clone()),
            login => a.map(|a| a.login.clone()),
            is_support => a.is_some_and(|a| a.has(Role::Support)),
            is_appraiser => a.is_some_and(|a| a.has(Role::Appraiser) || a.has(Role::Leader)),
            is_operator => a.is_some_and(|a| a.has(Role::Operator)),
            csrf => r.session.as_ref().map(|s| s.csrf.clone()),
            path => r.path.clone(),
            host => r.host.clone(),
        };
        match tpl.render(minijinja::context! { ..ctx, ..base }) {
            Ok(html) => Page::Html(html),
            Err(e) => {
                tracing::error!(error = %e, template, "web: rendering failed");
                Page::Error(WebError::internal())
            }
        }
    }

    fn finish(&self, r: &Req, page: Page) -> Response {
        let mut resp = match page {
            Page::Html(html) => (StatusCode::OK, axum::response::Html(html)).into_response(),
            Page::Status(s, html) => (s, axum::response::Html(html)).into_response(),
            Page::Redirect(to) => (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
            Page::Error(e) => {
                let status = e.status;
                let html = match self.render(
                    r,
                    "error.html",
                    minijinja::context! {
                        status => status.as_u16(),
                        message => e.text(r.lang),
                        title => texts::status_title(r.lang, status.as_u16()),
                    },
                ) {
                    Page::Html(h) => h,
                    _ => e.text(r.lang).to_owned(),
                };
                (status, axum::response::Html(html)).into_response()
            }
        };
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        if r.lang_set {
            if let Ok(v) = HeaderValue::from_str(&format!(
                "sk_lang={}; Path=/; Max-Age=31536000; SameSite=Strict{}",
                r.lang.code(),
                self.secure()
            )) {
                h.append(header::SET_COOKIE, v);
            }
        }
        resp
    }

    fn secure(&self) -> &'static str {
        if self.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    }

    fn session_cookie(&self, token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "sk_session={token}; Path=/; HttpOnly; SameSite=Strict{}",
            self.secure()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("sk_session=; Path=/"))
    }
}

/// A submitted form: its fields in order (a field may repeat).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of a field.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    /// The first value of a field, or "".
    pub fn str(&self, k: &str) -> &str {
        self.get(k).unwrap_or("")
    }
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

fn encode_pairs(p: &[(String, String)]) -> String {
    serde_urlencoded::to_string(p).unwrap_or_default()
}

/// `s` escaped as one value of a query (`application/x-www-form-urlencoded`).
fn url_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Binds the interface's listener (a failure is the caller's to report).
pub async fn bind(config: &WebConfig) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.listen).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped_and_read_back() {
        let path = "/initiatives/ab?x=1&y=2 ä";
        assert_eq!(
            url_escape(path),
            "%2Finitiatives%2Fab%3Fx%3D1%26y%3D2+%C3%A4"
        );
        let q = encode_pairs(&[("next".into(), path.into()), ("lang".into(), "en".into())]);
        assert_eq!(q, format!("next={}&lang=en", url_escape(path)));
        assert_eq!(
            form_urlencoded_pairs(&q),
            vec![
                ("next".to_owned(), path.to_owned()),
                ("lang".to_owned(), "en".to_owned())
            ]
        );
    }
}
