//! WhatsApp (docs/whatsapp.md): accounts, a layout's template mapping (checked against the
//! templates the account lists at Meta), "realizar teste de envio", Meta's webhook (receipts,
//! opt-outs, replies) and an operator's clearing of a marked number.

use crate::domain::Actor;
use crate::domain::delivery::{Channel, NoticeId, WhatsappAccountId};
use crate::domain::whatsapp::{
    InboundEvent, NewWhatsappAccount, StatusEvent, TemplateInfo, TemplateMapping, WhatsappAccount,
};
use crate::secrets::MasterKey;
use crate::store::parties::ConfigError;
use crate::store::{self, Db};

use super::{Audit, in_transaction};

/// Why a WhatsApp operation was refused: English (CLI, logs) and pt-BR (pages).
#[derive(Debug, thiserror::Error)]
#[error("{en}")]
pub struct WhatsappError {
    /// English.
    pub en: String,
    /// Portuguese.
    pub pt: String,
}

fn refused(en: impl Into<String>, pt: impl Into<String>) -> WhatsappError {
    WhatsappError {
        en: en.into(),
        pt: pt.into(),
    }
}

fn internal(e: impl Into<anyhow::Error>) -> WhatsappError {
    let e = e.into();
    refused(format!("{e:#}"), "Erro interno.")
}

/// Adds an account (audited `whatsapp.add`; the token, app secret and verify token never in
/// the trail).
pub async fn add_account(
    db: &Db,
    account: &NewWhatsappAccount,
    key: Option<&MasterKey>,
    actor: &Actor,
    now_ms: i64,
) -> Result<WhatsappAccountId, ConfigError> {
    in_transaction(db, async |tx| {
        let id = store::whatsapp::insert_account(tx, account, key, now_ms).await?;
        Audit::of("whatsapp.add", format!("whatsapp:{}", account.name.trim()))
            .after(
                serde_json::json!({
                    "name": account.name.trim(), "phone_number_id": account.phone_number_id,
                    "business_account_id": account.business_account_id, "api_url": account.api_url,
                    "daily_limit": account.daily_limit, "token": "***", "app_secret": "***",
                    "verify_token": "***",
                })
                .to_string(),
            )
            .write(tx, actor, now_ms)
            .await?;
        Ok(id)
    })
    .await
}

/// Removes an account and its layouts' mappings (audited `whatsapp.remove`); false when there
/// is no active account of that name. Its waiting notices go on by their next channel when
/// their turn comes.
pub async fn remove_account(
    db: &Db,
    name: &str,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::whatsapp::deactivate_account(tx, name, now_ms).await?;
        if removed {
            Audit::of("whatsapp.remove", format!("whatsapp:{name}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// The templates the account's business account lists at Meta
/// (`GET /{waba-id}/message_templates`), following its pages (at most 20).
pub async fn templates(
    db: &Db,
    key: Option<&MasterKey>,
    account: &WhatsappAccount,
) -> Result<Vec<TemplateInfo>, WhatsappError> {
    let mut conn = db.pool.acquire().await.map_err(internal)?;
    let (token, _) = store::whatsapp::account_secrets(&mut conn, account.id, key)
        .await
        .map_err(internal)?;
    drop(conn);
    let http = crate::delivery::http_client(crate::delivery::network_timeout_from_env());
    let mut url = format!(
        "{}/{}/message_templates?limit=100",
        account.api_url, account.business_account_id
    );
    let mut out = Vec::new();
    for _ in 0..20 {
        let resp = http
            .get(&url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| {
                let why = crate::delivery::sms::http_error(&e);
                refused(
                    format!("cannot reach the WhatsApp API: {why}"),
                    format!("API do WhatsApp inacessível: {why}"),
                )
            })?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let message = body
                .pointer("/error/message")
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_string();
            return Err(refused(
                format!("the WhatsApp API answered {status} to the template list: {message}"),
                format!("A API do WhatsApp respondeu {status} à lista de templates: {message}"),
            ));
        }
        out.extend(crate::domain::whatsapp::parse_templates(&body));
        match body.pointer("/paging/next").and_then(|n| n.as_str()) {
            // Only a next page on the same server: the token goes with the request.
            Some(next) if next.starts_with(&account.api_url) => url = next.to_string(),
            _ => break,
        }
    }
    Ok(out)
}

/// What a layout's WhatsApp form is made of, as typed.
#[derive(Debug, Clone)]
pub struct MappingInput {
    /// The layout's name.
    pub layout: String,
    /// The account's name.
    pub account: String,
    /// The template's name.
    pub template: String,
    /// Its language.
    pub language: String,
    /// The variables of `{{1}}…{{n}}`.
    pub params: Vec<String>,
    /// The boleto in the document header.
    pub document: bool,
    /// The URL button's variable.
    pub button: Option<String>,
}

/// Maps a layout to a template, after checking it against the template Meta lists (audited
/// `layout.whatsapp`). Nothing is saved when it does not match.
pub async fn map_layout(
    db: &Db,
    key: Option<&MasterKey>,
    input: &MappingInput,
    actor: &Actor,
    now_ms: i64,
) -> Result<TemplateMapping, WhatsappError> {
    let mut conn = db.pool.acquire().await.map_err(internal)?;
    let layout = store::layouts::find_layout(&mut conn, &input.layout)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            refused(
                format!("no layout named {:?}", input.layout),
                format!("Modelo {:?} não encontrado.", input.layout),
            )
        })?;
    let account = store::whatsapp::find_account(&mut conn, &input.account)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            refused(
                format!("--account: no active whatsapp account {:?}", input.account),
                format!("Conta de WhatsApp {:?} não encontrada.", input.account),
            )
        })?;
    drop(conn);
    let mapping = TemplateMapping {
        account_id: account.id,
        template: input.template.trim().to_string(),
        language: input.language.trim().to_string(),
        params: input
            .params
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        document: input.document,
        button: input
            .button
            .as_ref()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty()),
    };
    let list = templates(db, key, &account).await?;
    crate::domain::whatsapp::check_mapping(&mapping, &list, crate::layouts::check_scalar_variable)
        .map_err(|pt| refused(format!("the mapping does not match the template: {pt}"), pt))?;
    in_transaction(db, async |tx| {
        store::whatsapp::set_mapping(tx, layout.id, &mapping, now_ms).await?;
        Audit::of("layout.whatsapp", format!("layout:{}", layout.name))
            .after(serde_json::to_string(&mapping).unwrap_or_default())
            .write(tx, actor, now_ms)
            .await?;
        Ok::<_, anyhow::Error>(())
    })
    .await
    .map_err(internal)?;
    Ok(mapping)
}

/// Removes a layout's mapping (audited `layout.whatsapp.remove`); false when it had none.
pub async fn remove_mapping(
    db: &Db,
    layout: &crate::layouts::Layout,
    actor: &Actor,
    now_ms: i64,
) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let removed = store::whatsapp::remove_mapping(tx, layout.id).await?;
        if removed {
            Audit::of("layout.whatsapp.remove", format!("layout:{}", layout.name))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(removed)
    })
    .await
}

/// "Realizar teste de envio": the layout's template, with the layout's sample data (and a test
/// PDF for a document header), to `to` now, through the outbox (so the log has it, and its
/// receipts). Meta's answer comes back as the log keeps it.
pub async fn send_test(
    db: &Db,
    clock: &crate::domain::Clock,
    key: Option<MasterKey>,
    to: &str,
    layout: &str,
    actor: &Actor,
) -> Result<crate::suspension::TestOutcome, WhatsappError> {
    let now_ms = clock.now_millis();
    let phone = crate::delivery::sms::SmsPhone::parse(to)
        .map_err(|e| refused(format!("--to: {e}"), "Informe um celular válido, com DDD."))?;
    let mut conn = db.pool.acquire().await.map_err(internal)?;
    let layout = store::layouts::find_layout(&mut conn, layout)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            refused(
                format!("--layout: no layout named {layout:?}"),
                format!("Modelo {layout:?} não encontrado."),
            )
        })?;
    if !store::whatsapp::mappings(&mut conn)
        .await
        .map_err(internal)?
        .contains_key(&layout.id)
    {
        return Err(refused(
            format!(
                "the layout {:?} has no WhatsApp template (regua layout whatsapp)",
                layout.name
            ),
            format!("O modelo {:?} não tem template de WhatsApp.", layout.name),
        ));
    }
    let n = crate::delivery::NewNotice {
        recipient: phone.e164.clone(),
        ..crate::delivery::NewNotice::new(
            crate::delivery::NoticeKey::notify_test(Channel::Whatsapp, now_ms),
            Channel::Whatsapp,
            crate::domain::Purpose::SmtpTest,
            layout.id,
            actor.to_string(),
        )
    };
    let from = crate::domain::EmailAddress::parse("whatsapp@regua.invalid")
        .map_err(|e| internal(anyhow::anyhow!(e)))?;
    let id = match store::outbox::enqueue_notice(&mut conn, &n, &from, now_ms)
        .await
        .map_err(internal)?
    {
        crate::delivery::Enqueued::New(id) | crate::delivery::Enqueued::Exists(id, _) => id,
    };
    drop(conn);
    let worker = crate::delivery::Worker::new(
        db.clone(),
        clock.clone(),
        crate::delivery::WorkerOptions::default(),
        key,
    );
    let (status, answer) = worker.deliver_and_answer(id).await.map_err(internal)?;
    Ok(crate::suspension::TestOutcome {
        sent: status == Some(crate::delivery::NoticeStatus::Sent),
        answer,
        recipient: phone.e164,
    })
}

/// What a webhook call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WebhookReport {
    /// Receipts recorded.
    pub receipts: usize,
    /// Receipts about messages Régua does not know (another system's, or purged).
    pub unknown: usize,
    /// Notices sent on by their next channel after a failure.
    pub fell_back: usize,
    /// Numbers opted out.
    pub opted_out: usize,
    /// Replies recorded.
    pub replies: usize,
}

/// Why a webhook call was refused (nothing recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookRefusal {
    /// No active account's app secret signs this body.
    BadSignature,
    /// Not JSON.
    NotJson,
}

/// Meta's webhook: the body is accepted only when `X-Hub-Signature-256` is its HMAC-SHA256
/// under an active account's app secret; then, for that account's phone numbers only, each
/// status is recorded on its notice (a `failed` one marks a number that is not on WhatsApp and
/// sends the notice on by its next channel, once), and each message is recorded on the
/// customer's timeline (`PARAR`, `SAIR` or `STOP` opts the number out). All in one
/// transaction: a failure records nothing, and Meta delivers again.
pub async fn webhook(
    db: &Db,
    key: Option<&MasterKey>,
    body: &[u8],
    signature: &str,
    now_ms: i64,
) -> Result<Result<WebhookReport, WebhookRefusal>, anyhow::Error> {
    let mut conn = db.pool.acquire().await?;
    let accounts = store::whatsapp::list_accounts(&mut conn).await?;
    let mut signed_by = Vec::new();
    for a in accounts.iter().filter(|a| a.active) {
        let (_, secret) = store::whatsapp::account_secrets(&mut conn, a.id, key).await?;
        if crate::domain::whatsapp::signature_ok(secret.expose(), body, signature) {
            signed_by.push(a.phone_number_id.clone());
        }
    }
    drop(conn);
    if signed_by.is_empty() {
        return Ok(Err(WebhookRefusal::BadSignature));
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(Err(WebhookRefusal::NotJson));
    };
    let (statuses, messages) = crate::domain::whatsapp::parse_webhook(&json);
    let mine = |id: &str| signed_by.iter().any(|p| p == id);
    let statuses: Vec<StatusEvent> = statuses
        .into_iter()
        .filter(|s| mine(&s.phone_number_id))
        .collect();
    let messages: Vec<InboundEvent> = messages
        .into_iter()
        .filter(|m| mine(&m.phone_number_id))
        .collect();
    let report = in_transaction(db, async |tx| {
        let mut report = WebhookReport::default();
        for s in &statuses {
            if !matches!(s.status.as_str(), "sent" | "delivered" | "read" | "failed") {
                continue;
            }
            let Some(notice) =
                store::whatsapp::notice_of_message(tx, "whatsapp", &s.message_id).await?
            else {
                report.unknown += 1;
                continue;
            };
            let code = s.error_code.map(|c| c.to_string());
            let fresh = store::whatsapp::record_receipt(
                tx,
                notice,
                "whatsapp",
                &s.status,
                s.at_ms,
                code.as_deref(),
                &s.error_title,
                now_ms,
            )
            .await?;
            if !fresh {
                continue;
            }
            report.receipts += 1;
            if s.status == "failed" {
                report.fell_back += usize::from(failed(tx, notice, s, now_ms).await?);
            }
        }
        for m in &messages {
            let customer = store::whatsapp::customer_by_phone(tx, &m.from).await?;
            let fresh = store::whatsapp::insert_inbound(
                tx,
                "whatsapp",
                &m.message_id,
                &m.from,
                customer,
                &m.text,
                if m.at_ms > 0 { m.at_ms } else { now_ms },
            )
            .await?;
            if !fresh {
                continue;
            }
            report.replies += 1;
            if crate::domain::whatsapp::is_opt_out(&m.text)
                && store::whatsapp::block(tx, &m.from, "optout", m.text.trim(), now_ms).await?
            {
                report.opted_out += 1;
                Audit::of(
                    "whatsapp.optout",
                    format!("phone:{}", store::whatsapp::normalize_phone(&m.from)),
                )
                .after(m.text.trim().to_string())
                .write(tx, &Actor::Whatsapp, now_ms)
                .await?;
            }
        }
        Ok::<_, anyhow::Error>(report)
    })
    .await?;
    Ok(Ok(report))
}

/// A message Meta accepted and then could not deliver: the number is marked when it is not on
/// WhatsApp, and the notice goes on by its next channel (its log row says why). True when it
/// did.
async fn failed(
    tx: &mut sqlx::AnyConnection,
    notice: NoticeId,
    s: &StatusEvent,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let n = store::outbox::get_notice(tx, notice).await?;
    let code = s.error_code.unwrap_or(0);
    let what = format!("(#{code}) {}", s.error_title);
    if crate::domain::whatsapp::is_unusable_number(code) {
        store::whatsapp::block(tx, &n.recipient, "unusable", &what, now_ms).await?;
    }
    let Some(next) = n.fallback.first().copied() else {
        return Ok(false);
    };
    let reason = format!(
        "WhatsApp não entregue: {what}; segue por {}",
        next.label_pt()
    );
    let Some(next) = store::whatsapp::fall_back_after_receipt(tx, notice, &reason, now_ms).await?
    else {
        return Ok(false);
    };
    store::log::insert_attempt_row(
        tx,
        notice,
        now_ms,
        Channel::Whatsapp,
        &n.recipient,
        &reason,
        "skipped",
        "whatsapp",
    )
    .await?;
    tracing::info!(
        notice = notice.0,
        code,
        next = next.as_str(),
        "whatsapp message failed after acceptance; notice goes on by its next channel"
    );
    Ok(true)
}

/// Makes a number usable for WhatsApp again (audited `whatsapp.unblock`); false when it was
/// not marked.
pub async fn clear_block(db: &Db, phone: &str, actor: &Actor, now_ms: i64) -> anyhow::Result<bool> {
    in_transaction(db, async |tx| {
        let normal = store::whatsapp::normalize_phone(phone);
        let cleared = store::whatsapp::unblock(tx, &normal).await?;
        if cleared {
            Audit::of("whatsapp.unblock", format!("phone:{normal}"))
                .write(tx, actor, now_ms)
                .await?;
        }
        Ok(cleared)
    })
    .await
}
