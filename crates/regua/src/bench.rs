//! `regua bench`: builds a synthetic ISP in a fresh database and times each stage. Stages land
//! as their features do; a stage not run is left out of the JSON (format in BENCHMARKS.md and
//! issue #10): `{"customers": N, "database": "sqlite|postgres", "stages": [{"name", "items",
//! "seconds", "per_second"}], "peak_rss_mb": M}`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context as _;

use crate::demo::{DemoRng, banco_do_brasil_wallet, random_cpf};
use crate::domain::{Clock, InvoiceId};
use crate::import::{ImportKind, import_csv};
use crate::layouts::Purpose;
use crate::store::{self, Db};

/// One timed stage.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stage {
    /// Stage name (`import`, `generate`, …).
    pub name: &'static str,
    /// Items processed.
    pub items: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Items per second.
    pub per_second: f64,
    /// Peak resident memory of the process during the stage, MB (the peak is reset before
    /// the stage starts, so it includes what earlier stages still hold).
    pub peak_rss_mb: f64,
}

/// The whole result, as written by `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Synthetic customers.
    pub customers: u64,
    /// Engine.
    pub database: store::Backend,
    /// Stages in the order run.
    pub stages: Vec<Stage>,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
    /// Size of one delivered message (HTML, text and boleto PDF), when `deliver` ran: what
    /// `bench/compare` gives smtp-source so both send the same size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<usize>,
    /// Notices the `routine` stage enqueued (its items are the invoices it planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routine_notices: Option<u64>,
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) so the next reading is the peak from now on.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process in MB (Linux `VmHWM`); 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn progress(name: &str, total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    bar
}

async fn timed<F, Fut>(name: &'static str, items: u64, f: F) -> anyhow::Result<Stage>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    reset_peak_rss();
    let start = Instant::now();
    f().await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Stage {
        name,
        items,
        seconds,
        per_second: items as f64 / seconds.max(1e-9),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The customers CSV of a synthetic ISP.
pub fn synthetic_customers_csv(n: u64) -> String {
    let mut rng = DemoRng::new(42);
    let mut csv = String::with_capacity(n as usize * 80);
    csv.push_str("external_id,name,document,email,mobile_phone\n");
    for i in 1..=n {
        let _ = writeln!(
            csv,
            "C{i:07},Cliente {i},{},cliente{i}@exemplo.com.br,(11) 9{:08}",
            random_cpf(&mut rng),
            rng.below(100_000_000)
        );
    }
    csv
}

/// How many messages the render stage renders at most.
pub const RENDER_ITEMS: u64 = 100_000;

/// Every invoice as the planner sees it, read the way a routine reads a page.
async fn plan_invoices(db: &Db) -> anyhow::Result<Vec<crate::dunning::PlanInvoice>> {
    let mut conn = db.pool.acquire().await?;
    let (filter, pauses) = (
        store::dunning::InvoiceFilter::default(),
        store::dunning::PauseIndex::default(),
    );
    let mut out = Vec::new();
    let mut after = InvoiceId(0);
    loop {
        let (page, _) =
            store::dunning::plan_invoices_page(&mut conn, &filter, &pauses, after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(page);
    }
    Ok(out)
}

/// The issue's synthetic régua: 6 rules (5 and 1 days before, on the day, 1, 5 and 13 days
/// after) and 4 bands (1–10, 11–30, 31–60, 61–90), on channels as an ISP would set them
/// (#22): the reminders by SMS then e-mail, the overdue ones by e-mail then SMS, the bands on
/// SMS and e-mail both.
fn bench_rules() -> (
    Vec<crate::dunning::SendRule>,
    Vec<crate::dunning::OverdueBand>,
) {
    use crate::dunning::{OverdueBand, RuleKind, SendRule};
    let method = crate::domain::BillingMethodId(1);
    let layout = crate::domain::LayoutId(1);
    let rules = [
        (RuleKind::BeforeDue, 5),
        (RuleKind::BeforeDue, 1),
        (RuleKind::OnDue, 0),
        (RuleKind::AfterDue, 1),
        (RuleKind::AfterDue, 5),
        (RuleKind::AfterDue, 13),
    ]
    .iter()
    .zip(1..)
    .map(|(&(kind, days), id)| SendRule {
        channels: crate::dunning::ChannelPlan::parse(
            if kind == RuleKind::AfterDue {
                "whatsapp,email,sms"
            } else {
                "sms,email"
            },
            "first",
        )
        .expect("valid"),
        id: crate::domain::rules::RuleId(id),
        method,
        kind,
        days,
        layout,
    })
    .collect();
    let bands = [(1, 10), (11, 30), (31, 60), (61, 90)]
        .iter()
        .zip(1..)
        .map(|(&(from_days, to_days), id)| OverdueBand {
            channels: crate::dunning::ChannelPlan::parse("whatsapp,sms,email", "all")
                .expect("valid"),
            id: crate::domain::rules::BandId(id),
            from_days,
            to_days,
            layout,
            letter: false,
        })
        .collect();
    (rules, bands)
}

/// How many notices the `enqueue` and `deliver` stages handle at most.
pub const DELIVER_ITEMS: u64 = 20_000;

/// The bench's e-mail account: the sink given with `--smtp`, else a folder.
async fn bench_account(
    db: &Db,
    options: &BenchOptions,
    clock: &Clock,
) -> anyhow::Result<crate::delivery::SmtpAccount> {
    use crate::delivery::NewSmtpAccount;
    let from = crate::domain::EmailAddress::parse("cobranca@bench.example.com")
        .map_err(anyhow::Error::msg)?;
    let account = match &options.smtp {
        Some(addr) => {
            let (host, port) = addr.rsplit_once(':').context("--smtp must be HOST:PORT")?;
            NewSmtpAccount::smtp("Bench", host, port.parse().context("--smtp port")?, from)
        }
        None => NewSmtpAccount::folder("Bench", &options.mail_dir.display().to_string(), from),
    };
    let mut conn = db.pool.acquire().await?;
    let id = store::accounts::insert_smtp_account(&mut conn, &account, None, clock.now_millis())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store::accounts::get_smtp_account(&mut conn, id).await
}

/// The first `n` invoices by id, and their customers (read in one query).
async fn first_invoices_and_customers(
    conn: &mut sqlx::AnyConnection,
    n: u64,
) -> anyhow::Result<(
    Vec<crate::domain::Invoice>,
    std::collections::HashMap<crate::domain::CustomerId, crate::domain::Customer>,
)> {
    let mut invoices = Vec::new();
    let mut after = InvoiceId(0);
    while (invoices.len() as u64) < n {
        let want = (n - invoices.len() as u64).min(5_000) as i64;
        let page = store::invoices::list_invoices_after(conn, after, want).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        invoices.extend(page);
    }
    let mut ids: Vec<_> = invoices.iter().map(|i| i.customer_id).collect();
    ids.sort();
    ids.dedup();
    let customers = store::parties::get_customers(conn, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok((invoices, customers))
}

/// The purpose of the bench's messages: a reminder with its boleto, or the generation message
/// with several.
fn bench_purpose(pages: u32) -> Purpose {
    if pages > 1 {
        Purpose::InvoiceGenerated
    } else {
        Purpose::ReminderBeforeDue
    }
}

/// `n` notices with their invoices: with one page, a "before due" reminder, boleto attached, for
/// each of the first `n` invoices; with more, the generation message of a contract carrying
/// `pages` of its invoices (one PDF with all their boletos).
async fn bench_notices(
    db: &Db,
    account: &crate::delivery::SmtpAccount,
    n: u64,
    pages: u32,
) -> anyhow::Result<Vec<(crate::delivery::NewNotice, Vec<InvoiceId>)>> {
    let mut conn = db.pool.acquire().await?;
    let purpose = bench_purpose(pages);
    let layout = store::layouts::layout_for_purpose(&mut conn, purpose)
        .await?
        .context("no layout for the bench's messages")?;
    let (invoices, customers) =
        first_invoices_and_customers(&mut conn, n * u64::from(pages)).await?;
    // Invoices by id come contract by contract ("gerar financeiro" inserts a contract's months
    // together); a group never spans two contracts.
    let mut groups: Vec<Vec<&crate::domain::Invoice>> = Vec::new();
    for inv in &invoices {
        match groups.last_mut() {
            Some(g) if g.len() < pages as usize && g[0].contract_id == inv.contract_id => {
                g.push(inv)
            }
            _ => groups.push(vec![inv]),
        }
    }
    groups.retain(|g| g.len() == pages as usize);
    groups.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    let out = groups
        .iter()
        .map(|g| (g[0], g.iter().map(|i| i.id).collect::<Vec<_>>()))
        .map(|(inv, ids)| {
            (
                crate::delivery::NewNotice {
                    account_id: Some(account.id),
                    recipient: customers[&inv.customer_id].email_or_empty(),
                    customer_id: Some(inv.customer_id),
                    contract_id: Some(inv.contract_id),
                    invoice_id: Some(inv.id),
                    attach_boleto: true,
                    ..crate::delivery::NewNotice::new(
                        crate::delivery::NoticeKey::Bench { invoice: inv.id },
                        crate::delivery::Channel::Email,
                        purpose,
                        layout.id,
                        "bench",
                    )
                },
                ids,
            )
        })
        .collect();
    Ok(out)
}

/// The size of one delivered message, built as the worker builds it.
async fn message_size(
    db: &Db,
    account: &crate::delivery::SmtpAccount,
    clock: &Clock,
    pages: u32,
) -> anyhow::Result<usize> {
    let mut conn = db.pool.acquire().await?;
    let group =
        store::invoices::list_invoices_after(&mut conn, InvoiceId(0), i64::from(pages)).await?;
    let invoice = group.first().context("no invoice")?.clone();
    let customer = store::parties::get_customer(&mut conn, invoice.customer_id).await?;
    let wallet = store::parties::get_wallet(&mut conn, invoice.wallet_id).await?;
    let company = store::parties::company_profile(&mut conn).await?;
    let ctx = crate::layouts::context_for_invoice(&mut conn, invoice.id, clock.today()).await?;
    let layout = store::layouts::layout_for_purpose(&mut conn, bench_purpose(pages))
        .await?
        .context("no layout for the bench's messages")?;
    let rendered = crate::layouts::CompiledLayout::of(&layout)
        .and_then(|c| c.render(&ctx))
        .map_err(|(part, e)| anyhow::anyhow!("{part:?}: {e}"))?;
    let inputs: Vec<_> = group
        .iter()
        .map(|inv| crate::payment::boleto_input(inv, &customer, &wallet, &company))
        .collect();
    let pdf = boleto::pdf::render_pdf(&inputs).map_err(|e| anyhow::anyhow!("pdf: {e}"))?;
    let message = crate::delivery::build_message(
        account,
        "cliente@exemplo.com.br",
        "<bench@bench.example.com>",
        &rendered,
        &[("boleto.pdf".to_string(), pdf)],
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(message.formatted().len())
}

/// The layout contexts and boleto inputs of the first `n` invoices, as the delivery worker
/// would build them.
async fn reminder_contexts(
    db: &Db,
    n: u64,
    clock: &Clock,
) -> anyhow::Result<(Vec<crate::layouts::LayoutContext>, Vec<boleto::BoletoInput>)> {
    let mut conn = db.pool.acquire().await?;
    let company = store::parties::company_profile(&mut conn).await?;
    let wallets = store::parties::list_wallets(&mut conn).await?;
    let (invoices, customers) = first_invoices_and_customers(&mut conn, n).await?;
    let mut contract_ids: Vec<_> = invoices.iter().map(|i| i.contract_id).collect();
    contract_ids.sort();
    contract_ids.dedup();
    let contracts: std::collections::HashMap<_, _> =
        store::parties::get_contracts(&mut conn, &contract_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let mut out = Vec::with_capacity(invoices.len());
    let mut boletos = Vec::with_capacity(invoices.len());
    for inv in &invoices {
        let customer = &customers[&inv.customer_id];
        out.push(crate::layouts::layout_context(
            inv,
            customer,
            &contracts[&inv.contract_id],
            std::slice::from_ref(inv),
            &wallets,
            &company,
            clock.today(),
        )?);
        let wallet = wallets
            .iter()
            .find(|w| w.id == inv.wallet_id)
            .context("wallet")?;
        boletos.push(crate::payment::boleto_input(
            inv, customer, wallet, &company,
        ));
    }
    Ok((out, boletos))
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Synthetic customers.
    pub customers: u64,
    /// `HOST:PORT` of an SMTP sink for the `deliver` stage.
    pub smtp: Option<String>,
    /// Concurrent connections in the `deliver` stage.
    pub concurrency: usize,
    /// A scratch folder (the folder account used when there is no sink).
    pub mail_dir: std::path::PathBuf,
    /// Months of invoices generated per contract (3 by default: 90 days).
    pub months: u32,
    /// The base URL of a local stand-in for Meta's Cloud API (`bench/whatsapp` starts
    /// `mailsink`'s `cloudapi`) for the `whatsapp` stage; without it the stage is left out.
    pub whatsapp: Option<String>,
    /// Boletos per delivered message: 1 is a reminder with its boleto (12 KB PDF); more is the
    /// generation message of a contract, one PDF with that many boletos (4 ≈ 50 KB, the size
    /// issue #5 names). At most `months`.
    pub pdf_pages: u32,
}

/// Runs the benchmark on a fresh database at `url` (its tables must be empty).
pub async fn run(url: &str, options: &BenchOptions, clock: &Clock) -> anyhow::Result<Report> {
    let customers = options.customers;
    let db = Db::connect_and_migrate(url).await?;
    {
        let mut conn = db.pool.acquire().await?;
        anyhow::ensure!(
            store::parties::count_customers(&mut conn).await? == 0,
            "the bench needs an empty database: {}",
            store::redact_url(url)
        );
    }
    let mut stages = Vec::new();

    let csv = synthetic_customers_csv(customers);
    // The import is one all-or-nothing call with no intermediate progress: a spinner says it runs.
    let bar = indicatif::ProgressBar::new_spinner()
        .with_message(format!("import: {customers} customers"));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    stages.push(
        timed("import", customers, || async {
            import_csv(&db, ImportKind::Customers, csv.as_bytes(), clock)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();
    drop(csv);

    // Contracts (untimed set-up), then "gerar financeiro" for every contract, three months
    // (`--months`).
    let months = options.months.max(1);
    let mut conn = db.pool.acquire().await?;
    // A hybrid boleto (PIX QR code on the page), as most ISPs issue now.
    let wallet = crate::domain::NewWallet {
        pix_key: Some("financeiro@bench.example.com".into()),
        ..banco_do_brasil_wallet("Bench")
    };
    store::parties::insert_wallet(&mut conn, &wallet, 0).await?;
    store::parties::insert_billing_method(&mut conn, "Boleto", "Bench", 0).await?;
    drop(conn);
    let mut contracts = String::from(
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n",
    );
    for i in 1..=customers {
        let _ = writeln!(
            contracts,
            "K{i:07},C{i:07},Fibra,99.90,{},email,Boleto",
            1 + i % 28
        );
    }
    import_csv(&db, ImportKind::Contracts, contracts.as_bytes(), clock)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(contracts);
    // "Gerar financeiro" for the whole base, as `regua invoices generate --all` does it.
    let bar = progress("generate", customers);
    stages.push(
        timed("generate", customers * u64::from(months), || async {
            crate::invoicing::generate_all(&db, months, clock, |done| bar.set_position(done))
                .await
                .context("generate")?;
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();

    // Planning one day: every invoice against 6 rules and 4 bands on their channels, in memory,
    // one core. The invoices are read first, untimed.
    let plan_invoices = plan_invoices(&db).await?;
    let (rules, bands) = bench_rules();
    let already = std::collections::HashSet::new();
    let mut planned = 0;
    stages.push(
        timed("plan", plan_invoices.len() as u64, || async {
            let p = crate::dunning::plan(&crate::dunning::PlanInput {
                available: crate::dunning::Available {
                    sms: true,
                    push: true,
                    whatsapp: true,
                },
                today: clock.today(),
                last_run: clock.today().yesterday().ok(),
                window_days: crate::dunning::DEFAULT_WINDOW_DAYS,
                invoices: &plan_invoices,
                rules: &rules,
                bands: &bands,
                already: &already,
            });
            planned = p.notices.len();
            Ok(())
        })
        .await?,
    );
    tracing::debug!(planned, "planned");
    drop(plan_invoices);

    // Layout rendering: one "before due" reminder (subject + HTML + text, no PDF) per invoice,
    // up to RENDER_ITEMS, on one core. The contexts are read and built first, untimed: the stage
    // measures the template engine, not the database.
    let (contexts, boletos) = reminder_contexts(
        &db,
        (customers * u64::from(months)).min(RENDER_ITEMS),
        clock,
    )
    .await?;
    let mut conn = db.pool.acquire().await?;
    let layout = store::layouts::layout_for_purpose(&mut conn, Purpose::ReminderBeforeDue)
        .await?
        .context("no reminder layout")?;
    let layout = crate::layouts::CompiledLayout::of(&layout)
        .map_err(|(part, e)| anyhow::anyhow!("{part:?}: {e}"))?;
    drop(conn);
    let bar = progress("render", contexts.len() as u64);
    let mut bytes = 0usize;
    stages.push(
        timed("render", contexts.len() as u64, || async {
            for (i, ctx) in contexts.iter().enumerate() {
                let m = layout
                    .render(ctx)
                    .map_err(|(part, e)| anyhow::anyhow!("{part:?}: {e}"))?;
                bytes += m.subject.len() + m.html.len() + m.text.len();
                if i % 1024 == 0 {
                    bar.set_position(i as u64);
                }
            }
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();
    tracing::debug!(bytes, "rendered");
    drop(contexts);

    // Boleto PDFs (recibo + ficha, PIX QR when the wallet has a key), one core.
    let bar = progress("pdf", boletos.len() as u64);
    stages.push(
        timed("pdf", boletos.len() as u64, || async {
            for (i, input) in boletos.iter().enumerate() {
                boleto::pdf::render_pdf(std::slice::from_ref(input))
                    .map_err(|e| anyhow::anyhow!("pdf: {e}"))?;
                if i % 1024 == 0 {
                    bar.set_position(i as u64);
                }
            }
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();
    drop(boletos);

    // Enqueue one reminder per invoice (what a routine's planner hands the outbox), in
    // transactions of 1 000; then, with a sink, deliver them all.
    let account = bench_account(&db, options, clock).await?;
    let pages = options.pdf_pages.clamp(1, months);
    let n = (customers * u64::from(months) / u64::from(pages)).min(DELIVER_ITEMS);
    let notices = bench_notices(&db, &account, n, pages).await?;
    let bar = progress("enqueue", notices.len() as u64);
    stages.push(
        timed("enqueue", notices.len() as u64, || async {
            for chunk in notices.chunks(1000) {
                let mut tx = db.begin().await?;
                for (notice, group) in chunk {
                    let enqueued = store::outbox::enqueue_notice(
                        &mut tx,
                        notice,
                        &account.from_address,
                        clock.now_millis(),
                    )
                    .await?;
                    if let (crate::delivery::Enqueued::New(id), true) = (enqueued, group.len() > 1)
                    {
                        store::dunning::insert_notice_invoices(&mut tx, id, group).await?;
                    }
                }
                tx.commit().await?;
                bar.inc(chunk.len() as u64);
            }
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();
    let mut message_bytes = None;
    if options.smtp.is_some() {
        let worker = crate::delivery::Worker::new(
            db.clone(),
            clock.clone(),
            crate::delivery::WorkerOptions {
                name: "bench".into(),
                lease: std::time::Duration::from_secs(600),
                batch: 256,
                concurrency: options.concurrency.max(1),
                timeout: crate::delivery::DEFAULT_NETWORK_TIMEOUT,
            },
            None,
        );
        let bar = progress("deliver", notices.len() as u64);
        let mut sent = 0;
        let stage = timed("deliver", notices.len() as u64, || async {
            let r = worker.drain(|r| bar.inc(r.claimed as u64)).await?;
            sent = r.sent;
            Ok(())
        })
        .await?;
        bar.finish_and_clear();
        anyhow::ensure!(
            sent == notices.len(),
            "only {sent} of {} messages were accepted by {}",
            notices.len(),
            options.smtp.as_deref().unwrap_or("")
        );
        stages.push(stage);
        message_bytes = Some(message_size(&db, &account, clock, pages).await?);
    }

    if let Some(url) = &options.whatsapp {
        anyhow::ensure!(pages == 1, "--whatsapp sends reminders: use --pdf-pages 1");
        stages.push(whatsapp_stage(&db, url, options.concurrency, &notices).await?);
    }

    let (stage, routine_notices) = routine_stage(&db, &account, clock).await?;
    stages.push(stage);
    stages.push(cnab_stage(&db, clock).await?);
    // The stages reset the kernel's mark; the run's peak is the highest of theirs.
    let overall_peak = stages
        .iter()
        .map(|s| s.peak_rss_mb)
        .fold(peak_rss_mb(), f64::max);

    Ok(Report {
        customers,
        database: db.backend,
        stages,
        peak_rss_mb: overall_peak,
        message_bytes,
        routine_notices: Some(routine_notices),
    })
}

/// The token the `whatsapp` stage's account presents (`cloudapi --token regua-bench`).
pub const WHATSAPP_BENCH_TOKEN: &str = "regua-bench";

/// The `whatsapp` stage: the same reminders as `deliver`, each as the approved template
/// `lembrete_fatura` with three body parameters and the boleto PDF uploaded as its document
/// header (two requests per message), to the Cloud API stand-in at `url`, by a worker with
/// `concurrency` sends in flight, at a weekday noon (inside the sending window). The e-mail
/// reminders still queued (no `--smtp`) are set aside first.
async fn whatsapp_stage(
    db: &Db,
    url: &str,
    concurrency: usize,
    emails: &[(crate::delivery::NewNotice, Vec<InvoiceId>)],
) -> anyhow::Result<Stage> {
    use crate::domain::whatsapp::{NewWhatsappAccount, TemplateMapping};
    use crate::secrets::{MasterKey, Secret};
    let key = MasterKey::parse(&MasterKey::generate_hex()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let noon = jiff::civil::date(2026, 3, 10)
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get(crate::DEFAULT_TIME_ZONE)?)?
        .timestamp();
    let clock = Clock::fixed(crate::DEFAULT_TIME_ZONE, noon).map_err(anyhow::Error::msg)?;
    let mut conn = db.pool.acquire().await?;
    let account = store::whatsapp::insert_account(
        &mut conn,
        &NewWhatsappAccount {
            name: "Bench".into(),
            // The ids `mailsink::cloudapi` serves.
            phone_number_id: "106540352242922".into(),
            business_account_id: "102290129340398".into(),
            token: Secret::new(WHATSAPP_BENCH_TOKEN),
            app_secret: Secret::new("bench"),
            verify_token: Secret::new("bench"),
            api_url: url.trim_end_matches('/').to_string(),
            daily_limit: None,
        },
        Some(&key),
        clock.now_millis(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let layout = store::layouts::layout_for_purpose(&mut conn, Purpose::ReminderBeforeDue)
        .await?
        .context("no reminder layout")?;
    store::whatsapp::set_mapping(
        &mut conn,
        layout.id,
        &TemplateMapping {
            account_id: account,
            template: "lembrete_fatura".into(),
            language: "pt_BR".into(),
            params: vec![
                "cliente.nome".into(),
                "fatura.valor".into(),
                "fatura.vencimento".into(),
            ],
            document: true,
            button: None,
        },
        clock.now_millis(),
    )
    .await?;
    sqlx::query(
        "UPDATE notices SET status = 'skipped', last_error = 'bench: set aside' WHERE channel = 'email' AND status IN ('queued', 'retrying')",
    )
    .execute(&mut *conn)
    .await?;
    let customer_ids: Vec<_> = emails.iter().filter_map(|(n, _)| n.customer_id).collect();
    let phones: std::collections::HashMap<_, _> =
        store::parties::get_customers(&mut conn, &customer_ids)
            .await?
            .into_iter()
            .filter_map(|c| Some((c.id, format!("+{}", c.mobile_phone?.e164()))))
            .collect();
    drop(conn);
    let from = crate::domain::EmailAddress::parse("whatsapp@bench.example.com")
        .map_err(anyhow::Error::msg)?;
    let notices: Vec<crate::delivery::NewNotice> = emails
        .iter()
        .filter_map(|(n, _)| {
            let phone = phones.get(&n.customer_id?)?;
            Some(crate::delivery::NewNotice {
                dedup_key: crate::delivery::NoticeKey::ApiIdempotent {
                    api_key: crate::domain::auth::ApiKeyId(0),
                    idempotency: format!("bench-whatsapp:{}", n.invoice_id?.0),
                },
                channel: crate::delivery::Channel::Whatsapp,
                account_id: None,
                recipient: phone.clone(),
                layout_id: layout.id,
                ..n.clone()
            })
        })
        .collect();
    for chunk in notices.chunks(1000) {
        let mut tx = db.begin().await?;
        for n in chunk {
            store::outbox::enqueue_notice(&mut tx, n, &from, clock.now_millis()).await?;
        }
        tx.commit().await?;
    }
    let worker = crate::delivery::Worker::new(
        db.clone(),
        clock.clone(),
        crate::delivery::WorkerOptions {
            name: "bench-whatsapp".into(),
            lease: std::time::Duration::from_secs(600),
            batch: 256,
            concurrency: concurrency.max(1),
            timeout: crate::delivery::DEFAULT_NETWORK_TIMEOUT,
        },
        Some(key),
    );
    let bar = progress("whatsapp", notices.len() as u64);
    let mut sent = 0;
    let stage = timed("whatsapp", notices.len() as u64, || async {
        let r = worker.drain(|r| bar.inc(r.claimed as u64)).await?;
        sent = r.sent;
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    anyhow::ensure!(
        sent == notices.len(),
        "only {sent} of {} WhatsApp messages were accepted by {url}",
        notices.len()
    );
    Ok(stage)
}

/// Records in the `cnab` stage's return file.
pub const CNAB_RECORDS: usize = 100_000;

/// Importing a bank return file (`cnab`): a Banco do Brasil CNAB 400 file of
/// [`CNAB_RECORDS`] records is built (untimed) paying every open invoice once — with the
/// routine's reminders waiting, so each payment also skips them — and, past the invoices, the
/// bank's tariff records (occurrence 28) on them; then read and imported in one transaction.
/// Items are the file's records.
async fn cnab_stage(db: &Db, clock: &Clock) -> anyhow::Result<Stage> {
    let mut conn = db.pool.acquire().await?;
    let wallets = store::parties::list_wallets(&mut conn).await?;
    let ids: Vec<_> = wallets.iter().map(|w| w.id).collect();
    let invoices: Vec<_> = store::bank_returns::payable_invoices(&mut conn, &ids)
        .await?
        .into_iter()
        .filter(|i| i.status == "open")
        .collect();
    drop(conn);
    anyhow::ensure!(!invoices.is_empty(), "no open invoice to pay");
    let mut text = String::with_capacity((CNAB_RECORDS + 2) * 402);
    let mut header = " ".repeat(400);
    header.replace_range(0..1, "0");
    header.replace_range(76..79, "001");
    text.push_str(&header);
    for k in 0..CNAB_RECORDS {
        let inv = &invoices[k % invoices.len()];
        let wallet = wallets
            .iter()
            .find(|w| w.id == inv.wallet_id)
            .context("the invoice's wallet")?;
        let printed =
            crate::payment::printed_our_number(inv.into(), wallet).context("our number")?;
        let digits: String = printed.chars().filter(char::is_ascii_digit).collect();
        let occurrence = if k < invoices.len() { "06" } else { "28" };
        let mut l = " ".repeat(400);
        l.replace_range(0..1, "7");
        l.replace_range(63..80, &format!("{digits:0>17}"));
        l.replace_range(108..110, occurrence);
        let day = inv.due_date.strftime("%d%m%y").to_string();
        l.replace_range(110..116, &day);
        l.replace_range(152..165, &format!("{:013}", inv.amount.cents()));
        l.replace_range(253..266, &format!("{:013}", inv.amount.cents()));
        text.push_str("\r\n");
        text.push_str(&l);
    }
    text.push_str("\r\n9");
    let bytes = text.into_bytes();
    let bar =
        indicatif::ProgressBar::new_spinner().with_message(format!("cnab: {CNAB_RECORDS} records"));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let stage = timed("cnab", CNAB_RECORDS as u64, || async {
        let file = boleto::cnab::read_return(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let outcome = crate::actions::bank_returns::import_return(
            db,
            &crate::actions::bank_returns::ReturnUpload {
                name: "bench.ret",
                bytes: &bytes,
                file: &file,
            },
            false,
            &crate::domain::Actor::Demo,
            (clock.today(), clock.now_millis()),
        )
        .await?;
        anyhow::ensure!(
            outcome.count("paid") == invoices.len().min(CNAB_RECORDS),
            "{} payments recorded, {} expected",
            outcome.count("paid"),
            invoices.len().min(CNAB_RECORDS)
        );
        Ok(())
    })
    .await?;
    bar.finish_and_clear();
    Ok(stage)
}

/// The whole routine as the scheduler runs it (`routine`): the bench's 6 rules and 4 bands
/// stored, every invoice in their reach read from the database with its customer, planned, and
/// the notices enqueued with the skips recorded, in one transaction. It runs as of 92 days after
/// generation — past the last due date, so every invoice is in reach and in a band — with the
/// last run a week before. Items are the invoices read and planned.
async fn routine_stage(
    db: &Db,
    account: &crate::delivery::SmtpAccount,
    clock: &Clock,
) -> anyhow::Result<(Stage, u64)> {
    use crate::dunning::RuleKind;
    let mut conn = db.pool.acquire().await?;
    for (kind, days) in [
        (RuleKind::BeforeDue, 5),
        (RuleKind::BeforeDue, 1),
        (RuleKind::OnDue, 0),
        (RuleKind::AfterDue, 1),
        (RuleKind::AfterDue, 5),
        (RuleKind::AfterDue, 13),
    ] {
        store::rules::insert_send_rule(&mut conn, "Boleto", kind, days, None, 0)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for (from, to) in [(1, 10), (11, 30), (31, 60), (61, 90)] {
        store::dunning::insert_band(&mut conn, from, to, None, false, 0)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    store::parties::set_setting(
        &mut conn,
        store::accounts::SETTING_FINANCIAL_ACCOUNT,
        &account.name,
    )
    .await?;
    let day = clock
        .today()
        .checked_add(jiff::Span::new().days(92))
        .context("date")?;
    let last = day.checked_sub(jiff::Span::new().days(7)).context("date")?;
    store::dunning::record_run(&mut conn, None, last, "manual", Ok((0, 0, 0)), 0, 0).await?;
    drop(conn);
    let req = crate::dunning::RunRequest {
        date: day,
        dry_run: false,
        routine: None,
        trigger: crate::dunning::Trigger::Manual,
        actor: "bench".into(),
        emission: None,
        detail: false,
    };
    let bar = indicatif::ProgressBar::new_spinner().with_message("routine");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    reset_peak_rss();
    let start = Instant::now();
    let report = crate::dunning::run(db, clock, &req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    tracing::info!(
        considered = report.considered,
        enqueued = report.enqueued,
        skipped = report.skipped.len(),
        "bench routine"
    );
    let items = report.considered as u64;
    Ok((
        Stage {
            name: "routine",
            items,
            seconds,
            per_second: items as f64 / seconds.max(1e-9),
            peak_rss_mb: peak_rss_mb(),
        },
        report.enqueued,
    ))
}

/// The table printed after a run.
pub fn table(r: &Report) -> String {
    let mut s = format!(
        "regua bench — {} customers on {:?}\n",
        r.customers, r.database
    );
    let _ = writeln!(
        s,
        "{:<10} {:>10} {:>10} {:>12} {:>9}",
        "stage", "items", "seconds", "per second", "peak MB"
    );
    for st in &r.stages {
        let _ = writeln!(
            s,
            "{:<10} {:>10} {:>10.2} {:>12.0} {:>9.0}",
            st.name, st.items, st.seconds, st.per_second, st.peak_rss_mb
        );
    }
    if let Some(b) = r.message_bytes {
        let _ = writeln!(s, "delivered message size: {b} bytes");
    }
    if let Some(n) = r.routine_notices {
        let _ = writeln!(s, "routine: {n} notices enqueued");
    }
    let _ = writeln!(s, "peak memory: {:.0} MB", r.peak_rss_mb);
    s
}
