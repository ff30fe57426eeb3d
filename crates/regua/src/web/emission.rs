//! Emissão de boletos: open invoices picked by filters (due period, issue period, billing method,
//! customer, delivery type), then either e-mailed now with the financial account's default
//! message (the ones delivered by e-mail) or printed as one carnê PDF (the ones delivered
//! printed). The bands' letters waiting for review are one link away (`/cartas`).
//!
//! Decisions:
//! - A batch holds at most [`MAX_BATCH`] invoices; more asks for narrower filters, so one click
//!   never holds the database for long.
//! - E-mails sent from here carry the dedup key `emissao:<invoice>:<date>`: a second click the
//!   same day (or two operators at once) queues nothing twice, and the page says how many were
//!   already queued.
//! - The carnê lists one customer's boletos together, by due date.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::{CustomerId, DeliveryType, Invoice, WalletId, format_date, parse_date};
use crate::store::{self, invoices::InvoiceListFilter};

/// The most invoices one e-mail batch or carnê takes.
pub const MAX_BATCH: i64 = 5000;

/// Rows shown on the page under the counts.
const SHOWN: usize = 50;

/// The filters, in the query string (GET) or the form (POST).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct EmissionQuery {
    #[serde(default, rename = "_csrf", skip_serializing)]
    csrf: String,
    /// Due from (dd/mm/aaaa).
    #[serde(default)]
    de: String,
    /// Due until.
    #[serde(default)]
    ate: String,
    /// Issued from.
    #[serde(default)]
    emissao_de: String,
    /// Issued until.
    #[serde(default)]
    emissao_ate: String,
    /// Billing method's name.
    #[serde(default)]
    forma: String,
    /// Customer's code.
    #[serde(default)]
    cliente: String,
    /// `email`, `printed` or empty for both.
    #[serde(default)]
    entrega: String,
    /// After a send: queued now.
    #[serde(default, skip_serializing)]
    enfileiradas: Option<u32>,
    /// After a send: already queued before.
    #[serde(default, skip_serializing)]
    repetidas: Option<u32>,
}

impl EmissionQuery {
    /// The store filter, or the first problem (pt-BR). Only open invoices are emitted.
    async fn filter(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> anyhow::Result<Result<InvoiceListFilter, String>> {
        let mut f = InvoiceListFilter {
            status: Some("open".into()),
            ..InvoiceListFilter::default()
        };
        for (value, slot, label) in [
            (&self.de, &mut f.due_from, "Vencimento de"),
            (&self.ate, &mut f.due_to, "Vencimento até"),
            (&self.emissao_de, &mut f.issue_from, "Emissão de"),
            (&self.emissao_ate, &mut f.issue_to, "Emissão até"),
        ] {
            if !value.trim().is_empty() {
                match parse_date(value) {
                    Ok(d) => *slot = Some(d),
                    Err(_) => return Ok(Err(format!("{label}: use dd/mm/aaaa."))),
                }
            }
        }
        if !self.forma.trim().is_empty() {
            let methods = store::parties::list_billing_methods(conn).await?;
            match methods.iter().find(|m| m.name == self.forma.trim()) {
                Some(m) => f.method = Some(m.id),
                None => return Ok(Err("Forma de cobrança não encontrada.".into())),
            }
        }
        if !self.cliente.trim().is_empty() {
            match store::parties::find_customer_by_external_id(conn, self.cliente.trim()).await? {
                Some(c) => f.customer = Some(c.id),
                None => {
                    return Ok(Err(format!(
                        "Cliente não encontrado: {}",
                        self.cliente.trim()
                    )));
                }
            }
        }
        match self.entrega.as_str() {
            "" => {}
            v => match v.parse::<DeliveryType>() {
                Ok(d) => f.delivery = Some(d),
                Err(_) => return Ok(Err("Entrega: e-mail ou impresso.".into())),
            },
        }
        Ok(Ok(f))
    }

    fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// The open invoices the filters pick (at most `MAX_BATCH + 1`, to tell "too many"), each with
/// its customer's name.
async fn pick(
    conn: &mut sqlx::AnyConnection,
    f: &InvoiceListFilter,
) -> anyhow::Result<Vec<(Invoice, String)>> {
    store::invoices::list_invoices_page(conn, f, 0, MAX_BATCH + 1).await
}

/// `GET /emissao`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<EmissionQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let methods: Vec<String> = store::parties::list_billing_methods(&mut conn)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let financial = store::accounts::financial_account(&mut conn).await?.is_some();
        let letters = store::dunning::list_letter_reviews(&mut conn, Some("pending"))
            .await?
            .len();
        let (error, picked) = match q.filter(&mut conn).await? {
            Ok(f) => (None, pick(&mut conn, &f).await?),
            Err(e) => (Some(e), Vec::new()),
        };
        let too_many = picked.len() as i64 > MAX_BATCH;
        let count = |d: DeliveryType| picked.iter().filter(|(i, _)| i.delivery_type == d).count();
        let total: i64 = picked.iter().map(|(i, _)| i.amount.cents()).sum();
        let rows: Vec<_> = picked
            .iter()
            .take(SHOWN)
            .map(|(i, customer)| {
                minijinja::context! {
                    id => i.id.0, ext => i.external_id.clone(), customer => customer.clone(),
                    issued => format_date(i.issue_date), due => format_date(i.due_date),
                    amount => i.amount.to_string(), delivery => i.delivery_type.label_pt(),
                }
            })
            .collect();
        let notice = q.enfileiradas.map(|n| {
            let again = q.repetidas.unwrap_or(0);
            if again > 0 {
                format!("{n} e-mail(s) na fila de envio; {again} já estava(m) na fila hoje.")
            } else {
                format!("{n} e-mail(s) na fila de envio.")
            }
        });
        Ok(state.render(
            "emission.html",
            minijinja::context! {
                title => "Emissão de boletos", q => minijinja::Value::from(minijinja::value::Serde(&q)),
                methods, error, notice, rows, too_many, max => MAX_BATCH, financial, letters,
                shown => SHOWN.min(picked.len()), found => picked.len(),
                by_email => count(DeliveryType::Email), printed => count(DeliveryType::Printed),
                total => crate::domain::Money::from_cents(total).to_string(),
                query => q.query_string(),
                can_send => session.user.role.allows(Permission::Send),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /emissao/enviar`: queues the e-mail of every open invoice the filters pick whose
/// delivery type is e-mail.
pub(super) async fn send(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(q): Form<EmissionQuery>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::Send, Some(&q.csrf)) {
        return r;
    }
    let now = state.clock.now_millis();
    let today = state.clock.today();
    let actor = session.actor();
    let no_account = || "Nenhuma conta de e-mail nos parâmetros financeiros.".to_string();
    let result: anyhow::Result<Result<(u32, u32), String>> = async {
        let picked = {
            let mut conn = state.db.pool.acquire().await?;
            let f = match q.filter(&mut conn).await? {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            if store::accounts::financial_account(&mut conn)
                .await?
                .is_none()
            {
                return Ok(Err(no_account()));
            }
            pick(&mut conn, &f).await?
        };
        if picked.len() as i64 > MAX_BATCH {
            return Ok(Err(format!(
                "Mais de {MAX_BATCH} faturas: refine os filtros."
            )));
        }
        let invoices: Vec<_> = picked
            .iter()
            .filter(|(i, _)| i.delivery_type == DeliveryType::Email)
            .map(|(i, _)| i.id)
            .collect();
        let sent = crate::actions::notices::send_invoices(
            &state.db,
            &invoices,
            |invoice| crate::delivery::NoticeKey::Emission {
                invoice,
                date: today,
            },
            &actor,
            now,
        )
        .await?;
        Ok(match sent {
            Ok((queued, again)) => {
                tracing::info!(queued, again, %actor, "emission: invoices e-mailed");
                Ok((queued, again))
            }
            Err(_) => Err(no_account()),
        })
    }
    .await;
    match result {
        Ok(Ok((queued, again))) => {
            let qs = q.query_string();
            Redirect::to(&format!(
                "/emissao?{qs}&enfileiradas={queued}&repetidas={again}"
            ))
            .into_response()
        }
        Ok(Err(msg)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nada enviado",
            &msg,
        ),
        Err(e) => internal(e),
    }
}

/// `GET /emissao/carne.pdf`: one PDF with the boleto of every open, printed-delivery invoice the
/// filters pick, each customer's together by due date.
pub(super) async fn carne(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<EmissionQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Result<Vec<u8>, String>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let mut f = match q.filter(&mut conn).await? {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        f.delivery = Some(DeliveryType::Printed);
        let mut picked = pick(&mut conn, &f).await?;
        if picked.len() as i64 > MAX_BATCH {
            return Ok(Err(format!(
                "Mais de {MAX_BATCH} faturas: refine os filtros."
            )));
        }
        if picked.is_empty() {
            return Ok(Err(
                "Nenhuma fatura impressa em aberto com estes filtros.".into()
            ));
        }
        picked.sort_by(|(a, an), (b, bn)| {
            (an, a.customer_id.0, a.due_date).cmp(&(bn, b.customer_id.0, b.due_date))
        });
        let company = store::parties::company_profile(&mut conn).await?;
        let mut customers = HashMap::<CustomerId, crate::domain::Customer>::new();
        let mut wallets = HashMap::<WalletId, crate::domain::BillingWallet>::new();
        let mut inputs = Vec::with_capacity(picked.len());
        for (invoice, _) in &picked {
            if let Entry::Vacant(e) = customers.entry(invoice.customer_id) {
                e.insert(store::parties::get_customer(&mut conn, invoice.customer_id).await?);
            }
            if let Entry::Vacant(e) = wallets.entry(invoice.wallet_id) {
                e.insert(store::parties::get_wallet(&mut conn, invoice.wallet_id).await?);
            }
            inputs.push(crate::payment::boleto_input(
                invoice,
                &customers[&invoice.customer_id],
                &wallets[&invoice.wallet_id],
                &company,
            ));
        }
        let pdf = boleto::pdf::render_pdf(&inputs).map_err(|e| anyhow::anyhow!("carnê: {e}"))?;
        Ok(Ok(pdf))
    }
    .await;
    match result {
        Ok(Ok(pdf)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"carne-{}.pdf\"", state.clock.today()),
                ),
            ],
            pdf,
        )
            .into_response(),
        Ok(Err(msg)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Carnê não gerado",
            &msg,
        ),
        Err(e) => internal(e),
    }
}

/// The page's filters as the régua's emission filter (what `regua band emit` takes); the
/// delivery type is not one — printed invoices are skipped by the bands with the reason.
async fn band_filter(
    q: &EmissionQuery,
    conn: &mut sqlx::AnyConnection,
) -> anyhow::Result<Result<crate::store::dunning::InvoiceFilter, String>> {
    Ok(q.filter(conn)
        .await?
        .map(|f| crate::store::dunning::InvoiceFilter {
            due_from: f.due_from,
            due_to: f.due_to,
            issued_from: f.issue_from,
            issued_to: f.issue_to,
            method: f.method.map(|m| m.0),
            customer: f.customer,
            open_only: true,
        }))
}

/// Rows of the band preview shown under the counts.
const BAND_ROWS: usize = 100;

/// `GET /emissao/faixas`: "Emissão por faixa de atraso" — what each overdue band would send
/// today for the invoices the filters pick (the dry run of `regua band emit`), with the
/// confirmation that sends it.
pub(super) async fn bands(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BandQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let methods: Vec<String> = store::parties::list_billing_methods(&mut conn)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let filter = band_filter(&q.f, &mut conn).await?;
        drop(conn);
        let (error, report) = match filter {
            Err(e) => (Some(e), None),
            Ok(filter) => {
                let req = crate::dunning::RunRequest {
                    date: state.clock.today(),
                    dry_run: true,
                    routine: None,
                    trigger: crate::dunning::Trigger::Manual,
                    actor: String::new(),
                    detail: true,
                    emission: Some(filter),
                };
                match crate::dunning::run(&state.db, &state.clock, &req).await {
                    Ok(r) => (None, Some(r)),
                    Err(crate::dunning::RunError::NoAccount) => (
                        Some("Nenhuma conta de e-mail nos parâmetros financeiros.".into()),
                        None,
                    ),
                    Err(crate::dunning::RunError::Other(e)) => return Err(e),
                }
            }
        };
        let (causes, reasons, rows, planned, letters, warnings) = match &report {
            Some(r) => (
                r.by_cause
                    .iter()
                    .map(|(c, n)| (crate::dunning::cause_pt(c), *n))
                    .collect::<Vec<_>>(),
                r.by_reason
                    .iter()
                    .map(|(c, n)| (crate::dunning::reason_code_pt(c).to_string(), *n))
                    .collect::<Vec<_>>(),
                r.notices
                    .iter()
                    .take(BAND_ROWS)
                    .map(|n| {
                        minijinja::context! {
                            invoice => n.invoice.clone(), customer => n.customer.clone(),
                            cause => crate::dunning::cause_pt(&n.cause),
                            review => n.review,
                        }
                    })
                    .collect::<Vec<_>>(),
                r.planned,
                r.planned_letters,
                r.warnings.clone(),
            ),
            None => Default::default(),
        };
        let sent = q.enviadas.map(|n| {
            format!(
                "{n} aviso(s) de faixa na fila de envio; {} carta(s) para revisão.",
                q.cartas.unwrap_or(0)
            )
        });
        Ok(state.render(
            "emission_bands.html",
            minijinja::context! {
                title => "Emissão por faixa de atraso",
                q => minijinja::Value::from(minijinja::value::Serde(&q.f)),
                methods, error, causes, reasons, rows, planned, letters, warnings, sent,
                shown => rows_len(planned),
                can_send => session.user.role.allows(Permission::Send),
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

fn rows_len(planned: usize) -> usize {
    planned.min(BAND_ROWS)
}

/// The band page's query: the emission filters and, after a send, what it queued.
#[derive(Debug, Default, Deserialize)]
pub(super) struct BandQuery {
    #[serde(flatten)]
    f: EmissionQuery,
    #[serde(default)]
    enviadas: Option<u64>,
    #[serde(default)]
    cartas: Option<u64>,
}

/// `POST /emissao/faixas`: sends what the preview showed — the régua's bands for the invoices
/// the filters pick, today, as `regua band emit --confirm` (each notice once: the band's key).
pub(super) async fn send_bands(
    State(state): State<Arc<AppState>>,
    session: Session,
    Form(q): Form<EmissionQuery>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::Send, Some(&q.csrf)) {
        return r;
    }
    let result: anyhow::Result<Result<(u64, u64), String>> = async {
        let mut conn = state.db.pool.acquire().await?;
        let filter = match band_filter(&q, &mut conn).await? {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        drop(conn);
        let req = crate::dunning::RunRequest {
            date: state.clock.today(),
            dry_run: false,
            routine: None,
            trigger: crate::dunning::Trigger::Manual,
            actor: format!("{} (emissão manual)", session.actor()),
            detail: false,
            emission: Some(filter),
        };
        match crate::dunning::run(&state.db, &state.clock, &req).await {
            Ok(r) => {
                tracing::info!(enqueued = r.enqueued, letters = r.letters, user = %session.user.login, "band emission");
                Ok(Ok((r.enqueued, r.letters)))
            }
            Err(crate::dunning::RunError::NoAccount) => {
                Ok(Err("Nenhuma conta de e-mail nos parâmetros financeiros.".into()))
            }
            Err(crate::dunning::RunError::Other(e)) => Err(e),
        }
    }
    .await;
    match result {
        Ok(Ok((sent, letters))) => Redirect::to(&format!(
            "/emissao/faixas?{}&enviadas={sent}&cartas={letters}",
            q.query_string()
        ))
        .into_response(),
        Ok(Err(msg)) => super::error_page(
            &state,
            Some(&session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nada enviado",
            &msg,
        ),
        Err(e) => internal(e),
    }
}
