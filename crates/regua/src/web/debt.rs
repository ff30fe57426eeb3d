//! Cobrança › Inadimplência (docs/debt.md): the contracts on the suspension clock with their
//! legal dates, what the next daily run will do (a dry run, nothing written), and the same
//! list as CSV. Anyone who can view sees it; the network's confirmations come through the API
//! or `regua debt confirm`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;

use super::auth::Permission;
use super::{AppState, Session, internal};
use crate::domain::debt::{DebtPolicy, DebtState};
use crate::domain::format_date;
use crate::store;

/// One contract's line.
struct Line {
    contract: String,
    customer: String,
    state: DebtState,
    notice_sent_on: String,
    suspended_on: String,
    next: String,
    late: bool,
}

async fn lines(
    state: &AppState,
    filter: Option<&str>,
) -> anyhow::Result<(Vec<Line>, DebtPolicy, bool)> {
    let mut conn = state.db.pool.acquire().await?;
    let (on, policy) = store::settings::debt_policy(&mut conn).await?;
    let method_policies = store::debt::method_policies(&mut conn).await?;
    let mut rows: Vec<_> = store::debt::rows(&mut conn).await?.into_values().collect();
    rows.retain(|r| {
        r.record.state != DebtState::Regular
            && filter.is_none_or(|f| f.is_empty() || r.record.state.as_str() == f)
    });
    rows.sort_by_key(|r| r.contract);
    let contracts = store::parties::get_contracts(
        &mut conn,
        &rows.iter().map(|r| r.contract).collect::<Vec<_>>(),
    )
    .await?;
    let customer_ids: Vec<_> = contracts.iter().map(|k| k.customer_id).collect();
    let customers = store::parties::get_customers(&mut conn, &customer_ids).await?;
    let plus = |d, days| format_date(crate::domain::debt::days_after(d, days));
    let now = state.clock.now_millis();
    let out = rows
        .into_iter()
        .filter_map(|r| {
            let k = contracts.iter().find(|k| k.id == r.contract)?;
            let c = customers.iter().find(|c| c.id == k.customer_id)?;
            let rec = r.record;
            let policy = method_policies
                .get(&k.billing_method_id)
                .copied()
                .unwrap_or(policy);
            let deadline = r
                .restore_due_at
                .map(|at| at + i64::from(policy.restore_within_hours) * 3_600_000);
            let next = match rec.state {
                DebtState::Notified => rec.notice_sent_on.map_or(String::new(), |d| {
                    format!(
                        "suspensão a partir de {}",
                        plus(d, policy.suspension_after_notice_days)
                    )
                }),
                DebtState::SuspensionDue => "aguardando a rede suspender".into(),
                DebtState::Suspended => rec.suspended_on.map_or(String::new(), |d| {
                    format!(
                        "aviso de rescisão a partir de {}",
                        plus(d, policy.termination_notice_after_suspension_days)
                    )
                }),
                DebtState::TerminationNotified => rec.suspended_on.map_or(String::new(), |d| {
                    format!(
                        "rescisão a partir de {}",
                        plus(
                            d,
                            crate::domain::debt::MIN_DAYS_SUSPENDED_TO_TERMINATION.max(
                                policy.termination_notice_after_suspension_days
                                    + policy.termination_after_notice_days
                            )
                        )
                    )
                }),
                DebtState::TerminationDue => "aguardando a confirmação da rescisão".into(),
                DebtState::RestoreDue => deadline.map_or(String::new(), |d| {
                    format!(
                        "restabelecer até {}",
                        state.clock.local_time(d, "%d/%m/%Y %H:%M")
                    )
                }),
                DebtState::Terminated | DebtState::Regular => String::new(),
            };
            Some(Line {
                contract: k.external_id.clone(),
                customer: c.name.clone(),
                state: rec.state,
                notice_sent_on: rec.notice_sent_on.map(format_date).unwrap_or_default(),
                suspended_on: rec.suspended_on.map(format_date).unwrap_or_default(),
                next,
                late: rec.state == DebtState::RestoreDue && deadline.is_some_and(|d| now > d),
            })
        })
        .collect();
    Ok((out, policy, on))
}

/// `GET /inadimplencia[?estado=…]`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let filter = q.get("estado").map(String::as_str);
        let (lines, policy, on) = lines(&state, filter).await?;
        let dry = crate::debt::run_day(
            &state.db,
            &state.clock,
            state.clock.today(),
            true,
            &session.actor().to_string(),
        )
        .await?;
        let mut conn = state.db.pool.acquire().await?;
        let counts = store::debt::counts(&mut conn).await?;
        drop(conn);
        let label = DebtState::label_pt_of;
        Ok(state.render(
            "debt.html",
            minijinja::context! {
                title => "Inadimplência",
                on,
                policy => minijinja::context! {
                    notice => policy.notice_after_overdue_days,
                    suspension => policy.suspension_after_notice_days,
                    termination_notice => policy.termination_notice_after_suspension_days,
                    termination => policy.termination_after_notice_days,
                    restore => policy.restore_within_hours,
                },
                counts => counts.iter().map(|(s, n)| minijinja::context! { state => s.clone(), label => label(s), n => *n }).collect::<Vec<_>>(),
                filter => filter.unwrap_or(""),
                states => DebtState::ALL.iter().filter(|s| **s != DebtState::Regular).map(|s| minijinja::context! { code => s.as_str(), label => s.label_pt() }).collect::<Vec<_>>(),
                lines => lines.iter().map(|l| minijinja::context! {
                    contract => l.contract.clone(), customer => l.customer.clone(),
                    state => l.state.label_pt(), notice_sent_on => l.notice_sent_on.clone(),
                    suspended_on => l.suspended_on.clone(), next => l.next.clone(), late => l.late,
                }).collect::<Vec<_>>(),
                moves => dry.moves.iter().map(|m| minijinja::context! {
                    contract => m.contract.clone(),
                    what => match m.what.as_str() {
                        "debt_notice" => "enviar a notificação de débito".to_string(),
                        "termination_notice" => "enviar o aviso de rescisão".to_string(),
                        other => format!("passar a \"{}\"", label(other)),
                    },
                }).collect::<Vec<_>>(),
                dry_error => dry.error,
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /inadimplencia.csv[?estado=…]`: the page's list.
pub(super) async fn csv(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = session.require(&state, Permission::View) {
        return r;
    }
    let result: anyhow::Result<Response> = async {
        let (lines, _, _) = lines(&state, q.get("estado").map(String::as_str)).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "contrato",
            "cliente",
            "situacao",
            "notificado_em",
            "suspenso_em",
            "proximo_passo",
        ])?;
        for l in lines {
            w.write_record([
                super::log::spreadsheet_safe(l.contract),
                super::log::spreadsheet_safe(l.customer),
                l.state.as_str().to_string(),
                l.notice_sent_on,
                l.suspended_on,
                l.next,
            ])?;
        }
        let body = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(super::log::csv_download("inadimplencia.csv", body))
    }
    .await;
    result.unwrap_or_else(internal)
}
