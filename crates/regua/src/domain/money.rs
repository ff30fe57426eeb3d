//! Money as integer centavos, parsed from the forms ERPs export and shown the Brazilian way.

use std::fmt;

/// An amount of Brazilian reais in centavos. Never a float.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    /// From centavos.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in centavos.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses `1234.56`, `1234,56`, `1.234,56`, `1,234.56`, `R$ 1.234,56` or `1234`. The last `.`
    /// or `,` followed by one or two digits is the decimal separator; other separators must group
    /// thousands. At most two decimal places; negative amounts are refused.
    pub fn parse(input: &str) -> Result<Money, String> {
        let s = input.trim().trim_start_matches("R$").trim();
        if s.is_empty() {
            return Err("empty amount".into());
        }
        if s.starts_with('-') {
            return Err(format!("{input:?} is negative"));
        }
        let last_sep = s.rfind(['.', ',']);
        let (int_part, frac_part) = match last_sep {
            Some(i) if (1..=2).contains(&(s.len() - i - 1)) => (&s[..i], &s[i + 1..]),
            // "1.234" is Brazilian thousands; "1,234" could be a decimal comma with three places or
            // US thousands, so it is refused rather than guessed.
            Some(i) if s.len() - i - 1 == 3 && s.as_bytes()[i] == b',' && !s[..i].contains('.') => {
                return Err(format!("{input:?} is ambiguous: write 1234,00 or 1.234,00"));
            }
            Some(i) if s.len() - i - 1 == 3 => (s, ""),
            Some(_) => {
                return Err(format!(
                    "{input:?} is not an amount (at most two decimal places)"
                ));
            }
            None => (s, ""),
        };
        // Thousands separators must be the other character (or the same, if there are no decimals)
        // and group by three.
        let groups: Vec<&str> = int_part.split(['.', ',']).collect();
        if groups.len() > 1
            && (groups[0].is_empty()
                || groups[0].len() > 3
                || groups[1..].iter().any(|g| g.len() != 3))
        {
            return Err(format!("{input:?} is not an amount"));
        }
        let digits: String = groups.concat();
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("{input:?} is not an amount"));
        }
        let reais: i64 = digits
            .parse()
            .map_err(|_| format!("{input:?} is too large"))?;
        let cents: i64 = format!("{frac_part:0<2}").parse().unwrap_or(0);
        reais
            .checked_mul(100)
            .and_then(|r| r.checked_add(cents))
            .map(Money)
            .ok_or_else(|| format!("{input:?} is too large"))
    }
}

impl fmt::Display for Money {
    /// `R$ 1.234,56`; negative amounts as `-R$ 1.234,56`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&boleto::format_brl(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_shown_with_brazilian_separators() {
        assert_eq!(Money(123456).to_string(), "R$ 1.234,56");
        assert_eq!(Money(5).to_string(), "R$ 0,05");
        assert_eq!(Money(0).to_string(), "R$ 0,00");
        assert_eq!(Money(100_000_000).to_string(), "R$ 1.000.000,00");
        assert_eq!(Money(99999).to_string(), "R$ 999,99");
        assert_eq!(Money(-150).to_string(), "-R$ 1,50");
    }

    #[test]
    fn amounts_parse_with_either_decimal_separator() {
        for (input, cents) in [
            ("1234.56", 123456),
            ("1234,56", 123456),
            ("1.234,56", 123456),
            ("1,234.56", 123456),
            ("R$ 1.234,56", 123456),
            ("99,9", 9990),
            ("1234", 123400),
            ("1.234", 123400),
            ("0,01", 1),
        ] {
            assert_eq!(Money::parse(input), Ok(Money(cents)), "{input}");
        }
        for bad in ["", "abc", "12,345", "1.23.45", "-5", "1,2345", "12a,00"] {
            assert!(Money::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
