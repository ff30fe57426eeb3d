//! The global parameters every surface edits (`regua settings`, Parâmetros gerais, Central do
//! Assinante): one list of keys with their defaults and how a value is checked, so the CLI and
//! the pages accept and refuse exactly the same values.

use sqlx::AnyConnection;

use super::{
    dunning::SETTING_OPTIONAL_HOLIDAYS, dunning::SETTING_WINDOW_DAYS, parties::COMPANY_SETTINGS,
    parties::SETTING_DEFAULT_DELIVERY_TYPE, parties::get_setting,
};

/// Setting key: whether the subscriber portal offers "enviar por e-mail" ("envia e-mail
/// aplicativo" in the seed documents). `yes` or `no`; off until an administrator turns it on.
pub const SETTING_PORTAL_SEND_EMAIL: &str = "portal_send_email";
/// Setting key: how many portal e-mail requests one invoice may make per day.
pub const SETTING_PORTAL_LIMIT_INVOICE: &str = "portal_daily_limit_per_invoice";
/// Setting key: how many portal e-mail requests one customer may make per day.
pub const SETTING_PORTAL_LIMIT_CUSTOMER: &str = "portal_daily_limit_per_customer";
/// Setting key: how suspension notices reach the customer (`email`, `sms` or `push`).
pub const SETTING_SUSPENSION_METHOD: &str = "suspension_notify_method";
/// Setting key: the e-mail account suspension notices go through (empty: the financial one).
pub const SETTING_SUSPENSION_ACCOUNT: &str = "suspension_smtp_account";
/// Setting key: the SMS gateway suspension notices go through (empty: the first active one).
pub const SETTING_SUSPENSION_GATEWAY: &str = "suspension_sms_gateway";
/// Setting key: the channels to try, in order, when the chosen one cannot reach a customer
/// (`sms,email`; empty: none).
pub const SETTING_SUSPENSION_FALLBACK: &str = "suspension_fallback";
/// Setting key: how many days before a suspension ends its "ending" notice goes.
pub const SETTING_SUSPENSION_ENDING_DAYS: &str = "suspension_ending_days";

/// Setting key: when e-mail may be sent (`qualquer`, or `seg-sex 08:00-20:00, sab 08:00-14:00`).
pub const SETTING_WINDOW_EMAIL: &str = "sending_window_email";
/// Setting key: when SMS may be sent; never wider than Lei 15.426/2014 (SP), art. 2º.
pub const SETTING_WINDOW_SMS: &str = "sending_window_sms";
/// Setting key: when push notifications may be sent.
pub const SETTING_WINDOW_PUSH: &str = "sending_window_push";
/// Setting key: when WhatsApp may be sent; never wider than Lei 15.426/2014 (SP), art. 2º, as
/// SMS.
pub const SETTING_WINDOW_WHATSAPP: &str = "sending_window_whatsapp";

/// Setting key: the suspension clock for non-payment runs (`yes`/`no`; off by default, so an
/// install does not start sending debt notices by itself; docs/debt.md).
pub const SETTING_DEBT_CLOCK: &str = "debt_clock";
/// Setting key: days overdue when the debt notice goes.
pub const SETTING_DEBT_NOTICE_AFTER: &str = "debt_notice_after_overdue_days";
/// Setting key: days from the debt notice's sending to suspension (legal floor 15).
pub const SETTING_DEBT_SUSPENSION_AFTER: &str = "debt_suspension_after_notice_days";
/// Setting key: days suspended before the termination notice.
pub const SETTING_DEBT_TERMINATION_NOTICE_AFTER: &str =
    "debt_termination_notice_after_suspension_days";
/// Setting key: days from the termination notice to termination (with the previous, at least
/// 60 days suspended).
pub const SETTING_DEBT_TERMINATION_AFTER: &str = "debt_termination_after_notice_days";
/// Setting key: hours to restore service after payment (legal ceiling 24).
pub const SETTING_DEBT_RESTORE_HOURS: &str = "debt_restore_within_hours";
/// Setting key: the channels the debt and termination notices go by, in order (the first that
/// reaches the subscriber, the next ones as fallback).
pub const SETTING_DEBT_CHANNELS: &str = "debt_notice_channels";

/// Setting key: days of service a trust unlock grants (0: not offered).
pub const SETTING_TRUST_DAYS: &str = "trust_unlock_days";
/// Setting key: at most one trust unlock in this many days.
pub const SETTING_TRUST_EVERY: &str = "trust_unlock_every_days";
/// Setting key: trust unlock only with a single invoice past due (`yes`/`no`).
pub const SETTING_TRUST_ONE_INVOICE: &str = "trust_unlock_one_invoice_only";

/// How a setting's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// Free text.
    Text,
    /// An e-mail address, or empty.
    Email,
    /// An http(s) address, or empty.
    Url,
    /// `email` or `printed`.
    Delivery,
    /// A whole number in the range.
    Number(u32, u32),
    /// `yes` or `no` (`sim`/`não` accepted).
    YesNo,
    /// One of the listed values.
    Choice(&'static [&'static str]),
    /// A comma-separated list of channels (`push,sms,email`), or empty.
    Channels,
    /// The name of an active SMTP account, or empty (checked against the database by
    /// [`check_setting_in_db`]).
    SmtpAccount,
    /// The name of an active SMS gateway, or empty (idem).
    SmsGateway,
    /// A sending window (`domain::window`); with `legal_floor`, within the law's hours.
    Window {
        /// Refuse a window wider than Lei 15.426/2014 (SP) allows.
        legal_floor: bool,
    },
}

/// One known setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// The key.
    pub key: &'static str,
    /// The value while unset.
    pub default: &'static str,
    /// How a value is checked.
    pub kind: SettingKind,
}

const fn spec(key: &'static str, default: &'static str, kind: SettingKind) -> SettingSpec {
    SettingSpec { key, default, kind }
}

/// The suspension notice methods.
pub const SUSPENSION_METHODS: &[&str] = &["email", "sms", "push"];

/// Every setting an operator may set, in the order `regua settings list` prints them.
pub const SETTINGS: &[SettingSpec] = &[
    spec(
        SETTING_DEFAULT_DELIVERY_TYPE,
        "email",
        SettingKind::Delivery,
    ),
    spec(SETTING_WINDOW_DAYS, "7", SettingKind::Number(0, 60)),
    spec(SETTING_OPTIONAL_HOLIDAYS, "no", SettingKind::YesNo),
    spec(
        SETTING_SUSPENSION_METHOD,
        "email",
        SettingKind::Choice(SUSPENSION_METHODS),
    ),
    spec(SETTING_SUSPENSION_ACCOUNT, "", SettingKind::SmtpAccount),
    spec(SETTING_SUSPENSION_GATEWAY, "", SettingKind::SmsGateway),
    spec(SETTING_SUSPENSION_FALLBACK, "", SettingKind::Channels),
    spec(
        SETTING_SUSPENSION_ENDING_DAYS,
        "3",
        SettingKind::Number(1, 30),
    ),
    spec(
        SETTING_WINDOW_EMAIL,
        "qualquer",
        SettingKind::Window { legal_floor: false },
    ),
    spec(
        SETTING_WINDOW_SMS,
        crate::domain::window::LEGAL_SMS,
        SettingKind::Window { legal_floor: true },
    ),
    spec(
        SETTING_WINDOW_PUSH,
        crate::domain::window::LEGAL_SMS,
        SettingKind::Window { legal_floor: false },
    ),
    spec(
        SETTING_WINDOW_WHATSAPP,
        crate::domain::window::LEGAL_SMS,
        SettingKind::Window { legal_floor: true },
    ),
    spec(SETTING_DEBT_CLOCK, "no", SettingKind::YesNo),
    spec(SETTING_DEBT_NOTICE_AFTER, "10", SettingKind::Number(1, 365)),
    spec(
        SETTING_DEBT_SUSPENSION_AFTER,
        "15",
        SettingKind::Number(
            crate::domain::debt::MIN_DAYS_NOTICE_TO_SUSPENSION as u32,
            365,
        ),
    ),
    spec(
        SETTING_DEBT_TERMINATION_NOTICE_AFTER,
        "45",
        SettingKind::Number(1, 365),
    ),
    spec(
        SETTING_DEBT_TERMINATION_AFTER,
        "15",
        SettingKind::Number(1, 365),
    ),
    spec(
        SETTING_DEBT_RESTORE_HOURS,
        "24",
        SettingKind::Number(1, crate::domain::debt::MAX_RESTORE_HOURS as u32),
    ),
    spec(SETTING_DEBT_CHANNELS, "email", SettingKind::Channels),
    spec(SETTING_TRUST_DAYS, "0", SettingKind::Number(0, 15)),
    spec(SETTING_TRUST_EVERY, "30", SettingKind::Number(1, 365)),
    spec(SETTING_TRUST_ONE_INVOICE, "no", SettingKind::YesNo),
    spec(SETTING_PORTAL_SEND_EMAIL, "no", SettingKind::YesNo),
    spec(
        SETTING_PORTAL_LIMIT_INVOICE,
        "3",
        SettingKind::Number(1, 100),
    ),
    spec(
        SETTING_PORTAL_LIMIT_CUSTOMER,
        "10",
        SettingKind::Number(1, 1000),
    ),
    spec(
        COMPANY_SETTINGS[0].0,
        COMPANY_SETTINGS[0].1,
        SettingKind::Text,
    ),
    spec(
        COMPANY_SETTINGS[1].0,
        COMPANY_SETTINGS[1].1,
        SettingKind::Text,
    ),
    spec(
        COMPANY_SETTINGS[2].0,
        COMPANY_SETTINGS[2].1,
        SettingKind::Text,
    ),
    spec(
        COMPANY_SETTINGS[3].0,
        COMPANY_SETTINGS[3].1,
        SettingKind::Email,
    ),
    spec(
        COMPANY_SETTINGS[4].0,
        COMPANY_SETTINGS[4].1,
        SettingKind::Text,
    ),
    spec(
        COMPANY_SETTINGS[5].0,
        COMPANY_SETTINGS[5].1,
        SettingKind::Text,
    ),
    spec(
        COMPANY_SETTINGS[6].0,
        COMPANY_SETTINGS[6].1,
        SettingKind::Url,
    ),
    spec(
        COMPANY_SETTINGS[7].0,
        COMPANY_SETTINGS[7].1,
        SettingKind::Text,
    ),
];

/// The spec of `key`, if it is a known setting.
pub fn setting_spec(key: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Why a value was refused: in English for the CLI and logs, in pt-BR for the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// English.
    pub en: String,
    /// Brazilian Portuguese.
    pub pt: String,
}

/// Checks `value` for `spec`; the value as stored (trimmed, normalised).
pub fn check_setting(spec: &SettingSpec, value: &str) -> Result<String, SettingError> {
    let v = value.trim();
    let err = |en: String, pt: &str| SettingError { en, pt: pt.into() };
    // Every setting is one line: the company's name and phone reach subjects, PDFs and SMS,
    // the portal's address reaches links.
    if let Err(e) = crate::domain::limits::check_line(v, crate::domain::limits::MAX_TEXT_CHARS) {
        return Err(SettingError {
            en: e.to_string(),
            pt: e.pt(),
        });
    }
    match spec.kind {
        SettingKind::Text | SettingKind::SmtpAccount | SettingKind::SmsGateway => Ok(v.to_string()),
        SettingKind::Email => {
            if v.is_empty() || crate::domain::EmailAddress::parse(v).is_ok() {
                Ok(v.to_string())
            } else {
                Err(err(
                    format!("{v:?} is not an e-mail address"),
                    "E-mail inválido.",
                ))
            }
        }
        SettingKind::Url => {
            if v.is_empty() || v.starts_with("https://") || v.starts_with("http://") {
                Ok(v.to_string())
            } else {
                Err(err(
                    format!("{v:?} must start with https://"),
                    "Um endereço que comece com https://.",
                ))
            }
        }
        SettingKind::Delivery => v
            .parse::<crate::domain::DeliveryType>()
            .map(|d| d.as_str().to_string())
            .map_err(|e| err(e, "Escolha e-mail ou impresso.")),
        SettingKind::Number(lo, hi) => match v.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n.to_string()),
            _ => Err(SettingError {
                en: format!("{v:?} is not a number from {lo} to {hi}"),
                pt: format!("Um número de {lo} a {hi}."),
            }),
        },
        SettingKind::YesNo => match v.to_lowercase().as_str() {
            "yes" | "sim" => Ok("yes".into()),
            "no" | "não" | "nao" => Ok("no".into()),
            _ => Err(err(format!("{v:?}: use yes or no"), "Escolha sim ou não.")),
        },
        SettingKind::Channels => crate::domain::delivery::Channel::parse_list(v)
            .map(|l| crate::domain::delivery::Channel::format_list(&l))
            .map_err(|e| {
                err(
                    e,
                    "Uma lista de canais separados por vírgula: push, sms, email.",
                )
            }),
        SettingKind::Window { legal_floor } => {
            // Left empty: back to the default (the law's hours for SMS).
            let v = if v.is_empty() { spec.default } else { v };
            let w = crate::domain::window::SendingWindow::parse(v).map_err(|e| {
                err(
                    e,
                    "Uma janela como \"seg-sex 08:00-20:00, sab 08:00-14:00\" (ou \"qualquer\").",
                )
            })?;
            if legal_floor && !w.within(&crate::domain::window::SendingWindow::legal_sms()) {
                return Err(err(
                    format!(
                        "{v:?} is wider than Lei 15.426/2014 (SP), art. 2: {}",
                        crate::domain::window::LEGAL_SMS
                    ),
                    "Mais ampla que a Lei 15.426/2014 (SP), art. 2º: de segunda a sexta das 8h às 20h, sábados das 8h às 14h, nunca em feriados.",
                ));
            }
            Ok(w.to_text())
        }
        SettingKind::Choice(values) => {
            let lower = v.to_lowercase();
            if values.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(err(
                    format!("{v:?}: use one of {}", values.join(", ")),
                    "Escolha uma das opções.",
                ))
            }
        }
    }
}

/// The checks [`check_setting`] cannot make alone: a named account or gateway must exist and be
/// active, so a typo is refused when saved rather than failing every suspension later.
pub async fn check_setting_in_db(
    conn: &mut AnyConnection,
    spec: &SettingSpec,
    value: &str,
) -> anyhow::Result<Result<(), SettingError>> {
    if value.is_empty() {
        return Ok(Ok(()));
    }
    Ok(match spec.kind {
        SettingKind::SmtpAccount => match super::accounts::find_smtp_account(conn, value).await? {
            Some(a) if a.active => Ok(()),
            _ => Err(SettingError {
                en: format!("no active smtp account named {value:?}"),
                pt: "Conta de e-mail SMTP não encontrada.".into(),
            }),
        },
        SettingKind::SmsGateway => match super::channels::find_sms_gateway(conn, value).await? {
            Some(_) => Ok(()),
            None => Err(SettingError {
                en: format!("no active sms gateway named {value:?}"),
                pt: "Gateway de SMS não encontrado.".into(),
            }),
        },
        _ => Ok(()),
    })
}

/// The value of a known setting, its default while unset.
pub async fn setting_or_default(
    conn: &mut AnyConnection,
    spec: &SettingSpec,
) -> anyhow::Result<String> {
    Ok(get_setting(conn, spec.key)
        .await?
        .unwrap_or_else(|| spec.default.to_string()))
}

/// The subscriber portal's e-mail parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalSettings {
    /// "Envia e-mail aplicativo": the portal offers to e-mail an invoice.
    pub send_email: bool,
    /// Requests per invoice per day.
    pub limit_per_invoice: u32,
    /// Requests per customer per day.
    pub limit_per_customer: u32,
}

/// Reads the portal's parameters; a stored value that fails its check is an error (it can only
/// come from a hand-edited database).
pub async fn portal_settings(conn: &mut AnyConnection) -> anyhow::Result<PortalSettings> {
    let mut read = async |key: &str| -> anyhow::Result<String> {
        let spec = setting_spec(key).expect("a known setting");
        let raw = setting_or_default(conn, spec).await?;
        check_setting(spec, &raw).map_err(|e| anyhow::anyhow!("setting {key}: {}", e.en))
    };
    let send_email = read(SETTING_PORTAL_SEND_EMAIL).await? == "yes";
    let limit_per_invoice = read(SETTING_PORTAL_LIMIT_INVOICE).await?.parse()?;
    let limit_per_customer = read(SETTING_PORTAL_LIMIT_CUSTOMER).await?.parse()?;
    Ok(PortalSettings {
        send_email,
        limit_per_invoice,
        limit_per_customer,
    })
}

/// Each channel's sending window as configured (the defaults while unset).
pub async fn sending_windows(
    conn: &mut AnyConnection,
) -> anyhow::Result<
    Vec<(
        crate::domain::delivery::Channel,
        crate::domain::window::SendingWindow,
    )>,
> {
    use crate::domain::delivery::Channel;
    let mut out = Vec::new();
    for (channel, key) in [
        (Channel::Email, SETTING_WINDOW_EMAIL),
        (Channel::Sms, SETTING_WINDOW_SMS),
        (Channel::Push, SETTING_WINDOW_PUSH),
        (Channel::Whatsapp, SETTING_WINDOW_WHATSAPP),
    ] {
        let spec = setting_spec(key).expect("a known setting");
        let text = setting_or_default(conn, spec).await?;
        let w = crate::domain::window::SendingWindow::parse(&text)
            .map_err(|e| anyhow::anyhow!("setting {key}: {e}"))?;
        out.push((channel, w));
    }
    Ok(out)
}

/// The trust unlock rules from the settings.
pub async fn trust_policy(
    conn: &mut AnyConnection,
) -> anyhow::Result<crate::domain::debt::TrustPolicy> {
    let mut get = async |key: &str| -> anyhow::Result<String> {
        setting_or_default(conn, setting_spec(key).expect("a known setting")).await
    };
    let days = get(SETTING_TRUST_DAYS).await?;
    let every = get(SETTING_TRUST_EVERY).await?;
    let one = get(SETTING_TRUST_ONE_INVOICE).await?;
    Ok(crate::domain::debt::TrustPolicy {
        days: days.trim().parse().unwrap_or(0),
        every_days: every.trim().parse().unwrap_or(30),
        one_invoice_only: matches!(one.trim(), "yes" | "sim"),
    })
}

/// The suspension clock's policy from the settings, and whether the clock runs.
pub async fn debt_policy(
    conn: &mut AnyConnection,
) -> anyhow::Result<(bool, crate::domain::debt::DebtPolicy)> {
    let mut values = std::collections::HashMap::new();
    for key in [
        SETTING_DEBT_NOTICE_AFTER,
        SETTING_DEBT_SUSPENSION_AFTER,
        SETTING_DEBT_TERMINATION_NOTICE_AFTER,
        SETTING_DEBT_TERMINATION_AFTER,
        SETTING_DEBT_RESTORE_HOURS,
        SETTING_DEBT_CLOCK,
    ] {
        let spec = setting_spec(key).expect("a known setting");
        values.insert(key, setting_or_default(conn, spec).await?);
    }
    let num = |k: &str| -> anyhow::Result<u16> {
        values[k]
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("setting {k}: {:?} is not a number", values[k]))
    };
    let on = matches!(values[SETTING_DEBT_CLOCK].trim(), "yes" | "sim");
    Ok((
        on,
        crate::domain::debt::DebtPolicy {
            notice_after_overdue_days: num(SETTING_DEBT_NOTICE_AFTER)?,
            suspension_after_notice_days: num(SETTING_DEBT_SUSPENSION_AFTER)?,
            termination_notice_after_suspension_days: num(SETTING_DEBT_TERMINATION_NOTICE_AFTER)?,
            termination_after_notice_days: num(SETTING_DEBT_TERMINATION_AFTER)?,
            restore_within_hours: num(SETTING_DEBT_RESTORE_HOURS)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_and_every_default_passes_its_check() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.key != s.key),
                "{} twice",
                s.key
            );
            assert_eq!(check_setting(s, s.default).as_deref(), Ok(s.default));
        }
        assert_eq!(
            SETTINGS
                .iter()
                .filter(|s| COMPANY_SETTINGS.iter().any(|(k, _)| *k == s.key))
                .count(),
            COMPANY_SETTINGS.len()
        );
    }

    #[test]
    fn checks_normalise_or_refuse_with_both_languages() {
        let yn = setting_spec(SETTING_PORTAL_SEND_EMAIL).unwrap();
        assert_eq!(check_setting(yn, " Sim ").unwrap(), "yes");
        assert_eq!(
            check_setting(yn, "talvez").unwrap_err().pt,
            "Escolha sim ou não."
        );
        let lim = setting_spec(SETTING_PORTAL_LIMIT_INVOICE).unwrap();
        assert_eq!(check_setting(lim, "5").unwrap(), "5");
        let e = check_setting(lim, "0").unwrap_err();
        assert_eq!(e.pt, "Um número de 1 a 100.");
        assert!(e.en.contains("from 1 to 100"), "{}", e.en);
        let m = setting_spec(SETTING_SUSPENSION_METHOD).unwrap();
        assert_eq!(check_setting(m, "SMS").unwrap(), "sms");
        assert!(
            check_setting(m, "fax")
                .unwrap_err()
                .en
                .contains("email, sms, push")
        );
        let url = setting_spec("portal_url").unwrap();
        assert!(check_setting(url, "ftp://x").is_err());
        let mail = setting_spec("company_email").unwrap();
        assert!(check_setting(mail, "nao-e-email").is_err());
        assert_eq!(check_setting(mail, "").unwrap(), "");
    }
}
