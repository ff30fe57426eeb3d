//! The admin web UI (issue #7), server-rendered in pt-BR: minijinja templates with HTML
//! auto-escaping, sessions in HttpOnly SameSite=Strict cookies (Secure behind TLS), a CSRF token
//! on every form, login throttling per login and per client address, and permissions by role.
//! Every page but `/login`, `/health` and `/static/*` needs a session; without one a page
//! redirects to the login.

pub mod analytics;
pub mod api;
/// Roles, permissions, password hashes and session tokens (they live in `domain::auth`).
pub use crate::domain::auth;
mod bank_returns;
mod billing;
mod channels;
pub mod charts;
mod customers;
mod emission;
mod holidays;
mod imports;
mod layouts;
mod letters;
mod log;
pub mod metrics;
pub use metrics::MetricsAccess;
mod app_api;
mod central;
mod dashboard;
mod debt;
mod dunning;
mod login;
mod pix_webhook;
mod remessa;
mod router;
mod settings;
mod smtp;
mod suppressions;
mod suspensions;
mod users;
mod wallets;
mod webhooks;
mod whatsapp;
mod whatsapp_webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::domain::Clock;
use crate::store::{self, Db, auth::User};
use auth::Permission;

/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "regua_session";
/// Cookie holding the login form's CSRF token (before there is a session).
pub const LOGIN_COOKIE: &str = "regua_login";
/// How long a session lasts without logging in again.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The clock (the ISP's time zone).
    pub clock: Clock,
    /// The page templates.
    pub templates: minijinja::Environment<'static>,
    /// Mark cookies `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// The master key: seals SMTP passwords on save, opens them to send a test.
    pub key: Option<crate::secrets::MasterKey>,
    /// Who may read `/metrics`.
    pub metrics: metrics::MetricsAccess,
    /// The send-latency histogram of the settled part of the delivery log, so each scrape
    /// reads only the attempts since.
    pub send_histogram: metrics::HistogramCache,
    /// "Resultados da cobrança" computed since the last analytics refresh.
    pub analytics: analytics::Cache,
}

impl AppState {
    /// The state for `db`, with the templates loaded.
    pub fn new(
        db: Db,
        clock: Clock,
        key: Option<crate::secrets::MasterKey>,
        secure_cookies: bool,
        metrics: metrics::MetricsAccess,
    ) -> AppState {
        AppState {
            db,
            clock,
            templates: templates(),
            secure_cookies,
            key,
            metrics,
            send_histogram: metrics::HistogramCache::default(),
            analytics: analytics::Cache::default(),
        }
    }

    /// Renders a page; a template error is logged and answered with a plain 500.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "page template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "erro interno").into_response()
            }
        }
    }

    /// A `Set-Cookie` value with the flags every Régua cookie carries.
    pub fn cookie(&self, name: &str, value: &str, path: &str, max_age_s: i64) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("cookie values are base64url")
    }
}

/// The page templates, compiled once. Every template ends in `.html`, so minijinja escapes
/// every value it prints.
fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        (
            "suspensions.html",
            include_str!("templates/suspensions.html"),
        ),
        ("dashboard.html", include_str!("templates/dashboard.html")),
        ("analytics.html", include_str!("templates/analytics.html")),
        ("forecast.html", include_str!("templates/forecast.html")),
        ("error.html", include_str!("templates/error.html")),
        ("smtp.html", include_str!("templates/smtp.html")),
        ("smtp_edit.html", include_str!("templates/smtp_edit.html")),
        (
            "smtp_fields.html",
            include_str!("templates/smtp_fields.html"),
        ),
        ("channels.html", include_str!("templates/channels.html")),
        ("imports.html", include_str!("templates/imports.html")),
        (
            "suppressions.html",
            include_str!("templates/suppressions.html"),
        ),
        ("sms_edit.html", include_str!("templates/sms_edit.html")),
        ("sms_form.html", include_str!("templates/sms_form.html")),
        ("log.html", include_str!("templates/log.html")),
        ("debt.html", include_str!("templates/debt.html")),
        ("webhooks.html", include_str!("templates/webhooks.html")),
        ("whatsapp.html", include_str!("templates/whatsapp.html")),
        ("regua.html", include_str!("templates/regua.html")),
        ("settings.html", include_str!("templates/settings.html")),
        ("users.html", include_str!("templates/users.html")),
        ("letters.html", include_str!("templates/letters.html")),
        ("holidays.html", include_str!("templates/holidays.html")),
        ("password.html", include_str!("templates/password.html")),
        ("contracts.html", include_str!("templates/contracts.html")),
        ("customers.html", include_str!("templates/customers.html")),
        ("customer.html", include_str!("templates/customer.html")),
        ("invoices.html", include_str!("templates/invoices.html")),
        ("invoice.html", include_str!("templates/invoice.html")),
        (
            "bank_returns.html",
            include_str!("templates/bank_returns.html"),
        ),
        ("remessa.html", include_str!("templates/remessa.html")),
        ("layouts.html", include_str!("templates/layouts.html")),
        ("wallets.html", include_str!("templates/wallets.html")),
        ("emission.html", include_str!("templates/emission.html")),
        (
            "emission_bands.html",
            include_str!("templates/emission_bands.html"),
        ),
        (
            "portal_base.html",
            include_str!("templates/portal_base.html"),
        ),
        (
            "portal_login.html",
            include_str!("templates/portal_login.html"),
        ),
        (
            "portal_access.html",
            include_str!("templates/portal_access.html"),
        ),
        (
            "portal_password.html",
            include_str!("templates/portal_password.html"),
        ),
        (
            "portal_message.html",
            include_str!("templates/portal_message.html"),
        ),
        (
            "portal_invoices.html",
            include_str!("templates/portal_invoices.html"),
        ),
        (
            "portal_invoice.html",
            include_str!("templates/portal_invoice.html"),
        ),
        (
            "portal_send.html",
            include_str!("templates/portal_send.html"),
        ),
        ("methods.html", include_str!("templates/methods.html")),
        (
            "layout_edit.html",
            include_str!("templates/layout_edit.html"),
        ),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// The routes of the admin UI.
pub fn router(state: Arc<AppState>) -> Router {
    router::routes()
        .merge(api::routes())
        .merge(app_api::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn(secure_cookies_behind_https))
}

/// Behind a TLS proxy (docs/https.md) every cookie is `Secure`, whether or not `serve` was
/// told `--secure-cookies`: a request the proxy marks `X-Forwarded-Proto: https` gets its
/// `Set-Cookie`s flagged. A client that sends the header itself over plain HTTP only makes its
/// own cookie stricter.
async fn secure_cookies_behind_https(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let https = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let mut response = next.run(request).await;
    if https {
        let headers = response.headers_mut();
        let cookies: Vec<HeaderValue> = headers
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .map(|v| match v.to_str() {
                Ok(s) if !s.ends_with("; Secure") && !s.contains("; Secure;") => {
                    HeaderValue::from_str(&format!("{s}; Secure")).unwrap_or_else(|_| v.clone())
                }
                _ => v.clone(),
            })
            .collect();
        if !cookies.is_empty() {
            headers.remove(axum::http::header::SET_COOKIE);
            for c in cookies {
                headers.append(axum::http::header::SET_COOKIE, c);
            }
        }
    }
    response
}

/// The value of a cookie in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The token of an `Authorization: Bearer …` header (trimmed), or `""` without one: how the API
/// keys and the portal app's sessions arrive.
pub fn bearer_token(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default()
}

/// A form that carries only its CSRF token (the buttons that act on one thing).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfOnly {
    /// The session's token, from the form's hidden field.
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// Who or what caused a message or a change, on screen (the stored text is the
/// [`crate::domain::Actor`]'s `Display`, plus the system's own causes).
pub(crate) fn actor_pt(actor: &str) -> String {
    match actor {
        "generation" => "geração de faturas".into(),
        "payment" => "pagamento registrado".into(),
        "test" => "teste".into(),
        "import" => "importação do ERP".into(),
        "bounce" => "retorno de e-mail (bounce)".into(),
        "whatsapp" => "WhatsApp (mensagem do assinante ou recibo da Meta)".into(),
        "demo" => "demonstração".into(),
        other => match other.split_once(':') {
            Some(("user", who)) => format!("usuário {}", who.trim()),
            Some(("cli", who)) => format!("linha de comando ({})", who.trim()),
            Some(("api", who)) => format!("integração {}", who.trim()),
            Some(("routine", who)) => format!("rotina {}", who.trim()),
            Some(("portal", who)) => format!("Central do Assinante ({})", who.trim()),
            Some(("pix", who)) => format!("PIX ({})", who.trim()),
            _ => other.to_string(),
        },
    }
}

/// A multipart form read whole: each field by name, with the file name of file fields.
pub(crate) struct MultipartForm(std::collections::BTreeMap<String, (Option<String>, Vec<u8>)>);

impl MultipartForm {
    /// Reads every field; a malformed body is a 400.
    pub(crate) async fn read(
        mut form: axum::extract::Multipart,
    ) -> Result<MultipartForm, Response> {
        let mut fields = std::collections::BTreeMap::new();
        loop {
            match form.next_field().await {
                Ok(Some(field)) => {
                    let name = field.name().unwrap_or_default().to_string();
                    let file_name = field.file_name().map(str::to_string);
                    match field.bytes().await {
                        Ok(b) => {
                            fields.insert(name, (file_name, b.to_vec()));
                        }
                        Err(_) => return Err(StatusCode::BAD_REQUEST.into_response()),
                    }
                }
                Ok(None) => return Ok(MultipartForm(fields)),
                Err(_) => return Err(StatusCode::BAD_REQUEST.into_response()),
            }
        }
    }

    /// A text field, trimmed; empty when absent.
    pub(crate) fn text(&self, name: &str) -> String {
        self.0
            .get(name)
            .map(|(_, b)| String::from_utf8_lossy(b).trim().to_string())
            .unwrap_or_default()
    }

    /// A file field: its name as uploaded and its bytes, when a non-empty file was sent.
    pub(crate) fn file(&self, name: &str) -> Option<(Option<String>, Vec<u8>)> {
        self.0.get(name).filter(|(_, b)| !b.is_empty()).cloned()
    }
}

/// The answer to an unexpected failure: logged with its cause, a bare 500 to the browser.
pub fn internal(e: anyhow::Error) -> Response {
    if let Some(u) = e.downcast_ref::<crate::payment::Unissuable>() {
        tracing::warn!(error = %u, "page refused: boleto cannot be issued");
        return (StatusCode::UNPROCESSABLE_ENTITY, u.pt()).into_response();
    }
    tracing::error!(error = format!("{e:#}"), "page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "erro interno").into_response()
}

/// A logged-in user's request: who, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
    /// The cookie token (to end the session).
    pub token: String,
}

impl Session {
    /// Who the changes this session makes are recorded as (`user: LOGIN`).
    pub fn actor(&self) -> crate::domain::Actor {
        crate::domain::Actor::User(self.user.login.clone())
    }

    /// Refuses (403 page) unless the user's role allows `p`.
    // The error is the page the handler returns as is; boxing it would only add a deref.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, state: &AppState, p: Permission) -> Result<(), Response> {
        if self.user.role.allows(p) {
            Ok(())
        } else {
            tracing::warn!(user = %self.user.login, permission = ?p, "permission denied");
            Err(error_page(
                state,
                Some(self),
                StatusCode::FORBIDDEN,
                "Acesso negado",
                "Seu perfil não permite esta ação.",
            ))
        }
    }

    /// Refuses (403) a form whose CSRF token is not this session's.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, state: &AppState, token: &str) -> Result<(), Response> {
        if auth::same_secret(token, &self.csrf) {
            Ok(())
        } else {
            tracing::warn!(user = %self.user.login, "form without a valid CSRF token refused");
            Err(error_page(
                state,
                Some(self),
                StatusCode::FORBIDDEN,
                "Formulário expirado",
                "Recarregue a página e tente de novo.",
            ))
        }
    }

    /// Both checks of a handler that acts: the role allows `p`, and the form (if any) carries
    /// this session's CSRF token.
    #[allow(clippy::result_large_err)]
    pub fn allow(
        &self,
        state: &AppState,
        p: Permission,
        csrf: Option<&str>,
    ) -> Result<(), Response> {
        self.require(state, p)?;
        match csrf {
            Some(token) => self.check_csrf(state, token),
            None => Ok(()),
        }
    }

    /// The template context every page gets: the user and the CSRF token.
    pub fn ctx(&self) -> minijinja::Value {
        minijinja::context! {
            user => minijinja::context! {
                name => self.user.name.clone(),
                login => self.user.login.clone(),
                role => self.user.role.label_pt(),
            },
            can => minijinja::context! {
                email => self.user.role.allows(Permission::ConfigureEmail),
                dunning => self.user.role.allows(Permission::ManageDunning),
                admin => self.user.role.allows(Permission::ManageUsers),
                billing => self.user.role.allows(Permission::EditBilling),
            },
            csrf => self.csrf.clone(),
        }
    }
}

/// An error page with a status.
pub fn error_page(
    state: &AppState,
    session: Option<&Session>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let base = session.map(Session::ctx).unwrap_or_default();
    let mut resp = state.render("error.html", minijinja::context! { title, message, ..base });
    *resp.status_mut() = status;
    resp
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let next: String = url_encode(next);
            Redirect::to(&format!("/login?next={next}")).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let mut conn = state.db.pool.acquire().await.map_err(|e| {
            tracing::error!(error = %e, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "banco de dados indisponível",
            )
                .into_response()
        })?;
        match store::auth::session_user(&mut conn, &token, state.clock.now_millis()).await {
            // A generated password is for the first login only: nothing else until it changes.
            Ok(Some((user, _)))
                if user.must_change_password
                    && !matches!(parts.uri.path(), "/senha" | "/logout") =>
            {
                Err(Redirect::to("/senha").into_response())
            }
            Ok(Some((user, csrf))) => Ok(Session { user, csrf, token }),
            Ok(None) => Err(to_login()),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "session lookup failed");
                Err((StatusCode::INTERNAL_SERVER_ERROR, "erro interno").into_response())
            }
        }
    }
}

/// The client's address for throttling: the peer of the connection, except behind a reverse
/// proxy on the same machine (a loopback peer, docs/https.md), where it is the last address of
/// `X-Forwarded-For` — the one the proxy appended, which a client cannot forge. Without this,
/// every subscriber behind the proxy would share one failure budget.
pub fn client_of(peer: SocketAddr, headers: &HeaderMap) -> String {
    if peer.ip().is_loopback()
        && let Some(forwarded) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|a| !a.is_empty())
        && let Ok(ip) = forwarded.parse::<std::net::IpAddr>()
    {
        return ip.to_string();
    }
    peer.ip().to_string()
}

/// Percent-encodes everything but unreserved characters and `/`.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A redirect target from a form: a local path only (no scheme, no `//host`), else `/`.
pub fn safe_next(next: &str) -> &str {
    // Visible ASCII only: browsers drop tabs and line breaks from a URL, so `/\t/evil.test/`
    // became `//evil.test/` (another site), and a line break cannot be put in a header at all.
    if next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2000
        && next
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\')
    {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_counts_only_from_a_local_proxy() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        let local: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.9:50000".parse().unwrap();
        // The proxy appended the real peer last; what the client wrote before it is ignored.
        assert_eq!(client_of(local, &headers), "203.0.113.7");
        // A client connecting directly cannot choose its address.
        assert_eq!(client_of(remote, &headers), "198.51.100.9");
        assert_eq!(client_of(local, &HeaderMap::new()), "127.0.0.1");
        let mut junk = HeaderMap::new();
        junk.append(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(client_of(local, &junk), "127.0.0.1");
    }
}
