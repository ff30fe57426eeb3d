//! Dunning's stored configuration and history: overdue bands, routines and their runs, the
//! ISP's holidays, pauses, the letters waiting for review, and the reads that feed the planner.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;

use crate::domain::rules::{LetterId, PauseId, RunId};
use crate::domain::schedule::{HolidayId, RoutineId};
use jiff::civil::Date;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::bulk::{Bulk, Insert, Ty};
use super::parties::ConfigError;
use crate::domain::Purpose;
use crate::domain::delivery::AccountId;
use crate::domain::rules::{OverdueBand, PlanInvoice};
use crate::domain::schedule::{
    HolidayScope, IspHoliday, Routine, Task, format_weekdays, parse_time_of_day, parse_weekdays,
};
use crate::domain::{ContractId, CustomerId, DeliveryType, InvoiceId, LayoutId, parse_date};

/// Setting: how many days a run catches up at most (default 7).
pub const SETTING_WINDOW_DAYS: &str = "dunning_window_days";
/// Setting: `yes` makes "ponto facultativo" days holidays for routines.
pub const SETTING_OPTIONAL_HOLIDAYS: &str = "routine_optional_holidays";

fn date_of(s: &str) -> anyhow::Result<Date> {
    s.parse::<Date>()
        .with_context(|| format!("bad stored date {s:?}"))
}

// ---------------------------------------------------------------------------------------------
// Overdue bands

/// Adds a band of `from..=to` days overdue. `layout` names a layout (default: the installed
/// "Faixa de atraso"); `letter` makes it `email_and_letter`. Refuses `from` < 1, `to` < `from`,
/// and a band that overlaps another.
pub async fn insert_band(
    conn: &mut AnyConnection,
    from: u16,
    to: u16,
    layout: Option<&str>,
    letter: bool,
    now_ms: i64,
) -> Result<crate::domain::rules::BandId, ConfigError> {
    let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
    if from < 1 {
        return invalid("from", "a band starts at 1 day overdue or later".into());
    }
    if to < from {
        return invalid("to", format!("must be at least the band's start ({from})"));
    }
    if to > 3650 {
        return invalid("to", "at most 3650 days".into());
    }
    if let Some(other) = list_bands(conn)
        .await?
        .into_iter()
        .find(|b| from <= b.to_days && b.from_days <= to)
    {
        return invalid(
            "from",
            format!(
                "{from}-{to} overlaps the band {}-{} (bands may not overlap)",
                other.from_days, other.to_days
            ),
        );
    }
    let layout_id =
        super::layouts::layout_named_or_default(conn, layout, Purpose::OverdueBand).await?;
    let row = sqlx::query(
        "INSERT INTO overdue_bands (from_days, to_days, layout_id, generation, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(i64::from(from))
    .bind(i64::from(to))
    .bind(layout_id.0)
    .bind(if letter { "email_and_letter" } else { "email" })
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .context("cannot insert the band")?;
    Ok(crate::domain::rules::BandId(
        row.try_get(0).context("band id")?,
    ))
}

/// Sets the channels a band goes by.
pub async fn set_band_channels(
    conn: &mut AnyConnection,
    id: crate::domain::rules::BandId,
    plan: &crate::domain::rules::ChannelPlan,
) -> anyhow::Result<()> {
    super::rules::set_channels(conn, "overdue_bands", id.0, plan).await
}

/// Every band, by days overdue.
pub async fn list_bands(conn: &mut AnyConnection) -> anyhow::Result<Vec<OverdueBand>> {
    sqlx::query(
        "SELECT id, from_days, to_days, layout_id, generation, channels, channel_mode FROM overdue_bands ORDER BY from_days",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(OverdueBand {
            id: crate::domain::rules::BandId(r.try_get(0)?),
            from_days: u16::try_from(r.try_get::<i64, _>(1)?).unwrap_or(u16::MAX),
            to_days: u16::try_from(r.try_get::<i64, _>(2)?).unwrap_or(u16::MAX),
            layout: LayoutId(r.try_get(3)?),
            letter: r.try_get::<String, _>(4)? == "email_and_letter",
            channels: crate::domain::rules::ChannelPlan::parse(
                &r.try_get::<String, _>(5)?,
                &r.try_get::<String, _>(6)?,
            )
            .map_err(anyhow::Error::msg)?,
        })
    })
    .collect()
}

/// Removes a band; false when there is none with that id. A band whose letters were reviewed
/// stays (the review names it) and the removal is refused with the reason.
pub async fn delete_band(
    conn: &mut AnyConnection,
    id: crate::domain::rules::BandId,
) -> Result<bool, ConfigError> {
    let reviews: i64 = sqlx::query("SELECT COUNT(*) FROM letter_reviews WHERE band_id = $1")
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(anyhow::Error::from)?
        .try_get(0)
        .map_err(anyhow::Error::from)?;
    if reviews > 0 {
        return Err(ConfigError::Invalid {
            field: "id",
            reason: format!("band {id} has {reviews} letter(s) in the review history"),
        });
    }
    Ok(sqlx::query("DELETE FROM overdue_bands WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(anyhow::Error::from)?
        .rows_affected()
        == 1)
}

// ---------------------------------------------------------------------------------------------
// Routines and runs

/// Adds a routine. `weekdays` as [`parse_weekdays`] reads it, `time` as `HH:MM:SS`.
pub async fn insert_routine(
    conn: &mut AnyConnection,
    name: &str,
    task: Task,
    weekdays: &str,
    time: &str,
    run_on_holidays: bool,
    now_ms: i64,
) -> Result<RoutineId, ConfigError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "is empty".into(),
        });
    }
    let days = parse_weekdays(weekdays).map_err(|reason| ConfigError::Invalid {
        field: "weekdays",
        reason,
    })?;
    let time = parse_time_of_day(time).map_err(|reason| ConfigError::Invalid {
        field: "time",
        reason,
    })?;
    let res = sqlx::query(
        "INSERT INTO routines (name, task, weekdays, time_of_day, run_on_holidays, active, created_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
    )
    .bind(name)
    .bind(task.as_str())
    .bind(format_weekdays(&days))
    .bind(time.strftime("%H:%M:%S").to_string())
    .bind(i64::from(run_on_holidays))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(RoutineId(row.try_get(0).context("routine id")?)),
        Err(e)
            if super::is_constraint(&e, "routines_name_key")
                || super::is_constraint(&e, "routines.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "routine",
                name: name.to_string(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert the routine")
            .into()),
    }
}

/// Every active routine, by time of day.
pub async fn list_routines(conn: &mut AnyConnection) -> anyhow::Result<Vec<Routine>> {
    sqlx::query(
        "SELECT id, name, task, weekdays, time_of_day, run_on_holidays, active FROM routines
         WHERE active = 1 ORDER BY time_of_day, id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Routine {
            id: RoutineId(r.try_get(0)?),
            name: r.try_get(1)?,
            task: r
                .try_get::<String, _>(2)?
                .parse()
                .map_err(anyhow::Error::msg)?,
            weekdays: parse_weekdays(&r.try_get::<String, _>(3)?).map_err(anyhow::Error::msg)?,
            time: parse_time_of_day(&r.try_get::<String, _>(4)?).map_err(anyhow::Error::msg)?,
            run_on_holidays: r.try_get::<i64, _>(5)? != 0,
            active: r.try_get::<i64, _>(6)? != 0,
        })
    })
    .collect()
}

/// Deactivates a routine by name (its runs keep naming it); false when there is none.
pub async fn deactivate_routine(conn: &mut AnyConnection, name: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("UPDATE routines SET active = 0 WHERE name = $1 AND active = 1")
            .bind(name)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A recorded routine run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutineRun {
    /// Key.
    pub id: crate::domain::rules::RunId,
    /// The routine (none for a run by hand without one).
    pub routine_id: Option<crate::domain::schedule::RoutineId>,
    /// The date it ran as.
    pub date: Date,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// `completed` or `failed`.
    pub status: String,
    /// Notices planned.
    pub planned: i64,
    /// Notices enqueued (new in the outbox).
    pub enqueued: i64,
    /// Skips recorded.
    pub skipped: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started and finished (ms).
    pub started_at: i64,
    /// When it finished (ms).
    pub finished_at: Option<i64>,
}

/// Records a finished run (in the transaction that enqueued its notices, for a completed one).
#[allow(clippy::too_many_arguments)]
pub async fn record_run(
    conn: &mut AnyConnection,
    routine_id: Option<RoutineId>,
    date: Date,
    trigger: &str,
    outcome: Result<(i64, i64, i64), &str>,
    started_ms: i64,
    finished_ms: i64,
) -> anyhow::Result<i64> {
    let (status, (planned, enqueued, skipped), error) = match outcome {
        Ok(counts) => ("completed", counts, None),
        Err(e) => ("failed", (0, 0, 0), Some(e)),
    };
    let row = sqlx::query(
        "INSERT INTO routine_runs (routine_id, run_date, trigger, status, planned, enqueued, skipped, error, started_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(routine_id.map(|r| r.0))
    .bind(date.to_string())
    .bind(trigger)
    .bind(status)
    .bind(planned)
    .bind(enqueued)
    .bind(skipped)
    .bind(error)
    .bind(started_ms)
    .bind(finished_ms)
    .fetch_one(&mut *conn)
    .await
    .context("cannot record the run")?;
    Ok(row.try_get(0)?)
}

/// The date of the last completed run before `date`: where the next run's catch-up starts.
pub async fn last_completed_run_before(
    conn: &mut AnyConnection,
    date: Date,
) -> anyhow::Result<Option<Date>> {
    let row = sqlx::query(
        "SELECT MAX(run_date) FROM routine_runs WHERE status = 'completed' AND run_date < $1",
    )
    .bind(date.to_string())
    .fetch_one(&mut *conn)
    .await?;
    row.try_get::<Option<String>, _>(0)?
        .map(|s| date_of(&s))
        .transpose()
}

/// Whether `routine` has a completed run for `date` (the scheduler runs a routine once a day).
pub async fn routine_ran_on(
    conn: &mut AnyConnection,
    routine: RoutineId,
    date: Date,
) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM routine_runs WHERE routine_id = $1 AND run_date = $2 AND status = 'completed'",
    )
    .bind(routine.0)
    .bind(date.to_string())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok(n > 0)
}

/// The latest runs, newest first.
pub async fn list_runs(conn: &mut AnyConnection, limit: i64) -> anyhow::Result<Vec<RoutineRun>> {
    sqlx::query(
        "SELECT id, routine_id, run_date, trigger, status, planned, enqueued, skipped, error, started_at, finished_at
         FROM routine_runs ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(RoutineRun {
            id: RunId(r.try_get(0)?),
            routine_id: r.try_get::<Option<i64>, _>(1)?.map(RoutineId),
            date: date_of(&r.try_get::<String, _>(2)?)?,
            trigger: r.try_get(3)?,
            status: r.try_get(4)?,
            planned: r.try_get(5)?,
            enqueued: r.try_get(6)?,
            skipped: r.try_get(7)?,
            error: r.try_get(8)?,
            started_at: r.try_get(9)?,
            finished_at: r.try_get(10)?,
        })
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Holidays

/// Adds a holiday of the ISP. `place` is required for state and city holidays.
pub async fn insert_holiday(
    conn: &mut AnyConnection,
    date: &str,
    name: &str,
    yearly: bool,
    scope: HolidayScope,
    place: &str,
    now_ms: i64,
) -> Result<HolidayId, ConfigError> {
    let date = parse_date(date).map_err(|reason| ConfigError::Invalid {
        field: "date",
        reason,
    })?;
    if name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "is empty".into(),
        });
    }
    if scope != HolidayScope::National && place.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "place",
            reason: format!(
                "a {} holiday names its place (\"SP\", \"Campinas/SP\")",
                scope.as_str()
            ),
        });
    }
    let row = sqlx::query(
        "INSERT INTO holidays (holiday_on, name, yearly, scope, place, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(date.to_string())
    .bind(name.trim())
    .bind(i64::from(yearly))
    .bind(scope.as_str())
    .bind(place.trim())
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .context("cannot insert the holiday")?;
    Ok(HolidayId(row.try_get(0).context("holiday id")?))
}

/// Every holiday the ISP added, by date.
pub async fn list_holidays(conn: &mut AnyConnection) -> anyhow::Result<Vec<IspHoliday>> {
    sqlx::query(
        "SELECT id, holiday_on, name, yearly, scope, place FROM holidays ORDER BY holiday_on, id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(IspHoliday {
            id: HolidayId(r.try_get(0)?),
            date: date_of(&r.try_get::<String, _>(1)?)?,
            name: r.try_get(2)?,
            yearly: r.try_get::<i64, _>(3)? != 0,
            scope: r
                .try_get::<String, _>(4)?
                .parse()
                .map_err(anyhow::Error::msg)?,
            place: r.try_get(5)?,
        })
    })
    .collect()
}

/// Removes a holiday; false when there is none with that id.
pub async fn delete_holiday(conn: &mut AnyConnection, id: HolidayId) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM holidays WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

/// The routines' calendar: the ISP's holidays and whether optional days count.
pub async fn calendar(
    conn: &mut AnyConnection,
) -> anyhow::Result<crate::domain::schedule::Calendar> {
    Ok(crate::domain::schedule::Calendar {
        isp: list_holidays(conn).await?,
        optional_are_holidays: super::parties::get_setting(conn, SETTING_OPTIONAL_HOLIDAYS)
            .await?
            .is_some_and(|v| matches!(v.trim(), "yes" | "sim" | "true" | "1")),
    })
}

/// The catch-up window in days (setting `dunning_window_days`, default 7, at most 60).
pub async fn window_days(conn: &mut AnyConnection) -> anyhow::Result<u16> {
    match super::parties::get_setting(conn, SETTING_WINDOW_DAYS).await? {
        None => Ok(crate::domain::rules::DEFAULT_WINDOW_DAYS),
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|d| *d <= 60)
            .with_context(|| {
                format!("setting {SETTING_WINDOW_DAYS} must be 0 to 60 days (is {v:?})")
            }),
    }
}

// ---------------------------------------------------------------------------------------------
// Pauses

/// What a pause applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseTarget {
    /// Every invoice of a customer.
    Customer(CustomerId),
    /// One invoice.
    Invoice(InvoiceId),
}

/// A pause ("promessa de pagamento").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// Key.
    pub id: crate::domain::rules::PauseId,
    /// Customer or invoice.
    pub target: PauseTarget,
    /// Through this date (inclusive).
    pub until: Date,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When (ms).
    pub created_at: i64,
}

/// Pauses dunning for a customer or an invoice through `until`.
pub async fn insert_pause(
    conn: &mut AnyConnection,
    target: PauseTarget,
    until: Date,
    reason: &str,
    set_by: &str,
    now_ms: i64,
) -> Result<PauseId, ConfigError> {
    if reason.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "reason",
            reason: "say why dunning is paused (e.g. the promise of payment)".into(),
        });
    }
    let (customer, invoice) = match target {
        PauseTarget::Customer(c) => (Some(c.0), None),
        PauseTarget::Invoice(i) => (None, Some(i.0)),
    };
    let row = sqlx::query(
        "INSERT INTO pauses (customer_id, invoice_id, until, reason, set_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(customer)
    .bind(invoice)
    .bind(until.to_string())
    .bind(reason.trim())
    .bind(set_by)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .context("cannot insert the pause")?;
    Ok(PauseId(row.try_get(0).context("pause id")?))
}

/// The pauses still in force on `date` (until ≥ date), newest first.
pub async fn list_pauses(conn: &mut AnyConnection, date: Date) -> anyhow::Result<Vec<Pause>> {
    sqlx::query(
        "SELECT id, customer_id, invoice_id, until, reason, set_by, created_at FROM pauses
         WHERE until >= $1 ORDER BY id DESC",
    )
    .bind(date.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(pause_from_row)
    .collect()
}

/// Every pause of a customer or of its invoices, newest first (the customer's timeline).
pub async fn list_pauses_of_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
) -> anyhow::Result<Vec<Pause>> {
    sqlx::query(
        "SELECT id, customer_id, invoice_id, until, reason, set_by, created_at FROM pauses
         WHERE customer_id = $1 OR invoice_id IN (SELECT id FROM invoices WHERE customer_id = $1)
         ORDER BY id DESC",
    )
    .bind(customer.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(pause_from_row)
    .collect()
}

fn pause_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<Pause> {
    let target = match (
        r.try_get::<Option<i64>, _>(1)?,
        r.try_get::<Option<i64>, _>(2)?,
    ) {
        (Some(c), _) => PauseTarget::Customer(CustomerId(c)),
        (None, Some(i)) => PauseTarget::Invoice(InvoiceId(i)),
        (None, None) => anyhow::bail!("pause without a target"),
    };
    Ok(Pause {
        id: PauseId(r.try_get(0)?),
        target,
        until: date_of(&r.try_get::<String, _>(3)?)?,
        reason: r.try_get(4)?,
        set_by: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Planner input

/// What a run needs of an invoice besides the planner's view: the names it prints and the
/// address it enqueues to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRef {
    /// The invoice's external id.
    pub invoice: String,
    /// The customer's external id.
    pub customer: String,
    /// The customer's e-mail on file.
    pub email: Option<String>,
    /// The customer's mobile phone on file (E.164 digits).
    pub phone: Option<String>,
    /// The contract.
    pub contract: ContractId,
}

/// Filters for manual emission and the run's read.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Due on or after.
    pub due_from: Option<Date>,
    /// Due on or before.
    pub due_to: Option<Date>,
    /// Issued on or after.
    pub issued_from: Option<Date>,
    /// Issued on or before.
    pub issued_to: Option<Date>,
    /// Billing method by name.
    pub method: Option<i64>,
    /// Customer.
    pub customer: Option<CustomerId>,
    /// Open invoices only.
    pub open_only: bool,
}

/// The pauses in force on `today`, by customer and by invoice (the latest `until` of each).
#[derive(Debug, Clone, Default)]
pub struct PauseIndex {
    by_customer: HashMap<CustomerId, Date>,
    by_invoice: HashMap<InvoiceId, Date>,
}

impl PauseIndex {
    /// Reads the pauses in force on `today`.
    pub async fn load(conn: &mut AnyConnection, today: Date) -> anyhow::Result<PauseIndex> {
        let mut idx = PauseIndex::default();
        for p in list_pauses(conn, today).await? {
            let slot = match p.target {
                PauseTarget::Customer(c) => idx.by_customer.entry(c).or_insert(p.until),
                PauseTarget::Invoice(i) => idx.by_invoice.entry(i).or_insert(p.until),
            };
            *slot = (*slot).max(p.until);
        }
        Ok(idx)
    }

    /// Through when an invoice (or its customer) is paused, if at all.
    pub fn until(&self, invoice: InvoiceId, customer: CustomerId) -> Option<Date> {
        match (
            self.by_invoice.get(&invoice),
            self.by_customer.get(&customer),
        ) {
            (Some(a), Some(b)) => Some(*a.max(b)),
            (a, b) => a.or(b).copied(),
        }
    }
}

/// One page of the invoices a run considers (ids after `after`, in id order, at most `limit`),
/// with the pauses applied: one query over invoices and customers. An empty page is the end.
pub async fn plan_invoices_page(
    conn: &mut AnyConnection,
    filter: &InvoiceFilter,
    pauses: &PauseIndex,
    after: InvoiceId,
    limit: i64,
) -> anyhow::Result<(Vec<PlanInvoice>, Vec<InvoiceRef>)> {
    let mut conds = vec!["i.id > $1".to_string()];
    let mut binds: Vec<String> = Vec::new();
    let mut push = |sql: &str, v: String| {
        binds.push(v);
        conds.push(sql.replace("?", &format!("${}", binds.len() + 1)));
    };
    if let Some(d) = filter.due_from {
        push("i.due_date >= ?", d.to_string());
    }
    if let Some(d) = filter.due_to {
        push("i.due_date <= ?", d.to_string());
    }
    if let Some(d) = filter.issued_from {
        push("i.issue_date >= ?", d.to_string());
    }
    if let Some(d) = filter.issued_to {
        push("i.issue_date <= ?", d.to_string());
    }
    if filter.open_only {
        conds.push("i.status = 'open'".into());
    }
    // Integers: formatted into the SQL, never user text.
    if let Some(m) = filter.method {
        conds.push(format!("i.billing_method_id = {m}"));
    }
    if let Some(c) = filter.customer {
        conds.push(format!("i.customer_id = {}", c.0));
    }
    let sql = format!(
        "SELECT i.id, i.customer_id, i.billing_method_id, i.due_date, i.status, i.delivery_type, c.email,
            i.external_id, c.external_id, i.contract_id, c.mobile_phone,
            CASE WHEN EXISTS (SELECT 1 FROM portal_devices d WHERE d.document = c.document) THEN 1 ELSE 0 END AS has_device
         FROM invoices i JOIN customers c ON c.id = i.customer_id
         WHERE {} ORDER BY i.id LIMIT {limit}",
        conds.join(" AND ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(after.0);
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut plan = Vec::with_capacity(rows.len());
    let mut refs = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = InvoiceId(r.try_get(0)?);
        let customer = CustomerId(r.try_get(1)?);
        let email: Option<String> = r.try_get(6)?;
        let email = email.filter(|e| !e.trim().is_empty());
        let phone: Option<String> = r.try_get(10)?;
        let phone = phone.filter(|p| !p.trim().is_empty());
        plan.push(PlanInvoice {
            id,
            customer,
            method: crate::domain::BillingMethodId(r.try_get(2)?),
            due: date_of(&r.try_get::<String, _>(3)?)?,
            open: r.try_get::<String, _>(4)? == "open",
            delivery: if r.try_get::<String, _>(5)? == "printed" {
                DeliveryType::Printed
            } else {
                DeliveryType::Email
            },
            has_email: email.is_some(),
            has_phone: phone.is_some(),
            has_device: r.try_get::<i64, _>(11)? != 0,
            paused_until: pauses.until(id, customer),
        });
        refs.push(InvoiceRef {
            invoice: r.try_get(7)?,
            customer: r.try_get(8)?,
            email,
            phone,
            contract: ContractId(r.try_get(9)?),
        });
    }
    Ok((plan, refs))
}

/// The dedup keys of the régua's notices (its rules' and bands') for these invoices already in
/// the outbox or the letter review queue, as the planner compares them.
pub async fn dunning_keys(
    conn: &mut AnyConnection,
    invoices: &[InvoiceId],
) -> anyhow::Result<HashSet<String>> {
    use crate::domain::Purpose;
    let ids: Vec<i64> = invoices.iter().map(|i| i.0).collect();
    let purposes = [
        Purpose::ReminderBeforeDue,
        Purpose::DueToday,
        Purpose::ReminderAfterDue,
        Purpose::OverdueBand,
    ]
    .map(|p| format!("'{}'", p.as_str()))
    .join(", ");
    let mut keys = HashSet::new();
    for sql in [
        format!(
            "SELECT dedup_key FROM notices WHERE invoice_id IN ({{ids}}) AND purpose IN ({purposes})"
        ),
        "SELECT dedup_key FROM letter_reviews WHERE invoice_id IN ({ids})".to_string(),
    ] {
        keys.extend(
            super::fetch_by_ids(conn, &sql, &ids, |r| Ok(r.try_get::<String, _>(0)?)).await?,
        );
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------------------------
// Batched enqueue

static NOTICE_INVOICES_INSERT: Insert = Insert {
    table: "notice_invoices",
    columns: &[("notice_id", Ty::Int), ("invoice_id", Ty::Int)],
    tail: "ON CONFLICT DO NOTHING",
    returning: &[],
};

/// Ties a notice to the invoices it carries (a generation message with several boletos).
pub async fn insert_notice_invoices(
    conn: &mut AnyConnection,
    notice: crate::domain::delivery::NoticeId,
    invoices: &[InvoiceId],
) -> anyhow::Result<()> {
    let sql = NOTICE_INVOICES_INSERT.sqlite_sql();
    for inv in invoices {
        NOTICE_INVOICES_INSERT
            .bind_one(
                sqlx::query(AssertSqlSafe(sql.as_str())),
                vec![notice.0.into(), inv.0.into()],
            )
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// [`insert_notice_invoices`] for many notices, in the bulk transaction.
pub async fn link_notice_invoices(
    bulk: &mut Bulk,
    links: &[(crate::domain::delivery::NoticeId, InvoiceId)],
) -> anyhow::Result<()> {
    bulk.insert_each(&NOTICE_INVOICES_INSERT, links, |(n, i)| {
        Ok(vec![n.0.into(), i.0.into()])
    })
    .await?;
    Ok(())
}

/// The invoices of the given notices that carry several, by notice.
pub async fn notice_invoices(
    conn: &mut AnyConnection,
    notices: &[crate::domain::delivery::NoticeId],
) -> anyhow::Result<HashMap<crate::domain::delivery::NoticeId, Vec<InvoiceId>>> {
    let ids: Vec<i64> = notices.iter().map(|n| n.0).collect();
    let pairs = super::fetch_by_ids(
        conn,
        "SELECT notice_id, invoice_id FROM notice_invoices WHERE notice_id IN ({ids}) ORDER BY notice_id, invoice_id",
        &ids,
        |r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?)),
    )
    .await?;
    let mut out: HashMap<_, Vec<InvoiceId>> = HashMap::new();
    for (n, i) in pairs {
        out.entry(crate::domain::delivery::NoticeId(n))
            .or_default()
            .push(InvoiceId(i));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Letter reviews

/// A letter waiting for (or past) review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterReview {
    /// Key.
    pub id: crate::domain::rules::LetterId,
    /// The notice's dedup key (`band:<invoice>:<band>`).
    pub dedup_key: String,
    /// The invoice.
    pub invoice: InvoiceId,
    /// The band.
    pub band: i64,
    /// The letter's layout.
    pub layout: LayoutId,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// When it was queued for review (ms).
    pub created_at: i64,
}

static LETTER_REVIEWS_INSERT: Insert = Insert {
    table: "letter_reviews",
    columns: &[
        ("dedup_key", Ty::Text),
        ("invoice_id", Ty::Int),
        ("band_id", Ty::Int),
        ("layout_id", Ty::Int),
        ("status", Ty::Text),
        ("created_at", Ty::Int),
    ],
    tail: "ON CONFLICT (dedup_key) DO NOTHING",
    returning: &[],
};

/// Queues letters for review in the bulk transaction (a key that exists is left alone);
/// returns how many are new.
pub async fn insert_letter_reviews(
    bulk: &mut Bulk,
    letters: &[(String, InvoiceId, i64, LayoutId)],
    now_ms: i64,
) -> anyhow::Result<u64> {
    Ok(bulk
        .insert_each(
            &LETTER_REVIEWS_INSERT,
            letters,
            |(key, invoice, band, layout)| {
                Ok(vec![
                    key.as_str().into(),
                    invoice.0.into(),
                    (*band).into(),
                    layout.0.into(),
                    "pending".into(),
                    now_ms.into(),
                ])
            },
        )
        .await?
        .count)
}

/// Letters by status (all when `None`), oldest first.
pub async fn list_letter_reviews(
    conn: &mut AnyConnection,
    status: Option<&str>,
) -> anyhow::Result<Vec<LetterReview>> {
    sqlx::query(
        "SELECT id, dedup_key, invoice_id, band_id, layout_id, status, created_at FROM letter_reviews
         WHERE ($1 IS NULL OR status = $1) ORDER BY id",
    )
    .bind(status)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(LetterReview {
            id: LetterId(r.try_get(0)?),
            dedup_key: r.try_get(1)?,
            invoice: InvoiceId(r.try_get(2)?),
            band: r.try_get(3)?,
            layout: LayoutId(r.try_get(4)?),
            status: r.try_get(5)?,
            created_at: r.try_get(6)?,
        })
    })
    .collect()
}

/// Marks a pending letter approved or rejected; false when it is not pending (decided already,
/// or no such id), so two operators never both act on one letter.
pub async fn decide_letter(
    conn: &mut AnyConnection,
    id: LetterId,
    approve: bool,
    by: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "UPDATE letter_reviews SET status = $1, decided_at = $2, decided_by = $3 WHERE id = $4 AND status = 'pending'",
    )
    .bind(if approve { "approved" } else { "rejected" })
    .bind(now_ms)
    .bind(by)
    .bind(id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// The hourly and daily use of an account: messages sent or reserved in the last hour and day.
pub async fn account_usage(
    conn: &mut AnyConnection,
    account: AccountId,
    now_ms: i64,
) -> anyhow::Result<crate::domain::send_limits::Usage> {
    use crate::domain::send_limits::{DAY_MS, HOUR_MS, Usage};
    let hour = super::log::account_sends_since(conn, account, now_ms - HOUR_MS).await?;
    let day = super::log::account_sends_since(conn, account, now_ms - DAY_MS).await?;
    Ok(Usage { hour, day })
}

/// Takes or renews the lease `name` for `owner` until `until_ms`. `true` when `owner` holds it
/// now: it was free, had expired by `now_ms`, or was `owner`'s already. One statement, so two
/// processes asking at once cannot both get it.
pub async fn take_lease(
    conn: &mut AnyConnection,
    name: &str,
    owner: &str,
    now_ms: i64,
    until_ms: i64,
) -> anyhow::Result<bool> {
    let row = sqlx::query(
        "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE leases.owner = excluded.owner OR leases.until <= $4
         RETURNING owner",
    )
    .bind(name)
    .bind(owner)
    .bind(until_ms)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await
    .with_context(|| format!("cannot take the lease {name:?}"))?;
    Ok(row.is_some())
}

/// Gives the lease `name` back if `owner` holds it, so another process takes it at once.
pub async fn release_lease(
    conn: &mut AnyConnection,
    name: &str,
    owner: &str,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(owner)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("cannot release the lease {name:?}"))?;
    Ok(())
}

/// Who holds the lease `name` and until when, if anyone ever took it.
pub async fn lease_holder(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<(String, i64)>> {
    let row = sqlx::query("SELECT owner, until FROM leases WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}
