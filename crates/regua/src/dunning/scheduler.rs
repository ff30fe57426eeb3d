//! The scheduler inside `regua serve`: every tick it reads the routines and the calendar, and
//! runs each routine that is due (its weekday, past its time of day, not yet completed today,
//! not a holiday unless it runs on holidays). A routine whose time passed while the server was
//! down runs when it comes back the same day; whole days missed are caught up by the planner's
//! window.
//!
//! Several servers on one database: only the one holding the `scheduler` lease ticks; it
//! renews the lease at every tick and every third of it while a run lasts, and gives it back
//! when it stops, so another takes over at once (or [`LEASE`] after a crash). Were two ever to
//! run a routine anyway, the notices' dedup keys would keep that to one message each.

use std::collections::HashSet;
use std::time::Duration;

use jiff::civil::Date;

use super::{Due, RunRequest, Trigger, due_now};
use crate::domain::Clock;
use crate::store::{self, Db};

/// What one tick did for a routine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// Ran for the date; notices new in the outbox.
    Ran {
        /// The routine's name.
        routine: String,
        /// The date it ran as.
        date: Date,
        /// Notices enqueued.
        enqueued: u64,
    },
    /// Not run: a holiday (reported once per routine and day).
    Holiday {
        /// The routine's name.
        routine: String,
        /// The holiday's name.
        holiday: String,
    },
    /// The run failed (recorded as failed; the next tick tries again).
    Failed {
        /// The routine's name.
        routine: String,
        /// Why.
        error: String,
    },
}

/// How long the scheduler's lease lasts without renewal: how long the other servers wait
/// before taking over from one that died.
pub const LEASE: Duration = Duration::from_secs(10 * 60);

/// The lease's name in the database.
pub const LEASE_NAME: &str = "scheduler";

/// Runs routines on their schedule.
pub struct Scheduler {
    db: Db,
    clock: Clock,
    /// This server's name in the lease.
    owner: String,
    /// How long the lease lasts without renewal.
    lease: Duration,
    /// Whether the last tick held the lease (to log the changes).
    leading: bool,
    holidays_reported: HashSet<(crate::domain::schedule::RoutineId, Date)>,
    /// The last day whose suspension notices were planned (`crate::suspension::plan_day`).
    suspensions_planned: Option<Date>,
    /// The day the suspension clock for non-payment last ran.
    debt_ran: Option<Date>,
    /// The day the recovery analytics were last refreshed by this scheduler.
    analytics_ran: Option<Date>,
}

impl Scheduler {
    /// A scheduler on `db`, reading the time from `clock` (in the ISP's time zone).
    pub fn new(db: Db, clock: Clock) -> Scheduler {
        Scheduler {
            db,
            clock,
            owner: crate::delivery::default_worker_name(),
            lease: LEASE,
            leading: false,
            holidays_reported: HashSet::new(),
            suspensions_planned: None,
            debt_ran: None,
            analytics_ran: None,
        }
    }

    /// The same, naming this server in the lease `owner` (default `hostname:pid`).
    pub fn with_owner(mut self, owner: impl Into<String>) -> Scheduler {
        self.owner = owner.into();
        self
    }

    /// The same, with a lease of another length than [`LEASE`].
    pub fn with_lease(mut self, lease: Duration) -> Scheduler {
        self.lease = lease;
        self
    }

    /// Takes or renews the lease, without logging; `true` when this server holds it.
    async fn take(&self) -> anyhow::Result<bool> {
        let now = self.clock.now_millis();
        let until = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let mut conn = self.db.pool.acquire().await?;
        store::dunning::take_lease(&mut conn, LEASE_NAME, &self.owner, now, until).await
    }

    /// Runs `work` while renewing the lease every third of its length, so that a run longer
    /// than the lease does not let another server start the next one.
    pub async fn renewing<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let keep = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                match self.take().await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(owner = %self.owner, "the scheduler's lease went to another server during a run")
                    }
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot renew the scheduler's lease"
                    ),
                }
            }
        };
        tokio::select! {
            r = work => r,
            () = keep => unreachable!("renews until the work is done"),
        }
    }

    /// Takes or renews the lease; `true` when this server holds it.
    async fn lead(&mut self) -> anyhow::Result<bool> {
        let leading = self.take().await?;
        if leading != self.leading {
            let mut conn = self.db.pool.acquire().await?;
            if leading {
                tracing::info!(owner = %self.owner, "this server's scheduler runs the routines");
            } else {
                let holder = store::dunning::lease_holder(&mut conn, LEASE_NAME).await?;
                tracing::info!(owner = %self.owner, holder = ?holder.map(|h| h.0), "another server's scheduler runs the routines");
            }
            self.leading = leading;
        }
        Ok(leading)
    }

    /// Checks every routine once and runs the due ones, if this server holds the lease
    /// (nothing otherwise).
    pub async fn tick(&mut self) -> anyhow::Result<Vec<TickOutcome>> {
        if !self.lead().await? {
            return Ok(Vec::new());
        }
        let now = self.clock.local_now();
        let today = now.date();
        let mut conn = self.db.pool.acquire().await?;
        let routines = store::dunning::list_routines(&mut conn).await?;
        let calendar = store::dunning::calendar(&mut conn).await?;
        let mut due = Vec::new();
        let mut out = Vec::new();
        for r in routines {
            let ran = store::dunning::routine_ran_on(&mut conn, r.id, today).await?;
            match due_now(&r, now, &calendar, ran) {
                Due::Run(date) => due.push((r, date)),
                Due::Holiday(holiday) => {
                    if self.holidays_reported.insert((r.id, today)) {
                        tracing::info!(routine = %r.name, %holiday, "routine not run: holiday");
                        out.push(TickOutcome::Holiday {
                            routine: r.name,
                            holiday,
                        });
                    }
                }
                Due::No => {}
            }
        }
        drop(conn);
        // Suspension notices do not follow the régua's routines: every day, from 08:00.
        if now.hour() >= crate::suspension::NOTICE_HOUR && self.suspensions_planned != Some(today) {
            match crate::suspension::plan_day(&self.db, &self.clock, today, "routine: suspensões")
                .await
            {
                Ok(_) => self.suspensions_planned = Some(today),
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "suspension notices failed")
                }
            }
        }
        // The suspension clock for non-payment (docs/debt.md): once a day too, after the
        // suspension notices, when it is on.
        // Not on holidays (as the régua's routines); the next day catches up: every step
        // compares dates (≥), so a day skipped delays a move by a day and never skips one.
        if now.hour() >= crate::suspension::NOTICE_HOUR
            && self.debt_ran != Some(today)
            && calendar.holiday(today).is_none()
        {
            match crate::debt::run_day(
                &self.db,
                &self.clock,
                today,
                false,
                "routine: inadimplência",
            )
            .await
            {
                Ok(r) => {
                    self.debt_ran = Some(today);
                    if r.enabled {
                        tracing::info!(moves = r.moves.len(), error = ?r.error, "debt clock ran");
                    }
                }
                Err(e) => tracing::error!(error = format!("{e:#}"), "debt clock failed"),
            }
        }
        // The recovery analytics (docs/analytics.md): once a day, holidays too (it only reads
        // the day's facts), after the morning's notices went out.
        if now.hour() >= crate::suspension::NOTICE_HOUR && self.analytics_ran != Some(today) {
            let (from, to) = crate::analytics::window(today);
            match self
                .renewing(crate::analytics::refresh(
                    &self.db,
                    &self.clock,
                    from,
                    to,
                    "routine: resultados",
                ))
                .await
            {
                Ok(r) => {
                    self.analytics_ran = Some(today);
                    tracing::info!(rows = r.rows, notices = r.notices, "analytics refreshed");
                }
                Err(e) => tracing::error!(error = format!("{e:#}"), "analytics refresh failed"),
            }
        }
        for (r, date) in due {
            // A fresh lease for each run: a long one must not let another server start the next.
            if !self.lead().await? {
                break;
            }
            let req = RunRequest {
                date,
                dry_run: false,
                actor: crate::domain::Actor::Routine(r.name.clone()).to_string(),
                routine: Some(r.clone()),
                trigger: Trigger::Schedule,
                emission: None,
                detail: false,
            };
            match self.renewing(super::run(&self.db, &self.clock, &req)).await {
                Ok(report) => out.push(TickOutcome::Ran {
                    routine: r.name,
                    date,
                    enqueued: report.enqueued,
                }),
                Err(e) => out.push(TickOutcome::Failed {
                    routine: r.name,
                    error: format!("{e:#}"),
                }),
            }
        }
        Ok(out)
    }

    /// Ticks every `every` until `shutdown` resolves.
    pub async fn run(mut self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.tick().await {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o {
                            TickOutcome::Ran {
                                routine,
                                date,
                                enqueued,
                            } => tracing::info!(%routine, %date, enqueued, "routine ran"),
                            TickOutcome::Failed { routine, error } => {
                                tracing::error!(%routine, %error, "routine failed")
                            }
                            TickOutcome::Holiday { .. } => {}
                        }
                    }
                }
                Err(e) => tracing::error!(error = format!("{e:#}"), "scheduler tick failed"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        if self.leading {
            let released = async {
                let mut conn = self.db.pool.acquire().await?;
                store::dunning::release_lease(&mut conn, LEASE_NAME, &self.owner).await
            };
            if let Err(e) = released.await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot release the scheduler's lease"
                );
            }
        }
    }
}
