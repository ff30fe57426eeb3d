//! Configurações › Carteiras de cobrança and Formas de cobrança: the bank agreements boletos are
//! issued under, and the billing methods that use them (each method's send rules live on the
//! régua page). Seeing needs the view permission; changing, the billing one. Every change is in
//! the audit trail.
//!
//! A wallet's bank fields are fixed once saved: they are part of every boleto already issued
//! (nosso número, barcode), so the page only adds wallets, turns "enviar e-mail ao gerar
//! financeiro" on or off, and edits the wallet's registration and terms (fine, interest,
//! discount, write-off: docs/charges.md). A new wallet starts with registration "ERP" and no
//! charges; its terms are set in its own form. Wallets and methods are not removed here: contracts and invoices
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

/// A wallet's registration and terms on screen: `CNAB 240 · multa 2,00% · juros 1,00% ao mês`.
fn terms_pt(w: &crate::domain::BillingWallet) -> String {
    use crate::domain::charges::{Registration, percent_pt};
    let t = &w.terms;
    let mut parts = vec![
        match w.registration {
            Registration::Erp => "Registro pelo ERP",
            Registration::Cnab240 => "Remessa CNAB 240",
            Registration::Cnab400 => "Remessa CNAB 400",
        }
        .to_string(),
    ];
    if t.fine_bp > 0 {
        parts.push(format!("multa {}", percent_pt(t.fine_bp)));
    }
    if t.interest_bp_month > 0 {
        parts.push(format!("juros {} ao mês", percent_pt(t.interest_bp_month)));
    }
    if t.discount_bp > 0 {
        parts.push(format!(
            "desconto {} até {} dia(s) antes",
            percent_pt(t.discount_bp),
            t.discount_days
        ));
    }
    if let Some(d) = t.write_off_days {
        parts.push(format!("baixa {d} dia(s) após o vencimento"));
    }
    if t.business_only {
        parts.push("só clientes empresariais".into());
    }
    parts.join(" · ")
}

async fn wallets_page(
    state: &AppState,
    session: &Session,
    form: &WalletForm,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    wallets_page_with(state, session, form, errors, None, status).await
}

async fn wallets_page_with(
    state: &AppState,
    session: &Session,
    form: &WalletForm,
    errors: &Errors,
    terms_error: Option<(i64, String)>,
    status: StatusCode,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let methods = store::parties::list_billing_methods(&mut conn).await?;
        let wallets = store::parties::list_wallets(&mut conn).await?;
        let mut locked = Vec::new();
        for w in &wallets {
            if store::parties::wallet_has_invoices(&mut conn, w.id).await? {
                locked.push(w.id);
            }
        }
        let rows: Vec<_> = wallets
            .into_iter()
            .map(|w| {
                let bank = boleto::Bank::from_code(&w.bank_code).map_or("?", |b| b.name());
                let terms = terms_pt(&w);
                minijinja::context! {
                    id => w.id.0, name => w.name, bank_code => w.bank_code, bank,
                    agency => w.agency, account => w.account, wallet => w.wallet_code,
                    agreement => w.agreement, gateway => w.kind == WalletKind::Gateway,
                    send_on_generate => w.send_on_generate,
                    methods => methods.iter().filter(|m| m.wallet_id == w.id).count(),
                    terms, registration => w.registration.as_str(),
                    locked => locked.contains(&w.id),
                    fine => crate::domain::charges::percent_pt(w.terms.fine_bp).trim_end_matches('%').to_string(),
                    interest => crate::domain::charges::percent_pt(w.terms.interest_bp_month).trim_end_matches('%').to_string(),
                    discount => crate::domain::charges::percent_pt(w.terms.discount_bp).trim_end_matches('%').to_string(),
                    discount_days => w.terms.discount_days,
                    write_off_days => w.terms.write_off_days,
                    business_only => w.terms.business_only,
                    terms_error => terms_error.as_ref().filter(|(id, _)| *id == w.id.0).map(|(_, e)| e.clone()),
                    pix_key => w.pix_key,
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
        registration: crate::domain::charges::Registration::Erp,
        terms: crate::domain::charges::Terms::default(),
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

/// The form of a wallet's registration and terms.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TermsForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    registration: String,
    #[serde(default)]
    fine: String,
    #[serde(default)]
    interest: String,
    #[serde(default)]
    discount: String,
    #[serde(default)]
    discount_days: String,
    #[serde(default)]
    write_off_days: String,
    #[serde(default)]
    business_only: Option<String>,
}

impl TermsForm {
    /// The terms, or the first field's problem in Portuguese.
    fn parse(
        &self,
    ) -> Result<
        (
            crate::domain::charges::Registration,
            crate::domain::charges::Terms,
        ),
        String,
    > {
        use crate::domain::charges::parse_percent;
        let registration = self
            .registration
            .parse()
            .map_err(|_| "Escolha como os boletos são registrados.".to_string())?;
        let pct = |v: &str, label: &str| {
            if v.trim().is_empty() {
                return Ok(0);
            }
            parse_percent(v).map_err(|_| {
                format!("{label}: informe um percentual, como 2 ou 0,5 (até duas casas decimais).")
            })
        };
        let days = |v: &str, label: &str| -> Result<Option<u32>, String> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse::<u32>()
                .map(Some)
                .map_err(|_| format!("{label}: informe um número de dias."))
        };
        Ok((
            registration,
            crate::domain::charges::Terms {
                fine_bp: pct(&self.fine, "Multa")?,
                interest_bp_month: pct(&self.interest, "Juros")?,
                discount_bp: pct(&self.discount, "Desconto")?,
                discount_days: days(&self.discount_days, "Dias de desconto")?.unwrap_or(0),
                write_off_days: days(&self.write_off_days, "Dias para baixa")?,
                business_only: self.business_only.is_some(),
            },
        ))
    }
}

/// `POST /configuracoes/carteiras/{id}/condicoes`: a wallet's registration and terms.
pub(super) async fn save_terms(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<TermsForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let refused = |message: String| async {
        let blank = WalletForm {
            kind: "bank".into(),
            ..WalletForm::default()
        };
        wallets_page_with(
            &state,
            &session,
            &blank,
            &Errors::new(),
            Some((id, message)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    };
    let (registration, terms) = match form.parse() {
        Ok(t) => t,
        Err(message) => return refused(message).await,
    };
    let wallet = crate::domain::WalletId(id);
    let exists = async {
        let mut conn = state.db.pool.acquire().await?;
        Ok::<_, anyhow::Error>(store::parties::get_wallet(&mut conn, wallet).await.is_ok())
    }
    .await;
    match exists {
        Ok(true) => {}
        Ok(false) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(e),
    }
    match crate::actions::billing_setup::update_wallet_terms(
        &state.db,
        wallet,
        registration,
        &terms,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(Ok(())) => Redirect::to("/configuracoes/carteiras").into_response(),
        Ok(Err(e)) => refused(e.pt()).await,
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

/// The "Dados da carteira" form: what may change on a wallet after it was added.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WalletEditForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    wallet: String,
    #[serde(default)]
    agreement: String,
    #[serde(default)]
    pix_key: String,
}

/// `POST /configuracoes/carteiras/{id}/dados`: name and PIX key, and — while the wallet has no
/// invoice — agency, account, wallet code and agreement (audited `wallet.update`).
pub(super) async fn save_wallet(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<WalletEditForm>,
) -> Response {
    use crate::actions::billing_setup::WalletEditError;
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let stored = async {
        let mut conn = state.db.pool.acquire().await?;
        store::parties::get_wallet(&mut conn, crate::domain::WalletId(id)).await
    }
    .await;
    let Ok(stored) = stored else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let edit = NewWallet {
        name: form.name.trim().to_string(),
        bank_code: stored.bank_code.clone(),
        agency: form.agency.trim().to_string(),
        account: form.account.trim().to_string(),
        wallet_code: form.wallet.trim().to_string(),
        agreement: form.agreement.trim().to_string(),
        kind: stored.kind,
        send_on_generate: stored.send_on_generate,
        pix_key: Some(form.pix_key.trim().to_string()).filter(|k| !k.is_empty()),
        registration: stored.registration,
        terms: stored.terms,
    };
    let saved = crate::actions::billing_setup::update_wallet(
        &state.db,
        stored.id,
        &edit,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    let message = match saved {
        Ok(()) => return Redirect::to("/configuracoes/carteiras").into_response(),
        Err(WalletEditError::IdentityLocked(_)) => "A carteira já tem faturas: agência, conta, carteira e convênio ficam como estão (os boletos enviados os trazem). Para mudar de conta, cadastre uma nova carteira e aponte a forma de cobrança para ela.".to_string(),
        Err(WalletEditError::Config(ConfigError::Other(e))) => return internal(e),
        Err(WalletEditError::Config(e)) => {
            let (field, msg) = wallet_error(&e);
            format!("{}: {msg}", field_pt(field))
        }
    };
    wallets_page_with(
        &state,
        &session,
        &WalletForm::default(),
        &Errors::new(),
        Some((id, message)),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// A wallet field's name on screen.
fn field_pt(field: &str) -> &'static str {
    match field {
        "name" => "Nome",
        "agency" => "Agência",
        "account" => "Conta",
        "wallet" | "wallet_code" => "Carteira",
        "agreement" => "Convênio",
        "bank" => "Banco",
        _ => "Carteira",
    }
}

/// The billing method edit form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct MethodEditForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    wallet: String,
}

/// `POST /configuracoes/formas/{id}`: renames a billing method or draws it on another wallet
/// (audited `method.update`); the method's contracts follow for the invoices generated next.
pub(super) async fn save_method(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<MethodEditForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let wallet = async {
        let mut conn = state.db.pool.acquire().await?;
        store::parties::find_wallet_by_name(&mut conn, form.wallet.trim()).await
    }
    .await;
    let refuse = async |field: &'static str, msg: &str| {
        let shown = MethodForm {
            name: form.name.clone(),
            wallet: form.wallet.clone(),
            ..MethodForm::default()
        };
        methods_page(
            &state,
            &session,
            &shown,
            &Errors::from([(field, msg.to_string())]),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    };
    let wallet = match wallet {
        Ok(Some(w)) => w,
        Ok(None) => return refuse("wallet", "Escolha uma carteira cadastrada.").await,
        Err(e) => return internal(e),
    };
    match crate::actions::billing_setup::update_billing_method(
        &state.db,
        crate::domain::BillingMethodId(id),
        &form.name,
        wallet.id,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(()) => Redirect::to("/configuracoes/formas").into_response(),
        Err(ConfigError::Duplicate { .. }) => {
            refuse("name", "Já existe uma forma de cobrança com esse nome.").await
        }
        Err(ConfigError::Unknown { .. }) => StatusCode::NOT_FOUND.into_response(),
        Err(ConfigError::Other(e)) => internal(e),
        Err(_) => refuse("name", "Informe o nome da forma de cobrança.").await,
    }
}
