//! A small connection pool over lettre's SMTP connection, because lettre's own pooled transport
//! opens sockets without `TCP_NODELAY`: it writes the message body and the final `.` in two
//! writes, so Nagle's algorithm holds the `.` until the server's delayed ACK (40 ms on Linux)
//! and one connection manages about 25 messages a second. Here the socket is ours, with
//! `TCP_NODELAY`, and lettre speaks SMTP over it (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA).
//! Connections are reused while healthy; at most `max` are open per account.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::sync::{Mutex, Semaphore};

use super::Security;
use super::policy::{Failure, classify_smtp};

/// A connection idle longer than this is checked with NOOP before reuse.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(30);

/// How to reach one server.
pub struct SmtpTarget {
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// TLS parameters for STARTTLS or implicit TLS.
    pub tls: Option<TlsParameters>,
    /// AUTH credentials.
    pub credentials: Option<Credentials>,
    /// EHLO name.
    pub hello: ClientId,
    /// Per-operation timeout.
    pub timeout: Duration,
}

/// The pool of one account.
pub struct SmtpPool {
    target: SmtpTarget,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    permits: Semaphore,
}

impl SmtpPool {
    /// A pool of at most `max` connections.
    pub fn new(target: SmtpTarget, max: usize) -> SmtpPool {
        SmtpPool {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1)),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let t = &self.target;
        let mut conn = match t.security {
            // lettre does the TLS handshake for implicit TLS on its own socket.
            Security::Tls => AsyncSmtpConnection::connect_tokio1(
                (t.host.as_str(), t.port),
                Some(t.timeout),
                &t.hello,
                t.tls.clone(),
                None,
            )
            .await
            .map_err(|e| classify_smtp(&e))?,
            Security::None | Security::StartTls => {
                let socket = tokio::time::timeout(
                    t.timeout,
                    tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
                )
                .await
                .map_err(|_| transient("connection timed out"))?
                .map_err(|e| transient(&format!("cannot connect to {}:{}: {e}", t.host, t.port)))?;
                let _ = socket.set_nodelay(true);
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(socket), &t.hello)
                        .await
                        .map_err(|e| classify_smtp(&e))?;
                if t.security == Security::StartTls {
                    let params = t
                        .tls
                        .clone()
                        .ok_or_else(|| transient("no TLS parameters"))?;
                    if !conn.can_starttls() {
                        return Err(transient("the server does not offer STARTTLS"));
                    }
                    conn.starttls(params, &t.hello)
                        .await
                        .map_err(|e| classify_smtp(&e))?;
                }
                conn
            }
        };
        if let Some(credentials) = &t.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| classify_smtp(&e))?;
        }
        Ok(conn)
    }

    /// Sends one message on a pooled (or new) connection.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| transient("pool closed"))?;
        let reused = loop {
            let Some((mut conn, since)) = self.idle.lock().await.pop() else {
                break None;
            };
            if since.elapsed() < CHECK_AFTER_IDLE || conn.test_connected().await {
                break Some(conn);
            }
            conn.abort().await;
        };
        let was_reused = reused.is_some();
        let mut conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = conn.send(envelope, email).await;
        // A reused connection the server closed meanwhile fails before any reply: try a fresh one.
        if was_reused
            && let Err(e) = &result
            && !e.is_transient()
            && !e.is_permanent()
        {
            conn.abort().await;
            conn = self.connect().await?;
            result = conn.send(envelope, email).await;
        }
        if result.is_ok() && !conn.has_broken() {
            self.idle.lock().await.push((conn, Instant::now()));
        } else {
            conn.abort().await;
        }
        result.map_err(|e| classify_smtp(&e))
    }
}

fn transient(text: &str) -> Failure {
    Failure::Transient {
        code: None,
        text: text.to_string(),
    }
}
