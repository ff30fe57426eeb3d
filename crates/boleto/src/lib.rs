//! Brazilian payment-slip primitives, standalone: FEBRABAN barcodes and digitable lines with
//! each bank's free field ([`BoletoInput::codes`]), the PIX BR Code ([`BrCode`]), CPF and CNPJ
//! ([`Document`]), and the boleto PDF ([`pdf`]).
//!
//! Nothing here knows about Régua's database or delivery: the crate could be published alone.

#![forbid(unsafe_code)]

mod banks;
pub mod checksum;
pub mod cnab;
mod codes;
mod document;
mod format;
pub mod pdf;
mod pix;
pub mod remessa;

pub use banks::{Bank, BoletoCodes, BoletoError, BoletoInput, Extra, Party};
pub use codes::{Barcode, CodeError, DigitableLine, ParseError, date_from_factor, due_date_factor};
pub use document::{Cnpj, Cpf, Document, DocumentError};
pub use format::{format_brl, format_date, format_date_long};
pub use pix::{BrCode, PixError, crc16_ccitt_false};
