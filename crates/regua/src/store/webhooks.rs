//! Outbound webhooks' endpoints and their durable outbox (docs/webhooks.md). An event is written
//! in the transaction of its fact, one delivery per subscribed endpoint; deliveries are claimed
//! with a lease, so a worker killed mid-post leaves them to be posted again (at least once; the
//! `webhook-id` lets the receiver drop a repeat).

use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::secrets::{MasterKey, Secret, SecretError};

/// An endpoint as listed (its secrets stay sealed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    /// Key.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The events it receives.
    pub events: Vec<String>,
    /// A previous secret still signs until then (ms), after a rotation.
    pub previous_until: Option<i64>,
    /// False once removed.
    pub active: bool,
}

fn endpoint(r: &sqlx::any::AnyRow) -> anyhow::Result<Endpoint> {
    let events: String = r.try_get("events")?;
    Ok(Endpoint {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        events: events.split(',').map(str::to_string).collect(),
        previous_until: r.try_get("previous_until")?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

/// Adds an endpoint; its secret sealed with `key`.
pub async fn insert_endpoint(
    conn: &mut AnyConnection,
    url: &str,
    events: &[String],
    secret: &Secret,
    key: &MasterKey,
    now_ms: i64,
) -> anyhow::Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO webhook_endpoints (url, events, secret_enc, active, created_at, updated_at)
         VALUES ($1, $2, $3, 1, $4, $4) RETURNING id",
    )
    .bind(url)
    .bind(events.join(","))
    .bind(key.seal(secret))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Every endpoint, newest first.
pub async fn list_endpoints(conn: &mut AnyConnection) -> anyhow::Result<Vec<Endpoint>> {
    sqlx::query(
        "SELECT id, url, events, previous_until, active FROM webhook_endpoints ORDER BY active DESC, id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(endpoint)
    .collect()
}

/// Removes an endpoint: nothing more is posted to it (its pending deliveries fail). False when
/// there is no active one with that id.
pub async fn deactivate_endpoint(
    conn: &mut AnyConnection,
    id: i64,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET active = 0, updated_at = $2 WHERE id = $1 AND active = 1",
    )
    .bind(id)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if done {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint removido'
             WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(done)
}

/// Rotates an endpoint's secret: `secret` signs from now on, the old one too until
/// `previous_until`. False when there is no active endpoint with that id.
pub async fn rotate_secret(
    conn: &mut AnyConnection,
    id: i64,
    secret: &Secret,
    key: &MasterKey,
    previous_until: i64,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhook_endpoints SET previous_enc = secret_enc, previous_until = $1, secret_enc = $2, updated_at = $3
         WHERE id = $4 AND active = 1",
    )
    .bind(previous_until)
    .bind(key.seal(secret))
    .bind(now_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// The secrets that sign for an endpoint at `now_ms`: the current one, and the previous one
/// during a rotation.
pub async fn signing_secrets(
    conn: &mut AnyConnection,
    id: i64,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> anyhow::Result<Vec<Secret>> {
    let r = sqlx::query(
        "SELECT secret_enc, previous_enc, previous_until FROM webhook_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let key = key.ok_or(SecretError::NoKey)?;
    let mut out = vec![key.open(&r.try_get::<String, _>(0)?)?];
    let previous: Option<String> = r.try_get(1)?;
    let until: Option<i64> = r.try_get(2)?;
    if let (Some(p), Some(u)) = (previous, until)
        && u > now_ms
    {
        out.push(key.open(&p)?);
    }
    Ok(out)
}

/// Whether any active endpoint receives `kind` (a bulk path checks once before building the
/// events).
pub async fn subscribed(conn: &mut AnyConnection, kind: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("SELECT events FROM webhook_endpoints WHERE active = 1")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .any(|r| {
                r.try_get::<String, _>(0)
                    .is_ok_and(|e| e.split(',').any(|x| x == kind))
            }),
    )
}

/// Writes event `kind` (`invoice.paid`) with `data` into the outbox, one delivery per active
/// endpoint that subscribed to it, in the caller's transaction. The body is
/// `{"type", "timestamp", "data"}`; the message id is `msg_` and 24 random hex digits, the same
/// for every endpoint. Returns how many deliveries were written (0 when nobody listens: one
/// query).
pub async fn emit(
    conn: &mut AnyConnection,
    kind: &str,
    data: &serde_json::Value,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let endpoints: Vec<i64> =
        sqlx::query("SELECT id, events FROM webhook_endpoints WHERE active = 1")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .filter_map(|r| {
                let events: String = r.try_get(1).ok()?;
                events
                    .split(',')
                    .any(|e| e == kind)
                    .then(|| r.try_get::<i64, _>(0).ok())
                    .flatten()
            })
            .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let timestamp = jiff::Timestamp::from_millisecond(now_ms)?.to_string();
    let body = serde_json::json!({"type": kind, "timestamp": timestamp, "data": data}).to_string();
    let message_id = format!("msg_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..));
    for e in &endpoints {
        sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, status, attempts,
                next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(*e)
        .bind(&message_id)
        .bind(kind)
        .bind(&body)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(endpoints.len())
}

/// A delivery to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Key.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// Its URL.
    pub url: String,
    /// `webhook-id`.
    pub message_id: String,
    /// The body.
    pub payload: String,
    /// Tries so far (this one included once claimed).
    pub attempts: i64,
}

/// Claims up to `batch` due deliveries for `worker`, leasing them until `now + lease_ms`.
pub async fn claim(
    db: &super::Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    batch: i64,
) -> anyhow::Result<Vec<Delivery>> {
    let mut tx = db.begin().await?;
    let lock = match db.backend {
        super::Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        super::Backend::Sqlite => "",
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT d.id, d.endpoint_id, e.url, d.message_id, d.payload, d.attempts
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
         ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}"
    )))
    .bind(now_ms)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = $1, lease_owner = $2, attempts = attempts + 1 WHERE id = $3",
        )
        .bind(now_ms + lease_ms)
        .bind(worker)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        out.push(Delivery {
            id,
            endpoint_id: r.try_get(1)?,
            url: r.try_get(2)?,
            message_id: r.try_get(3)?,
            payload: r.try_get(4)?,
            attempts: r.try_get::<i64, _>(5)? + 1,
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// How a post ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostOutcome {
    /// Answered 2xx.
    pub delivered: bool,
    /// The HTTP status, when there was an answer.
    pub code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// When to try again; `None` after a failure means given up.
    pub retry_at: Option<i64>,
}

/// Records a post's outcome: delivered, or due again at `retry_at`, or failed for good.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    worker: &str,
    outcome: &PostOutcome,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (delivered, code, error, retry_at) = (
        outcome.delivered,
        outcome.code,
        outcome.error.as_deref(),
        outcome.retry_at,
    );
    let (status, next) = match (delivered, retry_at) {
        (true, _) => ("delivered", None),
        (false, Some(at)) => ("pending", Some(at)),
        (false, None) => ("failed", None),
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at),
            lease_until = NULL, lease_owner = NULL, last_code = $3, last_error = $4,
            delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END
         WHERE id = $6 AND lease_owner = $7",
    )
    .bind(status)
    .bind(next)
    .bind(code.map(i64::from))
    .bind(error)
    .bind(now_ms)
    .bind(id)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRow {
    /// Key.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event.
    pub event_type: String,
    /// `webhook-id`.
    pub message_id: String,
    /// pending, delivered, failed.
    pub status: String,
    /// Tries.
    pub attempts: i64,
    /// The last HTTP status.
    pub last_code: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was written (ms).
    pub created_at: i64,
}

/// The latest deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    limit: i64,
) -> anyhow::Result<Vec<DeliveryRow>> {
    sqlx::query(
        "SELECT id, endpoint_id, event_type, message_id, status, attempts, last_code, last_error, created_at
         FROM webhook_deliveries ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(DeliveryRow {
            id: r.try_get(0)?,
            endpoint_id: r.try_get(1)?,
            event_type: r.try_get(2)?,
            message_id: r.try_get(3)?,
            status: r.try_get(4)?,
            attempts: r.try_get(5)?,
            last_code: r.try_get(6)?,
            last_error: r.try_get(7)?,
            created_at: r.try_get(8)?,
        })
    })
    .collect()
}

/// Posts a delivery again from now (a failed one, or one the receiver lost): pending, due now,
/// attempts reset. The same `webhook-id`. False when it does not exist.
pub async fn replay(conn: &mut AnyConnection, id: i64, now_ms: i64) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
            lease_until = NULL, lease_owner = NULL WHERE id = $2",
    )
    .bind(now_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Emits `kind` (`notice.sent`, `notice.failed`, `notice.delivered`) for each of `notices`, with
/// its id, channel, purpose, status detail and the customer's and invoice's external ids, when
/// an endpoint listens (one query otherwise).
pub async fn emit_notices(
    conn: &mut AnyConnection,
    kind: &str,
    notices: &[(i64, String)],
    now_ms: i64,
) -> anyhow::Result<()> {
    if notices.is_empty() || !subscribed(conn, kind).await? {
        return Ok(());
    }
    for (id, detail) in notices {
        let r = sqlx::query(
            "SELECT n.channel, n.purpose, n.recipient, c.external_id, i.external_id FROM notices n
             LEFT JOIN customers c ON c.id = n.customer_id LEFT JOIN invoices i ON i.id = n.invoice_id
             WHERE n.id = $1",
        )
        .bind(*id)
        .fetch_one(&mut *conn)
        .await?;
        let data = serde_json::json!({
            "notice": id,
            "channel": r.try_get::<String, _>(0)?,
            "purpose": r.try_get::<String, _>(1)?,
            "recipient": r.try_get::<String, _>(2)?,
            "customer": r.try_get::<Option<String>, _>(3)?,
            "invoice": r.try_get::<Option<String>, _>(4)?,
            "detail": detail,
        });
        emit(conn, kind, &data, now_ms).await?;
    }
    Ok(())
}
