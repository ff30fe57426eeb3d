//! `regua smtp …`, `regua worker`, `regua outbox …`, `regua log`, `regua secret-key`: e-mail
//! accounts, the delivery worker and the delivery log from the command line.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::Global;
use crate::delivery::{
    Enqueued, NewSmtpAccount, NoticeId, NoticeStatus, Security, Transport, Worker, WorkerOptions,
    enqueue_test_message,
};
use crate::domain::{EmailAddress, format_date};
use crate::secrets::{MasterKey, Secret, SecretError};
use crate::store::{self, log::LogFilter, parties::ConfigError};

/// `regua smtp …`
#[derive(Debug, Subcommand)]
pub enum SmtpCmd {
    /// Add an e-mail account (an SMTP server, or a folder of .eml files with --folder).
    Add(Box<SmtpAddArgs>),
    /// List accounts (passwords are never shown).
    List,
    /// Remove an account: it stops sending and frees its name; its history stays in the log.
    /// Notices waiting on it move to --move-to, or to the financial account; with neither,
    /// nothing is removed.
    Remove {
        /// The account's name.
        name: String,
        /// The account that takes over its waiting notices.
        #[arg(long)]
        move_to: Option<String>,
    },
    /// Send the account's test message now and print the server's answer.
    Test {
        /// The account's name.
        name: String,
        /// Recipient (default: the account's test recipient).
        #[arg(long)]
        to: Option<String>,
    },
    /// Look up what receivers check before trusting the account's mail: the SPF record of
    /// the envelope domain, the DKIM selector's key (the account's own?), the DMARC policy,
    /// and SPF/DKIM alignment with the From domain. Exits 1 when something is missing.
    Check {
        /// The account's name.
        name: String,
        /// The DNS server to ask (default: the first nameserver of /etc/resolv.conf).
        #[arg(long, env = "REGUA_DNS_SERVER")]
        dns_server: Option<std::net::SocketAddr>,
    },
    /// Pacing per recipient domain: how many messages a minute each group of mailbox domains
    /// gets (all accounts together), and the pauses servers' throttling answers caused.
    #[command(subcommand)]
    Pacing(PacingCmd),
    /// Make an account the default for boletos and invoices ("parâmetros financeiros").
    Default {
        /// The account's name.
        name: String,
    },
}

/// `regua smtp pacing …`
#[derive(Debug, Subcommand)]
pub enum PacingCmd {
    /// The rules (name, messages a minute, domains), then the pauses in force.
    List,
    /// Add or change a rule.
    Set {
        /// The group's name (gmail, microsoft, …).
        name: String,
        /// Its domains, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        domains: Vec<String>,
        /// Messages a minute, all accounts together.
        #[arg(long)]
        per_minute: i64,
    },
    /// Remove a rule: its domains are no longer paced.
    Remove {
        /// The group's name.
        name: String,
    },
}

/// `regua smtp add` flags.
#[derive(Debug, Args)]
pub struct SmtpAddArgs {
    /// Unique name.
    #[arg(long)]
    pub name: String,
    /// Outgoing server.
    #[arg(long, required_unless_present = "folder")]
    pub host: Option<String>,
    /// Port (587 suggests starttls, 465 tls).
    #[arg(long, required_unless_present = "folder")]
    pub port: Option<u16>,
    /// none, starttls or tls (default: by port, else starttls).
    #[arg(long)]
    pub security: Option<String>,
    /// User for AUTH (the server requires authentication).
    #[arg(long, requires = "password_env")]
    pub user: Option<String>,
    /// The environment variable holding the password (never pass it on the command line).
    #[arg(long, requires = "user")]
    pub password_env: Option<String>,
    /// Sender address.
    #[arg(long)]
    pub from: String,
    /// Sender name.
    #[arg(long, default_value = "")]
    pub from_name: String,
    /// Where test messages go by default.
    #[arg(long)]
    pub test_recipient: Option<String>,
    /// At most this many messages in any rolling hour.
    #[arg(long)]
    pub hourly_limit: Option<u32>,
    /// At most this many messages in any rolling 24 hours.
    #[arg(long)]
    pub daily_limit: Option<u32>,
    /// Make it the default account for boletos and invoices.
    #[arg(long)]
    pub default: bool,
    /// A PEM file of certificates to trust (a self-signed server).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Where overflow goes when this account's limits are reached (another account's name).
    #[arg(long)]
    pub fallback: Option<String>,
    /// Write messages as .eml files into this folder instead of an SMTP server.
    #[arg(long, conflicts_with_all = ["host", "port", "security", "user"])]
    pub folder: Option<std::path::PathBuf>,
    /// DKIM: selector, domain and RSA private key file (PKCS#1 PEM), all three.
    #[arg(long, requires_all = ["dkim_domain", "dkim_key"])]
    pub dkim_selector: Option<String>,
    /// DKIM signing domain.
    #[arg(long, requires = "dkim_selector")]
    pub dkim_domain: Option<String>,
    /// DKIM private key file.
    #[arg(long, requires = "dkim_selector")]
    pub dkim_key: Option<std::path::PathBuf>,
    /// The return path's domain: each message goes out with MAIL FROM
    /// bounces+<notice>.<tag>@DOMAIN, so its bounce names it (needs REGUA_SECRET_KEY; the
    /// domain's MX must reach the bounce mailbox). Off when absent.
    #[arg(long)]
    pub bounce_domain: Option<String>,
}

/// `regua worker` / `regua outbox drain` options.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// How long a claim is leased, in seconds; a crashed worker's notices are taken again after it.
    #[arg(long, default_value_t = 300)]
    pub lease_seconds: u64,
    /// Sends in flight at once (and SMTP connections per account).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Notices claimed at a time.
    #[arg(long, default_value_t = 64)]
    pub batch: i64,
    /// This worker's name in leases and the log (default host:pid).
    #[arg(long)]
    pub name: Option<String>,
    /// The bound on each network step (TCP connect, SMTP greeting, each command, the message
    /// transaction, TLS handshake, HTTP to SMS and push), in seconds.
    #[arg(long, env = "REGUA_NETWORK_TIMEOUT_SECONDS", default_value_t = 30)]
    pub timeout_seconds: u64,
}

impl WorkerArgs {
    /// The worker's options from the flags.
    pub fn options(&self) -> WorkerOptions {
        WorkerOptions {
            name: self
                .name
                .clone()
                .unwrap_or_else(crate::delivery::default_worker_name),
            lease: Duration::from_secs(self.lease_seconds.max(1)),
            batch: self.batch.max(1),
            concurrency: self.concurrency.max(1),
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
        }
    }
}

/// `regua outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Deliver what is due now and exit (a progress bar on a terminal).
    Drain(WorkerArgs),
    /// List notices, newest first.
    List {
        /// Only this status: queued, sending, sent, retrying, dead, skipped.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead or skipped notice back in the queue.
    Requeue {
        /// The notice's id.
        id: i64,
    },
}

/// `regua log` filters.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// One customer's messages (id or external id).
    #[arg(long)]
    pub customer: Option<String>,
    /// One invoice's collection history (id or external id).
    #[arg(long)]
    pub invoice: Option<String>,
    /// Only this outcome: sent, retrying, dead, skipped.
    #[arg(long)]
    pub status: Option<String>,
    /// From this date (inclusive).
    #[arg(long, value_parser = super::parse_date_arg)]
    pub from: Option<jiff::civil::Date>,
    /// Until this date (inclusive).
    #[arg(long, value_parser = super::parse_date_arg)]
    pub to: Option<jiff::civil::Date>,
    /// At most this many lines.
    #[arg(long, default_value_t = 200)]
    pub limit: i64,
}

pub(super) fn master_key() -> Result<Option<MasterKey>, SecretError> {
    match MasterKey::from_env() {
        Ok(k) => Ok(Some(k)),
        Err(SecretError::NoKey) => Ok(None),
        Err(e) => Err(e),
    }
}

fn bad(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{msg}");
    Ok(ExitCode::from(2))
}

/// Runs `regua smtp …`.
pub async fn smtp(g: &Global, cmd: SmtpCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        SmtpCmd::Add(a) => {
            let from = match EmailAddress::parse(&a.from) {
                Ok(f) => f,
                Err(e) => return bad(format!("--from: {e}")),
            };
            let test_recipient = match a
                .test_recipient
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()
            {
                Ok(t) => t,
                Err(e) => return bad(format!("--test-recipient: {e}")),
            };
            let port = a.port.unwrap_or(0);
            let security = match a.security.as_deref() {
                Some(s) => match s.parse::<Security>() {
                    Ok(s) => s,
                    Err(e) => return bad(format!("--security: {e}")),
                },
                None => Security::suggested_for_port(port).unwrap_or(Security::StartTls),
            };
            if let Some((en, _)) = security.refused_with_port(port) {
                return bad(format!("--security: {en}"));
            }
            if let Some(suggested) = Security::suggested_for_port(port)
                && suggested != security
            {
                eprintln!("warning: port {port} usually uses --security {suggested}");
            }
            let credentials = match (&a.user, &a.password_env) {
                (Some(user), Some(var)) => match std::env::var(var) {
                    Ok(p) if !p.is_empty() => Some((user.clone(), Secret::new(p))),
                    _ => return bad(format!("--password-env: the variable {var} is not set")),
                },
                _ => None,
            };
            let key = match master_key() {
                Ok(k) => k,
                Err(e) => return bad(e),
            };
            let account = NewSmtpAccount {
                name: a.name.clone(),
                transport: if a.folder.is_some() {
                    Transport::File
                } else {
                    Transport::Smtp
                },
                host: a.host.clone().unwrap_or_default(),
                port,
                security,
                credentials,
                folder: a.folder.as_ref().map(|f| f.display().to_string()),
                ca_file: a.ca_file.as_ref().map(|f| f.display().to_string()),
                from_address: from,
                from_name: a.from_name.clone(),
                test_recipient,
                hourly_limit: a.hourly_limit,
                daily_limit: a.daily_limit,
                fallback: a.fallback.clone(),
                dkim: match (&a.dkim_selector, &a.dkim_domain, &a.dkim_key) {
                    (Some(s), Some(d), Some(k)) => Some(crate::delivery::DkimConfig {
                        selector: s.clone(),
                        domain: d.clone(),
                        key_file: k.display().to_string(),
                    }),
                    _ => None,
                },
                bounce_domain: a.bounce_domain.clone().unwrap_or_default(),
            };
            if a.bounce_domain.is_some() && key.is_none() {
                return bad(
                    "--bounce-domain: REGUA_SECRET_KEY is not set: the return path is signed with it",
                );
            }
            if let Some(ca) = &a.ca_file
                && let Err(e) = std::fs::read(ca)
            {
                return bad(format!("--ca-file: cannot read {}: {e}", ca.display()));
            }
            match crate::actions::channels::add_smtp_account(
                &db,
                &account,
                key.as_ref(),
                a.default,
                &super::actor(),
                clock.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    println!(
                        "smtp account {:?} added (id {id}){}",
                        a.name,
                        if a.default {
                            ", default for boletos and invoices"
                        } else {
                            ""
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(ConfigError::Other(e)) => Err(e),
                Err(e) => bad(e.for_cli()),
            }
        }
        SmtpCmd::List => {
            let default =
                store::parties::get_setting(&mut conn, store::accounts::SETTING_FINANCIAL_ACCOUNT)
                    .await?;
            println!(
                "name\ttransport\tserver\tsecurity\tuser\tpassword\tfrom\thourly_limit\tdaily_limit\tdefault\tactive"
            );
            for a in store::accounts::list_smtp_accounts(&mut conn).await? {
                let server = match a.transport {
                    Transport::Smtp => format!("{}:{}", a.host, a.port),
                    Transport::File => a.folder.clone().unwrap_or_default(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    a.name,
                    a.transport,
                    server,
                    a.security,
                    a.username.as_deref().unwrap_or("-"),
                    if a.has_password { "(set)" } else { "-" },
                    a.from_address,
                    a.hourly_limit.map_or("-".into(), |l| l.to_string()),
                    a.daily_limit.map_or("-".into(), |l| l.to_string()),
                    if default.as_deref() == Some(a.name.as_str()) {
                        "yes"
                    } else {
                        "no"
                    },
                    if a.active { "yes" } else { "no" },
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SmtpCmd::Remove { name, move_to } => {
            match crate::actions::channels::remove_smtp_account(
                &db,
                &name,
                move_to.as_deref(),
                &super::actor(),
                clock.now_millis(),
            )
            .await
            {
                Ok(r) => {
                    println!(
                        "smtp account {name:?} removed (kept in the log as {:?})",
                        r.renamed_to
                    );
                    if let Some(to) = r.moved_to {
                        println!("{} waiting notice(s) moved to {to:?}", r.moved);
                    }
                    if r.was_financial {
                        println!(
                            "it was the financial account: choose another with `regua smtp default`"
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::actions::channels::RemoveError::Other(e)) => Err(e),
                Err(e) => bad(e.to_string()),
            }
        }
        SmtpCmd::Default { name } => {
            if crate::actions::channels::set_financial_account(
                &db,
                crate::actions::channels::AccountRef::Name(&name),
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                println!("{name:?} is the default account for boletos and invoices");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!("no active smtp account named {name:?}"))
            }
        }
        SmtpCmd::Pacing(cmd) => match cmd {
            PacingCmd::List => {
                for r in crate::store::pacing::list_rules(&mut conn).await? {
                    println!("{}\t{}/min\t{}", r.name, r.per_minute, r.domains.join(","));
                }
                let accounts = store::accounts::list_smtp_accounts(&mut conn).await?;
                for p in
                    crate::store::pacing::pauses_in_force(&mut conn, clock.now_millis()).await?
                {
                    let account = accounts
                        .iter()
                        .find(|a| a.id.0 == p.account_id)
                        .map_or(p.account_id.to_string(), |a| a.name.clone());
                    println!(
                        "paused\t{account}\t{}\tuntil {}\t{}",
                        p.domain_key,
                        clock.local_time(p.until, "%Y-%m-%d %H:%M:%S"),
                        p.reason
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            PacingCmd::Set {
                name,
                domains,
                per_minute,
            } => {
                let name = name.trim().to_string();
                if name.is_empty() {
                    return bad("the name is empty");
                }
                if per_minute < 1 {
                    return bad(format!(
                        "--per-minute: {per_minute} is not a positive number"
                    ));
                }
                let mut clean = Vec::new();
                for d in &domains {
                    let d = d.trim().to_ascii_lowercase();
                    if d.is_empty()
                        || d.contains('@')
                        || !d.contains('.')
                        || d.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        return bad(format!("--domains: {d:?} is not a domain"));
                    }
                    clean.push(d);
                }
                let rule = crate::domain::pacing::PacingRule {
                    name,
                    domains: clean,
                    per_minute,
                };
                drop(conn);
                crate::actions::channels::set_pacing(
                    &db,
                    &rule,
                    &super::actor(),
                    clock.now_millis(),
                )
                .await?;
                println!("pacing {}: {} a minute", rule.name, rule.per_minute);
                Ok(ExitCode::SUCCESS)
            }
            PacingCmd::Remove { name } => {
                drop(conn);
                if crate::actions::channels::remove_pacing(
                    &db,
                    &name,
                    &super::actor(),
                    clock.now_millis(),
                )
                .await?
                {
                    println!("pacing {name} removed");
                    Ok(ExitCode::SUCCESS)
                } else {
                    bad(format!("no pacing rule named {name}"))
                }
            }
        },
        SmtpCmd::Check { name, dns_server } => {
            let Some(account) = store::accounts::find_smtp_account(&mut conn, &name)
                .await?
                .filter(|a| a.active)
            else {
                return bad(format!("no active smtp account named {name:?}"));
            };
            let server = match dns_server {
                Some(s) => s,
                None => match crate::delivery::channels::email::dns::system_server() {
                    Ok(s) => s,
                    Err(e) => return bad(format!("--dns-server: {e:#}")),
                },
            };
            let findings = match crate::delivery::channels::email::check::check(
                &account,
                server,
                crate::delivery::network_timeout_from_env(),
            )
            .await
            {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("{name}: {e:#}");
                    return Ok(ExitCode::from(1));
                }
            };
            for f in &findings {
                println!("{}\t{}\t{}\t{}", f.check, f.verdict, f.name, f.detail);
            }
            Ok(if findings.iter().all(|f| f.verdict == "ok") {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        SmtpCmd::Test { name, to } => {
            let Some(account) = store::accounts::find_smtp_account(&mut conn, &name)
                .await?
                .filter(|a| a.active)
            else {
                return bad(format!("no active smtp account named {name:?}"));
            };
            let to = match to.as_deref().map(EmailAddress::parse).transpose() {
                Ok(t) => t,
                Err(e) => return bad(format!("--to: {e}")),
            };
            let id = match enqueue_test_message(
                &mut conn,
                &account,
                to.as_ref(),
                &super::actor().to_string(),
                clock.now_millis(),
            )
            .await
            {
                Ok(Enqueued::New(id) | Enqueued::Exists(id, _)) => id,
                Err(e) => return bad(format!("{e:#}")),
            };
            drop(conn);
            let worker = Worker::new(db.clone(), clock, WorkerOptions::default(), master_key()?);
            let (status, answer) = worker.deliver_and_answer(id).await?;
            match status {
                Some(NoticeStatus::Sent) => {
                    println!("sent: {answer}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(s) => {
                    eprintln!("not sent ({s}): {answer}");
                    Ok(ExitCode::FAILURE)
                }
                None => bad("the test message could not be claimed"),
            }
        }
    }
}

/// Runs `regua worker`: delivers until interrupted (Ctrl-C / SIGTERM finish the batch in flight).
pub async fn worker(g: &Global, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let options = args.options();
    let name = options.name.clone();
    let worker = Worker::new(db, g.clock()?, options, master_key()?);
    tracing::info!(worker = %name, "worker started");
    eprintln!("worker {name} delivering (Ctrl-C to stop)");
    worker
        .run(Duration::from_secs(1), shutdown_signal())
        .await?;
    eprintln!("worker {name} stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// Runs `regua outbox …`.
pub async fn outbox(g: &Global, cmd: OutboxCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    match cmd {
        OutboxCmd::Drain(args) => {
            let mut conn = db.pool.acquire().await?;
            let due = store::outbox::count_due_notices(&mut conn, clock.now_millis()).await?;
            drop(conn);
            let bar = indicatif::ProgressBar::new(u64::try_from(due).unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec}")
                    .context("progress template")?
                    .progress_chars("=> "),
            );
            bar.set_message("delivering");
            let worker = Worker::new(db, clock, args.options(), master_key()?);
            let report = worker
                .drain(|r| bar.inc(u64::try_from(r.claimed).unwrap_or(0)))
                .await?;
            bar.finish_and_clear();
            println!(
                "{} claimed: {} sent, {} retrying, {} dead, {} skipped",
                report.claimed, report.sent, report.retrying, report.dead, report.skipped
            );
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::List { status, limit } => {
            let status = match status
                .as_deref()
                .map(str::parse::<NoticeStatus>)
                .transpose()
            {
                Ok(s) => s,
                Err(e) => return bad(format!("--status: {e}")),
            };
            let mut conn = db.pool.acquire().await?;
            println!("id\tstatus\tattempts\tkey\trecipient\tpurpose\tactor\tlast_error");
            for n in store::outbox::list_notices(&mut conn, status, limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    n.id,
                    n.status,
                    n.attempts,
                    n.dedup_key,
                    n.recipient,
                    n.purpose,
                    n.actor,
                    n.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::Requeue { id } => {
            let mut conn = db.pool.acquire().await?;
            if store::outbox::requeue_notice(&mut conn, NoticeId(id), clock.now_millis()).await? {
                println!("notice {id} queued again");
                Ok(ExitCode::SUCCESS)
            } else {
                bad(format!(
                    "notice {id} is not dead or skipped (or does not exist)"
                ))
            }
        }
    }
}

/// Runs `regua log`.
pub async fn log(g: &Global, args: LogArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    let mut conn = db.pool.acquire().await?;
    let customer = match &args.customer {
        None => None,
        Some(c) => match store::parties::find_customer_by_external_id(&mut conn, c).await? {
            Some(found) => Some(found.id),
            None => match c.parse::<i64>() {
                Ok(id) => Some(crate::domain::CustomerId(id)),
                Err(_) => return bad(format!("--customer: no customer {c:?}")),
            },
        },
    };
    let invoice = match &args.invoice {
        None => None,
        Some(i) => match store::invoices::find_invoice_by_external_id(&mut conn, i).await? {
            Some(found) => Some(found.id),
            None => match i.parse::<i64>() {
                Ok(id) => Some(crate::domain::InvoiceId(id)),
                Err(_) => return bad(format!("--invoice: no invoice {i:?}")),
            },
        },
    };
    let outcome = match args
        .status
        .as_deref()
        .map(str::parse::<NoticeStatus>)
        .transpose()
    {
        Ok(s) => s,
        Err(e) => return bad(format!("--status: {e}")),
    };
    let tz = clock.time_zone();
    let day_start = |d: jiff::civil::Date| clock.start_of_day_ms(d);
    let filter = LogFilter {
        customer,
        invoice,
        outcome,
        from_ms: args.from.map(day_start).transpose()?,
        to_ms: args.to.map(|d| day_start(d.tomorrow()?)).transpose()?,
        limit: args.limit,
        ..LogFilter::default()
    };
    println!(
        "time\tnotice\toutcome\tcode\treply\tchannel\taccount\trecipient\tpurpose\tcaused_by\tms"
    );
    for a in store::log::list_attempts(&mut conn, &filter).await? {
        let when = jiff::Timestamp::from_millisecond(a.attempted_at)?.to_zoned(tz.clone());
        println!(
            "{} {}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            format_date(when.date()),
            when.time().strftime("%H:%M:%S"),
            a.notice_id,
            a.outcome,
            a.reply_code.map_or("-".into(), |c| c.to_string()),
            a.reply_text.replace(['\t', '\n'], " "),
            a.channel,
            a.account.as_deref().unwrap_or("-"),
            a.recipient,
            a.purpose,
            a.actor,
            a.duration_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a new master key for `REGUA_SECRET_KEY`.
pub fn secret_key() -> ExitCode {
    println!("{}", MasterKey::generate_hex());
    ExitCode::SUCCESS
}
