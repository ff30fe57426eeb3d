//! Clientes: the list (search by code, name, document or e-mail) and a customer's page — contact
//! (editable: name, e-mail principal, mobile phone, postal address — the seed's "aba Contato"),
//! contracts, "E-mails enviados" and the timeline of every notice (sent or not, with the reason),
//! payment and pause.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::{CustomerId, InvoiceStatus, format_date};
use crate::store::{self, dunning::PauseTarget, log::LogFilter};

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct CustomerQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    pagina: Option<i64>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<CustomerQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let page = q.pagina.unwrap_or(1).max(1);
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let search = Some(q.q.trim()).filter(|s| !s.is_empty());
        let mut list =
            store::parties::list_customers_page(&mut conn, search, (page - 1) * PAGE, PAGE + 1).await?;
        let more = list.len() as i64 > PAGE;
        list.truncate(PAGE as usize);
        let rows: Vec<_> = list
            .iter()
            .map(|c| {
                minijinja::context! {
                    id => c.id.0, ext => c.external_id.clone(), name => c.name.clone(),
                    document => c.document.to_string(),
                    email => c.email_or_empty(),
                    mobile => c.mobile_phone.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                }
            })
            .collect();
        let next = more.then(|| {
            serde_urlencoded::to_string(CustomerQuery { q: q.q.clone(), pagina: Some(page + 1) })
                .unwrap_or_default()
        });
        Ok(state.render(
            "customers.html",
            minijinja::context! { title => "Clientes", customers => rows, q => q.q.clone(), next, ..session.ctx() },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

fn when(state: &AppState, ms: i64) -> String {
    state.clock.local_time(ms, "%d/%m/%Y %H:%M")
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let saved = q.get("contrato_salvo").map(|k| {
        format!("Contrato {k} salvo. A mudança vale para as faturas geradas a partir de agora; as já geradas não mudam.")
    });
    page_with(&state, &session, id, None, saved, StatusCode::OK).await
}

/// The contract form on the customer page: what a clerk may change on a contract.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ContractForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    delivery_type: String,
    #[serde(default)]
    billing_method: String,
    #[serde(default)]
    due_day: String,
}

/// `POST /contratos/{id}/editar`: the contract's delivery type ("tipo de envio de cobrança"),
/// billing method and due day, audited `contract.update`. As in the ERPs, a change applies to
/// invoices generated afterwards: an invoice keeps the due date, method and delivery type it
/// was generated with.
pub(super) async fn save_contract(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(contract_id): Path<i64>,
    axum::Form(f): axum::Form<ContractForm>,
) -> Response {
    use crate::domain::DeliveryType;
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&f.csrf)) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(k) =
            store::parties::get_contract(&mut conn, crate::domain::ContractId(contract_id)).await
        else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let customer = store::parties::get_customer(&mut conn, k.customer_id).await?;
        drop(conn);
        let id = customer.id.0;
        let refuse = |message: String| {
            page(
                &state,
                &session,
                id,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        };
        let delivery = match f.delivery_type.parse::<DeliveryType>() {
            Ok(d) => d,
            Err(_) => {
                return Ok(refuse("Escolha o tipo de envio: E-mail ou Impresso.".into()).await);
            }
        };
        let due_day = match f.due_day.trim().parse::<u8>() {
            Ok(d @ 1..=31) => d,
            _ => return Ok(refuse("O dia de vencimento é um número de 1 a 31.".into()).await),
        };
        let input = crate::actions::records::ContractInput {
            external_id: k.external_id.clone(),
            customer: customer.external_id.clone(),
            plan: k.plan.clone(),
            monthly_amount: k.monthly_amount,
            due_day,
            billing_method: f.billing_method.trim().to_string(),
            delivery_type: Some(delivery),
            status: k.status,
        };
        match crate::actions::records::save_contract(
            &state.db,
            &input,
            crate::actions::records::Save::Update,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?
        {
            Ok(_) => Ok(Redirect::to(&format!(
                "/clientes/{id}?{}#contratos",
                serde_urlencoded::to_string([("contrato_salvo", &k.external_id)])?
            ))
            .into_response()),
            Err(crate::actions::records::Refused::Invalid { pt, .. }) => {
                Ok(refuse(pt.to_string()).await)
            }
            Err(_) => Ok(StatusCode::NOT_FOUND.into_response()),
        }
    }
    .await;
    result.unwrap_or_else(internal)
}

/// The contact form ("aba Contato").
#[derive(Debug, Default, Deserialize)]
pub(super) struct ContactForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    mobile_phone: String,
    #[serde(default)]
    address_street: String,
    #[serde(default)]
    address_number: String,
    #[serde(default)]
    address_complement: String,
    #[serde(default)]
    address_district: String,
    #[serde(default)]
    address_zip: String,
    #[serde(default)]
    address_city: String,
    #[serde(default)]
    address_state: String,
}

/// `POST /clientes/{id}/contato`: name, e-mail principal, mobile phone and address, audited
/// `customer.update`. An empty address keeps the one stored.
pub(super) async fn save_contact(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<ContactForm>,
) -> Response {
    use crate::domain::{AddressText, EmailAddress, MobilePhone, NewCustomer, PostalAddress};
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&f.csrf)) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(customer) = store::parties::get_customer(&mut conn, CustomerId(id)).await else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        drop(conn);
        let refuse = |message: &str| {
            page(
                &state,
                &session,
                id,
                Some(message.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        };
        let name = f.name.trim();
        if name.is_empty()
            || crate::domain::limits::check_line(name, crate::domain::limits::MAX_TEXT_CHARS)
                .is_err()
        {
            return Ok(refuse("Informe o nome (uma linha).").await);
        }
        let email = match f.email.trim() {
            "" => None,
            e => match EmailAddress::parse(e) {
                Ok(e) => Some(e),
                Err(_) => return Ok(refuse("E-mail principal inválido.").await),
            },
        };
        let mobile_phone = match f.mobile_phone.trim() {
            "" => None,
            p => match MobilePhone::parse(p) {
                Ok(p) => Some(p),
                Err(_) => {
                    return Ok(refuse("Celular inválido (DDD e número, começando com 9).").await);
                }
            },
        };
        let address = match PostalAddress::parse(&AddressText {
            street: &f.address_street,
            number: &f.address_number,
            complement: &f.address_complement,
            district: &f.address_district,
            zip: &f.address_zip,
            city: &f.address_city,
            state: &f.address_state,
        }) {
            Ok(a) => a,
            Err(("address_zip", _)) => return Ok(refuse("CEP inválido (8 dígitos).").await),
            Err(("address_state", _)) => return Ok(refuse("UF inválida.").await),
            Err(_) => {
                return Ok(refuse(
                    "Endereço incompleto: informe logradouro, bairro, CEP, cidade e UF.",
                )
                .await);
            }
        };
        let record = NewCustomer {
            external_id: customer.external_id.clone(),
            name: name.to_string(),
            document: customer.document.clone(),
            email,
            mobile_phone,
            address,
        };
        match crate::actions::records::save_customer(
            &state.db,
            &record,
            crate::actions::records::Save::Update,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?
        {
            Ok(_) => Ok(Redirect::to(&format!("/clientes/{id}")).into_response()),
            Err(_) => Ok(StatusCode::NOT_FOUND.into_response()),
        }
    }
    .await;
    result.unwrap_or_else(internal)
}

async fn page(
    state: &AppState,
    session: &Session,
    id: i64,
    error: Option<String>,
    code: StatusCode,
) -> Response {
    page_with(state, session, id, error, None, code).await
}

/// The customer page with an error (a refused edit) or a notice (a saved one).
async fn page_with(
    state: &AppState,
    session: &Session,
    id: i64,
    error: Option<String>,
    notice: Option<String>,
    code: StatusCode,
) -> Response {
    let result: anyhow::Result<Option<Response>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(customer) = store::parties::get_customer(&mut conn, CustomerId(id)).await else {
            return Ok(None);
        };
        let methods = store::parties::list_billing_methods(&mut conn).await?;
        let contracts: Vec<_> = store::parties::list_contracts_of_customer(&mut conn, customer.id)
            .await?
            .iter()
            .map(|k| {
                minijinja::context! {
                    id => k.id.0,
                    ext => k.external_id.clone(), plan => k.plan.clone(), amount => k.monthly_amount.to_string(),
                    delivery => k.delivery_type.label_pt(), delivery_code => k.delivery_type.as_str(),
                    due_day => k.due_day, method => methods.iter().find(|m| m.id == k.billing_method_id).map(|m| m.name.clone()).unwrap_or_default(),
                    status => k.status.label_pt(),
                }
            })
            .collect();
        let attempts = store::log::list_attempts(
            &mut conn,
            &LogFilter { customer: Some(customer.id), limit: 50, ..LogFilter::default() },
        )
        .await?;
        let emails: Vec<_> = attempts
            .iter()
            .map(|a| {
                let reply = super::log::reply_text(a);
                minijinja::context! {
                    when => when(state, a.attempted_at), outcome => a.outcome.as_str(),
                    outcome_pt => super::log::with_receipt(&super::log::with_bounce(super::log::outcome_pt(a.outcome), a.bounce.as_deref()), a.receipt.as_deref()), recipient => a.recipient.clone(),
                    purpose => a.purpose.label_pt(),
                    invoice => a.invoice.clone(), invoice_id => a.invoice_id.map(|i| i.0),
                    reply_short => super::log::short(&reply, 48),
                    reply,
                }
            })
            .collect();
        // The timeline: notices (sent or not, with the reason), payments, pauses; newest first.
        let mut timeline: Vec<(i64, String)> = Vec::new();
        for n in store::outbox::list_notices_of_customer(&mut conn, customer.id, 100).await? {
            let what = n.purpose.label_pt();
            let text = match n.status {
                crate::delivery::NoticeStatus::Sent => format!("{what}: enviado para {}", n.recipient),
                crate::delivery::NoticeStatus::Skipped => format!("{what}: não enviado — {}", n.last_error.clone().unwrap_or_default()),
                crate::delivery::NoticeStatus::Dead => format!("{what}: sem entrega — {}", n.last_error.clone().unwrap_or_default()),
                s => format!("{what}: {}", super::log::outcome_pt(s)),
            };
            timeline.push((n.sent_at.unwrap_or(n.created_at), format!("{text} ({})", super::actor_pt(&n.actor))));
        }
        for (inv, _) in store::invoices::list_invoices_page(
            &mut conn,
            &store::invoices::InvoiceListFilter { customer: Some(customer.id), status: Some("paid".into()), ..Default::default() },
            0,
            100,
        )
        .await?
        {
            if let InvoiceStatus::Paid { paid_on, amount } = inv.status {
                let at = state.clock.start_of_day_ms(paid_on)?;
                timeline.push((at, format!("Pagamento da fatura {}: {amount} em {}", inv.external_id, format_date(paid_on))));
            }
        }
        for p in store::dunning::list_pauses_of_customer(&mut conn, customer.id).await? {
            let what = match p.target {
                PauseTarget::Customer(_) => "Cobrança pausada".to_string(),
                PauseTarget::Invoice(i) => format!("Cobrança da fatura {} pausada", store::invoices::get_invoice(&mut conn, i).await?.external_id),
            };
            timeline.push((p.created_at, format!("{what} até {}: {} ({})", format_date(p.until), p.reason, super::actor_pt(&p.set_by))));
        }
        // The suspension clock's transitions (docs/debt.md): the evidence a complaint needs.
        for k in store::parties::list_contracts_of_customer(&mut conn, customer.id).await? {
            for e in store::debt::events(&mut conn, k.id).await? {
                let label = crate::domain::debt::DebtState::label_pt_of;
                timeline.push((e.at, format!("Inadimplência do contrato {}: {} → {} — {} ({})", k.external_id, label(&e.from), label(&e.to), e.detail, super::actor_pt(&e.actor))));
            }
        }
        for m in store::whatsapp::inbound_of_customer(&mut conn, customer.id, 50).await? {
            timeline.push((m.received_at, format!("Mensagem recebida por WhatsApp: “{}”", m.body)));
        }
        timeline.sort_by_key(|t| std::cmp::Reverse(t.0));
        let timeline: Vec<_> = timeline
            .into_iter()
            .map(|(ms, text)| minijinja::context! { when => when(state, ms), text })
            .collect();
        let suppressed = match &customer.email {
            Some(e) => store::bounces::find_suppression(&mut conn, &e.as_str().to_lowercase())
                .await?
                .map(|s| {
                    format!(
                        "Este e-mail não recebe mais mensagens: {} {}em {}. Corrija o e-mail abaixo ou libere-o em E-mails inválidos.",
                        super::suppressions::reason_pt(&s.reason).to_lowercase(),
                        s.status.map(|c| format!("({c}) ")).unwrap_or_default(),
                        state.clock.local_time(s.created_at, "%d/%m/%Y")
                    )
                }),
            None => None,
        };
        // WhatsApp is not used for this number: opted out, or not on WhatsApp.
        let whatsapp_block = match &customer.mobile_phone {
            Some(p) => store::whatsapp::blocks_among(&mut conn, &[p.e164()])
                .await?
                .into_values()
                .next()
                .map(|b| format!("WhatsApp: {} em {}.", b.label_pt(), state.clock.local_time(b.created_at, "%d/%m/%Y %H:%M"))),
            None => None,
        };
        let a = customer.address.clone().unwrap_or_default();
        let mut resp = state.render(
            "customer.html",
            minijinja::context! {
                title => customer.name.clone(),
                c => minijinja::context! {
                    id => customer.id.0,
                    ext => customer.external_id.clone(), name => customer.name.clone(), document => customer.document.to_string(),
                    email => customer.email.as_ref().map(|e| e.as_str().to_string()),
                    mobile => customer.mobile_phone.as_ref().map(|m| m.to_string()),
                    address => customer.address.as_ref().map(ToString::to_string),
                    street => a.street, number => a.number, complement => a.complement,
                    district => a.district, zip => a.zip, city => a.city, state => a.state,
                },
                contracts, emails, timeline, error, notice, suppressed, whatsapp_block,
                methods => methods.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        );
        *resp.status_mut() = code;
        Ok(Some(resp))
    }
    .await;
    match result {
        Ok(Some(r)) => r,
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /clientes/{id}/whatsapp/liberar`: WhatsApp may be used again for the customer's mobile
/// phone (a subscriber who opted back in, a number now on WhatsApp); audited `whatsapp.unblock`.
pub(super) async fn clear_whatsapp_block(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<std::collections::BTreeMap<String, String>>,
) -> Response {
    let csrf = f.get("_csrf").cloned().unwrap_or_default();
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&csrf)) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(customer) = store::parties::get_customer(&mut conn, CustomerId(id)).await else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        drop(conn);
        let Some(phone) = customer.mobile_phone else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        crate::actions::whatsapp::clear_block(
            &state.db,
            &phone.e164(),
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?;
        Ok(page_with(
            &state,
            &session,
            id,
            None,
            Some("O WhatsApp volta a ser usado para este celular.".into()),
            StatusCode::OK,
        )
        .await)
    }
    .await;
    result.unwrap_or_else(internal)
}
