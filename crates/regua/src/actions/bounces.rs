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

/// Adds a bounce mailbox, its password sealed with `key` (audited `bounce_mailbox.add`, the
/// password never written). False when the name is taken.
pub async fn add_mailbox(
    db: &Db,
    mailbox: &store::bounces::BounceMailbox,
    password: &crate::secrets::Secret,
    key: &MasterKey,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let mut m = mailbox.clone();
    m.password_enc = key.seal(password);
    in_transaction(db, async |tx| {
        if store::bounces::insert_mailbox(tx, &m, now_ms)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        Audit::of("bounce_mailbox.add", format!("bounce_mailbox:{}", m.name))
            .after(mailbox_audit(&m))
            .write(tx, actor, now_ms)
            .await?;
        Ok(true)
    })
    .await
}

/// Removes a bounce mailbox (audited `bounce_mailbox.remove`); false when there was none.
pub async fn remove_mailbox(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        if !store::bounces::delete_mailbox(tx, name).await? {
            return Ok(false);
        }
        Audit::of("bounce_mailbox.remove", format!("bounce_mailbox:{name}"))
            .write(tx, actor, now_ms)
            .await?;
        Ok(true)
    })
    .await
}

fn mailbox_audit(m: &store::bounces::BounceMailbox) -> String {
    serde_json::json!({
        "host": m.host, "port": m.port, "security": m.security.as_str(),
        "user": m.username, "password": "***", "folder": m.folder, "move_to": m.move_to,
        "ca_file": m.ca_file,
    })
    .to_string()
}

/// What reading a mailbox once did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Messages read.
    pub read: usize,
    /// Recorded against a notice.
    pub recorded: usize,
    /// Addresses suppressed by them.
    pub suppressed: usize,
    /// Read before (by another reading, or the same message twice).
    pub already: usize,
    /// Naming no notice of ours, or not a bounce.
    pub ignored: usize,
}

impl PollReport {
    /// The stored form (`read,recorded,suppressed,already,ignored`), read back by
    /// [`PollReport::from_stored`]: the CLI prints it in English, the page in Portuguese.
    pub fn to_stored(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.read, self.recorded, self.suppressed, self.already, self.ignored
        )
    }

    /// Reads [`PollReport::to_stored`]'s form.
    pub fn from_stored(text: &str) -> Option<PollReport> {
        let n: Vec<usize> = text
            .split(',')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?;
        match n.as_slice() {
            [read, recorded, suppressed, already, ignored] => Some(PollReport {
                read: *read,
                recorded: *recorded,
                suppressed: *suppressed,
                already: *already,
                ignored: *ignored,
            }),
            _ => None,
        }
    }

    /// As the page says it.
    pub fn pt(&self) -> String {
        format!(
            "{} mensagem(ns) lida(s): {} devolução(ões) registrada(s) ({} endereço(s) suprimido(s)), {} já registrada(s), {} sem relação com os envios",
            self.read, self.recorded, self.suppressed, self.already, self.ignored
        )
    }
}

impl std::fmt::Display for PollReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} read: {} recorded ({} suppressed), {} already recorded, {} ignored",
            self.read, self.recorded, self.suppressed, self.already, self.ignored
        )
    }
}

/// Reads a bounce mailbox once: every message not read yet is ingested (see [`ingest`]) and
/// then marked read on the server (moved or flagged). A message whose ingestion failed (the
/// database) stays unread for the next pass. The outcome, or the failure, is stored on the
/// mailbox for the page.
pub async fn poll_mailbox(
    db: &Db,
    mailbox: &store::bounces::BounceMailbox,
    key: &MasterKey,
    clock: &crate::domain::Clock,
    timeout: std::time::Duration,
) -> anyhow::Result<PollReport> {
    let outcome = poll_inner(db, mailbox, key, clock, timeout).await;
    let mut conn = db.pool.acquire().await?;
    match &outcome {
        Ok(r) => {
            store::bounces::mark_polled(
                &mut conn,
                mailbox.id,
                &r.to_stored(),
                None,
                clock.now_millis(),
            )
            .await?
        }
        Err(e) => {
            store::bounces::mark_polled(
                &mut conn,
                mailbox.id,
                "",
                Some(&format!("{e:#}")),
                clock.now_millis(),
            )
            .await?
        }
    }
    outcome
}

async fn poll_inner(
    db: &Db,
    mailbox: &store::bounces::BounceMailbox,
    key: &MasterKey,
    clock: &crate::domain::Clock,
    timeout: std::time::Duration,
) -> anyhow::Result<PollReport> {
    let password = key
        .open(&mailbox.password_enc)
        .map_err(|e| anyhow::anyhow!("cannot open the mailbox's password: {e}"))?;
    let mut reader = crate::bounce::imap::Reader::open(mailbox, password.expose(), timeout).await?;
    let mut report = PollReport::default();
    let uids = reader.unread().await?;
    for chunk in uids.chunks(200) {
        let messages = reader.fetch(chunk).await?;
        let mut done = Vec::with_capacity(messages.len());
        for (uid, raw) in &messages {
            report.read += 1;
            match ingest(db, raw, key, clock.now_millis()).await {
                Ok(Ingested::Recorded { suppressed, .. }) => {
                    report.recorded += 1;
                    report.suppressed += usize::from(suppressed);
                }
                Ok(Ingested::AlreadyRecorded) => report.already += 1,
                Ok(Ingested::Ignored(_)) => report.ignored += 1,
                Err(e) => {
                    tracing::warn!(mailbox = %mailbox.name, uid, error = format!("{e:#}"), "bounce not recorded; left unread");
                    continue;
                }
            }
            done.push(*uid);
        }
        reader.mark_read(&done).await?;
    }
    reader.close().await;
    Ok(report)
}
