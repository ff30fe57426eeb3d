//! An e-mail account's or SMS gateway's sending limits: at most so many messages in any rolling
//! hour and any rolling day. The arithmetic lives here once — the claim's capacity
//! (`store::outbox::claim_due_notices`), the régua's "does the day fit" warning, the dashboard's "near
//! the limit" — so the three cannot disagree.

/// A rolling hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// A rolling day, in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The share of a limit at which the dashboard shows an account in amber (80 %).
const NEAR_PERCENT: i64 = 80;

/// An account's or gateway's limits (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendLimits {
    /// Messages in any rolling hour.
    pub hourly: Option<u32>,
    /// Messages in any rolling day.
    pub daily: Option<u32>,
}

/// What was sent in the last hour and the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// In the last rolling hour.
    pub hour: i64,
    /// In the last rolling day.
    pub day: i64,
}

impl SendLimits {
    /// Each limit with the length of its window, hour first.
    pub fn windows(self) -> [(Option<u32>, i64); 2] {
        [(self.hourly, HOUR_MS), (self.daily, DAY_MS)]
    }

    /// What is left in the hour and in the day (`None`: unlimited), never below zero.
    pub fn left(self, used: Usage) -> (Option<i64>, Option<i64>) {
        let left = |limit: Option<u32>, used: i64| limit.map(|l| (i64::from(l) - used).max(0));
        (left(self.hourly, used.hour), left(self.daily, used.day))
    }

    /// Whether either window is at 80 % of its limit or more.
    pub fn near(self, used: Usage) -> bool {
        let near = |limit: Option<u32>, used: i64| {
            limit.is_some_and(|l| used * 100 >= i64::from(l) * NEAR_PERCENT)
        };
        near(self.hourly, used.hour) || near(self.daily, used.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_and_how_near_the_limit_is() {
        let limits = SendLimits {
            hourly: Some(10),
            daily: None,
        };
        assert_eq!(limits.left(Usage { hour: 3, day: 50 }), (Some(7), None));
        assert_eq!(limits.left(Usage { hour: 12, day: 0 }), (Some(0), None));
        assert!(!limits.near(Usage { hour: 7, day: 1000 }));
        assert!(limits.near(Usage { hour: 8, day: 0 }));
        assert!(!SendLimits::default().near(Usage {
            hour: 1_000_000,
            day: 1_000_000
        }));
        assert_eq!(limits.windows(), [(Some(10), HOUR_MS), (None, DAY_MS)]);
    }
}
