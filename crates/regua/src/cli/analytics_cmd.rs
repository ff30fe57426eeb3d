//! `regua analytics refresh|steps` (docs/analytics.md).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Global;
use crate::store;

/// `regua analytics …`
#[derive(Debug, Subcommand)]
pub enum AnalyticsCmd {
    /// Recompute the daily aggregates of a range of days (default: the last 100 days, what the
    /// scheduler does every day). Prints `refreshed FROM..TO: N invoices, M notices, R rows`.
    Refresh {
        /// The first day (default: 99 days before --to).
        #[arg(long, value_parser = super::parse_date_arg)]
        from: Option<jiff::civil::Date>,
        /// The last day (default: today).
        #[arg(long, value_parser = super::parse_date_arg)]
        to: Option<jiff::civil::Date>,
    },
    /// A period's figures per step and channel, from the aggregates: one tab-separated line
    /// each (a header first), or JSON.
    Steps(FilterArgs),
}

/// The filters of the figures.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// The first day (default: 30 days before --to).
    #[arg(long, value_parser = super::parse_date_arg)]
    pub from: Option<jiff::civil::Date>,
    /// The last day (default: today).
    #[arg(long, value_parser = super::parse_date_arg)]
    pub to: Option<jiff::civil::Date>,
    /// Only this billing method (its name).
    #[arg(long)]
    pub method: Option<String>,
    /// Only this wallet (its name).
    #[arg(long)]
    pub wallet: Option<String>,
    /// Only this channel: email, sms, push or whatsapp.
    #[arg(long)]
    pub channel: Option<String>,
    /// JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Runs `regua analytics …`.
pub async fn run(g: &Global, cmd: AnalyticsCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    match cmd {
        AnalyticsCmd::Refresh { from, to } => {
            let to = to.unwrap_or_else(|| clock.today());
            let from = from.unwrap_or_else(|| crate::analytics::window(to).0);
            if from > to {
                eprintln!("--from: after --to");
                return Ok(ExitCode::from(2));
            }
            let r = crate::analytics::refresh(&db, &clock, from, to, &super::actor().to_string())
                .await?;
            println!(
                "refreshed {}..{}: {} invoices, {} notices, {} rows",
                r.from, r.to, r.invoices, r.notices, r.rows
            );
            Ok(ExitCode::SUCCESS)
        }
        AnalyticsCmd::Steps(a) => {
            let mut conn = db.pool.acquire().await?;
            let filter = match filter(&mut conn, &clock, &a).await? {
                Ok(f) => f,
                Err(msg) => {
                    eprintln!("{msg}");
                    return Ok(ExitCode::from(2));
                }
            };
            let figures = store::analytics::step_figures(&mut conn, &filter).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "step\tchannel\tsent\tdelivered\tread\tpaid_1\tpaid_3\tpaid_7\tpaid_7_permille\tbase_paid_7_permille\trecovered\trecovered_cents\tmedian_days"
            );
            for f in figures {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    f.step,
                    f.channel,
                    f.sent,
                    f.delivered,
                    f.read,
                    f.paid_1,
                    f.paid_3,
                    f.paid_7,
                    f.paid_7_permille,
                    f.base_paid_7_permille
                        .map_or_else(|| "-".to_string(), |v| v.to_string()),
                    f.recovered,
                    f.recovered_cents,
                    f.median_days
                        .map_or_else(|| "-".to_string(), |v| v.to_string()),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The filter from the flags; `Err` names the flag at fault.
async fn filter(
    conn: &mut sqlx::AnyConnection,
    clock: &crate::domain::Clock,
    a: &FilterArgs,
) -> anyhow::Result<Result<store::analytics::Filter, String>> {
    let to = a.to.unwrap_or_else(|| clock.today());
    let from = a
        .from
        .unwrap_or_else(|| to.checked_sub(jiff::Span::new().days(29)).unwrap_or(to));
    if from > to {
        return Ok(Err("--from: after --to".into()));
    }
    let method = match &a.method {
        None => None,
        Some(name) => match store::analytics::id_by_name(conn, "billing_methods", name).await? {
            Some(id) => Some(id),
            None => return Ok(Err(format!("--method: no billing method named {name:?}"))),
        },
    };
    let wallet = match &a.wallet {
        None => None,
        Some(name) => match store::analytics::id_by_name(conn, "wallets", name).await? {
            Some(id) => Some(id),
            None => return Ok(Err(format!("--wallet: no wallet named {name:?}"))),
        },
    };
    if let Some(c) = &a.channel
        && !matches!(c.as_str(), "email" | "sms" | "push" | "whatsapp")
    {
        return Ok(Err(format!(
            "--channel: {c:?} is not a channel (email, sms, push, whatsapp)"
        )));
    }
    Ok(Ok(store::analytics::Filter {
        from,
        to,
        method,
        wallet,
        channel: a.channel.clone(),
    }))
}

/// Prints a what-if: one tab-separated line per day and channel with a change or sends
/// (`day channel before after change recorded capacity over`), then one `total` line per channel.
pub(super) fn print_what_if(w: &crate::dunning::what_if::WhatIf) {
    println!("day\tchannel\tbefore\tafter\tchange\trecorded\tcapacity\tover");
    let totals = w.totals();
    for d in &w.days {
        let over = d.over(&w.capacity);
        for channel in totals.keys() {
            let (before, after) = (
                d.before.get(channel).copied().unwrap_or(0),
                d.after.get(channel).copied().unwrap_or(0),
            );
            if before == 0 && after == 0 {
                continue;
            }
            println!(
                "{}\t{channel}\t{before}\t{after}\t{:+}\t{}\t{}\t{}",
                d.day,
                d.delta(channel),
                d.recorded.get(channel).copied().unwrap_or(0),
                w.capacity
                    .get(channel)
                    .copied()
                    .flatten()
                    .map_or_else(|| "-".to_string(), |c| c.to_string()),
                if over.contains(channel) { "yes" } else { "no" }
            );
        }
    }
    for (channel, delta) in &totals {
        let over_days = w
            .days
            .iter()
            .filter(|d| d.over(&w.capacity).contains(channel))
            .count();
        println!("total\t{channel}\t{delta:+}\tover capacity on {over_days} day(s)");
    }
    println!("nothing was saved");
}

/// Runs a what-if and prints it (`print_what_if`); a change naming no rule or band is refused
/// with exit 2. Nothing is saved.
pub(super) async fn run_what_if(
    db: &crate::store::Db,
    clock: &crate::domain::Clock,
    change: crate::dunning::what_if::Change,
) -> anyhow::Result<ExitCode> {
    match crate::dunning::what_if::what_if(db, clock, &change, 30).await {
        Ok(w) => {
            print_what_if(&w);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
    }
}
