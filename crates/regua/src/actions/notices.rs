//! Notices an operator causes by hand: an invoice e-mailed now ("Enviar por e-mail", the REST
//! API's send, a batch from the emission page) and a notice given up on queued again.

use crate::domain::delivery::{Enqueued, NoticeId};
use crate::domain::{Actor, Invoice, InvoiceId, InvoiceStatus, NoticeKey, Purpose};
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Why an invoice was not e-mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// No such invoice.
    NotFound,
    /// It is paid or cancelled: only open invoices are sent.
    NotOpen,
    /// No such active account, or no financial account is set (or it was removed).
    NoAccount,
}

/// Queues one open invoice's e-mail on the active account named `account` (the financial one
/// with `None`), with the account's default message and the boleto, under the key `key` makes
/// from the invoice (a key already used answers [`Enqueued::Exists`]: the same request twice
/// sends once).
pub async fn send_invoice_now(
    db: &Db,
    invoice: InvoiceId,
    account: Option<&str>,
    key: impl FnOnce(&Invoice) -> NoticeKey,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(Invoice, Enqueued), NotSent>> {
    in_transaction(db, async |tx| {
        let Ok(invoice) = store::invoices::get_invoice(tx, invoice).await else {
            return Ok(Err(NotSent::NotFound));
        };
        if invoice.status != InvoiceStatus::Open {
            return Ok(Err(NotSent::NotOpen));
        }
        let account = match account {
            Some(name) => store::accounts::find_smtp_account(tx, name)
                .await?
                .filter(|a| a.active),
            None => store::accounts::financial_account(tx).await?,
        };
        let Some(account) = account else {
            return Ok(Err(NotSent::NoAccount));
        };
        let enqueued = crate::delivery::enqueue_invoice_email(
            tx,
            invoice.id,
            &account,
            Purpose::AccountDefault,
            None,
            key(&invoice),
            &actor.to_string(),
            now_ms,
        )
        .await?;
        Ok(Ok((invoice, enqueued)))
    })
    .await
}

/// Queues the e-mail of each invoice given on the financial account, under `key` for each
/// (the emission page's `emission:INVOICE:DATE`, so a batch sent twice on a day sends once);
/// how many were queued now and how many were queued before.
pub async fn send_invoices(
    db: &Db,
    invoices: &[InvoiceId],
    key: impl Fn(InvoiceId) -> NoticeKey,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(u32, u32), NotSent>> {
    in_transaction(db, async |tx| {
        let Some(account) = store::accounts::financial_account(tx).await? else {
            return Ok(Err(NotSent::NoAccount));
        };
        let (mut queued, mut again) = (0, 0);
        for invoice in invoices {
            match crate::delivery::enqueue_invoice_email(
                tx,
                *invoice,
                &account,
                Purpose::AccountDefault,
                None,
                key(*invoice),
                &actor.to_string(),
                now_ms,
            )
            .await?
            {
                Enqueued::New(_) => queued += 1,
                Enqueued::Exists(..) => again += 1,
            }
        }
        Ok(Ok((queued, again)))
    })
    .await
}

/// Queues again a notice given up on ("sem entrega"), audited `notice.requeue`; false when
/// the notice is not dead.
pub async fn requeue_notice(
    db: &Db,
    id: NoticeId,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let requeued = store::outbox::requeue_notice(tx, id, now_ms).await?;
        if requeued {
            Audit::of("notice.requeue", format!("notice:{}", id.0))
                .before("dead")
                .after("queued")
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(requeued)
    })
    .await
}
