//! `GET /api/v1/analytics/steps|curves|overdue`: the figures of "Resultados da cobrança"
//! (docs/analytics.md), read from the daily aggregates, with the page's filters.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{ApiClient, ApiError, respond};
use crate::store;
use crate::store::analytics::Filter;
use crate::web::AppState;
use crate::web::auth::Permission;

/// The filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AnalyticsQuery {
    /// The first day, `YYYY-MM-DD` (default: 89 days before `to`).
    #[serde(default)]
    from: String,
    /// The last day, `YYYY-MM-DD` (default: today).
    #[serde(default)]
    to: String,
    /// Only this billing method (its name).
    #[serde(default)]
    method: String,
    /// Only this wallet (its name).
    #[serde(default)]
    wallet: String,
    /// Only this channel (`email`, `sms`, `push`, `whatsapp`); steps only.
    #[serde(default)]
    channel: String,
}

/// A step's figures over the period.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Step {
    /// `rule:<id>`, `band:<id>`, `generated`, `manual`, `portal` or `other`.
    step: String,
    /// What the page calls it.
    label: String,
    /// The channel.
    channel: String,
    /// Notices sent.
    sent: i64,
    /// Known delivered.
    delivered: i64,
    /// Known read.
    read: i64,
    /// Followed by payment within 1 day.
    paid_1: i64,
    /// Within 3 days.
    paid_3: i64,
    /// Within 7 days.
    paid_7: i64,
    /// `paid_7 / sent`, per thousand.
    paid_7_permille: i64,
    /// The base rate (same ages, no notice), paid within 7 days, per thousand.
    base_paid_7_permille: Option<i64>,
    /// Invoices whose last notice before payment this step sent.
    recovered: i64,
    /// Their amount paid, centavos.
    recovered_cents: i64,
    /// Median days from the notice to payment.
    median_days: Option<i32>,
}

/// A due month's curve.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Month {
    /// `YYYY-MM`.
    month: String,
    /// Invoices due that month.
    issued: i64,
    /// Their amount, centavos.
    issued_cents: i64,
    /// Open and past due at the last refresh.
    overdue: i64,
    /// Their amount, centavos.
    overdue_cents: i64,
    /// `overdue / issued`, per thousand.
    overdue_permille: i64,
    /// Paid by each day from the due date −10 to +90 (101 values), cumulative, per thousand.
    paid_by_day_permille: Vec<i64>,
}

/// Open and past due on a day in a band.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BandDay {
    /// `YYYY-MM-DD`.
    day: String,
    /// The band's id (0: in no band).
    band: i64,
    /// Invoices.
    invoices: i64,
    /// Centavos.
    amount_cents: i64,
}

async fn filter(
    conn: &mut sqlx::AnyConnection,
    today: jiff::civil::Date,
    q: &AnalyticsQuery,
) -> Result<Filter, ApiError> {
    let day = |field: &str, s: &str, default| -> Result<jiff::civil::Date, ApiError> {
        if s.trim().is_empty() {
            return Ok(default);
        }
        s.trim()
            .parse()
            .map_err(|_| ApiError::invalid(field, "Use uma data AAAA-MM-DD."))
    };
    let to = day("to", &q.to, today)?;
    let from = day(
        "from",
        &q.from,
        to.checked_sub(jiff::Span::new().days(89)).unwrap_or(to),
    )?;
    if from > to {
        return Err(ApiError::invalid(
            "from",
            "A data inicial é posterior à final.",
        ));
    }
    let mut id =
        async |field: &str, table: &'static str, name: &str| -> Result<Option<i64>, ApiError> {
            if name.trim().is_empty() {
                return Ok(None);
            }
            store::analytics::id_by_name(conn, table, name.trim())
                .await?
                .map(Some)
                .ok_or_else(|| ApiError::invalid(field, "Não encontrado."))
        };
    let method = id("method", "billing_methods", &q.method).await?;
    let wallet = id("wallet", "wallets", &q.wallet).await?;
    let channel = match q.channel.trim() {
        "" => None,
        c @ ("email" | "sms" | "push" | "whatsapp") => Some(c.to_string()),
        _ => {
            return Err(ApiError::invalid(
                "channel",
                "Use email, sms, push ou whatsapp.",
            ));
        }
    };
    Ok(Filter {
        from,
        to,
        method,
        wallet,
        channel,
    })
}

/// Each step's figures over a period of sending days.
#[utoipa::path(
    get,
    path = "/analytics/steps",
    summary = "Which step of the régua is followed by payment (permission view)",
    params(AnalyticsQuery),
    responses((status = 200, description = "the steps per channel", body = Vec<Step>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 422, description = "a filter is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn steps(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<AnalyticsQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let f = filter(&mut conn, state.clock.today(), &q).await?;
            let (labels, _, _) = store::analytics::labels(&mut conn).await?;
            let steps: Vec<Step> = store::analytics::step_figures(&mut conn, &f)
                .await?
                .into_iter()
                .map(|s| Step {
                    label: labels
                        .get(&s.step)
                        .cloned()
                        .unwrap_or_else(|| s.step.clone()),
                    step: s.step,
                    channel: s.channel,
                    sent: s.sent,
                    delivered: s.delivered,
                    read: s.read,
                    paid_1: s.paid_1,
                    paid_3: s.paid_3,
                    paid_7: s.paid_7,
                    paid_7_permille: s.paid_7_permille,
                    base_paid_7_permille: s.base_paid_7_permille,
                    recovered: s.recovered,
                    recovered_cents: s.recovered_cents,
                    median_days: s.median_days,
                })
                .collect();
            Ok((
                StatusCode::OK,
                json!({ "from": f.from.to_string(), "to": f.to.to_string(), "steps": steps }),
            ))
        }
        .await,
    )
}

/// The due months' payment curves and overdue rates.
#[utoipa::path(
    get,
    path = "/analytics/curves",
    summary = "Each due month's payment curve and overdue rate (permission view)",
    params(AnalyticsQuery),
    responses((status = 200, description = "the due months the period touches", body = Vec<Month>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 422, description = "a filter is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn curves(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<AnalyticsQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let f = filter(&mut conn, state.clock.today(), &q).await?;
            let months: Vec<Month> = store::analytics::curves(&mut conn, &f)
                .await?
                .into_iter()
                .map(|c| Month {
                    month: c.month,
                    issued: c.issued,
                    issued_cents: c.issued_cents,
                    overdue: c.overdue,
                    overdue_cents: c.overdue_cents,
                    overdue_permille: c.overdue_permille,
                    paid_by_day_permille: c.paid_by_day_permille,
                })
                .collect();
            Ok((StatusCode::OK, json!({ "months": months })))
        }
        .await,
    )
}

/// The amount open and past due per day and band.
#[utoipa::path(
    get,
    path = "/analytics/overdue",
    summary = "Open and past due per day and overdue band (permission view)",
    params(AnalyticsQuery),
    responses((status = 200, description = "per day and band", body = Vec<BandDay>), (status = 401, description = "no API key, or an unknown or revoked one", body = super::schema::ErrorBody), (status = 403, description = "the key lacks the permission", body = super::schema::ErrorBody), (status = 422, description = "a filter is invalid", body = super::schema::ErrorBody))
)]
pub(super) async fn overdue(
    State(state): State<Arc<AppState>>,
    client: ApiClient,
    Query(q): Query<AnalyticsQuery>,
) -> Response {
    respond(
        async {
            client.require(Permission::View)?;
            let mut conn = state.db.pool.acquire().await?;
            let f = filter(&mut conn, state.clock.today(), &q).await?;
            let days: Vec<BandDay> = store::analytics::overdue_by_band(&mut conn, &f)
                .await?
                .into_iter()
                .map(|(day, band, invoices, amount_cents)| BandDay {
                    day,
                    band,
                    invoices,
                    amount_cents,
                })
                .collect();
            Ok((StatusCode::OK, json!({ "days": days })))
        }
        .await,
    )
}
