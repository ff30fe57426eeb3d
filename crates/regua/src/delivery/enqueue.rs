//! Enqueuing the notices this module knows how to cause on its own: an invoice sent by e-mail
//! by an operator ("enviar por e-mail agora", with the account's default message) and an
//! account's test message. Dunning, the portal and suspensions enqueue through the same
//! `store::outbox::enqueue_notice`, in their own transactions.

use anyhow::Context as _;
use sqlx::AnyConnection;

use super::{Channel, Enqueued, NewNotice, SmtpAccount};
use crate::domain::{EmailAddress, InvoiceId};
use crate::layouts::Purpose;
use crate::store;

/// Enqueues an invoice's e-mail to its customer's address on file, with the boleto attached.
/// `layout` defaults to the account's default message. An invoice whose customer has no
/// e-mail is still enqueued: the worker skips it with the reason, so the attempt is visible.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_invoice_email(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
    account: &SmtpAccount,
    purpose: Purpose,
    layout: Option<crate::domain::LayoutId>,
    dedup_key: super::NoticeKey,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<Enqueued> {
    let invoice = store::invoices::get_invoice(conn, invoice).await?;
    let customer = store::parties::get_customer(conn, invoice.customer_id).await?;
    let layout = match layout.or(account.default_layout_id) {
        Some(l) => l,
        None => {
            store::layouts::layout_for_purpose(conn, purpose)
                .await?
                .with_context(|| format!("no layout for {purpose}"))?
                .id
        }
    };
    store::outbox::enqueue_notice(
        conn,
        &NewNotice {
            account_id: Some(account.id),
            recipient: customer.email_or_empty(),
            customer_id: Some(customer.id),
            contract_id: Some(invoice.contract_id),
            invoice_id: Some(invoice.id),
            attach_boleto: true,
            ..NewNotice::new(dedup_key, Channel::Email, purpose, layout, actor)
        },
        &account.from_address,
        now_ms,
    )
    .await
}

/// Enqueues an account's test message to `to` (its test recipient by default).
pub async fn enqueue_test_message(
    conn: &mut AnyConnection,
    account: &SmtpAccount,
    to: Option<&EmailAddress>,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<Enqueued> {
    let to = to
        .or(account.test_recipient.as_ref())
        .context("no recipient: pass --to or set the account's test recipient")?;
    let layout = store::layouts::layout_for_purpose(conn, Purpose::SmtpTest)
        .await?
        .context("no SMTP test layout")?;
    store::outbox::enqueue_notice(
        conn,
        &NewNotice {
            account_id: Some(account.id),
            recipient: to.as_str().to_string(),
            ..NewNotice::new(
                super::NoticeKey::SmtpTest {
                    account: account.id,
                    at_ms: now_ms,
                },
                Channel::Email,
                Purpose::SmtpTest,
                layout.id,
                actor,
            )
        },
        &account.from_address,
        now_ms,
    )
    .await
}
