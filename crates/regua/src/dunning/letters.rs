//! Collection letters of `email_and_letter` bands: the run queues them for review; an operator
//! previews the PDF and approves (the e-mail goes to the outbox with the letter and the boleto
//! attached) or rejects (nothing is sent in that band). The letter is the band layout's text,
//! rendered as a letter (`carta` true) under the company's letterhead, to the customer's
//! postal address, with the open invoices (see [`crate::payment::letter_doc`]).

use anyhow::Context as _;
use jiff::civil::Date;
use sqlx::AnyConnection;

use crate::delivery::{Channel, NewNotice};
use crate::layouts::Purpose;
use crate::store::{self, dunning::LetterReview};

/// The letter's PDF as it would be sent today.
pub async fn letter_pdf(
    conn: &mut AnyConnection,
    letter: &LetterReview,
    today: Date,
) -> anyhow::Result<Vec<u8>> {
    let layout = store::layouts::get_layout(conn, letter.layout).await?;
    let ctx = crate::layouts::LayoutContext {
        letter: true,
        ..crate::layouts::context_for_invoice(conn, letter.invoice, today).await?
    };
    let rendered = crate::layouts::preview(&layout, &ctx).map_err(anyhow::Error::msg)?;
    let invoice = store::invoices::get_invoice(conn, letter.invoice).await?;
    let customer = store::parties::get_customer(conn, invoice.customer_id).await?;
    let company = store::parties::company_profile(conn).await?;
    let doc = crate::payment::letter_doc(
        &company,
        &customer,
        &ctx,
        &rendered.subject,
        &rendered.text,
        today,
    );
    Ok(boleto::pdf::render_letter_pdf(&doc))
}

/// Approves pending letters in the caller's transaction: each is marked approved and its
/// notice is enqueued with its dedup key (so a letter approved twice is sent once). Returns
/// how many were approved now.
pub async fn approve_letters(
    conn: &mut AnyConnection,
    letters: &[LetterReview],
    by: &str,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let account = store::accounts::financial_account(conn)
        .await?
        .context("no financial SMTP account: set one with `regua smtp default NAME`")?;
    let mut approved = 0;
    for l in letters {
        if !store::dunning::decide_letter(conn, l.id, true, by, now_ms).await? {
            continue;
        }
        let invoice = store::invoices::get_invoice(conn, l.invoice).await?;
        let customer = store::parties::get_customer(conn, invoice.customer_id).await?;
        store::outbox::enqueue_notice(
            conn,
            &NewNotice {
                account_id: Some(account.id),
                recipient: customer.email_or_empty(),
                customer_id: Some(customer.id),
                contract_id: Some(invoice.contract_id),
                invoice_id: Some(invoice.id),
                attach_boleto: true,
                attach_letter: true,
                ..NewNotice::new(
                    l.dedup_key.parse()?,
                    Channel::Email,
                    Purpose::OverdueBand,
                    l.layout,
                    by,
                )
            },
            &account.from_address,
            now_ms,
        )
        .await?;
        approved += 1;
    }
    Ok(approved)
}
