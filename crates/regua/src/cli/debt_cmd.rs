//! `regua debt …`: the suspension clock for non-payment (docs/debt.md) — run it (or see what the
//! next run would do), its contracts per state, a contract's timeline, and the network's (or the
//! operator's) confirmations.

use std::process::ExitCode;

use clap::Subcommand;

use super::Global;
use crate::store;

/// `regua debt …`
#[derive(Debug, Subcommand)]
pub enum DebtCmd {
    /// Run the clock for a day (default today): queue debt and termination notices, move the
    /// contracts whose dates came. With --dry-run, only print what it would do.
    Run {
        /// The day to run as.
        #[arg(long, value_parser = super::parse_date_arg)]
        date: Option<jiff::civil::Date>,
        /// Print what the run would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The contracts on the clock: state and dates.
    Status,
    /// A contract's transitions, with their reasons.
    Timeline {
        /// The contract's id (as the ERP numbers it).
        contract: String,
    },
    /// What the network (or the operator) did: suspended, active or terminated.
    Confirm {
        /// The contract's id.
        contract: String,
        /// suspended, active or terminated.
        network: String,
    },
}

/// Runs `regua debt …`.
pub async fn run(g: &Global, cmd: DebtCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let actor = super::actor().to_string();
    match cmd {
        DebtCmd::Run {
            date,
            dry_run,
            json,
        } => {
            let today = date.unwrap_or_else(|| clock.today());
            let report = crate::debt::run_day(&db, &clock, today, dry_run, &actor).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !report.enabled {
                println!("the suspension clock is off (regua settings set debt_clock yes)");
            } else if let Some(e) = &report.error {
                eprintln!("not run: {e}");
                return Ok(ExitCode::from(2));
            } else {
                for m in &report.moves {
                    println!("{}\t{}\t{}\t{}", m.contract, m.from, m.to, m.what);
                }
                println!(
                    "{} move(s){}",
                    report.moves.len(),
                    if dry_run {
                        " (dry run: nothing changed)"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DebtCmd::Status => {
            let mut conn = db.pool.acquire().await?;
            let rows = store::debt::rows(&mut conn).await?;
            let mut rows: Vec<_> = rows.into_values().collect();
            rows.sort_by_key(|r| r.contract);
            let contracts = store::parties::get_contracts(
                &mut conn,
                &rows.iter().map(|r| r.contract).collect::<Vec<_>>(),
            )
            .await?;
            println!("contract\tstate\tnotice_sent_on\tsuspended_on\ttermination_notice_sent_on");
            let d = |x: Option<jiff::civil::Date>| x.map_or("-".into(), |d| d.to_string());
            for r in rows {
                let ext = contracts
                    .iter()
                    .find(|k| k.id == r.contract)
                    .map_or(String::new(), |k| k.external_id.clone());
                println!(
                    "{ext}\t{}\t{}\t{}\t{}",
                    r.record.state.as_str(),
                    d(r.record.notice_sent_on),
                    d(r.record.suspended_on),
                    d(r.record.termination_notice_sent_on)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DebtCmd::Timeline { contract } => {
            let mut conn = db.pool.acquire().await?;
            let Some(k) =
                store::parties::find_contract_by_external_id(&mut conn, &contract).await?
            else {
                eprintln!("no contract {contract:?}");
                return Ok(ExitCode::from(2));
            };
            println!("at\tfrom\tto\tdetail\tactor");
            for e in store::debt::events(&mut conn, k.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    clock.local_time(e.at, "%Y-%m-%d %H:%M"),
                    e.from,
                    e.to,
                    e.detail,
                    e.actor
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DebtCmd::Confirm { contract, network } => {
            match crate::debt::confirm(&db, &clock, &contract, network.trim(), &actor).await? {
                Ok(state) => {
                    println!("contract {contract}: {}", state.as_str());
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("{why}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
