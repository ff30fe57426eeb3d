//! Actions: one function for each thing an operator or a trigger does. An action opens the
//! transaction and writes the fact, its audit row and any notice it causes together; the web
//! pages, the REST API, the CLI and the importers parse their input into domain types, call the
//! action and render what it answers. None of them opens a transaction or writes an audit row
//! itself (`scripts/check-boundaries` fails the build when one does).
//!
//! The modules follow what is changed: [`channels`] (SMTP accounts, SMS gateways, push, the
//! financial account), [`billing_setup`] (wallets, billing methods, settings), [`access`]
//! (users, API keys, passwords), [`logins`] (the login throttle), [`dunning`] (rules, bands,
//! routines, holidays, letters, pauses), [`records`] (customers, contracts and invoices from
//! the API), [`payments`], [`notices`] (sending now, requeueing) and [`suspensions`].

pub mod access;
pub mod bank_returns;
pub mod billing_setup;
pub mod bounces;
pub mod channels;
pub mod dunning;
pub mod imports;
pub mod layouts;
pub mod logins;
pub mod notices;
pub mod payments;
pub mod pix;
pub mod records;
pub mod remessa;
pub mod self_service;
pub mod suspensions;
pub mod webhooks;
pub mod whatsapp;

use sqlx::AnyConnection;

use crate::domain::Actor;
use crate::store::{self, Db};

/// Runs `change` in one transaction: committed when it answers `Ok`, rolled back when it
/// answers `Err` (a refused change writes nothing).
pub(crate) async fn in_transaction<T, E>(
    db: &Db,
    change: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<anyhow::Error>,
{
    let mut tx = db.begin().await?;
    let out = change(&mut tx).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(out)
}

/// The audit row that goes with a fact: what was done (`smtp.add`), to what (`smtp:NAME`),
/// and the record before and after as the trail shows them.
pub(crate) struct Audit<'a> {
    /// The action's name, `thing.verb`.
    pub action: &'a str,
    /// The entity, `kind:id`.
    pub entity: String,
    /// The record before, when there was one.
    pub before: Option<String>,
    /// The record after, when there is one.
    pub after: Option<String>,
}

impl<'a> Audit<'a> {
    /// `action` on `entity`, with no before or after.
    pub fn of(action: &'a str, entity: impl Into<String>) -> Self {
        Audit {
            action,
            entity: entity.into(),
            before: None,
            after: None,
        }
    }

    /// The record before.
    pub fn before(mut self, before: impl Into<String>) -> Self {
        self.before = Some(before.into());
        self
    }

    /// The record after.
    pub fn after(mut self, after: impl Into<String>) -> Self {
        self.after = Some(after.into());
        self
    }

    /// Writes the row, caused by `actor`, in the caller's transaction.
    pub async fn write(
        self,
        conn: &mut AnyConnection,
        actor: &Actor,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        store::audit::record(
            conn,
            &actor.to_string(),
            self.action,
            &self.entity,
            self.before.as_deref(),
            self.after.as_deref(),
            now_ms,
        )
        .await
    }
}
