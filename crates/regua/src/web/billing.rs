//! Contratos and Faturas: the contracts with "gerar financeiro", the invoices with their boleto
//! PDF, "enviar por e-mail" (the financial account's default message) and "marcar paga".

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::domain::{ContractStatus, InvoiceId, InvoiceStatus, format_date, parse_date};
use crate::store::{self, invoices::InvoiceListFilter};

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct ContractQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    pagina: Option<i64>,
}

pub(super) async fn contracts(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<ContractQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let page = q.pagina.unwrap_or(1).max(1);
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let search = Some(q.q.trim()).filter(|s| !s.is_empty());
        let mut list = store::parties::list_contracts_page(&mut conn, search, (page - 1) * PAGE, PAGE + 1).await?;
        let more = list.len() as i64 > PAGE;
        list.truncate(PAGE as usize);
        let mut ids: Vec<_> = list.iter().map(|c| c.customer_id).collect();
        ids.sort();
        ids.dedup();
        let names: HashMap<_, _> = store::parties::get_customers(&mut conn, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        let rows: Vec<_> = list
            .iter()
            .map(|c| {
                minijinja::context! {
                    id => c.id.0, ext => c.external_id.clone(),
                    customer => names.get(&c.customer_id).cloned().unwrap_or_default(),
                    plan => c.plan.clone(), amount => c.monthly_amount.to_string(), due_day => c.due_day,
                    delivery => c.delivery_type.label_pt(),
                    status => c.status.label_pt(),
                    active => c.status != ContractStatus::Cancelled,
                }
            })
            .collect();
        let next = more.then(|| {
            serde_urlencoded::to_string(ContractQuery { q: q.q.clone(), pagina: Some(page + 1) }).unwrap_or_default()
        });
        // Every role sees the default a contract without a delivery type takes (only an
        // administrator changes it, on Parâmetros gerais).
        let default_delivery = store::parties::default_delivery_type(&mut conn).await?.label_pt();
        Ok(state.render(
            "contracts.html",
            minijinja::context! {
                title => "Contratos", contracts => rows, q => q.q.clone(), next, default_delivery,
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

#[derive(Deserialize)]
pub(super) struct GenerateForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    months: String,
}

/// "Gerar financeiro": the contract's next months, then its invoices.
pub(super) async fn generate(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<GenerateForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    let months = form.months.trim().parse::<u32>().unwrap_or(0);
    if !(1..=60).contains(&months) {
        return super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Meses inválidos",
            "Escolha de 1 a 60 meses.",
        );
    }
    let contract = {
        let mut conn = match state.db.pool.acquire().await {
            Ok(c) => c,
            Err(e) => return internal(e.into()),
        };
        match store::parties::get_contract(&mut conn, crate::domain::ContractId(id)).await {
            Ok(c) => c,
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    match crate::invoicing::generate_invoices_by(
        &state.db,
        &contract.external_id,
        months,
        &state.clock,
        Some(&session.actor()),
    )
    .await
    {
        Ok(g) => {
            tracing::info!(user = %session.user.login, contract = %contract.external_id, created = g.created.len(), "invoices generated from the web");
            let q = serde_urlencoded::to_string([
                ("contrato", contract.external_id.as_str()),
                ("geradas", &g.created.len().to_string()),
            ])
            .unwrap_or_default();
            Redirect::to(&format!("/faturas?{q}")).into_response()
        }
        Err(crate::invoicing::GenerateError::Other(e)) => internal(e),
        Err(e) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Faturas não geradas",
            &match e {
                crate::invoicing::GenerateError::Cancelled(_) => {
                    "O contrato está cancelado.".to_string()
                }
                other => other.to_string(),
            },
        ),
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct InvoiceQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cliente: String,
    #[serde(default)]
    contrato: String,
    #[serde(default)]
    de: String,
    #[serde(default)]
    ate: String,
    #[serde(default, skip_serializing)]
    geradas: Option<usize>,
    #[serde(default, skip_serializing)]
    enviada: Option<String>,
    #[serde(default, skip_serializing)]
    pausada: Option<String>,
    #[serde(default)]
    pagina: Option<i64>,
}

fn status_pt(s: &InvoiceStatus) -> (&'static str, &'static str) {
    match s {
        InvoiceStatus::Open => ("open", "em aberto"),
        InvoiceStatus::Paid { .. } => ("paid", "paga"),
        InvoiceStatus::Cancelled => ("cancelled", "cancelada"),
    }
}

pub(super) async fn invoices(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<InvoiceQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let page = q.pagina.unwrap_or(1).max(1);
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let mut error = None;
        let mut f = InvoiceListFilter {
            status: Some(q.status.trim().to_string()).filter(|s| ["open", "paid", "cancelled"].contains(&s.as_str())),
            ..InvoiceListFilter::default()
        };
        if !q.cliente.trim().is_empty() {
            match store::parties::find_customer_by_external_id(&mut conn, q.cliente.trim()).await? {
                Some(c) => f.customer = Some(c.id),
                None => error = Some(format!("Cliente não encontrado: {}", q.cliente.trim())),
            }
        }
        if !q.contrato.trim().is_empty() {
            match store::parties::find_contract(&mut conn, q.contrato.trim()).await? {
                Some(c) => f.contract = Some(c.id),
                None => error = Some(format!("Contrato não encontrado: {}", q.contrato.trim())),
            }
        }
        for (value, slot, label) in [(&q.de, &mut f.due_from, "Vencimento de"), (&q.ate, &mut f.due_to, "Vencimento até")] {
            if !value.trim().is_empty() {
                match parse_date(value) {
                    Ok(d) => *slot = Some(d),
                    Err(_) => error = Some(format!("{label}: use dd/mm/aaaa.")),
                }
            }
        }
        let mut list = if error.is_none() {
            store::invoices::list_invoices_page(&mut conn, &f, (page - 1) * PAGE, PAGE + 1).await?
        } else {
            Vec::new()
        };
        let more = list.len() as i64 > PAGE;
        list.truncate(PAGE as usize);
        let rows: Vec<_> = list
            .iter()
            .map(|(i, customer)| {
                let (code, label) = status_pt(&i.status);
                minijinja::context! {
                    id => i.id.0, ext => i.external_id.clone(),
                    customer => customer.clone(),
                    due => format_date(i.due_date), amount => i.amount.to_string(),
                    status => label, status_code => code, open => code == "open",
                    delivery => i.delivery_type.label_pt(),
                }
            })
            .collect();
        let notice = match (&q.geradas, &q.enviada, &q.pausada) {
            (Some(n), _, _) => Some(format!("{n} fatura(s) gerada(s).")),
            (_, Some(ext), _) => Some(format!("Fatura {ext} na fila de envio por e-mail.")),
            (_, _, Some(ext)) => Some(format!("Cobrança da fatura {ext} pausada.")),
            _ => None,
        };
        let next = more.then(|| {
            serde_urlencoded::to_string(InvoiceQuery { pagina: Some(page + 1), ..q.clone_query() }).unwrap_or_default()
        });
        Ok(state.render(
            "invoices.html",
            minijinja::context! {
                title => "Faturas", invoices => rows, q => minijinja::Value::from(minijinja::value::Serde(&q)),
                error, notice, next,
                can_send => session.user.role.allows(Permission::Send),
                can_edit => session.user.role.allows(Permission::EditBilling),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

impl InvoiceQuery {
    fn clone_query(&self) -> InvoiceQuery {
        InvoiceQuery {
            status: self.status.clone(),
            cliente: self.cliente.clone(),
            contrato: self.contrato.clone(),
            de: self.de.clone(),
            ate: self.ate.clone(),
            geradas: None,
            enviada: None,
            pausada: None,
            pagina: None,
        }
    }
}

/// The invoice's boleto PDF.
pub(super) async fn boleto_pdf(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Option<(String, Vec<u8>)>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(invoice) = store::invoices::get_invoice(&mut conn, InvoiceId(id)).await else {
            return Ok(None);
        };
        let pdf = crate::payment::boleto_pdf(&mut conn, &invoice).await?;
        Ok(Some((
            crate::payment::pdf_file_name("boleto", &invoice.external_id),
            pdf,
        )))
    }
    .await;
    match result {
        Ok(Some((name, pdf))) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{name}\""),
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// "Enviar por e-mail": queued with the financial account's default message, boleto attached.
pub(super) async fn send_now(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::Send, Some(&form.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    use crate::actions::notices::NotSent;
    let result: anyhow::Result<Result<String, &'static str>> =
        crate::actions::notices::send_invoice_now(
            &state.db,
            InvoiceId(id),
            None,
            |invoice| crate::delivery::NoticeKey::Manual {
                invoice: invoice.id,
                at_ms: now,
                nonce: None,
            },
            &session.actor(),
            now,
        )
        .await
        .map(|sent| match sent {
            Ok((invoice, _)) => Ok(invoice.external_id),
            Err(NotSent::NotFound) => Err("Fatura não encontrada."),
            Err(NotSent::NotOpen) => Err("Só faturas em aberto são enviadas."),
            Err(NotSent::NoAccount) => Err("Nenhuma conta de e-mail nos parâmetros financeiros."),
        });
    match result {
        Ok(Ok(ext)) => {
            let q = serde_urlencoded::to_string([("enviada", ext.as_str())]).unwrap_or_default();
            Redirect::to(&format!("/faturas?{q}")).into_response()
        }
        Ok(Err(msg)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Não enviada",
            msg,
        ),
        Err(e) => internal(e),
    }
}

/// "Marcar paga": paid today, the invoice's amount.
pub(super) async fn mark_paid(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    // Paid today, the invoice's amount.
    let result: anyhow::Result<bool> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(invoice) = store::invoices::get_invoice(&mut conn, InvoiceId(id)).await else {
            return Ok(false);
        };
        drop(conn);
        let payment = crate::actions::payments::Payment {
            paid_on: state.clock.today(),
            amount: invoice.amount,
        };
        let outcome = crate::actions::payments::record_payment(
            &state.db,
            invoice.id,
            &payment,
            &session.actor(),
            state.clock.now_millis(),
        )
        .await?;
        Ok(matches!(
            outcome,
            crate::actions::payments::PaymentOutcome::Recorded(_)
        ))
    }
    .await;
    match result {
        Ok(true) => Redirect::to("/faturas").into_response(),
        Ok(false) => super::error_page(
            &state,
            Some(&session),
            StatusCode::CONFLICT,
            "Não alterada",
            "Só faturas em aberto podem ser marcadas como pagas.",
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct PauseForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

/// "Pausar cobrança" ("promessa de pagamento"): no dunning for the invoice through a date.
pub(super) async fn pause(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(form): Form<PauseForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::Send, Some(&form.csrf)) {
        return r;
    }
    let until = match parse_date(&form.until) {
        Ok(d) if d >= state.clock.today() => d,
        Ok(_) => {
            return super::error_page(
                &state,
                Some(&session),
                StatusCode::UNPROCESSABLE_ENTITY,
                "Pausa não criada",
                "A data final da pausa já passou.",
            );
        }
        Err(_) => {
            return super::error_page(
                &state,
                Some(&session),
                StatusCode::UNPROCESSABLE_ENTITY,
                "Pausa não criada",
                "Informe até quando (dd/mm/aaaa).",
            );
        }
    };
    if form.reason.trim().is_empty() {
        return super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Pausa não criada",
            "Informe o motivo (a promessa de pagamento).",
        );
    }
    let actor = session.actor();
    let result: anyhow::Result<Option<String>> = crate::actions::dunning::pause_dunning(
        &state.db,
        crate::actions::dunning::PauseOf::Invoice(&form.invoice),
        until,
        &form.reason,
        &actor.to_string(),
        &actor,
        state.clock.now_millis(),
    )
    .await
    .map(|paused| paused.map(|_| form.invoice.trim().to_string()))
    .map_err(|e| anyhow::anyhow!("{e}"));
    match result {
        Ok(Some(ext)) => {
            let q = serde_urlencoded::to_string([("pausada", ext.as_str())]).unwrap_or_default();
            Redirect::to(&format!("/faturas?{q}")).into_response()
        }
        Ok(None) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Pausa não criada",
            "Fatura não encontrada.",
        ),
        Err(e) => internal(e),
    }
}
