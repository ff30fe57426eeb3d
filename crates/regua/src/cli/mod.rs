//! The `regua` command line: every subcommand, its flags, and what it prints. Operators'
//! scripts depend on these names and formats; change them only with the docs.

mod access_cmd;
mod analytics_cmd;
mod billing_cmd;
mod boleto_cmd;
mod bounce_cmd;
mod channels_cmd;
mod cnab_cmd;
mod debt_cmd;
mod delivery_cmd;
mod dunning_cmd;
mod layout_cmd;
mod pix_cmd;
mod rule_cmd;
mod serve_cmd;
mod settings_cmd;
mod webhook_cmd;
mod whatsapp_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::domain::Clock;
use crate::import::ImportKind;
use crate::store::{self, Db};

/// Régua — régua de cobrança para provedores de internet.
#[derive(Debug, Parser)]
#[command(name = "regua", version, about = "Régua: billing communications for Brazilian ISPs", long_about = None)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Database URL: sqlite://FILE (default sqlite://regua.db) or postgres://USER:PASS@HOST/DB.
    #[arg(long, global = true, env = "REGUA_DATABASE_URL")]
    pub database: Option<String>,
    /// The ISP's time zone (IANA name).
    #[arg(long, global = true, env = "REGUA_TIMEZONE", default_value = crate::DEFAULT_TIME_ZONE)]
    pub timezone: String,
    /// The configuration file (default: REGUA_CONFIG, else /etc/regua/regua.toml when present).
    /// Its values are defaults: REGUA_* variables and flags override them.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Act as if today were this date (YYYY-MM-DD or dd/mm/aaaa), for simulations and tests.
    #[arg(long, global = true, env = "REGUA_TODAY", value_parser = parse_date_arg)]
    pub today: Option<jiff::civil::Date>,
}

fn parse_date_arg(s: &str) -> Result<jiff::civil::Date, String> {
    crate::domain::parse_date(s)
}

impl Global {
    fn clock(&self) -> anyhow::Result<Clock> {
        match self.today {
            Some(d) => Clock::at_date(&self.timezone, d),
            None => Clock::system(&self.timezone),
        }
        .map_err(|e| anyhow::anyhow!("--timezone: {e}"))
    }

    /// The database URL: `--database`, `REGUA_DATABASE_URL`, or the default file.
    fn url(&self) -> &str {
        self.database
            .as_deref()
            .unwrap_or(store::DEFAULT_DATABASE_URL)
    }

    async fn db(&self) -> anyhow::Result<Db> {
        Db::connect_and_migrate(self.url()).await
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: a fictitious ISP seeded into ./regua-demo.db, then a summary.
    Demo(crate::demo::DemoArgs),
    /// Create or update the database schema; with --check, only say what is pending (exit 1)
    /// or whether the database is newer than this binary (exit 2), changing nothing.
    Migrate {
        /// Change nothing: list pending migrations.
        #[arg(long, conflicts_with = "to")]
        check: bool,
        /// Copy this (SQLite) database into a new PostgreSQL database, every table, verified
        /// by row counts and SHA-256 checksums; nothing is committed unless all verify.
        #[arg(long, value_name = "POSTGRES_URL")]
        to: Option<String>,
    },
    /// Bring the database back to a backup (stop Régua first). Without --yes, only says what
    /// it would replace.
    Restore {
        /// The backup file (`regua backup --output`).
        file: std::path::PathBuf,
        /// Confirm: replace the database's contents with the backup.
        #[arg(long)]
        yes: bool,
    },
    /// A consistent copy of the live database to a new file (SQLite: VACUUM INTO, checked
    /// with PRAGMA integrity_check; PostgreSQL: pg_dump --format=custom).
    Backup {
        /// The file to write (must not exist).
        #[arg(long, conflicts_with = "dir")]
        output: Option<std::path::PathBuf>,
        /// Write `regua-YYYYMMDD-HHMMSS.db` (PostgreSQL: `.dump`) into this folder instead, then
        /// keep only the newest --keep backups there (the nightly backup; `[backup] dir`).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// With --dir: how many backups to keep (older ones are deleted).
        #[arg(long, default_value_t = 14)]
        keep: usize,
    },
    /// Recovery analytics ("Resultados da cobrança"): refresh the daily aggregates, print a
    /// period's figures per step and channel.
    #[command(subcommand)]
    Analytics(analytics_cmd::AnalyticsCmd),
    /// The configuration file: `regua config check` validates it, naming each key at fault.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Import customers, contracts, invoices or payments from a CSV file (all or nothing).
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// The CSV file (comma or semicolon separated, with a header row).
        file: std::path::PathBuf,
        /// utf-8, windows-1252 or iso-8859-1 (default: detected — UTF-8 when the bytes are,
        /// else Windows-1252, what Brazilian ERPs and Excel export).
        #[arg(long, value_parser = |s: &str| s.parse::<crate::import::Encoding>())]
        encoding: Option<crate::import::Encoding>,
    },
    /// Invoices (faturas): generate a contract's monthly invoices, list them.
    #[command(subcommand)]
    Invoices(billing_cmd::InvoicesCmd),
    /// Billing wallets (carteiras de cobrança).
    #[command(subcommand)]
    Wallet(billing_cmd::WalletCmd),
    /// Billing methods (formas de cobrança).
    #[command(subcommand)]
    Method(billing_cmd::MethodCmd),
    /// Build a synthetic ISP in a fresh database and time each stage (see BENCHMARKS.md).
    Bench {
        /// Synthetic customers (each with one contract).
        #[arg(long, default_value_t = 100_000)]
        customers: u64,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
        /// Deliver the enqueued notices to this SMTP server (no TLS, no AUTH), e.g. Postfix's
        /// smtp-sink; without it the `deliver` stage is left out.
        #[arg(long)]
        smtp: Option<String>,
        /// Concurrent SMTP connections in the `deliver` stage (and sends in flight in the
        /// `whatsapp` stage).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Send the same reminders by WhatsApp to this Cloud API stand-in (`mailsink`'s
        /// `cloudapi --token regua-bench`; bench/whatsapp starts it); without it the `whatsapp`
        /// stage is left out.
        #[arg(long)]
        whatsapp: Option<String>,
        /// Months of invoices generated per contract.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=24))]
        months: u32,
        /// Boletos per delivered message: 1, a reminder (12 KB PDF); N > 1, a contract's
        /// generation message with N boletos in one PDF (4 ≈ 50 KB; at most --months).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=24))]
        pdf_pages: u32,
    },
    /// Boleto codes, PDFs and digitable-line checks.
    #[command(subcommand)]
    Boleto(boleto_cmd::BoletoCmd),
    /// Bank return files (arquivo de retorno, CNAB 400/240): read one, import one.
    #[command(subcommand)]
    Cnab(cnab_cmd::CnabCmd),
    /// PIX: the PSPs whose payment webhooks are accepted.
    #[command(subcommand)]
    Pix(pix_cmd::PixCmd),
    /// E-mail accounts (E-mail SMTP): add, list, remove, test, default.
    #[command(subcommand)]
    Smtp(delivery_cmd::SmtpCmd),
    /// SMS gateways (any provider's HTTP API): add, list, remove.
    #[command(subcommand)]
    Sms(channels_cmd::SmsCmd),
    /// WhatsApp through Meta's Cloud API: accounts, their templates, blocked numbers.
    #[command(subcommand)]
    Whatsapp(whatsapp_cmd::WhatsappCmd),
    /// Push notifications through Firebase: configure (the service-account file), status.
    #[command(subcommand)]
    Push(channels_cmd::PushCmd),
    /// Outbound webhooks (Standard Webhooks): endpoints, secrets, deliveries, replay.
    #[command(subcommand)]
    Webhook(webhook_cmd::WebhookCmd),
    /// Suspension for non-payment by the book (Anatel's RGC): run the clock, status, a
    /// contract's timeline, the network's confirmations.
    #[command(subcommand)]
    Debt(debt_cmd::DebtCmd),
    /// Suspend a contract temporarily; its customer is told by the suspension notice method.
    Suspend(channels_cmd::SuspendArgs),
    /// Notice methods: `regua notify test email|sms|push|whatsapp --to …` sends a test now.
    #[command(subcommand)]
    Notify(channels_cmd::NotifyCmd),
    /// Run the delivery worker until interrupted.
    Worker(delivery_cmd::WorkerArgs),
    /// The outbox: drain what is due now, list notices, requeue a dead one.
    #[command(subcommand)]
    Outbox(delivery_cmd::OutboxCmd),
    /// The delivery log: every attempt, by customer, invoice, outcome or date.
    Log(delivery_cmd::LogArgs),
    /// Print a new master key for REGUA_SECRET_KEY (it seals SMTP passwords at rest).
    SecretKey,
    /// Returned e-mail: `regua bounce classify FILE.eml [--json]` says what a bounce means.
    #[command(subcommand)]
    Bounce(bounce_cmd::BounceCmd),
    /// Send rules of the billing methods (regras de envio): add, list, remove.
    #[command(subcommand)]
    Rule(rule_cmd::RuleCmd),
    /// Holidays: a year's national and ISP holidays (`regua holidays 2026`), and the ISP's
    /// own (`regua holidays add|list|remove`).
    Holidays(dunning_cmd::HolidaysArgs),
    /// Run the server: HTTP (/health), the delivery worker and the routine scheduler, until
    /// SIGTERM or Ctrl-C.
    Serve(serve_cmd::ServeArgs),
    /// Users of the web UI: add (prints a one-time password, to be changed at the first login),
    /// list.
    #[command(subcommand)]
    User(access_cmd::UserCmd),
    /// The subscriber portal (Central do Assinante): set a subscriber's password.
    #[command(subcommand)]
    Portal(access_cmd::PortalCmd),
    /// API keys of integrations: add (prints the key once), list, revoke.
    #[command(subcommand)]
    Apikey(access_cmd::ApiKeyCmd),
    /// Overdue bands ("faixas de atraso") and manual emission.
    #[command(subcommand)]
    Band(dunning_cmd::BandCmd),
    /// Routines ("rotinas"): add, list, remove, run now (or dry-run) as if on a date.
    #[command(subcommand)]
    Routine(dunning_cmd::RoutineCmd),
    /// Pause dunning for a customer or an invoice until a date ("promessa de pagamento").
    Pause(dunning_cmd::PauseArgs),
    /// Collection letters of email_and_letter bands: list, preview, approve, reject.
    #[command(subcommand)]
    Letters(dunning_cmd::LettersCmd),
    /// General parameters: the company profile (name, phone, portal URL…) and defaults.
    #[command(subcommand)]
    Settings(settings_cmd::SettingsCmd),
    /// E-mail layouts: check a template file, preview, list, save, restore the default.
    #[command(subcommand)]
    Layout(layout_cmd::LayoutCmd),
}

/// `regua config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration file: exit 0 when it can be used, 1 naming each key at
    /// fault and why (unknown keys, wrong types, unreadable key files, unknown time zone…).
    Check,
}

/// Parses the command line with the configuration file's values as defaults (`crate::config`).
/// A file that cannot be used stops every command but `regua config check`, which reports it.
pub fn parse() -> Result<Cli, crate::config::ConfigError> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let loaded =
        crate::config::locate(&args).map(|path| crate::config::read(&path).map(|c| (path, c)));
    let checking = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .collect::<Vec<_>>();
    let checking = checking.windows(2).any(|w| w == ["config", "check"]);
    let cmd = match &loaded {
        Some(Ok((_, config))) => crate::config::apply(Cli::command(), config),
        Some(Err(e)) if !checking => return Err(e.clone()),
        _ => Cli::command(),
    };
    let matches = cmd.get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(Ok((path, config))) = loaded {
        crate::config::install(Some(path), config);
    }
    Ok(cli)
}

/// `regua config check`: exit 0 when usable, 1 with each problem on its own line.
fn config_check(g: &Global) -> ExitCode {
    let Some(path) = g.config.clone().or_else(|| crate::config::locate(&[])) else {
        println!(
            "no configuration file ({} is absent, REGUA_CONFIG unset): built-in defaults and REGUA_* variables apply",
            crate::config::DEFAULT_CONFIG_PATH
        );
        return ExitCode::SUCCESS;
    };
    let shown = path.display().to_string();
    let problems = match crate::config::read(&path) {
        Ok(config) => crate::config::check(&shown, &config),
        Err(e) => vec![e],
    };
    if problems.is_empty() {
        println!("{shown}: ok");
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    ExitCode::from(1)
}

/// `cli: USER`: who a command-line change is recorded as.
pub(super) fn actor() -> crate::domain::Actor {
    crate::domain::Actor::Cli(std::env::var("USER").unwrap_or_else(|_| "operator".into()))
}

/// Runs a parsed command line; the exit code says whether it succeeded.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(args) => serve_cmd::demo(g, args).await,
        Command::Migrate { check: true, .. } => {
            let db = Db::connect(g.url()).await?;
            let status = store::schema_status(&db).await?;
            if !status.unknown.is_empty() {
                eprintln!(
                    "the database's schema is newer than this regua (migration(s) {:?} unknown): install the newer regua",
                    status.unknown
                );
                return Ok(ExitCode::from(2));
            }
            if status.pending.is_empty() {
                println!(
                    "database is up to date ({} migrations)",
                    store::MIGRATIONS.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            for (v, name) in &status.pending {
                println!("pending {v:04}_{name}");
            }
            Ok(ExitCode::from(1))
        }
        Command::Restore { file, yes } => {
            if !yes {
                eprintln!(
                    "this replaces everything in {} with {}; stop regua serve and the workers, then run again with --yes",
                    store::redact_url(g.url()),
                    file.display()
                );
                return Ok(ExitCode::from(2));
            }
            crate::backup::restore(g.url(), &file).await?;
            // The restored database is migrated to this binary's schema like any other.
            let db = g.db().await?;
            drop(db);
            println!(
                "restored {} from {}",
                store::redact_url(g.url()),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { output, dir, keep } => {
            let db = g.db().await?;
            let (r, removed) = match (output, dir) {
                (Some(output), _) => (crate::backup::backup(&db, g.url(), &output).await?, vec![]),
                (None, Some(dir)) => {
                    crate::backup::backup_into(&db, g.url(), &dir, keep, jiff::Timestamp::now())
                        .await?
                }
                (None, None) => {
                    eprintln!(
                        "regua backup: --output FILE or --dir DIR (or [backup] dir in the configuration file)"
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            println!("backup written to {} ({} bytes)", r.path.display(), r.bytes);
            for old in removed {
                println!("removed {}", old.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCmd::Check) => Ok(config_check(g)),
        Command::Analytics(cmd) => analytics_cmd::run(g, cmd).await,
        Command::Migrate {
            check: false,
            to: Some(to),
        } => {
            let source = g.db().await?;
            if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
                eprintln!("--to: a PostgreSQL URL (postgres://USER:PASS@HOST/DB)");
                return Ok(ExitCode::from(2));
            }
            if source.backend != store::Backend::Sqlite {
                eprintln!(
                    "--to: the database to copy from must be SQLite (this one is PostgreSQL: use pg_dump)"
                );
                return Ok(ExitCode::from(2));
            }
            let target = Db::connect_and_migrate(&to).await?;
            let report = store::copy::copy_database(&source, &target, |c| {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.table,
                    c.source_rows,
                    c.target_rows,
                    c.target_sha256,
                    if c.verified() { "ok" } else { "MISMATCH" }
                );
            })
            .await?;
            println!(
                "copied {} tables, {} rows, into {}: row counts and SHA-256 checksums match; point database_url at it",
                report.len(),
                report.iter().map(|c| c.target_rows).sum::<u64>(),
                store::redact_url(&to)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { check: false, .. } => {
            let db = g.db().await?;
            println!(
                "database is up to date ({:?}, {} migrations)",
                db.backend,
                store::MIGRATIONS.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            kind,
            file,
            encoding,
        } => billing_cmd::import(g, kind, &file, encoding).await,
        Command::Invoices(cmd) => billing_cmd::invoices(g, cmd).await,
        Command::Wallet(cmd) => billing_cmd::wallet(g, cmd).await,
        Command::Method(cmd) => billing_cmd::method(g, cmd).await,
        Command::Boleto(cmd) => boleto_cmd::run(cmd),
        Command::Cnab(cmd) => cnab_cmd::run(g, cmd).await,
        Command::Pix(cmd) => pix_cmd::run(g, cmd).await,
        Command::Layout(cmd) => layout_cmd::run(g, cmd).await,
        Command::Settings(cmd) => settings_cmd::settings(g, cmd).await,
        Command::Smtp(cmd) => delivery_cmd::smtp(g, cmd).await,
        Command::Worker(args) => delivery_cmd::worker(g, args).await,
        Command::Sms(cmd) => channels_cmd::sms(g, cmd).await,
        Command::Push(cmd) => channels_cmd::push(g, cmd).await,
        Command::Whatsapp(cmd) => whatsapp_cmd::run(g, cmd).await,
        Command::Suspend(args) => channels_cmd::suspend(g, args).await,
        Command::Debt(cmd) => debt_cmd::run(g, cmd).await,
        Command::Webhook(cmd) => webhook_cmd::run(g, cmd).await,
        Command::Notify(cmd) => channels_cmd::notify(g, cmd).await,
        Command::Outbox(cmd) => delivery_cmd::outbox(g, cmd).await,
        Command::Log(args) => delivery_cmd::log(g, args).await,
        Command::SecretKey => Ok(delivery_cmd::secret_key()),
        Command::Bounce(cmd) => bounce_cmd::run(g, cmd).await,
        Command::Rule(cmd) => rule_cmd::rule(g, cmd).await,
        Command::Holidays(args) => dunning_cmd::holidays(g, args).await,
        Command::Serve(args) => serve_cmd::serve(g, args).await,
        Command::User(cmd) => access_cmd::user(g, cmd).await,
        Command::Portal(cmd) => access_cmd::portal(g, cmd).await,
        Command::Apikey(cmd) => access_cmd::apikey(g, cmd).await,
        Command::Band(cmd) => dunning_cmd::band(g, cmd).await,
        Command::Routine(cmd) => dunning_cmd::routine(g, cmd).await,
        Command::Pause(args) => dunning_cmd::pause(g, args).await,
        Command::Letters(cmd) => dunning_cmd::letters(g, cmd).await,
        Command::Bench {
            customers,
            json,
            smtp,
            concurrency,
            whatsapp,
            months,
            pdf_pages,
        } => {
            let options = crate::bench::BenchOptions {
                customers,
                smtp,
                whatsapp,
                concurrency,
                mail_dir: std::path::PathBuf::new(),
                months,
                pdf_pages,
            };
            serve_cmd::bench(g, options, json).await
        }
    }
}

/// `--channels` and `--mode` of `rule add` and `band add`, with the flag named in the error.
pub(crate) fn channel_plan(
    channels: &str,
    mode: &str,
) -> Result<crate::domain::rules::ChannelPlan, String> {
    if let Err(e) = mode.parse::<crate::domain::rules::ChannelMode>() {
        return Err(format!("--mode: {e}"));
    }
    crate::domain::rules::ChannelPlan::parse(channels, mode).map_err(|e| format!("--channels: {e}"))
}
