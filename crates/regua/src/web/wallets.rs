//! Configurações › Carteiras de cobrança and Formas de cobrança: the bank agreements boletos are
//! issued under, and the billing methods that use them (each method's send rules live on the
//! régua page). Seeing needs the view permission; changing, the billing one. Every change is in
//! the audit trail.
//!
//! A wallet's bank fields are fixed once saved: they are part of every boleto already issued
//! (nosso número, barcode), so the page only adds wallets and turns "enviar e-mail ao gerar
//! financeiro" on or off. Wallets and methods are not removed here: contracts and invoices
//! refer to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::GATEWAY_SEND_ON_GENERATE_WARNING;
use crate::domain::{NewWallet, WalletKind};
use crate::store::{self, parties::ConfigError};

type Errors = BTreeMap<&'static str, String>;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct WalletForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    bank: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    wallet: String,
    #[serde(default)]
    agreement: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    send_on_generate: Option<String>,
    #[serde(default)]
    pix_key: String,
}

/// The banks a wallet may use, for the form's select.
fn banks() -> Vec<minijinja::Value> {
    boleto::Bank::ALL
        .iter()
        .map(|b| minijinja::context! { code => b.code(), name => b.name() })
        .collect()
}

async fn wallets_page(
    state: &AppState,
    session: &Session,
    form: &WalletForm,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let methods = store::parties::list_billing_methods(&mut conn).await?;
        let rows: Vec<_> = store::parties::list_wallets(&mut conn)
            .await?
            .into_iter()
            .map(|w| {
                let bank = boleto::Bank::from_code(&w.bank_code).map_or("?", |b| b.name());
                minijinja::context! {
                    id => w.id.0, name => w.name, bank_code => w.bank_code, bank,
                    agency => w.agency, account => w.account, wallet => w.wallet_code,
                    agreement => w.agreement, gateway => w.kind == WalletKind::Gateway,
                    send_on_generate => w.send_on_generate, pix_key => w.pix_key,
                    methods => methods.iter().filter(|m| m.wallet_id == w.id).count(),
                }
            })
            .collect();
        let mut resp = state.render(
            "wallets.html",
            minijinja::context! {
                title => "Carteiras de cobrança", wallets => rows, banks => banks(), errors,
                gateway_warning => GATEWAY_SEND_ON_GENERATE_WARNING,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /configuracoes/carteiras`
pub(super) async fn wallets(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.allow(&state, Permission::View, None) {
        return r;
    }
    let form = WalletForm {
        kind: "bank".into(),
        ..WalletForm::default()
    };
    wallets_page(&state, &session, &form, &Errors::new(), StatusCode::OK).await
}

/// The pt-BR message for a field the store refused.
fn wallet_error(e: &ConfigError) -> (&'static str, String) {
    match e {
        ConfigError::Duplicate { .. } => ("name", "Já existe uma carteira com esse nome.".into()),
        ConfigError::Invalid { field: "name", .. } => {
            ("name", "Informe o nome da carteira.".into())
        }
        ConfigError::Invalid { field: "bank", .. } => {
            ("bank", "Banco não suportado para boletos.".into())
        }
        ConfigError::Invalid { field, .. } => (field, "Somente números.".into()),
        other => ("name", other.to_string()),
    }
}

/// `POST /configuracoes/carteiras`
pub(super) async fn add_wallet(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<WalletForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let Ok(kind) = form.kind.parse::<WalletKind>() else {
        let errors = Errors::from([("kind", "Escolha banco ou gateway.".to_string())]);
        return wallets_page(
            &state,
            &session,
            &form,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let w = NewWallet {
        name: form.name.trim().to_string(),
        bank_code: form.bank.trim().to_string(),
        agency: form.agency.trim().to_string(),
        account: form.account.trim().to_string(),
        wallet_code: form.wallet.trim().to_string(),
        agreement: form.agreement.trim().to_string(),
        kind,
        send_on_generate: form.send_on_generate.is_some(),
        pix_key: Some(form.pix_key.trim().to_string()).filter(|k| !k.is_empty()),
    };
    let now = state.clock.now_millis();
    let result: anyhow::Result<Result<i64, (&'static str, String)>> =
        match crate::actions::billing_setup::add_wallet(&state.db, &w, &session.actor(), now).await
        {
            Ok(id) => Ok(Ok(id.0)),
            Err(ConfigError::Other(e)) => Err(e),
            Err(e) => Ok(Err(wallet_error(&e))),
        };
    match result {
        Ok(Ok(_)) => Redirect::to("/configuracoes/carteiras").into_response(),
        Ok(Err((field, msg))) => {
            wallets_page(
                &state,
                &session,
                &form,
                &Errors::from([(field, msg)]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// The "send on generation" switch's form.
#[derive(Deserialize)]
pub(super) struct SwitchForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    on: String,
}

/// `POST /configuracoes/carteiras/{id}/envio`: turns "enviar e-mail ao gerar financeiro" on
/// (`on=1`) or off.
pub(super) async fn switch_send(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<SwitchForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let on = form.on == "1";
    let now = state.clock.now_millis();
    let result = crate::actions::billing_setup::set_wallet_send_on_generate(
        &state.db,
        crate::domain::WalletId(id),
        on,
        &session.actor(),
        now,
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/carteiras").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /configuracoes/formas/{id}/confirmacao`: turns the "pagamento confirmado" message of
/// a billing method on (`on=1`) or off.
pub(super) async fn switch_confirm(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<SwitchForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let result = crate::actions::billing_setup::set_method_confirm_payment(
        &state.db,
        crate::domain::BillingMethodId(id),
        form.on == "1",
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/configuracoes/formas").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct MethodForm {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    wallet: String,
}

async fn methods_page(
    state: &AppState,
    session: &Session,
    form: &MethodForm,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let wallets = store::parties::list_wallets(&mut conn).await?;
        let rules = store::rules::list_send_rules(&mut conn).await?;
        let rows: Vec<_> = store::parties::list_billing_methods(&mut conn)
            .await?
            .into_iter()
            .map(|m| {
                let wallet = wallets
                    .iter()
                    .find(|w| w.id == m.wallet_id)
                    .map_or(String::new(), |w| w.name.clone());
                let mine: Vec<_> = rules
                    .iter()
                    .filter(|r| r.method == m.id)
                    .map(|r| super::dunning::rule_label(r.kind, r.days))
                    .collect();
                minijinja::context! {
                    id => m.id.0, name => m.name, wallet, rules => mine,
                    confirm_payment => m.confirm_payment,
                }
            })
            .collect();
        let wallet_names: Vec<_> = wallets.into_iter().map(|w| w.name).collect();
        let mut resp = state.render(
            "methods.html",
            minijinja::context! {
                title => "Formas de cobrança", methods => rows, wallets => wallet_names, errors,
                form => minijinja::Value::from(minijinja::value::Serde(form)),
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        );
        *resp.status_mut() = status;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /configuracoes/formas`
pub(super) async fn methods(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(r) = session.allow(&state, Permission::View, None) {
        return r;
    }
    methods_page(
        &state,
        &session,
        &MethodForm::default(),
        &Errors::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /configuracoes/formas`
pub(super) async fn add_method(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<MethodForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    let result: anyhow::Result<Result<(), (&'static str, String)>> =
        match crate::actions::billing_setup::add_billing_method(
            &state.db,
            &form.name,
            &form.wallet,
            &session.actor(),
            now,
        )
        .await
        {
            Ok(_) => Ok(Ok(())),
            Err(ConfigError::Other(e)) => Err(e),
            Err(ConfigError::Duplicate { .. }) => Ok(Err((
                "name",
                "Já existe uma forma de cobrança com esse nome.".into(),
            ))),
            Err(ConfigError::Unknown { .. }) => {
                Ok(Err(("wallet", "Escolha uma carteira cadastrada.".into())))
            }
            Err(_) => Ok(Err(("name", "Informe o nome da forma de cobrança.".into()))),
        };
    match result {
        Ok(Ok(())) => Redirect::to("/configuracoes/formas").into_response(),
        Ok(Err((field, msg))) => {
            methods_page(
                &state,
                &session,
                &form,
                &Errors::from([(field, msg)]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}
