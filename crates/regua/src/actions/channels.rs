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

/// Deactivates the active SMTP account `name`; false when there is none.
pub async fn remove_smtp_account(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::accounts::deactivate_smtp_account(tx, name, now_ms).await?;
        if removed {
            Audit::of("smtp.remove", format!("smtp:{name}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
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

/// Deactivates the active SMS gateway `name`; false when there is none.
pub async fn remove_sms_gateway(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::channels::deactivate_sms_gateway(tx, name, now_ms).await?;
        if removed {
            Audit::of("sms.remove", format!("sms:{name}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
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
