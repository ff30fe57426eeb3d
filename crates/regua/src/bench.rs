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
    let start = Instant::now();
    f().await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Stage {
        name,
        items,
        seconds,
        per_second: items as f64 / seconds.max(1e-9),
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

/// The layout contexts of the first `n` invoices, as the delivery worker would build them.
async fn reminder_contexts(
    db: &Db,
    n: u64,
    clock: &Clock,
) -> anyhow::Result<Vec<crate::layouts::LayoutContext>> {
    use std::collections::HashMap;
    use std::collections::hash_map::Entry;
    let mut conn = db.pool.acquire().await?;
    let company = store::company_profile(&mut conn).await?;
    let wallets = store::list_wallets(&mut conn).await?;
    let mut customers = HashMap::new();
    let mut contracts = HashMap::new();
    let mut out = Vec::with_capacity(n as usize);
    let mut after = InvoiceId(0);
    while (out.len() as u64) < n {
        let page = store::list_invoices_after(&mut conn, after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for inv in page.iter().take((n - out.len() as u64) as usize) {
            if let Entry::Vacant(e) = customers.entry(inv.customer_id) {
                e.insert(store::get_customer(&mut conn, inv.customer_id).await?);
            }
            if let Entry::Vacant(e) = contracts.entry(inv.contract_id) {
                e.insert(store::get_contract(&mut conn, inv.contract_id).await?);
            }
            out.push(crate::layouts::layout_context(
                inv,
                &customers[&inv.customer_id],
                &contracts[&inv.contract_id],
                std::slice::from_ref(inv),
                &wallets,
                &company,
                clock.today(),
            )?);
        }
    }
    Ok(out)
}

/// Runs the benchmark on a fresh database at `url` (its tables must be empty).
pub async fn run(url: &str, customers: u64, clock: &Clock) -> anyhow::Result<Report> {
    let db = Db::connect_and_migrate(url).await?;
    {
        let mut conn = db.pool.acquire().await?;
        anyhow::ensure!(
            store::count_customers(&mut conn).await? == 0,
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

    // Contracts (untimed set-up), then "gerar financeiro" for every contract, three months.
    let mut conn = db.pool.acquire().await?;
    store::insert_wallet(&mut conn, &banco_do_brasil_wallet("Bench"), 0).await?;
    store::insert_billing_method(&mut conn, "Boleto", "Bench", 0).await?;
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
    let bar = progress("generate", customers);
    stages.push(
        timed("generate", customers * 3, || async {
            for i in 1..=customers {
                crate::invoicing::generate_invoices(&db, &format!("K{i:07}"), 3, clock)
                    .await
                    .context("generate")?;
                bar.inc(1);
            }
            Ok(())
        })
        .await?,
    );
    bar.finish_and_clear();

    // Layout rendering: one "before due" reminder (subject + HTML + text, no PDF) per invoice,
    // up to RENDER_ITEMS, on one core. The contexts are read and built first, untimed: the stage
    // measures the template engine, not the database.
    let contexts = reminder_contexts(&db, (customers * 3).min(RENDER_ITEMS), clock).await?;
    let mut conn = db.pool.acquire().await?;
    let layout = store::layout_for_purpose(&mut conn, Purpose::ReminderBeforeDue)
        .await?
        .context("no reminder layout")?
        .compile()
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

    Ok(Report {
        customers,
        database: db.backend,
        stages,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The table printed after a run.
pub fn table(r: &Report) -> String {
    let mut s = format!(
        "regua bench — {} customers on {:?}\n",
        r.customers, r.database
    );
    let _ = writeln!(
        s,
        "{:<10} {:>10} {:>10} {:>12}",
        "stage", "items", "seconds", "per second"
    );
    for st in &r.stages {
        let _ = writeln!(
            s,
            "{:<10} {:>10} {:>10.2} {:>12.0}",
            st.name, st.items, st.seconds, st.per_second
        );
    }
    let _ = writeln!(s, "peak memory: {:.0} MB", r.peak_rss_mb);
    s
}
