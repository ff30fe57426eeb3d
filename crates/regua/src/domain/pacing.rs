//! Pacing per recipient domain (docs/bounces.md): how many messages a minute a group of
//! mailbox domains gets, which group an address falls in, what counts as a throttling answer
//! and how long it pauses sending.

/// A pacing rule: a group of domains and its messages per minute (all accounts together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacingRule {
    /// The group's name (`gmail`).
    pub name: String,
    /// Its domains, lower-case.
    pub domains: Vec<String>,
    /// Messages a minute.
    pub per_minute: i64,
}

/// The pause after the first throttling answer; each further one while paused doubles it.
pub const FIRST_PAUSE_MS: i64 = 60_000;
/// The longest pause.
pub const MAX_PAUSE_MS: i64 = 30 * 60_000;

/// The key an address is paced and paused under: its rule's name when a rule lists its domain,
/// else the domain itself (so a throttle from one unlisted domain pauses only that one).
/// The rule, when there is one.
pub fn key_for<'a>(rules: &'a [PacingRule], address: &str) -> (String, Option<&'a PacingRule>) {
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('>').to_ascii_lowercase())
        .unwrap_or_default();
    match rules.iter().find(|r| r.domains.contains(&domain)) {
        Some(r) => (r.name.clone(), Some(r)),
        None => (domain, None),
    }
}

/// Whether an SMTP answer says "slow down": reply code 421, or an enhanced status in class
/// 4.7 (RFC 3463 § 3.8, security or policy status; Gmail's 4.7.28 and Outlook's 4.7.650 rate
/// answers are of it).
pub fn is_throttle(code: Option<u16>, text: &str) -> bool {
    code == Some(421)
        || text.split_whitespace().any(|w| {
            w.strip_prefix("4.7.").is_some_and(|rest| {
                let digits = rest.trim_end_matches(|c: char| !c.is_ascii_digit());
                !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
            })
        })
}

/// The pause after the `strikes`-th throttling answer in a row.
pub fn pause_ms(strikes: i64) -> i64 {
    let doublings = u32::try_from((strikes - 1).clamp(0, 10)).unwrap_or(0);
    (FIRST_PAUSE_MS << doublings).min(MAX_PAUSE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<PacingRule> {
        vec![PacingRule {
            name: "gmail".into(),
            domains: vec!["gmail.com".into(), "googlemail.com".into()],
            per_minute: 600,
        }]
    }

    #[test]
    fn an_address_is_paced_under_its_group_or_its_own_domain() {
        let r = rules();
        assert_eq!(key_for(&r, "Maria@GMAIL.com").0, "gmail");
        assert_eq!(
            key_for(&r, "joao@googlemail.com").1.map(|r| r.per_minute),
            Some(600)
        );
        assert_eq!(
            key_for(&r, "ana@exemplo.com.br"),
            ("exemplo.com.br".to_string(), None)
        );
    }

    #[test]
    fn throttling_answers_are_421_or_class_4_7() {
        assert!(is_throttle(Some(421), "4.4.2 Timeout"));
        assert!(is_throttle(
            Some(451),
            "4.7.28 Our system has detected an unusual rate of unsolicited mail"
        ));
        assert!(is_throttle(
            Some(450),
            "451 4.7.650 The mail server has been temporarily rate limited"
        ));
        assert!(!is_throttle(Some(451), "4.3.0 Temporary system problem"));
        assert!(!is_throttle(Some(452), "4.2.2 Mailbox full"));
        assert!(!is_throttle(None, "connection refused"));
    }

    #[test]
    fn each_throttle_in_a_row_doubles_the_pause_up_to_half_an_hour() {
        assert_eq!(pause_ms(1), 60_000);
        assert_eq!(pause_ms(2), 120_000);
        assert_eq!(pause_ms(5), 16 * 60_000);
        assert_eq!(pause_ms(6), 30 * 60_000);
        assert_eq!(pause_ms(40), 30 * 60_000);
    }
}
