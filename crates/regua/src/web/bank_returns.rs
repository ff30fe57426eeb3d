//! Retorno bancário: upload a bank return file, see what it will change, confirm; the files
//! imported with their counts. And an invoice's page with the bank's events on its timeline.
//! The rules are `actions::bank_returns`'s (docs/cnab.md).

use std::sync::Arc;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::actions::bank_returns::{ImportOutcome, LineOutcome};
use crate::domain::{InvoiceId, format_date};
use crate::store;

/// A return file may be large (a hundred thousand records is 40 MB).
pub(super) const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// The outcome of a record, on screen.
fn outcome_pt(outcome: &str) -> &'static str {
    match outcome {
        "paid" => "Paga",
        "underpaid" => "Paga abaixo do valor",
        "duplicate_payment" => "Pagamento em duplicidade (a devolver)",
        "flagged" => "Registro rejeitado",
        "recorded" => "Registrado",
        _ => "Sem fatura correspondente",
    }
}

/// The bank's event, on screen.
fn event_pt(event: &str) -> &'static str {
    match event {
        "registered" => "Entrada confirmada",
        "rejected" => "Entrada rejeitada",
        "paid" => "Liquidação",
        "written_off" => "Baixa",
        _ => "Outra ocorrência",
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    importado: Option<i64>,
}

async fn page(
    state: &AppState,
    session: &Session,
    preview: Option<(i64, String, &ImportOutcome)>,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let files = async {
        let mut conn = state.db.pool.acquire().await?;
        store::bank_returns::list_files(&mut conn, 50).await
    }
    .await;
    let files = match files {
        Ok(f) => f,
        Err(e) => return internal(e),
    };
    let files: Vec<_> = files
        .iter()
        .map(|f| {
            minijinja::context! {
                id => f.id, name => f.name.clone(), bank => f.bank.clone(),
                layout => f.layout.to_uppercase().replace("CNAB", "CNAB "),
                records => f.records, paid => f.paid, unmatched => f.unmatched,
                at => state.clock.local_time(f.imported_at, "%d/%m/%Y %H:%M"), by => f.imported_by.clone(),
            }
        })
        .collect();
    let preview = preview.map(|(upload, name, o)| {
        let line = |l: &LineOutcome| {
            minijinja::context! {
                line => l.line, our_number => l.our_number.clone(),
                event => event_pt(l.event.as_str()), outcome => outcome_pt(l.outcome),
                code => l.outcome, invoice => l.invoice.clone().unwrap_or_default(),
                paid => l.paid.map(|m| m.to_string()).unwrap_or_default(),
            }
        };
        minijinja::context! {
            upload, name,
            counts => [
                ("Pagas", o.count("paid")),
                ("Pagas abaixo do valor", o.count("underpaid")),
                ("Pagamentos em duplicidade", o.count("duplicate_payment")),
                ("Registros rejeitados", o.count("flagged")),
                ("Outros eventos", o.count("recorded")),
                ("Sem fatura correspondente", o.count("unmatched")),
            ],
            lines => o.lines.iter().take(500).map(line).collect::<Vec<_>>(),
            more => o.lines.len().saturating_sub(500),
        }
    });
    let mut resp = state.render(
        "bank_returns.html",
        minijinja::context! {
            title => "Retorno bancário", files, preview, error, notice,
            can_import => session.user.role.allows(Permission::EditBilling),
            ..session.ctx()
        },
    );
    *resp.status_mut() = status;
    resp
}

/// `GET /retorno-bancario`
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let notice = q
        .importado
        .map(|id| format!("Arquivo importado (nº {id})."));
    page(&state, &session, None, None, notice, StatusCode::OK).await
}

/// `POST /retorno-bancario`: the file read and previewed (a dry run), kept until confirmed.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    session: Session,
    form: Multipart,
) -> Response {
    let fields = match super::MultipartForm::read(form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (name, bytes) = match fields.file("arquivo") {
        Some((name, bytes)) => (name.unwrap_or_else(|| "retorno".into()), bytes),
        None => (String::new(), Vec::new()),
    };
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&fields.text("_csrf"))) {
        return r;
    }
    let refuse = |message: String| async {
        page(
            &state,
            &session,
            None,
            Some(message),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    };
    if bytes.is_empty() {
        return refuse("Escolha o arquivo de retorno do banco.".into()).await;
    }
    let file = match boleto::cnab::read_return(&bytes) {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(user = %session.user.login, error = %e, "return file refused");
            return refuse(format!("Arquivo recusado, nada foi importado: {}", e.pt())).await;
        }
    };
    let actor = session.actor();
    let now = state.clock.now_millis();
    let result: anyhow::Result<Response> = async {
        let preview = crate::actions::bank_returns::import_return(
            &state.db,
            &crate::actions::bank_returns::ReturnUpload {
                name: &name,
                bytes: &bytes,
                file: &file,
            },
            true,
            &actor,
            (state.clock.today(), now),
        )
        .await?;
        if let Some(before) = &preview.already {
            return Ok(refuse(format!(
                "Este arquivo já foi importado em {} por {} (nº {}); nada muda.",
                state.clock.local_time(before.imported_at, "%d/%m/%Y %H:%M"),
                before.imported_by,
                before.id
            ))
            .await);
        }
        let upload =
            crate::actions::bank_returns::stage_upload(&state.db, &name, &bytes, &actor, now)
                .await?;
        let title = format!(
            "{name} — banco {}, {}, {} registro(s)",
            file.bank,
            file.layout.as_str().to_uppercase().replace("CNAB", "CNAB "),
            file.records.len()
        );
        Ok(page(
            &state,
            &session,
            Some((upload, title, &preview)),
            None,
            None,
            StatusCode::OK,
        )
        .await)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /retorno-bancario/{upload}/confirmar`
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(upload): Path<i64>,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    match crate::actions::bank_returns::confirm_upload(
        &state.db,
        upload,
        &session.actor(),
        (state.clock.today(), state.clock.now_millis()),
    )
    .await
    {
        Ok(Some(o)) => match (o.file_id, &o.already) {
            (Some(id), _) => {
                Redirect::to(&format!("/retorno-bancario?importado={id}")).into_response()
            }
            (None, Some(before)) => {
                Redirect::to(&format!("/retorno-bancario?importado={}", before.id)).into_response()
            }
            (None, None) => StatusCode::NOT_FOUND.into_response(),
        },
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

/// The bank's word on a registration, on screen.
fn registration_pt(status: &str) -> &'static str {
    match status {
        "registered" => "Registrado",
        "rejected" => "Registro rejeitado",
        "written_off" => "Baixado pelo banco",
        "resolved" => "Rejeição resolvida",
        _ => "Sem informação do banco",
    }
}

/// The form that clears a rejected registration.
#[derive(Deserialize)]
pub(super) struct ResolveForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /faturas/{id}/registro-resolvido`: someone acted on a rejected registration.
pub(super) async fn resolve(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<InvoiceId>,
    axum::Form(form): axum::Form<ResolveForm>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::EditBilling, Some(&form.csrf)) {
        return r;
    }
    use crate::actions::bank_returns::ResolveError;
    match crate::actions::bank_returns::resolve_rejection(
        &state.db,
        id,
        &form.note,
        &session.actor(),
        state.clock.now_millis(),
    )
    .await
    {
        Ok(Ok(())) => Redirect::to(&format!("/faturas/{}", id.0)).into_response(),
        Ok(Err(e)) => {
            let message = match e {
                ResolveError::NoteMissing => "Diga o que foi feito para resolver o registro.",
                ResolveError::NotRejected => "O registro desta fatura não está rejeitado.",
            };
            invoice_page(
                &state,
                &session,
                id,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// `GET /faturas/{id}`: an invoice, with the bank's events about it.
pub(super) async fn invoice(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<InvoiceId>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    invoice_page(&state, &session, id, None, StatusCode::OK).await
}

async fn invoice_page(
    state: &AppState,
    session: &Session,
    id: InvoiceId,
    error: Option<&str>,
    code: StatusCode,
) -> Response {
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let Ok(i) = store::invoices::get_invoice(&mut conn, id).await else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let customer = store::parties::get_customer(&mut conn, i.customer_id).await?;
        let events: Vec<_> = store::bank_returns::events_of_invoice(&mut conn, id)
            .await?
            .iter()
            .map(|e| {
                let date = |d: &Option<String>| {
                    d.as_deref()
                        .and_then(|d| d.parse().ok())
                        .map(format_date)
                        .unwrap_or_default()
                };
                minijinja::context! {
                    file => e.file_id, line => e.line, occurrence => e.occurrence.clone(),
                    event => event_pt(&e.event), outcome => outcome_pt(&e.outcome),
                    occurred_on => date(&e.occurred_on), credit_on => date(&e.credit_on),
                    paid => crate::domain::Money(e.paid_cents).to_string(),
                    fee => crate::domain::Money(e.fee_cents).to_string(),
                    interest => crate::domain::Money(e.interest_cents).to_string(),
                    reasons => e.reasons.replace('\n', "; "),
                }
            })
            .collect();
        let status = match &i.status {
            crate::domain::InvoiceStatus::Paid { paid_on, amount } => {
                format!("Paga em {} ({amount})", format_date(*paid_on))
            }
            crate::domain::InvoiceStatus::Open => "Em aberto".to_string(),
            crate::domain::InvoiceStatus::Cancelled => "Cancelada".to_string(),
        };
        // The collection history ("Hist. Cobrança"): every message about the invoice.
        let history: Vec<_> = store::log::notices_of_invoice(&mut conn, id)
            .await?
            .iter()
            .map(|n| {
                let step = n
                    .purpose
                    .parse::<crate::domain::Purpose>()
                    .map_or(n.purpose.clone(), |p| p.label_pt().to_string());
                let channel = n
                    .channel
                    .parse::<crate::domain::delivery::Channel>()
                    .map_or(n.channel.clone(), |c| c.label_pt().to_string());
                let status = n
                    .status
                    .parse::<crate::domain::delivery::NoticeStatus>()
                    .map_or(n.status.clone(), |s| s.label_pt().to_string());
                let outcome = match (&n.last_error, n.status.as_str()) {
                    (Some(why), "skipped" | "dead" | "retrying") => format!("{status}: {why}"),
                    _ => super::log::with_bounce(&status, n.bounce.as_deref()),
                };
                minijinja::context! {
                    id => n.id, step, channel, layout => n.layout.clone(),
                    at => state.clock.local_time(n.created_at, "%d/%m/%Y %H:%M"),
                    sent => n.sent_at.map(|t| state.clock.local_time(t, "%d/%m/%Y %H:%M")),
                    by => super::actor_pt(&n.actor), outcome,
                }
            })
            .collect();
        let bank = store::bank_returns::bank_status_of(&mut conn, id).await?;
        let rejected = matches!(&bank, Some((s, _)) if s == "rejected");
        let sent = store::remessa::last_item_of(&mut conn, id).await?;
        let wallet = store::parties::get_wallet(&mut conn, i.wallet_id).await?;
        // The bank's word first; else what Régua sent; else, for a wallet Régua registers,
        // that it is still to be sent.
        let registration = match (bank, sent) {
            (Some((s, reason)), _) => {
                let reason = reason.replace('\n', "; ");
                Some(if reason.is_empty() {
                    registration_pt(&s).to_string()
                } else {
                    format!("{}: {reason}", registration_pt(&s))
                })
            }
            (None, Some((movement, nsa))) => Some(match movement.as_str() {
                "write_off" => format!("Baixa pedida na remessa {nsa} (aguardando o banco)"),
                "change" => format!("Alteração enviada na remessa {nsa} (aguardando o banco)"),
                _ => format!("Enviada na remessa {nsa} (aguardando o banco)"),
            }),
            (None, None)
                if wallet.registration != crate::domain::charges::Registration::Erp
                    && i.registered_barcode.is_none()
                    && matches!(i.status, crate::domain::InvoiceStatus::Open) =>
            {
                Some("Pendente: ainda não enviada ao banco (página Remessa)".to_string())
            }
            (None, None) => None,
        };
        let mut resp = state.render(
            "invoice.html",
            minijinja::context! {
                title => format!("Fatura {}", i.external_id),
                ext => i.external_id.clone(), id => i.id, customer => customer.name,
                customer_id => customer.id, due => format_date(i.due_date),
                amount => i.amount.to_string(), status, our_number => i.our_number,
                events, registration, rejected, error, history,
                csrf => session.csrf.clone(),
                ..session.ctx()
            },
        );
        *resp.status_mut() = code;
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}
