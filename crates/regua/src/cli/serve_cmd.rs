//! `regua serve` (the web UI, the API, the worker and the scheduler in one process),
//! `regua demo` (the same on a demo database) and `regua bench`.

use std::process::ExitCode;

use anyhow::Context as _;

use clap::Args;

use super::{Global, delivery_cmd};

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
    /// How often the bounce mailboxes (`regua bounce mailbox`) are read, in seconds; 0: never.
    #[arg(long, default_value_t = 300)]
    pub bounce_poll_seconds: u64,
    /// Accept bounces by SMTP on this address (`0.0.0.0:25` behind an MX for the bounce
    /// domain): only signed return paths are taken. Off when not given.
    #[arg(long)]
    pub bounce_smtp: Option<std::net::SocketAddr>,
    /// The worker's options.
    #[command(flatten)]
    pub worker: delivery_cmd::WorkerArgs,
}

pub(super) async fn serve(g: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The service refuses a configuration `regua config check` would refuse, rather than
    // running on half of it.
    if let Some(path) = crate::config::loaded_path() {
        let problems = crate::config::check(&path.display().to_string(), crate::config::get());
        if !problems.is_empty() {
            for p in &problems {
                eprintln!("configuration file {p}");
            }
            return Ok(ExitCode::from(2));
        }
    }
    let metrics_token = match (
        args.metrics_token,
        std::env::var_os("REGUA_METRICS_TOKEN_FILE")
            .filter(|f| !f.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| crate::config::get().metrics_token_file.clone()),
    ) {
        (Some(token), _) => Some(token),
        (None, Some(file)) => Some(crate::config::read_secret_file(&file)?),
        (None, None) => None,
    };
    let db = g.db().await?;
    let options = crate::server::ServeOptions {
        bind: args.bind,
        worker: (!args.no_worker).then(|| args.worker.options()),
        scheduler_tick: (!args.no_scheduler)
            .then(|| std::time::Duration::from_secs(args.tick_seconds.max(1))),
        secure_cookies: args.secure_cookies,
        metrics: crate::web::MetricsAccess::from_options(metrics_token, args.metrics_open),
        bounce_poll: (args.bounce_poll_seconds > 0)
            .then(|| std::time::Duration::from_secs(args.bounce_poll_seconds)),
        bounce_smtp: args.bounce_smtp,
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

/// `regua demo`: a demo database, served with its admin and subscriber passwords printed.
pub(super) async fn demo(g: &Global, args: crate::demo::DemoArgs) -> anyhow::Result<ExitCode> {
    let db = crate::demo::run(&args, &g.clock()?, g.database.as_deref()).await?;
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    let password = crate::demo::reset_admin(&db, &g.clock()?).await?;
    let (document, portal_password) = crate::demo::reset_subscriber(&db, &g.clock()?).await?;
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
        bounce_poll: None,
        bounce_smtp: None,
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

/// `regua bench`: the benchmark on a fresh SQLite file in a temporary directory, unless
/// `--database` names one; the table printed, the JSON written to `json`.
pub(super) async fn bench(
    g: &Global,
    mut options: crate::bench::BenchOptions,
    json: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let url = g
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", tmp.path().join("bench.db").display()));
    options.mail_dir = tmp.path().join("mail");
    let report = crate::bench::run(&url, &options, &g.clock()?).await?;
    print!("{}", crate::bench::table(&report));
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
