//! `regua sms …`, `regua push …`, `regua suspend`, `regua notify test`: the SMS and push
//! channels, temporary suspensions and the test of each notice method from the command line.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Global;
use super::delivery_cmd::master_key;
use crate::delivery::Channel;
use crate::delivery::fcm::{FCM_URL, ServiceAccount};
use crate::delivery::sms::GatewayInput;
use crate::secrets::Secret;
use crate::store::{self, parties::ConfigError};
use crate::suspension::{SuspendError, SuspendRequest, Suspended};

/// `regua sms …`
#[derive(Debug, Subcommand)]
pub enum SmsCmd {
    /// Add an SMS gateway: any provider's HTTP API.
    Add(Box<SmsAddArgs>),
    /// List gateways (header values are never shown).
    List,
    /// Remove a gateway: it stops sending; its history stays in the log.
    Remove {
        /// The gateway's name.
        name: String,
    },
    /// Delivery receipts: where the gateway's reply carries the message id, and where the
    /// receipts it posts to /webhooks/sms/NAME?token=… carry the id and the status. Prints the
    /// token once.
    Receipts {
        /// The gateway's name.
        name: String,
        /// The message id in the gateway's reply to a send (`id`, `messages.0.id`).
        #[arg(long, required_unless_present = "off")]
        reply_id_path: Option<String>,
        /// The message id in a receipt.
        #[arg(long, required_unless_present = "off")]
        id_path: Option<String>,
        /// The status in a receipt.
        #[arg(long, required_unless_present = "off")]
        status_path: Option<String>,
        /// Status values that mean delivered, comma-separated.
        #[arg(long, value_delimiter = ',', required_unless_present = "off")]
        delivered: Vec<String>,
        /// Status values that mean failed, comma-separated.
        #[arg(long, value_delimiter = ',')]
        failed: Vec<String>,
        /// Turn receipts off (the token stops working).
        #[arg(long, conflicts_with_all = ["reply_id_path", "id_path", "status_path", "delivered", "failed"])]
        off: bool,
    },
}

/// `regua sms add` flags.
#[derive(Debug, Args)]
pub struct SmsAddArgs {
    /// Unique name.
    #[arg(long)]
    pub name: String,
    /// The provider's address; may carry {{telefone}}, {{telefone_digitos}} and {{mensagem}}.
    #[arg(long)]
    pub url: String,
    /// GET, POST or PUT.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// A header, 'Name: value' (repeatable). ${VAR} is read from the environment, so a token
    /// stays out of the shell history: --header 'Authorization: Bearer ${SMS_TOKEN}'.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// The body template with {{telefone}} (+5511987654321), {{telefone_digitos}}
    /// (5511987654321) and {{mensagem}}; default {"telefone":"{{telefone}}","mensagem":"{{mensagem}}"}.
    #[arg(long)]
    pub body: Option<String>,
    /// Text a successful reply's body contains (besides a 2xx status).
    #[arg(long)]
    pub success_contains: Option<String>,
    /// At most this many messages in any rolling hour.
    #[arg(long)]
    pub hourly_limit: Option<u32>,
    /// At most this many messages in any rolling 24 hours.
    #[arg(long)]
    pub daily_limit: Option<u32>,
}

/// `regua push …`
#[derive(Debug, Subcommand)]
pub enum PushCmd {
    /// Upload the Firebase service-account file ("arquivo de configuração do Firebase").
    Configure {
        /// The service account's JSON key file, from the Firebase console.
        #[arg(long)]
        service_account: std::path::PathBuf,
        /// Where messages are posted (FCM's address; another only for tests).
        #[arg(long, default_value = FCM_URL)]
        fcm_url: String,
    },
    /// Show the configuration (never the key).
    Status,
}

/// `regua suspend` flags.
#[derive(Debug, Args)]
pub struct SuspendArgs {
    /// The contract's id (as the ERP numbers it).
    #[arg(long)]
    pub contract: String,
    /// First day without service (YYYY-MM-DD or dd/mm/aaaa).
    #[arg(long, value_parser = super::parse_date_arg, required_unless_present = "end")]
    pub from: Option<jiff::civil::Date>,
    /// Last day without service; service is restored the day after.
    #[arg(long, value_parser = super::parse_date_arg, required_unless_present = "end")]
    pub to: Option<jiff::civil::Date>,
    /// Why (shown to the customer as {{ suspensao.motivo }}).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// End the contract's running suspension today (service restored, the "ended" notice sent)
    /// or withdraw its upcoming one.
    #[arg(long, conflicts_with_all = ["from", "to", "reason"])]
    pub end: bool,
}

/// `regua notify …`
#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Send a test by a suspension notice method now and print the answer.
    Test {
        /// email, sms, push or whatsapp.
        #[arg(value_parser = parse_channel)]
        method: Channel,
        /// An e-mail address (email), a mobile phone (sms, whatsapp), or a customer's id or
        /// CPF/CNPJ (push: to the devices of their app).
        #[arg(long)]
        to: String,
        /// The SMS gateway (default: the suspension notices' one).
        #[arg(long)]
        gateway: Option<String>,
        /// whatsapp: the layout whose template is sent (with its sample data).
        #[arg(long)]
        layout: Option<String>,
    },
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse()
}

fn bad(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{msg}");
    Ok(ExitCode::from(2))
}

/// Runs `regua sms …`.
pub async fn sms(g: &Global, cmd: SmsCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        SmsCmd::Add(a) => {
            let input = GatewayInput {
                name: a.name.clone(),
                url: a.url.clone(),
                method: a.method.clone(),
                headers: a.headers.clone(),
                body: a.body.clone(),
                success_contains: a.success_contains.clone(),
                hourly_limit: a.hourly_limit,
                daily_limit: a.daily_limit,
            };
            let gateway = match input.check(&|n| std::env::var(n).ok()) {
                Ok(g) => g,
                Err((flag, reason)) => return bad(format!("--{flag}: {reason}")),
            };
            let key = match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            };
            match crate::actions::channels::add_sms_gateway(
                &db,
                &gateway,
                key.as_ref(),
                &super::actor(),
                clock.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    println!("sms gateway {:?} added (id {id})", gateway.name);
                    Ok(ExitCode::SUCCESS)
                }
                Err(ConfigError::Other(e)) => Err(e),
                Err(e) => bad(e.for_cli()),
            }
        }
        SmsCmd::List => {
            println!("name\tmethod\turl\theaders\thourly_limit\tdaily_limit\tactive");
            for gw in store::channels::list_sms_gateways(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    gw.name,
                    gw.method,
                    gw.url,
                    if gw.header_names.is_empty() {
                        "-".to_string()
                    } else {
                        gw.header_names
                            .iter()
                            .map(|n| format!("{n}: (set)"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    gw.hourly_limit.map_or("-".into(), |l| l.to_string()),
                    gw.daily_limit.map_or("-".into(), |l| l.to_string()),
                    if gw.active { "yes" } else { "no" },
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SmsCmd::Receipts {
            name,
            reply_id_path,
            id_path,
            status_path,
            delivered,
            failed,
            off,
        } => {
            let receipts = (!off).then(|| crate::domain::delivery::SmsReceipts {
                reply_id_path: reply_id_path.unwrap_or_default().trim().to_string(),
                id_path: id_path.unwrap_or_default().trim().to_string(),
                status_path: status_path.unwrap_or_default().trim().to_string(),
                delivered: delivered
                    .iter()
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect(),
                failed: failed
                    .iter()
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect(),
            });
            match crate::actions::channels::set_sms_receipts(
                &db,
                &name,
                receipts.as_ref(),
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                None => bad(format!("no active sms gateway named {name:?}")),
                Some(None) => {
                    println!("delivery receipts off for sms gateway {name:?}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(Some(token)) => {
                    let path = crate::delivery::sms::percent_encode(&name);
                    println!("delivery receipts on for sms gateway {name:?}");
                    println!("receipt URL: /webhooks/sms/{path}?token={token}");
                    println!(
                        "(the token is shown only now; prefix the URL with your server's address)"
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        SmsCmd::Remove { name } => {
            match crate::actions::channels::remove_sms_gateway(
                &db,
                &name,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                Some(r) => {
                    println!("sms gateway {name:?} removed");
                    if let (Some(to), true) = (&r.to, r.moved > 0) {
                        println!("{} waiting notice(s) moved to {to:?}", r.moved);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                None => bad(format!("no active sms gateway named {name:?}")),
            }
        }
    }
}

/// Runs `regua push …`.
pub async fn push(g: &Global, cmd: PushCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        PushCmd::Configure {
            service_account,
            fcm_url,
        } => {
            let json = match std::fs::read_to_string(&service_account) {
                Ok(j) => j,
                Err(e) => {
                    return bad(format!(
                        "--service-account: cannot read {}: {e}",
                        service_account.display()
                    ));
                }
            };
            let sa = match ServiceAccount::parse(&json) {
                Ok(sa) => sa,
                Err(e) => return bad(format!("--service-account: {e}")),
            };
            if !(fcm_url.starts_with("https://") || fcm_url.starts_with("http://")) {
                return bad("--fcm-url: must start with https://");
            }
            let key = match master_key() {
                Ok(Some(k)) => k,
                Ok(None) => {
                    return bad(
                        "REGUA_SECRET_KEY is not set: the service account's key is sealed with it (see regua secret-key)",
                    );
                }
                Err(e) => return bad(e),
            };
            let config = store::channels::PushConfig {
                project_id: sa.project_id.clone(),
                client_email: sa.client_email.clone(),
                private_key_id: sa.private_key_id.clone(),
                token_uri: sa.token_uri.clone(),
                fcm_url: fcm_url.trim_end_matches('/').to_string(),
                updated_at: clock.now_millis(),
            };
            crate::actions::channels::configure_push(
                &db,
                &config,
                &Secret::new(sa.private_key),
                &key,
                &super::actor(),
            )
            .await?;
            println!(
                "push configured: project {}, service account {}",
                config.project_id, config.client_email
            );
            Ok(ExitCode::SUCCESS)
        }
        PushCmd::Status => match store::channels::push_config(&mut conn).await? {
            Some(c) => {
                println!(
                    "project\t{}\nservice_account\t{}\ntoken_uri\t{}\nfcm_url\t{}",
                    c.project_id, c.client_email, c.token_uri, c.fcm_url
                );
                Ok(ExitCode::SUCCESS)
            }
            None => {
                println!(
                    "push is not configured (regua push configure --service-account FILE.json)"
                );
                Ok(ExitCode::from(1))
            }
        },
    }
}

/// Runs `regua suspend`.
pub async fn suspend(g: &Global, a: SuspendArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let (Some(from), Some(to)) = (a.from, a.to) else {
        return match crate::actions::suspensions::end_suspension(
            &db,
            &a.contract,
            clock.today(),
            &super::actor(),
            clock.now_millis(),
        )
        .await
        {
            Ok(ended) => {
                let (what, s) = match &ended {
                    crate::suspension::Ended::Withdrawn {
                        suspension,
                        notified: true,
                    } => (
                        "withdrawn; the customer, told it was scheduled, is told it was withdrawn",
                        suspension,
                    ),
                    crate::suspension::Ended::Withdrawn { suspension, .. } => {
                        ("withdrawn", suspension)
                    }
                    crate::suspension::Ended::Restored(s) => ("ended; service restored today", s),
                };
                println!("suspension {} of contract {} {what}", s.id, a.contract);
                Ok(ExitCode::SUCCESS)
            }
            Err(SuspendError::Other(e)) => Err(e),
            Err(e) => bad(e),
        };
    };
    let req = SuspendRequest {
        contract: a.contract.clone(),
        from,
        to,
        reason: a.reason.clone(),
        actor: super::actor().to_string(),
    };
    match crate::actions::suspensions::start_suspension(
        &db,
        &req,
        clock.today(),
        clock.now_millis(),
    )
    .await
    {
        Ok(Suspended::New(s)) => {
            println!(
                "contract {} suspended from {} to {} (suspension {})",
                a.contract, s.starts_on, s.ends_on, s.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Suspended::Exists(s)) => {
            println!(
                "contract {} was already suspended from {} to {} (suspension {}); nothing changed",
                a.contract, s.starts_on, s.ends_on, s.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(SuspendError::Other(e)) => Err(e),
        Err(SuspendError::Invalid { field, en, .. }) => bad(format!("--{field}: {en}")),
        Err(e) => bad(e),
    }
}

/// Runs `regua notify …`.
pub async fn notify(g: &Global, cmd: NotifyCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let NotifyCmd::Test {
        method,
        to,
        gateway,
        layout,
    } = cmd;
    let key = match master_key() {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    let outcome = if method == Channel::Whatsapp {
        let Some(layout) = layout else {
            return bad("--layout: required for whatsapp (the layout whose template is sent)");
        };
        crate::actions::whatsapp::send_test(&db, &clock, key, &to, &layout, &super::actor())
            .await
            .map_err(|e| e.en)
    } else {
        crate::suspension::send_test(
            &db,
            &clock,
            key,
            method,
            &to,
            gateway.as_deref(),
            &super::actor().to_string(),
        )
        .await
        .map_err(|e| e.en)
    };
    match outcome {
        Ok(t) if t.sent => {
            println!("sent to {}: {}", t.recipient, t.answer);
            Ok(ExitCode::SUCCESS)
        }
        Ok(t) => {
            eprintln!("not sent to {}: {}", t.recipient, t.answer);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => bad(e),
    }
}
