//! WhatsApp accounts, layouts' template mappings, numbers WhatsApp must not be used for,
//! subscribers' replies, and the receipts of every channel (docs/whatsapp.md). The access
//! token and the app secret are sealed with the master key; the verify token is kept as its
//! SHA-256 only.

use std::collections::HashMap;

use anyhow::Context as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::{is_constraint, parties::ConfigError};
use crate::domain::delivery::{NoticeId, WhatsappAccountId};
use crate::domain::whatsapp::{NewWhatsappAccount, TemplateMapping, WhatsappAccount};
use crate::domain::{CustomerId, LayoutId};
use crate::secrets::{MasterKey, Secret, SecretError};

const ACCOUNT_COLUMNS: &str =
    "id, name, phone_number_id, business_account_id, api_url, daily_limit, active, updated_at";

fn account_from_row(r: &AnyRow) -> anyhow::Result<WhatsappAccount> {
    Ok(WhatsappAccount {
        id: WhatsappAccountId(r.try_get("id")?),
        name: r.try_get("name")?,
        phone_number_id: r.try_get("phone_number_id")?,
        business_account_id: r.try_get("business_account_id")?,
        api_url: r.try_get("api_url")?,
        daily_limit: r
            .try_get::<Option<i64>, _>("daily_limit")?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        active: r.try_get::<i64, _>("active")? != 0,
        revision: r.try_get("updated_at")?,
    })
}

/// Creates an account, its token and app secret sealed with `key` (refused without one).
pub async fn insert_account(
    conn: &mut AnyConnection,
    a: &NewWhatsappAccount,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> Result<WhatsappAccountId, ConfigError> {
    a.check()
        .map_err(|(field, reason)| ConfigError::Invalid { field, reason })?;
    let key = key
        .ok_or(SecretError::NoKey)
        .map_err(|e| ConfigError::Invalid {
            field: "token",
            reason: e.to_string(),
        })?;
    let res = sqlx::query(
        "INSERT INTO whatsapp_accounts (name, phone_number_id, business_account_id, token_enc, app_secret_enc,
            verify_token_sha256, api_url, daily_limit, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9) RETURNING id",
    )
    .bind(a.name.trim())
    .bind(&a.phone_number_id)
    .bind(&a.business_account_id)
    .bind(key.seal(&a.token))
    .bind(key.seal(&a.app_secret))
    .bind(crate::domain::auth::token_hash(a.verify_token.expose()))
    .bind(a.api_url.trim().trim_end_matches('/'))
    .bind(a.daily_limit.map(i64::from))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(WhatsappAccountId(row.try_get(0).context("account id")?)),
        Err(e)
            if is_constraint(&e, "whatsapp_accounts_name_key")
                || is_constraint(&e, "whatsapp_accounts.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "whatsapp account",
                name: a.name.trim().to_string(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert the whatsapp account")
            .into()),
    }
}

/// Every account, removed ones included (the log names them), by name.
pub async fn list_accounts(conn: &mut AnyConnection) -> anyhow::Result<Vec<WhatsappAccount>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts ORDER BY active DESC, name"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(account_from_row)
    .collect()
}

/// The active account of that name.
pub async fn find_account(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<WhatsappAccount>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE name = $1 AND active = 1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(account_from_row)
    .transpose()
}

/// An account's access token and app secret, opened with the master key.
pub async fn account_secrets(
    conn: &mut AnyConnection,
    id: WhatsappAccountId,
    key: Option<&MasterKey>,
) -> anyhow::Result<(Secret, Secret)> {
    let row = sqlx::query("SELECT token_enc, app_secret_enc FROM whatsapp_accounts WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await?;
    let key = key.ok_or(SecretError::NoKey)?;
    Ok((
        key.open(&row.try_get::<String, _>(0)?)?,
        key.open(&row.try_get::<String, _>(1)?)?,
    ))
}

/// The active accounts whose verify token is `token` (Meta's handshake).
pub async fn verify_token_matches(conn: &mut AnyConnection, token: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM whatsapp_accounts WHERE verify_token_sha256 = $1 AND active = 1",
    )
    .bind(crate::domain::auth::token_hash(token))
    .fetch_one(&mut *conn)
    .await?
    .try_get::<i64, _>(0)?
        > 0)
}

/// Removes an account: it stops sending (its mappings go with it) but stays in the log. False
/// when there is no active account of that name.
pub async fn deactivate_account(
    conn: &mut AnyConnection,
    name: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let Some(a) = find_account(conn, name).await? else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM layout_whatsapp WHERE account_id = $1")
        .bind(a.id.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE whatsapp_accounts SET active = 0, name = name || ' (removida #' || CAST(id AS TEXT) || ')', updated_at = $2
         WHERE id = $1",
    )
    .bind(a.id.0)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Messages an account sent (or is sending) since `since_ms`: its 24-hour window's use.
pub async fn account_sends_since(
    conn: &mut AnyConnection,
    id: WhatsappAccountId,
    since_ms: i64,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM whatsapp_sends WHERE account_id = $1 AND sent_at > $2")
            .bind(id.0)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Saves (or replaces) a layout's template mapping.
pub async fn set_mapping(
    conn: &mut AnyConnection,
    layout: LayoutId,
    m: &TemplateMapping,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM layout_whatsapp WHERE layout_id = $1")
        .bind(layout.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO layout_whatsapp (layout_id, account_id, template, language, params, document, button, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(layout.0)
    .bind(m.account_id.0)
    .bind(&m.template)
    .bind(&m.language)
    .bind(m.params.join(","))
    .bind(i64::from(m.document))
    .bind(m.button.clone().unwrap_or_default())
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a layout's mapping; false when it had none.
pub async fn remove_mapping(conn: &mut AnyConnection, layout: LayoutId) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM layout_whatsapp WHERE layout_id = $1")
            .bind(layout.0)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0,
    )
}

/// Every layout's mapping.
pub async fn mappings(
    conn: &mut AnyConnection,
) -> anyhow::Result<HashMap<LayoutId, TemplateMapping>> {
    let rows = sqlx::query(
        "SELECT layout_id, account_id, template, language, params, document, button FROM layout_whatsapp",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let params: String = r.try_get(4)?;
            let button: String = r.try_get(6)?;
            Ok((
                LayoutId(r.try_get(0)?),
                TemplateMapping {
                    account_id: WhatsappAccountId(r.try_get(1)?),
                    template: r.try_get(2)?,
                    language: r.try_get(3)?,
                    params: params
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                    document: r.try_get::<i64, _>(5)? != 0,
                    button: (!button.is_empty()).then_some(button),
                },
            ))
        })
        .collect()
}

/// A Brazilian number as stored on customers (`55` + DDD + 9 digits): WhatsApp reports some
/// mobiles without the ninth digit (`551187654321`), which is put back; a national number as
/// typed (`(11) 98765-4321`) gets the country code.
pub fn normalize_phone(digits: &str) -> String {
    let mut d: String = digits.chars().filter(char::is_ascii_digit).collect();
    // A national number, as typed: DDD and number (an international one has 12 or 13 digits).
    if matches!(d.len(), 10 | 11) {
        d = format!("55{d}");
    }
    if d.len() == 12 && d.starts_with("55") && matches!(d.as_bytes()[4], b'6'..=b'9') {
        format!("{}9{}", &d[..4], &d[4..])
    } else {
        d
    }
}

/// Why WhatsApp must not be used for a number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// The number (`5511987654321`).
    pub phone: String,
    /// `optout` or `unusable`.
    pub kind: String,
    /// What the subscriber wrote, or Meta's error.
    pub detail: String,
    /// When (ms).
    pub created_at: i64,
}

impl Block {
    /// As the customer page says it.
    pub fn label_pt(&self) -> String {
        match self.kind.as_str() {
            "optout" => format!("pediu para não receber WhatsApp ({})", self.detail),
            _ => format!("número sem WhatsApp ({})", self.detail),
        }
    }
}

/// Marks a number: WhatsApp is not used for it until an operator clears it. A number already
/// marked keeps its first reason.
pub async fn block(
    conn: &mut AnyConnection,
    phone: &str,
    kind: &str,
    detail: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO whatsapp_blocks (phone, kind, detail, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (phone) DO NOTHING",
    )
    .bind(normalize_phone(phone))
    .bind(kind)
    .bind(detail)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Clears a number's mark; false when it had none.
pub async fn unblock(conn: &mut AnyConnection, phone: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM whatsapp_blocks WHERE phone = $1")
        .bind(normalize_phone(phone))
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0)
}

/// The marks among `phones`.
pub async fn blocks_among(
    conn: &mut AnyConnection,
    phones: &[String],
) -> anyhow::Result<HashMap<String, Block>> {
    let mut out = HashMap::new();
    for chunk in phones.chunks(200) {
        if chunk.is_empty() {
            continue;
        }
        let marks = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT phone, kind, detail, created_at FROM whatsapp_blocks WHERE phone IN ({marks})"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for p in chunk {
            q = q.bind(p.clone());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let b = block_from_row(&r)?;
            out.insert(b.phone.clone(), b);
        }
    }
    Ok(out)
}

fn block_from_row(r: &AnyRow) -> anyhow::Result<Block> {
    Ok(Block {
        phone: r.try_get(0)?,
        kind: r.try_get(1)?,
        detail: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}

/// Every mark, newest first.
pub async fn list_blocks(conn: &mut AnyConnection) -> anyhow::Result<Vec<Block>> {
    sqlx::query(
        "SELECT phone, kind, detail, created_at FROM whatsapp_blocks ORDER BY created_at DESC",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(block_from_row)
    .collect()
}

/// The customer whose mobile phone is `phone` (normalised), if exactly one has it.
pub async fn customer_by_phone(
    conn: &mut AnyConnection,
    phone: &str,
) -> anyhow::Result<Option<CustomerId>> {
    let rows = sqlx::query("SELECT id FROM customers WHERE mobile_phone = $1 LIMIT 2")
        .bind(normalize_phone(phone))
        .fetch_all(&mut *conn)
        .await?;
    Ok(match rows.as_slice() {
        [one] => Some(CustomerId(one.try_get(0)?)),
        _ => None,
    })
}

/// Records a subscriber's message; false when it was recorded already (Meta delivers a
/// webhook again when it is not answered in time).
pub async fn insert_inbound(
    conn: &mut AnyConnection,
    channel: &str,
    provider_id: &str,
    phone: &str,
    customer: Option<CustomerId>,
    body: &str,
    at_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO inbound_messages (channel, provider_id, phone, customer_id, body, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, provider_id) DO NOTHING",
    )
    .bind(channel)
    .bind(provider_id)
    .bind(normalize_phone(phone))
    .bind(customer.map(|c| c.0))
    .bind(body)
    .bind(at_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// A subscriber's message, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inbound {
    /// `whatsapp`.
    pub channel: String,
    /// The text.
    pub body: String,
    /// When (ms).
    pub received_at: i64,
}

/// A customer's messages, newest first.
pub async fn inbound_of_customer(
    conn: &mut AnyConnection,
    customer: CustomerId,
    limit: i64,
) -> anyhow::Result<Vec<Inbound>> {
    sqlx::query(
        "SELECT channel, body, received_at FROM inbound_messages WHERE customer_id = $1
         ORDER BY received_at DESC, id DESC LIMIT $2",
    )
    .bind(customer.0)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Inbound {
            channel: r.try_get(0)?,
            body: r.try_get(1)?,
            received_at: r.try_get(2)?,
        })
    })
    .collect()
}

/// The notice a provider's message id belongs to.
pub async fn notice_of_message(
    conn: &mut AnyConnection,
    sender: &str,
    provider_id: &str,
) -> anyhow::Result<Option<NoticeId>> {
    Ok(sqlx::query(
        "SELECT notice_id FROM provider_messages WHERE sender = $1 AND provider_id = $2",
    )
    .bind(sender)
    .bind(provider_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get(0).map(NoticeId))
    .transpose()?)
}

/// Records a receipt and moves the notice's furthest receipt; false when the very same receipt
/// (status and time) was recorded already.
#[allow(clippy::too_many_arguments)]
pub async fn record_receipt(
    conn: &mut AnyConnection,
    notice: NoticeId,
    channel: &str,
    status: &str,
    at_ms: i64,
    code: Option<&str>,
    detail: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let seen: i64 = sqlx::query(
        "SELECT COUNT(*) FROM notice_receipts WHERE notice_id = $1 AND status = $2 AND at = $3",
    )
    .bind(notice.0)
    .bind(status)
    .bind(at_ms)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    if seen > 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO notice_receipts (notice_id, channel, status, at, code, detail, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(notice.0)
    .bind(channel)
    .bind(status)
    .bind(at_ms)
    .bind(code)
    .bind(detail)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    match status {
        "delivered" => {
            super::webhooks::emit_notices(
                conn,
                "notice.delivered",
                &[(notice.0, detail.to_string())],
                now_ms,
            )
            .await?
        }
        "failed" => {
            super::webhooks::emit_notices(
                conn,
                "notice.failed",
                &[(notice.0, detail.to_string())],
                now_ms,
            )
            .await?
        }
        _ => {}
    }
    let current: Option<String> = sqlx::query("SELECT receipt FROM notices WHERE id = $1")
        .bind(notice.0)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let next = crate::domain::whatsapp::furthest(current.as_deref(), status);
    if current.as_deref() != Some(next) {
        sqlx::query("UPDATE notices SET receipt = $1 WHERE id = $2")
            .bind(next)
            .bind(notice.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// A receipt as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// `sent`, `delivered`, `read`, `failed`.
    pub status: String,
    /// When the provider says it happened (ms).
    pub at: i64,
    /// The provider's error code.
    pub code: Option<String>,
    /// Its title.
    pub detail: String,
}

/// A notice's receipts, oldest first.
pub async fn receipts_of(
    conn: &mut AnyConnection,
    notice: NoticeId,
) -> anyhow::Result<Vec<Receipt>> {
    sqlx::query(
        "SELECT status, at, code, detail FROM notice_receipts WHERE notice_id = $1 ORDER BY at, id",
    )
    .bind(notice.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Receipt {
            status: r.try_get(0)?,
            at: r.try_get(1)?,
            code: r.try_get(2)?,
            detail: r.try_get(3)?,
        })
    })
    .collect()
}

/// The furthest receipt of each of `notices` that has one.
pub async fn receipt_of_notices(
    conn: &mut AnyConnection,
    notices: &[NoticeId],
) -> anyhow::Result<HashMap<NoticeId, String>> {
    if notices.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT id, receipt FROM notices WHERE receipt IS NOT NULL AND id IN ({})",
        super::id_list(notices.iter().map(|n| n.0))
    );
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((NoticeId(r.try_get(0)?), r.try_get(1)?)))
        .collect()
}

/// A WhatsApp notice that failed after Meta accepted it goes on by its next channel, due now,
/// once: only while it is still a `sent` WhatsApp notice with a channel left. Returns the
/// channel it went on to.
pub async fn fall_back_after_receipt(
    conn: &mut AnyConnection,
    notice: NoticeId,
    reason: &str,
    now_ms: i64,
) -> anyhow::Result<Option<crate::domain::delivery::Channel>> {
    use crate::domain::delivery::Channel;
    let row = sqlx::query(
        "SELECT fallback FROM notices WHERE id = $1 AND channel = 'whatsapp' AND status = 'sent'",
    )
    .bind(notice.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let fallback =
        Channel::parse_list(&row.try_get::<String, _>(0)?).map_err(anyhow::Error::msg)?;
    let Some((next, rest)) = fallback.split_first() else {
        return Ok(None);
    };
    let updated = sqlx::query(
        "UPDATE notices SET status = 'queued', channel = $1, fallback = $2, next_attempt_at = $3,
            attempts = 0, sent_at = NULL, last_error = $4, updated_at = $3, receipt = NULL
         WHERE id = $5 AND channel = 'whatsapp' AND status = 'sent'",
    )
    .bind(next.as_str())
    .bind(Channel::format_list(rest))
    .bind(now_ms)
    .bind(reason)
    .bind(notice.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((updated == 1).then_some(*next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brazilian_numbers_get_their_ninth_digit_back() {
        assert_eq!(normalize_phone("551187654321"), "5511987654321");
        assert_eq!(normalize_phone("5511987654321"), "5511987654321");
        // A landline (starts 2–5) has no ninth digit.
        assert_eq!(normalize_phone("551133334444"), "551133334444");
        assert_eq!(normalize_phone("+55 (11) 98765-4321"), "5511987654321");
        assert_eq!(normalize_phone("(11) 98765-4321"), "5511987654321");
        assert_eq!(normalize_phone("(11) 8765-4321"), "5511987654321");
    }
}
