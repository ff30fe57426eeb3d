//! "Gerar financeiro do contrato": creating a contract's monthly invoices.
//!
//! The window is anchored to today, not to the last invoice, so that running the generation
//! twice creates nothing new: it covers the N competence months starting with the current month
//! (when this month's due date is still ahead) or the next one. A month is skipped when the
//! contract already has an invoice due in it, generated or imported, in any status (a cancelled
//! month stays cancelled). The unique (contract, competence) constraint backs this up against
//! two concurrent runs.

use anyhow::Context as _;
use jiff::civil::Date;

use crate::domain::*;
use crate::store::{self, Db, invoices::NewInvoice};

/// Why invoices could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// No contract with that id or external id.
    #[error("no contract {0:?}")]
    UnknownContract(String),
    /// Cancelled contracts are not billed.
    #[error("contract {0} is cancelled; no invoices are generated for it")]
    Cancelled(String),
    /// Months must be 1 to 60.
    #[error("months must be between 1 and 60 (got {0})")]
    Months(u32),
    /// Unexpected failure.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What a generation did.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The contract.
    pub contract: Contract,
    /// The invoices created now.
    pub created: Vec<Invoice>,
    /// Competence months skipped because an invoice for them existed.
    pub skipped_months: Vec<String>,
    /// The e-mail sent for the generation (wallet "send e-mail when generating").
    pub notice: GenerationNotice,
}

/// Whether the generation sends an e-mail with the new invoices' boletos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerationNotice {
    /// Queued in the generation's transaction: one message, one PDF with a page per invoice.
    Queued(crate::delivery::NoticeId),
    /// Nothing new to send, or the wallet does not send on generation.
    NotApplicable,
    /// The contract's invoices are printed: never e-mailed automatically.
    Printed,
    /// The wallet sends on generation but no financial SMTP account is set.
    NoAccount,
}

/// The competence months (`(year, month)`) a generation on `today` covers.
pub fn generation_window(today: Date, due_day: u8, months: u32) -> Vec<(i16, i8)> {
    let this_due = due_date_in_month(today.year(), today.month(), due_day);
    let (mut y, mut m) = (today.year(), today.month());
    if this_due < today {
        (y, m) = next_month(y, m);
    }
    let mut out = Vec::with_capacity(months as usize);
    for _ in 0..months {
        out.push((y, m));
        (y, m) = next_month(y, m);
    }
    out
}

fn next_month(y: i16, m: i8) -> (i16, i8) {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

/// Generates the contract's next `months` invoices (see the module doc), in one transaction;
/// the generation e-mail, if any, says it was caused by the generation itself.
pub async fn generate_invoices(
    db: &Db,
    contract_ref: &str,
    months: u32,
    clock: &Clock,
) -> Result<Generation, GenerateError> {
    generate_invoices_by(db, contract_ref, months, clock, None).await
}

/// [`generate_invoices`] asked by someone (a page's button, the API, the command line): the
/// generation e-mail's history names them (`user: ana`) instead of `generation`.
pub async fn generate_invoices_by(
    db: &Db,
    contract_ref: &str,
    months: u32,
    clock: &Clock,
    actor: Option<&crate::domain::Actor>,
) -> Result<Generation, GenerateError> {
    if !(1..=60).contains(&months) {
        return Err(GenerateError::Months(months));
    }
    let mut tx = db.begin().await?;
    let contract = store::parties::find_contract(&mut tx, contract_ref)
        .await?
        .ok_or_else(|| GenerateError::UnknownContract(contract_ref.to_string()))?;
    if contract.status == ContractStatus::Cancelled {
        return Err(GenerateError::Cancelled(contract.external_id));
    }
    let mut shared = Shared {
        actor: actor.map(ToString::to_string),
        ..Shared::default()
    };
    let generation = generate_in(&mut tx, contract, months, clock, &mut shared).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    if generation.notice == GenerationNotice::NoAccount {
        tracing::warn!(contract = %generation.contract.external_id, "send on generation: no financial SMTP account");
    }
    tracing::info!(contract = %generation.contract.external_id, created = generation.created.len(), skipped = generation.skipped_months.len(), notice = ?generation.notice, "invoices generated");
    Ok(generation)
}

/// Contracts per transaction in [`generate_all`]: the bulk path writes a batch in one hop, so
/// larger batches only cost memory (about 2 KB a contract); 5 000 keeps a batch's transaction
/// well under a second.
pub const BATCH_CONTRACTS: i64 = 5_000;

/// What [`generate_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Contracts looked at (every one not cancelled).
    pub contracts: u64,
    /// Invoices created.
    pub created: u64,
    /// Competence months skipped because an invoice for them existed.
    pub skipped_months: u64,
    /// Generation e-mails queued (one per contract that got invoices, when its wallet sends).
    pub queued: u64,
    /// Contracts whose wallet sends on generation but no financial SMTP account is set.
    pub no_account: u64,
}

/// "Gerar financeiro" for every contract that is not cancelled: each one's next `months`
/// invoices, exactly as [`generate_invoices`] makes them (same window, same skips, same
/// generation e-mail), [`BATCH_CONTRACTS`] contracts per transaction on the bulk path
/// (`store::bulk`): per batch, the months that exist are read, one our-number reservation per
/// wallet is made, and the invoices, the generation e-mails and their links are written, each
/// in one hop. A failure stops the run with the batches before it committed and the failing one
/// rolled back; running it again finishes the job, since what exists is skipped. `progress` is
/// called with the contracts done after each batch.
pub async fn generate_all(
    db: &Db,
    months: u32,
    clock: &Clock,
    mut progress: impl FnMut(u64),
) -> Result<BatchReport, GenerateError> {
    if !(1..=60).contains(&months) {
        return Err(GenerateError::Months(months));
    }
    let today = clock.today();
    let now = clock.now_millis();
    // Every window starts this month or the next and spans `months` months.
    let from = today.first_of_month();
    let to = generation_window(today.first_of_month(), 28, months + 1)
        .last()
        .map_or(today, |&(y, m)| {
            Date::new(y, m, 1).expect("valid month").last_of_month()
        });
    let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
    let mut wallets: std::collections::HashMap<WalletId, BillingWallet> =
        store::parties::list_wallets(&mut conn)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
    let mut sends: Option<(Option<crate::delivery::SmtpAccount>, LayoutId)> = None;
    drop(conn);
    let mut report = BatchReport::default();
    let mut after = ContractId(0);
    loop {
        let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
        let contracts =
            store::parties::active_contracts_after(&mut conn, after, BATCH_CONTRACTS).await?;
        let Some(last) = contracts.last() else {
            break;
        };
        after = last.id;
        for c in &contracts {
            if !wallets.contains_key(&c.wallet_id) {
                let w = store::parties::get_wallet(&mut conn, c.wallet_id).await?;
                wallets.insert(w.id, w);
            }
        }
        let n = contracts.len() as u64;
        let ids: Vec<ContractId> = contracts.iter().map(|c| c.id).collect();
        let mut bulk = db.bulk().await?;
        let existing = store::invoices::months_with_invoices(&mut bulk, &ids, from, to).await?;
        // Each contract's months, then one reservation per wallet, numbered in contract order.
        // Each contract's months (its new invoices in `to_create`, in contract order), then one
        // reservation per wallet, numbered in that order.
        let mut planned = Vec::with_capacity(contracts.len());
        let mut to_create = Vec::new();
        let mut per_wallet: std::collections::BTreeMap<WalletId, i64> = Default::default();
        for contract in contracts {
            let mut new = 0;
            let mut skipped = Vec::new();
            for (y, m) in generation_window(today, contract.due_day, months) {
                if existing.contains(&(contract.id, y, m)) {
                    skipped.push(format!("{y:04}-{m:02}"));
                } else {
                    to_create.push(new_invoice(&contract, y, m, today));
                    new += 1;
                }
            }
            *per_wallet.entry(contract.wallet_id).or_default() += new as i64;
            planned.push((contract, new, skipped));
        }
        let mut next_number = std::collections::HashMap::new();
        for (wallet, count) in per_wallet.into_iter().filter(|(_, c)| *c > 0) {
            let first = store::invoices::reserve_our_numbers(&mut bulk, wallet, count).await?;
            next_number.insert(wallet, first);
        }
        let rows: Vec<(NewInvoice, i64)> = to_create
            .into_iter()
            .map(|inv| {
                let n = next_number
                    .get_mut(&inv.contract.wallet_id)
                    .expect("reserved");
                *n += 1;
                (inv, *n - 1)
            })
            .collect();
        let mut inserted = store::invoices::insert_invoices(&mut bulk, &rows, now)
            .await?
            .into_iter()
            .zip(rows);
        // The generation e-mails: one per contract that got invoices, when its wallet sends.
        let mut notices = Vec::new();
        let mut carried = Vec::new();
        for (contract, new, mut skipped) in planned {
            let mut created = Vec::new();
            for _ in 0..new {
                let (id, (inv, number)) = inserted.next().expect("one result per row");
                match id {
                    Some(id) => created.push(inv.into_invoice(id, number)),
                    None => skipped.push(inv.competence.unwrap_or_default()),
                }
            }
            report.created += created.len() as u64;
            report.skipped_months += skipped.len() as u64;
            let Some(first) = created.first() else {
                continue;
            };
            if !wallets[&contract.wallet_id].send_on_generate
                || first.delivery_type == DeliveryType::Printed
            {
                continue;
            }
            if sends.is_none() {
                let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
                sends = Some((
                    store::accounts::financial_account(&mut conn).await?,
                    generation_layout(&mut conn).await?,
                ));
            }
            match &sends {
                Some((Some(_), _)) => carried.push((contract, created)),
                _ => report.no_account += 1,
            }
        }
        if let Some((Some(account), layout)) = &sends
            && !carried.is_empty()
        {
            let customers: Vec<CustomerId> = carried.iter().map(|(c, _)| c.customer_id).collect();
            let customers: std::collections::HashMap<CustomerId, Customer> =
                store::parties::get_customers(&mut conn, &customers)
                    .await?
                    .into_iter()
                    .map(|c| (c.id, c))
                    .collect();
            for (contract, created) in &carried {
                let customer = customers
                    .get(&contract.customer_id)
                    .with_context(|| format!("no customer {}", contract.customer_id))?;
                notices.push(generation_new_notice(
                    account,
                    customer,
                    contract,
                    created[0].id,
                    *layout,
                    "generation",
                ));
            }
            let ids =
                store::outbox::enqueue_notices(&mut bulk, &notices, &account.from_address, now)
                    .await?;
            let links: Vec<_> = ids
                .iter()
                .zip(&carried)
                .flat_map(|(n, (_, created))| created.iter().map(move |i| (*n, i.id)))
                .collect();
            store::dunning::link_notice_invoices(&mut bulk, &links).await?;
            report.queued += ids.len() as u64;
        }
        drop(conn);
        bulk.commit().await?;
        report.contracts += n;
        progress(report.contracts);
    }
    if report.no_account > 0 {
        tracing::warn!(
            contracts = report.no_account,
            "send on generation: no financial SMTP account"
        );
    }
    tracing::info!(?report, "invoices generated for every contract");
    Ok(report)
}

/// A contract's invoice for competence month `y`-`m`, issued `today`.
fn new_invoice(contract: &Contract, y: i16, m: i8, today: Date) -> NewInvoice {
    let competence = format!("{y:04}-{m:02}");
    NewInvoice {
        external_id: format!("{}/{competence}", contract.external_id),
        contract: contract.clone(),
        amount: contract.monthly_amount,
        issue_date: today,
        due_date: due_date_in_month(y, m, contract.due_day),
        competence: Some(competence),
        status: InvoiceStatus::Open,
    }
}

/// The generation e-mail's layout.
async fn generation_layout(conn: &mut sqlx::AnyConnection) -> anyhow::Result<LayoutId> {
    Ok(
        store::layouts::layout_for_purpose(conn, crate::layouts::Purpose::InvoiceGenerated)
            .await?
            .context("no invoice_generated layout")?
            .id,
    )
}

/// The generation e-mail of a contract's new invoices (`generated:<contract>:<first invoice>`),
/// with their boletos.
fn generation_new_notice(
    account: &crate::delivery::SmtpAccount,
    customer: &Customer,
    contract: &Contract,
    first: InvoiceId,
    layout: LayoutId,
    actor: &str,
) -> crate::delivery::NewNotice {
    crate::delivery::NewNotice {
        account_id: Some(account.id),
        recipient: customer.email_or_empty(),
        customer_id: Some(customer.id),
        contract_id: Some(contract.id),
        invoice_id: Some(first),
        attach_boleto: true,
        ..crate::delivery::NewNotice::new(
            crate::delivery::NoticeKey::Generated {
                contract: contract.id,
                invoice: first,
            },
            crate::delivery::Channel::Email,
            crate::layouts::Purpose::InvoiceGenerated,
            layout,
            actor,
        )
    }
}

/// What a single generation reads once: the wallet, the financial account.
#[derive(Default)]
struct Shared {
    wallets: std::collections::HashMap<WalletId, BillingWallet>,
    account: Option<Option<crate::delivery::SmtpAccount>>,
    /// Who asked, for the generation e-mail's history; `None`: the generation itself.
    actor: Option<String>,
}

/// One contract's generation, in the caller's transaction.
async fn generate_in(
    conn: &mut sqlx::AnyConnection,
    contract: Contract,
    months: u32,
    clock: &Clock,
    shared: &mut Shared,
) -> anyhow::Result<Generation> {
    let today = clock.today();
    let now = clock.now_millis();
    let mut created = Vec::new();
    let mut skipped_months = Vec::new();
    let mut to_create = Vec::new();
    for (y, m) in generation_window(today, contract.due_day, months) {
        let first = Date::new(y, m, 1).expect("valid month");
        let exists = store::invoices::contract_has_invoice_due_between(
            conn,
            contract.id,
            first,
            first.last_of_month(),
        )
        .await?;
        if exists {
            skipped_months.push(format!("{y:04}-{m:02}"));
        } else {
            to_create.push((y, m));
        }
    }
    // One reservation for the contract's new invoices (a month lost to a concurrent run leaves
    // a gap, which boletos allow).
    let first_number = if to_create.is_empty() {
        0
    } else {
        store::invoices::allocate_our_numbers(conn, contract.wallet_id, to_create.len() as i64)
            .await?
    };
    for (i, (y, m)) in to_create.into_iter().enumerate() {
        let new = new_invoice(&contract, y, m, today);
        let our_number = first_number + i as i64;
        match store::invoices::insert_invoice(conn, &new, our_number, now).await? {
            Some(id) => created.push(new.into_invoice(id, our_number)),
            None => skipped_months.push(new.competence.unwrap_or_default()),
        }
    }
    let notice = generation_notice(conn, &contract, &created, now, shared).await?;
    Ok(Generation {
        contract,
        created,
        skipped_months,
        notice,
    })
}

/// Enqueues the generation's message when the contract's wallet sends on generation and its
/// delivery is by e-mail: one notice (`generated:<contract>:<first invoice>`) carrying every
/// new invoice, so the customer gets one message with one PDF.
async fn generation_notice(
    conn: &mut sqlx::AnyConnection,
    contract: &Contract,
    created: &[Invoice],
    now_ms: i64,
    shared: &mut Shared,
) -> anyhow::Result<GenerationNotice> {
    let Some(first) = created.first() else {
        return Ok(GenerationNotice::NotApplicable);
    };
    let wallet = match shared.wallets.get(&contract.wallet_id) {
        Some(w) => w,
        None => {
            let w = store::parties::get_wallet(conn, contract.wallet_id).await?;
            shared.wallets.entry(contract.wallet_id).or_insert(w)
        }
    };
    if !wallet.send_on_generate {
        return Ok(GenerationNotice::NotApplicable);
    }
    if first.delivery_type == DeliveryType::Printed {
        return Ok(GenerationNotice::Printed);
    }
    if shared.account.is_none() {
        shared.account = Some(store::accounts::financial_account(conn).await?);
    }
    let Some(Some(account)) = &shared.account else {
        tracing::debug!(contract = %contract.external_id, "send on generation: no financial SMTP account");
        return Ok(GenerationNotice::NoAccount);
    };
    let customer = store::parties::get_customer(conn, contract.customer_id).await?;
    let layout = generation_layout(conn).await?;
    let enqueued = store::outbox::enqueue_notice(
        conn,
        &generation_new_notice(
            account,
            &customer,
            contract,
            first.id,
            layout,
            shared.actor.as_deref().unwrap_or("generation"),
        ),
        &account.from_address,
        now_ms,
    )
    .await?;
    let id = match enqueued {
        crate::delivery::Enqueued::New(id) | crate::delivery::Enqueued::Exists(id, _) => id,
    };
    let ids: Vec<InvoiceId> = created.iter().map(|i| i.id).collect();
    store::dunning::insert_notice_invoices(conn, id, &ids).await?;
    Ok(GenerationNotice::Queued(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_window_starts_this_month_while_its_due_date_is_ahead() {
        assert_eq!(
            generation_window(date(2026, 1, 5), 10, 3),
            vec![(2026, 1), (2026, 2), (2026, 3)]
        );
        assert_eq!(generation_window(date(2026, 1, 10), 10, 1), vec![(2026, 1)]);
        assert_eq!(
            generation_window(date(2026, 1, 11), 10, 2),
            vec![(2026, 2), (2026, 3)]
        );
        assert_eq!(
            generation_window(date(2026, 11, 30), 5, 3),
            vec![(2026, 12), (2027, 1), (2027, 2)]
        );
        // Due day 31 in February is the 28th: on the 28th it is still ahead (due today).
        assert_eq!(generation_window(date(2026, 2, 28), 31, 1), vec![(2026, 2)]);
    }
}
