//! Remessa files and their items: which invoices Régua asked a wallet's bank to register,
//! write off or change, in which file (docs/remessa.md).

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::invoices::{INVOICE_COLUMNS, invoice_from_row};
use crate::domain::{Invoice, InvoiceId, WalletId};

/// What a line of a remessa asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemMovement {
    /// Entrada de título.
    Entry,
    /// Pedido de baixa.
    WriteOff,
    /// Alteração (de vencimento or of the amount).
    Change,
}

impl ItemMovement {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemMovement::Entry => "entry",
            ItemMovement::WriteOff => "write_off",
            ItemMovement::Change => "change",
        }
    }
}

async fn invoices_where(
    conn: &mut AnyConnection,
    wallet: WalletId,
    condition: &str,
) -> anyhow::Result<Vec<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE wallet_id = $1 AND {condition} ORDER BY due_date, id"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(wallet.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(invoice_from_row)
        .collect()
}

/// Open invoices of the wallet that Régua issued (not an ERP's registered boleto) and never
/// sent for registration.
pub async fn to_enter(conn: &mut AnyConnection, wallet: WalletId) -> anyhow::Result<Vec<Invoice>> {
    invoices_where(
        conn,
        wallet,
        "status = 'open' AND registered_barcode IS NULL
         AND NOT EXISTS (SELECT 1 FROM remessa_items r WHERE r.invoice_id = invoices.id AND r.movement = 'entry')",
    )
    .await
}

/// Cancelled invoices sent for registration and not yet written off.
pub async fn to_write_off(
    conn: &mut AnyConnection,
    wallet: WalletId,
) -> anyhow::Result<Vec<Invoice>> {
    invoices_where(
        conn,
        wallet,
        "status = 'cancelled'
         AND EXISTS (SELECT 1 FROM remessa_items r WHERE r.invoice_id = invoices.id AND r.movement = 'entry')
         AND NOT EXISTS (SELECT 1 FROM remessa_items r WHERE r.invoice_id = invoices.id AND r.movement = 'write_off')",
    )
    .await
}

/// Open invoices sent for registration whose due date or amount differs from the last one
/// sent, with those last values: (invoice, due date sent, amount sent).
pub async fn to_change(
    conn: &mut AnyConnection,
    wallet: WalletId,
) -> anyhow::Result<Vec<(Invoice, String, i64)>> {
    let last = |col: &str| {
        format!(
            "(SELECT r.{col} FROM remessa_items r WHERE r.invoice_id = invoices.id ORDER BY r.id DESC LIMIT 1)"
        )
    };
    let sql = format!(
        "SELECT {INVOICE_COLUMNS}, {} AS sent_due, {} AS sent_amount FROM invoices
          WHERE wallet_id = $1 AND status = 'open'
            AND EXISTS (SELECT 1 FROM remessa_items r WHERE r.invoice_id = invoices.id AND r.movement = 'entry')
            AND (due_date <> {} OR amount_cents <> {})
          ORDER BY due_date, id",
        last("due_date"),
        last("amount_cents"),
        last("due_date"),
        last("amount_cents"),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(wallet.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                invoice_from_row(r)?,
                r.try_get("sent_due")?,
                r.try_get("sent_amount")?,
            ))
        })
        .collect()
}

/// The wallet's next file sequence number (NSA), taken: incremented once, in the caller's
/// transaction.
pub async fn take_sequence(conn: &mut AnyConnection, wallet: WalletId) -> anyhow::Result<i64> {
    sqlx::query("UPDATE wallets SET remessa_sequence = remessa_sequence + 1 WHERE id = $1")
        .bind(wallet.0)
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT remessa_sequence FROM wallets WHERE id = $1")
            .bind(wallet.0)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// A remessa file to keep.
pub struct NewRemessaFile<'a> {
    /// The wallet.
    pub wallet: WalletId,
    /// Its NSA.
    pub sequence: i64,
    /// `cnab240` or `cnab400`.
    pub layout: &'a str,
    /// The file name offered for download.
    pub name: &'a str,
    /// The file (ASCII).
    pub content: &'a str,
    /// Counts by movement.
    pub counts: (i64, i64, i64),
    /// Who generated it.
    pub by: &'a str,
}

/// Keeps a file and its items; the file's id.
pub async fn insert_file(
    conn: &mut AnyConnection,
    f: &NewRemessaFile<'_>,
    items: &[(InvoiceId, ItemMovement, String, i64)],
    now_ms: i64,
) -> anyhow::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO remessa_files (wallet_id, sequence, layout, name, content, entries, write_offs, changes,
             generated_at, generated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(f.wallet.0)
    .bind(f.sequence)
    .bind(f.layout)
    .bind(f.name)
    .bind(f.content)
    .bind(f.counts.0)
    .bind(f.counts.1)
    .bind(f.counts.2)
    .bind(now_ms)
    .bind(f.by)
    .fetch_one(&mut *conn)
    .await?;
    for (invoice, movement, due, amount) in items {
        sqlx::query(
            "INSERT INTO remessa_items (file_id, invoice_id, movement, due_date, amount_cents)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(invoice.0)
        .bind(movement.as_str())
        .bind(due)
        .bind(amount)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// A file in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemessaFileRow {
    /// Key.
    pub id: i64,
    /// The wallet's name.
    pub wallet: String,
    /// NSA.
    pub sequence: i64,
    /// Layout.
    pub layout: String,
    /// File name.
    pub name: String,
    /// Entries, write-offs, changes.
    pub counts: (i64, i64, i64),
    /// When (ms).
    pub generated_at: i64,
    /// Who.
    pub generated_by: String,
}

/// The latest files, newest first.
pub async fn list_files(
    conn: &mut AnyConnection,
    limit: i64,
) -> anyhow::Result<Vec<RemessaFileRow>> {
    sqlx::query(
        "SELECT f.id, w.name, f.sequence, f.layout, f.name, f.entries, f.write_offs, f.changes,
                f.generated_at, f.generated_by
           FROM remessa_files f JOIN wallets w ON w.id = f.wallet_id
          ORDER BY f.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(RemessaFileRow {
            id: r.try_get(0)?,
            wallet: r.try_get(1)?,
            sequence: r.try_get(2)?,
            layout: r.try_get(3)?,
            name: r.try_get(4)?,
            counts: (r.try_get(5)?, r.try_get(6)?, r.try_get(7)?),
            generated_at: r.try_get(8)?,
            generated_by: r.try_get(9)?,
        })
    })
    .collect()
}

/// A file's name and bytes, as generated.
pub async fn get_file(
    conn: &mut AnyConnection,
    id: i64,
) -> anyhow::Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT name, content FROM remessa_files WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// The invoice's last remessa line: what was asked, in which file (NSA) of which wallet.
pub async fn last_item_of(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
) -> anyhow::Result<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT r.movement, f.sequence FROM remessa_items r JOIN remessa_files f ON f.id = r.file_id
          WHERE r.invoice_id = $1 ORDER BY r.id DESC LIMIT 1",
    )
    .bind(invoice.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}
