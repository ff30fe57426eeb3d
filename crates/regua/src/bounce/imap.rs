//! Reading a bounce mailbox over IMAP (docs/bounces.md): TLS from the first byte or STARTTLS,
//! a login, the folder selected, the messages not yet read fetched without marking them seen,
//! and each one read marked so it is not read again: moved to another folder when one is set,
//! and flagged with the keyword [`PROCESSED`] (or `\Seen` where the server keeps no keywords).
//!
//! The server's certificate is checked against the public roots and, when the mailbox names
//! one, its own CA. A plain-text login is not offered.

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::TryStreamExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use crate::store::bounces::{BounceMailbox, ImapSecurity};

/// The keyword a message read is flagged with.
pub const PROCESSED: &str = "$ReguaLido";

/// How many messages one FETCH asks for.
const BATCH: usize = 50;

/// An open, logged-in IMAP session with the mailbox's folder selected.
pub struct Reader {
    session: async_imap::Session<TlsStream<TcpStream>>,
    /// `\Seen` when the folder takes no new keywords.
    marker: &'static str,
    query: &'static str,
    move_to: Option<String>,
    can_move: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("marker", &self.marker)
            .field("move_to", &self.move_to)
            .finish_non_exhaustive()
    }
}

fn tls_config(ca_file: Option<&str>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = ca_file {
        use rustls_pki_types::pem::PemObject as _;
        let pem = std::fs::read(ca).with_context(|| format!("cannot read the CA file {ca}"))?;
        let mut any = false;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| anyhow::anyhow!("{ca} is not a PEM certificate: {e}"))?;
            roots.add(cert).map_err(|e| anyhow::anyhow!("{ca}: {e}"))?;
            any = true;
        }
        anyhow::ensure!(any, "{ca} holds no PEM certificate");
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl Reader {
    /// Connects, logs in and selects the folder; `timeout` bounds the whole opening.
    pub async fn open(
        mailbox: &BounceMailbox,
        password: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Reader> {
        tokio::time::timeout(timeout, Self::open_inner(mailbox, password))
            .await
            .map_err(|_| anyhow::anyhow!("{}:{}: timed out", mailbox.host, mailbox.port))?
    }

    async fn open_inner(mailbox: &BounceMailbox, password: &str) -> anyhow::Result<Reader> {
        let connector = TlsConnector::from(Arc::new(tls_config(mailbox.ca_file.as_deref())?));
        let server_name = rustls_pki_types::ServerName::try_from(mailbox.host.clone())
            .map_err(|e| anyhow::anyhow!("{}: {e}", mailbox.host))?;
        let tcp = TcpStream::connect((mailbox.host.as_str(), mailbox.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", mailbox.host, mailbox.port))?;
        let tls = match mailbox.security {
            ImapSecurity::Tls => connector
                .connect(server_name, tcp)
                .await
                .context("TLS handshake")?,
            ImapSecurity::StartTls => {
                let mut plain = async_imap::Client::new(tcp);
                plain
                    .read_response()
                    .await?
                    .context("the server closed before its greeting")?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .context("STARTTLS refused")?;
                connector
                    .connect(server_name, plain.into_inner())
                    .await
                    .context("TLS handshake after STARTTLS")?
            }
        };
        let mut client = async_imap::Client::new(tls);
        if mailbox.security == ImapSecurity::Tls {
            client
                .read_response()
                .await?
                .context("the server closed before its greeting")?;
        }
        let mut session = client
            .login(&mailbox.username, password)
            .await
            .map_err(|(e, _)| anyhow::anyhow!("login refused: {e}"))?;
        let selected = session
            .select(&mailbox.folder)
            .await
            .with_context(|| format!("cannot select the folder {:?}", mailbox.folder))?;
        let keywords = selected
            .permanent_flags
            .contains(&async_imap::types::Flag::MayCreate);
        let (marker, query) = if keywords {
            (PROCESSED, "UNKEYWORD $ReguaLido")
        } else {
            ("\\Seen", "UNSEEN")
        };
        let can_move = session.capabilities().await?.has_str("MOVE");
        Ok(Reader {
            session,
            marker,
            query,
            move_to: mailbox.move_to.clone(),
            can_move,
        })
    }

    /// The UIDs of the messages not read yet, oldest first.
    pub async fn unread(&mut self) -> anyhow::Result<Vec<u32>> {
        let mut uids: Vec<u32> = self
            .session
            .uid_search(self.query)
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The messages `uids` as received (without marking them seen), in batches.
    pub async fn fetch(&mut self, uids: &[u32]) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(BATCH) {
            let set = uid_set(chunk);
            let fetched: Vec<_> = self
                .session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await?
                .try_collect()
                .await?;
            for f in &fetched {
                if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                    out.push((uid, body.to_vec()));
                }
            }
        }
        out.sort_by_key(|(uid, _)| *uid);
        Ok(out)
    }

    /// Marks `uids` read: flagged, then moved when the mailbox moves what it read.
    pub async fn mark_read(&mut self, uids: &[u32]) -> anyhow::Result<()> {
        for chunk in uids.chunks(BATCH) {
            let set = uid_set(chunk);
            let _: Vec<_> = self
                .session
                .uid_store(&set, format!("+FLAGS.SILENT ({})", self.marker))
                .await?
                .try_collect()
                .await?;
            if let Some(to) = self.move_to.clone() {
                if self.can_move {
                    self.session.uid_mv(&set, &to).await?;
                } else {
                    // RFC 3501 without MOVE: copy, delete, expunge.
                    self.session.uid_copy(&set, &to).await?;
                    let _: Vec<_> = self
                        .session
                        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                        .await?
                        .try_collect()
                        .await?;
                    let _: Vec<_> = self.session.expunge().await?.try_collect().await?;
                }
            }
        }
        Ok(())
    }

    /// Logs out (best effort: the work is done by then).
    pub async fn close(mut self) {
        let _ = self.session.logout().await;
    }
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
