//! The inbound SMTP listener for bounces (docs/bounces.md), for ISPs that point an MX for the
//! bounce domain at Régua: it accepts mail only for return paths Régua signed
//! (`bounces+<notice>.<tag>@…`, tag checked) and refuses every other recipient, so it relays
//! nothing and takes no spam for anyone. Each message is read as [`crate::actions::bounces::ingest`]
//! reads a file, with the recipient added as `Delivered-To` as a delivery agent would.
//!
//! Plain SMTP only (no STARTTLS): bounces carry no secret and mail servers deliver them in the
//! clear when the receiver offers no TLS. A message over [`MAX_SIZE`] is refused.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::domain::Clock;
use crate::secrets::MasterKey;
use crate::store::Db;

/// The largest message accepted (bytes): a bounce with its returned copy fits well within.
pub const MAX_SIZE: usize = 10 * 1024 * 1024;
/// Connections served at once; more wait for a slot.
const CONNECTIONS: usize = 64;
/// How long a command or a data block may take to arrive (RFC 5321 § 4.5.3.2 asks 5 minutes).
const IDLE: Duration = Duration::from_secs(300);
/// Recipients taken in one transaction.
const MAX_RECIPIENTS: usize = 100;

/// Binds the listener (port 0 picks a free one; the caller reads the address).
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for bounces on {addr}: {e}"))
}

/// Binds `addr` and serves until `stop`.
pub async fn serve(
    db: Db,
    clock: Clock,
    key: MasterKey,
    addr: std::net::SocketAddr,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "accepting bounces by SMTP");
    run(listener, db, clock, key, stop).await;
    Ok(())
}

/// Serves connections from `listener` until `stop`; sessions under way end on their own.
pub async fn run(
    listener: TcpListener,
    db: Db,
    clock: Clock,
    key: MasterKey,
    stop: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    let accept = async {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((socket, peer)) => {
                    let (db, clock, key) = (db.clone(), clock.clone(), key.clone());
                    tokio::spawn(async move {
                        if let Err(e) = session(socket, &db, &clock, &key).await {
                            tracing::debug!(%peer, error = format!("{e:#}"), "bounce SMTP session ended");
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bounce listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    tokio::select! {
        () = accept => {}
        () = stop => {}
    }
}

/// The address inside `FROM:<…>` / `TO:<…>` (parameters after it ignored).
fn path_of(arg: &str) -> Option<&str> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].trim())
}

async fn session(socket: TcpStream, db: &Db, clock: &Clock, key: &MasterKey) -> anyhow::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let host = "regua";
    write
        .write_all(format!("220 {host} ESMTP Régua: bounces only\r\n").as_bytes())
        .await?;
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(IDLE, (&mut read).take(4096).read_until(b'\n', &mut line))
            .await??;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => format!(
                "250-{host}\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE {MAX_SIZE}"
            ),
            "HELO" => format!("250 {host}"),
            "MAIL" => match path_of(arg) {
                Some(p) => {
                    from = Some(p.to_string());
                    recipients.clear();
                    "250 2.1.0 ok".into()
                }
                None => "501 5.5.4 MAIL FROM:<address> expected".into(),
            },
            "RCPT" => match (path_of(arg), &from) {
                (_, None) => "503 5.5.1 MAIL first".into(),
                (None, _) => "501 5.5.4 RCPT TO:<address> expected".into(),
                (Some(_), _) if recipients.len() >= MAX_RECIPIENTS => {
                    "452 4.5.3 too many recipients".into()
                }
                (Some(to), _) => match super::notice_in(to, key) {
                    Some(_) => {
                        recipients.push(to.to_string());
                        "250 2.1.5 ok".into()
                    }
                    None => "550 5.1.1 not a bounce address of this server".into(),
                },
            },
            "DATA" if recipients.is_empty() => "503 5.5.1 no valid recipients".into(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let body = match read_data(&mut read).await? {
                    Some(body) => body,
                    None => {
                        from = None;
                        recipients.clear();
                        write.write_all(b"552 5.3.4 message too big\r\n").await?;
                        continue;
                    }
                };
                let reply = deliver(
                    db,
                    clock,
                    key,
                    from.as_deref().unwrap_or(""),
                    &recipients,
                    &body,
                )
                .await;
                from = None;
                recipients.clear();
                reply
            }
            "RSET" => {
                from = None;
                recipients.clear();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            "VRFY" => "252 2.5.2 cannot verify".into(),
            _ => "502 5.5.2 command not recognized".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// The message up to the lone dot, dot-unstuffed; `None` when it exceeded [`MAX_SIZE`] (the
/// rest is read and dropped so the session can go on).
async fn read_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(
            IDLE,
            (&mut *read).take(1 << 20).read_until(b'\n', &mut line),
        )
        .await??;
        anyhow::ensure!(n > 0, "connection closed in DATA");
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(body));
        }
        let content = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        if body.len() + content.len() > MAX_SIZE {
            too_big = true;
            body.clear();
        }
        if !too_big {
            body.extend_from_slice(content);
        }
    }
}

/// Ingests the message once per recipient; the SMTP reply.
async fn deliver(
    db: &Db,
    clock: &Clock,
    key: &MasterKey,
    from: &str,
    recipients: &[String],
    body: &[u8],
) -> String {
    for to in recipients {
        let mut raw = format!("Return-Path: <{from}>\r\nDelivered-To: {to}\r\n").into_bytes();
        raw.extend_from_slice(body);
        match crate::actions::bounces::ingest(db, &raw, key, clock.now_millis()).await {
            Ok(outcome) => tracing::info!(recipient = %to, ?outcome, "bounce received by SMTP"),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "bounce received by SMTP not recorded"
                );
                return "451 4.3.0 not recorded now, try again later".into();
            }
        }
    }
    "250 2.0.0 received".into()
}
