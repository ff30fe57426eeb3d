//! Where messages leave Régua: an SMTP server through a pool of connections (several per
//! account, reused across messages; see `smtp_pool.rs`), or a folder of `.eml` files (the
//! demo's channel, no server needed). One [`MailTransport`] per account, built once per worker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::pool::{SmtpPool, SmtpTarget};
use crate::delivery::policy::{Failure, error_chain};
use crate::delivery::{Accepted, Security, SmtpAccount, Transport};
use crate::secrets::Secret;

/// An account's way out.
#[derive(Clone)]
pub enum MailTransport {
    /// A pooled SMTP client.
    Smtp(Arc<SmtpPool>),
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
    /// `connections` caps the pool (the concurrent sends of this account); `timeout` bounds
    /// each network step.
    pub fn for_account(
        account: &SmtpAccount,
        password: Option<Secret>,
        connections: u32,
        timeout: Duration,
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
        let credentials = match &account.username {
            Some(user) => {
                let password = password.ok_or_else(|| {
                    anyhow::anyhow!("account {} needs a password and has none", account.name)
                })?;
                Some(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ))
            }
            None => None,
        };
        let hello = account
            .from_address
            .as_str()
            .rsplit_once('@')
            .map_or_else(ClientId::default, |(_, domain)| {
                ClientId::Domain(domain.to_string())
            });
        let target = SmtpTarget {
            host: account.host.clone(),
            port: account.port,
            security: account.security,
            tls: match account.security {
                Security::None => None,
                Security::StartTls | Security::Tls => Some(tls()?),
            },
            credentials,
            hello,
            timeout,
        };
        Ok(MailTransport::Smtp(Arc::new(SmtpPool::new(
            target,
            usize::try_from(connections).unwrap_or(8),
        ))))
    }

    /// Sends one message; `Ok` only when the server accepted the DATA. `return_path`, when
    /// given, is the envelope's MAIL FROM (the VERP address); else the message's From.
    pub async fn send(
        &self,
        message: &lettre::Message,
        return_path: Option<&lettre::Address>,
    ) -> Result<Accepted, Failure> {
        match self {
            MailTransport::Smtp(pool) => {
                let envelope = match return_path {
                    Some(rp) => lettre::address::Envelope::new(
                        Some(rp.clone()),
                        message.envelope().to().to_vec(),
                    )
                    .map_err(|e| Failure::Permanent {
                        code: None,
                        text: format!("envelope: {e}"),
                    })?,
                    None => message.envelope().clone(),
                };
                let r = pool.send(&envelope, &message.formatted()).await?;
                Ok(Accepted {
                    code: r.code().to_string().parse().unwrap_or(250),
                    text: r.message().collect::<Vec<_>>().join(" "),
                })
            }
            MailTransport::Folder(dir) => {
                let id = message
                    .headers()
                    .get_raw("Message-ID")
                    .unwrap_or("sem-id")
                    .trim_matches(['<', '>'])
                    .replace(['/', '\\'], "_");
                let path = dir.join(format!("{id}.eml"));
                let tmp = dir.join(format!(".{id}.tmp"));
                // What a final MTA adds on delivery: the envelope sender, for a reader of the
                // folder to see where a bounce would go.
                let mut bytes = match return_path {
                    Some(rp) => format!("Return-Path: <{rp}>\r\n").into_bytes(),
                    None => Vec::new(),
                };
                bytes.extend_from_slice(&message.formatted());
                let write = tokio::fs::write(&tmp, bytes).await;
                match write.and(tokio::fs::rename(&tmp, &path).await) {
                    Ok(()) => Ok(Accepted {
                        code: 250,
                        // Shown on the log page as the "server's answer": in Portuguese.
                        text: format!("gravado em {}", path.display()),
                    }),
                    Err(e) => Err(Failure::Transient {
                        code: None,
                        text: format!(
                            "não foi possível gravar {}: {}",
                            path.display(),
                            error_chain(&e)
                        ),
                    }),
                }
            }
        }
    }
}
