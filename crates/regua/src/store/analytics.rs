//! The recovery analytics' rows (migration 0031, docs/analytics.md): the facts a refresh reads
//! (invoices and their sent notices), the daily aggregates it writes, and the figures the page
//! and the API read back from them.

use std::collections::BTreeMap;

use jiff::civil::Date;
use sqlx::{AnyConnection, Row as _};

use crate::domain::analytics::{
    self, Aggregates, Band, InvoiceFact, MAX_DAYS, NoticeFact, StepFigures,
};

/// What a figure is restricted to: a period of days (sending days, snapshot days, or due months
/// for the curves), and optionally a billing method, a wallet and (for steps) a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
    /// Only this billing method.
    pub method: Option<i64>,
    /// Only this wallet.
    pub wallet: Option<i64>,
    /// Only this channel (steps only).
    pub channel: Option<String>,
}

fn parse_day(s: &str) -> anyhow::Result<Date> {
    s.parse::<Date>()
        .map_err(|e| anyhow::anyhow!("bad date {s:?} in the database: {e}"))
}

/// The facts a refresh of `from ..= to` needs: every invoice (not cancelled) that is due from
/// [`analytics::cohort_months`]'s first month on, still open, paid from `from` on, or told of
/// in the period; and every sent notice of those invoices, its day in `tz`.
pub async fn facts(
    conn: &mut AnyConnection,
    from: Date,
    to: Date,
    tz: &jiff::tz::TimeZone,
) -> anyhow::Result<(Vec<InvoiceFact>, Vec<NoticeFact>, Vec<Band>)> {
    let (first_month, _) = analytics::cohort_months(from, to);
    let earliest = first_month
        .min(
            from.checked_sub(jiff::Span::new().days(i64::from(MAX_DAYS)))
                .unwrap_or(from),
        )
        .to_string();
    let from_ms = from
        .to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    let wanted = "i.status <> 'cancelled' AND (i.due_date >= $1 OR i.status = 'open' OR i.paid_on >= $2
        OR EXISTS (SELECT 1 FROM notices m WHERE m.invoice_id = i.id AND m.status = 'sent' AND m.sent_at >= $3))";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT i.id, i.due_date, i.paid_on, i.amount_cents, COALESCE(i.paid_amount_cents, 0), i.billing_method_id, i.wallet_id
         FROM invoices i WHERE {wanted} ORDER BY i.id"
    )))
    .bind(&earliest)
    .bind(from.to_string())
    .bind(from_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut invoices = Vec::with_capacity(rows.len());
    for r in rows {
        let paid: Option<String> = r.try_get(2)?;
        invoices.push(InvoiceFact {
            id: r.try_get(0)?,
            due: parse_day(&r.try_get::<String, _>(1)?)?,
            paid_on: paid.as_deref().map(parse_day).transpose()?,
            amount: r.try_get(3)?,
            paid_amount: r.try_get(4)?,
            method: r.try_get(5)?,
            wallet: r.try_get(6)?,
        });
    }
    // Delivered: a receipt that says so (SMS, WhatsApp), or an e-mail or push accepted and
    // not returned.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT n.id, n.invoice_id, n.sent_at, n.dedup_key, n.channel, n.receipt,
                EXISTS (SELECT 1 FROM bounces b WHERE b.notice_id = n.id AND b.kind IN ('hard', 'soft', 'complaint'))
         FROM notices n JOIN invoices i ON i.id = n.invoice_id
         WHERE n.status = 'sent' AND n.sent_at IS NOT NULL AND {wanted}
         ORDER BY n.id"
    )))
    .bind(&earliest)
    .bind(from.to_string())
    .bind(from_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut notices = Vec::with_capacity(rows.len());
    for r in rows {
        let sent_at: i64 = r.try_get(2)?;
        let channel: String = r.try_get(4)?;
        let receipt: Option<String> = r.try_get(5)?;
        let bounced: bool = r
            .try_get::<i64, _>(6)
            .map(|b| b != 0)
            .or_else(|_| r.try_get(6))?;
        let receipted = matches!(receipt.as_deref(), Some("delivered" | "read"));
        let delivered = receipted
            || (matches!(channel.as_str(), "email" | "push") && !bounced && receipt.is_none());
        notices.push(NoticeFact {
            id: r.try_get(0)?,
            invoice: r.try_get(1)?,
            sent_on: jiff::Timestamp::from_millisecond(sent_at)?
                .to_zoned(tz.clone())
                .date(),
            step: analytics::step_of_key(&r.try_get::<String, _>(3)?),
            channel,
            delivered,
            read: receipt.as_deref() == Some("read"),
        });
    }
    let bands = sqlx::query("SELECT id, from_days, to_days FROM overdue_bands ORDER BY id")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| -> anyhow::Result<Band> {
            Ok((
                r.try_get(0)?,
                i32::try_from(r.try_get::<i64, _>(1)?)?,
                i32::try_from(r.try_get::<i64, _>(2)?)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((invoices, notices, bands))
}

/// Replaces the aggregates of the days `from ..= to` (and of their cohort months) with `a`.
pub async fn replace(
    conn: &mut AnyConnection,
    from: Date,
    to: Date,
    a: &Aggregates,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (first_month, last_month) = analytics::cohort_months(from, to);
    let (f, t) = (from.to_string(), to.to_string());
    let (fm, lm) = (first_month.to_string(), last_month.to_string());
    for (table, column, lo, hi) in [
        ("analytics_steps", "day", &f, &t),
        ("analytics_pay_days", "day", &f, &t),
        ("analytics_base", "day", &f, &t),
        ("analytics_overdue", "day", &f, &t),
        ("analytics_cohorts", "month", &fm, &lm),
        ("analytics_curve", "month", &fm, &lm),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE {column} >= $1 AND {column} <= $2"
        )))
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
        .await?;
    }
    for (k, c) in &a.steps {
        sqlx::query(
            "INSERT INTO analytics_steps (day, step, channel, method_id, wallet_id, age, sent, delivered, read_count, paid_1, paid_3, paid_7, recovered, recovered_cents)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(k.day.to_string())
        .bind(&k.step)
        .bind(&k.channel)
        .bind(k.method)
        .bind(k.wallet)
        .bind(i64::from(k.age))
        .bind(c.sent)
        .bind(c.delivered)
        .bind(c.read)
        .bind(c.paid_1)
        .bind(c.paid_3)
        .bind(c.paid_7)
        .bind(c.recovered)
        .bind(c.recovered_cents)
        .execute(&mut *conn)
        .await?;
    }
    for (k, n) in &a.days {
        sqlx::query(
            "INSERT INTO analytics_pay_days (day, step, channel, method_id, wallet_id, days, notices) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.day.to_string())
        .bind(&k.step)
        .bind(&k.channel)
        .bind(k.method)
        .bind(k.wallet)
        .bind(i64::from(k.days))
        .bind(*n)
        .execute(&mut *conn)
        .await?;
    }
    for (k, c) in &a.base {
        sqlx::query(
            "INSERT INTO analytics_base (day, age, method_id, wallet_id, open_count, paid_1, paid_3, paid_7) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(k.day.to_string())
        .bind(i64::from(k.age))
        .bind(k.method)
        .bind(k.wallet)
        .bind(c.open)
        .bind(c.paid_1)
        .bind(c.paid_3)
        .bind(c.paid_7)
        .execute(&mut *conn)
        .await?;
    }
    for (k, (n, cents)) in &a.overdue {
        sqlx::query(
            "INSERT INTO analytics_overdue (day, band_id, method_id, wallet_id, invoices, amount_cents) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.day.to_string())
        .bind(k.band)
        .bind(k.method)
        .bind(k.wallet)
        .bind(*n)
        .bind(*cents)
        .execute(&mut *conn)
        .await?;
    }
    for (k, c) in &a.cohorts {
        sqlx::query(
            "INSERT INTO analytics_cohorts (month, method_id, wallet_id, issued, issued_cents, overdue, overdue_cents) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.month.to_string())
        .bind(k.method)
        .bind(k.wallet)
        .bind(c.issued)
        .bind(c.issued_cents)
        .bind(c.overdue)
        .bind(c.overdue_cents)
        .execute(&mut *conn)
        .await?;
    }
    for ((k, rel), (n, cents)) in &a.curve {
        sqlx::query(
            "INSERT INTO analytics_curve (month, method_id, wallet_id, rel_day, invoices, paid_cents) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.month.to_string())
        .bind(k.method)
        .bind(k.wallet)
        .bind(i64::from(*rel))
        .bind(*n)
        .bind(*cents)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO analytics_refreshes (from_day, to_day, ran_at, actor) VALUES ($1, $2, $3, $4)",
    )
    .bind(&f)
    .bind(&t)
    .bind(now_ms)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The last refresh's id, if any: the figures change only when it does.
pub async fn last_refresh_id(conn: &mut AnyConnection) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query("SELECT MAX(id) FROM analytics_refreshes")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}

/// The last refresh: (from, to, ran at ms), if any.
pub async fn last_refresh(
    conn: &mut AnyConnection,
) -> anyhow::Result<Option<(String, String, i64)>> {
    let row = sqlx::query(
        "SELECT from_day, to_day, ran_at FROM analytics_refreshes ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
}

/// The filter's WHERE on method and wallet: `$3` and `$4` (0: any).
const SCOPE: &str = "($3 = 0 OR method_id = $3) AND ($4 = 0 OR wallet_id = $4)";

/// `sql` with `$1`..`$4` bound: the first and last day (or month), the method and the wallet.
fn scoped(
    sql: String,
    lo: String,
    hi: String,
    f: &Filter,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lo)
        .bind(hi)
        .bind(f.method.unwrap_or(0))
        .bind(f.wallet.unwrap_or(0))
}

/// Each step's figures over the filter's sending days, per step and channel, with the base rate
/// of invoices of the same ages that got no notice.
pub async fn step_figures(
    conn: &mut AnyConnection,
    f: &Filter,
) -> anyhow::Result<Vec<StepFigures>> {
    let channel = f.channel.clone().unwrap_or_default();
    let rows = scoped(
        format!(
        "SELECT step, channel, age, CAST(SUM(sent) AS BIGINT), CAST(SUM(delivered) AS BIGINT), CAST(SUM(read_count) AS BIGINT), CAST(SUM(paid_1) AS BIGINT), CAST(SUM(paid_3) AS BIGINT), CAST(SUM(paid_7) AS BIGINT), CAST(SUM(recovered) AS BIGINT), CAST(SUM(recovered_cents) AS BIGINT)
         FROM analytics_steps WHERE day >= $1 AND day <= $2 AND {SCOPE} AND ($5 = '' OR channel = $5)
         GROUP BY step, channel, age"
        ),
        f.from.to_string(),
        f.to.to_string(),
        f,
    )
    .bind(&channel)
    .fetch_all(&mut *conn)
    .await?;
    let mut figures: BTreeMap<(String, String), StepFigures> = BTreeMap::new();
    let mut ages: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for r in rows {
        let (step, ch): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let age: i64 = r.try_get(2)?;
        let e = figures
            .entry((step.clone(), ch.clone()))
            .or_insert_with(|| StepFigures {
                step: step.clone(),
                channel: ch.clone(),
                ..StepFigures::default()
            });
        let sent: i64 = r.try_get(3)?;
        e.sent += sent;
        e.delivered += r.try_get::<i64, _>(4)?;
        e.read += r.try_get::<i64, _>(5)?;
        e.paid_1 += r.try_get::<i64, _>(6)?;
        e.paid_3 += r.try_get::<i64, _>(7)?;
        e.paid_7 += r.try_get::<i64, _>(8)?;
        e.recovered += r.try_get::<i64, _>(9)?;
        e.recovered_cents += r.try_get::<i64, _>(10)?;
        ages.entry((step, ch)).or_default().push((age, sent));
    }
    let rows = scoped(
        format!(
            "SELECT step, channel, days, CAST(SUM(notices) AS BIGINT) FROM analytics_pay_days
         WHERE day >= $1 AND day <= $2 AND {SCOPE} AND ($5 = '' OR channel = $5)
         GROUP BY step, channel, days"
        ),
        f.from.to_string(),
        f.to.to_string(),
        f,
    )
    .bind(&channel)
    .fetch_all(&mut *conn)
    .await?;
    let mut histograms: BTreeMap<(String, String), BTreeMap<i32, i64>> = BTreeMap::new();
    for r in rows {
        let days = i32::try_from(r.try_get::<i64, _>(2)?)?;
        *histograms
            .entry((r.try_get(0)?, r.try_get(1)?))
            .or_default()
            .entry(days)
            .or_default() += r.try_get::<i64, _>(3)?;
    }
    let base = base_by_age(conn, f).await?;
    for (key, fig) in &mut figures {
        fig.median_days = histograms.get(key).and_then(analytics::median);
        fig.paid_7_permille = analytics::permille(fig.paid_7, fig.sent);
        // The base, weighted by this step's notices at each age.
        let (mut num, mut den) = (0i64, 0i64);
        for (age, sent) in ages.get(key).into_iter().flatten() {
            if let Some((open, paid_7)) = base.get(age)
                && *open > 0
            {
                num += sent * paid_7 * 1000 / open;
                den += sent;
            }
        }
        fig.base_paid_7_permille = (den > 0).then(|| num / den);
    }
    Ok(figures.into_values().collect())
}

/// The base rate over the filter's days, per age: (open, paid within 7 days).
pub async fn base_by_age(
    conn: &mut AnyConnection,
    f: &Filter,
) -> anyhow::Result<BTreeMap<i64, (i64, i64)>> {
    let rows = scoped(
        format!(
        "SELECT age, CAST(SUM(open_count) AS BIGINT), CAST(SUM(paid_7) AS BIGINT) FROM analytics_base
         WHERE day >= $1 AND day <= $2 AND {SCOPE} GROUP BY age"
        ),
        f.from.to_string(),
        f.to.to_string(),
        f,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect()
}

/// A due month's payment curve and overdue rate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MonthCurve {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Invoices due that month.
    pub issued: i64,
    /// Their amount, centavos.
    pub issued_cents: i64,
    /// Open and past due at the last refresh.
    pub overdue: i64,
    /// Their amount, centavos.
    pub overdue_cents: i64,
    /// `overdue / issued`, per thousand (the month's "inadimplência").
    pub overdue_permille: i64,
    /// Paid by each day relative to the due date, cumulative, per thousand of the issued:
    /// element i is day `CURVE_FROM + i`.
    pub paid_by_day_permille: Vec<i64>,
}

/// The curves of the due months the filter's period touches.
pub async fn curves(conn: &mut AnyConnection, f: &Filter) -> anyhow::Result<Vec<MonthCurve>> {
    let (lo, hi) = (
        analytics::month_of(f.from).to_string(),
        analytics::month_of(f.to).to_string(),
    );
    let rows = scoped(
        format!(
        "SELECT month, CAST(SUM(issued) AS BIGINT), CAST(SUM(issued_cents) AS BIGINT), CAST(SUM(overdue) AS BIGINT), CAST(SUM(overdue_cents) AS BIGINT) FROM analytics_cohorts
         WHERE month >= $1 AND month <= $2 AND {SCOPE} GROUP BY month ORDER BY month"
        ),
        lo.clone(),
        hi.clone(),
        f,
    )
    .fetch_all(&mut *conn)
    .await?;
    let span = usize::try_from(MAX_DAYS - analytics::CURVE_FROM + 1).unwrap_or(0);
    let mut out: BTreeMap<String, MonthCurve> = BTreeMap::new();
    for r in rows {
        let month: String = r.try_get(0)?;
        let issued: i64 = r.try_get(1)?;
        let overdue: i64 = r.try_get(3)?;
        out.insert(
            month.clone(),
            MonthCurve {
                month: month[..7].to_string(),
                issued,
                issued_cents: r.try_get(2)?,
                overdue,
                overdue_cents: r.try_get(4)?,
                overdue_permille: analytics::permille(overdue, issued),
                paid_by_day_permille: vec![0; span],
            },
        );
    }
    let rows = scoped(
        format!(
            "SELECT month, rel_day, CAST(SUM(invoices) AS BIGINT) FROM analytics_curve
         WHERE month >= $1 AND month <= $2 AND {SCOPE} GROUP BY month, rel_day"
        ),
        lo.clone(),
        hi.clone(),
        f,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut paid: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows {
        let month: String = r.try_get(0)?;
        let rel: i64 = r.try_get(1)?;
        let i = usize::try_from(rel - i64::from(analytics::CURVE_FROM)).unwrap_or(0);
        let v = paid.entry(month).or_insert_with(|| vec![0; span]);
        if i < span {
            v[i] += r.try_get::<i64, _>(2)?;
        }
    }
    for (month, curve) in &mut out {
        let mut running = 0;
        let counts = paid.remove(month).unwrap_or_else(|| vec![0; span]);
        for (i, n) in counts.into_iter().enumerate() {
            running += n;
            curve.paid_by_day_permille[i] = analytics::permille(running, curve.issued);
        }
    }
    Ok(out.into_values().collect())
}

/// Open and past due per day and band over the filter's days: (day, band id, invoices, cents).
pub async fn overdue_by_band(
    conn: &mut AnyConnection,
    f: &Filter,
) -> anyhow::Result<Vec<(String, i64, i64, i64)>> {
    let rows = scoped(
        format!(
        "SELECT day, band_id, CAST(SUM(invoices) AS BIGINT), CAST(SUM(amount_cents) AS BIGINT) FROM analytics_overdue
         WHERE day >= $1 AND day <= $2 AND {SCOPE} GROUP BY day, band_id ORDER BY day, band_id"
        ),
        f.from.to_string(),
        f.to.to_string(),
        f,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// The id of the wallet or billing method (`table`: `wallets` or `billing_methods`) named `name`.
pub async fn id_by_name(
    conn: &mut AnyConnection,
    table: &'static str,
    name: &str,
) -> anyhow::Result<Option<i64>> {
    anyhow::ensure!(
        matches!(table, "wallets" | "billing_methods"),
        "no such table"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?)
}

/// What the pages call the steps, wallets and methods: `rule:3` → "3 dias após o vencimento
/// (Boleto BB)", `band:1` → "Faixa 1–15 dias", and each wallet's and method's (id, name).
pub async fn labels(
    conn: &mut AnyConnection,
) -> anyhow::Result<(
    BTreeMap<String, String>,
    Vec<(i64, String)>,
    Vec<(i64, String)>,
)> {
    let mut steps = BTreeMap::new();
    for r in sqlx::query(
        "SELECT r.id, r.kind, r.days, m.name FROM send_rules r JOIN billing_methods m ON m.id = r.billing_method_id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let (id, kind, days, method): (i64, String, i64, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let when = match kind.as_str() {
            "before_due" => format!("{days} dia(s) antes do vencimento"),
            "on_due" => "no vencimento".to_string(),
            _ => format!("{days} dia(s) após o vencimento"),
        };
        steps.insert(format!("rule:{id}"), format!("Regra: {when} ({method})"));
    }
    for r in sqlx::query("SELECT id, from_days, to_days FROM overdue_bands")
        .fetch_all(&mut *conn)
        .await?
    {
        let (id, f, t): (i64, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        steps.insert(
            format!("band:{id}"),
            format!("Faixa de atraso {f}–{t} dias"),
        );
    }
    for (k, v) in [
        ("generated", "Envio ao gerar a fatura"),
        ("manual", "Envio manual"),
        ("portal", "Pedido na Central do Assinante"),
        ("other", "Outros"),
    ] {
        steps.insert(k.to_string(), v.to_string());
    }
    let list =
        async |conn: &mut AnyConnection, sql: &'static str| -> anyhow::Result<Vec<(i64, String)>> {
            sqlx::query(sql)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        };
    let wallets = list(conn, "SELECT id, name FROM wallets ORDER BY name").await?;
    let methods = list(conn, "SELECT id, name FROM billing_methods ORDER BY name").await?;
    Ok((steps, wallets, methods))
}

/// An invoice as the what-if replays it: what the planner needs, and the days that decide
/// whether it existed and was open on a past day.
#[derive(Debug, Clone)]
pub struct ReplayInvoice {
    /// The planner's view (its `open` is set per replayed day).
    pub plan: crate::domain::rules::PlanInvoice,
    /// Issued on.
    pub issued: Date,
    /// Paid on, if paid.
    pub paid_on: Option<Date>,
}

/// What the what-if replays over the days `from ..= to`: every invoice not cancelled that
/// existed then and was not paid before `from` (contacts and pauses as they are now: their
/// history is not kept), the régua's notice keys created before `from`, the notices sent per
/// day and channel in the period, and each channel's daily capacity (the sum of the active
/// accounts' or gateways' daily limits; `None`: unlimited).
#[allow(clippy::type_complexity)]
pub async fn replay_facts(
    conn: &mut AnyConnection,
    from: Date,
    to: Date,
    tz: &jiff::tz::TimeZone,
) -> anyhow::Result<(
    Vec<ReplayInvoice>,
    std::collections::HashSet<String>,
    BTreeMap<(Date, String), i64>,
    BTreeMap<String, Option<i64>>,
)> {
    let pauses = super::dunning::PauseIndex::load(conn, from).await?;
    let ms = |d: Date| {
        d.to_zoned(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0)
    };
    let (from_ms, end_ms) = (ms(from), ms(to.tomorrow().unwrap_or(to)));
    let rows = sqlx::query(
        "SELECT i.id, i.customer_id, i.billing_method_id, i.due_date, i.delivery_type, c.email, c.mobile_phone,
            CASE WHEN EXISTS (SELECT 1 FROM portal_devices d WHERE d.document = c.document) THEN 1 ELSE 0 END,
            i.issue_date, i.paid_on
         FROM invoices i JOIN customers c ON c.id = i.customer_id
         WHERE i.status <> 'cancelled' AND i.issue_date <= $1 AND (i.paid_on IS NULL OR i.paid_on >= $2)
         ORDER BY i.id",
    )
    .bind(to.to_string())
    .bind(from.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut invoices = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = crate::domain::InvoiceId(r.try_get(0)?);
        let customer = crate::domain::CustomerId(r.try_get(1)?);
        let present = |v: Option<String>| v.is_some_and(|s| !s.trim().is_empty());
        let paid: Option<String> = r.try_get(9)?;
        invoices.push(ReplayInvoice {
            plan: crate::domain::rules::PlanInvoice {
                id,
                customer,
                method: crate::domain::BillingMethodId(r.try_get(2)?),
                due: parse_day(&r.try_get::<String, _>(3)?)?,
                open: true,
                delivery: if r.try_get::<String, _>(4)? == "printed" {
                    crate::domain::DeliveryType::Printed
                } else {
                    crate::domain::DeliveryType::Email
                },
                has_email: present(r.try_get(5)?),
                has_phone: present(r.try_get(6)?),
                has_device: r.try_get::<i64, _>(7)? != 0,
                paused_until: pauses.until(id, customer),
            },
            issued: parse_day(&r.try_get::<String, _>(8)?)?,
            paid_on: paid.as_deref().map(parse_day).transpose()?,
        });
    }
    let already = sqlx::query(
        "SELECT dedup_key FROM notices WHERE created_at < $1 AND (dedup_key LIKE 'rule:%' OR dedup_key LIKE 'band:%')",
    )
    .bind(from_ms)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    let mut recorded = BTreeMap::new();
    for r in sqlx::query(
        "SELECT sent_at, channel FROM notices WHERE status = 'sent' AND sent_at >= $1 AND sent_at < $2",
    )
    .bind(from_ms)
    .bind(end_ms)
    .fetch_all(&mut *conn)
    .await?
    {
        let day = jiff::Timestamp::from_millisecond(r.try_get(0)?)?
            .to_zoned(tz.clone())
            .date();
        *recorded.entry((day, r.try_get(1)?)).or_insert(0) += 1;
    }
    let mut capacity = BTreeMap::new();
    for (channel, table) in [
        ("email", "smtp_accounts"),
        ("sms", "sms_gateways"),
        ("whatsapp", "whatsapp_accounts"),
    ] {
        let limits: Vec<Option<i64>> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT daily_limit FROM {table} WHERE active = 1"
        )))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let total = if limits.iter().any(Option::is_none) {
            None
        } else {
            Some(limits.iter().flatten().sum())
        };
        capacity.insert(channel.to_string(), total);
    }
    capacity.insert("push".to_string(), None);
    Ok((invoices, already, recorded, capacity))
}
