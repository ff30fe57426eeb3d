//! Configurações › SMS e push: the SMS gateways (add, edit, remove) and the Firebase service
//! account (uploaded on the page, as the ERPs' manuals describe, or with `regua push
//! configure`). Needs the "configurar e-mail para envio" permission. Header values, gateway
//! variables and the service account's private key are sealed: no page shows them back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::delivery::GatewayId;
use crate::delivery::sms::GatewayInput;
use crate::store::{self, parties::ConfigError};

type Errors = BTreeMap<&'static str, String>;

/// The gateway form, as typed.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct GatewayForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    method: String,
    /// One `Name: value` per line; on an edit, blank keeps the stored headers.
    #[serde(default, skip_serializing)]
    headers: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    success_contains: String,
    #[serde(default)]
    hourly_limit: String,
    #[serde(default)]
    daily_limit: String,
}

/// The reason a gateway was refused, in Portuguese, by field.
fn gateway_error_pt(field: &str, reason: &str) -> (&'static str, String) {
    if reason.contains("variable") {
        let var = reason
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string();
        let field = if field == "header" { "headers" } else { "url" };
        return (
            field,
            format!(
                "A variável ${{{var}}} não está guardada: na página, digite o valor diretamente."
            ),
        );
    }
    match field {
        "name" => ("name", "Informe um nome para o gateway.".into()),
        "url" => (
            "url",
            "O endereço deve começar com https:// (ou http://).".into(),
        ),
        "method" => ("method", "Escolha GET, POST ou PUT.".into()),
        "header" if reason.contains("key") || reason.contains("REGUA_SECRET_KEY") => (
            "headers",
            "O servidor não tem a chave para guardar segredos (REGUA_SECRET_KEY).".into(),
        ),
        "header" => (
            "headers",
            "Cabeçalho inválido: um por linha, no formato Nome: valor.".into(),
        ),
        "body" => (
            "body",
            "O corpo ou o endereço precisa de {{mensagem}} e de {{telefone}} ou {{telefone_digitos}}."
                .into(),
        ),
        _ => (
            "hourly_limit",
            "Um número inteiro maior que zero, ou vazio para sem limite.".into(),
        ),
    }
}

/// Checks the form into a gateway. `stored` is the edited gateway's secrets: its variables
/// stay usable as `${NAME}`, and a blank header box keeps its headers.
fn check(
    f: &GatewayForm,
    stored: Option<&crate::delivery::GatewaySecrets>,
) -> Result<crate::delivery::NewSmsGateway, Errors> {
    let mut errors = Errors::new();
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
    if !errors.is_empty() {
        return Err(errors);
    }
    let keep_headers = stored.is_some() && f.headers.trim().is_empty();
    let input = GatewayInput {
        name: f.name.clone(),
        url: f.url.clone(),
        method: f.method.clone(),
        headers: if keep_headers {
            Vec::new()
        } else {
            f.headers
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        },
        body: Some(f.body.clone()).filter(|b| !b.trim().is_empty()),
        success_contains: Some(f.success_contains.trim().to_string()).filter(|s| !s.is_empty()),
        hourly_limit,
        daily_limit,
    };
    let env = |name: &str| stored.and_then(|s| s.vars.get(name).cloned());
    match input.check(&env) {
        Ok(mut g) => {
            if keep_headers && let Some(s) = stored {
                g.secrets.headers = s.headers.clone();
            }
            Ok(g)
        }
        Err((field, reason)) => {
            let (field, pt) = gateway_error_pt(field, &reason);
            Err(Errors::from([(field, pt)]))
        }
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    form: &GatewayForm,
    errors: &Errors,
    notice: Option<(&str, &str)>,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let limit = |l: Option<u32>| l.map_or("sem limite".to_string(), |l| l.to_string());
        let gateways: Vec<_> = store::channels::list_sms_gateways(&mut conn)
            .await?
            .into_iter()
            .filter(|g| g.active)
            .map(|g| {
                minijinja::context! {
                    id => g.id.0, name => g.name, method => g.method, url => g.url,
                    headers => g.header_names.join(", "),
                    limits => format!("{} / {}", limit(g.hourly_limit), limit(g.daily_limit)),
                }
            })
            .collect();
        let push = store::channels::push_config(&mut conn).await?.map(|p| {
            minijinja::context! {
                project => p.project_id, client_email => p.client_email, fcm_url => p.fcm_url,
                when => state.clock.local_time(p.updated_at, "%d/%m/%Y %H:%M"),
            }
        });
        let (notice, notice_class) = notice.unzip();
        let mut resp = state.render(
            "channels.html",
            minijinja::context! {
                title => "SMS e push",
                gateways, push,
                fcm_default => crate::delivery::fcm::FCM_URL,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                errors => errors,
                notice, notice_class,
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

fn blank_form() -> GatewayForm {
    GatewayForm {
        method: "POST".into(),
        body: crate::delivery::sms::DEFAULT_BODY.into(),
        ..GatewayForm::default()
    }
}

/// `GET /configuracoes/sms-push`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    let notice = match q.get("salvo").map(String::as_str) {
        Some("sms") => Some(("Gateway de SMS salvo.", "ok")),
        Some("removido") => Some(("Gateway de SMS removido.", "ok")),
        Some("push") => Some(("Conta de serviço do Firebase salva.", "ok")),
        _ => None,
    };
    page(
        &state,
        &session,
        StatusCode::OK,
        &blank_form(),
        &Errors::new(),
        notice,
    )
    .await
}

fn save_error(e: ConfigError) -> Result<Errors, anyhow::Error> {
    match e {
        ConfigError::Duplicate { .. } => Ok(Errors::from([(
            "name",
            "Já existe um gateway com este nome.".to_string(),
        )])),
        ConfigError::Invalid { field, reason } => {
            let (f, pt) = gateway_error_pt(field, &reason);
            Ok(Errors::from([(f, pt)]))
        }
        ConfigError::Other(e) => Err(e),
        e => Ok(Errors::from([(
            "name",
            format!("Não foi possível salvar: {e}"),
        )])),
    }
}

/// `POST /configuracoes/sms`: a new gateway.
pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<GatewayForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let refuse = async |errors: Errors| {
        page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            None,
        )
        .await
    };
    let gateway = match check(&form, None) {
        Ok(g) => g,
        Err(errors) => return refuse(errors).await,
    };
    let saved = crate::actions::channels::add_sms_gateway(
        &state.db,
        &gateway,
        state.key.as_ref(),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match saved {
        Ok(_) => Redirect::to("/configuracoes/sms-push?salvo=sms").into_response(),
        Err(e) => match save_error(e) {
            Ok(errors) => refuse(errors).await,
            Err(e) => internal(e),
        },
    }
}

async fn edit_page(
    state: &AppState,
    session: &Session,
    id: i64,
    status: StatusCode,
    form: Option<&GatewayForm>,
    errors: &Errors,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(g) = store::channels::get_sms_gateway(&mut conn, GatewayId(id))
            .await?
            .filter(|g| g.active)
        else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let stored = GatewayForm {
            name: g.name.clone(),
            url: g.url.clone(),
            method: g.method.clone(),
            body: g.body_template.clone(),
            success_contains: g.success_contains.clone().unwrap_or_default(),
            hourly_limit: g.hourly_limit.map(|l| l.to_string()).unwrap_or_default(),
            daily_limit: g.daily_limit.map(|l| l.to_string()).unwrap_or_default(),
            ..GatewayForm::default()
        };
        let mut resp = state.render(
            "sms_edit.html",
            minijinja::context! {
                title => format!("Gateway {}", g.name),
                id, name => g.name, header_names => g.header_names.join(", "),
                form => minijinja::Value::from(minijinja::value::Serde(form.unwrap_or(&stored))),
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

/// `GET /configuracoes/sms/{id}`: the gateway's edit page.
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

/// `POST /configuracoes/sms/{id}`: saves the edit; a blank header box keeps the stored headers.
pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<GatewayForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let refuse = async |errors: Errors| {
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
    let stored = async {
        let mut conn = state.db.pool.acquire().await?;
        store::channels::sms_gateway_secrets(&mut conn, GatewayId(id), state.key.as_ref()).await
    }
    .await;
    let stored = match stored {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let gateway = match check(&form, Some(&stored)) {
        Ok(g) => g,
        Err(errors) => return refuse(errors).await,
    };
    let saved = crate::actions::channels::update_sms_gateway(
        &state.db,
        GatewayId(id),
        &gateway,
        state.key.as_ref(),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match saved {
        Ok(()) => Redirect::to("/configuracoes/sms-push?salvo=sms").into_response(),
        Err(ConfigError::Unknown { .. }) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => match save_error(e) {
            Ok(errors) => refuse(errors).await,
            Err(e) => internal(e),
        },
    }
}

/// `POST /configuracoes/sms/{id}/remover`: the gateway stops sending; its name is freed and its
/// history stays in the log.
pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&form.csrf)) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(g) = store::channels::get_sms_gateway(&mut conn, GatewayId(id))
            .await?
            .filter(|g| g.active)
        else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        drop(conn);
        crate::actions::channels::remove_sms_gateway(
            &state.db,
            &g.name,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?;
        Ok(Redirect::to("/configuracoes/sms-push?salvo=removido").into_response())
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /configuracoes/push` (multipart): the Firebase service-account file and, optionally,
/// the FCM address; the same checks and sealing as `regua push configure`.
pub(super) async fn configure_push(
    State(state): State<Arc<AppState>>,
    session: Session,
    form: Multipart,
) -> Response {
    let fields = match super::MultipartForm::read(form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let text = |name: &str| fields.text(name);
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(&text("_csrf"))) {
        return r;
    }
    let refuse = async |message: String| {
        let errors = Errors::from([("service_account", message)]);
        page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &blank_form(),
            &errors,
            None,
        )
        .await
    };
    let Some((_, json)) = fields.file("service_account") else {
        return refuse("Escolha o arquivo JSON da conta de serviço do Firebase.".into()).await;
    };
    let Ok(json) = String::from_utf8(json) else {
        return refuse("O arquivo não é um JSON de conta de serviço do Firebase.".into()).await;
    };
    let sa = match crate::delivery::fcm::ServiceAccount::parse(&json) {
        Ok(sa) => sa,
        Err(e) => {
            tracing::info!(user = %session.user.login, error = %e, "service account refused");
            return refuse(format!(
                "O arquivo não é uma conta de serviço do Firebase utilizável ({e})."
            ))
            .await;
        }
    };
    let fcm_url = match text("fcm_url") {
        u if u.is_empty() => crate::delivery::fcm::FCM_URL.to_string(),
        u if u.starts_with("https://") || u.starts_with("http://") => u,
        _ => return refuse("O endereço do FCM deve começar com https://.".into()).await,
    };
    let Some(key) = state.key.as_ref() else {
        return refuse(
            "O servidor não tem a chave para guardar segredos (REGUA_SECRET_KEY).".into(),
        )
        .await;
    };
    let config = store::channels::PushConfig {
        project_id: sa.project_id.clone(),
        client_email: sa.client_email.clone(),
        private_key_id: sa.private_key_id.clone(),
        token_uri: sa.token_uri.clone(),
        fcm_url: fcm_url.trim_end_matches('/').to_string(),
        updated_at: state.clock.now_millis(),
    };
    match crate::actions::channels::configure_push(
        &state.db,
        &config,
        &crate::secrets::Secret::new(sa.private_key),
        key,
        &session.actor(),
    )
    .await
    {
        Ok(()) => Redirect::to("/configuracoes/sms-push?salvo=push").into_response(),
        Err(e) => internal(e),
    }
}
