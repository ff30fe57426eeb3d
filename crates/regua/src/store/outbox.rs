//! The outbox: notices, written once (one column list, one INSERT), claimed with a lease by
//! the workers, and settled. The claim is the heart of "nothing lost, nothing duplicated,
//! limits hold": one transaction picks due notices (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite's single writer elsewhere), locks each account involved, reserves capacity in
//! `account_sends` within the rolling hour and day, moves overflow to the fallback account or
//! to the window's opening, and leases what it took.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::bulk::{Bulk, Insert, Ty, Value};
use super::{Backend, Db};
use crate::domain::delivery::{
    AccountId, Channel, Enqueued, GatewayId, NewNotice, Notice, NoticeId, NoticeStatus,
    SuspensionId,
};
use crate::domain::{ContractId, CustomerId, EmailAddress, InvoiceId, LayoutId};

use super::accounts::parse;

pub(super) const NOTICE_COLUMNS: &str = "id, dedup_key, channel, account_id, recipient, purpose, layout_id, layout_version, \
    customer_id, contract_id, invoice_id, attach_boleto, attach_letter, actor, status, attempts, next_attempt_at, last_error, \
    message_id, created_at, sent_at, gateway_id, suspension_id, fallback";

pub(super) fn notice_from_row(r: &AnyRow) -> anyhow::Result<Notice> {
    Ok(Notice {
        id: NoticeId(r.try_get("id")?),
        dedup_key: r.try_get("dedup_key")?,
        channel: parse(r, "channel")?,
        account_id: r.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        gateway_id: r.try_get::<Option<i64>, _>("gateway_id")?.map(GatewayId),
        suspension_id: r
            .try_get::<Option<i64>, _>("suspension_id")?
            .map(SuspensionId),
        fallback: Channel::parse_list(&r.try_get::<String, _>("fallback")?)
            .map_err(|e| anyhow::anyhow!("column fallback: {e}"))?,
        recipient: r.try_get("recipient")?,
        purpose: parse(r, "purpose")?,
        layout_id: LayoutId(r.try_get("layout_id")?),
        layout_version: r.try_get("layout_version")?,
        customer_id: r.try_get::<Option<i64>, _>("customer_id")?.map(CustomerId),
        contract_id: r.try_get::<Option<i64>, _>("contract_id")?.map(ContractId),
        invoice_id: r.try_get::<Option<i64>, _>("invoice_id")?.map(InvoiceId),
        attach_boleto: r.try_get::<i64, _>("attach_boleto")? != 0,
        attach_letter: r.try_get::<i64, _>("attach_letter")? != 0,
        actor: r.try_get("actor")?,
        status: parse(r, "status")?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        message_id: r.try_get("message_id")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

/// The Message-ID of a new notice, written once when it is enqueued and kept by every attempt
/// (after a retry or a crash, by any worker), so a receiving server can drop a repeat. It is
/// unique per notice: 96 random bits first (two installations, or one database restored from an
/// old backup, can reuse a dedup key, and Gmail silently drops a second message with a
/// Message-ID it has seen), then the dedup key made readable (`rule:42:7` → `rule.42.7`) for
/// whoever reads the headers. The key part is only a hint: cut at 100 characters, punctuation
/// folded to `.`; the random part alone makes the id unique (and the `.eml` file name of the
/// folder transport with it).
pub fn message_id_for(dedup_key: &str, from: &EmailAddress) -> String {
    // Uniqueness, not secrecy: fastrand (seeded from the OS per thread) is enough, and cheap
    // on the bulk path.
    let random = format!("{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..));
    let local: String = dedup_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .take(100)
        .collect();
    let domain = from
        .as_str()
        .rsplit_once('@')
        .map_or("regua.local", |(_, d)| d);
    format!("<{random}.{local}.regua@{domain}>")
}

/// The columns every notice INSERT writes, in the order of [`notice_values`]. The single
/// ([`enqueue_notice`]) and the bulk path ([`insert_notices`]) both use it, so a column added to
/// notices cannot be written by one and silently dropped by the other (the bulk path once
/// dropped gateway, suspension and fallback).
const NOTICE_WRITE_COLUMNS: &[(&str, Ty)] = &[
    ("dedup_key", Ty::Text),
    ("channel", Ty::Text),
    ("account_id", Ty::Int),
    ("gateway_id", Ty::Int),
    ("suspension_id", Ty::Int),
    ("fallback", Ty::Text),
    ("recipient", Ty::Text),
    ("purpose", Ty::Text),
    ("layout_id", Ty::Int),
    ("customer_id", Ty::Int),
    ("contract_id", Ty::Int),
    ("invoice_id", Ty::Int),
    ("attach_boleto", Ty::Int),
    ("attach_letter", Ty::Int),
    ("actor", Ty::Text),
    ("status", Ty::Text),
    ("last_error", Ty::Text),
    ("message_id", Ty::Text),
    ("attempts", Ty::Int),
    ("next_attempt_at", Ty::Int),
    ("created_at", Ty::Int),
    ("updated_at", Ty::Int),
];

/// One notice; a key that exists is left alone, a new row's id comes back.
static NOTICE_INSERT: Insert = Insert {
    table: "notices",
    columns: NOTICE_WRITE_COLUMNS,
    tail: "ON CONFLICT (dedup_key) DO NOTHING",
    returning: &[("id", Ty::Int)],
};

/// Notices in bulk: their ids and keys come back, to tie them to what caused them.
static NOTICES_INSERT: Insert = Insert {
    returning: &[("id", Ty::Int), ("dedup_key", Ty::Text)],
    ..NOTICE_INSERT
};

/// Notices in bulk, nothing back (the routine's: only the count).
static NOTICES_INSERT_QUIET: Insert = Insert {
    returning: &[],
    ..NOTICE_INSERT
};

/// One notice's values in the order of [`NOTICE_WRITE_COLUMNS`]. `skipped` records it
/// `skipped` with that reason; otherwise it is `queued`, due now.
fn notice_values(
    n: &NewNotice,
    skipped: Option<&str>,
    from: &EmailAddress,
    now_ms: i64,
) -> Vec<Value> {
    let status = if skipped.is_some() {
        NoticeStatus::Skipped
    } else {
        NoticeStatus::Queued
    };
    let key = n.dedup_key.to_string();
    let message_id = message_id_for(&key, from);
    vec![
        key.into(),
        n.channel.as_str().into(),
        n.account_id.map(|a| a.0).into(),
        n.gateway_id.map(|g| g.0).into(),
        n.suspension_id.map(|s| s.0).into(),
        Channel::format_list(&n.fallback).into(),
        n.recipient.as_str().into(),
        n.purpose.as_str().into(),
        n.layout_id.0.into(),
        n.customer_id.map(|c| c.0).into(),
        n.contract_id.map(|c| c.0).into(),
        n.invoice_id.map(|i| i.0).into(),
        i64::from(n.attach_boleto).into(),
        i64::from(n.attach_letter).into(),
        n.actor.as_str().into(),
        status.as_str().into(),
        skipped.into(),
        message_id.into(),
        0i64.into(),
        now_ms.into(),
        now_ms.into(),
        now_ms.into(),
    ]
}

/// Enqueues a notice in the caller's transaction (the one that records its cause). A dedup key
/// that exists is left alone and reported.
pub async fn enqueue_notice(
    conn: &mut AnyConnection,
    n: &NewNotice,
    from: &EmailAddress,
    now_ms: i64,
) -> anyhow::Result<Enqueued> {
    let row = NOTICE_INSERT
        .bind_one(
            sqlx::query(AssertSqlSafe(NOTICE_INSERT.sqlite_sql())),
            notice_values(n, None, from, now_ms),
        )
        .fetch_optional(&mut *conn)
        .await
        .context("cannot enqueue the notice")?;
    if let Some(row) = row {
        return Ok(Enqueued::New(NoticeId(row.try_get(0)?)));
    }
    let (id, status) = notice_by_dedup_key(conn, &n.dedup_key)
        .await?
        .with_context(|| format!("notice {:?} vanished", n.dedup_key))?;
    Ok(Enqueued::Exists(id, status))
}

/// A row for [`insert_notices`]: a notice to queue, or a skip to record (status `skipped`,
/// with the reason in pt-BR as `last_error`).
#[derive(Debug, Clone)]
pub struct NoticeRow {
    /// The notice.
    pub notice: NewNotice,
    /// `Some(reason)` records it skipped.
    pub skipped: Option<String>,
}

/// Inserts notices in the bulk transaction (`ON CONFLICT (dedup_key) DO NOTHING`, so a key that
/// exists is left alone). Returns how many rows were new.
pub async fn insert_notices(
    bulk: &mut Bulk,
    rows: &[NoticeRow],
    from: &EmailAddress,
    now_ms: i64,
) -> anyhow::Result<u64> {
    Ok(bulk
        .insert_each(&NOTICES_INSERT_QUIET, rows, |r| {
            Ok(notice_values(&r.notice, r.skipped.as_deref(), from, now_ms))
        })
        .await?
        .count)
}

/// Enqueues notices in the bulk transaction as [`enqueue_notice`] does one: each comes back
/// with its id, in order, a key that existed with the existing notice's.
pub async fn enqueue_notices(
    bulk: &mut Bulk,
    notices: &[NewNotice],
    from: &EmailAddress,
    now_ms: i64,
) -> anyhow::Result<Vec<NoticeId>> {
    let written = bulk
        .insert_each(&NOTICES_INSERT, notices, |n| {
            Ok(notice_values(n, None, from, now_ms))
        })
        .await?;
    let mut ids: std::collections::HashMap<String, NoticeId> = written
        .returned
        .iter()
        .map(|r| Ok((r[1].text()?.to_string(), NoticeId(r[0].int()?))))
        .collect::<anyhow::Result<_>>()?;
    let mut out = Vec::with_capacity(notices.len());
    for n in notices {
        let key = n.dedup_key.to_string();
        let id = match ids.remove(&key) {
            Some(id) => id,
            None => {
                let found = bulk
                    .query(
                        "SELECT id FROM notices WHERE dedup_key = $1",
                        vec![key.clone().into()],
                        &[Ty::Int],
                    )
                    .await?;
                let row = found
                    .first()
                    .with_context(|| format!("notice {key:?} vanished"))?;
                NoticeId(row[0].int()?)
            }
        };
        out.push(id);
    }
    Ok(out)
}

/// The notice with a dedup key, and its status, if there is one.
pub async fn notice_by_dedup_key(
    conn: &mut AnyConnection,
    dedup_key: &crate::domain::NoticeKey,
) -> anyhow::Result<Option<(NoticeId, NoticeStatus)>> {
    let row = sqlx::query("SELECT id, status FROM notices WHERE dedup_key = $1")
        .bind(dedup_key.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| Ok((NoticeId(row.try_get(0)?), parse(&row, "status")?)))
        .transpose()
}

/// A notice by id.
pub async fn get_notice(conn: &mut AnyConnection, id: NoticeId) -> anyhow::Result<Notice> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("notice {id}"))?;
    notice_from_row(&row)
}

/// Notices by status (all when `None`), newest first.
pub async fn list_notices(
    conn: &mut AnyConnection,
    status: Option<NoticeStatus>,
    limit: i64,
) -> anyhow::Result<Vec<Notice>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(status.map(|s| s.as_str()))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(notice_from_row)
    .collect()
}

/// How many notices are in each status.
pub async fn count_notices_by_status(
    conn: &mut AnyConnection,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT status, COUNT(*) FROM notices GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

/// How many notices a drain would find due at `now` (queued or retrying and due, or leased
/// with an expired lease).
pub async fn count_due_notices(conn: &mut AnyConnection, now_ms: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query(concat!(
        "SELECT COUNT(*) FROM notices WHERE (status IN ",
        status_sql!(waiting),
        " AND next_attempt_at <= $1) OR (status = ",
        status_sql!(sending),
        " AND lease_until <= $1)"
    ))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The next time a queued or retrying notice becomes due, if any.
pub async fn next_due_at(conn: &mut AnyConnection) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query(concat!(
        "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM notices WHERE status IN ",
        status_sql!(waiting),
        " UNION ALL SELECT MIN(lease_until) AS t FROM notices WHERE status = ",
        status_sql!(sending),
        ") AS due"
    ))
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// A claimed notice: leased to this worker, with capacity reserved on its account.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The notice, as claimed (status `sending`, `account_id` possibly switched to a fallback).
    pub notice: Notice,
    /// The reservation in the send ledger, confirmed on success and released otherwise.
    pub reservation: Option<i64>,
    /// The same in the SMS gateways' ledger (or the WhatsApp accounts', by the notice's channel).
    pub gateway_reservation: Option<i64>,
}

/// Claims up to `batch` due notices for `worker`, leasing them until `now + lease_ms`.
pub async fn claim_due_notices(
    db: &Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    batch: i64,
    closed: &crate::domain::window::ClosedChannels,
) -> anyhow::Result<Vec<Claim>> {
    claim_notices(db, worker, now_ms, lease_ms, batch, None, closed).await
}

/// Claims one notice if it is due (an operator's "send now", `regua smtp test`).
pub async fn claim_notice(
    db: &Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    id: NoticeId,
) -> anyhow::Result<Option<Claim>> {
    // An operator's explicit "send now" or test is not held by the sending windows.
    let open = crate::domain::window::ClosedChannels::default();
    Ok(
        claim_notices(db, worker, now_ms, lease_ms, 1, Some(id), &open)
            .await?
            .into_iter()
            .next(),
    )
}

async fn claim_notices(
    db: &Db,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
    batch: i64,
    only: Option<NoticeId>,
    closed: &crate::domain::window::ClosedChannels,
) -> anyhow::Result<Vec<Claim>> {
    let mut tx = db.begin().await?;
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let candidates: Vec<Notice> = sqlx::query(AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} FROM notices
         WHERE ((status IN {waiting} AND next_attempt_at <= $1) OR (status = {sending} AND lease_until <= $1))
           AND ($3 IS NULL OR id = $3)
         ORDER BY next_attempt_at, id LIMIT $2{lock}",
        waiting = status_sql!(waiting),
        sending = status_sql!(sending),
    )))
    .bind(now_ms)
    .bind(batch)
    .bind(only.map(|i| i.0))
    .fetch_all(&mut *tx)
    .await
    .context("cannot select due notices")?
    .iter()
    .map(notice_from_row)
    .collect::<anyhow::Result<_>>()?;
    if candidates.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }

    // Capacity per account and gateway, locked in key order (with the accounts' fallbacks) so
    // that claims on several workers serialise per account and never deadlock.
    // A WhatsApp notice counts against its layout's account (the template mapping's).
    let whatsapp: std::collections::HashMap<i64, i64> =
        if candidates.iter().any(|n| n.channel == Channel::Whatsapp) {
            sqlx::query("SELECT layout_id, account_id FROM layout_whatsapp")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?
        } else {
            Default::default()
        };
    let mut wanted: Vec<Limited> = candidates
        .iter()
        .filter_map(|n| Limited::of(n, &whatsapp))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut capacity: BTreeMap<Limited, Capacity> = BTreeMap::new();
    for l in wanted {
        if capacity.contains_key(&l) {
            continue;
        }
        let cap = Capacity::load(&mut tx, db.backend, l, now_ms).await?;
        if let Some(f) = cap.fallback {
            let f = Limited::Account(f.0);
            if let std::collections::btree_map::Entry::Vacant(e) = capacity.entry(f) {
                e.insert(Capacity::load(&mut tx, db.backend, f, now_ms).await?);
            }
        }
        capacity.insert(l, cap);
    }

    // Pacing per recipient domain (e-mail only): the groups' minute windows, locked in name
    // order, and the pauses throttling answers put on an account's sends to a domain.
    let has_email = candidates.iter().any(|n| n.channel == Channel::Email);
    let rules = if has_email {
        super::pacing::list_rules(&mut tx).await?
    } else {
        Vec::new()
    };
    let mut windows: BTreeMap<String, super::pacing::Window> = BTreeMap::new();
    let mut pauses: std::collections::HashMap<(i64, String), i64> = Default::default();
    if has_email {
        let mut paced: Vec<&crate::domain::pacing::PacingRule> = candidates
            .iter()
            .filter(|n| n.channel == Channel::Email)
            .filter_map(|n| crate::domain::pacing::key_for(&rules, &n.recipient).1)
            .collect();
        paced.sort_by(|a, b| a.name.cmp(&b.name));
        paced.dedup_by(|a, b| a.name == b.name);
        for rule in paced {
            windows.insert(
                rule.name.clone(),
                super::pacing::window(&mut tx, db.backend, rule, now_ms).await?,
            );
        }
        for p in super::pacing::pauses_in_force(&mut tx, now_ms).await? {
            pauses.insert((p.account_id, p.domain_key), p.until);
        }
    }
    let mut paced_sends: Vec<(String, i64)> = Vec::new();

    let mut claimed: Vec<(Notice, Option<Limited>)> = Vec::new();
    let mut deferred: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    // Outside its channel's sending window a notice waits for the opening, the reason on it.
    let mut waiting: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for n in candidates {
        if let Some((opens, why)) = closed.until(n.channel) {
            waiting
                .entry((opens, why.to_string()))
                .or_default()
                .push(n.id.0);
            continue;
        }
        let Some(l) = Limited::of(&n, &whatsapp) else {
            claimed.push((n, None));
            continue;
        };
        let mut pacing = None;
        if n.channel == Channel::Email {
            let (key, rule) = crate::domain::pacing::key_for(&rules, &n.recipient);
            if let Some(until) = n.account_id.and_then(|a| pauses.get(&(a.0, key.clone()))) {
                deferred.entry(*until).or_default().push(n.id.0);
                continue;
            }
            if let Some(rule) = rule {
                let w = windows.get(&rule.name).context("pacing window")?;
                if w.left == 0 {
                    deferred.entry(w.opening).or_default().push(n.id.0);
                    continue;
                }
                pacing = Some(rule.name.clone());
            }
        }
        let primary = capacity.get_mut(&l).context("capacity")?;
        if primary.take() {
            if let Some(name) = pacing {
                if let Some(w) = windows.get_mut(&name) {
                    w.left -= 1;
                }
                paced_sends.push((name, n.id.0));
            }
            claimed.push((n, Some(l)));
            continue;
        }
        let fallback = primary.fallback.map(|f| Limited::Account(f.0));
        let opening = primary.opening;
        if let Some(f) = fallback
            && capacity.get_mut(&f).is_some_and(Capacity::take)
        {
            if let Some(name) = pacing {
                if let Some(w) = windows.get_mut(&name) {
                    w.left -= 1;
                }
                paced_sends.push((name, n.id.0));
            }
            claimed.push((n, Some(f)));
            continue;
        }
        deferred.entry(opening).or_default().push(n.id.0);
    }

    for (opening, ids) in &deferred {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE notices SET next_attempt_at = $1, updated_at = $2 WHERE id IN ({}) AND status IN {}",
            super::id_list(ids.iter().copied()),
            status_sql!(waiting),
        )))
        .bind(*opening)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            deferred = ids.len(),
            until = opening,
            "sending limit reached; notices wait for the window"
        );
    }

    if !paced_sends.is_empty() {
        super::pacing::record_sends(&mut tx, &paced_sends, now_ms).await?;
    }
    for ((opens, why), ids) in &waiting {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE notices SET next_attempt_at = $1, last_error = $2, updated_at = $3 WHERE id IN ({}) AND status IN {}",
            super::id_list(ids.iter().copied()),
            status_sql!(waiting),
        )))
        .bind(*opens)
        .bind(why)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }

    // A few statements per batch, not per notice: SQLite through sqlx pays a thread hop for
    // each statement, which dominated delivery at thousands of messages a second.
    let mut by_sender: BTreeMap<Option<Limited>, Vec<i64>> = BTreeMap::new();
    for (n, l) in &claimed {
        by_sender.entry(*l).or_default().push(n.id.0);
    }
    let mut reservations: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for (sender, ids) in &by_sender {
        // An e-mail notice takes the account it is sent through (its fallback, on overflow).
        let set_account = match sender {
            Some(Limited::Account(a)) => format!(", account_id = {a}"),
            _ => String::new(),
        };
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE notices SET status = {}, lease_until = $1, lease_owner = $2, attempts = attempts + 1,
                updated_at = $3{set_account} WHERE id IN ({})",
            status_sql!(sending),
            super::id_list(ids.iter().copied())
        )))
        .bind(now_ms + lease_ms)
        .bind(worker)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if let Some(l) = sender {
            let (table, column, id) = l.ledger();
            // Integers only in the VALUES list.
            let values = ids
                .iter()
                .map(|n| format!("({id}, {n}, {now_ms})"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} ({column}, notice_id, sent_at) VALUES {values} RETURNING id, notice_id"
            )))
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                reservations.insert(r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?);
            }
        }
    }
    let out = claimed
        .into_iter()
        .map(|(mut n, l)| {
            n.status = NoticeStatus::Sending;
            n.attempts += 1;
            let reservation = reservations.get(&n.id.0).copied();
            let (reservation, gateway_reservation) = match l {
                Some(Limited::Account(a)) => {
                    n.account_id = Some(AccountId(a));
                    (reservation, None)
                }
                Some(Limited::Gateway(_) | Limited::Whatsapp(_)) => (None, reservation),
                None => (None, None),
            };
            Claim {
                notice: n,
                reservation,
                gateway_reservation,
            }
        })
        .collect();
    tx.commit().await.context("cannot commit the claim")?;
    Ok(out)
}

/// What a notice is sent through, when that has limits: an e-mail account or an SMS gateway.
/// Push has none of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Limited {
    Account(i64),
    Gateway(i64),
    Whatsapp(i64),
}

impl Limited {
    /// `whatsapp` is each layout's WhatsApp account (its template mapping's).
    fn of(n: &Notice, whatsapp: &std::collections::HashMap<i64, i64>) -> Option<Limited> {
        match n.channel {
            Channel::Email => n.account_id.map(|a| Limited::Account(a.0)),
            Channel::Sms => n.gateway_id.map(|g| Limited::Gateway(g.0)),
            Channel::Push => None,
            Channel::Whatsapp => whatsapp.get(&n.layout_id.0).map(|a| Limited::Whatsapp(*a)),
        }
    }

    /// The ledger table, its key column, and the key.
    fn ledger(self) -> (&'static str, &'static str, i64) {
        match self {
            Limited::Account(a) => ("account_sends", "account_id", a),
            Limited::Gateway(g) => ("gateway_sends", "gateway_id", g),
            Limited::Whatsapp(a) => ("whatsapp_sends", "account_id", a),
        }
    }
}

/// What an account or gateway can still send now, within its rolling hour and day.
#[derive(Debug)]
struct Capacity {
    /// Messages it may still start now; `None` = unlimited.
    left: Option<i64>,
    /// When a slot frees up, for notices that must wait.
    opening: i64,
    /// Where overflow goes.
    fallback: Option<AccountId>,
}

impl Capacity {
    async fn load(
        conn: &mut AnyConnection,
        backend: Backend,
        sender: Limited,
        now_ms: i64,
    ) -> anyhow::Result<Capacity> {
        let lock = match backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let select = match sender {
            Limited::Account(_) => {
                "SELECT hourly_limit, daily_limit, fallback_account_id FROM smtp_accounts WHERE id = $1"
            }
            Limited::Gateway(_) => {
                "SELECT hourly_limit, daily_limit, NULL FROM sms_gateways WHERE id = $1"
            }
            Limited::Whatsapp(_) => {
                "SELECT NULL, daily_limit, NULL FROM whatsapp_accounts WHERE id = $1"
            }
        };
        let (table, column, id) = sender.ledger();
        let row = sqlx::query(AssertSqlSafe(format!("{select}{lock}")))
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("{sender:?}"))?;
        let hourly: Option<i64> = row.try_get(0)?;
        let daily: Option<i64> = row.try_get(1)?;
        let fallback = row.try_get::<Option<i64>, _>(2)?.map(AccountId);
        let limits = crate::domain::send_limits::SendLimits {
            hourly: hourly.and_then(|l| u32::try_from(l).ok()),
            daily: daily.and_then(|l| u32::try_from(l).ok()),
        };
        // Per window: what was sent in it, and its oldest send (when a slot frees up).
        let mut windows = Vec::new();
        for (limit, window) in limits.windows() {
            if limit.is_none() {
                windows.push((0, None, window));
                continue;
            }
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*), MIN(sent_at) FROM {table} WHERE {column} = $1 AND sent_at > $2"
            )))
            .bind(id)
            .bind(now_ms - window)
            .fetch_one(&mut *conn)
            .await?;
            windows.push((
                row.try_get::<i64, _>(0)?,
                row.try_get::<Option<i64>, _>(1)?,
                window,
            ));
        }
        let used = crate::domain::send_limits::Usage {
            hour: windows[0].0,
            day: windows[1].0,
        };
        let (hour_left, day_left) = limits.left(used);
        let left = match (hour_left, day_left) {
            (Some(h), Some(d)) => Some(h.min(d)),
            (h, d) => h.or(d),
        };
        let mut opening = now_ms;
        for (left, (_, oldest, window)) in [hour_left, day_left].into_iter().zip(&windows) {
            if left == Some(0) {
                opening = opening.max(oldest.unwrap_or(now_ms) + window + 1);
            }
        }
        Ok(Capacity {
            left,
            opening,
            fallback,
        })
    }

    fn take(&mut self) -> bool {
        match &mut self.left {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// How an attempt ended, for [`finish_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// `Sent`, `Retrying`, `Dead` or `Skipped`.
    pub outcome: NoticeStatus,
    /// When to try again (for `Retrying`).
    pub retry_at: Option<i64>,
    /// The server's reply code, if there was one.
    pub reply_code: Option<u16>,
    /// The server's reply text, or the reason.
    pub reply_text: String,
    /// The recipient actually used (the current e-mail on file).
    pub recipient: String,
    /// The layout version rendered, if rendering happened.
    pub layout_version: Option<i64>,
    /// Duration of the attempt.
    pub duration_ms: i64,
    /// When the attempt ended (ms).
    pub at_ms: i64,
    /// With `Skipped`: the channel the notice goes on through (its next fallback), queued again.
    pub fallback: Option<Channel>,
    /// With `Sent`: the provider's id of the message (Meta's `wamid`, an SMS gateway's id),
    /// which its delivery receipts name.
    pub provider_id: Option<String>,
}

/// Records the end of attempts, in one transaction: each notice's new status, its log row, and
/// the send ledger (a reservation is confirmed when sent, released otherwise). `now_ms` is when
/// they are recorded; each log row keeps its attempt's own time. Returns how many leases had been
/// lost to another worker meanwhile (their log rows are still written, their status is not).
pub async fn finish_attempts(
    db: &Db,
    done: &[(&Claim, AttemptResult)],
    worker: &str,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let mut lost = 0;
    // The common case — sent to the address it was queued for — in one statement per layout
    // version; everything else notice by notice.
    let mut sent: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
    for (claim, result) in done {
        let n = &claim.notice;
        if result.outcome == NoticeStatus::Sent && result.recipient == n.recipient {
            sent.entry(result.layout_version).or_default().push(n.id.0);
            continue;
        }
        if let Some(next) = result.fallback {
            // The channel could not reach the customer: the notice goes on through the next one,
            // due now; this attempt's log row says why.
            let rest: Vec<Channel> = n.fallback.iter().copied().filter(|c| *c != next).collect();
            let updated = sqlx::query(concat!(
                "UPDATE notices SET status = ",
                status_sql!(queued),
                ", channel = $1, fallback = $2, next_attempt_at = $3,
                    lease_until = NULL, lease_owner = NULL, last_error = $4, updated_at = $3
                 WHERE id = $5 AND status = ",
                status_sql!(sending),
                " AND lease_owner = $6"
            ))
            .bind(next.as_str())
            .bind(Channel::format_list(&rest))
            .bind(now_ms)
            .bind(&result.reply_text)
            .bind(n.id.0)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            lost += 1 - usize::try_from(updated).unwrap_or(1).min(1);
            continue;
        }
        let sent_at = (result.outcome == NoticeStatus::Sent).then_some(now_ms);
        let last_error =
            (result.outcome != NoticeStatus::Sent).then_some(result.reply_text.as_str());
        let updated = sqlx::query(concat!(
            "UPDATE notices SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at), lease_until = NULL,
                lease_owner = NULL, last_error = $3, sent_at = COALESCE($4, sent_at), recipient = $5,
                layout_version = COALESCE($6, layout_version), updated_at = $7
             WHERE id = $8 AND status = ",
            status_sql!(sending),
            " AND lease_owner = $9"
        ))
        .bind(result.outcome.as_str())
        .bind(result.retry_at)
        .bind(last_error)
        .bind(sent_at)
        .bind(&result.recipient)
        .bind(result.layout_version)
        .bind(now_ms)
        .bind(n.id.0)
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        lost += 1 - usize::try_from(updated).unwrap_or(1).min(1);
    }
    for (version, ids) in &sent {
        let updated = sqlx::query(AssertSqlSafe(format!(
            "UPDATE notices SET status = {sent}, lease_until = NULL, lease_owner = NULL, last_error = NULL,
                sent_at = $1, layout_version = COALESCE($2, layout_version), updated_at = $1
             WHERE id IN ({ids}) AND status = {sending} AND lease_owner = $3",
            ids = super::id_list(ids.iter().copied()),
            sent = status_sql!(sent),
            sending = status_sql!(sending),
        )))
        .bind(now_ms)
        .bind(*version)
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        lost += ids.len() - usize::try_from(updated).unwrap_or(0).min(ids.len());
    }
    if lost > 0 {
        tracing::warn!(lost, "leases lost before the attempts were recorded");
    }
    // A server that says "slow down" about a domain pauses the account's sends to it.
    let throttled: Vec<_> = done
        .iter()
        .filter(|(c, r)| {
            c.notice.channel == Channel::Email
                && matches!(r.outcome, NoticeStatus::Retrying | NoticeStatus::Dead)
                && crate::domain::pacing::is_throttle(r.reply_code, &r.reply_text)
        })
        .collect();
    if !throttled.is_empty() {
        let rules = super::pacing::list_rules(&mut tx).await?;
        for (c, r) in throttled {
            if let Some(a) = c.notice.account_id {
                super::pacing::record_throttle(
                    &mut tx,
                    &rules,
                    a.0,
                    &r.recipient,
                    &r.reply_text,
                    now_ms,
                )
                .await?;
            }
        }
    }
    for chunk in done.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO delivery_attempts (notice_id, attempted_at, channel, account_id, recipient, reply_code, reply_text,
                outcome, duration_ms, worker) VALUES ",
        );
        for k in 0..chunk.len() {
            let b = k * 10;
            if k > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (claim, result) in chunk {
            let n = &claim.notice;
            q = q
                .bind(n.id.0)
                .bind(result.at_ms)
                .bind(n.channel.as_str())
                .bind(n.account_id.map(|a| a.0))
                .bind(result.recipient.clone())
                .bind(result.reply_code.map(i64::from))
                .bind(result.reply_text.clone())
                .bind(result.outcome.as_str())
                .bind(result.duration_ms)
                .bind(worker.to_string());
        }
        q.execute(&mut *tx).await?;
    }
    // The ledger: a confirmed send counts from when it was recorded (never earlier than the
    // send itself, so a window can only be counted long, never short).
    for (table, reservation) in [
        (
            "account_sends",
            (|c: &Claim| c.reservation) as fn(&Claim) -> Option<i64>,
        ),
        ("gateway_sends", |c: &Claim| {
            c.gateway_reservation
                .filter(|_| c.notice.channel == Channel::Sms)
        }),
        ("whatsapp_sends", |c: &Claim| {
            c.gateway_reservation
                .filter(|_| c.notice.channel == Channel::Whatsapp)
        }),
    ] {
        let (confirmed, released): (Vec<_>, Vec<_>) = done
            .iter()
            .filter_map(|(c, r)| reservation(c).map(|id| (id, r.outcome == NoticeStatus::Sent)))
            .partition(|(_, ok)| *ok);
        if !confirmed.is_empty() {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET sent_at = $1 WHERE id IN ({})",
                super::id_list(confirmed.iter().map(|(id, _)| *id))
            )))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        if !released.is_empty() {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id IN ({})",
                super::id_list(released.iter().map(|(id, _)| *id))
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    // Integrations that listen learn of each message sent, and of each given up on.
    let of = |status: NoticeStatus| -> Vec<(i64, String)> {
        done.iter()
            .filter(|(_, r)| r.outcome == status && r.fallback.is_none())
            .map(|(c, r)| (c.notice.id.0, r.reply_text.clone()))
            .collect()
    };
    super::webhooks::emit_notices(&mut tx, "notice.sent", &of(NoticeStatus::Sent), now_ms).await?;
    super::webhooks::emit_notices(&mut tx, "notice.failed", &of(NoticeStatus::Dead), now_ms)
        .await?;
    // The providers' ids, so that receipts find their notice.
    for (c, r) in done {
        if let (NoticeStatus::Sent, Some(id)) = (r.outcome, &r.provider_id) {
            let sender = match c.notice.channel {
                Channel::Sms => format!("sms:{}", c.notice.gateway_id.map_or(0, |g| g.0)),
                other => other.as_str().to_string(),
            };
            sqlx::query(
                "INSERT INTO provider_messages (sender, provider_id, notice_id) VALUES ($1, $2, $3)
                 ON CONFLICT (sender, provider_id) DO NOTHING",
            )
            .bind(sender)
            .bind(id)
            .bind(c.notice.id.0)
            .execute(&mut *tx)
            .await?;
        }
    }
    // A portal access link's text lives only until its e-mail is sent or given up on.
    let settled: Vec<i64> = done
        .iter()
        .filter(|(c, r)| {
            c.notice.purpose == crate::domain::Purpose::PortalAccess
                && r.outcome != NoticeStatus::Retrying
        })
        .map(|(c, _)| c.notice.id.0)
        .collect();
    super::subscribers::forget_token_texts(&mut tx, &settled).await?;
    tx.commit().await.context("cannot record the attempts")?;
    Ok(lost)
}

/// Puts a dead (or skipped) notice back in the queue, due now. Returns false when the notice is
/// in another status.
pub async fn requeue_notice(
    conn: &mut AnyConnection,
    id: NoticeId,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(concat!(
        "UPDATE notices SET status = ",
        status_sql!(queued),
        ", next_attempt_at = $1, attempts = 0, updated_at = $1 WHERE id = $2 AND status IN ",
        status_sql!(given_up)
    ))
    .bind(now_ms)
    .bind(id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A customer's notices, newest first (the timeline).
pub async fn list_notices_of_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
    limit: i64,
) -> anyhow::Result<Vec<Notice>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(customer.0)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(notice_from_row)
    .collect()
}

/// Skips the notices still waiting to be sent (queued or retrying) of the invoices just paid
/// (`store::invoices::mark_invoices_paid`, in the caller's transaction), each with `fatura paga
/// em DD/MM/AAAA` and its log row: a paid invoice is not reminded of, even between the payment
/// and the worker's own check. A message carrying several invoices (the generation e-mail) is
/// left to that check, which sends the ones still open; a payment's own confirmation
/// (`payment_confirmed`) is not a reminder and stays. Two statements for any number of
/// invoices; how many notices.
pub async fn skip_waiting_notices_of_paid(
    conn: &mut AnyConnection,
    now_ms: i64,
) -> anyhow::Result<u64> {
    // The date as the log shows it, DD/MM/AAAA, from the stored AAAA-MM-DD (same on both engines).
    const REASON: &str = "'fatura paga em ' || substr(p.paid_on, 9, 2) || '/' || substr(p.paid_on, 6, 2) \
         || '/' || substr(p.paid_on, 1, 4)";
    // `status || ''`: an expression, so SQLite looks the notices up by invoice instead of walking
    // the (status, time) index over every waiting notice.
    let sql = format!(
        "UPDATE notices SET status = {skipped},
            last_error = (SELECT {REASON} FROM regua_payments p WHERE p.id = notices.invoice_id),
            lease_until = NULL, lease_owner = NULL, updated_at = $1
         WHERE invoice_id IN (SELECT id FROM regua_payments) AND status || '' IN {waiting}
           AND purpose <> 'payment_confirmed'
           AND NOT EXISTS (SELECT 1 FROM notice_invoices g WHERE g.notice_id = notices.id)",
        skipped = status_sql!(skipped),
        waiting = status_sql!(waiting),
    );
    let skipped = sqlx::query(AssertSqlSafe(sql))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // Their log rows: the notices this statement just skipped (of an invoice just paid,
    // skipped at this very time, in this transaction).
    let sql = format!(
        "INSERT INTO delivery_attempts (notice_id, attempted_at, channel, account_id, recipient, reply_code,
            reply_text, outcome, duration_ms, worker)
         SELECT n.id, $1, n.channel, n.account_id, n.recipient, NULL, n.last_error, {skipped}, 0, 'payment'
           FROM regua_payments p JOIN notices n ON n.invoice_id = p.id
          WHERE n.status || '' = {skipped} AND n.updated_at = $1",
        skipped = status_sql!(skipped),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(skipped)
}
