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
use serde_json::{Value, json};
use sha2::Digest as _;

mod records;

use super::AppState;
use super::auth::Permission;
use crate::domain::{Customer, Invoice, InvoiceStatus, Money, parse_date};
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
        json!({"code": self.code, "message": self.message, "field": self.field})
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
        .route("/api/v1/notices", get(notices))
        .route("/api/v1/dry-run", post(dry_run))
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
    crate::actions::records::customer_record(c)
}

fn invoice_json(i: &Invoice, customer: &str, contract: &str) -> Value {
    let (status, paid_on, paid) = match &i.status {
        InvoiceStatus::Open => ("open", None, None),
        InvoiceStatus::Paid { paid_on, amount } => {
            ("paid", Some(paid_on.to_string()), Some(amount.cents()))
        }
        InvoiceStatus::Cancelled => ("cancelled", None, None),
    };
    json!({
        "id": i.external_id,
        "customer": customer,
        "contract": contract,
        "amount_cents": i.amount.cents(),
        "issue_date": i.issue_date.to_string(),
        "due_date": i.due_date.to_string(),
        "competence": i.competence,
        "status": status,
        "paid_on": paid_on,
        "paid_amount_cents": paid,
        "delivery_type": i.delivery_type.as_str(),
        "our_number": i.our_number,
    })
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
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
                json!({"customers": list.iter().map(customer_json).collect::<Vec<_>>()}),
            ))
        }
        .await,
    )
}

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

#[derive(Deserialize)]
struct InvoiceQuery {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    contract: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    due_from: String,
    #[serde(default)]
    due_to: String,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

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
                out.push(invoice_json(i, &c.external_id, &k.external_id));
            }
            Ok((StatusCode::OK, json!({"invoices": out})))
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

#[derive(Deserialize)]
struct PaidBody {
    paid_on: Option<String>,
    amount_cents: Option<i64>,
}

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
                json!({"notice": notice.0, "status": "queued", "invoice": i.external_id}),
            ))
        },
    )
    .await
}

#[derive(Deserialize)]
struct GenerateBody {
    months: u32,
}

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
        match crate::invoicing::generate_invoices(&state.db, &id, b.months, &state.clock).await {
            Ok(g) => {
                let created: Vec<Value> = g.created.iter().map(|i| json!({"id": i.external_id, "due_date": i.due_date.to_string(), "amount_cents": i.amount.cents()})).collect();
                Ok((StatusCode::CREATED, json!({"contract": g.contract.external_id, "created": created, "skipped_months": g.skipped_months})))
            }
            Err(crate::invoicing::GenerateError::Months(_)) => Err(ApiError::invalid("months", "De 1 a 60 meses.")),
            Err(crate::invoicing::GenerateError::UnknownContract(_)) => Err(ApiError::not_found("Contrato")),
            Err(crate::invoicing::GenerateError::Cancelled(_)) => Err(ApiError::new(StatusCode::CONFLICT, "cancelled", "O contrato está cancelado.").field("id")),
            Err(crate::invoicing::GenerateError::Other(e)) => Err(ApiError::internal(e)),
        }
    })
    .await
}

#[derive(Deserialize)]
struct NoticeQuery {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
}

async fn notices(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<NoticeQuery>,
) -> Response {
    respond(async {
        client.require(Permission::View)?;
        let (offset, limit) = paging(q.page, q.per_page)?;
        let mut conn = state.db.pool.acquire().await?;
        let mut f = LogFilter { offset, limit, ..LogFilter::default() };
        if !q.customer.trim().is_empty() {
            f.customer = Some(store::parties::find_customer_by_external_id(&mut conn, q.customer.trim()).await?.ok_or_else(|| ApiError::invalid("customer", "Cliente não encontrado."))?.id);
        }
        if !q.invoice.trim().is_empty() {
            f.invoice = Some(store::invoices::find_invoice_by_external_id(&mut conn, q.invoice.trim()).await?.ok_or_else(|| ApiError::invalid("invoice", "Fatura não encontrada."))?.id);
        }
        if !q.status.trim().is_empty() {
            f.outcome = Some(q.status.trim().parse().map_err(|_| ApiError::invalid("status", "Use sent, retrying, dead ou skipped."))?);
        }
        let attempts = store::log::list_attempts(&mut conn, &f).await?;
        let out: Vec<Value> = attempts
            .iter()
            .map(|a| {
                json!({
                    "notice": a.notice_id.0,
                    "at": jiff::Timestamp::from_millisecond(a.attempted_at).map(|t| t.to_string()).unwrap_or_default(),
                    "outcome": a.outcome.as_str(),
                    "channel": a.channel.as_str(),
                    "account": a.account,
                    "recipient": a.recipient,
                    "purpose": a.purpose.as_str(),
                    "reply_code": a.reply_code,
                    "reply": a.reply_text,
                    "caused_by": a.actor,
                })
            })
            .collect();
        Ok((StatusCode::OK, json!({"attempts": out})))
    }.await)
}

#[derive(Deserialize)]
struct DryRunBody {
    date: Option<String>,
}

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
    let err = json!({"$ref": "#/components/responses/Error"});
    let id_param = |name: &str, what: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": what});
    let q = |name: &str, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": desc});
    let idem = json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 200}, "description": "A retry with the same key and body gets the first response (header Idempotent-Replayed: true)."});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let one = |schema: &str| json!({"description": schema, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let paging = [
        json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}),
        json!({"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}),
    ];
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Régua API", "version": "1", "description": "Customers, invoices, sending and the delivery log of Régua. Authenticate with an API key: Authorization: Bearer rg_…"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/customers": {
                "get": {"summary": "List customers", "parameters": [q("search", "code, name, CPF/CNPJ digits or e-mail"), paging[0], paging[1]], "responses": {"200": {"description": "customers", "content": {"application/json": {"schema": {"type": "object", "properties": {"customers": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}}}}}}}, "401": err, "403": err, "422": err}},
                "post": {"summary": "Create a customer (permission billing)", "parameters": [idem.clone()], "requestBody": body("CustomerInput"), "responses": {"201": one("Customer"), "409": err, "422": err}}
            },
            "/customers/{id}": {
                "get": {"summary": "A customer", "parameters": [id_param("id", "external id")], "responses": {"200": one("Customer"), "404": err}},
                "put": {"summary": "Replace a customer's fields (permission billing; optional fields left out are cleared)", "parameters": [id_param("id", "external id")], "requestBody": body("CustomerInput"), "responses": {"200": one("Customer"), "404": err, "422": err}}
            },
            "/contracts": {"post": {"summary": "Create a contract (permission billing)", "parameters": [idem.clone()], "requestBody": body("ContractInput"), "responses": {"201": one("Contract"), "409": err, "422": err}}},
            "/contracts/{id}": {
                "get": {"summary": "A contract", "parameters": [id_param("id", "external id")], "responses": {"200": one("Contract"), "404": err}},
                "put": {"summary": "Replace a contract's fields (permission billing; the customer cannot change)", "parameters": [id_param("id", "external id")], "requestBody": body("ContractInput"), "responses": {"200": one("Contract"), "404": err, "422": err}}
            },
            "/invoices/{id}/cancel": {"post": {"summary": "Cancel an open invoice (permission billing; cancelling a cancelled one answers 200)", "parameters": [id_param("id", "external id"), idem.clone()], "responses": {"200": one("Invoice"), "404": err, "409": err}}},
            "/invoices": {
                "get": {"summary": "List invoices, latest due first", "parameters": [q("customer", "customer external id"), q("contract", "contract external id"), q("status", "open | paid | cancelled"), q("due_from", "YYYY-MM-DD"), q("due_to", "YYYY-MM-DD"), paging[0], paging[1]], "responses": {"200": {"description": "invoices", "content": {"application/json": {"schema": {"type": "object", "properties": {"invoices": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}}}}}}}, "422": err}},
                "post": {"summary": "Create an open invoice for a contract (permission billing)", "parameters": [idem.clone()], "requestBody": body("InvoiceInput"), "responses": {"201": one("Invoice"), "409": err, "422": err}}
            },
            "/invoices/{id}": {
                "get": {"summary": "An invoice", "parameters": [id_param("id", "external id")], "responses": {"200": one("Invoice"), "404": err}},
                "put": {"summary": "Change an open invoice's amount and dates (permission billing; the nosso número stays)", "parameters": [id_param("id", "external id")], "requestBody": body("InvoiceInput"), "responses": {"200": one("Invoice"), "404": err, "409": err, "422": err}}
            },
            "/invoices/{id}/boleto.pdf": {"get": {"summary": "The invoice's boleto", "parameters": [id_param("id", "external id")], "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}}, "404": err}}},
            "/invoices/{id}/paid": {"post": {"summary": "Mark paid (permission billing)", "parameters": [id_param("id", "external id"), idem.clone()], "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"paid_on": {"type": "string", "format": "date"}, "amount_cents": {"type": "integer", "minimum": 0}}}}}}, "responses": {"200": {"description": "the invoice, paid", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}, "409": err, "422": err}}},
            "/invoices/{id}/send": {"post": {"summary": "Send by e-mail now, boleto attached (permission send)", "parameters": [id_param("id", "external id"), idem.clone()], "responses": {"202": {"description": "queued", "content": {"application/json": {"schema": {"type": "object", "properties": {"notice": {"type": "integer"}, "status": {"type": "string"}, "invoice": {"type": "string"}}}}}}, "409": err}}},
            "/contracts/{id}/generate": {"post": {"summary": "Generate the contract's next invoices (permission billing; idempotent by month)", "parameters": [id_param("id", "external id"), idem], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["months"], "properties": {"months": {"type": "integer", "minimum": 1, "maximum": 60}}}}}}, "responses": {"201": {"description": "created invoices"}, "404": err, "409": err, "422": err}}},
            "/contracts/{id}/suspensions": {
                "get": {"summary": "The contract's temporary suspensions, latest first", "parameters": [id_param("id", "external id")], "responses": {"200": {"description": "suspensions", "content": {"application/json": {"schema": {"type": "object", "properties": {"suspensions": {"type": "array", "items": {"$ref": "#/components/schemas/Suspension"}}}}}}}, "404": err}},
                "post": {"summary": "Suspend the contract temporarily (permission billing); its customer is told by the suspension notice method. The same request again answers 200 and sends nothing.", "parameters": [id_param("id", "external id"), idem.clone()], "requestBody": body("SuspensionInput"), "responses": {"201": one("Suspension"), "200": one("Suspension"), "404": err, "409": err, "422": err}}
            },
            "/contracts/{id}/suspensions/end": {"post": {"summary": "End the contract's running suspension today (service restored, the ended notice sent) or withdraw its upcoming one (permission billing)", "parameters": [id_param("id", "external id"), idem.clone()], "responses": {"200": one("SuspensionEnded"), "404": err, "409": err}}},
            "/notices": {"get": {"summary": "The delivery log", "parameters": [q("customer", "customer external id"), q("invoice", "invoice external id"), q("status", "sent | retrying | dead | skipped"), paging[0], paging[1]], "responses": {"200": {"description": "attempts, newest first"}, "422": err}}},
            "/dry-run": {"post": {"summary": "What the régua would send on a date (nothing is written)", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"date": {"type": "string", "format": "date"}}}}}}, "responses": {"200": {"description": "the dry run's JSON (docs/dunning.md)"}, "422": err}}}
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "regua apikey add --name NAME --permissions view,send,billing"}},
            "responses": {"Error": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string", "description": "pt-BR"}, "field": {"type": ["string", "null"]}}},
                "CustomerInput": {"type": "object", "additionalProperties": false, "required": ["name", "document"], "properties": {"id": {"type": "string", "description": "required on POST; on PUT, if given, equal to the path's"}, "name": {"type": "string"}, "document": {"type": "string", "description": "CPF or CNPJ, with or without punctuation"}, "email": {"type": ["string", "null"]}, "mobile_phone": {"type": ["string", "null"], "description": "a Brazilian mobile number"}}},
                "Contract": {"type": "object", "properties": {"id": {"type": "string"}, "customer": {"type": "string"}, "plan": {"type": "string"}, "monthly_amount_cents": {"type": "integer"}, "due_day": {"type": "integer"}, "billing_method": {"type": "string"}, "delivery_type": {"enum": ["email", "printed"]}, "status": {"enum": ["active", "suspended", "cancelled"]}}},
                "ContractInput": {"type": "object", "additionalProperties": false, "required": ["customer", "plan", "monthly_amount_cents", "due_day", "billing_method"], "properties": {"id": {"type": "string"}, "customer": {"type": "string", "description": "customer external id"}, "plan": {"type": "string"}, "monthly_amount_cents": {"type": "integer", "minimum": 0}, "due_day": {"type": "integer", "minimum": 1, "maximum": 31}, "billing_method": {"type": "string", "description": "a billing method's name"}, "delivery_type": {"enum": ["email", "printed"], "description": "default: the general parameter"}, "status": {"enum": ["active", "suspended", "cancelled"], "description": "default active"}}},
                "InvoiceInput": {"type": "object", "additionalProperties": false, "required": ["amount_cents", "due_date"], "properties": {"id": {"type": "string"}, "contract": {"type": "string", "description": "contract external id; required on POST"}, "amount_cents": {"type": "integer", "minimum": 0}, "issue_date": {"type": "string", "format": "date", "description": "default today"}, "due_date": {"type": "string", "format": "date"}}},
                "SuspensionInput": {"type": "object", "additionalProperties": false, "required": ["from", "to"], "properties": {"from": {"type": "string", "format": "date", "description": "first day without service"}, "to": {"type": "string", "format": "date", "description": "last day without service"}, "reason": {"type": "string"}}},
                "Suspension": {"type": "object", "properties": {"id": {"type": "integer"}, "contract": {"type": "string"}, "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}, "reason": {"type": "string"}, "requested_by": {"type": "string"}, "cancelled": {"type": "boolean"}}},
                "SuspensionEnded": {"allOf": [{"$ref": "#/components/schemas/Suspension"}, {"type": "object", "properties": {"ended": {"type": "string", "enum": ["restored", "withdrawn"], "description": "restored: it was running and ends yesterday, the ended notice goes; withdrawn: it had not started"}, "customer_notified": {"type": "boolean", "description": "whether a notice tells the customer (always for restored; for withdrawn, when the scheduled notice had been sent)"}}}]},
                "Customer": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "document": {"type": "string"}, "email": {"type": ["string", "null"]}, "mobile_phone": {"type": ["string", "null"], "description": "E.164"}}},
                "Invoice": {"type": "object", "properties": {"id": {"type": "string"}, "customer": {"type": "string"}, "contract": {"type": "string"}, "amount_cents": {"type": "integer"}, "issue_date": {"type": "string", "format": "date"}, "due_date": {"type": "string", "format": "date"}, "competence": {"type": ["string", "null"]}, "status": {"enum": ["open", "paid", "cancelled"]}, "paid_on": {"type": ["string", "null"]}, "paid_amount_cents": {"type": ["integer", "null"]}, "delivery_type": {"enum": ["email", "printed"]}, "our_number": {"type": "integer"}}}
            }
        }
    })
}

/// `GET /api/v1/openapi.json`: public, it holds no data.
async fn openapi() -> Response {
    axum::Json(openapi_document()).into_response()
}
