//! Users of the admin UI, their sessions and API keys, and the login throttle (failed logins).

use anyhow::Context as _;
use sqlx::{AnyConnection, Row as _};

use super::parties::ConfigError;
pub use crate::domain::auth::{ApiKey, User};
use crate::domain::auth::{Role, hash_password, new_token, token_hash};

fn user_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<User> {
    Ok(User {
        id: crate::domain::auth::UserId(r.try_get("id")?),
        login: r.try_get("login")?,
        name: r.try_get("name")?,
        role: r
            .try_get::<String, _>("role")?
            .parse()
            .map_err(anyhow::Error::msg)?,
        active: r.try_get::<i64, _>("active")? != 0,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
    })
}

/// Adds a user with `password` (hashed with argon2id). Logins are 3 to 64 characters of
/// letters, digits, `.`, `_`, `-` and `@`.
pub async fn insert_user(
    conn: &mut AnyConnection,
    login: &str,
    name: &str,
    role: Role,
    password: &str,
    now_ms: i64,
) -> Result<crate::domain::auth::UserId, ConfigError> {
    let login = login.trim();
    if !(3..=64).contains(&login.chars().count())
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(ConfigError::Invalid {
            field: "login",
            reason: "3 to 64 letters, digits, '.', '_', '-' or '@'".into(),
        });
    }
    let res = sqlx::query(
        "INSERT INTO users (login, name, password_hash, role, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
    )
    .bind(login)
    .bind(if name.trim().is_empty() {
        login
    } else {
        name.trim()
    })
    .bind(hash_password(password))
    .bind(role.as_str())
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(crate::domain::auth::UserId(
            row.try_get(0).context("user id")?,
        )),
        Err(e)
            if super::is_constraint(&e, "users_login_key")
                || super::is_constraint(&e, "users.login") =>
        {
            Err(ConfigError::Duplicate {
                what: "user",
                name: login.to_string(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e).context("cannot add the user").into()),
    }
}

/// Every user, by login.
pub async fn list_users(conn: &mut AnyConnection) -> anyhow::Result<Vec<User>> {
    sqlx::query(
        "SELECT id, login, name, role, active, must_change_password FROM users ORDER BY login",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(user_from_row)
    .collect()
}

/// A user and their password hash, by login.
pub async fn user_for_login(
    conn: &mut AnyConnection,
    login: &str,
) -> anyhow::Result<Option<(User, String)>> {
    let row = sqlx::query(
        "SELECT id, login, name, role, active, must_change_password, password_hash FROM users WHERE login = $1",
    )
    .bind(login.trim())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
        .transpose()
}

/// A new session for `user`: returns (cookie token, CSRF token). Only the token's hash is
/// stored.
pub async fn create_session(
    conn: &mut AnyConnection,
    user: crate::domain::auth::UserId,
    now_ms: i64,
    ttl_ms: i64,
) -> anyhow::Result<(String, String)> {
    let token = new_token();
    let csrf = new_token();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user.0)
    .bind(&csrf)
    .bind(now_ms)
    .bind(now_ms + ttl_ms)
    .execute(&mut *conn)
    .await
    .context("cannot create the session")?;
    Ok((token, csrf))
}

/// The active user and CSRF token of a live session.
pub async fn session_user(
    conn: &mut AnyConnection,
    token: &str,
    now_ms: i64,
) -> anyhow::Result<Option<(User, String)>> {
    let row = sqlx::query(
        "SELECT u.id, u.login, u.name, u.role, u.active, u.must_change_password, s.csrf_token FROM sessions s
         JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
    )
    .bind(token_hash(token))
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get("csrf_token")?)))
        .transpose()
}

/// Ends a session.
pub async fn delete_session(conn: &mut AnyConnection, token: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a failed login.
pub async fn record_login_failure(
    conn: &mut AnyConnection,
    login: &str,
    client: &str,
    now_ms: i64,
) -> anyhow::Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO login_failures (login, client, failed_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(login.trim())
    .bind(client)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Makes the caller's transaction the only one counting failed logins until it ends (on
/// PostgreSQL a transaction-scoped advisory lock; SQLite's single writer already is).
pub async fn lock_login_throttle(
    conn: &mut AnyConnection,
    backend: super::Backend,
) -> anyhow::Result<()> {
    if backend == super::Backend::Postgres {
        // One lock for all logins: the count and the insert take a few microseconds.
        sqlx::query("SELECT pg_advisory_xact_lock(7465720)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The prefix of the subscriber portal's entries in `login_failures` (`portal:<document>`).
pub const PORTAL_LOGIN_PREFIX: &str = "portal:";

/// The prefix of the portal's access-link requests in `login_failures` (`access:`): every
/// request is counted there, per client address, so one address cannot walk through CPFs.
pub const ACCESS_REQUEST_PREFIX: &str = "access:";

/// Failed logins since `since_ms`: (for this login, from this client on the same surface). The
/// portal's failures (logins starting with [`PORTAL_LOGIN_PREFIX`]) and the admin UI's are
/// counted apart, so subscribers mistyping their passwords behind one address (a shared NAT)
/// never lock the ISP's staff out, nor the other way round.
pub async fn login_failures_since(
    conn: &mut AnyConnection,
    login: &str,
    client: &str,
    since_ms: i64,
) -> anyhow::Result<(i64, i64)> {
    let same_surface = if login.trim().starts_with(PORTAL_LOGIN_PREFIX) {
        "login LIKE 'portal:%'"
    } else if login.trim().starts_with(ACCESS_REQUEST_PREFIX) {
        "login LIKE 'access:%'"
    } else {
        "login NOT LIKE 'portal:%' AND login NOT LIKE 'access:%'"
    };
    let by_login: i64 =
        sqlx::query("SELECT COUNT(*) FROM login_failures WHERE login = $1 AND failed_at > $2")
            .bind(login.trim())
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let by_client: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM login_failures WHERE client = $1 AND failed_at > $2 AND {same_surface}"
    )))
    .bind(client)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    Ok((by_login, by_client))
}

/// Gives back the slot of a login attempt that succeeded (`actions::logins`).
pub async fn release_login_attempt(conn: &mut AnyConnection, slot: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1")
        .bind(slot)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets a user's password (hashed) and ends their sessions.
pub async fn set_user_password(
    conn: &mut AnyConnection,
    login: &str,
    password: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let updated =
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE login = $3")
            .bind(hash_password(password))
            .bind(now_ms)
            .bind(login)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE login = $1)")
        .bind(login)
        .execute(&mut *conn)
        .await?;
    Ok(updated == 1)
}

fn api_key_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<ApiKey> {
    Ok(ApiKey {
        id: crate::domain::auth::ApiKeyId(r.try_get("id")?),
        name: r.try_get("name")?,
        permissions: crate::domain::auth::Permission::parse_list(
            &r.try_get::<String, _>("permissions")?,
        )
        .map_err(anyhow::Error::msg)?,
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

/// Adds an API key; returns its id and the token, shown once (`rg_…`; only its hash is kept).
pub async fn insert_api_key(
    conn: &mut AnyConnection,
    name: &str,
    permissions: &[crate::domain::auth::Permission],
    now_ms: i64,
) -> Result<(crate::domain::auth::ApiKeyId, String), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "is empty".into(),
        });
    }
    let token = format!("rg_{}", new_token());
    let list: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let res = sqlx::query(
        "INSERT INTO api_keys (name, key_hash, permissions, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name.trim())
    .bind(token_hash(&token))
    .bind(list.join(","))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok((
            crate::domain::auth::ApiKeyId(row.try_get(0).context("key id")?),
            token,
        )),
        Err(e)
            if super::is_constraint(&e, "api_keys_name_key")
                || super::is_constraint(&e, "api_keys.name") =>
        {
            Err(ConfigError::Duplicate {
                what: "API key",
                name: name.trim().to_string(),
            })
        }
        Err(e) => Err(anyhow::Error::from(e).context("cannot add the key").into()),
    }
}

/// The live key a token belongs to.
pub async fn api_key_for_token(
    conn: &mut AnyConnection,
    token: &str,
) -> anyhow::Result<Option<ApiKey>> {
    sqlx::query(
        "SELECT id, name, permissions, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(api_key_from_row)
    .transpose()
}

/// Every key, by name.
pub async fn list_api_keys(conn: &mut AnyConnection) -> anyhow::Result<Vec<ApiKey>> {
    sqlx::query("SELECT id, name, permissions, revoked_at FROM api_keys ORDER BY name")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(api_key_from_row)
        .collect()
}

/// Revokes a key by name; false when there is no live one.
pub async fn revoke_api_key(
    conn: &mut AnyConnection,
    name: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(name)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A stored response for an Idempotency-Key: (request hash, status, body).
pub async fn idempotent_response(
    conn: &mut AnyConnection,
    key: crate::domain::auth::ApiKeyId,
    idem: &str,
) -> anyhow::Result<Option<(String, u16, String)>> {
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2",
    )
    .bind(key.0)
    .bind(idem)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get(0)?,
            u16::try_from(r.try_get::<i64, _>(1)?).unwrap_or(500),
            r.try_get(2)?,
        ))
    })
    .transpose()
}

/// Keeps a response for an Idempotency-Key (the first one wins).
pub async fn store_idempotent_response(
    conn: &mut AnyConnection,
    key: crate::domain::auth::ApiKeyId,
    idem: &str,
    request_hash: &str,
    status: u16,
    body: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (api_key_id, idem_key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (api_key_id, idem_key) DO NOTHING",
    )
    .bind(key.0)
    .bind(idem)
    .bind(request_hash)
    .bind(i64::from(status))
    .bind(body)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Activates or deactivates a user (a deactivated one's sessions end: they are checked on every
/// request). False when nothing changed.
pub async fn set_user_active(
    conn: &mut AnyConnection,
    id: crate::domain::auth::UserId,
    active: bool,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let changed =
        sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3 AND active <> $1")
            .bind(i64::from(active))
            .bind(now_ms)
            .bind(id.0)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1;
    if changed && !active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(changed)
}

/// Marks a user to choose their own password at the next login (after a generated one).
pub async fn require_password_change(conn: &mut AnyConnection, login: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE users SET must_change_password = 1 WHERE login = $1")
        .bind(login.trim())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A user's own new password: stored hashed, the change requirement cleared, and every other
/// session of theirs ended (the one given, by its token, stays).
pub async fn change_own_password(
    conn: &mut AnyConnection,
    user: crate::domain::auth::UserId,
    password: &str,
    keep_session: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = 0, updated_at = $2 WHERE id = $3",
    )
    .bind(hash_password(password))
    .bind(now_ms)
    .bind(user.0)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user.0)
        .bind(token_hash(keep_session))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
