//! Settings, wallets, billing methods, customers and contracts.

use anyhow::Context as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::domain::*;

use super::bulk::{Bulk, Insert, Ty, Value};

/// Setting key of the global default delivery type ("tipo de cobrança padrão").
pub const SETTING_DEFAULT_DELIVERY_TYPE: &str = "default_delivery_type";

/// Reads a setting.
pub async fn get_setting(conn: &mut AnyConnection, key: &str) -> anyhow::Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.get::<String, _>(0)))
}

/// Writes a setting.
pub async fn set_setting(conn: &mut AnyConnection, key: &str, value: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The global default delivery type; e-mail unless an operator set it.
pub async fn default_delivery_type(conn: &mut AnyConnection) -> anyhow::Result<DeliveryType> {
    match get_setting(conn, SETTING_DEFAULT_DELIVERY_TYPE).await? {
        Some(v) => v.parse().map_err(anyhow::Error::msg),
        None => Ok(DeliveryType::Email),
    }
}

/// Setting keys of the company profile, with the defaults used while they are unset.
pub const COMPANY_SETTINGS: &[(&str, &str)] = &[
    ("company_name", "Provedor"),
    ("company_document", ""),
    ("company_phone", ""),
    ("company_email", ""),
    ("company_site", ""),
    ("company_city", "SAO PAULO"),
    ("portal_url", "http://localhost:8080"),
    ("company_address", ""),
];

/// The company profile from the settings, defaults filled in.
pub async fn company_profile(conn: &mut AnyConnection) -> anyhow::Result<CompanyProfile> {
    let mut values = Vec::with_capacity(COMPANY_SETTINGS.len());
    for (key, default) in COMPANY_SETTINGS {
        values.push(
            get_setting(conn, key)
                .await?
                .unwrap_or_else(|| (*default).to_string()),
        );
    }
    let [
        name,
        document,
        phone,
        email,
        site,
        city,
        portal_url,
        address,
    ]: [String; 8] = values
        .try_into()
        .map_err(|_| anyhow::anyhow!("company settings list changed"))?;
    Ok(CompanyProfile {
        name,
        document,
        phone,
        email,
        site,
        city,
        portal_url: portal_url.trim_end_matches('/').to_string(),
        address,
    })
}

/// Errors an operator can fix when saving configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The name is taken.
    #[error("a {what} named {name:?} already exists")]
    Duplicate {
        /// "wallet" or "billing method".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A referenced record does not exist.
    #[error("no {what} named {name:?}; known: {known}")]
    Unknown {
        /// "wallet" or "billing method".
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that do exist, comma-separated.
        known: String,
    },
    /// A field failed validation.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field (`from_name`, `days`, …).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Unexpected failure.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl ConfigError {
    /// The error as the command line says it: a field is named by its flag (`from_name` →
    /// `--from-name`; the password comes from `--password-env`).
    pub fn for_cli(&self) -> String {
        match self {
            ConfigError::Invalid { field, reason } => {
                let flag = match *field {
                    "password" => "password-env".to_string(),
                    "fine" | "interest" | "discount" => format!("{field}-percent"),
                    f => f.replace('_', "-"),
                };
                format!("--{flag}: {reason}")
            }
            other => other.to_string(),
        }
    }
}

fn wallet_from_row(r: &AnyRow) -> anyhow::Result<BillingWallet> {
    Ok(BillingWallet {
        id: WalletId(r.try_get("id")?),
        name: r.try_get("name")?,
        bank_code: r.try_get("bank_code")?,
        agency: r.try_get("agency")?,
        account: r.try_get("account")?,
        wallet_code: r.try_get("wallet_code")?,
        agreement: r.try_get("agreement")?,
        kind: r
            .try_get::<String, _>("kind")?
            .parse()
            .map_err(anyhow::Error::msg)?,
        send_on_generate: r.try_get::<i64, _>("send_on_generate")? != 0,
        pix_key: r.try_get("pix_key")?,
        registration: r
            .try_get::<String, _>("registration")?
            .parse()
            .map_err(anyhow::Error::msg)?,
        terms: crate::domain::charges::Terms {
            fine_bp: u32::try_from(r.try_get::<i64, _>("fine_bp")?)?,
            interest_bp_month: u32::try_from(r.try_get::<i64, _>("interest_bp_month")?)?,
            discount_bp: u32::try_from(r.try_get::<i64, _>("discount_bp")?)?,
            discount_days: u32::try_from(r.try_get::<i64, _>("discount_days")?)?,
            write_off_days: r
                .try_get::<Option<i64>, _>("write_off_days")?
                .map(u32::try_from)
                .transpose()?,
            business_only: r.try_get::<i64, _>("business_only")? != 0,
        },
    })
}

const WALLET_COLUMNS: &str = "id, name, bank_code, agency, account, wallet_code, agreement, kind, send_on_generate, pix_key, \
     registration, fine_bp, interest_bp_month, discount_bp, discount_days, write_off_days, business_only";

/// Creates a wallet.
pub async fn insert_wallet(
    conn: &mut AnyConnection,
    w: &NewWallet,
    now_ms: i64,
) -> Result<WalletId, ConfigError> {
    w.validate()
        .map_err(|(field, reason)| ConfigError::Invalid { field, reason })?;
    let res = sqlx::query(
        "INSERT INTO wallets (name, bank_code, agency, account, wallet_code, agreement, kind, send_on_generate, pix_key, created_at,
            registration, fine_bp, interest_bp_month, discount_bp, discount_days, write_off_days, business_only)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(w.name.trim())
    .bind(&w.bank_code)
    .bind(&w.agency)
    .bind(&w.account)
    .bind(&w.wallet_code)
    .bind(&w.agreement)
    .bind(w.kind.as_str())
    .bind(i64::from(w.send_on_generate))
    .bind(w.pix_key.as_deref())
    .bind(now_ms)
    .bind(w.registration.as_str())
    .bind(i64::from(w.terms.fine_bp))
    .bind(i64::from(w.terms.interest_bp_month))
    .bind(i64::from(w.terms.discount_bp))
    .bind(i64::from(w.terms.discount_days))
    .bind(w.terms.write_off_days.map(i64::from))
    .bind(i64::from(w.terms.business_only))
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(WalletId(row.try_get(0).context("wallet id")?)),
        Err(e)
            if super::is_constraint(&e, "wallets_name_key")
                || super::is_constraint(&e, "wallets.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "wallet",
                name: w.name.clone(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert wallet")
            .into()),
    }
}

/// Replaces a wallet's registration mode and terms (checked by the caller); false when there is
/// no such wallet.
pub async fn update_wallet_terms(
    conn: &mut AnyConnection,
    id: WalletId,
    registration: crate::domain::charges::Registration,
    t: &crate::domain::charges::Terms,
) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE wallets SET registration = $1, fine_bp = $2, interest_bp_month = $3, discount_bp = $4,
            discount_days = $5, write_off_days = $6, business_only = $7 WHERE id = $8",
    )
    .bind(registration.as_str())
    .bind(i64::from(t.fine_bp))
    .bind(i64::from(t.interest_bp_month))
    .bind(i64::from(t.discount_bp))
    .bind(i64::from(t.discount_days))
    .bind(t.write_off_days.map(i64::from))
    .bind(i64::from(t.business_only))
    .bind(id.0)
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Whether any invoice was issued on a wallet: once one was, its bank identity (agency,
/// account, wallet code, agreement) no longer changes — the boletos already sent carry it.
/// One row looked up, not the wallet's invoices counted: the wallets page asks per wallet.
pub async fn wallet_has_invoices(conn: &mut AnyConnection, id: WalletId) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM invoices WHERE wallet_id = $1 LIMIT 1")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// Replaces a wallet's name, PIX key and bank identity with `w`'s (checked by
/// [`NewWallet::validate`]); the bank, kind, switches, registration and terms stay.
pub async fn update_wallet_identity(
    conn: &mut AnyConnection,
    id: WalletId,
    w: &NewWallet,
) -> Result<(), ConfigError> {
    w.validate()
        .map_err(|(field, reason)| ConfigError::Invalid { field, reason })?;
    let res = sqlx::query(
        "UPDATE wallets SET name = $2, agency = $3, account = $4, wallet_code = $5, agreement = $6, pix_key = $7
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(w.name.trim())
    .bind(&w.agency)
    .bind(&w.account)
    .bind(&w.wallet_code)
    .bind(&w.agreement)
    .bind(w.pix_key.as_deref())
    .execute(&mut *conn)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e)
            if super::is_constraint(&e, "wallets_name_key")
                || super::is_constraint(&e, "wallets.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "wallet",
                name: w.name.clone(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot update wallet")
            .into()),
    }
}

/// Renames a billing method and points it at another wallet; the contracts of the method
/// follow (their next invoices are drawn on the new wallet — issued invoices keep theirs).
pub async fn update_billing_method(
    conn: &mut AnyConnection,
    id: BillingMethodId,
    name: &str,
    wallet: WalletId,
    now_ms: i64,
) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "must not be empty".into(),
        });
    }
    let res = sqlx::query("UPDATE billing_methods SET name = $2, wallet_id = $3 WHERE id = $1")
        .bind(id.0)
        .bind(name.trim())
        .bind(wallet.0)
        .execute(&mut *conn)
        .await;
    match res {
        Ok(_) => {}
        Err(e)
            if super::is_constraint(&e, "billing_methods_name_key")
                || super::is_constraint(&e, "billing_methods.name") =>
        {
            return Err(ConfigError::Duplicate {
                what: "billing method",
                name: name.to_string(),
            });
        }
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context("cannot update billing method")
                .into());
        }
    }
    sqlx::query(
        "UPDATE contracts SET wallet_id = $2, updated_at = $3 WHERE billing_method_id = $1 AND wallet_id <> $2",
    )
    .bind(id.0)
    .bind(wallet.0)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .context("contracts of the billing method")?;
    Ok(())
}

/// Every wallet, by name.
pub async fn list_wallets(conn: &mut AnyConnection) -> anyhow::Result<Vec<BillingWallet>> {
    let sql = format!("SELECT {WALLET_COLUMNS} FROM wallets ORDER BY name");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(wallet_from_row)
        .collect()
}

/// One wallet by its name.
pub async fn find_wallet_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<BillingWallet>> {
    let sql = format!("SELECT {WALLET_COLUMNS} FROM wallets WHERE name = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(wallet_from_row)
        .transpose()
}

/// One wallet by id.
pub async fn get_wallet(conn: &mut AnyConnection, id: WalletId) -> anyhow::Result<BillingWallet> {
    let sql = format!("SELECT {WALLET_COLUMNS} FROM wallets WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("wallet {id}"))?;
    wallet_from_row(&row)
}

/// Creates a billing method that issues through the named wallet.
pub async fn insert_billing_method(
    conn: &mut AnyConnection,
    name: &str,
    wallet_name: &str,
    now_ms: i64,
) -> Result<BillingMethodId, ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "must not be empty".into(),
        });
    }
    let wallets = list_wallets(conn).await?;
    let Some(wallet) = wallets.iter().find(|w| w.name == wallet_name) else {
        let known = wallets
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ConfigError::Unknown {
            what: "wallet",
            name: wallet_name.to_string(),
            known,
        });
    };
    let res = sqlx::query("INSERT INTO billing_methods (name, wallet_id, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(name.trim())
        .bind(wallet.id.0)
        .bind(now_ms)
        .fetch_one(&mut *conn)
        .await;
    match res {
        Ok(row) => Ok(BillingMethodId(row.try_get(0).context("method id")?)),
        Err(e)
            if super::is_constraint(&e, "billing_methods_name_key")
                || super::is_constraint(&e, "billing_methods.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "billing method",
                name: name.to_string(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert billing method")
            .into()),
    }
}

/// Every billing method, by name.
pub async fn list_billing_methods(conn: &mut AnyConnection) -> anyhow::Result<Vec<BillingMethod>> {
    let rows = sqlx::query(
        "SELECT id, name, wallet_id, confirm_payment FROM billing_methods ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BillingMethod {
                id: BillingMethodId(r.try_get(0)?),
                name: r.try_get(1)?,
                wallet_id: WalletId(r.try_get(2)?),
                confirm_payment: r.try_get::<i64, _>(3)? != 0,
            })
        })
        .collect()
}

fn customer_from_row(r: &AnyRow) -> anyhow::Result<Customer> {
    let doc: String = r.try_get("document")?;
    Ok(Customer {
        id: CustomerId(r.try_get("id")?),
        external_id: r.try_get("external_id")?,
        name: r.try_get("name")?,
        document: Document::parse(&doc)
            .map_err(|e| anyhow::anyhow!("stored document {doc:?}: {e}"))?,
        email: r
            .try_get::<Option<String>, _>("email")?
            .map(|e| EmailAddress::parse(&e))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        mobile_phone: r
            .try_get::<Option<String>, _>("mobile_phone")?
            .map(|p| MobilePhone::parse(&p))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        address: match r.try_get::<Option<String>, _>("address_zip")? {
            None => None,
            Some(zip) => {
                let text = |c: &str| {
                    r.try_get::<Option<String>, _>(c)
                        .map(Option::unwrap_or_default)
                };
                Some(crate::domain::PostalAddress {
                    street: text("address_street")?,
                    number: text("address_number")?,
                    complement: text("address_complement")?,
                    district: text("address_district")?,
                    zip,
                    city: text("address_city")?,
                    state: text("address_state")?,
                })
            }
        },
    })
}

/// The columns of a customer, for `customer_from_row`.
const CUSTOMER_COLUMNS: &str = "id, external_id, name, document, email, mobile_phone, address_street, address_number, \
     address_complement, address_district, address_zip, address_city, address_state";

/// The customer columns a save writes, in the order of [`customer_values`]: the single save
/// and the bulk import share them (and [`CUSTOMER_UPSERT_TAIL`]), so neither can drop a column.
const CUSTOMER_WRITE_COLUMNS: &[(&str, Ty)] = &[
    ("external_id", Ty::Text),
    ("name", Ty::Text),
    ("document", Ty::Text),
    ("email", Ty::Text),
    ("mobile_phone", Ty::Text),
    ("created_at", Ty::Int),
    ("updated_at", Ty::Int),
    ("address_street", Ty::Text),
    ("address_number", Ty::Text),
    ("address_complement", Ty::Text),
    ("address_district", Ty::Text),
    ("address_zip", Ty::Text),
    ("address_city", Ty::Text),
    ("address_state", Ty::Text),
];

/// An address replaces the stored one as a whole; a customer saved without one keeps the
/// address it had (an ERP file without the address columns must not erase what another source
/// gave).
const CUSTOMER_UPSERT_TAIL: &str = "ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, document = excluded.document,
             email = excluded.email, mobile_phone = excluded.mobile_phone, updated_at = excluded.updated_at,
             address_street = CASE WHEN excluded.address_zip IS NULL THEN customers.address_street ELSE excluded.address_street END,
             address_number = CASE WHEN excluded.address_zip IS NULL THEN customers.address_number ELSE excluded.address_number END,
             address_complement = CASE WHEN excluded.address_zip IS NULL THEN customers.address_complement ELSE excluded.address_complement END,
             address_district = CASE WHEN excluded.address_zip IS NULL THEN customers.address_district ELSE excluded.address_district END,
             address_zip = CASE WHEN excluded.address_zip IS NULL THEN customers.address_zip ELSE excluded.address_zip END,
             address_city = CASE WHEN excluded.address_zip IS NULL THEN customers.address_city ELSE excluded.address_city END,
             address_state = CASE WHEN excluded.address_zip IS NULL THEN customers.address_state ELSE excluded.address_state END";

/// Saving one customer (its id comes back).
static CUSTOMER_UPSERT: Insert = Insert {
    table: "customers",
    columns: CUSTOMER_WRITE_COLUMNS,
    tail: CUSTOMER_UPSERT_TAIL,
    returning: &[("id", Ty::Int)],
};

/// Saving customers in bulk.
static CUSTOMERS_UPSERT: Insert = Insert {
    returning: &[],
    ..CUSTOMER_UPSERT
};

fn customer_values(c: &NewCustomer, now_ms: i64) -> Vec<Value> {
    let a = c.address.as_ref();
    vec![
        c.external_id.as_str().into(),
        c.name.as_str().into(),
        c.document.digits().into(),
        c.email.as_ref().map(|e| e.as_str()).into(),
        c.mobile_phone.as_ref().map(|p| p.e164()).into(),
        now_ms.into(),
        now_ms.into(),
        a.map(|a| a.street.as_str()).into(),
        a.map(|a| a.number.as_str()).into(),
        a.map(|a| a.complement.as_str()).into(),
        a.map(|a| a.district.as_str()).into(),
        a.map(|a| a.zip.as_str()).into(),
        a.map(|a| a.city.as_str()).into(),
        a.map(|a| a.state.as_str()).into(),
    ]
}

/// Inserts a customer, or updates the one with the same external id (see
/// [`CUSTOMER_UPSERT_TAIL`] for the address). Returns its id.
pub async fn upsert_customer(
    conn: &mut AnyConnection,
    c: &NewCustomer,
    now_ms: i64,
) -> anyhow::Result<CustomerId> {
    let row = CUSTOMER_UPSERT
        .bind_one(
            sqlx::query(AssertSqlSafe(CUSTOMER_UPSERT.sqlite_sql())),
            customer_values(c, now_ms),
        )
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("cannot save customer {}", c.external_id))?;
    Ok(CustomerId(row.try_get(0)?))
}

/// Saves customers as [`upsert_customer`] does, in the bulk transaction.
pub async fn upsert_customers(
    bulk: &mut Bulk,
    customers: &[NewCustomer],
    now_ms: i64,
) -> anyhow::Result<()> {
    bulk.insert_each(&CUSTOMERS_UPSERT, customers, |c| {
        Ok(customer_values(c, now_ms))
    })
    .await?;
    Ok(())
}

/// A customer by id.
pub async fn get_customer(conn: &mut AnyConnection, id: CustomerId) -> anyhow::Result<Customer> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("customer {id}"))?;
    customer_from_row(&row)
}

/// The customers with these ids, in no particular order (missing ids are left out).
pub async fn get_customers(
    conn: &mut AnyConnection,
    ids: &[CustomerId],
) -> anyhow::Result<Vec<Customer>> {
    let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id IN ({{ids}})");
    super::fetch_by_ids(conn, &sql, &ids, customer_from_row).await
}

/// The contracts with these ids, in no particular order.
pub async fn get_contracts(
    conn: &mut AnyConnection,
    ids: &[ContractId],
) -> anyhow::Result<Vec<Contract>> {
    let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE id IN ({{ids}})");
    super::fetch_by_ids(conn, &sql, &ids, contract_from_row).await
}

/// A customer by the ERP's id.
pub async fn find_customer_by_external_id(
    conn: &mut AnyConnection,
    external_id: &str,
) -> anyhow::Result<Option<Customer>> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE external_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(customer_from_row).transpose()
}

/// Map of every customer's external id to its id (for imports that reference customers).
pub async fn customer_ids_by_external_id(
    conn: &mut AnyConnection,
) -> anyhow::Result<std::collections::HashMap<String, CustomerId>> {
    let rows = sqlx::query("SELECT external_id, id FROM customers")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, CustomerId(r.try_get(1)?))))
        .collect()
}

/// How many customers there are.
pub async fn count_customers(conn: &mut AnyConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM customers")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}

const CONTRACT_COLUMNS: &str = "id, external_id, customer_id, plan, monthly_amount_cents, due_day, billing_method_id, wallet_id, delivery_type, status";

fn contract_from_row(r: &AnyRow) -> anyhow::Result<Contract> {
    Ok(Contract {
        id: ContractId(r.try_get("id")?),
        external_id: r.try_get("external_id")?,
        customer_id: CustomerId(r.try_get("customer_id")?),
        plan: r.try_get("plan")?,
        monthly_amount: Money(r.try_get("monthly_amount_cents")?),
        due_day: u8::try_from(r.try_get::<i64, _>("due_day")?)?,
        billing_method_id: BillingMethodId(r.try_get("billing_method_id")?),
        wallet_id: WalletId(r.try_get("wallet_id")?),
        delivery_type: r
            .try_get::<String, _>("delivery_type")?
            .parse()
            .map_err(anyhow::Error::msg)?,
        status: r
            .try_get::<String, _>("status")?
            .parse()
            .map_err(anyhow::Error::msg)?,
    })
}

/// The contract columns a save writes, in the order of [`contract_values`] (the single save and
/// the bulk import share them).
const CONTRACT_WRITE_COLUMNS: &[(&str, Ty)] = &[
    ("external_id", Ty::Text),
    ("customer_id", Ty::Int),
    ("plan", Ty::Text),
    ("monthly_amount_cents", Ty::Int),
    ("due_day", Ty::Int),
    ("billing_method_id", Ty::Int),
    ("wallet_id", Ty::Int),
    ("delivery_type", Ty::Text),
    ("status", Ty::Text),
    ("created_at", Ty::Int),
    ("updated_at", Ty::Int),
];

/// Saving one contract (its id comes back).
static CONTRACT_UPSERT: Insert = Insert {
    table: "contracts",
    columns: CONTRACT_WRITE_COLUMNS,
    tail: "ON CONFLICT (external_id) DO UPDATE SET customer_id = excluded.customer_id, plan = excluded.plan,
             monthly_amount_cents = excluded.monthly_amount_cents, due_day = excluded.due_day,
             billing_method_id = excluded.billing_method_id, wallet_id = excluded.wallet_id,
             delivery_type = excluded.delivery_type, status = excluded.status, updated_at = excluded.updated_at",
    returning: &[("id", Ty::Int)],
};

/// Saving contracts in bulk.
static CONTRACTS_UPSERT: Insert = Insert {
    returning: &[],
    ..CONTRACT_UPSERT
};

fn contract_values(
    c: &NewContract,
    wallet: WalletId,
    default_delivery: DeliveryType,
    now_ms: i64,
) -> Vec<Value> {
    vec![
        c.external_id.as_str().into(),
        c.customer_id.0.into(),
        c.plan.as_str().into(),
        c.monthly_amount.cents().into(),
        i64::from(c.due_day).into(),
        c.billing_method_id.0.into(),
        wallet.0.into(),
        c.delivery_type.unwrap_or(default_delivery).as_str().into(),
        c.status.as_str().into(),
        now_ms.into(),
        now_ms.into(),
    ]
}

/// Inserts a contract, or updates the one with the same external id. The wallet is the billing
/// method's; a missing delivery type takes the global default. Changing a contract never touches
/// invoices already generated (they keep their snapshot).
pub async fn upsert_contract(
    conn: &mut AnyConnection,
    c: &NewContract,
    now_ms: i64,
) -> anyhow::Result<ContractId> {
    let default_delivery = default_delivery_type(conn).await?;
    let wallet: i64 = sqlx::query("SELECT wallet_id FROM billing_methods WHERE id = $1")
        .bind(c.billing_method_id.0)
        .fetch_optional(&mut *conn)
        .await?
        .with_context(|| format!("billing method {} does not exist", c.billing_method_id.0))?
        .try_get(0)?;
    let row = CONTRACT_UPSERT
        .bind_one(
            sqlx::query(AssertSqlSafe(CONTRACT_UPSERT.sqlite_sql())),
            contract_values(c, WalletId(wallet), default_delivery, now_ms),
        )
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("cannot save contract {}", c.external_id))?;
    Ok(ContractId(row.try_get(0)?))
}

/// Saves contracts as [`upsert_contract`] does, in the bulk transaction: each method's wallet
/// comes from `methods` (the caller's [`list_billing_methods`]), the default delivery type is
/// read once.
pub async fn upsert_contracts(
    conn: &mut AnyConnection,
    bulk: &mut Bulk,
    contracts: &[NewContract],
    methods: &[BillingMethod],
    now_ms: i64,
) -> anyhow::Result<()> {
    let default_delivery = default_delivery_type(conn).await?;
    let wallets: std::collections::HashMap<BillingMethodId, WalletId> =
        methods.iter().map(|m| (m.id, m.wallet_id)).collect();
    bulk.insert_each(&CONTRACTS_UPSERT, contracts, |c| {
        let wallet = wallets
            .get(&c.billing_method_id)
            .with_context(|| format!("billing method {} does not exist", c.billing_method_id.0))?;
        Ok(contract_values(c, *wallet, default_delivery, now_ms))
    })
    .await?;
    Ok(())
}

/// A contract by id.
pub async fn get_contract(conn: &mut AnyConnection, id: ContractId) -> anyhow::Result<Contract> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("contract {id}"))?;
    contract_from_row(&row)
}

/// A contract by its numeric id or, failing that, its external id (how operators name it).
pub async fn find_contract(
    conn: &mut AnyConnection,
    id_or_external: &str,
) -> anyhow::Result<Option<Contract>> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE external_id = $1");
    if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id_or_external)
        .fetch_optional(&mut *conn)
        .await?
    {
        return contract_from_row(&row).map(Some);
    }
    if let Ok(id) = id_or_external.parse::<i64>() {
        let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE id = $1");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        {
            return contract_from_row(&row).map(Some);
        }
    }
    Ok(None)
}

/// Every contract (in id order).
pub async fn list_contracts(conn: &mut AnyConnection) -> anyhow::Result<Vec<Contract>> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(contract_from_row)
        .collect()
}

/// How many contracts are not cancelled.
pub async fn count_active_contracts(conn: &mut AnyConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM contracts WHERE status <> 'cancelled'")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Up to `limit` contracts that are not cancelled, with an id above `after` (in id order): a
/// whole base read page by page without holding it in memory.
pub async fn active_contracts_after(
    conn: &mut AnyConnection,
    after: ContractId,
    limit: i64,
) -> anyhow::Result<Vec<Contract>> {
    let sql = format!(
        "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE id > $1 AND status <> 'cancelled' ORDER BY id LIMIT $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.0)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(contract_from_row)
        .collect()
}

/// Map of every contract's external id to (id, customer, method, wallet, delivery type).
pub async fn contract_refs_by_external_id(
    conn: &mut AnyConnection,
) -> anyhow::Result<std::collections::HashMap<String, Contract>> {
    Ok(list_contracts(conn)
        .await?
        .into_iter()
        .map(|c| (c.external_id.clone(), c))
        .collect())
}

/// A page of contracts by external id, optionally those whose external id or customer's
/// name contains `search` (case-insensitive).
pub async fn list_contracts_page(
    conn: &mut AnyConnection,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> anyhow::Result<Vec<Contract>> {
    let pattern = search.map(|s| format!("%{}%", s.trim().to_lowercase()));
    let sql = format!(
        "SELECT {CONTRACT_COLUMNS} FROM contracts
         WHERE ($1 IS NULL OR LOWER(external_id) LIKE $1
                OR customer_id IN (SELECT id FROM customers WHERE LOWER(name) LIKE $1 OR LOWER(external_id) LIKE $1))
         ORDER BY external_id LIMIT $2 OFFSET $3"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(pattern)
        .bind(limit)
        .bind(offset.max(0))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(contract_from_row)
        .collect()
}

/// A page of customers by external id, optionally those whose code, name, document digits or
/// e-mail contain `search` (case-insensitive).
pub async fn list_customers_page(
    conn: &mut AnyConnection,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> anyhow::Result<Vec<Customer>> {
    let pattern = search.map(|s| format!("%{}%", s.trim().to_lowercase()));
    let digits = search
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|d| !d.is_empty())
        .map(|d| format!("%{d}%"));
    sqlx::query(
        "SELECT * FROM customers
         WHERE ($1 IS NULL OR LOWER(external_id) LIKE $1 OR LOWER(name) LIKE $1 OR LOWER(COALESCE(email, '')) LIKE $1
                OR ($2 IS NOT NULL AND document LIKE $2))
         ORDER BY external_id LIMIT $3 OFFSET $4",
    )
    .bind(pattern)
    .bind(digits)
    .bind(limit)
    .bind(offset.max(0))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(customer_from_row)
    .collect()
}

/// A customer's contracts, by external id.
pub async fn list_contracts_of_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
) -> anyhow::Result<Vec<Contract>> {
    let sql = format!(
        "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE customer_id = $1 ORDER BY external_id"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(customer.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(contract_from_row)
        .collect()
}

/// An on/off setting of a configuration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// A wallet's "send e-mail on generation" (`wallets.send_on_generate`).
    WalletSendOnGenerate,
    /// A billing method's "pagamento confirmado" (`billing_methods.confirm_payment`).
    MethodConfirmPayment,
}

/// Turns a switch of record `id` on or off; false when there is no such record.
pub async fn set_switch(
    conn: &mut AnyConnection,
    switch: Switch,
    id: i64,
    on: bool,
) -> anyhow::Result<bool> {
    let sql = match switch {
        Switch::WalletSendOnGenerate => "UPDATE wallets SET send_on_generate = $1 WHERE id = $2",
        Switch::MethodConfirmPayment => {
            "UPDATE billing_methods SET confirm_payment = $1 WHERE id = $2"
        }
    };
    let res = sqlx::query(sql)
        .bind(i64::from(on))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(res.rows_affected() > 0)
}

/// A contract by its external id only (no fallback to the internal id, unlike
/// [`find_contract`]): what an API write must use so a number never reaches another record.
pub async fn find_contract_by_external_id(
    conn: &mut AnyConnection,
    external_id: &str,
) -> anyhow::Result<Option<Contract>> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE external_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| contract_from_row(&row))
        .transpose()
}
