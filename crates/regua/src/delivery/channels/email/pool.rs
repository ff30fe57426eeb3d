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

use crate::delivery::Security;
use crate::delivery::policy::{Failure, classify_smtp};

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

    /// Opens a connection: TCP, greeting and EHLO, STARTTLS, AUTH. Each of those steps is
    /// bounded by the target's timeout: a server that accepts TCP and never speaks must cost
    /// one timeout, not a connection (and a worker) held forever. A connection that fails on
    /// the way is dropped, which closes its socket (no QUIT to a server that is not answering).
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let t = &self.target;
        let mut conn = match t.security {
            // lettre does the TLS handshake for implicit TLS on its own socket; it bounds only
            // the TCP connect, so the handshake and greeting get the bound here.
            Security::Tls => step(
                t.timeout,
                "TLS handshake and greeting",
                AsyncSmtpConnection::connect_tokio1(
                    (t.host.as_str(), t.port),
                    Some(t.timeout),
                    &t.hello,
                    t.tls.clone(),
                    None,
                ),
            )
            .await?
            .map_err(|e| classify_smtp(&e))?,
            Security::None | Security::StartTls => {
                let socket = step(
                    t.timeout,
                    "TCP connect",
                    tokio::net::TcpStream::connect((t.host.as_str(), t.port)),
                )
                .await?
                .map_err(|e| transient(&format!("cannot connect to {}:{}: {e}", t.host, t.port)))?;
                let _ = socket.set_nodelay(true);
                let mut conn = step(
                    t.timeout,
                    "greeting and EHLO",
                    AsyncSmtpConnection::connect_with_transport(Box::new(socket), &t.hello),
                )
                .await?
                .map_err(|e| classify_smtp(&e))?;
                if t.security == Security::StartTls {
                    let params = t
                        .tls
                        .clone()
                        .ok_or_else(|| transient("no TLS parameters"))?;
                    if !conn.can_starttls() {
                        return Err(transient("the server does not offer STARTTLS"));
                    }
                    step(t.timeout, "STARTTLS", conn.starttls(params, &t.hello))
                        .await?
                        .map_err(|e| classify_smtp(&e))?;
                }
                conn
            }
        };
        if let Some(credentials) = &t.credentials {
            step(
                t.timeout,
                "AUTH",
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?
            .map_err(|e| classify_smtp(&e))?;
        }
        Ok(conn)
    }

    /// Sends one message on a pooled (or new) connection. The message's transaction (MAIL,
    /// RCPT, DATA, the content and the final reply) is one step bounded by the timeout, as is
    /// the NOOP that checks an idle connection.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, Failure> {
        let t = &self.target;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| transient("pool closed"))?;
        let reused = loop {
            let Some((mut conn, since)) = self.idle.lock().await.pop() else {
                break None;
            };
            if since.elapsed() < CHECK_AFTER_IDLE
                || step(t.timeout, "NOOP", conn.test_connected())
                    .await
                    .unwrap_or(false)
            {
                break Some(conn);
            }
            close(conn).await;
        };
        let was_reused = reused.is_some();
        let mut conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = step(t.timeout, "message transaction", conn.send(envelope, email)).await;
        // A reused connection the server closed meanwhile fails before any reply: try a fresh one.
        if was_reused
            && let Ok(Err(e)) = &result
            && !e.is_transient()
            && !e.is_permanent()
        {
            close(conn).await;
            conn = self.connect().await?;
            result = step(t.timeout, "message transaction", conn.send(envelope, email)).await;
        }
        match result {
            Ok(Ok(r)) if !conn.has_broken() => {
                self.idle.lock().await.push((conn, Instant::now()));
                Ok(r)
            }
            Ok(r) => {
                close(conn).await;
                r.map_err(|e| classify_smtp(&e))
            }
            Err(timed_out) => {
                close(conn).await;
                Err(timed_out)
            }
        }
    }
}

/// How long a closing connection may take to say QUIT: a silent server gets its socket
/// dropped instead.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Closes a connection politely if the server answers within [`CLOSE_TIMEOUT`], otherwise by
/// dropping the socket.
async fn close(mut conn: AsyncSmtpConnection) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.abort()).await;
}

/// Runs one network step within `limit`; a step that takes longer is a transient failure
/// ("timed out after 30 s waiting for the greeting and EHLO"), retried like any other.
async fn step<T>(
    limit: Duration,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout(limit, future).await.map_err(|_| {
        transient(&format!(
            "timed out after {} s waiting for the {what}",
            limit.as_secs_f64()
        ))
    })
}

fn transient(text: &str) -> Failure {
    Failure::Transient {
        code: None,
        text: text.to_string(),
    }
}
