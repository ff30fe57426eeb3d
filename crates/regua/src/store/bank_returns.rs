//! Bank return files and their events (`bank_return_files`, `bank_events`), and the bank's
//! word on an invoice's registration (`invoices.bank_status`).

use anyhow::Context as _;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use jiff::civil::Date;

use crate::domain::{InvoiceId, Money, WalletId};

/// A return file as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnFileRow {
    /// Key.
    pub id: i64,
    /// The file's name as uploaded.
    pub name: String,
    /// The bank's code.
    pub bank: String,
    /// `cnab400` or `cnab240`.
    pub layout: String,
    /// Title records in it.
    pub records: i64,
    /// Payments it recorded.
    pub paid: i64,
    /// Records that matched no invoice.
    pub unmatched: i64,
    /// When (ms).
    pub imported_at: i64,
    /// Who (`Actor` text).
    pub imported_by: String,
}

/// A file to record.
#[derive(Debug, Clone)]
pub struct NewReturnFile<'a> {
    /// SHA-256 of its bytes, hex.
    pub sha256: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The bank.
    pub bank: &'a str,
    /// The layout.
    pub layout: &'a str,
    /// Title records.
    pub records: i64,
    /// Payments recorded.
    pub paid: i64,
    /// Unmatched records.
    pub unmatched: i64,
}

const FILE_COLUMNS: &str =
    "id, name, bank, layout, records, paid, unmatched, imported_at, imported_by";

fn file_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<ReturnFileRow> {
    Ok(ReturnFileRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        bank: r.try_get(2)?,
        layout: r.try_get(3)?,
        records: r.try_get(4)?,
        paid: r.try_get(5)?,
        unmatched: r.try_get(6)?,
        imported_at: r.try_get(7)?,
        imported_by: r.try_get(8)?,
    })
}

/// The file with these bytes, if it was imported.
pub async fn find_file_by_hash(
    conn: &mut AnyConnection,
    sha256: &str,
) -> anyhow::Result<Option<ReturnFileRow>> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM bank_return_files WHERE sha256 = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(sha256)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| file_from_row(&r))
        .transpose()
}

/// Records a file; its id.
pub async fn insert_file(
    conn: &mut AnyConnection,
    f: &NewReturnFile<'_>,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<i64> {
    let row = sqlx::query(
        "INSERT INTO bank_return_files (sha256, name, bank, layout, records, paid, unmatched, imported_at, imported_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(f.sha256)
    .bind(f.name)
    .bind(f.bank)
    .bind(f.layout)
    .bind(f.records)
    .bind(f.paid)
    .bind(f.unmatched)
    .bind(now_ms)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await
    .context("cannot record the return file")?;
    Ok(row.try_get(0)?)
}

/// The files imported, newest first.
pub async fn list_files(
    conn: &mut AnyConnection,
    limit: i64,
) -> anyhow::Result<Vec<ReturnFileRow>> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM bank_return_files ORDER BY id DESC LIMIT $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(file_from_row)
        .collect()
}

/// One record of a file as recorded, with what Régua did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankEvent {
    /// The file.
    pub file_id: i64,
    /// Its line in the file.
    pub line: i64,
    /// The invoice it names, if one matched.
    pub invoice_id: Option<InvoiceId>,
    /// The nosso número as the bank wrote it.
    pub our_number: String,
    /// The bank's occurrence code.
    pub occurrence: String,
    /// `registered`, `rejected`, `paid`, `written_off` or `other`.
    pub event: String,
    /// `paid`, `duplicate_payment`, `underpaid`, `flagged`, `recorded` or `unmatched`.
    pub outcome: String,
    /// When it happened (YYYY-MM-DD).
    pub occurred_on: Option<String>,
    /// When the money is credited (YYYY-MM-DD).
    pub credit_on: Option<String>,
    /// Face value, centavos.
    pub face_cents: i64,
    /// Paid, centavos.
    pub paid_cents: i64,
    /// The bank's fee, centavos.
    pub fee_cents: i64,
    /// Interest and fine, centavos.
    pub interest_cents: i64,
    /// Discount, centavos.
    pub discount_cents: i64,
    /// The bank's reasons, one per line.
    pub reasons: String,
}

/// Records a file's events.
pub async fn insert_events(
    conn: &mut AnyConnection,
    events: &[BankEvent],
    now_ms: i64,
) -> anyhow::Result<()> {
    for chunk in events.chunks(super::MAX_BIND / 16) {
        let sql = format!(
            "INSERT INTO bank_events (file_id, line, invoice_id, our_number, occurrence, event, outcome, occurred_on,
                credit_on, face_cents, paid_cents, fee_cents, interest_cents, discount_cents, reasons, created_at) VALUES {}",
            super::values_rows(conn, chunk.len(), 16, 1)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.file_id)
                .bind(e.line)
                .bind(e.invoice_id.map(|i| i.0))
                .bind(e.our_number.clone())
                .bind(e.occurrence.clone())
                .bind(e.event.clone())
                .bind(e.outcome.clone())
                .bind(e.occurred_on.clone())
                .bind(e.credit_on.clone())
                .bind(e.face_cents)
                .bind(e.paid_cents)
                .bind(e.fee_cents)
                .bind(e.interest_cents)
                .bind(e.discount_cents)
                .bind(e.reasons.clone())
                .bind(now_ms);
        }
        q.execute(&mut *conn)
            .await
            .context("cannot record the bank events")?;
    }
    Ok(())
}

const EVENT_COLUMNS: &str = "file_id, line, invoice_id, our_number, occurrence, event, outcome, occurred_on, credit_on, \
     face_cents, paid_cents, fee_cents, interest_cents, discount_cents, reasons";

fn event_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<BankEvent> {
    Ok(BankEvent {
        file_id: r.try_get(0)?,
        line: r.try_get(1)?,
        invoice_id: r.try_get::<Option<i64>, _>(2)?.map(InvoiceId),
        our_number: r.try_get(3)?,
        occurrence: r.try_get(4)?,
        event: r.try_get(5)?,
        outcome: r.try_get(6)?,
        occurred_on: r.try_get(7)?,
        credit_on: r.try_get(8)?,
        face_cents: r.try_get(9)?,
        paid_cents: r.try_get(10)?,
        fee_cents: r.try_get(11)?,
        interest_cents: r.try_get(12)?,
        discount_cents: r.try_get(13)?,
        reasons: r.try_get(14)?,
    })
}

/// The bank's events about an invoice, oldest first (its timeline).
pub async fn events_of_invoice(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
) -> anyhow::Result<Vec<BankEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM bank_events WHERE invoice_id = $1 ORDER BY id");
    sqlx::query(AssertSqlSafe(sql))
        .bind(invoice.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// A file's events, in file order.
pub async fn events_of_file(conn: &mut AnyConnection, file: i64) -> anyhow::Result<Vec<BankEvent>> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM bank_events WHERE file_id = $1 ORDER BY line, id");
    sqlx::query(AssertSqlSafe(sql))
        .bind(file)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// What a return file's record is matched against and applied to: an invoice's key, status and
/// the fields its printed our number is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayableInvoice {
    /// Key.
    pub id: InvoiceId,
    /// The ERP's id.
    pub external_id: String,
    /// The wallet it is drawn on.
    pub wallet_id: WalletId,
    /// Its our number, as stored.
    pub our_number: i64,
    /// `open`, `paid` or `cancelled`.
    pub status: String,
    /// Amount due.
    pub amount: Money,
    /// Issue date.
    pub issue_date: Date,
    /// Due date.
    pub due_date: Date,
}

/// Every invoice drawn on these wallets (open, paid or cancelled), read lean: a file may name
/// a hundred thousand of them.
pub async fn payable_invoices(
    conn: &mut AnyConnection,
    wallets: &[WalletId],
) -> anyhow::Result<Vec<PayableInvoice>> {
    if wallets.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, external_id, wallet_id, our_number, status, amount_cents, issue_date, due_date
           FROM invoices WHERE wallet_id IN ({})",
        super::id_list(wallets.iter().map(|w| w.0))
    );
    let date = |s: String| -> anyhow::Result<Date> { Ok(s.parse()?) };
    // Row by row, not `fetch_all`: three million rows held as the driver's rows took gigabytes
    // before they became these.
    let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *conn);
    let mut out = Vec::new();
    while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
        out.push(PayableInvoice {
            id: InvoiceId(r.try_get(0)?),
            external_id: r.try_get(1)?,
            wallet_id: WalletId(r.try_get(2)?),
            our_number: r.try_get(3)?,
            status: r.try_get(4)?,
            amount: Money(r.try_get(5)?),
            issue_date: date(r.try_get(6)?)?,
            due_date: date(r.try_get(7)?)?,
        });
    }
    Ok(out)
}

/// Sets the bank's word on an invoice's registration (`registered`, `rejected`,
/// `written_off`) with its reason.
pub async fn set_bank_status(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
    status: &str,
    reason: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE invoices SET bank_status = $1, bank_status_reason = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(status)
    .bind(reason)
    .bind(now_ms)
    .bind(invoice.0)
    .execute(&mut *conn)
    .await?;
    if status == "rejected"
        && super::webhooks::subscribed(conn, "invoice.registration_rejected").await?
    {
        let ids = sqlx::query(
            "SELECT i.external_id, k.external_id, c.external_id FROM invoices i JOIN contracts k ON k.id = i.contract_id
             JOIN customers c ON c.id = i.customer_id WHERE i.id = $1",
        )
        .bind(invoice.0)
        .fetch_one(&mut *conn)
        .await?;
        let data = serde_json::json!({
            "invoice": ids.try_get::<String, _>(0)?, "contract": ids.try_get::<String, _>(1)?,
            "customer": ids.try_get::<String, _>(2)?, "reason": reason,
        });
        super::webhooks::emit(conn, "invoice.registration_rejected", &data, now_ms).await?;
    }
    Ok(())
}

/// The bank's word on an invoice's registration and its reason; `None` when the bank has said
/// nothing about it.
pub async fn bank_status_of(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
) -> anyhow::Result<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT bank_status, COALESCE(bank_status_reason, '') FROM invoices
         WHERE id = $1 AND bank_status IS NOT NULL",
    )
    .bind(invoice.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Invoices whose registration the bank rejected, with the reason: the dashboard's list until
/// someone acts.
pub async fn rejected_registrations(
    conn: &mut AnyConnection,
) -> anyhow::Result<Vec<(InvoiceId, String, String)>> {
    let rows = sqlx::query(
        "SELECT id, external_id, COALESCE(bank_status_reason, '') FROM invoices
         WHERE bank_status = 'rejected' AND status = 'open' ORDER BY due_date, id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((InvoiceId(r.try_get(0)?), r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Keeps an uploaded file until its preview is confirmed; its id.
pub async fn insert_upload(
    conn: &mut AnyConnection,
    name: &str,
    bytes: &[u8],
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<i64> {
    use base64::Engine as _;
    let row = sqlx::query(
        "INSERT INTO bank_return_uploads (name, content, uploaded_at, uploaded_by) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(base64::engine::general_purpose::STANDARD.encode(bytes))
    .bind(now_ms)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await
    .context("cannot keep the uploaded file")?;
    Ok(row.try_get(0)?)
}

/// An upload waiting for confirmation: its name and bytes.
pub async fn get_upload(
    conn: &mut AnyConnection,
    id: i64,
) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    use base64::Engine as _;
    let Some(row) = sqlx::query("SELECT name, content FROM bank_return_uploads WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(row.try_get::<String, _>(1)?)
        .context("a kept upload")?;
    Ok(Some((row.try_get(0)?, bytes)))
}

/// Forgets an upload (imported, or older than a day).
pub async fn delete_upload(conn: &mut AnyConnection, id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM bank_return_uploads WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The money side of the dashboard: today's payments by source, the return files imported
/// today, the registrations rejected still open, and the records of the last 30 days that
/// matched no invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentsToday {
    /// Payments from bank return files.
    pub bank: i64,
    /// Payments from PIX webhooks.
    pub pix: i64,
    /// Every other payment: "marcar paga", the API, a CSV of payments.
    pub other: i64,
    /// Return files imported today.
    pub files: i64,
    /// Open invoices whose registration the bank rejected.
    pub rejected: i64,
    /// Records (files and PIX) of the last 30 days that matched no invoice.
    pub unmatched: i64,
}

/// Reads [`PaymentsToday`] from `midnight` (ms).
pub async fn payments_today(
    conn: &mut AnyConnection,
    midnight: i64,
) -> anyhow::Result<PaymentsToday> {
    let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let total = one("SELECT COUNT(*) FROM audit_log WHERE action = 'invoice.paid' AND at >= $1")
        .bind(midnight)
        .fetch_one(&mut *conn)
        .await?;
    let bank = one(
        "SELECT COUNT(*) FROM bank_events WHERE outcome IN ('paid', 'underpaid') AND created_at >= $1",
    )
    .bind(midnight)
    .fetch_one(&mut *conn)
    .await?;
    let pix = one(
        "SELECT COUNT(*) FROM pix_payments WHERE outcome IN ('paid', 'underpaid') AND created_at >= $1",
    )
    .bind(midnight)
    .fetch_one(&mut *conn)
    .await?;
    let files = one("SELECT COUNT(*) FROM bank_return_files WHERE imported_at >= $1")
        .bind(midnight)
        .fetch_one(&mut *conn)
        .await?;
    let rejected =
        one("SELECT COUNT(*) FROM invoices WHERE bank_status = 'rejected' AND status = 'open'")
            .fetch_one(&mut *conn)
            .await?;
    let month_ago = midnight - 30 * crate::domain::send_limits::DAY_MS;
    let unmatched = one(
        "SELECT (SELECT COUNT(*) FROM bank_events WHERE outcome = 'unmatched' AND created_at >= $1)
              + (SELECT COUNT(*) FROM pix_payments WHERE outcome = 'unmatched' AND created_at >= $1)",
    )
    .bind(month_ago)
    .fetch_one(&mut *conn)
    .await?;
    Ok(PaymentsToday {
        bank,
        pix,
        other: (total - bank - pix).max(0),
        files,
        rejected,
        unmatched,
    })
}
