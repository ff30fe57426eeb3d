//! CSV import of customers, contracts, invoices and payments from the ERP.
//!
//! Rules (docs/import.md): UTF-8 (a BOM is ignored), comma or semicolon separated (detected
//! from the header), header row required, column names matched case-insensitively, extra
//! columns ignored. Every row is parsed and checked before anything is written; **a file with
//! any bad row imports nothing** and every bad row is reported as `line N: column: reason` (the
//! header is line 1). Rows whose external id exists already update that record.

use std::collections::HashMap;
use std::fmt;

use crate::domain::*;
use crate::payment::ErpBoleto;
use crate::store::{self, Db, invoices::NewInvoice};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKind {
    /// `external_id,name,document,email,mobile_phone`, optionally `address_street,
    /// address_number, address_complement, address_district, address_zip, address_city,
    /// address_state`
    Customers,
    /// `external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method`
    Contracts,
    /// `external_id,contract_external_id,amount,issue_date,due_date,status`
    Invoices,
    /// `invoice_external_id,paid_on,amount`
    Payments,
    /// `contract_external_id,starts_on,ends_on[,reason]`: temporary suspensions; their
    /// customers are told by the suspension notice method.
    Suspensions,
}

impl ImportKind {
    /// Every kind, in the order the *Importar* page offers them.
    pub const ALL: [ImportKind; 5] = [
        ImportKind::Customers,
        ImportKind::Contracts,
        ImportKind::Invoices,
        ImportKind::Payments,
        ImportKind::Suspensions,
    ];

    /// The stored and CLI name (`customers`…).
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Contracts => "contracts",
            ImportKind::Invoices => "invoices",
            ImportKind::Payments => "payments",
            ImportKind::Suspensions => "suspensions",
        }
    }

    /// The kind named `name` ([`ImportKind::name`]).
    pub fn from_name(name: &str) -> Option<ImportKind> {
        ImportKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// What the page calls it.
    pub fn label_pt(self) -> &'static str {
        match self {
            ImportKind::Customers => "Clientes",
            ImportKind::Contracts => "Contratos",
            ImportKind::Invoices => "Faturas",
            ImportKind::Payments => "Pagamentos",
            ImportKind::Suspensions => "Suspensões temporárias",
        }
    }

    /// The columns a file of this kind must have.
    pub fn required_columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Customers => &["external_id", "name", "document", "email", "mobile_phone"],
            ImportKind::Contracts => &[
                "external_id",
                "customer_external_id",
                "plan",
                "monthly_amount",
                "due_day",
                "delivery_type",
                "billing_method",
            ],
            ImportKind::Invoices => &[
                "external_id",
                "contract_external_id",
                "amount",
                "issue_date",
                "due_date",
                "status",
            ],
            ImportKind::Payments => &["invoice_external_id", "paid_on", "amount"],
            ImportKind::Suspensions => &["contract_external_id", "starts_on", "ends_on"],
        }
    }
}

/// One bad row (or header): where, which column, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file; the header is line 1.
    pub line: u64,
    /// The column at fault, or `-` for the whole row.
    pub column: String,
    /// Why, in English.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.column, self.reason)
    }
}

impl RowError {
    /// The error as the *Importar* page lists it, in Portuguese: the line, the column and why.
    pub fn pt(&self) -> String {
        let why = reason_pt(&self.column, &self.reason);
        if self.column == "-" {
            format!("Linha {}: {why}", self.line)
        } else {
            format!("Linha {}, coluna {}: {why}", self.line, self.column)
        }
    }
}

/// A row error's reason in Portuguese, by column and by what the checker said.
fn reason_pt(column: &str, reason: &str) -> String {
    if reason == "is empty" {
        return "está vazia.".into();
    }
    if let Some(rest) = reason.split("(first on line ").nth(1) {
        let first = rest.trim_end_matches(')');
        return format!("código repetido no arquivo (aparece antes na linha {first}).");
    }
    if reason.starts_with("required column is missing") {
        return "coluna obrigatória ausente no cabeçalho.".into();
    }
    if reason.starts_with("missing (the row has too few fields)") {
        return "faltando: a linha tem menos campos que o cabeçalho.".into();
    }
    if reason.contains("UTF-8") {
        return "o arquivo não está em UTF-8 (acentos gravados por outro programa?): escolha a codificação Windows-1252.".into();
    }
    if reason.starts_with("cannot read the header") {
        return "não foi possível ler o cabeçalho do arquivo.".into();
    }
    if reason.starts_with("no customer with external id") {
        return "cliente não encontrado (importe os clientes antes).".into();
    }
    if reason.starts_with("no contract with external id") {
        return "contrato não encontrado (importe os contratos antes).".into();
    }
    if reason.starts_with("no invoice with external id") {
        return "fatura não encontrada.".into();
    }
    if reason.ends_with("is cancelled") {
        return "a fatura está cancelada.".into();
    }
    if reason.starts_with("no billing method named") {
        return "forma de cobrança não cadastrada.".into();
    }
    if reason.contains("contains a line break") || reason.contains("longer than") {
        return "texto inválido: uma linha só, sem caracteres de controle, e não longo demais."
            .into();
    }
    match column {
        "document" => "não é um CPF ou CNPJ válido.".into(),
        "email" => "e-mail inválido.".into(),
        "mobile_phone" => "celular inválido (DDD e número, começando com 9).".into(),
        "amount" | "monthly_amount" | "paid_amount" => {
            "valor inválido (escreva 1234,56 ou 1.234,56).".into()
        }
        "issue_date" | "due_date" | "paid_on" | "starts_on" | "ends_on" => {
            "data inválida (use dd/mm/aaaa ou aaaa-mm-dd).".into()
        }
        "due_day" => "dia de vencimento inválido (de 1 a 31).".into(),
        "delivery_type" => "tipo de envio inválido (email ou printed, para impresso).".into(),
        "status" => "situação inválida.".into(),
        "our_number" if reason.contains("another invoice") => {
            "nosso número já usado por outra fatura desta carteira.".into()
        }
        "our_number" => "nosso número inválido.".into(),
        "digitable_line" | "pix_code" => {
            "não confere com a fatura (banco, valor ou vencimento).".into()
        }
        c if c.starts_with("address_") => {
            "endereço inválido ou incompleto (logradouro, bairro, CEP, cidade e UF).".into()
        }
        "contract_external_id" | "customer_external_id" | "invoice_external_id" => {
            "referência inválida.".into()
        }
        _ => format!("valor inválido ({reason})."),
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file had bad rows; nothing was imported.
    #[error("{} bad row(s); nothing was imported", .0.len())]
    BadRows(Vec<RowError>),
    /// Unexpected failure (I/O, database); nothing was imported.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows that created a record.
    pub created: usize,
    /// Rows that updated an existing record.
    pub updated: usize,
    /// How the file's bytes were read.
    pub encoding: Encoding,
    /// The first rows (up to [`SAMPLE_ROWS`]): the record's id and whether it exists (an
    /// update) — what a preview shows.
    pub sample: Vec<(String, bool)>,
}

/// How many rows an [`ImportReport`] lists in `sample`.
pub const SAMPLE_ROWS: usize = 20;

/// How a CSV file's bytes are read. Brazilian ERPs and Excel export Windows-1252 (or
/// ISO-8859-1, whose printable characters it includes); everything else is UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 (a BOM is skipped).
    #[default]
    Utf8,
    /// Windows-1252, also read for ISO-8859-1.
    Windows1252,
}

impl Encoding {
    /// The name said to the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Windows1252 => "Windows-1252",
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Encoding, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" | "iso-8859-1" | "latin1" | "latin-1" => {
                Ok(Encoding::Windows1252)
            }
            other => Err(format!(
                "unknown encoding {other:?}; one of: utf-8, windows-1252, iso-8859-1"
            )),
        }
    }
}

/// The file as text: as `forced` says, or detected — UTF-8 when the bytes are valid UTF-8,
/// Windows-1252 otherwise (no byte sequence is invalid there). Forced UTF-8 over bytes that are
/// not names the first line at fault.
pub fn decode(
    bytes: &[u8],
    forced: Option<Encoding>,
) -> Result<(std::borrow::Cow<'_, str>, Encoding), ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match (forced, std::str::from_utf8(bytes)) {
        (None | Some(Encoding::Utf8), Ok(text)) => Ok((text.into(), Encoding::Utf8)),
        (Some(Encoding::Utf8), Err(e)) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Err(ImportError::BadRows(vec![RowError {
                line: line as u64,
                column: "-".into(),
                reason:
                    "not UTF-8 (an accent saved by another program?): try --encoding windows-1252"
                        .into(),
            }]))
        }
        (None | Some(Encoding::Windows1252), _) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok((text, Encoding::Windows1252))
        }
    }
}

/// A CSV file read into header and rows, with each row's line number.
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn field<'a>(&self, rec: &'a csv::StringRecord, column: &str) -> &'a str {
        self.columns
            .get(column)
            .and_then(|&i| rec.get(i))
            .map(str::trim)
            .unwrap_or("")
    }
}

fn read_table(bytes: &[u8], kind: ImportKind) -> Result<Table, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = if first_line.iter().filter(|&&b| b == b';').count()
        > first_line.iter().filter(|&&b| b == b',').count()
    {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes);
    let headers = reader.headers().map_err(|e| {
        ImportError::BadRows(vec![RowError {
            line: 1,
            column: "-".into(),
            reason: format!("cannot read the header: {e}"),
        }])
    })?;
    // The first of two same-named columns wins: insert in reverse so it overwrites the later one.
    let named: Vec<(String, usize)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_lowercase(), i))
        .collect();
    let columns: HashMap<String, usize> = named.into_iter().rev().collect();
    let missing: Vec<RowError> = kind
        .required_columns()
        .iter()
        .filter(|c| !columns.contains_key(**c))
        .map(|c| RowError {
            line: 1,
            column: (*c).to_string(),
            reason: "required column is missing from the header".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::BadRows(missing));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue; // blank line
                }
                if record.len() < columns.values().max().map_or(0, |m| m + 1) {
                    let needed = kind
                        .required_columns()
                        .iter()
                        .filter(|c| columns[**c] >= record.len());
                    for c in needed {
                        errors.push(RowError {
                            line,
                            column: (*c).to_string(),
                            reason: "missing (the row has too few fields)".into(),
                        });
                    }
                    continue;
                }
                rows.push((line, record.clone()));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let reason = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "not valid UTF-8 (save the file as UTF-8)".to_string()
                    }
                    _ => e.to_string(),
                };
                errors.push(RowError {
                    line,
                    column: "-".into(),
                    reason,
                });
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::BadRows(errors));
    }
    Ok(Table { columns, rows })
}

/// Collects a row's field errors while the row is parsed.
struct RowCheck<'a> {
    line: u64,
    errors: &'a mut Vec<RowError>,
}

impl RowCheck<'_> {
    fn check<T>(&mut self, column: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|reason| {
            self.errors.push(RowError {
                line: self.line,
                column: column.to_string(),
                reason,
            })
        })
        .ok()
    }

    /// A record's id: required, and not seen on an earlier line of the same file.
    fn unique_id<'v>(
        &mut self,
        seen: &mut HashMap<String, u64>,
        column: &str,
        value: &'v str,
    ) -> Option<&'v str> {
        let id = self.required(column, value)?;
        if let Some(prev) = seen.insert(id.to_string(), self.line) {
            return self.check(
                column,
                Err(format!("{id:?} appears again (first on line {prev})")),
            );
        }
        Some(id)
    }

    /// A required one-line text (an id, a name, a plan): not empty, no line break or control
    /// character (it ends up in e-mail headers and file names), not absurdly long.
    fn required<'v>(&mut self, column: &str, value: &'v str) -> Option<&'v str> {
        self.check(
            column,
            if value.is_empty() {
                Err("is empty".to_string())
            } else {
                limits::check_line(value, limits::MAX_TEXT_CHARS)
                    .map(|()| value)
                    .map_err(|e| e.to_string())
            },
        )
    }
}

/// Imports a CSV file's bytes. All-or-nothing.
pub async fn import_csv(
    db: &Db,
    kind: ImportKind,
    bytes: &[u8],
    clock: &Clock,
) -> Result<ImportReport, ImportError> {
    import_csv_as(db, kind, bytes, None, clock).await
}

/// [`import_csv`] with the encoding given (`None`: detected, see [`decode`]).
pub async fn import_csv_as(
    db: &Db,
    kind: ImportKind,
    bytes: &[u8],
    encoding: Option<Encoding>,
    clock: &Clock,
) -> Result<ImportReport, ImportError> {
    run_import(db, kind, bytes, encoding, clock, true).await
}

/// Everything [`import_csv_as`] checks — every row, against the database — and the counts it
/// would report, writing nothing: the preview of the *Importar* page.
pub async fn preview_csv(
    db: &Db,
    kind: ImportKind,
    bytes: &[u8],
    encoding: Option<Encoding>,
    clock: &Clock,
) -> Result<ImportReport, ImportError> {
    run_import(db, kind, bytes, encoding, clock, false).await
}

async fn run_import(
    db: &Db,
    kind: ImportKind,
    bytes: &[u8],
    encoding: Option<Encoding>,
    clock: &Clock,
    write: bool,
) -> Result<ImportReport, ImportError> {
    let (text, encoding) = decode(bytes, encoding)?;
    let table = read_table(text.as_bytes(), kind)?;
    let mut conn = db.pool.acquire().await.map_err(anyhow::Error::from)?;
    let mut errors = Vec::new();
    let now = clock.now_millis();
    let mut report = match kind {
        ImportKind::Customers => {
            let existing = store::parties::customer_ids_by_external_id(&mut conn).await?;
            drop(conn);
            // The rows are checked a chunk at a time while the chunk before is written (the
            // check takes a core, the write another): a bad row stops the writing, every row
            // is still checked so that all bad rows are named, and the transaction is dropped,
            // so nothing of the file stays.
            let mut bulk = if write { Some(db.bulk().await?) } else { None };
            let mut seen = HashMap::new();
            let mut report = ImportReport::default();
            let mut checked: Vec<NewCustomer> = Vec::new();
            for chunk in table.rows.chunks(store::bulk::CHUNK) {
                let ready = std::mem::take(&mut checked);
                let clean = errors.is_empty();
                let (written, next) = tokio::join!(
                    async {
                        match &mut bulk {
                            Some(b) if clean => {
                                store::parties::upsert_customers(b, &ready, now).await
                            }
                            _ => Ok(()),
                        }
                    },
                    async { parse_customers(&table, chunk, &mut seen, &mut errors) }
                );
                written?;
                tally(
                    &mut report,
                    next.iter()
                        .map(|c| (&c.external_id, existing.contains_key(&c.external_id))),
                );
                checked = next;
            }
            if !errors.is_empty() {
                return Err(ImportError::BadRows(errors));
            }
            if let Some(mut b) = bulk {
                store::parties::upsert_customers(&mut b, &checked, now).await?;
                b.commit().await?;
            }
            report
        }
        ImportKind::Contracts => {
            let customers = store::parties::customer_ids_by_external_id(&mut conn).await?;
            let methods = store::parties::list_billing_methods(&mut conn).await?;
            let existing = store::parties::contract_refs_by_external_id(&mut conn).await?;
            let rows = parse_contracts(&table, &customers, &methods, &mut errors);
            if !errors.is_empty() {
                return Err(ImportError::BadRows(errors));
            }
            let report = count(
                rows.iter()
                    .map(|c| (&c.external_id, existing.contains_key(&c.external_id))),
            );
            if write {
                let mut bulk = db.bulk().await?;
                store::parties::upsert_contracts(&mut conn, &mut bulk, &rows, &methods, now)
                    .await?;
                bulk.commit().await?;
            }
            drop(conn);
            report
        }
        ImportKind::Invoices => {
            let contracts = store::parties::contract_refs_by_external_id(&mut conn).await?;
            let existing = store::invoices::invoice_statuses_by_external_id(&mut conn).await?;
            let banks: HashMap<_, _> = store::parties::list_wallets(&mut conn)
                .await?
                .into_iter()
                .map(|w| (w.id, w.bank_code))
                .collect();
            let rows = parse_invoices(&table, &contracts, &banks, clock.today(), &mut errors);
            if !errors.is_empty() {
                return Err(ImportError::BadRows(errors));
            }
            // An ERP's our number must be free in its wallet, in the file and in the database
            // (with no bad row, the rows are the file's, in order).
            let mut in_file = std::collections::HashSet::new();
            for ((inv, erp), (line, _)) in rows.iter().zip(&table.rows) {
                let Some(n) = erp.our_number.filter(|_| errors.len() < 100) else {
                    continue;
                };
                if !in_file.insert((inv.contract.wallet_id, n))
                    || store::invoices::our_number_taken(
                        &mut conn,
                        inv.contract.wallet_id,
                        n,
                        &inv.external_id,
                    )
                    .await?
                {
                    errors.push(RowError {
                        line: *line,
                        column: "our_number".into(),
                        reason: format!("{n} is another invoice's our number in this wallet"),
                    });
                }
            }
            if !errors.is_empty() {
                return Err(ImportError::BadRows(errors));
            }
            drop(conn);
            let report = count(
                rows.iter()
                    .map(|(i, _)| (&i.external_id, existing.contains_key(&i.external_id))),
            );
            if !write {
                return Ok(ImportReport { encoding, ..report });
            }
            let mut tx = db.begin().await?;
            for (inv, erp) in &rows {
                if existing.contains_key(&inv.external_id) {
                    store::invoices::update_imported_invoice(&mut tx, inv, now).await?;
                } else {
                    let our_number = match erp.our_number {
                        Some(n) => n,
                        None => {
                            store::invoices::allocate_our_numbers(
                                &mut tx,
                                inv.contract.wallet_id,
                                1,
                            )
                            .await?
                        }
                    };
                    store::invoices::insert_invoice(&mut tx, inv, our_number, now).await?;
                }
                if erp.barcode.is_some() || erp.pix.is_some() {
                    store::invoices::set_registered_boleto(
                        &mut tx,
                        &inv.external_id,
                        erp.barcode.as_deref(),
                        erp.pix.as_deref(),
                    )
                    .await?;
                }
            }
            tx.commit().await.map_err(anyhow::Error::from)?;
            report
        }
        ImportKind::Payments => {
            let invoices = store::invoices::invoice_statuses_by_external_id(&mut conn).await?;
            let rows = parse_payments(&table, &invoices, &mut errors);
            if !errors.is_empty() {
                return Err(ImportError::BadRows(errors));
            }
            drop(conn);
            if !write {
                return Ok(ImportReport {
                    updated: rows.len(),
                    encoding,
                    sample: rows
                        .iter()
                        .take(SAMPLE_ROWS)
                        .map(|(id, _, _)| (id.clone(), true))
                        .collect(),
                    ..ImportReport::default()
                });
            }
            let payments: Vec<(String, crate::actions::payments::Payment)> = rows
                .iter()
                .map(|(id, paid_on, amount)| {
                    let payment = crate::actions::payments::Payment {
                        paid_on: *paid_on,
                        amount: *amount,
                    };
                    (id.clone(), payment)
                })
                .collect();
            crate::actions::payments::record_payments(
                db,
                &payments,
                &crate::domain::Actor::Import,
                now,
            )
            .await?;
            ImportReport {
                created: 0,
                updated: rows.len(),
                ..ImportReport::default()
            }
        }
        ImportKind::Suspensions => {
            drop(conn);
            import_suspensions(db, &table, clock, &mut errors, write).await?
        }
    };
    report.encoding = encoding;
    if !write {
        return Ok(report);
    }
    tracing::info!(
        ?kind,
        created = report.created,
        updated = report.updated,
        encoding = encoding.as_str(),
        "import committed"
    );
    Ok(report)
}

/// Suspensions: every row is checked and recorded in one transaction, which is rolled back when
/// any row fails, so a bad file records nothing and sends nothing. A row for a suspension
/// already recorded (same contract, dates and reason) changes nothing and counts as updated.
async fn import_suspensions(
    db: &Db,
    table: &Table,
    clock: &Clock,
    errors: &mut Vec<RowError>,
    write: bool,
) -> Result<ImportReport, ImportError> {
    use crate::suspension::{SuspendError, SuspendRequest, Suspended, suspend};
    let mut rows = Vec::new();
    for (line, rec) in &table.rows {
        let mut date = |column: &str| match parse_date(table.field(rec, column)) {
            Ok(d) => Some(d),
            Err(reason) => {
                errors.push(RowError {
                    line: *line,
                    column: column.into(),
                    reason,
                });
                None
            }
        };
        let (from, to) = (date("starts_on"), date("ends_on"));
        if let (Some(from), Some(to)) = (from, to) {
            rows.push((
                *line,
                SuspendRequest {
                    contract: table.field(rec, "contract_external_id").to_string(),
                    from,
                    to,
                    reason: table.field(rec, "reason").to_string(),
                    actor: "import: suspensions".into(),
                },
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::BadRows(std::mem::take(errors)));
    }
    let mut tx = db.begin().await?;
    let mut report = ImportReport::default();
    for (line, req) in &rows {
        match suspend(&mut tx, req, clock.today(), clock.now_millis()).await {
            Ok(found) => {
                let exists = matches!(found, Suspended::Exists(_));
                if exists {
                    report.updated += 1;
                } else {
                    report.created += 1;
                }
                if report.sample.len() < SAMPLE_ROWS {
                    report.sample.push((req.contract.clone(), exists));
                }
            }
            Err(SuspendError::Other(e)) => return Err(ImportError::Other(e)),
            Err(e) => {
                let column = match &e {
                    SuspendError::Invalid {
                        field: "contract", ..
                    } => "contract_external_id",
                    SuspendError::Invalid { field: "to", .. } => "ends_on",
                    _ => "starts_on",
                };
                let reason = match &e {
                    SuspendError::Invalid { en, .. } => en.clone(),
                    other => other.to_string(),
                };
                errors.push(RowError {
                    line: *line,
                    column: column.into(),
                    reason,
                });
            }
        }
    }
    if !errors.is_empty() {
        // Dropping the transaction rolls back the rows already recorded.
        return Err(ImportError::BadRows(std::mem::take(errors)));
    }
    if write {
        tx.commit().await.map_err(anyhow::Error::from)?;
    }
    // A preview drops the transaction: nothing recorded, no notice queued.
    Ok(report)
}

fn count<'a>(rows: impl Iterator<Item = (&'a String, bool)>) -> ImportReport {
    let mut r = ImportReport::default();
    tally(&mut r, rows);
    r
}

/// Adds rows (each a record's id and whether it exists) to a report's counts and sample.
fn tally<'a>(r: &mut ImportReport, rows: impl Iterator<Item = (&'a String, bool)>) {
    for (id, u) in rows {
        if u {
            r.updated += 1
        } else {
            r.created += 1
        }
        if r.sample.len() < SAMPLE_ROWS {
            r.sample.push((id.clone(), u));
        }
    }
}

/// Checks some of a customer file's rows; `seen` carries the ids of the rows before them, so
/// an id repeated anywhere in the file is named.
fn parse_customers(
    t: &Table,
    rows: &[(u64, csv::StringRecord)],
    seen: &mut HashMap<String, u64>,
    errors: &mut Vec<RowError>,
) -> Vec<NewCustomer> {
    let mut out = Vec::with_capacity(rows.len());
    for (line, rec) in rows {
        let mut c = RowCheck {
            line: *line,
            errors,
        };
        let external_id = c.unique_id(seen, "external_id", t.field(rec, "external_id"));
        let name = c.required("name", t.field(rec, "name"));
        let document = c
            .required("document", t.field(rec, "document"))
            .and_then(|d| {
                c.check(
                    "document",
                    Document::parse(d)
                        .map_err(|e| format!("{d:?} is not a valid CPF or CNPJ: {e}")),
                )
            });
        let email = match t.field(rec, "email") {
            "" => Some(None),
            e => c.check("email", EmailAddress::parse(e)).map(Some),
        };
        let mobile = match t.field(rec, "mobile_phone") {
            "" => Some(None),
            p => c.check("mobile_phone", MobilePhone::parse(p)).map(Some),
        };
        let address = match crate::domain::PostalAddress::parse(&crate::domain::AddressText {
            street: t.field(rec, "address_street"),
            number: t.field(rec, "address_number"),
            complement: t.field(rec, "address_complement"),
            district: t.field(rec, "address_district"),
            zip: t.field(rec, "address_zip"),
            city: t.field(rec, "address_city"),
            state: t.field(rec, "address_state"),
        }) {
            Ok(a) => Some(a),
            Err((field, reason)) => c.check(field, Err::<(), _>(reason)).map(|()| None),
        };
        if let (
            Some(external_id),
            Some(name),
            Some(document),
            Some(email),
            Some(mobile_phone),
            Some(address),
        ) = (external_id, name, document, email, mobile, address)
        {
            out.push(NewCustomer {
                external_id: external_id.to_string(),
                name: name.to_string(),
                document,
                email,
                mobile_phone,
                address,
            });
        }
    }
    out
}

fn parse_contracts(
    t: &Table,
    customers: &HashMap<String, CustomerId>,
    methods: &[BillingMethod],
    errors: &mut Vec<RowError>,
) -> Vec<NewContract> {
    let known_methods = || {
        methods
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::with_capacity(t.rows.len());
    let mut seen = HashMap::new();
    for (line, rec) in &t.rows {
        let mut c = RowCheck {
            line: *line,
            errors,
        };
        let external_id = c.unique_id(&mut seen, "external_id", t.field(rec, "external_id"));
        let customer = c
            .required("customer_external_id", t.field(rec, "customer_external_id"))
            .and_then(|id| {
                c.check(
                    "customer_external_id",
                    customers
                        .get(id)
                        .copied()
                        .ok_or_else(|| format!("no customer with external id {id:?}")),
                )
            });
        let plan = c.required("plan", t.field(rec, "plan"));
        let amount = c.check(
            "monthly_amount",
            Money::parse(t.field(rec, "monthly_amount")).and_then(limits::check_boleto_amount),
        );
        let due_day = c.check(
            "due_day",
            t.field(rec, "due_day")
                .parse::<u8>()
                .ok()
                .filter(|d| (1..=31).contains(d))
                .ok_or_else(|| {
                    format!(
                        "{:?} is not a day between 1 and 31",
                        t.field(rec, "due_day")
                    )
                }),
        );
        let delivery = match t.field(rec, "delivery_type") {
            "" => Some(None),
            d => c
                .check("delivery_type", d.parse::<DeliveryType>())
                .map(Some),
        };
        let method_name = t.field(rec, "billing_method");
        let method = c.check(
            "billing_method",
            methods
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(method_name))
                .map(|m| m.id)
                .ok_or_else(|| {
                    format!(
                        "no billing method named {method_name:?}; known: {}",
                        known_methods()
                    )
                }),
        );
        let status = match t.field(rec, "status") {
            "" => Some(ContractStatus::Active),
            s => c.check("status", s.parse::<ContractStatus>()),
        };
        if let (
            Some(external_id),
            Some(customer_id),
            Some(plan),
            Some(monthly_amount),
            Some(due_day),
            Some(delivery_type),
            Some(billing_method_id),
            Some(status),
        ) = (
            external_id,
            customer,
            plan,
            amount,
            due_day,
            delivery,
            method,
            status,
        ) {
            out.push(NewContract {
                external_id: external_id.to_string(),
                customer_id,
                plan: plan.to_string(),
                monthly_amount,
                due_day,
                billing_method_id,
                delivery_type,
                status,
            });
        }
    }
    out
}

/// Checks the ERP's boleto columns of a row against its wallet's bank, amount and due date.
fn erp_boleto(
    c: &mut RowCheck,
    t: &Table,
    rec: &csv::StringRecord,
    bank: Option<&str>,
    amount: Option<Money>,
    due: Option<jiff::civil::Date>,
) -> Option<ErpBoleto> {
    let given = crate::payment::ErpBoletoText {
        our_number: t.field(rec, "our_number"),
        digitable_line: t.field(rec, "digitable_line"),
        pix_code: t.field(rec, "pix_code"),
    };
    match crate::payment::check_erp_boleto(&given, bank, amount, due) {
        Ok(erp) => Some(erp),
        Err((column, reason)) => {
            c.check::<()>(column, Err(reason));
            None
        }
    }
}

fn parse_invoices(
    t: &Table,
    contracts: &HashMap<String, Contract>,
    banks: &HashMap<crate::domain::WalletId, String>,
    today: jiff::civil::Date,
    errors: &mut Vec<RowError>,
) -> Vec<(NewInvoice, ErpBoleto)> {
    let mut out = Vec::with_capacity(t.rows.len());
    let mut seen = HashMap::new();
    for (line, rec) in &t.rows {
        let mut c = RowCheck {
            line: *line,
            errors,
        };
        let external_id = c.unique_id(&mut seen, "external_id", t.field(rec, "external_id"));
        let contract = c
            .required("contract_external_id", t.field(rec, "contract_external_id"))
            .and_then(|id| {
                c.check(
                    "contract_external_id",
                    contracts
                        .get(id)
                        .cloned()
                        .ok_or_else(|| format!("no contract with external id {id:?}")),
                )
            });
        let amount = c.check(
            "amount",
            Money::parse(t.field(rec, "amount")).and_then(limits::check_boleto_amount),
        );
        let issue = c.check("issue_date", parse_date(t.field(rec, "issue_date")));
        let due = c.check(
            "due_date",
            parse_date(t.field(rec, "due_date")).and_then(|d| limits::check_due_date(d, today)),
        );
        if let (Some(i), Some(d)) = (issue, due)
            && d < i
        {
            {
                c.check::<()>(
                    "due_date",
                    Err(format!(
                        "{} is before the issue date {}",
                        format_date(d),
                        format_date(i)
                    )),
                );
            }
        }
        let kind = c.check(
            "status",
            t.field(rec, "status").parse::<InvoiceStatusKind>(),
        );
        // Optional columns for paid invoices; default to the due date and the full amount.
        let paid_on = match t.field(rec, "paid_on") {
            "" => Some(due),
            p => c.check("paid_on", parse_date(p)).map(Some),
        };
        let paid_amount = match t.field(rec, "paid_amount") {
            "" => Some(amount),
            p => c.check("paid_amount", Money::parse(p)).map(Some),
        };
        let bank = contract
            .as_ref()
            .and_then(|k| banks.get(&k.wallet_id))
            .map(String::as_str);
        let erp = erp_boleto(&mut c, t, rec, bank, amount, due);
        if let (
            Some(external_id),
            Some(contract),
            Some(amount),
            Some(issue_date),
            Some(due_date),
            Some(kind),
            Some(paid_on),
            Some(paid_amount),
            Some(erp),
        ) = (
            external_id,
            contract,
            amount,
            issue,
            due,
            kind,
            paid_on,
            paid_amount,
            erp,
        ) {
            let status = match kind {
                InvoiceStatusKind::Open => InvoiceStatus::Open,
                InvoiceStatusKind::Cancelled => InvoiceStatus::Cancelled,
                InvoiceStatusKind::Paid => InvoiceStatus::Paid {
                    paid_on: paid_on.unwrap_or(due_date),
                    amount: paid_amount.unwrap_or(amount),
                },
            };
            out.push((
                NewInvoice {
                    external_id: external_id.to_string(),
                    contract,
                    amount,
                    issue_date,
                    due_date,
                    competence: None,
                    status,
                },
                erp,
            ));
        }
    }
    out
}

fn parse_payments(
    t: &Table,
    invoices: &HashMap<String, InvoiceStatusKind>,
    errors: &mut Vec<RowError>,
) -> Vec<(String, jiff::civil::Date, Money)> {
    let mut out = Vec::with_capacity(t.rows.len());
    let mut seen = HashMap::new();
    for (line, rec) in &t.rows {
        let mut c = RowCheck {
            line: *line,
            errors,
        };
        let raw_id = t.field(rec, "invoice_external_id");
        let id = c.unique_id(&mut seen, "invoice_external_id", raw_id);
        // Checked even on a repeated line, so that line reports every problem it has.
        let known = (!raw_id.is_empty())
            .then_some(raw_id)
            .and_then(|i| match invoices.get(i) {
                None => c.check::<()>(
                    "invoice_external_id",
                    Err(format!("no invoice with external id {i:?}")),
                ),
                Some(InvoiceStatusKind::Cancelled) => c.check::<()>(
                    "invoice_external_id",
                    Err(format!("invoice {i:?} is cancelled")),
                ),
                Some(_) => Some(()),
            });
        let paid_on = c.check("paid_on", parse_date(t.field(rec, "paid_on")));
        let amount = c.check("amount", Money::parse(t.field(rec, "amount")));
        if let (Some(id), Some(()), Some(paid_on), Some(amount)) = (id, known, paid_on, amount) {
            out.push((id.to_string(), paid_on, amount));
        }
    }
    out
}
