//! Where messages leave Régua: an SMTP server through a pooled lettre transport (several
//! connections per account, reused across messages), or a folder of `.eml` files (the demo's
//! channel, no server needed). One [`MailTransport`] per account, built once per worker.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::policy::{Failure, classify_smtp, error_chain};
use super::{Security, SmtpAccount, Transport};
use crate::secrets::Secret;

/// How long one SMTP command may take before the attempt counts as a timeout.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's answer to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Reply code (250).
    pub code: u16,
    /// Reply text.
    pub text: String,
}

/// An account's way out.
#[derive(Clone)]
pub enum MailTransport {
    /// A pooled SMTP client.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// A folder of `.eml` files.
    Folder(PathBuf),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailTransport::Smtp(_) => f.write_str("MailTransport::Smtp"),
            MailTransport::Folder(p) => write!(f, "MailTransport::Folder({})", p.display()),
        }
    }
}

impl MailTransport {
    /// Builds the transport of an account. `password` is the opened secret, when it has one;
    /// `connections` caps the pool (the concurrent sends of this account).
    pub fn for_account(
        account: &SmtpAccount,
        password: Option<Secret>,
        connections: u32,
    ) -> anyhow::Result<MailTransport> {
        if account.transport == Transport::File {
            let folder = account
                .folder
                .clone()
                .ok_or_else(|| anyhow::anyhow!("file account {} has no folder", account.name))?;
            std::fs::create_dir_all(&folder)
                .map_err(|e| anyhow::anyhow!("cannot create the mail folder {folder}: {e}"))?;
            return Ok(MailTransport::Folder(PathBuf::from(folder)));
        }
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut params = TlsParameters::builder(account.host.clone());
            if let Some(ca) = &account.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| anyhow::anyhow!("cannot read the CA file {ca}: {e}"))?;
                params = params.add_root_certificate(
                    Certificate::from_pem(&pem)
                        .map_err(|e| anyhow::anyhow!("{ca} is not a PEM certificate: {e}"))?,
                );
            }
            Ok(params.build_rustls()?)
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(account.host.clone())
                .port(account.port)
                .timeout(Some(SMTP_TIMEOUT))
                .pool_config(PoolConfig::new().max_size(connections.max(1)))
                .tls(match account.security {
                    Security::None => Tls::None,
                    Security::StartTls => Tls::Required(tls()?),
                    Security::Tls => Tls::Wrapper(tls()?),
                });
        if let Some(user) = &account.username {
            let password = password.ok_or_else(|| {
                anyhow::anyhow!("account {} needs a password and has none", account.name)
            })?;
            builder = builder
                .credentials(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(MailTransport::Smtp(builder.build()))
    }

    /// Sends one message; `Ok` only when the server accepted the DATA.
    pub async fn send(&self, message: &lettre::Message) -> Result<Accepted, Failure> {
        match self {
            MailTransport::Smtp(t) => match t.send(message.clone()).await {
                Ok(r) => Ok(Accepted {
                    code: r.code().to_string().parse().unwrap_or(250),
                    text: r.message().collect::<Vec<_>>().join(" "),
                }),
                Err(e) => Err(classify_smtp(&e)),
            },
            MailTransport::Folder(dir) => {
                let id = message
                    .headers()
                    .get_raw("Message-ID")
                    .unwrap_or("sem-id")
                    .trim_matches(['<', '>'])
                    .replace(['/', '\\'], "_");
                let path = dir.join(format!("{id}.eml"));
                let tmp = dir.join(format!(".{id}.tmp"));
                let write = tokio::fs::write(&tmp, message.formatted()).await;
                match write.and(tokio::fs::rename(&tmp, &path).await) {
                    Ok(()) => Ok(Accepted {
                        code: 250,
                        text: format!("written to {}", path.display()),
                    }),
                    Err(e) => Err(Failure::Transient {
                        code: None,
                        text: format!("cannot write {}: {}", path.display(), error_chain(&e)),
                    }),
                }
            }
        }
    }
}
