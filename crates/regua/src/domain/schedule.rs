//! Routines ("rotinas") and the calendar they run by: which weekdays, what time of day in the
//! ISP's time zone, and whether they run on holidays. Pure: the scheduler inside `regua serve`
//! asks [`due_now`] every tick, and `regua routine run` ignores the calendar (an operator who
//! runs a routine by hand means it).
//!
//! Holidays are the national ones ([`national_holidays`]) plus the ones the ISP adds (one-off
//! or yearly, for its state or city: the ISP adds only those that apply where it works, so every
//! added holiday counts). The optional national ones ("ponto facultativo": Carnival, Ash
//! Wednesday, Corpus Christi) count only when the setting `routine_optional_holidays` is `yes`.

use jiff::civil::{Date, DateTime, Time, Weekday};

use super::holidays::national_holidays;

/// What a routine does. Only one task exists: the régua itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Plan the day by the send rules and overdue bands, and enqueue the notices.
    SendEmails,
}

impl Task {
    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::SendEmails => "send_emails",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "send_emails" => Ok(Task::SendEmails),
            other => Err(format!("{other:?} is not a task (known: send_emails)")),
        }
    }
}

id_type!(
    /// Primary key of a routine (rotina).
    RoutineId,
    /// Primary key of a holiday of the ISP's calendar.
    HolidayId,
);

/// A stored routine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routine {
    /// Key.
    pub id: RoutineId,
    /// Unique name ("Cobrança diária").
    pub name: String,
    /// What it does.
    pub task: Task,
    /// The weekdays it runs on, Monday first.
    pub weekdays: Vec<Weekday>,
    /// The time of day it runs at, in the ISP's time zone.
    pub time: Time,
    /// Whether it runs on holidays.
    pub run_on_holidays: bool,
    /// Removed routines stay (their runs name them) but never run.
    pub active: bool,
}

const WEEKDAY_NAMES: [(Weekday, &str, &str); 7] = [
    (Weekday::Monday, "mon", "seg"),
    (Weekday::Tuesday, "tue", "ter"),
    (Weekday::Wednesday, "wed", "qua"),
    (Weekday::Thursday, "thu", "qui"),
    (Weekday::Friday, "fri", "sex"),
    (Weekday::Saturday, "sat", "sab"),
    (Weekday::Sunday, "sun", "dom"),
];

/// Parses a weekday list: names in English or Portuguese (`mon,tue`, `seg,ter,qua`), ISO
/// numbers (`1,2,3`, Monday = 1), ranges of either (`mon-fri`, `1-5`), or `all`.
pub fn parse_weekdays(input: &str) -> Result<Vec<Weekday>, String> {
    let one = |s: &str| -> Result<Weekday, String> {
        let s = s.trim().to_lowercase();
        let s = s.replace('á', "a");
        if let Ok(n) = s.parse::<i8>() {
            return Weekday::from_monday_one_offset(n)
                .map_err(|_| format!("{s:?}: weekday numbers go from 1 (Monday) to 7 (Sunday)"));
        }
        WEEKDAY_NAMES
            .iter()
            .find(|(_, en, pt)| s.starts_with(en) || s.starts_with(pt))
            .map(|(w, _, _)| *w)
            .ok_or_else(|| format!("{s:?} is not a weekday (mon..sun, seg..dom or 1..7)"))
    };
    let mut days = Vec::new();
    if input.trim() == "all" {
        days.extend(WEEKDAY_NAMES.iter().map(|(w, _, _)| *w));
    }
    for part in input.split(',').filter(|p| !p.trim().is_empty()) {
        if part.trim() == "all" {
            continue;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                let (a, b) = (a.to_monday_one_offset(), b.to_monday_one_offset());
                if a > b {
                    return Err(format!("{part:?}: a range goes from Monday towards Sunday"));
                }
                for n in a..=b {
                    days.push(Weekday::from_monday_one_offset(n).expect("1..=7"));
                }
            }
            None => days.push(one(part)?),
        }
    }
    days.sort_by_key(|w| w.to_monday_one_offset());
    days.dedup();
    if days.is_empty() {
        return Err("no weekday given".into());
    }
    Ok(days)
}

/// `mon,tue,wed`: the stored form and the list's column.
pub fn format_weekdays(days: &[Weekday]) -> String {
    days.iter()
        .map(|d| {
            WEEKDAY_NAMES
                .iter()
                .find(|(w, _, _)| w == d)
                .map_or("?", |(_, en, _)| en)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A weekday list as a page shows it: `segunda a sexta`, `todos os dias`, or the days'
/// Portuguese abbreviations (`seg, qua, sex`).
pub fn weekdays_pt(days: &[Weekday]) -> String {
    let mut sorted = days.to_vec();
    sorted.sort_by_key(|d| d.to_monday_one_offset());
    sorted.dedup();
    let all = WEEKDAY_NAMES.map(|(w, _, _)| w);
    if sorted == all {
        return "todos os dias".into();
    }
    if sorted == all[..5] {
        return "segunda a sexta".into();
    }
    sorted
        .iter()
        .map(|d| {
            WEEKDAY_NAMES
                .iter()
                .find(|(w, _, _)| w == d)
                .map_or("?", |(_, _, pt)| pt)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The weekdays a routine form offers, Monday first: (value, label).
pub const WEEKDAYS_PT: [(&str, &str); 7] = [
    ("seg", "Segunda"),
    ("ter", "Terça"),
    ("qua", "Quarta"),
    ("qui", "Quinta"),
    ("sex", "Sexta"),
    ("sab", "Sábado"),
    ("dom", "Domingo"),
];

/// Parses `HH:MM:SS` (or `HH:MM`).
pub fn parse_time_of_day(input: &str) -> Result<Time, String> {
    let s = input.trim();
    let parts: Vec<&str> = s.split(':').collect();
    let num = |p: &str, max: i8| -> Result<i8, String> {
        p.parse::<i8>()
            .ok()
            .filter(|n| (0..=max).contains(n) && p.len() == 2)
            .ok_or_else(|| format!("{s:?} is not a time of day (use HH:MM:SS)"))
    };
    match parts[..] {
        [h, m] => Time::new(num(h, 23)?, num(m, 59)?, 0, 0).map_err(|e| e.to_string()),
        [h, m, sec] => {
            Time::new(num(h, 23)?, num(m, 59)?, num(sec, 59)?, 0).map_err(|e| e.to_string())
        }
        _ => Err(format!("{s:?} is not a time of day (use HH:MM:SS)")),
    }
}

/// Where a holiday the ISP adds applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayScope {
    /// The whole country (a national holiday decreed for one year, say).
    National,
    /// A state ("SP").
    State,
    /// A city ("Campinas/SP").
    City,
}

impl HolidayScope {
    /// The stored and CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            HolidayScope::National => "national",
            HolidayScope::State => "state",
            HolidayScope::City => "city",
        }
    }
}

impl std::str::FromStr for HolidayScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "national" => Ok(HolidayScope::National),
            "state" => Ok(HolidayScope::State),
            "city" => Ok(HolidayScope::City),
            other => Err(format!("{other:?} is not one of: national, state, city")),
        }
    }
}

/// A holiday the ISP added ("feriados").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IspHoliday {
    /// Key.
    pub id: HolidayId,
    /// The date (for a yearly holiday, its first year; day and month repeat).
    pub date: Date,
    /// Its name.
    pub name: String,
    /// Every year on that day and month.
    pub yearly: bool,
    /// National, state or city.
    pub scope: HolidayScope,
    /// The state or city ("SP", "Campinas/SP"); empty for national.
    pub place: String,
}

impl IspHoliday {
    /// Whether it falls on `d`. A yearly 29 February falls only in leap years.
    pub fn falls_on(&self, d: Date) -> bool {
        if self.yearly {
            d.year() >= self.date.year()
                && d.month() == self.date.month()
                && d.day() == self.date.day()
        } else {
            d == self.date
        }
    }
}

/// The calendar routines check: national holidays, the ISP's, and whether optional ones count.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// The ISP's holidays.
    pub isp: Vec<IspHoliday>,
    /// Count "ponto facultativo" days as holidays.
    pub optional_are_holidays: bool,
}

impl Calendar {
    /// The holiday on `d`, by name, if `d` is one for routines.
    pub fn holiday(&self, d: Date) -> Option<String> {
        if let Some(h) = national_holidays(d.year())
            .into_iter()
            .find(|h| h.date == d && (self.optional_are_holidays || !h.optional))
        {
            return Some(h.name.to_string());
        }
        self.isp
            .iter()
            .find(|h| h.falls_on(d))
            .map(|h| h.name.clone())
    }

    /// Every holiday of a year, national and the ISP's, in date order: (date, name, note).
    pub fn year(&self, year: i16) -> Vec<(Date, String, &'static str)> {
        let mut out: Vec<(Date, String, &'static str)> = national_holidays(year)
            .into_iter()
            .map(|h| {
                let note = if h.optional { "ponto facultativo" } else { "" };
                (h.date, h.name.to_string(), note)
            })
            .collect();
        for h in &self.isp {
            let d = if h.yearly {
                if year < h.date.year() {
                    continue;
                }
                match Date::new(year, h.date.month(), h.date.day()) {
                    Ok(d) => d,
                    Err(_) => continue,
                }
            } else if h.date.year() == year {
                h.date
            } else {
                continue;
            };
            let note = match h.scope {
                HolidayScope::National => "nacional (provedor)",
                HolidayScope::State => "estadual",
                HolidayScope::City => "municipal",
            };
            out.push((d, h.name.clone(), note));
        }
        out.sort_by_key(|(d, _, _)| *d);
        out
    }
}

/// Why a routine does or does not run at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// It runs now, for this date.
    Run(Date),
    /// Not today: wrong weekday, inactive, or already ran today.
    No,
    /// Today is a holiday and the routine does not run on holidays.
    Holiday(String),
}

/// Whether `routine` should run at `now` (the ISP's local time): an active routine, on one of
/// its weekdays, at or after its time of day, not yet run that date (`ran_today`), and not on a
/// holiday unless it runs on holidays. A scheduler that was down at the routine's time runs it
/// when it comes back the same day; the days it missed are caught up by the planner's window.
pub fn due_now(routine: &Routine, now: DateTime, calendar: &Calendar, ran_today: bool) -> Due {
    let today = now.date();
    if !routine.active
        || ran_today
        || !routine.weekdays.contains(&today.weekday())
        || now.time() < routine.time
    {
        return Due::No;
    }
    if !routine.run_on_holidays
        && let Some(name) = calendar.holiday(today)
    {
        return Due::Holiday(name);
    }
    Due::Run(today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn routine() -> Routine {
        Routine {
            id: RoutineId(1),
            name: "Cobrança".into(),
            task: Task::SendEmails,
            weekdays: parse_weekdays("mon-fri").unwrap(),
            time: time(8, 0, 0, 0),
            run_on_holidays: false,
            active: true,
        }
    }

    #[test]
    fn weekday_lists_parse_in_both_languages_and_as_numbers() {
        use Weekday::*;
        assert_eq!(
            parse_weekdays("mon-fri").unwrap(),
            [Monday, Tuesday, Wednesday, Thursday, Friday]
        );
        assert_eq!(
            parse_weekdays("seg,qua,sex").unwrap(),
            [Monday, Wednesday, Friday]
        );
        assert_eq!(parse_weekdays("6,7").unwrap(), [Saturday, Sunday]);
        assert_eq!(parse_weekdays("sáb,dom").unwrap(), [Saturday, Sunday]);
        assert_eq!(parse_weekdays("all").unwrap().len(), 7);
        assert_eq!(
            format_weekdays(&parse_weekdays("1-3").unwrap()),
            "mon,tue,wed"
        );
        assert!(parse_weekdays("fri-mon").is_err());
        assert!(parse_weekdays("8").is_err());
        assert!(parse_weekdays("funday").is_err());
        assert!(parse_weekdays("").is_err());
    }

    #[test]
    fn times_of_day_need_two_digit_fields() {
        assert_eq!(parse_time_of_day("08:30:00").unwrap(), time(8, 30, 0, 0));
        assert_eq!(parse_time_of_day("23:59").unwrap(), time(23, 59, 0, 0));
        for bad in ["24:00:00", "8:00", "08:60:00", "08:00:00:00", "oito"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_routine_runs_on_its_weekdays_after_its_time_once_a_day() {
        let r = routine();
        let cal = Calendar::default();
        // Monday 23/11/2026.
        let monday = date(2026, 11, 23);
        assert_eq!(due_now(&r, monday.at(7, 59, 59, 0), &cal, false), Due::No);
        assert_eq!(
            due_now(&r, monday.at(8, 0, 0, 0), &cal, false),
            Due::Run(monday)
        );
        assert_eq!(
            due_now(&r, monday.at(22, 0, 0, 0), &cal, false),
            Due::Run(monday)
        );
        assert_eq!(due_now(&r, monday.at(9, 0, 0, 0), &cal, true), Due::No);
        // Saturday.
        assert_eq!(
            due_now(&r, date(2026, 11, 28).at(9, 0, 0, 0), &cal, false),
            Due::No
        );
        let inactive = Routine { active: false, ..r };
        assert_eq!(
            due_now(&inactive, monday.at(9, 0, 0, 0), &cal, false),
            Due::No
        );
    }

    #[test]
    fn holidays_stop_a_routine_unless_it_runs_on_holidays() {
        let r = routine();
        let mut cal = Calendar::default();
        // Friday 20/11/2026: Consciência Negra.
        let friday = date(2026, 11, 20).at(9, 0, 0, 0);
        assert!(matches!(due_now(&r, friday, &cal, false), Due::Holiday(n) if n.contains("Zumbi")));
        let on_holidays = Routine {
            run_on_holidays: true,
            ..r.clone()
        };
        assert_eq!(
            due_now(&on_holidays, friday, &cal, false),
            Due::Run(friday.date())
        );
        // Carnival Monday 2026 (16/02) is optional: a holiday only when the ISP says so.
        let carnival = date(2026, 2, 16).at(9, 0, 0, 0);
        assert_eq!(
            due_now(&r, carnival, &cal, false),
            Due::Run(carnival.date())
        );
        cal.optional_are_holidays = true;
        assert!(matches!(
            due_now(&r, carnival, &cal, false),
            Due::Holiday(_)
        ));
        // The ISP's city holiday, yearly from 2020: 14/07 (Tuesday in 2026).
        cal.isp.push(IspHoliday {
            id: HolidayId(1),
            date: date(2020, 7, 14),
            name: "Aniversário da cidade".into(),
            yearly: true,
            scope: HolidayScope::City,
            place: "Campinas/SP".into(),
        });
        assert!(matches!(
            due_now(&r, date(2026, 7, 14).at(9, 0, 0, 0), &cal, false),
            Due::Holiday(n) if n == "Aniversário da cidade"
        ));
        assert_eq!(
            cal.holiday(date(2019, 7, 14)),
            None,
            "before its first year"
        );
        // One-off.
        cal.isp.push(IspHoliday {
            id: HolidayId(2),
            date: date(2026, 12, 24),
            name: "Véspera de Natal".into(),
            yearly: false,
            scope: HolidayScope::State,
            place: "SP".into(),
        });
        assert!(cal.holiday(date(2026, 12, 24)).is_some());
        assert_eq!(cal.holiday(date(2027, 12, 24)), None);
        let year = cal.year(2026);
        assert!(year.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(year.iter().any(|(d, n, note)| *d == date(2026, 7, 14)
            && n == "Aniversário da cidade"
            && *note == "municipal"));
    }
}
