//! PIX: the PSPs whose webhooks are accepted (`pix_psps`) and the payments they told of
//! (`pix_payments`, once per end-to-end id).

use anyhow::Context as _;
use sqlx::{AnyConnection, Row as _};

use crate::domain::InvoiceId;
use crate::domain::auth::{new_token, token_hash};

/// Adds a PSP; its secret, shown once (`px_…`; only its hash is kept).
pub async fn insert_psp(
    conn: &mut AnyConnection,
    name: &str,
    now_ms: i64,
) -> anyhow::Result<String> {
    let token = format!("px_{}", new_token());
    sqlx::query("INSERT INTO pix_psps (name, token_hash, created_at) VALUES ($1, $2, $3)")
        .bind(name.trim())
        .bind(token_hash(&token))
        .bind(now_ms)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("cannot add the PSP {name:?} (is the name taken?)"))?;
    Ok(token)
}

/// The PSPs' names.
pub async fn list_psps(conn: &mut AnyConnection) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query("SELECT name FROM pix_psps ORDER BY name")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The PSP whose secret this is.
pub async fn psp_for_token(
    conn: &mut AnyConnection,
    token: &str,
) -> anyhow::Result<Option<String>> {
    Ok(
        sqlx::query("SELECT name FROM pix_psps WHERE token_hash = $1")
            .bind(token_hash(token))
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

/// A PIX payment a PSP told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixPayment {
    /// The payment's end-to-end id (E…), unique.
    pub end_to_end_id: String,
    /// The transaction id it carried.
    pub txid: String,
    /// Its value, centavos.
    pub amount_cents: i64,
    /// When it was paid, as the PSP wrote it (RFC 3339).
    pub paid_at: String,
    /// The PSP.
    pub psp: String,
    /// The invoice its txid names.
    pub invoice_id: Option<InvoiceId>,
    /// `paid`, `underpaid`, `duplicate_payment` or `unmatched`.
    pub outcome: String,
}

/// Whether a payment with this end-to-end id was recorded.
pub async fn payment_known(conn: &mut AnyConnection, end_to_end_id: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM pix_payments WHERE end_to_end_id = $1")
            .bind(end_to_end_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// Records a payment.
pub async fn insert_payment(
    conn: &mut AnyConnection,
    p: &PixPayment,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO pix_payments (end_to_end_id, txid, amount_cents, paid_at, psp, invoice_id, outcome, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.end_to_end_id)
    .bind(&p.txid)
    .bind(p.amount_cents)
    .bind(&p.paid_at)
    .bind(&p.psp)
    .bind(p.invoice_id.map(|i| i.0))
    .bind(&p.outcome)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .context("cannot record the PIX payment")?;
    Ok(())
}

/// The PIX payments recorded, newest first.
pub async fn list_payments(
    conn: &mut AnyConnection,
    limit: i64,
) -> anyhow::Result<Vec<PixPayment>> {
    sqlx::query(
        "SELECT end_to_end_id, txid, amount_cents, paid_at, psp, invoice_id, outcome FROM pix_payments
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(PixPayment {
            end_to_end_id: r.try_get(0)?,
            txid: r.try_get(1)?,
            amount_cents: r.try_get(2)?,
            paid_at: r.try_get(3)?,
            psp: r.try_get(4)?,
            invoice_id: r.try_get::<Option<i64>, _>(5)?.map(InvoiceId),
            outcome: r.try_get(6)?,
        })
    })
    .collect()
}
