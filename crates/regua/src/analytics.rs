//! Recovery analytics' refresh (docs/analytics.md): read the facts of a range of days, compute
//! the daily aggregates (`domain::analytics`), replace those days' rows in one transaction.
//! The scheduler runs it once a day over the last [`WINDOW_DAYS`] days — every figure of an
//! older day is final by then (payments count up to 90 days after a notice) —, and
//! `regua analytics refresh --from` rebuilds any older range.

use jiff::civil::Date;

use crate::domain::Clock;
use crate::store::{self, Db};

/// Days the daily refresh recomputes, ending today: the 90 days a payment is still attributed
/// to a notice, and a margin.
pub const WINDOW_DAYS: i64 = 100;

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
    /// Invoices read.
    pub invoices: usize,
    /// Sent notices read.
    pub notices: usize,
    /// Aggregate rows written.
    pub rows: usize,
}

/// The daily window ending `today`.
pub fn window(today: Date) -> (Date, Date) {
    let from = today
        .checked_sub(jiff::Span::new().days(WINDOW_DAYS - 1))
        .unwrap_or(today);
    (from, today)
}

/// Recomputes the aggregates of `from ..= to`.
pub async fn refresh(
    db: &Db,
    clock: &Clock,
    from: Date,
    to: Date,
    actor: &str,
) -> anyhow::Result<Refreshed> {
    anyhow::ensure!(from <= to, "--from must not be after --to");
    let today = clock.today();
    let mut conn = db.pool.acquire().await?;
    let (invoices, notices, bands) =
        store::analytics::facts(&mut conn, from, to, clock.time_zone()).await?;
    drop(conn);
    let a = crate::domain::analytics::aggregate(&invoices, &notices, &bands, from, to, today);
    let rows = a.steps.len()
        + a.days.len()
        + a.base.len()
        + a.overdue.len()
        + a.cohorts.len()
        + a.curve.len();
    let mut tx = db.begin().await?;
    store::analytics::replace(&mut tx, from, to, &a, actor, clock.now_millis()).await?;
    tx.commit().await?;
    Ok(Refreshed {
        from,
        to,
        invoices: invoices.len(),
        notices: notices.len(),
        rows,
    })
}
