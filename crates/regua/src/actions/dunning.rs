//! The régua's configuration and its human decisions: send rules, overdue bands, routines,
//! holidays, letters waiting for review and pauses of dunning.

use crate::domain::Actor;
use crate::domain::rules::{BandId, ChannelPlan, LetterId, PauseId, RuleId, RuleKind};
use crate::domain::schedule::{HolidayId, HolidayScope, RoutineId, Task};
use crate::store::dunning::PauseTarget;
use crate::store::parties::ConfigError;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Adds a send rule to the billing method named `method`, going by `channels`.
#[allow(clippy::too_many_arguments)]
pub async fn add_rule(
    db: &Db,
    method: &str,
    kind: RuleKind,
    days: u16,
    layout: Option<&str>,
    channels: &ChannelPlan,
    actor: &Actor,
    now_ms: i64,
) -> Result<RuleId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::rules::insert_send_rule(tx, method, kind, days, layout, now_ms).await?;
        store::rules::set_rule_channels(tx, id, channels).await?;
        Audit::of("rule.add", format!("rule:{id}"))
            .after(format!(
                "{method} {} {days} {} {}",
                kind.as_str(),
                channels.list(),
                channels.mode.as_str()
            ))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Removes a send rule; false when there is none.
pub async fn remove_rule(db: &Db, id: RuleId, actor: &Actor, now_ms: i64) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::rules::delete_send_rule(tx, id).await?;
        if removed {
            Audit::of("rule.remove", format!("rule:{id}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// Adds an overdue band (`from`–`to` days overdue), e-mail only or e-mail and letter, going
/// by `channels` (a band with a letter goes by e-mail only: the letter is an attachment).
pub async fn add_band(
    db: &Db,
    (from, to): (u16, u16),
    layout: Option<&str>,
    letter: bool,
    channels: &ChannelPlan,
    actor: &Actor,
    now_ms: i64,
) -> Result<BandId, ConfigError> {
    if letter && channels.channels != [crate::domain::delivery::Channel::Email] {
        return Err(ConfigError::Invalid {
            field: "channels",
            reason: "a band that generates a letter goes by e-mail only (the letter is attached)"
                .into(),
        });
    }
    in_transaction(db, async |tx| {
        let id = store::dunning::insert_band(tx, from, to, layout, letter, now_ms).await?;
        store::dunning::set_band_channels(tx, id, channels).await?;
        let generation = if letter { "email_and_letter" } else { "email" };
        Audit::of("band.add", format!("band:{id}"))
            .after(format!(
                "{from}-{to} {generation} {} {}",
                channels.list(),
                channels.mode.as_str()
            ))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Removes an overdue band; false when there is none. A band whose letters were reviewed is
/// kept (the error says so).
pub async fn remove_band(
    db: &Db,
    id: BandId,
    actor: &Actor,
    now_ms: i64,
) -> Result<bool, ConfigError> {
    in_transaction(db, async |tx| {
        let removed = store::dunning::delete_band(tx, id).await?;
        if removed {
            Audit::of("band.remove", format!("band:{id}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// A routine to add: when the scheduler runs `task`.
#[derive(Debug, Clone)]
pub struct NewRoutine<'a> {
    /// Its unique name.
    pub name: &'a str,
    /// What it does.
    pub task: Task,
    /// `seg-sex`, `seg,qua,sex`, `1-5`.
    pub weekdays: &'a str,
    /// `08:00:00`.
    pub time: &'a str,
    /// Whether it runs on holidays too.
    pub run_on_holidays: bool,
}

/// Adds a routine of the scheduler.
pub async fn add_routine(
    db: &Db,
    r: &NewRoutine<'_>,
    actor: &Actor,
    now_ms: i64,
) -> Result<RoutineId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::dunning::insert_routine(
            tx,
            r.name,
            r.task,
            r.weekdays,
            r.time,
            r.run_on_holidays,
            now_ms,
        )
        .await?;
        Audit::of("routine.add", format!("routine:{id}"))
            .after(format!("{} {} {}", r.name.trim(), r.weekdays, r.time))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Which routine [`remove_routine`] means.
#[derive(Debug, Clone, Copy)]
pub enum RoutineRef<'a> {
    /// By id (the web page's button).
    Id(RoutineId),
    /// By name (the CLI).
    Name(&'a str),
}

/// Deactivates a routine; false when there is no such active routine. The trail names it as
/// it was asked for (`routine:ID` or `routine:NAME`) with its name before.
pub async fn remove_routine(
    db: &Db,
    which: RoutineRef<'_>,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let (name, entity) = match which {
            RoutineRef::Name(name) => (name.to_string(), format!("routine:{name}")),
            RoutineRef::Id(id) => {
                let Some(r) = store::dunning::list_routines(tx)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                else {
                    return Ok(false);
                };
                (r.name, format!("routine:{id}"))
            }
        };
        let removed = store::dunning::deactivate_routine(tx, &name).await?;
        if removed {
            Audit::of("routine.remove", entity)
                .before(name)
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// A holiday to add, as typed (the store checks the date and the place).
#[derive(Debug, Clone)]
pub struct NewHoliday<'a> {
    /// `dd/mm/aaaa` or `AAAA-MM-DD`.
    pub date: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Every year on the same day.
    pub yearly: bool,
    /// National, state or city.
    pub scope: HolidayScope,
    /// The UF or the city/UF.
    pub place: &'a str,
}

/// Adds a holiday to the calendar.
pub async fn add_holiday(
    db: &Db,
    h: &NewHoliday<'_>,
    actor: &Actor,
    now_ms: i64,
) -> Result<HolidayId, ConfigError> {
    in_transaction(db, async |tx| {
        let id =
            store::dunning::insert_holiday(tx, h.date, h.name, h.yearly, h.scope, h.place, now_ms)
                .await?;
        Audit::of("holiday.add", format!("holiday:{id}"))
            .after(format!("{} {}", h.date.trim(), h.name.trim()))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Removes a holiday; false when there is none.
pub async fn remove_holiday(
    db: &Db,
    id: HolidayId,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::dunning::delete_holiday(tx, id).await?;
        if removed {
            Audit::of("holiday.remove", format!("holiday:{id}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// Which letters waiting for review [`approve_letters`] approves.
#[derive(Debug, Clone, Copy)]
pub enum Letters<'a> {
    /// Every pending one.
    All,
    /// These, all of which must be pending.
    Ids(&'a [LetterId]),
}

/// What became of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Approved and queued: how many.
    Approved(usize),
    /// This letter is not waiting for review: nothing changed.
    NotPending(LetterId),
}

/// Approves letters waiting for review and queues them, all or none, each audited
/// (`letter.approve`); `by` is who decided, as the review records it.
pub async fn approve_letters(
    db: &Db,
    which: Letters<'_>,
    by: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Approval> {
    let mut tx = db.begin().await?;
    let pending = store::dunning::list_letter_reviews(&mut tx, Some("pending")).await?;
    let chosen: Vec<_> = match which {
        Letters::All => pending,
        Letters::Ids(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match pending.iter().find(|l| l.id == *id) {
                    Some(l) => out.push(l.clone()),
                    None => return Ok(Approval::NotPending(*id)),
                }
            }
            out
        }
    };
    let n = crate::dunning::approve_letters(&mut tx, &chosen, by, now_ms).await?;
    for l in &chosen {
        Audit::of("letter.approve", format!("letter:{}", l.id))
            .before("pending")
            .after("approved")
            .write(&mut tx, actor, now_ms)
            .await?;
    }
    tx.commit().await?;
    Ok(Approval::Approved(n))
}

/// Rejects letters waiting for review, all or none, each audited (`letter.reject`); the
/// first that is not pending refuses them all.
pub async fn reject_letters(
    db: &Db,
    ids: &[LetterId],
    by: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Approval> {
    let mut tx = db.begin().await?;
    for id in ids {
        if !store::dunning::decide_letter(&mut tx, *id, false, by, now_ms).await? {
            return Ok(Approval::NotPending(*id));
        }
        Audit::of("letter.reject", format!("letter:{id}"))
            .before("pending")
            .after("rejected")
            .write(&mut tx, actor, now_ms)
            .await?;
    }
    tx.commit().await?;
    Ok(Approval::Approved(ids.len()))
}

/// Whose dunning [`pause_dunning`] pauses, by external id.
#[derive(Debug, Clone, Copy)]
pub enum PauseOf<'a> {
    /// Every invoice of the customer.
    Customer(&'a str),
    /// One invoice.
    Invoice(&'a str),
}

/// Pauses the dunning of a customer or an invoice through `until` (a payment promise), with
/// its reason; `by` is who set it. Audited as `customer.pause` or `invoice.pause`. The pause's id, or `None` when there is no such customer or
/// invoice.
pub async fn pause_dunning(
    db: &Db,
    of: PauseOf<'_>,
    until: jiff::civil::Date,
    reason: &str,
    by: &str,
    actor: &Actor,
    now_ms: i64,
) -> Result<Option<PauseId>, ConfigError> {
    in_transaction(db, async |tx| {
        let (target, action, entity) = match of {
            PauseOf::Customer(ext) => {
                match store::parties::find_customer_by_external_id(tx, ext.trim()).await? {
                    Some(c) => (
                        PauseTarget::Customer(c.id),
                        "customer.pause",
                        format!("customer:{}", c.external_id),
                    ),
                    None => return Ok(None),
                }
            }
            PauseOf::Invoice(ext) => {
                match store::invoices::find_invoice_by_external_id(tx, ext.trim()).await? {
                    Some(i) => (
                        PauseTarget::Invoice(i.id),
                        "invoice.pause",
                        format!("invoice:{}", i.external_id),
                    ),
                    None => return Ok(None),
                }
            }
        };
        let id = store::dunning::insert_pause(tx, target, until, reason, by, now_ms).await?;
        Audit::of(action, entity)
            .after(format!("until {until}"))
            .write(tx, actor, now_ms)
            .await?;
        Ok(Some(id))
    })
    .await
}
