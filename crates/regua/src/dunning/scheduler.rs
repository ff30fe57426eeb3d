//! The scheduler inside `regua serve`: every tick it reads the routines and the calendar, and
//! runs each routine that is due (its weekday, past its time of day, not yet completed today,
//! not a holiday unless it runs on holidays). A routine whose time passed while the server was
//! down runs when it comes back the same day; whole days missed are caught up by the planner's
//! window. Several servers on one PostgreSQL database may both run a routine: the notices'
//! dedup keys keep that to one message each.

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

/// Runs routines on their schedule.
pub struct Scheduler {
    db: Db,
    clock: Clock,
    holidays_reported: HashSet<(i64, Date)>,
    /// The last day whose suspension notices were planned (`crate::suspension::plan_day`).
    suspensions_planned: Option<Date>,
}

impl Scheduler {
    /// A scheduler on `db`, reading the time from `clock` (in the ISP's time zone).
    pub fn new(db: Db, clock: Clock) -> Scheduler {
        Scheduler {
            db,
            clock,
            holidays_reported: HashSet::new(),
            suspensions_planned: None,
        }
    }

    /// Checks every routine once and runs the due ones.
    pub async fn tick(&mut self) -> anyhow::Result<Vec<TickOutcome>> {
        let now = self
            .clock
            .now()
            .to_zoned(self.clock.time_zone().clone())
            .datetime();
        let today = now.date();
        let mut conn = self.db.pool.acquire().await?;
        let routines = store::list_routines(&mut conn).await?;
        let calendar = store::calendar(&mut conn).await?;
        let mut due = Vec::new();
        let mut out = Vec::new();
        for r in routines {
            let ran = store::routine_ran_on(&mut conn, r.id, today).await?;
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
        for (r, date) in due {
            let req = RunRequest {
                date,
                dry_run: false,
                actor: format!("routine: {}", r.name),
                routine: Some(r.clone()),
                trigger: Trigger::Schedule,
                emission: None,
                detail: false,
            };
            match super::run(&self.db, &self.clock, &req).await {
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
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
