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
    write_payments(&mut tx, &[Paying::of(&current, payment)], actor, now_ms).await?;
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
    let mut invoices = Vec::with_capacity(payments.len());
    for (external_id, payment) in payments {
        let invoice = store::invoices::find_invoice_by_external_id(&mut tx, external_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("invoice {external_id:?} vanished"))?;
        invoices.push((invoice, payment.clone()));
    }
    let refs: Vec<_> = invoices.iter().map(|(i, p)| Paying::of(i, p)).collect();
    write_payments(&mut tx, &refs, actor, now_ms).await?;
    tx.commit().await?;
    Ok(payments.len())
}

/// One payment [`write_payments`] writes: the invoice by id and external id, its status before.
pub struct Paying<'a> {
    /// The invoice.
    pub id: InvoiceId,
    /// Its external id (the audit row names it).
    pub external_id: &'a str,
    /// `open` (the audit row's before).
    pub status_before: &'a str,
    /// The payment.
    pub payment: Payment,
}

impl<'a> Paying<'a> {
    fn of(invoice: &'a Invoice, payment: &Payment) -> Paying<'a> {
        Paying {
            id: invoice.id,
            external_id: &invoice.external_id,
            status_before: invoice.status.as_str(),
            payment: payment.clone(),
        }
    }
}

/// The facts and their evidence, in the caller's transaction, a few statements for any number
/// of payments: each invoice paid, its `invoice.paid` audit row, and its notices still waiting
/// skipped `fatura paga em …` — a paid invoice is not reminded of, whatever told Régua of the
/// payment. The invoices are the caller's to have checked (open, each once).
pub(crate) async fn write_payments(
    conn: &mut sqlx::AnyConnection,
    payments: &[Paying<'_>],
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<()> {
    let facts: Vec<_> = payments
        .iter()
        .map(|p| (p.id, p.payment.paid_on, p.payment.amount))
        .collect();
    store::invoices::mark_invoices_paid(conn, &facts, now_ms).await?;
    let audit: Vec<store::audit::Row> = payments
        .iter()
        .map(|p| {
            (
                "invoice.paid",
                format!("invoice:{}", p.external_id),
                Some(p.status_before.to_string()),
                Some("paid".to_string()),
            )
        })
        .collect();
    store::audit::record_many(conn, &actor.to_string(), &audit, now_ms).await?;
    store::outbox::skip_waiting_notices_of_paid(conn, now_ms).await?;
    // Integrations that listen learn of each payment, in this same transaction.
    if store::webhooks::subscribed(conn, "invoice.paid").await? {
        for (invoice, contract, customer, paid_on, cents) in
            store::invoices::just_paid_refs(conn).await?
        {
            let data = serde_json::json!({
                "invoice": invoice, "contract": contract, "customer": customer,
                "paid_on": paid_on, "amount_cents": cents,
            });
            store::webhooks::emit(conn, "invoice.paid", &data, now_ms).await?;
        }
    }
    // A debt paid restores service (or ends the notice's episode) in this same transaction.
    store::debt::after_payments(conn, &actor.to_string(), now_ms).await?;
    queue_confirmations(conn, now_ms).await?;
    Ok(())
}

/// The "pagamento confirmado" message of each invoice just paid whose billing method asks for
/// it (off by default): by e-mail on the financial account, one per invoice (`pago:<invoice>`,
/// so a duplicate payment does not confirm again). An invoice delivered on paper, a customer
/// without an e-mail, or no financial account: nothing is queued. One query when no method
/// asks for it, which keeps a 100 000-record return file as fast as before.
async fn queue_confirmations(conn: &mut sqlx::AnyConnection, now_ms: i64) -> anyhow::Result<()> {
    use crate::delivery::{Channel, NewNotice};
    use crate::domain::{NoticeKey, Purpose};
    let due = store::invoices::paid_to_confirm(conn).await?;
    if due.is_empty() {
        return Ok(());
    }
    let Some(account) = store::accounts::financial_account(conn).await? else {
        tracing::warn!(
            invoices = due.len(),
            "payment confirmations not queued: no financial SMTP account"
        );
        return Ok(());
    };
    let Some(layout) = store::layouts::layout_for_purpose(conn, Purpose::PaymentConfirmed).await?
    else {
        anyhow::bail!("no payment_confirmed layout (run regua migrate)");
    };
    for c in due {
        let notice = NewNotice {
            account_id: Some(account.id),
            recipient: c.email,
            customer_id: Some(c.customer),
            contract_id: Some(c.contract),
            invoice_id: Some(c.invoice),
            ..NewNotice::new(
                NoticeKey::PaymentConfirmed { invoice: c.invoice },
                Channel::Email,
                Purpose::PaymentConfirmed,
                layout.id,
                "payment",
            )
        };
        store::outbox::enqueue_notice(conn, &notice, &account.from_address, now_ms).await?;
    }
    Ok(())
}
