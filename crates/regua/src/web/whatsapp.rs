//! Configurações › WhatsApp (docs/whatsapp.md): the Cloud API accounts (add, remove; the token,
//! app secret and verify token are sealed or hashed on save and never shown back), the
//! templates an account lists at Meta, a layout's template mapping (checked against that list),
//! "realizar teste de envio" with Meta's answer, and the numbers WhatsApp is not used for.
//! Needs the "configurar e-mail para envio" permission, like the other channels.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::whatsapp::{DEFAULT_API_URL, NewWhatsappAccount};
use crate::secrets::Secret;
use crate::store::{self, parties::ConfigError};

type Fields = BTreeMap<String, String>;

/// What a render shows besides the stored records.
#[derive(Default)]
struct View {
    status: Option<StatusCode>,
    /// The account form as typed (secrets never echoed) and its errors by field.
    account: Fields,
    account_errors: BTreeMap<&'static str, String>,
    /// The mapping form as typed and why it was refused.
    mapping: Fields,
    mapping_error: Option<String>,
    /// The test's answer: (sent, text).
    test: Option<(bool, String)>,
    test_form: Fields,
    /// An account whose templates are listed.
    templates_of: Option<String>,
    notice: Option<String>,
}

fn field<'a>(f: &'a Fields, k: &str) -> &'a str {
    f.get(k).map(|s| s.trim()).unwrap_or("")
}

async fn page(state: &AppState, session: &Session, view: View) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let now = state.clock.now_millis();
        let all = store::whatsapp::list_accounts(&mut conn).await?;
        let mut accounts = Vec::new();
        for a in all.iter().filter(|a| a.active) {
            let used = store::whatsapp::account_sends_since(
                &mut conn,
                a.id,
                now - crate::domain::send_limits::DAY_MS,
            )
            .await?;
            accounts.push(minijinja::context! {
                name => a.name.clone(), phone_number_id => a.phone_number_id.clone(),
                waba => a.business_account_id.clone(), api_url => a.api_url.clone(),
                limit => a.daily_limit.map_or("sem limite".to_string(), |l| l.to_string()),
                used,
                templates_query => serde_urlencoded::to_string([("templates", a.name.as_str())]).unwrap_or_default(),
            });
        }
        let layouts = store::layouts::list_layouts(&mut conn).await?;
        let mappings: Vec<_> = store::whatsapp::mappings(&mut conn)
            .await?
            .into_iter()
            .filter_map(|(layout, m)| {
                let l = layouts.iter().find(|l| l.id == layout)?;
                let account = all.iter().find(|a| a.id == m.account_id)?;
                Some(minijinja::context! {
                    layout => l.name.clone(), account => account.name.clone(),
                    template => m.template, language => m.language,
                    params => m.params.join(", "), document => m.document,
                    button => m.button.unwrap_or_default(),
                })
            })
            .collect();
        let blocks: Vec<_> = store::whatsapp::list_blocks(&mut conn)
            .await?
            .into_iter()
            .map(|b| {
                minijinja::context! {
                    phone => b.phone.clone(), label => b.label_pt(),
                    when => state.clock.local_time(b.created_at, "%d/%m/%Y %H:%M"),
                }
            })
            .collect();
        drop(conn);
        let (templates, templates_error) = match view
            .templates_of
            .as_deref()
            .and_then(|n| all.iter().find(|a| a.active && a.name == n))
        {
            Some(a) => match crate::actions::whatsapp::templates(&state.db, state.key.as_ref(), a)
                .await
            {
                Ok(list) => (
                    list.into_iter()
                        .map(|t| {
                            minijinja::context! {
                                name => t.name, language => t.language,
                                status => if t.status.eq_ignore_ascii_case("APPROVED") { "aprovado".to_string() } else { t.status.to_lowercase() },
                                params => t.body_params, header => t.header.unwrap_or_default(),
                                button => t.url_button_param, body => t.body,
                            }
                        })
                        .collect::<Vec<_>>(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e.pt)),
            },
            None => (Vec::new(), None),
        };
        let mut resp = state.render(
            "whatsapp.html",
            minijinja::context! {
                title => "WhatsApp",
                accounts, mappings, blocks, templates, templates_error,
                templates_of => view.templates_of,
                layouts => layouts.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
                variables => crate::layouts::VARIABLES.iter().filter(|v| v.path.contains('.')).map(|v| v.path).collect::<Vec<_>>(),
                api_default => DEFAULT_API_URL,
                account => view.account, account_errors => view.account_errors,
                mapping => view.mapping, mapping_error => view.mapping_error,
                test => view.test.as_ref().map(|(sent, text)| minijinja::context! { sent => *sent, text => text.clone() }),
                test_form => view.test_form,
                notice => view.notice,
                ..session.ctx()
            },
        );
        *resp.status_mut() = view.status.unwrap_or(StatusCode::OK);
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /configuracoes/whatsapp[?templates=CONTA]`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<Fields>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::ConfigureEmail) {
        return r;
    }
    let notice = match q.get("salvo").map(String::as_str) {
        Some("conta") => Some("Conta do WhatsApp salva.".to_string()),
        Some("removida") => Some("Conta do WhatsApp removida.".to_string()),
        Some("modelo") => Some("Template do modelo salvo.".to_string()),
        Some("sem-modelo") => Some("O modelo não vai mais por WhatsApp.".to_string()),
        Some("liberado") => Some("O número volta a receber WhatsApp.".to_string()),
        _ => None,
    };
    let view = View {
        templates_of: q.get("templates").cloned().filter(|t| !t.is_empty()),
        notice,
        ..View::default()
    };
    page(&state, &session, view).await
}

/// The account form's fields in Portuguese, by the field `NewWhatsappAccount::check` names.
fn account_error_pt(field: &str) -> (&'static str, &'static str) {
    match field {
        "name" => ("name", "Informe um nome."),
        "phone-number-id" => (
            "phone_number_id",
            "O ID do número de telefone é um número (WhatsApp Manager).",
        ),
        "business-account-id" => (
            "business_account_id",
            "O ID da conta do WhatsApp Business é um número.",
        ),
        "api-url" => ("api_url", "O endereço começa com https:// ou http://."),
        "token" => ("token", "Informe o token de acesso."),
        "app-secret" => ("app_secret", "Informe a chave secreta do app."),
        "verify-token" => ("verify_token", "Informe o token de verificação do webhook."),
        _ => ("daily_limit", "O limite diário é um número maior que zero."),
    }
}

/// `POST /configuracoes/whatsapp`: a new account.
pub(super) async fn add(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    // Never echo a secret back into the form.
    let mut typed = f.clone();
    for k in ["token", "app_secret", "verify_token", "_csrf"] {
        typed.remove(k);
    }
    let refuse = |errors: BTreeMap<&'static str, String>| View {
        status: Some(StatusCode::UNPROCESSABLE_ENTITY),
        account: typed.clone(),
        account_errors: errors,
        ..View::default()
    };
    let daily_limit = match field(&f, "daily_limit") {
        "" => None,
        v => match v.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                let (k, pt) = account_error_pt("daily-limit");
                return page(&state, &session, refuse([(k, pt.to_string())].into())).await;
            }
        },
    };
    let api_url = match field(&f, "api_url") {
        "" => DEFAULT_API_URL.to_string(),
        v => v.trim_end_matches('/').to_string(),
    };
    let account = NewWhatsappAccount {
        name: field(&f, "name").to_string(),
        phone_number_id: field(&f, "phone_number_id").to_string(),
        business_account_id: field(&f, "business_account_id").to_string(),
        token: Secret::new(field(&f, "token")),
        app_secret: Secret::new(field(&f, "app_secret")),
        verify_token: Secret::new(field(&f, "verify_token")),
        api_url,
        daily_limit,
    };
    if let Err((k, _)) = account.check() {
        let (k, pt) = account_error_pt(k);
        return page(&state, &session, refuse([(k, pt.to_string())].into())).await;
    }
    match crate::actions::whatsapp::add_account(
        &state.db,
        &account,
        state.key.as_ref(),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(_) => Redirect::to("/configuracoes/whatsapp?salvo=conta").into_response(),
        Err(ConfigError::Duplicate { .. }) => {
            page(
                &state,
                &session,
                refuse([("name", "Já existe uma conta com este nome.".to_string())].into()),
            )
            .await
        }
        Err(ConfigError::Other(e)) => internal(e),
        Err(e) => {
            page(
                &state,
                &session,
                refuse([("name", format!("Não foi possível salvar: {e}"))].into()),
            )
            .await
        }
    }
}

/// `POST /configuracoes/whatsapp/remover`: removes the account `name`.
pub(super) async fn remove(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    match crate::actions::whatsapp::remove_account(
        &state.db,
        field(&f, "name"),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(true) => Redirect::to("/configuracoes/whatsapp?salvo=removida").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /configuracoes/whatsapp/modelo`: a layout's template (checked against the account's
/// list at Meta; refused with the reason, nothing saved).
pub(super) async fn map(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    let input = crate::actions::whatsapp::MappingInput {
        layout: field(&f, "layout").to_string(),
        account: field(&f, "account").to_string(),
        template: field(&f, "template").to_string(),
        language: match field(&f, "language") {
            "" => "pt_BR".to_string(),
            l => l.to_string(),
        },
        params: field(&f, "params")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        document: field(&f, "document") == "boleto",
        button: Some(field(&f, "button").to_string()).filter(|b| !b.is_empty()),
    };
    match crate::actions::whatsapp::map_layout(
        &state.db,
        state.key.as_ref(),
        &input,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(_) => Redirect::to("/configuracoes/whatsapp?salvo=modelo").into_response(),
        Err(e) => {
            let mut typed = f.clone();
            typed.remove("_csrf");
            page(
                &state,
                &session,
                View {
                    status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                    mapping: typed,
                    mapping_error: Some(e.pt),
                    ..View::default()
                },
            )
            .await
        }
    }
}

/// `POST /configuracoes/whatsapp/modelo/remover`: the layout no longer goes by WhatsApp.
pub(super) async fn unmap(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Some(layout) = store::layouts::find_layout(&mut conn, field(&f, "layout")).await?
        else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        drop(conn);
        crate::actions::whatsapp::remove_mapping(
            &state.db,
            &layout,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?;
        Ok(Redirect::to("/configuracoes/whatsapp?salvo=sem-modelo").into_response())
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /configuracoes/whatsapp/teste`: "realizar teste de envio" — the layout's template to a
/// number now; the page shows Meta's answer.
pub(super) async fn test(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    let outcome = crate::actions::whatsapp::send_test(
        &state.db,
        &state.clock,
        state.key.clone(),
        field(&f, "to"),
        field(&f, "layout"),
        &session.actor(),
    )
    .await;
    let mut typed = f.clone();
    typed.remove("_csrf");
    let (status, test) = match outcome {
        Ok(t) if t.sent => (
            StatusCode::OK,
            (
                true,
                format!(
                    "Enviado para {}. Resposta da Meta: {}",
                    t.recipient, t.answer
                ),
            ),
        ),
        Ok(t) => (
            StatusCode::OK,
            (
                false,
                format!("Não enviado para {}: {}", t.recipient, t.answer),
            ),
        ),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, (false, e.pt)),
    };
    page(
        &state,
        &session,
        View {
            status: Some(status),
            test: Some(test),
            test_form: typed,
            ..View::default()
        },
    )
    .await
}

/// `POST /configuracoes/whatsapp/liberar`: the number may receive WhatsApp again.
pub(super) async fn unblock(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ConfigureEmail, Some(field(&f, "_csrf"))) {
        return r;
    }
    match crate::actions::whatsapp::clear_block(
        &state.db,
        field(&f, "phone"),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(_) => Redirect::to("/configuracoes/whatsapp?salvo=liberado").into_response(),
        Err(e) => internal(e),
    }
}
