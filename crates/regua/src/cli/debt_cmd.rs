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
    /// The suspension policy: the ISP's (the debt_* settings) and each billing method's own.
    /// With --method and values, sets that method's (from the ISP's for what is not given);
    /// with --method --remove, its contracts follow the ISP's again.
    Policy {
        /// The billing method.
        #[arg(long)]
        method: Option<String>,
        /// Days overdue when the debt notice goes.
        #[arg(long, requires = "method")]
        notice_after: Option<u16>,
        /// Days from the notice's sending to suspension (at least 15).
        #[arg(long, requires = "method")]
        suspension_after: Option<u16>,
        /// Days suspended before the termination notice.
        #[arg(long, requires = "method")]
        termination_notice_after: Option<u16>,
        /// Days from the termination notice to termination (with the previous, at least 60).
        #[arg(long, requires = "method")]
        termination_after: Option<u16>,
        /// Hours to restore service after payment (at most 24).
        #[arg(long, requires = "method")]
        restore_hours: Option<u16>,
        /// Remove the method's own policy.
        #[arg(long, requires = "method", conflicts_with_all = ["notice_after", "suspension_after", "termination_notice_after", "termination_after", "restore_hours"])]
        remove: bool,
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
        DebtCmd::Policy {
            method,
            notice_after,
            suspension_after,
            termination_notice_after,
            termination_after,
            restore_hours,
            remove,
        } => {
            let mut conn = db.pool.acquire().await?;
            let (_, global) = store::settings::debt_policy(&mut conn).await?;
            let own = store::debt::method_policies(&mut conn).await?;
            let methods = store::parties::list_billing_methods(&mut conn).await?;
            drop(conn);
            let line = |who: &str, p: &crate::domain::debt::DebtPolicy| {
                format!(
                    "{who}\t{}\t{}\t{}\t{}\t{}",
                    p.notice_after_overdue_days,
                    p.suspension_after_notice_days,
                    p.termination_notice_after_suspension_days,
                    p.termination_after_notice_days,
                    p.restore_within_hours
                )
            };
            let Some(method) = method else {
                println!(
                    "policy\tnotice_after\tsuspension_after\ttermination_notice_after\ttermination_after\trestore_hours"
                );
                println!("{}", line("(provedor)", &global));
                for m in &methods {
                    if let Some(p) = own.get(&m.id) {
                        println!("{}", line(&m.name, p));
                    }
                }
                return Ok(ExitCode::SUCCESS);
            };
            let policy = if remove {
                None
            } else {
                let base = methods
                    .iter()
                    .find(|m| m.name == method)
                    .and_then(|m| own.get(&m.id))
                    .copied()
                    .unwrap_or(global);
                Some(crate::domain::debt::DebtPolicy {
                    notice_after_overdue_days: notice_after
                        .unwrap_or(base.notice_after_overdue_days),
                    suspension_after_notice_days: suspension_after
                        .unwrap_or(base.suspension_after_notice_days),
                    termination_notice_after_suspension_days: termination_notice_after
                        .unwrap_or(base.termination_notice_after_suspension_days),
                    termination_after_notice_days: termination_after
                        .unwrap_or(base.termination_after_notice_days),
                    restore_within_hours: restore_hours.unwrap_or(base.restore_within_hours),
                })
            };
            match crate::debt::set_method_policy(
                &db,
                &method,
                policy.as_ref(),
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                Ok(()) => {
                    match &policy {
                        Some(p) => println!("{}", line(&method, p)),
                        None => println!("{method}: the ISP's policy"),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("{why}");
                    Ok(ExitCode::from(2))
                }
            }
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
