//! "Gerar financeiro do contrato": creating a contract's monthly invoices.
//!
//! The window is anchored to today, not to the last invoice, so that running the generation
//! twice creates nothing new: it covers the N competence months starting with the current month
//! (when this month's due date is still ahead) or the next one. A month is skipped when the
//! contract already has an invoice due in it, generated or imported, in any status (a cancelled
//! month stays cancelled). The unique (contract, competence) constraint backs this up against
//! two concurrent runs.

use jiff::civil::Date;

use crate::domain::*;
use crate::store::{self, Db, NewInvoice};

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

/// Generates the contract's next `months` invoices (see the module doc), in one transaction.
pub async fn generate_invoices(
    db: &Db,
    contract_ref: &str,
    months: u32,
    clock: &Clock,
) -> Result<Generation, GenerateError> {
    if !(1..=60).contains(&months) {
        return Err(GenerateError::Months(months));
    }
    let mut tx = db.begin().await?;
    let contract = store::find_contract(&mut tx, contract_ref)
        .await?
        .ok_or_else(|| GenerateError::UnknownContract(contract_ref.to_string()))?;
    if contract.status == ContractStatus::Cancelled {
        return Err(GenerateError::Cancelled(contract.external_id));
    }
    let today = clock.today();
    let now = clock.now_millis();
    let mut created = Vec::new();
    let mut skipped_months = Vec::new();
    for (y, m) in generation_window(today, contract.due_day, months) {
        let competence = format!("{y:04}-{m:02}");
        let first = Date::new(y, m, 1).expect("valid month");
        let last = first.last_of_month();
        if store::contract_has_invoice_due_between(&mut tx, contract.id, first, last).await? {
            skipped_months.push(competence);
            continue;
        }
        let new = NewInvoice {
            external_id: format!("{}/{competence}", contract.external_id),
            contract: contract.clone(),
            amount: contract.monthly_amount,
            issue_date: today,
            due_date: due_date_in_month(y, m, contract.due_day),
            competence: Some(competence.clone()),
            status: InvoiceStatus::Open,
        };
        let our_number = store::allocate_our_numbers(&mut tx, contract.wallet_id, 1).await?;
        match store::insert_invoice(&mut tx, &new, our_number, now).await? {
            Some(id) => created.push(new.into_invoice(id, our_number)),
            None => skipped_months.push(competence),
        }
    }
    tx.commit().await.map_err(anyhow::Error::from)?;
    tracing::info!(contract = %contract.external_id, created = created.len(), skipped = skipped_months.len(), "invoices generated");
    Ok(Generation {
        contract,
        created,
        skipped_months,
    })
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
