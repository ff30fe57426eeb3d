//! FEBRABAN's two renderings of one boleto: the 44-digit barcode and the 47-digit digitable
//! line (linha digitável), the due-date factor with its 2025 restart, and the parser that
//! validates a typed or scanned code and says which check digit is wrong.

use std::fmt;

use jiff::civil::Date;

use crate::checksum::{barcode_dv, mod10};

/// The factor's day zero: 1997-10-07 (factor 0 means "no due date").
const FACTOR_BASE: Date = jiff::civil::date(1997, 10, 7);

/// Days after the base at which the factor first reached 1000 (2000-07-03); earlier dates had
/// factors below 1000 in the first cycle and cannot be expressed since the 2025 restart.
const FIRST_FACTOR: i64 = 1000;

/// The factor cycles through 1000..=9999: 9000 values.
const CYCLE: i64 = 9000;

/// Errors building a code from its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The due date is before 2000-07-03, the first date the current factor rules can express.
    #[error("due date {0} is before 2000-07-03, the earliest date a due-date factor can express")]
    DueDateTooEarly(Date),
    /// More than R$ 99.999.999,99 (ten digits of centavos).
    #[error("amount of {0} centavos does not fit the barcode's 10 digits")]
    AmountTooLarge(u64),
}

/// The due-date factor (fator de vencimento) of a date: days since 1997-10-07, restarting at
/// 1000 after 9999 (2025-02-21 → 9999, 2025-02-22 → 1000).
pub fn due_date_factor(due: Date) -> Result<u16, CodeError> {
    let days = i64::from((due - FACTOR_BASE).get_days());
    if days < FIRST_FACTOR {
        return Err(CodeError::DueDateTooEarly(due));
    }
    Ok(((days - FIRST_FACTOR) % CYCLE + FIRST_FACTOR) as u16)
}

/// The date a factor stands for, choosing among its cycles the one nearest to `reference`
/// (usually today): a factor alone is ambiguous every 9000 days (about 24.6 years). `None` for
/// factor 0 ("no due date") or a factor outside 1000..=9999.
pub fn date_from_factor(factor: u16, reference: Date) -> Option<Date> {
    if !(1000..=9999).contains(&factor) {
        return None;
    }
    let ref_days = i64::from((reference - FACTOR_BASE).get_days());
    let first = i64::from(factor);
    // Candidates: first + k * CYCLE; pick the k that lands nearest the reference.
    let k = ((ref_days - first) as f64 / CYCLE as f64).round().max(0.0) as i64;
    let days = first + k * CYCLE;
    FACTOR_BASE.checked_add(jiff::Span::new().days(days)).ok()
}

/// A 44-digit FEBRABAN barcode whose general check digit is correct.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Barcode(String);

/// A 47-digit digitable line whose field check digits and general check digit are correct.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DigitableLine(String);

/// Why a typed or scanned code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not 44 (barcode) or 47 (digitable line) digits once spaces and dots are removed.
    #[error("expected 47 digits (digitable line) or 44 (barcode), found {0}")]
    Length(usize),
    /// Something other than a digit, space or dot.
    #[error("character {found:?} at position {position} is not a digit")]
    NotADigit {
        /// 1-based position in the input.
        position: usize,
        /// What was found.
        found: char,
    },
    /// A digitable-line field's check digit (módulo 10) is wrong; fields are numbered 1 to 3.
    #[error("field {field}'s check digit is {found}, expected {expected}")]
    FieldCheckDigit {
        /// Which field (1, 2 or 3).
        field: u8,
        /// The digit typed.
        found: u8,
        /// The digit the field's contents require.
        expected: u8,
    },
    /// The general check digit (módulo 11) is wrong.
    #[error("general check digit is {found}, expected {expected}")]
    GeneralCheckDigit {
        /// The digit typed.
        found: u8,
        /// The digit the code's contents require.
        expected: u8,
    },
}

impl Barcode {
    /// Composes a barcode from bank, due date, amount and the bank's 25-digit free field.
    pub fn compose(
        bank: &str,
        due: Date,
        amount_cents: u64,
        free_field: &str,
    ) -> Result<Self, CodeError> {
        debug_assert!(bank.len() == 3 && free_field.len() == 25);
        let factor = due_date_factor(due)?;
        if amount_cents > 9_999_999_999 {
            return Err(CodeError::AmountTooLarge(amount_cents));
        }
        Ok(Self::from_parts(bank, factor, amount_cents, free_field))
    }

    fn from_parts(bank: &str, factor: u16, amount_cents: u64, free_field: &str) -> Self {
        let mut s = String::with_capacity(44);
        s.push_str(bank);
        s.push('9');
        s.push_str(&format!("{factor:04}{amount_cents:010}"));
        s.push_str(free_field);
        let dv = barcode_dv(s.as_bytes());
        s.insert(4, char::from(b'0' + dv));
        Barcode(s)
    }

    /// Parses and validates a scanned 44-digit barcode.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let digits = only_digits(input)?;
        if digits.len() != 44 {
            return Err(ParseError::Length(digits.len()));
        }
        check_general(&digits)?;
        Ok(Barcode(digits))
    }

    /// The 44 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The FEBRABAN bank code (first three digits).
    pub fn bank(&self) -> &str {
        &self.0[..3]
    }

    /// The due-date factor (0 when the boleto has no due date).
    pub fn factor(&self) -> u16 {
        self.0[5..9].parse().expect("digits")
    }

    /// The amount in centavos (0 when the payer fills it in).
    pub fn amount_cents(&self) -> u64 {
        self.0[9..19].parse().expect("digits")
    }

    /// The bank's 25-digit free field (campo livre).
    pub fn free_field(&self) -> &str {
        &self.0[19..]
    }

    /// The digitable line that carries the same information.
    pub fn digitable_line(&self) -> DigitableLine {
        let b = &self.0;
        let f1 = format!("{}{}", &b[0..4], &b[19..24]);
        let f2 = &b[24..34];
        let f3 = &b[34..44];
        let mut s = String::with_capacity(47);
        for f in [f1.as_str(), f2, f3] {
            s.push_str(f);
            s.push(char::from(b'0' + mod10(f.as_bytes())));
        }
        s.push_str(&b[4..5]);
        s.push_str(&b[5..19]);
        DigitableLine(s)
    }
}

impl DigitableLine {
    /// Parses a typed digitable line (spaces and dots allowed) and checks each field's digit and
    /// the general check digit, saying which one is wrong.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let d = only_digits(input)?;
        if d.len() != 47 {
            return Err(ParseError::Length(d.len()));
        }
        for (field, (start, end)) in [(0usize, 9usize), (10, 20), (21, 31)]
            .into_iter()
            .enumerate()
        {
            let expected = mod10(&d.as_bytes()[start..end]);
            let found = d.as_bytes()[end] - b'0';
            if expected != found {
                return Err(ParseError::FieldCheckDigit {
                    field: field as u8 + 1,
                    found,
                    expected,
                });
            }
        }
        let line = DigitableLine(d);
        check_general(line.barcode_digits().as_str())?;
        Ok(line)
    }

    /// Parses either a digitable line (47 digits) or a barcode (44 digits) into a barcode.
    pub fn parse_any(input: &str) -> Result<Barcode, ParseError> {
        match only_digits(input)?.len() {
            44 => Barcode::parse(input),
            _ => DigitableLine::parse(input).map(|l| l.barcode()),
        }
    }

    fn barcode_digits(&self) -> String {
        let d = &self.0;
        format!(
            "{}{}{}{}{}{}",
            &d[0..4],
            &d[32..33],
            &d[33..47],
            &d[4..9],
            &d[10..20],
            &d[21..31]
        )
    }

    /// The barcode this line encodes.
    pub fn barcode(&self) -> Barcode {
        Barcode(self.barcode_digits())
    }

    /// The 47 digits without punctuation.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The usual printed form: `00190.00009 01238.798977 77700.168188 3 37690000013500`.
    pub fn formatted(&self) -> String {
        let d = &self.0;
        format!(
            "{}.{} {}.{} {}.{} {} {}",
            &d[0..5],
            &d[5..10],
            &d[10..15],
            &d[15..21],
            &d[21..26],
            &d[26..32],
            &d[32..33],
            &d[33..47]
        )
    }
}

impl fmt::Display for DigitableLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

impl fmt::Display for Barcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn only_digits(input: &str) -> Result<String, ParseError> {
    let mut out = String::with_capacity(48);
    for (i, c) in input.trim().chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '.' | '-' => {}
            _ => {
                return Err(ParseError::NotADigit {
                    position: i + 1,
                    found: c,
                });
            }
        }
    }
    Ok(out)
}

fn check_general(barcode: &str) -> Result<(), ParseError> {
    let b = barcode.as_bytes();
    let mut without = Vec::with_capacity(43);
    without.extend_from_slice(&b[..4]);
    without.extend_from_slice(&b[5..]);
    let expected = barcode_dv(&without);
    let found = b[4] - b'0';
    if expected != found {
        return Err(ParseError::GeneralCheckDigit { found, expected });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn factor_restarts_at_1000_after_9999() {
        assert_eq!(due_date_factor(date(2025, 2, 21)).unwrap(), 9999);
        assert_eq!(due_date_factor(date(2025, 2, 22)).unwrap(), 1000);
        assert_eq!(due_date_factor(date(2000, 7, 3)).unwrap(), 1000);
        assert!(due_date_factor(date(2000, 7, 2)).is_err());
    }

    #[test]
    fn factor_resolves_to_the_cycle_nearest_the_reference() {
        assert_eq!(
            date_from_factor(1000, date(2026, 1, 1)),
            Some(date(2025, 2, 22))
        );
        assert_eq!(
            date_from_factor(1000, date(2001, 1, 1)),
            Some(date(2000, 7, 3))
        );
        assert_eq!(
            date_from_factor(9999, date(2026, 1, 1)),
            Some(date(2025, 2, 21))
        );
        assert_eq!(date_from_factor(0, date(2026, 1, 1)), None);
    }
}
