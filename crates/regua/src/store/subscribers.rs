//! The subscriber portal's records: passwords per CPF/CNPJ, access links, sessions, app devices,
//! and the invoices a document may see.

use anyhow::Context as _;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::invoices::{INVOICE_COLUMNS, invoice_from_row};
use crate::domain::auth::{new_token, token_hash};
use crate::domain::{Customer, CustomerId, Invoice, InvoiceId};

/// The contracts of every customer whose CPF/CNPJ is `document`, each with its customer's
/// external id: what a subscriber of the portal or the app may act on.
pub async fn contracts_of_document(
    conn: &mut AnyConnection,
    document: &str,
) -> anyhow::Result<Vec<(crate::domain::Contract, String)>> {
    let mut out = Vec::new();
    for c in customers_with_document(conn, document).await? {
        for k in super::parties::list_contracts_of_customer(conn, c.id).await? {
            out.push((k, c.external_id.clone()));
        }
    }
    Ok(out)
}

/// The customers whose CPF/CNPJ is `document` (digits), most recently updated first.
pub async fn customers_with_document(
    conn: &mut AnyConnection,
    document: &str,
) -> anyhow::Result<Vec<Customer>> {
    let ids: Vec<CustomerId> = sqlx::query(
        "SELECT id FROM customers WHERE document = $1 ORDER BY updated_at DESC, id DESC",
    )
    .bind(document)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get(0).map(CustomerId))
    .collect::<Result<_, _>>()?;
    let mut found = super::parties::get_customers(conn, &ids).await?;
    // One query for the records; the order is the first query's.
    found.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
    Ok(found)
}

/// The portal password hash of a document, if it has one.
pub async fn portal_password_hash(
    conn: &mut AnyConnection,
    document: &str,
) -> anyhow::Result<Option<String>> {
    Ok(
        sqlx::query("SELECT password_hash FROM portal_accounts WHERE document = $1")
            .bind(document)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

/// Sets a document's portal password (an argon2 hash) and ends its sessions.
pub async fn set_portal_password(
    conn: &mut AnyConnection,
    document: &str,
    password_hash: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO portal_accounts (document, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (document) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
    )
    .bind(document)
    .bind(password_hash)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE document = $1")
        .bind(document)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A new access link's token for `document`, valid for `ttl_ms`: (row id, token). The token's
/// text is kept until [`forget_token_texts`] runs for its notice.
pub async fn create_portal_token(
    conn: &mut AnyConnection,
    document: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> anyhow::Result<(i64, String)> {
    let token = new_token();
    let id: i64 = sqlx::query(
        "INSERT INTO portal_tokens (token_hash, token_plain, document, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(token_hash(&token))
    .bind(&token)
    .bind(document)
    .bind(now_ms)
    .bind(now_ms + ttl_ms)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok((id, token))
}

/// Ties a token to the notice that e-mails it.
pub async fn set_token_notice(
    conn: &mut AnyConnection,
    token_id: i64,
    notice: i64,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE portal_tokens SET notice_id = $1 WHERE id = $2")
        .bind(notice)
        .bind(token_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many access links `document` asked for since `since_ms`.
pub async fn portal_tokens_since(
    conn: &mut AnyConnection,
    document: &str,
    since_ms: i64,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM portal_tokens WHERE document = $1 AND created_at > $2")
            .bind(document)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// The document of a live, unused access token, without using it.
pub async fn portal_token_document(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT document FROM portal_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?)
}

/// Uses an access token: its document, once; `None` when unknown, used or expired. Using one
/// token voids the document's other open links.
pub async fn use_portal_token(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
) -> anyhow::Result<Option<String>> {
    let Some(document) = portal_token_document(conn, token, now_ms).await? else {
        return Ok(None);
    };
    let used = sqlx::query(
        "UPDATE portal_tokens SET used_at = $1, token_plain = NULL
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now_ms)
    .bind(token_hash(token))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if used == 0 {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE portal_tokens SET used_at = $1, token_plain = NULL WHERE document = $2 AND used_at IS NULL",
    )
    .bind(now_ms)
    .bind(&document)
    .execute(&mut *conn)
    .await?;
    Ok(Some(document))
}

/// The link tokens of these notices that can still be used (unused, unexpired, text kept).
pub async fn access_tokens_of_notices(
    conn: &mut AnyConnection,
    notices: &[i64],
    now_ms: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    if notices.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT notice_id, token_plain FROM portal_tokens
         WHERE notice_id IN ({}) AND token_plain IS NOT NULL AND used_at IS NULL AND expires_at > $1",
        super::id_list(notices.iter().copied())
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(now_ms)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Drops the kept text of these notices' tokens: once their e-mail is sent or given up on, only
/// the hash remains.
pub async fn forget_token_texts(conn: &mut AnyConnection, notices: &[i64]) -> anyhow::Result<()> {
    if notices.is_empty() {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE portal_tokens SET token_plain = NULL WHERE notice_id IN ({})",
        super::id_list(notices.iter().copied())
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A portal session's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalSessionKind {
    /// A browser (cookie and CSRF token).
    Web,
    /// The ISP's app (bearer token).
    App,
}

impl PortalSessionKind {
    fn as_str(self) -> &'static str {
        match self {
            PortalSessionKind::Web => "web",
            PortalSessionKind::App => "app",
        }
    }
}

/// A new portal session for `document`: (token, CSRF token). Only the token's hash is stored.
pub async fn create_portal_session(
    conn: &mut AnyConnection,
    document: &str,
    kind: PortalSessionKind,
    now_ms: i64,
    ttl_ms: i64,
) -> anyhow::Result<(String, String)> {
    let token = new_token();
    let csrf = new_token();
    sqlx::query(
        "INSERT INTO portal_sessions (token_hash, document, csrf_token, kind, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(document)
    .bind(&csrf)
    .bind(kind.as_str())
    .bind(now_ms)
    .bind(now_ms + ttl_ms)
    .execute(&mut *conn)
    .await
    .context("cannot create the portal session")?;
    Ok((token, csrf))
}

/// The document and CSRF token of a live session of that kind.
pub async fn portal_session(
    conn: &mut AnyConnection,
    token: &str,
    kind: PortalSessionKind,
    now_ms: i64,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(sqlx::query(
        "SELECT document, csrf_token FROM portal_sessions WHERE token_hash = $1 AND kind = $2 AND expires_at > $3",
    )
    .bind(token_hash(token))
    .bind(kind.as_str())
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
    .transpose()?)
}

/// Ends a portal session.
pub async fn delete_portal_session(conn: &mut AnyConnection, token: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The invoices a document sees: open and paid ones of every customer with that CPF/CNPJ
/// (cancelled ones are not shown), latest due date first, at most `limit`.
pub async fn portal_invoices(
    conn: &mut AnyConnection,
    document: &str,
    limit: i64,
) -> anyhow::Result<Vec<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices
         WHERE customer_id IN (SELECT id FROM customers WHERE document = $1) AND status <> 'cancelled'
         ORDER BY due_date DESC, id DESC LIMIT $2"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(document)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(invoice_from_row)
        .collect()
}

/// One invoice, only when it belongs to a customer with that document: what stops one
/// subscriber from reaching another's invoice by changing an id.
pub async fn portal_invoice(
    conn: &mut AnyConnection,
    document: &str,
    id: InvoiceId,
) -> anyhow::Result<Option<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices
         WHERE id = $1 AND status <> 'cancelled'
           AND customer_id IN (SELECT id FROM customers WHERE document = $2)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(id.0)
        .bind(document)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| invoice_from_row(&r))
        .transpose()
}

/// Second copies requested in the portal since `since_ms`: (for this invoice, for this
/// customer).
pub async fn portal_requests_since(
    conn: &mut AnyConnection,
    invoice: InvoiceId,
    customer: CustomerId,
    since_ms: i64,
) -> anyhow::Result<(i64, i64)> {
    let count = |sql: &'static str, id: i64| sqlx::query(sql).bind(id).bind(since_ms);
    let by_invoice: i64 = count(
        "SELECT COUNT(*) FROM notices WHERE invoice_id = $1 AND created_at >= $2 AND purpose = 'portal_second_copy'",
        invoice.0,
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    let by_customer: i64 = count(
        "SELECT COUNT(*) FROM notices WHERE customer_id = $1 AND created_at >= $2 AND purpose = 'portal_second_copy'",
        customer.0,
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok((by_invoice, by_customer))
}

/// Registers (or moves) an app device for push notifications to `document`.
pub async fn register_device(
    conn: &mut AnyConnection,
    document: &str,
    token: &str,
    platform: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO portal_devices (document, token, platform, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (token) DO UPDATE SET document = excluded.document, platform = excluded.platform,
             updated_at = excluded.updated_at",
    )
    .bind(document)
    .bind(token)
    .bind(platform)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The device tokens registered for a document.
pub async fn devices_of(conn: &mut AnyConnection, document: &str) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query("SELECT token FROM portal_devices WHERE document = $1 ORDER BY id")
            .bind(document)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    )
}

/// Removes a device token (the push service said it is no longer registered, or the app logged
/// out).
pub async fn delete_device(conn: &mut AnyConnection, token: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query("DELETE FROM portal_devices WHERE token = $1")
        .bind(token)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0)
}

/// The device tokens a push notice has reached in earlier attempts.
pub async fn push_delivered(
    conn: &mut AnyConnection,
    notice: crate::domain::delivery::NoticeId,
) -> anyhow::Result<std::collections::HashSet<String>> {
    sqlx::query("SELECT device_token FROM push_deliveries WHERE notice_id = $1")
        .bind(notice.0)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// Records that a push notice reached a device (at once, so that a worker dying before the
/// attempt is settled does not send it there again).
pub async fn record_push_delivery(
    conn: &mut AnyConnection,
    notice: crate::domain::delivery::NoticeId,
    token: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO push_deliveries (notice_id, device_token, delivered_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(notice.0)
    .bind(token)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
