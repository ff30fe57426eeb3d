//! Layouts ("layouts de e-mail"): the subject, HTML body and text body of every message Régua
//! sends, written by the ISP's staff with Portuguese variables (`{{ fatura.valor }}`) and
//! checked on save. [`engine`] renders them safely, [`check`] validates them with line/column
//! messages in Portuguese, [`variables`] lists what they can use, [`defaults`] holds the
//! built-in ones. Storage is in `crate::store::layouts`; see `docs/layouts.md` for users.

mod check;
mod defaults;
mod engine;
mod preview;
mod text;
mod variables;

pub use check::{Problem, check_layout, check_template, problem_from_error};
pub use defaults::{DefaultLayout, default_layout, default_layouts};
pub use engine::{
    CompiledLayout, FILTERS, FUEL, MAX_OUTPUT_BYTES, Part, RenderedMessage, environment,
};
pub use preview::{context_for_invoice, invoice_vars, layout_context, preview};
pub use text::{decode_entities, html_to_text_template};
pub use variables::*;

pub use crate::domain::{LayoutId, Purpose};

/// A stored layout at its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Key.
    pub id: LayoutId,
    /// Unique name, shown in pickers.
    pub name: String,
    /// What it is for.
    pub purpose: Purpose,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Text body template; empty means "derived from the HTML".
    pub text: String,
    /// Grows by one on every save; notices record the version they were rendered with.
    pub version: i64,
    /// The built-in layout it was installed from, if any (for "restaurar padrão").
    pub default_of: Option<Purpose>,
}

impl Layout {
    /// Compiles the current version for rendering.
    pub fn compile(&self) -> Result<CompiledLayout, (Part, minijinja::Error)> {
        CompiledLayout::compile(&self.subject, &self.html, &self.text)
    }
}

/// What an editor saves: a new layout or a new version of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutDraft {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub purpose: Purpose,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Text body template, or empty to derive it from the HTML.
    pub text: String,
}
