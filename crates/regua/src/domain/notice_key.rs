//! A notice's identity: its dedup key, typed. The outbox has a unique index on the key's text,
//! so whatever causes a notice twice (a routine re-run, two workers, a double click, an
//! integration retrying) finds the first one instead of queuing a second. Every key is built
//! here and written by one `Display`; `FromStr` reads one back. Nothing else formats or picks a
//! key apart by its prefix.
//!
//! The texts are the ones the outbox has always held (docs/delivery.md), so keys written before
//! this type existed still match.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use super::delivery::{AccountId, Channel, SuspensionId};
use super::{ContractId, InvoiceId};

/// A notice's dedup key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NoticeKey {
    /// A send rule of the régua for an invoice: `rule:<invoice>:<rule>`, or
    /// `rule:<invoice>:<rule>:<channel>` for one of the notices of a rule sent on all its
    /// channels (mode `all`). A notice falling back from one channel to the next keeps the
    /// key without a channel: it is one notice.
    Rule {
        /// The invoice.
        invoice: InvoiceId,
        /// The send rule.
        rule: super::rules::RuleId,
        /// The channel, for mode `all`.
        channel: Option<Channel>,
    },
    /// An overdue band for an invoice: `band:<invoice>:<band>`, or
    /// `band:<invoice>:<band>:<channel>` in mode `all`.
    Band {
        /// The invoice.
        invoice: InvoiceId,
        /// The overdue band.
        band: super::rules::BandId,
        /// The channel, for mode `all`.
        channel: Option<Channel>,
    },
    /// The message of a contract's generated invoices ("enviar e-mail ao gerar financeiro"),
    /// named by its first invoice: `generated:<contract>:<invoice>`.
    Generated {
        /// The contract.
        contract: ContractId,
        /// The first of the invoices it carries.
        invoice: InvoiceId,
    },
    /// An invoice sent by hand (a page's button, `regua invoices send`):
    /// `manual:<invoice>:<ms>` or, with a nonce so two sends in one millisecond stay two,
    /// `manual:<invoice>:<ms>-<8 hex>`.
    Manual {
        /// The invoice.
        invoice: InvoiceId,
        /// When it was asked for (ms).
        at_ms: i64,
        /// A random nonce.
        nonce: Option<u32>,
    },
    /// "Send" through the REST API with an `Idempotency-Key`: `api:<api key id>:<idempotency key>`.
    ApiIdempotent {
        /// The API key's id.
        api_key: crate::domain::auth::ApiKeyId,
        /// The client's idempotency key.
        idempotency: String,
    },
    /// "Send" through the REST API without one: `api:<api key id>:<invoice>:<ms>`.
    ApiSend {
        /// The API key's id.
        api_key: crate::domain::auth::ApiKeyId,
        /// The invoice.
        invoice: InvoiceId,
        /// When (ms).
        at_ms: i64,
    },
    /// A subscriber's "enviar por e-mail" from one confirmation form: `portal:<invoice>:<request>`.
    PortalRequest {
        /// The invoice.
        invoice: InvoiceId,
        /// The form's request id (letters, digits, `-`, `_`).
        request: String,
    },
    /// The n-th "enviar por e-mail" of a day through the app's API:
    /// `portal:<invoice>:<date>:<n>`.
    PortalDaily {
        /// The invoice.
        invoice: InvoiceId,
        /// The day.
        date: Date,
        /// Its number that day (1-based).
        n: i64,
    },
    /// The "pagamento confirmado" message of an invoice: `pago:<invoice>`. One per invoice: a
    /// second payment (a duplicate, to be refunded) does not confirm again.
    PaymentConfirmed {
        /// The invoice.
        invoice: InvoiceId,
    },
    /// A portal access link: `portal-access:<token id>`.
    PortalAccess {
        /// The token's row.
        token: i64,
    },
    /// The manual emission of an invoice on a day ("Emissão de boletos"): `emissao:<invoice>:<date>`.
    Emission {
        /// The invoice.
        invoice: InvoiceId,
        /// The day.
        date: Date,
    },
    /// One event of a temporary suspension: `suspensao:<suspension>:<event>` (`agendada`,
    /// `inicio`, `fim`, `encerrada`, `cancelada`). No channel: a notice falling back from push to
    /// SMS to e-mail is one notice (docs/suspension.md).
    Suspension {
        /// The suspension.
        suspension: SuspensionId,
        /// The event's name.
        event: String,
    },
    /// An SMTP account's test message: `smtp-test:<account>:<ms>`.
    SmtpTest {
        /// The account.
        account: AccountId,
        /// When (ms).
        at_ms: i64,
    },
    /// "Realizar teste de envio" on a channel: `notify-test:<channel>:<ms>:<8 hex>`.
    NotifyTest {
        /// The channel.
        channel: Channel,
        /// When (ms).
        at_ms: i64,
        /// A random nonce: every click is a new test, also within one millisecond.
        nonce: u32,
    },
    /// A notice of the suspension clock (docs/debt.md): `debt:<contract>:<episode>:<kind>`, kind
    /// `notice` (the debt notice) or `termination`; one of each per debt episode.
    Debt {
        /// The contract.
        contract: ContractId,
        /// Its debt episode (a paid debt closes one).
        episode: i64,
        /// `notice` or `termination`.
        kind: String,
    },
    /// `regua bench`'s synthetic notices: `bench:<invoice>`.
    Bench {
        /// The invoice.
        invoice: InvoiceId,
    },
    /// `regua demo`'s reminders: `demo:<before|after>:<invoice>`.
    Demo {
        /// `before` or `after` the due date.
        kind: String,
        /// The invoice.
        invoice: InvoiceId,
    },
}

impl NoticeKey {
    /// A hand-made send of an invoice now, with a random nonce.
    pub fn manual(invoice: InvoiceId, at_ms: i64) -> NoticeKey {
        NoticeKey::Manual {
            invoice,
            at_ms,
            nonce: Some(fastrand::u32(..)),
        }
    }

    /// A channel test now, with a random nonce.
    pub fn notify_test(channel: Channel, at_ms: i64) -> NoticeKey {
        NoticeKey::NotifyTest {
            channel,
            at_ms,
            nonce: fastrand::u32(..),
        }
    }

    /// Whether it is a send rule's (the planner records rule skips, not band ones).
    pub fn is_rule(&self) -> bool {
        matches!(self, NoticeKey::Rule { .. })
    }
}

impl fmt::Display for NoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoticeKey::Rule {
                invoice,
                rule,
                channel: None,
            } => write!(f, "rule:{invoice}:{rule}"),
            NoticeKey::Rule {
                invoice,
                rule,
                channel: Some(c),
            } => write!(f, "rule:{invoice}:{rule}:{c}"),
            NoticeKey::Band {
                invoice,
                band,
                channel: None,
            } => write!(f, "band:{invoice}:{band}"),
            NoticeKey::Band {
                invoice,
                band,
                channel: Some(c),
            } => write!(f, "band:{invoice}:{band}:{c}"),
            NoticeKey::Generated { contract, invoice } => {
                write!(f, "generated:{contract}:{invoice}")
            }
            NoticeKey::Manual {
                invoice,
                at_ms,
                nonce: None,
            } => write!(f, "manual:{invoice}:{at_ms}"),
            NoticeKey::Manual {
                invoice,
                at_ms,
                nonce: Some(n),
            } => write!(f, "manual:{invoice}:{at_ms}-{n:08x}"),
            NoticeKey::ApiIdempotent {
                api_key,
                idempotency,
            } => write!(f, "api:{api_key}:{idempotency}"),
            NoticeKey::ApiSend {
                api_key,
                invoice,
                at_ms,
            } => write!(f, "api:{api_key}:{invoice}:{at_ms}"),
            NoticeKey::PortalRequest { invoice, request } => {
                write!(f, "portal:{invoice}:{request}")
            }
            NoticeKey::PortalDaily { invoice, date, n } => {
                write!(f, "portal:{invoice}:{date}:{n}")
            }
            NoticeKey::PaymentConfirmed { invoice } => write!(f, "pago:{invoice}"),
            NoticeKey::PortalAccess { token } => write!(f, "portal-access:{token}"),
            NoticeKey::Emission { invoice, date } => write!(f, "emissao:{invoice}:{date}"),
            NoticeKey::Suspension { suspension, event } => {
                write!(f, "suspensao:{suspension}:{event}")
            }
            NoticeKey::SmtpTest { account, at_ms } => write!(f, "smtp-test:{account}:{at_ms}"),
            NoticeKey::NotifyTest {
                channel,
                at_ms,
                nonce,
            } => write!(f, "notify-test:{}:{at_ms}:{nonce:08x}", channel.as_str()),
            NoticeKey::Debt {
                contract,
                episode,
                kind,
            } => write!(f, "debt:{contract}:{episode}:{kind}"),
            NoticeKey::Bench { invoice } => write!(f, "bench:{invoice}"),
            NoticeKey::Demo { kind, invoice } => write!(f, "demo:{kind}:{invoice}"),
        }
    }
}

/// Why a text is not a dedup key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a notice key")]
pub struct BadNoticeKey(pub String);

impl FromStr for NoticeKey {
    type Err = BadNoticeKey;

    /// Reads a key back. `api:<key>:<a>:<b>` with two integers reads as [`NoticeKey::ApiSend`]
    /// (an idempotency key of exactly that shape reads the same way; its text, and so its
    /// identity, is unchanged either way).
    fn from_str(s: &str) -> Result<NoticeKey, BadNoticeKey> {
        let bad = || BadNoticeKey(s.to_string());
        let int = |p: &str| p.parse::<i64>().map_err(|_| bad());
        let date = |p: &str| p.parse::<Date>().map_err(|_| bad());
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split(':').collect();
        Ok(match (kind, parts.as_slice()) {
            ("rule", [i, r]) => NoticeKey::Rule {
                invoice: InvoiceId(int(i)?),
                rule: super::rules::RuleId(int(r)?),
                channel: None,
            },
            ("rule", [i, r, c]) => NoticeKey::Rule {
                invoice: InvoiceId(int(i)?),
                rule: super::rules::RuleId(int(r)?),
                channel: Some(c.parse().map_err(|_| bad())?),
            },
            ("band", [i, b]) => NoticeKey::Band {
                invoice: InvoiceId(int(i)?),
                band: super::rules::BandId(int(b)?),
                channel: None,
            },
            ("band", [i, b, c]) => NoticeKey::Band {
                invoice: InvoiceId(int(i)?),
                band: super::rules::BandId(int(b)?),
                channel: Some(c.parse().map_err(|_| bad())?),
            },
            ("generated", [c, i]) => NoticeKey::Generated {
                contract: ContractId(int(c)?),
                invoice: InvoiceId(int(i)?),
            },
            ("manual", [i, at]) => {
                let (at, nonce) = match at.split_once('-') {
                    Some((at, n)) => (at, Some(u32::from_str_radix(n, 16).map_err(|_| bad())?)),
                    None => (*at, None),
                };
                NoticeKey::Manual {
                    invoice: InvoiceId(int(i)?),
                    at_ms: int(at)?,
                    nonce,
                }
            }
            ("api", [k, i, at]) if i.parse::<i64>().is_ok() && at.parse::<i64>().is_ok() => {
                NoticeKey::ApiSend {
                    api_key: crate::domain::auth::ApiKeyId(int(k)?),
                    invoice: InvoiceId(int(i)?),
                    at_ms: int(at)?,
                }
            }
            ("api", [k, ..]) => NoticeKey::ApiIdempotent {
                api_key: crate::domain::auth::ApiKeyId(int(k)?),
                idempotency: rest[k.len() + 1..].to_string(),
            },
            ("portal", [i, d, n]) => NoticeKey::PortalDaily {
                invoice: InvoiceId(int(i)?),
                date: date(d)?,
                n: int(n)?,
            },
            ("portal", [i, r]) => NoticeKey::PortalRequest {
                invoice: InvoiceId(int(i)?),
                request: r.to_string(),
            },
            ("portal-access", [t]) => NoticeKey::PortalAccess { token: int(t)? },
            ("debt", [c, e, k]) if matches!(*k, "notice" | "termination") => NoticeKey::Debt {
                contract: ContractId(int(c)?),
                episode: int(e)?,
                kind: (*k).to_string(),
            },
            ("pago", [i]) => NoticeKey::PaymentConfirmed {
                invoice: InvoiceId(int(i)?),
            },
            ("emissao", [i, d]) => NoticeKey::Emission {
                invoice: InvoiceId(int(i)?),
                date: date(d)?,
            },
            ("suspensao", [id, e]) if !e.is_empty() => NoticeKey::Suspension {
                suspension: SuspensionId(int(id)?),
                event: e.to_string(),
            },
            ("smtp-test", [a, at]) => NoticeKey::SmtpTest {
                account: AccountId(int(a)?),
                at_ms: int(at)?,
            },
            ("notify-test", [c, at, n]) => NoticeKey::NotifyTest {
                channel: c.parse().map_err(|_| bad())?,
                at_ms: int(at)?,
                nonce: u32::from_str_radix(n, 16).map_err(|_| bad())?,
            },
            ("bench", [i]) => NoticeKey::Bench {
                invoice: InvoiceId(int(i)?),
            },
            ("demo", [k, i]) if !k.is_empty() => NoticeKey::Demo {
                kind: k.to_string(),
                invoice: InvoiceId(int(i)?),
            },
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_key_reads_back_as_itself() {
        let keys = [
            NoticeKey::Rule {
                invoice: InvoiceId(42),
                rule: super::super::rules::RuleId(7),
                channel: None,
            },
            NoticeKey::Rule {
                invoice: InvoiceId(42),
                rule: super::super::rules::RuleId(7),
                channel: Some(Channel::Sms),
            },
            NoticeKey::Band {
                invoice: InvoiceId(42),
                band: super::super::rules::BandId(2),
                channel: None,
            },
            NoticeKey::Band {
                invoice: InvoiceId(42),
                band: super::super::rules::BandId(2),
                channel: Some(Channel::Push),
            },
            NoticeKey::Generated {
                contract: ContractId(3),
                invoice: InvoiceId(42),
            },
            NoticeKey::Manual {
                invoice: InvoiceId(42),
                at_ms: 1_767_000_000_000,
                nonce: None,
            },
            NoticeKey::Manual {
                invoice: InvoiceId(42),
                at_ms: 1_767_000_000_000,
                nonce: Some(0xdead_beef),
            },
            NoticeKey::ApiIdempotent {
                api_key: crate::domain::auth::ApiKeyId(5),
                idempotency: "pedido:2026/12 #1".into(),
            },
            NoticeKey::ApiSend {
                api_key: crate::domain::auth::ApiKeyId(5),
                invoice: InvoiceId(42),
                at_ms: 9,
            },
            NoticeKey::PortalRequest {
                invoice: InvoiceId(42),
                request: "aB3_-x".into(),
            },
            NoticeKey::PortalDaily {
                invoice: InvoiceId(42),
                date: jiff::civil::date(2026, 12, 6),
                n: 2,
            },
            NoticeKey::PortalAccess { token: 11 },
            NoticeKey::PaymentConfirmed {
                invoice: InvoiceId(42),
            },
            NoticeKey::Emission {
                invoice: InvoiceId(42),
                date: jiff::civil::date(2026, 12, 6),
            },
            NoticeKey::Suspension {
                suspension: SuspensionId(4),
                event: "agendada".into(),
            },
            NoticeKey::SmtpTest {
                account: AccountId(1),
                at_ms: 9,
            },
            NoticeKey::NotifyTest {
                channel: Channel::Sms,
                at_ms: 9,
                nonce: 0x0000_00ff,
            },
            NoticeKey::Bench {
                invoice: InvoiceId(42),
            },
            NoticeKey::Debt {
                contract: ContractId(7),
                episode: 2,
                kind: "notice".into(),
            },
            NoticeKey::Demo {
                kind: "after".into(),
                invoice: InvoiceId(42),
            },
        ];
        for key in keys {
            let text = key.to_string();
            assert_eq!(text.parse::<NoticeKey>(), Ok(key.clone()), "{text}");
        }
    }

    #[test]
    fn the_texts_are_the_ones_the_outbox_already_holds() {
        for (key, text) in [
            (
                NoticeKey::Rule {
                    invoice: InvoiceId(42),
                    rule: super::super::rules::RuleId(7),
                    channel: None,
                },
                "rule:42:7",
            ),
            (
                NoticeKey::Band {
                    invoice: InvoiceId(42),
                    band: super::super::rules::BandId(3),
                    channel: Some(Channel::Sms),
                },
                "band:42:3:sms",
            ),
            (
                NoticeKey::Manual {
                    invoice: InvoiceId(42),
                    at_ms: 5,
                    nonce: Some(10),
                },
                "manual:42:5-0000000a",
            ),
            (
                NoticeKey::Suspension {
                    suspension: SuspensionId(4),
                    event: "inicio".into(),
                },
                "suspensao:4:inicio",
            ),
            (
                NoticeKey::PortalDaily {
                    invoice: InvoiceId(42),
                    date: jiff::civil::date(2026, 1, 7),
                    n: 1,
                },
                "portal:42:2026-01-07:1",
            ),
            (
                NoticeKey::NotifyTest {
                    channel: Channel::Push,
                    at_ms: 5,
                    nonce: 1,
                },
                "notify-test:push:5:00000001",
            ),
        ] {
            assert_eq!(key.to_string(), text);
        }
    }

    #[test]
    fn texts_that_are_no_key_are_refused() {
        for text in [
            "",
            "rule",
            "rule:1",
            "rule:a:b",
            "band:1:2:3",
            "lote:2026/12",
            "manual:1:x",
        ] {
            assert!(text.parse::<NoticeKey>().is_err(), "{text}");
        }
    }
}
