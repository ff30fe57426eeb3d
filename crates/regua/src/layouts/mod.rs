//! Layouts ("layouts de e-mail"): the subject, HTML body and text body of every message Régua
//! sends, written by the ISP's staff with Portuguese variables (`{{ fatura.valor }}`) and
//! checked on save. [`engine`] renders them safely, [`check`] validates them with line/column
//! messages in Portuguese, [`variables`] lists what they can use, [`defaults`] holds the
//! built-in ones. Storage is in `crate::store::layouts`; see `docs/layouts.md` for users.

mod check;
mod engine;
mod preview;
mod text;
mod variables;

pub use crate::domain::default_layouts::{DefaultLayout, default_layout, default_layouts};
pub use crate::domain::layout::{Layout, LayoutDraft};
pub use check::{
    Problem, check_layout, check_required, check_sms, check_template, problem_from_error,
    required_content,
};
pub use engine::{
    CompiledLayout, FILTERS, FUEL, MAX_OUTPUT_BYTES, Part, RenderedMessage, environment,
};
pub use preview::{context_for_invoice, debt_notice_vars, invoice_vars, layout_context, preview};
pub use text::{decode_entities, html_to_text_template};
pub use variables::*;

pub use crate::domain::{LayoutId, Purpose};
