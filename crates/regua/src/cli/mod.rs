//! The `regua` command line: every subcommand, its flags, and what it prints. Operators'
//! scripts depend on these names and formats; change them only with the docs.

mod boleto_cmd;
mod channels_cmd;
mod delivery_cmd;
mod dunning_cmd;
mod layout_cmd;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::domain::{Clock, NewWallet, WalletKind, format_date};
use crate::import::{ImportError, ImportKind};
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

    async fn db(&self) -> anyhow::Result<Db> {
        Db::connect_and_migrate(
            self.database
                .as_deref()
                .unwrap_or(store::DEFAULT_DATABASE_URL),
        )
        .await
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: a fictitious ISP seeded into ./regua-demo.db, then a summary.
    Demo(crate::demo::DemoArgs),
    /// Create or update the database schema.
    Migrate,
    /// Import customers, contracts, invoices or payments from a CSV file (all or nothing).
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// The CSV file (UTF-8, comma or semicolon separated, with a header row).
        file: std::path::PathBuf,
    },
    /// Invoices (faturas): generate a contract's monthly invoices, list them.
    #[command(subcommand)]
    Invoices(InvoicesCmd),
    /// Billing wallets (carteiras de cobrança).
    #[command(subcommand)]
    Wallet(WalletCmd),
    /// Billing methods (formas de cobrança).
    #[command(subcommand)]
    Method(MethodCmd),
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
        /// Concurrent SMTP connections in the `deliver` stage.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
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
    /// E-mail accounts (E-mail SMTP): add, list, remove, test, default.
    #[command(subcommand)]
    Smtp(delivery_cmd::SmtpCmd),
    /// SMS gateways (any provider's HTTP API): add, list, remove.
    #[command(subcommand)]
    Sms(channels_cmd::SmsCmd),
    /// Push notifications through Firebase: configure (the service-account file), status.
    #[command(subcommand)]
    Push(channels_cmd::PushCmd),
    /// Suspend a contract temporarily; its customer is told by the suspension notice method.
    Suspend(channels_cmd::SuspendArgs),
    /// Notice methods: `regua notify test email|sms|push --to …` sends a test now.
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
    /// Send rules of the billing methods (regras de envio): add, list, remove.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Holidays: a year's national and ISP holidays (`regua holidays 2026`), and the ISP's
    /// own (`regua holidays add|list|remove`).
    Holidays(dunning_cmd::HolidaysArgs),
    /// Run the server: HTTP (/health), the delivery worker and the routine scheduler, until
    /// SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Users of the web UI: add (prints a one-time password, to be changed at the first login),
    /// list.
    #[command(subcommand)]
    User(UserCmd),
    /// The subscriber portal (Central do Assinante): set a subscriber's password.
    #[command(subcommand)]
    Portal(PortalCmd),
    /// API keys of integrations: add (prints the key once), list, revoke.
    #[command(subcommand)]
    Apikey(ApiKeyCmd),
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
    Settings(SettingsCmd),
    /// E-mail layouts: check a template file, preview, list, save, restore the default.
    #[command(subcommand)]
    Layout(layout_cmd::LayoutCmd),
}

/// `regua portal …`
#[derive(Debug, Subcommand)]
pub enum PortalCmd {
    /// Set the portal password of a CPF/CNPJ (when moving subscribers from another system, or
    /// for support); the subscriber's sessions end. Subscribers normally create theirs with the
    /// link "primeiro acesso".
    Password {
        /// The CPF or CNPJ (with or without punctuation); a customer must have it.
        #[arg(long)]
        document: String,
        /// The environment variable holding the password (never pass it on the command line).
        #[arg(long)]
        password_env: String,
    },
}

async fn portal(g: &Global, cmd: PortalCmd) -> anyhow::Result<ExitCode> {
    let PortalCmd::Password {
        document,
        password_env,
    } = cmd;
    let Some(digits) = crate::actions::self_service::document_digits(&document) else {
        eprintln!("--document: {document:?} is not a valid CPF or CNPJ");
        return Ok(ExitCode::from(2));
    };
    let password = std::env::var(&password_env).unwrap_or_default();
    if password.chars().count() < crate::actions::self_service::MIN_PASSWORD_LEN {
        eprintln!(
            "--password-env: {password_env} must hold a password of at least {} characters",
            crate::actions::self_service::MIN_PASSWORD_LEN
        );
        return Ok(ExitCode::from(2));
    }
    let db = g.db().await?;
    if !crate::actions::access::set_portal_password(
        &db,
        &digits,
        &password,
        &actor(),
        g.clock()?.now_millis(),
    )
    .await?
    {
        eprintln!("--document: no customer has the document {document}");
        return Ok(ExitCode::from(2));
    }
    println!("portal password set for {document}");
    Ok(ExitCode::SUCCESS)
}

/// `regua user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user; prints the password to give them once.
    Add {
        /// Login name.
        #[arg(long)]
        login: String,
        /// admin, finance, support or readonly (Administrador, Financeiro, Atendimento, Somente leitura).
        #[arg(long)]
        role: String,
        /// Full name (default: the login).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the users.
    List,
}

/// `regua apikey …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Add a key for an integration; prints it once.
    Add {
        /// The integration's name.
        #[arg(long)]
        name: String,
        /// Comma-separated: view, send, billing, email, dunning, users; or all.
        #[arg(long, default_value = "view")]
        permissions: String,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key by name.
    Revoke {
        /// The integration's name.
        name: String,
    },
}

/// `regua serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Do not run the delivery worker in this process (run `regua worker` elsewhere).
    #[arg(long)]
    pub no_worker: bool,
    /// Do not run the routine scheduler in this process.
    #[arg(long)]
    pub no_scheduler: bool,
    /// How often the scheduler checks the routines, in seconds.
    #[arg(long, default_value_t = 30)]
    pub tick_seconds: u64,
    /// Mark session cookies Secure: set it when a TLS proxy fronts the server.
    #[arg(long)]
    pub secure_cookies: bool,
    /// Require `Authorization: Bearer TOKEN` on /metrics.
    #[arg(long, env = "REGUA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve /metrics to anyone, without a token (it names the e-mail accounts). Without this
    /// or a token, /metrics answers 401.
    #[arg(long)]
    pub metrics_open: bool,
    /// The worker's options.
    #[command(flatten)]
    pub worker: delivery_cmd::WorkerArgs,
}

/// `regua invoices …`
#[derive(Debug, Subcommand)]
pub enum InvoicesCmd {
    /// "Gerar financeiro do contrato": create the next N monthly invoices of a contract, or of
    /// every contract not cancelled with --all (idempotent: what exists is skipped).
    Generate {
        /// The contract's id or external id.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        contract: Option<String>,
        /// Every contract that is not cancelled, in transactions of 500 contracts.
        #[arg(long)]
        all: bool,
        /// How many months ahead.
        #[arg(long, default_value_t = 1)]
        months: u32,
    },
    /// "Enviar por e-mail agora": queue an invoice's e-mail (boleto attached) with an
    /// account's default message; `regua outbox drain` or a worker delivers it.
    Send {
        /// The invoice's id or external id.
        #[arg(long)]
        invoice: String,
        /// The e-mail account (default: the one in the financial parameters).
        #[arg(long)]
        account: Option<String>,
    },
    /// List a contract's invoices.
    List {
        /// The contract's id or external id.
        #[arg(long)]
        contract: String,
    },
}

/// `regua wallet …`
#[derive(Debug, Subcommand)]
pub enum WalletCmd {
    /// Add a billing wallet.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// FEBRABAN bank code: 001, 033, 104, 237, 341, 748, 756.
        #[arg(long)]
        bank: String,
        /// Agência (digits, without check digit).
        #[arg(long)]
        agency: String,
        /// Conta (digits, optionally -digit).
        #[arg(long)]
        account: String,
        /// Carteira.
        #[arg(long)]
        wallet: String,
        /// Convênio / código do beneficiário.
        #[arg(long)]
        agreement: String,
        /// bank or gateway.
        #[arg(long, default_value = "bank", value_parser = parse_kind)]
        kind: WalletKind,
        /// E-mail the customer when the contract's invoices are generated.
        #[arg(long)]
        send_on_generate: bool,
        /// PIX key, so boletos carry a PIX QR code.
        #[arg(long)]
        pix_key: Option<String>,
    },
    /// List billing wallets.
    List,
}

fn parse_kind(s: &str) -> Result<WalletKind, String> {
    s.parse()
}

/// `regua method …`
#[derive(Debug, Subcommand)]
pub enum MethodCmd {
    /// Add a billing method issuing through a wallet.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// The wallet's name.
        #[arg(long)]
        wallet: String,
    },
    /// List billing methods.
    List,
}

/// `regua settings …`
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Print every known setting and its value (defaults marked).
    List,
    /// Set one setting.
    Set {
        /// The key (see `regua settings list`).
        key: String,
        /// The value.
        value: String,
    },
}

/// `cli: USER`: who a command-line change is recorded as.
pub(super) fn actor() -> crate::domain::Actor {
    crate::domain::Actor::Cli(std::env::var("USER").unwrap_or_else(|_| "operator".into()))
}

async fn settings(g: &Global, cmd: SettingsCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        SettingsCmd::List => {
            for spec in store::settings::SETTINGS {
                match store::parties::get_setting(&mut conn, spec.key).await? {
                    Some(v) => println!("{}\t{v}", spec.key),
                    None => println!("{}\t{}\t(default)", spec.key, spec.default),
                }
            }
        }
        SettingsCmd::Set { key, value } => {
            let Some(spec) = store::settings::setting_spec(&key) else {
                eprintln!(
                    "unknown setting {key:?}; known: {}",
                    store::settings::SETTINGS
                        .iter()
                        .map(|s| s.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(ExitCode::from(2));
            };
            let value = match store::settings::check_setting(spec, &value) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{key}: {}", e.en);
                    return Ok(ExitCode::from(2));
                }
            };
            if let Err(e) = store::settings::check_setting_in_db(&mut conn, spec, &value).await? {
                eprintln!("{key}: {}", e.en);
                return Ok(ExitCode::from(2));
            }
            crate::actions::billing_setup::set_settings(
                &db,
                &[(key.as_str(), value.clone())],
                crate::actions::billing_setup::Unset::ReadsAsNone,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            println!("{key} = {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

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
    },
    /// List every rule.
    List,
    /// Remove a rule by id.
    Remove {
        /// The rule's id (see `regua rule list`).
        id: i64,
    },
}

fn parse_rule_kind(s: &str) -> Result<crate::dunning::RuleKind, String> {
    s.parse()
}

async fn rule(g: &Global, cmd: RuleCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        RuleCmd::Add {
            method,
            kind,
            days,
            layout,
        } => {
            match crate::actions::dunning::add_rule(
                &db,
                &method,
                kind,
                days,
                layout.as_deref(),
                &actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    println!(
                        "rule {id} added: {} {days} day(s) on {method:?}",
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
            println!("id\tmethod\tkind\tdays\tlayout");
            for r in store::rules::list_send_rules(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
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
                        .map_or("?", |l| l.name.as_str())
                );
            }
        }
        RuleCmd::Remove { id } => {
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

/// Runs a parsed command line; the exit code says whether it succeeded.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(args) => {
            let db = crate::demo::run(&args, &g.clock()?, g.database.as_deref()).await?;
            if args.no_serve {
                return Ok(ExitCode::SUCCESS);
            }
            let password = crate::demo::reset_admin(&db, &g.clock()?).await?;
            let (document, portal_password) =
                crate::demo::reset_subscriber(&db, &g.clock()?).await?;
            let options = crate::server::ServeOptions {
                bind: args.bind,
                worker: Some(crate::delivery::WorkerOptions {
                    name: "demo".into(),
                    lease: std::time::Duration::from_secs(300),
                    batch: 64,
                    concurrency: 4,
                    timeout: crate::delivery::network_timeout_from_env(),
                }),
                scheduler_tick: Some(std::time::Duration::from_secs(30)),
                secure_cookies: false,
                metrics: crate::web::MetricsAccess::Closed,
            };
            crate::server::serve(
                db,
                g.clock()?,
                None,
                options,
                |addr| {
                    println!("Interface web: http://{addr}  (login: admin, senha: {password})");
                    println!(
                        "Central do Assinante: http://{addr}/central  (CPF/CNPJ: {document}, senha: {portal_password})"
                    );
                    println!("Ctrl-C encerra.");
                },
                delivery_cmd::shutdown_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let db = g.db().await?;
            println!(
                "database is up to date ({:?}, {} migrations)",
                db.backend,
                store::MIGRATIONS.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { kind, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let db = g.db().await?;
            match crate::import::import_csv(&db, kind, &bytes, &g.clock()?).await {
                Ok(r) => {
                    println!(
                        "imported {}: {} created, {} updated",
                        file.display(),
                        r.created,
                        r.updated
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(ImportError::BadRows(rows)) => {
                    for r in &rows {
                        eprintln!("{r}");
                    }
                    eprintln!(
                        "{}: {} bad row(s); nothing was imported",
                        file.display(),
                        rows.len()
                    );
                    Ok(ExitCode::from(2))
                }
                Err(ImportError::Other(e)) => Err(e.context("import failed; nothing was imported")),
            }
        }
        Command::Invoices(cmd) => invoices(g, cmd).await,
        Command::Wallet(cmd) => wallet(g, cmd).await,
        Command::Method(cmd) => method(g, cmd).await,
        Command::Boleto(cmd) => boleto_cmd::run(cmd),
        Command::Layout(cmd) => layout_cmd::run(g, cmd).await,
        Command::Settings(cmd) => settings(g, cmd).await,
        Command::Smtp(cmd) => delivery_cmd::smtp(g, cmd).await,
        Command::Worker(args) => delivery_cmd::worker(g, args).await,
        Command::Sms(cmd) => channels_cmd::sms(g, cmd).await,
        Command::Push(cmd) => channels_cmd::push(g, cmd).await,
        Command::Suspend(args) => channels_cmd::suspend(g, args).await,
        Command::Notify(cmd) => channels_cmd::notify(g, cmd).await,
        Command::Outbox(cmd) => delivery_cmd::outbox(g, cmd).await,
        Command::Log(args) => delivery_cmd::log(g, args).await,
        Command::SecretKey => Ok(delivery_cmd::secret_key()),
        Command::Rule(cmd) => rule(g, cmd).await,
        Command::Holidays(args) => dunning_cmd::holidays(g, args).await,
        Command::Serve(args) => serve(g, args).await,
        Command::User(cmd) => user(g, cmd).await,
        Command::Portal(cmd) => portal(g, cmd).await,
        Command::Apikey(cmd) => apikey(g, cmd).await,
        Command::Band(cmd) => dunning_cmd::band(g, cmd).await,
        Command::Routine(cmd) => dunning_cmd::routine(g, cmd).await,
        Command::Pause(args) => dunning_cmd::pause(g, args).await,
        Command::Letters(cmd) => dunning_cmd::letters(g, cmd).await,
        Command::Bench {
            customers,
            json,
            smtp,
            concurrency,
            months,
            pdf_pages,
        } => {
            // Without --database, a fresh SQLite file in a temporary directory.
            let tmp = tempfile::tempdir()?;
            let url = g
                .database
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", tmp.path().join("bench.db").display()));
            let options = crate::bench::BenchOptions {
                customers,
                smtp,
                concurrency,
                mail_dir: tmp.path().join("mail"),
                months,
                pdf_pages,
            };
            let report = crate::bench::run(&url, &options, &g.clock()?).await?;
            print!("{}", crate::bench::table(&report));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn apikey(g: &Global, cmd: ApiKeyCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    let now = g.clock()?.now_millis();
    match cmd {
        ApiKeyCmd::Add { name, permissions } => {
            let perms = match crate::web::auth::Permission::parse_list(&permissions) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("--permissions: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match crate::actions::access::add_api_key(&db, &name, &perms, &actor(), now).await {
                Ok((_, token)) => {
                    let list: Vec<&str> = perms.iter().map(|p| p.as_str()).collect();
                    println!("API key {name:?} added ({})", list.join(","));
                    println!("key: {token}");
                }
                Err(store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("{}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        ApiKeyCmd::List => {
            println!("name\tpermissions\tstatus");
            for k in store::auth::list_api_keys(&mut conn).await? {
                let list: Vec<&str> = k.permissions.iter().map(|p| p.as_str()).collect();
                println!(
                    "{}\t{}\t{}",
                    k.name,
                    list.join(","),
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        ApiKeyCmd::Revoke { name } => {
            if crate::actions::access::revoke_api_key(&db, &name, &actor(), now).await? {
                println!("API key {name:?} revoked");
            } else {
                eprintln!("no active API key named {name:?}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn user(g: &Global, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        UserCmd::Add { login, role, name } => {
            let role: crate::web::auth::Role = match role.parse() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("--role: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let password = crate::web::auth::new_password();
            match crate::actions::access::add_user(
                &db,
                &login,
                &name,
                role,
                &password,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(_) => {
                    println!("user {login:?} added ({})", role.label_pt());
                    println!("password: {password}");
                }
                Err(store::parties::ConfigError::Other(e)) => return Err(e),
                Err(e) => {
                    eprintln!("{}", e.for_cli());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        UserCmd::List => {
            println!("login\tname\trole\tactive");
            for u in store::auth::list_users(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.login,
                    u.name,
                    u.role.as_str(),
                    if u.active { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(g: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let options = crate::server::ServeOptions {
        bind: args.bind,
        worker: (!args.no_worker).then(|| args.worker.options()),
        scheduler_tick: (!args.no_scheduler)
            .then(|| std::time::Duration::from_secs(args.tick_seconds.max(1))),
        secure_cookies: args.secure_cookies,
        metrics: crate::web::MetricsAccess::from_options(args.metrics_token, args.metrics_open),
    };
    crate::server::serve(
        db,
        g.clock()?,
        delivery_cmd::master_key()?,
        options,
        |addr| eprintln!("regua serve: http://{addr} (Ctrl-C to stop)"),
        delivery_cmd::shutdown_signal(),
    )
    .await?;
    eprintln!("regua serve: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn invoices(g: &Global, cmd: InvoicesCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    match cmd {
        InvoicesCmd::Generate {
            contract: None,
            months,
            ..
        } => {
            let clock = g.clock()?;
            let mut conn = db.pool.acquire().await?;
            let total = store::parties::count_active_contracts(&mut conn).await?;
            drop(conn);
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec}")
                    .context("progress template")?
                    .progress_chars("=> "),
            );
            bar.set_message("generating");
            let report =
                crate::invoicing::generate_all(&db, months, &clock, |done| bar.set_position(done))
                    .await?;
            bar.finish_and_clear();
            println!(
                "{} contract(s): {} invoice(s) created, {} month(s) already had one; {} generation e-mail(s) queued",
                report.contracts, report.created, report.skipped_months, report.queued
            );
            if report.no_account > 0 {
                eprintln!(
                    "warning: {} contract(s) are on wallets that send e-mail on generation but no financial SMTP account is set (regua smtp default NAME); nothing was sent to them",
                    report.no_account
                );
            }
        }
        InvoicesCmd::Generate {
            contract: Some(contract),
            months,
            ..
        } => {
            let generation =
                crate::invoicing::generate_invoices(&db, &contract, months, &g.clock()?).await?;
            for inv in &generation.created {
                println!(
                    "created {}  due {}  {}  our number {}",
                    inv.external_id,
                    format_date(inv.due_date),
                    inv.amount,
                    inv.our_number
                );
            }
            for m in &generation.skipped_months {
                println!("exists  {m}");
            }
            println!(
                "{} invoice(s) created for contract {}",
                generation.created.len(),
                generation.contract.external_id
            );
            use crate::invoicing::GenerationNotice;
            match generation.notice {
                GenerationNotice::Queued(id) => {
                    println!("e-mail with the boletos queued (notice {id})")
                }
                GenerationNotice::Printed => {
                    println!("printed delivery: no e-mail is sent for these invoices")
                }
                GenerationNotice::NoAccount => eprintln!(
                    "warning: the wallet sends e-mail on generation but no financial SMTP account is set (regua smtp default NAME); nothing was sent"
                ),
                GenerationNotice::NotApplicable => {}
            }
        }
        InvoicesCmd::Send { invoice, account } => {
            let mut conn = db.pool.acquire().await?;
            let found = match store::invoices::find_invoice_by_external_id(&mut conn, &invoice)
                .await?
            {
                Some(i) => i,
                None => match invoice.parse::<i64>() {
                    Ok(id) => store::invoices::get_invoice(&mut conn, crate::domain::InvoiceId(id))
                        .await
                        .with_context(|| format!("no invoice {invoice:?}"))?,
                    Err(_) => anyhow::bail!("no invoice {invoice:?}"),
                },
            };
            drop(conn);
            let now = g.clock()?.now_millis();
            // Each "send now" is its own notice: the clock may be frozen (--today), so a random
            // suffix keeps two sends in the same millisecond apart.
            let key = |i: &crate::domain::Invoice| crate::delivery::NoticeKey::manual(i.id, now);
            use crate::actions::notices::NotSent;
            match crate::actions::notices::send_invoice_now(
                &db,
                found.id,
                account.as_deref(),
                key,
                &actor(),
                now,
            )
            .await?
            {
                Ok((_, crate::delivery::Enqueued::New(id))) => {
                    println!("notice {id} queued for invoice {}", found.external_id)
                }
                Ok((_, crate::delivery::Enqueued::Exists(id, status))) => {
                    println!("already queued/sent: notice {id} ({status})")
                }
                Err(NotSent::NoAccount) => {
                    eprintln!(
                        "no e-mail account: pass --account or set a default with `regua smtp default NAME`"
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(NotSent::NotOpen) => {
                    eprintln!(
                        "invoice {} is {}: only open invoices are sent",
                        found.external_id, found.status
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(NotSent::NotFound) => anyhow::bail!("no invoice {invoice:?}"),
            }
        }
        InvoicesCmd::List { contract } => {
            let mut conn = db.pool.acquire().await?;
            let c = store::parties::find_contract(&mut conn, &contract)
                .await?
                .with_context(|| format!("no contract {contract:?}"))?;
            for inv in store::invoices::list_invoices_of_contract(&mut conn, c.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    inv.external_id,
                    format_date(inv.due_date),
                    inv.amount,
                    inv.status,
                    inv.delivery_type.label_pt()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wallet(g: &Global, cmd: WalletCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        WalletCmd::Add {
            name,
            bank,
            agency,
            account,
            wallet,
            agreement,
            kind,
            send_on_generate,
            pix_key,
        } => {
            let w = NewWallet {
                name,
                bank_code: bank,
                agency,
                account,
                wallet_code: wallet,
                agreement,
                kind,
                send_on_generate,
                pix_key,
            };
            let id = crate::actions::billing_setup::add_wallet(
                &db,
                &w,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            if send_on_generate && kind == WalletKind::Gateway {
                eprintln!("{}", crate::domain::GATEWAY_SEND_ON_GENERATE_WARNING);
            }
            println!("wallet {:?} added (id {id})", w.name);
        }
        WalletCmd::List => {
            println!(
                "name\tbank\tagency\taccount\twallet\tagreement\tkind\tsend_on_generate\tpix_key"
            );
            for w in store::parties::list_wallets(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    w.name,
                    w.bank_code,
                    w.agency,
                    w.account,
                    w.wallet_code,
                    w.agreement,
                    w.kind.as_str(),
                    if w.send_on_generate { "yes" } else { "no" },
                    w.pix_key.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn method(g: &Global, cmd: MethodCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        MethodCmd::Add { name, wallet } => {
            let id = crate::actions::billing_setup::add_billing_method(
                &db,
                &name,
                &wallet,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            println!("billing method {name:?} added (id {id})");
        }
        MethodCmd::List => {
            let wallets = store::parties::list_wallets(&mut conn).await?;
            println!("name\twallet");
            for m in store::parties::list_billing_methods(&mut conn).await? {
                let w = wallets
                    .iter()
                    .find(|w| w.id == m.wallet_id)
                    .map_or("?", |w| w.name.as_str());
                println!("{}\t{}", m.name, w);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
