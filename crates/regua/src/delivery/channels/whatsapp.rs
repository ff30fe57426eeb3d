//! The WhatsApp channel: Meta's Cloud API only (docs/whatsapp.md). A notice goes as the
//! approved template its layout is mapped to, the body parameters filled from the layout's
//! variables, the boleto PDF uploaded through the media endpoint for a document header, and
//! the portal link in a URL button. The account's base URL is all this module knows of Meta:
//! tests point it at a local server that answers as the Cloud API does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::sms::{SmsPhone, http_error, short};
use super::{Outcome, Route};
use crate::delivery::Notice;
use crate::delivery::policy::Failure;
use crate::delivery::prepare::Message;
use crate::domain::whatsapp::{TemplateMapping, WhatsappAccount};
use crate::domain::{Customer, LayoutId};
use crate::secrets::{MasterKey, Secret};
use crate::store::{self, Db};

/// What the batch holds for WhatsApp notices.
#[derive(Default)]
pub(in crate::delivery) struct WhatsappCache {
    /// Every account (removed ones too: a notice names its mapping's).
    pub(in crate::delivery) accounts: Vec<WhatsappAccount>,
    /// The layouts' template mappings.
    pub(in crate::delivery) mappings: HashMap<LayoutId, TemplateMapping>,
    /// The marked numbers among the batch's phones.
    pub(in crate::delivery) blocks: HashMap<String, store::whatsapp::Block>,
}

/// Where a WhatsApp notice goes: its layout's template on its account, to the customer's
/// mobile phone on file now (the number it was queued with when it has no customer: a test),
/// unless that number opted out or is not on WhatsApp.
pub(super) fn route<'a>(
    n: &Notice,
    customer: Option<&Customer>,
    cache: &'a WhatsappCache,
) -> Result<Route<'a>, String> {
    let Some(mapping) = cache.mappings.get(&n.layout_id) else {
        return Err("o modelo não tem template de WhatsApp".into());
    };
    let Some(account) = cache
        .accounts
        .iter()
        .find(|a| a.id == mapping.account_id && a.active)
    else {
        return Err("a conta de WhatsApp do modelo foi removida".into());
    };
    let phone = match customer {
        Some(c) => match &c.mobile_phone {
            Some(p) => SmsPhone::of(p),
            None => return Err("cliente sem celular cadastrado".into()),
        },
        None => SmsPhone::parse(&n.recipient).map_err(|e| format!("celular inválido: {e}"))?,
    };
    if let Some(b) = cache.blocks.get(&phone.e164[1..]) {
        return Err(b.label_pt());
    }
    Ok(Route::Whatsapp(account, mapping, phone))
}

/// The template message Meta's `/messages` endpoint takes: body parameters from the layout's
/// variables (an empty value goes as `-`: Meta refuses empty parameters), the uploaded PDF in
/// the document header, the button's variable in its URL.
pub fn template_payload(
    to: &str,
    mapping: &TemplateMapping,
    context: &serde_json::Value,
    document: Option<(&str, &str)>,
) -> serde_json::Value {
    let value = |path: &str| {
        let v = crate::layouts::scalar_value(context, path);
        if v.trim().is_empty() { "-".into() } else { v }
    };
    let mut components = Vec::new();
    if let Some((media_id, filename)) = document {
        components.push(serde_json::json!({
            "type": "header",
            "parameters": [{"type": "document", "document": {"id": media_id, "filename": filename}}]
        }));
    }
    if !mapping.params.is_empty() {
        let params: Vec<_> = mapping
            .params
            .iter()
            .map(|p| serde_json::json!({"type": "text", "text": value(p)}))
            .collect();
        components.push(serde_json::json!({"type": "body", "parameters": params}));
    }
    if let Some(button) = &mapping.button {
        components.push(serde_json::json!({
            "type": "button", "sub_type": "url", "index": "0",
            "parameters": [{"type": "text", "text": value(button)}]
        }));
    }
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": mapping.template,
            "language": {"code": mapping.language},
            "components": components,
        }
    })
}

/// Meta's error object (`{"error": {"code", "message", "error_data": {"details"}}}`), as the
/// log keeps it: `(#131026) Message undeliverable: details`.
fn meta_error(body: &serde_json::Value) -> Option<(i64, String)> {
    let e = body.get("error")?;
    let code = e.get("code").and_then(|c| c.as_i64()).unwrap_or(0);
    let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let details = e
        .get("error_data")
        .and_then(|d| d.get("details"))
        .and_then(|d| d.as_str())
        .unwrap_or("");
    let text = if details.is_empty() || message.contains(details) {
        format!("(#{code}) {message}")
    } else {
        format!("(#{code}) {message}: {details}")
    };
    Some((code, text))
}

/// How a refused request ends: a number not on WhatsApp is unreachable (on to the next
/// channel); rate limits, throughput and Meta's temporary errors are retried; the rest is
/// permanent.
enum Refusal {
    Unusable(String),
    Failure(Failure),
}

fn refusal(status: u16, body: &str) -> Refusal {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match meta_error(&json) {
        Some((code, text)) if crate::domain::whatsapp::is_unusable_number(code) => {
            Refusal::Unusable(text)
        }
        Some((code, text))
            if crate::domain::whatsapp::is_transient_error(code)
                || status == 429
                || status >= 500 =>
        {
            Refusal::Failure(Failure::Transient {
                code: Some(status),
                text,
            })
        }
        Some((_, text)) => Refusal::Failure(Failure::Permanent {
            code: Some(status),
            text,
        }),
        None => Refusal::Failure(crate::delivery::policy::classify_http(status, short(body))),
    }
}

/// The WhatsApp channel: the accounts' tokens, opened on first use.
pub(super) struct WhatsappChannel {
    db: Db,
    clock: crate::domain::Clock,
    key: Option<MasterKey>,
    http: reqwest::Client,
    tokens: Mutex<HashMap<(crate::delivery::WhatsappAccountId, i64), Arc<Secret>>>,
}

impl WhatsappChannel {
    /// The channel, sending with `http`.
    pub(super) fn new(
        db: Db,
        clock: crate::domain::Clock,
        key: Option<MasterKey>,
        http: reqwest::Client,
    ) -> WhatsappChannel {
        WhatsappChannel {
            db,
            clock,
            key,
            http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    async fn token(&self, account: &WhatsappAccount) -> anyhow::Result<Arc<Secret>> {
        let k = (account.id, account.revision);
        if let Some(t) = self.tokens.lock().expect("poisoned").get(&k) {
            return Ok(t.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let (token, _) =
            store::whatsapp::account_secrets(&mut conn, account.id, self.key.as_ref()).await?;
        let token = Arc::new(token);
        self.tokens
            .lock()
            .expect("poisoned")
            .insert(k, token.clone());
        Ok(token)
    }

    /// Uploads a PDF through the media endpoint; Meta's media id.
    async fn upload(
        &self,
        account: &WhatsappAccount,
        token: &Secret,
        name: &str,
        pdf: &[u8],
    ) -> Result<String, Refusal> {
        let boundary = format!("regua{:016x}", fastrand::u64(..));
        let mut body = Vec::with_capacity(pdf.len() + 512);
        for (field, value) in [
            ("messaging_product", "whatsapp"),
            ("type", "application/pdf"),
        ] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        // The file name is ours (boleto-<invoice>.pdf): no quote or line break can be in it.
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"')
            .collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\nContent-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(pdf);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!("{}/{}/media", account.api_url, account.phone_number_id);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Refusal::Failure(Failure::Transient {
                    code: None,
                    text: format!("API do WhatsApp inacessível: {}", http_error(&e)),
                })
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(refusal(status, &text));
        }
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|j| j.get("id").and_then(|i| i.as_str()).map(str::to_string))
            .ok_or_else(|| {
                Refusal::Failure(Failure::Permanent {
                    code: Some(status),
                    text: format!("resposta do envio de mídia sem id: {}", short(&text)),
                })
            })
    }

    /// One template message.
    pub(super) async fn send(
        &self,
        account: &WhatsappAccount,
        mapping: &TemplateMapping,
        phone: SmsPhone,
        message: &Message,
    ) -> Outcome {
        let recipient = phone.e164.clone();
        let failed = |failure| Outcome::Failed {
            recipient: recipient.clone(),
            failure,
        };
        let token = match self.token(account).await {
            Ok(t) => t,
            Err(e) => return failed(Failure::ours(&e)),
        };
        let document = if mapping.document {
            let Some((name, pdf)) = message.attachments.first() else {
                return failed(Failure::Permanent {
                    code: None,
                    text: "o template leva o boleto no cabeçalho, mas este aviso não tem boleto"
                        .into(),
                });
            };
            match self.upload(account, &token, name, pdf).await {
                Ok(id) => Some((id, name.clone())),
                Err(r) => return self.refused(r, &phone).await,
            }
        } else {
            None
        };
        let payload = template_payload(
            &phone.e164[1..],
            mapping,
            &message.context,
            document.as_ref().map(|(id, n)| (id.as_str(), n.as_str())),
        );
        let url = format!("{}/{}/messages", account.api_url, account.phone_number_id);
        let resp = match self
            .http
            .post(&url)
            .bearer_auth(token.expose())
            .json(&payload)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return failed(Failure::Transient {
                    code: None,
                    text: format!("API do WhatsApp inacessível: {}", http_error(&e)),
                });
            }
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return self.refused(refusal(status, &text), &phone).await;
        }
        let id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|j| {
                j.pointer("/messages/0/id")
                    .and_then(|i| i.as_str())
                    .map(str::to_string)
            });
        match id {
            Some(id) => Outcome::Sent {
                recipient,
                code: status,
                text: short(&text),
                provider_id: Some(id),
            },
            None => failed(Failure::Permanent {
                code: Some(status),
                text: format!("resposta sem id de mensagem: {}", short(&text)),
            }),
        }
    }

    /// A refusal as the worker records it; a number not on WhatsApp is marked, and the notice
    /// goes on by its next channel.
    async fn refused(&self, r: Refusal, phone: &SmsPhone) -> Outcome {
        match r {
            Refusal::Failure(failure) => Outcome::Failed {
                recipient: phone.e164.clone(),
                failure,
            },
            Refusal::Unusable(text) => {
                if let Err(e) = self.mark_unusable(phone, &text).await {
                    tracing::error!(error = format!("{e:#}"), "cannot mark a number unusable");
                }
                Outcome::Unreachable(format!("número sem WhatsApp: {text}"))
            }
        }
    }

    async fn mark_unusable(&self, phone: &SmsPhone, text: &str) -> anyhow::Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        store::whatsapp::block(
            &mut conn,
            &phone.e164[1..],
            "unusable",
            text,
            self.clock.now_millis(),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_from_the_layout_variables() {
        let mapping = TemplateMapping {
            account_id: crate::delivery::WhatsappAccountId(1),
            template: "lembrete_vencimento".into(),
            language: "pt_BR".into(),
            params: vec![
                "cliente.nome".into(),
                "fatura.valor".into(),
                "fatura.pix_copia_e_cola".into(),
            ],
            document: true,
            button: Some("fatura.link_portal".into()),
        };
        let ctx = serde_json::json!({"cliente": {"nome": "Ana"}, "fatura": {"valor": "R$ 99,90", "pix_copia_e_cola": "", "link_portal": "abc"}});
        let p = template_payload("5511987654321", &mapping, &ctx, Some(("M1", "boleto.pdf")));
        assert_eq!(p["to"], "5511987654321");
        assert_eq!(p["template"]["language"]["code"], "pt_BR");
        let c = &p["template"]["components"];
        assert_eq!(c[0]["parameters"][0]["document"]["id"], "M1");
        assert_eq!(c[1]["parameters"][0]["text"], "Ana");
        assert_eq!(c[1]["parameters"][1]["text"], "R$ 99,90");
        assert_eq!(c[1]["parameters"][2]["text"], "-");
        assert_eq!(c[2]["sub_type"], "url");
        assert_eq!(c[2]["parameters"][0]["text"], "abc");
    }

    #[test]
    fn refusals_are_classified_by_metas_code() {
        let body = |code| {
            format!(
                r#"{{"error":{{"message":"x","type":"OAuthException","code":{code},"error_data":{{"details":"d"}}}}}}"#
            )
        };
        assert!(matches!(refusal(400, &body(131026)), Refusal::Unusable(_)));
        assert!(matches!(
            refusal(400, &body(130429)),
            Refusal::Failure(Failure::Transient { .. })
        ));
        assert!(matches!(
            refusal(400, &body(132001)),
            Refusal::Failure(Failure::Permanent { .. })
        ));
        assert!(matches!(
            refusal(503, "down"),
            Refusal::Failure(Failure::Transient { .. })
        ));
    }
}
