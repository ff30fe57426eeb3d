//! Configurações › Parâmetros gerais: the company profile shown in messages, the default
//! delivery type, the régua's catch-up window and whether optional holidays stop the routines.
//! Administrators only; every change goes to the audit trail with its value before and after.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::store;

/// A page of parameters: where it lives, who may change it, and its fields (key, label).
pub(super) struct Section {
    path: &'static str,
    title: &'static str,
    permission: Permission,
    fields: &'static [(&'static str, &'static str)],
}

/// Configurações › Parâmetros gerais.
pub(super) const GENERAL: Section = Section {
    path: "/configuracoes/parametros",
    title: "Parâmetros gerais",
    permission: Permission::ManageUsers,
    fields: &[
        ("company_name", "Nome da empresa"),
        ("company_document", "CNPJ"),
        ("company_phone", "Telefone"),
        ("company_email", "E-mail de contato"),
        ("company_site", "Site"),
        ("company_city", "Cidade (local de pagamento)"),
        (
            "company_address",
            "Endereço da empresa (impresso no boleto)",
        ),
        ("portal_url", "Endereço da Central do Assinante"),
        (
            store::parties::SETTING_DEFAULT_DELIVERY_TYPE,
            "Tipo de cobrança padrão",
        ),
        (
            store::dunning::SETTING_WINDOW_DAYS,
            "Dias de recuperação da régua (0 a 60)",
        ),
        (
            store::dunning::SETTING_OPTIONAL_HOLIDAYS,
            "Pontos facultativos param as rotinas",
        ),
        (
            store::settings::SETTING_WINDOW_EMAIL,
            "Janela de envio do e-mail",
        ),
        (
            store::settings::SETTING_WINDOW_SMS,
            "Janela de envio do SMS (no máximo a da Lei 15.426/2014 de SP)",
        ),
        (
            store::settings::SETTING_WINDOW_WHATSAPP,
            "Janela de envio do WhatsApp (no máximo a da Lei 15.426/2014 de SP)",
        ),
        (
            store::settings::SETTING_WINDOW_PUSH,
            "Janela de envio do push",
        ),
    ],
};

/// Configurações › Central do Assinante: the portal's "envia e-mail aplicativo" switch and its
/// daily limits. Under the e-mail permission, like the other e-mail settings.
pub(super) const PORTAL: Section = Section {
    path: "/configuracoes/central",
    title: "Central do Assinante",
    permission: Permission::ConfigureEmail,
    fields: &[
        (
            store::settings::SETTING_PORTAL_SEND_EMAIL,
            "Envia e-mail aplicativo",
        ),
        (
            store::settings::SETTING_PORTAL_LIMIT_INVOICE,
            "Envios por fatura por dia",
        ),
        (
            store::settings::SETTING_PORTAL_LIMIT_CUSTOMER,
            "Envios por cliente por dia",
        ),
    ],
};

/// Configurações › Notificações de suspensão: the method (e-mail, SMS or push), the account and
/// gateway, the fallback order and the "ending" notice's lead, with "realizar teste de envio".
pub(super) const NOTIFICATIONS: Section = Section {
    path: "/configuracoes/notificacoes",
    title: "Notificações de suspensão",
    permission: Permission::ConfigureEmail,
    fields: &[
        (
            store::settings::SETTING_SUSPENSION_METHOD,
            "Método de envio das notificações de suspensão",
        ),
        (
            store::settings::SETTING_SUSPENSION_ACCOUNT,
            "Conta de e-mail SMTP",
        ),
        (
            store::settings::SETTING_SUSPENSION_GATEWAY,
            "Gateway de SMS",
        ),
        (
            store::settings::SETTING_SUSPENSION_FALLBACK,
            "Alternativas quando o método não alcança o cliente, em ordem",
        ),
        (
            store::settings::SETTING_SUSPENSION_ENDING_DAYS,
            "Aviso de término: dias antes do fim (1 a 30)",
        ),
    ],
};

fn spec(key: &str) -> &'static store::settings::SettingSpec {
    store::settings::setting_spec(key).expect("every field is a known setting")
}

/// The names an account or gateway field may take, each with its label, the empty choice
/// first: the accounts and gateways as they are now, plus the stored value if it has gone
/// (so the page shows what is set instead of silently another).
async fn named_choices(
    state: &AppState,
    kind: store::settings::SettingKind,
    value: &str,
) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let (empty, names): (&str, Vec<String>) = match kind {
        store::settings::SettingKind::SmtpAccount => {
            let mut conn = state.db.pool.acquire().await?;
            (
                "Conta financeira (padrão)",
                store::accounts::list_smtp_accounts(&mut conn)
                    .await?
                    .into_iter()
                    .filter(|a| a.active)
                    .map(|a| a.name)
                    .collect(),
            )
        }
        store::settings::SettingKind::SmsGateway => {
            let mut conn = state.db.pool.acquire().await?;
            (
                "O primeiro gateway ativo",
                store::channels::list_sms_gateways(&mut conn)
                    .await?
                    .into_iter()
                    .filter(|g| g.active)
                    .map(|g| g.name)
                    .collect(),
            )
        }
        _ => return Ok(None),
    };
    let mut out = vec![(String::new(), empty.to_string())];
    if !value.is_empty() && !names.iter().any(|n| n == value) {
        out.push((value.to_string(), format!("{value} (não encontrado)")));
    }
    out.extend(names.into_iter().map(|n| (n.clone(), n)));
    Ok(Some(out))
}

/// How many fallback positions the notification page offers (there are three channels).
const CHANNEL_SLOTS: usize = 3;

/// What the template needs to draw a field's input.
fn input_kind(kind: store::settings::SettingKind) -> minijinja::Value {
    use store::settings::SettingKind as K;
    match kind {
        K::Delivery => {
            minijinja::context! { select => vec![("email", "E-mail"), ("printed", "Impresso")] }
        }
        K::YesNo => minijinja::context! { select => vec![("no", "Não"), ("yes", "Sim")] },
        K::Choice(values) => minijinja::context! {
            select => values.iter().map(|v| (*v, match *v {
                "email" => "E-mail", "sms" => "SMS", "push" => "Push (aplicativo)", other => other,
            })).collect::<Vec<_>>()
        },
        K::Number(min, max) => minijinja::context! { number => true, min, max },
        K::Email => minijinja::context! { email => true },
        K::Channels => minijinja::context! {
            slots => (1..=CHANNEL_SLOTS).collect::<Vec<_>>(),
            channels => vec![("email", "E-mail"), ("sms", "SMS"), ("push", "Push (aplicativo)")],
        },
        K::Window { .. } => minijinja::context! {
            hint => "Dias e horas, como \"seg-sex 08:00-20:00, sab 08:00-14:00\"; \"feriados\" para abrir também em feriados; \"qualquer\" para sempre.",
        },
        K::Text | K::Url | K::SmtpAccount | K::SmsGateway => {
            minijinja::context! {}
        }
    }
}

type Errors = BTreeMap<&'static str, String>;

async fn current(
    state: &AppState,
    section: &Section,
) -> anyhow::Result<HashMap<&'static str, String>> {
    let mut conn = state.db.pool.acquire().await?;
    let mut out = HashMap::new();
    for (key, _) in section.fields {
        out.insert(
            *key,
            store::settings::setting_or_default(&mut conn, spec(key)).await?,
        );
    }
    Ok(out)
}

async fn page(
    state: &AppState,
    session: &Session,
    section: &Section,
    values: &HashMap<&'static str, String>,
    errors: &Errors,
    // The "saved" notice and the page's warning.
    (notice, warning): (Option<&str>, Option<&str>),
    status: StatusCode,
) -> Response {
    let mut fields = Vec::with_capacity(section.fields.len());
    for &(key, label) in section.fields {
        let value = values.get(key).cloned().unwrap_or_default();
        let input = match named_choices(state, spec(key).kind, &value).await {
            Ok(Some(select)) => minijinja::context! { select },
            Ok(None) => input_kind(spec(key).kind),
            Err(e) => return internal(e),
        };
        let chosen: Vec<String> = value
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        fields.push(minijinja::context! { key, label, input, value, chosen });
    }
    let test = section.path == NOTIFICATIONS.path;
    let mut resp = state.render(
        "settings.html",
        minijinja::context! {
            title => section.title, path => section.path, fields, errors, notice, warning, test,
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize)]
pub(super) struct Saved {
    salvo: Option<String>,
}

async fn show(state: &AppState, session: &Session, section: &Section, saved: Saved) -> Response {
    if let Err(r) = session.allow(state, section.permission, None) {
        return r;
    }
    let warning = async {
        let mut conn = state.db.pool.acquire().await?;
        if section.path == PORTAL.path {
            let none =
                store::parties::get_setting(&mut conn, store::accounts::SETTING_FINANCIAL_ACCOUNT)
                    .await?
                    .is_none();
            return anyhow::Ok(none.then_some(
                "Nenhuma conta SMTP padrão nos Parâmetros financeiros: o envio por e-mail fica oculto na Central do Assinante até que uma seja definida.",
            ));
        }
        if section.path == NOTIFICATIONS.path {
            let method = store::settings::setting_or_default(
                &mut conn,
                spec(store::settings::SETTING_SUSPENSION_METHOD),
            )
            .await?;
            if method == "sms"
                && !store::channels::list_sms_gateways(&mut conn)
                    .await?
                    .iter()
                    .any(|g| g.active)
            {
                return Ok(Some(
                    "Nenhum gateway de SMS cadastrado: as notificações por SMS não podem ser enviadas (cadastre um em Envio › SMS e push).",
                ));
            }
            if method == "push" && store::channels::push_config(&mut conn).await?.is_none() {
                return Ok(Some(
                    "Falta o arquivo de configuração do Firebase: as notificações push não podem ser enviadas (envie-o em Envio › SMS e push).",
                ));
            }
        }
        Ok(None)
    };
    match (current(state, section).await, warning.await) {
        (Ok(values), Ok(warning)) => {
            let notice = saved.salvo.map(|_| "Parâmetros salvos.");
            page(
                state,
                session,
                section,
                &values,
                &Errors::new(),
                (notice, warning),
                StatusCode::OK,
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => internal(e),
    }
}

async fn save(
    state: &AppState,
    session: &Session,
    section: &Section,
    form: HashMap<String, String>,
) -> Response {
    let csrf = form.get("_csrf").cloned().unwrap_or_default();
    if let Err(r) = session.allow(state, section.permission, Some(&csrf)) {
        return r;
    }
    let mut errors = Errors::new();
    let mut values: HashMap<&'static str, String> = HashMap::new();
    let mut conn = match state.db.pool.acquire().await {
        Ok(c) => c,
        Err(e) => return internal(e.into()),
    };
    for (key, _) in section.fields {
        let typed = match (form.get(*key), spec(key).kind) {
            (Some(v), _) => v.clone(),
            // The page's ordered list: one select per position ("1ª alternativa"…), blanks
            // and repeats dropped, in order.
            (None, store::settings::SettingKind::Channels) => {
                let mut picked: Vec<String> = Vec::new();
                for n in 1..=CHANNEL_SLOTS {
                    if let Some(v) = form
                        .get(&format!("{key}__{n}"))
                        .map(|v| v.trim().to_string())
                        && !v.is_empty()
                        && !picked.contains(&v)
                    {
                        picked.push(v);
                    }
                }
                picked.join(",")
            }
            (None, _) => String::new(),
        };
        let checked = match store::settings::check_setting(spec(key), &typed) {
            Ok(v) => match store::settings::check_setting_in_db(&mut conn, spec(key), &v).await {
                Ok(Ok(())) => Ok(v),
                Ok(Err(e)) => Err(e),
                Err(e) => return internal(e),
            },
            Err(e) => Err(e),
        };
        match checked {
            Ok(v) => {
                values.insert(*key, v);
            }
            Err(e) => {
                errors.insert(*key, e.pt);
                values.insert(*key, typed);
            }
        }
    }
    drop(conn);
    if !errors.is_empty() {
        return page(
            state,
            session,
            section,
            &values,
            &errors,
            (None, None),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let changes: Vec<(&str, String)> = section
        .fields
        .iter()
        .map(|(key, _)| (*key, values[key].clone()))
        .collect();
    let result = crate::actions::billing_setup::set_settings(
        &state.db,
        &changes,
        crate::actions::billing_setup::Unset::ReadsAsDefault,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    .map(|_| ());
    match result {
        Ok(()) => Redirect::to(&format!("{}?salvo=1", section.path)).into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /configuracoes/parametros`
pub(super) async fn show_general(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(saved): Query<Saved>,
) -> Response {
    show(&state, &session, &GENERAL, saved).await
}

/// `POST /configuracoes/parametros`
pub(super) async fn save_general(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    save(&state, &session, &GENERAL, form).await
}

/// `GET /configuracoes/central`
pub(super) async fn show_portal(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(saved): Query<Saved>,
) -> Response {
    show(&state, &session, &PORTAL, saved).await
}

/// `POST /configuracoes/central`
pub(super) async fn save_portal(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    save(&state, &session, &PORTAL, form).await
}

/// `GET /configuracoes/notificacoes`
pub(super) async fn show_notifications(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(saved): Query<Saved>,
) -> Response {
    show(&state, &session, &NOTIFICATIONS, saved).await
}

/// `POST /configuracoes/notificacoes`
pub(super) async fn save_notifications(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    save(&state, &session, &NOTIFICATIONS, form).await
}

#[derive(Deserialize)]
pub(super) struct TestForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    to: String,
}

/// `POST /configuracoes/notificacoes/teste`: "realizar teste de envio" by a method, now; the
/// page shows the server's, gateway's or FCM's answer.
pub(super) async fn test_notification(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<TestForm>,
) -> Response {
    if let Err(r) = session.allow(&state, NOTIFICATIONS.permission, Some(&form.csrf)) {
        return r;
    }
    let values = match current(&state, &NOTIFICATIONS).await {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let (message, status) = match form.method.parse::<crate::delivery::Channel>() {
        Err(_) => (
            "Escolha o método: e-mail, SMS ou push.".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Ok(method) => match crate::suspension::send_test(
            &state.db,
            &state.clock,
            state.key.clone(),
            method,
            &form.to,
            None,
            &session.actor().to_string(),
        )
        .await
        {
            Ok(t) if t.sent => (
                format!(
                    "Teste por {} enviado para {}. Resposta: {}",
                    method.label_pt(),
                    t.recipient,
                    t.answer
                ),
                StatusCode::OK,
            ),
            Ok(t) => (
                format!(
                    "O teste por {} não foi enviado. Resposta: {}",
                    method.label_pt(),
                    t.answer
                ),
                StatusCode::OK,
            ),
            Err(e) => (e.pt, StatusCode::UNPROCESSABLE_ENTITY),
        },
    };
    let ok = status == StatusCode::OK && message.starts_with("Teste");
    let (notice, warning) = if ok {
        (Some(message.as_str()), None)
    } else {
        (None, Some(message.as_str()))
    };
    page(
        &state,
        &session,
        &NOTIFICATIONS,
        &values,
        &Errors::new(),
        (notice, warning),
        status,
    )
    .await
}
