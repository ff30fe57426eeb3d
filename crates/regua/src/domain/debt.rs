//! Suspension for non-payment by the book (#23, docs/debt.md): the policy with its legal floors
//! (Anatel's RGC, Resolução nº 765/2023) and the clock — the contract's state and the one
//! function that says what the next daily step does, computed from the evidence (when the
//! notices were actually sent, when the network confirmed). Pure: the routine reads the
//! evidence and writes the transitions; the tests drive it with random histories.

use jiff::civil::Date;

/// The legal minimum between the debt notice's sending and suspension (RGC: "após o decurso de
/// 15 (quinze) dias da data em que notificar o consumidor").
pub const MIN_DAYS_NOTICE_TO_SUSPENSION: u16 = 15;
/// The legal minimum of days suspended before the contract may be terminated ("transcorridos
/// 60 (sessenta) dias da suspensão do serviço, a prestadora poderá rescindir o contrato").
pub const MIN_DAYS_SUSPENDED_TO_TERMINATION: u16 = 60;
/// The legal maximum for restoring service after payment, in hours ("em até 1 (um) dia,
/// contado da ciência do pagamento").
pub const MAX_RESTORE_HOURS: u16 = 24;

/// The calendar day `days` after `d` (every count of the clock is in calendar days, as the
/// resolution writes them); `d` itself past the calendar's end.
pub fn days_after(d: Date, days: u16) -> Date {
    d.checked_add(jiff::Span::new().days(i64::from(days)))
        .unwrap_or(d)
}

/// The ISP's policy ("Política de suspensão por inadimplência"); where the text leaves a
/// choice, a setting with the legal floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebtPolicy {
    /// Days overdue (of the oldest open invoice) when the debt notice goes.
    pub notice_after_overdue_days: u16,
    /// Days from the debt notice's sending to suspension; at least 15.
    pub suspension_after_notice_days: u16,
    /// Days suspended before the termination notice goes.
    pub termination_notice_after_suspension_days: u16,
    /// Days from the termination notice's sending to termination (and in all, at least 60
    /// days suspended).
    pub termination_after_notice_days: u16,
    /// Hours to restore service after payment; at most 24.
    pub restore_within_hours: u16,
}

impl Default for DebtPolicy {
    /// Notice at 10 days overdue; the legal 15 days to suspension; the termination notice at 45
    /// days suspended and termination 15 days later (60 suspended); service back within 24 h.
    fn default() -> Self {
        DebtPolicy {
            notice_after_overdue_days: 10,
            suspension_after_notice_days: MIN_DAYS_NOTICE_TO_SUSPENSION,
            termination_notice_after_suspension_days: 45,
            termination_after_notice_days: 15,
            restore_within_hours: MAX_RESTORE_HOURS,
        }
    }
}

impl DebtPolicy {
    /// Why a policy would break the law, naming the setting and the rule (pt-BR, as settings
    /// errors are shown): suspension earlier than 15 days after the notice, termination earlier
    /// than 60 days suspended, restoration later than 24 hours.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.suspension_after_notice_days < MIN_DAYS_NOTICE_TO_SUSPENSION {
            return Err((
                "debt_suspension_after_notice_days",
                format!(
                    "no mínimo {MIN_DAYS_NOTICE_TO_SUSPENSION} dias entre a notificação e a suspensão (RGC, Resolução Anatel nº 765/2023)"
                ),
            ));
        }
        let suspended =
            self.termination_notice_after_suspension_days + self.termination_after_notice_days;
        if suspended < MIN_DAYS_SUSPENDED_TO_TERMINATION {
            return Err((
                "debt_termination_after_notice_days",
                format!(
                    "a rescisão só pode vir após {MIN_DAYS_SUSPENDED_TO_TERMINATION} dias de suspensão (aviso de rescisão + prazo = {suspended} dias; RGC, Resolução Anatel nº 765/2023)"
                ),
            ));
        }
        if self.restore_within_hours == 0 || self.restore_within_hours > MAX_RESTORE_HOURS {
            return Err((
                "debt_restore_within_hours",
                format!(
                    "o serviço volta em até {MAX_RESTORE_HOURS} horas após o pagamento (RGC, Resolução Anatel nº 765/2023)"
                ),
            ));
        }
        if self.notice_after_overdue_days == 0 {
            return Err((
                "debt_notice_after_overdue_days",
                "a notificação de débito vem depois do vencimento (1 dia ou mais)".into(),
            ));
        }
        Ok(())
    }
}

/// Where a contract is on the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DebtState {
    /// Nothing overdue long enough, or paid.
    Regular,
    /// The debt notice was sent (its sending date starts the legal clock).
    Notified,
    /// Suspension is due: the ISP's network is told to suspend.
    SuspensionDue,
    /// The network confirmed the suspension.
    Suspended,
    /// The termination notice was sent.
    TerminationNotified,
    /// Termination is due: the ERP is told to terminate.
    TerminationDue,
    /// Terminated (confirmed); the end of the clock.
    Terminated,
    /// Everything overdue was paid while suspended (or due): service must come back within
    /// the policy's hours.
    RestoreDue,
}

impl DebtState {
    /// Every state.
    pub const ALL: [DebtState; 8] = [
        DebtState::Regular,
        DebtState::Notified,
        DebtState::SuspensionDue,
        DebtState::Suspended,
        DebtState::TerminationNotified,
        DebtState::TerminationDue,
        DebtState::Terminated,
        DebtState::RestoreDue,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DebtState::Regular => "regular",
            DebtState::Notified => "notified",
            DebtState::SuspensionDue => "suspension_due",
            DebtState::Suspended => "suspended",
            DebtState::TerminationNotified => "termination_notified",
            DebtState::TerminationDue => "termination_due",
            DebtState::Terminated => "terminated",
            DebtState::RestoreDue => "restore_due",
        }
    }

    /// The name on screen.
    pub fn label_pt(self) -> &'static str {
        match self {
            DebtState::Regular => "regular",
            DebtState::Notified => "notificado",
            DebtState::SuspensionDue => "suspensão devida",
            DebtState::Suspended => "suspenso",
            DebtState::TerminationNotified => "aviso de rescisão enviado",
            DebtState::TerminationDue => "rescisão devida",
            DebtState::Terminated => "rescindido",
            DebtState::RestoreDue => "restabelecimento devido",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<DebtState> {
        DebtState::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The name on screen of a stored name (the name itself when it is not a state).
    pub fn label_pt_of(s: &str) -> String {
        DebtState::parse(s).map_or(s.to_string(), |d| d.label_pt().to_string())
    }
}

/// What the clock knows of one contract: its state and the dates that move it, all calendar
/// dates in the ISP's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebtRecord {
    /// The state.
    pub state: DebtState,
    /// When the debt notice was actually sent (not queued).
    pub notice_sent_on: Option<Date>,
    /// When the network confirmed the suspension.
    pub suspended_on: Option<Date>,
    /// When the termination notice was actually sent.
    pub termination_notice_sent_on: Option<Date>,
    /// The last day of a trust unlock ("desbloqueio de confiança") granted in this episode.
    pub trust_until: Option<Date>,
}

impl DebtRecord {
    /// A contract that never entered the clock.
    pub fn regular() -> DebtRecord {
        DebtRecord {
            state: DebtState::Regular,
            notice_sent_on: None,
            suspended_on: None,
            termination_notice_sent_on: None,
            trust_until: None,
        }
    }
}

/// What the day's evidence says of one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebtEvidence {
    /// The due date of its oldest open invoice, when it has one.
    pub oldest_open_due: Option<Date>,
    /// Whether a debt notice of the current episode is queued or sending (not yet sent).
    pub notice_pending: bool,
    /// The sending date of the current episode's debt notice, once sent.
    pub notice_sent_on: Option<Date>,
    /// Whether a termination notice is queued or sending.
    pub termination_notice_pending: bool,
    /// The sending date of the termination notice, once sent.
    pub termination_notice_sent_on: Option<Date>,
}

/// What a step does to one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebtAction {
    /// Queue the debt notice.
    SendDebtNotice,
    /// Queue the termination notice.
    SendTerminationNotice,
    /// Move to this state (the webhooks of `*_due` states go with it).
    MoveTo(DebtState),
}

/// The day's step for one contract: what to do, given its record, the evidence and the policy,
/// on `today`. Never `SuspensionDue` before the notice's sending + the policy's days (≥ 15);
/// never `TerminationDue` before 60 days suspended and the termination notice's days; a debt
/// that is paid moves to `RestoreDue` (from any state where service was or is to be cut) or
/// `Regular`.
pub fn step(
    record: &DebtRecord,
    evidence: &DebtEvidence,
    policy: &DebtPolicy,
    today: Date,
) -> Vec<DebtAction> {
    use DebtState::*;
    let days_since = |d: Date| (today - d).get_days();
    let overdue_days = evidence.oldest_open_due.map(days_since);
    let in_debt = overdue_days.is_some_and(|d| d >= 1);
    let policy_floor_suspension = i32::from(
        policy
            .suspension_after_notice_days
            .max(MIN_DAYS_NOTICE_TO_SUSPENSION),
    );
    // Back in service on trust: suspension is due again the day after the trust ends unpaid (the
    // episode's notice was sent long before); paid, the episode ends.
    if record.state == Regular && record.trust_until.is_some() {
        return match record.trust_until {
            _ if !in_debt => vec![DebtAction::MoveTo(Regular)],
            Some(until) if today > until => vec![DebtAction::MoveTo(SuspensionDue)],
            _ => Vec::new(),
        };
    }
    match record.state {
        Regular | Notified if !in_debt => {
            if record.state == Notified {
                vec![DebtAction::MoveTo(Regular)]
            } else {
                Vec::new()
            }
        }
        SuspensionDue | Suspended | TerminationNotified | TerminationDue if !in_debt => {
            vec![DebtAction::MoveTo(RestoreDue)]
        }
        Regular => {
            if evidence.notice_sent_on.is_some() {
                return vec![DebtAction::MoveTo(Notified)];
            }
            let due =
                overdue_days.is_some_and(|d| d >= i32::from(policy.notice_after_overdue_days));
            if due && !evidence.notice_pending {
                vec![DebtAction::SendDebtNotice]
            } else {
                Vec::new()
            }
        }
        Notified => match record.notice_sent_on {
            Some(sent) if days_since(sent) >= policy_floor_suspension => {
                vec![DebtAction::MoveTo(SuspensionDue)]
            }
            _ => Vec::new(),
        },
        // Waits for the network's confirmation (`network-state suspended`).
        SuspensionDue => Vec::new(),
        Suspended => {
            let Some(since) = record.suspended_on else {
                return Vec::new();
            };
            if evidence.termination_notice_sent_on.is_some() {
                return vec![DebtAction::MoveTo(TerminationNotified)];
            }
            let due =
                days_since(since) >= i32::from(policy.termination_notice_after_suspension_days);
            if due && !evidence.termination_notice_pending {
                vec![DebtAction::SendTerminationNotice]
            } else {
                Vec::new()
            }
        }
        TerminationNotified => {
            let (Some(since), Some(sent)) =
                (record.suspended_on, record.termination_notice_sent_on)
            else {
                return Vec::new();
            };
            let suspended_long_enough =
                days_since(since) >= i32::from(MIN_DAYS_SUSPENDED_TO_TERMINATION);
            let notice_long_enough =
                days_since(sent) >= i32::from(policy.termination_after_notice_days);
            if suspended_long_enough && notice_long_enough {
                vec![DebtAction::MoveTo(TerminationDue)]
            } else {
                Vec::new()
            }
        }
        // Wait for the ERP's (or the operator's) confirmation; restore for the network's.
        TerminationDue | Terminated | RestoreDue => Vec::new(),
    }
}

/// The ISP's trust unlock rules ("desbloqueio de confiança"): `days` of service on request
/// (0: not offered), at most once every `every_days`, optionally only with a single invoice
/// past due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Days of service granted; 0 turns it off.
    pub days: u16,
    /// At most once in this many days.
    pub every_days: u16,
    /// Only when one invoice is past due.
    pub one_invoice_only: bool,
}

/// Whether a subscriber suspended for debt may have a trust unlock now, and until when; the
/// reason in Portuguese when not (the portal shows it).
pub fn trust_unlock(
    record: &DebtRecord,
    policy: &TrustPolicy,
    last_unlock: Option<Date>,
    overdue_invoices: usize,
    today: Date,
) -> Result<Date, String> {
    if policy.days == 0 {
        return Err("O provedor não oferece desbloqueio de confiança.".into());
    }
    if let Some(last) = last_unlock {
        let next = days_after(last, policy.every_days);
        if today < next {
            return Err(format!(
                "Você já usou o desbloqueio de confiança em {}; o próximo pode ser pedido a partir de {}.",
                super::format_date(last),
                super::format_date(next)
            ));
        }
    }
    if !matches!(
        record.state,
        DebtState::SuspensionDue | DebtState::Suspended
    ) {
        return Err(
            "O desbloqueio de confiança é para serviços suspensos por falta de pagamento.".into(),
        );
    }
    if policy.one_invoice_only && overdue_invoices > 1 {
        return Err(format!(
            "O desbloqueio de confiança só vale com uma fatura em atraso; há {overdue_invoices}."
        ));
    }
    Ok(days_after(today, policy.days))
}

/// The transitions a confirmation from the network or the ERP makes: `suspended` from
/// `SuspensionDue`, `active` from `RestoreDue` (back to `Regular`), `terminated` from
/// `TerminationDue`. Anything else is refused (the reason in Portuguese).
pub fn confirm(state: DebtState, network: &str) -> Result<DebtState, String> {
    use DebtState::*;
    match (state, network) {
        (SuspensionDue, "suspended") => Ok(Suspended),
        (RestoreDue | Regular | Notified, "active") => Ok(Regular),
        (TerminationDue, "terminated") => Ok(Terminated),
        (s, "suspended" | "active" | "terminated") => Err(format!(
            "o contrato está em \"{}\": não cabe confirmar \"{network}\"",
            s.label_pt()
        )),
        (_, other) => Err(format!(
            "estado de rede desconhecido {other:?}: use suspended, active ou terminated"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn evidence(oldest: Option<&str>) -> DebtEvidence {
        DebtEvidence {
            oldest_open_due: oldest.map(d),
            notice_pending: false,
            notice_sent_on: None,
            termination_notice_pending: false,
            termination_notice_sent_on: None,
        }
    }

    #[test]
    fn the_policy_refuses_what_the_law_forbids() {
        let p = DebtPolicy::default();
        assert_eq!(p.check(), Ok(()));
        let early = DebtPolicy {
            suspension_after_notice_days: 14,
            ..p
        };
        assert_eq!(
            early.check().unwrap_err().0,
            "debt_suspension_after_notice_days"
        );
        let short = DebtPolicy {
            termination_notice_after_suspension_days: 30,
            termination_after_notice_days: 10,
            ..p
        };
        assert!(short.check().unwrap_err().1.contains("60 dias"));
        let slow = DebtPolicy {
            restore_within_hours: 48,
            ..p
        };
        assert_eq!(slow.check().unwrap_err().0, "debt_restore_within_hours");
    }

    #[test]
    fn a_queued_notice_starts_no_clock() {
        let p = DebtPolicy::default();
        let mut e = evidence(Some("2026-01-10"));
        let r = DebtRecord::regular();
        assert_eq!(step(&r, &e, &p, d("2026-01-19")), vec![]);
        assert_eq!(
            step(&r, &e, &p, d("2026-01-20")),
            vec![DebtAction::SendDebtNotice]
        );
        e.notice_pending = true;
        assert_eq!(step(&r, &e, &p, d("2026-02-20")), vec![]);
        e.notice_pending = false;
        e.notice_sent_on = Some(d("2026-01-21"));
        assert_eq!(
            step(&r, &e, &p, d("2026-01-21")),
            vec![DebtAction::MoveTo(DebtState::Notified)]
        );
        let notified = DebtRecord {
            state: DebtState::Notified,
            notice_sent_on: Some(d("2026-01-21")),
            ..DebtRecord::regular()
        };
        assert_eq!(step(&notified, &e, &p, d("2026-02-04")), vec![]);
        assert_eq!(
            step(&notified, &e, &p, d("2026-02-05")),
            vec![DebtAction::MoveTo(DebtState::SuspensionDue)]
        );
    }

    #[test]
    fn trust_unlock_once_per_period_then_suspension_again() {
        let p = TrustPolicy {
            days: 3,
            every_days: 30,
            one_invoice_only: false,
        };
        let suspended = DebtRecord {
            state: DebtState::Suspended,
            notice_sent_on: Some(d("2026-01-21")),
            suspended_on: Some(d("2026-02-06")),
            ..DebtRecord::regular()
        };
        assert_eq!(
            trust_unlock(&suspended, &p, None, 2, d("2026-02-10")),
            Ok(d("2026-02-13"))
        );
        let again = trust_unlock(&suspended, &p, Some(d("2026-02-10")), 2, d("2026-02-20"));
        assert!(again.unwrap_err().contains("12/03/2026"));
        assert!(trust_unlock(&DebtRecord::regular(), &p, None, 1, d("2026-02-10")).is_err());
        let one = TrustPolicy {
            one_invoice_only: true,
            ..p
        };
        assert!(trust_unlock(&suspended, &one, None, 2, d("2026-02-10")).is_err());
        // Back in service on trust until the 13th: unpaid on the 14th, suspension is due again.
        let trusted = DebtRecord {
            state: DebtState::Regular,
            trust_until: Some(d("2026-02-13")),
            ..suspended
        };
        let e = evidence(Some("2026-01-10"));
        let policy = DebtPolicy::default();
        assert_eq!(step(&trusted, &e, &policy, d("2026-02-13")), vec![]);
        assert_eq!(
            step(&trusted, &e, &policy, d("2026-02-14")),
            vec![DebtAction::MoveTo(DebtState::SuspensionDue)]
        );
        assert_eq!(
            step(&trusted, &evidence(None), &policy, d("2026-02-12")),
            vec![DebtAction::MoveTo(DebtState::Regular)]
        );
    }

    #[test]
    fn confirmations_follow_the_states() {
        assert_eq!(
            confirm(DebtState::SuspensionDue, "suspended"),
            Ok(DebtState::Suspended)
        );
        assert_eq!(
            confirm(DebtState::RestoreDue, "active"),
            Ok(DebtState::Regular)
        );
        assert!(confirm(DebtState::Regular, "suspended").is_err());
        assert!(confirm(DebtState::Suspended, "paused").is_err());
    }

    /// A random history: each day the debt may be paid, a new invoice may fall due, a queued
    /// notice may be sent (or stay queued: an outage), the network may confirm.
    #[derive(Debug, Clone)]
    struct Day {
        pay: bool,
        send_queued: bool,
        confirm: bool,
        /// A holiday or an outage: the clock does not run that day.
        skipped: bool,
    }

    fn day() -> impl Strategy<Value = Day> {
        (0u8..30, any::<bool>(), 0u8..4, 0u8..6).prop_map(|(pay, send, confirm, skip)| Day {
            pay: pay == 0,
            send_queued: send,
            confirm: confirm == 0,
            skipped: skip == 0,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_clock_never_runs_early(
            days in proptest::collection::vec(day(), 1..240),
            notice_after in 1u16..30,
            suspension_after in 15u16..40,
            termination_notice_after in 1u16..90,
        ) {
            let policy = DebtPolicy {
                notice_after_overdue_days: notice_after,
                suspension_after_notice_days: suspension_after,
                termination_notice_after_suspension_days: termination_notice_after,
                termination_after_notice_days: 60u16.saturating_sub(termination_notice_after).max(1),
                restore_within_hours: 24,
            };
            prop_assume!(policy.check().is_ok());
            let start = d("2026-01-01");
            let mut record = DebtRecord::regular();
            let mut oldest_due: Option<Date> = Some(start);
            let mut notice_queued = false;
            let mut notice_sent: Option<Date> = None;
            let mut term_queued = false;
            let mut term_sent: Option<Date> = None;
            for (i, day) in days.iter().enumerate() {
                let today = start.checked_add(jiff::Span::new().days(i as i64)).unwrap();
                if day.pay {
                    oldest_due = None;
                } else if oldest_due.is_none() && i % 30 == 0 {
                    oldest_due = Some(today);
                }
                if day.send_queued && notice_queued {
                    notice_queued = false;
                    notice_sent = Some(today);
                }
                if day.send_queued && term_queued {
                    term_queued = false;
                    term_sent = Some(today);
                }
                let wanted = match record.state {
                    DebtState::SuspensionDue => "suspended",
                    DebtState::TerminationDue => "terminated",
                    _ => "active",
                };
                if day.confirm
                    && let Ok(next) = confirm(record.state, wanted)
                {
                    if next == DebtState::Suspended {
                        record.suspended_on = Some(today);
                    }
                    if next == DebtState::Regular {
                        record = DebtRecord::regular();
                        notice_sent = None;
                        term_sent = None;
                    } else {
                        record.state = next;
                    }
                }
                let e = DebtEvidence {
                    oldest_open_due: oldest_due,
                    notice_pending: notice_queued,
                    notice_sent_on: notice_sent,
                    termination_notice_pending: term_queued,
                    termination_notice_sent_on: term_sent,
                };
                let actions = if day.skipped {
                    Vec::new()
                } else {
                    step(&record, &e, &policy, today)
                };
                for action in actions {
                    match action {
                        DebtAction::SendDebtNotice => notice_queued = true,
                        DebtAction::SendTerminationNotice => term_queued = true,
                        DebtAction::MoveTo(next) => {
                            match next {
                                DebtState::SuspensionDue => {
                                    // Never before the notice actually went + the days.
                                    let sent = record.notice_sent_on.expect("a sent notice");
                                    prop_assert!((today - sent).get_days() >= i32::from(policy.suspension_after_notice_days));
                                    prop_assert!((today - sent).get_days() >= 15);
                                }
                                DebtState::TerminationDue => {
                                    let since = record.suspended_on.expect("confirmed suspension");
                                    prop_assert!((today - since).get_days() >= 60);
                                    let sent = record.termination_notice_sent_on.expect("a sent notice");
                                    prop_assert!((today - sent).get_days() >= i32::from(policy.termination_after_notice_days));
                                }
                                DebtState::RestoreDue => prop_assert!(oldest_due.is_none()),
                                _ => {}
                            }
                            if next == DebtState::Notified {
                                record.notice_sent_on = notice_sent;
                            }
                            if next == DebtState::TerminationNotified {
                                record.termination_notice_sent_on = term_sent;
                            }
                            if next == DebtState::Regular {
                                record = DebtRecord::regular();
                                notice_sent = None;
                                term_sent = None;
                            } else {
                                record.state = next;
                            }
                        }
                    }
                }
                // A paid debt never leaves service cut or due to be cut (once the clock ran).
                if oldest_due.is_none() && !day.skipped {
                    prop_assert!(!matches!(record.state, DebtState::SuspensionDue | DebtState::Suspended | DebtState::TerminationNotified | DebtState::TerminationDue));
                }
            }
        }
    }
}
