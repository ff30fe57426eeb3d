//! Brazilian national holidays, computed for any year: the fixed dates of federal law, the
//! movable ones from Easter (Good Friday; Carnival Monday and Tuesday, Ash Wednesday and Corpus
//! Christi, which are "ponto facultativo" — optional — nationally), and 20 November (Zumbi e da
//! Consciência Negra) from 2024 on (Lei 14.759/2023). Holidays an ISP adds (state, city, one-off)
//! join these in the dunning routines' calendar. Pure: no I/O.

use jiff::civil::{Date, date};

/// One holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// The day.
    pub date: Date,
    /// Its name, as calendars print it.
    pub name: &'static str,
    /// "Ponto facultativo": a day off by custom or decree, not by federal law. A routine set not
    /// to run on holidays treats it as a holiday only when the ISP says so.
    pub optional: bool,
}

/// Easter Sunday of a Gregorian year (the anonymous algorithm of Meeus/Jones/Butcher).
pub fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(year, month as i8, day as i8)
}

/// The national holidays of `year`, in date order.
pub fn national_holidays(year: i16) -> Vec<Holiday> {
    let fixed = |month: i8, day: i8, name: &'static str| Holiday {
        date: date(year, month, day),
        name,
        optional: false,
    };
    let e = easter(year);
    let from_easter = |days: i64, name: &'static str, optional: bool| Holiday {
        date: e.checked_add(jiff::Span::new().days(days)).unwrap_or(e),
        name,
        optional,
    };
    let mut all = vec![
        fixed(1, 1, "Confraternização Universal"),
        from_easter(-48, "Carnaval (segunda-feira)", true),
        from_easter(-47, "Carnaval (terça-feira)", true),
        from_easter(-46, "Quarta-feira de Cinzas (até as 14h)", true),
        from_easter(-2, "Sexta-feira Santa (Paixão de Cristo)", false),
        fixed(4, 21, "Tiradentes"),
        fixed(5, 1, "Dia do Trabalho"),
        from_easter(60, "Corpus Christi", true),
        fixed(9, 7, "Independência do Brasil"),
        fixed(10, 12, "Nossa Senhora Aparecida"),
        fixed(11, 2, "Finados"),
        fixed(11, 15, "Proclamação da República"),
        fixed(12, 25, "Natal"),
    ];
    if year >= 2024 {
        all.push(fixed(
            11,
            20,
            "Dia Nacional de Zumbi e da Consciência Negra",
        ));
    }
    all.sort_by_key(|h| h.date);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_falls_on_the_published_sundays() {
        for (year, m, d) in [
            (2019, 4, 21),
            (2021, 4, 4),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
        ] {
            assert_eq!(easter(year), date(year, m, d), "{year}");
        }
    }

    #[test]
    fn the_2026_calendar_matches_the_published_one() {
        let got: Vec<(String, bool)> = national_holidays(2026)
            .iter()
            .map(|h| (h.date.to_string(), h.optional))
            .collect();
        let want = [
            ("2026-01-01", false),
            ("2026-02-16", true),
            ("2026-02-17", true),
            ("2026-02-18", true),
            ("2026-04-03", false),
            ("2026-04-21", false),
            ("2026-05-01", false),
            ("2026-06-04", true),
            ("2026-09-07", false),
            ("2026-10-12", false),
            ("2026-11-02", false),
            ("2026-11-15", false),
            ("2026-11-20", false),
            ("2026-12-25", false),
        ];
        assert_eq!(got, want.map(|(d, o)| (d.to_string(), o)).to_vec());
    }

    #[test]
    fn consciencia_negra_is_national_from_2024_only() {
        let has_20_nov = |y: i16| {
            national_holidays(y)
                .iter()
                .any(|h| h.date == date(y, 11, 20))
        };
        assert!(!has_20_nov(2023));
        assert!(has_20_nov(2024));
        assert!(has_20_nov(2025));
    }

    #[test]
    fn movable_holidays_of_2025_follow_easter() {
        let h = national_holidays(2025);
        let on = |name: &str| {
            h.iter()
                .find(|x| x.name.starts_with(name))
                .unwrap()
                .date
                .to_string()
        };
        assert_eq!(on("Carnaval (segunda"), "2025-03-03");
        assert_eq!(on("Sexta-feira Santa"), "2025-04-18");
        assert_eq!(on("Corpus Christi"), "2025-06-19");
    }
}
