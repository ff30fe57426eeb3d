//! Send rules ("regras de envio") of the billing methods.

use anyhow::Context as _;
use sqlx::{AnyConnection, Row as _};

use super::{is_constraint, parties::ConfigError};
use crate::domain::rules::{RuleKind, SendRule};
use crate::domain::{BillingMethodId, LayoutId};

/// Adds a rule to the billing method named `method`. `layout` names a layout; by default the
/// one installed for the kind's purpose. Refuses a second rule of the same kind and days, days
/// other than 0 for `on_due`, and 0 for the others.
pub async fn insert_send_rule(
    conn: &mut AnyConnection,
    method: &str,
    kind: RuleKind,
    days: u16,
    layout: Option<&str>,
    now_ms: i64,
) -> Result<crate::domain::rules::RuleId, ConfigError> {
    match (kind, days) {
        (RuleKind::OnDue, d) if d != 0 => {
            return Err(ConfigError::Invalid {
                field: "days",
                reason: "an on_due rule has 0 days".into(),
            });
        }
        (RuleKind::BeforeDue | RuleKind::AfterDue, 0) => {
            return Err(ConfigError::Invalid {
                field: "days",
                reason: format!(
                    "a {} rule needs at least 1 day (use on_due for the due date)",
                    kind.as_str()
                ),
            });
        }
        (_, d) if d > 365 => {
            return Err(ConfigError::Invalid {
                field: "days",
                reason: "at most 365".into(),
            });
        }
        _ => {}
    }
    let method_id = super::parties::list_billing_methods(conn)
        .await?
        .into_iter()
        .find(|m| m.name == method)
        .map(|m| m.id)
        .ok_or_else(|| ConfigError::Unknown {
            what: "billing method",
            name: method.to_string(),
            known: String::new(),
        })?;
    let layout_id =
        super::layouts::layout_named_or_default(conn, layout, kind.default_purpose()).await?;
    let res = sqlx::query(
        "INSERT INTO send_rules (billing_method_id, kind, days, layout_id, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(method_id.0)
    .bind(kind.as_str())
    .bind(i64::from(days))
    .bind(layout_id.0)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(crate::domain::rules::RuleId(
            row.try_get(0).context("rule id")?,
        )),
        Err(e)
            if is_constraint(&e, "send_rules_method_kind_days_key")
                || is_constraint(&e, "send_rules.billing_method_id") =>
        {
            Err(ConfigError::Invalid {
                field: "days",
                reason: format!(
                    "billing method {method:?} already has a {} rule of {days} day(s); the same kind needs different days",
                    kind.as_str()
                ),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert the rule")
            .into()),
    }
}

/// Every rule, by billing method, then before, on and after the due date, then days.
pub async fn list_send_rules(conn: &mut AnyConnection) -> anyhow::Result<Vec<SendRule>> {
    let rows = sqlx::query(
        "SELECT id, billing_method_id, kind, days, layout_id, channels, channel_mode FROM send_rules
         ORDER BY billing_method_id, CASE kind WHEN 'before_due' THEN 0 WHEN 'on_due' THEN 1 ELSE 2 END, days",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SendRule {
                id: crate::domain::rules::RuleId(r.try_get(0)?),
                method: BillingMethodId(r.try_get(1)?),
                kind: r
                    .try_get::<String, _>(2)?
                    .parse()
                    .map_err(anyhow::Error::msg)?,
                days: u16::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                layout: LayoutId(r.try_get(4)?),
                channels: crate::domain::rules::ChannelPlan::parse(
                    &r.try_get::<String, _>(5)?,
                    &r.try_get::<String, _>(6)?,
                )
                .map_err(anyhow::Error::msg)?,
            })
        })
        .collect()
}

/// Removes a rule; false when there is none with that id.
pub async fn delete_send_rule(
    conn: &mut AnyConnection,
    id: crate::domain::rules::RuleId,
) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM send_rules WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

/// Sets the channels a rule goes by.
pub async fn set_rule_channels(
    conn: &mut AnyConnection,
    id: crate::domain::rules::RuleId,
    plan: &crate::domain::rules::ChannelPlan,
) -> anyhow::Result<()> {
    set_channels(conn, "send_rules", id.0, plan).await
}

/// Sets the channels of a rule (`send_rules`) or a band (`overdue_bands`): the same two columns.
pub(super) async fn set_channels(
    conn: &mut AnyConnection,
    table: &'static str,
    id: i64,
    plan: &crate::domain::rules::ChannelPlan,
) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET channels = $1, channel_mode = $2 WHERE id = $3"
    )))
    .bind(plan.list())
    .bind(plan.mode.as_str())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
