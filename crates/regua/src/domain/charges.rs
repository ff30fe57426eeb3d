//! What a late invoice costs today: the wallet's terms (fine, interest, discount, write-off)
//! and the arithmetic every surface shares — the boleto's instructions, the after-due
//! messages, the portal, the app API and the remessa's instructions (docs/charges.md). Pure.
//!
//! The rules, decided once:
//! - **Percentages are basis points** (1 % = 100): no float reaches money.
//! - **The effective due date** is the due date, or the next bank business day when it falls on a
//!   weekend or a bank holiday: paid then, nothing is added (FEBRABAN's rule for boletos).
//! - **Late** is paying after the effective due date. Then the fine (multa) is `amount × fine`,
//!   once; interest (juros de mora) is simple, pro rata per calendar day, `amount × monthly rate
//!   / 30 × days`, the days counted from the *original* due date (a payer who misses the
//!   extended day owes from the day the debt fell due).
//! - **Rounding once**: fine and interest are each computed in exact integer arithmetic and
//!   rounded half up to centavos at the end, never day by day.
//! - **Discount** (desconto por pontualidade): `amount × discount` while paid on or before
//!   `discount_days` days before the due date.
//! - **Caps for consumers** (docs/charges.md): fine ≤ 2 % (CDC art. 52 § 1º), interest ≤ 1 % a
//!   month; a wallet above them is refused unless it bills businesses only.

use jiff::civil::Date;

use super::Money;

/// The most a consumer may be fined for paying late, in basis points: 2 % (Lei 8.078/1990, the
/// Código de Defesa do Consumidor, art. 52 § 1º, as amended by Lei 9.298/1996).
pub const CONSUMER_FINE_CAP_BP: u32 = 200;

/// The most interest a consumer may be charged for paying late, in basis points a month: 1 %.
pub const CONSUMER_INTEREST_CAP_BP: u32 = 100;

/// How a wallet's boletos are registered at the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registration {
    /// The ERP registers them; Régua sends no remessa (the mode of imported boletos).
    Erp,
    /// Régua writes a CNAB 240 remessa.
    Cnab240,
    /// Régua writes a CNAB 400 remessa.
    Cnab400,
}

impl Registration {
    /// The stored and command-line name: `erp`, `cnab240`, `cnab400`.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Erp => "erp",
            Registration::Cnab240 => "cnab240",
            Registration::Cnab400 => "cnab400",
        }
    }
}

impl std::str::FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "erp" => Ok(Registration::Erp),
            "cnab240" => Ok(Registration::Cnab240),
            "cnab400" => Ok(Registration::Cnab400),
            other => Err(format!(
                "unknown registration {other:?}; one of: cnab240, cnab400, erp"
            )),
        }
    }
}

/// A wallet's terms for late payment and early payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terms {
    /// Fine (multa) once paid late, basis points of the amount.
    pub fine_bp: u32,
    /// Interest (juros de mora), basis points of the amount a month (30 days), simple.
    pub interest_bp_month: u32,
    /// Discount for paying early, basis points of the amount; 0 = none.
    pub discount_bp: u32,
    /// The discount holds until this many days before the due date (0 = until the due date).
    pub discount_days: u32,
    /// Days after the due date the bank writes the boleto off ("baixa/devolução"); `None`: the
    /// bank's default.
    pub write_off_days: Option<u32>,
    /// The wallet bills businesses only: the consumer caps do not apply.
    pub business_only: bool,
}

/// Why terms were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    /// Above the consumer cap, the wallet not marked for businesses only.
    #[error(
        "{value} is above the consumer cap of {cap} (mark the wallet business-only to bill above it)"
    )]
    AboveConsumerCap {
        /// `fine` or `interest`.
        field: &'static str,
        /// The value asked for, as typed (`3%`).
        value: String,
        /// The cap (`2%`).
        cap: String,
    },
    /// A discount of 100 % or more, or above any sense.
    #[error("{0} must be below 100%")]
    Discount(String),
}

impl TermsError {
    /// The field it is about: `fine`, `interest` or `discount`.
    pub fn field(&self) -> &'static str {
        match self {
            TermsError::AboveConsumerCap { field, .. } => field,
            TermsError::Discount(_) => "discount",
        }
    }

    /// The command-line flag it is about (`fine-percent`…).
    pub fn flag(&self) -> String {
        format!("{}-percent", self.field())
    }

    /// The reason in Portuguese, for the screen.
    pub fn pt(&self) -> String {
        match self {
            TermsError::AboveConsumerCap { field, value, cap } => {
                let what = if *field == "fine" {
                    "A multa"
                } else {
                    "Os juros de mora"
                };
                let law = if *field == "fine" {
                    "Código de Defesa do Consumidor, art. 52, § 1º"
                } else {
                    "limite de 1% ao mês para consumidores"
                };
                format!(
                    "{what} de {value} passa do limite de {cap} para consumidores ({law}). Marque a carteira como exclusiva de clientes empresariais para cobrar acima."
                )
            }
            TermsError::Discount(v) => format!("O desconto de {v} precisa ser menor que 100%."),
        }
    }
}

impl Terms {
    /// Checks the caps: a consumer wallet above 2 % fine or 1 % a month interest is refused.
    pub fn validate(&self) -> Result<(), TermsError> {
        if !self.business_only {
            if self.fine_bp > CONSUMER_FINE_CAP_BP {
                return Err(TermsError::AboveConsumerCap {
                    field: "fine",
                    value: percent(self.fine_bp),
                    cap: percent(CONSUMER_FINE_CAP_BP),
                });
            }
            if self.interest_bp_month > CONSUMER_INTEREST_CAP_BP {
                return Err(TermsError::AboveConsumerCap {
                    field: "interest",
                    value: percent(self.interest_bp_month),
                    cap: percent(CONSUMER_INTEREST_CAP_BP),
                });
            }
        }
        if self.discount_bp >= 10_000 {
            return Err(TermsError::Discount(percent(self.discount_bp)));
        }
        Ok(())
    }

    /// The fine `amount` takes once late.
    pub fn fine_of(&self, amount: Money) -> Money {
        Money(div_half_up(
            i128::from(amount.cents().max(0)) * i128::from(self.fine_bp),
            10_000,
        ))
    }

    /// Interest a day on `amount` (a month's rate over 30 days), rounded for display and the
    /// remessa's "juros por dia"; a late total is computed exactly, not from it.
    pub fn interest_per_day(&self, amount: Money) -> Money {
        Money(div_half_up(
            i128::from(amount.cents().max(0)) * i128::from(self.interest_bp_month),
            30 * 10_000,
        ))
    }

    /// The discount `amount` gets when paid in time for it.
    pub fn discount_of(&self, amount: Money) -> Money {
        Money(div_half_up(
            i128::from(amount.cents().max(0)) * i128::from(self.discount_bp),
            10_000,
        ))
    }

    /// The boleto's instruction lines, in Portuguese ("Após o vencimento, multa de 2,00% e
    /// juros de 1,00% ao mês."); none when the wallet charges nothing and grants nothing.
    pub fn instructions(&self, due: Date) -> Vec<String> {
        let mut out = Vec::new();
        match (self.fine_bp, self.interest_bp_month) {
            (0, 0) => {}
            (f, 0) => out.push(format!("Após o vencimento, multa de {}.", percent_pt(f))),
            (0, i) => out.push(format!(
                "Após o vencimento, juros de {} ao mês.",
                percent_pt(i)
            )),
            (f, i) => out.push(format!(
                "Após o vencimento, multa de {} e juros de {} ao mês.",
                percent_pt(f),
                percent_pt(i)
            )),
        }
        if self.discount_bp > 0 {
            let until = discount_until(due, self.discount_days);
            out.push(format!(
                "Desconto de {} para pagamento até {}.",
                percent_pt(self.discount_bp),
                super::format_date(until)
            ));
        }
        out
    }
}

/// A wallet's registration and terms as the audit trail and `regua wallet list` write them.
pub fn audit_text(registration: Registration, t: &Terms) -> String {
    format!(
        "registration={} fine={} interest={}/month discount={} discount_days={} write_off_days={} business_only={}",
        registration.as_str(),
        percent(t.fine_bp),
        percent(t.interest_bp_month),
        percent(t.discount_bp),
        t.discount_days,
        t.write_off_days
            .map_or_else(|| "-".to_string(), |d| d.to_string()),
        t.business_only
    )
}

/// A percentage of basis points as the CLI and the logs write it: `2%`, `0.5%`.
pub fn percent(bp: u32) -> String {
    let (int, frac) = (bp / 100, bp % 100);
    match frac {
        0 => format!("{int}%"),
        f if f % 10 == 0 => format!("{int}.{}%", f / 10),
        f => format!("{int}.{f:02}%"),
    }
}

/// A percentage the Brazilian way, two decimals: `2,00%`.
pub fn percent_pt(bp: u32) -> String {
    format!("{},{:02}%", bp / 100, bp % 100)
}

/// Parses `2`, `2%`, `2,5`, `0.33` as basis points (at most two decimals; not negative).
pub fn parse_percent(input: &str) -> Result<u32, String> {
    let s = input.trim().trim_end_matches('%').trim().replace(',', ".");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(format!(
            "{input:?} is not a percentage (e.g. 2 or 0,5; at most two decimals)"
        ));
    }
    let int: u32 = int.parse().map_err(|_| format!("{input:?} is too large"))?;
    let frac: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
    int.checked_mul(100)
        .and_then(|v| v.checked_add(frac))
        .filter(|v| *v <= 100_000)
        .ok_or_else(|| format!("{input:?} is too large"))
}

/// The last day the discount holds.
pub fn discount_until(due: Date, days_before: u32) -> Date {
    due.checked_sub(jiff::Span::new().days(i64::from(days_before)))
        .unwrap_or(due)
}

/// The due date a payer actually has: the next bank business day when `due` is not one.
pub fn effective_due_date(due: Date, is_bank_holiday: impl Fn(Date) -> bool) -> Date {
    let mut d = due;
    // A year of consecutive holidays does not exist; the bound keeps a bad calendar finite.
    for _ in 0..366 {
        let weekend = matches!(
            d.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        );
        if !weekend && !is_bank_holiday(d) {
            return d;
        }
        d = d.tomorrow().unwrap_or(d);
    }
    due
}

/// The banks' national holidays: the federal ones and Carnival's Monday and Tuesday, when the
/// banks do not open (FEBRABAN's calendar). Ash Wednesday (opening at noon) and Corpus Christi
/// are business days for the banks.
pub fn is_national_bank_holiday(d: Date) -> bool {
    super::holidays::national_holidays(d.year())
        .iter()
        .any(|h| h.date == d && (!h.optional || h.name.starts_with("Carnaval")))
}

/// What an invoice costs when paid on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AmountDue {
    /// Calendar days after the due date (0 until it has passed).
    pub days_late: i64,
    /// The fine, when late.
    pub fine: Money,
    /// The interest to that day, when late.
    pub interest: Money,
    /// Interest a day, rounded for display (`fatura.juros_ao_dia`); the total is computed
    /// exactly, not from it.
    pub interest_per_day: Money,
    /// The discount, when in time for it.
    pub discount: Money,
    /// Amount + fine + interest − discount.
    pub total: Money,
}

/// Integer division rounding half up (both operands non-negative).
fn div_half_up(n: i128, d: i128) -> i64 {
    ((2 * n + d) / (2 * d)) as i64
}

/// What `amount`, due on `due`, costs when paid on `paid_on` under `terms`; `is_bank_holiday`
/// names the days the banks are closed besides weekends.
pub fn amount_due(
    amount: Money,
    due: Date,
    paid_on: Date,
    terms: &Terms,
    is_bank_holiday: impl Fn(Date) -> bool,
) -> AmountDue {
    let cents = i128::from(amount.cents().max(0));
    let interest_per_day = terms.interest_per_day(amount);
    let effective = effective_due_date(due, is_bank_holiday);
    if paid_on <= effective {
        let in_time = terms.discount_bp > 0 && paid_on <= discount_until(due, terms.discount_days);
        let discount = if in_time {
            terms.discount_of(amount)
        } else {
            Money(0)
        };
        return AmountDue {
            days_late: 0,
            discount,
            interest_per_day,
            total: Money(amount.cents() - discount.cents()),
            ..AmountDue::default()
        };
    }
    let days_late = (paid_on - due).get_days().into();
    let days_late: i64 = days_late;
    let fine = terms.fine_of(amount);
    let interest = Money(div_half_up(
        cents * i128::from(terms.interest_bp_month) * i128::from(days_late),
        30 * 10_000,
    ));
    AmountDue {
        days_late,
        fine,
        interest,
        interest_per_day,
        discount: Money(0),
        total: Money(amount.cents() + fine.cents() + interest.cents()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    const CONSUMER: Terms = Terms {
        fine_bp: 200,
        interest_bp_month: 100,
        discount_bp: 0,
        discount_days: 0,
        write_off_days: None,
        business_only: false,
    };

    fn no_holidays(_: Date) -> bool {
        false
    }

    #[test]
    fn twenty_days_late_on_a_hundred_is_102_67() {
        // Due Tuesday 2026-03-10; paid 20 days later.
        let due = date(2026, 3, 10);
        let d = amount_due(
            Money(10_000),
            due,
            date(2026, 3, 30),
            &CONSUMER,
            no_holidays,
        );
        assert_eq!(
            (d.days_late, d.fine, d.interest, d.total),
            (20, Money(200), Money(67), Money(10_267))
        );
        assert_eq!(d.interest_per_day, Money(3));
    }

    #[test]
    fn a_weekend_or_holiday_due_date_moves_before_any_charge() {
        // Saturday 2026-03-07 → Monday 03-09: paid Monday, nothing added.
        let sat = date(2026, 3, 7);
        assert_eq!(effective_due_date(sat, no_holidays), date(2026, 3, 9));
        let d = amount_due(Money(10_000), sat, date(2026, 3, 9), &CONSUMER, no_holidays);
        assert_eq!(d.total, Money(10_000));
        // Paid Tuesday: late, counted from the original Saturday (3 days).
        let d = amount_due(
            Money(10_000),
            sat,
            date(2026, 3, 10),
            &CONSUMER,
            no_holidays,
        );
        assert_eq!(
            (d.days_late, d.fine, d.interest),
            (3, Money(200), Money(10))
        );
        // Good Friday 2026-04-03 then a weekend: Monday 04-06.
        assert_eq!(
            effective_due_date(date(2026, 4, 3), is_national_bank_holiday),
            date(2026, 4, 6)
        );
        // Carnival: the banks are closed Monday and Tuesday, open Ash Wednesday.
        assert_eq!(
            effective_due_date(date(2026, 2, 16), is_national_bank_holiday),
            date(2026, 2, 18)
        );
        // Corpus Christi is a business day for the banks.
        assert_eq!(
            effective_due_date(date(2026, 6, 4), is_national_bank_holiday),
            date(2026, 6, 4)
        );
    }

    #[test]
    fn the_discount_holds_until_its_day() {
        let terms = Terms {
            discount_bp: 500,
            discount_days: 5,
            ..CONSUMER
        };
        let due = date(2026, 3, 10);
        let early = amount_due(Money(10_000), due, date(2026, 3, 5), &terms, no_holidays);
        assert_eq!((early.discount, early.total), (Money(500), Money(9_500)));
        // One rounding for every surface: R$ 119,90 × 5 % = 5,995 → R$ 6,00 in the portal's
        // total and in the remessa's discount field alike.
        assert_eq!(terms.discount_of(Money(11_990)), Money(600));
        let portal = amount_due(Money(11_990), due, date(2026, 3, 5), &terms, no_holidays);
        assert_eq!(portal.discount, terms.discount_of(Money(11_990)));
        assert_eq!(terms.interest_per_day(Money(11_990)), Money(4));
        let late_for_it = amount_due(Money(10_000), due, date(2026, 3, 6), &terms, no_holidays);
        assert_eq!(late_for_it.total, Money(10_000));
        assert_eq!(
            terms.instructions(due),
            [
                "Após o vencimento, multa de 2,00% e juros de 1,00% ao mês.",
                "Desconto de 5,00% para pagamento até 05/03/2026."
            ]
        );
    }

    #[test]
    fn consumer_caps_are_enforced_unless_business_only() {
        let three = Terms {
            fine_bp: 300,
            ..CONSUMER
        };
        let err = three.validate().unwrap_err();
        assert!(
            err.pt()
                .contains("Código de Defesa do Consumidor, art. 52, § 1º"),
            "{}",
            err.pt()
        );
        assert_eq!(err.flag(), "fine-percent");
        assert!(
            err.to_string()
                .starts_with("3% is above the consumer cap of 2%")
        );
        let interest = Terms {
            interest_bp_month: 150,
            ..CONSUMER
        };
        assert!(matches!(
            interest.validate(),
            Err(TermsError::AboveConsumerCap {
                field: "interest",
                ..
            })
        ));
        assert_eq!(
            Terms {
                business_only: true,
                ..three
            }
            .validate(),
            Ok(())
        );
        assert_eq!(CONSUMER.validate(), Ok(()));
    }

    #[test]
    fn percentages_parse_the_ways_operators_type_them() {
        assert_eq!(parse_percent("2"), Ok(200));
        assert_eq!(parse_percent("2%"), Ok(200));
        assert_eq!(parse_percent("0,5"), Ok(50));
        assert_eq!(parse_percent("1.25"), Ok(125));
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("1,255").is_err());
        assert!(parse_percent("dois").is_err());
        assert_eq!(
            (percent(200), percent(50), percent(125)),
            ("2%".into(), "0.5%".into(), "1.25%".into())
        );
        assert_eq!(percent_pt(200), "2,00%");
    }

    proptest! {
        #[test]
        fn never_above_the_caps_zero_before_due_and_exact_across_months(
            cents in 0i64..10_000_000,
            fine in 0u32..=200,
            interest in 0u32..=100,
            due_offset in 0i64..3_000,
            paid_offset in -60i64..400,
        ) {
            let terms = Terms { fine_bp: fine, interest_bp_month: interest, ..Terms::default() };
            // Due dates from 2024 on, leap years and month ends included.
            let due = date(2024, 1, 1).checked_add(jiff::Span::new().days(due_offset)).unwrap();
            let paid = due.checked_add(jiff::Span::new().days(paid_offset)).unwrap();
            let d = amount_due(Money(cents), due, paid, &terms, is_national_bank_holiday);
            let effective = effective_due_date(due, is_national_bank_holiday);
            if paid <= effective {
                prop_assert_eq!(d.total, Money(cents));
                prop_assert_eq!(d.days_late, 0);
            } else {
                let days = (paid - due).get_days() as i64;
                prop_assert_eq!(d.days_late, days);
                // Never above the caps: 2 % once, 1 % for each 30 days (plus half a centavo
                // of rounding each).
                prop_assert!(d.fine.cents() * 10_000 <= cents * 200 + 5_000);
                prop_assert!(d.interest.cents() * 30 * 10_000 <= cents * 100 * days + 150_000);
                // Exact: the interest is the rounded product, not a sum of rounded days.
                let exact = (cents as i128) * (interest as i128) * (days as i128);
                let diff = (d.interest.cents() as i128) * 300_000 - exact;
                prop_assert!(diff.abs() <= 150_000);
                prop_assert_eq!(d.total.cents(), cents + d.fine.cents() + d.interest.cents());
            }
        }
    }
}
