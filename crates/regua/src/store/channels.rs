//! SMS gateways, the Firebase configuration, and temporary suspensions. Like the e-mail
//! accounts' passwords, the gateways' headers and the service account's private key are sealed
//! with the master key: never stored, listed or logged in clear.

use anyhow::Context as _;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use super::invoices::date_col;
use super::{is_constraint, parties::ConfigError};
use crate::domain::ContractId;
use crate::domain::delivery::{GatewayId, GatewaySecrets, NewSmsGateway, SmsGateway, SuspensionId};
pub use crate::domain::delivery::{PushConfig, Suspension};
use crate::secrets::{MasterKey, Secret, SecretError};

const GATEWAY_COLUMNS: &str = "id, name, method, url, header_names, body_template, success_contains, \
    hourly_limit, daily_limit, active, updated_at, reply_id_path";

fn gateway_from_row(r: &AnyRow) -> anyhow::Result<SmsGateway> {
    let limit = |col: &str| -> anyhow::Result<Option<u32>> {
        Ok(r.try_get::<Option<i64>, _>(col)?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
    };
    let names: String = r.try_get("header_names")?;
    Ok(SmsGateway {
        id: GatewayId(r.try_get("id")?),
        name: r.try_get("name")?,
        method: r.try_get("method")?,
        url: r.try_get("url")?,
        header_names: names
            .split('\n')
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        body_template: r.try_get("body_template")?,
        success_contains: r.try_get("success_contains")?,
        hourly_limit: limit("hourly_limit")?,
        daily_limit: limit("daily_limit")?,
        active: r.try_get::<i64, _>("active")? != 0,
        revision: r.try_get("updated_at")?,
        reply_id_path: r.try_get("reply_id_path")?,
    })
}

/// The sealed secrets and the header names (never their values) as stored.
fn sealed_secrets(
    g: &NewSmsGateway,
    key: Option<&MasterKey>,
) -> Result<(Option<String>, String), ConfigError> {
    let headers_enc = if g.secrets.is_empty() {
        None
    } else {
        let json = serde_json::to_string(&g.secrets).context("secrets")?;
        Some(
            key.ok_or(SecretError::NoKey)
                .map_err(|e| ConfigError::Invalid {
                    field: "header",
                    reason: e.to_string(),
                })?
                .seal(&Secret::new(json)),
        )
    };
    let names = g
        .secrets
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Ok((headers_enc, names))
}

fn gateway_write_error(e: sqlx::Error, name: &str, doing: &'static str) -> ConfigError {
    if is_constraint(&e, "sms_gateways_name_key") || is_constraint(&e, "sms_gateways.name") {
        ConfigError::Duplicate {
            what: "sms gateway",
            name: name.to_string(),
        }
    } else {
        anyhow::Error::from(e).context(doing).into()
    }
}

/// Creates an SMS gateway. Headers are sealed with `key`; without a key, a gateway with
/// headers is refused (they would have to be stored in clear).
pub async fn insert_sms_gateway(
    conn: &mut AnyConnection,
    g: &NewSmsGateway,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> Result<GatewayId, ConfigError> {
    if g.name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "is required".into(),
        });
    }
    let (headers_enc, names) = sealed_secrets(g, key)?;
    let res = sqlx::query(
        "INSERT INTO sms_gateways (name, method, url, headers_enc, header_names, body_template, success_contains,
            hourly_limit, daily_limit, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING id",
    )
    .bind(g.name.trim())
    .bind(&g.method)
    .bind(&g.url)
    .bind(headers_enc)
    .bind(names)
    .bind(&g.body_template)
    .bind(g.success_contains.as_deref())
    .bind(g.hourly_limit.map(i64::from))
    .bind(g.daily_limit.map(i64::from))
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(row) => Ok(GatewayId(row.try_get(0).context("gateway id")?)),
        Err(e) => Err(gateway_write_error(
            e,
            &g.name,
            "cannot insert the sms gateway",
        )),
    }
}

/// Replaces every field of the active gateway `id` with `g` (its secrets sealed anew);
/// `updated_at` moves, so workers read the new secrets on their next message.
pub async fn update_sms_gateway(
    conn: &mut AnyConnection,
    id: GatewayId,
    g: &NewSmsGateway,
    key: Option<&MasterKey>,
    now_ms: i64,
) -> Result<(), ConfigError> {
    if g.name.trim().is_empty() {
        return Err(ConfigError::Invalid {
            field: "name",
            reason: "is required".into(),
        });
    }
    let (headers_enc, names) = sealed_secrets(g, key)?;
    let res = sqlx::query(
        "UPDATE sms_gateways SET name = $2, method = $3, url = $4, headers_enc = $5, header_names = $6,
            body_template = $7, success_contains = $8, hourly_limit = $9, daily_limit = $10, updated_at = $11
         WHERE id = $1 AND active = 1",
    )
    .bind(id.0)
    .bind(g.name.trim())
    .bind(&g.method)
    .bind(&g.url)
    .bind(headers_enc)
    .bind(names)
    .bind(&g.body_template)
    .bind(g.success_contains.as_deref())
    .bind(g.hourly_limit.map(i64::from))
    .bind(g.daily_limit.map(i64::from))
    .bind(now_ms)
    .execute(&mut *conn)
    .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(ConfigError::Unknown {
            what: "sms gateway",
            name: id.to_string(),
            known: String::new(),
        }),
        Err(e) => Err(gateway_write_error(
            e,
            &g.name,
            "cannot update the sms gateway",
        )),
    }
}

/// A gateway by id (removed ones too).
pub async fn get_sms_gateway(
    conn: &mut AnyConnection,
    id: GatewayId,
) -> anyhow::Result<Option<SmsGateway>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {GATEWAY_COLUMNS} FROM sms_gateways WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(gateway_from_row)
    .transpose()
}

/// Every SMS gateway (removed ones too), by name.
pub async fn list_sms_gateways(conn: &mut AnyConnection) -> anyhow::Result<Vec<SmsGateway>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {GATEWAY_COLUMNS} FROM sms_gateways ORDER BY name"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(gateway_from_row)
    .collect()
}

/// An active gateway by name.
pub async fn find_sms_gateway(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<SmsGateway>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {GATEWAY_COLUMNS} FROM sms_gateways WHERE name = $1 AND active = 1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(gateway_from_row)
    .transpose()
}

/// A gateway's headers and variables, opened with the master key.
pub async fn sms_gateway_secrets(
    conn: &mut AnyConnection,
    id: GatewayId,
    key: Option<&MasterKey>,
) -> anyhow::Result<GatewaySecrets> {
    let sealed: Option<String> = sqlx::query("SELECT headers_enc FROM sms_gateways WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    match sealed {
        None => Ok(GatewaySecrets::default()),
        Some(s) => {
            let opened = key.ok_or(SecretError::NoKey)?.open(&s)?;
            serde_json::from_str(opened.expose()).context("the gateway's sealed secrets")
        }
    }
}

/// Removes a gateway: it stops sending but stays in the log. False when there is no active
/// gateway of that name.
pub async fn deactivate_sms_gateway(
    conn: &mut AnyConnection,
    name: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    // Like a removed e-mail account, a removed gateway frees its name for a new one.
    Ok(sqlx::query(
        "UPDATE sms_gateways SET active = 0, name = name || ' (removido #' || CAST(id AS TEXT) || ')', updated_at = $2
         WHERE name = $1 AND active = 1",
    )
    .bind(name)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Moves the waiting SMS notices of gateway `from` to gateway `to`; how many moved.
pub async fn move_waiting_sms(
    conn: &mut AnyConnection,
    from: GatewayId,
    to: GatewayId,
    now_ms: i64,
) -> anyhow::Result<u64> {
    Ok(sqlx::query(
        "UPDATE notices SET gateway_id = $1, updated_at = $2
         WHERE gateway_id = $3 AND status IN ('queued', 'retrying')",
    )
    .bind(to.0)
    .bind(now_ms)
    .bind(from.0)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// A gateway's use of its rolling hour and day at `now_ms` (what its limits count), as
/// [`super::dunning::account_usage`] gives an account's.
pub async fn gateway_usage(
    conn: &mut AnyConnection,
    id: GatewayId,
    now_ms: i64,
) -> anyhow::Result<crate::domain::send_limits::Usage> {
    use crate::domain::send_limits::{DAY_MS, HOUR_MS, Usage};
    Ok(Usage {
        hour: gateway_sends_since(conn, id, now_ms - HOUR_MS).await?,
        day: gateway_sends_since(conn, id, now_ms - DAY_MS).await?,
    })
}

/// Messages a gateway sent (or is sending) since `since_ms`: its rolling windows' use.
pub async fn gateway_sends_since(
    conn: &mut AnyConnection,
    id: GatewayId,
    since_ms: i64,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM gateway_sends WHERE gateway_id = $1 AND sent_at > $2")
            .bind(id.0)
            .bind(since_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Saves the Firebase configuration, replacing the previous one. The private key is sealed.
pub async fn set_push_config(
    conn: &mut AnyConnection,
    c: &PushConfig,
    private_key: &Secret,
    key: Option<&MasterKey>,
) -> anyhow::Result<()> {
    let sealed = key.ok_or(SecretError::NoKey)?.seal(private_key);
    sqlx::query("DELETE FROM push_config")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO push_config (id, project_id, client_email, private_key_id, private_key_enc, token_uri, fcm_url, updated_at)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.project_id)
    .bind(&c.client_email)
    .bind(&c.private_key_id)
    .bind(sealed)
    .bind(&c.token_uri)
    .bind(&c.fcm_url)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The Firebase configuration, if one was uploaded.
pub async fn push_config(conn: &mut AnyConnection) -> anyhow::Result<Option<PushConfig>> {
    let row = sqlx::query(
        "SELECT project_id, client_email, private_key_id, token_uri, fcm_url, updated_at FROM push_config WHERE id = 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(PushConfig {
            project_id: r.try_get(0)?,
            client_email: r.try_get(1)?,
            private_key_id: r.try_get(2)?,
            token_uri: r.try_get(3)?,
            fcm_url: r.try_get(4)?,
            updated_at: r.try_get(5)?,
        })
    })
    .transpose()
}

/// The service account's private key (PEM), opened with the master key.
pub async fn push_private_key(
    conn: &mut AnyConnection,
    key: Option<&MasterKey>,
) -> anyhow::Result<Secret> {
    let sealed: String = sqlx::query("SELECT private_key_enc FROM push_config WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .context("no Firebase configuration")?
        .try_get(0)?;
    Ok(key.ok_or(SecretError::NoKey)?.open(&sealed)?)
}

const SUSPENSION_COLUMNS: &str =
    "id, contract_id, starts_on, ends_on, reason, requested_by, created_at, cancelled_at";

fn suspension_from_row(r: &AnyRow) -> anyhow::Result<Suspension> {
    Ok(Suspension {
        id: SuspensionId(r.try_get("id")?),
        contract_id: ContractId(r.try_get("contract_id")?),
        starts_on: date_col(r, "starts_on")?,
        ends_on: date_col(r, "ends_on")?,
        reason: r.try_get("reason")?,
        requested_by: r.try_get("requested_by")?,
        created_at: r.try_get("created_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
    })
}

/// Inserts a suspension as given (checks are the caller's: `crate::suspension::suspend`).
pub async fn insert_suspension(
    conn: &mut AnyConnection,
    contract: ContractId,
    starts_on: Date,
    ends_on: Date,
    reason: &str,
    requested_by: &str,
    now_ms: i64,
) -> anyhow::Result<SuspensionId> {
    let row = sqlx::query(
        "INSERT INTO suspensions (contract_id, starts_on, ends_on, reason, requested_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(contract.0)
    .bind(starts_on.to_string())
    .bind(ends_on.to_string())
    .bind(reason)
    .bind(requested_by)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .context("cannot record the suspension")?;
    Ok(SuspensionId(row.try_get(0)?))
}

/// A contract's suspensions (withdrawn ones too), latest start first.
pub async fn suspensions_of_contract(
    conn: &mut AnyConnection,
    contract: ContractId,
) -> anyhow::Result<Vec<Suspension>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {SUSPENSION_COLUMNS} FROM suspensions WHERE contract_id = $1 ORDER BY starts_on DESC"
    )))
    .bind(contract.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(suspension_from_row)
    .collect()
}

/// Suspensions by id.
pub async fn get_suspensions(
    conn: &mut AnyConnection,
    ids: &[SuspensionId],
) -> anyhow::Result<Vec<Suspension>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {SUSPENSION_COLUMNS} FROM suspensions WHERE id IN ({})",
        super::id_list(ids.iter().map(|i| i.0))
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(suspension_from_row)
    .collect()
}

/// The suspensions not withdrawn whose events may still be due on `today`: starting within
/// `ahead` days or already started, and ended at most `behind` days ago.
pub async fn live_suspensions(
    conn: &mut AnyConnection,
    today: Date,
    behind: i64,
) -> anyhow::Result<Vec<Suspension>> {
    let since = today
        .checked_sub(jiff::Span::new().days(behind))
        .unwrap_or(today);
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {SUSPENSION_COLUMNS} FROM suspensions WHERE cancelled_at IS NULL AND ends_on >= $1 ORDER BY id"
    )))
    .bind(since.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(suspension_from_row)
    .collect()
}

/// Closes a suspension: `cancelled_at` set (the scheduler leaves it alone from then on) and its
/// last day moved to `ends_on`.
pub async fn close_suspension(
    conn: &mut AnyConnection,
    id: SuspensionId,
    ends_on: Date,
    now_ms: i64,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE suspensions SET cancelled_at = $1, ends_on = $2 WHERE id = $3")
        .bind(now_ms)
        .bind(ends_on.to_string())
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets a contract's status (`active` ↔ `suspended`) when it is in `from`; false otherwise.
pub async fn set_contract_status_from(
    conn: &mut AnyConnection,
    contract: ContractId,
    from: crate::domain::ContractStatus,
    to: crate::domain::ContractStatus,
    now_ms: i64,
) -> anyhow::Result<bool> {
    Ok(sqlx::query(
        "UPDATE contracts SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(to.as_str())
    .bind(now_ms)
    .bind(contract.0)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Sets (or, with `None`, turns off) an active gateway's delivery receipts; `token_sha256` is the
/// SHA-256 of the token its receipt URL carries. False when there is no active gateway of that
/// name.
pub async fn set_sms_receipts(
    conn: &mut AnyConnection,
    name: &str,
    receipts: Option<&crate::domain::delivery::SmsReceipts>,
    token_sha256: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let empty = crate::domain::delivery::SmsReceipts {
        reply_id_path: String::new(),
        id_path: String::new(),
        status_path: String::new(),
        delivered: Vec::new(),
        failed: Vec::new(),
    };
    let r = receipts.unwrap_or(&empty);
    Ok(sqlx::query(
        "UPDATE sms_gateways SET reply_id_path = $1, receipt_id_path = $2, receipt_status_path = $3,
            receipt_delivered = $4, receipt_failed = $5, receipt_token_sha256 = $6, updated_at = $7
         WHERE name = $8 AND active = 1",
    )
    .bind(&r.reply_id_path)
    .bind(&r.id_path)
    .bind(&r.status_path)
    .bind(r.delivered.join(","))
    .bind(r.failed.join(","))
    .bind(token_sha256)
    .bind(now_ms)
    .bind(name)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// An active gateway's receipt settings and the SHA-256 of its receipt token, when receipts are
/// on.
pub async fn sms_receipts(
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<(GatewayId, crate::domain::delivery::SmsReceipts, String)>> {
    let row = sqlx::query(
        "SELECT id, reply_id_path, receipt_id_path, receipt_status_path, receipt_delivered, receipt_failed,
            receipt_token_sha256 FROM sms_gateways WHERE name = $1 AND active = 1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let Some(token) = r.try_get::<Option<String>, _>(6)? else {
        return Ok(None);
    };
    let list = |s: String| -> Vec<String> {
        s.split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    Ok(Some((
        GatewayId(r.try_get(0)?),
        crate::domain::delivery::SmsReceipts {
            reply_id_path: r.try_get(1)?,
            id_path: r.try_get(2)?,
            status_path: r.try_get(3)?,
            delivered: list(r.try_get(4)?),
            failed: list(r.try_get(5)?),
        },
        token,
    )))
}
