//! The planner: given a run date, the invoices, the send rules and overdue bands, and what was
//! already sent, decide which notices go out today and which are skipped and why. Pure — no
//! I/O, no clock — so every case is a table row in a test, and a million invoices plan in
//! memory. The store feeds it; the routine enqueues what it returns.
//!
//! - A rule fires when its target date (due − days, due, due + days) falls in the run's window:
//!   after the last completed run and at most the catch-up window late (7 days by default: a
//!   target of the 1st still goes out on the 8th, not on the 9th); the first run ever looks at
//!   today only, so installing Régua does not send a
//!   backlog.
//! - Of several rules of one invoice that fired in one window, only the most advanced (latest
//!   target) is sent; the others are recorded `superseded`.
//! - A band fires while the invoice's days overdue are inside it, once per band (its dedup key).
//! - Nothing is planned twice: a dedup key already in the outbox is `already_sent`.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;

use crate::domain::delivery::Channel;
pub use crate::domain::rules::{
    ChannelMode, ChannelPlan, DEFAULT_WINDOW_DAYS, OverdueBand, PlanInvoice, RuleKind, SendRule,
};
use crate::domain::{BillingMethodId, DeliveryType, InvoiceId, LayoutId, NoticeKey, Purpose};

/// Why a notice that would fire is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Paid or cancelled.
    Paid,
    /// Printed delivery: never e-mailed automatically.
    Printed,
    /// No e-mail on file (an e-mail-only rule or band).
    NoEmail,
    /// None of the rule's or band's channels can reach the subscriber (no e-mail, no mobile
    /// phone or no SMS gateway, no app or no push configuration).
    NoChannel,
    /// Dunning paused ("promessa de pagamento").
    Paused,
    /// A more advanced rule of the same invoice fired in the same window, or the invoice's
    /// overdue band goes out the same run (one collection message per invoice per day).
    Superseded,
    /// Its dedup key is already in the outbox.
    AlreadySent,
}

impl SkipReason {
    /// The name in dry-run JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Paid => "paid",
            SkipReason::Printed => "printed",
            SkipReason::NoEmail => "no_email",
            SkipReason::NoChannel => "no_channel",
            SkipReason::Paused => "paused",
            SkipReason::Superseded => "superseded",
            SkipReason::AlreadySent => "already_sent",
        }
    }
}

/// A notice the run should enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The invoice.
    pub invoice: InvoiceId,
    /// `rule:after_due:13`, `band:1-10`.
    pub cause: String,
    /// `rule:<invoice>:<rule>` or `band:<invoice>:<band>`.
    pub dedup_key: NoticeKey,
    /// What the notice is.
    pub purpose: Purpose,
    /// The layout to send.
    pub layout: LayoutId,
    /// For an `email_and_letter` band's notice, the band: it waits for an operator to review
    /// its collection letter instead of going to the outbox.
    pub letter_band: Option<i64>,
    /// The channel it goes by first.
    pub channel: Channel,
    /// The channels it falls back to, in order (mode `first`).
    pub fallback: Vec<Channel>,
}

/// A notice that would fire but is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The invoice.
    pub invoice: InvoiceId,
    /// What would have fired.
    pub cause: String,
    /// The dedup key it would have had.
    pub dedup_key: NoticeKey,
    /// What the notice would have been.
    pub purpose: Purpose,
    /// Why not.
    pub reason: SkipReason,
    /// The layout it would have sent (a recorded skip names it).
    pub layout: LayoutId,
}

/// The planner's input for one run.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The run's date.
    pub today: Date,
    /// The last completed run's date, if any.
    pub last_run: Option<Date>,
    /// How many days back a run catches up at most (default 7).
    pub window_days: u16,
    /// The invoices to consider (normally the open ones with e-mail delivery, plus any the
    /// caller wants reported).
    pub invoices: &'a [PlanInvoice],
    /// Every send rule.
    pub rules: &'a [SendRule],
    /// Every overdue band.
    pub bands: &'a [OverdueBand],
    /// Dedup keys already in the outbox.
    pub already: &'a HashSet<String>,
    /// Which channels besides e-mail the installation can send on.
    pub available: Available,
}

/// The channels besides e-mail an installation can send on now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Available {
    /// An active SMS gateway exists.
    pub sms: bool,
    /// Push is configured (the Firebase service account).
    pub push: bool,
    /// An active WhatsApp account exists (the notice's layout must also be mapped to one of
    /// its templates; a layout that is not goes on by the next channel when it is sent).
    pub whatsapp: bool,
}

impl Available {
    fn reaches(self, inv: &PlanInvoice, c: Channel) -> bool {
        match c {
            Channel::Email => inv.has_email,
            Channel::Sms => self.sms && inv.has_phone,
            Channel::Push => self.push && inv.has_device,
            Channel::Whatsapp => self.whatsapp && inv.has_phone,
        }
    }
}

/// The planner's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// To enqueue.
    pub notices: Vec<Planned>,
    /// Not sent, with the reason.
    pub skipped: Vec<Skipped>,
}

/// The exclusive start of a run's window: targets in `(from, today]` fire. That is the last
/// completed run, but at most `window_days` days late; the first run looks at today only.
pub fn window_from(today: Date, last_run: Option<Date>, window_days: u16) -> Date {
    let window_start = today
        .checked_sub(jiff::Span::new().days(i64::from(window_days) + 1))
        .unwrap_or(today);
    match last_run {
        Some(last) if last >= window_start => last,
        Some(_) => window_start,
        None => today.yesterday().unwrap_or(today),
    }
}

/// Plans one run.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let today = input.today;
    let from = window_from(today, input.last_run, input.window_days);
    let mut rules_by_method: HashMap<BillingMethodId, Vec<&SendRule>> = HashMap::new();
    for r in input.rules {
        rules_by_method.entry(r.method).or_default().push(r);
    }
    let mut out = Plan::default();
    for inv in input.invoices {
        // Bands: the one the invoice is in today, once. A paid invoice is in no band.
        let overdue = (today - inv.due).get_days();
        let band = if inv.open && overdue >= 1 {
            input
                .bands
                .iter()
                .find(|b| i32::from(b.from_days) <= overdue && overdue <= i32::from(b.to_days))
        } else {
            None
        };
        let band: Vec<(Candidate, Option<SkipReason>)> = match band {
            Some(band) => {
                let key = |channel| NoticeKey::Band {
                    invoice: inv.id,
                    band: band.id,
                    channel,
                };
                let candidate = Candidate {
                    cause: band.cause(),
                    key: key(None),
                    purpose: Purpose::OverdueBand,
                    layout: band.layout,
                    letter_band: band.letter.then_some(band.id.0),
                    channel: Channel::Email,
                    fallback: Vec::new(),
                };
                expand(inv, today, input, &band.channels, candidate, key)
                    .into_iter()
                    // A band already sent is simply not due again: not worth a line in the
                    // dry run.
                    .filter(|(_, r)| *r != Some(SkipReason::AlreadySent))
                    .collect()
            }
            None => Vec::new(),
        };
        // One collection message per invoice per run (docs/dunning.md, "Precedence"): when the
        // invoice's band goes out, it carries the collection; the rule that would have gone out
        // the same day is recorded `superseded`.
        let band_goes = band.iter().any(|(_, r)| r.is_none());
        // Rules: every one whose target is in the window; the most advanced wins.
        let mut fired: Vec<(&SendRule, Date)> = rules_by_method
            .get(&inv.method)
            .into_iter()
            .flatten()
            .map(|r| (*r, r.target(inv.due)))
            .filter(|(_, t)| *t > from && *t <= today)
            .collect();
        fired.sort_by_key(|(r, t)| (*t, r.kind, r.days, r.id));
        let winner = fired.len().checked_sub(1);
        for (i, (rule, _)) in fired.iter().enumerate() {
            let key = |channel| NoticeKey::Rule {
                invoice: inv.id,
                rule: rule.id,
                channel,
            };
            let candidate = Candidate {
                cause: rule.cause(),
                key: key(None),
                purpose: rule.kind.default_purpose(),
                layout: rule.layout,
                letter_band: None,
                channel: Channel::Email,
                fallback: Vec::new(),
            };
            if Some(i) != winner {
                push(&mut out, inv.id, candidate, Some(SkipReason::Superseded));
                continue;
            }
            for (c, reason) in expand(inv, today, input, &rule.channels, candidate, key) {
                let reason = match reason {
                    None if band_goes => Some(SkipReason::Superseded),
                    other => other,
                };
                push(&mut out, inv.id, c, reason);
            }
        }
        for (candidate, reason) in band {
            push(&mut out, inv.id, candidate, reason);
        }
    }
    out
}

/// A candidate on its channels: mode `first`, one notice by the first channel that reaches the
/// subscriber, falling back to the others that do; mode `all`, one per channel that reaches
/// (each its own key). None reaches: skipped `no_channel` (`no_email` for an e-mail-only list).
fn expand(
    inv: &PlanInvoice,
    today: Date,
    input: &PlanInput<'_>,
    plan: &ChannelPlan,
    base: Candidate,
    key: impl Fn(Option<Channel>) -> NoticeKey,
) -> Vec<(Candidate, Option<SkipReason>)> {
    if let Some(r) = blocked(inv, today) {
        return vec![(base, Some(r))];
    }
    // A letter band's notice carries its letter by e-mail.
    let channels: &[Channel] = if base.letter_band.is_some() {
        &[Channel::Email]
    } else {
        &plan.channels
    };
    let reach: Vec<Channel> = channels
        .iter()
        .copied()
        .filter(|c| input.available.reaches(inv, *c))
        .collect();
    if reach.is_empty() {
        let reason = if channels == [Channel::Email] {
            SkipReason::NoEmail
        } else {
            SkipReason::NoChannel
        };
        return vec![(base, Some(reason))];
    }
    let already = |k: &NoticeKey| {
        input
            .already
            .contains(&k.to_string())
            .then_some(SkipReason::AlreadySent)
    };
    match plan.mode {
        ChannelMode::First => {
            let reason = already(&base.key);
            vec![(
                Candidate {
                    channel: reach[0],
                    fallback: reach[1..].to_vec(),
                    ..base
                },
                reason,
            )]
        }
        ChannelMode::All => reach
            .iter()
            .map(|c| {
                let k = key(Some(*c));
                let reason = already(&k);
                (
                    Candidate {
                        key: k,
                        channel: *c,
                        fallback: Vec::new(),
                        cause: base.cause.clone(),
                        ..base.clone()
                    },
                    reason,
                )
            })
            .collect(),
    }
}

/// Why nothing about the invoice goes out, whatever the channel.
fn blocked(inv: &PlanInvoice, today: Date) -> Option<SkipReason> {
    if !inv.open {
        Some(SkipReason::Paid)
    } else if inv.delivery == DeliveryType::Printed {
        Some(SkipReason::Printed)
    } else if inv.paused_until.is_some_and(|p| p >= today) {
        Some(SkipReason::Paused)
    } else {
        None
    }
}

/// A notice that fires, before it is known whether it goes out.
#[derive(Clone)]
struct Candidate {
    cause: String,
    key: NoticeKey,
    purpose: Purpose,
    layout: LayoutId,
    letter_band: Option<i64>,
    channel: Channel,
    fallback: Vec<Channel>,
}

fn push(out: &mut Plan, invoice: InvoiceId, c: Candidate, reason: Option<SkipReason>) {
    match reason {
        None => out.notices.push(Planned {
            invoice,
            cause: c.cause,
            dedup_key: c.key,
            purpose: c.purpose,
            layout: c.layout,
            letter_band: c.letter_band,
            channel: c.channel,
            fallback: c.fallback,
        }),
        Some(reason) => out.skipped.push(Skipped {
            invoice,
            cause: c.cause,
            dedup_key: c.key,
            purpose: c.purpose,
            reason,
            layout: c.layout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;
    use jiff::civil::date;

    const METHOD: BillingMethodId = BillingMethodId(1);

    fn rule(id: i64, kind: RuleKind, days: u16) -> SendRule {
        SendRule {
            channels: ChannelPlan::default(),
            id: crate::domain::rules::RuleId(id),
            method: METHOD,
            kind,
            days,
            layout: LayoutId(id),
        }
    }

    fn invoice(id: i64, due: Date) -> PlanInvoice {
        PlanInvoice {
            id: InvoiceId(id),
            customer: CustomerId(id),
            method: METHOD,
            due,
            open: true,
            delivery: DeliveryType::Email,
            has_email: true,
            has_phone: false,
            has_device: false,
            paused_until: None,
        }
    }

    fn run(
        today: Date,
        last_run: Option<Date>,
        invoices: &[PlanInvoice],
        rules: &[SendRule],
        bands: &[OverdueBand],
        already: &HashSet<String>,
    ) -> Plan {
        plan(&PlanInput {
            available: Available::default(),
            today,
            last_run,
            window_days: DEFAULT_WINDOW_DAYS,
            invoices,
            rules,
            bands,
            already,
        })
    }

    fn causes(p: &Plan) -> Vec<String> {
        p.notices.iter().map(|n| n.cause.clone()).collect()
    }

    fn channels(list: &str, mode: &str) -> ChannelPlan {
        ChannelPlan::parse(list, mode).unwrap()
    }

    fn plan_with(
        inv: PlanInvoice,
        rule: SendRule,
        available: Available,
        already: &HashSet<String>,
    ) -> Plan {
        let today = rule.target(inv.due);
        plan(&PlanInput {
            today,
            last_run: today.yesterday().ok(),
            window_days: DEFAULT_WINDOW_DAYS,
            invoices: &[inv],
            rules: &[rule],
            bands: &[],
            already,
            available,
        })
    }

    #[test]
    fn mode_first_takes_the_first_channel_that_reaches_and_keeps_the_rest_as_fallback() {
        let both = Available {
            sms: true,
            push: true,
            whatsapp: false,
        };
        let mut r = rule(7, RuleKind::AfterDue, 3);
        r.channels = channels("sms,push,email", "first");
        let mut inv = invoice(1, date(2026, 3, 10));
        inv.has_phone = true;
        let p = plan_with(inv.clone(), r.clone(), both, &HashSet::new());
        assert_eq!(p.notices.len(), 1);
        assert_eq!(
            (p.notices[0].channel, p.notices[0].fallback.clone()),
            (Channel::Sms, vec![Channel::Email])
        );
        assert_eq!(
            p.notices[0].dedup_key.to_string(),
            "rule:1:7",
            "one notice: one key"
        );
        // No phone: e-mail. Phone, but no SMS gateway: e-mail too.
        inv.has_phone = false;
        let p = plan_with(inv.clone(), r.clone(), both, &HashSet::new());
        assert_eq!(
            (p.notices[0].channel, p.notices[0].fallback.clone()),
            (Channel::Email, vec![])
        );
        inv.has_phone = true;
        let p = plan_with(
            inv.clone(),
            r.clone(),
            Available::default(),
            &HashSet::new(),
        );
        assert_eq!(p.notices[0].channel, Channel::Email);
        // The app first when the customer has it.
        inv.has_device = true;
        let p = plan_with(inv, r, both, &HashSet::new());
        assert_eq!(
            (p.notices[0].channel, p.notices[0].fallback.clone()),
            (Channel::Sms, vec![Channel::Push, Channel::Email])
        );
    }

    #[test]
    fn mode_all_plans_one_notice_per_channel_each_with_its_key() {
        let mut r = rule(7, RuleKind::AfterDue, 3);
        r.channels = channels("sms,email", "all");
        let mut inv = invoice(1, date(2026, 3, 10));
        inv.has_phone = true;
        let avail = Available {
            sms: true,
            push: false,
            whatsapp: false,
        };
        let p = plan_with(inv.clone(), r.clone(), avail, &HashSet::new());
        let keys: Vec<(String, Channel)> = p
            .notices
            .iter()
            .map(|n| (n.dedup_key.to_string(), n.channel))
            .collect();
        assert_eq!(
            keys,
            [
                ("rule:1:7:sms".to_string(), Channel::Sms),
                ("rule:1:7:email".to_string(), Channel::Email)
            ]
        );
        assert!(p.notices.iter().all(|n| n.fallback.is_empty()));
        // One of them already went: only the other.
        let already: HashSet<String> = ["rule:1:7:sms".to_string()].into();
        let p = plan_with(inv, r, avail, &already);
        assert_eq!(p.notices.len(), 1);
        assert_eq!(p.notices[0].channel, Channel::Email);
        assert_eq!(p.skipped[0].reason, SkipReason::AlreadySent);
    }

    #[test]
    fn a_subscriber_no_channel_reaches_is_skipped_no_channel() {
        let mut r = rule(7, RuleKind::AfterDue, 3);
        r.channels = channels("sms,email", "first");
        let mut inv = invoice(1, date(2026, 3, 10));
        inv.has_email = false;
        let p = plan_with(
            inv.clone(),
            r.clone(),
            Available {
                sms: true,
                push: true,
                whatsapp: false,
            },
            &HashSet::new(),
        );
        assert!(p.notices.is_empty());
        assert_eq!(p.skipped[0].reason, SkipReason::NoChannel);
        assert_eq!(SkipReason::NoChannel.as_str(), "no_channel");
        // An e-mail-only rule keeps its own reason.
        r.channels = ChannelPlan::default();
        let p = plan_with(inv, r, Available::default(), &HashSet::new());
        assert_eq!(p.skipped[0].reason, SkipReason::NoEmail);
    }

    #[test]
    fn a_letter_band_goes_by_email_whatever_its_channels() {
        let mut inv = invoice(1, date(2026, 3, 10));
        inv.has_phone = true;
        let band = OverdueBand {
            id: crate::domain::rules::BandId(2),
            from_days: 1,
            to_days: 10,
            layout: LayoutId(9),
            letter: true,
            channels: channels("sms,email", "first"),
        };
        let p = plan(&PlanInput {
            today: date(2026, 3, 12),
            last_run: None,
            window_days: DEFAULT_WINDOW_DAYS,
            invoices: &[inv],
            rules: &[],
            bands: &[band],
            already: &HashSet::new(),
            available: Available {
                sms: true,
                push: true,
                whatsapp: false,
            },
        });
        assert_eq!(p.notices[0].channel, Channel::Email);
        assert_eq!(p.notices[0].letter_band, Some(2));
    }

    #[test]
    fn the_seed_example_after_due_13_days_fires_on_05_03_2021() {
        let rules = [rule(7, RuleKind::AfterDue, 13)];
        let inv = [invoice(1, date(2021, 2, 20))];
        let none = HashSet::new();
        let day_before = run(
            date(2021, 3, 4),
            Some(date(2021, 3, 3)),
            &inv,
            &rules,
            &[],
            &none,
        );
        assert!(day_before.notices.is_empty());
        let p = run(
            date(2021, 3, 5),
            Some(date(2021, 3, 4)),
            &inv,
            &rules,
            &[],
            &none,
        );
        assert_eq!(causes(&p), ["rule:after_due:13"]);
        assert_eq!(p.notices[0].dedup_key.to_string(), "rule:1:7");
    }

    #[test]
    fn each_rule_kind_fires_on_its_target_date_across_month_ends_and_leap_years() {
        let none = HashSet::new();
        // (kind, days, due, expected run date)
        let table = [
            (RuleKind::BeforeDue, 5, date(2024, 3, 3), date(2024, 2, 27)),
            (RuleKind::BeforeDue, 1, date(2024, 3, 1), date(2024, 2, 29)),
            (RuleKind::BeforeDue, 1, date(2023, 3, 1), date(2023, 2, 28)),
            (RuleKind::OnDue, 0, date(2026, 12, 31), date(2026, 12, 31)),
            (RuleKind::AfterDue, 1, date(2026, 12, 31), date(2027, 1, 1)),
            (RuleKind::AfterDue, 30, date(2024, 1, 31), date(2024, 3, 1)),
            (RuleKind::AfterDue, 3, date(2024, 2, 27), date(2024, 3, 1)),
        ];
        for (kind, days, due, fires) in table {
            let rules = [rule(1, kind, days)];
            let inv = [invoice(1, due)];
            let on = run(fires, fires.yesterday().ok(), &inv, &rules, &[], &none);
            assert_eq!(on.notices.len(), 1, "{kind:?} {days} due {due} on {fires}");
            let before = fires.yesterday().unwrap();
            let off = run(before, before.yesterday().ok(), &inv, &rules, &[], &none);
            assert!(
                off.notices.is_empty(),
                "{kind:?} {days} due {due} not on {before}"
            );
        }
    }

    #[test]
    fn a_run_after_a_three_day_outage_catches_up_and_sends_only_the_most_advanced_rule() {
        let rules = [
            rule(1, RuleKind::BeforeDue, 1),
            rule(2, RuleKind::OnDue, 0),
            rule(3, RuleKind::AfterDue, 1),
            rule(4, RuleKind::AfterDue, 10),
        ];
        let inv = [invoice(1, date(2026, 6, 10)), invoice(2, date(2026, 6, 12))];
        // Last run 08/06; the machine was down 09, 10 and 11; the run of 12/06 catches up.
        let p = run(
            date(2026, 6, 12),
            Some(date(2026, 6, 8)),
            &inv,
            &rules,
            &[],
            &HashSet::new(),
        );
        let sent: Vec<_> = p
            .notices
            .iter()
            .map(|n| (n.invoice.0, n.cause.as_str()))
            .collect();
        assert_eq!(sent, [(1, "rule:after_due:1"), (2, "rule:on_due:0")]);
        let superseded: Vec<_> = p
            .skipped
            .iter()
            .map(|s| (s.invoice.0, s.cause.as_str(), s.reason))
            .collect();
        assert_eq!(
            superseded,
            [
                (1, "rule:before_due:1", SkipReason::Superseded),
                (1, "rule:on_due:0", SkipReason::Superseded),
                (2, "rule:before_due:1", SkipReason::Superseded),
            ]
        );
    }

    #[test]
    fn catch_up_stops_at_the_window_and_a_first_run_looks_at_today_only() {
        let rules = [rule(1, RuleKind::OnDue, 0)];
        let inv = [invoice(1, date(2026, 6, 1))];
        let none = HashSet::new();
        assert!(
            run(
                date(2026, 6, 9),
                Some(date(2026, 5, 20)),
                &inv,
                &rules,
                &[],
                &none
            )
            .notices
            .is_empty(),
            "8 days back is outside 7"
        );
        assert_eq!(
            run(
                date(2026, 6, 8),
                Some(date(2026, 5, 20)),
                &inv,
                &rules,
                &[],
                &none
            )
            .notices
            .len(),
            1
        );
        assert!(
            run(date(2026, 6, 2), None, &inv, &rules, &[], &none)
                .notices
                .is_empty()
        );
        assert_eq!(
            run(date(2026, 6, 1), None, &inv, &rules, &[], &none)
                .notices
                .len(),
            1
        );
    }

    #[test]
    fn rerunning_a_day_sends_nothing_twice() {
        let rules = [rule(1, RuleKind::OnDue, 0)];
        let inv = [invoice(1, date(2026, 6, 1))];
        let first = run(
            date(2026, 6, 1),
            Some(date(2026, 5, 31)),
            &inv,
            &rules,
            &[],
            &HashSet::new(),
        );
        let already: HashSet<String> = first
            .notices
            .iter()
            .map(|n| n.dedup_key.to_string())
            .collect();
        let again = run(
            date(2026, 6, 1),
            Some(date(2026, 5, 31)),
            &inv,
            &rules,
            &[],
            &already,
        );
        assert!(again.notices.is_empty());
        assert_eq!(again.skipped[0].reason, SkipReason::AlreadySent);
    }

    #[test]
    fn bands_fire_once_each_and_again_in_the_next_band() {
        let bands = [
            OverdueBand {
                channels: ChannelPlan::default(),
                id: crate::domain::rules::BandId(1),
                from_days: 1,
                to_days: 10,
                layout: LayoutId(9),
                letter: false,
            },
            OverdueBand {
                channels: ChannelPlan::default(),
                id: crate::domain::rules::BandId(2),
                from_days: 11,
                to_days: 30,
                layout: LayoutId(9),
                letter: false,
            },
        ];
        let inv = [invoice(1, date(2026, 6, 1))];
        let mut already = HashSet::new();
        let mut sent = Vec::new();
        let mut last = None;
        for day in 1..=40 {
            let today = date(2026, 6, 1)
                .checked_add(jiff::Span::new().days(day))
                .unwrap();
            let p = run(today, last, &inv, &[], &bands, &already);
            for n in &p.notices {
                already.insert(n.dedup_key.to_string());
                sent.push((today.to_string(), n.cause.clone()));
            }
            last = Some(today);
        }
        assert_eq!(
            sent,
            [
                ("2026-06-02".to_string(), "band:1-10".to_string()),
                ("2026-06-12".to_string(), "band:11-30".to_string()),
            ]
        );
    }

    #[test]
    fn a_rule_and_a_band_due_the_same_day_send_one_message_the_band() {
        // The seed's case: 25/02/2021, rule "5 days after due" and band 1-10 for an invoice due
        // on 20/02/2021.
        let rules = [rule(3, RuleKind::AfterDue, 5)];
        let bands = [OverdueBand {
            channels: ChannelPlan::default(),
            id: crate::domain::rules::BandId(1),
            from_days: 1,
            to_days: 10,
            layout: LayoutId(9),
            letter: false,
        }];
        let inv = [invoice(1, date(2021, 2, 20))];
        let today = date(2021, 2, 25);
        let p = run(
            today,
            today.yesterday().ok(),
            &inv,
            &rules,
            &bands,
            &HashSet::new(),
        );
        assert_eq!(causes(&p), ["band:1-10"]);
        let skipped: Vec<_> = p
            .skipped
            .iter()
            .map(|s| (s.cause.as_str(), s.reason))
            .collect();
        assert_eq!(skipped, [("rule:after_due:5", SkipReason::Superseded)]);
        // The band already sent on an earlier day: the rule goes out alone.
        let already: HashSet<String> = ["band:1:1".to_string()].into();
        let p = run(
            today,
            today.yesterday().ok(),
            &inv,
            &rules,
            &bands,
            &already,
        );
        assert_eq!(causes(&p), ["rule:after_due:5"]);
        // A band that cannot go out (no e-mail) does not silence the rule's reason either.
        let mut no_email = invoice(1, date(2021, 2, 20));
        no_email.has_email = false;
        let p = run(
            today,
            today.yesterday().ok(),
            &[no_email],
            &rules,
            &bands,
            &HashSet::new(),
        );
        let reasons: Vec<_> = p
            .skipped
            .iter()
            .map(|s| (s.cause.as_str(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("rule:after_due:5", SkipReason::NoEmail),
                ("band:1-10", SkipReason::NoEmail)
            ]
        );
    }

    #[test]
    fn printed_paused_paid_and_addressless_invoices_are_skipped_with_the_reason() {
        let rules = [rule(1, RuleKind::OnDue, 0)];
        let due = date(2026, 6, 1);
        let mut printed = invoice(1, due);
        printed.delivery = DeliveryType::Printed;
        let mut paused = invoice(2, due);
        paused.paused_until = Some(date(2026, 6, 5));
        let mut paid = invoice(3, due);
        paid.open = false;
        let mut no_email = invoice(4, due);
        no_email.has_email = false;
        let mut pause_over = invoice(5, due);
        pause_over.paused_until = Some(date(2026, 5, 31));
        let p = run(
            due,
            Some(date(2026, 5, 31)),
            &[printed, paused, paid, no_email, pause_over],
            &rules,
            &[],
            &HashSet::new(),
        );
        let reasons: Vec<_> = p.skipped.iter().map(|s| (s.invoice.0, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                (1, SkipReason::Printed),
                (2, SkipReason::Paused),
                (3, SkipReason::Paid),
                (4, SkipReason::NoEmail),
            ]
        );
        assert_eq!(
            p.notices.iter().map(|n| n.invoice.0).collect::<Vec<_>>(),
            [5]
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::domain::CustomerId;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn kind(k: u8) -> RuleKind {
        match k % 3 {
            0 => RuleKind::BeforeDue,
            1 => RuleKind::OnDue,
            _ => RuleKind::AfterDue,
        }
    }

    proptest! {
        /// Over random invoices, rules and run calendars with gaps: no dedup key is planned
        /// twice, and every rule whose target fell inside some run's window was planned or
        /// skipped with a reason by that run.
        #[test]
        fn nothing_twice_and_nothing_silently_missed(
            invoices_in in proptest::collection::vec((0i64..90, proptest::option::of(0i64..150), proptest::option::of((0i64..120, 0i64..10))), 1..20),
            rules in proptest::collection::vec((0u8..3, 0u16..20), 1..6),
            runs in proptest::collection::btree_set(0i64..120, 1..60),
        ) {
            let start = date(2026, 1, 1);
            let day = |n: i64| start.checked_add(jiff::Span::new().days(n)).unwrap();
            // Each invoice: due day, the day it is paid (if ever), a pause (from, length).
            let base: Vec<PlanInvoice> = invoices_in.iter().enumerate().map(|(i, (d, _, _))| PlanInvoice {
                id: InvoiceId(i as i64 + 1),
                customer: CustomerId(1),
                method: BillingMethodId(1),
                due: day(*d),
                open: true,
                delivery: DeliveryType::Email,
                has_email: true,
                has_phone: false,
                has_device: false,
                paused_until: None,
            }).collect();
            let rules: Vec<SendRule> = rules.iter().enumerate().map(|(i, (k, d))| SendRule {
                id: crate::domain::rules::RuleId(i as i64 + 1),
                method: BillingMethodId(1),
                kind: kind(*k),
                days: if kind(*k) == RuleKind::OnDue { 0 } else { *d },
                layout: LayoutId(1),
                channels: ChannelPlan::default(),
            }).collect();
            let bands: Vec<OverdueBand> = [(1, 10), (11, 30), (31, 60)].iter().zip(1..).map(|(&(f, t), id)| OverdueBand {
                id: crate::domain::rules::BandId(id),
                from_days: f,
                to_days: t,
                layout: LayoutId(2),
                letter: false,
                channels: ChannelPlan::default(),
            }).collect();
            let mut already: HashSet<String> = HashSet::new();
            let mut last: Option<Date> = None;
            for r in &runs {
                let today = day(*r);
                // The invoices as the store would read them on that day.
                let invoices: Vec<PlanInvoice> = base.iter().zip(&invoices_in).map(|(inv, (_, paid, pause))| {
                    let mut inv = inv.clone();
                    inv.open = paid.is_none_or(|p| *r < p);
                    inv.paused_until = pause.and_then(|(from, len)| (*r >= from).then(|| day(from + len)));
                    inv
                }).collect();
                let p = plan(&PlanInput {
                    today,
                    last_run: last,
                    window_days: DEFAULT_WINDOW_DAYS,
                    invoices: &invoices,
                    rules: &rules,
                    bands: &bands,
                    already: &already,
                    available: Available::default(),
                });
                for n in &p.notices {
                    prop_assert!(already.insert(n.dedup_key.to_string()), "{} planned twice", n.dedup_key);
                }
                // A run records its rule skips (the store writes them to the outbox).
                for s in &p.skipped {
                    if s.dedup_key.is_rule() {
                        already.insert(s.dedup_key.to_string());
                    }
                }
                let seen: HashSet<String> = p.notices.iter().map(|n| n.dedup_key.to_string())
                    .chain(p.skipped.iter().map(|s| s.dedup_key.to_string())).collect();
                let from = match last {
                    Some(l) => l.max(today.checked_sub(jiff::Span::new().days(i64::from(DEFAULT_WINDOW_DAYS) + 1)).unwrap()),
                    None => today.yesterday().unwrap(),
                };
                for inv in &invoices {
                    for rule in &rules {
                        let t = rule.target(inv.due);
                        if t > from && t <= today {
                            let key = format!("rule:{}:{}", inv.id, rule.id);
                            prop_assert!(seen.contains(key.as_str()), "{key} fell in the window of {today} and was neither sent nor skipped");
                        }
                    }
                    // An open, unpaused invoice in a band gets that band's notice once.
                    let overdue = (today - inv.due).get_days();
                    if inv.open && inv.paused_until.is_none_or(|p| p < today)
                        && let Some(b) = bands.iter().find(|b| i32::from(b.from_days) <= overdue && overdue <= i32::from(b.to_days))
                    {
                        let key = format!("band:{}:{}", inv.id, b.id);
                        prop_assert!(already.contains(&key), "{key}: in the band on {today} and never sent");
                    }
                }
                last = Some(today);
            }
        }
    }
}
