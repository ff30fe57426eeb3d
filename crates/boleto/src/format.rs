//! How Brazilians read amounts and dates, shared by the boleto PDF and the application's
//! screens, e-mails and CLI.

use jiff::civil::Date;

/// `R$ 1.234,56` from centavos; negative amounts as `-R$ 1.234,56`.
pub fn format_brl(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let reais = (abs / 100).to_string();
    let mut grouped = String::with_capacity(reais.len() + reais.len() / 3);
    for (i, c) in reais.chars().enumerate() {
        if i > 0 && (reais.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}R$ {grouped},{:02}", abs % 100)
}

/// `dd/mm/aaaa`.
pub fn format_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

/// The months' names, January first.
pub const MONTHS_PT: [&str; 12] = [
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];

/// `10 de dezembro de 2026`, as letters date themselves.
pub fn format_date_long(d: Date) -> String {
    format!(
        "{} de {} de {}",
        d.day(),
        MONTHS_PT[usize::try_from(d.month() - 1).unwrap_or(0)],
        d.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_dates_are_shown_the_brazilian_way() {
        assert_eq!(format_brl(123456), "R$ 1.234,56");
        assert_eq!(format_brl(5), "R$ 0,05");
        assert_eq!(format_brl(100_000_000), "R$ 1.000.000,00");
        assert_eq!(format_brl(-150), "-R$ 1,50");
        assert_eq!(format_date(jiff::civil::date(2026, 3, 5)), "05/03/2026");
    }
}
