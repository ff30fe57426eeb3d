//! Recording a payment. Every source — the "Marcar paga" button, the REST API, the CSV import,
//! and the bank return files and PIX webhooks still to come — goes through [`record_payment`]
//! or [`record_payments`], so a payment is the same fact with the same evidence whichever way
//! it arrives: the invoice paid on a date with an amount, and an audit row saying who said so.

use jiff::civil::Date;

use crate::domain::{Actor, Invoice, InvoiceId, InvoiceStatus, Money};
use crate::store::{self, Db};

/// A payment to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The day it was paid.
    pub paid_on: Date,
    /// What was paid.
    pub amount: Money,
}

/// What became of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Recorded: the invoice as it is now.
    Recorded(Invoice),
    /// The invoice is not open (paid or cancelled): nothing changed.
    NotOpen(Invoice),
    /// No such invoice.
    NotFound,
}

/// Records the payment of one open invoice, with its audit row (`invoice.paid`, caused by
/// `actor`), in one transaction. A paid or cancelled invoice changes nothing.
pub async fn record_payment(
    db: &Db,
    invoice: InvoiceId,
    payment: &Payment,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<PaymentOutcome> {
    let mut tx = db.begin().await?;
    let Ok(current) = store::invoices::get_invoice(&mut tx, invoice).await else {
        return Ok(PaymentOutcome::NotFound);
    };
    if current.status != InvoiceStatus::Open {
        return Ok(PaymentOutcome::NotOpen(current));
    }
    write_payment(&mut tx, &current, payment, actor, now_ms).await?;
    let paid = store::invoices::get_invoice(&mut tx, invoice).await?;
    tx.commit().await?;
    Ok(PaymentOutcome::Recorded(paid))
}

/// Records the payments of a file from the ERP (`invoice external id`, payment), all or
/// nothing, each with its audit row. The ERP is the source of truth here: a payment for an
/// invoice already paid replaces the recorded date and amount; a cancelled or unknown invoice
/// is the caller's to refuse before (the import reports it as a bad row).
pub async fn record_payments(
    db: &Db,
    payments: &[(String, Payment)],
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    for (external_id, payment) in payments {
        let invoice = store::invoices::find_invoice_by_external_id(&mut tx, external_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("invoice {external_id:?} vanished"))?;
        write_payment(&mut tx, &invoice, payment, actor, now_ms).await?;
    }
    tx.commit().await?;
    Ok(payments.len())
}

/// The fact and its evidence, in the caller's transaction; the invoice's notices still waiting
/// are skipped `fatura paga em …` with it.
pub(super) async fn write_payment(
    conn: &mut sqlx::AnyConnection,
    invoice: &Invoice,
    payment: &Payment,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<()> {
    store::invoices::mark_invoice_paid(
        conn,
        &invoice.external_id,
        payment.paid_on,
        payment.amount,
        now_ms,
    )
    .await?;
    super::Audit::of("invoice.paid", format!("invoice:{}", invoice.external_id))
        .before(invoice.status.as_str())
        .after("paid")
        .write(conn, actor, now_ms)
        .await?;
    // Its reminders still waiting are moot now, whatever told Régua of the payment.
    let reason = format!(
        "fatura paga em {}",
        crate::domain::format_date(payment.paid_on)
    );
    store::outbox::skip_waiting_notices_of_invoice(conn, invoice.id, &reason, now_ms).await?;
    Ok(())
}
