//! The API's response bodies, typed: each handler builds its JSON from these, and the OpenAPI
//! document (`doc.rs`) is generated from them and from the request bodies, so the document
//! cannot say one thing while the code answers another.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{Invoice as StoredInvoice, InvoiceStatus};

/// An error: `{"code", "message", "field"}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Machine code: `unauthorized`, `forbidden`, `invalid`, `not_found`, `exists`,
    /// `not_open`, `cancelled`, `overlap`, `not_suspended`, `no_account`, `unissuable`,
    /// `idempotency_key_reused`, `internal`.
    pub code: &'static str,
    /// What went wrong, in pt-BR.
    pub message: String,
    /// The field (or header) at fault.
    pub field: Option<String>,
}

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Customer {
    /// External id (the ERP's code).
    pub id: String,
    /// Name or company name.
    pub name: String,
    /// CPF or CNPJ, formatted.
    pub document: String,
    /// E-mail.
    pub email: Option<String>,
    /// Mobile phone, E.164.
    pub mobile_phone: Option<String>,
    /// Street (logradouro), when the customer has an address.
    pub address_street: Option<String>,
    /// Number.
    pub address_number: Option<String>,
    /// Complement.
    pub address_complement: Option<String>,
    /// District (bairro).
    pub address_district: Option<String>,
    /// CEP, 8 digits.
    pub address_zip: Option<String>,
    /// City.
    pub address_city: Option<String>,
    /// UF.
    pub address_state: Option<String>,
}

impl From<&crate::domain::Customer> for Customer {
    fn from(c: &crate::domain::Customer) -> Self {
        Customer {
            id: c.external_id.clone(),
            name: c.name.clone(),
            document: c.document.to_string(),
            email: c.email.as_ref().map(|e| e.as_str().to_string()),
            mobile_phone: c.mobile_phone.as_ref().map(|m| format!("+{}", m.e164())),
            address_street: c.address.as_ref().map(|a| a.street.clone()),
            address_number: c.address.as_ref().map(|a| a.number.clone()),
            address_complement: c.address.as_ref().map(|a| a.complement.clone()),
            address_district: c.address.as_ref().map(|a| a.district.clone()),
            address_zip: c.address.as_ref().map(|a| a.zip.clone()),
            address_city: c.address.as_ref().map(|a| a.city.clone()),
            address_state: c.address.as_ref().map(|a| a.state.clone()),
        }
    }
}

/// Customers, a page of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    /// The page.
    pub customers: Vec<Customer>,
}

/// A contract.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contract {
    /// External id.
    pub id: String,
    /// The customer's external id.
    pub customer: String,
    /// The plan.
    pub plan: String,
    /// The monthly amount, in centavos.
    pub monthly_amount_cents: i64,
    /// Day of the month its invoices fall due.
    pub due_day: u8,
    /// The billing method's name.
    pub billing_method: String,
    /// `email` or `printed`.
    #[schema(pattern = "^(email|printed)$")]
    pub delivery_type: &'static str,
    /// `active`, `suspended` or `cancelled`.
    #[schema(pattern = "^(active|suspended|cancelled)$")]
    pub status: &'static str,
}

/// An invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invoice {
    /// External id.
    pub id: String,
    /// The customer's external id.
    pub customer: String,
    /// The contract's external id.
    pub contract: String,
    /// The amount, in centavos.
    pub amount_cents: i64,
    /// Issued on (YYYY-MM-DD).
    #[schema(format = Date)]
    pub issue_date: String,
    /// Due on (YYYY-MM-DD).
    #[schema(format = Date)]
    pub due_date: String,
    /// The month of a generated invoice (YYYY-MM).
    pub competence: Option<String>,
    /// `open`, `paid` or `cancelled`.
    #[schema(pattern = "^(open|paid|cancelled)$")]
    pub status: &'static str,
    /// Paid on (YYYY-MM-DD), when paid.
    pub paid_on: Option<String>,
    /// What was paid, in centavos, when paid.
    pub paid_amount_cents: Option<i64>,
    /// `email` or `printed`.
    pub delivery_type: &'static str,
    /// The boleto's nosso número.
    pub our_number: i64,
}

impl Invoice {
    /// The stored invoice, its customer and contract by external id.
    pub fn of(i: &StoredInvoice, customer: &str, contract: &str) -> Invoice {
        let (status, paid_on, paid) = match &i.status {
            InvoiceStatus::Open => ("open", None, None),
            InvoiceStatus::Paid { paid_on, amount } => {
                ("paid", Some(paid_on.to_string()), Some(amount.cents()))
            }
            InvoiceStatus::Cancelled => ("cancelled", None, None),
        };
        Invoice {
            id: i.external_id.clone(),
            customer: customer.to_string(),
            contract: contract.to_string(),
            amount_cents: i.amount.cents(),
            issue_date: i.issue_date.to_string(),
            due_date: i.due_date.to_string(),
            competence: i.competence.clone(),
            status,
            paid_on,
            paid_amount_cents: paid,
            delivery_type: i.delivery_type.as_str(),
            our_number: i.our_number,
        }
    }
}

/// Invoices, a page of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    /// The page, latest due first.
    pub invoices: Vec<Invoice>,
}

/// A temporary suspension of a contract.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suspension {
    /// Its id.
    pub id: i64,
    /// The contract's external id.
    pub contract: String,
    /// First day without service (YYYY-MM-DD).
    #[schema(format = Date)]
    pub from: String,
    /// Last day without service (YYYY-MM-DD).
    #[schema(format = Date)]
    pub to: String,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// Ended early or withdrawn.
    pub cancelled: bool,
}

impl Suspension {
    /// A stored suspension of the contract `contract`.
    pub fn of(s: &crate::store::channels::Suspension, contract: &str) -> Suspension {
        Suspension {
            id: s.id.0,
            contract: contract.to_string(),
            from: s.starts_on.to_string(),
            to: s.ends_on.to_string(),
            reason: s.reason.clone(),
            requested_by: s.requested_by.clone(),
            cancelled: s.cancelled_at.is_some(),
        }
    }
}

/// A contract's suspensions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionList {
    /// Latest first.
    pub suspensions: Vec<Suspension>,
}

/// A contract's place on the suspension clock (docs/debt.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct DebtStatus {
    /// The contract's external id.
    pub contract: String,
    /// `regular`, `notified`, `suspension_due`, `suspended`, `termination_notified`,
    /// `termination_due`, `terminated` or `restore_due`.
    pub state: &'static str,
}

/// A suspension ended or withdrawn.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionEnded {
    /// The suspension as it is now.
    #[serde(flatten)]
    pub suspension: Suspension,
    /// `restored`: it was running and ends yesterday, the ended notice goes; `withdrawn`: it
    /// had not started.
    #[schema(pattern = "^(restored|withdrawn)$")]
    pub ended: &'static str,
    /// Whether a notice tells the customer (always for restored; for withdrawn, when the
    /// scheduled notice had been sent).
    pub customer_notified: bool,
}

/// A notice queued to send an invoice now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The notice's id (see `/notices`).
    pub notice: i64,
    /// `queued`.
    pub status: &'static str,
    /// The invoice's external id.
    pub invoice: String,
}

/// An invoice made by generation.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedInvoice {
    /// External id (`CONTRACT/YYYY-MM`).
    pub id: String,
    /// Due on (YYYY-MM-DD).
    #[schema(format = Date)]
    pub due_date: String,
    /// The amount, in centavos.
    pub amount_cents: i64,
}

/// What a generation made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Generated {
    /// The contract's external id.
    pub contract: String,
    /// The invoices made now.
    pub created: Vec<GeneratedInvoice>,
    /// The months that had their invoice already (YYYY-MM).
    pub skipped_months: Vec<String>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    /// The notice.
    pub notice: i64,
    /// When (RFC 3339).
    pub at: String,
    /// `sent`, `retrying`, `dead` or `skipped`.
    pub outcome: &'static str,
    /// `email`, `sms` or `push`.
    pub channel: &'static str,
    /// The account or gateway.
    pub account: Option<String>,
    /// Address, phone or document.
    pub recipient: String,
    /// What the message was for.
    pub purpose: &'static str,
    /// The server's reply code.
    pub reply_code: Option<u16>,
    /// The server's reply, or why it was not sent.
    pub reply: String,
    /// Who caused it.
    pub caused_by: String,
    /// For a sent attempt, what the provider reported after accepting it: `delivered`, `read`
    /// or `failed` (WhatsApp receipts, SMS delivery reports); absent when nothing was reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// The delivery log, a page of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    /// Newest first.
    pub attempts: Vec<Attempt>,
}

/// The dry run's report (its shape is in docs/dunning.md).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct DryRun(pub Value);

/// A body as JSON.
pub fn json<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}
