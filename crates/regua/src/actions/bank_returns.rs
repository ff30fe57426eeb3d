//! Importing a bank return file (arquivo de retorno): each title record matched to the invoice
//! it names, payments recorded through [`super::payments`], rejections flagged, everything kept
//! in the file's history — in one transaction, so a file is applied whole or not at all.
//!
//! Never guess, never twice (decisions in `docs/cnab.md`):
//! - a file is known by the SHA-256 of its bytes: the same file again changes nothing;
//! - a record names an invoice only when exactly one invoice of a wallet of the file's bank has
//!   that our number as the bank prints it (with or without its check digit); none, or more than
//!   one, is `unmatched` and applied to nothing;
//! - a payment of an invoice already paid (or cancelled) is a `duplicate_payment`, kept to be
//!   refunded; one below the amount due is recorded and kept as `underpaid`.

use std::collections::{HashMap, HashSet};

use sha2::Digest as _;

use crate::domain::{Actor, InvoiceId, Money};
use crate::store::bank_returns::{BankEvent, NewReturnFile, PayableInvoice, ReturnFileRow};
use crate::store::{self, Db};
use boleto::cnab::{Event, Layout, ReturnFile, ReturnRecord};

/// A file to import: its name, bytes and records.
#[derive(Debug, Clone, Copy)]
pub struct ReturnUpload<'a> {
    /// The file's name.
    pub name: &'a str,
    /// Its bytes (their SHA-256 identifies it).
    pub bytes: &'a [u8],
    /// Its records, read.
    pub file: &'a ReturnFile,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOutcome {
    /// The record's line.
    pub line: usize,
    /// The nosso número as written.
    pub our_number: String,
    /// The bank's event.
    pub event: Event,
    /// `paid`, `duplicate_payment`, `underpaid`, `flagged`, `recorded` or `unmatched`.
    pub outcome: &'static str,
    /// The invoice's external id, when one matched.
    pub invoice: Option<String>,
    /// What was paid, as recorded (the payer's amount), for payments.
    pub paid: Option<Money>,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The same file was imported before: nothing changed.
    pub already: Option<ReturnFileRow>,
    /// The file's id, once recorded.
    pub file_id: Option<i64>,
    /// Every record's outcome, in file order.
    pub lines: Vec<LineOutcome>,
}

impl ImportOutcome {
    /// How many records came to `outcome`.
    pub fn count(&self, outcome: &str) -> usize {
        self.lines.iter().filter(|l| l.outcome == outcome).count()
    }
}

/// The SHA-256 of a file, hex.
pub fn file_hash(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The payer's amount of a paid record: Itaú's CNAB 400 writes the amount net of its fee.
fn paid_amount(file: &ReturnFile, r: &ReturnRecord) -> i64 {
    if file.bank == "341" && file.layout == Layout::Cnab400 {
        r.paid_cents + r.fee_cents
    } else {
        r.paid_cents
    }
}

/// Digits of an our number, without a trailing letter check digit (Bradesco's `P`).
fn number(s: &str) -> Option<u128> {
    let t = s.trim();
    let t = t
        .strip_suffix(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(t);
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 38 {
        return None;
    }
    digits.parse().ok()
}

/// The invoices of the file's bank by their printed our number: with its check digit, and
/// without it.
struct Index {
    with_dv: HashMap<u128, Hit>,
    without_dv: HashMap<u128, Hit>,
    invoices: Vec<PayableInvoice>,
}

/// What a number names in an [`Index`]: one invoice, or more than one (which is no match).
/// Not a list: a million invoices' lists were a million allocations the matching never reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    One(usize),
    Ambiguous,
}

fn add_hit(map: &mut HashMap<u128, Hit>, n: u128, k: usize) {
    map.entry(n)
        .and_modify(|h| *h = Hit::Ambiguous)
        .or_insert(Hit::One(k));
}

impl Index {
    async fn load(conn: &mut sqlx::AnyConnection, bank: &str) -> anyhow::Result<Index> {
        let wallets: Vec<_> = store::parties::list_wallets(conn)
            .await?
            .into_iter()
            .filter(|w| w.bank_code == bank)
            .collect();
        let ids: Vec<_> = wallets.iter().map(|w| w.id).collect();
        let invoices = store::bank_returns::payable_invoices(conn, &ids).await?;
        let mut index = Index {
            with_dv: HashMap::new(),
            without_dv: HashMap::new(),
            invoices: Vec::with_capacity(invoices.len()),
        };
        for inv in invoices {
            let Some(wallet) = wallets.iter().find(|w| w.id == inv.wallet_id) else {
                continue;
            };
            let printed = crate::payment::printed_our_number((&inv).into(), wallet)
                .unwrap_or_else(|| inv.our_number.to_string());
            let digits: String = printed
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let k = index.invoices.len();
            if let Some(n) = number(&digits) {
                add_hit(&mut index.with_dv, n, k);
            }
            if digits.len() > 1
                && let Some(n) = number(&digits[..digits.len() - 1])
            {
                add_hit(&mut index.without_dv, n, k);
            }
            index.invoices.push(inv);
        }
        Ok(index)
    }

    /// The one invoice a record names, trying the closest reading first: the number as
    /// printed, then without its check digit on either side. More than one at a step is no
    /// match (never guess).
    fn find(&self, our_number: &str) -> Option<&PayableInvoice> {
        let n = number(our_number)?;
        let t = our_number.trim();
        let shorter = if t.len() > 1 {
            number(&t[..t.len() - 1])
        } else {
            None
        };
        let steps = [
            self.with_dv.get(&n),
            self.without_dv.get(&n),
            shorter.and_then(|s| self.without_dv.get(&s)),
        ];
        match steps.into_iter().flatten().next()? {
            Hit::One(k) => Some(&self.invoices[*k]),
            Hit::Ambiguous => None,
        }
    }
}

/// Imports a return file (or, with `dry_run`, says what it would do and changes nothing). A
/// payment whose record has no date is taken as paid `today`.
pub async fn import_return(
    db: &Db,
    upload: &ReturnUpload<'_>,
    dry_run: bool,
    actor: &Actor,
    (today, now_ms): (jiff::civil::Date, i64),
) -> anyhow::Result<ImportOutcome> {
    let hash = file_hash(upload.bytes);
    let file = upload.file;
    let mut tx = db.begin().await?;
    if let Some(before) = store::bank_returns::find_file_by_hash(&mut tx, &hash).await? {
        return Ok(ImportOutcome {
            already: Some(before),
            file_id: None,
            lines: Vec::new(),
        });
    }
    let index = Index::load(&mut tx, &file.bank).await?;
    let mut lines = Vec::with_capacity(file.records.len());
    let mut events = Vec::with_capacity(file.records.len());
    // Invoices paid by an earlier record of this same file, and the payments to write.
    let mut paid_now: HashSet<InvoiceId> = HashSet::new();
    let mut payments = Vec::new();
    for r in &file.records {
        let invoice = index.find(&r.our_number);
        let mut paid = None;
        let outcome = match (invoice, r.event) {
            (None, _) => "unmatched",
            (Some(inv), Event::Paid) => {
                let amount = Money(paid_amount(file, r));
                paid = Some(amount);
                if inv.status != "open" || paid_now.contains(&inv.id) {
                    "duplicate_payment"
                } else {
                    let payment = super::payments::Payment {
                        paid_on: r.occurred_on.or(r.credit_on).unwrap_or(today),
                        amount,
                    };
                    payments.push(super::payments::Paying {
                        id: inv.id,
                        external_id: &inv.external_id,
                        status_before: &inv.status,
                        payment,
                    });
                    paid_now.insert(inv.id);
                    if amount.cents() < inv.amount.cents() {
                        "underpaid"
                    } else {
                        "paid"
                    }
                }
            }
            (Some(inv), Event::Rejected | Event::Registered | Event::WrittenOff) => {
                let status = r.event.as_str();
                store::bank_returns::set_bank_status(
                    &mut tx,
                    inv.id,
                    status,
                    &r.reasons.join("; "),
                    now_ms,
                )
                .await?;
                if r.event == Event::Rejected {
                    "flagged"
                } else {
                    "recorded"
                }
            }
            (Some(_), Event::Other) => "recorded",
        };
        lines.push(LineOutcome {
            line: r.line,
            our_number: r.our_number.clone(),
            event: r.event,
            outcome,
            invoice: invoice.map(|i| i.external_id.clone()),
            paid,
        });
        events.push(BankEvent {
            file_id: 0,
            line: r.line as i64,
            invoice_id: invoice.map(|i| i.id),
            our_number: r.our_number.clone(),
            occurrence: r.occurrence.clone(),
            event: r.event.as_str().to_string(),
            outcome: outcome.to_string(),
            occurred_on: r.occurred_on.map(|d| d.to_string()),
            credit_on: r.credit_on.map(|d| d.to_string()),
            face_cents: r.face_cents,
            paid_cents: paid.map_or(r.paid_cents, Money::cents),
            fee_cents: r.fee_cents,
            interest_cents: r.interest_cents,
            discount_cents: r.discount_cents,
            reasons: r.reasons.join("\n"),
        });
    }
    super::payments::write_payments(&mut tx, &payments, actor, now_ms).await?;
    let mut outcome = ImportOutcome {
        already: None,
        file_id: None,
        lines,
    };
    if dry_run {
        // Dropping the transaction rolls back the payments written to see their effects.
        return Ok(outcome);
    }
    let who = actor.to_string();
    let id = store::bank_returns::insert_file(
        &mut tx,
        &NewReturnFile {
            sha256: &hash,
            name: upload.name,
            bank: &file.bank,
            layout: file.layout.as_str(),
            records: file.records.len() as i64,
            paid: (outcome.count("paid") + outcome.count("underpaid")) as i64,
            unmatched: outcome.count("unmatched") as i64,
        },
        &who,
        now_ms,
    )
    .await?;
    for e in &mut events {
        e.file_id = id;
    }
    store::bank_returns::insert_events(&mut tx, &events, now_ms).await?;
    super::Audit::of("bank_return.import", format!("bank_return:{id}"))
        .after(format!(
            "{} {} {}: {} records",
            upload.name,
            file.bank,
            file.layout.as_str(),
            file.records.len()
        ))
        .write(&mut tx, actor, now_ms)
        .await?;
    tx.commit().await?;
    outcome.file_id = Some(id);
    Ok(outcome)
}

/// Keeps a file uploaded on the page until its preview is confirmed; its id.
pub async fn stage_upload(
    db: &Db,
    name: &str,
    bytes: &[u8],
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<i64> {
    super::in_transaction(db, async |tx| {
        store::bank_returns::insert_upload(tx, name, bytes, &actor.to_string(), now_ms).await
    })
    .await
}

/// Imports a kept upload (the preview confirmed) and forgets it; `None` when there is no such
/// upload (confirmed already, say).
pub async fn confirm_upload(
    db: &Db,
    upload: i64,
    actor: &Actor,
    (today, now_ms): (jiff::civil::Date, i64),
) -> anyhow::Result<Option<ImportOutcome>> {
    let Some((name, bytes)) = ({
        let mut conn = db.pool.acquire().await?;
        store::bank_returns::get_upload(&mut conn, upload).await?
    }) else {
        return Ok(None);
    };
    let file = boleto::cnab::read_return(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let outcome = import_return(
        db,
        &ReturnUpload {
            name: &name,
            bytes: &bytes,
            file: &file,
        },
        false,
        actor,
        (today, now_ms),
    )
    .await?;
    super::in_transaction(db, async |tx| {
        store::bank_returns::delete_upload(tx, upload).await
    })
    .await?;
    Ok(Some(outcome))
}

/// The CLI's account of an import: one line per count, then the records that need a person.
pub fn summary(o: &ImportOutcome, dry_run: bool) -> String {
    if let Some(before) = &o.already {
        return format!(
            "this file was imported before (file {}, {}, by {}); nothing changed\n",
            before.id, before.name, before.imported_by
        );
    }
    let mut out = String::new();
    if dry_run {
        out.push_str("dry run: nothing was changed\n");
    }
    for (outcome, label) in [
        ("paid", "paid"),
        ("underpaid", "paid below the amount due"),
        ("duplicate_payment", "duplicate payments (to refund)"),
        ("flagged", "registrations rejected"),
        ("recorded", "other events recorded"),
        ("unmatched", "unmatched"),
    ] {
        out.push_str(&format!("{label}: {}\n", o.count(outcome)));
    }
    for l in &o.lines {
        if matches!(
            l.outcome,
            "unmatched" | "duplicate_payment" | "underpaid" | "flagged"
        ) {
            out.push_str(&format!(
                "line {}: our number {} ({}): {}{}\n",
                l.line,
                l.our_number,
                l.event.as_str(),
                l.outcome,
                l.invoice
                    .as_deref()
                    .map(|i| format!(", invoice {i}"))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

/// Why a rejected registration could not be marked resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// The note saying what was done is required: the flag is evidence, its clearing too.
    NoteMissing,
    /// The invoice's registration is not flagged rejected (never was, or already resolved).
    NotRejected,
}

/// Clears the "registro rejeitado" flag of an invoice once someone has acted (fixed the data
/// and sent the boleto to the bank again, cancelled it, or registered it by hand at the bank's
/// site): the invoice leaves the dashboard's list, the bank's reason is kept with the note, and
/// the audit trail says who did it. The bank events stay on the invoice's timeline.
pub async fn resolve_rejection(
    db: &Db,
    invoice: InvoiceId,
    note: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(), ResolveError>> {
    let note = note.trim();
    if note.is_empty() {
        return Ok(Err(ResolveError::NoteMissing));
    }
    super::in_transaction(db, async |tx| {
        let Some((status, reason)) = store::bank_returns::bank_status_of(tx, invoice).await? else {
            return Ok(Err(ResolveError::NotRejected));
        };
        if status != "rejected" {
            return Ok(Err(ResolveError::NotRejected));
        }
        let after = format!("{reason}\nresolvido: {note}");
        store::bank_returns::set_bank_status(tx, invoice, "resolved", &after, now_ms).await?;
        super::Audit::of(
            "invoice.registration_resolved",
            format!("invoice:{}", invoice.0),
        )
        .before(format!("rejected: {reason}"))
        .after(format!("resolved: {note}"))
        .write(tx, actor, now_ms)
        .await?;
        Ok(Ok(()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(id: i64) -> PayableInvoice {
        PayableInvoice {
            id: InvoiceId(id),
            external_id: format!("F{id}"),
            wallet_id: crate::domain::WalletId(1),
            our_number: id,
            status: "open".into(),
            amount: Money(100),
            issue_date: jiff::civil::date(2026, 1, 1),
            due_date: jiff::civil::date(2026, 1, 10),
        }
    }

    #[test]
    fn a_number_two_invoices_share_matches_neither_and_the_next_reading_is_not_tried() {
        let mut index = Index {
            with_dv: HashMap::new(),
            without_dv: HashMap::new(),
            invoices: vec![invoice(1), invoice(2), invoice(3)],
        };
        add_hit(&mut index.with_dv, 123, 0);
        add_hit(&mut index.with_dv, 123, 1);
        add_hit(&mut index.without_dv, 123, 2);
        add_hit(&mut index.with_dv, 456, 2);
        assert_eq!(index.with_dv[&123], Hit::Ambiguous);
        // Ambiguous as printed: no match, even though another reading names one invoice.
        assert!(index.find("123").is_none());
        assert_eq!(index.find("456").map(|i| i.id), Some(InvoiceId(3)));
        // Without the check digit: 1234 is not in with_dv, 1234 is not in without_dv, 123 is.
        assert_eq!(index.find("1234").map(|i| i.id), Some(InvoiceId(3)));
    }
}
