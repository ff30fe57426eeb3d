//! Envio › E-mails inválidos: the addresses no e-mail goes to (a hard bounce, a complaint, soft
//! bounces in a row), with their customers, the reason and the date; "Liberar" clears one after
//! the clerk fixed the address or the cause (docs/bounces.md).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::store;

/// A suppression's reason on screen.
pub(super) fn reason_pt(reason: &str) -> &'static str {
    match reason {
        "hard" => "Devolvido: endereço inexistente",
        "complaint" => "Reclamação de spam do destinatário",
        _ => "Devoluções seguidas (caixa cheia, bloqueio…)",
    }
}

#[derive(Deserialize)]
pub(super) struct Shown {
    #[serde(default)]
    liberado: Option<String>,
    #[serde(default)]
    lida: Option<String>,
    #[serde(default)]
    erro: Option<String>,
}

/// `GET /emails-invalidos`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<Shown>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let rows: Vec<_> = store::bounces::list_suppressions_with_customers(&mut conn)
            .await?
            .into_iter()
            .map(|(s, customers)| {
                minijinja::context! {
                    address => s.address, reason => reason_pt(&s.reason),
                    status => s.status.unwrap_or_default(),
                    diagnostic => super::log::short(&s.diagnostic, 120),
                    when => state.clock.local_time(s.created_at, "%d/%m/%Y %H:%M"),
                    customers => customers.into_iter().map(|(id, code, name)| minijinja::context! { id, code, name }).collect::<Vec<_>>(),
                }
            })
            .collect();
        let mailboxes: Vec<_> = store::bounces::list_mailboxes(&mut conn)
            .await?
            .into_iter()
            .map(|m| {
                let last = match (&m.last_error, m.last_polled_at) {
                    (_, None) => "Ainda não lida.".to_string(),
                    (Some(e), Some(at)) => format!(
                        "Falha na leitura de {}: {}",
                        state.clock.local_time(at, "%d/%m/%Y %H:%M"),
                        super::log::short(e, 160)
                    ),
                    (None, Some(at)) => format!(
                        "{}: {}",
                        state.clock.local_time(at, "%d/%m/%Y %H:%M"),
                        crate::actions::bounces::PollReport::from_stored(&m.last_result)
                            .map_or(String::new(), |r| r.pt())
                    ),
                };
                minijinja::context! {
                    id => m.id, name => m.name, server => format!("{}:{}", m.host, m.port),
                    folder => m.folder, move_to => m.move_to.unwrap_or_default(),
                    failed => m.last_error.is_some(), last,
                }
            })
            .collect();
        Ok(state.render(
            "suppressions.html",
            minijinja::context! {
                title => "E-mails inválidos", rows, mailboxes,
                read => q.lida,
                mailbox_error => q.erro,
                can_read => session.user.role.allows(Permission::ConfigureEmail),
                cleared => q.liberado,
                can_clear => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

#[derive(Deserialize)]
pub(super) struct ClearForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    address: String,
}

/// `POST /emails-invalidos/liberar`: clears one address (audited `suppression.clear`).
pub(super) async fn clear(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<ClearForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&f.csrf)) {
        return r;
    }
    match crate::actions::bounces::unsuppress(
        &state.db,
        &f.address,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(true) => Redirect::to(&format!(
            "/emails-invalidos?{}",
            serde_urlencoded::to_string([("liberado", f.address.trim())]).unwrap_or_default()
        ))
        .into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /emails-invalidos/caixas/{id}/ler`: reads a bounce mailbox now (what `regua serve`
/// does every few minutes) and says what it found.
pub(super) async fn read_now(
    State(state): State<Arc<AppState>>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&f.csrf)) {
        return r;
    }
    let Some(key) = state.key.clone() else {
        return super::error_page(
            &state,
            Some(&session),
            StatusCode::SERVICE_UNAVAILABLE,
            "Chave ausente",
            "O servidor foi iniciado sem REGUA_SECRET_KEY: a senha da caixa não pode ser aberta.",
        );
    };
    let result: anyhow::Result<Option<String>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(m) = store::bounces::list_mailboxes(&mut conn)
            .await?
            .into_iter()
            .find(|m| m.id == id)
        else {
            return Ok(None);
        };
        drop(conn);
        let text = match crate::actions::bounces::poll_mailbox(
            &state.db,
            &m,
            &key,
            &state.clock,
            crate::delivery::network_timeout_from_env(),
        )
        .await
        {
            Ok(r) => format!("{}: {}", m.name, r.pt()),
            Err(e) => {
                tracing::warn!(mailbox = %m.name, error = format!("{e:#}"), "bounce mailbox not read");
                format!("{}: a leitura falhou (veja abaixo)", m.name)
            }
        };
        Ok(Some(text))
    }
    .await;
    match result {
        Ok(Some(text)) => Redirect::to(&format!(
            "/emails-invalidos?{}",
            serde_urlencoded::to_string([("lida", text)]).unwrap_or_default()
        ))
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// The new-mailbox form.
#[derive(Deserialize, Default)]
pub(super) struct MailboxForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    folder: String,
    #[serde(default)]
    move_to: String,
}

fn back(key: &str, text: &str) -> Response {
    Redirect::to(&format!(
        "/emails-invalidos?{}",
        serde_urlencoded::to_string([(key, text)]).unwrap_or_default()
    ))
    .into_response()
}

/// `POST /emails-invalidos/caixas`: adds a bounce mailbox (the same checks and sealing as
/// `regua bounce mailbox add`; audited `bounce_mailbox.add`, the password never written). The
/// server's certificate must be one the public roots trust (a private CA is the CLI's
/// `--ca-file`).
pub(super) async fn add_mailbox(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<MailboxForm>,
) -> Response {
    use store::bounces::{BounceMailbox, ImapSecurity};
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&f.csrf)) {
        return r;
    }
    let Some(key) = state.key.clone() else {
        return back(
            "erro",
            "O servidor foi iniciado sem REGUA_SECRET_KEY: a senha não pode ser guardada.",
        );
    };
    let security: ImapSecurity = match f.security.as_str() {
        "starttls" => ImapSecurity::StartTls,
        _ => ImapSecurity::Tls,
    };
    let port = match f.port.trim() {
        "" => Some(security.default_port()),
        p => p.parse::<u16>().ok().filter(|p| *p > 0),
    };
    let problem = if f.name.trim().is_empty() {
        Some("Informe o nome da caixa.")
    } else if f.host.trim().is_empty() || f.host.trim().contains(char::is_whitespace) {
        Some("Informe o servidor IMAP.")
    } else if port.is_none() {
        Some("A porta é um número de 1 a 65535.")
    } else if f.user.trim().is_empty() {
        Some("Informe o usuário da caixa.")
    } else if f.password.is_empty() {
        Some("Informe a senha da caixa.")
    } else {
        None
    };
    if let Some(p) = problem {
        return back("erro", p);
    }
    let folder = Some(f.folder.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or("INBOX");
    let m = BounceMailbox {
        id: 0,
        name: f.name.trim().to_string(),
        host: f.host.trim().to_string(),
        port: port.unwrap_or(security.default_port()),
        security,
        username: f.user.trim().to_string(),
        password_enc: String::new(),
        folder: folder.to_string(),
        move_to: Some(f.move_to.trim().to_string()).filter(|s| !s.is_empty()),
        ca_file: None,
        last_polled_at: None,
        last_result: String::new(),
        last_error: None,
    };
    match crate::actions::bounces::add_mailbox(
        &state.db,
        &m,
        &crate::secrets::Secret::new(f.password.clone()),
        &key,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(true) => back("lida", &format!("Caixa {} cadastrada.", m.name)),
        Ok(false) => back("erro", &format!("Já existe uma caixa chamada {}.", m.name)),
        Err(e) => internal(e),
    }
}

/// `POST /emails-invalidos/caixas/{id}/remover`: removes a mailbox (its bounces stay).
pub(super) async fn remove_mailbox(
    State(state): State<Arc<AppState>>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&f.csrf)) {
        return r;
    }
    let result: anyhow::Result<Option<String>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(m) = store::bounces::list_mailboxes(&mut conn)
            .await?
            .into_iter()
            .find(|m| m.id == id)
        else {
            return Ok(None);
        };
        drop(conn);
        crate::actions::bounces::remove_mailbox(
            &state.db,
            &m.name,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?;
        Ok(Some(m.name))
    }
    .await;
    match result {
        Ok(Some(name)) => back("lida", &format!("Caixa {name} removida.")),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}
