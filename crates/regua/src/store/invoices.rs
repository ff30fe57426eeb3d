//! Invoices: insertion with the per-wallet our-number sequence, payments, queries.

use anyhow::Context as _;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::domain::*;

use super::bulk::{Bulk, Insert, Ty, Value};

/// A validated invoice to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    /// The ERP's id, or `<contract>/<YYYY-MM>` for generated ones.
    pub external_id: String,
    /// The contract (customer, method, wallet and delivery type are taken from it).
    pub contract: Contract,
    /// Amount.
    pub amount: Money,
    /// Issue date.
    pub issue_date: Date,
    /// Due date.
    pub due_date: Date,
    /// Competence month of a generated invoice.
    pub competence: Option<String>,
    /// Status.
    pub status: InvoiceStatus,
}

impl NewInvoice {
    /// The stored invoice this becomes once inserted with `id` and `our_number`: everything it
    /// holds is known at insert time, so callers need not read it back.
    pub fn into_invoice(self, id: InvoiceId, our_number: i64) -> Invoice {
        Invoice {
            id,
            external_id: self.external_id,
            customer_id: self.contract.customer_id,
            contract_id: self.contract.id,
            billing_method_id: self.contract.billing_method_id,
            wallet_id: self.contract.wallet_id,
            amount: self.amount,
            issue_date: self.issue_date,
            due_date: self.due_date,
            competence: self.competence,
            status: self.status,
            our_number,
            delivery_type: self.contract.delivery_type,
            registered_barcode: None,
            registered_pix: None,
        }
    }
}

pub(super) const INVOICE_COLUMNS: &str = "id, external_id, customer_id, contract_id, billing_method_id, wallet_id, amount_cents, issue_date, \
     due_date, competence, status, paid_on, paid_amount_cents, our_number, delivery_type, registered_barcode, registered_pix";

pub(crate) fn date_col(r: &AnyRow, col: &str) -> anyhow::Result<Date> {
    let s: String = r.try_get(col)?;
    s.parse().with_context(|| format!("stored {col} {s:?}"))
}

pub(super) fn invoice_from_row(r: &AnyRow) -> anyhow::Result<Invoice> {
    let status = match r.try_get::<String, _>("status")?.as_str() {
        "open" => InvoiceStatus::Open,
        "cancelled" => InvoiceStatus::Cancelled,
        "paid" => InvoiceStatus::Paid {
            paid_on: date_col(r, "paid_on")?,
            amount: Money(r.try_get("paid_amount_cents")?),
        },
        other => anyhow::bail!("stored invoice status {other:?}"),
    };
    Ok(Invoice {
        id: InvoiceId(r.try_get("id")?),
        external_id: r.try_get("external_id")?,
        customer_id: CustomerId(r.try_get("customer_id")?),
        contract_id: ContractId(r.try_get("contract_id")?),
        billing_method_id: BillingMethodId(r.try_get("billing_method_id")?),
        wallet_id: WalletId(r.try_get("wallet_id")?),
        amount: Money(r.try_get("amount_cents")?),
        issue_date: date_col(r, "issue_date")?,
        due_date: date_col(r, "due_date")?,
        competence: r.try_get("competence")?,
        status,
        our_number: r.try_get("our_number")?,
        delivery_type: r
            .try_get::<String, _>("delivery_type")?
            .parse()
            .map_err(anyhow::Error::msg)?,
        registered_barcode: r.try_get("registered_barcode")?,
        registered_pix: r.try_get("registered_pix")?,
    })
}

/// Carries the ERP's boleto on an invoice (its registered barcode and PIX code), or drops it.
pub async fn set_registered_boleto(
    conn: &mut AnyConnection,
    external_id: &str,
    barcode: Option<&str>,
    pix: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE invoices SET registered_barcode = $1, registered_pix = $2 WHERE external_id = $3",
    )
    .bind(barcode)
    .bind(pix)
    .bind(external_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether a wallet has an invoice with this our number (other than `except`).
pub async fn our_number_taken(
    conn: &mut AnyConnection,
    wallet: WalletId,
    our_number: i64,
    except: &str,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM invoices WHERE wallet_id = $1 AND our_number = $2 AND external_id <> $3",
    )
    .bind(wallet.0)
    .bind(our_number)
    .bind(except)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// Takes `$1` numbers from wallet `$2`'s sequence; the new next number comes back.
const RESERVE_OUR_NUMBERS: &str = "UPDATE wallets SET next_our_number = next_our_number + $1 WHERE id = $2 RETURNING next_our_number";

/// Reserves `count` consecutive our numbers in a wallet and returns the first. Run it in the
/// transaction that uses them: the row lock (PostgreSQL) or the write lock (SQLite) keeps two
/// writers from getting the same numbers.
pub async fn allocate_our_numbers(
    conn: &mut AnyConnection,
    wallet: WalletId,
    count: i64,
) -> anyhow::Result<i64> {
    let row = sqlx::query(RESERVE_OUR_NUMBERS)
        .bind(count)
        .bind(wallet.0)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("cannot allocate our numbers in wallet {wallet}"))?;
    Ok(row.try_get::<i64, _>(0)? - count)
}

/// [`allocate_our_numbers`] in the bulk transaction.
pub async fn reserve_our_numbers(
    bulk: &mut Bulk,
    wallet: WalletId,
    count: i64,
) -> anyhow::Result<i64> {
    let rows = bulk
        .query(
            RESERVE_OUR_NUMBERS,
            vec![count.into(), wallet.0.into()],
            &[Ty::Int],
        )
        .await
        .with_context(|| format!("cannot allocate our numbers in wallet {wallet}"))?;
    let next = rows
        .first()
        .with_context(|| format!("no wallet {wallet}"))?[0]
        .int()?;
    Ok(next - count)
}

fn paid_fields(status: &InvoiceStatus) -> (Option<String>, Option<i64>) {
    match status {
        InvoiceStatus::Paid { paid_on, amount } => {
            (Some(paid_on.to_string()), Some(amount.cents()))
        }
        _ => (None, None),
    }
}

/// The invoice columns an insert writes, in the order of [`invoice_values`] (the single and the
/// bulk insert share them).
const INVOICE_WRITE_COLUMNS: &[(&str, Ty)] = &[
    ("external_id", Ty::Text),
    ("customer_id", Ty::Int),
    ("contract_id", Ty::Int),
    ("billing_method_id", Ty::Int),
    ("wallet_id", Ty::Int),
    ("amount_cents", Ty::Int),
    ("issue_date", Ty::Text),
    ("due_date", Ty::Text),
    ("competence", Ty::Text),
    ("status", Ty::Text),
    ("paid_on", Ty::Text),
    ("paid_amount_cents", Ty::Int),
    ("our_number", Ty::Int),
    ("delivery_type", Ty::Text),
    ("created_at", Ty::Int),
    ("updated_at", Ty::Int),
];

/// One invoice; a generated month that exists is left alone.
static INVOICE_INSERT: Insert = Insert {
    table: "invoices",
    columns: INVOICE_WRITE_COLUMNS,
    tail: "ON CONFLICT (contract_id, competence) DO NOTHING",
    returning: &[("id", Ty::Int)],
};

/// Invoices in bulk: ids come back with the external ids they belong to.
static INVOICES_INSERT: Insert = Insert {
    returning: &[("id", Ty::Int), ("external_id", Ty::Text)],
    ..INVOICE_INSERT
};

fn invoice_values(inv: &NewInvoice, our_number: i64, now_ms: i64) -> Vec<Value> {
    let (paid_on, paid_amount) = paid_fields(&inv.status);
    vec![
        inv.external_id.as_str().into(),
        inv.contract.customer_id.0.into(),
        inv.contract.id.0.into(),
        inv.contract.billing_method_id.0.into(),
        inv.contract.wallet_id.0.into(),
        inv.amount.cents().into(),
        inv.issue_date.to_string().into(),
        inv.due_date.to_string().into(),
        inv.competence.as_deref().into(),
        inv.status.as_str().into(),
        paid_on.into(),
        paid_amount.into(),
        our_number.into(),
        inv.contract.delivery_type.as_str().into(),
        now_ms.into(),
        now_ms.into(),
    ]
}

/// Inserts an invoice with the given our number. A generated invoice whose (contract,
/// competence) exists already is not inserted: `Ok(None)`.
pub async fn insert_invoice(
    conn: &mut AnyConnection,
    inv: &NewInvoice,
    our_number: i64,
    now_ms: i64,
) -> anyhow::Result<Option<InvoiceId>> {
    let row = INVOICE_INSERT
        .bind_one(
            sqlx::query(AssertSqlSafe(INVOICE_INSERT.sqlite_sql())),
            invoice_values(inv, our_number, now_ms),
        )
        .fetch_optional(&mut *conn)
        .await
        .with_context(|| format!("cannot insert invoice {}", inv.external_id))?;
    row.map(|r| Ok(InvoiceId(r.try_get(0)?))).transpose()
}

/// [`insert_invoice`] for many, each with its our number, in the bulk transaction: their ids
/// in order, `None` for a month that existed.
pub async fn insert_invoices(
    bulk: &mut Bulk,
    invoices: &[(NewInvoice, i64)],
    now_ms: i64,
) -> anyhow::Result<Vec<Option<InvoiceId>>> {
    let written = bulk
        .insert_each(&INVOICES_INSERT, invoices, |(inv, n)| {
            Ok(invoice_values(inv, *n, now_ms))
        })
        .await?;
    let mut ids: std::collections::HashMap<String, InvoiceId> = written
        .returned
        .iter()
        .map(|r| Ok((r[1].text()?.to_string(), InvoiceId(r[0].int()?))))
        .collect::<anyhow::Result<_>>()?;
    Ok(invoices
        .iter()
        .map(|(inv, _)| ids.remove(&inv.external_id))
        .collect())
}

/// Updates an imported invoice's amount, dates and status (matched by external id). The
/// delivery-type snapshot and our number stay as they were.
pub async fn update_imported_invoice(
    conn: &mut AnyConnection,
    inv: &NewInvoice,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (paid_on, paid_amount) = paid_fields(&inv.status);
    sqlx::query(
        "UPDATE invoices SET amount_cents = $1, issue_date = $2, due_date = $3, status = $4, paid_on = $5,
                paid_amount_cents = $6, updated_at = $7
         WHERE external_id = $8",
    )
    .bind(inv.amount.cents())
    .bind(inv.issue_date.to_string())
    .bind(inv.due_date.to_string())
    .bind(inv.status.as_str())
    .bind(paid_on)
    .bind(paid_amount)
    .bind(now_ms)
    .bind(&inv.external_id)
    .execute(&mut *conn)
    .await
    .with_context(|| format!("cannot update invoice {}", inv.external_id))?;
    Ok(())
}

/// Marks one invoice paid on that date with that amount, and nothing else: no audit row, its
/// notices left as they are. Payments go through `actions::payments` (which uses
/// [`mark_invoices_paid`]); this is for tests that set up a paid invoice to see what the
/// worker's own re-check does.
pub async fn mark_invoice_paid(
    conn: &mut AnyConnection,
    external_id: &str,
    paid_on: Date,
    amount: Money,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE invoices SET status = 'paid', paid_on = $1, paid_amount_cents = $2, updated_at = $3 WHERE external_id = $4")
        .bind(paid_on.to_string())
        .bind(amount.cents())
        .bind(now_ms)
        .bind(external_id)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("cannot record the payment of invoice {external_id}"))?;
    Ok(())
}

/// An invoice by id.
pub async fn get_invoice(conn: &mut AnyConnection, id: InvoiceId) -> anyhow::Result<Invoice> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("invoice {id}"))?;
    invoice_from_row(&row)
}

/// An invoice by the ERP's id.
pub async fn find_invoice_by_external_id(
    conn: &mut AnyConnection,
    external_id: &str,
) -> anyhow::Result<Option<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE external_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(invoice_from_row).transpose()
}

/// A contract's invoices by due date.
pub async fn list_invoices_of_contract(
    conn: &mut AnyConnection,
    contract: ContractId,
) -> anyhow::Result<Vec<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE contract_id = $1 ORDER BY due_date, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(contract.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(invoice_from_row)
        .collect()
}

/// Up to `limit` invoices with ids above `after`, by id: paging through all invoices.
pub async fn list_invoices_after(
    conn: &mut AnyConnection,
    after: InvoiceId,
    limit: i64,
) -> anyhow::Result<Vec<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id > $1 ORDER BY id LIMIT $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.0)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(invoice_from_row)
        .collect()
}

/// The invoices with these ids, in no particular order.
pub async fn get_invoices(
    conn: &mut AnyConnection,
    ids: &[InvoiceId],
) -> anyhow::Result<Vec<Invoice>> {
    let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id IN ({{ids}})");
    super::fetch_by_ids(conn, &sql, &ids, invoice_from_row).await
}

/// The open invoices of these customers, by customer then due date.
pub async fn list_open_invoices_of_customers(
    conn: &mut AnyConnection,
    customers: &[CustomerId],
) -> anyhow::Result<Vec<Invoice>> {
    let ids: Vec<i64> = customers.iter().map(|i| i.0).collect();
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id IN ({{ids}}) AND status = 'open' ORDER BY customer_id, due_date, id"
    );
    super::fetch_by_ids(conn, &sql, &ids, invoice_from_row).await
}

/// A customer's open invoices by due date (the consolidated list of messages and the portal).
pub async fn list_open_invoices_of_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
) -> anyhow::Result<Vec<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 AND status = 'open' ORDER BY due_date, id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(invoice_from_row)
        .collect()
}

fn months_sql(contracts: &[ContractId]) -> String {
    format!(
        "SELECT contract_id, due_date FROM invoices WHERE contract_id IN ({}) AND due_date >= $1 AND due_date <= $2",
        super::id_list(contracts.iter().map(|c| c.0))
    )
}

/// The (contract, year, month) of every invoice, in any status, due in `[from, to]` for these
/// contracts, read in the bulk transaction (so, on SQLite, under the write lock its inserts
/// take).
pub async fn months_with_invoices(
    bulk: &mut Bulk,
    contracts: &[ContractId],
    from: Date,
    to: Date,
) -> anyhow::Result<std::collections::HashSet<(ContractId, i16, i8)>> {
    if contracts.is_empty() {
        return Ok(Default::default());
    }
    bulk.query(
        months_sql(contracts),
        vec![from.to_string().into(), to.to_string().into()],
        &[Ty::Int, Ty::Text],
    )
    .await?
    .iter()
    .map(|r| {
        let due: Date = r[1].text()?.parse()?;
        Ok((ContractId(r[0].int()?), due.year(), due.month()))
    })
    .collect()
}

/// Whether a contract has an invoice (any status) due within `[from, to]`.
pub async fn contract_has_invoice_due_between(
    conn: &mut AnyConnection,
    contract: ContractId,
    from: Date,
    to: Date,
) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM invoices WHERE contract_id = $1 AND due_date >= $2 AND due_date <= $3")
        .bind(contract.0)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(n > 0)
}

/// Map of every invoice's external id to its status kind (for imports that reference invoices).
pub async fn invoice_statuses_by_external_id(
    conn: &mut AnyConnection,
) -> anyhow::Result<std::collections::HashMap<String, InvoiceStatusKind>> {
    let rows = sqlx::query("SELECT external_id, status FROM invoices")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(1)?;
            Ok((r.try_get(0)?, status.parse().map_err(anyhow::Error::msg)?))
        })
        .collect()
}

/// Invoice counts by status: (open, paid, cancelled).
pub async fn count_invoices_by_status(conn: &mut AnyConnection) -> anyhow::Result<(i64, i64, i64)> {
    let rows = sqlx::query("SELECT status, COUNT(*) FROM invoices GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = (0, 0, 0);
    for r in rows {
        let n: i64 = r.try_get(1)?;
        match r.try_get::<String, _>(0)?.as_str() {
            "open" => out.0 = n,
            "paid" => out.1 = n,
            _ => out.2 = n,
        }
    }
    Ok(out)
}

/// Filters of the invoices page. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct InvoiceListFilter {
    /// `open`, `paid` or `cancelled`.
    pub status: Option<String>,
    /// One customer.
    pub customer: Option<CustomerId>,
    /// One contract.
    pub contract: Option<ContractId>,
    /// Due on or after.
    pub due_from: Option<Date>,
    /// Due on or before.
    pub due_to: Option<Date>,
    /// Issued on or after.
    pub issue_from: Option<Date>,
    /// Issued on or before.
    pub issue_to: Option<Date>,
    /// One billing method.
    pub method: Option<BillingMethodId>,
    /// One delivery type.
    pub delivery: Option<DeliveryType>,
}

/// A page of invoices, latest due date first, each with its customer's name (one query: the
/// page is the admin UI's busiest).
pub async fn list_invoices_page(
    conn: &mut AnyConnection,
    f: &InvoiceListFilter,
    offset: i64,
    limit: i64,
) -> anyhow::Result<Vec<(Invoice, String)>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS}, (SELECT name FROM customers c WHERE c.id = invoices.customer_id) AS customer_name
         FROM invoices
         WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR contract_id = $3)
           AND ($4 IS NULL OR due_date >= $4) AND ($5 IS NULL OR due_date <= $5)
           AND ($6 IS NULL OR issue_date >= $6) AND ($7 IS NULL OR issue_date <= $7)
           AND ($8 IS NULL OR billing_method_id = $8) AND ($9 IS NULL OR delivery_type = $9)
         ORDER BY due_date DESC, id DESC LIMIT $10 OFFSET $11"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(f.status.as_deref())
        .bind(f.customer.map(|c| c.0))
        .bind(f.contract.map(|c| c.0))
        .bind(f.due_from.map(|d| d.to_string()))
        .bind(f.due_to.map(|d| d.to_string()))
        .bind(f.issue_from.map(|d| d.to_string()))
        .bind(f.issue_to.map(|d| d.to_string()))
        .bind(f.method.map(|m| m.0))
        .bind(f.delivery.map(|d| d.as_str()))
        .bind(limit)
        .bind(offset.max(0))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((invoice_from_row(r)?, r.try_get("customer_name")?)))
        .collect()
}

/// Cancels an open invoice; whether it was open (a paid or cancelled one is left as it is).
/// Notices still queued for it are skipped by the worker, which re-checks the invoice.
pub async fn cancel_invoice(
    conn: &mut AnyConnection,
    id: InvoiceId,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE invoices SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(now_ms)
    .bind(id.0)
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Records the payments of many invoices (`id`, paid on, amount), a few statements for all of
/// them; the caller checked they are open. The payments go through the connection's scratch
/// table `regua_payments` (created on first use, emptied each time), so that both engines
/// update by primary key.
pub async fn mark_invoices_paid(
    conn: &mut AnyConnection,
    payments: &[(InvoiceId, Date, Money)],
    now_ms: i64,
) -> anyhow::Result<()> {
    fill_payments_scratch(conn, payments).await?;
    sqlx::query(
        "UPDATE invoices SET status = 'paid',
            paid_on = (SELECT p.paid_on FROM regua_payments p WHERE p.id = invoices.id),
            paid_amount_cents = (SELECT p.amount_cents FROM regua_payments p WHERE p.id = invoices.id),
            updated_at = $1
         WHERE id IN (SELECT id FROM regua_payments)",
    )
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .context("cannot record the payments")?;
    Ok(())
}

/// Fills the connection's scratch table of payments (`regua_payments`: invoice id, paid on,
/// amount), emptied first.
async fn fill_payments_scratch(
    conn: &mut AnyConnection,
    payments: &[(InvoiceId, Date, Money)],
) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TEMPORARY TABLE IF NOT EXISTS regua_payments (
            id BIGINT PRIMARY KEY, paid_on TEXT NOT NULL, amount_cents BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM regua_payments")
        .execute(&mut *conn)
        .await?;
    for chunk in payments.chunks(super::MAX_BIND / 3) {
        let sql = format!(
            "INSERT INTO regua_payments (id, paid_on, amount_cents) VALUES {}",
            super::values_rows(conn, chunk.len(), 3, 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, paid_on, amount) in chunk {
            q = q.bind(id.0).bind(paid_on.to_string()).bind(amount.cents());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// An invoice just paid whose billing method sends "pagamento confirmado", with whom to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToConfirm {
    /// The invoice.
    pub invoice: InvoiceId,
    /// Its customer.
    pub customer: crate::domain::CustomerId,
    /// Its contract.
    pub contract: crate::domain::ContractId,
    /// The customer's e-mail.
    pub email: String,
}

/// The invoices of the connection's `regua_payments` (just paid, in the caller's transaction)
/// whose billing method has `confirm_payment` on, delivered by e-mail to a customer with an
/// address.
pub async fn paid_to_confirm(conn: &mut AnyConnection) -> anyhow::Result<Vec<ToConfirm>> {
    // Most ISPs leave it off: then the payments are not joined at all (a 100 000-record return
    // file pays in one transaction).
    let any: Option<i64> =
        sqlx::query_scalar("SELECT id FROM billing_methods WHERE confirm_payment = 1 LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT i.id, i.customer_id, i.contract_id, c.email
           FROM regua_payments p
           JOIN invoices i ON i.id = p.id
           JOIN billing_methods m ON m.id = i.billing_method_id
           JOIN customers c ON c.id = i.customer_id
          WHERE m.confirm_payment = 1 AND i.delivery_type = 'email'
            AND c.email IS NOT NULL AND c.email <> ''
          ORDER BY i.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ToConfirm {
                invoice: InvoiceId(r.try_get(0)?),
                customer: crate::domain::CustomerId(r.try_get(1)?),
                contract: crate::domain::ContractId(r.try_get(2)?),
                email: r.try_get(3)?,
            })
        })
        .collect()
}

/// The invoices just paid (the connection's `regua_payments`, as `mark_invoices_paid` left it):
/// invoice, contract and customer external ids, the payment's date and amount (the
/// `invoice.paid` webhook's data).
pub async fn just_paid_refs(
    conn: &mut AnyConnection,
) -> anyhow::Result<Vec<(String, String, String, String, i64)>> {
    sqlx::query(
        "SELECT i.external_id, k.external_id, c.external_id, p.paid_on, p.amount_cents
         FROM regua_payments p JOIN invoices i ON i.id = p.id JOIN contracts k ON k.id = i.contract_id
         JOIN customers c ON c.id = i.customer_id ORDER BY i.id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
    .collect()
}
