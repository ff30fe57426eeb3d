//! The domain: customers, contracts, wallets, billing methods, invoices, money and dates.
//! Pure types. Raw strings become these types once, at the edge (CSV rows, CLI flags, forms),
//! through the `parse` constructors here; inside, nothing re-validates.

/// Defines an id newtype over the database's `BIGINT` key, so ids of different tables cannot be
/// mixed up across modules.
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        // Pages show an id as the number it is.
        impl From<$name> for minijinja::Value {
            fn from(id: $name) -> minijinja::Value {
                minijinja::Value::from(id.0)
            }
        }
    )*};
}

mod actor;
mod address;
pub mod analytics;
pub mod auth;
pub mod charges;
mod contact;
mod dates;
pub mod debt;
pub mod default_layouts;
pub mod delivery;
mod entities;
pub mod holidays;
pub mod layout;
pub mod limits;
mod money;
mod notice_key;
pub mod pacing;
mod purpose;
pub mod rules;
pub mod schedule;
pub mod send_limits;
pub mod webhooks;
pub mod whatsapp;
pub mod window;

pub use actor::Actor;
pub use address::{AddressText, PostalAddress, UFS};
pub use boleto::{Document, DocumentError, format_date, format_date_long};
pub use contact::{EmailAddress, MobilePhone};
pub use dates::{Clock, due_date_in_month, parse_date};
pub use entities::*;
pub use money::Money;
pub use notice_key::{BadNoticeKey, NoticeKey};
pub use purpose::Purpose;

id_type!(
    /// Primary key of a customer.
    CustomerId,
    /// Primary key of a contract.
    ContractId,
    /// Primary key of a billing wallet (carteira de cobrança).
    WalletId,
    /// Primary key of a billing method (forma de cobrança).
    BillingMethodId,
    /// Primary key of an invoice.
    InvoiceId,
    /// Primary key of a layout (layout de e-mail).
    LayoutId,
);
