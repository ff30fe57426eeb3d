//! A run of the régua: read the rules, bands, invoices, pauses and what was already sent from
//! the store, [`plan`] the date, and — unless it is a dry run — enqueue the notices, record the
//! skips and queue the letters for review, in one transaction with the run's own record. Two
//! runs of one date (the scheduler and an operator) enqueue nothing twice: every notice has its
//! dedup key.
//!
//! What is recorded: each rule skip becomes an outbox row with status `skipped` and the reason,
//! so the invoice's history shows why no reminder went out and the rule is done. Band skips
//! (paused, no e-mail, printed) are reported and not recorded: the band's notice goes out on a
//! later run while the invoice is still in the band, once the reason is gone.

use std::collections::HashMap;

use anyhow::Context as _;
use jiff::civil::Date;
use serde::Serialize;

use super::{OverdueBand, Plan, PlanInput, SendRule, SkipReason, plan, window_from};
use crate::delivery::{Channel, NewNotice, SmtpAccount};
use crate::domain::{Clock, format_date};
use crate::layouts::Purpose;
use crate::store::{self, Db, InvoiceFilter, InvoiceRef, NoticeRow};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// By the scheduler, at the routine's time.
    Schedule,
    /// By an operator (`regua routine run`, the UI, the API).
    Manual,
}

impl Trigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The date to run as.
    pub date: Date,
    /// Plan and report only; nothing is written.
    pub dry_run: bool,
    /// The routine it runs for, if any (recorded with the run).
    pub routine: Option<super::Routine>,
    /// Scheduler or operator.
    pub trigger: Trigger,
    /// Who: `routine: NAME`, `cli: routine run`, `user: LOGIN`.
    pub actor: String,
    /// Manual emission: only these invoices, bands only, and the run is not recorded as a
    /// routine run (it does not move the catch-up window).
    pub emission: Option<InvoiceFilter>,
}

/// A notice of the run, as the dry-run JSON prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportNotice {
    /// The invoice's external id.
    pub invoice: String,
    /// The customer's external id.
    pub customer: String,
    /// `rule:after_due:13`, `band:1-10`.
    pub cause: String,
    /// `email`.
    pub channel: &'static str,
    /// The sending account's name.
    pub account: String,
    /// A band's letter: waits for review instead of going to the outbox.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub review: bool,
}

/// A skip of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportSkip {
    /// The invoice's external id.
    pub invoice: String,
    /// What would have fired.
    pub cause: String,
    /// `paid`, `printed`, `no_email`, `paused`, `superseded`, `already_sent`.
    pub reason: &'static str,
}

/// The load on an account against its remaining capacity (`null` = no limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountLoad {
    /// The account's name.
    pub account: String,
    /// Notices this run sends through it.
    pub planned: usize,
    /// What its hourly limit leaves in the rolling hour.
    pub capacity_left_hour: Option<i64>,
    /// What its daily limit leaves in the rolling 24 hours.
    pub capacity_left_day: Option<i64>,
}

/// What a run planned and did. Serialises to the dry-run JSON of issue #6.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's date, `YYYY-MM-DD`.
    pub date: String,
    /// Notices planned.
    pub notices: Vec<ReportNotice>,
    /// Skips, with the reason.
    pub skipped: Vec<ReportSkip>,
    /// Load per account.
    pub accounts: Vec<AccountLoad>,
    /// Warnings in pt-BR (a day that does not fit an account's capacity, no account).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Notices new in the outbox (0 for a dry run); recorded skips are not counted.
    #[serde(skip)]
    pub enqueued: u64,
    /// Letters new in the review queue.
    #[serde(skip)]
    pub letters: u64,
    /// The last completed run before this one.
    #[serde(skip)]
    pub last_run: Option<Date>,
    /// Invoices read and planned.
    #[serde(skip)]
    pub considered: usize,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing to send with.
    #[error(
        "no financial SMTP account: set one with `regua smtp default NAME` (parâmetros financeiros)"
    )]
    NoAccount,
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn skip_reason_pt(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Paid => "fatura paga ou cancelada",
        SkipReason::Printed => "entrega impressa: não é enviada por e-mail",
        SkipReason::NoEmail => "cliente sem e-mail cadastrado",
        SkipReason::Paused => "cobrança pausada (promessa de pagamento)",
        SkipReason::Superseded => "substituída por uma regra mais avançada",
        SkipReason::AlreadySent => "já enviada",
    }
}

fn purpose_of(cause: &str) -> Purpose {
    if cause.starts_with("band:") {
        Purpose::OverdueBand
    } else if cause.starts_with("rule:before_due") {
        Purpose::ReminderBeforeDue
    } else if cause.starts_with("rule:on_due") {
        Purpose::DueToday
    } else {
        Purpose::ReminderAfterDue
    }
}

/// Runs (or dry-runs) the régua for `req.date`.
pub async fn run(db: &Db, clock: &Clock, req: &RunRequest) -> Result<RunReport, RunError> {
    let started = clock.now_millis();
    let result = run_inner(db, clock, req, started).await;
    if let Err(e) = &result
        && !req.dry_run
        && req.emission.is_none()
    {
        // A failed run is recorded in its own transaction, for the dashboard.
        let text = format!("{e:#}");
        tracing::error!(date = %req.date, error = %text, "routine run failed");
        if let Ok(mut tx) = db.begin().await {
            let recorded = store::record_run(
                &mut tx,
                req.routine.as_ref().map(|r| r.id),
                req.date,
                req.trigger.as_str(),
                Err(&text),
                started,
                clock.now_millis(),
            )
            .await;
            if recorded.is_ok() {
                let _ = tx.commit().await;
            }
        }
    }
    result
}

async fn run_inner(
    db: &Db,
    clock: &Clock,
    req: &RunRequest,
    started: i64,
) -> Result<RunReport, RunError> {
    let today = req.date;
    let mut conn = db.pool.acquire().await.context("database")?;
    let rules: Vec<SendRule> = if req.emission.is_some() {
        Vec::new()
    } else {
        store::list_send_rules(&mut conn).await?
    };
    let bands: Vec<OverdueBand> = store::list_bands(&mut conn).await?;
    let window_days = store::window_days(&mut conn).await?;
    let last_run = store::last_completed_run_before(&mut conn, today).await?;
    let account = store::financial_account(&mut conn).await?;
    if account.is_none() && !req.dry_run {
        return Err(RunError::NoAccount);
    }

    // The invoices any rule or band can fire for: due in [from − longest after-rule, today +
    // longest before-rule] or in a band today.
    let from = window_from(today, last_run, window_days);
    let days = |d: i64| jiff::Span::new().days(d);
    let max_of = |kind| {
        rules
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| i64::from(r.days))
            .max()
    };
    let mut lo: Option<Date> = None;
    let mut hi: Option<Date> = None;
    if !rules.is_empty() {
        let after = max_of(super::RuleKind::AfterDue).unwrap_or(0);
        let before = max_of(super::RuleKind::BeforeDue).unwrap_or(0);
        lo = from.checked_sub(days(after)).ok();
        hi = today.checked_add(days(before)).ok();
    }
    if let Some(max_to) = bands.iter().map(|b| i64::from(b.to_days)).max() {
        let band_lo = today.checked_sub(days(max_to)).ok();
        lo = match (lo, band_lo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let band_hi = today.yesterday().ok();
        hi = match (hi, band_hi) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let mut report = RunReport {
        date: today.to_string(),
        notices: Vec::new(),
        skipped: Vec::new(),
        accounts: Vec::new(),
        warnings: Vec::new(),
        enqueued: 0,
        letters: 0,
        last_run,
        considered: 0,
    };
    let (Some(lo), Some(hi)) = (lo, hi) else {
        report
            .warnings
            .push("nenhuma regra de envio nem faixa de atraso cadastrada".into());
        return finish(
            db,
            clock,
            req,
            report,
            Vec::new(),
            Vec::new(),
            account,
            started,
        )
        .await;
    };
    let mut filter = req.emission.clone().unwrap_or_default();
    filter.due_from = Some(filter.due_from.map_or(lo, |d| d.max(lo)));
    filter.due_to = Some(filter.due_to.map_or(hi, |d| d.min(hi)));
    let t0 = std::time::Instant::now();
    let (invoices, refs) = store::plan_invoices(&mut conn, &filter, today).await?;
    let t1 = std::time::Instant::now();
    let already = store::dunning_keys(&mut conn, lo, hi).await?;
    drop(conn);
    report.considered = invoices.len();
    tracing::debug!(
        invoices = invoices.len(),
        read_ms = (t1 - t0).as_millis() as u64,
        keys_ms = t1.elapsed().as_millis() as u64,
        "routine read"
    );

    let Plan { notices, skipped } = plan(&PlanInput {
        today,
        last_run: if req.emission.is_some() {
            Some(today)
        } else {
            last_run
        },
        window_days,
        invoices: &invoices,
        rules: &rules,
        bands: &bands,
        already: &already,
    });
    let index: HashMap<_, usize> = invoices
        .iter()
        .enumerate()
        .map(|(i, inv)| (inv.id, i))
        .collect();
    let account_name = account.as_ref().map_or(String::new(), |a| a.name.clone());
    let mut rows = Vec::new();
    let mut letters = Vec::new();
    for n in &notices {
        let i = index[&n.invoice];
        let (inv, r) = (&invoices[i], &refs[i]);
        report.notices.push(ReportNotice {
            invoice: r.invoice.clone(),
            customer: r.customer.clone(),
            cause: n.cause.clone(),
            channel: Channel::Email.as_str(),
            account: account_name.clone(),
            review: n.letter,
        });
        if n.letter {
            let band = n
                .dedup_key
                .rsplit(':')
                .next()
                .and_then(|b| b.parse::<i64>().ok())
                .context("band id in the dedup key")?;
            letters.push((n.dedup_key.clone(), n.invoice, band, n.layout));
        } else if let Some(acc) = &account {
            rows.push(NoticeRow {
                notice: new_notice(acc, inv, r, &n.dedup_key, &n.cause, n.layout, &req.actor),
                skipped: None,
            });
        }
    }
    for s in &skipped {
        let i = index[&s.invoice];
        let (inv, r) = (&invoices[i], &refs[i]);
        report.skipped.push(ReportSkip {
            invoice: r.invoice.clone(),
            cause: s.cause.clone(),
            reason: s.reason.as_str(),
        });
        let record = s.dedup_key.starts_with("rule:") && s.reason != SkipReason::AlreadySent;
        if record && let Some(acc) = &account {
            let layout = rules
                .iter()
                .find(|rule| s.dedup_key.ends_with(&format!(":{}", rule.id)))
                .map(|rule| rule.layout)
                .context("the skipped rule")?;
            rows.push(NoticeRow {
                notice: new_notice(acc, inv, r, &s.dedup_key, &s.cause, layout, &req.actor),
                skipped: Some(skip_reason_pt(s.reason).to_string()),
            });
        }
    }
    finish(db, clock, req, report, rows, letters, account, started).await
}

fn new_notice(
    account: &SmtpAccount,
    inv: &super::PlanInvoice,
    r: &InvoiceRef,
    key: &str,
    cause: &str,
    layout: crate::domain::LayoutId,
    actor: &str,
) -> NewNotice {
    NewNotice {
        dedup_key: key.to_string(),
        channel: Channel::Email,
        account_id: account.id,
        recipient: r.email.clone().unwrap_or_default(),
        purpose: purpose_of(cause),
        layout_id: layout,
        customer_id: Some(inv.customer),
        contract_id: Some(r.contract),
        invoice_id: Some(inv.id),
        attach_boleto: true,
        attach_letter: false,
        actor: actor.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    db: &Db,
    clock: &Clock,
    req: &RunRequest,
    mut report: RunReport,
    rows: Vec<NoticeRow>,
    letters: Vec<(
        String,
        crate::domain::InvoiceId,
        i64,
        crate::domain::LayoutId,
    )>,
    account: Option<SmtpAccount>,
    started: i64,
) -> Result<RunReport, RunError> {
    let now = clock.now_millis();
    let mut conn = db.pool.acquire().await.context("database")?;
    match &account {
        Some(acc) => {
            let (hour, day) = store::account_usage(&mut conn, acc.id, now).await?;
            let load = AccountLoad {
                account: acc.name.clone(),
                planned: report.notices.iter().filter(|n| !n.review).count(),
                capacity_left_hour: acc.hourly_limit.map(|l| (i64::from(l) - hour).max(0)),
                capacity_left_day: acc.daily_limit.map(|l| (i64::from(l) - day).max(0)),
            };
            if let Some(left) = load.capacity_left_day
                && load.planned as i64 > left
            {
                report.warnings.push(format!(
                    "a conta {} não comporta o dia: {} mensagens planejadas, {} restantes no limite diário{}",
                    acc.name,
                    load.planned,
                    left,
                    if acc.fallback_account_id.is_some() {
                        " (o excedente vai para a conta reserva)"
                    } else {
                        "; o excedente espera a janela seguinte"
                    }
                ));
            }
            report.accounts.push(load);
        }
        None => report.warnings.push(
            "nenhuma conta de e-mail nos parâmetros financeiros: nada pode ser enviado".into(),
        ),
    }
    drop(conn);
    if req.dry_run {
        return Ok(report);
    }
    let account = account.ok_or(RunError::NoAccount)?;
    let t0 = std::time::Instant::now();
    let mut tx = db.begin().await?;
    let (skips, queue): (Vec<NoticeRow>, Vec<NoticeRow>) =
        rows.into_iter().partition(|r| r.skipped.is_some());
    report.enqueued = store::insert_notices(&mut tx, &queue, &account.from_address, now).await?;
    let recorded_skips = store::insert_notices(&mut tx, &skips, &account.from_address, now).await?;
    report.letters = store::insert_letter_reviews(&mut tx, &letters, now).await?;
    if req.emission.is_none() {
        let recorded_skips = recorded_skips as i64;
        store::record_run(
            &mut tx,
            req.routine.as_ref().map(|r| r.id),
            req.date,
            req.trigger.as_str(),
            Ok((
                report.notices.len() as i64,
                report.enqueued as i64,
                recorded_skips,
            )),
            started,
            clock.now_millis(),
        )
        .await?;
    }
    tx.commit().await.context("cannot commit the run")?;
    tracing::debug!(write_ms = t0.elapsed().as_millis() as u64, "routine write");
    tracing::info!(
        date = %req.date,
        planned = report.notices.len(),
        enqueued = report.enqueued,
        letters = report.letters,
        skipped = report.skipped.len(),
        "routine run completed"
    );
    Ok(report)
}

/// The run's summary for a terminal, in pt-BR.
pub fn summary_pt(report: &RunReport, dry_run: bool) -> String {
    let date = report
        .date
        .parse::<Date>()
        .map(format_date)
        .unwrap_or_else(|_| report.date.clone());
    let mut by_cause: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &report.notices {
        *by_cause.entry(n.cause.as_str()).or_default() += 1;
    }
    let mut by_reason: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &report.skipped {
        *by_reason.entry(s.reason).or_default() += 1;
    }
    let mut out = format!(
        "{} de {date}: {} notificações{}\n",
        if dry_run { "Simulação" } else { "Rotina" },
        report.notices.len(),
        if dry_run {
            String::new()
        } else {
            format!(
                " ({} novas na fila, {} cartas para revisão)",
                report.enqueued, report.letters
            )
        }
    );
    for (cause, n) in by_cause {
        out.push_str(&format!("  {cause}\t{n}\n"));
    }
    if !by_reason.is_empty() {
        out.push_str(&format!("Não enviadas: {}\n", report.skipped.len()));
        for (reason, n) in by_reason {
            out.push_str(&format!("  {reason}\t{n}\n"));
        }
    }
    for a in &report.accounts {
        let cap = |c: Option<i64>| c.map_or("sem limite".to_string(), |c| c.to_string());
        out.push_str(&format!(
            "Conta {}: {} planejadas; restam {} na hora, {} no dia\n",
            a.account,
            a.planned,
            cap(a.capacity_left_hour),
            cap(a.capacity_left_day)
        ));
    }
    for w in &report.warnings {
        out.push_str(&format!("Aviso: {w}\n"));
    }
    out
}
