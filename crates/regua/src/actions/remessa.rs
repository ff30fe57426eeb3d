//! Generating a wallet's remessa (docs/remessa.md): every open invoice Régua issued and never
//! sent ("entrada"), every cancelled one already sent ("pedido de baixa"), every change of due
//! date or amount ("alteração"), in one file with the wallet's next sequence number — all in one transaction:
//! the file, its items and the audit row, or nothing. An invoice whose payer has no valid
//! address stays out, listed with the reason.

use std::collections::HashMap;

use boleto::remessa::{self, Movement, Payer, Title};

use crate::domain::charges::Registration;
use crate::domain::{Actor, BillingWallet, Customer, Invoice, WalletId};
use crate::store::remessa::{ItemMovement, NewRemessaFile};
use crate::store::{self, Db};

/// An invoice left out of a remessa, and why (pt-BR, for the page and the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The invoice's external id.
    pub invoice: String,
    /// Why, in Portuguese.
    pub reason: String,
}

/// A file generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Its id, for downloading it again.
    pub file_id: i64,
    /// Its sequence number (NSA) in the wallet.
    pub sequence: i64,
    /// The file name.
    pub name: String,
    /// The bytes.
    pub content: Vec<u8>,
    /// Entries, write-offs, changes.
    pub counts: (usize, usize, usize),
}

/// What a generation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A file, with the invoices left out.
    Generated(Generated, Vec<Blocked>),
    /// Nothing to send (no file, no sequence number taken), with the invoices left out.
    Nothing(Vec<Blocked>),
    /// The wallet's boletos are registered by the ERP (or its bank has no writer here): why,
    /// in English and in Portuguese.
    NotRegisteredByRegua(String, String),
}

/// The file name offered: `<bank>-<wallet>-<NSA>.rem`, the wallet's name reduced to ASCII.
fn file_name(wallet: &BillingWallet, sequence: i64) -> String {
    let slug: String = remessa::clean_text(&wallet.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{}-{sequence:06}.rem", wallet.bank_code, slug)
}

/// The layout a wallet's remessa is written in, if Régua writes it; otherwise why, in English
/// and in Portuguese.
pub fn layout_of(wallet: &BillingWallet) -> Result<remessa::Layout, (String, String)> {
    let layout = match wallet.registration {
        Registration::Erp => {
            return Err((
                "its boletos are registered by the ERP (registration erp): no remessa".into(),
                "os boletos desta carteira são registrados pelo ERP (sem remessa)".into(),
            ));
        }
        Registration::Cnab240 => remessa::Layout::Cnab240,
        Registration::Cnab400 => remessa::Layout::Cnab400,
    };
    let bank =
        boleto::Bank::from_code(&wallet.bank_code).map_err(|e| (e.to_string(), e.to_string()))?;
    if !remessa::supports(bank, layout) {
        let what = wallet.registration.as_str().to_uppercase();
        return Err((
            format!(
                "Régua writes no {what} remessa for bank {}",
                wallet.bank_code
            ),
            format!(
                "o Régua não gera remessa {what} para o banco {}",
                wallet.bank_code
            ),
        ));
    }
    Ok(layout)
}

fn title_of(
    invoice: &Invoice,
    movement: Movement,
    customer: &Customer,
    wallet: &BillingWallet,
    layout: remessa::Layout,
) -> Result<Title, String> {
    let Some(address) = &customer.address else {
        return Err(
            "o cliente não tem endereço cadastrado (logradouro, bairro, CEP, cidade e UF)".into(),
        );
    };
    let printed = crate::payment::printed_our_number(invoice.into(), wallet)
        .ok_or_else(|| "o nosso número não pôde ser calculado para esta carteira".to_string())?;
    let bank = boleto::Bank::from_code(&wallet.bank_code).map_err(|e| e.to_string())?;
    let terms = &wallet.terms;
    let discount_cents = terms.discount_of(invoice.amount).cents();
    Ok(Title {
        movement,
        our_number: remessa::remessa_our_number(bank, layout, &printed),
        document_number: invoice.external_id.chars().take(15).collect(),
        due_date: invoice.due_date,
        issue_date: invoice.issue_date,
        amount_cents: u64::try_from(invoice.amount.cents()).unwrap_or(0),
        payer: Payer {
            document: customer.document.digits().to_string(),
            name: customer.name.clone(),
            street: address.street_line(),
            district: address.district.clone(),
            zip: address.zip.clone(),
            city: address.city.clone(),
            state: address.state.clone(),
        },
        fine_bp: terms.fine_bp,
        interest_per_day_cents: u64::try_from(terms.interest_per_day(invoice.amount).cents())
            .unwrap_or(0),
        discount: (discount_cents > 0).then(|| {
            (
                u64::try_from(discount_cents).unwrap_or(0),
                crate::domain::charges::discount_until(invoice.due_date, terms.discount_days),
            )
        }),
        write_off_days: terms.write_off_days,
    })
}

/// What the next remessa of `wallet` would carry, without writing anything: counts by
/// movement and the invoices left out.
pub async fn pending(
    db: &Db,
    wallet: WalletId,
) -> anyhow::Result<((usize, usize, usize), Vec<Blocked>)> {
    let mut conn = db.pool.acquire().await?;
    let w = store::parties::get_wallet(&mut conn, wallet).await?;
    let Ok(layout) = layout_of(&w) else {
        return Ok(((0, 0, 0), Vec::new()));
    };
    let (titles, blocked) = collect(&mut conn, &w, layout).await?;
    Ok((counts_of(&titles), blocked))
}

type Titles = Vec<(Invoice, Title)>;

/// Entries, write-offs and changes (of due date or amount).
fn counts_of(titles: &Titles) -> (usize, usize, usize) {
    let count = |f: &dyn Fn(Movement) -> bool| titles.iter().filter(|(_, t)| f(t.movement)).count();
    (
        count(&|m| m == Movement::Entry),
        count(&|m| m == Movement::WriteOff),
        count(&|m| matches!(m, Movement::ChangeDueDate | Movement::ChangeAmount)),
    )
}

async fn collect(
    conn: &mut sqlx::AnyConnection,
    w: &BillingWallet,
    layout: remessa::Layout,
) -> anyhow::Result<(Titles, Vec<Blocked>)> {
    let mut wanted: Vec<(Invoice, Movement)> = Vec::new();
    for i in store::remessa::to_enter(conn, w.id).await? {
        wanted.push((i, Movement::Entry));
    }
    for i in store::remessa::to_write_off(conn, w.id).await? {
        wanted.push((i, Movement::WriteOff));
    }
    for (i, sent_due, sent_amount) in store::remessa::to_change(conn, w.id).await? {
        // A due date and an amount changed together go as two lines, each with its code.
        let due_changed = sent_due != i.due_date.to_string();
        let amount_changed = sent_amount != i.amount.cents();
        if due_changed {
            wanted.push((i.clone(), Movement::ChangeDueDate));
        }
        if amount_changed {
            wanted.push((i, Movement::ChangeAmount));
        }
    }
    let ids: Vec<_> = wanted.iter().map(|(i, _)| i.customer_id).collect();
    let customers: HashMap<_, _> = store::parties::get_customers(conn, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut titles = Vec::new();
    let mut blocked = Vec::new();
    for (invoice, movement) in wanted {
        let Some(customer) = customers.get(&invoice.customer_id) else {
            continue;
        };
        match title_of(&invoice, movement, customer, w, layout) {
            Ok(t) => titles.push((invoice, t)),
            Err(reason) => blocked.push(Blocked {
                invoice: invoice.external_id.clone(),
                reason,
            }),
        }
    }
    Ok((titles, blocked))
}

/// Generates the wallet's next remessa as of `at` (the ISP's local time).
pub async fn generate(
    db: &Db,
    wallet: WalletId,
    at: jiff::civil::DateTime,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Outcome> {
    let mut tx = db.begin().await?;
    let w = store::parties::get_wallet(&mut tx, wallet).await?;
    let layout = match layout_of(&w) {
        Ok(l) => l,
        Err((en, pt)) => return Ok(Outcome::NotRegisteredByRegua(en, pt)),
    };
    let (titles, blocked) = collect(&mut tx, &w, layout).await?;
    if titles.is_empty() {
        return Ok(Outcome::Nothing(blocked));
    }
    let company = store::parties::company_profile(&mut tx).await?;
    let sequence = store::remessa::take_sequence(&mut tx, wallet).await?;
    let (account, account_digit) = match w.account.split_once('-') {
        Some((a, d)) => (a.to_string(), Some(d.to_string())),
        None => (w.account.clone(), None),
    };
    let header = remessa::Header {
        bank: boleto::Bank::from_code(&w.bank_code)?,
        company_name: company.name.clone(),
        company_document: company.document.clone(),
        agency: w.agency.clone(),
        agency_digit: None,
        account,
        account_digit,
        agreement: w.agreement.clone(),
        wallet: w.wallet_code.clone(),
        wallet_variation: None,
        sequence: u32::try_from(sequence)?,
        application_version: None,
        generated_at: at,
    };
    let just: Vec<Title> = titles.iter().map(|(_, t)| t.clone()).collect();
    let bytes = remessa::write_remessa(layout, &header, &just)
        .map_err(|e| anyhow::anyhow!("remessa of wallet {}: {e}", w.name))?;
    let content = String::from_utf8(bytes.clone())?;
    let name = file_name(&w, sequence);
    let counts = counts_of(&titles);
    let items: Vec<_> = titles
        .iter()
        .map(|(i, t)| {
            let m = match t.movement {
                Movement::Entry => ItemMovement::Entry,
                Movement::WriteOff => ItemMovement::WriteOff,
                Movement::ChangeDueDate | Movement::ChangeAmount => ItemMovement::Change,
            };
            (i.id, m, i.due_date.to_string(), i.amount.cents())
        })
        .collect();
    let file_id = store::remessa::insert_file(
        &mut tx,
        &NewRemessaFile {
            wallet,
            sequence,
            layout: w.registration.as_str(),
            name: &name,
            content: &content,
            counts: (counts.0 as i64, counts.1 as i64, counts.2 as i64),
            by: &actor.to_string(),
        },
        &items,
        now_ms,
    )
    .await?;
    super::Audit::of("remessa.generate", format!("remessa:{file_id}"))
        .after(format!(
            "{name}: wallet {} NSA {sequence}, {} entries, {} write-offs, {} changes",
            w.name, counts.0, counts.1, counts.2
        ))
        .write(&mut tx, actor, now_ms)
        .await?;
    tx.commit().await?;
    Ok(Outcome::Generated(
        Generated {
            file_id,
            sequence,
            name,
            content: bytes,
            counts,
        },
        blocked,
    ))
}
