//! Writing remessa files ("arquivo de remessa"): the titles a beneficiary sends its bank to
//! register ("entrada de título"), write off ("pedido de baixa") or change ("alteração de
//! vencimento"). CNAB 240 (FEBRABAN, segments P, Q and R) and CNAB 400 (each bank's own layout).
//! Pure: inputs in, bytes out; which invoices go in a file, and its sequence number, are the
//! caller's. The positions and their sources are in `docs/remessa.md`.
//!
//! Every line is exactly 240 or 400 characters of upper-case ASCII, ended by CR LF; text is
//! transliterated (accents dropped), cleaned of characters banks refuse and cut to its field;
//! numbers are right-aligned and zero-padded, and a number too long for its field is an error,
//! never silently cut.

use std::fmt;

use jiff::civil::{Date, DateTime};

use crate::Bank;

/// What a title line asks the bank to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Register the title ("entrada de título").
    Entry,
    /// Write it off ("pedido de baixa").
    WriteOff,
    /// Change its due date ("alteração de vencimento").
    ChangeDueDate,
    /// Change its amount ("alteração de outros dados", the line carrying the new amount).
    ChangeAmount,
}

/// Who a title is drawn on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payer {
    /// CPF (11 digits) or CNPJ (14 digits), digits only.
    pub document: String,
    /// Name.
    pub name: String,
    /// Street, number and complement.
    pub street: String,
    /// District (bairro).
    pub district: String,
    /// CEP, 8 digits.
    pub zip: String,
    /// City.
    pub city: String,
    /// UF, two letters.
    pub state: String,
}

/// One title of a remessa.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    /// What the line asks.
    pub movement: Movement,
    /// Our number as the bank's layout writes it at its field (see
    /// [`remessa_our_number`]), digits (Bradesco's check digit may be `P`).
    pub our_number: String,
    /// The beneficiary's document number ("seu número"), up to 10–15 characters.
    pub document_number: String,
    /// Due date.
    pub due_date: Date,
    /// Issue date.
    pub issue_date: Date,
    /// Face amount in centavos.
    pub amount_cents: u64,
    /// The payer.
    pub payer: Payer,
    /// Fine after the due date, basis points (2 % = 200); 0 = none.
    pub fine_bp: u32,
    /// Interest a day after the due date, in centavos; 0 = none.
    pub interest_per_day_cents: u64,
    /// Discount in centavos, with the last day it holds; `None` = none.
    pub discount: Option<(u64, Date)>,
    /// Days after the due date the bank writes it off; `None` = the bank's default.
    pub write_off_days: Option<u32>,
}

/// The beneficiary and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The bank.
    pub bank: Bank,
    /// The beneficiary's name (razão social).
    pub company_name: String,
    /// Its CNPJ (14 digits) or CPF (11), digits only.
    pub company_document: String,
    /// Agência, digits.
    pub agency: String,
    /// Agência's check digit, where the bank has one and the wallet gives it.
    pub agency_digit: Option<String>,
    /// Conta, digits.
    pub account: String,
    /// Conta's check digit.
    pub account_digit: Option<String>,
    /// Convênio / código do beneficiário / código de transmissão, digits.
    pub agreement: String,
    /// Carteira.
    pub wallet: String,
    /// Variação da carteira (Banco do Brasil), when there is one.
    pub wallet_variation: Option<String>,
    /// The file's sequence number (NSA), per wallet, from 1.
    pub sequence: u32,
    /// CAIXA's "versão do aplicativo" (4 characters at 212-215 of the CNAB 240 file header),
    /// when the bank gave the beneficiary one.
    pub application_version: Option<String>,
    /// When the file is generated (the ISP's local time).
    pub generated_at: DateTime,
}

/// A remessa's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// FEBRABAN CNAB 240.
    Cnab240,
    /// The bank's CNAB 400.
    Cnab400,
}

/// Why a remessa could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemessaError {
    /// The title (0-based) it is about, or `None` for the header.
    pub title: Option<usize>,
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl fmt::Display for RemessaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.title {
            Some(t) => write!(f, "title {}: {}: {}", t + 1, self.field, self.reason),
            None => write!(f, "header: {}: {}", self.field, self.reason),
        }
    }
}

impl std::error::Error for RemessaError {}

/// Which bank and layout pairs Régua writes.
pub fn supports(bank: Bank, layout: Layout) -> bool {
    matches!(
        (bank, layout),
        (
            Bank::BancoDoBrasil | Bank::Santander | Bank::Caixa | Bank::Sicredi | Bank::Sicoob,
            Layout::Cnab240
        ) | (Bank::Bradesco | Bank::Itau, Layout::Cnab400)
    )
}

/// Writes the remessa: lines of 240 or 400 characters, CR LF after each.
pub fn write_remessa(
    layout: Layout,
    header: &Header,
    titles: &[Title],
) -> Result<Vec<u8>, RemessaError> {
    if !supports(header.bank, layout) {
        return Err(RemessaError {
            title: None,
            field: "layout",
            reason: format!(
                "Régua writes no {} remessa for bank {}",
                match layout {
                    Layout::Cnab240 => "CNAB 240",
                    Layout::Cnab400 => "CNAB 400",
                },
                header.bank.code()
            ),
        });
    }
    let lines = match layout {
        Layout::Cnab240 => cnab240::write(header, titles)?,
        Layout::Cnab400 => cnab400::write(header, titles)?,
    };
    let mut out = Vec::with_capacity(lines.len() * 402);
    for l in lines {
        debug_assert!(l.0.len() == 240 || l.0.len() == 400);
        out.extend_from_slice(l.0.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// Our number at the remessa's field, from the number the bank prints on the boleto
/// (`BoletoCodes::our_number`): its digits (and Bradesco's `P`), arranged as the layout wants.
pub fn remessa_our_number(bank: Bank, layout: Layout, printed: &str) -> String {
    let digits: String = printed
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'P')
        .collect();
    match (bank, layout) {
        // Itaú prints carteira/nosso número-DAC; the remessa's field is the 8 digits.
        (Bank::Itau, _) if digits.len() >= 11 => digits[3..11].to_string(),
        // Bradesco prints carteira/nosso número-DV; the remessa's field is 11 + DV.
        (Bank::Bradesco, _) if digits.len() >= 14 => digits[2..].to_string(),
        // CAIXA prints modalidade + nosso número (17) and its DV; the field has no DV.
        (Bank::Caixa, _) if digits.len() == 18 => digits[..17].to_string(),
        _ => digits,
    }
}

/// A record being written: positions are 1-based and inclusive, as the manuals print them.
struct Line(String);

/// Text as a bank takes it: upper-case ASCII, accents dropped, only letters, digits, spaces
/// and a few signs (`-`, `/`, `&`, `.` are kept where harmless; brcobranca-style cleaning
/// drops `,!^?\@`), runs of spaces collapsed.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'O',
            'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
            'ç' | 'Ç' => 'C',
            'ñ' | 'Ñ' => 'N',
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
            '-' | '&' => c,
            _ => ' ',
        };
        if c == ' ' {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out.trim_end().to_string()
}

impl Line {
    fn new(width: usize) -> Line {
        Line(" ".repeat(width))
    }

    fn put(&mut self, a: usize, b: usize, text: &str) {
        debug_assert_eq!(text.len(), b - a + 1, "{a}-{b}: {text:?}");
        self.0.replace_range(a - 1..b, text);
    }

    /// Text, left-aligned, cleaned, cut to the field.
    fn alpha(&mut self, a: usize, b: usize, text: &str) -> &mut Line {
        let width = b - a + 1;
        let clean: String = clean_text(text).chars().take(width).collect();
        self.put(a, b, &format!("{clean:<width$}"));
        self
    }

    /// A number, right-aligned and zero-padded; too long is an error.
    fn num(&mut self, a: usize, b: usize, value: impl fmt::Display) -> Result<&mut Line, String> {
        let width = b - a + 1;
        let v = value.to_string();
        if v.len() > width {
            return Err(format!("{v} does not fit in {width} digits ({a}-{b})"));
        }
        self.put(a, b, &format!("{v:0>width$}"));
        Ok(self)
    }

    /// Zeros.
    fn zeros(&mut self, a: usize, b: usize) -> &mut Line {
        self.put(a, b, &"0".repeat(b - a + 1));
        self
    }

    /// A raw value that must fill the field exactly (codes, already formatted digits).
    fn raw(&mut self, a: usize, b: usize, value: &str) -> &mut Line {
        let width = b - a + 1;
        let v: String = value.chars().take(width).collect();
        self.put(a, b, &format!("{v:<width$}"));
        self
    }
}

fn ddmmaa(d: Date) -> String {
    d.strftime("%d%m%y").to_string()
}

fn ddmmaaaa(d: Date) -> String {
    d.strftime("%d%m%Y").to_string()
}

fn digits_only(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// CPF → 1, CNPJ → 2 (the FEBRABAN "tipo de inscrição"; CNAB 400 writes 01/02).
fn inscription_type(document: &str) -> u8 {
    if digits_only(document).len() > 11 {
        2
    } else {
        1
    }
}

/// Modulo 11 check digit with weights 2..9 from the right (Banco do Brasil's agência and
/// conta); 10 → `X`, 11 → `0`.
fn bb_dv(digits: &str, weights_from: u32, weights_to: u32) -> char {
    let mut w = weights_from;
    let mut sum = 0;
    for d in digits.bytes().rev() {
        sum += u32::from(d - b'0') * w;
        w = if w == weights_to { weights_from } else { w + 1 };
    }
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    }
}

/// Errors of a title's field.
fn at(title: usize, field: &'static str) -> impl Fn(String) -> RemessaError {
    move |reason| RemessaError {
        title: Some(title),
        field,
        reason,
    }
}

fn at_header(field: &'static str) -> impl Fn(String) -> RemessaError {
    move |reason| RemessaError {
        title: None,
        field,
        reason,
    }
}

mod cnab240 {
    use super::*;

    /// The check digit of an agência or conta where the bank uses modulo 11 (Banco do Brasil,
    /// Santander, Sicoob), unless the wallet gives it.
    fn dv(given: &Option<String>, digits: &str) -> String {
        given
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| bb_dv(digits, 2, 9).to_string())
    }

    /// The beneficiary block of the file header at 33-72 (the batch header's 34-73 is the same
    /// except where noted), per bank's manual.
    fn header_block(h: &Header, batch: bool) -> Result<String, RemessaError> {
        let mut l = Line::new(40);
        let e = at_header;
        match h.bank {
            Bank::BancoDoBrasil => {
                // convênio (9), "0014" (cobrança cedente), carteira (2), variação (3), 2
                // blanks; agência (5) + DV, conta (12) + DV, blank.
                l.num(1, 9, &h.agreement).map_err(e("agreement"))?;
                l.raw(10, 13, "0014");
                l.num(14, 15, &h.wallet).map_err(e("wallet"))?;
                l.num(16, 18, h.wallet_variation.as_deref().unwrap_or("0"))
                    .map_err(e("wallet_variation"))?;
                l.num(21, 25, &h.agency).map_err(e("agency"))?;
                l.raw(26, 26, &dv(&h.agency_digit, &h.agency));
                l.num(27, 38, &h.account).map_err(e("account"))?;
                l.raw(39, 39, &dv(&h.account_digit, &h.account));
            }
            Bank::Santander => {
                // The código de transmissão (15): the file header's 33-47, the batch header's
                // 54-68 (after 20 blanks).
                let at = if batch { 21 } else { 1 };
                l.num(at, at + 14, &h.agreement).map_err(e("agreement"))?;
            }
            Bank::Caixa => {
                // File: 20 zeros, agência (5) + DV, código do beneficiário (6), 8 zeros.
                // Batch: código do beneficiário (6) + 14 zeros, then the same.
                if batch {
                    l.num(1, 6, &h.agreement).map_err(e("agreement"))?;
                    l.zeros(7, 20);
                } else {
                    l.zeros(1, 20);
                }
                l.num(21, 25, &h.agency).map_err(e("agency"))?;
                l.raw(26, 26, h.agency_digit.as_deref().unwrap_or("0"));
                l.num(27, 32, &h.agreement).map_err(e("agreement"))?;
                l.zeros(33, 40);
            }
            Bank::Sicredi | Bank::Sicoob => {
                // 20 blanks, agência (5) + DV (Sicredi: blank), conta (12) + DV, blank.
                l.num(21, 25, &h.agency).map_err(e("agency"))?;
                if h.bank == Bank::Sicoob {
                    l.raw(26, 26, &dv(&h.agency_digit, &h.agency));
                }
                l.num(27, 38, &h.account).map_err(e("account"))?;
                l.raw(39, 39, &dv(&h.account_digit, &h.account));
            }
            Bank::Bradesco | Bank::Itau => return Err(no_writer(h.bank)),
        }
        Ok(l.0)
    }

    fn no_writer(bank: Bank) -> RemessaError {
        RemessaError {
            title: None,
            field: "bank",
            reason: format!("no CNAB 240 writer for {}", bank.code()),
        }
    }

    fn bank_name(bank: Bank) -> &'static str {
        match bank {
            Bank::BancoDoBrasil => "BANCO DO BRASIL SA",
            Bank::Santander => "BANCO SANTANDER",
            Bank::Caixa => "CAIXA ECONOMICA FEDERAL",
            Bank::Bradesco => "BRADESCO",
            Bank::Itau => "BANCO ITAU SA",
            Bank::Sicredi => "SICREDI",
            Bank::Sicoob => "SICOOB",
        }
    }

    /// (file layout version at 164-166, density at 167-171, batch layout version at 14-16)
    fn versions(bank: Bank) -> (&'static str, &'static str, &'static str) {
        match bank {
            Bank::BancoDoBrasil => ("083", "00000", "042"),
            Bank::Santander => ("040", "", "030"),
            Bank::Caixa => ("050", "00000", "030"),
            Bank::Sicredi => ("081", "01600", "040"),
            _ => ("081", "00000", "040"),
        }
    }

    pub(super) fn write(h: &Header, titles: &[Title]) -> Result<Vec<Line>, RemessaError> {
        let bank = h.bank.code();
        let doc = digits_only(&h.company_document);
        let (file_version, density, batch_version) = versions(h.bank);
        let mut lines = Vec::new();

        // File header.
        let mut l = Line::new(240);
        l.raw(1, 3, bank).raw(4, 7, "0000").raw(8, 8, "0");
        if h.bank == Bank::Santander {
            // Santander: 9-16 blanks, 17 the inscription type, 18-32 the CNPJ (15).
            l.num(17, 17, inscription_type(&doc))
                .map_err(at_header("company_document"))?;
            l.num(18, 32, &doc).map_err(at_header("company_document"))?;
        } else {
            l.num(18, 18, inscription_type(&doc))
                .map_err(at_header("company_document"))?;
            l.num(19, 32, &doc).map_err(at_header("company_document"))?;
        }
        l.put(33, 72, &header_block(h, false)?);
        l.alpha(73, 102, &h.company_name)
            .alpha(103, 132, bank_name(h.bank))
            .raw(143, 143, "1")
            .raw(144, 151, &ddmmaaaa(h.generated_at.date()));
        if h.bank != Bank::Santander {
            l.raw(152, 157, &h.generated_at.strftime("%H%M%S").to_string());
        }
        l.num(158, 163, h.sequence).map_err(at_header("sequence"))?;
        l.raw(164, 166, file_version);
        if !density.is_empty() {
            l.raw(167, 171, density);
        }
        match h.bank {
            // Reserved for the bank (172-191) and the company (192-211): zeros.
            Bank::BancoDoBrasil => {
                l.zeros(172, 211);
            }
            // CAIXA: "uso exclusivo" blank, then the remessa's situation and the
            // beneficiary's application version, when CAIXA gave one.
            Bank::Caixa => {
                l.zeros(167, 171);
                l.raw(192, 211, "REMESSA-PRODUCAO");
                l.raw(212, 215, h.application_version.as_deref().unwrap_or(""));
            }
            _ => {}
        }
        lines.push(l);

        // Batch header.
        let mut l = Line::new(240);
        l.raw(1, 3, bank)
            .raw(4, 7, "0001")
            .raw(8, 8, "1")
            .raw(9, 9, "R")
            .raw(10, 11, "01")
            .raw(14, 16, batch_version);
        if h.bank == Bank::Caixa {
            // CAIXA's batch header has "00" at 12-13 in its layout version field.
            l.raw(12, 13, "00");
        }
        l.num(18, 18, inscription_type(&doc))
            .map_err(at_header("company_document"))?;
        l.num(19, 33, &doc).map_err(at_header("company_document"))?;
        l.put(34, 73, &header_block(h, true)?);
        l.alpha(74, 103, &h.company_name);
        l.num(184, 191, h.sequence).map_err(at_header("sequence"))?;
        l.raw(192, 199, &ddmmaaaa(h.generated_at.date()))
            .zeros(200, 207);
        lines.push(l);

        let mut seq = 0u32;
        let mut total_cents = 0u64;
        for (i, t) in titles.iter().enumerate() {
            total_cents += t.amount_cents;
            let movement = match t.movement {
                Movement::Entry => "01",
                Movement::WriteOff => "02",
                Movement::ChangeDueDate => "06",
                Movement::ChangeAmount => "31",
            };
            let segment = |seq: &mut u32, code: &str| {
                *seq += 1;
                let mut l = Line::new(240);
                l.raw(1, 3, bank).raw(4, 7, "0001").raw(8, 8, "3");
                l.put(9, 13, &format!("{:05}", *seq));
                l.raw(14, 14, code).raw(16, 17, movement);
                l
            };
            lines.push(segment_p(h, t, segment(&mut seq, "P")).map_err(|(f, r)| at(i, f)(r))?);
            lines.push(segment_q(h, t, segment(&mut seq, "Q")).map_err(|(f, r)| at(i, f)(r))?);
            lines.push(segment_r(h, t, segment(&mut seq, "R")).map_err(|(f, r)| at(i, f)(r))?);
        }

        // Batch trailer: its records, header and trailer included.
        let mut l = Line::new(240);
        l.raw(1, 3, bank).raw(4, 7, "0001").raw(8, 8, "5");
        l.put(18, 23, &format!("{:06}", seq + 2));
        match h.bank {
            Bank::BancoDoBrasil => {
                l.zeros(24, 240);
            }
            Bank::Caixa => {
                l.zeros(24, 92);
            }
            Bank::Sicoob => {
                // Totals of the simple collection: titles (24-29), amount (30-46).
                l.put(24, 29, &format!("{:06}", titles.len()));
                l.num(30, 46, total_cents)
                    .map_err(at_header("amount"))?
                    .zeros(47, 115);
            }
            Bank::Sicredi => {
                l.zeros(24, 115);
            }
            _ => {}
        }
        lines.push(l);

        // File trailer.
        let mut l = Line::new(240);
        l.raw(1, 3, bank).raw(4, 7, "9999").raw(8, 8, "9");
        l.put(18, 23, "000001");
        l.put(24, 29, &format!("{:06}", lines.len() + 1));
        if matches!(h.bank, Bank::Sicredi | Bank::Sicoob) {
            l.zeros(30, 35);
        }
        lines.push(l);
        Ok(lines)
    }

    type Field = (&'static str, String);

    /// Segment P: the title.
    fn segment_p(h: &Header, t: &Title, mut p: Line) -> Result<Line, Field> {
        let f = |field: &'static str| move |r: String| (field, r);
        // 18-57: agência, conta and our number, per bank.
        match h.bank {
            Bank::BancoDoBrasil => {
                p.num(18, 22, &h.agency).map_err(f("agency"))?;
                p.raw(23, 23, &dv(&h.agency_digit, &h.agency));
                p.num(24, 35, &h.account).map_err(f("account"))?;
                p.raw(36, 36, &dv(&h.account_digit, &h.account));
                // convênio + sequencial, left-aligned.
                fit(&t.our_number, 20)?;
                p.raw(38, 57, &t.our_number);
            }
            Bank::Santander => {
                // agência (4) + DV, conta (9) + DV, conta cobrança (9) + DV, 2 blanks, our
                // number (12 + DV).
                p.num(18, 21, &h.agency).map_err(f("agency"))?;
                p.raw(22, 22, &dv(&h.agency_digit, &h.agency));
                let account_dv = h.account_digit.clone().unwrap_or_default();
                p.num(23, 31, &h.account).map_err(f("account"))?;
                p.raw(32, 32, &account_dv);
                p.num(33, 41, &h.account).map_err(f("account"))?;
                p.raw(42, 42, &account_dv);
                p.num(45, 57, &t.our_number).map_err(f("our_number"))?;
            }
            Bank::Caixa => {
                // agência (5) + DV, código do beneficiário (6), 11 zeros, modalidade (2) +
                // nosso número (15).
                p.num(18, 22, &h.agency).map_err(f("agency"))?;
                p.raw(23, 23, h.agency_digit.as_deref().unwrap_or("0"));
                p.num(24, 29, &h.agreement).map_err(f("agreement"))?;
                p.zeros(30, 40);
                p.num(41, 57, &t.our_number).map_err(f("our_number"))?;
            }
            Bank::Sicredi => {
                p.num(18, 22, &h.agency).map_err(f("agency"))?;
                p.num(24, 35, &h.account).map_err(f("account"))?;
                p.raw(36, 36, &dv(&h.account_digit, &h.account));
                fit(&t.our_number, 20)?;
                p.raw(38, 57, &t.our_number);
            }
            Bank::Sicoob => {
                // agência + DV, conta + DV, blank, nosso número (10 with DV), parcela "01",
                // modalidade "01", formulário "4" (A4 sem envelopamento), 5 blanks.
                p.num(18, 22, &h.agency).map_err(f("agency"))?;
                p.raw(23, 23, &dv(&h.agency_digit, &h.agency));
                p.num(24, 35, &h.account).map_err(f("account"))?;
                p.raw(36, 36, &dv(&h.account_digit, &h.account));
                p.num(38, 47, &t.our_number).map_err(f("our_number"))?;
                p.raw(48, 52, "01014");
            }
            Bank::Bradesco | Bank::Itau => return Err(("bank", "no CNAB 240 writer".into())),
        }
        // 58-62: carteira, cadastramento, tipo de documento, emissão, distribuição.
        p.raw(
            58,
            62,
            match h.bank {
                Bank::BancoDoBrasil => "71 00",
                Bank::Santander => "112  ",
                Bank::Caixa => "11220",
                Bank::Sicredi => "11122",
                _ => "10 22",
            },
        );
        // 63-77: "número do documento" (seu número).
        let document = digits_only(&t.document_number);
        let numeric = !document.is_empty() && document.len() == t.document_number.len();
        match h.bank {
            Bank::Santander => {
                p.alpha(63, 77, &t.document_number);
            }
            Bank::Caixa if numeric => {
                p.num(63, 73, &document).map_err(f("document_number"))?;
            }
            _ if numeric => {
                p.num(63, 77, &document).map_err(f("document_number"))?;
            }
            _ => {
                p.alpha(63, 77, &t.document_number);
            }
        }
        p.raw(78, 85, &ddmmaaaa(t.due_date));
        p.num(86, 100, t.amount_cents).map_err(f("amount"))?;
        // 101-105 agência cobradora, 106 its DV (the bank chooses), espécie, aceite "N".
        p.zeros(101, 105);
        let species = match h.bank {
            Bank::Caixa => {
                p.raw(106, 106, "0");
                "99"
            }
            Bank::Sicredi => "03",
            _ => "02",
        };
        p.raw(107, 108, species).raw(109, 109, "N");
        p.raw(110, 117, &ddmmaaaa(t.issue_date));
        let day_after = ddmmaaaa(t.due_date.tomorrow().unwrap_or(t.due_date));
        if t.interest_per_day_cents > 0 {
            // 1 = valor por dia, from the day after the due date.
            p.raw(118, 118, "1").raw(119, 126, &day_after);
            p.num(127, 141, t.interest_per_day_cents)
                .map_err(f("interest"))?;
        } else {
            // No interest: "isento" (3), or as the bank's manual writes it.
            match h.bank {
                Bank::Caixa | Bank::Sicredi => {
                    p.raw(118, 118, "1")
                        .raw(119, 126, &day_after)
                        .zeros(127, 141);
                }
                Bank::Sicoob => {
                    p.zeros(118, 141);
                }
                _ => {
                    p.raw(118, 118, "3").zeros(119, 141);
                }
            }
        }
        match t.discount {
            Some((cents, until)) => {
                p.raw(142, 142, "1").raw(143, 150, &ddmmaaaa(until));
                p.num(151, 165, cents).map_err(f("discount"))?;
            }
            None => {
                let code = if h.bank == Bank::Sicredi { "1" } else { "0" };
                p.raw(142, 142, code).zeros(143, 165);
            }
        }
        p.zeros(166, 195);
        // 196-220 "uso da empresa": the document number, for the return file to name it.
        match h.bank {
            Bank::BancoDoBrasil | Bank::Sicredi | Bank::Sicoob => {}
            Bank::Caixa if numeric => {
                p.num(196, 206, &document).map_err(f("document_number"))?;
            }
            _ => {
                p.alpha(196, 220, &t.document_number);
            }
        }
        // 221 protest code (3 = não protestar; Sicoob 1 with 0 days), 222-223 its days,
        // 224 write-off code, 225-227 its days, 228-229 currency "09", 230-239 contract.
        let (protest, wo_default) = match h.bank {
            Bank::Sicoob => ("100", "0   "),
            Bank::Caixa => ("300", "1120"),
            Bank::Sicredi => ("300", "1060"),
            Bank::Santander => ("300", "3000"),
            _ => ("300", "0000"),
        };
        p.raw(221, 223, protest);
        match t.write_off_days {
            Some(d) => {
                p.raw(224, 224, "1");
                p.num(225, 227, d).map_err(f("write_off_days"))?;
            }
            None => {
                p.raw(224, 227, wo_default);
            }
        }
        if h.bank == Bank::Santander {
            // Santander: 225 reserved "0", 226-227 days, 228-229 "00".
            p.raw(228, 229, "00");
        } else {
            p.raw(228, 229, "09").zeros(230, 239);
        }
        Ok(p)
    }

    fn fit(v: &str, width: usize) -> Result<(), Field> {
        if v.len() > width {
            return Err(("our_number", format!("{v} is longer than {width}")));
        }
        Ok(())
    }

    /// Segment Q: the payer.
    fn segment_q(h: &Header, t: &Title, mut q: Line) -> Result<Line, Field> {
        let f = |field: &'static str| move |r: String| (field, r);
        let payer_doc = digits_only(&t.payer.document);
        q.num(18, 18, inscription_type(&payer_doc))
            .map_err(f("payer_document"))?;
        q.num(19, 33, &payer_doc).map_err(f("payer_document"))?;
        q.alpha(34, 73, &t.payer.name)
            .alpha(74, 113, &t.payer.street)
            .alpha(114, 128, &t.payer.district);
        q.num(129, 136, digits_only(&t.payer.zip))
            .map_err(f("payer_zip"))?;
        q.alpha(137, 151, &t.payer.city)
            .alpha(152, 153, &t.payer.state)
            .zeros(154, 169);
        if h.bank == Bank::Santander {
            q.zeros(210, 221);
        } else {
            q.zeros(210, 212);
        }
        Ok(q)
    }

    /// Segment R: the fine.
    fn segment_r(h: &Header, t: &Title, mut r: Line) -> Result<Line, Field> {
        r.zeros(18, 65);
        let day_after = ddmmaaaa(t.due_date.tomorrow().unwrap_or(t.due_date));
        if t.fine_bp > 0 {
            // 2 = percentual, from the day after the due date.
            r.raw(66, 66, "2").raw(67, 74, &day_after);
            r.num(75, 89, t.fine_bp).map_err(|e| ("fine", e))?;
        } else if h.bank == Bank::Caixa {
            r.raw(66, 66, "2").raw(67, 74, &day_after).zeros(75, 89);
        } else {
            r.raw(66, 66, "0").zeros(67, 89);
        }
        if !matches!(h.bank, Bank::Santander | Bank::Caixa) {
            r.zeros(200, 215).zeros(217, 228).raw(231, 231, "0");
        }
        Ok(r)
    }
}

mod cnab400 {
    use super::*;

    type Field = (&'static str, String);

    pub(super) fn write(h: &Header, titles: &[Title]) -> Result<Vec<Line>, RemessaError> {
        let e = at_header;
        let mut lines = Vec::new();
        let seq = |l: &mut Line, n: usize| l.put(395, 400, &format!("{n:06}"));

        // Header.
        let mut l = Line::new(400);
        l.raw(1, 19, "01REMESSA01COBRANCA");
        match h.bank {
            Bank::Bradesco => {
                // 27-46 código da empresa (20), 77-79 bank, 80-94 name, 95-100 date,
                // 109-110 "MX", 111-117 the file's sequence number.
                l.num(27, 46, &h.agreement).map_err(e("agreement"))?;
                l.alpha(80, 94, "BRADESCO");
                l.raw(109, 110, "MX");
                l.num(111, 117, h.sequence).map_err(e("sequence"))?;
            }
            Bank::Itau => {
                // 27-30 agência, 31-32 zeros, 33-37 conta, 38 its DAC.
                l.num(27, 30, &h.agency).map_err(e("agency"))?;
                l.zeros(31, 32);
                l.num(33, 37, &h.account).map_err(e("account"))?;
                l.raw(38, 38, h.account_digit.as_deref().unwrap_or("0"));
                l.alpha(80, 94, "BANCO ITAU SA");
            }
            _ => {
                return Err(RemessaError {
                    title: None,
                    field: "bank",
                    reason: format!("no CNAB 400 writer for {}", h.bank.code()),
                });
            }
        }
        l.alpha(47, 76, &h.company_name).raw(77, 79, h.bank.code());
        l.raw(95, 100, &ddmmaa(h.generated_at.date()));
        seq(&mut l, 1);
        lines.push(l);

        for (i, t) in titles.iter().enumerate() {
            let detail = match h.bank {
                Bank::Bradesco => bradesco(h, t),
                _ => itau(h, t),
            };
            let mut d = detail.map_err(|(f, r)| at(i, f)(r))?;
            seq(&mut d, lines.len() + 1);
            lines.push(d);
            if h.bank == Bank::Itau && t.fine_bp > 0 {
                // Itaú's type-2 record: the fine, 2 = percentual, dated the due date (charged
                // when paid after it).
                let mut m = Line::new(400);
                m.raw(1, 2, "22").raw(3, 10, &ddmmaaaa(t.due_date));
                m.num(11, 23, t.fine_bp).map_err(|r| at(i, "fine")(r))?;
                seq(&mut m, lines.len() + 1);
                lines.push(m);
            }
        }

        let mut l = Line::new(400);
        l.raw(1, 1, "9");
        seq(&mut l, lines.len() + 1);
        lines.push(l);
        Ok(lines)
    }

    fn movement(t: &Title) -> &'static str {
        match t.movement {
            Movement::Entry => "01",
            Movement::WriteOff => "02",
            Movement::ChangeDueDate => "06",
            Movement::ChangeAmount => "31",
        }
    }

    /// The payer's fields common to both layouts: 219-220 tipo, 221-234 CPF/CNPJ, 235 name.
    fn payer_document(d: &mut Line, t: &Title) -> Result<(), Field> {
        let doc = digits_only(&t.payer.document);
        d.put(219, 220, &format!("{:02}", inscription_type(&doc)));
        d.num(221, 234, &doc).map_err(|e| ("payer_document", e))?;
        Ok(())
    }

    /// The amounts common to both: due date, amount, issue date, interest a day, discount.
    fn amounts(d: &mut Line, t: &Title) -> Result<(), Field> {
        d.raw(121, 126, &ddmmaa(t.due_date));
        d.num(127, 139, t.amount_cents).map_err(|e| ("amount", e))?;
        d.raw(151, 156, &ddmmaa(t.issue_date)).zeros(157, 160);
        d.num(161, 173, t.interest_per_day_cents)
            .map_err(|e| ("interest", e))?;
        match t.discount {
            Some((cents, until)) => {
                d.raw(174, 179, &ddmmaa(until));
                d.num(180, 192, cents).map_err(|e| ("discount", e))?;
            }
            None => {
                d.zeros(174, 192);
            }
        }
        d.zeros(193, 218);
        Ok(())
    }

    /// Bradesco's "Cobrança Bradesco" CNAB 400 detail (type 1).
    fn bradesco(h: &Header, t: &Title) -> Result<Line, Field> {
        let f = |field: &'static str| move |r: String| (field, r);
        let mut d = Line::new(400);
        d.raw(1, 1, "1").zeros(2, 20);
        // 21-37 identificação da empresa: 0, carteira (3), agência (5), conta (7), DV.
        d.raw(21, 21, "0");
        d.num(22, 24, &h.wallet).map_err(f("wallet"))?;
        d.num(25, 29, &h.agency).map_err(f("agency"))?;
        d.num(30, 36, &h.account).map_err(f("account"))?;
        d.raw(37, 37, h.account_digit.as_deref().unwrap_or("0"));
        d.alpha(38, 62, &t.document_number).zeros(63, 65);
        if t.fine_bp > 0 {
            d.raw(66, 66, "2");
            d.num(67, 70, t.fine_bp).map_err(f("fine"))?;
        } else {
            d.raw(66, 66, "0").zeros(67, 70);
        }
        // 71-82 nosso número (11) + DV (a digit or P).
        if t.our_number.len() != 12 {
            return Err((
                "our_number",
                format!("{} is not 11 digits and a check digit", t.our_number),
            ));
        }
        d.raw(71, 82, &t.our_number).zeros(83, 92);
        d.raw(93, 93, "2").raw(94, 94, "N").raw(106, 106, "2");
        d.raw(109, 110, movement(t))
            .alpha(111, 120, &t.document_number);
        amounts(&mut d, t)?;
        d.zeros(140, 147).raw(148, 149, "01").raw(150, 150, "N");
        payer_document(&mut d, t)?;
        d.alpha(235, 274, &t.payer.name);
        d.alpha(
            275,
            314,
            &format!("{} {}", t.payer.street, t.payer.district),
        );
        d.num(327, 334, digits_only(&t.payer.zip))
            .map_err(f("payer_zip"))?;
        Ok(d)
    }

    /// Itaú's "Cobrança" CNAB 400 detail (type 1).
    fn itau(h: &Header, t: &Title) -> Result<Line, Field> {
        let f = |field: &'static str| move |r: String| (field, r);
        let mut d = Line::new(400);
        let doc = digits_only(&h.company_document);
        d.raw(1, 1, "1");
        d.put(2, 3, &format!("{:02}", inscription_type(&doc)));
        d.num(4, 17, &doc).map_err(f("company_document"))?;
        d.num(18, 21, &h.agency).map_err(f("agency"))?;
        d.zeros(22, 23);
        d.num(24, 28, &h.account).map_err(f("account"))?;
        d.raw(29, 29, h.account_digit.as_deref().unwrap_or("0"));
        d.zeros(34, 37).alpha(38, 62, &t.document_number);
        d.num(63, 70, &t.our_number).map_err(f("our_number"))?;
        d.zeros(71, 83);
        d.num(84, 86, &h.wallet).map_err(f("wallet"))?;
        d.raw(108, 108, "I").raw(109, 110, movement(t));
        d.alpha(111, 120, &t.document_number);
        amounts(&mut d, t)?;
        d.raw(140, 142, "341")
            .zeros(143, 147)
            .raw(148, 149, "01")
            .raw(150, 150, "N");
        payer_document(&mut d, t)?;
        d.alpha(235, 264, &t.payer.name)
            .alpha(275, 314, &t.payer.street)
            .alpha(315, 326, &t.payer.district);
        d.num(327, 334, digits_only(&t.payer.zip))
            .map_err(f("payer_zip"))?;
        d.alpha(335, 349, &t.payer.city)
            .alpha(350, 351, &t.payer.state)
            .zeros(386, 391);
        // 392-393 prazo (dias) for the instructions; 394 blank.
        match t.write_off_days {
            Some(days) => {
                d.num(392, 393, days.min(99)).map_err(f("write_off_days"))?;
            }
            None => {
                d.raw(392, 393, "03");
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_upper_case_ascii_without_accents_or_junk() {
        assert_eq!(
            clean_text("PABLO DIEGO JOSÉ FRANCISCO,!^.?\\/@  DE PAULA"),
            "PABLO DIEGO JOSE FRANCISCO DE PAULA"
        );
        assert_eq!(clean_text("São josé"), "SAO JOSE");
    }

    #[test]
    fn banco_do_brasil_check_digits() {
        assert_eq!(bb_dv("1234", 2, 9), '3');
        assert_eq!(bb_dv("12345", 2, 9), '5');
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use jiff::civil::date;

    fn header(bank: Bank) -> Header {
        Header {
            bank,
            company_name: "Provedor Exemplo Ltda".into(),
            company_document: "11.222.333/0001-81".into(),
            agency: "1234".into(),
            agency_digit: None,
            account: "12345".into(),
            account_digit: Some("6".into()),
            agreement: "1234567".into(),
            wallet: "17".into(),
            wallet_variation: Some("19".into()),
            sequence: 42,
            application_version: None,
            generated_at: date(2026, 3, 1).at(9, 30, 0, 0),
        }
    }

    fn title(movement: Movement) -> Title {
        Title {
            movement,
            our_number: "12345670000000123".into(),
            document_number: "F-2026-03".into(),
            due_date: date(2026, 3, 10),
            issue_date: date(2026, 3, 1),
            amount_cents: 11_990,
            payer: Payer {
                document: "529.982.247-25".into(),
                name: "Maria da Conceição".into(),
                street: "Rua das Flores, 10".into(),
                district: "Centro".into(),
                zip: "01001-000".into(),
                city: "São Paulo".into(),
                state: "SP".into(),
            },
            fine_bp: 200,
            interest_per_day_cents: 4,
            discount: Some((600, date(2026, 3, 5))),
            write_off_days: Some(30),
        }
    }

    fn lines(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.ends_with("\r\n"));
        text.split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_cnab240_title_carries_its_terms_and_movement_at_the_febraban_positions() {
        let out = write_remessa(
            Layout::Cnab240,
            &header(Bank::BancoDoBrasil),
            &[title(Movement::Entry), title(Movement::WriteOff)],
        )
        .unwrap();
        let l = lines(&out);
        assert_eq!(l.len(), 2 + 6 + 2);
        assert!(l.iter().all(|l| l.len() == 240 && l.is_ascii()));
        let p = &l[2];
        let f = |l: &str, a: usize, b: usize| l[a - 1..b].to_string();
        assert_eq!(f(&l[0], 158, 163), "000042", "NSA");
        assert_eq!(f(p, 16, 17), "01");
        assert_eq!(f(p, 78, 85), "10032026");
        assert_eq!(f(p, 86, 100), "000000000011990");
        // Interest R$ 0,04 a day from 11/03; discount R$ 6,00 until 05/03; write-off 30 days.
        assert_eq!(f(p, 118, 141), "111032026000000000000004");
        assert_eq!(f(p, 142, 165), "105032026000000000000600");
        assert_eq!(f(p, 224, 227), "1030");
        let q = &l[3];
        assert_eq!(f(q, 18, 33), "1000052998224725");
        assert_eq!(f(q, 34, 73).trim_end(), "MARIA DA CONCEICAO");
        assert_eq!(f(q, 129, 136), "01001000");
        let r = &l[4];
        // Fine 2,00 % from 11/03.
        assert_eq!(f(r, 66, 89), "211032026000000000000200");
        // The second title asks for a write-off.
        assert_eq!(f(&l[5], 16, 17), "02");
        assert_eq!(f(&l[8], 18, 23), "000008", "batch records");
        assert_eq!(f(&l[9], 24, 29), "000010", "file records");
    }

    #[test]
    fn a_cnab400_title_carries_its_terms_and_the_fine_record() {
        let mut itau = header(Bank::Itau);
        itau.wallet = "109".into();
        let mut t = title(Movement::ChangeDueDate);
        t.our_number = "00000123".into();
        let l = lines(&write_remessa(Layout::Cnab400, &itau, &[t]).unwrap());
        assert_eq!(l.len(), 4, "header, detail, fine, trailer");
        let f = |l: &str, a: usize, b: usize| l[a - 1..b].to_string();
        let d = &l[1];
        assert_eq!(f(d, 109, 110), "06");
        assert_eq!(f(d, 63, 70), "00000123");
        assert_eq!(f(d, 161, 173), "0000000000004");
        assert_eq!(f(d, 174, 192), "0503260000000000600");
        assert_eq!(f(&l[2], 1, 23), "22100320260000000000200");
        assert_eq!(f(&l[3], 395, 400), "000004");
        // A number too long for its field is an error, not cut.
        let mut long = title(Movement::Entry);
        long.our_number = "123456789".into();
        let err = write_remessa(Layout::Cnab400, &itau, &[long]).unwrap_err();
        assert_eq!((err.title, err.field), (Some(0), "our_number"));
        // Banks and layouts Régua does not write are refused.
        assert!(write_remessa(Layout::Cnab400, &header(Bank::Caixa), &[]).is_err());
    }

    #[test]
    fn our_numbers_go_from_the_printed_form_to_the_field() {
        assert_eq!(
            remessa_our_number(Bank::Itau, Layout::Cnab400, "109/00000123-5"),
            "00000123"
        );
        assert_eq!(
            remessa_our_number(Bank::Bradesco, Layout::Cnab400, "09/00000000123-P"),
            "00000000123P"
        );
        assert_eq!(
            remessa_our_number(Bank::BancoDoBrasil, Layout::Cnab240, "12345670000000123"),
            "12345670000000123"
        );
        assert_eq!(
            remessa_our_number(Bank::Caixa, Layout::Cnab240, "14000000000000123-4"),
            "14000000000000123"
        );
        assert_eq!(
            remessa_our_number(Bank::Sicredi, Layout::Cnab240, "07/200003-1"),
            "072000031"
        );
    }
}
