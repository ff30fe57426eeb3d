//! Log de envios: every delivery attempt, filtered by status, dates, customer, account and
//! channel, 100 per page; the same as CSV; and requeueing a notice given up on.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Permission;
use super::{AppState, CsrfOnly, Session, internal};
use crate::delivery::{Channel, NoticeId, NoticeStatus};
use crate::domain::parse_date;
use crate::store::{self, log::LogFilter};

const PAGE: i64 = 100;

/// The filters, as typed in the form (all optional).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    page: Option<i64>,
}

/// The outcome's name on screen.
pub fn outcome_pt(s: NoticeStatus) -> &'static str {
    match s {
        NoticeStatus::Queued => "na fila",
        NoticeStatus::Sending => "enviando",
        NoticeStatus::Sent => "enviado",
        NoticeStatus::Retrying => "nova tentativa",
        NoticeStatus::Dead => "sem entrega",
        NoticeStatus::Skipped => "não enviado",
    }
}

/// The filter, or the message (pt-BR) of the first bad field.
async fn filter(
    state: &AppState,
    q: &LogQuery,
    limit: i64,
) -> anyhow::Result<Result<LogFilter, String>> {
    let day_start = |d: jiff::civil::Date| state.clock.start_of_day_ms(d);
    let date = |s: &str, label: &str| -> Result<Option<jiff::civil::Date>, String> {
        match s.trim() {
            "" => Ok(None),
            s => parse_date(s)
                .map(Some)
                .map_err(|_| format!("{label}: use dd/mm/aaaa.")),
        }
    };
    let from = match date(&q.from, "Data inicial") {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let to = match date(&q.to, "Data final") {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let outcome = match q.status.trim() {
        "" => None,
        s => match s.parse::<NoticeStatus>() {
            Ok(o) => Some(o),
            Err(_) => return Ok(Err(format!("Situação desconhecida: {s}"))),
        },
    };
    let channel = match q.channel.trim() {
        "" => None,
        s => match s.parse::<Channel>() {
            Ok(c) => Some(c),
            Err(_) => return Ok(Err(format!("Canal desconhecido: {s}"))),
        },
    };
    let mut conn = state.db.pool.acquire().await?;
    let customer = match q.customer.trim() {
        "" => None,
        ext => match store::parties::find_customer_by_external_id(&mut conn, ext).await? {
            Some(c) => Some(c.id),
            None => return Ok(Err(format!("Cliente não encontrado: {ext}"))),
        },
    };
    let invoice = match q.invoice.trim() {
        "" => None,
        ext => match store::invoices::find_invoice_by_external_id(&mut conn, ext).await? {
            Some(i) => Some(i.id),
            None => return Ok(Err(format!("Fatura não encontrada: {ext}"))),
        },
    };
    let account = match q.account.trim() {
        "" => None,
        name => match store::accounts::find_smtp_account(&mut conn, name).await? {
            Some(a) => Some(a.id),
            None => return Ok(Err(format!("Conta de e-mail não encontrada: {name}"))),
        },
    };
    Ok(Ok(LogFilter {
        customer,
        invoice,
        outcome,
        from_ms: from.map(day_start).transpose()?,
        to_ms: to.map(|d| day_start(d.tomorrow()?)).transpose()?,
        account,
        channel,
        offset: (q.page.unwrap_or(1).max(1) - 1) * limit,
        limit,
    }))
}

/// A long server answer cut for the table (the whole text is the cell's tooltip and in the
/// CSV): at most `max` characters, with an ellipsis.
/// An outcome with the bounce read back after it, if any: "enviado — devolvido: endereço
/// inexistente (5.1.1)".
/// The outcome with the provider's receipt: "enviado — lida".
pub(super) fn with_receipt(outcome: &str, receipt: Option<&str>) -> String {
    match receipt.map(crate::domain::whatsapp::receipt_label_pt) {
        Some(r) if !r.is_empty() => format!("{outcome} — {r}"),
        _ => outcome.to_string(),
    }
}

pub(super) fn with_bounce(outcome: &str, bounce: Option<&str>) -> String {
    let Some(b) = bounce else {
        return outcome.to_string();
    };
    let (kind, code) = b.split_once(' ').unwrap_or((b, ""));
    let what = match kind {
        "hard" => "devolvido: endereço inexistente",
        "complaint" => "o destinatário reclamou (spam)",
        _ => "devolvido: falha temporária",
    };
    if code.is_empty() {
        format!("{outcome} — {what}")
    } else {
        format!("{outcome} — {what} ({code})")
    }
}

/// An attempt's answer as the tables show it: the code and the text (`250 2.0.0 Ok`).
pub(super) fn reply_text(a: &crate::delivery::Attempt) -> String {
    format!(
        "{} {}",
        a.reply_code.map_or(String::new(), |c| c.to_string()),
        a.reply_text
    )
    .trim()
    .to_string()
}

pub(super) fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

fn when(state: &AppState, ms: i64) -> String {
    state.clock.local_time(ms, "%d/%m/%Y %H:%M:%S")
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<LogQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let (rows, error) = match filter(&state, &q, PAGE + 1).await? {
            Ok(f) => {
                let mut conn = state.db.pool.acquire().await?;
                (store::log::list_attempts(&mut conn, &f).await?, None)
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        let more = rows.len() as i64 > PAGE;
        let page = q.page.unwrap_or(1).max(1);
        let rows: Vec<_> = rows
            .into_iter()
            .take(PAGE as usize)
            .map(|a| {
                let reply = reply_text(&a);
                minijinja::context! {
                    when => when(&state, a.attempted_at),
                    notice => a.notice_id.0,
                    outcome => a.outcome.as_str(),
                    outcome_pt => with_receipt(
                        &with_bounce(outcome_pt(a.outcome), a.bounce.as_deref()),
                        a.receipt.as_deref(),
                    ),
                    reply_short => short(&reply, 48),
                    reply,
                    channel => a.channel.as_str(),
                    account => a.account.clone().unwrap_or_default(),
                    channel_pt => match a.channel {
                        crate::delivery::Channel::Email => "E-mail",
                        crate::delivery::Channel::Sms => "SMS",
                        crate::delivery::Channel::Push => "Push",
                        crate::delivery::Channel::Whatsapp => "WhatsApp",
                    },
                    recipient => a.recipient,
                    purpose => a.purpose.label_pt(),
                    actor => super::actor_pt(&a.actor),
                    invoice => a.invoice, invoice_id => a.invoice_id.map(|i| i.0),
                    dead => a.outcome == NoticeStatus::Dead,
                }
            })
            .collect();
        let mut next = q.clone_query();
        next.page = Some(page + 1);
        let mut resp = state.render(
            "log.html",
            minijinja::context! {
                title => "Log de envios",
                rows,
                q => minijinja::Value::from(minijinja::value::Serde(&q)),
                error,
                next => more.then(|| serde_urlencoded::to_string(&next).unwrap_or_default()),
                csv => serde_urlencoded::to_string(q.clone_query()).unwrap_or_default(),
                can_send => session.user.role.allows(Permission::Send),
                ..session.ctx()
            },
        );
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

impl LogQuery {
    fn clone_query(&self) -> LogQuery {
        LogQuery {
            status: self.status.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            customer: self.customer.clone(),
            invoice: self.invoice.clone(),
            account: self.account.clone(),
            channel: self.channel.clone(),
            page: None,
        }
    }
}

/// The log as CSV (the filters of the page, at most 100 000 lines).
pub(super) async fn csv(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<LogQuery>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let f = match filter(&state, &q, 100_000).await? {
            Ok(f) => LogFilter { offset: 0, ..f },
            Err(e) => return Ok((StatusCode::UNPROCESSABLE_ENTITY, e).into_response()),
        };
        let mut conn = state.db.pool.acquire().await?;
        let rows = store::log::list_attempts(&mut conn, &f).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "data_hora",
            "aviso",
            "resultado",
            "codigo",
            "resposta",
            "canal",
            "conta",
            "destinatario",
            "finalidade",
            "causado_por",
        ])?;
        for a in rows {
            w.write_record([
                when(&state, a.attempted_at),
                a.notice_id.0.to_string(),
                a.outcome.as_str().to_string(),
                a.reply_code.map_or(String::new(), |c| c.to_string()),
                spreadsheet_safe(a.reply_text),
                a.channel.as_str().to_string(),
                spreadsheet_safe(a.account.unwrap_or_default()),
                spreadsheet_safe(a.recipient),
                a.purpose.as_str().to_string(),
                spreadsheet_safe(a.actor),
            ])?;
        }
        let body = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(csv_download("log-de-email.csv", body))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// Requeues a notice given up on ("sem entrega").
pub(super) async fn requeue(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = session.allow(&state, Permission::Send, Some(&form.csrf)) {
        return r;
    }
    let result = crate::actions::notices::requeue_notice(
        &state.db,
        NoticeId(id),
        &session.actor(),
        state.clock.now_millis(),
    )
    .await;
    match result {
        Ok(true) => Redirect::to("/log?status=dead").into_response(),
        Ok(false) => super::error_page(
            &state,
            Some(&session),
            StatusCode::CONFLICT,
            "Não reenviado",
            "Só avisos sem entrega podem ser reenviados.",
        ),
        Err(e) => internal(e),
    }
}

/// A CSV file the browser saves as `filename` (ASCII, no quotes: every caller passes a literal).
pub fn csv_download(filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A free-text cell as a spreadsheet may open it: one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be read as a formula (a server's reply text or an account's
/// name is not ours to trust), so it gets a leading `'`, which spreadsheets show as text.
pub fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+55 11", "'+55 11"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("250 2.0.0 Ok", "250 2.0.0 Ok"),
            ("maria@exemplo.com.br", "maria@exemplo.com.br"),
        ] {
            assert_eq!(super::spreadsheet_safe(cell.to_string()), safe);
        }
    }
}
