//! Sending windows per channel (#22 item 5, docs/delivery.md "Sending windows"): the hours a
//! channel may reach a subscriber. A notice due outside its channel's window waits for the next
//! opening — never dropped, never sent at 23:00.
//!
//! The legal floor for SMS is São Paulo's Lei 15.426/2014, art. 2º: debt-collection calls
//! "de segunda a sexta-feira, das 8h às 20h, e aos sábados, das 8h às 14h, excetuando-se os
//! feriados". The law names calls; Régua applies it to SMS (and WhatsApp, when it lands), which
//! São Paulo's Lei 13.226/2008 (as amended by Lei 17.334/2021) already counts as collection
//! contact by phone. A configured SMS window may be narrower, never wider.

use jiff::civil::{Date, DateTime, Time, Weekday};

use super::schedule::Calendar;

/// The days of a window, Monday first: the written name (Portuguese, as the operator reads it
/// on the page) and the English one the parser also takes.
const DAYS: [(&str, &str, Weekday); 7] = [
    ("seg", "mon", Weekday::Monday),
    ("ter", "tue", Weekday::Tuesday),
    ("qua", "wed", Weekday::Wednesday),
    ("qui", "thu", Weekday::Thursday),
    ("sex", "fri", Weekday::Friday),
    ("sab", "sat", Weekday::Saturday),
    ("dom", "sun", Weekday::Sunday),
];

/// The written form of the legal window: Lei 15.426/2014 (SP), art. 2º.
pub const LEGAL_SMS: &str = "seg-sex 08:00-20:00, sab 08:00-14:00";

/// When a channel may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingWindow {
    /// Per weekday (Monday first): the hours it is open, `[from, to)`; `None`: closed.
    days: [Option<(Time, Time)>; 7],
    /// Open on holidays too.
    holidays: bool,
}

impl SendingWindow {
    /// Any time, any day (e-mail's default).
    pub fn any() -> SendingWindow {
        SendingWindow {
            days: [Some((Time::midnight(), Time::MAX)); 7],
            holidays: true,
        }
    }

    /// Reads `qualquer` (or `any`), or segments `DAYS HH:MM-HH:MM` separated by commas
    /// (`seg-sex 08:00-20:00, sab 08:00-14:00`), with `feriados` (or `holidays`) as a segment of
    /// its own to open on holidays. Days: seg, ter, qua, qui, sex, sab (sáb), dom — or mon … sun
    /// — or a range `seg-sex`.
    pub fn parse(text: &str) -> Result<SendingWindow, String> {
        let text = text.trim().to_lowercase().replace('á', "a");
        if text == "any" || text == "qualquer" {
            return Ok(SendingWindow::any());
        }
        let mut w = SendingWindow {
            days: [None; 7],
            holidays: false,
        };
        for seg in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if seg == "holidays" || seg == "feriados" {
                w.holidays = true;
                continue;
            }
            let (days, hours) = seg
                .split_once(' ')
                .ok_or_else(|| format!("{seg:?}: expected DAYS HH:MM-HH:MM"))?;
            let idx = |d: &str| {
                DAYS.iter()
                    .position(|(pt, en, _)| *pt == d || *en == d)
                    .ok_or_else(|| format!("{d:?} is not a day (seg … dom)"))
            };
            let (a, b) = match days.split_once('-') {
                Some((a, b)) => (idx(a)?, idx(b)?),
                None => (idx(days)?, idx(days)?),
            };
            if b < a {
                return Err(format!("{days:?}: the range runs backwards"));
            }
            let (from, to) = hours
                .trim()
                .split_once('-')
                .ok_or_else(|| format!("{hours:?}: expected HH:MM-HH:MM"))?;
            let time = |t: &str| {
                let t = t.trim();
                if t == "24:00" {
                    return Ok(Time::MAX);
                }
                Time::strptime("%H:%M", t).map_err(|_| format!("{t:?} is not a time HH:MM"))
            };
            let (from, to) = (time(from)?, time(to)?);
            if to <= from {
                return Err(format!("{hours:?}: the end is not after the start"));
            }
            for (slot, (name, _, _)) in w.days[a..=b].iter_mut().zip(&DAYS[a..=b]) {
                if slot.is_some() {
                    return Err(format!("{name} is given twice"));
                }
                *slot = Some((from, to));
            }
        }
        if w.days.iter().all(Option::is_none) {
            return Err("no day is open".into());
        }
        Ok(w)
    }

    /// The legal floor of SMS (and WhatsApp).
    pub fn legal_sms() -> SendingWindow {
        SendingWindow::parse(LEGAL_SMS).expect("the legal window parses")
    }

    /// Whether every hour this window opens, `outer` opens too.
    pub fn within(&self, outer: &SendingWindow) -> bool {
        (!self.holidays || outer.holidays)
            && self
                .days
                .iter()
                .zip(&outer.days)
                .all(|(a, b)| match (a, b) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some((f, t)), Some((of, ot))) => f >= of && t <= ot,
                })
    }

    /// Whether it is open at `at` (local time).
    pub fn open_at(&self, at: DateTime, calendar: &Calendar) -> bool {
        if !self.holidays && calendar.holiday(at.date()).is_some() {
            return false;
        }
        let i = at.date().weekday().to_monday_zero_offset() as usize;
        self.days[i]
            .is_some_and(|(from, to)| at.time() >= from && (at.time() < to || to == Time::MAX))
    }

    /// When it next opens after `at` (local), or `None` when it is open at `at`. Looks up to
    /// 30 days ahead (holidays in a row); `None` past that too (a window that never opens is
    /// refused when it is saved).
    pub fn next_opening(&self, at: DateTime, calendar: &Calendar) -> Option<DateTime> {
        if self.open_at(at, calendar) {
            return None;
        }
        let mut day: Date = at.date();
        for _ in 0..31 {
            let i = day.weekday().to_monday_zero_offset() as usize;
            let holiday = !self.holidays && calendar.holiday(day).is_some();
            if let (Some((from, _)), false) = (self.days[i], holiday) {
                let opening = day.to_datetime(from);
                if opening > at {
                    return Some(opening);
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The written form (`seg-sex 08:00-20:00, sab 08:00-14:00`), as [`SendingWindow::parse`]
    /// reads it.
    pub fn to_text(&self) -> String {
        if *self == SendingWindow::any() {
            return "qualquer".into();
        }
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < 7 {
            let Some(hours) = self.days[i] else {
                i += 1;
                continue;
            };
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == Some(hours) {
                j += 1;
            }
            let days = if i == j {
                DAYS[i].0.to_string()
            } else {
                format!("{}-{}", DAYS[i].0, DAYS[j].0)
            };
            let t = |t: Time| {
                if t == Time::MAX {
                    "24:00".to_string()
                } else {
                    t.strftime("%H:%M").to_string()
                }
            };
            out.push(format!("{days} {}-{}", t(hours.0), t(hours.1)));
            i = j + 1;
        }
        if self.holidays {
            out.push("feriados".into());
        }
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn windows_read_and_write_back() {
        let w = SendingWindow::parse(LEGAL_SMS).unwrap();
        assert_eq!(w.to_text(), LEGAL_SMS);
        assert_eq!(SendingWindow::parse("any").unwrap().to_text(), "qualquer");
        assert_eq!(
            SendingWindow::parse("mon 09:00-18:00, tue-fri 09:00-18:00")
                .unwrap()
                .to_text(),
            "seg-sex 09:00-18:00"
        );
        assert_eq!(
            SendingWindow::parse("Seg-Sex 08:00-20:00, Sáb 08:00-14:00").unwrap(),
            SendingWindow::legal_sms()
        );
        for bad in [
            "",
            "mon",
            "mon 08:00",
            "xyz 08:00-10:00",
            "fri-mon 08:00-10:00",
            "mon 10:00-08:00",
            "mon 08:00-10:00, mon 11:00-12:00",
        ] {
            assert!(SendingWindow::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_sms_window_may_be_narrower_than_the_law_never_wider() {
        let legal = SendingWindow::legal_sms();
        assert!(
            SendingWindow::parse("mon-fri 09:00-18:00")
                .unwrap()
                .within(&legal)
        );
        assert!(
            !SendingWindow::parse("mon-fri 07:00-18:00")
                .unwrap()
                .within(&legal)
        );
        assert!(
            !SendingWindow::parse("mon-fri 09:00-18:00, sun 10:00-12:00")
                .unwrap()
                .within(&legal)
        );
        assert!(
            !SendingWindow::parse("seg-sex 09:00-18:00, feriados")
                .unwrap()
                .within(&legal)
        );
        assert!(!SendingWindow::any().within(&legal));
    }

    #[test]
    fn a_notice_at_21_waits_for_8_the_next_business_day() {
        let w = SendingWindow::legal_sms();
        let cal = Calendar::default();
        // Friday 06/03/2026 21:00 → Saturday 08:00.
        let fri = date(2026, 3, 6).at(21, 0, 0, 0);
        assert_eq!(
            w.next_opening(fri, &cal),
            Some(date(2026, 3, 7).at(8, 0, 0, 0))
        );
        // Saturday 15:00 → Monday 08:00 (no Sunday).
        let sat = date(2026, 3, 7).at(15, 0, 0, 0);
        assert_eq!(
            w.next_opening(sat, &cal),
            Some(date(2026, 3, 9).at(8, 0, 0, 0))
        );
        // Open at 08:00 and 19:59, closed at 20:00.
        assert_eq!(w.next_opening(date(2026, 3, 9).at(8, 0, 0, 0), &cal), None);
        assert_eq!(
            w.next_opening(date(2026, 3, 9).at(19, 59, 0, 0), &cal),
            None
        );
        assert!(
            w.next_opening(date(2026, 3, 9).at(20, 0, 0, 0), &cal)
                .is_some()
        );
        // Tiradentes (Tuesday 21/04/2026) is a holiday: Monday 21:00 → Wednesday 08:00.
        let mon = date(2026, 4, 20).at(21, 0, 0, 0);
        assert_eq!(
            w.next_opening(mon, &cal),
            Some(date(2026, 4, 22).at(8, 0, 0, 0))
        );
        // E-mail: any time.
        assert_eq!(SendingWindow::any().next_opening(fri, &cal), None);
    }
}

/// The channels whose window is closed now: when each opens (ms) and what the log says
/// meanwhile. Built by the worker before each claim; the claim holds their notices back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosedChannels(Vec<(super::delivery::Channel, i64, String)>);

/// What a notice waiting for its channel's window shows on the log: the prefix the dashboard
/// counts by.
pub const WAITING_PREFIX: &str = "aguardando a janela de envio";

impl ClosedChannels {
    /// The closed channels at the clock's now, given each channel's window.
    pub fn at(
        clock: &super::Clock,
        windows: &[(super::delivery::Channel, SendingWindow)],
        calendar: &Calendar,
    ) -> ClosedChannels {
        let tz = clock.time_zone();
        ClosedChannels(
            windows
                .iter()
                .filter_map(|(c, w)| {
                    let opens = w.next_opening(clock.local_now(), calendar)?;
                    let ms = tz.to_timestamp(opens).ok()?.as_millisecond();
                    Some((
                        *c,
                        ms,
                        format!(
                            "{WAITING_PREFIX} do {} (abre {})",
                            c.label_pt(),
                            opens.strftime("%d/%m/%Y às %H:%M")
                        ),
                    ))
                })
                .collect(),
        )
    }

    /// When `channel` opens and why it waits, while it is closed.
    pub fn until(&self, channel: super::delivery::Channel) -> Option<(i64, &str)> {
        self.0
            .iter()
            .find(|(c, _, _)| *c == channel)
            .map(|(_, ms, why)| (*ms, why.as_str()))
    }
}
