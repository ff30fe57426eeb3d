//! A contract's temporary suspension, asked by the subscriber: started (with its "scheduled"
//! or "started" notice) and ended early or withdrawn. The rules — overlap, dates, which
//! notice goes when — are [`crate::suspension`]'s; these write them with their audit rows.

use jiff::civil::Date;
use sqlx::AnyConnection;

use crate::domain::Actor;
use crate::store::Db;
use crate::store::channels::Suspension;
use crate::suspension::{Ended, SuspendError, SuspendRequest, Suspended};

/// Records a temporary suspension and queues the notices due today, audited
/// `suspension.add` (by the request's actor). The same request again is
/// [`Suspended::Exists`] and changes nothing.
pub async fn start_suspension(
    db: &Db,
    req: &SuspendRequest,
    today: Date,
    now_ms: i64,
) -> Result<Suspended, SuspendError> {
    let mut tx = db.begin().await?;
    let done = crate::suspension::suspend(&mut tx, req, today, now_ms).await?;
    if let Suspended::New(s) = &done {
        audit(
            &mut tx,
            &req.actor,
            "suspension.add",
            &req.contract,
            s,
            now_ms,
        )
        .await?;
    }
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(done)
}

/// Ends a contract's running suspension today or withdraws its upcoming one (see
/// [`crate::suspension::end`]), audited `suspension.end`.
pub async fn end_suspension(
    db: &Db,
    contract: &str,
    today: Date,
    actor: &Actor,
    now_ms: i64,
) -> Result<Ended, SuspendError> {
    let actor = actor.to_string();
    let mut tx = db.begin().await?;
    let ended = crate::suspension::end(&mut tx, contract, today, &actor, now_ms).await?;
    audit(
        &mut tx,
        &actor,
        "suspension.end",
        contract.trim(),
        ended.suspension(),
        now_ms,
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(ended)
}

/// A suspension's change in the trail: `action` on `contract:<id>`, the suspension as it is
/// now.
async fn audit(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    contract: &str,
    s: &Suspension,
    now_ms: i64,
) -> anyhow::Result<()> {
    crate::store::audit::record(
        conn,
        actor,
        action,
        &format!("contract:{contract}"),
        None,
        Some(&serde_json::to_string(s)?),
        now_ms,
    )
    .await
}
