//! The REST API under `/api/v1`: JSON, authenticated with an integration's API key
//! (`Authorization: Bearer rg_…`, `regua apikey add`), each key with its permissions. Errors are
//! `{"code", "message", "field"}` (message in pt-BR). POSTs honour `Idempotency-Key`: a retry with
//! the same key and body gets the first response again (`Idempotent-Replayed: true`); the same key
//! with another body is refused. The document is at `/api/v1/openapi.json`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

mod analytics;
mod doc;
mod records;
mod regua;
mod schema;
mod wallets;

use super::AppState;
use super::auth::Permission;
use crate::domain::{Customer, Invoice, Money, parse_date};
use crate::store::{self, auth::ApiKey, invoices::InvoiceListFilter, log::LogFilter};

/// An API error: status, machine code, pt-BR message, and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).field(field)
    }

    pub(crate) fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} não encontrado(a)."),
        )
    }

    pub(crate) fn internal(e: anyhow::Error) -> ApiError {
        tracing::error!(error = format!("{e:#}"), "api request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Erro interno.",
        )
    }

    fn body(&self) -> Value {
        schema::json(&schema::ErrorBody {
            code: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        if let Some(u) = e.downcast_ref::<crate::payment::Unissuable>() {
            return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unissuable", u.pt());
        }
        ApiError::internal(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(e.into())
    }
}

/// A handler's result: the status and the JSON, or the error.
pub(crate) type ApiResult = Result<(StatusCode, Value), ApiError>;

/// The integration calling, by its key.
pub struct ApiClient {
    key: ApiKey,
}

impl ApiClient {
    fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.key.permissions.contains(&p) {
            Ok(())
        } else {
            tracing::warn!(key = %self.key.name, permission = ?p, "api permission denied");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("A chave não tem a permissão \"{}\".", p.as_str()),
            ))
        }
    }

    fn actor(&self) -> crate::domain::Actor {
        crate::domain::Actor::Api(self.key.name.clone())
    }
}

impl FromRequestParts<Arc<AppState>> for ApiClient {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = super::bearer_token(&parts.headers);
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Chave de API ausente ou inválida.",
            )
        };
        if token.is_empty() {
            return Err(unauthorized());
        }
        let mut conn = state.db.pool.acquire().await?;
        match store::auth::api_key_for_token(&mut conn, token).await? {
            Some(key) => Ok(ApiClient { key }),
            None => {
                tracing::warn!("api request with an unknown key refused");
                Err(unauthorized())
            }
        }
    }
}

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/customers",
            get(customers).post(records::create_customer),
        )
        .route(
            "/api/v1/customers/{id}",
            get(customer).put(records::update_customer),
        )
        .route("/api/v1/contracts", post(records::create_contract))
        .route(
            "/api/v1/contracts/{id}",
            get(records::contract).put(records::update_contract),
        )
        .route(
            "/api/v1/invoices",
            get(invoices).post(records::create_invoice),
        )
        .route(
            "/api/v1/invoices/{id}",
            get(invoice).put(records::update_invoice),
        )
        .route(
            "/api/v1/invoices/{id}/cancel",
            post(records::cancel_invoice),
        )
        .route("/api/v1/invoices/{id}/boleto.pdf", get(boleto))
        .route("/api/v1/invoices/{id}/paid", post(mark_paid))
        .route("/api/v1/invoices/{id}/send", post(send))
        .route("/api/v1/contracts/{id}/generate", post(generate))
        .route(
            "/api/v1/contracts/{id}/suspensions",
            get(records::suspensions).post(records::create_suspension),
        )
        .route(
            "/api/v1/contracts/{id}/suspensions/end",
            post(records::end_suspension),
        )
        .route(
            "/api/v1/contracts/{id}/network-state",
            post(records::network_state),
        )
        .route("/api/v1/notices", get(notices))
        .route("/api/v1/dry-run", post(dry_run))
        .route("/api/v1/wallets", get(wallets::wallets))
        .route("/api/v1/analytics/steps", get(analytics::steps))
        .route("/api/v1/analytics/curves", get(analytics::curves))
        .route("/api/v1/analytics/overdue", get(analytics::overdue))
        .route("/api/v1/rules", get(regua::rules).post(regua::add_rule))
        .route("/api/v1/bands", get(regua::bands).post(regua::add_band))
        .route(
            "/api/v1/wallets/{name}/terms",
            axum::routing::put(wallets::set_terms),
        )
}

/// The JSON answer of a handler's result.
pub(crate) fn respond(r: ApiResult) -> Response {
    match r {
        Ok((status, body)) => (status, axum::Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a POST once per Idempotency-Key: a retry with the same body gets the stored response.
async fn idempotent<F, Fut>(
    state: &AppState,
    client: &ApiClient,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    run: F,
) -> Response
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ApiResult>,
{
    let Some(idem) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return respond(run(None).await);
    };
    if idem.len() > 200 {
        return ApiError::invalid("Idempotency-Key", "Use até 200 caracteres.").into_response();
    }
    let mut hasher = sha2::Sha256::new();
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = match state.db.pool.acquire().await {
        Ok(mut conn) => store::auth::idempotent_response(&mut conn, client.key.id, &idem).await,
        Err(e) => Err(e.into()),
    };
    match stored {
        Ok(Some((h, status, body))) if h == hash => {
            let mut resp = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Ok(Some(_)) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Esta Idempotency-Key já foi usada com outro pedido.",
            )
            .field("Idempotency-Key")
            .into_response();
        }
        Ok(None) => {}
        Err(e) => return ApiError::internal(e).into_response(),
    }
    let (status, value) = match run(Some(idem.clone())).await {
        Ok(ok) => ok,
        Err(e) => (e.status, e.body()),
    };
    // Server errors are not kept: the client's retry should try again.
    if !status.is_server_error()
        && let Ok(mut conn) = state.db.pool.acquire().await
        && let Err(e) = store::auth::store_idempotent_response(
            &mut conn,
            client.key.id,
            &idem,
            &hash,
            status.as_u16(),
            &value.to_string(),
            state.clock.now_millis(),
        )
        .await
    {
        tracing::error!(
            error = format!("{e:#}"),
            "cannot keep the idempotent response"
        );
    }
    (status, axum::Json(value)).into_response()
}

/// A JSON body, or a 422 naming the field at fault.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}" as &[u8]
    } else {
        body
    };
    // The path of the value at fault names the field, also for a wrong type.
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let text = e.inner().to_string();
        let field = if path != "." {
            path
        } else {
            text.split('`')
                .nth(1)
                .filter(|_| text.contains("field"))
                .unwrap_or("body")
                .to_string()
        };
        ApiError::invalid(&field, format!("JSON inválido: {text}"))
    })
}

fn customer_json(c: &Customer) -> Value {
    schema::json(&schema::Customer::from(c))
}

fn invoice_json(i: &Invoice, customer: &str, contract: &str) -> Value {
    schema::json(&schema::Invoice::of(i, customer, contract))
}

/// A search and a page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Code, name, CPF/CNPJ digits or e-mail.
    #[serde(default)]
    search: String,
    /// From 1.
    #[serde(default)]
    #[param(minimum = 1)]
    page: Option<i64>,
    /// From 1 to 500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    per_page: Option<i64>,
}

fn paging(page: Option<i64>, per_page: Option<i64>) -> Result<(i64, i64), ApiError> {
    let per = per_page.unwrap_or(50);
    if !(1..=500).contains(&per) {
        return Err(ApiError::invalid("per_page", "De 1 a 500."));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::invalid("page", "A partir de 1."));
    }
    Ok(((page - 1) * per, per))
}

#[utoipa::path(
    get,
    path = "/customers",
    summary = "List customers",
    params(PageQuery),
    responses((status = 200, description = "customers", body = schema::CustomerList), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn customers(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<PageQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let (offset, limit) = paging(q.page, q.per_page)?;
            let mut conn = state.db.pool.acquire().await?;
            let search = Some(q.search.trim()).filter(|s| !s.is_empty());
            let list =
                store::parties::list_customers_page(&mut conn, search, offset, limit).await?;
            Ok((
                StatusCode::OK,
                schema::json(&schema::CustomerList {
                    customers: list.iter().map(schema::Customer::from).collect(),
                }),
            ))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/customers/{id}",
    summary = "A customer",
    params(("id" = String, Path, description = "external id")),
    responses((status = 200, description = "the customer", body = schema::Customer), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody))
)]
async fn customer(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let c = store::parties::find_customer_by_external_id(&mut conn, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("Cliente"))?;
            Ok((StatusCode::OK, customer_json(&c)))
        }
        .await,
    )
}

/// Which invoices, and a page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct InvoiceQuery {
    /// The customer's external id.
    #[serde(default)]
    customer: String,
    /// The contract's external id.
    #[serde(default)]
    contract: String,
    /// `open`, `paid` or `cancelled`.
    #[serde(default)]
    status: String,
    /// Due from (YYYY-MM-DD).
    #[serde(default)]
    due_from: String,
    /// Due until (YYYY-MM-DD).
    #[serde(default)]
    due_to: String,
    /// From 1.
    #[serde(default)]
    #[param(minimum = 1)]
    page: Option<i64>,
    /// From 1 to 500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    per_page: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/invoices",
    summary = "List invoices, latest due first",
    params(InvoiceQuery),
    responses((status = 200, description = "invoices", body = schema::InvoiceList), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn invoices(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<InvoiceQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let (offset, limit) = paging(q.page, q.per_page)?;
            let mut conn = state.db.pool.acquire().await?;
            let mut f = InvoiceListFilter::default();
            match q.status.trim() {
                "" => {}
                s @ ("open" | "paid" | "cancelled") => f.status = Some(s.to_string()),
                _ => return Err(ApiError::invalid("status", "Use open, paid ou cancelled.")),
            }
            if !q.customer.trim().is_empty() {
                f.customer = Some(
                    store::parties::find_customer_by_external_id(&mut conn, q.customer.trim())
                        .await?
                        .ok_or_else(|| ApiError::invalid("customer", "Cliente não encontrado."))?
                        .id,
                );
            }
            if !q.contract.trim().is_empty() {
                f.contract = Some(
                    store::parties::find_contract(&mut conn, q.contract.trim())
                        .await?
                        .ok_or_else(|| ApiError::invalid("contract", "Contrato não encontrado."))?
                        .id,
                );
            }
            for (v, slot, name) in [
                (&q.due_from, &mut f.due_from, "due_from"),
                (&q.due_to, &mut f.due_to, "due_to"),
            ] {
                if !v.trim().is_empty() {
                    *slot =
                        Some(parse_date(v).map_err(|_| {
                            ApiError::invalid(name, "Data inválida (use AAAA-MM-DD).")
                        })?);
                }
            }
            let list = store::invoices::list_invoices_page(&mut conn, &f, offset, limit).await?;
            let mut out = Vec::with_capacity(list.len());
            for (i, _) in &list {
                let c = store::parties::get_customer(&mut conn, i.customer_id).await?;
                let k = store::parties::get_contract(&mut conn, i.contract_id).await?;
                out.push(schema::Invoice::of(i, &c.external_id, &k.external_id));
            }
            Ok((
                StatusCode::OK,
                schema::json(&schema::InvoiceList { invoices: out }),
            ))
        }
        .await,
    )
}

async fn find_invoice(state: &AppState, id: &str) -> Result<Invoice, ApiError> {
    let mut conn = state.db.pool.acquire().await?;
    store::invoices::find_invoice_by_external_id(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Fatura"))
}

async fn invoice_value(state: &AppState, i: &Invoice) -> Result<Value, ApiError> {
    let mut conn = state.db.pool.acquire().await?;
    let c = store::parties::get_customer(&mut conn, i.customer_id).await?;
    let k = store::parties::get_contract(&mut conn, i.contract_id).await?;
    Ok(invoice_json(i, &c.external_id, &k.external_id))
}

#[utoipa::path(
    get,
    path = "/invoices/{id}",
    summary = "An invoice",
    params(("id" = String, Path, description = "external id")),
    responses((status = 200, description = "the invoice", body = schema::Invoice), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody))
)]
async fn invoice(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let i = find_invoice(&state, &id).await?;
            Ok((StatusCode::OK, invoice_value(&state, &i).await?))
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/invoices/{id}/boleto.pdf",
    summary = "The invoice's boleto",
    params(("id" = String, Path, description = "external id")),
    responses((status = 200, description = "the boleto", content_type = "application/pdf"), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn boleto(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Response {
    let result: Result<Vec<u8>, ApiError> = async {
        client.require(Permission::View)?;
        let i = find_invoice(&state, &id).await?;
        let mut conn = state.db.pool.acquire().await?;
        Ok(crate::payment::boleto_pdf(&mut conn, &i).await?)
    }
    .await;
    match result {
        Ok(pdf) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A payment: by default today, the invoice's amount.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PaymentInput)]
struct PaidBody {
    /// Paid on (YYYY-MM-DD).
    #[schema(format = Date)]
    paid_on: Option<String>,
    /// What was paid, in centavos.
    #[schema(minimum = 0)]
    amount_cents: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/invoices/{id}/paid",
    summary = "Mark paid (permission billing)",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = PaidBody,
    responses((status = 200, description = "the invoice, paid", body = schema::Invoice), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn mark_paid(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/invoices/{id}/paid");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        let b: PaidBody = parse_json(&body)?;
        let paid_on = match &b.paid_on {
            Some(d) => parse_date(d)
                .map_err(|_| ApiError::invalid("paid_on", "Data inválida (use AAAA-MM-DD)."))?,
            None => state.clock.today(),
        };
        let i = find_invoice(&state, &id).await?;
        let amount = Money(b.amount_cents.unwrap_or(i.amount.cents()));
        if amount.cents() < 0 {
            return Err(ApiError::invalid(
                "amount_cents",
                "O valor pago não pode ser negativo.",
            ));
        }
        let payment = crate::actions::payments::Payment { paid_on, amount };
        let outcome = crate::actions::payments::record_payment(
            &state.db,
            i.id,
            &payment,
            &client.actor(),
            state.clock.now_millis(),
        )
        .await?;
        if !matches!(
            outcome,
            crate::actions::payments::PaymentOutcome::Recorded(_)
        ) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_open",
                "A fatura não está em aberto.",
            )
            .field("id"));
        }
        let i = find_invoice(&state, &id).await?;
        Ok((StatusCode::OK, invoice_value(&state, &i).await?))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/invoices/{id}/send",
    summary = "Send by e-mail now, boleto attached (permission send)",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    responses((status = 202, description = "queued", body = schema::Queued), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = schema::ErrorBody))
)]
async fn send(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/invoices/{id}/send");
    let (state_ref, client_ref, id_ref) = (&state, &client, &id);
    idempotent(
        &state,
        &client,
        &headers,
        &path,
        &body,
        move |idem| async move {
            let (state, client, id) = (state_ref, client_ref, id_ref);
            client.require(Permission::Send)?;
            let i = find_invoice(state, id).await?;
            let now = state.clock.now_millis();
            // With an Idempotency-Key the notice's own dedup key carries it: two concurrent retries
            // still queue one message.
            let key = |invoice: &Invoice| match &idem {
                Some(k) => crate::delivery::NoticeKey::ApiIdempotent {
                    api_key: client.key.id,
                    idempotency: k.clone(),
                },
                None => crate::delivery::NoticeKey::ApiSend {
                    api_key: client.key.id,
                    invoice: invoice.id,
                    at_ms: now,
                },
            };
            use crate::actions::notices::NotSent;
            let enqueued = match crate::actions::notices::send_invoice_now(
                &state.db,
                i.id,
                None,
                key,
                &client.actor(),
                now,
            )
            .await?
            {
                Ok((_, enqueued)) => enqueued,
                Err(NotSent::NotFound) => return Err(ApiError::not_found("Fatura")),
                Err(NotSent::NotOpen) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "not_open",
                        "Só faturas em aberto são enviadas.",
                    )
                    .field("id"));
                }
                Err(NotSent::NoAccount) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "no_account",
                        "Nenhuma conta de e-mail nos parâmetros financeiros.",
                    ));
                }
            };
            let notice = match enqueued {
                crate::delivery::Enqueued::New(n) | crate::delivery::Enqueued::Exists(n, _) => n,
            };
            Ok((
                StatusCode::ACCEPTED,
                schema::json(&schema::Queued {
                    notice: notice.0,
                    status: "queued",
                    invoice: i.external_id.clone(),
                }),
            ))
        },
    )
    .await
}

/// How many months to generate.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = GenerateInput)]
struct GenerateBody {
    /// From 1 to 60.
    #[schema(minimum = 1, maximum = 60)]
    months: u32,
}

#[utoipa::path(
    post,
    path = "/contracts/{id}/generate",
    summary = "Generate the contract's next invoices (permission billing; idempotent by month)",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = GenerateBody,
    responses((status = 201, description = "the invoices made", body = schema::Generated), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 404, description = "no such record", body = schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn generate(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/contracts/{id}/generate");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        let b: GenerateBody = parse_json(&body)?;
        match crate::invoicing::generate_invoices_by(
            &state.db,
            &id,
            b.months,
            &state.clock,
            Some(&client.actor()),
        )
        .await
        {
            Ok(g) => {
                let created = g
                    .created
                    .iter()
                    .map(|i| schema::GeneratedInvoice {
                        id: i.external_id.clone(),
                        due_date: i.due_date.to_string(),
                        amount_cents: i.amount.cents(),
                    })
                    .collect();
                let body = schema::Generated {
                    contract: g.contract.external_id.clone(),
                    created,
                    skipped_months: g.skipped_months.clone(),
                };
                Ok((StatusCode::CREATED, schema::json(&body)))
            }
            Err(crate::invoicing::GenerateError::Months(_)) => {
                Err(ApiError::invalid("months", "De 1 a 60 meses."))
            }
            Err(crate::invoicing::GenerateError::UnknownContract(_)) => {
                Err(ApiError::not_found("Contrato"))
            }
            Err(crate::invoicing::GenerateError::Cancelled(_)) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "cancelled",
                "O contrato está cancelado.",
            )
            .field("id")),
            Err(crate::invoicing::GenerateError::Other(e)) => Err(ApiError::internal(e)),
        }
    })
    .await
}

/// Which attempts, and a page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct NoticeQuery {
    /// The customer's external id.
    #[serde(default)]
    customer: String,
    /// The invoice's external id.
    #[serde(default)]
    invoice: String,
    /// `sent`, `retrying`, `dead` or `skipped`.
    #[serde(default)]
    status: String,
    /// From 1.
    #[serde(default)]
    #[param(minimum = 1)]
    page: Option<i64>,
    /// From 1 to 500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    per_page: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/notices",
    summary = "The delivery log",
    params(NoticeQuery),
    responses((status = 200, description = "attempts, newest first", body = schema::AttemptList), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn notices(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<NoticeQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let (offset, limit) = paging(q.page, q.per_page)?;
            let mut conn = state.db.pool.acquire().await?;
            let mut f = LogFilter {
                offset,
                limit,
                ..LogFilter::default()
            };
            if !q.customer.trim().is_empty() {
                f.customer = Some(
                    store::parties::find_customer_by_external_id(&mut conn, q.customer.trim())
                        .await?
                        .ok_or_else(|| ApiError::invalid("customer", "Cliente não encontrado."))?
                        .id,
                );
            }
            if !q.invoice.trim().is_empty() {
                f.invoice = Some(
                    store::invoices::find_invoice_by_external_id(&mut conn, q.invoice.trim())
                        .await?
                        .ok_or_else(|| ApiError::invalid("invoice", "Fatura não encontrada."))?
                        .id,
                );
            }
            if !q.status.trim().is_empty() {
                f.outcome = Some(q.status.trim().parse().map_err(|_| {
                    ApiError::invalid("status", "Use sent, retrying, dead ou skipped.")
                })?);
            }
            let attempts = store::log::list_attempts(&mut conn, &f).await?;
            let attempts = attempts
                .iter()
                .map(|a| schema::Attempt {
                    notice: a.notice_id.0,
                    at: jiff::Timestamp::from_millisecond(a.attempted_at)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    outcome: a.outcome.as_str(),
                    channel: a.channel.as_str(),
                    account: a.account.clone(),
                    recipient: a.recipient.clone(),
                    purpose: a.purpose.as_str(),
                    reply_code: a.reply_code,
                    reply: a.reply_text.clone(),
                    caused_by: a.actor.clone(),
                    receipt: a.receipt.clone(),
                })
                .collect();
            Ok((
                StatusCode::OK,
                schema::json(&schema::AttemptList { attempts }),
            ))
        }
        .await,
    )
}

/// The day to plan.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DryRunInput)]
struct DryRunBody {
    /// The day (YYYY-MM-DD); default today.
    #[schema(format = Date)]
    date: Option<String>,
}

#[utoipa::path(
    post,
    path = "/dry-run",
    summary = "What the régua would send on a date (nothing is written)",
    request_body = DryRunBody,
    responses((status = 200, description = "the dry run (docs/dunning.md)", body = schema::DryRun), (status = 401, description = "no API key, or an unknown or revoked one", body = schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = schema::ErrorBody), (status = 422, description = "a field is invalid", body = schema::ErrorBody))
)]
async fn dry_run(State(state): State<Arc<AppState>>, client: ApiClient, body: Bytes) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let b: DryRunBody = parse_json(&body)?;
            let date = match &b.date {
                Some(d) => parse_date(d)
                    .map_err(|_| ApiError::invalid("date", "Data inválida (use AAAA-MM-DD)."))?,
                None => state.clock.today(),
            };
            let req = crate::dunning::RunRequest {
                date,
                dry_run: true,
                routine: None,
                trigger: crate::dunning::Trigger::Manual,
                actor: client.actor().to_string(),
                emission: None,
                detail: true,
            };
            let report = crate::dunning::run(&state.db, &state.clock, &req)
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
            Ok((
                StatusCode::OK,
                serde_json::to_value(&report).map_err(|e| ApiError::internal(e.into()))?,
            ))
        }
        .await,
    )
}

/// The OpenAPI 3.1 document of this API.
pub fn openapi_document() -> Value {
    use utoipa::OpenApi as _;
    serde_json::to_value(doc::ApiDoc::openapi()).unwrap_or(Value::Null)
}

/// `GET /api/v1/openapi.json`: public, it holds no data.
async fn openapi() -> Response {
    axum::Json(openapi_document()).into_response()
}
