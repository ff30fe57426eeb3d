//! Pacing rules per recipient domain, their ledger, and the pauses throttling answers cause
//! (docs/bounces.md). The claim (`outbox::claim_notices`) reads them; `finish_attempts`
//! records pauses.

use sqlx::{AnyConnection, Row as _};

use super::Backend;
use crate::domain::pacing::{PacingRule, key_for, pause_ms};

/// How long after a pause ends a new throttling answer still counts as "in a row".
const STRIKE_MEMORY_MS: i64 = 10 * 60_000;

/// Every rule, by name.
pub async fn list_rules(conn: &mut AnyConnection) -> anyhow::Result<Vec<PacingRule>> {
    let rows = sqlx::query("SELECT name, domains, per_minute FROM domain_pacing ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PacingRule {
                name: r.try_get("name")?,
                domains: r
                    .try_get::<String, _>("domains")?
                    .split(',')
                    .map(|d| d.trim().to_ascii_lowercase())
                    .filter(|d| !d.is_empty())
                    .collect(),
                per_minute: r.try_get("per_minute")?,
            })
        })
        .collect()
}

/// Adds or replaces a rule.
pub async fn set_rule(conn: &mut AnyConnection, rule: &PacingRule) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO domain_pacing (name, domains, per_minute) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET domains = $2, per_minute = $3",
    )
    .bind(&rule.name)
    .bind(rule.domains.join(","))
    .bind(rule.per_minute)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a rule; false when there was none.
pub async fn remove_rule(conn: &mut AnyConnection, name: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM domain_pacing WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0)
}

/// What a paced group can still take in the current minute.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// Messages it may still start now.
    pub left: i64,
    /// When a slot frees up.
    pub opening: i64,
}

/// The group's window now, its rule row locked (PostgreSQL) so claims on several workers
/// serialise per group.
pub(super) async fn window(
    conn: &mut AnyConnection,
    backend: Backend,
    rule: &PacingRule,
    now_ms: i64,
) -> anyhow::Result<Window> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT name FROM domain_pacing WHERE name = $1 FOR UPDATE")
            .bind(&rule.name)
            .execute(&mut *conn)
            .await?;
    }
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(sent_at) FROM domain_sends WHERE pacing = $1 AND sent_at > $2",
    )
    .bind(&rule.name)
    .bind(now_ms - 60_000)
    .fetch_one(&mut *conn)
    .await?;
    let used: i64 = row.try_get(0)?;
    let oldest: Option<i64> = row.try_get(1)?;
    Ok(Window {
        left: (rule.per_minute - used).max(0),
        opening: oldest.map_or(now_ms, |o| o + 60_000 + 1),
    })
}

/// Records claimed messages against their groups' minute.
pub(super) async fn record_sends(
    conn: &mut AnyConnection,
    sends: &[(String, i64)],
    now_ms: i64,
) -> anyhow::Result<()> {
    // One statement per batch, as the accounts' ledger is written (outbox::claim_notices).
    for chunk in sends.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|k| format!("(${}, ${}, ${})", 3 * k + 1, 3 * k + 2, 3 * k + 3))
            .collect();
        let sql = format!(
            "INSERT INTO domain_sends (pacing, notice_id, sent_at) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (pacing, notice) in chunk {
            q = q.bind(pacing).bind(*notice).bind(now_ms);
        }
        q.execute(&mut *conn).await?;
    }
    // The ledger only matters for the last minute; pruned per group, which the
    // (pacing, sent_at) index serves.
    let mut groups: Vec<&str> = sends.iter().map(|(p, _)| p.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    for pacing in groups {
        sqlx::query("DELETE FROM domain_sends WHERE pacing = $1 AND sent_at < $2")
            .bind(pacing)
            .bind(now_ms - 3_600_000)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A pause in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The account paused.
    pub account_id: i64,
    /// The domain or group.
    pub domain_key: String,
    /// Until when (ms).
    pub until: i64,
    /// Throttling answers in a row.
    pub strikes: i64,
    /// The server's words.
    pub reason: String,
}

/// The pauses still in force at `now_ms`.
pub async fn pauses_in_force(conn: &mut AnyConnection, now_ms: i64) -> anyhow::Result<Vec<Pause>> {
    let rows = sqlx::query(
        "SELECT account_id, domain_key, until, strikes, reason FROM domain_pauses WHERE until > $1 ORDER BY until",
    )
    .bind(now_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pause {
                account_id: r.try_get("account_id")?,
                domain_key: r.try_get("domain_key")?,
                until: r.try_get("until")?,
                strikes: r.try_get("strikes")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// A throttling answer from `account`'s server about `recipient`: pauses the account's sends
/// to its domain (group), longer for each one in a row. The pause's end.
pub(super) async fn record_throttle(
    conn: &mut AnyConnection,
    rules: &[PacingRule],
    account_id: i64,
    recipient: &str,
    reason: &str,
    now_ms: i64,
) -> anyhow::Result<i64> {
    let (key, _) = key_for(rules, recipient);
    let previous = sqlx::query(
        "SELECT until, strikes FROM domain_pauses WHERE account_id = $1 AND domain_key = $2",
    )
    .bind(account_id)
    .bind(&key)
    .fetch_optional(&mut *conn)
    .await?;
    let strikes = match previous {
        Some(r) if r.try_get::<i64, _>("until")? > now_ms - STRIKE_MEMORY_MS => {
            r.try_get::<i64, _>("strikes")? + 1
        }
        _ => 1,
    };
    let until = now_ms + pause_ms(strikes);
    sqlx::query(
        "INSERT INTO domain_pauses (account_id, domain_key, until, strikes, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, domain_key) DO UPDATE SET until = $3, strikes = $4, reason = $5",
    )
    .bind(account_id)
    .bind(&key)
    .bind(until)
    .bind(strikes)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    tracing::warn!(account = account_id, domain = %key, strikes, until, reason, "throttled: sends to this domain pause");
    Ok(until)
}
