//! Central do Assinante (`/central`): the subscriber's pages, mobile-first, in pt-BR. The rules
//! live in [`crate::actions::self_service`]; this module draws them.
//!
//! Every invoice a page names is looked up together with the logged-in document
//! ([`store::subscribers::portal_invoice`]): someone else's invoice is a 404, logged, like one that does not
//! exist.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, auth, cookie, internal};
use crate::actions::self_service::{self, AccessRequest, Login};
use crate::domain::{Invoice, InvoiceId, format_date};
use crate::store::{self, subscribers::PortalSessionKind};

/// The portal's session cookie.
pub const PORTAL_COOKIE: &str = "regua_central";
/// The cookie that carries the login form's CSRF token.
pub const PORTAL_LOGIN_COOKIE: &str = "regua_central_form";

/// A logged-in subscriber: the document (digits) and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// CPF/CNPJ digits.
    pub document: String,
    /// The forms' CSRF token.
    pub csrf: String,
    /// The cookie's token (to log out).
    pub token: String,
}

impl FromRequestParts<Arc<AppState>> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts.uri.path();
            Redirect::to(&format!(
                "/central/entrar?next={}",
                serde_urlencoded::to_string([("", next)])
                    .unwrap_or_default()
                    .trim_start_matches('=')
            ))
            .into_response()
        };
        let Some(token) = cookie(&parts.headers, PORTAL_COOKIE) else {
            return Err(to_login());
        };
        let found = async {
            let mut conn = state.db.pool.acquire().await?;
            store::subscribers::portal_session(
                &mut conn,
                &token,
                PortalSessionKind::Web,
                state.clock.now_millis(),
            )
            .await
        }
        .await;
        match found {
            Ok(Some((document, csrf))) => Ok(PortalSession {
                document,
                csrf,
                token,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(internal(e)),
        }
    }
}

fn render(state: &AppState, name: &str, status: StatusCode, ctx: minijinja::Value) -> Response {
    let mut resp = state.render(name, ctx);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

fn message_page(
    state: &AppState,
    session: Option<&PortalSession>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    render(
        state,
        "portal_message.html",
        status,
        minijinja::context! {
            title, message, logged_in => session.is_some(),
            csrf => session.map(|s| s.csrf.clone()),
        },
    )
}

/// Someone else's invoice, or none: the same answer, and a line in the log.
fn not_found(state: &AppState, session: &PortalSession, id: i64) -> Response {
    tracing::warn!(
        document = %self_service::masked_document(&session.document),
        invoice = id,
        "portal: invoice not found for this subscriber"
    );
    message_page(
        state,
        Some(session),
        StatusCode::NOT_FOUND,
        "Fatura não encontrada",
        "Não encontramos esta fatura entre as suas.",
    )
}

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    document: &str,
    next: &str,
) -> Response {
    form_page(
        state,
        "portal_login.html",
        status,
        minijinja::context! {
            title => "Central do Assinante", error, document, next => safe_portal_next(next),
        },
    )
}

/// A page with a form used before logging in (login, access link, new password): its CSRF
/// token (`form_csrf`) comes back in a cookie set with the page.
fn form_page(state: &AppState, name: &str, status: StatusCode, ctx: minijinja::Value) -> Response {
    let token = auth::new_token();
    let mut resp = render(
        state,
        name,
        status,
        minijinja::context! { form_csrf => token.clone(), ..ctx },
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(PORTAL_LOGIN_COOKIE, &token, "/central", 3600),
    );
    resp
}

/// Where to go after logging in: a portal page only.
fn safe_portal_next(next: &str) -> &str {
    if next.starts_with("/central/") && !next.contains("//") && !next.contains('\\') {
        next
    } else {
        "/central/faturas"
    }
}

/// `GET /central`
pub(super) async fn home() -> Response {
    Redirect::to("/central/faturas").into_response()
}

/// `GET /central/entrar`
pub(super) async fn login_form(
    State(state): State<Arc<AppState>>,
    Query(q): Query<NextQuery>,
) -> Response {
    login_page(&state, StatusCode::OK, None, "", &q.next)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    documento: String,
    #[serde(default)]
    senha: String,
    #[serde(default)]
    next: String,
}

/// The login form's own CSRF check: the cookie set with the form must come back with it.
fn form_token_ok(headers: &HeaderMap, token: &str) -> bool {
    let expected = cookie(headers, PORTAL_LOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && auth::same_secret(&expected, token)
}

/// `POST /central/entrar`
pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !form_token_ok(&headers, &form.csrf) {
        tracing::warn!("portal login form without a valid CSRF token refused");
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("O formulário expirou. Tente de novo."),
            &form.documento,
            &form.next,
        );
    }
    let client = super::client_of(peer, &headers);
    let result: anyhow::Result<Response> = async {
        match self_service::login(
            &state.db,
            &state.clock,
            &form.documento,
            &form.senha,
            &client,
        )
        .await?
        {
            Login::Ok(document) => {
                let mut conn = state.db.pool.acquire().await?;
                let (token, _) = store::subscribers::create_portal_session(
                    &mut conn,
                    &document,
                    PortalSessionKind::Web,
                    state.clock.now_millis(),
                    self_service::WEB_SESSION_TTL_MS,
                )
                .await?;
                let mut resp = Redirect::to(safe_portal_next(&form.next)).into_response();
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    state.cookie(
                        PORTAL_COOKIE,
                        &token,
                        "/central",
                        self_service::WEB_SESSION_TTL_MS / 1000,
                    ),
                );
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    state.cookie(PORTAL_LOGIN_COOKIE, "", "/central", 0),
                );
                Ok(resp)
            }
            Login::Throttled => Ok(login_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Muitas tentativas sem sucesso. Aguarde 15 minutos e tente de novo."),
                &form.documento,
                &form.next,
            )),
            Login::Invalid => Ok(login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("CPF/CNPJ ou senha inválidos."),
                &form.documento,
                &form.next,
            )),
        }
    }
    .await;
    result.unwrap_or_else(internal)
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// The "Enviar por e-mail" confirmation: the CSRF token and the form's own request id.
#[derive(Deserialize)]
pub(super) struct SendForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default, rename = "pedido")]
    request: String,
}

// The error is the page the handler returns as is, like the admin session's checks.
#[allow(clippy::result_large_err)]
fn csrf_ok(state: &AppState, session: &PortalSession, token: &str) -> Result<(), Response> {
    if auth::same_secret(token, &session.csrf) {
        Ok(())
    } else {
        tracing::warn!("portal form without a valid CSRF token refused");
        Err(message_page(
            state,
            Some(session),
            StatusCode::FORBIDDEN,
            "Formulário expirado",
            "Recarregue a página e tente de novo.",
        ))
    }
}

/// `POST /central/sair`
pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = csrf_ok(&state, &session, &form.csrf) {
        return r;
    }
    let result = async {
        let mut conn = state.db.pool.acquire().await?;
        store::subscribers::delete_portal_session(&mut conn, &session.token).await
    }
    .await;
    match result {
        Ok(()) => {
            let mut resp = Redirect::to("/central/entrar").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                state.cookie(PORTAL_COOKIE, "", "/central", 0),
            );
            resp
        }
        Err(e) => internal(e),
    }
}

fn access_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    document: &str,
) -> Response {
    form_page(
        state,
        "portal_access.html",
        status,
        minijinja::context! { title => "Primeiro acesso ou nova senha", error, document },
    )
}

/// `GET /central/acesso`: first access and "esqueci minha senha".
pub(super) async fn access_form(State(state): State<Arc<AppState>>) -> Response {
    access_page(&state, StatusCode::OK, None, "")
}

#[derive(Deserialize)]
pub(super) struct AccessForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    documento: String,
}

/// `POST /central/acesso`: e-mails a link to the address on file; the same answer whatever
/// happened.
pub(super) async fn request_access(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccessForm>,
) -> Response {
    // Every answer after the same time, whatever the document (see ACCESS_ANSWER_FLOOR).
    let answer_at = tokio::time::Instant::now() + self_service::ACCESS_ANSWER_FLOOR;
    let response = request_access_now(&state, peer, &headers, &form).await;
    tokio::time::sleep_until(answer_at).await;
    response
}

async fn request_access_now(
    state: &Arc<AppState>,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    form: &AccessForm,
) -> Response {
    let state = state.clone();
    if !form_token_ok(headers, &form.csrf) {
        return access_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("O formulário expirou. Tente de novo."),
            &form.documento,
        );
    }
    let Some(document) = self_service::document_digits(&form.documento) else {
        return access_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("CPF ou CNPJ inválido."),
            &form.documento,
        );
    };
    let client = super::client_of(peer, headers);
    match self_service::reserve_access_request(&state.db, &state.clock, &client).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(%client, "portal access link requests throttled for this address");
            return access_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some(
                    "Muitas solicitações a partir deste endereço. Tente de novo daqui a uma hora.",
                ),
                &form.documento,
            );
        }
        Err(e) => return internal(e),
    }
    match self_service::request_access(&state.db, &state.clock, &document).await {
        Ok(outcome) => {
            tracing::info!(
                document = %self_service::masked_document(&document),
                ?outcome,
                "portal access link requested"
            );
            if outcome == AccessRequest::NoAccount {
                tracing::warn!("portal access link not sent: no financial SMTP account");
            }
            message_page(
                &state,
                None,
                StatusCode::OK,
                "Verifique seu e-mail",
                "Se o CPF/CNPJ tiver um e-mail cadastrado, enviamos para ele um link para criar sua senha. O link vale por uma hora. Não recebeu? Cadastre seu e-mail com nosso atendimento.",
            )
        }
        Err(e) => internal(e),
    }
}

/// `GET /central/senha/{token}`
pub(super) async fn password_form(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let valid = async {
        let mut conn = state.db.pool.acquire().await?;
        store::subscribers::portal_token_document(&mut conn, &token, state.clock.now_millis()).await
    }
    .await;
    match valid {
        Ok(Some(_)) => password_page(&state, StatusCode::OK, &token, None),
        Ok(None) => expired_link(&state),
        Err(e) => internal(e),
    }
}

fn expired_link(state: &AppState) -> Response {
    message_page(
        state,
        None,
        StatusCode::GONE,
        "Link expirado",
        "Este link já foi usado ou expirou. Peça um novo em \"Primeiro acesso ou esqueci minha senha\".",
    )
}

fn password_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
) -> Response {
    form_page(
        state,
        "portal_password.html",
        status,
        minijinja::context! {
            title => "Criar senha", error, token, min => self_service::MIN_PASSWORD_LEN,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    senha: String,
    #[serde(default)]
    confirmacao: String,
}

/// `POST /central/senha/{token}`: sets the password and logs in.
pub(super) async fn set_password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if !form_token_ok(&headers, &form.csrf) {
        return password_page(
            &state,
            StatusCode::FORBIDDEN,
            &token,
            Some("O formulário expirou. Tente de novo."),
        );
    }
    if let Some(problem) = self_service::password_problem(&form.senha, &form.confirmacao) {
        return password_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            Some(problem),
        );
    }
    let result: anyhow::Result<Response> = async {
        let Some(document) =
            self_service::set_password_with_link(&state.db, &state.clock, &token, &form.senha)
                .await?
        else {
            return Ok(expired_link(&state));
        };
        let mut conn = state.db.pool.acquire().await?;
        let (session, _) = store::subscribers::create_portal_session(
            &mut conn,
            &document,
            PortalSessionKind::Web,
            state.clock.now_millis(),
            self_service::WEB_SESSION_TTL_MS,
        )
        .await?;
        let mut resp = Redirect::to("/central/faturas").into_response();
        resp.headers_mut().append(
            header::SET_COOKIE,
            state.cookie(
                PORTAL_COOKIE,
                &session,
                "/central",
                self_service::WEB_SESSION_TTL_MS / 1000,
            ),
        );
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// The most invoices the list shows.
const LIST_LIMIT: i64 = 60;

fn invoice_row(invoice: &Invoice, today: jiff::civil::Date) -> minijinja::Value {
    let (code, label) = self_service::status_pt(invoice, today);
    minijinja::context! {
        id => invoice.id.0, number => invoice.external_id.clone(),
        amount => invoice.amount.to_string(), due => format_date(invoice.due_date),
        status => code, status_label => label,
    }
}

/// `GET /central/faturas`
pub(super) async fn invoices(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let list =
            store::subscribers::portal_invoices(&mut conn, &session.document, LIST_LIMIT).await?;
        let name = store::subscribers::customers_with_document(&mut conn, &session.document)
            .await?
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let trust = suspended_for_debt(&mut conn, &session.document).await?;
        let trust_days = store::settings::trust_policy(&mut conn).await?.days;
        let today = state.clock.today();
        let (open, paid): (Vec<_>, Vec<_>) = list
            .iter()
            .partition(|i| matches!(i.status, crate::domain::InvoiceStatus::Open));
        // Open ones oldest first (what to pay next), paid ones latest first.
        let open: Vec<_> = open.iter().rev().map(|i| invoice_row(i, today)).collect();
        let paid: Vec<_> = paid.iter().map(|i| invoice_row(i, today)).collect();
        Ok(render(
            &state,
            "portal_invoices.html",
            StatusCode::OK,
            minijinja::context! {
                title => "Minhas faturas", name, open, paid, csrf => session.csrf.clone(),
                logged_in => true, trust, trust_days,
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// The subscriber's contracts suspended for debt (or back on trust), for the trust unlock
/// section: external id, plan, and the trust's last day when running.
async fn suspended_for_debt(
    conn: &mut sqlx::AnyConnection,
    document: &str,
) -> anyhow::Result<Vec<minijinja::Value>> {
    use crate::domain::debt::DebtState;
    let mut out = Vec::new();
    for (k, _) in store::subscribers::contracts_of_document(conn, document).await? {
        let Some(row) = store::debt::get(conn, k.id).await? else {
            continue;
        };
        let on_trust = row
            .record
            .trust_until
            .filter(|_| matches!(row.record.state, DebtState::RestoreDue | DebtState::Regular));
        if matches!(
            row.record.state,
            DebtState::SuspensionDue | DebtState::Suspended
        ) || on_trust.is_some()
        {
            out.push(minijinja::context! {
                contract => k.external_id.clone(), plan => k.plan.clone(),
                until => on_trust.map(format_date),
            });
        }
    }
    Ok(out)
}

/// The trust unlock form.
#[derive(Deserialize)]
pub(super) struct TrustForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default, rename = "contrato")]
    contract: String,
}

/// `POST /central/desbloqueio`: the subscriber asks for a trust unlock of one of their
/// contracts ("desbloqueio de confiança", docs/debt.md); the answer, granted or refused with
/// the reason, on a page.
pub(super) async fn trust_unlock(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Form(form): Form<TrustForm>,
) -> Response {
    if let Err(r) = csrf_ok(&state, &session, &form.csrf) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        // Only a contract of this subscriber's document.
        let contract = store::subscribers::contracts_of_document(&mut conn, &session.document)
            .await?
            .into_iter()
            .find(|(k, _)| k.external_id == form.contract)
            .map(|(k, customer)| (k.id, customer));
        drop(conn);
        let Some((id, customer)) = contract else {
            return Ok(message_page(
                &state,
                Some(&session),
                StatusCode::NOT_FOUND,
                "Contrato não encontrado",
                "Este contrato não está no seu cadastro.",
            ));
        };
        let actor = crate::domain::Actor::Portal(customer);
        Ok(match crate::debt::trust_unlock(&state.db, &state.clock, id, &actor).await? {
            crate::debt::TrustOutcome::Granted(until) => {
                let mut conn = state.db.pool.acquire().await?;
                let hours = store::settings::debt_policy(&mut conn).await?.1.restore_within_hours;
                message_page(
                    &state,
                    Some(&session),
                    StatusCode::OK,
                    "Desbloqueio de confiança concedido",
                    &format!(
                        "Seu serviço volta em até {hours} horas e fica liberado até {}. Pague as faturas em aberto até lá para que ele não seja suspenso de novo.",
                        format_date(until)
                    ),
                )
            }
            crate::debt::TrustOutcome::Refused(why) => message_page(
                &state,
                Some(&session),
                StatusCode::UNPROCESSABLE_ENTITY,
                "Desbloqueio de confiança não disponível",
                &why,
            ),
        })
    }
    .await;
    result.unwrap_or_else(internal)
}

async fn find(
    state: &AppState,
    session: &PortalSession,
    id: i64,
) -> anyhow::Result<Option<Invoice>> {
    let mut conn = state.db.pool.acquire().await?;
    store::subscribers::portal_invoice(&mut conn, &session.document, InvoiceId(id)).await
}

#[derive(Deserialize)]
pub(super) struct InvoiceQuery {
    enviada: Option<String>,
}

/// `GET /central/faturas/{id}`: the digitable line, PIX copia-e-cola and QR code, the boleto,
/// and "enviar por e-mail" when offered.
pub(super) async fn invoice(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Path(id): Path<i64>,
    Query(q): Query<InvoiceQuery>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let Some(invoice) = find(&state, &session, id).await? else {
            return Ok(not_found(&state, &session, id));
        };
        let mut conn = state.db.pool.acquire().await?;
        let open = matches!(invoice.status, crate::domain::InvoiceStatus::Open);
        let today = state.clock.today();
        let codes = crate::payment::payment_codes(&mut conn, &invoice, today).await?;
        let line = codes.line.unwrap_or_default();
        let pix = codes.pix.filter(|_| open);
        // Late: the amount due today, with its parts (docs/charges.md).
        let updated = (open && codes.due.total != invoice.amount).then(|| {
            minijinja::context! {
                total => codes.due.total.to_string(), fine => codes.due.fine.to_string(),
                interest => codes.due.interest.to_string(), days => codes.due.days_late,
                discount => codes.due.discount.to_string(),
                late => codes.due.days_late > 0,
            }
        });
        let qr = pix
            .as_deref()
            .and_then(|p| boleto::pdf::qr_svg(p).ok())
            .map(minijinja::Value::from_safe_string);
        let email = store::parties::get_customer(&mut conn, invoice.customer_id)
            .await?
            .email
            .map(|e| e.as_str().to_string());
        let offered_here = open && self_service::email_offered(&mut conn).await?;
        let offered = offered_here && email.is_some();
        // Offered, but the subscriber has no e-mail on file: say why there is no button.
        let no_email = offered_here && email.is_none();
        let sent = q
            .enviada
            .as_ref()
            .and(email.as_deref())
            .map(self_service::mask_email);
        Ok(render(
            &state,
            "portal_invoice.html",
            StatusCode::OK,
            minijinja::context! {
                title => format!("Fatura {}", invoice.external_id),
                invoice => invoice_row(&invoice, today), open, line, pix, qr, offered, updated,
                sent, no_email, csrf => session.csrf.clone(), logged_in => true,
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /central/faturas/{id}/boleto.pdf`
pub(super) async fn boleto_pdf(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Path(id): Path<i64>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let Some(invoice) = find(&state, &session, id).await? else {
            return Ok(not_found(&state, &session, id));
        };
        let mut conn = state.db.pool.acquire().await?;
        let pdf = crate::payment::boleto_pdf(&mut conn, &invoice).await?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"",
                        crate::payment::pdf_file_name("boleto", &invoice.external_id)
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            pdf,
        )
            .into_response())
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /central/faturas/{id}/enviar`: the confirmation, with the destination masked.
pub(super) async fn send_confirm(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Path(id): Path<i64>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let Some(invoice) = find(&state, &session, id).await? else {
            return Ok(not_found(&state, &session, id));
        };
        let mut conn = state.db.pool.acquire().await?;
        Ok(match self_service::check_send(&mut conn, &state.clock, &invoice).await? {
            Ok(self_service::SendCheck { masked, .. }) => render(
                &state,
                "portal_send.html",
                StatusCode::OK,
                minijinja::context! {
                    title => "Enviar por e-mail", invoice => invoice_row(&invoice, state.clock.today()),
                    masked, csrf => session.csrf.clone(), logged_in => true,
                    // This form's own id: however often it is submitted (a double click, five
                    // impatient clicks), it queues one message.
                    request => crate::web::auth::new_token(),
                },
            ),
            Err(refusal) => refused(&state, &session, refusal),
        })
    }
    .await;
    result.unwrap_or_else(internal)
}

fn refused(
    state: &AppState,
    session: &PortalSession,
    refusal: self_service::SendRefusal,
) -> Response {
    message_page(
        state,
        Some(session),
        refusal.status(),
        "Não foi possível enviar",
        &refusal.message_pt(),
    )
}

/// `POST /central/faturas/{id}/enviar`
pub(super) async fn send(
    State(state): State<Arc<AppState>>,
    session: PortalSession,
    Path(id): Path<i64>,
    Form(form): Form<SendForm>,
) -> Response {
    if let Err(r) = csrf_ok(&state, &session, &form.csrf) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let Some(invoice) = find(&state, &session, id).await? else {
            return Ok(not_found(&state, &session, id));
        };
        let request = Some(form.request.as_str()).filter(|r| !r.is_empty());
        Ok(
            match self_service::send_second_copy(&state.db, &state.clock, &invoice, request).await?
            {
                // The page says where it went from the record, not from the URL: a link
                // cannot make it claim another address.
                Ok(_) => Redirect::to(&format!("/central/faturas/{id}?enviada=1")).into_response(),
                Err(refusal) => refused(&state, &session, refusal),
            },
        )
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /static/central.js`: the copy buttons.
pub(super) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("templates/central.js"),
    )
        .into_response()
}
