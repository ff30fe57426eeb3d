//! Temporary suspensions of a contract ("suspensão temporária") and their notices:
//! *scheduled* (when it is recorded before its start), *started* (on its first day),
//! *ending* (N days before its last day, `suspension_ending_days`) and *ended* (the day after its
//! last day, when service is restored), plus *withdrawn* when an upcoming one the customer was
//! told of is withdrawn. Each notice goes by the method the ISP chose
//! (`suspension_notify_method`: e-mail, SMS or push), with an optional fallback order for
//! customers that method cannot reach.
//!
//! Once each: a notice's dedup key is `suspensao:<id>:<event>`, so a routine that runs twice,
//! a repeated API call or a re-imported file adds nothing. A repeated request for the same
//! contract, dates and reason finds the suspension it made; an overlapping one is refused.
//!
//! When: the events due on a day are planned once that day from 08:00 in the ISP's time zone
//! by the scheduler inside `regua serve` (no SMS at midnight), and at once for a suspension
//! just recorded (its "scheduled" or "started" notice goes while the operator is on the phone
//! with the customer). The contract's status follows: `suspended` from the first day,
//! `active` again after the last.

use anyhow::Context as _;
use jiff::civil::Date;
use sqlx::AnyConnection;

use crate::delivery::{Channel, Enqueued, NewNotice, NoticeStatus, SmsGateway, SmtpAccount};
use crate::domain::{Clock, Contract, ContractStatus, EmailAddress, format_date};
use crate::layouts::Purpose;
use crate::store::{self, Db, channels::Suspension};

/// The hour (ISP's time zone) from which the scheduler plans the day's suspension notices.
pub const NOTICE_HOUR: i8 = 8;
/// How many days after a suspension's end its "ended" notice may still go (a server that was
/// down over the end still tells the customer; older history is left alone).
pub const ENDED_GRACE_DAYS: i64 = 7;

/// One of a suspension's notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Recorded before its start.
    Scheduled,
    /// First day.
    Started,
    /// A few days before the last day.
    Ending,
    /// Service restored.
    Ended,
    /// Withdrawn before its start, after the customer was told it was scheduled. Not planned
    /// by day: [`end`] queues it.
    Withdrawn,
}

impl Event {
    /// The dedup key's suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Scheduled => "agendada",
            Event::Started => "inicio",
            Event::Ending => "termino",
            Event::Ended => "fim",
            Event::Withdrawn => "cancelada",
        }
    }

    /// The layout purpose of its notice.
    pub fn purpose(self) -> Purpose {
        match self {
            Event::Scheduled => Purpose::SuspensionScheduled,
            Event::Started => Purpose::SuspensionStarted,
            Event::Ending => Purpose::SuspensionEnding,
            Event::Ended => Purpose::SuspensionEnded,
            Event::Withdrawn => Purpose::SuspensionWithdrawn,
        }
    }
}

/// The events of a suspension due on `today`: before the start, "scheduled"; from the first to
/// the last day, "started", plus "ending" from `ending_days` before the last day (not on the
/// first day: a suspension shorter than that only gets "started"); after the last day,
/// "ended" (within [`ENDED_GRACE_DAYS`]).
pub fn events_due(s: &Suspension, today: Date, ending_days: i64) -> Vec<Event> {
    if today < s.starts_on {
        return vec![Event::Scheduled];
    }
    if today <= s.ends_on {
        let mut out = vec![Event::Started];
        let ending_from = s
            .ends_on
            .checked_sub(jiff::Span::new().days(ending_days))
            .unwrap_or(s.starts_on);
        if today >= ending_from && today > s.starts_on {
            out.push(Event::Ending);
        }
        return out;
    }
    let grace_end = s
        .ends_on
        .checked_add(jiff::Span::new().days(ENDED_GRACE_DAYS))
        .unwrap_or(s.ends_on);
    if today <= grace_end {
        vec![Event::Ended]
    } else {
        Vec::new()
    }
}

/// A request for a temporary suspension.
#[derive(Debug, Clone)]
pub struct SuspendRequest {
    /// The contract's external id.
    pub contract: String,
    /// First day without service.
    pub from: Date,
    /// Last day without service.
    pub to: Date,
    /// Why.
    pub reason: String,
    /// Who asked (`user: LOGIN`, `api: KEY`, `cli: USER`, `import: suspensions`).
    pub actor: String,
}

/// Why a suspension was refused: the field, and the reason in English (logs, CLI) and pt-BR
/// (pages, API).
#[derive(Debug, thiserror::Error)]
pub enum SuspendError {
    /// Bad input.
    #[error("{field}: {en}")]
    Invalid {
        /// The field or flag.
        field: &'static str,
        /// English.
        en: String,
        /// Brazilian Portuguese.
        pt: String,
    },
    /// Another suspension of the contract covers some of those days.
    #[error("contract {contract} is already suspended from {from} to {to}")]
    Overlap {
        /// The contract.
        contract: String,
        /// The other suspension's first day.
        from: Date,
        /// Its last day.
        to: Date,
    },
    /// Unexpected failure.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl SuspendError {
    /// The message in pt-BR.
    pub fn message_pt(&self) -> String {
        match self {
            SuspendError::Invalid { pt, .. } => pt.clone(),
            SuspendError::Overlap { from, to, .. } => format!(
                "O contrato já tem uma suspensão de {} a {}.",
                format_date(*from),
                format_date(*to)
            ),
            SuspendError::Other(_) => "Erro interno.".into(),
        }
    }
}

/// What [`suspend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspended {
    /// Recorded now.
    New(Suspension),
    /// The same request was recorded before: nothing changed.
    Exists(Suspension),
}

impl Suspended {
    /// The suspension either way.
    pub fn suspension(&self) -> &Suspension {
        match self {
            Suspended::New(s) | Suspended::Exists(s) => s,
        }
    }
}

/// Records a temporary suspension, in the caller's transaction, and enqueues the notices due
/// today (its "scheduled" or "started" one). The same request again (contract, dates, reason)
/// is [`Suspended::Exists`]; an overlapping one is refused, as is one on a cancelled contract
/// or one whose last day has passed.
pub async fn suspend(
    conn: &mut AnyConnection,
    req: &SuspendRequest,
    today: Date,
    now_ms: i64,
) -> Result<Suspended, SuspendError> {
    let invalid = |field, en: String, pt: &str| SuspendError::Invalid {
        field,
        en,
        pt: pt.to_string(),
    };
    let contract = store::parties::find_contract_by_external_id(conn, req.contract.trim())
        .await?
        .ok_or_else(|| {
            invalid(
                "contract",
                format!("no contract {:?}", req.contract.trim()),
                "Contrato não encontrado.",
            )
        })?;
    if contract.status == ContractStatus::Cancelled {
        return Err(invalid(
            "contract",
            format!("contract {} is cancelled", contract.external_id),
            "O contrato está cancelado.",
        ));
    }
    if req.to < req.from {
        return Err(invalid(
            "to",
            format!("{} is before the start, {}", req.to, req.from),
            "O fim não pode ser antes do início.",
        ));
    }
    if req.to < today {
        return Err(invalid(
            "to",
            format!("{} has passed", req.to),
            "O fim da suspensão já passou.",
        ));
    }
    let reason = req.reason.trim();
    for other in store::channels::suspensions_of_contract(conn, contract.id).await? {
        if other.cancelled_at.is_some() {
            continue;
        }
        if other.starts_on == req.from && other.ends_on == req.to && other.reason == reason {
            return Ok(Suspended::Exists(other));
        }
        if other.starts_on <= req.to && req.from <= other.ends_on {
            return Err(SuspendError::Overlap {
                contract: contract.external_id.clone(),
                from: other.starts_on,
                to: other.ends_on,
            });
        }
    }
    let id = store::channels::insert_suspension(
        conn,
        contract.id,
        req.from,
        req.to,
        reason,
        &req.actor,
        now_ms,
    )
    .await?;
    let s = Suspension {
        id,
        contract_id: contract.id,
        starts_on: req.from,
        ends_on: req.to,
        reason: reason.to_string(),
        requested_by: req.actor.clone(),
        created_at: now_ms,
        cancelled_at: None,
    };
    let routing = Routing::load(conn).await?;
    plan_one(conn, &routing, &s, &contract, today, &req.actor, now_ms).await?;
    Ok(Suspended::New(s))
}

/// What [`end`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It had not started: withdrawn, its pending notices are skipped. `notified`: the
    /// customer had been sent its "scheduled" notice, so the "withdrawn" one is queued.
    Withdrawn {
        /// The suspension as it is now.
        suspension: Suspension,
        /// Whether a "withdrawn" notice was queued.
        notified: bool,
    },
    /// It was running: service restored today, the contract active, the "ended" notice queued.
    Restored(Suspension),
}

impl Ended {
    /// The suspension either way.
    pub fn suspension(&self) -> &Suspension {
        match self {
            Ended::Withdrawn { suspension, .. } | Ended::Restored(suspension) => suspension,
        }
    }
}

/// Ends a contract's upcoming or running suspension now, in the caller's transaction (the
/// customer asked to come back early, or withdrew the request). A running one ends yesterday:
/// the contract is active again and its "ended" notice goes at once; one not yet started is
/// withdrawn, and a customer who was told it was scheduled (that notice sent, or going out
/// now) is told it was withdrawn; one who was not hears nothing. Either way the scheduler
/// leaves it alone from then on. (The audit row is the caller's: `actions::suspensions`.)
pub async fn end(
    conn: &mut AnyConnection,
    contract: &str,
    today: Date,
    actor: &str,
    now_ms: i64,
) -> Result<Ended, SuspendError> {
    let invalid = |en: String, pt: &str| SuspendError::Invalid {
        field: "contract",
        en,
        pt: pt.to_string(),
    };
    let k = store::parties::find_contract_by_external_id(conn, contract.trim())
        .await?
        .ok_or_else(|| {
            invalid(
                format!("no contract {:?}", contract.trim()),
                "Contrato não encontrado.",
            )
        })?;
    let Some(s) = store::channels::suspensions_of_contract(conn, k.id)
        .await?
        .into_iter()
        .find(|s| s.cancelled_at.is_none() && s.ends_on >= today)
    else {
        return Err(invalid(
            format!(
                "contract {} has no current or upcoming suspension",
                k.external_id
            ),
            "O contrato não tem suspensão em curso ou agendada.",
        ));
    };
    if s.starts_on > today {
        store::channels::close_suspension(conn, s.id, s.ends_on, now_ms).await?;
        let s = Suspension {
            cancelled_at: Some(now_ms),
            ..s
        };
        let told = store::outbox::notice_by_dedup_key(conn, &dedup_key(&s, Event::Scheduled))
            .await?
            .is_some_and(|(_, status)| {
                matches!(status, NoticeStatus::Sent | NoticeStatus::Sending)
            });
        if told {
            let routing = Routing::load(conn).await?;
            enqueue_event(conn, &routing, &s, &k, Event::Withdrawn, actor, now_ms).await?;
        }
        return Ok(Ended::Withdrawn {
            suspension: s,
            notified: told,
        });
    }
    let yesterday = today
        .checked_sub(jiff::Span::new().days(1))
        .unwrap_or(today);
    let s = Suspension {
        ends_on: yesterday.max(s.starts_on),
        cancelled_at: Some(now_ms),
        ..s
    };
    store::channels::close_suspension(conn, s.id, s.ends_on, now_ms).await?;
    // The "ended" notice as of today, whatever the stored last day (one that started today
    // keeps it as its last day).
    let routing = Routing::load(conn).await?;
    let as_ended = Suspension {
        ends_on: yesterday,
        ..s.clone()
    };
    plan_one(conn, &routing, &as_ended, &k, today, actor, now_ms).await?;
    Ok(Ended::Restored(s))
}

/// How suspension notices go: the method, the account and gateway, the fallback order.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The chosen method.
    pub method: Channel,
    /// The e-mail account (the named one, else the financial one).
    pub account: Option<SmtpAccount>,
    /// The SMS gateway (the named one, else the first active one).
    pub gateway: Option<SmsGateway>,
    /// The channels to try next, without the method itself.
    pub fallback: Vec<Channel>,
    /// Days before the end for the "ending" notice.
    pub ending_days: i64,
}

impl Routing {
    /// Reads the settings. A named account or gateway that does not exist is an error, not a
    /// silent switch to another.
    pub async fn load(conn: &mut AnyConnection) -> anyhow::Result<Routing> {
        let get = async |conn: &mut AnyConnection, key: &str| {
            store::settings::setting_or_default(
                conn,
                store::settings::setting_spec(key).expect("a known suspension setting"),
            )
            .await
        };
        let method: Channel = get(conn, store::settings::SETTING_SUSPENSION_METHOD)
            .await?
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let account_name = get(conn, store::settings::SETTING_SUSPENSION_ACCOUNT).await?;
        let account = if account_name.is_empty() {
            store::accounts::financial_account(conn).await?
        } else {
            Some(
                store::accounts::find_smtp_account(conn, &account_name)
                    .await?
                    .filter(|a| a.active)
                    .with_context(|| {
                        format!(
                            "{}: no active smtp account {account_name:?}",
                            store::settings::SETTING_SUSPENSION_ACCOUNT
                        )
                    })?,
            )
        };
        let gateway_name = get(conn, store::settings::SETTING_SUSPENSION_GATEWAY).await?;
        let gateway = if gateway_name.is_empty() {
            store::channels::list_sms_gateways(conn)
                .await?
                .into_iter()
                .find(|g| g.active)
        } else {
            Some(
                store::channels::find_sms_gateway(conn, &gateway_name)
                    .await?
                    .with_context(|| {
                        format!(
                            "{}: no active sms gateway {gateway_name:?}",
                            store::settings::SETTING_SUSPENSION_GATEWAY
                        )
                    })?,
            )
        };
        let fallback =
            Channel::parse_list(&get(conn, store::settings::SETTING_SUSPENSION_FALLBACK).await?)
                .map_err(|e| anyhow::anyhow!(e))?
                .into_iter()
                .filter(|c| *c != method)
                .collect();
        let ending_days = get(conn, store::settings::SETTING_SUSPENSION_ENDING_DAYS)
            .await?
            .parse()
            .unwrap_or(3);
        Ok(Routing {
            method,
            account,
            gateway,
            fallback,
            ending_days,
        })
    }

    /// A notice of `purpose` on the method's channel (with its fallbacks) to the contract's
    /// customer. The recipient recorded now is informational: the worker reads the current
    /// address, phone or devices right before sending.
    pub fn notice(
        &self,
        dedup_key: crate::delivery::NoticeKey,
        purpose: Purpose,
        layout: crate::domain::LayoutId,
        customer: &crate::domain::Customer,
        contract: Option<&Contract>,
        actor: &str,
    ) -> NewNotice {
        let recipient = match self.method {
            Channel::Email => customer.email_or_empty(),
            Channel::Sms | Channel::Whatsapp => customer
                .mobile_phone
                .as_ref()
                .map(|p| format!("+{}", p.e164()))
                .unwrap_or_default(),
            Channel::Push => customer.document.digits().to_string(),
        };
        NewNotice {
            account_id: self.account.as_ref().map(|a| a.id),
            gateway_id: self.gateway.as_ref().map(|g| g.id),
            fallback: self.fallback.clone(),
            recipient,
            customer_id: Some(customer.id),
            contract_id: contract.map(|c| c.id),
            ..NewNotice::new(dedup_key, self.method, purpose, layout, actor)
        }
    }

    /// The sender address a notice's Message-ID is derived from.
    pub fn from_address(&self) -> EmailAddress {
        self.account
            .as_ref()
            .map(|a| a.from_address.clone())
            .unwrap_or_else(|| EmailAddress::parse("avisos@regua.local").expect("valid"))
    }
}

/// Enqueues the notices of one suspension due on `today` and moves its contract's status.
/// Returns how many notices are new.
async fn plan_one(
    conn: &mut AnyConnection,
    routing: &Routing,
    s: &Suspension,
    contract: &Contract,
    today: Date,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<u64> {
    let events = events_due(s, today, routing.ending_days);
    if events.contains(&Event::Started) {
        store::channels::set_contract_status_from(
            conn,
            contract.id,
            ContractStatus::Active,
            ContractStatus::Suspended,
            now_ms,
        )
        .await?;
    }
    if events.contains(&Event::Ended) {
        store::channels::set_contract_status_from(
            conn,
            contract.id,
            ContractStatus::Suspended,
            ContractStatus::Active,
            now_ms,
        )
        .await?;
    }
    let mut new = 0;
    for e in events {
        if enqueue_event(conn, routing, s, contract, e, actor, now_ms).await? {
            new += 1;
        }
    }
    Ok(new)
}

/// The dedup key of a suspension's notice: `suspensao:<id>:<event>`.
fn dedup_key(s: &Suspension, e: Event) -> crate::delivery::NoticeKey {
    crate::delivery::NoticeKey::Suspension {
        suspension: s.id,
        event: e.as_str().to_string(),
    }
}

/// Enqueues one notice of a suspension; `true` when it is new.
async fn enqueue_event(
    conn: &mut AnyConnection,
    routing: &Routing,
    s: &Suspension,
    contract: &Contract,
    e: Event,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let customer = store::parties::get_customer(conn, contract.customer_id).await?;
    let layout = store::layouts::layout_for_purpose(conn, e.purpose())
        .await?
        .with_context(|| format!("no layout for {}", e.purpose()))?;
    let mut n = routing.notice(
        dedup_key(s, e),
        e.purpose(),
        layout.id,
        &customer,
        Some(contract),
        actor,
    );
    n.suspension_id = Some(s.id);
    Ok(matches!(
        store::outbox::enqueue_notice(conn, &n, &routing.from_address(), now_ms).await?,
        Enqueued::New(_)
    ))
}

/// What a day's planning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayReport {
    /// Suspensions looked at.
    pub suspensions: usize,
    /// Notices new in the outbox.
    pub enqueued: u64,
}

/// Plans `today`'s suspension notices, in one transaction: every suspension not withdrawn
/// that is upcoming, running, or ended within [`ENDED_GRACE_DAYS`]. Running it again adds
/// nothing.
pub async fn plan_day(
    db: &Db,
    clock: &Clock,
    today: Date,
    actor: &str,
) -> anyhow::Result<DayReport> {
    let now_ms = clock.now_millis();
    let mut tx = db.begin().await?;
    let routing = Routing::load(&mut tx).await?;
    let live = store::channels::live_suspensions(&mut tx, today, ENDED_GRACE_DAYS).await?;
    let mut report = DayReport {
        suspensions: live.len(),
        ..DayReport::default()
    };
    let ids: Vec<_> = live.iter().map(|s| s.contract_id).collect();
    let contracts = store::parties::get_contracts(&mut tx, &ids).await?;
    for s in &live {
        let contract = contracts
            .iter()
            .find(|c| c.id == s.contract_id)
            .context("the suspension's contract")?;
        if contract.status == ContractStatus::Cancelled {
            // A contract cancelled since: nothing to suspend or restore.
            continue;
        }
        report.enqueued += plan_one(&mut tx, &routing, s, contract, today, actor, now_ms).await?;
    }
    tx.commit()
        .await
        .context("cannot record the suspension notices")?;
    if report.enqueued > 0 {
        tracing::info!(
            suspensions = report.suspensions,
            enqueued = report.enqueued,
            %today,
            "suspension notices planned"
        );
    }
    Ok(report)
}

/// The answer to "realizar teste de envio".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// Accepted by the server, gateway or FCM.
    pub sent: bool,
    /// The reply code and text (or the reason it did not go), as the log keeps it.
    pub answer: String,
    /// Where it went (address, phone, customer's document).
    pub recipient: String,
}

/// Why a test could not even be queued: English and pt-BR.
#[derive(Debug, thiserror::Error)]
#[error("{en}")]
pub struct TestError {
    /// English (CLI, logs).
    pub en: String,
    /// pt-BR (pages).
    pub pt: String,
}

fn test_error(en: impl Into<String>, pt: &str) -> TestError {
    TestError {
        en: en.into(),
        pt: pt.into(),
    }
}

/// "Realizar teste de envio" for a suspension notice method: sends the test message now
/// through the outbox (so it is in the log) and returns the answer. `to` is an e-mail address
/// (email), a mobile phone (sms) or a customer — external id or CPF/CNPJ — who uses the app
/// (push). `gateway` picks an SMS gateway other than the suspension notices' one.
pub async fn send_test(
    db: &Db,
    clock: &Clock,
    key: Option<crate::secrets::MasterKey>,
    method: Channel,
    to: &str,
    gateway: Option<&str>,
    actor: &str,
) -> Result<TestOutcome, TestError> {
    let internal = |e: anyhow::Error| test_error(format!("{e:#}"), "Erro interno.");
    let now_ms = clock.now_millis();
    let mut conn = db.pool.acquire().await.map_err(|e| internal(e.into()))?;
    let mut routing = Routing::load(&mut conn).await.map_err(internal)?;
    routing.method = method;
    routing.fallback.clear();
    let layout = store::layouts::layout_for_purpose(&mut conn, Purpose::SmtpTest)
        .await
        .map_err(internal)?
        .ok_or_else(|| test_error("no test layout", "Layout de teste ausente."))?;
    let mut n = NewNotice {
        account_id: routing.account.as_ref().map(|a| a.id),
        gateway_id: routing.gateway.as_ref().map(|g| g.id),
        ..NewNotice::new(
            // Every click is a new test, also within one millisecond.
            crate::delivery::NoticeKey::notify_test(method, now_ms),
            method,
            Purpose::SmtpTest,
            layout.id,
            actor,
        )
    };
    match method {
        Channel::Whatsapp => {
            return Err(test_error(
                "a WhatsApp test sends a layout's template: regua notify test whatsapp --to PHONE --layout NAME",
                "O teste de WhatsApp envia o template de um modelo: escolha o modelo.",
            ));
        }
        Channel::Email => {
            if routing.account.is_none() {
                return Err(test_error(
                    "no e-mail account for suspension notices (set suspension_smtp_account or the financial account)",
                    "Nenhuma conta de e-mail para as notificações de suspensão.",
                ));
            }
            let to = EmailAddress::parse(to)
                .map_err(|e| test_error(format!("--to: {e}"), "Informe um e-mail válido."))?;
            n.recipient = to.as_str().to_string();
        }
        Channel::Sms => {
            if let Some(name) = gateway {
                let g = store::channels::find_sms_gateway(&mut conn, name)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| {
                        test_error(
                            format!("--gateway: no active sms gateway {name:?}"),
                            "Gateway de SMS não encontrado.",
                        )
                    })?;
                n.gateway_id = Some(g.id);
            }
            if n.gateway_id.is_none() {
                return Err(test_error(
                    "no sms gateway (add one with regua sms add)",
                    "Nenhum gateway de SMS cadastrado.",
                ));
            }
            let phone = crate::delivery::sms::SmsPhone::parse(to).map_err(|e| {
                test_error(format!("--to: {e}"), "Informe um celular válido, com DDD.")
            })?;
            n.recipient = phone.e164;
        }
        Channel::Push => {
            let customer = match store::parties::find_customer_by_external_id(&mut conn, to.trim())
                .await
                .map_err(internal)?
            {
                Some(c) => Some(c),
                None => match crate::actions::self_service::document_digits(to) {
                    Some(doc) => store::subscribers::customers_with_document(&mut conn, &doc)
                        .await
                        .map_err(internal)?
                        .into_iter()
                        .next(),
                    None => None,
                },
            }
            .ok_or_else(|| {
                test_error(
                    format!("--to: no customer {to:?} (external id or CPF/CNPJ)"),
                    "Cliente não encontrado (código ou CPF/CNPJ).",
                )
            })?;
            n.recipient = customer.document.digits().to_string();
            n.customer_id = Some(customer.id);
        }
    }
    let id = match store::outbox::enqueue_notice(&mut conn, &n, &routing.from_address(), now_ms)
        .await
        .map_err(internal)?
    {
        Enqueued::New(id) | Enqueued::Exists(id, _) => id,
    };
    drop(conn);
    let worker = crate::delivery::Worker::new(
        db.clone(),
        clock.clone(),
        crate::delivery::WorkerOptions::default(),
        key,
    );
    let (status, answer) = worker.deliver_and_answer(id).await.map_err(internal)?;
    let mut conn = db.pool.acquire().await.map_err(|e| internal(e.into()))?;
    let notice = store::outbox::get_notice(&mut conn, id)
        .await
        .map_err(internal)?;
    Ok(TestOutcome {
        sent: status == Some(crate::delivery::NoticeStatus::Sent),
        answer,
        recipient: notice.recipient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::SuspensionId;
    use crate::domain::ContractId;

    fn s(from: &str, to: &str) -> Suspension {
        Suspension {
            id: SuspensionId(1),
            contract_id: ContractId(1),
            starts_on: from.parse().unwrap(),
            ends_on: to.parse().unwrap(),
            reason: String::new(),
            requested_by: String::new(),
            created_at: 0,
            cancelled_at: None,
        }
    }

    #[test]
    fn each_day_has_its_events() {
        let x = s("2026-12-01", "2026-12-20");
        let on = |d: &str| events_due(&x, d.parse().unwrap(), 3);
        assert_eq!(on("2026-11-30"), vec![Event::Scheduled]);
        assert_eq!(on("2026-12-01"), vec![Event::Started]);
        assert_eq!(on("2026-12-16"), vec![Event::Started]);
        assert_eq!(on("2026-12-17"), vec![Event::Started, Event::Ending]);
        assert_eq!(on("2026-12-20"), vec![Event::Started, Event::Ending]);
        assert_eq!(on("2026-12-21"), vec![Event::Ended]);
        assert_eq!(on("2026-12-27"), vec![Event::Ended]);
        assert_eq!(on("2026-12-28"), Vec::<Event>::new());
        // Shorter than the notice period: no "ending" on the first day.
        let short = s("2026-12-01", "2026-12-02");
        assert_eq!(
            events_due(&short, "2026-12-01".parse().unwrap(), 3),
            vec![Event::Started]
        );
        assert_eq!(
            events_due(&short, "2026-12-02".parse().unwrap(), 3),
            vec![Event::Started, Event::Ending]
        );
    }
}
