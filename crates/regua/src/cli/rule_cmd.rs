//! `regua rule`: the billing methods' send rules.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Global, actor};
use crate::store;

/// `regua rule …`
#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule to a billing method.
    Add {
        /// The billing method's name.
        #[arg(long)]
        method: String,
        /// before_due, on_due or after_due.
        #[arg(long, value_parser = parse_rule_kind)]
        kind: crate::dunning::RuleKind,
        /// Days from the due date (0 for on_due).
        #[arg(long, default_value_t = 0)]
        days: u16,
        /// The layout's name (default: the one for the kind's purpose).
        #[arg(long)]
        layout: Option<String>,
        /// The channels, in order: email, sms, push (default: email).
        #[arg(long, default_value = "email")]
        channels: String,
        /// first (the first channel that reaches the subscriber, the next ones as fallback)
        /// or all (every channel that reaches).
        #[arg(long, default_value = "first")]
        mode: String,
        /// Save nothing: replay the last 30 days with and without this rule and print the
        /// messages more per day and channel against each channel's daily capacity.
        #[arg(long)]
        what_if: bool,
    },
    /// List every rule.
    List,
    /// Remove a rule by id.
    Remove {
        /// The rule's id (see `regua rule list`).
        id: i64,
        /// Remove nothing: replay the last 30 days without this rule and print the messages
        /// fewer per day and channel.
        #[arg(long)]
        what_if: bool,
    },
}

pub(super) fn parse_rule_kind(s: &str) -> Result<crate::dunning::RuleKind, String> {
    s.parse()
}

pub(super) async fn rule(g: &Global, cmd: RuleCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        RuleCmd::Add {
            method,
            kind,
            days,
            layout,
            channels,
            mode,
            what_if,
        } => {
            let plan = match super::channel_plan(&channels, &mode) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            if what_if {
                let mut conn = db.pool.acquire().await?;
                let Some(method_id) =
                    crate::store::analytics::id_by_name(&mut conn, "billing_methods", &method)
                        .await?
                else {
                    eprintln!("--method: no billing method named {method:?}");
                    return Ok(ExitCode::from(2));
                };
                drop(conn);
                let rule = crate::domain::rules::SendRule {
                    id: crate::domain::rules::RuleId(-1),
                    method: crate::domain::BillingMethodId(method_id),
                    kind,
                    days,
                    layout: crate::domain::LayoutId(0),
                    channels: plan,
                };
                return super::analytics_cmd::run_what_if(
                    &db,
                    &g.clock()?,
                    crate::dunning::what_if::Change::AddRule(rule),
                )
                .await;
            }
            match crate::actions::dunning::add_rule(
                &db,
                &method,
                kind,
                days,
                layout.as_deref(),
                &plan,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    // The line scripts read stays as it was for an e-mail-only rule.
                    let by = if plan == crate::domain::rules::ChannelPlan::default() {
                        String::new()
                    } else {
                        format!(" by {} ({})", plan.list(), plan.mode.as_str())
                    };
                    println!(
                        "rule {id} added: {} {days} day(s) on {method:?}{by}",
                        kind.as_str()
                    );
                }
                Err(store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("{}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        RuleCmd::List => {
            let methods = store::parties::list_billing_methods(&mut conn).await?;
            let layouts = store::layouts::list_layouts(&mut conn).await?;
            println!("id\tmethod\tkind\tdays\tlayout\tchannels\tmode");
            for r in store::rules::list_send_rules(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    methods
                        .iter()
                        .find(|m| m.id == r.method)
                        .map_or("?", |m| m.name.as_str()),
                    r.kind.as_str(),
                    r.days,
                    layouts
                        .iter()
                        .find(|l| l.id == r.layout)
                        .map_or("?", |l| l.name.as_str()),
                    r.channels.list(),
                    r.channels.mode.as_str()
                );
            }
        }
        RuleCmd::Remove { id, what_if: true } => {
            return super::analytics_cmd::run_what_if(
                &db,
                &g.clock()?,
                crate::dunning::what_if::Change::RemoveRule(crate::domain::rules::RuleId(id)),
            )
            .await;
        }
        RuleCmd::Remove { id, .. } => {
            if !crate::actions::dunning::remove_rule(
                &db,
                crate::domain::rules::RuleId(id),
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?
            {
                eprintln!("no rule {id}");
                return Ok(ExitCode::from(2));
            }
            println!("rule {id} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
