//! E-mail: the account a notice goes through, the MIME message (`message`, DKIM-signed when
//! the account has a key), and the transport that carries it (`transport`: SMTP through a pool
//! of kept-open connections, `pool`, or a folder of `.eml` files).

pub mod check;
pub mod dkim;
pub mod dns;
mod message;
mod pool;
mod transport;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;

pub use message::{BuildError, build_message};
pub use transport::MailTransport;

use super::{Outcome, Route};
use crate::delivery::policy::Failure;
use crate::delivery::prepare::Message;
use crate::delivery::{AccountId, Notice, SmtpAccount};
use crate::domain::Customer;
use crate::secrets::MasterKey;
use crate::store::{self, Db};

/// Where an e-mail notice goes: its account, if still active, and the customer's address on
/// file now (the address it was queued with when it has no customer: a test message).
pub(super) fn route<'a>(
    n: &Notice,
    customer: Option<&Customer>,
    accounts: &'a [SmtpAccount],
    suppressed: &std::collections::HashMap<String, store::bounces::Suppression>,
) -> anyhow::Result<Result<Route<'a>, String>> {
    let Some(account_id) = n.account_id else {
        return Ok(Err("sem conta de e-mail para enviar".into()));
    };
    let account = accounts
        .iter()
        .find(|a| a.id == account_id)
        .with_context(|| format!("smtp account {account_id}"))?;
    if !account.active {
        return Ok(Err(format!(
            "a conta de e-mail {} foi removida",
            account.name
        )));
    }
    let to = match customer {
        Some(c) => match &c.email {
            Some(e) => e.as_str().to_string(),
            None => return Ok(Err("cliente sem e-mail cadastrado".into())),
        },
        None => n.recipient.clone(),
    };
    // A suppressed address gets nothing more until a clerk clears it (docs/bounces.md).
    if let Some(s) = suppressed.get(&to.to_lowercase()) {
        let why = match s.reason.as_str() {
            "hard" => "devolvido como inexistente",
            "complaint" => "o destinatário reclamou (spam)",
            _ => "devoluções seguidas",
        };
        let code = s
            .status
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default();
        return Ok(Err(format!("e-mail suprimido: {to} ({why}{code})")));
    }
    Ok(Ok(Route::Email(account, to)))
}

/// The e-mail channel: one pooled transport per account, opened on first use.
pub(super) struct EmailChannel {
    db: Db,
    key: Option<MasterKey>,
    connections: u32,
    timeout: Duration,
    /// Keyed by the account and its revision: an edited account gets a new pool.
    transports: Mutex<HashMap<(AccountId, i64), MailTransport>>,
}

impl EmailChannel {
    /// The channel; each account's pool holds up to `connections` connections.
    pub(super) fn new(
        db: Db,
        key: Option<MasterKey>,
        connections: usize,
        timeout: Duration,
    ) -> EmailChannel {
        EmailChannel {
            db,
            key,
            connections: u32::try_from(connections).unwrap_or(8),
            timeout,
            transports: Mutex::new(HashMap::new()),
        }
    }

    async fn transport(&self, account: &SmtpAccount) -> anyhow::Result<MailTransport> {
        if let Some(t) = self
            .transports
            .lock()
            .expect("poisoned")
            .get(&(account.id, account.revision))
        {
            return Ok(t.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let password =
            store::accounts::smtp_password(&mut conn, account.id, self.key.as_ref()).await?;
        let t = MailTransport::for_account(account, password, self.connections, self.timeout)?;
        self.transports
            .lock()
            .expect("poisoned")
            .insert((account.id, account.revision), t.clone());
        Ok(t)
    }

    /// Builds the message (with its attachments) and hands it to the account's transport.
    pub(super) async fn send(
        &self,
        n: &Notice,
        account: &SmtpAccount,
        to: String,
        message: &Message,
    ) -> Outcome {
        let mime = match build_message(
            account,
            &to,
            &n.message_id,
            &message.rendered,
            &message.attachments,
        ) {
            Ok(m) => m,
            Err(e) => {
                let failure = Failure::Permanent {
                    code: None,
                    text: e.0,
                };
                return Outcome::Failed {
                    recipient: to,
                    failure,
                };
            }
        };
        let transport = match self.transport(account).await {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Failed {
                    recipient: to,
                    failure: Failure::ours(&e),
                };
            }
        };
        // The return path per message (VERP) when the account has a bounce domain and the
        // server has the key that signs it (docs/bounces.md).
        let return_path = match (account.bounce_domain.trim(), self.key.as_ref()) {
            ("", _) | (_, None) => None,
            (domain, Some(key)) => crate::bounce::return_path(n.id.0, domain, key)
                .parse::<lettre::Address>()
                .ok(),
        };
        match transport.send(&mime, return_path.as_ref()).await {
            Ok(accepted) => Outcome::Sent {
                recipient: to,
                code: accepted.code,
                text: accepted.text,
                provider_id: None,
            },
            Err(failure) => Outcome::Failed {
                recipient: to,
                failure,
            },
        }
    }
}
