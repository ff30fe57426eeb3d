//! Customers, contracts and invoices written one at a time from outside (the REST API; the
//! CSV import writes whole files in `crate::import`). Each save is checked against what is
//! stored, written and audited in one transaction, the record before and after in the trail
//! as [`customer_record`] and [`contract_record`] show them.

use jiff::civil::Date;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use crate::domain::{
    Actor, Contract, ContractStatus, Customer, DeliveryType, InvoiceStatus, Money, NewContract,
    NewCustomer,
};
use crate::store::invoices::NewInvoice;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Whether a save makes a record or changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// A new record: one with the same id is [`Refused::Exists`].
    Create,
    /// An existing record: a missing one is [`Refused::NotFound`].
    Update,
}

/// Why a save or a cancellation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A record with this id exists.
    Exists,
    /// No record with this id.
    NotFound,
    /// A field refers to something that does not exist or may not change; the reason in pt-BR.
    Invalid {
        /// The field.
        field: &'static str,
        /// Why, for the screen and the API.
        pt: &'static str,
    },
    /// The invoice is paid or cancelled.
    NotOpen,
    /// The contract is cancelled: it takes no new invoice.
    Cancelled,
}

/// What a save did: whether the record existed before.
pub type Existed = bool;

/// A customer as the trail (and the API) shows it.
pub fn customer_record(c: &Customer) -> Value {
    json!({
        "id": c.external_id,
        "name": c.name,
        "document": c.document.to_string(),
        "email": c.email.as_ref().map(|e| e.as_str()),
        "mobile_phone": c.mobile_phone.as_ref().map(|m| format!("+{}", m.e164())),
        "address": c.address.as_ref().map(ToString::to_string),
    })
}

/// A contract as the trail (and the API) shows it: its customer and billing method by name.
pub async fn contract_record(conn: &mut AnyConnection, k: &Contract) -> anyhow::Result<Value> {
    let customer = store::parties::get_customer(conn, k.customer_id).await?;
    let method = store::parties::list_billing_methods(conn)
        .await?
        .into_iter()
        .find(|m| m.id == k.billing_method_id)
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(json!({
        "id": k.external_id,
        "customer": customer.external_id,
        "plan": k.plan,
        "monthly_amount_cents": k.monthly_amount.cents(),
        "due_day": k.due_day,
        "billing_method": method,
        "delivery_type": k.delivery_type.as_str(),
        "status": k.status.as_str(),
    }))
}

/// Creates or updates a customer (`customer.create` / `customer.update`).
pub async fn save_customer(
    db: &Db,
    c: &NewCustomer,
    mode: Save,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(Customer, Existed), Refused>> {
    in_transaction(db, async |tx| {
        let before = store::parties::find_customer_by_external_id(tx, &c.external_id).await?;
        match (mode, &before) {
            (Save::Create, Some(_)) => return Ok(Err(Refused::Exists)),
            (Save::Update, None) => return Ok(Err(Refused::NotFound)),
            _ => {}
        }
        store::parties::upsert_customer(tx, c, now_ms).await?;
        let saved = store::parties::find_customer_by_external_id(tx, &c.external_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("customer vanished"))?;
        let action = if before.is_some() {
            "customer.update"
        } else {
            "customer.create"
        };
        let mut audit = Audit::of(action, format!("customer:{}", c.external_id))
            .after(customer_record(&saved).to_string());
        audit.before = before.as_ref().map(|b| customer_record(b).to_string());
        audit.write(tx, actor, now_ms).await?;
        // A fixed e-mail ends the old address's suppression (docs/bounces.md): the clerk did
        // what the "E-mails inválidos" list asked.
        let old = before
            .as_ref()
            .and_then(|b| b.email.as_ref())
            .map(|e| e.as_str().to_lowercase());
        let new = saved.email.as_ref().map(|e| e.as_str().to_lowercase());
        if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
            super::bounces::unsuppress_in(tx, &old, actor, now_ms).await?;
        }
        Ok(Ok((saved, before.is_some())))
    })
    .await
}

/// A contract to save, its customer and billing method by name.
#[derive(Debug, Clone)]
pub struct ContractInput {
    /// The ERP's id.
    pub external_id: String,
    /// The customer's external id.
    pub customer: String,
    /// The plan's name.
    pub plan: String,
    /// The monthly amount.
    pub monthly_amount: Money,
    /// Day of the month invoices fall due.
    pub due_day: u8,
    /// The billing method's name (case does not matter).
    pub billing_method: String,
    /// E-mail or printed; `None` keeps the default.
    pub delivery_type: Option<DeliveryType>,
    /// Its status.
    pub status: ContractStatus,
}

/// Creates or updates a contract (`contract.create` / `contract.update`). A contract's
/// customer never changes.
pub async fn save_contract(
    db: &Db,
    input: &ContractInput,
    mode: Save,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(Contract, Existed), Refused>> {
    let invalid = |field, pt| Ok(Err(Refused::Invalid { field, pt }));
    in_transaction(db, async |tx| {
        let Some(customer) =
            store::parties::find_customer_by_external_id(tx, input.customer.trim()).await?
        else {
            return invalid("customer", "Cliente não encontrado.");
        };
        let Some(method) = store::parties::list_billing_methods(tx)
            .await?
            .into_iter()
            .find(|m| m.name.eq_ignore_ascii_case(input.billing_method.trim()))
        else {
            return invalid("billing_method", "Forma de cobrança não encontrada.");
        };
        let before = store::parties::find_contract_by_external_id(tx, &input.external_id).await?;
        match (mode, &before) {
            (Save::Create, Some(_)) => return Ok(Err(Refused::Exists)),
            (Save::Update, None) => return Ok(Err(Refused::NotFound)),
            (Save::Update, Some(k)) if k.customer_id != customer.id => {
                return invalid(
                    "customer",
                    "O cliente de um contrato não muda; cadastre um novo contrato.",
                );
            }
            _ => {}
        }
        let k = NewContract {
            external_id: input.external_id.clone(),
            customer_id: customer.id,
            plan: input.plan.clone(),
            monthly_amount: input.monthly_amount,
            due_day: input.due_day,
            billing_method_id: method.id,
            delivery_type: input.delivery_type,
            status: input.status,
        };
        store::parties::upsert_contract(tx, &k, now_ms).await?;
        let before_record = match &before {
            Some(k) => Some(contract_record(tx, k).await?.to_string()),
            None => None,
        };
        let saved = store::parties::find_contract_by_external_id(tx, &input.external_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("contract vanished"))?;
        let action = if before.is_some() {
            "contract.update"
        } else {
            "contract.create"
        };
        let mut audit = Audit::of(action, format!("contract:{}", input.external_id))
            .after(contract_record(tx, &saved).await?.to_string());
        audit.before = before_record;
        audit.write(tx, actor, now_ms).await?;
        Ok(Ok((saved, before.is_some())))
    })
    .await
}

/// An invoice to save; its contract by external id (required to create, and unchangeable).
#[derive(Debug, Clone)]
pub struct InvoiceInput {
    /// The ERP's id.
    pub external_id: String,
    /// The contract's external id.
    pub contract: Option<String>,
    /// The amount.
    pub amount: Money,
    /// Issued on.
    pub issue_date: Date,
    /// Due on.
    pub due_date: Date,
    /// The ERP's boleto, when it issued and registered it (docs/import.md): its our number,
    /// digitable line and PIX code as given (empty: absent).
    pub erp_our_number: String,
    /// See `erp_our_number`.
    pub erp_digitable_line: String,
    /// See `erp_our_number`.
    pub erp_pix_code: String,
}

/// Creates an invoice (with an our number from its wallet) or updates an open one's amount
/// and dates (`invoice.create` / `invoice.update`). Whether it existed.
pub async fn save_invoice(
    db: &Db,
    input: &InvoiceInput,
    mode: Save,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<Existed, Refused>> {
    let invalid = |field, pt| Ok(Err(Refused::Invalid { field, pt }));
    in_transaction(db, async |tx| {
        let before = store::invoices::find_invoice_by_external_id(tx, &input.external_id).await?;
        let contract = match (mode, &before) {
            (Save::Create, Some(_)) => return Ok(Err(Refused::Exists)),
            (Save::Update, None) => return Ok(Err(Refused::NotFound)),
            (_, Some(i)) => {
                if i.status != InvoiceStatus::Open {
                    return Ok(Err(Refused::NotOpen));
                }
                let k = store::parties::get_contract(tx, i.contract_id).await?;
                if let Some(named) = &input.contract
                    && named.trim() != k.external_id
                {
                    return invalid("contract", "O contrato de uma fatura não muda.");
                }
                k
            }
            (_, None) => {
                let named = input.contract.as_deref().map(str::trim).unwrap_or_default();
                let Some(k) = store::parties::find_contract_by_external_id(tx, named).await? else {
                    return invalid("contract", "Contrato não encontrado.");
                };
                if k.status == ContractStatus::Cancelled {
                    return Ok(Err(Refused::Cancelled));
                }
                k
            }
        };
        let bank = store::parties::get_wallet(tx, contract.wallet_id)
            .await?
            .bank_code;
        let given = crate::payment::ErpBoletoText {
            our_number: &input.erp_our_number,
            digitable_line: &input.erp_digitable_line,
            pix_code: &input.erp_pix_code,
        };
        let erp = match crate::payment::check_erp_boleto(
            &given,
            Some(&bank),
            Some(input.amount),
            Some(input.due_date),
        ) {
            Ok(erp) => erp,
            Err((field, _)) => {
                let pt = match field {
                    "digitable_line" => {
                        "A linha digitável não confere com o banco, o valor ou o vencimento."
                    }
                    "pix_code" => "Código PIX inválido ou de outro valor.",
                    _ => "Nosso número: só dígitos, obrigatório com a linha digitável.",
                };
                return invalid(field, pt);
            }
        };
        if let Some(n) = erp.our_number
            && store::invoices::our_number_taken(tx, contract.wallet_id, n, &input.external_id)
                .await?
        {
            return invalid("our_number", "Nosso número de outra fatura desta carteira.");
        }
        let inv = NewInvoice {
            external_id: input.external_id.clone(),
            contract,
            amount: input.amount,
            issue_date: input.issue_date,
            due_date: input.due_date,
            competence: None,
            status: InvoiceStatus::Open,
        };
        let action = match &before {
            Some(_) => {
                store::invoices::update_imported_invoice(tx, &inv, now_ms).await?;
                "invoice.update"
            }
            None => {
                let our_number = match erp.our_number {
                    Some(n) => n,
                    None => {
                        store::invoices::allocate_our_numbers(tx, inv.contract.wallet_id, 1).await?
                    }
                };
                store::invoices::insert_invoice(tx, &inv, our_number, now_ms).await?;
                "invoice.create"
            }
        };
        if erp.barcode.is_some() || erp.pix.is_some() {
            store::invoices::set_registered_boleto(
                tx,
                &input.external_id,
                erp.barcode.as_deref(),
                erp.pix.as_deref(),
            )
            .await?;
        }
        let mut audit = Audit::of(action, format!("invoice:{}", input.external_id)).after(format!(
            "{} due {}",
            input.amount.cents(),
            input.due_date
        ));
        audit.before = before
            .as_ref()
            .map(|i| format!("{} due {}", i.amount.cents(), i.due_date));
        audit.write(tx, actor, now_ms).await?;
        Ok(Ok(before.is_some()))
    })
    .await
}

/// Cancels an open invoice (`invoice.cancel`); a cancelled one is left as it is, a paid one
/// is [`Refused::NotOpen`].
pub async fn cancel_invoice(
    db: &Db,
    external_id: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(), Refused>> {
    in_transaction(db, async |tx| {
        let Some(i) = store::invoices::find_invoice_by_external_id(tx, external_id).await? else {
            return Ok(Err(Refused::NotFound));
        };
        match i.status {
            InvoiceStatus::Cancelled => {}
            InvoiceStatus::Paid { .. } => return Ok(Err(Refused::NotOpen)),
            InvoiceStatus::Open => {
                store::invoices::cancel_invoice(tx, i.id, now_ms).await?;
                Audit::of("invoice.cancel", format!("invoice:{external_id}"))
                    .before("open")
                    .after("cancelled")
                    .write(tx, actor, now_ms)
                    .await?;
            }
        }
        Ok(Ok(()))
    })
    .await
}
