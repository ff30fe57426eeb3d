//! How an invoice is paid, as the customer sees it: the boleto (its input for the codes and the
//! PDF) and the PIX copia-e-cola, built from the invoice, its customer, its wallet and the
//! company profile. Messages, the PDF attachment and the portal all take them from here.

use boleto::{BoletoInput, BrCode, Party};

use crate::domain::{BillingWallet, CompanyProfile, Customer, Invoice};

/// The boleto of an invoice, ready for `codes()` and `render_pdf`.
pub fn boleto_input(
    invoice: &Invoice,
    customer: &Customer,
    wallet: &BillingWallet,
    company: &CompanyProfile,
) -> BoletoInput {
    BoletoInput {
        document_number: Some(invoice.external_id.chars().take(15).collect()),
        beneficiary: Some(Party {
            name: company.name.clone(),
            document: Some(company.document.clone()).filter(|d| !d.is_empty()),
            address: Some(company.address.clone()).filter(|a| !a.trim().is_empty()),
        }),
        payer: Some(Party {
            name: customer.name.clone(),
            document: Some(customer.document.to_string()),
            address: customer.address.as_ref().map(ToString::to_string),
        }),
        instructions: instructions(invoice, wallet),
        pix: invoice
            .registered_pix
            .clone()
            .or_else(|| pix_payload(invoice, wallet, company)),
        registered_barcode: invoice.registered_barcode.clone(),
        ..wallet_input(invoice.into(), wallet)
    }
}

/// The boleto's instruction lines: the wallet's terms (fine, interest, discount) and when the
/// bank stops receiving it.
fn instructions(invoice: &Invoice, wallet: &BillingWallet) -> Vec<String> {
    let mut lines = wallet.terms.instructions(invoice.due_date);
    let days = wallet.terms.write_off_days.unwrap_or(90);
    lines.push(format!("Não receber após {days} dias do vencimento."));
    lines
}

/// What the invoice costs if paid `today` under its wallet's terms (docs/charges.md): the
/// boleto is the registered one, for its face amount; the fine and interest are the bank's to
/// add at payment, and the messages and the portal tell the payer the total. A paid or
/// cancelled invoice owes nothing more: its face amount, no charges.
pub fn amount_due_today(
    invoice: &Invoice,
    wallet: &BillingWallet,
    today: jiff::civil::Date,
) -> crate::domain::charges::AmountDue {
    if !matches!(invoice.status, crate::domain::InvoiceStatus::Open) {
        return crate::domain::charges::AmountDue {
            total: invoice.amount,
            ..Default::default()
        };
    }
    crate::domain::charges::amount_due(
        invoice.amount,
        invoice.due_date,
        today,
        &wallet.terms,
        crate::domain::charges::is_national_bank_holiday,
    )
}

/// The PIX copia-e-cola for the amount due `today`: the invoice's own code while nothing is
/// added or discounted; otherwise a code for the total with the txid `REGUA<id>D<AAAAMMDD>` —
/// the same family, so the PSP's webhook still names the invoice. `None` as for
/// [`pix_payload`]; an ERP's registered PIX code is carried unchanged (Régua cannot reissue it).
pub fn pix_payload_due_today(
    invoice: &Invoice,
    wallet: &BillingWallet,
    company: &CompanyProfile,
    today: jiff::civil::Date,
) -> Option<String> {
    if let Some(code) = &invoice.registered_pix {
        return Some(code.clone());
    }
    let due = amount_due_today(invoice, wallet, today);
    if due.total == invoice.amount {
        return pix_payload(invoice, wallet, company);
    }
    let txid = format!("{}D{}", pix_txid(invoice.id), today.strftime("%Y%m%d"));
    static_pix(invoice, wallet, company, due.total, txid)
}

/// The boleto's bank fields: the wallet's, and the invoice's our number, dates and amount.
fn wallet_input(invoice: OurNumberOf, wallet: &BillingWallet) -> BoletoInput {
    // Sicredi's agreement is kept as "posto.código" (docs/boleto.md).
    let (station, agreement) = match (wallet.bank_code.as_str(), wallet.agreement.split_once('.')) {
        ("748", Some((station, code))) => (Some(station), code),
        _ => (None, wallet.agreement.as_str()),
    };
    let (account, account_digit) = match wallet.account.split_once('-') {
        Some((a, d)) => (a.to_string(), Some(d.to_string())),
        None => (wallet.account.clone(), None),
    };
    BoletoInput {
        bank: wallet.bank_code.clone(),
        agency: wallet.agency.clone(),
        account: Some(account),
        account_digit,
        wallet: Some(wallet.wallet_code.clone()),
        agreement: Some(agreement.to_string()),
        extra: boleto::Extra {
            station: station.map(str::to_string),
            ..boleto::Extra::default()
        },
        our_number: invoice.our_number.to_string(),
        due_date: invoice.due_date,
        issue_date: Some(invoice.issue_date),
        amount_cents: u64::try_from(invoice.amount.cents()).unwrap_or(0),
        ..BoletoInput::default()
    }
}

/// The PIX copia-e-cola of an invoice: a static BR Code to the wallet's key with the amount
/// and the invoice's our number as transaction id; `None` when the wallet has no PIX key or
/// the code cannot be built (e.g. a key longer than the BR Code allows).
pub fn pix_payload(
    invoice: &Invoice,
    wallet: &BillingWallet,
    company: &CompanyProfile,
) -> Option<String> {
    static_pix(
        invoice,
        wallet,
        company,
        invoice.amount,
        pix_txid(invoice.id),
    )
}

/// A static BR Code to the wallet's key for `amount` with `txid`; `None` without a key or when
/// the code cannot be built.
fn static_pix(
    invoice: &Invoice,
    wallet: &BillingWallet,
    company: &CompanyProfile,
    amount: crate::domain::Money,
    txid: String,
) -> Option<String> {
    let key = wallet.pix_key.as_deref()?;
    let mut code = BrCode::new_static(
        key,
        &pix_text(&company.name, 25),
        &pix_text(&company.city, 15),
    );
    code.amount_cents = u64::try_from(amount.cents()).ok();
    code.txid = txid;
    match code.to_payload() {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(invoice = invoice.id.0, error = %e, "cannot build the PIX code");
            None
        }
    }
}

/// The PIX transaction id of an invoice: `REGUA` and its id, unique per invoice (an our number
/// is unique only within its wallet), so a PSP's payment notice names exactly one invoice.
pub fn pix_txid(invoice: crate::domain::InvoiceId) -> String {
    format!("REGUA{}", invoice.0)
}

/// The invoice a PIX transaction id names, if it is one of Régua's: `REGUA<id>`, or
/// `REGUA<id>D<AAAAMMDD>` for the amount due on a day ([`pix_payload_due_today`]).
pub fn invoice_of_txid(txid: &str) -> Option<crate::domain::InvoiceId> {
    let n = txid.trim().strip_prefix("REGUA")?;
    let n = match n.split_once('D') {
        Some((id, day)) if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) => id,
        Some(_) => return None,
        None => n,
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().map(crate::domain::InvoiceId)
}

/// The BR Code's merchant fields want plain upper-case ASCII within a length.
fn pix_text(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'Á' | 'À' | 'Â' | 'Ã' => 'A',
            'é' | 'ê' | 'É' | 'Ê' => 'E',
            'í' | 'Í' => 'I',
            'ó' | 'ô' | 'õ' | 'Ó' | 'Ô' | 'Õ' => 'O',
            'ú' | 'ü' | 'Ú' | 'Ü' => 'U',
            'ç' | 'Ç' => 'C',
            c if c.is_ascii_alphanumeric() || c == ' ' => c.to_ascii_uppercase(),
            _ => ' ',
        })
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The invoice's page in the subscriber portal.
pub fn portal_link(invoice: &Invoice, company: &CompanyProfile) -> String {
    format!("{}/central/faturas/{}", company.portal_url, invoice.id)
}

/// What a subscriber pays an invoice with today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCodes {
    /// The registered boleto's digitable line (when the bank's codes can be built).
    pub line: Option<String>,
    /// The PIX copia-e-cola for the amount due today (when the wallet has a key).
    pub pix: Option<String>,
    /// The amount due today: fine and interest when late (docs/charges.md).
    pub due: crate::domain::charges::AmountDue,
}

/// What a subscriber pays an invoice with `today`, read from the database: the registered
/// boleto's line, the PIX code for the amount due today, and that amount. The portal's page
/// and the app's API show the same.
pub async fn payment_codes(
    conn: &mut sqlx::AnyConnection,
    invoice: &Invoice,
    today: jiff::civil::Date,
) -> anyhow::Result<PaymentCodes> {
    let customer = crate::store::parties::get_customer(conn, invoice.customer_id).await?;
    let wallet = crate::store::parties::get_wallet(conn, invoice.wallet_id).await?;
    let company = crate::store::parties::company_profile(conn).await?;
    let line = boleto_input(invoice, &customer, &wallet, &company)
        .codes()
        .map(|c| c.digitable_line.formatted())
        .ok();
    Ok(PaymentCodes {
        line,
        pix: pix_payload_due_today(invoice, &wallet, &company, today),
        due: amount_due_today(invoice, &wallet, today),
    })
}

/// An invoice's boleto PDF, read from the database: what the admin pages, the REST API and the
/// portal download.
pub async fn boleto_pdf(
    conn: &mut sqlx::AnyConnection,
    invoice: &Invoice,
) -> anyhow::Result<Vec<u8>> {
    let customer = crate::store::parties::get_customer(conn, invoice.customer_id).await?;
    let wallet = crate::store::parties::get_wallet(conn, invoice.wallet_id).await?;
    let company = crate::store::parties::company_profile(conn).await?;
    let input = boleto_input(invoice, &customer, &wallet, &company);
    render_boletos(&[input]).map_err(anyhow::Error::from)
}

/// A boleto that cannot be issued from what is stored (an amount over the boleto's 10 digits,
/// a due date its factor cannot express): nothing retried changes that. The pages and the API
/// answer 422 with it, the worker marks the notice dead with it, instead of failing as if the
/// server broke.
#[derive(Debug, thiserror::Error)]
#[error("the boleto cannot be issued: {0}")]
pub struct Unissuable(pub String);

impl Unissuable {
    /// The reason in Portuguese, for pages and the log shown to finance staff.
    pub fn pt(&self) -> String {
        format!("O boleto desta fatura não pode ser gerado: {}", self.0)
    }
}

/// The PDF of one or more boletos (one page each).
pub fn render_boletos(inputs: &[boleto::BoletoInput]) -> Result<Vec<u8>, Unissuable> {
    boleto::pdf::render_pdf(inputs).map_err(|e| Unissuable(e.to_string()))
}

/// A boleto's or letter's file name from an invoice's or contract's id: `prefix-ID.pdf` with
/// every character outside `A-Za-z0-9._-` made `-`, so the name is safe in a MIME header, a
/// `Content-Disposition` and a file system whatever the ERP's ids contain.
pub fn pdf_file_name(prefix: &str, id: &str) -> String {
    let safe: String = id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{safe}.pdf")
}

/// The fields of an invoice its printed our number is made of (with its wallet's).
#[derive(Debug, Clone, Copy)]
pub struct OurNumberOf {
    /// The our number as stored.
    pub our_number: i64,
    /// Issue date (Sicredi puts its year in the number).
    pub issue_date: jiff::civil::Date,
    /// Due date.
    pub due_date: jiff::civil::Date,
    /// Amount.
    pub amount: crate::domain::Money,
}

impl From<&crate::store::bank_returns::PayableInvoice> for OurNumberOf {
    fn from(i: &crate::store::bank_returns::PayableInvoice) -> Self {
        OurNumberOf {
            our_number: i.our_number,
            issue_date: i.issue_date,
            due_date: i.due_date,
            amount: i.amount,
        }
    }
}

impl From<&Invoice> for OurNumberOf {
    fn from(i: &Invoice) -> Self {
        OurNumberOf {
            our_number: i.our_number,
            issue_date: i.issue_date,
            due_date: i.due_date,
            amount: i.amount,
        }
    }
}

/// An invoice's our number as its bank prints it (with its check digit), from the wallet it is
/// drawn on: what a return file's records are matched against. `None` when the wallet cannot
/// issue it (a missing agreement, say).
pub fn printed_our_number(invoice: OurNumberOf, wallet: &BillingWallet) -> Option<String> {
    wallet_input(invoice, wallet)
        .codes()
        .ok()
        .map(|c| c.our_number)
}

/// The ERP's own boleto on an invoice, checked: kept instead of Régua's (docs/import.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErpBoleto {
    /// The our number the ERP registered.
    pub our_number: Option<i64>,
    /// Its barcode (44 digits).
    pub barcode: Option<String>,
    /// Its PIX copia-e-cola.
    pub pix: Option<String>,
}

/// The ERP's boleto as typed (a CSV row, an API body); empty texts are absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErpBoletoText<'a> {
    /// `our_number`.
    pub our_number: &'a str,
    /// `digitable_line` (or the 44-digit barcode).
    pub digitable_line: &'a str,
    /// `pix_code`.
    pub pix_code: &'a str,
}

/// Checks an ERP's boleto against its invoice: the wallet's `bank`, the `amount` and the `due`
/// date must be the line's; the PIX code must be valid (CRC) and, when it has an amount, for
/// this one; an our number goes with a line. The field at fault and why (English).
pub fn check_erp_boleto(
    given: &ErpBoletoText,
    bank: Option<&str>,
    amount: Option<crate::domain::Money>,
    due: Option<jiff::civil::Date>,
) -> Result<ErpBoleto, (&'static str, String)> {
    use crate::domain::Money;
    let mut out = ErpBoleto::default();
    match given.our_number.trim() {
        "" => {}
        n => match n.parse::<i64>() {
            Ok(v) if v > 0 && n.bytes().all(|b| b.is_ascii_digit()) => out.our_number = Some(v),
            _ => return Err(("our_number", format!("{n:?} is not a number"))),
        },
    }
    match given.digitable_line.trim() {
        "" => {}
        line => {
            let barcode = boleto::DigitableLine::parse_any(line)
                .map_err(|e| ("digitable_line", format!("not a valid boleto line: {e}")))?;
            let why = if bank.is_some_and(|b| b != barcode.bank()) {
                Some(format!(
                    "is of bank {}, the contract's wallet is of bank {}",
                    barcode.bank(),
                    bank.unwrap_or_default()
                ))
            } else if amount
                .is_some_and(|a| u64::try_from(a.cents()).ok() != Some(barcode.amount_cents()))
            {
                Some(format!(
                    "is for {}, the row for {}",
                    Money(i64::try_from(barcode.amount_cents()).unwrap_or(i64::MAX)),
                    amount.unwrap_or_default()
                ))
            } else if due.is_some_and(|d| boleto::due_date_factor(d).ok() != Some(barcode.factor()))
            {
                Some(format!(
                    "falls due on another date than {}",
                    due.map(crate::domain::format_date).unwrap_or_default()
                ))
            } else {
                None
            };
            if let Some(reason) = why {
                return Err(("digitable_line", reason));
            }
            out.barcode = Some(barcode.as_str().to_string());
        }
    }
    match given.pix_code.trim() {
        "" => {}
        code => {
            let pix = boleto::BrCode::parse(code)
                .map_err(|e| ("pix_code", format!("not a valid PIX code: {e}")))?;
            if pix.amount_cents.is_some()
                && amount.is_some_and(|a| u64::try_from(a.cents()).ok() != pix.amount_cents)
            {
                return Err(("pix_code", "is for another amount than the row".into()));
            }
            out.pix = Some(code.to_string());
        }
    }
    if out.barcode.is_some() && out.our_number.is_none() {
        return Err((
            "our_number",
            "is required with the ERP's digitable line (the boleto's nosso número)".into(),
        ));
    }
    Ok(out)
}

/// The collection letter of a band notice as a letter (docs/dunning.md, "Cartas"): the
/// company's letterhead (name, CNPJ, address, phone, e-mail), the customer's name and postal
/// address, place and date, the subject, the band model's text rendered with `carta` true
/// (`text`), and the customer's open invoices with due dates and amounts.
pub fn letter_doc(
    company: &CompanyProfile,
    customer: &Customer,
    ctx: &crate::layouts::LayoutContext,
    subject: &str,
    text: &str,
    today: jiff::civil::Date,
) -> boleto::pdf::LetterDoc {
    let mut sender = vec![company.name.clone()];
    if !company.document.is_empty() {
        sender.push(format!("CNPJ {}", company.document));
    }
    if !company.address.is_empty() {
        sender.push(company.address.clone());
    }
    let contact: Vec<&str> = [company.phone.as_str(), company.email.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !contact.is_empty() {
        sender.push(contact.join(" · "));
    }
    let mut recipient = vec![customer.name.clone()];
    if let Some(a) = &customer.address {
        recipient.push(a.street_line());
        recipient.push(a.district.clone());
        recipient.push(format!(
            "{}/{} - CEP {}",
            a.city,
            a.state,
            a.zip_formatted()
        ));
    }
    let place = company.city.trim();
    let date = crate::domain::format_date_long(today);
    // The e-mail frame's lines that a letter does not print, for a layout written before the
    // `carta` variable: the sender's name alone (the letterhead has it) and the notice that
    // the message is automatic.
    let body: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.trim();
            l != company.name.trim() && !l.contains("mensagem automática")
        })
        .collect();
    boleto::pdf::LetterDoc {
        sender,
        recipient,
        place_date: if place.is_empty() {
            date
        } else {
            format!("{place}, {date}")
        },
        subject: subject.to_string(),
        body: body.join("\n").trim().to_string(),
        table_head: vec![
            "Fatura".into(),
            "Vencimento".into(),
            "Valor".into(),
            "Valor hoje".into(),
        ],
        table: ctx
            .open_invoices
            .iter()
            .map(|f| {
                vec![
                    f.number.clone(),
                    f.due_date.clone(),
                    f.amount.clone(),
                    f.amount_due.clone(),
                ]
            })
            .collect(),
        total: if ctx.open_invoices.is_empty() {
            String::new()
        } else {
            format!("Total em aberto: {}", ctx.open_total)
        },
        signature: company.name.clone(),
    }
}
