//! The suspension clock's records (docs/debt.md): each contract's state and evidence
//! (`contract_debt`), every transition with its reason (`contract_debt_events`), and what a
//! payment does to them, in the payment's own transaction.

use jiff::civil::Date;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::domain::debt::{DebtRecord, DebtState};
use crate::domain::delivery::NoticeId;
use crate::domain::{ContractId, InvoiceId};

/// A contract's row, as the clock reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtRow {
    /// The contract.
    pub contract: ContractId,
    /// Its state and dates.
    pub record: DebtRecord,
    /// Its current debt episode.
    pub episode: i64,
    /// The episode's debt notice, once queued.
    pub notice_id: Option<NoticeId>,
    /// The episode's termination notice, once queued.
    pub termination_notice_id: Option<NoticeId>,
    /// When restoration became due (ms), in `restore_due`.
    pub restore_due_at: Option<i64>,
}

fn date(r: &sqlx::any::AnyRow, col: &str) -> anyhow::Result<Option<Date>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| s.parse().map_err(|e| anyhow::anyhow!("{col} {s:?}: {e}")))
        .transpose()
}

const COLUMNS: &str = "contract_id, state, episode, notice_id, notice_sent_on, suspended_on, \
    termination_notice_id, termination_notice_sent_on, restore_due_at, trust_until";

fn row(r: &sqlx::any::AnyRow) -> anyhow::Result<DebtRow> {
    let state: String = r.try_get("state")?;
    Ok(DebtRow {
        contract: ContractId(r.try_get("contract_id")?),
        record: DebtRecord {
            state: DebtState::parse(&state)
                .ok_or_else(|| anyhow::anyhow!("debt state {state:?}"))?,
            notice_sent_on: date(r, "notice_sent_on")?,
            suspended_on: date(r, "suspended_on")?,
            termination_notice_sent_on: date(r, "termination_notice_sent_on")?,
            trust_until: date(r, "trust_until")?,
        },
        episode: r.try_get("episode")?,
        notice_id: r.try_get::<Option<i64>, _>("notice_id")?.map(NoticeId),
        termination_notice_id: r
            .try_get::<Option<i64>, _>("termination_notice_id")?
            .map(NoticeId),
        restore_due_at: r.try_get("restore_due_at")?,
    })
}

/// Every contract's row that is not `regular` (and those of `contracts`), by contract.
pub async fn rows(
    conn: &mut AnyConnection,
) -> anyhow::Result<std::collections::HashMap<ContractId, DebtRow>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contract_debt"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| row(r).map(|d| (d.contract, d)))
    .collect()
}

/// One contract's row.
pub async fn get(
    conn: &mut AnyConnection,
    contract: ContractId,
) -> anyhow::Result<Option<DebtRow>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contract_debt WHERE contract_id = $1"
    )))
    .bind(contract.0)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// The due date of each contract's oldest open invoice past due on `today` (active contracts).
pub async fn oldest_overdue(
    conn: &mut AnyConnection,
    today: Date,
) -> anyhow::Result<std::collections::HashMap<ContractId, Date>> {
    let rows = sqlx::query(
        "SELECT i.contract_id, MIN(i.due_date) FROM invoices i JOIN contracts c ON c.id = i.contract_id
         WHERE i.status = 'open' AND i.due_date < $1 AND c.status <> 'cancelled'
         GROUP BY i.contract_id",
    )
    .bind(today.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let d: String = r.try_get(1)?;
            Ok((
                ContractId(r.try_get(0)?),
                d.parse()
                    .map_err(|e| anyhow::anyhow!("due date {d:?}: {e}"))?,
            ))
        })
        .collect()
}

/// The open invoices past due of a contract on `today`: id, due date and amount (the notice's
/// amount and months).
pub async fn overdue_invoices(
    conn: &mut AnyConnection,
    contract: ContractId,
    today: Date,
) -> anyhow::Result<Vec<(InvoiceId, Date, i64)>> {
    sqlx::query(
        "SELECT id, due_date, amount_cents FROM invoices WHERE contract_id = $1 AND status = 'open'
         AND due_date < $2 ORDER BY due_date, id",
    )
    .bind(contract.0)
    .bind(today.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let d: String = r.try_get(1)?;
        Ok((
            InvoiceId(r.try_get(0)?),
            d.parse()
                .map_err(|e| anyhow::anyhow!("due date {d:?}: {e}"))?,
            r.try_get(2)?,
        ))
    })
    .collect()
}

/// Writes a contract's row (creating it) after a transition, and the event with its reason.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    conn: &mut AnyConnection,
    row: &DebtRow,
    from: DebtState,
    detail: &str,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let d = |x: Option<Date>| x.map(|d| d.to_string());
    let updated = sqlx::query(
        "UPDATE contract_debt SET state = $1, episode = $2, notice_id = $3, notice_sent_on = $4,
            suspended_on = $5, termination_notice_id = $6, termination_notice_sent_on = $7,
            restore_due_at = $8, updated_at = $9, trust_until = $11 WHERE contract_id = $10",
    )
    .bind(row.record.state.as_str())
    .bind(row.episode)
    .bind(row.notice_id.map(|n| n.0))
    .bind(d(row.record.notice_sent_on))
    .bind(d(row.record.suspended_on))
    .bind(row.termination_notice_id.map(|n| n.0))
    .bind(d(row.record.termination_notice_sent_on))
    .bind(row.restore_due_at)
    .bind(now_ms)
    .bind(row.contract.0)
    .bind(d(row.record.trust_until))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO contract_debt (contract_id, state, episode, notice_id, notice_sent_on, suspended_on,
                termination_notice_id, termination_notice_sent_on, restore_due_at, updated_at, trust_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.contract.0)
        .bind(row.record.state.as_str())
        .bind(row.episode)
        .bind(row.notice_id.map(|n| n.0))
        .bind(d(row.record.notice_sent_on))
        .bind(d(row.record.suspended_on))
        .bind(row.termination_notice_id.map(|n| n.0))
        .bind(d(row.record.termination_notice_sent_on))
        .bind(row.restore_due_at)
        .bind(now_ms)
        .bind(d(row.record.trust_until))
        .execute(&mut *conn)
        .await?;
    }
    if from != row.record.state
        && matches!(
            row.record.state,
            DebtState::SuspensionDue | DebtState::RestoreDue | DebtState::TerminationDue
        )
    {
        // The network, the ERP or a bot learns what to do (docs/webhooks.md).
        let ids = sqlx::query(
            "SELECT k.external_id, c.external_id FROM contracts k JOIN customers c ON c.id = k.customer_id WHERE k.id = $1",
        )
        .bind(row.contract.0)
        .fetch_one(&mut *conn)
        .await?;
        let data = serde_json::json!({
            "contract": ids.try_get::<String, _>(0)?,
            "customer": ids.try_get::<String, _>(1)?,
            "reason": detail,
        });
        super::webhooks::emit(
            conn,
            &format!("contract.{}", row.record.state.as_str()),
            &data,
            now_ms,
        )
        .await?;
    }
    if from != row.record.state {
        sqlx::query(
            "INSERT INTO contract_debt_events (contract_id, at, from_state, to_state, detail, actor)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.contract.0)
        .bind(now_ms)
        .bind(from.as_str())
        .bind(row.record.state.as_str())
        .bind(detail)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A transition as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DebtEvent {
    /// When (ms).
    pub at: i64,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub detail: String,
    /// Who.
    pub actor: String,
}

/// A contract's transitions, oldest first.
pub async fn events(
    conn: &mut AnyConnection,
    contract: ContractId,
) -> anyhow::Result<Vec<DebtEvent>> {
    sqlx::query(
        "SELECT at, from_state, to_state, detail, actor FROM contract_debt_events WHERE contract_id = $1 ORDER BY at, id",
    )
    .bind(contract.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(DebtEvent {
            at: r.try_get(0)?,
            from: r.try_get(1)?,
            to: r.try_get(2)?,
            detail: r.try_get(3)?,
            actor: r.try_get(4)?,
        })
    })
    .collect()
}

/// What a payment does to the clock, in the payment's transaction (`write_payments`, after the
/// invoices of `regua_payments` were marked paid): a contract whose service was or was to be
/// cut and that owes nothing past due at the payment's date moves to `restore_due`; one only
/// notified goes back to `regular` (a new episode). Returns the contracts moved to
/// `restore_due`.
pub async fn after_payments(
    conn: &mut AnyConnection,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<Vec<ContractId>> {
    let candidates = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contract_debt d
         WHERE d.state IN ('notified', 'suspension_due', 'suspended', 'termination_notified', 'termination_due')
           AND d.contract_id IN (SELECT i.contract_id FROM invoices i JOIN regua_payments p ON p.id = i.id)
           AND NOT EXISTS (SELECT 1 FROM invoices o WHERE o.contract_id = d.contract_id AND o.status = 'open'
                AND o.due_date < (SELECT MAX(p2.paid_on) FROM regua_payments p2 JOIN invoices i2 ON i2.id = p2.id
                                  WHERE i2.contract_id = d.contract_id))"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(row)
    .collect::<anyhow::Result<Vec<_>>>()?;
    let mut restored = Vec::new();
    for mut r in candidates {
        let from = r.record.state;
        if from == DebtState::Notified {
            r = DebtRow {
                record: DebtRecord::regular(),
                episode: r.episode + 1,
                notice_id: None,
                termination_notice_id: None,
                restore_due_at: None,
                ..r
            };
            write(conn, &r, from, "débito pago", actor, now_ms).await?;
        } else {
            r.record.state = DebtState::RestoreDue;
            r.restore_due_at = Some(now_ms);
            write(
                conn,
                &r,
                from,
                "débito pago: restabelecer o serviço",
                actor,
                now_ms,
            )
            .await?;
            restored.push(r.contract);
        }
    }
    Ok(restored)
}

/// Counts of contracts per state (the dashboard and `regua debt status`).
pub async fn counts(conn: &mut AnyConnection) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query("SELECT state, COUNT(*) FROM contract_debt GROUP BY state ORDER BY state")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The day of a contract's last trust unlock.
pub async fn last_trust_unlock(
    conn: &mut AnyConnection,
    contract: ContractId,
) -> anyhow::Result<Option<Date>> {
    let last: Option<String> =
        sqlx::query("SELECT MAX(granted_on) FROM trust_unlocks WHERE contract_id = $1")
            .bind(contract.0)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    last.map(|s| {
        s.parse()
            .map_err(|e| anyhow::anyhow!("granted_on {s:?}: {e}"))
    })
    .transpose()
}

/// Records a trust unlock granted on `on` until `until`.
pub async fn insert_trust_unlock(
    conn: &mut AnyConnection,
    contract: ContractId,
    on: Date,
    until: Date,
    actor: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO trust_unlocks (contract_id, granted_on, until_on, actor, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(contract.0)
    .bind(on.to_string())
    .bind(until.to_string())
    .bind(actor)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many contracts wait for restoration past the deadline (`restore_within_hours` after the
/// payment) at `now_ms`.
pub async fn late_restorations(
    conn: &mut AnyConnection,
    now_ms: i64,
    within_hours: u16,
) -> anyhow::Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM contract_debt WHERE state = 'restore_due' AND restore_due_at < $1",
    )
    .bind(now_ms - i64::from(within_hours) * 3_600_000)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The billing methods' own suspension policies (those that override the ISP's).
pub async fn method_policies(
    conn: &mut AnyConnection,
) -> anyhow::Result<
    std::collections::HashMap<crate::domain::BillingMethodId, crate::domain::debt::DebtPolicy>,
> {
    let n = |r: &sqlx::any::AnyRow, i: usize| -> anyhow::Result<u16> {
        Ok(u16::try_from(r.try_get::<i64, _>(i)?).unwrap_or(u16::MAX))
    };
    sqlx::query(
        "SELECT billing_method_id, notice_after_overdue_days, suspension_after_notice_days,
            termination_notice_after_suspension_days, termination_after_notice_days, restore_within_hours
         FROM debt_method_policies",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            crate::domain::BillingMethodId(r.try_get(0)?),
            crate::domain::debt::DebtPolicy {
                notice_after_overdue_days: n(r, 1)?,
                suspension_after_notice_days: n(r, 2)?,
                termination_notice_after_suspension_days: n(r, 3)?,
                termination_after_notice_days: n(r, 4)?,
                restore_within_hours: n(r, 5)?,
            },
        ))
    })
    .collect()
}

/// Sets (or replaces) a billing method's policy; the caller checked it (`DebtPolicy::check`).
pub async fn set_method_policy(
    conn: &mut AnyConnection,
    method: crate::domain::BillingMethodId,
    p: &crate::domain::debt::DebtPolicy,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM debt_method_policies WHERE billing_method_id = $1")
        .bind(method.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO debt_method_policies (billing_method_id, notice_after_overdue_days, suspension_after_notice_days,
            termination_notice_after_suspension_days, termination_after_notice_days, restore_within_hours, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(method.0)
    .bind(i64::from(p.notice_after_overdue_days))
    .bind(i64::from(p.suspension_after_notice_days))
    .bind(i64::from(p.termination_notice_after_suspension_days))
    .bind(i64::from(p.termination_after_notice_days))
    .bind(i64::from(p.restore_within_hours))
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a billing method's policy (its contracts follow the ISP's); false when it had none.
pub async fn remove_method_policy(
    conn: &mut AnyConnection,
    method: crate::domain::BillingMethodId,
) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM debt_method_policies WHERE billing_method_id = $1")
            .bind(method.0)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0,
    )
}
