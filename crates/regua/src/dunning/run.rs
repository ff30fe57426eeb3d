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

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use jiff::civil::Date;
use serde::Serialize;

use super::{OverdueBand, Plan, PlanInput, SendRule, SkipReason, plan, window_from};
use crate::delivery::{Channel, NewNotice, SmtpAccount};
use crate::domain::{Clock, format_date};
use crate::layouts::Purpose;
use crate::store::{self, Db, dunning::InvoiceFilter, dunning::InvoiceRef, outbox::NoticeRow};

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
    /// Keep every notice and skip in the report (always for a dry run). Off for the scheduler:
    /// a base of millions keeps only the counts.
    pub detail: bool,
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
    /// `email`, `sms` or `push`: the channel the notice takes first.
    pub channel: &'static str,
    /// When its channel's sending window opens, when it is closed as the run plans
    /// (`2026-01-10 08:00`, local): the notice waits in the queue until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits_until: Option<String>,
    /// The sending account's name (e-mail notices).
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
    /// `paid`, `printed`, `no_email`, `no_channel`, `paused`, `superseded`, `already_sent`.
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
    /// Load per SMS gateway (when the run plans SMS).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayLoad>,
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
    /// Notices planned (the `notices` list holds them only with `detail` or a dry run).
    #[serde(skip)]
    pub planned: usize,
    /// Notices planned per cause.
    #[serde(skip)]
    pub by_cause: BTreeMap<String, usize>,
    /// Skips per reason.
    #[serde(skip)]
    pub by_reason: BTreeMap<&'static str, usize>,
    /// Skips written to the outbox (the rules').
    #[serde(skip)]
    pub recorded_skips: u64,
    /// Of the planned notices, those that go to the letter review queue.
    #[serde(skip)]
    pub planned_letters: usize,
    /// Planned notices per first channel (letters apart).
    #[serde(skip)]
    pub by_channel: BTreeMap<&'static str, usize>,
}

/// The load on an SMS gateway against its remaining capacity (`null` = no limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayLoad {
    /// The gateway's name.
    pub gateway: String,
    /// SMS notices this run sends through it.
    pub planned: usize,
    /// What its hourly limit leaves in the rolling hour.
    pub capacity_left_hour: Option<i64>,
    /// What its daily limit leaves in the rolling 24 hours.
    pub capacity_left_day: Option<i64>,
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

/// A cause (`rule:after_due:5`, `band:1-10`) as a page says it.
pub fn cause_pt(cause: &str) -> String {
    let parts: Vec<&str> = cause.split(':').collect();
    match parts.as_slice() {
        ["band", range] => match range.split_once('-') {
            Some((from, to)) => format!("Faixa de {from} a {to} dias de atraso"),
            None => format!("Faixa {range}"),
        },
        ["rule", "on_due", _] => "Regra: no vencimento".into(),
        ["rule", "before_due", days] => format!("Regra: {days} dia(s) antes do vencimento"),
        ["rule", "after_due", days] => format!("Regra: {days} dia(s) após o vencimento"),
        _ => cause.to_string(),
    }
}

/// A skip reason's code (as in [`RunReport::by_reason`]) as a page says it.
pub fn reason_code_pt(code: &str) -> &'static str {
    [
        SkipReason::Paid,
        SkipReason::Printed,
        SkipReason::NoEmail,
        SkipReason::NoChannel,
        SkipReason::Paused,
        SkipReason::Superseded,
        SkipReason::AlreadySent,
    ]
    .into_iter()
    .find(|r| r.as_str() == code)
    .map_or("outro motivo", skip_reason_pt)
}

fn skip_reason_pt(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Paid => "fatura paga ou cancelada",
        SkipReason::Printed => "entrega impressa: não é enviada por e-mail",
        SkipReason::NoEmail => "cliente sem e-mail cadastrado",
        SkipReason::NoChannel => "nenhum dos canais da regra alcança o cliente",
        SkipReason::Paused => "cobrança pausada (promessa de pagamento)",
        SkipReason::Superseded => "substituída por uma regra mais avançada",
        SkipReason::AlreadySent => "já enviada",
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
            let recorded = store::dunning::record_run(
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

/// Invoices read, planned and written per transaction.
const PAGE: i64 = 20_000;

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
        store::rules::list_send_rules(&mut conn).await?
    };
    let bands: Vec<OverdueBand> = store::dunning::list_bands(&mut conn).await?;
    let window_days = store::dunning::window_days(&mut conn).await?;
    let last_run = store::dunning::last_completed_run_before(&mut conn, today).await?;
    let account = store::accounts::financial_account(&mut conn).await?;
    if account.is_none() && !req.dry_run {
        return Err(RunError::NoAccount);
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
        planned: 0,
        by_cause: BTreeMap::new(),
        by_reason: BTreeMap::new(),
        recorded_skips: 0,
        planned_letters: 0,
        by_channel: BTreeMap::new(),
        gateways: Vec::new(),
    };
    // The account's remaining capacity before this run adds to its queue.
    let usage = match &account {
        Some(acc) => {
            Some(store::dunning::account_usage(&mut conn, acc.id, clock.now_millis()).await?)
        }
        None => None,
    };
    let pauses = store::dunning::PauseIndex::load(&mut conn, today).await?;
    // The régua's SMS go through the first active gateway (decision, docs/dunning.md).
    let first_gateway = store::channels::list_sms_gateways(&mut conn)
        .await?
        .into_iter()
        .find(|g| g.active);
    let gateway = first_gateway.as_ref().map(|g| g.id);
    // Its remaining capacity before this run adds to its queue.
    let gateway_usage = match &first_gateway {
        Some(g) => Some(store::channels::gateway_usage(&mut conn, g.id, clock.now_millis()).await?),
        None => None,
    };
    let available = super::planner::Available {
        sms: gateway.is_some(),
        push: store::channels::push_config(&mut conn).await?.is_some(),
        whatsapp: store::whatsapp::list_accounts(&mut conn)
            .await?
            .iter()
            .any(|a| a.active),
    };
    // What waits for a window now, for the report.
    let closed = crate::domain::window::ClosedChannels::at(
        clock,
        &store::settings::sending_windows(&mut conn).await?,
        &store::dunning::calendar(&mut conn).await?,
    );
    drop(conn);

    match reach(today, last_run, window_days, &rules, &bands) {
        None => report
            .warnings
            .push("nenhuma regra de envio nem faixa de atraso cadastrada".into()),
        Some((lo, hi)) => {
            let mut filter = req.emission.clone().unwrap_or_default();
            filter.due_from = Some(filter.due_from.map_or(lo, |d| d.max(lo)));
            filter.due_to = Some(filter.due_to.map_or(hi, |d| d.min(hi)));
            let input = PageInput {
                today,
                last_run: if req.emission.is_some() {
                    Some(today)
                } else {
                    last_run
                },
                window_days,
                rules: &rules,
                bands: &bands,
                filter: &filter,
                pauses: &pauses,
                account: account.as_ref(),
                gateway,
                available,
                closed: &closed,
                clock,
            };
            let mut after = crate::domain::InvoiceId(0);
            loop {
                let Some(last) = page(db, clock, req, &input, after, &mut report).await? else {
                    break;
                };
                after = last;
            }
        }
    }
    account_load(&mut report, account.as_ref(), usage);
    if let (Some(g), Some(used)) = (&first_gateway, gateway_usage)
        && let Some(&planned) = report.by_channel.get("sms")
    {
        let limits = crate::domain::send_limits::SendLimits {
            hourly: g.hourly_limit,
            daily: g.daily_limit,
        };
        let (capacity_left_hour, capacity_left_day) = limits.left(used);
        if let Some(left) = capacity_left_day
            && planned as i64 > left
        {
            report.warnings.push(format!(
                "o gateway de SMS {} não comporta o dia: {planned} SMS planejados, {left} restantes no limite diário; o excedente espera a janela seguinte",
                g.name
            ));
        }
        report.gateways.push(GatewayLoad {
            gateway: g.name.clone(),
            planned,
            capacity_left_hour,
            capacity_left_day,
        });
    }
    if !req.dry_run && req.emission.is_none() {
        let mut tx = db.begin().await?;
        store::dunning::record_run(
            &mut tx,
            req.routine.as_ref().map(|r| r.id),
            req.date,
            req.trigger.as_str(),
            Ok((
                report.planned as i64,
                report.enqueued as i64,
                report.recorded_skips as i64,
            )),
            started,
            clock.now_millis(),
        )
        .await?;
        tx.commit().await.context("cannot record the run")?;
    }
    if !req.dry_run {
        tracing::info!(
            date = %req.date,
            considered = report.considered,
            planned = report.planned,
            enqueued = report.enqueued,
            letters = report.letters,
            recorded_skips = report.recorded_skips,
            "routine run completed"
        );
    }
    Ok(report)
}

/// The due dates any rule or band can fire for: `[from − longest after-rule, today + longest
/// before-rule]` and the bands' `[today − longest band, yesterday]`; `None` with neither.
fn reach(
    today: Date,
    last_run: Option<Date>,
    window_days: u16,
    rules: &[SendRule],
    bands: &[OverdueBand],
) -> Option<(Date, Date)> {
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
    lo.zip(hi)
}

/// What every page of a run shares.
struct PageInput<'a> {
    today: Date,
    last_run: Option<Date>,
    window_days: u16,
    rules: &'a [SendRule],
    bands: &'a [OverdueBand],
    filter: &'a InvoiceFilter,
    pauses: &'a store::dunning::PauseIndex,
    account: Option<&'a SmtpAccount>,
    gateway: Option<crate::delivery::GatewayId>,
    available: super::planner::Available,
    closed: &'a crate::domain::window::ClosedChannels,
    clock: &'a Clock,
}

/// One page: read up to [`PAGE`] invoices after `after`, plan them, and (unless a dry run)
/// write their notices, skips and letters in one transaction. Memory stays that of a page
/// however large the base. A run that stops half-way has committed whole pages; its rerun
/// enqueues the rest (the dedup keys skip what is there). Returns the page's last invoice, or
/// `None` when there were no more.
async fn page(
    db: &Db,
    clock: &Clock,
    req: &RunRequest,
    input: &PageInput<'_>,
    after: crate::domain::InvoiceId,
    report: &mut RunReport,
) -> Result<Option<crate::domain::InvoiceId>, RunError> {
    // The page is read outside the write: a notice another run wrote in between is left alone
    // by its dedup key, so the write needs no lock while the page is read and planned.
    let mut conn = db.pool.acquire().await.context("database")?;
    let (invoices, refs) =
        store::dunning::plan_invoices_page(&mut conn, input.filter, input.pauses, after, PAGE)
            .await?;
    let Some(last) = invoices.last().map(|i| i.id) else {
        return Ok(None);
    };
    let ids: Vec<_> = invoices.iter().map(|i| i.id).collect();
    let already = store::dunning::dunning_keys(&mut conn, &ids).await?;
    drop(conn);
    report.considered += invoices.len();
    let Plan { notices, skipped } = plan(&PlanInput {
        today: input.today,
        last_run: input.last_run,
        window_days: input.window_days,
        invoices: &invoices,
        rules: input.rules,
        bands: input.bands,
        already: &already,
        available: input.available,
    });
    let detail = req.dry_run || req.detail;
    let index: HashMap<_, usize> = invoices
        .iter()
        .enumerate()
        .map(|(i, inv)| (inv.id, i))
        .collect();
    let account_name = input.account.map_or(String::new(), |a| a.name.clone());
    let mut queue = Vec::new();
    let mut skips = Vec::new();
    let mut letters = Vec::new();
    for n in &notices {
        let i = index[&n.invoice];
        let (inv, r) = (&invoices[i], &refs[i]);
        report.planned += 1;
        report.planned_letters += usize::from(n.letter_band.is_some());
        if n.letter_band.is_none() {
            *report.by_channel.entry(n.channel.as_str()).or_default() += 1;
        }
        *report.by_cause.entry(n.cause.clone()).or_default() += 1;
        if detail {
            report.notices.push(ReportNotice {
                invoice: r.invoice.clone(),
                customer: r.customer.clone(),
                cause: n.cause.clone(),
                channel: n.channel.as_str(),
                waits_until: input
                    .closed
                    .until(n.channel)
                    .map(|(ms, _)| input.clock.local_time(ms, "%Y-%m-%d %H:%M")),
                account: if n.channel == Channel::Email {
                    account_name.clone()
                } else {
                    String::new()
                },
                review: n.letter_band.is_some(),
            });
        }
        if let Some(band) = n.letter_band {
            letters.push((n.dedup_key.to_string(), n.invoice, band, n.layout));
        } else if let Some(acc) = input.account {
            let mut notice = new_notice(acc, inv, r, &n.dedup_key, n.purpose, n.layout, &req.actor);
            notice.channel = n.channel;
            notice.fallback = n.fallback.clone();
            notice.gateway_id = input.gateway;
            // The recipient recorded now is informational: the worker reads the customer's
            // current address, phone or devices right before sending.
            notice.recipient = match n.channel {
                Channel::Email => notice.recipient,
                Channel::Sms | Channel::Whatsapp => r
                    .phone
                    .as_ref()
                    .map(|p| format!("+{p}"))
                    .unwrap_or_default(),
                Channel::Push => String::new(),
            };
            queue.push(NoticeRow {
                notice,
                skipped: None,
            });
        }
    }
    for s in &skipped {
        let i = index[&s.invoice];
        let (inv, r) = (&invoices[i], &refs[i]);
        *report.by_reason.entry(s.reason.as_str()).or_default() += 1;
        if detail {
            report.skipped.push(ReportSkip {
                invoice: r.invoice.clone(),
                cause: s.cause.clone(),
                reason: s.reason.as_str(),
            });
        }
        let record = s.dedup_key.is_rule() && s.reason != SkipReason::AlreadySent;
        if record && let Some(acc) = input.account {
            skips.push(NoticeRow {
                notice: new_notice(acc, inv, r, &s.dedup_key, s.purpose, s.layout, &req.actor),
                skipped: Some(skip_reason_pt(s.reason).to_string()),
            });
        }
    }
    if let (false, Some(acc)) = (req.dry_run, input.account) {
        let now = clock.now_millis();
        let mut bulk = db.bulk().await?;
        report.enqueued +=
            store::outbox::insert_notices(&mut bulk, &queue, &acc.from_address, now).await?;
        report.recorded_skips +=
            store::outbox::insert_notices(&mut bulk, &skips, &acc.from_address, now).await?;
        report.letters += store::dunning::insert_letter_reviews(&mut bulk, &letters, now).await?;
        bulk.commit()
            .await
            .context("cannot commit the run's page")?;
    }
    Ok(Some(last))
}

fn new_notice(
    account: &SmtpAccount,
    inv: &super::PlanInvoice,
    r: &InvoiceRef,
    key: &crate::delivery::NoticeKey,
    purpose: Purpose,
    layout: crate::domain::LayoutId,
    actor: &str,
) -> NewNotice {
    NewNotice {
        account_id: Some(account.id),
        recipient: r.email.clone().unwrap_or_default(),
        customer_id: Some(inv.customer),
        contract_id: Some(r.contract),
        invoice_id: Some(inv.id),
        attach_boleto: true,
        ..NewNotice::new(key.clone(), Channel::Email, purpose, layout, actor)
    }
}

/// The account's load and the warning when the day does not fit its remaining daily capacity.
fn account_load(
    report: &mut RunReport,
    account: Option<&SmtpAccount>,
    usage: Option<crate::domain::send_limits::Usage>,
) {
    let (Some(acc), Some(used)) = (account, usage) else {
        report.warnings.push(
            "nenhuma conta de e-mail nos parâmetros financeiros: nada pode ser enviado".into(),
        );
        return;
    };
    let limits = crate::domain::send_limits::SendLimits {
        hourly: acc.hourly_limit,
        daily: acc.daily_limit,
    };
    let (capacity_left_hour, capacity_left_day) = limits.left(used);
    let load = AccountLoad {
        account: acc.name.clone(),
        planned: report.by_channel.get("email").copied().unwrap_or(0),
        capacity_left_hour,
        capacity_left_day,
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

/// The run's summary for a terminal, in pt-BR.
pub fn summary_pt(report: &RunReport, dry_run: bool) -> String {
    let date = report
        .date
        .parse::<Date>()
        .map(format_date)
        .unwrap_or_else(|_| report.date.clone());
    let skipped: usize = report.by_reason.values().sum();
    let mut out = format!(
        "{} de {date}: {} notificações{}\n",
        if dry_run { "Simulação" } else { "Rotina" },
        report.planned,
        if dry_run {
            String::new()
        } else {
            format!(
                " ({} novas na fila, {} cartas para revisão)",
                report.enqueued, report.letters
            )
        }
    );
    for (cause, n) in &report.by_cause {
        out.push_str(&format!("  {cause}\t{n}\n"));
    }
    if skipped > 0 {
        out.push_str(&format!("Não enviadas: {skipped}\n"));
        for (reason, n) in &report.by_reason {
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
