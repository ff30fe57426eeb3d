//! Writing records through the API: create and update customers, contracts and invoices, and
//! cancel an invoice. All need the billing permission and are in the audit trail.
//!
//! Decisions:
//! - `POST` creates (409 `exists` when the id is taken); `PUT /…/{id}` replaces the record's
//!   fields (404 when it does not exist). An optional field left out of a `PUT` is cleared, as
//!   a full replacement does; a body's `id`, when given, must match the path.
//! - A contract keeps its customer: a `PUT` naming another customer is refused, so invoices and
//!   their messages never move to someone else.
//! - Only open invoices are updated or cancelled. Cancelling a cancelled invoice answers 200 with
//!   the invoice (a retry is harmless); a paid one is 409. Queued notices of a cancelled invoice
//!   are skipped by the worker with the reason.
//! - Unknown JSON fields are refused (422 naming the field), so a misspelt optional field is not
//!   silently ignored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiClient, ApiError, AppState, customer_json, idempotent, invoice_value, parse_json};
use crate::domain::{
    Contract, ContractStatus, DeliveryType, Document, EmailAddress, MobilePhone, Money,
    NewCustomer, limits, parse_date,
};
use crate::store;
use crate::web::auth::Permission;

/// A contract by external id, or 404.
async fn contract_or_404(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Contract, ApiError> {
    store::parties::find_contract_by_external_id(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Contrato"))
}

/// `Create` for a POST (no id in the path), `Update` for a PUT.
fn mode(path_id: Option<&str>) -> crate::actions::records::Save {
    match path_id {
        None => crate::actions::records::Save::Create,
        Some(_) => crate::actions::records::Save::Update,
    }
}

/// A refused save as the API answers it: 409 `exists`, 404, 422 on a field, 409 `not_open`
/// or `cancelled`. `what` names the record ("Cliente", "Contrato", "Fatura").
fn refused<T>(
    outcome: Result<T, crate::actions::records::Refused>,
    what: &str,
) -> Result<T, ApiError> {
    use crate::actions::records::Refused;
    outcome.map_err(|r| match r {
        Refused::Exists => exists(what),
        Refused::NotFound => ApiError::not_found(what),
        Refused::Invalid { field, pt } => ApiError::invalid(field, pt),
        Refused::NotOpen => not_open(),
        Refused::Cancelled => ApiError::new(
            StatusCode::CONFLICT,
            "cancelled",
            "O contrato está cancelado.",
        )
        .field("contract"),
    })
}

/// 200 for a record that existed (updated), 201 for a new one.
fn saved_status(existed: bool) -> StatusCode {
    if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

fn exists(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "exists",
        format!("{what} com este código já existe."),
    )
    .field("id")
}

/// The id a write is about: the path's on `PUT`, the body's on `POST`.
fn record_id(path: Option<&str>, body: Option<&str>) -> Result<String, ApiError> {
    match (path, body.map(str::trim)) {
        (Some(p), Some(b)) if b != p => Err(ApiError::invalid(
            "id",
            "O código no corpo difere do código no endereço.",
        )),
        (Some(p), _) => text_field("id", p).map(str::to_string),
        (None, Some(b)) if !b.is_empty() && b.len() <= 100 => {
            text_field("id", b).map(str::to_string)
        }
        (None, _) => Err(ApiError::invalid(
            "id",
            "Informe o código (até 100 caracteres).",
        )),
    }
}

/// A customer to create or replace.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CustomerInput)]
pub(super) struct CustomerBody {
    /// External id: required on POST; on PUT, if given, equal to the path's.
    id: Option<String>,
    /// Name or company name.
    #[serde(default)]
    name: String,
    /// CPF or CNPJ, with or without punctuation.
    #[serde(default)]
    document: String,
    /// E-mail.
    email: Option<String>,
    /// A Brazilian mobile number.
    mobile_phone: Option<String>,
    /// Street (logradouro); the address is optional, but given, street, district, CEP, city
    /// and UF are required.
    address_street: Option<String>,
    /// Number.
    address_number: Option<String>,
    /// Complement.
    address_complement: Option<String>,
    /// District (bairro).
    address_district: Option<String>,
    /// CEP, 8 digits (`01001-000` accepted).
    address_zip: Option<String>,
    /// City.
    address_city: Option<String>,
    /// UF.
    address_state: Option<String>,
}

/// A one-line text field (no line break or control character, bounded length): names, plans
/// and ids reach e-mail headers, file names and the boleto.
fn text_field<'v>(field: &str, value: &'v str) -> Result<&'v str, ApiError> {
    limits::check_line(value, limits::MAX_TEXT_CHARS)
        .map(|()| value)
        .map_err(|e| ApiError::invalid(field, e.pt()))
}

fn new_customer(id: String, b: &CustomerBody) -> Result<NewCustomer, ApiError> {
    let name = text_field("name", b.name.trim())?;
    if name.is_empty() {
        return Err(ApiError::invalid("name", "Informe o nome."));
    }
    let document = Document::parse(&b.document)
        .map_err(|_| ApiError::invalid("document", "CPF ou CNPJ inválido."))?;
    let email = match b.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => Some(
            EmailAddress::parse(e).map_err(|_| ApiError::invalid("email", "E-mail inválido."))?,
        ),
    };
    let mobile_phone =
        match b.mobile_phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(MobilePhone::parse(p).map_err(|_| {
                ApiError::invalid("mobile_phone", "Celular inválido (DDD e número).")
            })?),
        };
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let (street, number, complement, district, zip, city, state) = (
        text(&b.address_street),
        text(&b.address_number),
        text(&b.address_complement),
        text(&b.address_district),
        text(&b.address_zip),
        text(&b.address_city),
        text(&b.address_state),
    );
    for (field, v) in [
        ("address_street", &street),
        ("address_number", &number),
        ("address_complement", &complement),
        ("address_district", &district),
        ("address_city", &city),
    ] {
        text_field(field, v)?;
    }
    let address = crate::domain::PostalAddress::parse(&crate::domain::AddressText {
        street: &street,
        number: &number,
        complement: &complement,
        district: &district,
        zip: &zip,
        city: &city,
        state: &state,
    })
    .map_err(|(field, _)| {
        let message = match field {
            "address_zip" => "CEP inválido (8 dígitos).",
            "address_state" => "UF inválida.",
            _ => "Endereço incompleto: informe logradouro, bairro, CEP, cidade e UF.",
        };
        ApiError::invalid(field, message)
    })?;
    Ok(NewCustomer {
        external_id: id,
        name: name.to_string(),
        document,
        email,
        mobile_phone,
        address,
    })
}

async fn save_customer(
    state: &AppState,
    client: &ApiClient,
    path_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    client.require(Permission::EditBilling)?;
    let b: CustomerBody = parse_json(body)?;
    let c = new_customer(record_id(path_id, b.id.as_deref())?, &b)?;
    let (saved, existed) = refused(
        crate::actions::records::save_customer(
            &state.db,
            &c,
            mode(path_id),
            &client.actor(),
            state.clock.now_millis(),
        )
        .await?,
        "Cliente",
    )?;
    Ok((saved_status(existed), customer_json(&saved)))
}

/// `POST /api/v1/customers`
#[utoipa::path(
    post,
    path = "/customers",
    summary = "Create a customer (permission billing)",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = CustomerBody,
    responses((status = 201, description = "created", body = super::schema::Customer), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn create_customer(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    idempotent(
        &state,
        &client,
        &headers,
        "/api/v1/customers",
        &body,
        |_| save_customer(&state, &client, None, &body),
    )
    .await
}

/// `PUT /api/v1/customers/{id}`
#[utoipa::path(
    put,
    path = "/customers/{id}",
    summary = "Replace a customer's fields (permission billing; optional fields left out are cleared)",
    params(("id" = String, Path, description = "external id")),
    request_body = CustomerBody,
    responses((status = 200, description = "replaced", body = super::schema::Customer), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn update_customer(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    super::respond(save_customer(&state, &client, Some(&id), &body).await)
}

/// A contract to create or replace (its customer never changes).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContractInput)]
pub(super) struct ContractBody {
    /// External id: required on POST; on PUT, if given, equal to the path's.
    id: Option<String>,
    /// The customer's external id.
    #[serde(default)]
    customer: String,
    /// The plan.
    #[serde(default)]
    plan: String,
    /// The monthly amount, in centavos (0 or more).
    #[schema(minimum = 0)]
    monthly_amount_cents: Option<i64>,
    /// Day of the month its invoices fall due.
    #[schema(minimum = 1, maximum = 31)]
    due_day: Option<i64>,
    /// A billing method's name.
    #[serde(default)]
    billing_method: String,
    /// `email` or `printed`; default: the general parameter.
    delivery_type: Option<String>,
    /// `active`, `suspended` or `cancelled`; default `active`.
    status: Option<String>,
}

async fn contract_json(conn: &mut sqlx::AnyConnection, k: &Contract) -> anyhow::Result<Value> {
    let customer = store::parties::get_customer(conn, k.customer_id).await?;
    let method = store::parties::list_billing_methods(conn)
        .await?
        .into_iter()
        .find(|m| m.id == k.billing_method_id)
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(super::schema::json(&super::schema::Contract {
        id: k.external_id.clone(),
        customer: customer.external_id,
        plan: k.plan.clone(),
        monthly_amount_cents: k.monthly_amount.cents(),
        due_day: k.due_day,
        billing_method: method,
        delivery_type: k.delivery_type.as_str(),
        status: k.status.as_str(),
    }))
}

async fn save_contract(
    state: &AppState,
    client: &ApiClient,
    path_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    client.require(Permission::EditBilling)?;
    let b: ContractBody = parse_json(body)?;
    let id = record_id(path_id, b.id.as_deref())?;
    let plan = text_field("plan", b.plan.trim())?;
    if plan.is_empty() {
        return Err(ApiError::invalid("plan", "Informe o plano."));
    }
    let monthly_amount = match b.monthly_amount_cents {
        Some(c) if c >= 0 => Money(c),
        _ => {
            return Err(ApiError::invalid(
                "monthly_amount_cents",
                "Informe o valor mensal em centavos (0 ou mais).",
            ));
        }
    };
    if let Some(reason) = limits::boleto_amount_pt(monthly_amount) {
        return Err(ApiError::invalid("monthly_amount_cents", reason));
    }
    let due_day = match b.due_day {
        Some(d @ 1..=31) => d as u8,
        _ => {
            return Err(ApiError::invalid("due_day", "Dia de vencimento de 1 a 31."));
        }
    };
    let delivery_type = match b.delivery_type.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(
            d.parse::<DeliveryType>()
                .map_err(|_| ApiError::invalid("delivery_type", "Use email ou printed."))?,
        ),
    };
    let status = match b.status.as_deref().map(str::trim) {
        None | Some("") => ContractStatus::Active,
        Some(s) => s
            .parse::<ContractStatus>()
            .map_err(|_| ApiError::invalid("status", "Use active, suspended ou cancelled."))?,
    };
    let input = crate::actions::records::ContractInput {
        external_id: id,
        customer: b.customer.clone(),
        plan: plan.to_string(),
        monthly_amount,
        due_day,
        billing_method: b.billing_method.clone(),
        delivery_type,
        status,
    };
    let (saved, existed) = refused(
        crate::actions::records::save_contract(
            &state.db,
            &input,
            mode(path_id),
            &client.actor(),
            state.clock.now_millis(),
        )
        .await?,
        "Contrato",
    )?;
    let mut conn = state.db.pool.acquire().await?;
    let out = contract_json(&mut conn, &saved).await?;
    Ok((saved_status(existed), out))
}

/// `GET /api/v1/contracts/{id}`
#[utoipa::path(
    get,
    path = "/contracts/{id}",
    summary = "A contract",
    params(("id" = String, Path, description = "external id")),
    responses((status = 200, description = "the contract", body = super::schema::Contract), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody))
)]
pub(super) async fn contract(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Response {
    super::respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let k = contract_or_404(&mut conn, &id).await?;
            Ok((StatusCode::OK, contract_json(&mut conn, &k).await?))
        }
        .await,
    )
}

/// `POST /api/v1/contracts`
#[utoipa::path(
    post,
    path = "/contracts",
    summary = "Create a contract (permission billing)",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = ContractBody,
    responses((status = 201, description = "created", body = super::schema::Contract), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn create_contract(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    idempotent(
        &state,
        &client,
        &headers,
        "/api/v1/contracts",
        &body,
        |_| save_contract(&state, &client, None, &body),
    )
    .await
}

/// `PUT /api/v1/contracts/{id}`
#[utoipa::path(
    put,
    path = "/contracts/{id}",
    summary = "Replace a contract's fields (permission billing; the customer cannot change)",
    params(("id" = String, Path, description = "external id")),
    request_body = ContractBody,
    responses((status = 200, description = "replaced", body = super::schema::Contract), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn update_contract(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    super::respond(save_contract(&state, &client, Some(&id), &body).await)
}

/// An invoice to create, or an open one's new amount and dates.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = InvoiceInput)]
pub(super) struct InvoiceBody {
    /// External id: required on POST; on PUT, if given, equal to the path's.
    id: Option<String>,
    /// The contract's external id; required on POST, unchangeable.
    contract: Option<String>,
    /// The amount, in centavos (0 or more).
    #[schema(minimum = 0)]
    amount_cents: Option<i64>,
    /// Issued on (YYYY-MM-DD); default today.
    #[schema(format = Date)]
    issue_date: Option<String>,
    /// Due on (YYYY-MM-DD).
    #[schema(format = Date)]
    due_date: Option<String>,
    /// The ERP's our number, when the ERP issued and registered the boleto (docs/import.md).
    our_number: Option<String>,
    /// The ERP's digitable line (or barcode): must match the wallet's bank, the amount and the
    /// due date.
    digitable_line: Option<String>,
    /// The ERP's PIX copia-e-cola.
    pix_code: Option<String>,
}

fn not_open() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_open",
        "A fatura não está em aberto.",
    )
    .field("id")
}

async fn save_invoice(
    state: &AppState,
    client: &ApiClient,
    path_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    client.require(Permission::EditBilling)?;
    let b: InvoiceBody = parse_json(body)?;
    let id = record_id(path_id, b.id.as_deref())?;
    let amount = match b.amount_cents {
        Some(c) if c >= 0 => Money(c),
        _ => {
            return Err(ApiError::invalid(
                "amount_cents",
                "Informe o valor em centavos (0 ou mais).",
            ));
        }
    };
    if let Some(reason) = limits::boleto_amount_pt(amount) {
        return Err(ApiError::invalid("amount_cents", reason));
    }
    let date = |field: &str, v: &Option<String>| -> Result<Option<jiff::civil::Date>, ApiError> {
        v.as_deref()
            .map(|d| {
                parse_date(d)
                    .map_err(|_| ApiError::invalid(field, "Data inválida (use AAAA-MM-DD)."))
            })
            .transpose()
    };
    let issue_date = date("issue_date", &b.issue_date)?.unwrap_or(state.clock.today());
    let due_date = date("due_date", &b.due_date)?
        .ok_or_else(|| ApiError::invalid("due_date", "Informe o vencimento (AAAA-MM-DD)."))?;
    if due_date < issue_date {
        return Err(ApiError::invalid(
            "due_date",
            "O vencimento é anterior à emissão.",
        ));
    }
    if let Some(reason) = limits::due_date_pt(due_date, state.clock.today()) {
        return Err(ApiError::invalid("due_date", reason));
    }
    let input = crate::actions::records::InvoiceInput {
        external_id: id.clone(),
        contract: b.contract.clone(),
        amount,
        issue_date,
        due_date,
        erp_our_number: b.our_number.clone().unwrap_or_default(),
        erp_digitable_line: b.digitable_line.clone().unwrap_or_default(),
        erp_pix_code: b.pix_code.clone().unwrap_or_default(),
    };
    let existed = refused(
        crate::actions::records::save_invoice(
            &state.db,
            &input,
            mode(path_id),
            &client.actor(),
            state.clock.now_millis(),
        )
        .await?,
        "Fatura",
    )?;
    let saved = super::find_invoice(state, &id).await?;
    Ok((saved_status(existed), invoice_value(state, &saved).await?))
}

/// `POST /api/v1/invoices`
#[utoipa::path(
    post,
    path = "/invoices",
    summary = "Create an open invoice for a contract (permission billing)",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = InvoiceBody,
    responses((status = 201, description = "created", body = super::schema::Invoice), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn create_invoice(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    idempotent(&state, &client, &headers, "/api/v1/invoices", &body, |_| {
        save_invoice(&state, &client, None, &body)
    })
    .await
}

/// `PUT /api/v1/invoices/{id}`
#[utoipa::path(
    put,
    path = "/invoices/{id}",
    summary = "Change an open invoice's amount and dates (permission billing; the nosso número stays)",
    params(("id" = String, Path, description = "external id")),
    request_body = InvoiceBody,
    responses((status = 200, description = "changed", body = super::schema::Invoice), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn update_invoice(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    super::respond(save_invoice(&state, &client, Some(&id), &body).await)
}

/// `POST /api/v1/invoices/{id}/cancel`
#[utoipa::path(
    post,
    path = "/invoices/{id}/cancel",
    summary = "Cancel an open invoice (permission billing; cancelling a cancelled one answers 200)",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    responses((status = 200, description = "the invoice, cancelled", body = super::schema::Invoice), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody))
)]
pub(super) async fn cancel_invoice(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/invoices/{id}/cancel");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        refused(
            crate::actions::records::cancel_invoice(
                &state.db,
                &id,
                &client.actor(),
                state.clock.now_millis(),
            )
            .await?,
            "Fatura",
        )?;
        let i = super::find_invoice(&state, &id).await?;
        Ok((StatusCode::OK, invoice_value(&state, &i).await?))
    })
    .await
}

/// A temporary suspension to record.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SuspensionInput)]
pub(super) struct SuspensionBody {
    /// First day without service (YYYY-MM-DD).
    #[schema(format = Date)]
    from: Option<String>,
    /// Last day without service (YYYY-MM-DD).
    #[schema(format = Date)]
    to: Option<String>,
    /// Why.
    #[serde(default)]
    reason: String,
}

fn suspension_json(s: &store::channels::Suspension, contract: &str) -> Value {
    super::schema::json(&super::schema::Suspension::of(s, contract))
}

/// `POST /api/v1/contracts/{id}/suspensions`: a temporary suspension. The same request again
/// answers 200 with the suspension it made (no second notice); an overlapping one is 409.
#[utoipa::path(
    post,
    path = "/contracts/{id}/suspensions",
    summary = "Suspend the contract temporarily (permission billing); its customer is told by the suspension notice method. The same request again answers 200 and sends nothing.",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    request_body = SuspensionBody,
    responses((status = 201, description = "recorded", body = super::schema::Suspension), (status = 200, description = "recorded before: nothing changed", body = super::schema::Suspension), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn create_suspension(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/contracts/{id}/suspensions");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        let b: SuspensionBody = parse_json(&body)?;
        let date = |field: &str, v: &Option<String>| -> Result<jiff::civil::Date, ApiError> {
            let v = v
                .as_deref()
                .ok_or_else(|| ApiError::invalid(field, "Obrigatório."))?;
            parse_date(v).map_err(|_| ApiError::invalid(field, "Data inválida (AAAA-MM-DD)."))
        };
        let req = crate::suspension::SuspendRequest {
            contract: id.clone(),
            from: date("from", &b.from)?,
            to: date("to", &b.to)?,
            reason: b.reason.clone(),
            actor: client.actor().to_string(),
        };
        {
            let mut conn = state.db.pool.acquire().await?;
            contract_or_404(&mut conn, &id).await?;
        }
        use crate::suspension::{SuspendError, Suspended};
        let done = match crate::actions::suspensions::start_suspension(
            &state.db,
            &req,
            state.clock.today(),
            state.clock.now_millis(),
        )
        .await
        {
            Ok(d) => d,
            Err(SuspendError::Other(e)) => return Err(e.into()),
            Err(e @ SuspendError::Overlap { .. }) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "overlap",
                    e.message_pt(),
                ));
            }
            Err(e @ SuspendError::Invalid { field, .. }) => {
                return Err(ApiError::invalid(field, e.message_pt()));
            }
        };
        let status = match &done {
            Suspended::New(_) => StatusCode::CREATED,
            Suspended::Exists(_) => StatusCode::OK,
        };
        Ok((status, suspension_json(done.suspension(), &id)))
    })
    .await
}

/// `POST /api/v1/contracts/{id}/suspensions/end`: ends the running suspension today (service
/// restored, the "ended" notice sent) or withdraws the upcoming one; 409 when there is none.
#[utoipa::path(
    post,
    path = "/contracts/{id}/suspensions/end",
    summary = "End the contract's running suspension today (service restored, the ended notice sent) or withdraw its upcoming one (permission billing)",
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    responses((status = 200, description = "ended or withdrawn", body = super::schema::SuspensionEnded), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody))
)]
pub(super) async fn end_suspension(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/contracts/{id}/suspensions/end");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        {
            let mut conn = state.db.pool.acquire().await?;
            contract_or_404(&mut conn, &id).await?;
        }
        use crate::suspension::{Ended, SuspendError};
        let ended = match crate::actions::suspensions::end_suspension(
            &state.db,
            &id,
            state.clock.today(),
            &client.actor(),
            state.clock.now_millis(),
        )
        .await
        {
            Ok(ended) => ended,
            Err(SuspendError::Other(e)) => return Err(e.into()),
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_suspended",
                    e.message_pt(),
                ));
            }
        };
        let s = ended.suspension().clone();
        let (how, notified) = match ended {
            Ended::Restored(_) => ("restored", true),
            Ended::Withdrawn { notified, .. } => ("withdrawn", notified),
        };
        let body = super::schema::SuspensionEnded {
            suspension: super::schema::Suspension::of(&s, &id),
            ended: how,
            customer_notified: notified,
        };
        Ok((StatusCode::OK, super::schema::json(&body)))
    })
    .await
}

/// `GET /api/v1/contracts/{id}/suspensions`: the contract's suspensions, latest first.
#[utoipa::path(
    get,
    path = "/contracts/{id}/suspensions",
    summary = "The contract's temporary suspensions, latest first",
    params(("id" = String, Path, description = "external id")),
    responses((status = 200, description = "suspensions", body = super::schema::SuspensionList), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody))
)]
pub(super) async fn suspensions(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Response {
    super::respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let k = contract_or_404(&mut conn, &id).await?;
            let suspensions = store::channels::suspensions_of_contract(&mut conn, k.id)
                .await?
                .iter()
                .map(|s| super::schema::Suspension::of(s, &id))
                .collect();
            let body = super::schema::SuspensionList { suspensions };
            Ok((StatusCode::OK, super::schema::json(&body)))
        }
        .await,
    )
}

/// The body of `POST /api/v1/contracts/{id}/network-state`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NetworkStateInput)]
pub(super) struct NetworkStateBody {
    /// What the network (or the ERP) did: `suspended`, `active` or `terminated`.
    #[schema(pattern = "^(suspended|active|terminated)$")]
    state: String,
}

/// `POST /api/v1/contracts/{id}/network-state`: the network's (or the ERP's) confirmation of
/// what it did on the suspension clock's request (docs/debt.md): `suspended` after
/// `contract.suspension_due`, `active` after `contract.restore_due`, `terminated` after
/// `contract.termination_due`. Recorded on the contract's timeline.
#[utoipa::path(
    post,
    path = "/contracts/{id}/network-state",
    summary = "Confirm what the network did: suspended, active or terminated (permission billing)",
    request_body = NetworkStateBody,
    params(("id" = String, Path, description = "external id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first response (header Idempotent-Replayed: true).")),
    responses((status = 200, description = "the contract's state on the clock", body = super::schema::DebtStatus), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such record", body = super::schema::ErrorBody), (status = 409, description = "the record's state refuses it", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn network_state(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/api/v1/contracts/{id}/network-state");
    idempotent(&state, &client, &headers, &path, &body, |_| async {
        client.require(Permission::EditBilling)?;
        let b: NetworkStateBody = parse_json(&body)?;
        let wanted = b.state.trim().to_string();
        if !matches!(wanted.as_str(), "suspended" | "active" | "terminated") {
            return Err(ApiError::invalid(
                "state",
                "Use suspended, active ou terminated.",
            ));
        }
        {
            let mut conn = state.db.pool.acquire().await?;
            contract_or_404(&mut conn, &id).await?;
        }
        match crate::debt::confirm(
            &state.db,
            &state.clock,
            &id,
            &wanted,
            &client.actor().to_string(),
        )
        .await?
        {
            Ok(next) => {
                let body = super::schema::DebtStatus {
                    contract: id.clone(),
                    state: next.as_str(),
                };
                Ok((StatusCode::OK, super::schema::json(&body)))
            }
            Err(why) => Err(ApiError::new(StatusCode::CONFLICT, "state_conflict", why)),
        }
    })
    .await
}
