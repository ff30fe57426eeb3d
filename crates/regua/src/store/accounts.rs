//! E-mail accounts ("E-mail SMTP") and the financial parameters' account: their rows, their
//! sealed passwords, and which one sends boletos.

use anyhow::Context as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::{is_constraint, parties::ConfigError};
use crate::domain::delivery::{AccountId, DkimConfig, NewSmtpAccount, SmtpAccount};
use crate::domain::{EmailAddress, LayoutId};
use crate::secrets::{MasterKey, Secret, SecretError};

/// Setting key of "Parâmetros financeiros → servidor de e-mail para boletos e faturas".
pub const SETTING_FINANCIAL_ACCOUNT: &str = "financial_smtp_account";

const ACCOUNT_COLUMNS: &str = "id, name, transport, host, port, security, username, password_enc, folder, ca_file, \
    from_address, from_name, test_recipient, hourly_limit, daily_limit, default_layout_id, fallback_account_id, \
    dkim_selector, dkim_domain, dkim_key_file, active, updated_at, bounce_domain";

pub(super) fn parse<T: std::str::FromStr<Err = String>>(
    r: &AnyRow,
    col: &str,
) -> anyhow::Result<T> {
    r.try_get::<String, _>(col)?
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{col}: {e}"))
}

fn limit(r: &AnyRow, col: &str) -> anyhow::Result<Option<u32>> {
    Ok(r.try_get::<Option<i64>, _>(col)?
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
}

fn account_from_row(r: &AnyRow) -> anyhow::Result<SmtpAccount> {
    let email = |col: &str| -> anyhow::Result<Option<EmailAddress>> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| EmailAddress::parse(&s).map_err(|e| anyhow::anyhow!("{col}: {e}")))
            .transpose()
    };
    let dkim = match (
        r.try_get::<Option<String>, _>("dkim_selector")?,
        r.try_get::<Option<String>, _>("dkim_domain")?,
        r.try_get::<Option<String>, _>("dkim_key_file")?,
    ) {
        (Some(selector), Some(domain), Some(key_file)) => Some(DkimConfig {
            selector,
            domain,
            key_file,
        }),
        _ => None,
    };
    Ok(SmtpAccount {
        id: AccountId(r.try_get("id")?),
        name: r.try_get("name")?,
        transport: parse(r, "transport")?,
        host: r.try_get("host")?,
        port: u16::try_from(r.try_get::<i64, _>("port")?).unwrap_or(0),
        security: parse(r, "security")?,
        username: r.try_get("username")?,
        has_password: r.try_get::<Option<String>, _>("password_enc")?.is_some(),
        folder: r.try_get("folder")?,
        ca_file: r.try_get("ca_file")?,
        from_address: email("from_address")?.context("account without sender")?,
        from_name: r.try_get("from_name")?,
        test_recipient: email("test_recipient")?,
        hourly_limit: limit(r, "hourly_limit")?,
        daily_limit: limit(r, "daily_limit")?,
        default_layout_id: r
            .try_get::<Option<i64>, _>("default_layout_id")?
            .map(LayoutId),
        fallback_account_id: r
            .try_get::<Option<i64>, _>("fallback_account_id")?
            .map(AccountId),
        dkim,
        active: r.try_get::<i64, _>("active")? != 0,
        revision: r.try_get("updated_at")?,
        bounce_domain: r.try_get("bounce_domain")?,
    })
}

/// The checks an account's fields pass on the way in, new or edited. Everything that reaches a
/// header or the SMTP conversation is one line: a line break in the sender's name made lettre
/// panic in every process that sent through the account. The return path's domain is a domain.
fn check_fields(a: &NewSmtpAccount) -> Result<(), ConfigError> {
    let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
    let dkim = a.dkim.as_ref();
    for (field, value) in [
        ("name", Some(a.name.as_str())),
        ("host", Some(a.host.as_str())),
        ("from_name", Some(a.from_name.as_str())),
        ("user", a.credentials.as_ref().map(|(u, _)| u.as_str())),
        ("folder", a.folder.as_deref()),
        ("dkim_selector", dkim.map(|d| d.selector.as_str())),
        ("dkim_domain", dkim.map(|d| d.domain.as_str())),
    ] {
        if let Some(v) = value {
            crate::domain::limits::check_line(v, crate::domain::limits::MAX_TEXT_CHARS)
                .map_err(|e| invalid(field, e.to_string()))?;
        }
    }
    let bounce_domain = a.bounce_domain.trim();
    if !bounce_domain.is_empty() && !crate::domain::delivery::is_domain_name(bounce_domain) {
        return Err(invalid("bounce_domain", "is not a domain name".into()));
    }
    Ok(())
}

/// Creates an account. The password is sealed with `key`; without a key, an account with a
/// password is refused (it would have to be stored in clear).
pub async fn insert_smtp_account(
    conn: &mut AnyConnection,
    a: &NewSmtpAccount,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> Result<AccountId, ConfigError> {
    let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
    if a.name.trim().is_empty() {
        return Err(invalid("name", "is required".into()));
    }
    check_fields(a)?;
    let password_enc = match &a.credentials {
        Some((_, password)) => Some(
            key.ok_or(SecretError::NoKey)
                .map_err(|e| invalid("password", e.to_string()))?
                .seal(password),
        ),
        None => None,
    };
    let fallback = match &a.fallback {
        Some(name) => Some(
            find_smtp_account(conn, name)
                .await?
                .filter(|f| f.active)
                .ok_or_else(|| ConfigError::Unknown {
                    what: "smtp account",
                    name: name.clone(),
                    known: String::new(),
                })?
                .id
                .0,
        ),
        None => None,
    };
    let res = sqlx::query(
        "INSERT INTO smtp_accounts (name, transport, host, port, security, username, password_enc, folder, ca_file,
            from_address, from_name, test_recipient, hourly_limit, daily_limit, default_layout_id, fallback_account_id,
            dkim_selector, dkim_domain, dkim_key_file, active, created_at, updated_at, bounce_domain)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
            (SELECT id FROM layouts WHERE default_of = 'account_default'), $15, $16, $17, $18, 1, $19, $19, $20)
         RETURNING id",
    )
    .bind(a.name.trim())
    .bind(a.transport.as_str())
    .bind(&a.host)
    .bind(i64::from(a.port))
    .bind(a.security.as_str())
    .bind(a.credentials.as_ref().map(|(u, _)| u.as_str()))
    .bind(password_enc)
    .bind(a.folder.as_deref())
    .bind(a.ca_file.as_deref())
    .bind(a.from_address.as_str())
    .bind(&a.from_name)
    .bind(a.test_recipient.as_ref().map(|e| e.as_str()))
    .bind(a.hourly_limit.map(i64::from))
    .bind(a.daily_limit.map(i64::from))
    .bind(fallback)
    .bind(a.dkim.as_ref().map(|d| d.selector.as_str()))
    .bind(a.dkim.as_ref().map(|d| d.domain.as_str()))
    .bind(a.dkim.as_ref().map(|d| d.key_file.as_str()))
    .bind(now_ms)
    .bind(a.bounce_domain.trim())
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(AccountId(row.try_get(0).context("account id")?)),
        Err(e)
            if is_constraint(&e, "smtp_accounts_name_key")
                || is_constraint(&e, "smtp_accounts.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "smtp account",
                name: a.name.clone(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot insert the smtp account")
            .into()),
    }
}

/// Every account (removed ones too), by name.
pub async fn list_smtp_accounts(conn: &mut AnyConnection) -> anyhow::Result<Vec<SmtpAccount>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM smtp_accounts ORDER BY name"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(account_from_row)
    .collect()
}

/// An account by name.
pub async fn find_smtp_account(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<SmtpAccount>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM smtp_accounts WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(account_from_row)
    .transpose()
}

/// An account by id.
pub async fn get_smtp_account(
    conn: &mut AnyConnection,
    id: AccountId,
) -> anyhow::Result<SmtpAccount> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM smtp_accounts WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await
    .with_context(|| format!("smtp account {id}"))?;
    account_from_row(&row)
}

/// The account's password, opened with the master key; `None` when it has none.
pub async fn smtp_password(
    conn: &mut AnyConnection,
    id: AccountId,
    key: Option<&MasterKey>,
) -> anyhow::Result<Option<Secret>> {
    let sealed: Option<String> =
        sqlx::query("SELECT password_enc FROM smtp_accounts WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    match sealed {
        None => Ok(None),
        Some(s) => Ok(Some(key.ok_or(SecretError::NoKey)?.open(&s)?)),
    }
}

/// What an edit does to an account's password.
#[derive(Debug, Clone)]
pub enum PasswordChange {
    /// Left as stored (the form's password field was left blank).
    Keep,
    /// Replaced, sealed with the master key.
    Replace(Secret),
    /// Removed with the user: the server takes no authentication.
    Clear,
}

/// Edits the account `id` in place: server, security, user, password (per `password`),
/// sender, test recipient and limits. The name, transport, folder, fallback and DKIM stay.
/// `updated_at` moves, which makes every worker open a new connection pool for it.
pub async fn update_smtp_account(
    conn: &mut AnyConnection,
    id: AccountId,
    a: &NewSmtpAccount,
    password: &PasswordChange,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> Result<(), ConfigError> {
    let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
    check_fields(a)?;
    let sealed = match password {
        PasswordChange::Replace(p) => Some(
            key.ok_or(SecretError::NoKey)
                .map_err(|e| invalid("password", e.to_string()))?
                .seal(p),
        ),
        _ => None,
    };
    let password_sql = match password {
        PasswordChange::Keep => "password_enc",
        PasswordChange::Replace(_) => "$11",
        PasswordChange::Clear => "NULL",
    };
    let res = sqlx::query(AssertSqlSafe(format!(
        "UPDATE smtp_accounts SET name = $2, host = $3, port = $4, security = $5, username = $6,
            from_address = $7, from_name = $8, test_recipient = $9, hourly_limit = $10,
            password_enc = {password_sql}, daily_limit = $12, updated_at = $13, bounce_domain = $14
         WHERE id = $1 AND active = 1"
    )))
    .bind(id.0)
    .bind(a.name.trim())
    .bind(&a.host)
    .bind(i64::from(a.port))
    .bind(a.security.as_str())
    .bind(a.credentials.as_ref().map(|(u, _)| u.as_str()))
    .bind(a.from_address.as_str())
    .bind(&a.from_name)
    .bind(a.test_recipient.as_ref().map(|e| e.as_str()))
    .bind(a.hourly_limit.map(i64::from))
    .bind(sealed)
    .bind(a.daily_limit.map(i64::from))
    .bind(now_ms)
    .bind(a.bounce_domain.trim())
    .execute(&mut *conn)
    .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(ConfigError::Unknown {
            what: "smtp account",
            name: id.to_string(),
            known: String::new(),
        }),
        Err(e)
            if is_constraint(&e, "smtp_accounts_name_key")
                || is_constraint(&e, "smtp_accounts.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "smtp account",
                name: a.name.clone(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e)
            .context("cannot update the smtp account")
            .into()),
    }
}

/// The name a removed account keeps in the log: `"<name> (removida #<id>)"`. Names are unique
/// across every account, so removing one renames it to free its name for a new account.
pub fn removed_name(name: &str, id: AccountId) -> String {
    format!("{name} (removida #{})", id.0)
}

/// Removes an account: it stops sending, frees its name (see [`removed_name`]) and stays in
/// the log. Returns its id, or `None` when there is no active account of that name.
pub async fn deactivate_smtp_account(
    conn: &mut AnyConnection,
    name: &str,
    now_ms: i64,
) -> anyhow::Result<Option<AccountId>> {
    let Some(account) = find_smtp_account(conn, name).await?.filter(|a| a.active) else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE smtp_accounts SET active = 0, name = $2, updated_at = $3 WHERE id = $1 AND active = 1",
    )
    .bind(account.id.0)
    .bind(removed_name(name, account.id))
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(Some(account.id))
}

/// How many notices wait to be sent through account `id` (queued or retrying).
pub async fn waiting_notices(conn: &mut AnyConnection, id: AccountId) -> anyhow::Result<i64> {
    Ok(sqlx::query(concat!(
        "SELECT COUNT(*) FROM notices WHERE account_id = $1 AND status IN ",
        status_sql!(waiting)
    ))
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Moves the notices waiting on account `from` to account `to`; returns how many moved.
pub async fn move_waiting_notices(
    conn: &mut AnyConnection,
    from: AccountId,
    to: AccountId,
    now_ms: i64,
) -> anyhow::Result<u64> {
    Ok(sqlx::query(concat!(
        "UPDATE notices SET account_id = $2, updated_at = $3 WHERE account_id = $1 AND status IN ",
        status_sql!(waiting)
    ))
    .bind(from.0)
    .bind(to.0)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The default account for boletos and invoices ("parâmetros financeiros"), if set and active.
pub async fn financial_account(conn: &mut AnyConnection) -> anyhow::Result<Option<SmtpAccount>> {
    let Some(name) = super::parties::get_setting(conn, SETTING_FINANCIAL_ACCOUNT).await? else {
        return Ok(None);
    };
    Ok(find_smtp_account(conn, &name).await?.filter(|a| a.active))
}
