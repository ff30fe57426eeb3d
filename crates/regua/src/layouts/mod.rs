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

use std::fmt;

pub use crate::domain::LayoutId;

/// What a layout is for. Each notice kind picks a layout of the matching purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// The invoice was generated ("enviar e-mail ao gerar o financeiro").
    InvoiceGenerated,
    /// A send rule before the due date.
    ReminderBeforeDue,
    /// A send rule on the due date.
    DueToday,
    /// A send rule after the due date.
    ReminderAfterDue,
    /// An overdue band's notice.
    OverdueBand,
    /// Second copy requested in the subscriber portal.
    PortalSecondCopy,
    /// The subscriber portal's first-access or password-reset link.
    PortalAccess,
    /// A temporary suspension was scheduled.
    SuspensionScheduled,
    /// A temporary suspension started.
    SuspensionStarted,
    /// A temporary suspension ends in a few days.
    SuspensionEnding,
    /// A temporary suspension ended; service restored.
    SuspensionEnded,
    /// A scheduled temporary suspension was withdrawn before its start.
    SuspensionWithdrawn,
    /// The SMTP account's test message.
    SmtpTest,
    /// The SMTP account's default message: manual sends ("emissão de boletos"); neutral, fit
    /// both before and after the due date.
    AccountDefault,
}

impl Purpose {
    /// Every purpose, in the order screens list them.
    pub const ALL: [Purpose; 14] = [
        Purpose::InvoiceGenerated,
        Purpose::ReminderBeforeDue,
        Purpose::DueToday,
        Purpose::ReminderAfterDue,
        Purpose::OverdueBand,
        Purpose::PortalSecondCopy,
        Purpose::PortalAccess,
        Purpose::SuspensionScheduled,
        Purpose::SuspensionStarted,
        Purpose::SuspensionEnding,
        Purpose::SuspensionEnded,
        Purpose::SuspensionWithdrawn,
        Purpose::SmtpTest,
        Purpose::AccountDefault,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::InvoiceGenerated => "invoice_generated",
            Purpose::ReminderBeforeDue => "reminder_before_due",
            Purpose::DueToday => "due_today",
            Purpose::ReminderAfterDue => "reminder_after_due",
            Purpose::OverdueBand => "overdue_band",
            Purpose::PortalSecondCopy => "portal_second_copy",
            Purpose::PortalAccess => "portal_access",
            Purpose::SuspensionScheduled => "suspension_scheduled",
            Purpose::SuspensionStarted => "suspension_started",
            Purpose::SuspensionEnding => "suspension_ending",
            Purpose::SuspensionEnded => "suspension_ended",
            Purpose::SuspensionWithdrawn => "suspension_withdrawn",
            Purpose::SmtpTest => "smtp_test",
            Purpose::AccountDefault => "account_default",
        }
    }

    /// The name on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            Purpose::InvoiceGenerated => "Fatura gerada",
            Purpose::ReminderBeforeDue => "Lembrete antes do vencimento",
            Purpose::DueToday => "Vencimento hoje",
            Purpose::ReminderAfterDue => "Lembrete após o vencimento",
            Purpose::OverdueBand => "Faixa de atraso",
            Purpose::PortalSecondCopy => "Segunda via pela Central do Assinante",
            Purpose::PortalAccess => "Acesso à Central do Assinante",
            Purpose::SuspensionScheduled => "Suspensão agendada",
            Purpose::SuspensionStarted => "Suspensão iniciada",
            Purpose::SuspensionEnding => "Suspensão terminando",
            Purpose::SuspensionEnded => "Suspensão encerrada",
            Purpose::SuspensionWithdrawn => "Suspensão cancelada",
            Purpose::SmtpTest => "Teste de envio SMTP",
            Purpose::AccountDefault => "Mensagem padrão da conta de e-mail",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown purpose {s:?}; one of: {}",
                    Purpose::ALL.map(Purpose::as_str).join(", ")
                )
            })
    }
}

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
