//! `mailsink`: a real SMTP server on loopback for Régua's integration tests, crash and scale-out
//! tests and benchmarks. It speaks the protocol a client meets in production — EHLO, STARTTLS
//! (with a self-signed certificate the client must be told to trust), AUTH PLAIN and LOGIN,
//! MAIL/RCPT/DATA with dot-unstuffing, RSET, NOOP, QUIT — and lets a test script the reply to
//! each DATA (`451` twice then `250`, a `550`, a connection dropped mid-DATA) and reject
//! recipients. Every accepted message is recorded with its envelope and Message-ID.

#![forbid(unsafe_code)]

pub mod cloudapi;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

/// What the server answers to the end of a DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataReply {
    /// `250`, and the message is recorded.
    Accept,
    /// This code and text; nothing is recorded.
    Reply(u16, String),
    /// The connection is closed after the message's content arrives, before any reply.
    Drop,
    /// No reply at all after the message's content: the connection stays open and silent
    /// (a server that hangs after DATA). Nothing is recorded.
    Stall,
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`s.
    pub to: Vec<String>,
    /// The message as sent (dot-unstuffed, CRLF line ends).
    pub data: Vec<u8>,
    /// Its Message-ID header, if any.
    pub message_id: Option<String>,
    /// Whether the session was under TLS.
    pub tls: bool,
    /// The user that authenticated, if any.
    pub user: Option<String>,
}

impl Received {
    /// The message as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The delivery status notification (RFC 3464) this server would send back, later, when
    /// the final delivery to `recipient` failed with `status` (`5.1.1`) and the remote server's
    /// `diagnostic` words: addressed to the envelope sender (`MAIL FROM`), with the returned
    /// message's headers, as Postfix writes one.
    pub fn dsn(&self, recipient: &str, status: &str, diagnostic: &str) -> Vec<u8> {
        let text = self.text();
        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
        let action = if status.starts_with('5') {
            "failed"
        } else {
            "delayed"
        };
        format!(
            "Return-Path: <>\r\n\
             Delivered-To: {from}\r\n\
             From: MAILER-DAEMON@mailsink.test (Mail Delivery System)\r\n\
             To: {from}\r\n\
             Subject: Undelivered Mail Returned to Sender\r\n\
             Auto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn-boundary\"\r\n\
             \r\n\
             --dsn-boundary\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             \r\n\
             I'm sorry to have to inform you that your message could not be delivered.\r\n\
             <{recipient}>: {diagnostic}\r\n\
             \r\n\
             --dsn-boundary\r\n\
             Content-Type: message/delivery-status\r\n\
             \r\n\
             Reporting-MTA: dns; mailsink.test\r\n\
             \r\n\
             Final-Recipient: rfc822; {recipient}\r\n\
             Action: {action}\r\n\
             Status: {status}\r\n\
             Diagnostic-Code: smtp; {diagnostic}\r\n\
             \r\n\
             --dsn-boundary\r\n\
             Content-Type: text/rfc822-headers\r\n\
             \r\n\
             {headers}\r\n\
             \r\n\
             --dsn-boundary--\r\n",
            from = self.from,
        )
        .into_bytes()
    }
}

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// Certificate chain and key (PEM) to offer STARTTLS with.
    pub tls: Option<(String, String)>,
    /// Require AUTH with this user and password before MAIL.
    pub auth: Option<(String, String)>,
    /// The mechanisms advertised (default `PLAIN LOGIN`), to make a client use one.
    pub auth_mechanisms: Option<String>,
    /// Replies for the next DATAs, in order; when empty, [`DataReply::Accept`].
    pub script: Vec<DataReply>,
    /// Recipients answered `550 5.1.1`.
    pub reject_recipients: Vec<String>,
    /// A pause before each DATA reply (slow servers, in-flight windows for crash tests).
    pub data_delay: Option<Duration>,
    /// Accept TCP connections and never say anything (no greeting): a server that hangs.
    pub silent: bool,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<DataReply>,
    auth_failures: usize,
    data_commands: usize,
    connections: usize,
}

/// A running server; stops when dropped.
pub struct Sink {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    /// Starts a server on a free loopback port.
    pub async fn start(config: SinkConfig) -> anyhow::Result<Sink> {
        Sink::start_on("127.0.0.1:0", config).await
    }

    /// Starts a server on the given address.
    pub async fn start_on(addr: &str, config: SinkConfig) -> anyhow::Result<Sink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let acceptor = match &config.tls {
            Some((cert, key)) => {
                let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
                let server = ServerConfig::builder()
                    .with_no_client_auth()
                    .with_single_cert(certs, key)?;
                Some(TlsAcceptor::from(Arc::new(server)))
            }
            None => None,
        };
        let state = Arc::new(Mutex::new(State {
            script: config.script.iter().cloned().collect(),
            ..State::default()
        }));
        let config = Arc::new(config);
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let _ = socket.set_nodelay(true);
                    let (state, config, acceptor) =
                        (state.clone(), config.clone(), acceptor.clone());
                    state.lock().expect("poisoned").connections += 1;
                    tokio::spawn(async move {
                        let _ = session(Box::new(socket), state, config, acceptor).await;
                    });
                }
            })
        };
        Ok(Sink { addr, state, task })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("poisoned").received.clone()
    }

    /// The Message-IDs of the accepted messages, in order (cheap: no message bodies copied).
    pub fn message_ids(&self) -> Vec<Option<String>> {
        self.state
            .lock()
            .expect("poisoned")
            .received
            .iter()
            .map(|r| r.message_id.clone())
            .collect()
    }

    /// How many messages were accepted.
    pub fn count(&self) -> usize {
        self.state.lock().expect("poisoned").received.len()
    }

    /// Failed AUTH attempts.
    pub fn auth_failures(&self) -> usize {
        self.state.lock().expect("poisoned").auth_failures
    }

    /// DATA commands seen (accepted or not).
    pub fn data_commands(&self) -> usize {
        self.state.lock().expect("poisoned").data_commands
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.state.lock().expect("poisoned").connections
    }

    /// Queues more DATA replies.
    pub fn push_script(&self, replies: impl IntoIterator<Item = DataReply>) {
        self.state.lock().expect("poisoned").script.extend(replies);
    }

    /// Waits until `n` messages were accepted or `timeout` passes; returns the count.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let c = self.count();
            if c >= n || tokio::time::Instant::now() >= deadline {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A self-signed certificate and key (PEM) for `localhost` and 127.0.0.1.
pub fn self_signed() -> anyhow::Result<(String, String)> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    Ok((cert.cert.pem(), cert.signing_key.serialize_pem()))
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One reply in one write: two small writes would meet Nagle's algorithm and the client's
/// delayed ACK, adding 40 ms to every command.
async fn reply(w: &mut BufReader<Box<dyn Stream>>, line: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 2);
    buf.extend_from_slice(line.as_bytes());
    buf.extend_from_slice(b"\r\n");
    w.get_mut().write_all(&buf).await?;
    w.get_mut().flush().await
}

async fn read_line(r: &mut BufReader<Box<dyn Stream>>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    ))
}

fn decode(b64: &str) -> String {
    B64.decode(b64.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

async fn session(
    stream: Box<dyn Stream>,
    state: Arc<Mutex<State>>,
    config: Arc<SinkConfig>,
    acceptor: Option<TlsAcceptor>,
) -> anyhow::Result<()> {
    let mut io = BufReader::new(stream);
    let mut tls = false;
    let mut user: Option<String> = None;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    if config.silent {
        // Hold the connection, read and drop whatever comes, answer nothing.
        let mut sink = Vec::new();
        while io.read_until(b'\n', &mut sink).await? > 0 {
            sink.clear();
        }
        return Ok(());
    }
    reply(&mut io, "220 mailsink ESMTP ready").await?;
    while let Some(line) = read_line(&mut io).await? {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        match verb {
            "EHLO" | "HELO" => {
                let mut lines = vec!["250-mailsink".to_string()];
                if acceptor.is_some() && !tls {
                    lines.push("250-STARTTLS".into());
                }
                if config.auth.is_some() && (tls || acceptor.is_none()) {
                    lines.push(format!(
                        "250-AUTH {}",
                        config.auth_mechanisms.as_deref().unwrap_or("PLAIN LOGIN")
                    ));
                }
                lines.push("250-8BITMIME".into());
                lines.push("250 SMTPUTF8".into());
                reply(&mut io, &lines.join("\r\n")).await?;
            }
            "STARTTLS" => match (&acceptor, tls) {
                (Some(acceptor), false) => {
                    reply(&mut io, "220 2.0.0 Ready to start TLS").await?;
                    let plain = io.into_inner();
                    let secured = acceptor.accept(plain).await?;
                    io = BufReader::new(Box::new(secured));
                    tls = true;
                    user = None;
                }
                _ => reply(&mut io, "502 5.5.1 STARTTLS not available").await?,
            },
            "AUTH" => {
                let Some((want_user, want_pass)) = &config.auth else {
                    reply(&mut io, "502 5.5.1 AUTH not available").await?;
                    continue;
                };
                let mut parts = line.split_whitespace().skip(1);
                let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
                let initial = parts.next().map(str::to_string);
                let (u, p) = match mechanism.as_str() {
                    "PLAIN" => {
                        let payload = match initial {
                            Some(i) => i,
                            None => {
                                reply(&mut io, "334 ").await?;
                                read_line(&mut io).await?.unwrap_or_default()
                            }
                        };
                        let decoded = decode(&payload);
                        let mut fields = decoded.split('\0').skip(1);
                        (
                            fields.next().unwrap_or("").to_string(),
                            fields.next().unwrap_or("").to_string(),
                        )
                    }
                    "LOGIN" => {
                        let u = match initial {
                            Some(i) => decode(&i),
                            None => {
                                reply(&mut io, "334 VXNlcm5hbWU6").await?;
                                decode(&read_line(&mut io).await?.unwrap_or_default())
                            }
                        };
                        reply(&mut io, "334 UGFzc3dvcmQ6").await?;
                        (u, decode(&read_line(&mut io).await?.unwrap_or_default()))
                    }
                    _ => {
                        reply(&mut io, "504 5.5.4 Unrecognized authentication type").await?;
                        continue;
                    }
                };
                if &u == want_user && &p == want_pass {
                    user = Some(u);
                    reply(&mut io, "235 2.7.0 Authentication successful").await?;
                } else {
                    state.lock().expect("poisoned").auth_failures += 1;
                    reply(&mut io, "535 5.7.8 Authentication credentials invalid").await?;
                }
            }
            "MAIL" => {
                if config.auth.is_some() && user.is_none() {
                    reply(&mut io, "530 5.7.0 Authentication required").await?;
                    continue;
                }
                from = address(&line);
                to.clear();
                reply(&mut io, "250 2.1.0 Ok").await?;
            }
            "RCPT" => {
                let rcpt = address(&line);
                if config
                    .reject_recipients
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&rcpt))
                {
                    reply(&mut io, "550 5.1.1 Mailbox does not exist").await?;
                } else {
                    to.push(rcpt);
                    reply(&mut io, "250 2.1.5 Ok").await?;
                }
            }
            "DATA" => {
                if to.is_empty() {
                    reply(&mut io, "554 5.5.1 No valid recipients").await?;
                    continue;
                }
                reply(&mut io, "354 End data with <CR><LF>.<CR><LF>").await?;
                let mut data = Vec::new();
                loop {
                    let mut buf = Vec::new();
                    if io.read_until(b'\n', &mut buf).await? == 0 {
                        return Ok(());
                    }
                    if buf == b".\r\n" || buf == b".\n" {
                        break;
                    }
                    let content = if buf.starts_with(b"..") {
                        &buf[1..]
                    } else {
                        &buf[..]
                    };
                    data.extend_from_slice(content);
                }
                let next = {
                    let mut s = state.lock().expect("poisoned");
                    s.data_commands += 1;
                    s.script.pop_front().unwrap_or(DataReply::Accept)
                };
                if let Some(d) = config.data_delay {
                    tokio::time::sleep(d).await;
                }
                match next {
                    DataReply::Accept => {
                        let message_id = message_id(&data);
                        let n = {
                            let mut s = state.lock().expect("poisoned");
                            s.received.push(Received {
                                from: from.clone(),
                                to: std::mem::take(&mut to),
                                data,
                                message_id,
                                tls,
                                user: user.clone(),
                            });
                            s.received.len()
                        };
                        reply(&mut io, &format!("250 2.0.0 Ok: queued as M{n}")).await?;
                    }
                    DataReply::Reply(code, text) => {
                        to.clear();
                        reply(&mut io, &format!("{code} {text}")).await?;
                    }
                    DataReply::Drop => return Ok(()),
                    DataReply::Stall => {
                        let mut sink = Vec::new();
                        while io.read_until(b'\n', &mut sink).await? > 0 {
                            sink.clear();
                        }
                        return Ok(());
                    }
                }
            }
            "RSET" => {
                from.clear();
                to.clear();
                reply(&mut io, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(&mut io, "250 2.0.0 Ok").await?,
            "QUIT" => {
                reply(&mut io, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut io, "502 5.5.2 Command not recognized").await?,
        }
    }
    Ok(())
}

/// The address inside `<…>` of a MAIL/RCPT line.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_string())
        .unwrap_or_default()
}

fn message_id(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("message-id")
        {
            return Some(value.trim().to_string());
        }
    }
    None
}
