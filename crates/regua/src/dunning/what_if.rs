//! The what-if (#25 item 4, docs/analytics.md): before a new rule or band (with its channels)
//! is saved, or one is removed, what the last days would have looked like — the planner replayed over the recorded
//! history, day by day, once with the saved régua and once with the change, and the difference
//! in messages per day and channel set beside each channel's daily capacity and the sends
//! recorded that day.
//!
//! Each replayed day runs [`super::plan`] as the daily routine does (its last run the day
//! before), over the invoices as they stood: issued by then and not paid before it. Notices
//! planned on one day count as sent for the next, as in the outbox. What the history does not
//! keep is taken as it is now: contacts, app devices, pauses, the channels available.

use std::collections::{BTreeMap, HashSet};

use jiff::civil::Date;

use super::planner::{Available, PlanInput, plan};
use crate::domain::Clock;
use crate::domain::rules::{BandId, OverdueBand, PlanInvoice, RuleId, SendRule};
use crate::store::{self, Db};

/// The change to try.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new send rule (its id is ignored).
    AddRule(SendRule),
    /// A new overdue band (its id is ignored).
    AddBand(OverdueBand),
    /// A send rule removed.
    RemoveRule(RuleId),
    /// An overdue band removed.
    RemoveBand(BandId),
}

/// One replayed day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Day {
    /// The day.
    pub day: Date,
    /// Notices the saved régua plans, per channel.
    pub before: BTreeMap<String, i64>,
    /// Notices the régua with the change plans, per channel.
    pub after: BTreeMap<String, i64>,
    /// Notices recorded as sent that day, per channel (everything, not only the régua's).
    pub recorded: BTreeMap<String, i64>,
}

impl Day {
    /// `after − before` for `channel`.
    pub fn delta(&self, channel: &str) -> i64 {
        self.after.get(channel).copied().unwrap_or(0)
            - self.before.get(channel).copied().unwrap_or(0)
    }

    /// The channels where the day's sends plus the change would pass the capacity.
    pub fn over(&self, capacity: &BTreeMap<String, Option<i64>>) -> Vec<String> {
        capacity
            .iter()
            .filter_map(|(channel, cap)| {
                let cap = (*cap)?;
                let total = self.recorded.get(channel).copied().unwrap_or(0) + self.delta(channel);
                (self.delta(channel) > 0 && total > cap).then(|| channel.clone())
            })
            .collect()
    }
}

/// The replay's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WhatIf {
    /// The days, oldest first.
    pub days: Vec<Day>,
    /// Each channel's daily capacity (`None`: unlimited).
    pub capacity: BTreeMap<String, Option<i64>>,
}

impl WhatIf {
    /// The change's total difference per channel over the days.
    pub fn totals(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for d in &self.days {
            for c in d.before.keys().chain(d.after.keys()) {
                out.entry(c.clone()).or_insert(0);
            }
        }
        for (c, v) in &mut out {
            *v = self.days.iter().map(|d| d.delta(c)).sum();
        }
        out
    }
}

/// Replays the `days` days before `clock`'s today with and without `change`.
pub async fn what_if(db: &Db, clock: &Clock, change: &Change, days: u16) -> anyhow::Result<WhatIf> {
    anyhow::ensure!((1..=92).contains(&days), "from 1 to 92 days");
    let to = clock.today().yesterday()?;
    let from = to.checked_sub(jiff::Span::new().days(i64::from(days) - 1))?;
    let mut conn = db.pool.acquire().await?;
    let rules = store::rules::list_send_rules(&mut conn).await?;
    let bands = store::dunning::list_bands(&mut conn).await?;
    let available = Available {
        sms: store::channels::list_sms_gateways(&mut conn)
            .await?
            .iter()
            .any(|g| g.active),
        push: store::channels::push_config(&mut conn).await?.is_some(),
        whatsapp: store::whatsapp::list_accounts(&mut conn)
            .await?
            .iter()
            .any(|a| a.active),
    };
    let (invoices, already, recorded, capacity) =
        store::analytics::replay_facts(&mut conn, from, to, clock.time_zone()).await?;
    drop(conn);
    let (mut new_rules, mut new_bands) = (rules.clone(), bands.clone());
    match change {
        Change::AddRule(r) => new_rules.push(SendRule {
            id: RuleId(-1),
            ..r.clone()
        }),
        Change::AddBand(b) => new_bands.push(OverdueBand {
            id: BandId(-1),
            ..b.clone()
        }),
        Change::RemoveRule(id) => {
            anyhow::ensure!(rules.iter().any(|r| r.id == *id), "no rule {id}");
            new_rules.retain(|r| r.id != *id);
        }
        Change::RemoveBand(id) => {
            anyhow::ensure!(bands.iter().any(|b| b.id == *id), "no band {id}");
            new_bands.retain(|b| b.id != *id);
        }
    }
    let mut seen_before: HashSet<String> = already.clone();
    let mut seen_after: HashSet<String> = already;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let standing: Vec<PlanInvoice> = invoices
            .iter()
            .filter(|i| i.issued <= day)
            .map(|i| PlanInvoice {
                open: i.paid_on.is_none_or(|p| p >= day),
                ..i.plan.clone()
            })
            .collect();
        let run = |rules: &[SendRule], bands: &[OverdueBand], seen: &mut HashSet<String>| {
            let p = plan(&PlanInput {
                today: day,
                last_run: day.yesterday().ok(),
                window_days: crate::domain::rules::DEFAULT_WINDOW_DAYS,
                invoices: &standing,
                rules,
                bands,
                already: seen,
                available,
            });
            let mut counts = BTreeMap::new();
            for n in p.notices {
                *counts.entry(n.channel.as_str().to_string()).or_insert(0) += 1;
                seen.insert(n.dedup_key.to_string());
            }
            counts
        };
        let before = run(&rules, &bands, &mut seen_before);
        let after = run(&new_rules, &new_bands, &mut seen_after);
        out.push(Day {
            day,
            before,
            after,
            recorded: recorded
                .iter()
                .filter(|((d, _), _)| *d == day)
                .map(|((_, c), n)| (c.clone(), *n))
                .collect(),
        });
        day = day.tomorrow()?;
    }
    Ok(WhatIf {
        days: out,
        capacity,
    })
}
