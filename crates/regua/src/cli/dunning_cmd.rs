//! `regua band`, `regua routine`, `regua pause`, `regua holidays` and `regua letters`: the
//! régua's configuration and runs (issue #6). Formats are documented in docs/dunning.md.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::{Global, parse_date_arg};
use crate::actions::dunning::PauseOf;
use crate::domain::format_date;
use crate::domain::rules::LetterId;
use crate::dunning::{self, RunRequest, Trigger};
use crate::store::{self, dunning::InvoiceFilter, dunning::PauseTarget, parties::ConfigError};

/// Prints a configuration error for the operator (exit 2) or passes an unexpected one on.
fn config_error(e: ConfigError) -> anyhow::Result<ExitCode> {
    match e {
        ConfigError::Other(e) => Err(e),
        e => {
            eprintln!("{}", e.for_cli());
            Ok(ExitCode::from(2))
        }
    }
}

/// `regua band …`
#[derive(Debug, Subcommand)]
pub enum BandCmd {
    /// Add an overdue band ("faixa de atraso").
    Add {
        /// First day overdue (≥ 1).
        #[arg(long)]
        from: u16,
        /// Last day overdue.
        #[arg(long)]
        to: u16,
        /// The layout's name (default: "Faixa de atraso").
        #[arg(long)]
        layout: Option<String>,
        /// The channels, in order: email, sms, push (default: email; a band with a letter goes
        /// by e-mail only).
        #[arg(long, default_value = "email")]
        channels: String,
        /// first (the first channel that reaches the subscriber, the next ones as fallback)
        /// or all.
        #[arg(long, default_value = "first")]
        mode: String,
        /// Generation type email_and_letter: a PDF collection letter, reviewed before sending.
        #[arg(long)]
        letter: bool,
        /// Save nothing: replay the last 30 days with and without this band and print the
        /// messages more per day and channel against each channel's daily capacity.
        #[arg(long)]
        what_if: bool,
    },
    /// List the bands.
    List,
    /// Remove a band by id.
    Remove {
        /// The band's id (see `regua band list`).
        id: i64,
        /// Remove nothing: replay the last 30 days without this band and print the messages
        /// fewer per day and channel.
        #[arg(long)]
        what_if: bool,
    },
    /// Manual emission: what each band would send for the invoices matching the filters; with
    /// --confirm, send it.
    Emit(EmitArgs),
}

/// `regua band emit` filters.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// Due on or after.
    #[arg(long, value_parser = parse_date_arg)]
    due_from: Option<jiff::civil::Date>,
    /// Due on or before.
    #[arg(long, value_parser = parse_date_arg)]
    due_to: Option<jiff::civil::Date>,
    /// Issued on or after.
    #[arg(long, value_parser = parse_date_arg)]
    issued_from: Option<jiff::civil::Date>,
    /// Issued on or before.
    #[arg(long, value_parser = parse_date_arg)]
    issued_to: Option<jiff::civil::Date>,
    /// Billing method by name.
    #[arg(long)]
    method: Option<String>,
    /// Customer by external id.
    #[arg(long)]
    customer: Option<String>,
    /// Enqueue what is shown (without it, nothing is written).
    #[arg(long)]
    confirm: bool,
    /// Print the plan as JSON (the dry run's format).
    #[arg(long)]
    json: bool,
}

/// `regua routine …`
#[derive(Debug, Subcommand)]
pub enum RoutineCmd {
    /// Add a routine ("rotina").
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The task: send_emails (rules and bands).
        #[arg(long, default_value = "send_emails")]
        task: String,
        /// Weekdays: mon-fri, seg,qua,sex, 1-5, all.
        #[arg(long, default_value = "mon-fri")]
        weekdays: String,
        /// Time of day, HH:MM:SS, in the ISP's time zone.
        #[arg(long, default_value = "08:00:00")]
        time: String,
        /// Run on holidays too.
        #[arg(long)]
        holidays: bool,
    },
    /// List the routines.
    List,
    /// Remove a routine by name (its past runs stay).
    Remove {
        /// The routine's name.
        name: String,
    },
    /// Run the régua now as if on a date: plan, enqueue, record the run.
    Run {
        /// The date to run as (default today).
        #[arg(long, value_parser = parse_date_arg)]
        date: Option<jiff::civil::Date>,
        /// The routine it runs for (recorded with the run).
        #[arg(long)]
        name: Option<String>,
        /// Plan and report only: nothing is enqueued or recorded.
        #[arg(long)]
        dry_run: bool,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The latest runs.
    Runs {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// `regua pause` options.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Pause every invoice of this customer (external id).
    #[arg(long, conflicts_with = "invoice", required_unless_present_any = ["invoice", "list"])]
    customer: Option<String>,
    /// Pause this invoice (external id).
    #[arg(long)]
    invoice: Option<String>,
    /// Through this date (inclusive).
    #[arg(long, value_parser = parse_date_arg, required_unless_present = "list")]
    until: Option<jiff::civil::Date>,
    /// Why (e.g. the promise of payment).
    #[arg(long, required_unless_present = "list")]
    reason: Option<String>,
    /// Who set it (default: the system user).
    #[arg(long)]
    by: Option<String>,
    /// List the pauses in force instead.
    #[arg(long, conflicts_with_all = ["customer", "invoice", "until", "reason"])]
    list: bool,
}

/// `regua holidays …`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HolidaysArgs {
    /// Print a year's holidays: national and the ISP's.
    pub year: Option<i16>,
    /// Add, list or remove the ISP's holidays.
    #[command(subcommand)]
    pub cmd: Option<HolidaysCmd>,
}

/// `regua holidays add|list|remove`
#[derive(Debug, Subcommand)]
pub enum HolidaysCmd {
    /// Add a holiday of the ISP (state, city or a one-off national decree).
    Add {
        /// The date (for --yearly, the first year it applies).
        #[arg(long)]
        date: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// Every year on that day and month.
        #[arg(long)]
        yearly: bool,
        /// national, state or city.
        #[arg(long, default_value = "city")]
        scope: String,
        /// The state or city ("SP", "Campinas/SP").
        #[arg(long, default_value = "")]
        place: String,
    },
    /// List the ISP's holidays.
    List,
    /// Remove one by id.
    Remove {
        /// Its id (see `regua holidays list`).
        id: i64,
    },
}

/// `regua letters …`
#[derive(Debug, Subcommand)]
pub enum LettersCmd {
    /// The letters waiting for review (or all with --all).
    List {
        /// Include approved and rejected ones.
        #[arg(long)]
        all: bool,
    },
    /// Write a letter's PDF as it will be sent.
    Preview {
        /// The letter's id.
        id: i64,
        /// Where to write the PDF.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Approve letters: their e-mails (letter and boleto attached) go to the outbox.
    Approve {
        /// Letter ids.
        ids: Vec<i64>,
        /// Every pending letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Who approves.
        #[arg(long)]
        by: Option<String>,
    },
    /// Reject letters: nothing is sent for them in their band.
    Reject {
        /// Letter ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who rejects.
        #[arg(long)]
        by: Option<String>,
    },
}

fn operator(by: Option<String>) -> String {
    by.unwrap_or_else(|| super::actor().to_string())
}

/// `regua band …`
pub async fn band(g: &Global, cmd: BandCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        BandCmd::Add {
            from,
            to,
            layout,
            channels,
            mode,
            letter,
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
                if from == 0 || to < from {
                    eprintln!("--to: from --from (at least 1) on");
                    return Ok(ExitCode::from(2));
                }
                let band = crate::domain::rules::OverdueBand {
                    id: crate::domain::rules::BandId(-1),
                    from_days: from,
                    to_days: to,
                    layout: crate::domain::LayoutId(0),
                    letter,
                    channels: plan,
                };
                return super::analytics_cmd::run_what_if(
                    &db,
                    &g.clock()?,
                    crate::dunning::what_if::Change::AddBand(band),
                )
                .await;
            }
            match crate::actions::dunning::add_band(
                &db,
                (from, to),
                layout.as_deref(),
                letter,
                &plan,
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => {
                    let generation = if letter { "email_and_letter" } else { "email" };
                    // The line scripts read stays as it was for an e-mail-only band.
                    let by = if plan == crate::domain::rules::ChannelPlan::default() {
                        String::new()
                    } else {
                        format!(" by {} ({})", plan.list(), plan.mode.as_str())
                    };
                    println!("band {id} added: {from}-{to} days overdue ({generation}){by}");
                }
                Err(e) => return config_error(e),
            }
        }
        BandCmd::List => {
            let layouts = store::layouts::list_layouts(&mut conn).await?;
            println!("id\tfrom\tto\tgeneration\tlayout\tchannels\tmode");
            for b in store::dunning::list_bands(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    b.id,
                    b.from_days,
                    b.to_days,
                    if b.letter {
                        "email_and_letter"
                    } else {
                        "email"
                    },
                    layouts
                        .iter()
                        .find(|l| l.id == b.layout)
                        .map_or("?", |l| l.name.as_str()),
                    b.channels.list(),
                    b.channels.mode.as_str()
                );
            }
        }
        BandCmd::Remove { id, what_if: true } => {
            return super::analytics_cmd::run_what_if(
                &db,
                &g.clock()?,
                crate::dunning::what_if::Change::RemoveBand(crate::domain::rules::BandId(id)),
            )
            .await;
        }
        BandCmd::Remove { id, .. } => {
            match crate::actions::dunning::remove_band(
                &db,
                crate::domain::rules::BandId(id),
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(true) => println!("band {id} removed"),
                Ok(false) => {
                    eprintln!("no band {id}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return config_error(e),
            }
        }
        BandCmd::Emit(args) => {
            let method = match &args.method {
                None => None,
                Some(name) => match store::parties::list_billing_methods(&mut conn)
                    .await?
                    .into_iter()
                    .find(|m| &m.name == name)
                {
                    Some(m) => Some(m.id.0),
                    None => {
                        eprintln!("--method: no billing method named {name:?}");
                        return Ok(ExitCode::from(2));
                    }
                },
            };
            let customer = match &args.customer {
                None => None,
                Some(ext) => {
                    match store::parties::find_customer_by_external_id(&mut conn, ext).await? {
                        Some(c) => Some(c.id),
                        None => {
                            eprintln!("--customer: no customer {ext:?}");
                            return Ok(ExitCode::from(2));
                        }
                    }
                }
            };
            drop(conn);
            let clock = g.clock()?;
            let req = RunRequest {
                date: clock.today(),
                dry_run: !args.confirm,
                routine: None,
                trigger: Trigger::Manual,
                actor: format!("{} (emissão manual)", operator(None)),
                detail: args.json,
                emission: Some(InvoiceFilter {
                    due_from: args.due_from,
                    due_to: args.due_to,
                    issued_from: args.issued_from,
                    issued_to: args.issued_to,
                    method,
                    customer,
                    open_only: true,
                }),
            };
            return print_run(&db, &clock, &req, args.json).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn print_run(
    db: &store::Db,
    clock: &crate::domain::Clock,
    req: &RunRequest,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match dunning::run(db, clock, req).await {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", dunning::summary_pt(&report, req.dry_run));
                if req.dry_run && req.emission.is_some() && !report.notices.is_empty() {
                    println!("Nada foi enviado: repita com --confirm para enviar.");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(dunning::RunError::NoAccount) => {
            eprintln!("{}", dunning::RunError::NoAccount);
            Ok(ExitCode::from(2))
        }
        Err(dunning::RunError::Other(e)) => Err(e),
    }
}

/// `regua routine …`
pub async fn routine(g: &Global, cmd: RoutineCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        RoutineCmd::Add {
            name,
            task,
            weekdays,
            time,
            holidays,
        } => {
            let task = match task.parse() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("--task: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let routine = crate::actions::dunning::NewRoutine {
                name: &name,
                task,
                weekdays: &weekdays,
                time: &time,
                run_on_holidays: holidays,
            };
            match crate::actions::dunning::add_routine(
                &db,
                &routine,
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => println!("routine {id} added: {name:?}"),
                Err(e) => return config_error(e),
            }
        }
        RoutineCmd::List => {
            println!("id\tname\ttask\tweekdays\ttime\tholidays");
            for r in store::dunning::list_routines(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.name,
                    r.task.as_str(),
                    dunning::format_weekdays(&r.weekdays),
                    r.time.strftime("%H:%M:%S"),
                    if r.run_on_holidays { "yes" } else { "no" }
                );
            }
        }
        RoutineCmd::Remove { name } => {
            if crate::actions::dunning::remove_routine(
                &db,
                crate::actions::dunning::RoutineRef::Name(&name),
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await?
            {
                println!("routine {name:?} removed");
            } else {
                eprintln!("no routine named {name:?}");
                return Ok(ExitCode::from(2));
            }
        }
        RoutineCmd::Run {
            date,
            name,
            dry_run,
            json,
        } => {
            let routine = match &name {
                None => None,
                Some(n) => match store::dunning::list_routines(&mut conn)
                    .await?
                    .into_iter()
                    .find(|r| &r.name == n)
                {
                    Some(r) => Some(r),
                    None => {
                        eprintln!("--name: no routine named {n:?}");
                        return Ok(ExitCode::from(2));
                    }
                },
            };
            drop(conn);
            let clock = g.clock()?;
            let req = RunRequest {
                date: date.unwrap_or_else(|| clock.today()),
                dry_run,
                actor: routine.as_ref().map_or_else(
                    || operator(None),
                    |r| crate::domain::Actor::Routine(r.name.clone()).to_string(),
                ),
                routine,
                trigger: Trigger::Manual,
                emission: None,
                detail: json,
            };
            return print_run(&db, &clock, &req, json).await;
        }
        RoutineCmd::Runs { limit } => {
            let routines = store::dunning::list_routines(&mut conn).await?;
            println!("id\tdate\troutine\ttrigger\tstatus\tplanned\tenqueued\tskipped\terror");
            for r in store::dunning::list_runs(&mut conn, limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    format_date(r.date),
                    r.routine_id
                        .and_then(|id| routines.iter().find(|x| x.id == id))
                        .map_or("-", |x| x.name.as_str()),
                    r.trigger,
                    r.status,
                    r.planned,
                    r.enqueued,
                    r.skipped,
                    r.error.unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `regua pause …`
pub async fn pause(g: &Global, args: PauseArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    let clock = g.clock()?;
    if args.list {
        println!("id\ttarget\tuntil\treason\tset_by");
        for p in store::dunning::list_pauses(&mut conn, clock.today()).await? {
            let target = match p.target {
                PauseTarget::Customer(c) => {
                    format!(
                        "customer {}",
                        store::parties::get_customer(&mut conn, c)
                            .await?
                            .external_id
                    )
                }
                PauseTarget::Invoice(i) => {
                    format!(
                        "invoice {}",
                        store::invoices::get_invoice(&mut conn, i)
                            .await?
                            .external_id
                    )
                }
            };
            println!(
                "{}\t{target}\t{}\t{}\t{}",
                p.id,
                format_date(p.until),
                p.reason,
                p.set_by
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (target, label) = match (&args.customer, &args.invoice) {
        (Some(ext), _) => match store::parties::find_customer_by_external_id(&mut conn, ext).await?
        {
            Some(_) => (PauseOf::Customer(ext), format!("customer {ext}")),
            None => {
                eprintln!("--customer: no customer {ext:?}");
                return Ok(ExitCode::from(2));
            }
        },
        (None, Some(ext)) => {
            match store::invoices::find_invoice_by_external_id(&mut conn, ext).await? {
                Some(_) => (PauseOf::Invoice(ext), format!("invoice {ext}")),
                None => {
                    eprintln!("--invoice: no invoice {ext:?}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let until = args.until.context("--until")?;
    if until < clock.today() {
        eprintln!(
            "--until: {} is in the past (today is {})",
            format_date(until),
            format_date(clock.today())
        );
        return Ok(ExitCode::from(2));
    }
    drop(conn);
    match crate::actions::dunning::pause_dunning(
        &db,
        target,
        until,
        args.reason.as_deref().unwrap_or_default(),
        &operator(args.by),
        &super::actor(),
        clock.now_millis(),
    )
    .await
    {
        Ok(None) => {
            eprintln!("{label} vanished");
            return Ok(ExitCode::from(2));
        }
        Ok(Some(id)) => println!(
            "pause {id}: dunning of {label} paused through {}",
            format_date(until)
        ),
        Err(e) => return config_error(e),
    }
    Ok(ExitCode::SUCCESS)
}

/// `regua holidays …`
pub async fn holidays(g: &Global, args: HolidaysArgs) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match (args.cmd, args.year) {
        (None, None) => {
            eprintln!("give a year (regua holidays 2026) or a subcommand (add, list, remove)");
            return Ok(ExitCode::from(2));
        }
        (None, Some(year)) => {
            if !(1900..=2999).contains(&year) {
                eprintln!("year must be between 1900 and 2999");
                return Ok(ExitCode::from(2));
            }
            let calendar = store::dunning::calendar(&mut conn).await?;
            for (date, name, note) in calendar.year(year) {
                if note.is_empty() {
                    println!("{}\t{name}", format_date(date));
                } else {
                    println!("{}\t{name}\t({note})", format_date(date));
                }
            }
        }
        (
            Some(HolidaysCmd::Add {
                date,
                name,
                yearly,
                scope,
                place,
            }),
            _,
        ) => {
            let scope = match scope.parse() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("--scope: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let holiday = crate::actions::dunning::NewHoliday {
                date: &date,
                name: &name,
                yearly,
                scope,
                place: &place,
            };
            match crate::actions::dunning::add_holiday(
                &db,
                &holiday,
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await
            {
                Ok(id) => println!("holiday {id} added: {name:?}"),
                Err(e) => return config_error(e),
            }
        }
        (Some(HolidaysCmd::List), _) => {
            println!("id\tdate\tname\tyearly\tscope\tplace");
            for h in store::dunning::list_holidays(&mut conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    h.id,
                    format_date(h.date),
                    h.name,
                    if h.yearly { "yes" } else { "no" },
                    h.scope.as_str(),
                    h.place
                );
            }
        }
        (Some(HolidaysCmd::Remove { id }), _) => {
            if crate::actions::dunning::remove_holiday(
                &db,
                crate::domain::schedule::HolidayId(id),
                &super::actor(),
                g.clock()?.now_millis(),
            )
            .await?
            {
                println!("holiday {id} removed");
            } else {
                eprintln!("no holiday {id}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `regua letters …`
pub async fn letters(g: &Global, cmd: LettersCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let clock = g.clock()?;
    match cmd {
        LettersCmd::List { all } => {
            let mut conn = db.pool.acquire().await?;
            let bands = store::dunning::list_bands(&mut conn).await?;
            println!("id\tinvoice\tcustomer\tband\tstatus");
            let letters =
                store::dunning::list_letter_reviews(&mut conn, (!all).then_some("pending")).await?;
            for l in letters {
                let inv = store::invoices::get_invoice(&mut conn, l.invoice).await?;
                let customer = store::parties::get_customer(&mut conn, inv.customer_id).await?;
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    l.id,
                    inv.external_id,
                    customer.external_id,
                    bands
                        .iter()
                        .find(|b| b.id.0 == l.band)
                        .map_or_else(|| l.band.to_string(), |b| b.cause()),
                    l.status
                );
            }
        }
        LettersCmd::Preview { id, out } => {
            let mut conn = db.pool.acquire().await?;
            let Some(letter) = store::dunning::list_letter_reviews(&mut conn, None)
                .await?
                .into_iter()
                .find(|l| l.id.0 == id)
            else {
                eprintln!("no letter {id}");
                return Ok(ExitCode::from(2));
            };
            let pdf = dunning::letter_pdf(&mut conn, &letter, clock.today()).await?;
            std::fs::write(&out, pdf).with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", out.display());
        }
        LettersCmd::Approve { ids, all, by } => {
            let ids: Vec<_> = ids.into_iter().map(LetterId).collect();
            let which = if all {
                crate::actions::dunning::Letters::All
            } else {
                crate::actions::dunning::Letters::Ids(&ids)
            };
            let by = operator(by);
            match crate::actions::dunning::approve_letters(
                &db,
                which,
                &by,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                crate::actions::dunning::Approval::Approved(0) => {
                    eprintln!("no letters to approve");
                    return Ok(ExitCode::from(2));
                }
                crate::actions::dunning::Approval::Approved(n) => {
                    println!("{n} letter(s) approved and queued");
                }
                crate::actions::dunning::Approval::NotPending(id) => {
                    eprintln!("letter {id} is not waiting for review");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        LettersCmd::Reject { ids, by } => {
            let ids: Vec<_> = ids.into_iter().map(LetterId).collect();
            let by = operator(by);
            match crate::actions::dunning::reject_letters(
                &db,
                &ids,
                &by,
                &super::actor(),
                clock.now_millis(),
            )
            .await?
            {
                crate::actions::dunning::Approval::Approved(n) => {
                    println!("{n} letter(s) rejected");
                }
                crate::actions::dunning::Approval::NotPending(id) => {
                    eprintln!("letter {id} is not waiting for review");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
