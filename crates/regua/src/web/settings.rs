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

/// The parameters on the page: key, label, kind (`text`, `delivery`, `number`, `yesno`).
const FIELDS: &[(&str, &str, &str)] = &[
    ("company_name", "Nome da empresa", "text"),
    ("company_document", "CNPJ", "text"),
    ("company_phone", "Telefone", "text"),
    ("company_email", "E-mail de contato", "text"),
    ("company_site", "Site", "text"),
    ("company_city", "Cidade (local de pagamento)", "text"),
    ("portal_url", "Endereço da Central do Assinante", "text"),
    (
        store::SETTING_DEFAULT_DELIVERY_TYPE,
        "Tipo de cobrança padrão",
        "delivery",
    ),
    (
        store::SETTING_WINDOW_DAYS,
        "Dias de recuperação da régua (0 a 60)",
        "number",
    ),
    (
        store::SETTING_OPTIONAL_HOLIDAYS,
        "Pontos facultativos param as rotinas",
        "yesno",
    ),
];

type Errors = BTreeMap<&'static str, String>;

async fn current(state: &AppState) -> anyhow::Result<HashMap<&'static str, String>> {
    let mut conn = state.db.pool.acquire().await?;
    let mut out = HashMap::new();
    for (key, _, _) in FIELDS {
        let v = match *key {
            store::SETTING_DEFAULT_DELIVERY_TYPE => store::default_delivery_type(&mut conn)
                .await?
                .as_str()
                .to_string(),
            store::SETTING_WINDOW_DAYS => store::window_days(&mut conn).await?.to_string(),
            store::SETTING_OPTIONAL_HOLIDAYS => {
                if store::calendar(&mut conn).await?.optional_are_holidays {
                    "yes"
                } else {
                    "no"
                }
                .to_string()
            }
            k => store::get_setting(&mut conn, k).await?.unwrap_or_else(|| {
                store::COMPANY_SETTINGS
                    .iter()
                    .find(|(c, _)| *c == k)
                    .map_or(String::new(), |(_, d)| (*d).to_string())
            }),
        };
        out.insert(*key, v);
    }
    Ok(out)
}

fn page(
    state: &AppState,
    session: &Session,
    values: &HashMap<&'static str, String>,
    errors: &Errors,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let fields: Vec<_> = FIELDS
        .iter()
        .map(|&(key, label, kind)| {
            minijinja::context! { key, label, kind, value => values.get(key).cloned().unwrap_or_default() }
        })
        .collect();
    let mut resp = state.render(
        "settings.html",
        minijinja::context! { title => "Parâmetros gerais", fields, errors, notice, ..session.ctx() },
    );
    *resp.status_mut() = status;
    resp
}

#[derive(Deserialize)]
pub(super) struct Saved {
    salvo: Option<String>,
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(saved): Query<Saved>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::ManageUsers, None) {
        return r;
    }
    match current(&state).await {
        Ok(values) => {
            let notice = saved.salvo.map(|_| "Parâmetros salvos.");
            page(
                &state,
                &session,
                &values,
                &Errors::new(),
                notice,
                StatusCode::OK,
            )
        }
        Err(e) => internal(e),
    }
}

/// Checks a value; the stored form, or the message (pt-BR).
fn check(key: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    match key {
        store::SETTING_DEFAULT_DELIVERY_TYPE => v
            .parse::<crate::domain::DeliveryType>()
            .map(|d| d.as_str().to_string())
            .map_err(|_| "Escolha e-mail ou impresso.".to_string()),
        store::SETTING_WINDOW_DAYS => match v.parse::<u16>() {
            Ok(d) if d <= 60 => Ok(d.to_string()),
            _ => Err("Um número de dias de 0 a 60.".into()),
        },
        store::SETTING_OPTIONAL_HOLIDAYS => match v {
            "yes" | "no" => Ok(v.to_string()),
            _ => Err("Escolha sim ou não.".into()),
        },
        "company_email" if !v.is_empty() && crate::domain::EmailAddress::parse(v).is_err() => {
            Err("E-mail inválido.".into())
        }
        "portal_url"
            if !(v.is_empty() || v.starts_with("https://") || v.starts_with("http://")) =>
        {
            Err("Um endereço que comece com https://.".into())
        }
        _ => Ok(v.to_string()),
    }
}

pub(super) async fn save(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let csrf = form.get("_csrf").cloned().unwrap_or_default();
    if let Err(r) = session.allow(&state, Permission::ManageUsers, Some(&csrf)) {
        return r;
    }
    let mut errors = Errors::new();
    let mut values: HashMap<&'static str, String> = HashMap::new();
    for (key, _, _) in FIELDS {
        let typed = form.get(*key).cloned().unwrap_or_default();
        match check(key, &typed) {
            Ok(v) => {
                values.insert(*key, v);
            }
            Err(msg) => {
                errors.insert(*key, msg);
                values.insert(*key, typed);
            }
        }
    }
    if !errors.is_empty() {
        return page(
            &state,
            &session,
            &values,
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let result: anyhow::Result<()> = async {
        let before = current(&state).await?;
        let now = state.clock.now_millis();
        let mut tx = state.db.begin().await?;
        for (key, _, _) in FIELDS {
            let (old, new) = (
                before.get(key).cloned().unwrap_or_default(),
                values[key].clone(),
            );
            if old != new {
                store::set_setting(&mut tx, key, &new).await?;
                store::audit(
                    &mut tx,
                    &format!("user: {}", session.user.login),
                    "setting.set",
                    key,
                    Some(&old),
                    Some(&new),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/configuracoes/parametros?salvo=1").into_response(),
        Err(e) => internal(e),
    }
}
