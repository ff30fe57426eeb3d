//! The régua's rules as records: send rules (before, on, after the due date), overdue bands,
//! and what the planner needs of an invoice. The planner (`dunning::plan`) decides with them;
//! the store keeps them.

use jiff::civil::Date;

use super::{BillingMethodId, CustomerId, DeliveryType, InvoiceId, LayoutId};

id_type!(
    /// Primary key of a send rule (regra de envio).
    RuleId,
    /// Primary key of an overdue band (faixa de atraso).
    BandId,
    /// Primary key of a pause of dunning (promessa de pagamento).
    PauseId,
    /// Primary key of a collection letter waiting for (or past) review.
    LetterId,
    /// Primary key of a recorded routine run.
    RunId,
);

/// The default catch-up window, in days.
pub const DEFAULT_WINDOW_DAYS: u16 = 7;

/// When a rule fires relative to the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    /// `days` before the due date.
    BeforeDue,
    /// On the due date (days = 0).
    OnDue,
    /// `days` after the due date.
    AfterDue,
}

impl std::str::FromStr for RuleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "before_due" => Ok(RuleKind::BeforeDue),
            "on_due" => Ok(RuleKind::OnDue),
            "after_due" => Ok(RuleKind::AfterDue),
            other => Err(format!(
                "{other:?} is not one of: before_due, on_due, after_due"
            )),
        }
    }
}

impl RuleKind {
    /// The layout purpose a rule of this kind sends by default.
    pub fn default_purpose(self) -> super::Purpose {
        match self {
            RuleKind::BeforeDue => super::Purpose::ReminderBeforeDue,
            RuleKind::OnDue => super::Purpose::DueToday,
            RuleKind::AfterDue => super::Purpose::ReminderAfterDue,
        }
    }

    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::BeforeDue => "before_due",
            RuleKind::OnDue => "on_due",
            RuleKind::AfterDue => "after_due",
        }
    }
}

/// How a rule or band reaches a subscriber: an ordered channel list and a mode (#22,
/// docs/dunning.md "Channels").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPlan {
    /// In order of preference; never empty.
    pub channels: Vec<super::delivery::Channel>,
    /// `first` or `all`.
    pub mode: ChannelMode,
}

impl Default for ChannelPlan {
    /// E-mail only: what every rule and band did before channels existed.
    fn default() -> Self {
        ChannelPlan {
            channels: vec![super::delivery::Channel::Email],
            mode: ChannelMode::First,
        }
    }
}

impl ChannelPlan {
    /// Reads `whatsapp,email` and `first|all`, refusing an empty or repeated list.
    pub fn parse(channels: &str, mode: &str) -> Result<ChannelPlan, String> {
        let list = super::delivery::Channel::parse_list(channels)?;
        if list.is_empty() {
            return Err("at least one channel: email, whatsapp, sms or push".into());
        }
        Ok(ChannelPlan {
            channels: list,
            mode: mode.parse()?,
        })
    }

    /// `email,sms`.
    pub fn list(&self) -> String {
        super::delivery::Channel::format_list(&self.channels)
    }

    /// As a clerk reads it: "SMS, depois e-mail" or "SMS e e-mail".
    pub fn label_pt(&self) -> String {
        let names: Vec<&str> = self.channels.iter().map(|c| c.label_pt()).collect();
        match (self.mode, names.as_slice()) {
            (_, [one]) => (*one).to_string(),
            (ChannelMode::First, _) => names.join(", depois "),
            (ChannelMode::All, _) => {
                let (last, rest) = names.split_last().expect("not empty");
                format!("{} e {last}", rest.join(", "))
            }
        }
    }
}

/// How a channel list is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMode {
    /// The first channel the subscriber can receive; the next ones when it fails for good.
    First,
    /// Every channel the subscriber can receive, one notice each.
    All,
}

impl ChannelMode {
    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelMode::First => "first",
            ChannelMode::All => "all",
        }
    }
}

impl std::str::FromStr for ChannelMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "first" => Ok(ChannelMode::First),
            "all" => Ok(ChannelMode::All),
            other => Err(format!("{other:?} is not first or all")),
        }
    }
}

/// A send rule of a billing method ("regra de envio").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRule {
    /// Key, part of the dedup key.
    pub id: RuleId,
    /// The billing method it belongs to.
    pub method: BillingMethodId,
    /// Before, on or after the due date.
    pub kind: RuleKind,
    /// Days from the due date (0 for on_due).
    pub days: u16,
    /// The layout it sends.
    pub layout: LayoutId,
    /// The channels it goes by.
    pub channels: ChannelPlan,
}

impl SendRule {
    /// The date this rule fires for an invoice due on `due`.
    pub fn target(&self, due: Date) -> Date {
        let days = i64::from(self.days);
        let shift = match self.kind {
            RuleKind::BeforeDue => -days,
            RuleKind::OnDue => 0,
            RuleKind::AfterDue => days,
        };
        due.checked_add(jiff::Span::new().days(shift))
            .unwrap_or(due)
    }

    /// `rule:after_due:13`, as dry runs print causes.
    pub fn cause(&self) -> String {
        format!("rule:{}:{}", self.kind.as_str(), self.days)
    }
}

/// An overdue band ("faixa de atraso").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueBand {
    /// Key, part of the dedup key.
    pub id: BandId,
    /// First day overdue it covers (≥ 1).
    pub from_days: u16,
    /// Last day overdue it covers.
    pub to_days: u16,
    /// The layout it sends (and, with `letter`, the collection letter's text).
    pub layout: LayoutId,
    /// Generation type `email_and_letter`: a PDF collection letter goes with the e-mail, after
    /// an operator reviews it.
    pub letter: bool,
    /// The channels it goes by.
    pub channels: ChannelPlan,
}

impl OverdueBand {
    /// `band:1-10`.
    pub fn cause(&self) -> String {
        format!("band:{}-{}", self.from_days, self.to_days)
    }
}

/// What the planner needs of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInvoice {
    /// The invoice.
    pub id: InvoiceId,
    /// Its customer.
    pub customer: CustomerId,
    /// Its billing method (whose rules apply).
    pub method: BillingMethodId,
    /// Due date.
    pub due: Date,
    /// Still open (not paid, not cancelled).
    pub open: bool,
    /// The delivery type snapshotted on the invoice.
    pub delivery: DeliveryType,
    /// The customer has an e-mail on file.
    pub has_email: bool,
    /// The customer has a mobile phone on file.
    pub has_phone: bool,
    /// The customer has the app (a push device registered).
    pub has_device: bool,
    /// Dunning paused for it (or its customer) through this date.
    pub paused_until: Option<Date>,
}
