//! Calendar dates in the ISP's time zone: parsing the two forms ERPs export, showing
//! `dd/mm/aaaa`, clamping a due day to the month, and the one clock the app reads.

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Parses `2026-03-05` or `05/03/2026`.
pub fn parse_date(input: &str) -> Result<Date, String> {
    let s = input.trim();
    if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a date (use dd/mm/aaaa or aaaa-mm-dd)"))?;
        let num = |p: &str| {
            p.parse::<i16>()
                .map_err(|_| format!("{s:?} is not a date (use dd/mm/aaaa or aaaa-mm-dd)"))
        };
        if y.len() != 4 {
            return Err(format!("{s:?}: the year must have four digits"));
        }
        Date::new(num(y)?, num(m)? as i8, num(d)? as i8)
            .map_err(|_| format!("{s:?} is not a valid calendar date"))
    } else {
        if s.len() != 10 {
            return Err(format!(
                "{s:?} is not a date (use dd/mm/aaaa or aaaa-mm-dd)"
            ));
        }
        s.parse::<Date>()
            .map_err(|_| format!("{s:?} is not a valid date (use dd/mm/aaaa or aaaa-mm-dd)"))
    }
}

/// The due date of a month for a contract's due day: the day itself, or the month's last day
/// when the month is shorter (due day 31 in February → 28 or 29).
pub fn due_date_in_month(year: i16, month: i8, due_day: u8) -> Date {
    let first = Date::new(year, month, 1).expect("valid month");
    let day = (due_day as i8).min(first.days_in_month());
    Date::new(year, month, day).expect("clamped day")
}

/// The one place the application reads "now". Tests and `--date` flags fix it.
#[derive(Debug, Clone)]
pub struct Clock {
    tz: TimeZone,
    fixed: Option<jiff::Timestamp>,
}

impl Clock {
    /// A clock reading the system time, in the given IANA time zone.
    pub fn system(tz_name: &str) -> Result<Self, String> {
        let tz =
            TimeZone::get(tz_name).map_err(|e| format!("unknown time zone {tz_name:?}: {e}"))?;
        Ok(Clock { tz, fixed: None })
    }

    /// A clock stopped at `at`, for tests and simulations.
    pub fn fixed(tz_name: &str, at: jiff::Timestamp) -> Result<Self, String> {
        Ok(Clock {
            fixed: Some(at),
            ..Self::system(tz_name)?
        })
    }

    /// A clock stopped at noon of `date` in the zone.
    pub fn at_date(tz_name: &str, date: Date) -> Result<Self, String> {
        let tz =
            TimeZone::get(tz_name).map_err(|e| format!("unknown time zone {tz_name:?}: {e}"))?;
        let at = date
            .at(12, 0, 0, 0)
            .to_zoned(tz.clone())
            .map_err(|e| e.to_string())?
            .timestamp();
        Ok(Clock {
            tz,
            fixed: Some(at),
        })
    }

    /// The current instant.
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    pub fn now(&self) -> jiff::Timestamp {
        self.fixed.unwrap_or_else(jiff::Timestamp::now)
    }

    /// Today's date in the ISP's time zone.
    pub fn today(&self) -> Date {
        self.now().to_zoned(self.tz.clone()).date()
    }

    /// The current date and time on the ISP's wall clock.
    pub fn local_now(&self) -> jiff::civil::DateTime {
        self.now().to_zoned(self.tz.clone()).datetime()
    }

    /// The ISP's time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// A clock stopped `millis` after this one's now (tests that let time pass).
    pub fn later_by_millis(&self, millis: i64) -> Clock {
        Clock {
            tz: self.tz.clone(),
            fixed: Some(
                jiff::Timestamp::from_millisecond(self.now_millis() + millis)
                    .unwrap_or_else(|_| self.now()),
            ),
        }
    }

    /// Milliseconds since the Unix epoch, as stored in `*_at` columns.
    pub fn now_millis(&self) -> i64 {
        self.now().as_millisecond()
    }

    /// The instant a date starts in the ISP's time zone, in milliseconds (day filters, "today").
    pub fn start_of_day_ms(&self, date: Date) -> Result<i64, jiff::Error> {
        Ok(date.to_zoned(self.tz.clone())?.timestamp().as_millisecond())
    }

    /// The calendar date, in the ISP's time zone, of a stored instant (ms).
    pub fn date_of_millis(&self, ms: i64) -> Result<Date, jiff::Error> {
        Ok(jiff::Timestamp::from_millisecond(ms)?
            .to_zoned(self.tz.clone())
            .date())
    }

    /// A stored instant (ms) as the ISP's local time, `strftime`-formatted; empty if out of range.
    pub fn local_time(&self, ms: i64, format: &str) -> String {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(self.tz.clone()).strftime(format).to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format_date;
    use jiff::civil::date;

    #[test]
    fn due_day_is_clamped_to_the_end_of_short_months() {
        assert_eq!(due_date_in_month(2026, 2, 31), date(2026, 2, 28));
        assert_eq!(due_date_in_month(2028, 2, 31), date(2028, 2, 29));
        assert_eq!(due_date_in_month(2028, 2, 30), date(2028, 2, 29));
        assert_eq!(due_date_in_month(2026, 4, 31), date(2026, 4, 30));
        assert_eq!(due_date_in_month(2026, 1, 31), date(2026, 1, 31));
        assert_eq!(due_date_in_month(2026, 2, 10), date(2026, 2, 10));
    }

    #[test]
    fn dates_parse_in_both_forms_and_show_brazilian() {
        assert_eq!(parse_date("2026-03-05").unwrap(), date(2026, 3, 5));
        assert_eq!(parse_date("05/03/2026").unwrap(), date(2026, 3, 5));
        assert!(parse_date("31/02/2026").is_err());
        assert!(parse_date("2026-3-5").is_err());
        assert!(parse_date("05/03/26").is_err());
        assert_eq!(format_date(date(2026, 3, 5)), "05/03/2026");
    }

    #[test]
    fn today_is_taken_in_the_isp_time_zone() {
        // 02:00 UTC on 1 March is still 28 February in São Paulo (UTC-3).
        let at: jiff::Timestamp = "2026-03-01T02:00:00Z".parse().unwrap();
        assert_eq!(
            Clock::fixed("America/Sao_Paulo", at).unwrap().today(),
            date(2026, 2, 28)
        );
        assert_eq!(Clock::fixed("UTC", at).unwrap().today(), date(2026, 3, 1));
    }
}
