//! `GET /api/v1/wallets` and `PUT /api/v1/wallets/{name}/terms`: a wallet's registration mode
//! and terms for late and early payment (docs/charges.md), for an ERP that keeps them.
//! Percentages are basis points (2 % = 200), as stored: no float in money.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiClient, ApiError, parse_json, respond};
use crate::domain::BillingWallet;
use crate::domain::charges::{Registration, Terms};
use crate::store;
use crate::web::AppState;
use crate::web::auth::Permission;

/// A wallet as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Wallet {
    /// Its name (the key in the path).
    pub name: String,
    /// FEBRABAN bank code.
    pub bank: String,
    /// Agência.
    pub agency: String,
    /// Conta.
    pub account: String,
    /// Carteira.
    pub wallet: String,
    /// Convênio.
    pub agreement: String,
    /// `erp`, `cnab240` or `cnab400`.
    pub registration: String,
    /// Fine, basis points.
    pub fine_bp: u32,
    /// Interest a month, basis points.
    pub interest_bp_month: u32,
    /// Discount, basis points.
    pub discount_bp: u32,
    /// The discount holds until this many days before the due date.
    pub discount_days: u32,
    /// Days after the due date the bank writes the boleto off.
    pub write_off_days: Option<u32>,
    /// Bills businesses only (no consumer caps).
    pub business_only: bool,
}

impl From<&BillingWallet> for Wallet {
    fn from(w: &BillingWallet) -> Wallet {
        Wallet {
            name: w.name.clone(),
            bank: w.bank_code.clone(),
            agency: w.agency.clone(),
            account: w.account.clone(),
            wallet: w.wallet_code.clone(),
            agreement: w.agreement.clone(),
            registration: w.registration.as_str().to_string(),
            fine_bp: w.terms.fine_bp,
            interest_bp_month: w.terms.interest_bp_month,
            discount_bp: w.terms.discount_bp,
            discount_days: w.terms.discount_days,
            write_off_days: w.terms.write_off_days,
            business_only: w.terms.business_only,
        }
    }
}

/// New terms: every field optional; those left out keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TermsBody {
    /// `erp`, `cnab240` or `cnab400`.
    registration: Option<String>,
    /// Fine, basis points (consumers: at most 200).
    fine_bp: Option<u32>,
    /// Interest a month, basis points (consumers: at most 100).
    interest_bp_month: Option<u32>,
    /// Discount, basis points.
    discount_bp: Option<u32>,
    /// Days before the due date the discount holds until.
    discount_days: Option<u32>,
    /// Days after the due date to write off.
    write_off_days: Option<u32>,
    /// Bills businesses only.
    business_only: Option<bool>,
}

/// Lists the wallets with their terms.
#[utoipa::path(
    get,
    path = "/wallets",
    summary = "Wallets and their terms (permission view)",
    responses((status = 200, description = "the wallets", body = Vec<Wallet>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody))
)]
pub(super) async fn wallets(State(state): State<Arc<AppState>>, client: ApiClient) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let list: Vec<Wallet> = store::parties::list_wallets(&mut conn)
                .await?
                .iter()
                .map(Wallet::from)
                .collect();
            Ok((StatusCode::OK, json!({ "wallets": list })))
        }
        .await,
    )
}

/// Changes a wallet's registration and terms.
#[utoipa::path(
    put,
    path = "/wallets/{name}/terms",
    summary = "Set a wallet's registration and terms (permission billing)",
    params(("name" = String, Path, description = "the wallet's name")),
    request_body = TermsBody,
    responses((status = 200, description = "the wallet", body = Wallet), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 404, description = "no such wallet", body = super::schema::ErrorBody), (status = 422, description = "a field is invalid (e.g. above the consumer caps)", body = super::schema::ErrorBody))
)]
pub(super) async fn set_terms(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            client.require(Permission::EditBilling)?;
            let b: TermsBody = parse_json(&body)?;
            let mut conn = state.db.pool.acquire().await?;
            let Some(w) = store::parties::find_wallet_by_name(&mut conn, &name).await? else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "Carteira não encontrada.",
                ));
            };
            drop(conn);
            let registration: Registration = match &b.registration {
                Some(r) => r.parse().map_err(|_| {
                    ApiError::invalid("registration", "Use erp, cnab240 ou cnab400.")
                })?,
                None => w.registration,
            };
            let t = Terms {
                fine_bp: b.fine_bp.unwrap_or(w.terms.fine_bp),
                interest_bp_month: b.interest_bp_month.unwrap_or(w.terms.interest_bp_month),
                discount_bp: b.discount_bp.unwrap_or(w.terms.discount_bp),
                discount_days: b.discount_days.unwrap_or(w.terms.discount_days),
                write_off_days: b.write_off_days.or(w.terms.write_off_days),
                business_only: b.business_only.unwrap_or(w.terms.business_only),
            };
            let field = |e: &crate::domain::charges::TermsError| match e.field() {
                "fine" => "fine_bp",
                "interest" => "interest_bp_month",
                _ => "discount_bp",
            };
            if let Err(e) = crate::actions::billing_setup::update_wallet_terms(
                &state.db,
                w.id,
                registration,
                &t,
                &client.actor(),
                state.clock.now_millis(),
            )
            .await?
            {
                return Err(ApiError::invalid(field(&e), e.pt()));
            }
            let mut conn = state.db.pool.acquire().await?;
            let saved = store::parties::get_wallet(&mut conn, w.id).await?;
            Ok((StatusCode::OK, json!(Wallet::from(&saved))))
        }
        .await,
    )
}
