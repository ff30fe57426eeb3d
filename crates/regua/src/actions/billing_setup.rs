//! How an ISP bills: wallets (the bank account a boleto is drawn on), billing methods (the
//! contracts' "forma de cobrança") and the system's settings.

use sqlx::AnyConnection;

use crate::domain::{Actor, BillingMethodId, NewWallet, WalletId};
use crate::store::parties::ConfigError;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Adds a wallet.
pub async fn add_wallet(
    db: &Db,
    wallet: &NewWallet,
    actor: &Actor,
    now_ms: i64,
) -> Result<WalletId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::parties::insert_wallet(tx, wallet, now_ms).await?;
        Audit::of("wallet.add", format!("wallet:{}", id.0))
            .after(wallet.audit_text())
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Turns a switch on or off with its audit row (`wallet.send_on_generate`,
/// `method.confirm_payment`); false when there is no such record.
async fn set_switch(
    db: &Db,
    switch: store::parties::Switch,
    id: i64,
    on: bool,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let (action, entity) = match switch {
        store::parties::Switch::WalletSendOnGenerate => ("wallet.send_on_generate", "wallet"),
        store::parties::Switch::MethodConfirmPayment => ("method.confirm_payment", "method"),
    };
    in_transaction(db, async |tx| {
        let found = store::parties::set_switch(tx, switch, id, on).await?;
        if found {
            Audit::of(action, format!("{entity}:{id}"))
                .before(if on { "false" } else { "true" })
                .after(if on { "true" } else { "false" })
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(found)
    })
    .await
}

/// Turns a wallet's "send the boleto when generated" on or off; false when there is no such
/// wallet.
pub async fn set_wallet_send_on_generate(
    db: &Db,
    wallet: WalletId,
    on: bool,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let switch = store::parties::Switch::WalletSendOnGenerate;
    set_switch(db, switch, wallet.0, on, actor, now_ms).await
}

/// Turns a billing method's "pagamento confirmado" message on or off (docs/payments.md); false
/// when there is no such method.
pub async fn set_method_confirm_payment(
    db: &Db,
    method: BillingMethodId,
    on: bool,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let switch = store::parties::Switch::MethodConfirmPayment;
    set_switch(db, switch, method.0, on, actor, now_ms).await
}

/// Replaces a wallet's registration mode and terms, checked against the consumer caps
/// (docs/charges.md); `Ok(Err(..))` names what was refused and changes nothing.
pub async fn update_wallet_terms(
    db: &Db,
    wallet: WalletId,
    registration: crate::domain::charges::Registration,
    terms: &crate::domain::charges::Terms,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<Result<(), crate::domain::charges::TermsError>> {
    if let Err(e) = terms.validate() {
        return Ok(Err(e));
    }
    in_transaction(db, async |tx| {
        let before = store::parties::get_wallet(tx, wallet).await?;
        store::parties::update_wallet_terms(tx, wallet, registration, terms).await?;
        Audit::of("wallet.terms", format!("wallet:{}", wallet.0))
            .before(crate::domain::charges::audit_text(
                before.registration,
                &before.terms,
            ))
            .after(crate::domain::charges::audit_text(registration, terms))
            .write(tx, actor, now_ms)
            .await?;
        Ok(Ok(()))
    })
    .await
}

/// Adds a billing method drawn on the wallet named `wallet`.
pub async fn add_billing_method(
    db: &Db,
    name: &str,
    wallet: &str,
    actor: &Actor,
    now_ms: i64,
) -> Result<BillingMethodId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::parties::insert_billing_method(tx, name, wallet, now_ms).await?;
        Audit::of("method.add", format!("method:{}", id.0))
            .after(format!("{} wallet={wallet}", name.trim()))
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Why a wallet edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum WalletEditError {
    /// The wallet has invoices and the edit changes its bank identity.
    #[error("wallet {0} has invoices: its agency, account, wallet code and agreement stay")]
    IdentityLocked(String),
    /// Refused by the store (a duplicate name, a non-digit field…).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<anyhow::Error> for WalletEditError {
    fn from(e: anyhow::Error) -> Self {
        WalletEditError::Config(ConfigError::Other(e))
    }
}

/// Edits a wallet's name, PIX key and — while no invoice was issued on it — its bank identity
/// (agency, account, wallet code, agreement). Audited `wallet.update`, before and after.
pub async fn update_wallet(
    db: &Db,
    id: WalletId,
    edit: &NewWallet,
    actor: &Actor,
    now_ms: i64,
) -> Result<(), WalletEditError> {
    in_transaction(db, async |tx| {
        let before = store::parties::get_wallet(tx, id).await?;
        let identity_changes = (
            &before.agency,
            &before.account,
            &before.wallet_code,
            &before.agreement,
        ) != (
            &edit.agency,
            &edit.account,
            &edit.wallet_code,
            &edit.agreement,
        );
        if identity_changes && store::parties::wallet_has_invoices(tx, id).await? {
            return Err(WalletEditError::IdentityLocked(before.name));
        }
        store::parties::update_wallet_identity(tx, id, edit).await?;
        let text = |name: &str,
                    agency: &str,
                    account: &str,
                    code: &str,
                    agreement: &str,
                    pix: Option<&str>| {
            serde_json::json!({"name": name, "agency": agency, "account": account,
                "wallet": code, "agreement": agreement, "pix_key": pix})
            .to_string()
        };
        Audit::of("wallet.update", format!("wallet:{}", id.0))
            .before(text(
                &before.name,
                &before.agency,
                &before.account,
                &before.wallet_code,
                &before.agreement,
                before.pix_key.as_deref(),
            ))
            .after(text(
                edit.name.trim(),
                &edit.agency,
                &edit.account,
                &edit.wallet_code,
                &edit.agreement,
                edit.pix_key.as_deref(),
            ))
            .write(tx, actor, now_ms)
            .await?;
        Ok(())
    })
    .await
}

/// Renames a billing method and draws it on another wallet (see
/// [`store::parties::update_billing_method`]); audited `method.update`.
pub async fn update_billing_method(
    db: &Db,
    id: BillingMethodId,
    name: &str,
    wallet: WalletId,
    actor: &Actor,
    now_ms: i64,
) -> Result<(), ConfigError> {
    in_transaction(db, async |tx| {
        let methods = store::parties::list_billing_methods(tx).await?;
        let Some(before) = methods.iter().find(|m| m.id == id) else {
            return Err(ConfigError::Unknown {
                what: "billing method",
                name: id.0.to_string(),
                known: String::new(),
            });
        };
        let old_wallet = store::parties::get_wallet(tx, before.wallet_id).await?;
        let new_wallet = store::parties::get_wallet(tx, wallet).await?;
        store::parties::update_billing_method(tx, id, name, wallet, now_ms).await?;
        Audit::of("method.update", format!("method:{}", id.0))
            .before(format!("{} wallet={}", before.name, old_wallet.name))
            .after(format!("{} wallet={}", name.trim(), new_wallet.name))
            .write(tx, actor, now_ms)
            .await?;
        Ok(())
    })
    .await
}

/// What an unset setting's value was, for the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// Its default: the parameters page showed it and the operator replaced it. Saving the
    /// default unchanged writes nothing, so a page saved as shown leaves the defaults alone.
    ReadsAsDefault,
    /// Nothing: `regua settings set` names the value to store, whatever the default.
    ReadsAsNone,
}

/// Sets the (already checked) settings given, in one transaction, each with its audit row
/// (`setting.set`, the value before and after); how many changed. A value equal to the one
/// before writes nothing.
pub async fn set_settings(
    db: &Db,
    values: &[(&str, String)],
    unset: Unset,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<usize> {
    in_transaction(db, async |tx| {
        let mut changed = 0;
        for (key, value) in values {
            if write_setting(tx, key, value, unset, actor, now_ms).await? {
                changed += 1;
            }
        }
        Ok(changed)
    })
    .await
}

/// Sets one setting in the caller's transaction with its audit row, unless it already holds
/// `value`; whether it changed.
pub(super) async fn write_setting(
    tx: &mut AnyConnection,
    key: &str,
    value: &str,
    unset: Unset,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let stored = store::parties::get_setting(tx, key).await?;
    let before = match (stored, store::settings::setting_spec(key), unset) {
        (None, Some(spec), Unset::ReadsAsDefault) => Some(spec.default.to_string()),
        (stored, _, _) => stored,
    };
    if before.as_deref() == Some(value) {
        return Ok(false);
    }
    store::parties::set_setting(tx, key, value).await?;
    let mut audit = Audit::of("setting.set", key).after(value);
    audit.before = before;
    audit.write(tx, actor, now_ms).await?;
    Ok(true)
}
