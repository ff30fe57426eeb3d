//! `POST /webhooks/pix`: the PIX payments a PSP tells of, in the Banco Central's Pix API
//! webhook format (`{"pix": [{"endToEndId", "txid", "valor", "horario", …}]}`; the PSP posts to
//! the registered URL with `/pix` appended, so `/webhooks/pix/pix` is the same). Each PSP has
//! its secret (`regua pix psp add NAME`), sent as `Authorization: Bearer px_…` or as the query
//! parameter `hmac` (PSPs that cannot add a header); anything else is 401 and records nothing.
//! The rules are `actions::pix`'s; docs/pix.md says how to put the mutual-TLS proxy the PSPs
//! expect in front of it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::actions::pix::{IncomingPix, parse_valor};

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    pix: OneOrMany,
}

/// The Pix API sends an array; some PSPs send one object.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<Pix>),
    One(Pix),
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pix {
    end_to_end_id: String,
    #[serde(default)]
    txid: Option<String>,
    valor: String,
    horario: String,
}

fn bad(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"code": "invalid", "message": message})),
    )
        .into_response()
}

/// The handler.
pub(super) async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let token = match super::bearer_token(&headers) {
        "" => query.get("hmac").map(String::as_str).unwrap_or_default(),
        t => t,
    };
    let psp = if token.is_empty() {
        None
    } else {
        match async {
            let mut conn = state.db.pool.acquire().await?;
            crate::store::pix::psp_for_token(&mut conn, token).await
        }
        .await
        {
            Ok(p) => p,
            Err(e) => return super::internal(e),
        }
    };
    let Some(psp) = psp else {
        tracing::warn!("pix webhook with an unknown secret refused");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"code": "unauthorized", "message": "Segredo do PSP ausente ou inválido."}),
            ),
        )
            .into_response();
    };
    // The PSP's activation call (the registered URL, no payment) may come without a body.
    let parsed: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body {
            pix: OneOrMany::default(),
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return bad(&format!("JSON inválido: {e}")),
        }
    };
    let pix = match parsed.pix {
        OneOrMany::Many(v) => v,
        OneOrMany::One(p) => vec![p],
    };
    let mut payments = Vec::with_capacity(pix.len());
    for p in pix {
        let Some(amount) = parse_valor(&p.valor) else {
            return bad(&format!("valor inválido: {:?}", p.valor));
        };
        let Ok(at) = p.horario.parse::<jiff::Timestamp>() else {
            return bad(&format!("horário inválido: {:?}", p.horario));
        };
        let paid_on = at.to_zoned(state.clock.time_zone().clone()).date();
        payments.push(IncomingPix {
            end_to_end_id: p.end_to_end_id,
            txid: p.txid.unwrap_or_default(),
            amount,
            paid_at: p.horario,
            paid_on,
        });
    }
    match crate::actions::pix::receive_pix(&state.db, &psp, &payments, state.clock.now_millis())
        .await
    {
        Ok(done) => {
            for (e2e, outcome) in &done {
                tracing::info!(psp = %psp, end_to_end = %e2e, outcome, "pix payment received");
            }
            (
                StatusCode::OK,
                axum::Json(json!({"received": payments.len(), "new": done.len()})),
            )
                .into_response()
        }
        Err(e) => super::internal(e),
    }
}
