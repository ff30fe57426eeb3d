//! The audit trail: who changed what, with the value before and after. Every action writes its
//! row in the transaction of the change it records.

use sqlx::AnyConnection;

/// Records a settings change (who, what, before, after). Callers mask secrets first.
pub async fn record(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    entity: &str,
    before: Option<&str>,
    after: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, entity, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms)
    .bind(actor)
    .bind(action)
    .bind(entity)
    .bind(before)
    .bind(after)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
