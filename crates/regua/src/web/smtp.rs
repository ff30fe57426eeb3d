//! Configurações › E-mail SMTP: the accounts, a new account, "enviar teste" and the financial
//! parameters' account. Needs the "configurar e-mail para envio" permission. The password is
//! write-only: it is sealed on save and no page shows it back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::delivery::{AccountId, NewSmtpAccount, NoticeStatus, Security, Worker, WorkerOptions};
use crate::domain::{EmailAddress, limits};
use crate::secrets::Secret;
use crate::store::accounts::PasswordChange;
use crate::store::{self, parties::ConfigError};

/// The form's fields, as typed.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct SmtpForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
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
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    from_name: String,
    #[serde(default)]
    test_recipient: String,
    #[serde(default)]
    hourly_limit: String,
    #[serde(default)]
    daily_limit: String,
    #[serde(default)]
    financial: Option<String>,
    #[serde(default)]
    bounce_domain: String,
}

type Errors = BTreeMap<&'static str, String>;

/// Checks the form and builds the account; every error in pt-BR, by field.
fn validate(f: &SmtpForm) -> Result<NewSmtpAccount, Errors> {
    validate_as(f, None).map(|(a, _)| a)
}

/// [`validate`] for a new account (`stored_password` is `None`) or an edit of one that has a
/// password stored (`Some(true)`) or not: on an edit, a blank password keeps the stored one
/// and a blank user removes both.
fn validate_as(
    f: &SmtpForm,
    stored_password: Option<bool>,
) -> Result<(NewSmtpAccount, PasswordChange), Errors> {
    let mut errors = Errors::new();
    if f.name.trim().is_empty() {
        errors.insert("name", "Informe um nome para a conta.".into());
    }
    if f.host.trim().is_empty() {
        errors.insert("host", "Informe o servidor de saída.".into());
    }
    // Each of these reaches a header or the SMTP conversation: one line, no control character.
    for (field, value) in [
        ("name", &f.name),
        ("host", &f.host),
        ("user", &f.user),
        ("from_name", &f.from_name),
    ] {
        if let Err(e) = limits::check_line(value.trim(), limits::MAX_TEXT_CHARS) {
            errors.insert(field, e.pt());
        }
    }
    let port = match f.port.trim().parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            errors.insert("port", "A porta é um número de 1 a 65535.".into());
            0
        }
    };
    let security = match f.security.as_str() {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        "none" => Security::None,
        _ => {
            errors.insert("security", "Escolha STARTTLS, TLS ou nenhuma.".into());
            Security::None
        }
    };
    if let Some((_, pt)) = security.refused_with_port(port) {
        errors.insert("security", pt.into());
    }
    let from = EmailAddress::parse(&f.from).map_err(|_| ());
    if from.is_err() {
        errors.insert("from", "Informe um e-mail de remetente válido.".into());
    }
    let bounce_domain = f.bounce_domain.trim().to_lowercase();
    if !bounce_domain.is_empty() && !crate::domain::delivery::is_domain_name(&bounce_domain) {
        errors.insert(
            "bounce_domain",
            "Um domínio, como retorno.provedor.com.br, ou vazio.".into(),
        );
    }
    let test_recipient = match f.test_recipient.trim() {
        "" => None,
        t => match EmailAddress::parse(t) {
            Ok(e) => Some(e),
            Err(_) => {
                errors.insert("test_recipient", "E-mail inválido.".into());
                None
            }
        },
    };
    let mut limit = |field: &'static str, v: &str| match v.trim() {
        "" => None,
        v => match v.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.insert(
                    field,
                    "Um número inteiro maior que zero, ou vazio para sem limite.".into(),
                );
                None
            }
        },
    };
    let hourly_limit = limit("hourly_limit", &f.hourly_limit);
    let daily_limit = limit("daily_limit", &f.daily_limit);
    let (credentials, password) = match (f.user.trim(), f.password.as_str(), stored_password) {
        ("", "", _) => (None, PasswordChange::Clear),
        ("", _, _) => {
            errors.insert("user", "Informe o usuário da senha.".into());
            (None, PasswordChange::Keep)
        }
        (u, "", Some(true)) => (
            Some((u.to_string(), Secret::new(String::new()))),
            PasswordChange::Keep,
        ),
        (_, "", _) => {
            errors.insert("password", "Informe a senha do usuário.".into());
            (None, PasswordChange::Keep)
        }
        (u, p, _) => (
            Some((u.to_string(), Secret::new(p.to_string()))),
            PasswordChange::Replace(Secret::new(p.to_string())),
        ),
    };
    let Ok(from) = from else { return Err(errors) };
    if !errors.is_empty() {
        return Err(errors);
    }
    let account = NewSmtpAccount {
        security,
        credentials,
        from_name: f.from_name.trim().to_string(),
        test_recipient,
        hourly_limit,
        daily_limit,
        bounce_domain,
        ..NewSmtpAccount::smtp(f.name.trim(), f.host.trim(), port, from)
    };
    Ok((account, password))
}

/// The security mode as the screen names it.
fn security_label(s: Security) -> &'static str {
    match s {
        Security::StartTls => "STARTTLS",
        Security::Tls => "TLS",
        Security::None => "Nenhuma (texto aberto)",
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    form: &SmtpForm,
    errors: &Errors,
    notice: Option<(&str, &str)>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let financial = store::accounts::financial_account(&mut conn).await?;
        let accounts: Vec<_> = store::accounts::list_smtp_accounts(&mut conn)
            .await?
            .into_iter()
            .filter(|a| a.active)
            .map(|a| {
                let limit = |l: Option<u32>| l.map_or("sem limite".to_string(), |l| l.to_string());
                minijinja::context! {
                    id => a.id.0,
                    editable => a.folder.is_none(),
                    financial => financial.as_ref().is_some_and(|f| f.id == a.id),
                    server => if a.folder.is_some() {
                        format!("pasta {}", a.folder.clone().unwrap_or_default())
                    } else {
                        format!("{}:{}", a.host, a.port)
                    },
                    security => security_label(a.security),
                    user => a.username.clone().unwrap_or_default(),
                    has_password => a.has_password,
                    from => a.from_address.as_str(),
                    limits => format!("{} / {}", limit(a.hourly_limit), limit(a.daily_limit)),
                    test_recipient => a.test_recipient.as_ref().map(|e| e.as_str().to_string()).unwrap_or_default(),
                    name => a.name,
                }
            })
            .collect();
        let (notice, notice_class) = notice.unzip();
        let mut resp = state.render(
            "smtp.html",
            minijinja::context! {
                title => "E-mail SMTP",
                accounts,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                errors => errors,
                notice,
                notice_class,
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    let saved = q
        .contains_key("salvo")
        .then_some(("Alterações salvas.", "ok"));
    page(
        &state,
        &session,
        StatusCode::OK,
        &blank_form(),
        &Errors::new(),
        saved,
    )
    .await
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<SmtpForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let account = match validate(&form) {
        Ok(a) => a,
        Err(errors) => {
            return page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await;
        }
    };
    if account.credentials.is_some() && state.key.is_none() {
        let errors = Errors::from([(
            "password",
            "O servidor não tem a chave para guardar senhas (REGUA_SECRET_KEY).".to_string(),
        )]);
        return page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            None,
        )
        .await;
    }
    let now = state.clock.now_millis();
    let result: anyhow::Result<Result<(), Errors>> =
        match crate::actions::channels::add_smtp_account(
            &state.db,
            &account,
            state.key.as_ref(),
            form.financial.is_some(),
            &session.actor(),
            now,
        )
        .await
        {
            Ok(_) => Ok(Ok(())),
            Err(ConfigError::Duplicate { .. }) => Ok(Err(Errors::from([(
                "name",
                "Já existe uma conta com este nome.".to_string(),
            )]))),
            Err(ConfigError::Other(e)) => Err(e),
            Err(e) => Ok(Err(Errors::from([(
                "name",
                format!("Não foi possível salvar: {e}"),
            )]))),
        };
    match result {
        Ok(Ok(())) => {
            tracing::info!(user = %session.user.login, account = %account.name, "smtp account added");
            Redirect::to("/configuracoes/email").into_response()
        }
        Ok(Err(errors)) => {
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn financial(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let result = crate::actions::channels::set_financial_account(
        &state.db,
        crate::actions::channels::AccountRef::Id(crate::delivery::AccountId(id)),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/email").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct TestForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    to: String,
}

/// "Enviar teste": sends the account's test message now and shows the server's answer.
pub(super) async fn test(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<TestForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let blank = blank_form();
    let to = match form.to.trim() {
        "" => None,
        t => match EmailAddress::parse(t) {
            Ok(e) => Some(e),
            Err(_) => {
                let msg = format!("Destinatário inválido: {t}");
                return page(
                    &state,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &blank,
                    &Errors::new(),
                    Some((&msg, "error")),
                )
                .await;
            }
        },
    };
    let result: anyhow::Result<(bool, String)> = async {
        let mut conn = state.db.pool.acquire().await?;
        let account =
            store::accounts::get_smtp_account(&mut conn, crate::delivery::AccountId(id)).await?;
        let id = match crate::delivery::enqueue_test_message(
            &mut conn,
            &account,
            to.as_ref(),
            &session.actor().to_string(),
            state.clock.now_millis(),
        )
        .await
        {
            Ok(crate::delivery::Enqueued::New(id) | crate::delivery::Enqueued::Exists(id, _)) => id,
            Err(_) => {
                return Ok((
                    false,
                    "Informe o destinatário do teste (ou cadastre um na conta).".into(),
                ));
            }
        };
        drop(conn);
        let worker = Worker::new(
            state.db.clone(),
            state.clock.clone(),
            WorkerOptions::default(),
            state.key.clone(),
        );
        let (status, answer) = worker.deliver_and_answer(id).await?;
        if status.is_none() {
            // Not claimed: the account's hourly or daily limit holds it until the window frees.
            let mut conn = state.db.pool.acquire().await?;
            let n = store::outbox::get_notice(&mut conn, id).await?;
            let when = state.clock.local_time(n.next_attempt_at, "%d/%m/%Y %H:%M");
            let limits = [
                account.hourly_limit.map(|l| format!("{l} por hora")),
                account.daily_limit.map(|l| format!("{l} por dia")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" e ");
            return Ok((
                false,
                if limits.is_empty() {
                    format!("O teste ficou na fila e sai em {when}.")
                } else {
                    format!(
                        "O teste não foi enviado agora: a conta {} atingiu o limite de envios ({limits}). Ele ficou na fila e sai em {when}.",
                        account.name
                    )
                },
            ));
        }
        Ok(match status {
            Some(NoticeStatus::Sent) => (
                true,
                format!(
                    "Teste enviado para {}. Resposta do servidor: {answer}",
                    account.name
                ),
            ),
            _ => (
                false,
                format!("O teste não foi enviado. Resposta: {answer}"),
            ),
        })
    }
    .await;
    match result {
        Ok((ok, msg)) => {
            page(
                &state,
                &session,
                StatusCode::OK,
                &blank,
                &Errors::new(),
                Some((&msg, if ok { "ok" } else { "error" })),
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// The edit page of one account: its fields (never the password), and removal with where its
/// waiting notices go.
async fn edit_page(
    state: &AppState,
    session: &Session,
    id: i64,
    status: StatusCode,
    form: Option<&SmtpForm>,
    errors: &Errors,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(account) = store::accounts::get_smtp_account(&mut conn, AccountId(id)).await else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        if !account.active || account.folder.is_some() {
            return Ok(StatusCode::NOT_FOUND.into_response());
        }
        let waiting = store::accounts::waiting_notices(&mut conn, account.id).await?;
        let financial = store::accounts::financial_account(&mut conn).await?;
        let others: Vec<String> = store::accounts::list_smtp_accounts(&mut conn)
            .await?
            .into_iter()
            .filter(|a| a.active && a.id != account.id)
            .map(|a| a.name)
            .collect();
        let stored = SmtpForm {
            name: account.name.clone(),
            host: account.host.clone(),
            port: account.port.to_string(),
            security: account.security.as_str().to_string(),
            user: account.username.clone().unwrap_or_default(),
            from: account.from_address.as_str().to_string(),
            from_name: account.from_name.clone(),
            test_recipient: account
                .test_recipient
                .as_ref()
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
            hourly_limit: account.hourly_limit.map(|l| l.to_string()).unwrap_or_default(),
            daily_limit: account.daily_limit.map(|l| l.to_string()).unwrap_or_default(),
            bounce_domain: account.bounce_domain.clone(),
            ..SmtpForm::default()
        };
        let form = form.unwrap_or(&stored);
        let mut resp = state.render(
            "smtp_edit.html",
            minijinja::context! {
                title => format!("Conta {}", account.name),
                id,
                name => account.name,
                has_password => account.has_password,
                is_financial => financial.as_ref().is_some_and(|f| f.id == account.id),
                financial => financial.as_ref().filter(|f| f.id != account.id).map(|f| f.name.clone()),
                waiting,
                others,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                errors => errors,
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /configuracoes/email/{id}`: the account's edit page.
pub(super) async fn edit(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    edit_page(&state, &session, id, StatusCode::OK, None, &Errors::new()).await
}

/// `POST /configuracoes/email/{id}`: saves the edit; a blank password keeps the stored one.
pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<SmtpForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let stored = async {
        let mut conn = state.db.pool.acquire().await?;
        store::accounts::get_smtp_account(&mut conn, AccountId(id)).await
    }
    .await;
    let Ok(stored) = stored.map_err(|e| tracing::debug!(error = %e, "smtp edit")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let unprocessable = async |errors: Errors| {
        edit_page(
            &state,
            &session,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&form),
            &errors,
        )
        .await
    };
    let (account, password) = match validate_as(&form, Some(stored.has_password)) {
        Ok(v) => v,
        Err(errors) => return unprocessable(errors).await,
    };
    if matches!(password, PasswordChange::Replace(_)) && state.key.is_none() {
        return unprocessable(Errors::from([(
            "password",
            "O servidor não tem a chave para guardar senhas (REGUA_SECRET_KEY).".to_string(),
        )]))
        .await;
    }
    let saved = crate::actions::channels::update_smtp_account(
        &state.db,
        AccountId(id),
        &account,
        &password,
        state.key.as_ref(),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match saved {
        Ok(()) => {
            tracing::info!(user = %session.user.login, account = %account.name, "smtp account updated");
            Redirect::to("/configuracoes/email?salvo=1").into_response()
        }
        Err(ConfigError::Duplicate { .. }) => {
            unprocessable(Errors::from([(
                "name",
                "Já existe uma conta com este nome.".to_string(),
            )]))
            .await
        }
        Err(ConfigError::Unknown { .. }) => StatusCode::NOT_FOUND.into_response(),
        Err(ConfigError::Other(e)) => internal(e),
        Err(e) => {
            unprocessable(Errors::from([(
                "name",
                format!("Não foi possível salvar: {e}"),
            )]))
            .await
        }
    }
}

/// The removal form: where the waiting notices go.
#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    move_to: String,
}

/// `POST /configuracoes/email/{id}/remover`: removes the account (see
/// [`crate::actions::channels::remove_smtp_account`]).
pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let account = async {
        let mut conn = state.db.pool.acquire().await?;
        store::accounts::get_smtp_account(&mut conn, AccountId(id)).await
    }
    .await;
    let Ok(account) = account.map_err(|e| tracing::debug!(error = %e, "smtp remove")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    use crate::actions::channels::RemoveError;
    let removed = crate::actions::channels::remove_smtp_account(
        &state.db,
        &account.name,
        Some(form.move_to.as_str()),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    let error = match removed {
        Ok(r) => {
            tracing::info!(user = %session.user.login, account = %account.name, moved = r.moved, "smtp account removed");
            let mut msg = format!("Conta {} removida.", account.name);
            if let Some(to) = r.moved_to {
                msg.push_str(&format!(
                    " {} aviso(s) da fila passaram para a conta {to}.",
                    r.moved
                ));
            }
            if r.was_financial {
                msg.push_str(" Ela era a conta dos parâmetros financeiros: escolha outra.");
            }
            return page(
                &state,
                &session,
                StatusCode::OK,
                &blank_form(),
                &Errors::new(),
                Some((&msg, "ok")),
            )
            .await;
        }
        Err(RemoveError::NotFound(_)) => return StatusCode::NOT_FOUND.into_response(),
        Err(RemoveError::Other(e)) => return internal(e),
        Err(RemoveError::Held { waiting, .. }) => format!(
            "Há {waiting} aviso(s) na fila desta conta e nenhuma outra conta para recebê-los: \
             escolha para qual conta movê-los. Nada foi removido."
        ),
        Err(RemoveError::BadTarget(t)) => {
            format!("A conta {t} não é outra conta ativa. Nada foi removido.")
        }
    };
    edit_page(
        &state,
        &session,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        &Errors::from([("move_to", error)]),
    )
    .await
}

/// The empty "Nova conta" form.
fn blank_form() -> SmtpForm {
    SmtpForm {
        port: "587".into(),
        security: "starttls".into(),
        ..SmtpForm::default()
    }
}
