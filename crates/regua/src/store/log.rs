//! The delivery log: every attempt with its outcome, the send ledger's counts, the dashboard's
//! figures and the send-latency histogram.

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::domain::delivery::{AccountId, Attempt, NoticeId, NoticeStatus};
use crate::domain::{CustomerId, InvoiceId};

/// Filters of the delivery log. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// One customer's messages ("e-mails enviados").
    pub customer: Option<CustomerId>,
    /// One invoice's collection history.
    pub invoice: Option<InvoiceId>,
    /// One outcome.
    pub outcome: Option<NoticeStatus>,
    /// Attempts at or after (ms).
    pub from_ms: Option<i64>,
    /// Attempts before (ms).
    pub to_ms: Option<i64>,
    /// One sending account.
    pub account: Option<AccountId>,
    /// One channel.
    pub channel: Option<crate::domain::delivery::Channel>,
    /// Skip this many (paging), newest first.
    pub offset: i64,
    /// At most this many, newest first.
    pub limit: i64,
}

/// The delivery log, newest first.
pub async fn list_attempts(
    conn: &mut AnyConnection,
    f: &LogFilter,
) -> anyhow::Result<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT a.attempted_at, a.notice_id, n.dedup_key, a.channel,
                CASE a.channel WHEN 'email' THEN s.name WHEN 'sms' THEN g.name WHEN 'push' THEN 'Firebase' WHEN 'whatsapp' THEN 'WhatsApp (Meta)' END,
                a.recipient, a.reply_code, a.reply_text,
                a.outcome, a.duration_ms, n.actor, n.purpose, n.invoice_id, n.customer_id, i.external_id,
                CASE WHEN a.outcome = 'sent' THEN (SELECT b.kind || COALESCE(' ' || b.status, '') FROM bounces b WHERE b.notice_id = a.notice_id ORDER BY b.id LIMIT 1) END,
                CASE WHEN a.outcome = 'sent' AND a.channel = n.channel THEN n.receipt END
         FROM delivery_attempts a JOIN notices n ON n.id = a.notice_id
         LEFT JOIN smtp_accounts s ON s.id = a.account_id
         LEFT JOIN sms_gateways g ON g.id = n.gateway_id
         LEFT JOIN invoices i ON i.id = n.invoice_id
         WHERE ($1 IS NULL OR n.customer_id = $1) AND ($2 IS NULL OR n.invoice_id = $2)
           AND ($3 IS NULL OR a.outcome = $3) AND ($4 IS NULL OR a.attempted_at >= $4)
           AND ($5 IS NULL OR a.attempted_at < $5)
           AND ($7 IS NULL OR a.account_id = $7) AND ($8 IS NULL OR a.channel = $8)
         ORDER BY a.attempted_at DESC, a.id DESC LIMIT $6 OFFSET $9",
    )
    .bind(f.customer.map(|c| c.0))
    .bind(f.invoice.map(|i| i.0))
    .bind(f.outcome.map(|o| o.as_str()))
    .bind(f.from_ms)
    .bind(f.to_ms)
    .bind(if f.limit > 0 { f.limit } else { 1000 })
    .bind(f.account.map(|a| a.0))
    .bind(f.channel.map(|c| c.as_str()))
    .bind(f.offset.max(0))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                attempted_at: r.try_get(0)?,
                notice_id: NoticeId(r.try_get(1)?),
                dedup_key: r.try_get(2)?,
                channel: r
                    .try_get::<String, _>(3)?
                    .parse()
                    .map_err(anyhow::Error::msg)?,
                account: r.try_get(4)?,
                recipient: r.try_get(5)?,
                reply_code: r
                    .try_get::<Option<i64>, _>(6)?
                    .and_then(|c| u16::try_from(c).ok()),
                reply_text: r.try_get(7)?,
                outcome: r
                    .try_get::<String, _>(8)?
                    .parse()
                    .map_err(anyhow::Error::msg)?,
                duration_ms: r.try_get(9)?,
                actor: r.try_get(10)?,
                purpose: r
                    .try_get::<String, _>(11)?
                    .parse()
                    .map_err(anyhow::Error::msg)?,
                invoice_id: r.try_get::<Option<i64>, _>(12)?.map(InvoiceId),
                customer_id: r.try_get::<Option<i64>, _>(13)?.map(CustomerId),
                invoice: r.try_get(14)?,
                bounce: r.try_get(15)?,
                receipt: r.try_get(16)?,
            })
        })
        .collect()
}

/// Messages an account sent (or is sending) in the last `window_ms` before `now`.
pub async fn account_sends_since(
    conn: &mut AnyConnection,
    account: AccountId,
    since_ms: i64,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM account_sends WHERE account_id = $1 AND sent_at > $2")
            .bind(account.0)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Per channel, the notices waiting for its sending window (queued, held by the claim with
/// [`crate::domain::window::WAITING_PREFIX`]), and when the first of them goes.
pub async fn waiting_for_window(
    conn: &mut AnyConnection,
) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT channel, COUNT(*), MIN(next_attempt_at) FROM notices
         WHERE status = 'queued' AND last_error LIKE $1 GROUP BY channel ORDER BY channel",
    )
    .bind(format!("{}%", crate::domain::window::WAITING_PREFIX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// The dashboard's delivery figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DashboardCounts {
    /// Waiting to be sent now or later (queued, sending, retrying).
    pub queued: i64,
    /// Accepted by a server since the given instant.
    pub sent: i64,
    /// Failed attempts (retrying or given up) since the given instant.
    pub failed: i64,
    /// Notices given up on: they need someone to look.
    pub dead: i64,
}

/// The dashboard's delivery figures since `since_ms` (normally today's midnight).
pub async fn dashboard_counts(
    conn: &mut AnyConnection,
    since_ms: i64,
) -> anyhow::Result<DashboardCounts> {
    let one = |sql: &'static str| sqlx::query(sql).bind(since_ms);
    let count = |row: sqlx::any::AnyRow| -> anyhow::Result<i64> { Ok(row.try_get(0)?) };
    Ok(DashboardCounts {
        queued: count(
            sqlx::query(concat!(
                "SELECT COUNT(*) FROM notices WHERE status IN ",
                status_sql!(pending)
            ))
            .fetch_one(&mut *conn)
            .await?,
        )?,
        sent: count(
            one(concat!(
                "SELECT COUNT(*) FROM notices WHERE status = ",
                status_sql!(sent),
                " AND sent_at >= $1"
            ))
            .fetch_one(&mut *conn)
            .await?,
        )?,
        failed: count(
            one(concat!(
                "SELECT COUNT(*) FROM delivery_attempts WHERE outcome IN ",
                status_sql!(failed),
                " AND attempted_at >= $1"
            ))
            .fetch_one(&mut *conn)
            .await?,
        )?,
        dead: count(
            sqlx::query(concat!(
                "SELECT COUNT(*) FROM notices WHERE status = ",
                status_sql!(dead)
            ))
            .fetch_one(&mut *conn)
            .await?,
        )?,
    })
}

/// The server's answer to a notice's latest attempt: (reply code, reply text).
pub async fn last_attempt_reply(
    conn: &mut AnyConnection,
    notice: NoticeId,
) -> anyhow::Result<Option<(Option<u16>, String)>> {
    let row = sqlx::query(
        "SELECT reply_code, reply_text FROM delivery_attempts WHERE notice_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(notice.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get::<Option<i64>, _>(0)?
                .and_then(|c| u16::try_from(c).ok()),
            r.try_get(1)?,
        ))
    })
    .transpose()
}

/// Notices waiting per account (queued, sending, retrying): the metrics' queue depth.
pub async fn queue_depth_by_account(
    conn: &mut AnyConnection,
) -> anyhow::Result<Vec<(String, i64)>> {
    // Each notice under what it is sent through now: its e-mail account, `sms: GATEWAY`, or
    // `push` (an SMS notice also names the e-mail account of its fallback).
    let rows = sqlx::query(concat!(
        "SELECT CASE n.channel WHEN 'email' THEN COALESCE(s.name, '')
                               WHEN 'sms' THEN 'sms: ' || COALESCE(g.name, '')
                               ELSE 'push' END AS sender, COUNT(*)
         FROM notices n LEFT JOIN smtp_accounts s ON s.id = n.account_id
                        LEFT JOIN sms_gateways g ON g.id = n.gateway_id
         WHERE n.status IN ",
        status_sql!(pending),
        " GROUP BY 1 ORDER BY 1"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Sent attempts' durations bucketed for `/metrics`: counts at or under each bound, the count
/// and the sum in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Attempts at or under each bound (cumulative, as Prometheus wants).
    pub buckets: Vec<i64>,
    /// Every sent attempt counted.
    pub count: i64,
    /// Their durations' sum, in milliseconds.
    pub sum_ms: i64,
}

impl DurationHistogram {
    /// Adds another range's counts to these.
    pub fn add(&mut self, other: &DurationHistogram) {
        self.buckets
            .resize(other.buckets.len().max(self.buckets.len()), 0);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ms += other.sum_ms;
    }
}

/// The histogram of sent attempts with an id in `(after_id, up_to]` (no upper bound when `None`):
/// a range of the primary key, so `/metrics` reads only what is new since its last scrape.
pub async fn send_duration_histogram(
    conn: &mut AnyConnection,
    bounds_ms: &[i64],
    after_id: i64,
    up_to: Option<i64>,
) -> anyhow::Result<DurationHistogram> {
    let cases: Vec<String> = bounds_ms
        .iter()
        .map(|b| format!("COALESCE(SUM(CASE WHEN duration_ms <= {b} THEN 1 ELSE 0 END), 0)"))
        .collect();
    let sql = format!(
        "SELECT {}, COUNT(*), CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT) FROM delivery_attempts
         WHERE outcome = {} AND id > $1 AND ($2 IS NULL OR id <= $2)",
        cases.join(", "),
        status_sql!(sent)
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(after_id)
        .bind(up_to)
        .fetch_one(&mut *conn)
        .await?;
    let mut buckets = Vec::with_capacity(bounds_ms.len());
    for i in 0..bounds_ms.len() {
        buckets.push(row.try_get::<i64, _>(i)?);
    }
    Ok(DurationHistogram {
        buckets,
        count: row.try_get(bounds_ms.len())?,
        sum_ms: row.try_get(bounds_ms.len() + 1)?,
    })
}

/// The highest attempt id up to which the log is settled: past `after_id`, every attempt that
/// started before `settled_before_ms`, up to the first that did not. `None` when nothing past
/// `after_id` is settled yet.
///
/// Why a time and not just the highest id: on PostgreSQL ids are handed out at insert and made
/// visible at commit, so a lower id can appear after a higher one; an attempt row is written
/// within minutes of its start (the worker's batch, bounded by the send timeouts), so a range
/// whose attempts all started well before now will not grow any more.
pub async fn settled_attempt_id(
    conn: &mut AnyConnection,
    after_id: i64,
    settled_before_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MAX(id) FROM delivery_attempts WHERE id > $1 AND id < COALESCE(
            (SELECT MIN(id) FROM delivery_attempts WHERE id > $1 AND attempted_at >= $2), $3)",
    )
    .bind(after_id)
    .bind(settled_before_ms)
    .bind(i64::MAX)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

/// One message of an invoice's collection history ("Hist. Cobrança").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceNotice {
    /// The notice.
    pub id: i64,
    /// What it was for (the layout purpose's stored name).
    pub purpose: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The layout's name.
    pub layout: String,
    /// Who or what caused it (`user: ana`, `routine: Manhã`, `generation`…).
    pub actor: String,
    /// Its status.
    pub status: String,
    /// Why it was not sent, or the last error.
    pub last_error: Option<String>,
    /// When it was queued (ms).
    pub created_at: i64,
    /// When it was sent (ms).
    pub sent_at: Option<i64>,
    /// The bounce read back for it (`hard 5.1.1`, `complaint`), if any (docs/bounces.md).
    pub bounce: Option<String>,
}

/// Every notice about an invoice, oldest first: those naming it and the grouped ones carrying
/// it (the generation message of several invoices).
pub async fn notices_of_invoice(
    conn: &mut AnyConnection,
    invoice: crate::domain::InvoiceId,
) -> anyhow::Result<Vec<InvoiceNotice>> {
    let rows = sqlx::query(
        "SELECT n.id, n.purpose, n.channel, COALESCE(l.name, ''), n.actor, n.status, n.last_error,
                n.created_at, n.sent_at, (SELECT b.kind || COALESCE(' ' || b.status, '') FROM bounces b WHERE b.notice_id = n.id ORDER BY b.id LIMIT 1)
           FROM notices n LEFT JOIN layouts l ON l.id = n.layout_id
          WHERE n.invoice_id = $1
             OR n.id IN (SELECT g.notice_id FROM notice_invoices g WHERE g.invoice_id = $1)
          ORDER BY n.created_at, n.id",
    )
    .bind(invoice.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InvoiceNotice {
                id: r.try_get(0)?,
                purpose: r.try_get(1)?,
                channel: r.try_get(2)?,
                layout: r.try_get(3)?,
                actor: r.try_get(4)?,
                status: r.try_get(5)?,
                last_error: r.try_get(6)?,
                created_at: r.try_get(7)?,
                sent_at: r.try_get(8)?,
                bounce: r.try_get(9)?,
            })
        })
        .collect()
}

/// Writes one log row for a notice outside a worker's attempt (a receipt that sent it on by
/// its next channel): at `at_ms`, on `channel`, to `recipient`, with `text` and `outcome`,
/// recorded by `worker` (`whatsapp`, `payment`).
#[allow(clippy::too_many_arguments)]
pub async fn insert_attempt_row(
    conn: &mut AnyConnection,
    notice: NoticeId,
    at_ms: i64,
    channel: crate::domain::delivery::Channel,
    recipient: &str,
    text: &str,
    outcome: &str,
    worker: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO delivery_attempts (notice_id, attempted_at, channel, account_id, recipient, reply_code, reply_text,
            outcome, duration_ms, worker) VALUES ($1, $2, $3, NULL, $4, NULL, $5, $6, 0, $7)",
    )
    .bind(notice.0)
    .bind(at_ms)
    .bind(channel.as_str())
    .bind(recipient)
    .bind(text)
    .bind(outcome)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
