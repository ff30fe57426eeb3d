//! Push: a notification to each of the customer's devices with the app, through Firebase
//! Cloud Messaging (`fcm`: the service account's signed token, HTTP v1 sends).

pub mod fcm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fcm::{FcmClient, PushError};

use super::{Accepted, Outcome, Route};
use crate::delivery::Notice;
use crate::delivery::policy::{Failure, MAX_ATTEMPTS};
use crate::domain::{Clock, Customer};
use crate::layouts::RenderedMessage;
use crate::secrets::MasterKey;
use crate::store::{self, Db, channels::PushConfig};

/// Where a push notice goes: the customer's registered devices, when push is configured.
pub(super) fn route<'a>(
    customer: Option<&Customer>,
    config: Option<&'a PushConfig>,
    devices: &'a HashMap<String, Vec<String>>,
) -> Result<Route<'a>, String> {
    let Some(config) = config else {
        return Err(
            "envio push não configurado (falta o arquivo de configuração do Firebase)".into(),
        );
    };
    let Some(c) = customer else {
        return Err("aviso push sem cliente".into());
    };
    let doc = c.document.digits().to_string();
    match devices.get(&doc) {
        Some(d) if !d.is_empty() => Ok(Route::Push(config, d, doc)),
        _ => Err("cliente sem o aplicativo (nenhum dispositivo registrado)".into()),
    }
}

/// The push channel: the FCM client, made again when the configuration changes.
pub(super) struct PushChannel {
    db: Db,
    clock: Clock,
    key: Option<MasterKey>,
    http: reqwest::Client,
    client: Mutex<Option<Arc<FcmClient>>>,
}

impl PushChannel {
    /// The channel, sending with `http`.
    pub(super) fn new(
        db: Db,
        clock: Clock,
        key: Option<MasterKey>,
        http: reqwest::Client,
    ) -> PushChannel {
        PushChannel {
            db,
            clock,
            key,
            http,
            client: Mutex::new(None),
        }
    }

    async fn client(&self, config: &PushConfig) -> anyhow::Result<Arc<FcmClient>> {
        if let Some(c) = &*self.client.lock().expect("poisoned")
            && c.config() == config
        {
            return Ok(c.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let key = store::channels::push_private_key(&mut conn, self.key.as_ref()).await?;
        let client = Arc::new(FcmClient::new(config.clone(), &key, self.http.clone())?);
        *self.client.lock().expect("poisoned") = Some(client.clone());
        Ok(client)
    }

    /// One push notification to each of the customer's devices that has not had it yet. A
    /// device FCM no longer knows is removed. When some device failed for a while (429/5xx),
    /// the notice is retried for those only — the devices it reached are recorded, so none
    /// gets it twice; otherwise it is sent once any device has it.
    pub(super) async fn send(
        &self,
        n: &Notice,
        config: &PushConfig,
        devices: &[String],
        document: String,
        rendered: &RenderedMessage,
    ) -> Outcome {
        let failed = |document: String, failure: Failure| Outcome::Failed {
            recipient: document,
            failure,
        };
        let client = match self.client(config).await {
            Ok(c) => c,
            Err(e) => return failed(document, Failure::ours(&e)),
        };
        let already = match async {
            let mut conn = self.db.pool.acquire().await?;
            store::subscribers::push_delivered(&mut conn, n.id).await
        }
        .await
        {
            Ok(a) => a,
            Err(e) => return failed(document, Failure::ours(&e)),
        };
        let pending: Vec<&String> = devices.iter().filter(|d| !already.contains(*d)).collect();
        let body: String = rendered
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(1000)
            .collect();
        let data = serde_json::json!({"tipo": n.purpose.as_str(), "aviso": n.id.0.to_string()});
        let (mut sent, mut removed): (Vec<Accepted>, usize) = (Vec::new(), 0);
        let mut worst: Option<Failure> = None;
        for device in &pending {
            let now = self.clock.now_millis();
            match client
                .send(device, &rendered.subject, &body, &data, now)
                .await
            {
                Ok(accepted) => {
                    let recorded = async {
                        let mut conn = self.db.pool.acquire().await?;
                        store::subscribers::record_push_delivery(&mut conn, n.id, device, now).await
                    };
                    if let Err(e) = recorded.await {
                        tracing::error!(
                            error = format!("{e:#}"),
                            notice = n.id.0,
                            "cannot record a push delivery"
                        );
                    }
                    sent.push(accepted)
                }
                Err(PushError::Unregistered(reply)) => {
                    removed += 1;
                    tracing::info!(notice = n.id.0, %reply, "device token unregistered; removed");
                    if let Ok(mut conn) = self.db.pool.acquire().await
                        && let Err(e) = store::subscribers::delete_device(&mut conn, device).await
                    {
                        tracing::error!(error = format!("{e:#}"), "cannot remove a device token");
                    }
                }
                Err(PushError::Failed(f)) => {
                    // A transient failure outweighs a permanent one: the notice is retried.
                    if !matches!(worst, Some(Failure::Transient { .. })) {
                        worst = Some(f);
                    }
                }
            }
        }
        let removed_note = if removed > 0 {
            format!("; {removed} dispositivo(s) não registrado(s) removido(s)")
        } else {
            String::new()
        };
        let earlier_note = if already.is_empty() {
            String::new()
        } else {
            format!(
                "; {} já o tinha(m) recebido antes",
                devices.len() - pending.len()
            )
        };
        let reached = format!(
            "enviado a {} de {} dispositivo(s){earlier_note}{removed_note}",
            sent.len(),
            pending.len()
        );
        let delivered = sent.len() + (devices.len() - pending.len());
        match worst {
            Some(Failure::Transient { code, text }) if n.attempts < MAX_ATTEMPTS => {
                let text = if delivered > 0 {
                    format!("{text}; {reached}; os demais numa nova tentativa")
                } else {
                    text
                };
                failed(document, Failure::Transient { code, text })
            }
            worst if delivered > 0 => {
                let failed_note = match &worst {
                    Some(Failure::Transient { text, .. } | Failure::Permanent { text, .. }) => {
                        format!("; falhas: {text}")
                    }
                    None => String::new(),
                };
                Outcome::Sent {
                    recipient: document,
                    code: sent.first().map_or(200, |a| a.code),
                    text: format!("{reached}{failed_note}"),
                    provider_id: None,
                }
            }
            Some(f) => failed(document, f),
            None => Outcome::Unreachable(format!(
                "cliente sem o aplicativo (dispositivos não registrados{removed_note})"
            )),
        }
    }
}
