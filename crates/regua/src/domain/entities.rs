//! The records Régua keeps. `New*` types are validated input for an insert or upsert; the plain
//! types are what the store returns.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use super::{
    BillingMethodId, ContractId, CustomerId, EmailAddress, InvoiceId, MobilePhone, Money, WalletId,
};
use boleto::Document;

/// How a contract's invoices reach the customer ("tipo de envio de cobrança").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryType {
    /// By e-mail: the dunning routine and "send on generation" e-mail it.
    Email,
    /// Printed and delivered by hand or post; never e-mailed automatically.
    Printed,
}

impl DeliveryType {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryType::Email => "email",
            DeliveryType::Printed => "printed",
        }
    }

    /// The label on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            DeliveryType::Email => "E-mail",
            DeliveryType::Printed => "Impresso",
        }
    }
}

impl FromStr for DeliveryType {
    type Err = String;
    /// Accepts `email`, `e-mail`, `impresso`, `printed`, any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "email" | "e-mail" => Ok(DeliveryType::Email),
            "impresso" | "printed" => Ok(DeliveryType::Printed),
            other => Err(format!(
                "{other:?} is not a delivery type (email, e-mail, impresso, printed)"
            )),
        }
    }
}

/// A contract's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Billing normally.
    Active,
    /// Temporarily suspended (suspensão temporária).
    Suspended,
    /// Ended; no new invoices are generated.
    Cancelled,
}

impl ContractStatus {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Active => "active",
            ContractStatus::Suspended => "suspended",
            ContractStatus::Cancelled => "cancelled",
        }
    }

    /// The name on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            ContractStatus::Active => "ativo",
            ContractStatus::Suspended => "suspenso",
            ContractStatus::Cancelled => "cancelado",
        }
    }
}

impl FromStr for ContractStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "active" | "ativo" => Ok(ContractStatus::Active),
            "suspended" | "suspenso" => Ok(ContractStatus::Suspended),
            "cancelled" | "cancelado" => Ok(ContractStatus::Cancelled),
            other => Err(format!(
                "{other:?} is not a contract status (active, suspended, cancelled)"
            )),
        }
    }
}

/// Whether a wallet is a bank agreement or a payment gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletKind {
    /// A bank agreement: Régua computes the boleto itself.
    Bank,
    /// A gateway that issues its own boletos.
    Gateway,
}

impl WalletKind {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::Bank => "bank",
            WalletKind::Gateway => "gateway",
        }
    }
}

impl FromStr for WalletKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "bank" | "banco" => Ok(WalletKind::Bank),
            "gateway" => Ok(WalletKind::Gateway),
            other => Err(format!("{other:?} is not a wallet kind (bank, gateway)")),
        }
    }
}

/// A customer (cliente): a person or company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Key.
    pub id: CustomerId,
    /// The ERP's id, unique.
    pub external_id: String,
    /// Name or company name.
    pub name: String,
    /// CPF or CNPJ.
    pub document: Document,
    /// Primary e-mail (contact tab), if any.
    pub email: Option<EmailAddress>,
    /// Mobile phone (contact tab), if any.
    pub mobile_phone: Option<MobilePhone>,
    /// Postal address, if the ERP or a clerk gave one (a registered boleto needs it).
    pub address: Option<super::PostalAddress>,
}

impl Customer {
    /// The primary e-mail as text, empty when there is none (a notice's recipient at enqueue
    /// time, which the worker re-checks before sending; a layout's `cliente.email`).
    pub fn email_or_empty(&self) -> String {
        self.email
            .as_ref()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default()
    }
}

/// A validated customer to insert or update (matched by external id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// The ERP's id.
    pub external_id: String,
    /// Name or company name, non-empty.
    pub name: String,
    /// CPF or CNPJ.
    pub document: Document,
    /// Primary e-mail.
    pub email: Option<EmailAddress>,
    /// Mobile phone.
    pub mobile_phone: Option<MobilePhone>,
    /// Postal address.
    pub address: Option<super::PostalAddress>,
}

/// A billing wallet (carteira de cobrança): the bank agreement boletos are issued under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingWallet {
    /// Key.
    pub id: WalletId,
    /// Unique name shown on screen.
    pub name: String,
    /// FEBRABAN bank code (`001`, `341`…).
    pub bank_code: String,
    /// Agência.
    pub agency: String,
    /// Conta corrente, possibly with `-digit`.
    pub account: String,
    /// Carteira.
    pub wallet_code: String,
    /// Convênio / código do beneficiário.
    pub agreement: String,
    /// Bank or gateway.
    pub kind: WalletKind,
    /// "Enviar e-mail para cliente ao gerar financeiro do contrato".
    pub send_on_generate: bool,
    /// PIX key for hybrid boletos.
    pub pix_key: Option<String>,
    /// Who registers its boletos at the bank.
    pub registration: super::charges::Registration,
    /// Fine, interest, discount and write-off.
    pub terms: super::charges::Terms,
}

/// A validated wallet to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWallet {
    /// Unique name.
    pub name: String,
    /// Bank code; one of the banks the boleto crate supports.
    pub bank_code: String,
    /// Agência, digits.
    pub agency: String,
    /// Conta, digits with an optional `-digit`.
    pub account: String,
    /// Carteira, digits.
    pub wallet_code: String,
    /// Convênio, digits.
    pub agreement: String,
    /// Bank or gateway.
    pub kind: WalletKind,
    /// Send e-mail when the contract's invoices are generated.
    pub send_on_generate: bool,
    /// PIX key.
    pub pix_key: Option<String>,
    /// Who registers its boletos at the bank.
    pub registration: super::charges::Registration,
    /// Fine, interest, discount and write-off.
    pub terms: super::charges::Terms,
}

impl NewWallet {
    /// The wallet as the audit trail records it.
    pub fn audit_text(&self) -> String {
        format!(
            "{} bank={} agency={} account={} wallet={} agreement={} kind={} send_on_generate={} {}",
            self.name,
            self.bank_code,
            self.agency,
            self.account,
            self.wallet_code,
            self.agreement,
            self.kind.as_str(),
            self.send_on_generate,
            super::charges::audit_text(self.registration, &self.terms)
        )
    }

    /// Checks the fields an operator types: a supported bank and digits where digits belong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "must not be empty".into()));
        }
        boleto::Bank::from_code(&self.bank_code).map_err(|e| ("bank", e.to_string()))?;
        let digits = |field: &'static str, v: &str| {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
                Err((field, format!("{v:?} must be digits")))
            } else {
                Ok(())
            }
        };
        digits("agency", &self.agency)?;
        digits("account", self.account.split('-').next().unwrap_or(""))?;
        digits("wallet", &self.wallet_code)?;
        match (self.bank_code.as_str(), self.agreement.split_once('.')) {
            // Sicredi: "posto.código do beneficiário", as its boletos print them.
            ("748", Some((station, code))) => {
                digits("agreement", station)?;
                digits("agreement", code)?;
            }
            _ => digits("agreement", &self.agreement)?,
        }
        self.terms
            .validate()
            .map_err(|e| (e.field(), e.to_string()))?;
        Ok(())
    }
}

/// A billing method (forma de cobrança): how invoices are collected, and through which wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingMethod {
    /// Key.
    pub id: BillingMethodId,
    /// Unique name.
    pub name: String,
    /// The wallet its boletos are issued under.
    pub wallet_id: WalletId,
    /// Whether a recorded payment of its invoices sends the "pagamento confirmado" message.
    pub confirm_payment: bool,
}

/// A contract (contrato): a subscription of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// Key.
    pub id: ContractId,
    /// The ERP's id, unique.
    pub external_id: String,
    /// Who pays.
    pub customer_id: CustomerId,
    /// Plan name.
    pub plan: String,
    /// Monthly amount.
    pub monthly_amount: Money,
    /// Due day 1–31; short months use their last day.
    pub due_day: u8,
    /// The billing method.
    pub billing_method_id: BillingMethodId,
    /// The wallet (the method's, when the contract was saved).
    pub wallet_id: WalletId,
    /// How its invoices are delivered.
    pub delivery_type: DeliveryType,
    /// Lifecycle.
    pub status: ContractStatus,
}

/// A validated contract to insert or update (matched by external id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContract {
    /// The ERP's id.
    pub external_id: String,
    /// Who pays.
    pub customer_id: CustomerId,
    /// Plan name.
    pub plan: String,
    /// Monthly amount.
    pub monthly_amount: Money,
    /// Due day 1–31.
    pub due_day: u8,
    /// Billing method.
    pub billing_method_id: BillingMethodId,
    /// Delivery type; `None` takes the global default ("tipo de cobrança padrão").
    pub delivery_type: Option<DeliveryType>,
    /// Lifecycle.
    pub status: ContractStatus,
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// Not paid yet.
    Open,
    /// Paid on a date, with an amount (which may differ from the invoice's).
    Paid {
        /// Payment date.
        paid_on: Date,
        /// Amount paid.
        amount: Money,
    },
    /// Cancelled; never dunned.
    Cancelled,
}

impl InvoiceStatus {
    /// The value stored in the `status` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid { .. } => "paid",
            InvoiceStatus::Cancelled => "cancelled",
        }
    }
}

/// The status column's vocabulary, as imported: `open`/`aberta`, `paid`/`paga`,
/// `cancelled`/`cancelada` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatusKind {
    /// Open.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Cancelled,
}

impl FromStr for InvoiceStatusKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "open" | "aberta" => Ok(InvoiceStatusKind::Open),
            "paid" | "paga" => Ok(InvoiceStatusKind::Paid),
            "cancelled" | "canceled" | "cancelada" => Ok(InvoiceStatusKind::Cancelled),
            other => Err(format!(
                "{other:?} is not a status (open/aberta, paid/paga, cancelled/cancelada)"
            )),
        }
    }
}

/// An invoice (fatura / boleto): what a customer owes for a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Key.
    pub id: InvoiceId,
    /// The ERP's id, or `<contract>/<YYYY-MM>` for generated invoices.
    pub external_id: String,
    /// Who owes.
    pub customer_id: CustomerId,
    /// For which contract.
    pub contract_id: ContractId,
    /// Billing method at issue.
    pub billing_method_id: BillingMethodId,
    /// Wallet at issue.
    pub wallet_id: WalletId,
    /// Amount.
    pub amount: Money,
    /// Issue date.
    pub issue_date: Date,
    /// Due date.
    pub due_date: Date,
    /// Competence month (`YYYY-MM`) of generated invoices; `None` for imported ones.
    pub competence: Option<String>,
    /// Open, paid or cancelled.
    pub status: InvoiceStatus,
    /// Nosso número, unique within the wallet.
    pub our_number: i64,
    /// Delivery type copied from the contract when the invoice was generated.
    pub delivery_type: DeliveryType,
    /// The barcode of the boleto the ERP registered at the bank, carried unchanged (docs/import.md);
    /// `None` for the boletos Régua issues.
    pub registered_barcode: Option<String>,
    /// The ERP's PIX copia-e-cola for it, carried unchanged.
    pub registered_pix: Option<String>,
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvoiceStatus::Open => f.write_str("aberta"),
            InvoiceStatus::Paid { paid_on, amount } => {
                write!(f, "paga em {} ({amount})", super::format_date(*paid_on))
            }
            InvoiceStatus::Cancelled => f.write_str("cancelada"),
        }
    }
}

/// The ISP itself, as messages and boletos show it ("dados da empresa" in the general
/// parameters). Every field has a neutral default so an unconfigured install still renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyProfile {
    /// Trade name, e.g. "Provedor Exemplo".
    pub name: String,
    /// CNPJ as printed on the boleto, if configured.
    pub document: String,
    /// Support phone.
    pub phone: String,
    /// Support e-mail.
    pub email: String,
    /// Web site.
    pub site: String,
    /// City, for the PIX BR Code (at most 15 characters there).
    pub city: String,
    /// Base URL of the subscriber portal, without the trailing slash.
    pub portal_url: String,
    /// The beneficiary's postal address, one line, printed on the boleto; empty when unset.
    pub address: String,
}

/// The seed documents' warning for gateway wallets with "send on generate" on: the gateway may
/// e-mail the customer too.
pub const GATEWAY_SEND_ON_GENERATE_WARNING: &str = "atenção: esta carteira é de um gateway de pagamento; \
verifique se o próprio gateway já envia o boleto por e-mail ao cliente, para que ele não receba duas mensagens.";
