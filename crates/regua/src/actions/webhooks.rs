//! Outbound webhooks' endpoints (docs/webhooks.md): added, removed and rotated with their
//! audit rows (the secrets never in them).

use crate::domain::Actor;
use crate::secrets::{MasterKey, Secret};
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Adds an endpoint (audited `webhook.add`).
pub async fn add_endpoint(
    db: &Db,
    url: &str,
    events: &[String],
    secret: &Secret,
    key: &MasterKey,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<i64> {
    in_transaction(db, async |tx| {
        let id = store::webhooks::insert_endpoint(tx, url, events, secret, key, now_ms).await?;
        Audit::of("webhook.add", format!("webhook:{id}"))
            .after(serde_json::json!({"url": url, "events": events, "secret": "***"}).to_string())
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Removes an endpoint (audited `webhook.remove`); false when there is no active one.
pub async fn remove_endpoint(db: &Db, id: i64, actor: &Actor, now_ms: i64) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let done = store::webhooks::deactivate_endpoint(tx, id, now_ms).await?;
        if done {
            Audit::of("webhook.remove", format!("webhook:{id}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(done)
    })
    .await
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

/// A new secret for an endpoint, the old one still signing for [`ROTATION_OVERLAP_MS`]
/// (audited `webhook.rotate`); false when there is no active endpoint.
pub async fn rotate(
    db: &Db,
    id: i64,
    secret: &Secret,
    key: &MasterKey,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let done = store::webhooks::rotate_secret(
            tx,
            id,
            secret,
            key,
            now_ms + ROTATION_OVERLAP_MS,
            now_ms,
        )
        .await?;
        if done {
            Audit::of("webhook.rotate", format!("webhook:{id}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(done)
    })
    .await
}
