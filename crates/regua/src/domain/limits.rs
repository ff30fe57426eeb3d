//! What a record may hold so that every message about it can be built: one-line text without
//! control characters (names, ids and plans end up in e-mail headers, file names, CSV cells and
//! the boleto), amounts the boleto's 10-digit amount field can carry, and due dates its
//! due-date factor can express. The edges (CSV import, REST API, pages, CLI) check with these
//! and name the field; a record that passed them can always be turned into a message.

use jiff::civil::Date;

use super::Money;

/// The longest name, plan or id accepted (characters). Names on the boleto are cut to what the
/// bank prints anyway; this only keeps a 2 MB "name" out.
pub const MAX_TEXT_CHARS: usize = 200;

/// The largest amount a boleto carries: its amount field has 10 digits (R$ 99.999.999,99).
pub const MAX_BOLETO_CENTS: i64 = 9_999_999_999; // R$ 99.999.999,99

/// The earliest due date the due-date factor can express since its 2025 restart.
pub const EARLIEST_DUE_DATE: Date = jiff::civil::date(2000, 7, 3);

/// How far after today a due date may be. The factor repeats every 9 000 days (about 24.6
/// years): a reader of the code picks the cycle nearest to its own today, so a due date more
/// than about 12 years away would be read back as another date. Ten years is the round bound
/// under that; no ISP bills a decade ahead.
pub const MAX_YEARS_AHEAD: i16 = 10;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A line break, tab or other control character at this (1-based) character position.
    #[error("contains a line break or control character (U+{code:04X}) at position {position}")]
    Control {
        /// 1-based character position.
        position: usize,
        /// The character's code point.
        code: u32,
    },
    /// Longer than allowed.
    #[error("is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

impl TextError {
    /// The reason in Portuguese, for pages and API answers.
    pub fn pt(&self) -> String {
        match self {
            TextError::Control { position, .. } => format!(
                "Não pode conter quebra de linha, tabulação ou caractere de controle (posição {position})."
            ),
            TextError::TooLong { max } => format!("Use no máximo {max} caracteres."),
        }
    }
}

/// Checks one-line text: no control character (CR, LF, TAB, NUL, DEL, C1) and at most `max`
/// characters. Leading and trailing spaces are the caller's to trim.
pub fn check_line(value: &str, max: usize) -> Result<(), TextError> {
    let mut count = 0;
    for (i, c) in value.chars().enumerate() {
        if c.is_control() {
            return Err(TextError::Control {
                position: i + 1,
                code: u32::from(c),
            });
        }
        count += 1;
        if count > max {
            return Err(TextError::TooLong { max });
        }
    }
    Ok(())
}

/// Text as an e-mail header may carry it: each run of control characters (a line break from a
/// customer's name rendered into a subject, say) becomes one space. For values rendered from
/// templates, which cannot be refused at the edge as a whole.
pub fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_control = false;
    for c in value.chars() {
        if c.is_control() {
            if !in_control {
                out.push(' ');
            }
            in_control = true;
        } else {
            out.push(c);
            in_control = false;
        }
    }
    out.trim().to_string()
}

/// Checks an amount a boleto is issued for; the amount itself when it can carry it.
pub fn check_boleto_amount(amount: Money) -> Result<Money, String> {
    if amount.cents() < 0 {
        return Err("is negative".into());
    }
    if amount.cents() > MAX_BOLETO_CENTS {
        return Err(format!(
            "{} is more than a boleto can carry (R$ 99.999.999,99)",
            amount
        ));
    }
    Ok(amount)
}

/// The same, in Portuguese.
pub fn boleto_amount_pt(amount: Money) -> Option<String> {
    check_boleto_amount(amount).err().map(|_| {
        "O valor deve ser de 0 a R$ 99.999.999,99 (o máximo que um boleto carrega).".into()
    })
}

/// Checks a due date against what the due-date factor can express, seen from `today`; the
/// date itself when it can.
pub fn check_due_date(due: Date, today: Date) -> Result<Date, String> {
    if due < EARLIEST_DUE_DATE {
        return Err(format!(
            "{due} is before 2000-07-03, the earliest due date a boleto can carry"
        ));
    }
    let latest = today
        .checked_add(jiff::Span::new().years(MAX_YEARS_AHEAD))
        .unwrap_or(Date::MAX);
    if due > latest {
        return Err(format!(
            "{due} is more than {MAX_YEARS_AHEAD} years ahead (a boleto's due-date factor repeats every 9000 days)"
        ));
    }
    Ok(due)
}

/// The same, in Portuguese.
pub fn due_date_pt(due: Date, today: Date) -> Option<String> {
    check_due_date(due, today).err().map(|_| {
        format!(
            "O vencimento deve ser entre 03/07/2000 e {} anos a partir de hoje (o limite do fator de vencimento do boleto).",
            MAX_YEARS_AHEAD
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_tabs_and_other_controls_are_refused_with_their_position() {
        assert_eq!(check_line("Provedor Ltda", 200), Ok(()));
        assert_eq!(check_line("Provedor Açaí", 200), Ok(()));
        for (text, position, code) in [
            ("Provedor\r\nBcc: x@y.z", 9, 0x0d),
            ("a\nb", 2, 0x0a),
            ("\tx", 1, 0x09),
            ("x\u{0}", 2, 0),
            ("x\u{7f}", 2, 0x7f),
            ("x\u{85}", 2, 0x85),
        ] {
            assert_eq!(
                check_line(text, 200),
                Err(TextError::Control { position, code }),
                "{text:?}"
            );
        }
        assert_eq!(
            check_line(&"a".repeat(201), 200),
            Err(TextError::TooLong { max: 200 })
        );
        assert_eq!(check_line(&"ã".repeat(200), 200), Ok(()));
    }

    #[test]
    fn header_safe_text_folds_each_control_run_into_one_space() {
        assert_eq!(
            header_safe("Fatura de\r\nMaria\tSilva\n"),
            "Fatura de Maria Silva"
        );
        assert_eq!(header_safe("sem controle"), "sem controle");
    }

    #[test]
    fn boleto_amounts_stop_at_ten_digits() {
        assert!(check_boleto_amount(Money(9_999_999_999)).is_ok());
        assert!(check_boleto_amount(Money(0)).is_ok());
        assert!(check_boleto_amount(Money(10_000_000_000)).is_err());
        assert!(check_boleto_amount(Money(-1)).is_err());
    }

    #[test]
    fn due_dates_stay_within_the_factor() {
        let today = jiff::civil::date(2026, 12, 6);
        assert!(check_due_date(jiff::civil::date(2000, 7, 3), today).is_ok());
        assert!(check_due_date(jiff::civil::date(2000, 7, 2), today).is_err());
        assert!(check_due_date(jiff::civil::date(2036, 12, 6), today).is_ok());
        assert!(check_due_date(jiff::civil::date(2036, 12, 7), today).is_err());
    }
}
