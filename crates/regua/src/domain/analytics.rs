//! Recovery analytics ("Resultados da cobrança", docs/analytics.md): which step of the régua is
//! followed by payment, on which channel, how fast; how each month's invoices get paid; how
//! much is overdue in each band. Pure: the facts (invoices, sent notices, bands) come in, the
//! daily aggregates the routine stores come out, and the figures a page shows are read from
//! those aggregates by [`StepFigures`] and friends.
//!
//! Definitions (each a decision, written in docs/analytics.md):
//! - a notice's **step** is its rule (`rule:<id>`) or overdue band (`band:<id>`), else its kind
//!   (`generated`, `manual`, `portal`, `other`), read from its typed key;
//! - its **age** is its sending day minus the invoice's due date, in days;
//! - it is followed by payment **within k days** when the invoice was paid 0 to k days after the
//!   sending day; days to pay are counted up to [`MAX_DAYS`];
//! - **amount recovered** is credited once per paid invoice, to the last notice sent on or before
//!   the payment day (last touch);
//! - the **base rate** of a day and an age: invoices open that day at that age that got no notice
//!   in the [`QUIET_DAYS`] days up to it, and the share of them paid within 1/3/7 days;
//! - cancelled invoices count nowhere (their cancellation day is not kept).

use std::collections::BTreeMap;

use jiff::civil::Date;

/// Days to pay counted after a notice, and the last day of the payment curves.
pub const MAX_DAYS: i32 = 90;
/// The first day of the payment curves, relative to the due date.
pub const CURVE_FROM: i32 = -10;
/// Days without a notice that make an open invoice part of the base rate.
pub const QUIET_DAYS: i32 = 7;

/// The step a notice's key names.
pub fn step_of_key(key: &str) -> String {
    use super::NoticeKey;
    match key.parse::<NoticeKey>() {
        Ok(NoticeKey::Rule { rule, .. }) => format!("rule:{}", rule.0),
        Ok(NoticeKey::Band { band, .. }) => format!("band:{}", band.0),
        Ok(NoticeKey::Generated { .. }) => "generated".into(),
        Ok(NoticeKey::Manual { .. } | NoticeKey::Emission { .. }) => "manual".into(),
        Ok(NoticeKey::PortalRequest { .. } | NoticeKey::PortalDaily { .. }) => "portal".into(),
        _ => "other".into(),
    }
}

/// Days from `a` to `b` (`b - a`).
pub fn days_between(a: Date, b: Date) -> i32 {
    a.until(b).map_or(0, |s| s.get_days())
}

/// An invoice as the analytics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceFact {
    /// The invoice's id.
    pub id: i64,
    /// Its due date.
    pub due: Date,
    /// The day it was paid, if it was.
    pub paid_on: Option<Date>,
    /// The amount due, centavos.
    pub amount: i64,
    /// The amount paid, centavos (0 when open).
    pub paid_amount: i64,
    /// Its billing method.
    pub method: i64,
    /// Its wallet.
    pub wallet: i64,
}

/// A sent notice as the analytics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFact {
    /// The notice's id (orders two notices of one day).
    pub id: i64,
    /// Its invoice.
    pub invoice: i64,
    /// The day it was sent, in the ISP's time zone.
    pub sent_on: Date,
    /// Its step ([`step_of_key`]).
    pub step: String,
    /// Its channel (`email`, `sms`, `push`, `whatsapp`).
    pub channel: String,
    /// Known delivered (a receipt, or an e-mail accepted and not bounced).
    pub delivered: bool,
    /// Known read (a WhatsApp read receipt).
    pub read: bool,
}

/// An overdue band: (id, from days, to days).
pub type Band = (i64, i32, i32);

/// The key of a step's daily figures.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StepKey {
    /// The sending day.
    pub day: Date,
    /// The step.
    pub step: String,
    /// The channel.
    pub channel: String,
    /// The billing method.
    pub method: i64,
    /// The wallet.
    pub wallet: i64,
    /// The notices' age (days from the due date).
    pub age: i32,
}

/// A step's figures on a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Notices sent.
    pub sent: i64,
    /// Of them, known delivered.
    pub delivered: i64,
    /// Of them, known read.
    pub read: i64,
    /// Followed by payment within 1 day.
    pub paid_1: i64,
    /// Within 3 days.
    pub paid_3: i64,
    /// Within 7 days.
    pub paid_7: i64,
    /// Invoices whose last notice before payment this was.
    pub recovered: i64,
    /// Their amount paid, centavos.
    pub recovered_cents: i64,
}

/// The key of the days-to-pay histogram: a step's notices followed by payment after `days`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DaysKey {
    /// The sending day.
    pub day: Date,
    /// The step.
    pub step: String,
    /// The channel.
    pub channel: String,
    /// The billing method.
    pub method: i64,
    /// The wallet.
    pub wallet: i64,
    /// Days from the notice to the payment (0 ..= [`MAX_DAYS`]).
    pub days: i32,
}

/// The key of the base rate: a day, an age, a method and a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaseKey {
    /// The day.
    pub day: Date,
    /// The invoices' age that day.
    pub age: i32,
    /// The billing method.
    pub method: i64,
    /// The wallet.
    pub wallet: i64,
}

/// The base rate's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaseCounts {
    /// Open invoices of that age with no notice in the last [`QUIET_DAYS`] days.
    pub open: i64,
    /// Of them, paid within 1 day.
    pub paid_1: i64,
    /// Within 3 days.
    pub paid_3: i64,
    /// Within 7 days.
    pub paid_7: i64,
}

/// The key of the overdue snapshot: a day, a band (0: in no band), a method, a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OverdueKey {
    /// The day.
    pub day: Date,
    /// The band (0 when no band covers the days overdue).
    pub band: i64,
    /// The billing method.
    pub method: i64,
    /// The wallet.
    pub wallet: i64,
}

/// The key of a due month's cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CohortKey {
    /// The first day of the due month.
    pub month: Date,
    /// The billing method.
    pub method: i64,
    /// The wallet.
    pub wallet: i64,
}

/// A due month's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CohortTotals {
    /// Invoices due that month.
    pub issued: i64,
    /// Their amount, centavos.
    pub issued_cents: i64,
    /// Of them, open and past due at the refresh.
    pub overdue: i64,
    /// Their amount, centavos.
    pub overdue_cents: i64,
}

/// Everything a refresh of the days `from ..= to` writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Steps per day.
    pub steps: BTreeMap<StepKey, StepCounts>,
    /// Days to pay after each step's notices.
    pub days: BTreeMap<DaysKey, i64>,
    /// The base rate per day and age.
    pub base: BTreeMap<BaseKey, BaseCounts>,
    /// Open and past due per day and band: (invoices, centavos).
    pub overdue: BTreeMap<OverdueKey, (i64, i64)>,
    /// Due months' totals.
    pub cohorts: BTreeMap<CohortKey, CohortTotals>,
    /// Due months' payments per day relative to the due date ([`CURVE_FROM`] ..= [`MAX_DAYS`];
    /// earlier payments count on [`CURVE_FROM`]): (invoices, centavos).
    pub curve: BTreeMap<(CohortKey, i32), (i64, i64)>,
}

/// The first day of `d`'s month.
pub fn month_of(d: Date) -> Date {
    d.first_of_month()
}

/// The due months a refresh of `from ..= to` recomputes: those with invoices whose curve can
/// still move (due up to [`MAX_DAYS`] before `from`).
pub fn cohort_months(from: Date, to: Date) -> (Date, Date) {
    let first = from
        .checked_sub(jiff::Span::new().days(i64::from(MAX_DAYS)))
        .unwrap_or(from);
    (month_of(first), month_of(to))
}

/// Computes the aggregates of the days `from ..= to` (`today`: the refresh's day, for what is
/// overdue now) from `invoices` (every invoice a figure of those days can need: see
/// docs/analytics.md), their sent `notices` (all of them, not only those of the days) and the
/// overdue `bands`.
pub fn aggregate(
    invoices: &[InvoiceFact],
    notices: &[NoticeFact],
    bands: &[Band],
    from: Date,
    to: Date,
    today: Date,
) -> Aggregates {
    let mut out = Aggregates::default();
    let by_id: std::collections::HashMap<i64, &InvoiceFact> =
        invoices.iter().map(|i| (i.id, i)).collect();
    let mut sent_days: std::collections::HashMap<i64, Vec<Date>> = Default::default();
    // The last notice on or before each paid invoice's payment day: (day, id).
    let mut last_touch: std::collections::HashMap<i64, (Date, i64)> = Default::default();
    for n in notices {
        let Some(inv) = by_id.get(&n.invoice) else {
            continue;
        };
        sent_days.entry(n.invoice).or_default().push(n.sent_on);
        if let Some(paid) = inv.paid_on
            && n.sent_on <= paid
        {
            let e = last_touch.entry(n.invoice).or_insert((n.sent_on, n.id));
            if (n.sent_on, n.id) > *e {
                *e = (n.sent_on, n.id);
            }
        }
    }
    for n in notices {
        if n.sent_on < from || n.sent_on > to {
            continue;
        }
        let Some(inv) = by_id.get(&n.invoice) else {
            continue;
        };
        let key = StepKey {
            day: n.sent_on,
            step: n.step.clone(),
            channel: n.channel.clone(),
            method: inv.method,
            wallet: inv.wallet,
            age: days_between(inv.due, n.sent_on),
        };
        let c = out.steps.entry(key).or_default();
        c.sent += 1;
        c.delivered += i64::from(n.delivered);
        c.read += i64::from(n.read);
        if let Some(paid) = inv.paid_on {
            let d = days_between(n.sent_on, paid);
            if (0..=MAX_DAYS).contains(&d) {
                c.paid_1 += i64::from(d <= 1);
                c.paid_3 += i64::from(d <= 3);
                c.paid_7 += i64::from(d <= 7);
                *out.days
                    .entry(DaysKey {
                        day: n.sent_on,
                        step: n.step.clone(),
                        channel: n.channel.clone(),
                        method: inv.method,
                        wallet: inv.wallet,
                        days: d,
                    })
                    .or_default() += 1;
            }
            if last_touch.get(&n.invoice) == Some(&(n.sent_on, n.id)) {
                c.recovered += 1;
                c.recovered_cents += inv.paid_amount;
            }
        }
    }
    let mut day = from;
    while day <= to {
        for inv in invoices {
            let open_that_day = inv.paid_on.is_none_or(|p| p >= day);
            if !open_that_day {
                continue;
            }
            let age = days_between(inv.due, day);
            if age >= 1 {
                let days_over = age;
                let band = bands
                    .iter()
                    .filter(|(_, f, t)| (*f..=*t).contains(&days_over))
                    .min_by_key(|(id, f, _)| (*f, *id))
                    .map_or(0, |b| b.0);
                let e = out
                    .overdue
                    .entry(OverdueKey {
                        day,
                        band,
                        method: inv.method,
                        wallet: inv.wallet,
                    })
                    .or_default();
                e.0 += 1;
                e.1 += inv.amount;
            }
            if (CURVE_FROM..=MAX_DAYS).contains(&age) {
                let quiet = sent_days.get(&inv.id).is_none_or(|days| {
                    !days
                        .iter()
                        .any(|s| (0..=QUIET_DAYS).contains(&days_between(*s, day)))
                });
                if quiet {
                    let c = out
                        .base
                        .entry(BaseKey {
                            day,
                            age,
                            method: inv.method,
                            wallet: inv.wallet,
                        })
                        .or_default();
                    c.open += 1;
                    if let Some(p) = inv.paid_on {
                        let d = days_between(day, p);
                        c.paid_1 += i64::from((0..=1).contains(&d));
                        c.paid_3 += i64::from((0..=3).contains(&d));
                        c.paid_7 += i64::from((0..=7).contains(&d));
                    }
                }
            }
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let (first_month, last_month) = cohort_months(from, to);
    for inv in invoices {
        let month = month_of(inv.due);
        if month < first_month || month > last_month {
            continue;
        }
        let key = CohortKey {
            month,
            method: inv.method,
            wallet: inv.wallet,
        };
        let t = out.cohorts.entry(key).or_default();
        t.issued += 1;
        t.issued_cents += inv.amount;
        match inv.paid_on {
            None if inv.due < today => {
                t.overdue += 1;
                t.overdue_cents += inv.amount;
            }
            None => {}
            Some(p) => {
                let rel = days_between(inv.due, p).max(CURVE_FROM);
                if rel <= MAX_DAYS {
                    let e = out.curve.entry((key, rel)).or_default();
                    e.0 += 1;
                    e.1 += inv.paid_amount;
                }
            }
        }
    }
    out
}

/// A step's figures over a period, as the page and the API show them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StepFigures {
    /// The step (`rule:3`, `band:1`, `generated`…).
    pub step: String,
    /// The channel.
    pub channel: String,
    /// Notices sent.
    pub sent: i64,
    /// Known delivered.
    pub delivered: i64,
    /// Known read.
    pub read: i64,
    /// Followed by payment within 1, 3 and 7 days.
    pub paid_1: i64,
    /// Within 3 days.
    pub paid_3: i64,
    /// Within 7 days.
    pub paid_7: i64,
    /// Invoices recovered (last notice before payment), and their amount.
    pub recovered: i64,
    /// Centavos.
    pub recovered_cents: i64,
    /// The median days from the notice to payment, of the notices followed by payment within
    /// [`MAX_DAYS`]; `None` when none was.
    pub median_days: Option<i32>,
    /// The base rate for invoices of the same ages with no notice: paid within 7 days, per
    /// thousand (weighted by this step's notices per age); `None` when there is no base.
    pub base_paid_7_permille: Option<i64>,
    /// This step's paid within 7 days, per thousand.
    pub paid_7_permille: i64,
}

/// The median of a histogram of days: the smallest day by which half the count is reached.
pub fn median(histogram: &BTreeMap<i32, i64>) -> Option<i32> {
    let total: i64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let mut seen = 0;
    for (d, n) in histogram {
        seen += n;
        if seen * 2 >= total {
            return Some(*d);
        }
    }
    None
}

/// Per thousand, rounded down; 0 of 0 is 0.
pub fn permille(part: i64, whole: i64) -> i64 {
    if whole == 0 { 0 } else { part * 1000 / whole }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn inv(id: i64, due: Date, paid_on: Option<Date>) -> InvoiceFact {
        InvoiceFact {
            id,
            due,
            paid_on,
            amount: 10_000,
            paid_amount: paid_on.map_or(0, |_| 10_000),
            method: 1,
            wallet: 1,
        }
    }

    fn notice(id: i64, invoice: i64, sent_on: Date, step: &str) -> NoticeFact {
        NoticeFact {
            id,
            invoice,
            sent_on,
            step: step.into(),
            channel: "email".into(),
            delivered: true,
            read: false,
        }
    }

    #[test]
    fn steps_are_read_from_the_notice_keys() {
        assert_eq!(step_of_key("rule:10:3"), "rule:3");
        assert_eq!(step_of_key("rule:10:3:sms"), "rule:3");
        assert_eq!(step_of_key("band:10:2"), "band:2");
        assert_eq!(step_of_key("generated:4:10"), "generated");
        assert_eq!(step_of_key("something else"), "other");
    }

    #[test]
    fn payment_is_credited_once_to_the_last_notice_before_it() {
        let due = date(2026, 3, 10);
        let invoices = [inv(1, due, Some(date(2026, 3, 14))), inv(2, due, None)];
        let notices = [
            notice(1, 1, date(2026, 3, 5), "rule:1"),
            notice(2, 1, date(2026, 3, 12), "band:1"),
            notice(3, 2, date(2026, 3, 12), "band:1"),
        ];
        let a = aggregate(
            &invoices,
            &notices,
            &[(1, 1, 30)],
            date(2026, 3, 1),
            date(2026, 3, 31),
            date(2026, 4, 1),
        );
        let rule = a.steps.iter().find(|(k, _)| k.step == "rule:1").unwrap();
        assert_eq!(rule.0.age, -5);
        assert_eq!((rule.1.sent, rule.1.paid_7, rule.1.recovered), (1, 0, 0));
        let band = a.steps.iter().find(|(k, _)| k.step == "band:1").unwrap();
        assert_eq!(band.0.age, 2);
        assert_eq!(
            (band.1.sent, band.1.paid_1, band.1.paid_3, band.1.recovered),
            (2, 0, 1, 1)
        );
        assert_eq!(band.1.recovered_cents, 10_000);
        // Days to pay, in the order of the sending days: 9 after the rule's notice (05/03), 2
        // after the band's (12/03).
        let days: Vec<i32> = a.days.keys().map(|k| k.days).collect();
        assert_eq!(days, [9, 2]);
        // Invoice 2 is overdue from 11/03 in band 1; invoice 1 from 11/03 to 13/03 only.
        let on = |d: Date| {
            a.overdue
                .iter()
                .filter(|(k, _)| k.day == d)
                .map(|(_, v)| v.0)
                .sum::<i64>()
        };
        assert_eq!(on(date(2026, 3, 10)), 0);
        assert_eq!(on(date(2026, 3, 13)), 2);
        assert_eq!(on(date(2026, 3, 14)), 2, "paid that day: open at its start");
        assert_eq!(on(date(2026, 3, 15)), 1);
        // The March cohort: two issued, one paid on +4, one overdue.
        let (key, totals) = a.cohorts.iter().next().unwrap();
        assert_eq!(key.month, date(2026, 3, 1));
        assert_eq!((totals.issued, totals.overdue), (2, 1));
        assert_eq!(a.curve.get(&(*key, 4)), Some(&(1, 10_000)));
    }

    #[test]
    fn the_base_rate_counts_only_open_invoices_without_a_recent_notice() {
        let due = date(2026, 3, 10);
        let invoices = [
            inv(1, due, Some(date(2026, 3, 12))),
            inv(2, due, Some(date(2026, 3, 20))),
            inv(3, due, None),
        ];
        // Invoice 3 was told on 09/03: not quiet until 17/03.
        let notices = [notice(1, 3, date(2026, 3, 9), "rule:1")];
        let a = aggregate(
            &invoices,
            &notices,
            &[],
            date(2026, 3, 11),
            date(2026, 3, 11),
            date(2026, 4, 1),
        );
        let b = a.base.values().copied().reduce(|x, y| BaseCounts {
            open: x.open + y.open,
            paid_1: x.paid_1 + y.paid_1,
            paid_3: x.paid_3 + y.paid_3,
            paid_7: x.paid_7 + y.paid_7,
        });
        assert_eq!(
            b,
            Some(BaseCounts {
                open: 2,
                paid_1: 1,
                paid_3: 1,
                paid_7: 1
            })
        );
    }

    #[test]
    fn the_median_is_where_half_the_payments_are() {
        let h: BTreeMap<i32, i64> = [(1, 2), (3, 1), (9, 2)].into();
        assert_eq!(median(&h), Some(3));
        assert_eq!(median(&BTreeMap::new()), None);
    }
}
