//! The ISP app's JSON API over the subscriber portal (`/central/api/v1`): the same actions as
//! the portal's pages, with a bearer token from `POST /central/api/v1/session`, and the
//! registration of the device tokens push notifications go to. Errors are the admin API's
//! `{"code", "message", "field"}`; someone else's invoice is a 404, logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::{ApiError, ApiResult, parse_json, respond};
use crate::actions::self_service::{self, Login};
use crate::domain::{Invoice, InvoiceId};
use crate::store::{self, subscribers::PortalSessionKind};

/// A request from the app with a live session: the document (digits) and the token.
pub struct AppClient {
    document: String,
    token: String,
}

impl FromRequestParts<Arc<AppState>> for AppClient {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = super::bearer_token(&parts.headers).to_string();
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Sessão ausente ou expirada: entre de novo.",
            )
        };
        if token.is_empty() {
            return Err(unauthorized());
        }
        let mut conn = state.db.pool.acquire().await?;
        match store::subscribers::portal_session(
            &mut conn,
            &token,
            PortalSessionKind::App,
            state.clock.now_millis(),
        )
        .await?
        {
            Some((document, _)) => Ok(AppClient { document, token }),
            None => Err(unauthorized()),
        }
    }
}

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/central/api/v1/session",
            post(create_session).delete(end_session),
        )
        .route("/central/api/v1/invoices", get(invoices))
        .route("/central/api/v1/invoices/{id}", get(invoice))
        .route("/central/api/v1/invoices/{id}/boleto.pdf", get(boleto))
        .route("/central/api/v1/invoices/{id}/send", post(send))
        .route(
            "/central/api/v1/contracts/{id}/trust-unlock",
            post(trust_unlock),
        )
        .route("/central/api/v1/devices", post(register_device))
        .route("/central/api/v1/devices/{token}", delete(remove_device))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    #[serde(default)]
    document: String,
    #[serde(default)]
    password: String,
}

async fn create_session(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let b: LoginBody = parse_json(&body)?;
            let client = super::client_of(peer, &headers);
            match self_service::login(&state.db, &state.clock, &b.document, &b.password, &client)
                .await?
            {
                Login::Ok(document) => {
                    let now = state.clock.now_millis();
                    let mut conn = state.db.pool.acquire().await?;
                    let (token, _) = store::subscribers::create_portal_session(
                        &mut conn,
                        &document,
                        PortalSessionKind::App,
                        now,
                        self_service::APP_SESSION_TTL_MS,
                    )
                    .await?;
                    let expires =
                        jiff::Timestamp::from_millisecond(now + self_service::APP_SESSION_TTL_MS)
                            .map(|t| t.to_string())
                            .unwrap_or_default();
                    Ok((
                        StatusCode::CREATED,
                        json!({"token": token, "expires_at": expires}),
                    ))
                }
                Login::Invalid => Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_login",
                    "CPF/CNPJ ou senha inválidos.",
                )),
                Login::Throttled => Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    "Muitas tentativas sem sucesso. Aguarde 15 minutos e tente de novo.",
                )),
            }
        }
        .await,
    )
}

async fn end_session(State(state): State<Arc<AppState>>, client: AppClient) -> Response {
    let result = async {
        let mut conn = state.db.pool.acquire().await?;
        store::subscribers::delete_portal_session(&mut conn, &client.token).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

fn invoice_json(i: &Invoice, today: jiff::civil::Date) -> Value {
    let (status, _) = self_service::status_pt(i, today);
    json!({
        "id": i.id.0,
        "number": i.external_id,
        "amount_cents": i.amount.cents(),
        "due_date": i.due_date.to_string(),
        "status": status,
        "boleto_url": format!("/central/api/v1/invoices/{}/boleto.pdf", i.id.0),
    })
}

async fn invoices(State(state): State<Arc<AppState>>, client: AppClient) -> Response {
    respond(
        async {
            let mut conn = state.db.pool.acquire().await?;
            let list = store::subscribers::portal_invoices(&mut conn, &client.document, 60).await?;
            let today = state.clock.today();
            Ok((
                StatusCode::OK,
                json!({
                    "invoices": list.iter().map(|i| invoice_json(i, today)).collect::<Vec<_>>(),
                    "email_available": self_service::email_offered(&mut conn).await?,
                }),
            ))
        }
        .await,
    )
}

async fn find(state: &AppState, client: &AppClient, id: i64) -> Result<Invoice, ApiError> {
    let mut conn = state.db.pool.acquire().await?;
    match store::subscribers::portal_invoice(&mut conn, &client.document, InvoiceId(id)).await? {
        Some(i) => Ok(i),
        None => {
            tracing::warn!(
                document = %self_service::masked_document(&client.document),
                invoice = id,
                "portal app: invoice not found for this subscriber"
            );
            Err(ApiError::not_found("Fatura"))
        }
    }
}

async fn invoice(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    Path(id): Path<i64>,
) -> Response {
    respond(
        async {
            let i = find(&state, &client, id).await?;
            let mut conn = state.db.pool.acquire().await?;
            let today = state.clock.today();
            let codes = crate::payment::payment_codes(&mut conn, &i, today).await?;
            let mut out = invoice_json(&i, today);
            out["digitable_line"] = json!(codes.line);
            out["pix_code"] = json!(codes.pix);
            // The amount due today (docs/charges.md): the PIX code is for it.
            out["amount_due_today_cents"] = json!(codes.due.total.cents());
            out["fine_cents"] = json!(codes.due.fine.cents());
            out["interest_cents"] = json!(codes.due.interest.cents());
            out["discount_cents"] = json!(codes.due.discount.cents());
            out["days_late"] = json!(codes.due.days_late);
            Ok((StatusCode::OK, out))
        }
        .await,
    )
}

async fn boleto(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    Path(id): Path<i64>,
) -> Response {
    let result: Result<Vec<u8>, ApiError> = async {
        let i = find(&state, &client, id).await?;
        let mut conn = state.db.pool.acquire().await?;
        Ok(crate::payment::boleto_pdf(&mut conn, &i).await?)
    }
    .await;
    match result {
        Ok(pdf) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn send(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    Path(id): Path<i64>,
) -> Response {
    respond(
        async {
            let i = find(&state, &client, id).await?;
            match self_service::send_second_copy(&state.db, &state.clock, &i, None).await? {
                Ok((notice, masked)) => Ok((
                    StatusCode::ACCEPTED,
                    json!({"notice": notice.0, "status": "queued", "to": masked}),
                )),
                Err(refusal) => Err(ApiError::new(
                    refusal.status(),
                    refusal.code(),
                    refusal.message_pt(),
                )),
            }
        }
        .await,
    )
}

/// `POST /central/api/v1/contracts/{id}/trust-unlock`: the subscriber's trust unlock of one of
/// their contracts (docs/debt.md): 200 `{"contract", "until"}` when granted; 422
/// `trust_unlock_refused` with the reason; 404 for a contract that is not theirs.
async fn trust_unlock(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let mut conn = state.db.pool.acquire().await?;
            let found = store::subscribers::contracts_of_document(&mut conn, &client.document)
                .await?
                .into_iter()
                .find(|(k, _)| k.external_id == id)
                .map(|(k, customer)| (k.id, customer));
            drop(conn);
            let Some((contract, customer)) = found else {
                return Err(ApiError::not_found("contract"));
            };
            let actor = crate::domain::Actor::Portal(customer);
            match crate::debt::trust_unlock(&state.db, &state.clock, contract, &actor).await? {
                crate::debt::TrustOutcome::Granted(until) => Ok((
                    StatusCode::OK,
                    json!({"contract": id, "until": until.to_string()}),
                )),
                crate::debt::TrustOutcome::Refused(why) => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "trust_unlock_refused",
                    why,
                )),
            }
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    platform: String,
}

async fn register_device(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    body: Bytes,
) -> Response {
    respond(
        async {
            let b: DeviceBody = parse_json(&body)?;
            let token = b.token.trim();
            if token.is_empty() || token.len() > 4096 {
                return Err(ApiError::invalid(
                    "token",
                    "Informe o token do dispositivo.",
                ));
            }
            let platform = b.platform.trim().to_lowercase();
            if !["android", "ios", "web"].contains(&platform.as_str()) {
                return Err(ApiError::invalid("platform", "Use android, ios ou web."));
            }
            let mut conn = state.db.pool.acquire().await?;
            store::subscribers::register_device(
                &mut conn,
                &client.document,
                token,
                &platform,
                state.clock.now_millis(),
            )
            .await?;
            Ok((StatusCode::CREATED, json!({"registered": true})))
        }
        .await,
    )
}

async fn remove_device(
    State(state): State<Arc<AppState>>,
    client: AppClient,
    Path(token): Path<String>,
) -> Response {
    let result: ApiResult = async {
        let mut conn = state.db.pool.acquire().await?;
        // Only this document's device: a token of someone else's is "not found".
        if !store::subscribers::devices_of(&mut conn, &client.document)
            .await?
            .contains(&token)
        {
            return Err(ApiError::not_found("Dispositivo"));
        }
        store::subscribers::delete_device(&mut conn, &token).await?;
        Ok((StatusCode::NO_CONTENT, Value::Null))
    }
    .await;
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
