//! Reading bank return files ("arquivo de retorno") of boleto collection: CNAB 400 (each bank's
//! own layout) and CNAB 240 (FEBRABAN, segments T and U), for the seven banks Régua supports —
//! 001 Banco do Brasil, 033 Santander, 104 Caixa, 237 Bradesco, 341 Itaú, 748 Sicredi,
//! 756 Sicoob. Pure: bytes in, records out; applying them is the caller's.
//!
//! The positions and the occurrence → event table are documented, with their sources (the
//! banks' manuals and the FEBRABAN layout), in `docs/cnab.md`. Reading rules:
//! - the layout is decided by the first line: longer than 300 characters is CNAB 400;
//! - CR LF, LF and a missing final newline are accepted; a line shorter than the layout is
//!   right-padded with spaces (banks and tools trim trailing blanks), a longer one is an error
//!   unless what is past the width is blank;
//! - the bank is header positions 77-79 (CNAB 400) or 1-3 (CNAB 240); a malformed header or a
//!   trailer naming another bank does not reject the file;
//! - a title record whose amount or date field holds anything but digits (or blanks), or a date
//!   that does not exist, rejects the whole file, naming the line and the field.

use std::fmt;

use jiff::civil::Date;
use serde::Serialize;

/// A return file's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// CNAB 400: one 400-character detail record per title.
    Cnab400,
    /// CNAB 240 (FEBRABAN): a T segment and a U segment per title.
    Cnab240,
}

impl Layout {
    /// `cnab400` or `cnab240`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Cnab400 => "cnab400",
            Layout::Cnab240 => "cnab240",
        }
    }

    fn width(self) -> usize {
        match self {
            Layout::Cnab400 => 400,
            Layout::Cnab240 => 240,
        }
    }
}

/// What a record means for the title it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The bank registered the title.
    Registered,
    /// The bank refused to register it.
    Rejected,
    /// It was paid.
    Paid,
    /// The bank wrote it off (baixa) without payment.
    WrittenOff,
    /// Anything else (tariffs, instructions confirmed or refused, protest steps…).
    Other,
}

impl Event {
    /// `registered`, `rejected`, `paid`, `written_off` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Registered => "registered",
            Event::Rejected => "rejected",
            Event::Paid => "paid",
            Event::WrittenOff => "written_off",
            Event::Other => "other",
        }
    }
}

/// One title's record of a return file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnRecord {
    /// 1-based line of the CNAB 400 detail, or of the CNAB 240 T segment.
    pub line: usize,
    /// The nosso número as the bank wrote it (spaces trimmed, leading zeros kept; it may end in a
    /// check digit, possibly a letter).
    pub our_number: String,
    /// The bank's occurrence (movement) code, two characters.
    pub occurrence: String,
    /// What the occurrence means.
    pub event: Event,
    /// When it happened (liquidation, registration…), if the bank says.
    pub occurred_on: Option<Date>,
    /// When the money is credited, if the bank says.
    pub credit_on: Option<Date>,
    /// The title's face value, in centavos.
    pub face_cents: i64,
    /// What was paid, in centavos (Itaú CNAB 400: net of the fee, see `docs/cnab.md`).
    pub paid_cents: i64,
    /// The bank's fee, in centavos.
    pub fee_cents: i64,
    /// Interest and fine paid, in centavos.
    pub interest_cents: i64,
    /// Discount given, in centavos.
    pub discount_cents: i64,
    /// The occurrence and, for a refused entry, the bank's reasons, in Portuguese.
    pub reasons: Vec<String>,
}

/// A return file, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnFile {
    /// The bank's code, three digits.
    pub bank: String,
    /// The layout.
    pub layout: Layout,
    /// Every title record, in file order.
    pub records: Vec<ReturnRecord>,
}

/// Why a file could not be read. Nothing of a file with an error is to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnabError {
    /// The 1-based line (0: the file as a whole).
    pub line: usize,
    /// The field at fault.
    pub field: &'static str,
    /// Why, in English (logs, CLI).
    pub reason: String,
}

impl fmt::Display for CnabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.field, self.reason)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
        }
    }
}

impl std::error::Error for CnabError {}

impl CnabError {
    /// The same, in Portuguese, for the screen.
    pub fn pt(&self) -> String {
        let field = match self.field {
            "file" => "arquivo",
            "layout" => "leiaute",
            "bank" => "banco",
            "our_number" => "nosso número",
            "occurred_on" => "data da ocorrência",
            "credit_on" => "data do crédito",
            "face" => "valor do título",
            "paid" => "valor pago",
            "fee" => "tarifa",
            "interest" => "juros",
            "discount" => "desconto",
            "segment" => "segmento",
            other => other,
        };
        let reason = if self.reason.starts_with("not a date") {
            "data inválida".to_string()
        } else if self.reason.starts_with("not an amount") {
            "valor inválido (só dígitos)".to_string()
        } else if self.reason.starts_with("line has") {
            format!(
                "linha com tamanho errado ({})",
                self.reason.trim_start_matches("line has ")
            )
        } else if self.reason.starts_with("no U segment") {
            "segmento T sem o segmento U que o segue".to_string()
        } else if self.reason.starts_with("empty") {
            "arquivo vazio".to_string()
        } else if self.reason.starts_with("not a return") {
            "não é um arquivo de retorno CNAB 240 ou 400".to_string()
        } else if self.reason.starts_with("bank") {
            format!(
                "banco não suportado ({})",
                self.reason.trim_start_matches("bank ")
            )
        } else {
            self.reason.clone()
        };
        if self.line == 0 {
            format!("{field}: {reason}")
        } else {
            format!("linha {}, {field}: {reason}", self.line)
        }
    }
}

/// The banks whose return files Régua reads.
pub const BANKS: [&str; 7] = ["001", "033", "104", "237", "341", "748", "756"];

/// Reads a return file.
pub fn read_return(bytes: &[u8]) -> Result<ReturnFile, CnabError> {
    let file_error = |field, reason: &str| CnabError {
        line: 0,
        field,
        reason: reason.to_string(),
    };
    // Return files are ASCII (ISO-8859-1 at most in names); a byte that is not is read as a
    // placeholder rather than failing the file: no field Régua reads may hold one.
    let text: String = bytes
        .iter()
        .map(|b| if b.is_ascii() { *b as char } else { '?' })
        .collect();
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let lines: Vec<&str> = match lines.iter().rposition(|l| !l.trim().is_empty()) {
        Some(last) => lines[..=last].to_vec(),
        None => return Err(file_error("file", "empty file")),
    };
    let layout = if lines[0].len() > 300 {
        Layout::Cnab400
    } else if lines[0].len() >= 3 {
        Layout::Cnab240
    } else {
        return Err(file_error("layout", "not a return file"));
    };
    let width = layout.width();
    let mut padded = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        // Trailing blanks past the width are padding some tools add; anything else is not.
        let l = if l.len() > width && l[width..].trim().is_empty() {
            &l[..width]
        } else {
            l
        };
        if l.len() > width {
            return Err(CnabError {
                line: i + 1,
                field: "file",
                reason: format!("line has {} characters, more than {width}", l.len()),
            });
        }
        padded.push(format!("{l:width$}"));
    }
    let bank = match layout {
        Layout::Cnab400 => field(&padded[0], 77, 79),
        Layout::Cnab240 => field(&padded[0], 1, 3),
    }
    .to_string();
    if !BANKS.contains(&bank.as_str()) {
        return Err(file_error(
            "bank",
            &format!("bank {bank:?} is not supported"),
        ));
    }
    let records = match layout {
        Layout::Cnab400 => read_400(&bank, &padded)?,
        Layout::Cnab240 => read_240(&bank, &padded)?,
    };
    Ok(ReturnFile {
        bank,
        layout,
        records,
    })
}

/// Positions `a..=b`, 1-based, of a padded line.
fn field(line: &str, a: usize, b: usize) -> &str {
    &line[a - 1..b]
}

struct Fields<'l> {
    line_no: usize,
    line: &'l str,
}

impl<'l> Fields<'l> {
    fn text(&self, a: usize, b: usize) -> &'l str {
        field(self.line, a, b)
    }

    fn cents(&self, name: &'static str, a: usize, b: usize) -> Result<i64, CnabError> {
        let raw = self.text(a, b);
        let digits = raw.trim();
        if digits.is_empty() {
            return Ok(0);
        }
        if !digits.bytes().all(|c| c.is_ascii_digit()) || raw.trim_start() != raw.trim() {
            return Err(self.error(name, format!("not an amount: {raw:?} at {a}-{b}")));
        }
        digits
            .parse()
            .map_err(|_| self.error(name, format!("not an amount: {raw:?} at {a}-{b}")))
    }

    /// DDMMAA (20AA) or DDMMAAAA, or AAAAMMDD with `ymd`; blank or zeros → none.
    fn date(
        &self,
        name: &'static str,
        a: usize,
        b: usize,
        ymd: bool,
    ) -> Result<Option<Date>, CnabError> {
        let raw = self.text(a, b);
        let t = raw.trim();
        if t.is_empty() || t.bytes().all(|c| c == b'0') {
            return Ok(None);
        }
        let bad = || self.error(name, format!("not a date: {raw:?} at {a}-{b}"));
        if !t.bytes().all(|c| c.is_ascii_digit()) || t.len() != raw.len() {
            return Err(bad());
        }
        let n = |s: &str| s.parse::<i16>().map_err(|_| bad());
        let (y, m, d) = match (raw.len(), ymd) {
            (8, true) => (n(&raw[0..4])?, n(&raw[4..6])?, n(&raw[6..8])?),
            (8, false) => (n(&raw[4..8])?, n(&raw[2..4])?, n(&raw[0..2])?),
            // Two-digit years are this century's: return files are from 2000 on.
            (6, _) => (2000 + n(&raw[4..6])?, n(&raw[2..4])?, n(&raw[0..2])?),
            _ => return Err(bad()),
        };
        Date::new(y, m as i8, d as i8).map(Some).map_err(|_| bad())
    }

    fn error(&self, field: &'static str, reason: String) -> CnabError {
        CnabError {
            line: self.line_no,
            field,
            reason,
        }
    }
}

/// Per-bank CNAB 400 positions: our number, paid, fee, credit date (and its form).
struct Positions400 {
    our_number: (usize, usize),
    paid: (usize, usize),
    fee: (usize, usize),
    credit: (usize, usize),
    credit_ymd: bool,
}

fn positions_400(bank: &str) -> Positions400 {
    let p = |our_number, fee, credit| Positions400 {
        our_number,
        paid: (254, 266),
        fee,
        credit,
        credit_ymd: false,
    };
    match bank {
        "001" => p((64, 80), (182, 188), (176, 181)),
        "033" => p((63, 70), (176, 188), (296, 301)),
        "104" => p((57, 73), (176, 188), (294, 299)),
        "237" => p((71, 82), (176, 188), (296, 301)),
        "341" => p((63, 70), (176, 188), (296, 301)),
        "748" => Positions400 {
            credit_ymd: true,
            ..p((48, 62), (176, 188), (329, 336))
        },
        _ => p((63, 74), (182, 188), (176, 181)), // 756 Sicoob
    }
}

fn read_400(bank: &str, lines: &[String]) -> Result<Vec<ReturnRecord>, CnabError> {
    let pos = positions_400(bank);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let kind = &line[0..1];
        // Banco do Brasil's CBR643 details are type 7; everyone's are type 1.
        if !(kind == "1" || (bank == "001" && kind == "7")) {
            continue;
        }
        let f = Fields {
            line_no: i + 1,
            line,
        };
        let occurrence = f.text(109, 110).to_string();
        let event = event(bank, Layout::Cnab400, &occurrence);
        out.push(ReturnRecord {
            line: i + 1,
            our_number: f
                .text(pos.our_number.0, pos.our_number.1)
                .trim()
                .to_string(),
            occurred_on: f.date("occurred_on", 111, 116, false)?,
            credit_on: f.date("credit_on", pos.credit.0, pos.credit.1, pos.credit_ymd)?,
            face_cents: f.cents("face", 153, 165)?,
            paid_cents: f.cents("paid", pos.paid.0, pos.paid.1)?,
            fee_cents: f.cents("fee", pos.fee.0, pos.fee.1)?,
            interest_cents: f.cents("interest", 267, 279)?,
            discount_cents: f.cents("discount", 241, 253)?,
            reasons: reasons(bank, Layout::Cnab400, &occurrence, event, &f),
            occurrence,
            event,
        });
    }
    Ok(out)
}

fn read_240(bank: &str, lines: &[String]) -> Result<Vec<ReturnRecord>, CnabError> {
    let is_segment = |l: &str, s: &str| &l[7..8] == "3" && &l[13..14] == s;
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !is_segment(line, "T") {
            continue;
        }
        let t = Fields {
            line_no: i + 1,
            line,
        };
        let Some(u_line) = lines.get(i + 1).filter(|l| is_segment(l, "U")) else {
            return Err(t.error("segment", "no U segment after the T segment".into()));
        };
        let u = Fields {
            line_no: i + 2,
            line: u_line,
        };
        let (our_number, face, fee) = match bank {
            "033" => ((41, 53), (78, 92), (194, 208)),
            "104" => ((40, 56), (82, 96), (199, 213)),
            // Itaú: 38-40 carteira, 41-48 nosso número, 49 its DAC (as in its CNAB 400).
            "341" => ((41, 48), (82, 96), (199, 213)),
            "756" => ((38, 47), (82, 96), (199, 213)),
            _ => ((38, 57), (82, 96), (199, 213)),
        };
        let occurrence = t.text(16, 17).to_string();
        let event = event(bank, Layout::Cnab240, &occurrence);
        out.push(ReturnRecord {
            line: i + 1,
            our_number: t.text(our_number.0, our_number.1).trim().to_string(),
            face_cents: t.cents("face", face.0, face.1)?,
            fee_cents: t.cents("fee", fee.0, fee.1)?,
            interest_cents: u.cents("interest", 18, 32)?,
            discount_cents: u.cents("discount", 33, 47)?,
            paid_cents: u.cents("paid", 78, 92)?,
            occurred_on: u.date("occurred_on", 138, 145, false)?,
            credit_on: u.date("credit_on", 146, 153, false)?,
            reasons: reasons(bank, Layout::Cnab240, &occurrence, event, &t),
            occurrence,
            event,
        });
    }
    Ok(out)
}

/// The occurrence → event table (`docs/cnab.md`, from the banks' manuals).
pub fn event(bank: &str, layout: Layout, occurrence: &str) -> Event {
    let table: [&[&str]; 4] = match (layout, bank) {
        (Layout::Cnab240, "104") => [&["02"], &["03"], &["06", "17", "46"], &["09", "25"]],
        // Itaú's CNAB 240 keeps its own occurrence codes, those of its CNAB 400.
        (Layout::Cnab240, "341") => return event(bank, Layout::Cnab400, occurrence),
        (Layout::Cnab240, _) => [&["02"], &["03"], &["06", "17"], &["09", "25"]],
        (Layout::Cnab400, "001") => [
            &["02"],
            &["03"],
            &["05", "06", "07", "08", "15"],
            &["09", "10"],
        ],
        (Layout::Cnab400, "033") => [&["02"], &["03"], &["06", "07", "08", "17"], &["09", "10"]],
        (Layout::Cnab400, "104") => [
            &["01"],
            &["99"],
            &["21", "22", "35"],
            &["02", "23", "24", "25"],
        ],
        (Layout::Cnab400, "237") => [&["02"], &["03", "24"], &["06", "15", "17"], &["09", "10"]],
        (Layout::Cnab400, "341") => [
            &["02", "64", "71", "73"],
            &["03", "60"],
            &["06", "07", "08"],
            &["05", "09", "10", "32", "47", "59", "72"],
        ],
        (Layout::Cnab400, "748") => [&["02"], &["03"], &["06", "15", "17"], &["09", "10"]],
        (Layout::Cnab400, _) => [
            &["02"],
            &["03"],
            &["05", "06", "07", "08", "15"],
            &["09", "10"],
        ],
    };
    let events = [
        Event::Registered,
        Event::Rejected,
        Event::Paid,
        Event::WrittenOff,
    ];
    table
        .iter()
        .zip(events)
        .find(|(codes, _)| codes.contains(&occurrence))
        .map_or(Event::Other, |(_, e)| e)
}

/// The occurrence's description and, for an occurrence that refuses something (an entry, an
/// instruction, a change), the bank's reasons: each in the bank's words from
/// `data/cnab-codes.tsv`, or, for a code outside the table, the code and where to look it up.
fn reasons(bank: &str, layout: Layout, occurrence: &str, event: Event, f: &Fields) -> Vec<String> {
    let mut out = vec![describe(bank, layout, occurrence, event)];
    if event != Event::Rejected && !refuses(bank, layout, occurrence) {
        return out;
    }
    // Where each layout puts the reasons (docs/cnab.md, "Code tables"): CNAB 240's T segment
    // 214-223, five codes of two characters; CNAB 400's Banco do Brasil 87-88 (one code),
    // Santander 137-145 (three codes of three), Caixa 80-82 (one), Bradesco and Sicredi 319-328
    // (five codes), Itaú 378-385 (four codes). Sicoob's CNAB 400 has no reason field.
    let (a, b, width) = match (layout, bank) {
        (Layout::Cnab240, "341") => (214, 221, 2),
        (Layout::Cnab240, _) => (214, 223, 2),
        (Layout::Cnab400, "001") => (87, 88, 2),
        (Layout::Cnab400, "033") => (137, 145, 3),
        (Layout::Cnab400, "104") => (80, 82, 3),
        (Layout::Cnab400, "237" | "748") => (319, 328, 2),
        (Layout::Cnab400, "341") => (378, 385, 2),
        _ => return out,
    };
    let raw = f.text(a, b).as_bytes();
    for code in raw.chunks(width) {
        let code = String::from_utf8_lossy(code);
        let mut code = code.trim();
        // Caixa writes its two-character reason in a three-character field.
        if bank == "104" && layout == Layout::Cnab400 {
            code = code.strip_prefix('0').unwrap_or(code);
        }
        if code.is_empty() || code.bytes().all(|c| c == b'0') {
            continue;
        }
        let text = lookup(layout, bank, Kind::ReasonOf(occurrence), code)
            .or_else(|| lookup(layout, bank, Kind::Reason, code));
        out.push(match text {
            Some(text) => format!("motivo {code}: {text}"),
            None => format!(
                "motivo {code}: código fora da tabela do banco (consulte o manual do banco {bank})"
            ),
        });
    }
    out
}

/// Occurrences that refuse an instruction or a change rather than an entry: their reasons are
/// read too, though the event stays `other` (the title itself is unchanged).
fn refuses(bank: &str, layout: Layout, occurrence: &str) -> bool {
    let codes: &[&str] = match (layout, bank) {
        (_, "341") => &["15", "16", "17", "18"],
        (Layout::Cnab240, _) => &["26", "30"],
        // Sicredi has one reason table for every occurrence; Itaú one per occurrence (its
        // nota 20), in the table as `reason:OC`. Bradesco's lists of refused instructions are
        // not in Régua's table: only its refused entry's reasons are read (docs/cnab.md).
        (Layout::Cnab400, "748") => &["24", "27", "30", "32"],
        _ => &[],
    };
    codes.contains(&occurrence)
}

/// The occurrence in Portuguese, in the bank's words (`data/cnab-codes.tsv`); a code outside
/// the table is described by its event.
fn describe(bank: &str, layout: Layout, occurrence: &str, event: Event) -> String {
    if let Some(text) = lookup(layout, bank, Kind::Occurrence, occurrence) {
        return format!("{occurrence}: {text}");
    }
    let what = match event {
        Event::Registered => "entrada confirmada",
        Event::Rejected => "entrada rejeitada",
        Event::Paid => "liquidação",
        Event::WrittenOff => "baixa",
        Event::Other => "outra ocorrência",
    };
    format!("{occurrence}: {what}")
}

#[derive(Debug, Clone, Copy)]
enum Kind<'o> {
    Occurrence,
    Reason,
    /// The reasons of one occurrence, where the bank keeps a list per occurrence.
    ReasonOf(&'o str),
}

/// The code tables, parsed once from the data file compiled in, keyed `layout|bank|kind|code`.
fn code_table() -> &'static std::collections::HashMap<String, &'static str> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<String, &'static str>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("../data/cnab-codes.tsv")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let cols: Vec<&'static str> = l.split('\t').collect();
                let [layout, bank, kind, code, text] = cols[..] else {
                    return None;
                };
                Some((format!("{layout}|{bank}|{kind}|{code}"), text))
            })
            .collect()
    })
}

/// The bank's own entry first, then the layout's common one (FEBRABAN's for CNAB 240).
fn lookup(layout: Layout, bank: &str, kind: Kind, code: &str) -> Option<&'static str> {
    let table = code_table();
    let kind = match kind {
        Kind::Occurrence => "occurrence".to_string(),
        Kind::Reason => "reason".to_string(),
        Kind::ReasonOf(occurrence) => format!("reason:{occurrence}"),
    };
    // Itaú's CNAB 240 uses the codes of its CNAB 400.
    let layout = match (layout, bank) {
        (Layout::Cnab240, "341") => "cnab400",
        _ => layout.as_str(),
    };
    [bank, "*"]
        .iter()
        .find_map(|b| table.get(&format!("{layout}|{b}|{kind}|{code}")).copied())
}

/// The file as `regua cnab read --json` prints it: dates ISO, events by name.
pub fn to_json(file: &ReturnFile) -> serde_json::Value {
    let date = |d: Option<Date>| d.map(|d| d.to_string());
    serde_json::json!({
        "bank": file.bank,
        "layout": file.layout.as_str(),
        "records": file.records.iter().map(|r| serde_json::json!({
            "line": r.line,
            "our_number": r.our_number,
            "occurrence": r.occurrence,
            "event": r.event.as_str(),
            "occurred_on": date(r.occurred_on),
            "credit_on": date(r.credit_on),
            "face_cents": r.face_cents,
            "paid_cents": r.paid_cents,
            "fee_cents": r.fee_cents,
            "interest_cents": r.interest_cents,
            "discount_cents": r.discount_cents,
            "reasons": r.reasons,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line400(bank: &str, f: impl Fn(&mut Vec<u8>)) -> String {
        let mut l = vec![b' '; 400];
        l[0] = b'1';
        l[108..110].copy_from_slice(b"06");
        l[110..116].copy_from_slice(b"200513");
        for (a, b) in [(153, 165), (254, 266), (267, 279), (241, 253)] {
            l[a - 1..b].fill(b'0');
        }
        f(&mut l);
        let _ = bank;
        String::from_utf8(l).unwrap()
    }

    fn header400(bank: &str) -> String {
        let mut h = vec![b' '; 400];
        h[0] = b'0';
        h[76..79].copy_from_slice(bank.as_bytes());
        String::from_utf8(h).unwrap()
    }

    #[test]
    fn a_bad_amount_names_the_line_and_the_field() {
        let detail = line400("341", |l| l[160..165].copy_from_slice(b"12a45"));
        let file = format!("{}\n{}\n", header400("341"), detail);
        let err = read_return(file.as_bytes()).unwrap_err();
        assert_eq!((err.line, err.field), (2, "face"));
        assert!(
            err.pt().starts_with("linha 2, valor do título"),
            "{}",
            err.pt()
        );
    }

    #[test]
    fn an_impossible_date_and_a_long_line_are_refused() {
        let detail = line400("341", |l| l[110..116].copy_from_slice(b"310213"));
        let file = format!("{}\n{}\n", header400("341"), detail);
        let err = read_return(file.as_bytes()).unwrap_err();
        assert_eq!((err.line, err.field), (2, "occurred_on"));
        let long = format!("{}\n{}x\n", header400("341"), line400("341", |_| {}));
        assert_eq!(read_return(long.as_bytes()).unwrap_err().line, 2);
    }

    #[test]
    fn an_unknown_bank_is_refused_and_events_follow_the_table() {
        let file = format!("{}\n", header400("999"));
        assert_eq!(read_return(file.as_bytes()).unwrap_err().field, "bank");
        assert_eq!(event("341", Layout::Cnab400, "10"), Event::WrittenOff);
        assert_eq!(event("104", Layout::Cnab240, "46"), Event::Paid);
        assert_eq!(event("001", Layout::Cnab240, "46"), Event::Other);
        assert_eq!(event("237", Layout::Cnab400, "24"), Event::Rejected);
    }

    #[test]
    fn every_row_of_the_code_tables_is_well_formed_and_unique() {
        let rows: Vec<&str> = include_str!("../data/cnab-codes.tsv")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for row in &rows {
            let cols: Vec<&str> = row.split('\t').collect();
            assert_eq!(cols.len(), 5, "{row}");
            assert!(["cnab240", "cnab400"].contains(&cols[0]), "{row}");
            assert!(
                ["occurrence", "reason"].contains(&cols[2]) || cols[2].starts_with("reason:"),
                "{row}"
            );
            assert!(!cols[4].trim().is_empty(), "{row}");
            assert!(
                seen.insert((cols[0], cols[1], cols[2], cols[3])),
                "twice: {row}"
            );
        }
        assert_eq!(code_table().len(), rows.len());
    }

    #[test]
    fn a_rejected_entry_names_the_banks_reasons_in_its_words() {
        // Itaú: occurrence 03 with reasons 08 and 14 at 378-385.
        let detail = line400("341", |l| {
            l[108..110].copy_from_slice(b"03");
            l[377..385].copy_from_slice(b"08140000");
        });
        let file = format!("{}\n{}\n", header400("341"), detail);
        let r = &read_return(file.as_bytes()).unwrap().records[0];
        assert_eq!(r.event, Event::Rejected);
        assert_eq!(
            r.reasons,
            [
                "03: Entrada rejeitada",
                "motivo 08: Nome do pagador não informado ou deslocado",
                "motivo 14: Nosso número já registrado no cadastro do banco ou fora da faixa",
            ]
        );
        // Santander: three-digit codes at 137-145; one outside the table says so.
        let detail = line400("033", |l| {
            l[108..110].copy_from_slice(b"03");
            l[136..145].copy_from_slice(b"092998000");
        });
        let file = format!("{}\n{}\n", header400("033"), detail);
        let r = &read_return(file.as_bytes()).unwrap().records[0];
        assert_eq!(r.reasons[1], "motivo 092: Nosso número já cadastrado");
        assert!(
            r.reasons[2].starts_with("motivo 998: código fora da tabela"),
            "{:?}",
            r.reasons
        );
        assert_eq!(r.reasons.len(), 3);
        // A paid record carries only its description.
        let detail = line400("237", |_| {});
        let file = format!("{}\n{}\n", header400("237"), detail);
        let r = &read_return(file.as_bytes()).unwrap().records[0];
        assert_eq!(r.reasons, ["06: Liquidação normal"]);
    }

    fn line240(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut l = vec![b' '; 240];
        f(&mut l);
        String::from_utf8(l).unwrap()
    }

    #[test]
    fn an_itau_cnab240_file_reads_its_own_positions_and_codes() {
        // Built from Itaú's "Cobrança CNAB 240" layout: T 38-40 carteira, 41-48 nosso número,
        // 49 DAC, 16-17 occurrence; U 78-92 paid, 138-145 occurred on, 146-153 credited on.
        let header = line240(|l| {
            l[0..3].copy_from_slice(b"341");
            l[7] = b'0';
        });
        let t = line240(|l| {
            l[0..3].copy_from_slice(b"341");
            l[7] = b'3';
            l[13] = b'T';
            l[15..17].copy_from_slice(b"06");
            l[37..49].copy_from_slice(b"109123456789");
            l[81..96].copy_from_slice(b"000000000011990");
            l[198..213].copy_from_slice(b"000000000000250");
        });
        let u = line240(|l| {
            l[0..3].copy_from_slice(b"341");
            l[7] = b'3';
            l[13] = b'U';
            l[77..92].copy_from_slice(b"000000000011990");
            l[137..145].copy_from_slice(b"12012026");
            l[145..153].copy_from_slice(b"13012026");
        });
        let file = format!("{header}\n{t}\n{u}\n");
        let read = read_return(file.as_bytes()).unwrap();
        assert_eq!((read.bank.as_str(), read.layout), ("341", Layout::Cnab240));
        let r = &read.records[0];
        assert_eq!(r.our_number, "12345678");
        assert_eq!(
            (r.event, r.paid_cents, r.fee_cents),
            (Event::Paid, 11990, 250)
        );
        assert_eq!(r.occurred_on, Some(jiff::civil::date(2026, 1, 12)));
        assert_eq!(r.reasons, ["06: Liquidação normal"]);
        // A refused instruction reads its own list: Itaú 16, reason 03.
        let refused = format!("{}16{}03000000{}", &t[..15], &t[17..213], &t[221..]);
        let file = format!("{header}\n{refused}\n{u}\n");
        let r = &read_return(file.as_bytes()).unwrap().records[0];
        assert_eq!(
            r.reasons,
            [
                "16: Instruções rejeitadas",
                "motivo 03: Conta não tem permissão para protestar"
            ]
        );
    }

    #[test]
    fn cnab240_falls_back_to_febraban_and_caixa_has_its_own_words() {
        assert_eq!(
            describe("756", Layout::Cnab240, "28", Event::Other),
            "28: Débito de tarifas/custas"
        );
        assert_eq!(
            describe("104", Layout::Cnab240, "46", Event::Paid),
            "46: Liquidação on-line"
        );
        assert_eq!(
            lookup(Layout::Cnab240, "104", Kind::Reason, "09"),
            Some("Nosso número duplicado")
        );
        assert_eq!(
            describe("001", Layout::Cnab400, "77", Event::Other),
            "77: outra ocorrência"
        );
        // Itaú's CNAB 240 speaks its CNAB 400 codes.
        assert_eq!(event("341", Layout::Cnab240, "08"), Event::Paid);
        assert_eq!(event("341", Layout::Cnab240, "17"), Event::Other);
        assert_eq!(
            describe("341", Layout::Cnab240, "09", Event::WrittenOff),
            "09: Baixa simples"
        );
    }
}
