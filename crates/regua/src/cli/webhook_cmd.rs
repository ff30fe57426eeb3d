//! `regua webhook …`: outbound webhooks (docs/webhooks.md) — endpoints, their secrets, the
//! delivery log, replays, and posting what is due now.

use std::process::ExitCode;

use clap::Subcommand;

use super::Global;
use super::delivery_cmd::master_key;
use crate::secrets::Secret;
use crate::store;

/// `regua webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Add an endpoint: the events it receives and its secret (Standard Webhooks `whsec_…`,
    /// generated and printed once when --secret-env is not given).
    Add {
        /// Where events are posted (https:// in production).
        #[arg(long)]
        url: String,
        /// The events, comma-separated (`*` for all): contract.suspension_due,
        /// contract.restore_due, contract.termination_due, invoice.paid, …
        #[arg(long)]
        events: String,
        /// The environment variable that holds the secret (`whsec_…`).
        #[arg(long)]
        secret_env: Option<String>,
    },
    /// List endpoints (never their secrets).
    List,
    /// Remove an endpoint: nothing more is posted to it.
    Remove {
        /// The endpoint's id.
        id: i64,
    },
    /// A new secret for an endpoint (printed once); the old one keeps signing for 24 hours.
    Rotate {
        /// The endpoint's id.
        id: i64,
    },
    /// The latest deliveries: event, status, tries, last answer.
    Deliveries {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Post a delivery again (the same webhook-id), due now.
    Replay {
        /// The delivery's id.
        id: i64,
    },
    /// Post every delivery due now, then exit (`regua serve` posts them by itself).
    Drain,
}

fn bad(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{msg}");
    Ok(ExitCode::from(2))
}

/// Runs `regua webhook …`.
pub async fn run(g: &Global, cmd: WebhookCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let actor = super::actor();
    let now = clock.now_millis();
    match cmd {
        WebhookCmd::Add {
            url,
            events,
            secret_env,
        } => {
            let url = url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return bad(format!(
                    "--url: {url:?} must start with https:// or http://"
                ));
            }
            let events = match crate::domain::webhooks::parse_events(&events) {
                Ok(e) => e,
                Err(e) => return bad(format!("--events: {e}")),
            };
            let (secret, generated) = match secret_env {
                Some(var) => match std::env::var(&var) {
                    Ok(v) => (v.trim().to_string(), false),
                    Err(_) => return bad(format!("--secret-env: the variable {var} is not set")),
                },
                None => (crate::domain::webhooks::new_secret(), true),
            };
            if let Err(e) = crate::domain::webhooks::secret_key(&secret) {
                return bad(format!("--secret-env: {e}"));
            }
            let Some(key) = (match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            }) else {
                return bad("REGUA_SECRET_KEY is needed to seal the endpoint's secret");
            };
            let id = crate::actions::webhooks::add_endpoint(
                &db,
                url,
                &events,
                &Secret::new(secret.clone()),
                &key,
                &actor,
                now,
            )
            .await?;
            println!("webhook endpoint {id} added: {url} ({})", events.join(","));
            if generated {
                println!("secret: {secret}");
                println!("(shown only now: give it to the receiver to verify webhook-signature)");
            }
            Ok(ExitCode::SUCCESS)
        }
        WebhookCmd::List => {
            let mut conn = db.pool.acquire().await?;
            println!("id\turl\tevents\tactive");
            for e in store::webhooks::list_endpoints(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    e.id,
                    e.url,
                    e.events.join(","),
                    if e.active { "yes" } else { "no" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WebhookCmd::Remove { id } => {
            if crate::actions::webhooks::remove_endpoint(&db, id, &actor, now).await? {
                println!("webhook endpoint {id} removed");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no active webhook endpoint {id}"))
            }
        }
        WebhookCmd::Rotate { id } => {
            let Some(key) = (match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            }) else {
                return bad("REGUA_SECRET_KEY is needed to seal the endpoint's secret");
            };
            let secret = crate::domain::webhooks::new_secret();
            if crate::actions::webhooks::rotate(
                &db,
                id,
                &Secret::new(secret.clone()),
                &key,
                &actor,
                now,
            )
            .await?
            {
                println!("secret: {secret}");
                println!("(the previous secret keeps signing for 24 hours)");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no active webhook endpoint {id}"))
            }
        }
        WebhookCmd::Deliveries { limit } => {
            let mut conn = db.pool.acquire().await?;
            println!("id\tendpoint\tevent\twebhook-id\tstatus\ttries\tlast");
            for d in store::webhooks::list_deliveries(&mut conn, limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.endpoint_id,
                    d.event_type,
                    d.message_id,
                    d.status,
                    d.attempts,
                    d.last_error
                        .or(d.last_code.map(|c| c.to_string()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WebhookCmd::Replay { id } => {
            let mut conn = db.pool.acquire().await?;
            if store::webhooks::replay(&mut conn, id, now).await? {
                println!("delivery {id} will be posted again");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no delivery {id}"))
            }
        }
        WebhookCmd::Drain => {
            let key = match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            };
            let r = crate::webhooks::deliver_due(&db, &clock, key.as_ref(), "cli").await?;
            println!(
                "{} delivered, {} to retry, {} given up",
                r.delivered, r.retrying, r.failed
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
