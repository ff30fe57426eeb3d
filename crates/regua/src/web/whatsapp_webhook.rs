//! Webhooks of the channels. `GET /webhooks/whatsapp` answers Meta's verification handshake (`hub.mode=subscribe`, the
//! account's verify token, `hub.challenge` echoed); `POST /webhooks/whatsapp` takes Meta's
//! notifications — statuses of the messages sent, and subscribers' messages — signed with
//! `X-Hub-Signature-256`. A bad signature is 401 and records nothing. The rules are
//! `actions::whatsapp::webhook`'s (docs/whatsapp.md). `POST /webhooks/sms/{gateway}` takes an
//! SMS gateway's delivery receipts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::actions::whatsapp::WebhookRefusal;

/// The handshake.
pub(super) async fn verify(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mode = query.get("hub.mode").map(String::as_str).unwrap_or("");
    let token = query
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or("");
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    if mode != "subscribe" || token.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let matches = async {
        let mut conn = state.db.pool.acquire().await?;
        crate::store::whatsapp::verify_token_matches(&mut conn, token).await
    }
    .await;
    match matches {
        Ok(true) => (
            StatusCode::OK,
            [("content-type", "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response(),
        Ok(false) => {
            tracing::warn!("whatsapp webhook verification with an unknown verify token refused");
            StatusCode::FORBIDDEN.into_response()
        }
        Err(e) => super::internal(e),
    }
}

/// The notifications.
pub(super) async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match crate::actions::whatsapp::webhook(
        &state.db,
        state.key.as_ref(),
        &body,
        signature,
        state.clock.now_millis(),
    )
    .await
    {
        Ok(Ok(report)) => {
            tracing::info!(
                receipts = report.receipts,
                unknown = report.unknown,
                fell_back = report.fell_back,
                opted_out = report.opted_out,
                replies = report.replies,
                "whatsapp webhook"
            );
            (StatusCode::OK, axum::Json(json!(report))).into_response()
        }
        Ok(Err(WebhookRefusal::BadSignature)) => {
            tracing::warn!("whatsapp webhook with a bad or missing signature refused");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": "bad_signature", "message": "Assinatura X-Hub-Signature-256 ausente ou inválida."})),
            )
                .into_response()
        }
        Ok(Err(WebhookRefusal::NotJson)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": "invalid", "message": "JSON inválido."})),
        )
            .into_response(),
        Err(e) => super::internal(e),
    }
}

/// `POST /webhooks/sms/{gateway}?token=T`: an SMS gateway's delivery receipts
/// (`actions::channels::sms_receipt`). 404 for a gateway without receipts, 401 for a wrong
/// token; nothing is recorded then.
pub(super) async fn sms_receipt(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(gateway): axum::extract::Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    use crate::actions::channels::SmsReceiptRefusal;
    let token = query.get("token").map(String::as_str).unwrap_or("");
    match crate::actions::channels::sms_receipt(
        &state.db,
        &gateway,
        token,
        &body,
        state.clock.now_millis(),
    )
    .await
    {
        Ok(Ok(report)) => (StatusCode::OK, axum::Json(json!(report))).into_response(),
        Ok(Err(SmsReceiptRefusal::UnknownGateway)) => (
            StatusCode::NOT_FOUND,
            axum::Json(
                json!({"code": "not_found", "message": "Gateway de SMS sem recibos de entrega."}),
            ),
        )
            .into_response(),
        Ok(Err(SmsReceiptRefusal::BadToken)) => {
            tracing::warn!(gateway = %gateway, "sms receipt with a wrong token refused");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    json!({"code": "unauthorized", "message": "Token ausente ou inválido."}),
                ),
            )
                .into_response()
        }
        Ok(Err(SmsReceiptRefusal::NotJson)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": "invalid", "message": "JSON inválido."})),
        )
            .into_response(),
        Err(e) => super::internal(e),
    }
}
