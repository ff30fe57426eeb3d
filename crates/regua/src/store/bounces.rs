//! Bounces read back and the suppression list (docs/bounces.md).

use sqlx::{AnyConnection, Row as _};

/// A bounce to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBounce<'a> {
    /// SHA-256 of the message, hex: the same message twice is recorded once.
    pub message_sha256: &'a str,
    /// The notice its return path names.
    pub notice_id: i64,
    /// The address the notice was sent to, lower-cased.
    pub address: &'a str,
    /// `hard`, `soft`, `complaint` or `not_a_bounce`.
    pub kind: &'a str,
    /// The RFC 3463 code, if stated.
    pub status: Option<&'a str>,
    /// The server's words.
    pub diagnostic: &'a str,
}

/// Records a bounce; its id, or `None` when this message was recorded before.
pub async fn insert_bounce(
    conn: &mut AnyConnection,
    b: &NewBounce<'_>,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO bounces (message_sha256, notice_id, address, kind, status, diagnostic, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_sha256) DO NOTHING RETURNING id",
    )
    .bind(b.message_sha256)
    .bind(b.notice_id)
    .bind(b.address)
    .bind(b.kind)
    .bind(b.status)
    .bind(b.diagnostic)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// How many notices to `address` bounced soft since its suppression was last cleared (the
/// trail's `suppression.clear`), or ever.
pub async fn soft_bounces_since_cleared(
    conn: &mut AnyConnection,
    address: &str,
) -> anyhow::Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(DISTINCT notice_id) FROM bounces WHERE address = $1 AND kind = 'soft'
           AND received_at > COALESCE((SELECT MAX(at) FROM audit_log
                                       WHERE action = 'suppression.clear' AND entity = $2), -1)",
    )
    .bind(address)
    .bind(format!("email:{address}"))
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// A suppressed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The address, lower-cased.
    pub address: String,
    /// `hard`, `complaint` or `soft` (soft bounces in a row).
    pub reason: String,
    /// The RFC 3463 code of the bounce that caused it.
    pub status: Option<String>,
    /// The server's words.
    pub diagnostic: String,
    /// When (ms).
    pub created_at: i64,
}

/// Suppresses an address; false when it already was.
pub async fn suppress(
    conn: &mut AnyConnection,
    s: &Suppression,
    bounce_id: Option<i64>,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO email_suppressions (address, reason, status, diagnostic, bounce_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (address) DO NOTHING",
    )
    .bind(&s.address)
    .bind(&s.reason)
    .bind(s.status.as_deref())
    .bind(&s.diagnostic)
    .bind(bounce_id)
    .bind(s.created_at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Clears an address's suppression; the row it had, if any.
pub async fn unsuppress(
    conn: &mut AnyConnection,
    address: &str,
) -> anyhow::Result<Option<Suppression>> {
    let found = find_suppression(conn, address).await?;
    if found.is_some() {
        sqlx::query("DELETE FROM email_suppressions WHERE address = $1")
            .bind(address)
            .execute(&mut *conn)
            .await?;
    }
    Ok(found)
}

fn suppression_from(r: &sqlx::any::AnyRow) -> anyhow::Result<Suppression> {
    Ok(Suppression {
        address: r.try_get("address")?,
        reason: r.try_get("reason")?,
        status: r.try_get("status")?,
        diagnostic: r.try_get("diagnostic")?,
        created_at: r.try_get("created_at")?,
    })
}

/// One address's suppression, if any.
pub async fn find_suppression(
    conn: &mut AnyConnection,
    address: &str,
) -> anyhow::Result<Option<Suppression>> {
    sqlx::query(
        "SELECT address, reason, status, diagnostic, created_at FROM email_suppressions WHERE address = $1",
    )
    .bind(address)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(suppression_from)
    .transpose()
}

/// Every suppressed address, newest first.
pub async fn list_suppressions(conn: &mut AnyConnection) -> anyhow::Result<Vec<Suppression>> {
    sqlx::query(
        "SELECT address, reason, status, diagnostic, created_at FROM email_suppressions ORDER BY created_at DESC, address",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(suppression_from)
    .collect()
}

/// A customer whose e-mail is suppressed: id, code, name.
pub type CustomerRef = (i64, String, String);

/// Every suppression with the customers whose e-mail it is, newest first: the "E-mails
/// inválidos" list.
pub async fn list_suppressions_with_customers(
    conn: &mut AnyConnection,
) -> anyhow::Result<Vec<(Suppression, Vec<CustomerRef>)>> {
    let rows = sqlx::query(
        "SELECT s.address, s.reason, s.status, s.diagnostic, s.created_at, c.id AS cid, c.external_id, c.name
         FROM email_suppressions s LEFT JOIN customers c ON LOWER(c.email) = s.address
         ORDER BY s.created_at DESC, s.address, c.external_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<(Suppression, Vec<CustomerRef>)> = Vec::new();
    for r in &rows {
        let s = suppression_from(r)?;
        let customer = match r.try_get::<Option<i64>, _>("cid")? {
            Some(id) => Some((id, r.try_get("external_id")?, r.try_get("name")?)),
            None => None,
        };
        match out.last_mut() {
            Some((last, customers)) if last.address == s.address => customers.extend(customer),
            _ => out.push((s, customer.into_iter().collect())),
        }
    }
    Ok(out)
}

/// The suppressions among `addresses` (lower-cased), by address: what a delivery batch skips.
pub async fn suppressions_among(
    conn: &mut AnyConnection,
    addresses: &[String],
) -> anyhow::Result<std::collections::HashMap<String, Suppression>> {
    let mut out = std::collections::HashMap::new();
    for chunk in addresses.chunks(200) {
        if chunk.is_empty() {
            continue;
        }
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT address, reason, status, diagnostic, created_at FROM email_suppressions WHERE address IN ({})",
            params.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in chunk {
            q = q.bind(a);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let s = suppression_from(&r)?;
            out.insert(s.address.clone(), s);
        }
    }
    Ok(out)
}

/// How an IMAP connection is secured: TLS from the first byte (port 993) or STARTTLS (143).
/// A plain-text login is not offered: the password would cross the network in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapSecurity {
    /// TLS from the first byte.
    Tls,
    /// A plain connection upgraded by STARTTLS before the login.
    StartTls,
}

impl ImapSecurity {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            ImapSecurity::Tls => "tls",
            ImapSecurity::StartTls => "starttls",
        }
    }

    /// The port it usually runs on: 993 for TLS, 143 for STARTTLS.
    pub fn default_port(self) -> u16 {
        match self {
            ImapSecurity::Tls => 993,
            ImapSecurity::StartTls => 143,
        }
    }
}

impl std::str::FromStr for ImapSecurity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tls" => Ok(ImapSecurity::Tls),
            "starttls" => Ok(ImapSecurity::StartTls),
            other => Err(format!("{other:?} is not tls or starttls")),
        }
    }
}

/// A mailbox bounces are read from (IMAP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceMailbox {
    /// Row id.
    pub id: i64,
    /// The name it is known by.
    pub name: String,
    /// IMAP server.
    pub host: String,
    /// IMAP port.
    pub port: u16,
    /// TLS or STARTTLS.
    pub security: ImapSecurity,
    /// Login.
    pub username: String,
    /// The password, sealed with the master key.
    pub password_enc: String,
    /// The folder read (`INBOX`).
    pub folder: String,
    /// Where a message read is moved; `None`: it is flagged instead.
    pub move_to: Option<String>,
    /// A PEM file of the CA that signed the server's certificate, besides the public roots.
    pub ca_file: Option<String>,
    /// When it was last read (ms).
    pub last_polled_at: Option<i64>,
    /// What the last reading did: `actions::bounces::PollReport`'s stored form.
    pub last_result: String,
    /// Why the last reading failed, if it did.
    pub last_error: Option<String>,
}

fn mailbox_from(r: &sqlx::any::AnyRow) -> anyhow::Result<BounceMailbox> {
    Ok(BounceMailbox {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        port: u16::try_from(r.try_get::<i64, _>("port")?).unwrap_or(0),
        security: r
            .try_get::<String, _>("security")?
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
        username: r.try_get("username")?,
        password_enc: r.try_get("password_enc")?,
        folder: r.try_get("folder")?,
        move_to: r.try_get("move_to")?,
        ca_file: r.try_get("ca_file")?,
        last_polled_at: r.try_get("last_polled_at")?,
        last_result: r.try_get("last_result")?,
        last_error: r.try_get("last_error")?,
    })
}

const MAILBOX_COLUMNS: &str = "id, name, host, port, security, username, password_enc, folder, move_to, ca_file, last_polled_at, last_result, last_error";

/// Adds a mailbox; its id, or `None` when the name is taken.
pub async fn insert_mailbox(
    conn: &mut AnyConnection,
    m: &BounceMailbox,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO bounce_mailboxes (name, host, port, security, username, password_enc, folder, move_to, ca_file, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(&m.name)
    .bind(&m.host)
    .bind(i64::from(m.port))
    .bind(m.security.as_str())
    .bind(&m.username)
    .bind(&m.password_enc)
    .bind(&m.folder)
    .bind(m.move_to.as_deref())
    .bind(m.ca_file.as_deref())
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("id")).transpose()?)
}

/// Every mailbox, by name.
pub async fn list_mailboxes(conn: &mut AnyConnection) -> anyhow::Result<Vec<BounceMailbox>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MAILBOX_COLUMNS} FROM bounce_mailboxes ORDER BY name"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(mailbox_from)
    .collect()
}

/// Removes a mailbox by name; false when there was none. Its bounces stay.
pub async fn delete_mailbox(conn: &mut AnyConnection, name: &str) -> anyhow::Result<bool> {
    let n = sqlx::query("DELETE FROM bounce_mailboxes WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Records how a reading went: `result` on success, `error` on failure.
pub async fn mark_polled(
    conn: &mut AnyConnection,
    id: i64,
    result: &str,
    error: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE bounce_mailboxes SET last_polled_at = $1, last_result = $2, last_error = $3 WHERE id = $4",
    )
    .bind(now_ms)
    .bind(result)
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One account's e-mail sent since a moment, and how many of those messages came back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountReturns {
    /// Messages the account sent (notices with a `sent` e-mail attempt in the window).
    pub sent: i64,
    /// Of those, the ones that bounced (hard or soft).
    pub bounced: i64,
    /// Of those, the ones the recipient reported as spam.
    pub complained: i64,
}

/// Per account id: the messages sent since `since_ms` and how many of them bounced or drew a
/// complaint (whenever the bounce arrived): the dashboard's rates.
pub async fn returns_since(
    conn: &mut AnyConnection,
    since_ms: i64,
) -> anyhow::Result<std::collections::HashMap<i64, AccountReturns>> {
    let rows = sqlx::query(
        "SELECT s.account_id,
                COUNT(*) AS sent,
                SUM(CASE WHEN EXISTS (SELECT 1 FROM bounces b WHERE b.notice_id = s.notice_id AND b.kind IN ('hard', 'soft')) THEN 1 ELSE 0 END) AS bounced,
                SUM(CASE WHEN EXISTS (SELECT 1 FROM bounces b WHERE b.notice_id = s.notice_id AND b.kind = 'complaint') THEN 1 ELSE 0 END) AS complained
         FROM (SELECT DISTINCT account_id, notice_id FROM delivery_attempts
               WHERE outcome = 'sent' AND channel = 'email' AND account_id IS NOT NULL AND attempted_at >= $1) s
         GROUP BY s.account_id",
    )
    .bind(since_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        out.insert(
            r.try_get::<i64, _>("account_id")?,
            AccountReturns {
                sent: r.try_get("sent")?,
                bounced: r.try_get::<Option<i64>, _>("bounced")?.unwrap_or(0),
                complained: r.try_get::<Option<i64>, _>("complained")?.unwrap_or(0),
            },
        );
    }
    Ok(out)
}
