//! A returned message read and acted on (docs/bounces.md): recorded against the notice its
//! signed return path names; a hard bounce or a complaint suppresses the address, and so do
//! [`SOFT_LIMIT`] soft bounces of different notices in a row; the message again changes nothing,
//! and a message that names no notice of ours (a forged or foreign return path) changes nothing.

use sha2::Digest as _;

use crate::bounce::{Bounce, BounceKind};
use crate::domain::Actor;
use crate::secrets::MasterKey;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Soft bounces of different notices, since the address was last good, that suppress it.
pub const SOFT_LIMIT: i64 = 3;

/// What reading one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Recorded against `notice`; `suppressed` when this bounce put the address on the list.
    Recorded {
        /// What it was.
        bounce: Bounce,
        /// The notice.
        notice: i64,
        /// The notice's address.
        address: String,
        /// The address was suppressed now.
        suppressed: bool,
    },
    /// This very message was recorded before.
    AlreadyRecorded,
    /// It names no notice of ours (no return path, a wrong tag, an unknown notice): nothing
    /// changed. The reason, in English, for the log.
    Ignored(&'static str),
}

/// Reads one returned message and acts on it, in one transaction.
pub async fn ingest(db: &Db, raw: &[u8], key: &MasterKey, now_ms: i64) -> anyhow::Result<Ingested> {
    let bounce = crate::bounce::classify_with_key(raw, Some(key));
    let Some(notice_id) = bounce.notice else {
        return Ok(Ingested::Ignored("no return path of ours with a valid tag"));
    };
    if bounce.kind == BounceKind::NotABounce {
        return Ok(Ingested::Ignored("not a bounce"));
    }
    let sha: String = sha2::Sha256::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    in_transaction(db, async |tx| {
        let Ok(notice) = store::outbox::get_notice(tx, crate::delivery::NoticeId(notice_id)).await
        else {
            return Ok(Ingested::Ignored("the notice does not exist"));
        };
        let address = notice.recipient.trim().to_lowercase();
        let kind = bounce.kind.to_string();
        let Some(bounce_id) = store::bounces::insert_bounce(
            tx,
            &store::bounces::NewBounce {
                message_sha256: &sha,
                notice_id,
                address: &address,
                kind: &kind,
                status: bounce.status.as_deref(),
                diagnostic: &bounce.diagnostic,
            },
            now_ms,
        )
        .await?
        else {
            return Ok(Ingested::AlreadyRecorded);
        };
        let reason = match bounce.kind {
            BounceKind::Hard => Some("hard"),
            BounceKind::Complaint => Some("complaint"),
            BounceKind::Soft => {
                let soft = store::bounces::soft_bounces_since_cleared(tx, &address).await?;
                (soft >= SOFT_LIMIT).then_some("soft")
            }
            BounceKind::NotABounce => None,
        };
        let suppressed = match reason {
            Some(reason) => {
                let s = store::bounces::Suppression {
                    address: address.clone(),
                    reason: reason.to_string(),
                    status: bounce.status.clone(),
                    diagnostic: bounce.diagnostic.clone(),
                    created_at: now_ms,
                };
                let new = store::bounces::suppress(tx, &s, Some(bounce_id)).await?;
                if new {
                    Audit::of("suppression.add", format!("email:{address}"))
                        .after(
                            serde_json::json!({
                                "reason": reason, "status": bounce.status, "notice": notice_id,
                            })
                            .to_string(),
                        )
                        .write(tx, &Actor::Bounce, now_ms)
                        .await?;
                }
                new
            }
            None => false,
        };
        Ok(Ingested::Recorded {
            bounce: bounce.clone(),
            notice: notice_id,
            address,
            suppressed,
        })
    })
    .await
}

/// Clears an address's suppression (the clerk fixed it, or it was a mistake); audited
/// `suppression.clear`. False when it was not suppressed.
pub async fn unsuppress(
    db: &Db,
    address: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        unsuppress_in(tx, address, actor, now_ms).await
    })
    .await
}

/// [`unsuppress`] in the caller's transaction (a customer's e-mail changed, say).
pub(super) async fn unsuppress_in(
    tx: &mut sqlx::AnyConnection,
    address: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let address = address.trim().to_lowercase();
    let Some(was) = store::bounces::unsuppress(tx, &address).await? else {
        return Ok(false);
    };
    Audit::of("suppression.clear", format!("email:{address}"))
        .before(serde_json::json!({"reason": was.reason, "status": was.status}).to_string())
        .write(tx, actor, now_ms)
        .await?;
    Ok(true)
}
