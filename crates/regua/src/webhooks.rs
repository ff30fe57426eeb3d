//! Posting outbound webhooks (docs/webhooks.md): claims due deliveries from the outbox
//! (`store::webhooks`), signs each as Standard Webhooks does (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,…` — two signatures during a secret's rotation),
//! posts it, and records the outcome: a 2xx is delivered; anything else is tried again on the
//! schedule of `domain::webhooks::retry_after`, for three days.

use std::time::Duration;

use crate::domain::Clock;
use crate::secrets::MasterKey;
use crate::store::{self, Db};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    /// Posted and answered 2xx.
    pub delivered: usize,
    /// To be tried again.
    pub retrying: usize,
    /// Given up (three days of tries).
    pub failed: usize,
}

/// Posts every delivery due now, batch after batch, until none is due.
pub async fn deliver_due(
    db: &Db,
    clock: &Clock,
    key: Option<&MasterKey>,
    worker: &str,
) -> anyhow::Result<PassReport> {
    let http = crate::delivery::http_client(crate::delivery::network_timeout_from_env());
    deliver_due_with(&http, db, clock, key, worker).await
}

/// [`deliver_due`] with a client the caller keeps (the server's loop builds one, not one per
/// pass).
async fn deliver_due_with(
    http: &reqwest::Client,
    db: &Db,
    clock: &Clock,
    key: Option<&MasterKey>,
    worker: &str,
) -> anyhow::Result<PassReport> {
    let mut report = PassReport::default();
    loop {
        let now = clock.now_millis();
        let batch = store::webhooks::claim(db, worker, now, 120_000, 32).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        for d in batch {
            let mut conn = db.pool.acquire().await?;
            let secrets =
                store::webhooks::signing_secrets(&mut conn, d.endpoint_id, key, now).await?;
            drop(conn);
            let timestamp = now / 1000;
            let mut signatures = Vec::new();
            for s in &secrets {
                let k =
                    crate::domain::webhooks::secret_key(s.expose()).map_err(anyhow::Error::msg)?;
                signatures.push(crate::domain::webhooks::signature(
                    &k,
                    &d.message_id,
                    timestamp,
                    &d.payload,
                ));
            }
            let sent = http
                .post(&d.url)
                .header("content-type", "application/json")
                .header("webhook-id", &d.message_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signatures.join(" "))
                .body(d.payload.clone())
                .send()
                .await;
            let (ok, code, error) = match sent {
                Ok(r) if r.status().is_success() => (true, Some(r.status().as_u16()), None),
                Ok(r) => (
                    false,
                    Some(r.status().as_u16()),
                    Some(format!("HTTP {}", r.status().as_u16())),
                ),
                Err(e) => (false, None, Some(crate::delivery::sms::http_error(&e))),
            };
            let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
            let retry_at = if ok {
                None
            } else {
                crate::domain::webhooks::retry_after(attempts)
                    .map(|s| clock.now_millis() + s * 1000)
            };
            let mut conn = db.pool.acquire().await?;
            store::webhooks::finish(
                &mut conn,
                d.id,
                worker,
                &store::webhooks::PostOutcome {
                    delivered: ok,
                    code,
                    error: error.clone(),
                    retry_at,
                },
                clock.now_millis(),
            )
            .await?;
            match (ok, retry_at) {
                (true, _) => report.delivered += 1,
                (false, Some(_)) => {
                    tracing::warn!(delivery = d.id, url = %d.url, error = ?error, "webhook not delivered; will retry");
                    report.retrying += 1;
                }
                (false, None) => {
                    tracing::error!(delivery = d.id, url = %d.url, error = ?error, "webhook given up after three days");
                    report.failed += 1;
                }
            }
        }
    }
}

/// Posts due deliveries every `every` until `stop` resolves (part of `regua serve` with its
/// worker).
pub async fn run(
    db: &Db,
    clock: &Clock,
    key: Option<MasterKey>,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let worker = format!("webhooks@{}", crate::delivery::default_worker_name());
    let http = crate::delivery::http_client(crate::delivery::network_timeout_from_env());
    tokio::pin!(stop);
    loop {
        if let Err(e) = deliver_due_with(&http, db, clock, key.as_ref(), &worker).await {
            tracing::error!(error = format!("{e:#}"), "webhook delivery failed");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
