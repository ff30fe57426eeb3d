//! The retry policy: which failures are worth another try, and when. Transient failures (SMTP
//! 4xx, timeouts, refused or dropped connections, TLS trouble) wait 1 minute, then 2, 4, … up to
//! 4 hours; after [`MAX_ATTEMPTS`] the notice is dead. Permanent failures (5xx, an address the
//! server or the message builder rejects) are dead at once.

/// Attempts before a transiently failing notice is given up.
pub const MAX_ATTEMPTS: u32 = 12;

const FIRST_DELAY_MS: i64 = 60_000;
const MAX_DELAY_MS: i64 = 4 * 3_600_000;

/// A failed attempt, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth retrying.
    Transient {
        /// Reply code, if the server answered.
        code: Option<u16>,
        /// What happened.
        text: String,
    },
    /// Retrying cannot help.
    Permanent {
        /// Reply code, if the server answered.
        code: Option<u16>,
        /// What happened.
        text: String,
    },
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff_ms(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (FIRST_DELAY_MS << doublings).min(MAX_DELAY_MS)
}

/// Classifies an SMTP client error from lettre.
pub fn classify_smtp(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| {
        let s = c.to_string();
        s.parse::<u16>().unwrap_or(0)
    });
    let text = error_chain(e);
    if e.is_permanent() {
        Failure::Permanent { code, text }
    } else {
        // 4xx, timeouts, connection refused or dropped, TLS, unparsable replies.
        Failure::Transient { code, text }
    }
}

impl Failure {
    /// Our own failure (database, PDF, a secret that cannot be opened): worth retrying like a
    /// transient one.
    pub fn ours(e: &anyhow::Error) -> Failure {
        Failure::Transient {
            code: None,
            text: format!("{e:#}"),
        }
    }
}

/// Classifies an HTTP reply that is not a success (SMS gateways, FCM): 408, 429 and 5xx are
/// transient, other statuses permanent.
pub fn classify_http(status: u16, text: String) -> Failure {
    if status == 408 || status == 429 || status >= 500 {
        Failure::Transient {
            code: Some(status),
            text,
        }
    } else {
        Failure::Permanent {
            code: Some(status),
            text,
        }
    }
}

/// An error with its sources, on one line, for the log.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_minute_and_stops_at_four_hours() {
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(2), 120_000);
        assert_eq!(backoff_ms(3), 240_000);
        assert_eq!(backoff_ms(8), 128 * 60_000);
        assert_eq!(backoff_ms(9), 4 * 3_600_000);
        assert_eq!(backoff_ms(11), 4 * 3_600_000);
        assert_eq!(backoff_ms(40), 4 * 3_600_000);
    }
}
