//! The channels an ISP sends through: SMTP accounts, SMS gateways, the push service account,
//! and which e-mail account is the financial one (boletos and invoices).

use crate::domain::Actor;
use crate::domain::delivery::{AccountId, GatewayId, NewSmsGateway, NewSmtpAccount};
use crate::secrets::{MasterKey, Secret};
use crate::store::parties::ConfigError;
use crate::store::{self, Db, channels::PushConfig};

use super::{Audit, in_transaction};

/// Adds an SMTP (or folder) account; with `financial`, it becomes the financial parameters'
/// account in the same transaction. The password is sealed with `key`.
pub async fn add_smtp_account(
    db: &Db,
    account: &NewSmtpAccount,
    key: Option<&MasterKey>,
    financial: bool,
    actor: &Actor,
    now_ms: i64,
) -> Result<AccountId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::accounts::insert_smtp_account(tx, account, key, now_ms).await?;
        Audit::of("smtp.add", format!("smtp:{}", account.name))
            .after(account.audit_json())
            .write(tx, actor, now_ms)
            .await?;
        if financial {
            super::billing_setup::write_setting(
                tx,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                &account.name,
                super::billing_setup::Unset::ReadsAsNone,
                actor,
                now_ms,
            )
            .await?;
        }
        Ok(id)
    })
    .await
}

/// Edits the active SMTP account `id` (audited `smtp.update` with the fields before and after,
/// the password masked). See [`store::accounts::update_smtp_account`] for what an edit changes.
pub async fn update_smtp_account(
    db: &Db,
    id: AccountId,
    account: &NewSmtpAccount,
    password: &store::accounts::PasswordChange,
    key: Option<&MasterKey>,
    actor: &Actor,
    now_ms: i64,
) -> Result<(), ConfigError> {
    in_transaction(db, async |tx| {
        let before = store::accounts::get_smtp_account(tx, id).await?;
        let financial = store::accounts::financial_account(tx)
            .await?
            .is_some_and(|f| f.id == id);
        store::accounts::update_smtp_account(tx, id, account, password, key, now_ms).await?;
        let before_json = account_record(&before);
        let after = store::accounts::get_smtp_account(tx, id).await?;
        let mut after_json = account_record(&after);
        // A kept password reads `***` as before; a new one says so.
        if let store::accounts::PasswordChange::Replace(_) = password {
            after_json["password"] = serde_json::json!("*** (nova)");
        }
        Audit::of("smtp.update", format!("smtp:{}", after.name))
            .before(before_json.to_string())
            .after(after_json.to_string())
            .write(tx, actor, now_ms)
            .await?;
        // A renamed financial account stays the financial one.
        if financial && before.name != after.name {
            super::billing_setup::write_setting(
                tx,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                &after.name,
                super::billing_setup::Unset::ReadsAsNone,
                actor,
                now_ms,
            )
            .await?;
        }
        Ok(())
    })
    .await
}

/// The fields an edit can change, as the trail records them; the password only as `***`.
fn account_record(a: &crate::domain::delivery::SmtpAccount) -> serde_json::Value {
    serde_json::json!({
        "name": a.name, "host": a.host, "port": a.port,
        "security": a.security.as_str(), "user": a.username,
        "password": a.has_password.then_some("***"), "from": a.from_address.as_str(),
        "from_name": a.from_name,
        "test_recipient": a.test_recipient.as_ref().map(|e| e.as_str().to_string()),
        "hourly_limit": a.hourly_limit, "daily_limit": a.daily_limit,
        "bounce_domain": a.bounce_domain,
    })
}

/// What removing an SMTP account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The account's name in the log from now on (see [`store::accounts::removed_name`]).
    pub renamed_to: String,
    /// Notices that were waiting on it and now wait on `moved_to`.
    pub moved: u64,
    /// Where they went.
    pub moved_to: Option<String>,
    /// It was the financial parameters' account; now there is none until one is chosen.
    pub was_financial: bool,
}

/// Why an SMTP account was not removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// No active account of that name.
    #[error("no active smtp account named {0:?}")]
    NotFound(String),
    /// Notices wait on it and there is no other account to move them to: nothing changed.
    #[error(
        "{waiting} notice(s) wait to be sent through {name:?}; name the account to move them to"
    )]
    Held {
        /// The account.
        name: String,
        /// How many notices wait on it.
        waiting: i64,
    },
    /// `move_to` is not another active account.
    #[error("{0:?} is not another active smtp account")]
    BadTarget(String),
    /// The database failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Removes the active SMTP account `name`: it stops sending and its name is freed; when it was
/// the financial parameters' account, that setting is cleared. Notices still waiting on it are
/// moved to `move_to`, or else to the financial account; when there is neither, nothing is
/// removed ([`RemoveError::Held`]) so that no notice is silently skipped. Audited `smtp.remove`.
pub async fn remove_smtp_account(
    db: &Db,
    name: &str,
    move_to: Option<&str>,
    actor: &Actor,
    now_ms: i64,
) -> Result<Removed, RemoveError> {
    in_transaction(db, async |tx| {
        let Some(account) = store::accounts::find_smtp_account(tx, name)
            .await?
            .filter(|a| a.active)
        else {
            return Err(RemoveError::NotFound(name.to_string()));
        };
        let financial = store::accounts::financial_account(tx).await?;
        let was_financial = financial.as_ref().is_some_and(|f| f.id == account.id);
        let target = match move_to.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => Some(
                store::accounts::find_smtp_account(tx, m)
                    .await?
                    .filter(|a| a.active && a.id != account.id)
                    .ok_or_else(|| RemoveError::BadTarget(m.to_string()))?,
            ),
            None => financial.filter(|f| f.id != account.id),
        };
        let waiting = store::accounts::waiting_notices(tx, account.id).await?;
        let (moved, moved_to) = match (waiting, &target) {
            (0, _) => (0, None),
            (_, Some(t)) => (
                store::accounts::move_waiting_notices(tx, account.id, t.id, now_ms).await?,
                Some(t.name.clone()),
            ),
            (waiting, None) => {
                return Err(RemoveError::Held {
                    name: name.to_string(),
                    waiting,
                });
            }
        };
        store::accounts::deactivate_smtp_account(tx, name, now_ms).await?;
        if was_financial {
            super::billing_setup::write_setting(
                tx,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                "",
                super::billing_setup::Unset::ReadsAsNone,
                actor,
                now_ms,
            )
            .await?;
        }
        let renamed_to = store::accounts::removed_name(name, account.id);
        Audit::of("smtp.remove", format!("smtp:{name}"))
            .after(
                serde_json::json!({
                    "renamed_to": renamed_to, "moved_notices": moved, "moved_to": moved_to,
                    "was_financial": was_financial,
                })
                .to_string(),
            )
            .write(tx, actor, now_ms)
            .await?;
        Ok(Removed {
            renamed_to,
            moved,
            moved_to,
            was_financial,
        })
    })
    .await
}

/// Which account [`set_financial_account`] means.
#[derive(Debug, Clone, Copy)]
pub enum AccountRef<'a> {
    /// By id (the web page's button).
    Id(AccountId),
    /// By name (the CLI).
    Name(&'a str),
}

/// Makes the active account `which` the financial parameters' account (audited as
/// `setting.set` with the value before and after); false when there is no such active account.
pub async fn set_financial_account(
    db: &Db,
    which: AccountRef<'_>,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let account = match which {
            AccountRef::Id(id) => store::accounts::get_smtp_account(tx, id).await.ok(),
            AccountRef::Name(name) => store::accounts::find_smtp_account(tx, name).await?,
        };
        let Some(account) = account.filter(|a| a.active) else {
            return Ok(false);
        };
        super::billing_setup::write_setting(
            tx,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            &account.name,
            super::billing_setup::Unset::ReadsAsNone,
            actor,
            now_ms,
        )
        .await?;
        Ok(true)
    })
    .await
}

/// Adds an SMS gateway; its header values are sealed with `key`.
pub async fn add_sms_gateway(
    db: &Db,
    gateway: &NewSmsGateway,
    key: Option<&MasterKey>,
    actor: &Actor,
    now_ms: i64,
) -> Result<GatewayId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::channels::insert_sms_gateway(tx, gateway, key, now_ms).await?;
        Audit::of("sms.add", format!("sms:{}", gateway.name))
            .after(gateway.audit_json())
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Replaces the active SMS gateway `id` with `gateway` (audited `sms.update` with the stored
/// and new fields; header values and variables never reach the trail).
pub async fn update_sms_gateway(
    db: &Db,
    id: GatewayId,
    gateway: &NewSmsGateway,
    key: Option<&MasterKey>,
    actor: &Actor,
    now_ms: i64,
) -> Result<(), ConfigError> {
    in_transaction(db, async |tx| {
        let before = store::channels::get_sms_gateway(tx, id)
            .await?
            .filter(|g| g.active)
            .ok_or_else(|| ConfigError::Unknown {
                what: "sms gateway",
                name: id.to_string(),
                known: String::new(),
            })?;
        store::channels::update_sms_gateway(tx, id, gateway, key, now_ms).await?;
        let before_json = serde_json::json!({
            "name": before.name, "method": before.method, "url": before.url,
            "headers": before.header_names.iter().map(|n| format!("{n}: ***")).collect::<Vec<_>>(),
            "body": before.body_template, "success_contains": before.success_contains,
            "hourly_limit": before.hourly_limit, "daily_limit": before.daily_limit,
        });
        Audit::of("sms.update", format!("sms:{}", gateway.name))
            .before(before_json.to_string())
            .after(gateway.audit_json())
            .write(tx, actor, now_ms)
            .await?;
        Ok(())
    })
    .await
}

/// What removing a gateway did with the notices waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRemoved {
    /// Waiting SMS notices moved to another gateway.
    pub moved: u64,
    /// The gateway they moved to: the first other active one, if any. Without one they stay,
    /// and each goes on by its next channel (or is skipped, "o gateway de SMS … foi removido")
    /// when its turn comes.
    pub to: Option<String>,
}

/// Removes an SMS gateway (audited `sms.remove`, with the notices moved); `None` when there is
/// no active gateway by that name. Its waiting notices move to the first other active gateway,
/// and a suspension setting that named it is cleared (the first active gateway, audited).
pub async fn remove_sms_gateway(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Option<GatewayRemoved>> {
    in_transaction(db, async |tx| {
        let gateways = store::channels::list_sms_gateways(tx).await?;
        let Some(gone) = gateways.iter().find(|g| g.active && g.name == name) else {
            return Ok(None);
        };
        let next = gateways.iter().find(|g| g.active && g.id != gone.id);
        if !store::channels::deactivate_sms_gateway(tx, name, now_ms).await? {
            return Ok(None);
        }
        let moved = match next {
            Some(n) => store::channels::move_waiting_sms(tx, gone.id, n.id, now_ms).await?,
            None => 0,
        };
        // Suspension notices named this gateway: they go back to "the first active one".
        if store::parties::get_setting(tx, store::settings::SETTING_SUSPENSION_GATEWAY)
            .await?
            .as_deref()
            == Some(name)
        {
            super::billing_setup::write_setting(
                tx,
                store::settings::SETTING_SUSPENSION_GATEWAY,
                "",
                super::billing_setup::Unset::ReadsAsNone,
                actor,
                now_ms,
            )
            .await?;
        }
        Audit::of("sms.remove", format!("sms:{name}"))
            .after(
                serde_json::json!({"moved": moved, "to": next.map(|n| n.name.clone())}).to_string(),
            )
            .write(tx, actor, now_ms)
            .await?;
        Ok(Some(GatewayRemoved {
            moved,
            to: next.map(|n| n.name.clone()),
        }))
    })
    .await
}

/// Replaces the push (Firebase) configuration; the service account's private key is sealed
/// with `key` and never written to the audit trail.
pub async fn configure_push(
    db: &Db,
    config: &PushConfig,
    private_key: &Secret,
    key: &MasterKey,
    actor: &Actor,
) -> anyhow::Result<()> {
    in_transaction(db, async |tx| {
        store::channels::set_push_config(tx, config, private_key, Some(key)).await?;
        let after = serde_json::json!({
            "project_id": config.project_id, "client_email": config.client_email,
            "token_uri": config.token_uri, "fcm_url": config.fcm_url, "private_key": "***",
        });
        Audit::of("push.configure", "push")
            .after(after.to_string())
            .write(tx, actor, config.updated_at)
            .await
    })
    .await
}

/// Adds or replaces a pacing rule (audited `pacing.set` with the rule before and after).
pub async fn set_pacing(
    db: &Db,
    rule: &crate::domain::pacing::PacingRule,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<()> {
    in_transaction(db, async |tx| {
        let before = store::pacing::list_rules(tx)
            .await?
            .into_iter()
            .find(|r| r.name == rule.name);
        store::pacing::set_rule(tx, rule).await?;
        let json = |r: &crate::domain::pacing::PacingRule| {
            serde_json::json!({"domains": r.domains, "per_minute": r.per_minute}).to_string()
        };
        let mut audit = Audit::of("pacing.set", format!("pacing:{}", rule.name)).after(json(rule));
        if let Some(b) = &before {
            audit = audit.before(json(b));
        }
        audit.write(tx, actor, now_ms).await?;
        Ok(())
    })
    .await
}

/// Removes a pacing rule (audited `pacing.remove`); false when there was none.
pub async fn remove_pacing(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        if !store::pacing::remove_rule(tx, name).await? {
            return Ok(false);
        }
        Audit::of("pacing.remove", format!("pacing:{name}"))
            .write(tx, actor, now_ms)
            .await?;
        Ok(true)
    })
    .await
}

/// Turns an SMS gateway's delivery receipts on (with how to read them; audited
/// `sms.receipts`) and returns the token its receipt URL must carry — shown once, only its
/// SHA-256 kept — or off with `None`. `Ok(None)` when there is no active gateway of that name.
pub async fn set_sms_receipts(
    db: &Db,
    name: &str,
    receipts: Option<&crate::domain::delivery::SmsReceipts>,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Option<Option<String>>> {
    let token = receipts.map(|_| crate::domain::auth::new_token());
    let digest = token.as_deref().map(crate::domain::auth::token_hash);
    in_transaction(db, async |tx| {
        if !store::channels::set_sms_receipts(tx, name, receipts, digest.as_deref(), now_ms).await? {
            return Ok(None);
        }
        let after = match receipts {
            Some(r) => serde_json::json!({
                "reply_id_path": r.reply_id_path, "id_path": r.id_path, "status_path": r.status_path,
                "delivered": r.delivered, "failed": r.failed, "token": "***",
            })
            .to_string(),
            None => "off".to_string(),
        };
        Audit::of("sms.receipts", format!("sms:{name}"))
            .after(after)
            .write(tx, actor, now_ms)
            .await?;
        Ok(Some(token))
    })
    .await
}

/// What a receipt call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmsReceiptReport {
    /// Receipts recorded on their notice.
    pub recorded: usize,
    /// Receipts whose message Régua does not know.
    pub unknown: usize,
    /// Receipts with a status that is neither delivered nor failed (kept by the gateway only).
    pub ignored: usize,
}

/// Why a receipt call was refused (nothing recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsReceiptRefusal {
    /// No active gateway of that name with receipts on.
    UnknownGateway,
    /// The token is not the gateway's.
    BadToken,
    /// Not JSON.
    NotJson,
}

/// An SMS gateway's delivery receipt(s): one JSON object or a list of them; each one's id and
/// status are read at the gateway's paths, and a status among its delivered or failed values is
/// recorded on the notice sent with that id (`notice_receipts`), in one transaction.
pub async fn sms_receipt(
    db: &Db,
    gateway: &str,
    token: &str,
    body: &[u8],
    now_ms: i64,
) -> anyhow::Result<Result<SmsReceiptReport, SmsReceiptRefusal>> {
    let mut conn = db.pool.acquire().await?;
    let Some((id, cfg, digest)) = store::channels::sms_receipts(&mut conn, gateway).await? else {
        return Ok(Err(SmsReceiptRefusal::UnknownGateway));
    };
    drop(conn);
    let given = crate::domain::auth::token_hash(token);
    if token.is_empty() || !constant_eq(given.as_bytes(), digest.as_bytes()) {
        return Ok(Err(SmsReceiptRefusal::BadToken));
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(Err(SmsReceiptRefusal::NotJson));
    };
    let items: Vec<serde_json::Value> = match json {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let sender = format!("sms:{}", id.0);
    let report = in_transaction(db, async |tx| {
        let mut report = SmsReceiptReport::default();
        for item in &items {
            let (Some(message), Some(status)) = (
                crate::domain::delivery::json_at(item, &cfg.id_path),
                crate::domain::delivery::json_at(item, &cfg.status_path),
            ) else {
                report.ignored += 1;
                continue;
            };
            let is = |list: &[String]| list.iter().any(|v| v.eq_ignore_ascii_case(status.trim()));
            let kind = if is(&cfg.delivered) {
                "delivered"
            } else if is(&cfg.failed) {
                "failed"
            } else {
                report.ignored += 1;
                continue;
            };
            let Some(notice) = store::whatsapp::notice_of_message(tx, &sender, &message).await?
            else {
                report.unknown += 1;
                continue;
            };
            // A gateway that posts the same receipt again changes nothing.
            if store::whatsapp::receipts_of(tx, notice)
                .await?
                .iter()
                .any(|r| r.status == kind)
            {
                continue;
            }
            if store::whatsapp::record_receipt(
                tx,
                notice,
                "sms",
                kind,
                now_ms,
                Some(status.trim()),
                "",
                now_ms,
            )
            .await?
            {
                report.recorded += 1;
            }
        }
        Ok::<_, anyhow::Error>(report)
    })
    .await?;
    Ok(Ok(report))
}

/// Equal byte strings, compared in constant time (two digests of the same length).
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
