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
    record_many(
        conn,
        actor,
        &[(
            action,
            entity.to_string(),
            before.map(str::to_string),
            after.map(str::to_string),
        )],
        now_ms,
    )
    .await
}

/// One row of [`record_many`]: action, entity, before, after.
pub type Row<'a> = (&'a str, String, Option<String>, Option<String>);

/// Records many changes by one actor at one time, a few statements for all of them (a bank
/// file's payments).
pub async fn record_many(
    conn: &mut AnyConnection,
    actor: &str,
    rows: &[Row<'_>],
    now_ms: i64,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(super::MAX_BIND / 6) {
        let sql = format!(
            "INSERT INTO audit_log (at, actor, action, entity, before, after) VALUES {}",
            super::values_rows(conn, chunk.len(), 6, 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (action, entity, before, after) in chunk {
            q = q
                .bind(now_ms)
                .bind(actor)
                .bind(*action)
                .bind(entity.clone())
                .bind(before.clone())
                .bind(after.clone());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
