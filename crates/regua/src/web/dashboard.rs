//! The dashboard (today's sending, the accounts' limits, which server runs the routines) and
//! tomorrow's forecast.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::Permission;
use super::{AppState, Session};
use crate::domain::format_date;
use crate::store;

pub(super) async fn dashboard(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(resp) = session.require(&state, Permission::View) {
        return resp;
    }
    let result: anyhow::Result<Response> = async {
        let mut conn = state.db.pool.acquire().await?;
        let clock = &state.clock;
        let midnight = clock.start_of_day_ms(clock.today())?;
        let today = store::log::dashboard_counts(&mut conn, midnight).await?;
        let routines = store::dunning::list_routines(&mut conn).await?;
        let runs: Vec<_> = store::dunning::list_runs(&mut conn, 5)
            .await?
            .into_iter()
            .map(|r| {
                minijinja::context! {
                    date => format_date(r.date),
                    routine => r.routine_id
                        .and_then(|id| routines.iter().find(|x| x.id == id))
                        .map_or("manual".to_string(), |x| x.name.clone()),
                    trigger => if r.trigger == "schedule" { "agendada" } else { "manual" },
                    status_pt => if r.status == "completed" { "concluída" } else { "falhou" },
                    status => r.status,
                    error => r.error,
                    planned => r.planned,
                    enqueued => r.enqueued,
                    skipped => r.skipped,
                }
            })
            .collect();
        // Which server's scheduler runs the routines (its lease), or that none does now.
        let lease_ms = i64::try_from(crate::dunning::LEASE.as_millis()).unwrap_or(0);
        let scheduler = match store::dunning::lease_holder(&mut conn, crate::dunning::LEASE_NAME).await? {
            Some((owner, until)) if until > clock.now_millis() => minijinja::context! {
                text => format!(
                    "As rotinas rodam no servidor {owner} (último sinal às {}).",
                    clock.local_time(until - lease_ms, "%H:%M de %d/%m/%Y")
                ),
                alert => false,
            },
            Some((owner, until)) => minijinja::context! {
                text => format!(
                    "Nenhum servidor executa as rotinas agora: o último ({owner}) deu sinal às {}. Verifique se o regua serve está rodando.",
                    clock.local_time(until - lease_ms, "%H:%M de %d/%m/%Y")
                ),
                alert => true,
            },
            None => minijinja::context! {
                text => "Nenhum servidor executa as rotinas agora: elas rodam dentro do regua serve (sem --no-scheduler).",
                alert => true,
            },
        };
        let money = store::bank_returns::payments_today(&mut conn, midnight).await?;
        let rejections: Vec<_> = store::bank_returns::rejected_registrations(&mut conn)
            .await?
            .into_iter()
            .take(10)
            .map(|(id, invoice, reason)| minijinja::context! { id, invoice, reason })
            .collect();
        let financial = store::accounts::financial_account(&mut conn).await?;
        let returns = store::bounces::returns_since(&mut conn, midnight).await?;
        let waiting: Vec<_> = store::log::waiting_for_window(&mut conn)
            .await?
            .into_iter()
            .map(|(channel, n, first)| {
                let label = channel
                    .parse::<crate::domain::delivery::Channel>()
                    .map_or(channel.clone(), |c| c.label_pt().to_string());
                minijinja::context! {
                    channel => label, n, opens => clock.local_time(first, "%d/%m às %H:%M"),
                }
            })
            .collect();
        let mut gateways = Vec::new();
        for g in store::channels::list_sms_gateways(&mut conn).await? {
            if !g.active {
                continue;
            }
            let used = store::channels::gateway_usage(&mut conn, g.id, clock.now_millis()).await?;
            let limits = crate::domain::send_limits::SendLimits {
                hourly: g.hourly_limit,
                daily: g.daily_limit,
            };
            gateways.push(minijinja::context! {
                name => g.name, hour => used.hour, day => used.day,
                hourly_limit => g.hourly_limit, daily_limit => g.daily_limit,
                near => limits.near(used),
            });
        }
        let restore_hours = store::settings::debt_policy(&mut conn).await?.1.restore_within_hours;
        let late_restorations =
            store::debt::late_restorations(&mut conn, clock.now_millis(), restore_hours).await?;
        let mut whatsapp = Vec::new();
        for a in store::whatsapp::list_accounts(&mut conn).await? {
            if !a.active {
                continue;
            }
            let day = store::whatsapp::account_sends_since(
                &mut conn,
                a.id,
                clock.now_millis() - crate::domain::send_limits::DAY_MS,
            )
            .await?;
            let limits = crate::domain::send_limits::SendLimits {
                hourly: None,
                daily: a.daily_limit,
            };
            whatsapp.push(minijinja::context! {
                name => a.name, day, daily_limit => a.daily_limit,
                near => limits.near(crate::domain::send_limits::Usage { hour: 0, day }),
            });
        }
        let all_accounts = store::accounts::list_smtp_accounts(&mut conn).await?;
        let pauses: Vec<_> = store::pacing::pauses_in_force(&mut conn, clock.now_millis())
            .await?
            .into_iter()
            .map(|p| {
                minijinja::context! {
                    account => all_accounts.iter().find(|a| a.id.0 == p.account_id).map_or(String::new(), |a| a.name.clone()),
                    domain => p.domain_key,
                    until => clock.local_time(p.until, "%H:%M"),
                    reason => p.reason,
                }
            })
            .collect();
        let mut accounts = Vec::new();
        for a in all_accounts {
            if !a.active {
                continue;
            }
            let used = store::dunning::account_usage(&mut conn, a.id, clock.now_millis()).await?;
            let limits = crate::domain::send_limits::SendLimits {
                hourly: a.hourly_limit,
                daily: a.daily_limit,
            };
            let r = returns.get(&a.id.0).copied().unwrap_or_default();
            let (bounce_bp, complaint_bp) = (
                crate::bounce::basis_points(r.bounced, r.sent),
                crate::bounce::basis_points(r.complained, r.sent),
            );
            accounts.push(minijinja::context! {
                sent_today => r.sent,
                bounced => r.bounced,
                complained => r.complained,
                bounce_rate => crate::bounce::percent_pt(bounce_bp),
                complaint_rate => crate::bounce::percent_pt(complaint_bp),
                bounce_high => bounce_bp > crate::bounce::BOUNCE_ALERT_BASIS_POINTS,
                complaint_high => complaint_bp > crate::bounce::COMPLAINT_ALERT_BASIS_POINTS,
                name => a.name,
                financial => financial.as_ref().is_some_and(|f| f.id == a.id),
                hour => used.hour,
                day => used.day,
                hourly_limit => a.hourly_limit,
                daily_limit => a.daily_limit,
                near => limits.near(used),
            });
        }
        Ok(state.render(
            "dashboard.html",
            minijinja::context! {
                title => "Painel",
                today => minijinja::context! {
                    queued => today.queued,
                    sent => today.sent,
                    failed => today.failed,
                },
                dead => today.dead,
                money => minijinja::context! {
                    bank => money.bank, pix => money.pix, other => money.other,
                    files => money.files, rejected => money.rejected, unmatched => money.unmatched,
                },
                rejections,
                runs,
                scheduler,
                accounts,
                pauses,
                waiting,
                gateways, whatsapp, late_restorations, restore_hours,
                financial => financial.is_some(),
                portal_hidden => financial.is_none() && store::settings::portal_settings(&mut conn).await?.send_email,
                ..session.ctx()
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(error = format!("{e:#}"), "dashboard failed");
        super::error_page(
            &state,
            Some(&session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Erro",
            "Não foi possível montar o painel.",
        )
    })
}

pub(super) async fn forecast(State(state): State<Arc<AppState>>, session: Session) -> Response {
    if let Err(resp) = session.require(&state, Permission::View) {
        return resp;
    }
    let Ok(tomorrow) = state.clock.today().tomorrow() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let req = crate::dunning::RunRequest {
        date: tomorrow,
        dry_run: true,
        routine: None,
        trigger: crate::dunning::Trigger::Manual,
        actor: session.actor().to_string(),
        emission: None,
        detail: false,
    };
    match crate::dunning::run(&state.db, &state.clock, &req).await {
        Ok(report) => state.render(
            "forecast.html",
            minijinja::context! {
                title => "Previsão",
                date => format_date(tomorrow),
                planned => report.planned,
                causes => report.by_cause.iter().map(|(c, n)| (crate::dunning::cause_pt(c), *n)).collect::<Vec<_>>(),
                reasons => report.by_reason.iter().map(|(r, n)| (crate::dunning::reason_code_pt(r).to_string(), *n)).collect::<Vec<_>>(),
                accounts => minijinja::Value::from(minijinja::value::Serde(&report.accounts)),
                warnings => report.warnings,
                ..session.ctx()
            },
        ),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "forecast failed");
            super::error_page(
                &state,
                Some(&session),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Erro",
                "Não foi possível calcular a previsão.",
            )
        }
    }
}
