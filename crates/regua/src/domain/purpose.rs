//! What a notice is for: the purpose that picks its layout, names it in the log and decides
//! what the worker re-checks. A record type, so the store and the planner can use it without
//! the templates.

use std::fmt;

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
    /// A payment was recorded ("pagamento confirmado"; per billing method, off by default).
    PaymentConfirmed,
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
    /// The debt notice before suspension for non-payment ("notificação de débito", RGC): must
    /// carry what the resolution requires (docs/debt.md).
    DebtNotice,
    /// The notice before termination for non-payment ("aviso de rescisão").
    TerminationNotice,
}

impl Purpose {
    /// Every purpose, in the order screens list them.
    pub const ALL: [Purpose; 17] = [
        Purpose::InvoiceGenerated,
        Purpose::ReminderBeforeDue,
        Purpose::DueToday,
        Purpose::ReminderAfterDue,
        Purpose::OverdueBand,
        Purpose::PaymentConfirmed,
        Purpose::PortalSecondCopy,
        Purpose::PortalAccess,
        Purpose::SuspensionScheduled,
        Purpose::SuspensionStarted,
        Purpose::SuspensionEnding,
        Purpose::SuspensionEnded,
        Purpose::SuspensionWithdrawn,
        Purpose::SmtpTest,
        Purpose::AccountDefault,
        Purpose::DebtNotice,
        Purpose::TerminationNotice,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::InvoiceGenerated => "invoice_generated",
            Purpose::ReminderBeforeDue => "reminder_before_due",
            Purpose::DueToday => "due_today",
            Purpose::ReminderAfterDue => "reminder_after_due",
            Purpose::OverdueBand => "overdue_band",
            Purpose::PaymentConfirmed => "payment_confirmed",
            Purpose::PortalSecondCopy => "portal_second_copy",
            Purpose::PortalAccess => "portal_access",
            Purpose::SuspensionScheduled => "suspension_scheduled",
            Purpose::SuspensionStarted => "suspension_started",
            Purpose::SuspensionEnding => "suspension_ending",
            Purpose::SuspensionEnded => "suspension_ended",
            Purpose::SuspensionWithdrawn => "suspension_withdrawn",
            Purpose::SmtpTest => "smtp_test",
            Purpose::AccountDefault => "account_default",
            Purpose::DebtNotice => "debt_notice",
            Purpose::TerminationNotice => "termination_notice",
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
            Purpose::PaymentConfirmed => "Pagamento confirmado",
            Purpose::PortalSecondCopy => "Segunda via pela Central do Assinante",
            Purpose::PortalAccess => "Acesso à Central do Assinante",
            Purpose::SuspensionScheduled => "Suspensão agendada",
            Purpose::SuspensionStarted => "Suspensão iniciada",
            Purpose::SuspensionEnding => "Suspensão terminando",
            Purpose::SuspensionEnded => "Suspensão encerrada",
            Purpose::SuspensionWithdrawn => "Suspensão cancelada",
            Purpose::SmtpTest => "Teste de envio SMTP",
            Purpose::AccountDefault => "Mensagem padrão da conta de e-mail",
            Purpose::DebtNotice => "Notificação de débito (suspensão)",
            Purpose::TerminationNotice => "Aviso de rescisão",
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
